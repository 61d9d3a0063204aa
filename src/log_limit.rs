//! Repeated errors said once in a while: the first occurrence of a kind of error is logged at
//! once, later ones at most once per [`WINDOW`], with how many were held back. A full disk or a
//! dead peer then costs a log line every ten seconds, not five a second.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most one line per kind in this window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Rate limits by kind (a static name for each call site).
#[derive(Default)]
pub struct LogLimit {
    kinds: Mutex<Option<HashMap<&'static str, (Instant, u64)>>>,
}

impl LogLimit {
    pub const fn new() -> LogLimit {
        LogLimit {
            kinds: Mutex::new(None),
        }
    }

    /// `Some(held back since the last line)` when a line of `kind` may be logged now.
    pub fn allow(&self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut guard = self.kinds.lock();
        let kinds = guard.get_or_insert_with(HashMap::new);
        match kinds.get_mut(kind) {
            None => {
                kinds.insert(kind, (now, 0));
                Some(0)
            }
            Some((last, held)) if now.duration_since(*last) >= WINDOW => {
                let n = *held;
                *last = now;
                *held = 0;
                Some(n)
            }
            Some((_, held)) => {
                *held += 1;
                None
            }
        }
    }
}

/// The process-wide limiter.
pub static LIMIT: LogLimit = LogLimit::new();

/// `tracing::error!` for a repeated kind of error, rate limited by `kind`.
#[macro_export]
macro_rules! error_limited {
    ($kind:expr, $($arg:tt)+) => {
        if let Some(held_back) = $crate::log_limit::LIMIT.allow($kind) {
            tracing::error!(held_back, $($arg)+);
        }
    };
}

/// `tracing::warn!` for a repeated kind of event, rate limited by `kind`.
#[macro_export]
macro_rules! warn_limited {
    ($kind:expr, $($arg:tt)+) => {
        if let Some(held_back) = $crate::log_limit::LIMIT.allow($kind) {
            tracing::warn!(held_back, $($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_said_and_repeats_are_held_back_per_kind() {
        let l = LogLimit::new();
        assert_eq!(l.allow("disk"), Some(0));
        assert_eq!(l.allow("disk"), None);
        assert_eq!(l.allow("disk"), None);
        assert_eq!(l.allow("peer"), Some(0), "kinds are separate");
        l.kinds.lock().as_mut().unwrap().get_mut("disk").unwrap().0 -= WINDOW;
        assert_eq!(
            l.allow("disk"),
            Some(2),
            "the next line says how many were held back"
        );
    }
}
