//! The storage engine: topics and their queues over one shared commit log.
//!
//! ```text
//! <dir>/LOCK                 exclusive lock: one process per data directory
//! <dir>/topics.json          topic registry (id, name, queues, durability, retention)
//! <dir>/checkpoint           log position up to which indexes are on disk; clean-shutdown flag
//! <dir>/log/<base>.log       commit-log segments, named by the 20-digit position of their first record
//! <dir>/queues/<id>/<q>/     consume-queue files of topic id <id>, queue <q>
//! <dir>/index/<start>.idx    key-index files (message id and keys → log position)
//! ```
//!
//! [`Store`] is the entry point: topic administration, appends with per-topic durability, reads
//! by (topic, queue, offset), lookups by id, key and time, retention, checkpoints and recovery.
//! It is synchronous (blocking I/O on the caller's thread, plus two background threads); the
//! network layer calls it from blocking tasks. It does not know about consumer groups, delay or
//! transactions: those are built on top, as ordinary (internal) topics.

mod checkpoint;
mod consume_queue;
mod error;
pub(crate) mod fsutil;
mod housekeeping;
mod key_index;
mod log;
mod producers;
mod reads;
pub mod record;
mod segment;
mod store;
mod topics;

use std::path::PathBuf;
use std::time::Duration;

pub use error::{Result, StorageError};
pub use housekeeping::RetentionReport;
pub use log::ReplayReport;
pub use record::{Message, MessageId};
pub use store::{
    Appended, PendingAppend, QueueInfo, ReadBatch, Store, StoreCore, StoreStats, StoredMessage,
    TopicInfo,
};
pub use topics::{Durability, TopicMeta, TopicName, TopicSpec};

/// How a [`Store`] is laid out and behaves. [`StoreOptions::new`] gives the same defaults as the
/// shipped `config.toml`.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub dir: PathBuf,
    /// Size of a commit-log segment file, header included.
    pub segment_size: u64,
    /// How often `async` data is flushed, and how often in-memory index entries are written out.
    pub flush_interval: Duration,
    /// How often indexes are made durable and the checkpoint advanced (bounds recovery work).
    pub checkpoint_interval: Duration,
    /// Whole segments older than this are deleted.
    pub retention: Option<Duration>,
    /// Oldest segments are deleted while the log is larger than this.
    pub retention_size: Option<u64>,
    /// Largest encoded message accepted.
    pub max_message_size: u64,
    /// Entries per key-index file.
    pub index_capacity: u32,
}

impl StoreOptions {
    pub fn new(dir: impl Into<PathBuf>) -> StoreOptions {
        let d = crate::config::Config::default().storage;
        StoreOptions {
            dir: dir.into(),
            segment_size: d.segment_size,
            flush_interval: d.flush_interval,
            checkpoint_interval: d.checkpoint_interval,
            retention: d.retention,
            retention_size: d.retention_size,
            max_message_size: d.max_message_size,
            index_capacity: key_index::DEFAULT_CAPACITY,
        }
    }

    pub fn from_config(config: &crate::config::Config) -> StoreOptions {
        let s = &config.storage;
        StoreOptions {
            dir: config.server.data_dir.clone(),
            segment_size: s.segment_size,
            flush_interval: s.flush_interval,
            checkpoint_interval: s.checkpoint_interval,
            retention: s.retention,
            retention_size: s.retention_size,
            max_message_size: s.max_message_size,
            index_capacity: key_index::DEFAULT_CAPACITY,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
