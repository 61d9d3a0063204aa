//! The one clock every broker service reads time from: wall milliseconds (store times, leases,
//! retry times, session timeouts) and monotonic instants, plus a sleep until a wall deadline.
//!
//! [`Clock::system`] is the real clock. [`Clock::manual`] stands still until a test moves it
//! with [`Clock::advance`]; sleepers on it wake when it passes their deadline, so timing logic
//! (lease expiry, retries, sessions) runs in tests without real waits. It does not drive
//! timers itself: the broker's timer driver sleeps on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// A shared handle to a time source; cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System { started: Instant },
    Manual(Manual),
}

#[derive(Debug)]
struct Manual {
    /// Wall time when the clock was made.
    start_ms: i64,
    /// How far it has been moved since, in ms.
    moved_ms: AtomicI64,
    /// Bumped on every move, so sleepers look again.
    moved: watch::Sender<i64>,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System {
            started: Instant::now(),
        }))
    }

    /// A clock standing at `start_ms` (ms since the Unix epoch) until [`Clock::advance`]d.
    pub fn manual(start_ms: i64) -> Clock {
        Clock(Arc::new(Source::Manual(Manual {
            start_ms,
            moved_ms: AtomicI64::new(0),
            moved: watch::channel(0).0,
        })))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &*self.0 {
            Source::System { .. } => system_now_ms(),
            Source::Manual(m) => m.start_ms + m.moved_ms.load(Ordering::Acquire),
        }
    }

    /// Monotonic time since the clock was made: it never goes back, whatever the wall clock
    /// does.
    pub fn elapsed(&self) -> Duration {
        match &*self.0 {
            Source::System { started } => started.elapsed(),
            Source::Manual(m) => Duration::from_millis(m.moved_ms.load(Ordering::Acquire) as u64),
        }
    }

    /// Moves a manual clock forward and wakes its sleepers that are due.
    ///
    /// # Panics
    /// On the system clock: only tests move time.
    pub fn advance(&self, by: Duration) {
        let Source::Manual(m) = &*self.0 else {
            panic!("only a manual clock can be advanced");
        };
        let moved = m
            .moved_ms
            .fetch_add(by.as_millis() as i64, Ordering::AcqRel)
            + by.as_millis() as i64;
        m.moved.send_replace(moved);
    }

    /// Completes once [`Clock::now_ms`] has reached `deadline_ms`. On the system clock it
    /// sleeps for the difference (and again if the wall clock was set back meanwhile).
    pub async fn sleep_until_ms(&self, deadline_ms: i64) {
        match &*self.0 {
            Source::System { .. } => loop {
                let left = deadline_ms.saturating_sub(system_now_ms());
                if left <= 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(left as u64)).await;
            },
            Source::Manual(m) => {
                let mut moved = m.moved.subscribe();
                while self.now_ms() < deadline_ms {
                    if moved.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The system's wall clock in ms since the Unix epoch, for clients and tools. Broker services
/// read their [`Clock`] instead.
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_only_when_moved_past_their_deadline() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until_ms(1_500).await }
        });
        clock.advance(Duration::from_millis(499));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "woke before its deadline");
        clock.advance(Duration::from_millis(1));
        sleeper.await.unwrap();
        assert_eq!(clock.now_ms(), 1_500);
        assert_eq!(clock.elapsed(), Duration::from_millis(500));
    }
}
