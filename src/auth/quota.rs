//! `[[quota]]`: per principal, produce messages/s and bytes/s, and a cap on connections.
//!
//! A producer over its rate is **throttled, not dropped** (Kafka's throttle time): the debt
//! its request leaves in the principal's token bucket is how long the request is held before
//! it is stored (and its stream with it), and the acknowledgement carries that time so the
//! client can back off. All of a principal's connections and streams share one bucket, which
//! holds at most a tenth of a second of its rate: what a principal stores per second is its
//! quota however it spreads its requests.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One `[[quota]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaConfig {
    /// A principal as rules name it, or `*`: each principal on its own.
    pub principal: String,
    /// Messages per second.
    pub produce_rate: Option<u64>,
    /// Bytes (of produce request bodies) per second.
    pub produce_bytes: Option<u64>,
    /// Connections open at once.
    pub connections: Option<u32>,
}

/// How much of a second of rate a bucket holds: the burst a quiet principal may send at once.
const BURST: f64 = 0.1;

/// A token bucket that goes into debt: every charge is admitted; the debt is the wait.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        Bucket {
            rate,
            level: rate * BURST,
            at: now,
        }
    }

    /// Takes `n`; returns how long until the bucket is out of debt.
    fn charge(&mut self, n: f64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.level = (self.level + elapsed * self.rate).min(self.rate * BURST) - n;
        if self.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.level / self.rate)
        }
    }
}

#[derive(Debug, Default)]
struct Usage {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
    connections: u32,
}

/// The quotas in force and each principal's usage.
#[derive(Debug, Default)]
pub struct Quotas {
    configs: Vec<QuotaConfig>,
    usage: Arc<Mutex<HashMap<String, Usage>>>,
}

/// A connection counted against its principal's cap; uncounted when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    principal: String,
    usage: Arc<Mutex<HashMap<String, Usage>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(u) = self.usage.lock().get_mut(&self.principal) {
            u.connections = u.connections.saturating_sub(1);
        }
    }
}

impl Quotas {
    pub fn new(configs: Vec<QuotaConfig>) -> Quotas {
        Quotas {
            configs,
            usage: Arc::default(),
        }
    }

    /// Carries the connection counts over (open connections stay counted); rates start afresh.
    pub fn reloaded(&self, configs: Vec<QuotaConfig>) -> Quotas {
        let usage = self.usage.clone();
        for u in usage.lock().values_mut() {
            u.messages = None;
            u.bytes = None;
        }
        Quotas { configs, usage }
    }

    /// The quota of `principal` (its own entry first, else `*`).
    fn of(&self, principal: &str) -> Option<&QuotaConfig> {
        self.configs
            .iter()
            .find(|q| q.principal == principal)
            .or_else(|| self.configs.iter().find(|q| q.principal == "*"))
    }

    /// Counts a new connection of `principal`; `Err` with its cap when it has that many.
    pub fn connect(&self, principal: &str) -> Result<ConnectionSlot, u32> {
        let cap = self.of(principal).and_then(|q| q.connections);
        let mut usage = self.usage.lock();
        let u = usage.entry(principal.to_string()).or_default();
        if let Some(cap) = cap
            && u.connections >= cap
        {
            return Err(cap);
        }
        u.connections += 1;
        Ok(ConnectionSlot {
            principal: principal.to_string(),
            usage: self.usage.clone(),
        })
    }

    /// Charges a produce request of `messages` and `bytes` to `principal`: how long to throttle
    /// it (zero within its quota).
    pub fn charge(&self, principal: &str, messages: u64, bytes: u64, now: Instant) -> Duration {
        let Some(q) = self.of(principal) else {
            return Duration::ZERO;
        };
        let mut usage = self.usage.lock();
        if !usage.contains_key(principal) {
            usage.insert(principal.to_string(), Usage::default());
        }
        let u = usage.get_mut(principal).expect("inserted");
        let mut wait = Duration::ZERO;
        if let Some(rate) = q.produce_rate {
            let b = u
                .messages
                .get_or_insert_with(|| Bucket::new(rate as f64, now));
            wait = wait.max(b.charge(messages as f64, now));
        }
        if let Some(rate) = q.produce_bytes {
            let b = u.bytes.get_or_insert_with(|| Bucket::new(rate as f64, now));
            wait = wait.max(b.charge(bytes as f64, now));
        }
        wait
    }
}

/// `"50k/s"`, `"1000/s"`, `"1.5M/s"`: messages per second.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a rate like \"50k/s\" or \"1000/s\"");
    let n = text.trim().strip_suffix("/s").ok_or_else(bad)?.trim();
    let (digits, scale) = match n.char_indices().last() {
        Some((i, 'k' | 'K')) => (&n[..i], 1e3),
        Some((i, 'm' | 'M')) => (&n[..i], 1e6),
        _ => (n, 1.0),
    };
    let v: f64 = digits.trim().parse().map_err(|_| bad())?;
    let per_second = (v * scale).round();
    if !(per_second.is_finite() && per_second >= 1.0) {
        return Err(format!("{text:?} must be at least 1/s"));
    }
    Ok(per_second as u64)
}

/// `"20 MiB/s"`: bytes per second.
pub fn parse_byte_rate(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a byte rate like \"20 MiB/s\"");
    let size = text.trim().strip_suffix("/s").ok_or_else(bad)?;
    match crate::units::parse_size(size.trim()) {
        Some(0) => Err(format!("{text:?} must be greater than zero")),
        Some(n) => Ok(n),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rate: u64) -> Quotas {
        Quotas::new(vec![QuotaConfig {
            principal: "billing".into(),
            produce_rate: Some(rate),
            produce_bytes: None,
            connections: Some(2),
        }])
    }

    #[test]
    fn the_debt_is_the_wait_and_time_pays_it() {
        let q = quota(1000);
        let t0 = Instant::now();
        // The burst (a tenth of a second) goes through; the next 100 owe 0.1 s.
        assert_eq!(q.charge("billing", 100, 0, t0), Duration::ZERO);
        let wait = q.charge("billing", 100, 0, t0);
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        // After the wait the bucket is even; others are not limited.
        assert!(q.charge("billing", 0, 0, t0 + wait) <= Duration::from_micros(1));
        assert_eq!(q.charge("other", 1_000_000, 0, t0), Duration::ZERO);
    }

    #[test]
    fn over_a_long_run_the_admitted_rate_is_the_quota() {
        // A producer that waits out every throttle sends 100 messages a call.
        let q = quota(5000);
        let t0 = Instant::now();
        let (mut now, mut sent) = (t0, 0u64);
        while now.duration_since(t0) < Duration::from_secs(10) {
            now += q.charge("billing", 100, 0, now);
            sent += 100;
        }
        let rate = sent as f64 / now.duration_since(t0).as_secs_f64();
        assert!((rate - 5000.0).abs() / 5000.0 < 0.02, "{rate}");
    }

    #[test]
    fn connections_are_capped_and_released() {
        let q = quota(1);
        let (a, _b) = (q.connect("billing").unwrap(), q.connect("billing").unwrap());
        assert_eq!(q.connect("billing").unwrap_err(), 2);
        drop(a);
        assert!(q.connect("billing").is_ok());
    }

    #[test]
    fn rates_parse_with_their_units() {
        assert_eq!(parse_rate("50k/s").unwrap(), 50_000);
        assert_eq!(parse_rate("1000/s").unwrap(), 1000);
        assert_eq!(parse_rate("1.5M/s").unwrap(), 1_500_000);
        assert_eq!(parse_byte_rate("20 MiB/s").unwrap(), 20 << 20);
        for bad in ["50k", "fast/s", "0/s", "-1/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert!(parse_byte_rate("20 MiB").is_err());
    }
}
