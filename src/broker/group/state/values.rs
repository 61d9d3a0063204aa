//! A consumer group's values: its mode and settings, the broker-wide policy, members, what a
//! take hands out, what must be dead-lettered or forwarded, progress for `describe`, and the
//! snapshot a group is persisted as. Plain data; the state machine is `state`'s.

use serde::{Deserialize, Serialize};

use super::super::window::{Handout, WindowSnapshot};
use crate::protocol as wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Members share the messages; each goes to one member, under a lease.
    Clustering,
    /// Every member instance gets every message, with its own progress.
    Broadcasting,
    /// Each queue belongs to one member at a time and is delivered in order.
    Ordered,
}

/// The protocol's modes are the group's, one for one.
impl From<wire::Mode> for Mode {
    fn from(m: wire::Mode) -> Mode {
        match m {
            wire::Mode::Clustering => Mode::Clustering,
            wire::Mode::Broadcasting => Mode::Broadcasting,
            wire::Mode::Ordered => Mode::Ordered,
        }
    }
}

impl From<Mode> for wire::Mode {
    fn from(m: Mode) -> wire::Mode {
        match m {
            Mode::Clustering => wire::Mode::Clustering,
            Mode::Broadcasting => wire::Mode::Broadcasting,
            Mode::Ordered => wire::Mode::Ordered,
        }
    }
}

impl Mode {
    pub fn name(self) -> &'static str {
        wire::Mode::from(self).name()
    }
}

/// A group's settings, persisted with it; the latest join sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub mode: Mode,
    /// How long a delivered message stays invisible to others before it counts as failed.
    pub lease_ms: u64,
    /// Deliveries before a message is dead-lettered.
    pub max_attempts: u32,
    /// A member not heard from for this long is removed.
    pub session_timeout_ms: u64,
}

impl From<&Settings> for wire::GroupSettings {
    fn from(s: &Settings) -> wire::GroupSettings {
        wire::GroupSettings {
            mode: s.mode.into(),
            lease_ms: s.lease_ms,
            max_attempts: s.max_attempts,
            session_timeout_ms: s.session_timeout_ms,
        }
    }
}

/// Broker-wide timing the group does not persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub retry_delays_ms: Vec<u64>,
    /// Ordered mode: how long a failed message's queue waits before the same message again.
    pub ordered_retry_ms: u64,
    /// Clustering mode: retries waiting at least this long go through the durable timer
    /// ([`Forward`]); `None` keeps them all in place.
    pub timer_retry_ms: Option<u64>,
    /// Topics whose pipeline names a retry plugin: with the timer on, every failed delivery
    /// of theirs is forwarded undecided, and the service asks the plugin (a batch at a time,
    /// outside the group's lock).
    pub plugin_retry: PluginRetry,
}

/// Which topics' failed deliveries a retry plugin decides (the pipelines, as reloaded).
#[derive(Clone, Default)]
pub struct PluginRetry(
    Option<std::sync::Arc<parking_lot::RwLock<Vec<crate::config::plugins::PipelineConfig>>>>,
);

impl PluginRetry {
    pub fn new(
        pipelines: std::sync::Arc<parking_lot::RwLock<Vec<crate::config::plugins::PipelineConfig>>>,
    ) -> PluginRetry {
        PluginRetry(Some(pipelines))
    }

    /// The retry plugin of `topic`'s pipeline.
    pub fn plugin_of(&self, topic: &str) -> Option<String> {
        let pipelines = self.0.as_ref()?.read();
        crate::config::plugins::pipeline_of(&pipelines, topic)?
            .retry
            .as_ref()
            .map(|r| r.plugin.clone())
    }
}

impl std::fmt::Debug for PluginRetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginRetry")
    }
}

/// The pipelines are configuration, not group state: any two compare equal.
impl PartialEq for PluginRetry {
    fn eq(&self, _: &PluginRetry) -> bool {
        true
    }
}

impl Eq for PluginRetry {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub topic: String,
    /// The member's stable name (broadcasting keeps progress per instance).
    pub instance: String,
    /// The connection it came on; closing it removes the member.
    pub conn: u64,
    pub last_seen: i64,
    /// Pending long polls and open subscription streams: while any is, the member is alive
    /// whatever its last heartbeat (see [`Group::hold`]).
    pub held: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("member {0} is not in the group (it left, or missed its heartbeats)")]
    UnknownMember(u64),
}

/// What a take handed out: messages of `topic` under one lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub topic: String,
    pub lease: u32,
    pub handouts: Vec<Handout>,
}

/// A message to copy to `%DLQ%<group>`, then report with [`Group::dead_lettered`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub topic: String,
    pub instance: String,
    pub queue: u32,
    pub offset: u64,
    pub attempt: u32,
    pub reason: String,
}

/// A failed message to move out of its subscription's window: written by the service as a
/// delay message to the group's retry topic (or, once its attempts are used up, to
/// `%DLQ%<group>`), then reported with [`Group::forwarded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The subscription it failed in: the consumed topic, or the group's retry topic for it.
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
    /// Deliveries from this subscription (a retry-topic message carries its earlier ones).
    pub attempt: u32,
    /// When to deliver it again, decided here for a first forward; `None` for a message that
    /// failed in the retry topic: the service decides with its whole attempt count.
    pub retry_at: Option<i64>,
    pub reason: String,
    /// What failed, for a retry plugin.
    pub cause: FailCause,
}

/// Why a delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailCause {
    /// The member nacked it.
    Nack,
    /// Its lease ran out before an ack.
    LeaseExpired,
    /// The subscription's filter failed on it under `on_error = "pause"`, and a retry plugin
    /// decides instead of pausing.
    FilterFailed,
}

/// One acked or nacked range is the protocol's: the group takes ranges as they travel.
pub use crate::protocol::AckRange;

/// Progress of one queue, for `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueProgress {
    pub topic: String,
    /// Broadcasting: the member instance this progress belongs to; otherwise empty.
    pub instance: String,
    pub queue: u32,
    pub owner: Option<u64>,
    pub acked: u64,
    pub cursor: u64,
    pub end: u64,
    pub ready: u64,
    pub in_flight: u64,
    /// Waiting for a retry or the dead-letter topic.
    pub retrying: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    pub name: String,
    pub settings: Settings,
    pub subscriptions: Vec<SubscriptionSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionSnapshot {
    pub topic: String,
    #[serde(default)]
    pub instance: String,
    pub queues: Vec<WindowSnapshot>,
}
