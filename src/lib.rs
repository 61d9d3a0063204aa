//! Lockgate: a message broker and event-routing gateway.
//!
//! Module map (see `DESIGN.md` in the project's shared notes for the architecture):
//! - [`record`]: the record format — message, ids, the commit-log record and its views, topic
//!   names and durabilities; used by storage, protocol, plugins and the client alike.
//! - [`config`]: `config.toml` loading and validation.
//! - [`protocol`]: wire protocol v1 codecs (pure; the spec is `docs/protocol.md`).
//! - [`storage`]: the commit log, consume queues, key index, topics, recovery and retention.
//! - [`server`]: `lockgate serve` — opens storage, declares configured topics, runs until a
//!   signal, shuts down cleanly.
//! - [`broker`]: requests → storage operations (routing, long polls, status codes).
//! - [`cli`]: the network commands of the `lockgate` binary (topic, produce, consume, message).
//! - [`client`]: the Rust client library (the CLI, tests and benchmarks use it).
//! - [`transport`]: the QUIC endpoint and its streams.
//! - [`tls`]: certificates, the local development CA, rustls configurations (server and client).
//! - [`metrics`]: metric names, the recorder and the Prometheus `/metrics` endpoint.
//! - [`bench`]: `lockgate bench …` load generators.
//! - [`internal`]: the internal topics' names, owners and guards (the ground floor).
//! - [`units`]: human sizes and durations ("1 GiB", "72h"), parsed and printed; the floor
//!   config, auth and the CLI stand on.

// The ground floor and the client are crates of their own (crates/); their modules keep
// their paths here.
pub use lockgate_client as client;
pub use lockgate_proto::{codec, internal, protocol, record};

pub mod auth;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod log_limit;
pub mod metrics;
pub mod pipeline;
pub mod plugin;
pub mod server;
pub mod signals;
pub mod storage;
pub mod tls;
pub mod transport;
pub mod units;
