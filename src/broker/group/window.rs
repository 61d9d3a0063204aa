//! One queue's delivery progress for one subscription: which offsets are done, leased,
//! waiting for a retry, or ready. Pure: no I/O, no clock (times are arguments).
//!
//! Every offset below `base` (the acked watermark) is done. Offsets `base..cursor` have a slot
//! each; offsets from `cursor` on were never handed out. Done slots at the front are dropped as
//! the watermark passes them, so the window holds what is in flight plus whatever is acked
//! above an unacked message. A message waiting for a retry in place keeps the window open
//! behind it (32 bytes per later offset); that is why a clustering group's long retries leave
//! the window for the durable timer (`timer_retry`).

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Deliverable now (released, revoked, due for a retry, or recovered after a restart).
    Ready,
    /// Delivered under a lease, not acked yet.
    Leased,
    /// Failed; waits for its retry time.
    Waiting,
    /// Being copied out: to the dead-letter topic, or to the timer for a retry.
    MovingOut,
    Done,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    state: SlotState,
    /// Deliveries so far.
    attempt: u32,
    /// The lease of the current delivery (valid while `Leased`).
    lease: u32,
    member: u64,
    /// Lease deadline while `Leased`, retry time while `Waiting`.
    due: i64,
}

impl Slot {
    const FRESH: Slot = Slot {
        state: SlotState::Ready,
        attempt: 0,
        lease: 0,
        member: 0,
        due: 0,
    };
}

/// A message handed out by [`QueueWindow::take`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handout {
    pub queue: u32,
    pub offset: u64,
    /// Deliveries including this one.
    pub attempt: u32,
}

/// A leased message found again (by an expiry, a nack or a revocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    pub offset: u64,
    pub attempt: u32,
}

#[derive(Debug, Clone)]
pub struct QueueWindow {
    queue: u32,
    base: u64,
    slots: VecDeque<Slot>,
    /// Offsets in the window whose slot is `Ready`.
    ready: BTreeSet<u64>,
    leased: u64,
    /// `Waiting` plus `MovingOut`.
    held: u64,
    /// The member that owns this queue (ordered mode).
    pub owner: Option<u64>,
    /// Ordered mode: the member the queue goes to once the owner's leases are settled (acked,
    /// failed or expired). Meanwhile nobody gets messages of the queue, so the new owner starts
    /// after the old one's last ack and the order holds across the move.
    pub handover: Option<u64>,
}

/// The persisted form of a window: the watermark, the done offsets above it (as ranges), and
/// the delivery counts of the others. Leases are not persisted: after a restart every
/// unfinished offset is ready again, keeping its attempt count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSnapshot {
    pub base: u64,
    pub cursor: u64,
    /// `[start, end)` ranges of done offsets above `base`.
    #[serde(default)]
    pub done: Vec<(u64, u64)>,
    /// `(offset, attempt)` of unfinished offsets delivered before.
    #[serde(default)]
    pub attempts: Vec<(u64, u32)>,
}

impl QueueWindow {
    pub fn new(queue: u32, start: u64) -> QueueWindow {
        QueueWindow {
            queue,
            base: start,
            slots: VecDeque::new(),
            ready: BTreeSet::new(),
            leased: 0,
            held: 0,
            owner: None,
            handover: None,
        }
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The acked watermark: every offset below it is done.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The first offset never handed out.
    pub fn cursor(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    pub fn leased(&self) -> u64 {
        self.leased
    }

    /// Offsets a take could hand out now, below `end`: the ready ones and the new ones.
    pub fn available(&self, end: u64) -> u64 {
        self.ready.len() as u64 + end.saturating_sub(self.cursor())
    }

    /// Offsets leased to `member` and not settled yet (a walk over the window's slots).
    pub fn leased_to(&self, member: u64) -> u64 {
        if self.leased == 0 {
            return 0;
        }
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Leased && s.member == member)
            .count() as u64
    }

    /// Waiting for a retry or being dead-lettered.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Ready offsets inside the window (released or due redeliveries).
    pub fn ready_in_window(&self) -> u64 {
        self.ready.len() as u64
    }

    /// Ready to deliver now, given the queue's end.
    pub fn ready_total(&self, end: u64) -> u64 {
        self.ready_in_window() + end.saturating_sub(self.cursor())
    }

    fn index(&self, offset: u64) -> Option<usize> {
        (offset >= self.base && offset < self.cursor()).then(|| (offset - self.base) as usize)
    }

    fn set_state(&mut self, offset: u64, state: SlotState) {
        let i = (offset - self.base) as usize;
        let old = self.slots[i].state;
        if old == state {
            return;
        }
        match old {
            SlotState::Ready => {
                self.ready.remove(&offset);
            }
            SlotState::Leased => self.leased -= 1,
            SlotState::Waiting | SlotState::MovingOut => self.held -= 1,
            SlotState::Done => {}
        }
        match state {
            SlotState::Ready => {
                self.ready.insert(offset);
            }
            SlotState::Leased => self.leased += 1,
            SlotState::Waiting | SlotState::MovingOut => self.held += 1,
            SlotState::Done => {}
        }
        self.slots[i].state = state;
    }

    /// Drops done slots at the front, moving the watermark.
    fn advance(&mut self) {
        while let Some(s) = self.slots.front() {
            if s.state != SlotState::Done {
                break;
            }
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Hands out up to `max` offsets below `end`, ascending: ready ones in the window first,
    /// then new ones from the cursor. `ordered` delivers nothing while an offset of the queue
    /// waits for a retry or the dead-letter topic (the order is never broken).
    pub fn take(&mut self, grant: Grant, end: u64, max: usize, out: &mut Vec<Handout>) -> usize {
        if max == 0 || (grant.ordered && self.held > 0) {
            return 0;
        }
        let mut n = 0;
        while n < max {
            let Some(&offset) = self.ready.first() else {
                break;
            };
            self.lease(offset, &grant, out);
            n += 1;
        }
        // New offsets go straight to `Leased` (the hot path: no set operations).
        while n < max && self.cursor() < end {
            let offset = self.cursor();
            self.slots.push_back(Slot {
                state: SlotState::Leased,
                attempt: 1,
                lease: grant.lease,
                member: grant.member,
                due: grant.deadline,
            });
            self.leased += 1;
            out.push(Handout {
                queue: self.queue,
                offset,
                attempt: 1,
            });
            n += 1;
        }
        n
    }

    fn lease(&mut self, offset: u64, grant: &Grant, out: &mut Vec<Handout>) {
        self.set_state(offset, SlotState::Leased);
        let i = (offset - self.base) as usize;
        let s = &mut self.slots[i];
        s.attempt += 1;
        s.lease = grant.lease;
        s.member = grant.member;
        s.due = grant.deadline;
        out.push(Handout {
            queue: self.queue,
            offset,
            attempt: s.attempt,
        });
    }

    /// Gives back offsets handed out under `lease` that were never delivered (the read stopped
    /// short): ready again, the delivery not counted.
    pub fn release(&mut self, offset: u64, lease: u32) {
        if self.leased_by(offset, lease) {
            self.slots[(offset - self.base) as usize].attempt -= 1;
            self.set_state(offset, SlotState::Ready);
        }
    }

    fn leased_by(&self, offset: u64, lease: u32) -> bool {
        self.index(offset).is_some_and(|i| {
            let s = &self.slots[i];
            s.state == SlotState::Leased && s.lease == lease
        })
    }

    /// Acks `count` offsets from `offset` leased under `lease`; returns how many were acked
    /// (the others were not leased under it: expired, redelivered or unknown).
    pub fn ack(&mut self, offset: u64, count: u64, lease: u32) -> u64 {
        let mut acked = 0;
        for o in offset..offset.saturating_add(count) {
            if self.leased_by(o, lease) {
                self.set_state(o, SlotState::Done);
                acked += 1;
            }
        }
        self.advance();
        acked
    }

    /// Takes back a leased offset (nack or expiry) if `lease` is still its lease; the caller
    /// decides between [`QueueWindow::wait`] and [`QueueWindow::moving_out`].
    pub fn fail(&mut self, offset: u64, lease: u32) -> Option<Failed> {
        if !self.leased_by(offset, lease) {
            return None;
        }
        let attempt = self.slots[(offset - self.base) as usize].attempt;
        // Parked until the caller decides; Waiting keeps `ordered` from passing it.
        self.set_state(offset, SlotState::Waiting);
        Some(Failed { offset, attempt })
    }

    /// Lease expiry check: the offset is still leased under `lease` with this deadline.
    pub fn is_expired_lease(&self, offset: u64, lease: u32, deadline: i64) -> bool {
        self.leased_by(offset, lease) && self.slots[(offset - self.base) as usize].due == deadline
    }

    /// A failed offset waits until `due`.
    pub fn wait(&mut self, offset: u64, due: i64) {
        if let Some(i) = self.index(offset) {
            self.set_state(offset, SlotState::Waiting);
            self.slots[i].due = due;
        }
    }

    /// A waiting offset whose time came is ready again; false if it is no longer waiting for
    /// that time (acked by a reset, say).
    pub fn wake(&mut self, offset: u64, due: i64) -> bool {
        match self.index(offset) {
            Some(i) if self.slots[i].state == SlotState::Waiting && self.slots[i].due == due => {
                self.set_state(offset, SlotState::Ready);
                true
            }
            _ => false,
        }
    }

    /// A failed offset is being copied out (to the dead-letter topic, or to the timer for a
    /// retry through the retry topic); [`QueueWindow::finish`] ends it once stored.
    pub fn moving_out(&mut self, offset: u64) {
        if self.index(offset).is_some() {
            self.set_state(offset, SlotState::MovingOut);
        }
    }

    /// Marks an offset done whatever its state (dead-lettered, a hole in the queue).
    pub fn finish(&mut self, offset: u64) {
        if self.index(offset).is_some() {
            self.set_state(offset, SlotState::Done);
            self.advance();
        }
    }

    /// Every offset leased to `member` (or, with `None`, to anyone) is ready again; returns
    /// them. Their delivery counts stay (the message was delivered).
    pub fn revoke(&mut self, member: Option<u64>) -> usize {
        let offsets: Vec<u64> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == SlotState::Leased && member.is_none_or(|m| s.member == m))
            .map(|(i, _)| self.base + i as u64)
            .collect();
        for &o in &offsets {
            self.set_state(o, SlotState::Ready);
        }
        offsets.len()
    }

    /// Ordered mode after a failure at `offset`: what was leased above it is ready again, so
    /// it is delivered after the failed message, in order.
    pub fn revoke_above(&mut self, offset: u64) {
        let from = offset.saturating_add(1).max(self.base);
        for o in from..self.cursor() {
            if self.slots[(o - self.base) as usize].state == SlotState::Leased {
                self.set_state(o, SlotState::Ready);
            }
        }
    }

    /// Retention removed everything below `earliest`: those offsets are done.
    pub fn skip_to(&mut self, earliest: u64) {
        while self.base < earliest {
            if self.slots.is_empty() {
                self.base = earliest;
                return;
            }
            let offset = self.base;
            self.set_state(offset, SlotState::Done);
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Starts over at `offset` (a reset): nothing in flight, nothing acked above it.
    pub fn reset(&mut self, offset: u64) {
        let owner = self.handover.or(self.owner);
        *self = QueueWindow::new(self.queue, offset);
        self.owner = owner;
    }

    /// Completes a pending handover once the old owner holds no lease.
    pub fn settle_handover(&mut self) {
        if self.handover.is_some() && self.leased == 0 {
            self.owner = self.handover.take();
        }
    }

    pub fn snapshot(&self) -> WindowSnapshot {
        let mut done: Vec<(u64, u64)> = Vec::new();
        let mut attempts = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            let o = self.base + i as u64;
            if s.state == SlotState::Done {
                match done.last_mut() {
                    Some((_, end)) if *end == o => *end = o + 1,
                    _ => done.push((o, o + 1)),
                }
            } else if s.attempt > 0 {
                attempts.push((o, s.attempt));
            }
        }
        WindowSnapshot {
            base: self.base,
            cursor: self.cursor(),
            done,
            attempts,
        }
    }

    /// A window as persisted; unfinished offsets are ready.
    pub fn restore(queue: u32, snap: &WindowSnapshot) -> QueueWindow {
        let mut w = QueueWindow::new(queue, snap.base);
        let cursor = snap.cursor.max(snap.base);
        for o in snap.base..cursor {
            w.slots.push_back(Slot::FRESH);
            w.ready.insert(o);
        }
        for &(start, end) in &snap.done {
            for o in start.max(snap.base)..end.min(cursor) {
                w.set_state(o, SlotState::Done);
            }
        }
        for &(o, attempt) in &snap.attempts {
            if let Some(i) = w.index(o) {
                w.slots[i].attempt = attempt;
            }
        }
        w.advance();
        w
    }
}

/// Who takes messages, under which lease, until when.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub member: u64,
    pub lease: u32,
    pub deadline: i64,
    pub ordered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(lease: u32) -> Grant {
        Grant {
            member: 1,
            lease,
            deadline: 100,
            ordered: false,
        }
    }

    fn offsets(h: &[Handout]) -> Vec<u64> {
        h.iter().map(|h| h.offset).collect()
    }

    #[test]
    fn acks_move_the_watermark_only_when_contiguous() {
        let mut w = QueueWindow::new(0, 10);
        let mut out = Vec::new();
        assert_eq!(w.take(grant(1), 15, 10, &mut out), 5);
        assert_eq!(offsets(&out), vec![10, 11, 12, 13, 14]);
        assert_eq!(w.ack(12, 2, 1), 2);
        assert_eq!(w.base(), 10);
        assert_eq!(w.ack(10, 2, 1), 2);
        assert_eq!(w.base(), 14);
        assert_eq!(w.ack(14, 1, 7), 0, "wrong lease");
        assert_eq!(w.ack(14, 1, 1), 1);
        assert_eq!((w.base(), w.cursor(), w.leased()), (15, 15, 0));
    }

    #[test]
    fn failed_offsets_wait_then_come_back_with_a_higher_attempt() {
        let mut w = QueueWindow::new(0, 0);
        let mut out = Vec::new();
        w.take(grant(1), 3, 3, &mut out);
        let f = w.fail(1, 1).unwrap();
        assert_eq!(
            f,
            Failed {
                offset: 1,
                attempt: 1
            }
        );
        assert!(w.fail(1, 1).is_none(), "a second nack is stale");
        w.wait(1, 500);
        assert_eq!(w.held(), 1);
        out.clear();
        assert_eq!(w.take(grant(2), 3, 10, &mut out), 0, "nothing ready yet");
        assert!(!w.wake(1, 499));
        assert!(w.wake(1, 500));
        w.take(grant(2), 3, 10, &mut out);
        assert_eq!(
            out,
            vec![Handout {
                queue: 0,
                offset: 1,
                attempt: 2
            }]
        );
    }

    #[test]
    fn ordered_take_stops_while_an_offset_is_held() {
        let mut w = QueueWindow::new(0, 0);
        let mut out = Vec::new();
        let g = Grant {
            ordered: true,
            ..grant(1)
        };
        w.take(g, 10, 5, &mut out);
        w.fail(2, 1).unwrap();
        w.revoke_above(2);
        w.wait(2, 50);
        out.clear();
        assert_eq!(w.take(Grant { lease: 2, ..g }, 10, 5, &mut out), 0);
        assert!(w.wake(2, 50));
        w.take(Grant { lease: 3, ..g }, 10, 4, &mut out);
        assert_eq!(offsets(&out), vec![2, 3, 4, 5]);
        assert_eq!(out[0].attempt, 2);
        assert_eq!(
            out[1].attempt, 2,
            "revoked offsets were delivered once before"
        );
        assert_eq!(out[3].attempt, 1);
    }

    #[test]
    fn release_does_not_count_a_delivery_and_revoke_frees_a_members_leases() {
        let mut w = QueueWindow::new(0, 0);
        let mut out = Vec::new();
        w.take(grant(1), 4, 4, &mut out);
        w.release(3, 1);
        w.take(
            Grant {
                member: 2,
                ..grant(2)
            },
            4,
            1,
            &mut out,
        );
        assert_eq!(out.last().unwrap().attempt, 1);
        assert_eq!(w.revoke(Some(1)), 3);
        assert_eq!(w.leased(), 1);
        assert_eq!(w.ready_total(4), 3);
    }

    #[test]
    fn snapshot_restores_done_ranges_and_attempts() {
        let mut w = QueueWindow::new(0, 100);
        let mut out = Vec::new();
        w.take(grant(1), 110, 10, &mut out);
        w.ack(101, 3, 1);
        w.ack(106, 1, 1);
        w.fail(104, 1).unwrap();
        w.wait(104, 9);
        let snap = w.snapshot();
        assert_eq!(snap.base, 100);
        assert_eq!(snap.done, vec![(101, 104), (106, 107)]);
        let r = QueueWindow::restore(0, &snap);
        assert_eq!((r.base(), r.cursor()), (100, 110));
        assert_eq!(r.ready_in_window(), 6);
        let mut r = r;
        out.clear();
        r.take(grant(5), 110, 2, &mut out);
        assert_eq!(offsets(&out), vec![100, 104]);
        assert_eq!(out[1].attempt, 2);
    }

    #[test]
    fn skip_to_and_reset() {
        let mut w = QueueWindow::new(0, 0);
        let mut out = Vec::new();
        w.take(grant(1), 10, 5, &mut out);
        w.skip_to(3);
        assert_eq!((w.base(), w.cursor(), w.leased()), (3, 5, 2));
        w.skip_to(8);
        assert_eq!((w.base(), w.cursor(), w.leased()), (8, 8, 0));
        w.owner = Some(4);
        w.reset(2);
        assert_eq!((w.base(), w.cursor(), w.owner), (2, 2, Some(4)));
    }
}
