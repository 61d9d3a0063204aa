//! `builtin:retry-schedule`: `lockgate_filters::schedule` as a retry plugin. Jitter draws from
//! a generator seeded by the broker's clock when the policy is made. A dead-letter reason says
//! what failed last (a nack, an expired lease, a failed filter).

use std::cell::Cell;

use lockgate_filters::schedule::{Schedule, Verdict};
use lockgate_plugin_sdk::{Decision, FailedDelivery, Reason, Retry};

struct Policy {
    schedule: Schedule,
    state: Cell<u64>,
}

impl Policy {
    /// xorshift64*, in [0, 1).
    fn random(&self) -> f64 {
        let mut x = self.state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Retry for Policy {
    fn create(config: &[(String, String)]) -> Result<Self, String> {
        Ok(Policy {
            schedule: Schedule::new(config)?,
            state: Cell::new(lockgate_plugin_sdk::now_ms() as u64 | 1),
        })
    }

    fn decide(&self, f: &FailedDelivery) -> Decision {
        match self.schedule.decide(f.attempt, self.random()) {
            Verdict::RetryAfter(ms) => Decision::RetryAfter(ms),
            Verdict::DeadLetter(why) => {
                let last = match f.reason {
                    Reason::Nack => "a nack",
                    Reason::LeaseExpired => "an expired lease",
                    Reason::FilterFailed => "a failed filter",
                };
                Decision::DeadLetter(format!("{why}; the last by {last}"))
            }
        }
    }
}

lockgate_plugin_sdk::export_retry!(Policy);
