//! Storage outcomes as protocol statuses.

use crate::protocol::{Response, Status};
use crate::storage::StorageError;

/// The error response for a storage error: its status code, its text, and for offset errors
/// the offset a client should use instead.
pub fn status_of(e: StorageError) -> Response {
    let message = e.to_string();
    let (status, detail) = match e {
        StorageError::InvalidTopicName { .. }
        | StorageError::QueuesShrink { .. }
        | StorageError::InvalidTopic { .. }
        | StorageError::BadMessage { .. }
        | StorageError::EmptyBatch => (Status::InvalidArgument, 0),
        StorageError::UnknownTopic(_) => (Status::UnknownTopic, 0),
        StorageError::TopicExists(_) => (Status::TopicExists, 0),
        StorageError::UnknownQueue { .. } => (Status::UnknownQueue, 0),
        StorageError::MessageTooLarge { .. } => (Status::MessageTooLarge, 0),
        StorageError::OffsetTrimmed { earliest, .. } => (Status::OffsetTrimmed, earliest),
        StorageError::OffsetBeyondEnd { next, .. } => (Status::OffsetBeyondEnd, next),
        StorageError::SequenceStale { last, .. } => (Status::SequenceOutOfOrder, last + 1),
        StorageError::Io { .. }
        | StorageError::Corrupt { .. }
        | StorageError::Locked(_)
        | StorageError::WritesFenced(_) => {
            tracing::error!(error = %message, "storage failure answered to a client");
            (Status::StorageFailure, 0)
        }
    };
    Response::Error {
        status,
        message,
        detail,
    }
}
