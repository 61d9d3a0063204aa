//! The `[delay]` section: RocketMQ's delay levels, the longest delay accepted, and how fast
//! timers that came due are fired.

use std::time::Duration;

use super::raw::RawDelay;
use super::{Validator, positive_duration_of};

/// RocketMQ's 18 delay levels: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h.
pub const DEFAULT_LEVELS_MS: [u64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);
pub const DEFAULT_FIRE_RATE: u64 = 300_000;
/// Most levels a configuration may define (a level is a u8 on the wire).
pub const MAX_LEVELS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayConfig {
    /// Level n (from 1) waits `levels[n - 1]`.
    pub levels: Vec<Duration>,
    /// Delivery times further ahead than this are refused.
    pub max_delay: Duration,
    /// Most timers fired (or moved) per second: a backlog after downtime drains at this pace,
    /// leaving room for produce and fetch.
    pub fire_rate: u64,
}

impl Default for DelayConfig {
    fn default() -> Self {
        DelayConfig {
            levels: DEFAULT_LEVELS_MS
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            max_delay: DEFAULT_MAX_DELAY,
            fire_rate: DEFAULT_FIRE_RATE,
        }
    }
}

pub(super) fn validate(v: &mut Validator, raw: RawDelay) -> DelayConfig {
    let d = DelayConfig::default();
    let levels = match raw.levels {
        None => d.levels,
        Some(list) if list.is_empty() || list.len() > MAX_LEVELS => {
            v.problem(
                "delay.levels",
                format!("needs 1 to {MAX_LEVELS} levels, not {}", list.len()),
            );
            d.levels
        }
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let path = format!("delay.levels[{i}]");
                v.value(&path, Some(s), Duration::ZERO, positive_duration_of)
            })
            .collect(),
    };
    let fire_rate = match raw.fire_rate {
        None => d.fire_rate,
        Some(n) if (1..=100_000_000).contains(&n) => n as u64,
        Some(n) => {
            v.problem(
                "delay.fire_rate",
                format!("{n} is out of range (1 to 100000000 timers a second)"),
            );
            d.fire_rate
        }
    };
    DelayConfig {
        levels,
        max_delay: v.value(
            "delay.max_delay",
            raw.max_delay,
            d.max_delay,
            positive_duration_of,
        ),
        fire_rate,
    }
}
