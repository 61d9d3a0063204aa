//! Lockgate's built-in policies, pure Rust with no dependencies: the filters [`tag`]
//! (`TagA || TagB`) and [`sql92`] (RocketMQ 5 compatible SQL92 over message properties, plus
//! `LIKE`), the routers in [`route`] (topic exchange, content router), [`dedup`] keys and the
//! retry [`schedule`]. The built-in plugins are these compiled to WebAssembly; the host links
//! them natively only to measure the plugins against them.

pub mod batch;
pub mod cases;
pub mod dedup;
pub mod route;
pub mod schedule;
pub mod settings;
pub mod sql92;
pub mod tag;

use std::fmt;

/// An expression that does not compile: what is wrong and where (1-based character position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub position: u32,
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for ExprError {}

/// What a filter sees of a message.
pub trait MessageFields {
    /// The tag; empty when the message has none.
    fn tag(&self) -> &str;
    /// The keys, joined by single spaces (RocketMQ's `KEYS`); empty when none.
    fn keys(&self) -> &str;
    /// A user property.
    fn property(&self, name: &str) -> Option<&str>;

    /// A user property's bytes (comparisons need no UTF-8 check); by default from
    /// [`MessageFields::property`].
    fn property_bytes(&self, name: &str) -> Option<&[u8]> {
        self.property(name).map(str::as_bytes)
    }
}
