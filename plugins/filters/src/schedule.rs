//! `builtin:retry-schedule`'s logic: how long a failed delivery waits before the next one, and
//! when it goes to the group's dead-letter topic instead.
//!
//! - `schedule = "rocketmq"` (the default): RocketMQ's 16 consumer retry delays, 10s 30s 1m 2m
//!   3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h, and `max_attempts` 16 by default.
//! - `schedule = "fixed"`: `delays = "1s, 5s, 30s"`; the last one repeats.
//! - `schedule = "exponential"`: `base` (1s) × `factor` (2) ^ (attempt − 1), at most `cap`
//!   (10m), plus or minus `jitter` (a fraction, 0 to 1; 0 by default) of it.
//! - `max_attempts`: deliveries before the dead-letter topic (at least 1).

use crate::settings::{Settings, millis};

/// RocketMQ's consumer retry delays (its `messageDelayLevel` from level 3 on).
pub const ROCKETMQ_DELAYS_MS: [u64; 16] = [
    10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000, 480_000, 540_000,
    600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    List(Vec<u64>),
    Exponential {
        base: u64,
        factor: f64,
        cap: u64,
        jitter: f64,
    },
}

/// What a schedule says about a failed delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    RetryAfter(u64),
    DeadLetter(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    kind: Kind,
    max_attempts: u32,
}

impl Schedule {
    pub const OPTIONS: [&str; 7] = [
        "schedule",
        "delays",
        "base",
        "factor",
        "cap",
        "jitter",
        "max_attempts",
    ];

    pub fn new(config: &[(String, String)]) -> Result<Schedule, String> {
        let s = Settings::new(config, &Self::OPTIONS)?;
        let ms = |name: &str, default: u64| -> Result<u64, String> {
            s.get(name)
                .map_or(Ok(default), millis)
                .map_err(|e| format!("{name}: {e}"))
        };
        let number = |name: &str, default: f64| -> Result<f64, String> {
            match s.get(name) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| format!("{name}: {v:?} is not a number")),
            }
        };
        let name = s.get("schedule").unwrap_or("rocketmq");
        let kind = match name {
            "rocketmq" => Kind::List(ROCKETMQ_DELAYS_MS.to_vec()),
            "fixed" => {
                let delays = s
                    .get("delays")
                    .ok_or("delays: a fixed schedule needs delays (\"1s, 5s, 30s\")")?
                    .split(',')
                    .map(millis)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("delays: {e}"))?;
                Kind::List(delays)
            }
            "exponential" => {
                let factor = number("factor", 2.0)?;
                let jitter = number("jitter", 0.0)?;
                if factor < 1.0 {
                    return Err(format!("factor: {factor} is below 1"));
                }
                if !(0.0..=1.0).contains(&jitter) {
                    return Err(format!("jitter: {jitter} is not between 0 and 1"));
                }
                Kind::Exponential {
                    base: ms("base", 1000)?,
                    factor,
                    cap: ms("cap", 600_000)?,
                    jitter,
                }
            }
            other => {
                return Err(format!(
                    "schedule: {other:?} is not rocketmq, fixed or exponential"
                ));
            }
        };
        if name != "fixed" && s.get("delays").is_some() {
            return Err("delays: only a fixed schedule takes delays".into());
        }
        let max_attempts = match s.get("max_attempts") {
            None => 16,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(format!("max_attempts: {v:?} is not a whole number ≥ 1")),
            },
        };
        Ok(Schedule { kind, max_attempts })
    }

    /// The verdict after delivery number `attempt` failed; `random` in [0, 1) draws the
    /// jitter.
    pub fn decide(&self, attempt: u32, random: f64) -> Verdict {
        if attempt >= self.max_attempts {
            return Verdict::DeadLetter(format!(
                "{attempt} deliveries failed (max_attempts = {})",
                self.max_attempts
            ));
        }
        let n = attempt.max(1) - 1;
        Verdict::RetryAfter(match &self.kind {
            Kind::List(d) => d.get(n as usize).or(d.last()).copied().unwrap_or(0),
            Kind::Exponential {
                base,
                factor,
                cap,
                jitter,
            } => {
                let raw = (*base as f64 * factor.powi(n.min(1000) as i32)).min(*cap as f64);
                let spread = raw * jitter * (2.0 * random - 1.0);
                (raw + spread).max(0.0) as u64
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_three_schedules() {
        let r = Schedule::new(&[]).unwrap();
        assert_eq!(r.decide(1, 0.5), Verdict::RetryAfter(10_000));
        assert_eq!(r.decide(15, 0.5), Verdict::RetryAfter(3_600_000));
        assert!(matches!(r.decide(16, 0.5), Verdict::DeadLetter(_)));
        let f = Schedule::new(&c(&[
            ("schedule", "fixed"),
            ("delays", "1s, 250ms"),
            ("max_attempts", "5"),
        ]))
        .unwrap();
        assert_eq!(f.decide(1, 0.0), Verdict::RetryAfter(1000));
        assert_eq!(f.decide(4, 0.0), Verdict::RetryAfter(250));
        assert!(matches!(f.decide(5, 0.0), Verdict::DeadLetter(_)));
        let e = Schedule::new(&c(&[
            ("schedule", "exponential"),
            ("base", "100ms"),
            ("factor", "3"),
            ("cap", "1s"),
        ]))
        .unwrap();
        assert_eq!(e.decide(1, 0.9), Verdict::RetryAfter(100));
        assert_eq!(e.decide(3, 0.9), Verdict::RetryAfter(900));
        assert_eq!(e.decide(4, 0.9), Verdict::RetryAfter(1000));
        let j = Schedule::new(&c(&[("schedule", "exponential"), ("jitter", "0.5")])).unwrap();
        assert_eq!(j.decide(1, 0.0), Verdict::RetryAfter(500));
        assert_eq!(j.decide(1, 0.5), Verdict::RetryAfter(1000));
    }

    #[test]
    fn bad_options_are_named() {
        for (cfg, part) in [
            (vec![("schedule", "linear")], "schedule:"),
            (vec![("schedule", "fixed")], "delays:"),
            (vec![("delays", "1s")], "only a fixed"),
            (
                vec![("schedule", "exponential"), ("jitter", "2")],
                "jitter:",
            ),
            (vec![("max_attempts", "0")], "max_attempts:"),
            (
                vec![("schedule", "fixed"), ("delays", "1 fortnight")],
                "delays:",
            ),
            (vec![("retries", "3")], "unknown option"),
        ] {
            let e = Schedule::new(&c(&cfg)).unwrap_err();
            assert!(e.contains(part), "{cfg:?}: {e}");
        }
    }
}
