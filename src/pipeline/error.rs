//! What can go wrong in a pipeline, in the pipeline's own words; the broker turns each into
//! its `BrokerError` (and so a wire status) in one `From`.

use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Storing a batch, its summary or the summary topic failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stage's plugin failed and the stage rejects (`on_error = "reject"`), or a pipeline
    /// could not be set up for its topic: the producer may resend.
    #[error("{0}")]
    Failed(String),
    /// A stage's plugin is still compiling (a fresh start with no compiled copy of it):
    /// nothing was done, and the producer may send again after `retry_ms`.
    #[error("{message}")]
    NotReady { message: String, retry_ms: u64 },
    /// The batch is not one the pipeline can take (the producer's mistake).
    #[error("{0}")]
    InvalidArgument(String),
    /// The pipeline's own state is not what it wrote (a summary that does not decode, a key
    /// secret that cannot be read).
    #[error("{0}")]
    Internal(String),
}

impl From<crate::record::TopicNameError> for PipelineError {
    fn from(e: crate::record::TopicNameError) -> Self {
        PipelineError::Storage(e.into())
    }
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;
