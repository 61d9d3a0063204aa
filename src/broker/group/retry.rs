//! What happens after a failed delivery: retry at a time, or dead-letter. One function decides,
//! so a later retry-policy plugin can replace it without touching the group state machine.
//!
//! `attempt` counts deliveries, the failed one included: after the first delivery fails,
//! `attempt` is 1 and the message waits `delays[0]`; once `max_attempts` deliveries have failed
//! the message is dead-lettered. The default schedule (`config::groups`) is RocketMQ's consumer retry schedule.

use crate::config::groups::{DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_DELAYS_MS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Deliver again at this time (ms since the epoch).
    RetryAt(i64),
    DeadLetter,
}

/// The redelivery schedule of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the n-th failed delivery is `delays_ms[n-1]` (the last one repeats).
    pub delays_ms: Vec<u64>,
    /// Deliveries before a message is dead-lettered (at least 1).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            delays_ms: DEFAULT_RETRY_DELAYS_MS.to_vec(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl RetryPolicy {
    /// The decision after delivery number `attempt` failed at `now_ms`.
    pub fn decide(&self, attempt: u32, now_ms: i64) -> Decision {
        decide(&self.delays_ms, self.max_attempts, attempt, now_ms)
    }

    /// Ordered consumption retries the same message at a fixed interval (the queue is blocked
    /// meanwhile), with the same attempt limit.
    pub fn decide_ordered(&self, attempt: u32, now_ms: i64, interval_ms: u64) -> Decision {
        decide(&[interval_ms], self.max_attempts, attempt, now_ms)
    }
}

/// The decision after delivery number `attempt` failed at `now_ms`: dead-letter once
/// `max_attempts` deliveries failed, else retry after `delays_ms[attempt - 1]` (the last
/// delay repeats).
pub fn decide(delays_ms: &[u64], max_attempts: u32, attempt: u32, now_ms: i64) -> Decision {
    if attempt >= max_attempts.max(1) {
        return Decision::DeadLetter;
    }
    let i = (attempt.max(1) - 1) as usize;
    let delay = delays_ms.get(i).or(delays_ms.last()).copied().unwrap_or(0);
    Decision::RetryAt(now_ms.saturating_add(delay as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_dead_letters() {
        let p = RetryPolicy::default();
        assert_eq!(p.decide(1, 1000), Decision::RetryAt(11_000));
        assert_eq!(p.decide(2, 1000), Decision::RetryAt(31_000));
        assert_eq!(p.decide(15, 0), Decision::RetryAt(3_600_000));
        assert_eq!(p.decide(16, 0), Decision::DeadLetter);
        assert_eq!(p.decide(40, 0), Decision::DeadLetter);
    }

    #[test]
    fn the_last_delay_repeats_and_one_attempt_means_no_retry() {
        let p = RetryPolicy {
            delays_ms: vec![5, 7],
            max_attempts: 10,
        };
        assert_eq!(p.decide(5, 100), Decision::RetryAt(107));
        let once = RetryPolicy {
            delays_ms: vec![5],
            max_attempts: 1,
        };
        assert_eq!(once.decide(1, 0), Decision::DeadLetter);
        assert_eq!(p.decide_ordered(3, 10, 1000), Decision::RetryAt(1010));
        assert_eq!(p.decide_ordered(10, 10, 1000), Decision::DeadLetter);
    }
}
