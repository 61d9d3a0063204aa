//! [`Transactions`]: the I/O shell around the [`TxnTable`]. It writes half messages and
//! operation records to `%TXN%`, commits by copying a transaction's half messages into their
//! topics together with the commit record in one atomic append (see `storage::atomic`), asks
//! producers about transactions without an outcome (check-backs, over their check streams),
//! and rebuilds the table from the log at start.
//!
//! Every change to the table happens under its lock, after the record that says so is in the
//! log, so the table is what a replay of the log would give. Durability waits happen after the
//! lock is released.

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::broker::appends::Appends;
use crate::broker::ingest::copy::internal_topic;
use crate::broker::splice::CopyOf;
use crate::broker::timer::{Rearm, Timed};
use crate::broker::{BrokerError, Result};
use crate::clock::Clock;
use crate::config::{OnUnresolved, TransactionsConfig};
use crate::protocol::{CheckAnswer, Outcome, Placed, TxnEnded, TxnInfo, TxnPhase};
use crate::record::{self, ContentView, MessageId, RecordSource};
use crate::storage::timers::{
    DELAY_TOPIC, PROP_DELIVER_AT, PROP_QUEUE, PROP_TOPIC, Schedule, TimerMark,
};
use crate::storage::{AppendOptions, AtomicPart, Durability, PendingAppend, PendingAtomic, Store};

use super::record::{
    HALVES_QUEUE, HalfRecord, OP_BEGIN, OP_CHECK, OP_COMMIT, OP_PARK, OP_ROLLBACK, OPS_QUEUE,
    PROP_CHECKS, PROP_GROUP, PROP_LOW_HALF, PROP_LOW_OP, PROP_TIMEOUT, PROP_TXN, TXN_TOPIC,
    UNRESOLVED_TOPIC, operation,
};
use super::state::{Due, EndDecision, Settings, TxnTable};

/// Due work that failed (the store refused a record) is tried again after this long.
const RETRY_MS: i64 = 1_000;
/// Check requests queued per listening stream before more are dropped (the next interval asks
/// again).
const LISTEN_QUEUE: usize = 1024;
/// A committed copy leaves out its destination; a delayed one keeps it (the delay record needs
/// it) and is stored as it is.
const COPY_DROPS: [&str; 2] = [PROP_TOPIC, PROP_QUEUE];
/// Room kept in a transaction's atomic append for its commit (or park) operation record.
const OP_RESERVE: u64 = 4096;

mod recovery;

pub struct TransactionsOptions {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub config: TransactionsConfig,
    pub appends: Arc<Appends>,
    pub rearm: Rearm,
    /// Durability of begin, rollback, park and check records.
    pub durability: Durability,
}

/// Producers' check streams, by producer group.
#[derive(Default)]
struct Listeners {
    next_id: u64,
    by_group: HashMap<String, Vec<(u64, mpsc::Sender<TxnInfo>)>>,
    /// Spreads check-backs over a group's streams.
    turn: usize,
}

pub struct Transactions {
    store: Arc<Store>,
    clock: Clock,
    appends: Arc<Appends>,
    rearm: Rearm,
    durability: Durability,
    table: Mutex<TxnTable>,
    listeners: Mutex<Listeners>,
}

/// What a commit or rollback wrote, waiting for its durability.
pub struct PendingEnd {
    pending: Option<PendingEndWrite>,
    ended: TxnEnded,
}

enum PendingEndWrite {
    Atomic(PendingAtomic, Vec<(String, u32)>),
    Plain(PendingAppend),
}

impl PendingEnd {
    /// Waits for durability (blocking); the answer to the TxnEnd.
    pub fn finish(self) -> Result<TxnEnded> {
        let mut ended = self.ended;
        match self.pending {
            None => {}
            Some(PendingEndWrite::Plain(p)) => {
                p.wait()?;
            }
            Some(PendingEndWrite::Atomic(p, names)) => {
                let parts = p.wait()?;
                // The last part is the commit record itself.
                for ((topic, queue), a) in names.into_iter().zip(parts) {
                    let delayed = topic.as_str() == DELAY_TOPIC;
                    ended.placed.push(Placed {
                        topic,
                        queue,
                        first_offset: if delayed { 0 } else { a.first_offset },
                        count: a.count,
                    });
                }
            }
        }
        Ok(ended)
    }
}

/// A half message read back for its commit.
struct Read {
    id: MessageId,
    born_at: i64,
    /// Where its content is in the shared buffer of the reads.
    content: std::ops::Range<usize>,
}

impl Transactions {
    pub fn open(o: TransactionsOptions) -> Result<Transactions> {
        // `%TXN_UNRESOLVED%` is made by the first park (so topic lists show it only then).
        internal_topic(&o.store, TXN_TOPIC, 2, Durability::Async)?;
        let t = Transactions {
            table: Mutex::new(TxnTable::new(Settings::of(&o.config))),
            store: o.store,
            clock: o.clock,
            appends: o.appends,
            rearm: o.rearm,
            durability: o.durability,
            listeners: Mutex::new(Listeners::default()),
        };
        t.recover()?;
        Ok(t)
    }

    fn table(&self) -> MutexGuard<'_, TxnTable> {
        self.table.lock()
    }

    /// Low marks for an operation record written now (under the table lock).
    fn low(&self, table: &TxnTable) -> Result<(u64, u64)> {
        let (_, ops_next) = self.store.queue_bounds(TXN_TOPIC, OPS_QUEUE)?;
        let (_, halves_next) = self.store.queue_bounds(TXN_TOPIC, HALVES_QUEUE)?;
        let (op, half) = table.low_marks();
        Ok((
            op.map_or(ops_next, |o| o.min(ops_next)),
            half.map_or(halves_next, |h| h.min(halves_next)),
        ))
    }

    fn write_op(
        &self,
        table: &TxnTable,
        kind: &str,
        id: &str,
        extra: &[(&str, String)],
        durability: Durability,
    ) -> Result<PendingAppend> {
        let op = operation(kind, id, extra, self.low(table)?, self.clock.now_ms());
        Ok(self.store.append_with(
            TXN_TOPIC,
            OPS_QUEUE,
            std::slice::from_ref(&op),
            &AppendOptions {
                durability: Some(durability),
                ..AppendOptions::default()
            },
        )?)
    }

    /// The most bytes of half messages (as records) one transaction may hold: its commit, or
    /// its park, copies them with one operation record in one atomic append, which must fit in
    /// a segment. Copies are never larger than their half messages (they drop properties, add
    /// none).
    pub fn max_txn_bytes(&self) -> u64 {
        self.store.segment_capacity().saturating_sub(OP_RESERVE)
    }

    /// Whether `id` is a transaction without an outcome yet (open or parked).
    pub fn is_open(&self, id: &str) -> bool {
        self.table().get(id).is_some_and(|t| !t.is_resolved())
    }

    /// The producer group of a transaction the table knows (for access checks).
    pub fn group_of(&self, id: &str) -> Option<String> {
        self.table().get(id).map(|t| t.group.clone())
    }

    /// Begins `id` for `group` (blocking); a repeat for the same group is fine.
    pub fn begin(&self, id: &str, group: &str, timeout_ms: u64) -> Result<()> {
        let mut table = self.table();
        if !table.begin_check(id, group)? {
            return Ok(());
        }
        let timeout = timeout_ms.min(i64::MAX as u64) as i64;
        let pending = self.write_op(
            &table,
            OP_BEGIN,
            id,
            &[
                (PROP_GROUP, group.to_string()),
                (PROP_TIMEOUT, timeout.to_string()),
            ],
            self.durability,
        )?;
        let offset = pending.first_offset();
        let begun_at = self.clock.now_ms();
        table.apply_begin(id, group, begun_at, timeout, offset);
        drop(table);
        self.rearm
            .wake_before(begun_at.saturating_add(timeout.max(1)));
        pending.wait()?;
        Ok(())
    }

    /// Writes half messages of `id` (blocking; acknowledge after `wait`). `producer` stamps
    /// them for an idempotent producer: a resend is recognized and not added twice. The write
    /// happens outside the table's lock (sends of many producers encode in parallel); a
    /// reservation keeps low marks written meanwhile from passing it.
    pub fn send(
        &self,
        id: &str,
        halves: &[HalfRecord<'_>],
        producer: Option<(u64, u64)>,
        durability: Durability,
    ) -> Result<PendingAppend> {
        let bytes: u64 = halves
            .iter()
            .map(|h| record::record_len(h, producer.is_some()) as u64)
            .sum();
        let limit = self.max_txn_bytes();
        let lower = {
            let mut table = self.table();
            table.send_check(id, self.clock.now_ms())?;
            table.room_check(id, bytes, limit)?;
            let (_, next) = self.store.queue_bounds(TXN_TOPIC, HALVES_QUEUE)?;
            table.reserve_halves(next);
            next
        };
        let written = self.store.append_with(
            TXN_TOPIC,
            HALVES_QUEUE,
            halves,
            &AppendOptions {
                producer,
                durability: Some(durability),
                unindexed: true,
                ..AppendOptions::default()
            },
        );
        let mut table = self.table();
        table.release_halves(lower);
        let pending = written?;
        if !pending.is_duplicate() {
            // It may have ended while this was written: then these messages are not part of
            // it (they stay unreferenced in the half queue), and the send fails.
            table.send_check(id, self.clock.now_ms())?;
            table.apply_halves(
                id,
                pending.first_offset(),
                halves.len() as u32,
                bytes,
                halves.iter().map(|h| h.topic),
            );
        }
        Ok(pending)
    }

    /// Commits or rolls back `id` (blocking until written; `finish` waits for durability).
    /// A commit reads and copies its messages outside the table's lock; meanwhile the
    /// transaction takes no sends and no other outcome.
    pub fn end(&self, id: &str, outcome: Outcome) -> Result<PendingEnd> {
        self.end_by(id, outcome, "request")
    }

    /// [`Transactions::end`], counted as ended `by` a request, a check-back answer or
    /// `on_unresolved`.
    fn end_by(&self, id: &str, outcome: Outcome, by: &'static str) -> Result<PendingEnd> {
        let received = std::time::Instant::now();
        let mut ended = TxnEnded {
            outcome,
            already: false,
            placed: Vec::new(),
        };
        let halves = {
            let mut table = self.table();
            if table.end_check(id, outcome)? == EndDecision::Already {
                ended.already = true;
                return Ok(PendingEnd {
                    pending: None,
                    ended,
                });
            }
            if outcome == Outcome::Rollback {
                let p = self.write_op(&table, OP_ROLLBACK, id, &[], self.durability)?;
                table.apply_outcome(id, outcome, self.clock.now_ms());
                count_end("rollback", by);
                return Ok(PendingEnd {
                    pending: Some(PendingEndWrite::Plain(p)),
                    ended,
                });
            }
            table.start_end(id);
            table.get(id).map(|t| t.halves.clone()).unwrap_or_default()
        };
        let (pending, names, topics) = match self.write_copies(id, &halves, false) {
            Ok(w) => w,
            Err(e) => {
                self.table().end_failed(id);
                return Err(e);
            }
        };
        for t in &topics {
            self.appends.notify(t);
        }
        metrics::histogram!(crate::metrics::TXN_COMMIT_VISIBLE_SECONDS)
            .record(received.elapsed().as_secs_f64());
        count_end("commit", by);
        tracing::debug!(txn = id, "transaction committed");
        Ok(PendingEnd {
            pending: Some(PendingEndWrite::Atomic(pending, names)),
            ended,
        })
    }

    /// Copies the half messages `halves` of `id` to their topics (or, `park`, to
    /// `%TXN_UNRESOLVED%`) with the commit (or park) record, atomically, and applies the
    /// commit (or park). Reading and building happen outside the table's lock (the caller
    /// marked the transaction as ending); the record and the write under it. Returns the
    /// write, each part's (topic, queue) but the record's, and the topics written.
    #[allow(clippy::type_complexity)]
    // Long on purpose: reading the halves, building each destination's copies and the
    // outcome record share one buffer and one list of parts; split, they would hand both
    // back and forth (the buffer is why a commit allocates once).
    fn write_copies(
        &self,
        id: &str,
        halves: &[(u64, u32)],
        park: bool,
    ) -> Result<(PendingAtomic, Vec<(String, u32)>, Vec<String>)> {
        // One buffer for every content read (no allocation per message).
        let mut contents = Vec::new();
        let mut reads = Vec::new();
        if park {
            internal_topic(&self.store, UNRESOLVED_TOPIC, 1, Durability::Async)?;
        }
        for &(first, count) in halves {
            let next = self.store.read_with(
                crate::storage::ReadSpan::new(TXN_TOPIC, HALVES_QUEUE, first)
                    .most(count as usize, usize::MAX),
                |v| {
                    let at = contents.len();
                    contents.extend_from_slice(v.content);
                    reads.push(Read {
                        id: v.id,
                        born_at: v.born_at,
                        content: at..contents.len(),
                    });
                    Ok(())
                },
            )?;
            if next != first + u64::from(count) {
                return Err(BrokerError::Internal(format!(
                    "transaction {id:?}: half messages {first}..{} read as far as {next}",
                    first + u64::from(count)
                )));
            }
        }
        let views = reads
            .iter()
            .map(|r| ContentView::parse(&contents[r.content.clone()]))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| BrokerError::Internal(format!("transaction {id:?}: {e}")))?;
        // Destinations in first-seen order; each keeps its messages' send order.
        let mut order: Vec<(String, u32)> = Vec::new();
        let mut groups: HashMap<(String, u32), (Vec<CopyOf<'_>>, Vec<TimerMark>)> = HashMap::new();
        let mut sync = false;
        let mut metas = HashMap::new();
        for (r, c) in reads.iter().zip(views) {
            let topic = c.property(PROP_TOPIC).unwrap_or_default().to_string();
            let topic = topic.as_str();
            let queue: u32 = c
                .property(PROP_QUEUE)
                .and_then(|q| q.parse().ok())
                .unwrap_or(0);
            let meta = match metas.get(topic) {
                Some(m) => m,
                None => {
                    let m = self.store.topic_meta(topic)?;
                    metas.entry(topic.to_string()).or_insert(m)
                }
            };
            sync |= meta.durability == Durability::Sync;
            let deliver_at = c
                .property(PROP_DELIVER_AT)
                .and_then(|v| v.parse::<i64>().ok());
            let queue = queue % meta.queues.max(1);
            // Where the copy goes, what it leaves out, and the timer it schedules.
            let (key, drop, mark): (_, &[&str], _) = match (park, deliver_at) {
                (true, _) => ((UNRESOLVED_TOPIC.to_string(), 0), &[], None),
                (false, Some(due)) => (
                    (DELAY_TOPIC.to_string(), 0),
                    &[],
                    Some(TimerMark {
                        schedule: Some(Schedule {
                            due,
                            topic_id: meta.id,
                            queue,
                        }),
                        settles: None,
                    }),
                ),
                (false, None) => ((topic.to_string(), queue), &COPY_DROPS, None),
            };
            let copy = CopyOf {
                id: r.id,
                born_at: r.born_at,
                content: c,
                drop,
                insert: None,
            };
            let entry = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                (Vec::new(), Vec::new())
            });
            entry.0.push(copy);
            if let Some(m) = mark {
                entry.1.push(m);
            }
        }
        let kind = if park { OP_PARK } else { OP_COMMIT };
        // From here on under the lock: the record's low marks, the write and the outcome.
        let mut table = self.table();
        let op = operation(kind, id, &[], self.low(&table)?, self.clock.now_ms());
        let op_content = {
            let mut b = Vec::new();
            op.encode_content(&mut b);
            b
        };
        let op_view = ContentView::parse(&op_content)
            .map_err(|e| BrokerError::Internal(format!("an operation record: {e}")))?;
        let op_copy = [CopyOf {
            id: op.id,
            born_at: op.born_at,
            content: op_view,
            drop: &[],
            insert: None,
        }];
        let mut parts: Vec<AtomicPart<'_, CopyOf<'_>>> = order
            .iter()
            .map(|key| {
                let (copies, marks) = &groups[key];
                AtomicPart {
                    topic: &key.0,
                    queue: key.1,
                    records: copies,
                    marks,
                }
            })
            .collect();
        parts.push(AtomicPart {
            topic: TXN_TOPIC,
            queue: OPS_QUEUE,
            records: &op_copy,
            marks: &[],
        });
        let durability = if sync || self.durability == Durability::Sync {
            Durability::Sync
        } else {
            Durability::Async
        };
        let pending = self.store.append_atomic(&parts, Some(durability))?;
        if groups.keys().any(|(t, _)| t == DELAY_TOPIC) {
            // The copies scheduled timers: the driver looks at them (loads their bucket, or
            // fires them when their time has passed) now, not at its next deadline.
            self.rearm.wake();
        }
        if park {
            table.apply_park(id);
        } else {
            table.apply_outcome(id, Outcome::Commit, self.clock.now_ms());
        }
        drop(table);
        let topics = order
            .iter()
            .map(|(t, _)| t.clone())
            .chain(metas.keys().cloned())
            .collect();
        Ok((pending, order, topics))
    }

    /// Open and parked transactions, oldest first.
    pub fn list(&self) -> Vec<TxnInfo> {
        self.table().unresolved().iter().map(|t| t.info()).collect()
    }

    /// A check stream for `group` opened: check-backs for the group's transactions may come
    /// through it. Returns its id (for [`Transactions::unlisten`]) and the requests.
    pub fn listen(&self, group: &str) -> (u64, mpsc::Receiver<TxnInfo>) {
        let (tx, rx) = mpsc::channel(LISTEN_QUEUE);
        let mut l = self.listeners.lock();
        l.next_id += 1;
        let id = l.next_id;
        l.by_group
            .entry(group.to_string())
            .or_default()
            .push((id, tx));
        (id, rx)
    }

    pub fn unlisten(&self, id: u64) {
        let mut l = self.listeners.lock();
        for streams in l.by_group.values_mut() {
            streams.retain(|(i, _)| *i != id);
        }
        l.by_group.retain(|_, s| !s.is_empty());
    }

    /// Hands a check-back to one live stream of its producer group; false if none took it.
    fn ask(&self, info: &TxnInfo) -> bool {
        let mut l = self.listeners.lock();
        l.turn = l.turn.wrapping_add(1);
        let turn = l.turn;
        let Some(streams) = l.by_group.get_mut(&info.producer_group) else {
            return false;
        };
        streams.retain(|(_, tx)| !tx.is_closed());
        let n = streams.len();
        (0..n).any(|k| streams[(turn + k) % n].1.try_send(info.clone()).is_ok())
    }

    /// A producer's answer, on a check stream of `group`, to a check-back it was asked. An
    /// answer for another group's transaction, or a late one (the outcome is recorded already,
    /// whichever it was), changes nothing.
    pub fn answer(&self, id: &str, answer: CheckAnswer, group: &str) -> Result<()> {
        let CheckAnswer::Outcome(outcome) = answer else {
            return Ok(());
        };
        if self.group_of(id).as_deref() != Some(group) {
            tracing::debug!(
                txn = id,
                group,
                "an answer for another group's transaction is ignored"
            );
            return Ok(());
        }
        match self.table().end_check(id, outcome) {
            Ok(EndDecision::Apply) => {}
            Ok(EndDecision::Already) | Err(_) => {
                tracing::debug!(
                    txn = id,
                    outcome = outcome.name(),
                    "a late check-back answer is ignored"
                );
                return Ok(());
            }
        }
        match self.end_by(id, outcome, "check_back") {
            Ok(p) => p.finish().map(|_| ()),
            // It ended meanwhile: the first outcome stands.
            Err(
                BrokerError::TxnCommitted(_)
                | BrokerError::TxnRolledBack(_)
                | BrokerError::UnknownTransaction(_),
            ) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Does what is due at `now`: check-backs, and `on_unresolved` after the last one.
    fn turn(&self, now: i64) {
        let due = {
            let mut table = self.table();
            table.prune(now);
            table.poll(now)
        };
        for d in due {
            let id = match &d {
                Due::Check(info) => info.id.clone(),
                Due::Unresolved(id, _) => id.clone(),
            };
            if let Err(e) = self.act(d, now) {
                tracing::warn!(txn = %id, error = %e, "transaction check-back failed; trying again");
                self.table().retry_at(&id, now + RETRY_MS);
            }
        }
    }

    fn act(&self, due: Due, now: i64) -> Result<()> {
        match due {
            Due::Check(info) => {
                let asked = self.ask(&info);
                metrics::counter!(crate::metrics::TXN_CHECKS_TOTAL, "delivered" => if asked { "true" } else { "false" })
                    .increment(1);
                let checks = info.checks + 1;
                if !asked {
                    tracing::info!(txn = %info.id, group = %info.producer_group, check = checks,
                        "no producer of the group is connected to check back with");
                }
                let mut table = self.table();
                let pending = self.write_op(
                    &table,
                    OP_CHECK,
                    &info.id,
                    &[(PROP_CHECKS, checks.to_string())],
                    Durability::Async,
                )?;
                table.apply_check(&info.id, checks, now);
                drop(table);
                pending.wait()?;
                Ok(())
            }
            Due::Unresolved(id, OnUnresolved::Rollback) => {
                tracing::warn!(txn = %id, "no answer to the last check-back: rolled back ([transactions] on_unresolved)");
                match self.end_by(&id, Outcome::Rollback, "unresolved") {
                    Ok(p) => p.finish().map(|_| ()),
                    Err(BrokerError::TxnCommitted(_) | BrokerError::TxnRolledBack(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Due::Unresolved(id, OnUnresolved::Park) => {
                let halves = {
                    let mut table = self.table();
                    match table.get(&id) {
                        Some(t) if t.phase == TxnPhase::Open => {}
                        _ => return Ok(()),
                    }
                    if table.end_check(&id, Outcome::Rollback).is_err() {
                        return Ok(()); // being ended by its producer right now
                    }
                    table.start_end(&id);
                    table.get(&id).map(|t| t.halves.clone()).unwrap_or_default()
                };
                let pending = match self.write_copies(&id, &halves, true) {
                    Ok((p, _, topics)) => {
                        // Long polls on the parked topic wake now, as they do on a commit's.
                        for t in &topics {
                            self.appends.notify(t);
                        }
                        p
                    }
                    Err(e) => {
                        self.table().end_failed(&id);
                        return Err(e);
                    }
                };
                count_end("park", "unresolved");
                tracing::warn!(txn = %id, topic = UNRESOLVED_TOPIC,
                    "no answer to the last check-back: parked for an operator (lockgate txn list)");
                pending.wait()?;
                Ok(())
            }
        }
    }
}

fn count_end(outcome: &'static str, by: &'static str) {
    metrics::counter!(crate::metrics::TXN_ENDED_TOTAL, "outcome" => outcome, "by" => by)
        .increment(1);
}

impl Timed for Transactions {
    fn next_deadline(&self) -> Option<i64> {
        self.table().next_deadline()
    }

    fn poll(&self, now_ms: i64) {
        self.turn(now_ms);
    }
}
