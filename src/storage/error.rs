//! The storage layer's one error type.

use std::path::PathBuf;

/// Everything the storage engine can refuse or fail with. I/O errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corrupt data in {file} at byte {position}: {reason}")]
    Corrupt {
        file: PathBuf,
        position: u64,
        reason: String,
    },
    #[error("data directory {0} is in use by another Lockgate process")]
    Locked(PathBuf),
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: &'static str },
    #[error("topic {0:?} does not exist")]
    UnknownTopic(String),
    #[error("topic {0:?} already exists")]
    TopicExists(String),
    #[error("topic {topic:?} has {queues} queues; there is no queue {queue}")]
    UnknownQueue {
        topic: String,
        queue: u32,
        queues: u32,
    },
    #[error(
        "topic {topic:?} has {existing} queues; the number of queues can grow but not shrink (asked for {requested})"
    )]
    QueuesShrink {
        topic: String,
        existing: u32,
        requested: u32,
    },
    #[error("invalid topic settings for {topic:?}: {reason}")]
    InvalidTopic { topic: String, reason: String },
    #[error(
        "message {index} of the batch takes {size} bytes as stored (body, tag, keys and properties, plus the record header); the limit is {limit} bytes (storage.max_message_size)"
    )]
    MessageTooLarge {
        index: usize,
        size: usize,
        limit: u64,
    },
    #[error("message {index} of the batch cannot be stored: {reason}")]
    BadMessage { index: usize, reason: String },
    #[error("the batch is empty")]
    EmptyBatch,
    #[error(
        "offset {requested} of {topic}/{queue} is no longer stored; the earliest is {earliest}"
    )]
    OffsetTrimmed {
        topic: String,
        queue: u32,
        requested: u64,
        earliest: u64,
    },
    #[error("offset {requested} of {topic}/{queue} is past the end; the next offset is {next}")]
    OffsetBeyondEnd {
        topic: String,
        queue: u32,
        requested: u64,
        next: u64,
    },
    #[error(
        "batch {sequence} of producer {producer} is older than the batches remembered for queue {queue} (last {last}); it may or may not have been stored"
    )]
    SequenceStale {
        producer: u64,
        queue: u32,
        sequence: u64,
        last: u64,
    },
    #[error("the commit log refuses writes after a failed flush (restart to recover): {0}")]
    WritesFenced(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// The disk (or the file system's quota) is full: nothing is wrong with the data, and
    /// writes work again once space returns.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StorageError::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::StorageFull
                    || source.kind() == std::io::ErrorKind::QuotaExceeded
            }
            _ => false,
        }
    }
}

/// Wraps an `io::Error` with what was being done and to which file.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.into();
    move |source| StorageError::Io { op, path, source }
}

impl From<crate::record::TopicNameError> for StorageError {
    fn from(e: crate::record::TopicNameError) -> Self {
        StorageError::InvalidTopicName {
            name: e.name,
            reason: e.reason,
        }
    }
}
