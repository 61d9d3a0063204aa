//! Consumer groups. The pure state machine ([`state`], [`window`], [`retry`]: no I/O, time
//! passed in) and what runs it for the broker: [`service`] (the registry of groups and
//! members, dead letters, persistence, deadlines), [`read`] (reading what a take handed out,
//! through the subscription's filter), [`files`] (progress on disk), [`dead_letter`] (the
//! `%DLQ%` copy), [`timer_retry`] (retries through the durable timer and the `%RETRY%`
//! topics) and [`handler`] (the Group request family).

pub mod dead_letter;
mod files;
pub(super) mod handler;
mod read;
pub mod retry;
pub mod service;
pub mod state;
pub mod timer_retry;
pub mod window;

pub use read::ByteBudget;
pub use retry::{Decision, RetryPolicy};
pub use service::{ConnInfo, Groups, GroupsOptions, Hold};
pub use state::{
    AckRange, DeadLetter, Forward, Group, GroupError, GroupSnapshot, Member, Mode, Policy,
    QueueProgress, Settings, Taken,
};
pub use window::Handout;
