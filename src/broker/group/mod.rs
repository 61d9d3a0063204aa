//! Consumer groups: the pure state machine ([`state`], [`window`], [`retry`]) and the service
//! that runs it for the broker (reads, dead-letter writes, persistence, wakeups).

pub mod retry;
pub mod state;
pub mod window;

pub use retry::{Decision, RetryPolicy};
pub use state::{
    AckRange, DeadLetter, Group, GroupError, GroupSnapshot, Member, Mode, Policy, QueueProgress,
    Settings, Taken,
};
pub use window::Handout;
