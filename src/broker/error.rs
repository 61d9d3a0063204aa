//! The broker's error type: what went wrong with a request, with the fields a client needs to
//! act on it. The transport maps each variant to a wire status once (`transport::status`); the
//! broker itself never builds error responses.

use crate::plugin::{FilterError, PluginError};
use crate::protocol::{OutOfRange, ProtocolError};
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A body that does not parse (produce bodies are decoded in the broker).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    OutOfRange(#[from] OutOfRange),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("this server speaks protocol version {ours}, not {theirs}")]
    UnsupportedVersion { ours: u16, theirs: u16 },
    #[error("{0:?} is reserved for internal topics")]
    ReservedName(String),
    #[error("the batch has {count} messages; the limit is {limit} (server.max_batch_messages)")]
    BatchTooLarge { count: usize, limit: u32 },
    /// Answered as BatchTooLarge: a transaction is committed in one atomic append, which must
    /// fit in one log segment.
    #[error(
        "transaction {id:?} would hold {bytes} bytes of messages; a transaction holds at most {limit} (it commits in one atomic append, which must fit in a segment: storage.segment_size); nothing of this send was stored"
    )]
    TxnTooLarge { id: String, bytes: u64, limit: u64 },
    #[error("{context}topic {topic:?} has {queues} queues; there is no queue {queue}")]
    UnknownQueue {
        /// Where in the request, e.g. `"message 3: "`; may be empty.
        context: String,
        topic: String,
        queues: u32,
        queue: u32,
    },
    #[error("group {0:?} does not exist")]
    UnknownGroup(String),
    #[error("member {0} is not in a group (it left, or missed its heartbeats); join again")]
    UnknownMember(u64),
    #[error(
        "none of the {stale} messages is leased to this member any more (expired, redelivered or unknown)"
    )]
    StaleLease { stale: u64 },
    /// Another mode, another filter, or live members where none may be.
    #[error("{0}")]
    GroupConflict(String),
    /// An unknown or disallowed filter plugin, or an expression error.
    #[error("{0}")]
    FilterRejected(String),
    /// A filter plugin failed and the pipeline pauses, or it cannot be loaded.
    #[error("{0}")]
    FilterFailed(String),
    #[error("{0}")]
    UnknownPlugin(String),
    #[error(transparent)]
    Plugin(PluginError),
    /// A cancel came after the delay message's delivery (or during it).
    #[error("{0}")]
    AlreadyDelivered(String),
    #[error("{0}")]
    UnknownMessage(String),
    /// A rollback of a committed transaction.
    #[error("transaction {0:?} was committed; it cannot be rolled back")]
    TxnCommitted(String),
    /// A commit of a rolled-back transaction.
    #[error("transaction {0:?} was rolled back; it cannot be committed")]
    TxnRolledBack(String),
    #[error("{0}")]
    UnknownTransaction(String),
    /// Sends to a transaction past its timeout, parked or ended.
    #[error("{0}")]
    TxnClosed(String),
    /// An ingress stage failed and its pipeline rejects the batch (nothing stored).
    #[error("{0}")]
    PipelineFailed(String),
    /// Nothing done yet: a plugin the request needs is still compiling; send again after
    /// `retry_ms`.
    #[error("{message}")]
    NotReady { message: String, retry_ms: u64 },
    /// Refused by the access rules (`crate::auth`).
    #[error(transparent)]
    Access(#[from] crate::auth::AuthError),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::internal::Reserved> for BrokerError {
    fn from(r: crate::internal::Reserved) -> Self {
        BrokerError::ReservedName(r.0)
    }
}

impl From<FilterError> for BrokerError {
    fn from(e: FilterError) -> BrokerError {
        match e {
            FilterError::Expression { .. } | FilterError::UnknownPlugin(_) => {
                BrokerError::FilterRejected(e.to_string())
            }
            other => BrokerError::FilterFailed(other.to_string()),
        }
    }
}

impl From<PluginError> for BrokerError {
    fn from(e: PluginError) -> BrokerError {
        match e {
            PluginError::Unknown(_) => BrokerError::UnknownPlugin(e.to_string()),
            other => BrokerError::Plugin(other),
        }
    }
}

pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

/// An invalid topic name is the storage engine's `InvalidTopicName`, wherever it was checked.
impl From<crate::record::TopicNameError> for BrokerError {
    fn from(e: crate::record::TopicNameError) -> Self {
        BrokerError::Storage(e.into())
    }
}

/// A pipeline's failure, as the statuses its variants always had.
impl From<crate::pipeline::PipelineError> for BrokerError {
    fn from(e: crate::pipeline::PipelineError) -> Self {
        use crate::pipeline::PipelineError;
        match e {
            PipelineError::Storage(e) => BrokerError::Storage(e),
            PipelineError::Failed(m) => BrokerError::PipelineFailed(m),
            PipelineError::NotReady { message, retry_ms } => {
                BrokerError::NotReady { message, retry_ms }
            }
            PipelineError::InvalidArgument(m) => BrokerError::InvalidArgument(m),
            PipelineError::Internal(m) => BrokerError::Internal(m),
        }
    }
}
