//! The storage engine: topics and their queues over one shared commit log.
//!
//! ```text
//! <dir>/LOCK                 exclusive lock: one process per data directory
//! <dir>/topics.json          topic registry (id, name, queues, durability, retention)
//! <dir>/checkpoint           log position up to which indexes are on disk; clean-shutdown flag
//! <dir>/log/<base>.log       commit-log segments, named by the 20-digit position of their first record
//! <dir>/queues/<id>/<q>/     consume-queue files of topic id <id>, queue <q>
//! <dir>/index/<start>.idx    key-index files (message id and keys → log position)
//! <dir>/timers/<bucket>.tmr  timer index of pending delay records, one file per minute
//! ```
//!
//! [`Store`] is the entry point: topic administration, appends with per-topic durability, reads
//! by (topic, queue, offset), lookups by id, key and time, retention, checkpoints and recovery.
//! It is synchronous (blocking I/O on the caller's thread, plus two background threads); the
//! network layer calls it from blocking tasks. It does not know about consumer groups or
//! transactions: those are built on top, as ordinary (internal) topics. Delay messages are
//! records of an internal topic too; the store keeps their timer index (`timers`), because it
//! must be exactly as durable as the log, but the firing is the broker's.

mod append;
mod atomic;
mod checkpoint;
mod consume_queue;
mod error;
pub(crate) mod fsutil;
mod housekeeping;
mod key_index;
mod log;
mod producers;
mod reads;
mod segment;
mod skips;
mod store;
pub mod timers;
mod topics;
mod turnstile;
pub mod verify;
mod write;

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;

pub use crate::record::{Message, MessageId};
pub use append::{AppendOptions, Appended, PendingAppend};
pub use atomic::{AtomicOptions, AtomicPart, PendingAtomic};
pub use error::{Result, StorageError};
pub use housekeeping::RetentionReport;
pub use log::ReplayReport;
pub use producers::KEEP_BATCHES;
pub use reads::ReadSpan;
pub use store::{QueueInfo, ReadBatch, Store, StoreCore, StoreStats, StoredMessage, TopicInfo};
pub use topics::{Durability, MAX_QUEUES, TopicMeta, TopicName, TopicSpec};

/// How a [`Store`] is laid out and behaves. [`StoreOptions::new`] gives storage's own defaults
/// (the `DEFAULT_*` constants, which the shipped `config.toml` repeats); `config` builds the
/// options from a loaded file.
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
    /// Where store times and retention ages come from.
    pub clock: Clock,
    /// Longest a delay record waits before it is written again, nearer its time (see
    /// `timers`); keep it well below `retention`, which holds segments back for it.
    pub timer_horizon: Duration,
}

impl StoreOptions {
    pub const DEFAULT_SEGMENT_SIZE: u64 = 1 << 30;
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(200);
    pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 3600);
    pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 4 << 20;
    pub const DEFAULT_TIMER_HORIZON: Duration = Duration::from_secs(24 * 3600);

    pub fn new(dir: impl Into<PathBuf>) -> StoreOptions {
        StoreOptions {
            dir: dir.into(),
            segment_size: Self::DEFAULT_SEGMENT_SIZE,
            flush_interval: Self::DEFAULT_FLUSH_INTERVAL,
            checkpoint_interval: Self::DEFAULT_CHECKPOINT_INTERVAL,
            retention: Some(Self::DEFAULT_RETENTION),
            retention_size: None,
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            index_capacity: key_index::DEFAULT_CAPACITY,
            clock: Clock::system(),
            timer_horizon: Self::DEFAULT_TIMER_HORIZON,
        }
    }
}
