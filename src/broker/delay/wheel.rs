//! The timing wheel: the pending timers of the buckets loaded so far, as a pure state machine.
//! Inputs are `handle_*` calls, outputs `poll_*` calls, and time is an argument; the I/O shell
//! (`service`) loads buckets from the timer index, writes the records and reports back.
//!
//! A timer is acted on when its slot comes: *fired* when it is due by then, else *moved* (its
//! record written again, nearer its time). It is never fired before its due time. Acting takes
//! a timer out of the pending set into flight; `handle_settled` ends it, `handle_failed` puts it
//! back for a later try. Cancel takes a pending timer the same way, so a timer is settled once.
//! Firing is paced by a token bucket, so a backlog after downtime drains at a bounded rate.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::storage::timers::{Timer, bucket_of};

/// What to do with a timer whose slot came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Deliver it to its topic.
    Fire(Timer),
    /// Write its record again (it is due after the horizon of its record).
    Move(Timer),
}

/// A timer's state, as far as the wheel knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Pending(Timer),
    /// Being fired, moved or cancelled right now.
    InFlight(Timer),
}

/// The outcome of [`Wheel::take_for_cancel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Taken out of the pending set: settle it (or give it back with `handle_failed`).
    Taken(Timer),
    /// Being fired or moved: too late to cancel.
    InFlight,
    /// Not among the loaded timers.
    NotHeld,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelOptions {
    /// How long before a bucket's start it is loaded.
    pub lookahead_ms: i64,
    /// Stop loading buckets while this many timers are held.
    pub max_held: usize,
    /// Most timers fired or moved per second, and the burst allowed above it.
    pub rate_per_s: u64,
    pub burst: u64,
}

pub struct Wheel {
    opts: WheelOptions,
    /// `(act at, position)` of pending timers: act at is the slot, or a retry time.
    order: BTreeSet<(i64, u64)>,
    /// Every held timer by position, pending or in flight, with its act-at time.
    held: HashMap<u64, (Timer, i64)>,
    in_flight: BTreeSet<u64>,
    /// Held timers per bucket, for buckets loaded and not finished.
    per_bucket: BTreeMap<i64, usize>,
    /// Buckets whose every timer is settled, not yet reported.
    finished: Vec<i64>,
    tokens: f64,
    tokens_at: i64,
}

impl Wheel {
    pub fn new(opts: WheelOptions, now_ms: i64) -> Wheel {
        Wheel {
            opts,
            order: BTreeSet::new(),
            held: HashMap::new(),
            in_flight: BTreeSet::new(),
            per_bucket: BTreeMap::new(),
            finished: Vec::new(),
            tokens: opts.burst as f64,
            tokens_at: now_ms,
        }
    }

    /// How many timers are held (pending or in flight).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether to load the next bucket, which starts at `next_bucket`; the load should cover
    /// buckets up to the returned time.
    pub fn poll_load(&self, now_ms: i64, next_bucket: Option<i64>) -> Option<i64> {
        let until = now_ms.saturating_add(self.opts.lookahead_ms);
        (next_bucket.is_some_and(|b| b <= until) && self.held.len() < self.opts.max_held)
            .then_some(until)
    }

    /// A bucket was loaded with these pending timers.
    pub fn handle_loaded(&mut self, bucket: i64, timers: Vec<Timer>) {
        self.per_bucket.entry(bucket).or_default();
        for t in timers {
            self.add(t);
        }
        if self.per_bucket.get(&bucket) == Some(&0) {
            self.per_bucket.remove(&bucket);
            self.finished.push(bucket);
        }
    }

    /// New timers of buckets already loaded.
    pub fn handle_scheduled(&mut self, timers: Vec<Timer>) {
        for t in timers {
            self.add(t);
        }
    }

    fn add(&mut self, t: Timer) {
        if self.held.contains_key(&t.position) {
            return;
        }
        self.held.insert(t.position, (t, t.slot));
        self.order.insert((t.slot, t.position));
        *self.per_bucket.entry(bucket_of(t.slot)).or_default() += 1;
    }

    /// The timers to act on at `now_ms`, at most `max` (and as many as the pace allows), each
    /// taken into flight.
    pub fn poll_due(&mut self, now_ms: i64, max: usize) -> Vec<Action> {
        self.refill(now_ms);
        let allowed = max.min(self.tokens as usize);
        let mut out = Vec::new();
        while out.len() < allowed {
            let Some(&(at, position)) = self.order.first() else {
                break;
            };
            if at > now_ms {
                break;
            }
            self.order.remove(&(at, position));
            self.in_flight.insert(position);
            let (t, _) = self.held[&position];
            out.push(if t.due <= now_ms {
                Action::Fire(t)
            } else {
                Action::Move(t)
            });
        }
        self.tokens -= out.len() as f64;
        out
    }

    fn refill(&mut self, now_ms: i64) {
        let elapsed = (now_ms - self.tokens_at).max(0) as f64 / 1000.0;
        self.tokens =
            (self.tokens + elapsed * self.opts.rate_per_s as f64).min(self.opts.burst as f64);
        self.tokens_at = self.tokens_at.max(now_ms);
    }

    /// The timer at `position` is settled (fired, moved or cancelled): it is forgotten.
    pub fn handle_settled(&mut self, position: u64) {
        if !self.in_flight.remove(&position) {
            return;
        }
        let Some((t, _)) = self.held.remove(&position) else {
            return;
        };
        let b = bucket_of(t.slot);
        if let Some(n) = self.per_bucket.get_mut(&b) {
            *n -= 1;
            if *n == 0 {
                self.per_bucket.remove(&b);
                self.finished.push(b);
            }
        }
    }

    /// Acting on the timer failed: try again at `retry_at`.
    pub fn handle_failed(&mut self, position: u64, retry_at: i64) {
        if self.in_flight.remove(&position)
            && let Some((_, at)) = self.held.get_mut(&position)
        {
            *at = retry_at;
            self.order.insert((retry_at, position));
        }
    }

    /// Takes a pending timer for a cancel.
    pub fn take_for_cancel(&mut self, position: u64) -> Take {
        match self.held.get(&position) {
            None => Take::NotHeld,
            Some(_) if self.in_flight.contains(&position) => Take::InFlight,
            Some(&(t, at)) => {
                self.order.remove(&(at, position));
                self.in_flight.insert(position);
                Take::Taken(t)
            }
        }
    }

    pub fn state(&self, position: u64) -> Option<Held> {
        let &(t, _) = self.held.get(&position)?;
        Some(if self.in_flight.contains(&position) {
            Held::InFlight(t)
        } else {
            Held::Pending(t)
        })
    }

    /// Buckets that hold no timer any more, since the last call.
    pub fn poll_finished(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.finished)
    }

    /// The earliest due time among held pending timers.
    pub fn earliest_due(&self) -> Option<i64> {
        self.held
            .iter()
            .filter(|(p, _)| !self.in_flight.contains(p))
            .map(|(_, (t, _))| t.due)
            .min()
    }

    /// When to poll next: the first pending timer's time (later while the pace has no tokens),
    /// or when the next bucket should be loaded.
    pub fn next_deadline(&self, next_bucket: Option<i64>) -> Option<i64> {
        let act = self.order.first().map(|&(at, _)| {
            if self.tokens >= 1.0 || self.opts.rate_per_s == 0 {
                at
            } else {
                let wait_ms = ((1.0 - self.tokens) * 1000.0 / self.opts.rate_per_s as f64).ceil();
                at.max(self.tokens_at + wait_ms as i64)
            }
        });
        let load = next_bucket
            .filter(|_| self.held.len() < self.opts.max_held)
            .map(|b| b - self.opts.lookahead_ms);
        match (act, load) {
            (Some(a), Some(l)) => Some(a.min(l)),
            (a, l) => a.or(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::timers::BUCKET_MS;

    const HORIZON: i64 = 3_600_000;

    fn opts() -> WheelOptions {
        WheelOptions {
            lookahead_ms: BUCKET_MS,
            max_held: 1000,
            rate_per_s: 1_000_000,
            burst: 1_000_000,
        }
    }

    /// A timer as the index would file it for a record stored at `stored`.
    fn timer(position: u64, stored: i64, due: i64) -> Timer {
        Timer {
            due,
            slot: due.clamp(stored, stored + HORIZON),
            position,
            size: 100,
            topic_id: 1,
            queue: 0,
        }
    }

    fn positions(actions: &[Action]) -> Vec<u64> {
        actions
            .iter()
            .map(|a| match a {
                Action::Fire(t) | Action::Move(t) => t.position,
            })
            .collect()
    }

    #[test]
    fn timers_fire_at_their_time_never_before_and_in_order() {
        let mut w = Wheel::new(opts(), 0);
        w.handle_loaded(
            0,
            vec![timer(2, 0, 1_500), timer(1, 0, 1_000), timer(3, 0, 1_500)],
        );
        assert!(w.poll_due(999, 100).is_empty(), "one ms early is early");
        assert_eq!(w.next_deadline(None), Some(1_000));
        assert_eq!(positions(&w.poll_due(1_000, 100)), vec![1]);
        assert_eq!(positions(&w.poll_due(1_499, 100)), Vec::<u64>::new());
        assert_eq!(positions(&w.poll_due(1_500, 100)), vec![2, 3]);
        assert_eq!(w.next_deadline(None), None);
    }

    #[test]
    fn a_past_time_fires_at_once() {
        let mut w = Wheel::new(opts(), 10_000);
        w.handle_loaded(0, vec![timer(1, 10_000, 5)]);
        assert_eq!(
            w.poll_due(10_000, 10),
            vec![Action::Fire(timer(1, 10_000, 5))]
        );
    }

    #[test]
    fn a_long_delay_is_moved_at_its_horizon_then_fired() {
        let day = 24 * HORIZON;
        let mut w = Wheel::new(opts(), 0);
        let t = timer(1, 0, 30 * day);
        assert_eq!(t.slot, HORIZON);
        w.handle_loaded(bucket_of(t.slot), vec![t]);
        assert!(w.poll_due(HORIZON - 1, 10).is_empty());
        assert_eq!(w.poll_due(HORIZON, 10), vec![Action::Move(t)]);
        w.handle_settled(1);
        assert_eq!(w.poll_finished(), vec![bucket_of(t.slot)]);
        // Written again at the horizon: filed a horizon later, until it is within one.
        let mut stored = HORIZON;
        let mut moves = 1;
        loop {
            let t = timer(moves + 1, stored, 30 * day);
            w.handle_loaded(bucket_of(t.slot), vec![t]);
            match w.poll_due(t.slot, 10).as_slice() {
                [Action::Move(_)] => moves += 1,
                [Action::Fire(f)] => {
                    assert_eq!(f.due, 30 * day);
                    assert!(
                        t.slot >= 30 * day,
                        "fired at its slot, never before its time"
                    );
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
            w.handle_settled(t.position);
            stored = t.slot;
        }
        assert_eq!(moves, 30 * 24 - 1, "moved once per horizon");
    }

    #[test]
    fn cancel_takes_a_pending_timer_once_and_not_one_in_flight() {
        let mut w = Wheel::new(opts(), 0);
        w.handle_loaded(0, vec![timer(1, 0, 1_000), timer(2, 0, 1_000)]);
        assert_eq!(w.take_for_cancel(1), Take::Taken(timer(1, 0, 1_000)));
        assert_eq!(
            w.take_for_cancel(1),
            Take::InFlight,
            "a second cancel waits on the first"
        );
        assert_eq!(
            positions(&w.poll_due(1_000, 10)),
            vec![2],
            "a cancelled timer does not fire"
        );
        assert_eq!(w.take_for_cancel(2), Take::InFlight, "firing: too late");
        w.handle_settled(1);
        w.handle_settled(2);
        assert_eq!(w.take_for_cancel(2), Take::NotHeld);
        assert_eq!(w.poll_finished(), vec![0]);
    }

    #[test]
    fn a_failed_cancel_or_fire_goes_back_and_is_tried_again() {
        let mut w = Wheel::new(opts(), 0);
        w.handle_loaded(0, vec![timer(1, 0, 1_000)]);
        assert_eq!(positions(&w.poll_due(1_000, 10)), vec![1]);
        w.handle_failed(1, 2_000);
        assert!(w.poll_due(1_999, 10).is_empty());
        assert_eq!(w.state(1), Some(Held::Pending(timer(1, 0, 1_000))));
        assert_eq!(positions(&w.poll_due(2_000, 10)), vec![1]);
        assert!(w.poll_finished().is_empty(), "not settled yet");
    }

    #[test]
    fn buckets_load_ahead_of_their_time_up_to_a_bound() {
        let mut w = Wheel::new(
            WheelOptions {
                max_held: 2,
                ..opts()
            },
            0,
        );
        assert_eq!(w.poll_load(0, Some(2 * BUCKET_MS)), None, "too far ahead");
        assert_eq!(w.next_deadline(Some(2 * BUCKET_MS)), Some(BUCKET_MS));
        assert_eq!(
            w.poll_load(BUCKET_MS, Some(2 * BUCKET_MS)),
            Some(2 * BUCKET_MS)
        );
        w.handle_loaded(
            2 * BUCKET_MS,
            vec![timer(1, 0, 2 * BUCKET_MS), timer(2, 0, 2 * BUCKET_MS + 1)],
        );
        assert_eq!(
            w.poll_load(BUCKET_MS, Some(3 * BUCKET_MS)),
            None,
            "holding enough"
        );
        let empty = 5 * BUCKET_MS;
        w.handle_loaded(empty, vec![]);
        assert_eq!(
            w.poll_finished(),
            vec![empty],
            "an empty bucket is finished at once"
        );
    }

    #[test]
    fn firing_is_paced() {
        let mut w = Wheel::new(
            WheelOptions {
                rate_per_s: 1_000,
                burst: 10,
                ..opts()
            },
            0,
        );
        let timers = (0..100).map(|p| timer(p, 0, 0)).collect();
        w.handle_loaded(0, timers);
        assert_eq!(w.poll_due(0, 1000).len(), 10, "the burst");
        assert!(w.poll_due(0, 1000).is_empty());
        assert_eq!(w.next_deadline(None), Some(1), "one token a millisecond");
        assert_eq!(w.poll_due(5, 1000).len(), 5);
        assert_eq!(
            w.poll_due(1_000, 1000).len(),
            10,
            "never more than the burst"
        );
    }
}
