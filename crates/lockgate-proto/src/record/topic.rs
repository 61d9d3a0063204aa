//! Topic names and durabilities: the words a record, a request and the registry share.
//!
//! Pure values; what exists is the storage engine's registry (`storage::topics`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A name that is not a valid topic name, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topic name {name:?}: {reason}")]
pub struct TopicNameError {
    pub name: String,
    pub reason: &'static str,
}

/// Longest topic name, in bytes. Names starting with `crate::internal::RESERVED_PREFIXES` are
/// reserved for Lockgate's own topics.
pub const MAX_NAME_LEN: usize = 255;
/// Most queues a topic may have.
pub const MAX_QUEUES: u32 = 1024;

/// A valid topic name: 1–255 of `A-Z a-z 0-9 . _ - %`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

impl TopicName {
    pub fn new(name: &str) -> Result<TopicName, TopicNameError> {
        let reason = if name.is_empty() {
            Some("must not be empty")
        } else if name.len() > MAX_NAME_LEN {
            Some("is longer than 255 characters")
        } else if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'%'))
        {
            Some("may contain only letters, digits, '.', '_', '-' and '%'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(TopicNameError {
                name: name.to_string(),
                reason,
            }),
            None => Ok(TopicName(name.to_string())),
        }
    }

    /// Internal topics (`%…`, `lockgate.…`) are created by the broker itself, not by users.
    pub fn is_reserved(&self) -> bool {
        Self::is_internal(&self.0)
    }

    /// Whether `name` is an internal topic's (see [`TopicName::is_reserved`]).
    pub fn is_internal(name: &str) -> bool {
        crate::internal::is_internal(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicNameError;
    fn try_from(s: String) -> Result<TopicName, TopicNameError> {
        TopicName::new(&s)
    }
}

impl From<TopicName> for String {
    fn from(n: TopicName) -> String {
        n.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the data is on disk (fdatasync, group-committed).
    Sync,
    /// After the write to the page cache; flushed every `flush_interval` and at shutdown.
    Async,
}

impl Durability {
    pub fn name(self) -> &'static str {
        match self {
            Durability::Sync => "sync",
            Durability::Async => "async",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
