//! Lockgate: a message broker and event-routing gateway.
//!
//! Module map (see `DESIGN.md` in the project's shared notes for the architecture):
//! - [`config`]: `config.toml` loading and validation.
//! - [`storage`]: the commit log, consume queues, key index, topics, recovery and retention.
//! - [`server`]: `lockgate serve` — opens storage, declares configured topics, runs until a
//!   signal, shuts down cleanly.
//! - [`bench`]: `lockgate bench …` load generators.

pub mod bench;
pub mod config;
pub mod server;
pub mod storage;
