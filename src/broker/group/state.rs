//! A consumer group as a state machine: members, subscriptions (one per topic, or per topic and
//! member instance when broadcasting), queue ownership for ordered consumption, leases, acks,
//! nacks, retries and dead-lettering. Pure: no I/O; every input that depends on time takes
//! `now` (ms since the epoch), and queue bounds come from the caller.
//!
//! A clustering group's retries that wait at least the policy's timer threshold leave the
//! queue's window: the failed message becomes a [`Forward`], which the service writes as a
//! delay message to the group's retry topic (`%RETRY%<group>%<topic>`, see [`timer_retry`]).
//! Members of the topic take from that topic's subscription too; its queues appear in
//! handouts, acks and nacks as `RETRY_QUEUE + q`. A retry-topic delivery that fails again is
//! a forward as well, decided by the service, which knows the attempts the message carries.
//!
//! It does not read messages, write the dead-letter or retry topics, or persist itself: the
//! broker's group service does that with what this returns ([`Taken`], [`DeadLetter`],
//! [`Forward`], [`GroupSnapshot`]).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::retry::{self, Decision};
use super::timer_retry::{self, RETRY_QUEUE};
use super::window::{Grant, Handout, QueueWindow};

mod snapshot;
mod values;

pub use values::*;

type SubKey = (String, String);

/// The least a clustering member's fair share is: smaller amounts are not worth spreading.
const MIN_SHARE: u64 = 32;
/// (deadline, queue, first offset, count, lease) of a delivered run.
type Expiry = (i64, u32, u64, u32, u32);

#[derive(Debug, Clone)]
struct Subscription {
    windows: Vec<QueueWindow>,
    rr: usize,
    expiries: BinaryHeap<Reverse<Expiry>>,
    /// (due, queue, offset) of failed offsets.
    waits: BinaryHeap<Reverse<(i64, u32, u64)>>,
}

impl Subscription {
    fn new(starts: &[u64]) -> Subscription {
        Subscription {
            windows: starts
                .iter()
                .enumerate()
                .map(|(q, &s)| QueueWindow::new(q as u32, s))
                .collect(),
            rr: 0,
            expiries: BinaryHeap::new(),
            waits: BinaryHeap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    name: String,
    settings: Settings,
    policy: Policy,
    members: BTreeMap<u64, Member>,
    subs: BTreeMap<SubKey, Subscription>,
    next_lease: u32,
    dead_letters: Vec<DeadLetter>,
    forwards: Vec<Forward>,
    /// Changed since the last snapshot.
    dirty: bool,
    /// A take was held to its member's fair share while more was there: the next ack may let
    /// that member take more, so it should be woken (see [`Group::take_capped`]).
    capped: bool,
}

impl Group {
    pub fn new(name: &str, settings: Settings, policy: Policy) -> Group {
        Group {
            name: name.to_string(),
            settings,
            policy,
            members: BTreeMap::new(),
            subs: BTreeMap::new(),
            next_lease: 1,
            dead_letters: Vec::new(),
            forwards: Vec::new(),
            dirty: true,
            capped: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn set_settings(&mut self, s: Settings) {
        if s != self.settings {
            self.settings = s;
            self.dirty = true;
        }
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn member(&self, id: u64) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Topics this group has progress on.
    pub fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self.subs.keys().map(|(t, _)| t.clone()).collect();
        t.dedup();
        t
    }

    pub fn has_subscription(&self, topic: &str, instance: &str) -> bool {
        self.subs.contains_key(&self.key(topic, instance))
    }

    fn key(&self, topic: &str, instance: &str) -> SubKey {
        let instance = match self.settings.mode {
            Mode::Broadcasting => instance.to_string(),
            _ => String::new(),
        };
        (topic.to_string(), instance)
    }

    fn member_key(&self, id: u64) -> Result<SubKey, GroupError> {
        let m = self.members.get(&id).ok_or(GroupError::UnknownMember(id))?;
        Ok(self.key(&m.topic, &m.instance))
    }

    /// The retry topic of a topic this group consumes, when its retries go through the timer:
    /// clustering mode, a threshold set, and a name that fits.
    pub fn retry_topic(&self, topic: &str) -> Option<String> {
        if self.settings.mode != Mode::Clustering || self.policy.timer_retry_ms.is_none() {
            return None;
        }
        timer_retry::topic_of(&self.name, topic)
    }

    /// Whether a subscription's topic is one of this group's retry topics.
    fn is_retry_topic(&self, topic: &str) -> bool {
        timer_retry::is_retry_topic_of(&self.name, topic)
    }

    /// The subscription and window index an acked, nacked or handed-out queue id names: ids
    /// from [`RETRY_QUEUE`] on are queues of the topic's retry subscription.
    fn route(&self, key: &SubKey, queue: u32) -> Option<(SubKey, u32)> {
        if queue < RETRY_QUEUE {
            return Some((key.clone(), queue));
        }
        let retry = self.retry_topic(&key.0)?;
        Some(((retry, String::new()), queue - RETRY_QUEUE))
    }

    /// Adds a member. `starts` (one offset per queue) places a subscription that does not exist
    /// yet; an existing one keeps its progress.
    pub fn join(&mut self, member: Member, starts: &[u64]) {
        let key = self.key(&member.topic, &member.instance);
        if !self.subs.contains_key(&key) {
            self.subs.insert(key.clone(), Subscription::new(starts));
            self.dirty = true;
        }
        self.members.insert(member.id, member);
        self.rebalance(&key.0);
    }

    /// Removes a member: its leases are released at once (ready for others, delivery counted).
    pub fn leave(&mut self, id: u64) -> bool {
        let Some(m) = self.members.remove(&id) else {
            return false;
        };
        let key = self.key(&m.topic, &m.instance);
        let retry = self.retry_topic(&m.topic).map(|t| (t, String::new()));
        for k in std::iter::once(key).chain(retry) {
            if let Some(sub) = self.subs.get_mut(&k) {
                for w in &mut sub.windows {
                    w.revoke(Some(id));
                }
            }
        }
        self.rebalance(&m.topic);
        true
    }

    /// A long poll or subscription of the member starts: it counts as liveness until
    /// [`Group::unhold`].
    pub fn hold(&mut self, id: u64) -> Result<(), GroupError> {
        let m = self
            .members
            .get_mut(&id)
            .ok_or(GroupError::UnknownMember(id))?;
        m.held += 1;
        Ok(())
    }

    /// A hold ends at `now`, which counts as a heartbeat.
    pub fn unhold(&mut self, id: u64, now: i64) {
        if let Some(m) = self.members.get_mut(&id) {
            m.held = m.held.saturating_sub(1);
            m.last_seen = now;
        }
    }

    pub fn heartbeat(&mut self, id: u64, now: i64) -> Result<(), GroupError> {
        let m = self
            .members
            .get_mut(&id)
            .ok_or(GroupError::UnknownMember(id))?;
        m.last_seen = now;
        Ok(())
    }

    /// Ordered mode: queue q of a topic belongs to member `q % n` of its members (by id).
    /// A queue leaving a live member is handed over once that member's leases on it are
    /// settled; a queue of a member that is gone moves at once (its leases revoked). Either way
    /// the new owner resumes after the last acked message.
    fn rebalance(&mut self, topic: &str) {
        if self.settings.mode != Mode::Ordered {
            return;
        }
        let ids: Vec<u64> = self
            .members
            .values()
            .filter(|m| m.topic == topic)
            .map(|m| m.id)
            .collect();
        let key = (topic.to_string(), String::new());
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        for (q, w) in sub.windows.iter_mut().enumerate() {
            let target = (!ids.is_empty()).then(|| ids[q % ids.len()]);
            if w.owner == target {
                w.handover = None;
                continue;
            }
            match w.owner {
                Some(old) if ids.contains(&old) => {
                    w.handover = target;
                    w.settle_handover();
                }
                _ => {
                    w.revoke(None);
                    w.owner = target;
                    w.handover = None;
                }
            }
        }
    }

    /// Keeps a subscription's windows in step with the queues: new queues start at their
    /// earliest offset, and offsets that retention removed are skipped.
    fn sync_bounds(sub: &mut Subscription, bounds: &[(u64, u64)]) -> bool {
        let grew = sub.windows.len() < bounds.len();
        while sub.windows.len() < bounds.len() {
            let q = sub.windows.len();
            sub.windows.push(QueueWindow::new(q as u32, bounds[q].0));
        }
        for (w, &(earliest, _)) in sub.windows.iter_mut().zip(bounds) {
            if w.base() < earliest {
                w.skip_to(earliest);
            }
        }
        grew
    }

    /// Hands `max` messages at most to a member, from the queues' `(earliest, end)` bounds.
    pub fn take(
        &mut self,
        id: u64,
        now: i64,
        bounds: &[(u64, u64)],
        max: usize,
    ) -> Result<Taken, GroupError> {
        self.take_with_retries(id, now, bounds, &[], max)
    }

    /// [`Group::take`], with the bounds of the topic's retry topic (empty while it does not
    /// exist): due retries first, as `RETRY_QUEUE + q`, then the topic's own queues.
    pub fn take_with_retries(
        &mut self,
        id: u64,
        now: i64,
        bounds: &[(u64, u64)],
        retry_bounds: &[(u64, u64)],
        max: usize,
    ) -> Result<Taken, GroupError> {
        // Not a sign of life: a subscription takes for its member without hearing from it.
        let key = self.member_key(id)?;
        let mut handouts = Vec::new();
        let lease = self.next_lease;
        if !retry_bounds.is_empty()
            && let Some(retry) = self.retry_topic(&key.0)
        {
            let grant = Grant {
                member: id,
                lease,
                deadline: now.saturating_add(self.settings.lease_ms as i64),
                ordered: false,
            };
            let sub = self
                .subs
                .entry((retry, String::new()))
                .or_insert_with(|| Subscription::new(&vec![0; retry_bounds.len()]));
            Self::sync_bounds(sub, retry_bounds);
            for (w, &(_, end)) in sub.windows.iter_mut().zip(retry_bounds) {
                if handouts.len() >= max {
                    break;
                }
                w.take(grant, end, max - handouts.len(), &mut handouts);
            }
            push_expiries(&mut sub.expiries, grant.deadline, lease, &handouts);
            for h in &mut handouts {
                h.queue += RETRY_QUEUE;
            }
        }
        self.next_lease = self.next_lease.wrapping_add(1).max(1);
        let ordered = self.settings.mode == Mode::Ordered;
        let grant = Grant {
            member: id,
            lease,
            deadline: now.saturating_add(self.settings.lease_ms as i64),
            ordered,
        };
        let sub = self
            .subs
            .get_mut(&key)
            .expect("a member's subscription exists");
        if Self::sync_bounds(sub, bounds) {
            self.rebalance(&key.0);
        }
        let share = self.fair_share(&key, id, bounds, max, handouts.len());
        // Any cap, even above what is there now: the next ack must wake the members, or one
        // that arrives late to a burst waits for its recheck while another takes its share.
        self.capped |= share < max;
        let max = share;
        let sub = self
            .subs
            .get_mut(&key)
            .expect("a member's subscription exists");
        let n = sub.windows.len();
        for i in 0..n {
            if handouts.len() >= max {
                break;
            }
            let q = (sub.rr + i) % n;
            let w = &mut sub.windows[q];
            if ordered && (w.owner != Some(id) || w.handover.is_some()) {
                continue;
            }
            let end = bounds.get(q).map_or(0, |b| b.1);
            let before = handouts.len();
            w.take(grant, end, max - handouts.len(), &mut handouts);
            push_expiries(
                &mut sub.expiries,
                grant.deadline,
                lease,
                &handouts[before..],
            );
        }
        sub.rr = (sub.rr + 1) % n.max(1);
        if !handouts.is_empty() {
            self.dirty = true;
        }
        Ok(Taken {
            topic: key.0,
            lease,
            handouts,
        })
    }

    /// Clustering: how many of `max` a member may take now, so that what is there (ready, new
    /// and leased) is spread evenly over the members sharing the subscription; without it,
    /// the first member to wake after a burst took all of it up to its credit (issue 27). A
    /// member over its even share takes nothing until it acks or the others take; one alone,
    /// or whose partners take nothing, still gets everything, a share at a time. Ordered
    /// groups own their queues and broadcasting members their subscriptions: no cap.
    fn fair_share(
        &self,
        key: &SubKey,
        id: u64,
        bounds: &[(u64, u64)],
        max: usize,
        taken: usize,
    ) -> usize {
        if self.settings.mode != Mode::Clustering {
            return max;
        }
        let sharers = self.members.values().filter(|m| m.topic == key.0).count() as u64;
        let Some(sub) = self.subs.get(key) else {
            return max;
        };
        if sharers < 2 {
            return max;
        }
        let (mut available, mut leased, mut mine) = (0u64, 0u64, taken as u64);
        for (w, &(_, end)) in sub.windows.iter().zip(bounds) {
            available += w.available(end);
            leased += w.leased();
            mine += w.leased_to(id);
        }
        let share = (available + leased).div_ceil(sharers).max(MIN_SHARE);
        max.min(share.saturating_sub(mine) as usize)
    }

    /// Whether a take was held to its fair share since the last call (which clears it): an
    /// ack should then wake the group's members, or the held one waits for its next recheck.
    pub fn take_capped(&mut self) -> bool {
        std::mem::take(&mut self.capped)
    }

    /// Gives back handed-out messages that were not delivered after all.
    pub fn release(&mut self, id: u64, lease: u32, handouts: &[Handout]) {
        let Ok(key) = self.member_key(id) else { return };
        for h in handouts {
            if let Some(w) = self.window_mut(&key, h.queue) {
                w.release(h.offset, lease);
            }
        }
    }

    /// The window a queue id of a member's subscription names (see [`Group::route`]).
    fn window_mut(&mut self, key: &SubKey, queue: u32) -> Option<&mut QueueWindow> {
        let (key, q) = self.route(key, queue)?;
        self.subs.get_mut(&key)?.windows.get_mut(q as usize)
    }

    /// Acks ranges; returns `(acked, stale)` message counts. Stale acks (expired, revoked or
    /// unknown leases) change nothing.
    pub fn ack(
        &mut self,
        id: u64,
        now: i64,
        ranges: &[AckRange],
    ) -> Result<(u64, u64), GroupError> {
        let key = self.member_key(id)?;
        self.heartbeat(id, now)?;
        let (mut acked, mut stale) = (0, 0);
        for r in ranges {
            let n = match self.window_mut(&key, r.queue) {
                Some(w) => w.ack(r.offset, u64::from(r.count), r.lease),
                None => 0,
            };
            acked += n;
            stale += u64::from(r.count) - n;
        }
        if let Some(sub) = self.subs.get_mut(&key) {
            for w in &mut sub.windows {
                w.settle_handover();
            }
        }
        if acked > 0 {
            self.dirty = true;
        }
        Ok((acked, stale))
    }

    /// Nacks ranges: each message is retried later or dead-lettered, as the retry policy says;
    /// returns `(nacked, stale)`.
    pub fn nack(
        &mut self,
        id: u64,
        now: i64,
        ranges: &[AckRange],
        reason: &str,
    ) -> Result<(u64, u64), GroupError> {
        self.fail_ranges(id, now, ranges, reason, FailCause::Nack)
    }

    /// Fails a member's handed-out ranges as `cause` says (a nack, or a failed filter that a
    /// retry plugin decides); returns `(failed, stale)`.
    pub fn fail_ranges(
        &mut self,
        id: u64,
        now: i64,
        ranges: &[AckRange],
        reason: &str,
        cause: FailCause,
    ) -> Result<(u64, u64), GroupError> {
        let key = self.member_key(id)?;
        self.heartbeat(id, now)?;
        let (mut failed, mut stale) = (0, 0);
        for r in ranges {
            let Some((sub_key, queue)) = self.route(&key, r.queue) else {
                stale += u64::from(r.count);
                continue;
            };
            for offset in r.offset..r.offset.saturating_add(u64::from(r.count)) {
                if self.fail(&sub_key, (queue, offset, r.lease), now, reason, cause) {
                    failed += 1;
                } else {
                    stale += 1;
                }
            }
        }
        Ok((failed, stale))
    }

    /// Whether `topic`'s failed deliveries go to a retry plugin (clustering with the durable
    /// timer on, and the topic's pipeline naming one): then a filter failure under `pause` is
    /// a failed delivery too, not a pause.
    pub fn retry_plugin_decides(&self, topic: &str) -> bool {
        self.settings.mode != Mode::Ordered
            && self.retry_topic(topic).is_some()
            && self.policy.plugin_retry.plugin_of(topic).is_some()
    }

    /// A delivery failed (nack, lease expiry, filter failure): wait for a retry in place,
    /// forward it to the timer, or dead-letter.
    fn fail(
        &mut self,
        key: &SubKey,
        (queue, offset, lease): (u32, u64, u32),
        now: i64,
        reason: &str,
        cause: FailCause,
    ) -> bool {
        let mode = self.settings.mode;
        let max_attempts = self.settings.max_attempts;
        let in_retry_topic = self.is_retry_topic(&key.0);
        let timer_from = self
            .retry_topic(&key.0)
            .and(self.policy.timer_retry_ms)
            .map(|ms| now.saturating_add(ms as i64));
        let plugin_decides = self.retry_plugin_decides(&key.0);
        let Some(sub) = self.subs.get_mut(key) else {
            return false;
        };
        let Some(w) = sub.windows.get_mut(queue as usize) else {
            return false;
        };
        let Some(failed) = w.fail(offset, lease) else {
            return false;
        };
        let forward = |retry_at| Forward {
            topic: key.0.clone(),
            queue,
            offset,
            attempt: failed.attempt,
            retry_at,
            reason: reason.to_string(),
            cause,
        };
        if in_retry_topic || plugin_decides {
            // Its earlier attempts are in the message, or a retry plugin decides: the service
            // does, outside this lock.
            w.moving_out(offset);
            self.forwards.push(forward(None));
            self.dirty = true;
            return true;
        }
        let delays: &[u64] = if mode == Mode::Ordered {
            w.revoke_above(offset);
            &[self.policy.ordered_retry_ms]
        } else {
            &self.policy.retry_delays_ms
        };
        let decision = retry::decide(delays, max_attempts, failed.attempt, now);
        w.settle_handover();
        match decision {
            Decision::RetryAt(due) if timer_from.is_some_and(|from| due >= from) => {
                w.moving_out(offset);
                self.forwards.push(forward(Some(due)));
            }
            Decision::RetryAt(due) => {
                w.wait(offset, due);
                sub.waits.push(Reverse((due, queue, offset)));
            }
            Decision::DeadLetter => {
                w.moving_out(offset);
                self.dead_letters.push(DeadLetter {
                    topic: key.0.clone(),
                    instance: key.1.clone(),
                    queue,
                    offset,
                    attempt: failed.attempt,
                    reason: format!("{reason} (attempt {})", failed.attempt),
                });
            }
        }
        self.dirty = true;
        true
    }

    /// Removes the members not heard from within the session timeout (their leases are
    /// released); returns their ids.
    pub fn expire_sessions(&mut self, now: i64) -> Vec<u64> {
        let timeout = self.settings.session_timeout_ms as i64;
        let gone: Vec<u64> = self
            .members
            .values()
            .filter(|m| m.held == 0 && now.saturating_sub(m.last_seen) > timeout)
            .map(|m| m.id)
            .collect();
        for &id in &gone {
            self.leave(id);
        }
        gone
    }

    /// Advances time: removes members past their session timeout, fails expired leases, and
    /// makes due retries ready. Returns true when messages became ready.
    pub fn poll(&mut self, now: i64) -> bool {
        let mut woke = !self.expire_sessions(now).is_empty();
        let keys: Vec<SubKey> = self.subs.keys().cloned().collect();
        for key in keys {
            let expired = {
                let sub = self.subs.get_mut(&key).expect("key from the map");
                let mut expired = Vec::new();
                while let Some(&Reverse((deadline, queue, start, count, lease))) =
                    sub.expiries.peek()
                {
                    if deadline > now {
                        break;
                    }
                    sub.expiries.pop();
                    if let Some(w) = sub.windows.get(queue as usize) {
                        for o in start..start + u64::from(count) {
                            if w.is_expired_lease(o, lease, deadline) {
                                expired.push((queue, o, lease));
                            }
                        }
                    }
                }
                expired
            };
            for leased in expired {
                self.fail(&key, leased, now, "lease expired", FailCause::LeaseExpired);
            }
            let sub = self.subs.get_mut(&key).expect("key from the map");
            while let Some(&Reverse((due, queue, offset))) = sub.waits.peek() {
                if due > now {
                    break;
                }
                sub.waits.pop();
                if let Some(w) = sub.windows.get_mut(queue as usize) {
                    woke |= w.wake(offset, due);
                }
            }
        }
        woke
    }

    /// The next time [`Group::poll`] has work: a lease deadline, a retry, a session timeout.
    pub fn next_deadline(&self) -> Option<i64> {
        let timeout = self.settings.session_timeout_ms as i64;
        let sessions = self
            .members
            .values()
            .filter(|m| m.held == 0)
            .map(|m| m.last_seen.saturating_add(timeout + 1));
        let subs = self.subs.values().flat_map(|s| {
            let e = s.expiries.peek().map(|Reverse(e)| e.0);
            let w = s.waits.peek().map(|Reverse(w)| w.0);
            e.into_iter().chain(w)
        });
        sessions.chain(subs).min()
    }

    /// Messages decided for the dead-letter topic since the last call.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.dead_letters)
    }

    /// The dead-letter copy of a message is stored: it is done.
    pub fn dead_lettered(&mut self, d: &DeadLetter) {
        self.finish(&(d.topic.clone(), d.instance.clone()), d.queue, d.offset);
    }

    /// Failed messages decided for the timer since the last call.
    pub fn take_forwards(&mut self) -> Vec<Forward> {
        std::mem::take(&mut self.forwards)
    }

    /// A forward is stored (its retry scheduled, or its dead-letter copy written): it is done
    /// here.
    pub fn forwarded(&mut self, f: &Forward) {
        self.finish(&(f.topic.clone(), String::new()), f.queue, f.offset);
    }

    fn finish(&mut self, key: &SubKey, queue: u32, offset: u64) {
        if let Some(w) = self
            .subs
            .get_mut(key)
            .and_then(|s| s.windows.get_mut(queue as usize))
        {
            w.finish(offset);
            self.dirty = true;
        }
    }

    /// Offsets that hold no message (holes in the queue) are done.
    pub fn skip(&mut self, id: u64, lease: u32, queue: u32, offsets: &[u64]) {
        let Ok(key) = self.member_key(id) else { return };
        if let Some(w) = self.window_mut(&key, queue) {
            for &o in offsets {
                if w.ack(o, 1, lease) == 0 {
                    w.finish(o);
                }
            }
        }
    }

    /// Moves the group's position on `topic` (every instance when broadcasting): `targets` has
    /// one offset per queue; with `queue`, only that queue moves. A subscription that does not
    /// exist yet is created there.
    pub fn reset(&mut self, topic: &str, queue: Option<u32>, targets: &[u64]) {
        let mut keys: Vec<SubKey> = self
            .subs
            .keys()
            .filter(|(t, _)| t == topic)
            .cloned()
            .collect();
        if keys.is_empty() {
            let key = (topic.to_string(), String::new());
            self.subs.insert(key.clone(), Subscription::new(targets));
            keys.push(key);
        }
        for key in keys {
            let sub = self.subs.get_mut(&key).expect("key from the map");
            while sub.windows.len() < targets.len() {
                let q = sub.windows.len();
                sub.windows.push(QueueWindow::new(q as u32, targets[q]));
            }
            for (q, w) in sub.windows.iter_mut().enumerate() {
                let target = targets
                    .get(q)
                    .filter(|_| queue.is_none_or(|o| o as usize == q));
                if let Some(&t) = target {
                    w.reset(t);
                }
            }
            sub.expiries.clear();
            sub.waits
                .retain(|Reverse((_, q, _))| queue.is_some_and(|only| only != *q));
        }
        self.dead_letters.clear();
        self.forwards.retain(|f| f.topic != topic);
        self.dirty = true;
    }

    /// Progress per queue, with each topic's queue ends from `end_of(topic)`.
    pub fn progress(&self, end_of: impl Fn(&str) -> Vec<u64>) -> Vec<QueueProgress> {
        let mut out = Vec::new();
        for ((topic, instance), sub) in &self.subs {
            let ends = end_of(topic);
            for w in &sub.windows {
                let end = ends.get(w.queue() as usize).copied().unwrap_or(w.cursor());
                out.push(QueueProgress {
                    topic: topic.clone(),
                    instance: instance.clone(),
                    queue: w.queue(),
                    owner: w.owner,
                    acked: w.base(),
                    cursor: w.cursor(),
                    end,
                    ready: w.ready_total(end),
                    in_flight: w.leased(),
                    retrying: w.held(),
                });
            }
        }
        out
    }

    /// Asks for the next snapshot (the last one could not be written).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

/// One expiry entry per run of consecutive offsets of a queue.
fn push_expiries(
    heap: &mut BinaryHeap<Reverse<Expiry>>,
    deadline: i64,
    lease: u32,
    handouts: &[Handout],
) {
    let mut i = 0;
    while i < handouts.len() {
        let start = handouts[i];
        let mut count = 1u32;
        while i + (count as usize) < handouts.len() {
            let h = handouts[i + count as usize];
            if h.queue != start.queue || h.offset != start.offset + u64::from(count) {
                break;
            }
            count += 1;
        }
        heap.push(Reverse((deadline, start.queue, start.offset, count, lease)));
        i += count as usize;
    }
}

#[cfg(test)]
mod tests;
