//! Broker errors as wire statuses: the one place where an error becomes a status code, its
//! text and (for offset and sequence errors) the `detail` a client should act on.

use crate::broker::BrokerError;
use crate::protocol::{Response, Status};
use crate::storage::StorageError;

/// The error response for a broker error.
pub fn response_of(e: &BrokerError) -> Response {
    let (status, detail) = match e {
        BrokerError::Storage(s) => storage_status(s),
        BrokerError::Protocol(p) => (p.status(), 0),
        BrokerError::OutOfRange(_) | BrokerError::InvalidArgument(_) => {
            (Status::InvalidArgument, 0)
        }
        BrokerError::UnknownPlugin(_) => (Status::InvalidArgument, 0),
        BrokerError::UnsupportedVersion { .. } => (Status::UnsupportedVersion, 0),
        BrokerError::ReservedName(_) => (Status::ReservedName, 0),
        BrokerError::BatchTooLarge { .. } | BrokerError::TxnTooLarge { .. } => {
            (Status::BatchTooLarge, 0)
        }
        BrokerError::UnknownQueue { .. } => (Status::UnknownQueue, 0),
        BrokerError::UnknownGroup(_) => (Status::UnknownGroup, 0),
        BrokerError::UnknownMember(_) => (Status::UnknownMember, 0),
        BrokerError::StaleLease { stale } => (Status::StaleLease, *stale),
        BrokerError::GroupConflict(_) => (Status::GroupConflict, 0),
        BrokerError::FilterRejected(_) => (Status::FilterRejected, 0),
        BrokerError::FilterFailed(_) => (Status::FilterFailed, 0),
        BrokerError::AlreadyDelivered(_) => (Status::AlreadyDelivered, 0),
        BrokerError::UnknownMessage(_) => (Status::UnknownMessage, 0),
        BrokerError::TxnCommitted(_) => (Status::TxnCommitted, 0),
        BrokerError::TxnRolledBack(_) => (Status::TxnRolledBack, 0),
        BrokerError::UnknownTransaction(_) => (Status::UnknownTransaction, 0),
        BrokerError::TxnClosed(_) => (Status::TxnClosed, 0),
        BrokerError::PipelineFailed(_) => (Status::PipelineFailed, 0),
        BrokerError::NotReady { retry_ms, .. } => (Status::NotReady, *retry_ms),
        BrokerError::Access(crate::auth::AuthError::NotAuthenticated(_)) => {
            (Status::NotAuthenticated, 0)
        }
        BrokerError::Access(
            crate::auth::AuthError::NotAuthorized { .. }
            | crate::auth::AuthError::TooManyConnections { .. },
        ) => (Status::NotAuthorized, 0),
        BrokerError::Plugin(_) | BrokerError::Internal(_) => (Status::Internal, 0),
    };
    if status == Status::StorageFailure || status == Status::Internal {
        crate::error_limited!("answered failure", error = %e, "failure answered to a client");
    }
    let message = match e {
        BrokerError::Storage(s) if s.is_disk_full() => {
            format!("the server's disk is full; nothing was stored ({e})")
        }
        _ => e.to_string(),
    };
    Response::Error {
        status,
        message,
        detail,
    }
}

fn storage_status(e: &StorageError) -> (Status, u64) {
    match e {
        StorageError::InvalidTopicName { .. }
        | StorageError::QueuesShrink { .. }
        | StorageError::InvalidTopic { .. }
        | StorageError::BadMessage { .. }
        | StorageError::EmptyBatch => (Status::InvalidArgument, 0),
        StorageError::UnknownTopic(_) => (Status::UnknownTopic, 0),
        StorageError::TopicExists(_) => (Status::TopicExists, 0),
        StorageError::UnknownQueue { .. } => (Status::UnknownQueue, 0),
        StorageError::MessageTooLarge { .. } => (Status::MessageTooLarge, 0),
        StorageError::OffsetTrimmed { earliest, .. } => (Status::OffsetTrimmed, *earliest),
        StorageError::OffsetBeyondEnd { next, .. } => (Status::OffsetBeyondEnd, *next),
        StorageError::SequenceStale { last, .. } => (Status::SequenceOutOfOrder, last + 1),
        StorageError::Io { .. }
        | StorageError::Corrupt { .. }
        | StorageError::Locked(_)
        | StorageError::WritesFenced(_) => (Status::StorageFailure, 0),
    }
}
