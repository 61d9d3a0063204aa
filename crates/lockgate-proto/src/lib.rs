//! Lockgate's ground floor, shared by the broker and every client: what is stored and what
//! travels, with no I/O.
//!
//! - [`codec`]: the little-endian reader and writers every format here uses.
//! - [`record`]: the record format — message, ids, the commit-log record and its views, topic
//!   names and durabilities.
//! - [`protocol`]: wire protocol v1 — the kind table, frames, one file per request family,
//!   responses and statuses (the spec is `docs/protocol.md`).
//! - [`internal`]: the internal topics' names and owners, and the guard that keeps clients
//!   from writing them.

pub mod codec;
pub mod internal;
pub mod protocol;
pub mod record;
