//! The transaction table, a pure state machine with time as an argument: every transaction
//! without an outcome, the outcomes of recent ones (so a repeated commit is recognized), and
//! when each open one is due for a check-back.
//!
//! The service writes a record first and applies it here after, under one lock: `*_check`
//! methods say whether an input is allowed, `apply_*` change the table, [`TxnTable::poll`]
//! hands out what is due. Replaying the log's records through `apply_*` rebuilds the table.
//!
//! Outcomes are final: the first recorded one wins. A repeat of it is answered as done; the
//! other one is refused with the outcome recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::broker::{BrokerError, Result};
use crate::config::{OnUnresolved, TransactionsConfig};
use crate::protocol::{Outcome, TxnInfo, TxnPhase};

/// Resolved transactions are remembered this long (a repeated commit within it answers Ok;
/// after it, the id is unknown).
pub const REMEMBER_MS: i64 = 3_600_000;
/// And at most this many of them.
pub const MAX_REMEMBERED: usize = 100_000;
/// And at most about this many bytes of them (ids and group names are up to 255 bytes each).
pub const MAX_REMEMBERED_BYTES: usize = 16 << 20;

/// About what remembering a resolved transaction costs: its id (in the table, the resolved
/// list and the op index), its group and the entries around them.
fn remembered_bytes(id: &str, group: &str) -> usize {
    3 * id.len() + group.len() + 192
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub check_after_ms: i64,
    pub check_interval_ms: i64,
    pub max_checks: u32,
    pub on_unresolved: OnUnresolved,
}

impl Settings {
    pub fn of(c: &TransactionsConfig) -> Settings {
        Settings {
            check_after_ms: c.check_after.as_millis() as i64,
            check_interval_ms: c.check_interval.as_millis() as i64,
            max_checks: c.max_checks,
            on_unresolved: c.on_unresolved,
        }
    }
}

/// One transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub id: String,
    pub group: String,
    pub begun_at: i64,
    /// From its begin: sends are refused after `begun_at + timeout_ms`, and the first
    /// check-back comes then.
    pub timeout_ms: i64,
    /// Offset of its begin record in the operations queue.
    pub first_op: u64,
    /// Its half messages: `(first offset, count)` runs in the half-message queue, in send order.
    pub halves: Vec<(u64, u32)>,
    pub topics: BTreeSet<String>,
    pub messages: u32,
    /// Bytes its half messages take as records: its commit (or park) copies take at most as
    /// many, and must fit in one atomic append.
    pub bytes: u64,
    pub phase: TxnPhase,
    pub checks: u32,
    /// When it is due for a check-back (open ones only).
    due: Option<i64>,
    /// When its outcome was recorded.
    resolved_at: i64,
}

impl Txn {
    pub fn info(&self) -> TxnInfo {
        TxnInfo {
            id: self.id.clone(),
            producer_group: self.group.clone(),
            phase: self.phase,
            topics: self.topics.iter().cloned().collect(),
            messages: self.messages,
            begun_at: self.begun_at,
            checks: self.checks,
        }
    }

    pub fn is_resolved(&self) -> bool {
        matches!(self.phase, TxnPhase::Committed | TxnPhase::RolledBack)
    }
}

/// What an outcome request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndDecision {
    /// Record it.
    Apply,
    /// Recorded before: answer Ok, store nothing.
    Already,
}

/// Work that came due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Ask the producer group (this is check number `checks + 1`).
    Check(TxnInfo),
    /// `max_checks` check-backs went unanswered: apply `on_unresolved`.
    Unresolved(String, OnUnresolved),
}

pub struct TxnTable {
    settings: Settings,
    txns: HashMap<String, Txn>,
    /// (due time, id) of open transactions.
    due: BTreeSet<(i64, String)>,
    /// (first op offset, id) of every transaction held (open, parked and remembered).
    ops: BTreeSet<(u64, String)>,
    /// (first half offset, id) of transactions without an outcome.
    halves: BTreeSet<(u64, String)>,
    /// Resolved ones, oldest first, for forgetting.
    resolved: VecDeque<(i64, String)>,
    /// What remembering the resolved ones costs, about ([`remembered_bytes`]).
    resolved_bytes: usize,
    /// Half-message sends being written: a lower bound of each one's first offset (so a low
    /// mark written meanwhile does not pass them), with how many share it.
    reserved: BTreeMap<u64, u32>,
    /// Transactions whose outcome is being written.
    ending: HashSet<String>,
}

impl TxnTable {
    pub fn new(settings: Settings) -> TxnTable {
        TxnTable {
            settings,
            txns: HashMap::new(),
            due: BTreeSet::new(),
            ops: BTreeSet::new(),
            halves: BTreeSet::new(),
            resolved: VecDeque::new(),
            resolved_bytes: 0,
            reserved: BTreeMap::new(),
            ending: HashSet::new(),
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    pub fn get(&self, id: &str) -> Option<&Txn> {
        self.txns.get(id)
    }

    /// Open and parked transactions, oldest first.
    pub fn unresolved(&self) -> Vec<&Txn> {
        let mut list: Vec<&Txn> = self.txns.values().filter(|t| !t.is_resolved()).collect();
        list.sort_by(|a, b| (a.begun_at, &a.id).cmp(&(b.begun_at, &b.id)));
        list
    }

    fn unknown(id: &str) -> BrokerError {
        BrokerError::UnknownTransaction(format!(
            "transaction {id:?} is not known (never begun, or ended more than an hour ago)"
        ))
    }

    /// Whether `id` may begin for `group`: `Ok(true)` new, `Ok(false)` already open for it.
    pub fn begin_check(&self, id: &str, group: &str) -> Result<bool> {
        let Some(t) = self.txns.get(id) else {
            return Ok(true);
        };
        match t.phase {
            TxnPhase::Open if t.group == group => Ok(false),
            TxnPhase::Open | TxnPhase::Parked => Err(BrokerError::TxnClosed(format!(
                "transaction {id:?} exists already ({}, producer group {:?})",
                t.phase.name(),
                t.group
            ))),
            TxnPhase::Committed | TxnPhase::RolledBack => Err(BrokerError::TxnClosed(format!(
                "transaction {id:?} ended already ({}); a new transaction needs a new id",
                t.phase.name()
            ))),
        }
    }

    pub fn apply_begin(
        &mut self,
        id: &str,
        group: &str,
        begun_at: i64,
        timeout_ms: i64,
        first_op: u64,
    ) {
        if self.txns.contains_key(id) {
            return; // a replayed duplicate
        }
        let timeout_ms = if timeout_ms > 0 {
            timeout_ms
        } else {
            self.settings.check_after_ms
        };
        let due = begun_at.saturating_add(timeout_ms);
        self.due.insert((due, id.to_string()));
        self.ops.insert((first_op, id.to_string()));
        self.txns.insert(
            id.to_string(),
            Txn {
                id: id.to_string(),
                group: group.to_string(),
                begun_at,
                timeout_ms,
                first_op,
                halves: Vec::new(),
                topics: BTreeSet::new(),
                messages: 0,
                bytes: 0,
                phase: TxnPhase::Open,
                checks: 0,
                due: Some(due),
                resolved_at: 0,
            },
        );
    }

    /// Whether `id` takes more messages at `now`.
    pub fn send_check(&self, id: &str, now: i64) -> Result<()> {
        let t = self.txns.get(id).ok_or_else(|| Self::unknown(id))?;
        let closed = |why: String| Err(BrokerError::TxnClosed(format!("transaction {id:?} {why}")));
        if self.ending.contains(id) {
            return closed("is being ended; it takes no more messages".into());
        }
        match t.phase {
            TxnPhase::Open if now >= t.begun_at.saturating_add(t.timeout_ms) => closed(format!(
                "passed its timeout of {} ms; it takes no more messages (commit or roll it back)",
                t.timeout_ms
            )),
            TxnPhase::Open => Ok(()),
            TxnPhase::Parked => closed("is parked; it takes no more messages".into()),
            TxnPhase::Committed => closed("is committed".into()),
            TxnPhase::RolledBack => closed("is rolled back".into()),
        }
    }

    /// Whether `bytes` more of half messages keep transaction `id` within `limit` (what its
    /// commit's one atomic append can hold); refused with both figures when not.
    pub fn room_check(&self, id: &str, bytes: u64, limit: u64) -> Result<()> {
        let held = self.txns.get(id).map_or(0, |t| t.bytes);
        if held.saturating_add(bytes) > limit {
            return Err(BrokerError::TxnTooLarge {
                id: id.to_string(),
                bytes: held.saturating_add(bytes),
                limit,
            });
        }
        Ok(())
    }

    /// Records half messages `first..first + count` of the half queue (`bytes` as records),
    /// sent to `topics`.
    pub fn apply_halves<'a>(
        &mut self,
        id: &str,
        first: u64,
        count: u32,
        bytes: u64,
        topics: impl IntoIterator<Item = &'a str>,
    ) {
        let Some(t) = self.txns.get_mut(id) else {
            return;
        };
        if t.is_resolved() || t.halves.iter().any(|&(f, _)| f == first) {
            return;
        }
        if t.halves.is_empty() {
            self.halves.insert((first, id.to_string()));
        }
        t.halves.push((first, count));
        t.messages += count;
        t.bytes += bytes;
        for topic in topics {
            if !t.topics.contains(topic) {
                t.topics.insert(topic.to_string());
            }
        }
    }

    /// A send to the half queue, whose first offset will be at least `lower`, starts.
    pub fn reserve_halves(&mut self, lower: u64) {
        *self.reserved.entry(lower).or_default() += 1;
    }

    /// The send reserved at `lower` is written (and applied) or failed.
    pub fn release_halves(&mut self, lower: u64) {
        if let Some(n) = self.reserved.get_mut(&lower) {
            *n -= 1;
            if *n == 0 {
                self.reserved.remove(&lower);
            }
        }
    }

    /// `id`'s outcome is being written: sends and other outcomes wait until
    /// [`TxnTable::apply_outcome`], [`TxnTable::apply_park`] or [`TxnTable::end_failed`].
    pub fn start_end(&mut self, id: &str) {
        self.ending.insert(id.to_string());
    }

    pub fn end_failed(&mut self, id: &str) {
        self.ending.remove(id);
    }

    /// What `outcome` for `id` does (an operator may end a parked transaction too).
    pub fn end_check(&self, id: &str, outcome: Outcome) -> Result<EndDecision> {
        let t = self.txns.get(id).ok_or_else(|| Self::unknown(id))?;
        if self.ending.contains(id) {
            return Err(BrokerError::TxnClosed(format!(
                "transaction {id:?} is being ended right now; ask again for its outcome"
            )));
        }
        match (t.phase, outcome) {
            (TxnPhase::Open | TxnPhase::Parked, _) => Ok(EndDecision::Apply),
            (TxnPhase::Committed, Outcome::Commit) | (TxnPhase::RolledBack, Outcome::Rollback) => {
                Ok(EndDecision::Already)
            }
            (TxnPhase::Committed, Outcome::Rollback) => {
                Err(BrokerError::TxnCommitted(id.to_string()))
            }
            (TxnPhase::RolledBack, Outcome::Commit) => {
                Err(BrokerError::TxnRolledBack(id.to_string()))
            }
        }
    }

    pub fn apply_outcome(&mut self, id: &str, outcome: Outcome, now: i64) {
        self.ending.remove(id);
        let Some(t) = self.txns.get_mut(id) else {
            return;
        };
        if t.is_resolved() {
            return;
        }
        if let Some(due) = t.due.take() {
            self.due.remove(&(due, id.to_string()));
        }
        if let Some(&(first, _)) = t.halves.first() {
            self.halves.remove(&(first, id.to_string()));
        }
        t.phase = match outcome {
            Outcome::Commit => TxnPhase::Committed,
            Outcome::Rollback => TxnPhase::RolledBack,
        };
        t.resolved_at = now;
        // Its messages are copied (or gone): a resolved transaction keeps only its outcome.
        t.halves = Vec::new();
        t.topics = BTreeSet::new();
        self.resolved_bytes += remembered_bytes(id, &t.group);
        self.resolved.push_back((now, id.to_string()));
        self.prune(now);
    }

    /// Parks `id`: no more check-backs; it waits for an operator.
    pub fn apply_park(&mut self, id: &str) {
        self.ending.remove(id);
        let Some(t) = self.txns.get_mut(id) else {
            return;
        };
        if t.phase != TxnPhase::Open {
            return;
        }
        if let Some(due) = t.due.take() {
            self.due.remove(&(due, id.to_string()));
        }
        t.phase = TxnPhase::Parked;
    }

    /// Check-back number `checks` of `id` was made at `at`: the next one is due an interval on.
    pub fn apply_check(&mut self, id: &str, checks: u32, at: i64) {
        let interval = self.settings.check_interval_ms;
        let Some(t) = self.txns.get_mut(id) else {
            return;
        };
        if t.phase != TxnPhase::Open {
            return;
        }
        t.checks = t.checks.max(checks);
        Self::set_due(&mut self.due, t, at.saturating_add(interval));
    }

    /// Due work for `id` failed (the store refused a record): try again at `at`.
    pub fn retry_at(&mut self, id: &str, at: i64) {
        if let Some(t) = self.txns.get_mut(id)
            && t.phase == TxnPhase::Open
        {
            Self::set_due(&mut self.due, t, at);
        }
    }

    fn set_due(due: &mut BTreeSet<(i64, String)>, t: &mut Txn, at: i64) {
        if let Some(old) = t.due.take() {
            due.remove(&(old, t.id.clone()));
        }
        t.due = Some(at);
        due.insert((at, t.id.clone()));
    }

    /// Everything due at `now`, taken off the schedule: the caller applies a check, an
    /// outcome or a park for each (or [`TxnTable::retry_at`]).
    pub fn poll(&mut self, now: i64) -> Vec<Due> {
        let mut out = Vec::new();
        while let Some((at, id)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.remove(&(at, id.clone()));
            let Some(t) = self.txns.get_mut(&id) else {
                continue;
            };
            t.due = None;
            if t.checks >= self.settings.max_checks {
                out.push(Due::Unresolved(id, self.settings.on_unresolved));
            } else {
                out.push(Due::Check(t.info()));
            }
        }
        out
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Forgets outcomes older than [`REMEMBER_MS`], and beyond [`MAX_REMEMBERED`].
    pub fn prune(&mut self, now: i64) {
        while let Some((at, id)) = self.resolved.front().cloned() {
            if at > now.saturating_sub(REMEMBER_MS)
                && self.resolved.len() <= MAX_REMEMBERED
                && self.resolved_bytes <= MAX_REMEMBERED_BYTES
            {
                break;
            }
            self.resolved.pop_front();
            if let Some(t) = self.txns.remove(&id) {
                self.resolved_bytes = self
                    .resolved_bytes
                    .saturating_sub(remembered_bytes(&id, &t.group));
                self.ops.remove(&(t.first_op, id));
            }
        }
    }

    /// Where a restart must start reading to rebuild this table: the first operation record
    /// of any transaction held, and the first half message of any without an outcome.
    pub fn low_marks(&self) -> (Option<u64>, Option<u64>) {
        let half = self.halves.first().map(|(o, _)| *o);
        let reserved = self.reserved.keys().next().copied();
        (
            self.ops.first().map(|(o, _)| *o),
            half.into_iter().chain(reserved).min(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            check_after_ms: 6_000,
            check_interval_ms: 60_000,
            max_checks: 2,
            on_unresolved: OnUnresolved::Rollback,
        }
    }

    fn table_with(id: &str, at: i64) -> TxnTable {
        let mut t = TxnTable::new(settings());
        assert!(t.begin_check(id, "g").unwrap());
        t.apply_begin(id, "g", at, 0, 7);
        t
    }

    #[test]
    fn a_transaction_takes_messages_until_its_timeout_and_is_checked_back_then() {
        let mut t = table_with("t1", 1_000);
        assert!(
            !t.begin_check("t1", "g").unwrap(),
            "a repeated begin is fine"
        );
        assert!(matches!(
            t.begin_check("t1", "other"),
            Err(BrokerError::TxnClosed(_))
        ));
        t.send_check("t1", 6_999).unwrap();
        t.apply_halves("t1", 10, 3, 300, ["a", "b", "a"]);
        t.apply_halves("t1", 10, 3, 300, ["a"]); // a replay of the same send
        t.apply_halves("t1", 20, 1, 100, ["c"]);
        let txn = t.get("t1").unwrap();
        assert_eq!(txn.messages, 4);
        assert_eq!(txn.bytes, 400, "a replayed send is not counted twice");
        assert!(t.room_check("t1", 600, 1000).is_ok());
        let refused = t.room_check("t1", 601, 1000).unwrap_err().to_string();
        assert!(
            refused.contains("1001") && refused.contains("1000"),
            "{refused}"
        );
        assert_eq!(txn.halves, vec![(10, 3), (20, 1)]);
        assert_eq!(txn.info().topics, vec!["a", "b", "c"]);
        assert!(matches!(
            t.send_check("t1", 7_000),
            Err(BrokerError::TxnClosed(m)) if m.contains("timeout")
        ));
        assert_eq!(t.next_deadline(), Some(7_000));
        assert!(t.poll(6_999).is_empty());
        let due = t.poll(7_000);
        assert!(matches!(&due[..], [Due::Check(i)] if i.id == "t1" && i.checks == 0));
        assert_eq!(
            t.next_deadline(),
            None,
            "taken off until the check is applied"
        );
        t.apply_check("t1", 1, 7_000);
        assert_eq!(t.next_deadline(), Some(67_000));
        assert!(matches!(&t.poll(67_000)[..], [Due::Check(i)] if i.checks == 1));
        t.apply_check("t1", 2, 67_000);
        assert_eq!(
            t.poll(127_000),
            vec![Due::Unresolved("t1".into(), OnUnresolved::Rollback)],
            "after max_checks unanswered check-backs"
        );
        assert_eq!(t.low_marks(), (Some(7), Some(10)));
        t.reserve_halves(4);
        assert_eq!(
            t.low_marks(),
            (Some(7), Some(4)),
            "a send being written holds it back"
        );
        t.release_halves(4);
        assert_eq!(t.low_marks(), (Some(7), Some(10)));
        t.start_end("t1");
        assert!(matches!(
            t.send_check("t1", 0),
            Err(BrokerError::TxnClosed(_))
        ));
        assert!(matches!(
            t.end_check("t1", Outcome::Commit),
            Err(BrokerError::TxnClosed(m)) if m.contains("being ended")
        ));
        t.end_failed("t1");
        assert_eq!(
            t.end_check("t1", Outcome::Commit).unwrap(),
            EndDecision::Apply
        );
    }

    #[test]
    fn the_first_outcome_wins_and_a_repeat_is_recognized() {
        let mut t = table_with("t1", 0);
        t.apply_halves("t1", 3, 1, 100, ["a"]);
        assert_eq!(
            t.end_check("t1", Outcome::Commit).unwrap(),
            EndDecision::Apply
        );
        t.apply_outcome("t1", Outcome::Commit, 10);
        assert_eq!(
            t.end_check("t1", Outcome::Commit).unwrap(),
            EndDecision::Already
        );
        assert!(matches!(
            t.end_check("t1", Outcome::Rollback),
            Err(BrokerError::TxnCommitted(_))
        ));
        // A late check-back answer, or a replayed record, changes nothing.
        t.apply_outcome("t1", Outcome::Rollback, 20);
        assert_eq!(t.get("t1").unwrap().phase, TxnPhase::Committed);
        assert!(
            t.poll(i64::MAX).is_empty(),
            "no check-back after an outcome"
        );
        assert!(matches!(
            t.begin_check("t1", "g"),
            Err(BrokerError::TxnClosed(m)) if m.contains("committed")
        ));
        assert_eq!(
            t.low_marks(),
            (Some(7), None),
            "its halves are no longer needed"
        );
        assert!(t.unresolved().is_empty());

        let mut t = table_with("t2", 0);
        t.apply_outcome("t2", Outcome::Rollback, 1);
        assert!(matches!(
            t.end_check("t2", Outcome::Commit),
            Err(BrokerError::TxnRolledBack(_))
        ));
        assert!(matches!(
            t.send_check("t2", 1),
            Err(BrokerError::TxnClosed(m)) if m.contains("rolled back")
        ));
    }

    #[test]
    fn parked_transactions_wait_for_an_operator_and_old_outcomes_are_forgotten() {
        let mut t = table_with("p", 0);
        t.apply_park("p");
        assert!(t.poll(i64::MAX).is_empty());
        assert_eq!(t.unresolved().len(), 1);
        assert!(matches!(
            t.send_check("p", 1),
            Err(BrokerError::TxnClosed(_))
        ));
        assert_eq!(
            t.end_check("p", Outcome::Rollback).unwrap(),
            EndDecision::Apply
        );
        t.apply_outcome("p", Outcome::Rollback, 100);
        assert!(t.get("p").is_some());
        t.prune(100 + REMEMBER_MS);
        assert!(t.get("p").is_none(), "forgotten after an hour");
        assert!(matches!(
            t.end_check("p", Outcome::Rollback),
            Err(BrokerError::UnknownTransaction(_))
        ));
        assert_eq!(t.low_marks(), (None, None));
    }

    #[test]
    fn a_begin_may_name_its_own_timeout_and_unknown_ids_are_refused() {
        let mut t = TxnTable::new(settings());
        t.apply_begin("x", "g", 0, 500, 1);
        assert_eq!(t.next_deadline(), Some(500));
        t.retry_at("x", 900);
        assert_eq!(t.next_deadline(), Some(900));
        assert!(matches!(
            t.send_check("nope", 0),
            Err(BrokerError::UnknownTransaction(_))
        ));
        assert!(matches!(
            t.end_check("nope", Outcome::Commit),
            Err(BrokerError::UnknownTransaction(_))
        ));
    }
}
