//! The `[groups]` section: consumer-group defaults (a join may override lease, attempts and
//! session timeout per group) and how often group progress is persisted.

use std::time::Duration;

use super::raw::RawGroups;
use super::{Validator, positive_duration_of};
use crate::units::parse_duration;

/// RocketMQ's consumer retry schedule: 10s, 30s, 1m, 2m … 10m, 20m, 30m, 1h, 2h.
pub const DEFAULT_RETRY_DELAYS_MS: [u64; 16] = [
    10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000, 480_000, 540_000,
    600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsConfig {
    /// How long a delivered message stays invisible to other members before it counts as
    /// failed (a join may ask for another).
    pub lease: Duration,
    /// Deliveries before a message goes to `%DLQ%<group>`.
    pub max_attempts: u32,
    /// Wait before the n-th redelivery (the last one repeats).
    pub retry_delays: Vec<Duration>,
    /// Ordered groups: wait before retrying a failed message (its queue is blocked meanwhile).
    pub ordered_retry_interval: Duration,
    /// Clustering groups: a redelivery that waits at least this long goes through the durable
    /// timer and the group's `%RETRY%` topic instead of waiting in its queue's window; `None`
    /// (`"off"`) keeps every retry in place. Ordered and broadcasting groups always retry in
    /// place.
    pub timer_retry_threshold: Option<Duration>,
    /// A member not heard from for this long is removed and its queues rebalanced.
    pub session_timeout: Duration,
    /// How often changed group progress is written to disk: a crash redelivers at most the acks
    /// of the last interval.
    pub persist_interval: Duration,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            lease: Duration::from_secs(30),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            retry_delays: DEFAULT_RETRY_DELAYS_MS
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            ordered_retry_interval: Duration::from_secs(1),
            timer_retry_threshold: Some(Duration::from_secs(10)),
            session_timeout: Duration::from_secs(10),
            persist_interval: Duration::from_secs(1),
        }
    }
}

pub(super) fn validate(v: &mut Validator, raw: RawGroups) -> GroupsConfig {
    let d = GroupsConfig::default();
    let lease = v.value("groups.lease", raw.lease, d.lease, positive_duration_of);
    let max_attempts = match raw.max_attempts {
        None => d.max_attempts,
        Some(n) if (1..=1000).contains(&n) => n as u32,
        Some(n) => {
            v.problem(
                "groups.max_attempts",
                format!("{n} is out of range (1 to 1000)"),
            );
            d.max_attempts
        }
    };
    let retry_delays = match raw.retry_delays {
        None => d.retry_delays,
        Some(list) if list.is_empty() => {
            v.problem(
                "groups.retry_delays",
                "needs at least one delay".to_string(),
            );
            d.retry_delays
        }
        Some(list) => {
            let mut out = Vec::new();
            for (i, s) in list.into_iter().enumerate() {
                let path = format!("groups.retry_delays[{i}]");
                out.push(v.value(&path, Some(s), Duration::ZERO, positive_duration_of));
            }
            out
        }
    };
    GroupsConfig {
        lease,
        max_attempts,
        retry_delays,
        ordered_retry_interval: v.value(
            "groups.ordered_retry_interval",
            raw.ordered_retry_interval,
            d.ordered_retry_interval,
            positive_duration_of,
        ),
        timer_retry_threshold: v.value(
            "groups.timer_retry_threshold",
            raw.timer_retry_threshold,
            d.timer_retry_threshold,
            threshold_of,
        ),
        session_timeout: v.value(
            "groups.session_timeout",
            raw.session_timeout,
            d.session_timeout,
            positive_duration_of,
        ),
        persist_interval: v.value(
            "groups.persist_interval",
            raw.persist_interval,
            d.persist_interval,
            positive_duration_of,
        ),
    }
}

/// `"off"`, or a duration (zero sends every clustering retry through the timer).
fn threshold_of(s: &str) -> Result<Option<Duration>, String> {
    if s.trim() == "off" {
        return Ok(None);
    }
    parse_duration(s)
        .map(Some)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. \"10s\", \"0s\") nor \"off\""))
}
