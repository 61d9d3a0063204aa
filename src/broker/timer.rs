//! One timer driver for every broker service with deadlines (group leases, retries and
//! sessions, progress persistence; delay timers and transaction check-backs later). A single
//! task sleeps on the broker's [`Clock`] until the earliest deadline any service reports, then
//! polls the services that are due. There is no fixed tick: a service whose deadline moves
//! earlier (a new lease, a nack) calls [`Rearm::wake`] so the driver looks again.
//!
//! The driver does not know what a deadline means; services do not sleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;

/// A service with deadlines.
pub trait Timed: Send + Sync + 'static {
    /// The earliest time (ms since the epoch) at which [`Timed::poll`] has work, if any.
    fn next_deadline(&self) -> Option<i64>;
    /// Does what is due at `now_ms`, after which `next_deadline` is later than `now_ms` (or
    /// `None`). Runs on the blocking pool: it may write files.
    fn poll(&self, now_ms: i64);
}

/// Wakes the driver to look at deadlines again; cheap to clone and to call.
#[derive(Clone, Default)]
pub struct Rearm(Arc<Armed>);

struct Armed {
    notify: Notify,
    /// The deadline the driver sleeps until; `i64::MAX` while it has none and while it is
    /// awake (it may be computing a deadline that misses the new one: wake it regardless,
    /// the permit makes it look again).
    until: AtomicI64,
}

impl Default for Armed {
    fn default() -> Armed {
        Armed {
            notify: Notify::new(),
            until: AtomicI64::new(i64::MAX),
        }
    }
}

impl Rearm {
    pub fn wake(&self) {
        self.0.notify.notify_one();
    }

    /// Wakes the driver only if `deadline` comes before the one it sleeps until.
    pub fn wake_before(&self, deadline: i64) {
        if deadline < self.0.until.load(Ordering::Acquire) {
            self.wake();
        }
    }
}

pub struct TimerDriver {
    clock: Clock,
    services: Vec<Arc<dyn Timed>>,
    rearm: Rearm,
}

impl TimerDriver {
    pub fn new(clock: Clock) -> TimerDriver {
        TimerDriver {
            clock,
            services: Vec::new(),
            rearm: Rearm::default(),
        }
    }

    /// The handle services use to say that their deadline moved earlier.
    pub fn rearm(&self) -> Rearm {
        self.rearm.clone()
    }

    pub fn register(&mut self, service: Arc<dyn Timed>) {
        self.services.push(service);
    }

    /// Polls every service that is due at `now_ms` (blocking). Returns how many were.
    pub fn poll_due(&self, now_ms: i64) -> usize {
        let mut polled = 0;
        for s in &self.services {
            if s.next_deadline().is_some_and(|d| d <= now_ms) {
                s.poll(now_ms);
                polled += 1;
            }
        }
        polled
    }

    /// The earliest deadline of any service.
    pub fn next_deadline(&self) -> Option<i64> {
        self.services.iter().filter_map(|s| s.next_deadline()).min()
    }

    /// Runs the driver until `stop` turns true.
    pub fn spawn(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    return;
                }
                let now = this.clock.now_ms();
                let next = this.next_deadline();
                if next.is_some_and(|d| d <= now) {
                    let t = this.clone();
                    if let Err(e) = tokio::task::spawn_blocking(move || t.poll_due(now)).await {
                        tracing::error!(error = %e, "a timed service's poll failed");
                    }
                    continue;
                }
                this.rearm
                    .0
                    .until
                    .store(next.unwrap_or(i64::MAX), Ordering::Release);
                let sleep = async {
                    match next {
                        Some(d) => this.clock.sleep_until_ms(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = this.rearm.0.notify.notified() => {}
                    _ = sleep => {}
                }
                // Awake: every new deadline must wake it again.
                this.rearm.0.until.store(i64::MAX, Ordering::Release);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// A service with one deadline at a time; each poll is sent to the test.
    struct OneShot {
        deadline: Mutex<Option<i64>>,
        looked: AtomicUsize,
        polls: tokio::sync::mpsc::UnboundedSender<i64>,
    }

    impl Timed for OneShot {
        fn next_deadline(&self) -> Option<i64> {
            self.looked.fetch_add(1, Ordering::Relaxed);
            *self.deadline.lock()
        }
        fn poll(&self, now_ms: i64) {
            *self.deadline.lock() = None;
            self.polls.send(now_ms).unwrap();
        }
    }

    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }

    /// A running driver over one [`OneShot`] due at 10 500 ms, on a manual clock at 10 000.
    struct Rig {
        clock: Clock,
        service: Arc<OneShot>,
        polls: tokio::sync::mpsc::UnboundedReceiver<i64>,
        rearm: Rearm,
        stop: watch::Sender<bool>,
        task: JoinHandle<()>,
    }

    impl Rig {
        fn start() -> Rig {
            let clock = Clock::manual(10_000);
            let (tx, polls) = tokio::sync::mpsc::unbounded_channel();
            let service = Arc::new(OneShot {
                deadline: Mutex::new(Some(10_500)),
                looked: AtomicUsize::new(0),
                polls: tx,
            });
            let mut driver = TimerDriver::new(clock.clone());
            driver.register(service.clone());
            let rearm = driver.rearm();
            let (stop, stopped) = watch::channel(false);
            let task = Arc::new(driver).spawn(stopped);
            Rig {
                clock,
                service,
                polls,
                rearm,
                stop,
                task,
            }
        }

        fn looked(&self) -> usize {
            self.service.looked.load(Ordering::Relaxed)
        }

        async fn stop(self) {
            self.stop.send(true).unwrap();
            self.task.await.unwrap();
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn the_driver_wakes_at_the_earliest_deadline_and_never_ticks() {
        let mut rig = Rig::start();
        // Paused tokio time runs far ahead: a fixed tick would look at deadlines again and
        // again, while the manual clock stands still.
        settle().await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        settle().await;
        let looked = rig.looked();
        assert!(
            looked <= 4,
            "the driver looked {looked} times while nothing was due"
        );
        assert!(rig.polls.try_recv().is_err(), "polled before its deadline");

        rig.clock.advance(Duration::from_millis(499));
        settle().await;
        assert!(
            rig.polls.try_recv().is_err(),
            "polled 1 ms before its deadline"
        );
        rig.clock.advance(Duration::from_millis(1));
        assert_eq!(
            rig.polls.recv().await,
            Some(10_500),
            "polled at its deadline"
        );

        // A deadline set earlier than none at all: the service rearms the driver.
        *rig.service.deadline.lock() = Some(10_520);
        rig.rearm.wake();
        settle().await;
        assert!(rig.polls.try_recv().is_err());
        rig.clock.advance(Duration::from_millis(30));
        assert_eq!(
            rig.polls.recv().await,
            Some(10_530),
            "polled once the clock passed it"
        );
        rig.stop().await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_later_deadline_does_not_wake_the_driver_and_an_earlier_one_does() {
        let rig = Rig::start();
        settle().await;
        let asleep = rig.looked();
        rig.rearm.wake_before(11_000);
        settle().await;
        assert_eq!(rig.looked(), asleep, "woken for a later deadline");
        rig.rearm.wake_before(10_100);
        settle().await;
        assert!(rig.looked() > asleep, "not woken for an earlier one");
        rig.stop().await;
    }
}
