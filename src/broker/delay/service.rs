//! [`Delays`]: the I/O shell around the [`Wheel`]. It loads buckets from the store's timer
//! index as their time nears, fires what is due (a copy of the delay record into its topic,
//! which settles the timer in the same record), moves long delays forward, cancels, and
//! answers what state a delay message is in. The timer driver polls it at its next deadline.

use parking_lot::{Mutex, MutexGuard};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::appends::Appends;
use crate::broker::ingest::copy::internal_topic;
use crate::broker::timer::{Rearm, Timed};
use crate::broker::{BrokerError, Result};
use crate::clock::Clock;
use crate::config::DelayConfig;
use crate::protocol::{DelayPhase, DelayState, DelayStatsInfo};
use crate::record::{self, ContentView, Message, MessageId, Record, RecordSource};
use crate::storage::timers::{
    self, BUCKET_MS, DELAY_TOPIC, PROP_CANCEL, PROP_DELIVER_AT, PROP_QUEUE, PROP_REF, PROP_TOPIC,
    Schedule, Settled, Timer, TimerMark, TimerRef,
};
use crate::storage::{AppendOptions, Durability, PendingAppend, StorageError, Store, TopicMeta};

use super::record::fired_copy;
use super::wheel::{Action, Held, Take, Wheel, WheelOptions};

/// Most timers acted on in one batch, and most held in memory before loading waits.
const FIRE_BATCH: usize = 4096;
const MAX_HELD: usize = 2_000_000;
/// One poll stops after this long, so other services' deadlines are not held up.
const TURN_BUDGET: Duration = Duration::from_millis(50);
/// A failed fire or move is tried again after this long.
const RETRY_MS: i64 = 1_000;
/// Records one id lookup examines.
const ID_LOOKUP: usize = 16;

pub struct DelaysOptions {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub config: DelayConfig,
    pub appends: Arc<Appends>,
    pub rearm: Rearm,
}

pub struct Delays {
    store: Arc<Store>,
    clock: Clock,
    config: DelayConfig,
    appends: Arc<Appends>,
    rearm: Rearm,
    delay_topic_id: u32,
    wheel: Mutex<Wheel>,
    /// One poll at a time.
    turning: Mutex<()>,
    /// Visibility time − requested time of fired messages.
    lateness: crate::metrics::Buckets,
    fired: metrics::Counter,
}

/// A message to schedule: its destination and when.
pub struct ToSchedule {
    pub message: Message,
    pub topic: String,
    pub topic_id: u32,
    pub queue: u32,
    pub deliver_at: i64,
}

impl Delays {
    pub fn open(o: DelaysOptions) -> Result<Delays> {
        let meta = internal_topic(&o.store, DELAY_TOPIC, 1, Durability::Sync)?;
        let rate = o.config.fire_rate;
        let wheel = Wheel::new(
            WheelOptions {
                lookahead_ms: BUCKET_MS,
                max_held: MAX_HELD,
                rate_per_s: rate,
                burst: (rate / 10).max(FIRE_BATCH as u64),
            },
            o.clock.now_ms(),
        );
        Ok(Delays {
            delay_topic_id: meta.id,
            store: o.store,
            clock: o.clock,
            config: o.config,
            appends: o.appends,
            rearm: o.rearm,
            wheel: Mutex::new(wheel),
            turning: Mutex::new(()),
            lateness: crate::metrics::Buckets::default(),
            fired: metrics::counter!(crate::metrics::DELAY_FIRED_TOTAL),
        })
    }

    /// Visibility time − requested delivery time of the messages fired so far.
    pub fn lateness(&self) -> &crate::metrics::Buckets {
        &self.lateness
    }

    pub fn config(&self) -> &DelayConfig {
        &self.config
    }

    fn wheel(&self) -> MutexGuard<'_, Wheel> {
        self.wheel.lock()
    }

    /// The wheel with every timer stored so far in it: a timer scheduled into a bucket the
    /// wheel watches waits in the index's fresh list until the wheel takes it, and must not
    /// look settled (delivered) meanwhile.
    fn wheel_current(&self) -> MutexGuard<'_, Wheel> {
        let mut wheel = self.wheel();
        wheel.handle_scheduled(self.store.timer_index().take_fresh());
        wheel
    }

    /// Writes delay records for `messages` (blocking; acknowledge after `wait`). The timers
    /// are scheduled by the same append.
    pub fn schedule(
        &self,
        messages: Vec<ToSchedule>,
        producer: Option<(u64, u64)>,
        durability: Durability,
    ) -> Result<PendingAppend> {
        let mut schedules = Vec::with_capacity(messages.len());
        let mut records = Vec::with_capacity(messages.len());
        for m in messages {
            schedules.push(Schedule {
                due: m.deliver_at,
                topic_id: m.topic_id,
                queue: m.queue,
            });
            records.push(delay_record(m.message, &m.topic, m.queue, m.deliver_at));
        }
        self.schedule_records(&records, &schedules, producer, durability)
    }

    /// Writes delay records that carry their delay properties already, one schedule each
    /// (blocking; acknowledge after `wait`).
    pub fn schedule_records<M: RecordSource>(
        &self,
        records: &[M],
        schedules: &[Schedule],
        producer: Option<(u64, u64)>,
        durability: Durability,
    ) -> Result<PendingAppend> {
        let marks: Vec<TimerMark> = schedules
            .iter()
            .map(|&s| TimerMark {
                schedule: Some(s),
                settles: None,
            })
            .collect();
        let earliest = schedules.iter().map(|s| s.due).min().unwrap_or(i64::MAX);
        let pending = self.store.append_with(
            DELAY_TOPIC,
            0,
            records,
            &AppendOptions {
                producer,
                durability: Some(durability),
                marks: &marks,
                ..AppendOptions::default()
            },
        )?;
        // Wake the driver in time to load the bucket (or fire, when it is loaded already).
        self.rearm
            .wake_before(timers::bucket_of(earliest.max(0)) - BUCKET_MS);
        Ok(pending)
    }

    /// Does what is due at `now` (blocking): loads buckets, fires and moves timers.
    fn turn(&self, now: i64) {
        let _one = self.turning.lock();
        let started = Instant::now();
        loop {
            let actions = {
                let mut wheel = self.wheel();
                if let Err(e) = self.load(&mut wheel, now) {
                    crate::error_limited!("timer load", error = %e, "loading delay timers failed; retrying");
                }
                let actions = wheel.poll_due(now, FIRE_BATCH);
                self.report_finished(&mut wheel);
                actions
            };
            if actions.is_empty() {
                break;
            }
            self.act(actions, now);
            if started.elapsed() > TURN_BUDGET {
                break;
            }
        }
        self.report_finished(&mut self.wheel());
    }

    /// Loads every bucket whose time is near, and timers newly scheduled into loaded ones.
    fn load(&self, wheel: &mut Wheel, now: i64) -> Result<()> {
        let index = self.store.timer_index();
        wheel.handle_scheduled(index.take_fresh());
        while let Some(until) = wheel.poll_load(now, index.next_unwatched()) {
            match index.watch_next(until)? {
                Some((bucket, timers)) => wheel.handle_loaded(bucket, timers),
                None => break,
            }
        }
        // What was scheduled while loading.
        wheel.handle_scheduled(index.take_fresh());
        Ok(())
    }

    fn report_finished(&self, wheel: &mut Wheel) {
        for b in wheel.poll_finished() {
            self.store.timer_index().finished(b);
        }
    }

    /// Fires and moves (blocking). Each timer ends settled or back in the wheel for a retry.
    fn act(&self, actions: Vec<Action>, now: i64) {
        // Due records stay bytes: a fired copy is their content with two properties swapped.
        let mut fires: BTreeMap<(String, u32), Vec<DueRecord>> = BTreeMap::new();
        let mut moves = Vec::new();
        let mut lost = Vec::new();
        let places: Vec<(u64, u32)> = actions
            .iter()
            .map(|(Action::Fire(t) | Action::Move(t))| (t.position, t.size))
            .collect();
        let records = self.store.read_records_raw(&places);
        for (a, raw) in actions.into_iter().zip(records) {
            let (Action::Fire(t) | Action::Move(t)) = a;
            let read = raw.map_err(BrokerError::from).and_then(|raw| match a {
                Action::Fire(_) => {
                    let dest = destination_in(&raw)?;
                    fires.entry(dest).or_default().push((t, raw));
                    Ok(())
                }
                Action::Move(_) => {
                    moves.push((t, message_in(&raw)?));
                    Ok(())
                }
            });
            if let Err(e) = read {
                crate::error_limited!("timer record", error = %e, position = t.position,
                    "a delay record cannot be read; its message cannot be delivered");
                lost.push((t, Message::default(), "its delay record cannot be read"));
            }
        }
        let mut settled = Vec::new();
        let mut failed = Vec::new();
        let mut notified = Vec::new();
        let room = self.store.max_batch_bytes() / 4;
        let fires = fires.into_iter().flat_map(|(dest, batch)| {
            chunks(batch, room)
                .into_iter()
                .map(move |b| (dest.clone(), b))
        });
        for ((topic, queue), batch) in fires {
            let meta = match self.store.topic_meta(&topic) {
                Ok(meta) => meta,
                Err(StorageError::UnknownTopic(_)) => {
                    lost.extend(batch.into_iter().map(|(t, raw)| {
                        let m = message_in(&raw).unwrap_or_default();
                        (t, m, "its topic was deleted")
                    }));
                    continue;
                }
                Err(e) => {
                    crate::error_limited!("timer fire", error = %e, topic = %topic,
                        "delivering delay messages failed; retrying");
                    failed.extend(batch.iter().map(|(t, _)| t.position));
                    continue;
                }
            };
            let positions: Vec<u64> = batch.iter().map(|(t, _)| t.position).collect();
            let dues: Vec<i64> = batch.iter().map(|(t, _)| t.due).collect();
            match self.fire(&topic, &meta, queue, batch) {
                Ok(()) => {
                    let visible = self.clock.now_ms();
                    let mut late = crate::metrics::Tally::default();
                    for due in &dues {
                        late.record(crate::metrics::seconds_between(*due, visible));
                    }
                    self.lateness.add(&late);
                    self.fired.increment(dues.len() as u64);
                    settled.extend(positions);
                    notified.push(topic);
                }
                Err(e) => {
                    crate::error_limited!("timer fire", error = %e, topic = %topic,
                        "delivering delay messages failed; retrying");
                    failed.extend(positions);
                }
            }
        }
        for moves in chunks(moves, room) {
            match self.move_forward(&moves) {
                Ok(()) => settled.extend(moves.iter().map(|(t, _)| t.position)),
                Err(e) => {
                    crate::error_limited!("timer move", error = %e,
                        "writing long delay records forward failed; retrying");
                    failed.extend(moves.iter().map(|(t, _)| t.position));
                }
            }
        }
        for (t, message, why) in lost {
            tracing::error!(position = t.position, id = %message.id, reason = why,
                "a delay message cannot be delivered; its timer ends");
            match self.settle_with_marker(t, message, why) {
                Ok(()) => settled.push(t.position),
                Err(_) => failed.push(t.position),
            }
        }
        let mut wheel = self.wheel();
        for p in settled {
            wheel.handle_settled(p);
        }
        for p in failed {
            wheel.handle_failed(p, now + RETRY_MS);
        }
        drop(wheel);
        for topic in notified {
            self.appends.notify(&topic);
        }
    }

    /// Appends the delivered copies of one queue's due messages; each copy settles its timer.
    fn fire(
        &self,
        topic: &str,
        meta: &TopicMeta,
        queue: u32,
        batch: Vec<(Timer, Vec<u8>)>,
    ) -> Result<()> {
        let mut marks = Vec::with_capacity(batch.len());
        let mut refs = Vec::with_capacity(batch.len());
        for (t, _) in &batch {
            // Keep the timer's own topic id in the ref: the replay matches the copy's topic.
            let r = TimerRef {
                topic_id: meta.id,
                ..t.reference()
            };
            marks.push(TimerMark {
                schedule: None,
                settles: Some((r, Settled::Fired)),
            });
            refs.push(r.to_property());
        }
        let mut copies = Vec::with_capacity(batch.len());
        for ((_, raw), r) in batch.iter().zip(&refs) {
            let view = record::decode_view(raw).map_err(undecodable)?;
            let content = ContentView::parse(view.content).map_err(undecodable)?;
            copies.push(fired_copy(view.id, view.born_at, content, r));
        }
        // A topic recreated with fewer queues: the message still goes somewhere in it.
        let queue = queue % meta.queues.max(1);
        self.store
            .append_with(
                topic,
                queue,
                &copies,
                &AppendOptions {
                    marks: &marks,
                    ..AppendOptions::default()
                },
            )?
            .wait()?;
        Ok(())
    }

    /// Writes long-delayed records again (durably): the new record schedules the timer anew
    /// and settles the old one.
    fn move_forward(&self, moves: &[(Timer, Message)]) -> Result<()> {
        let mut marks = Vec::with_capacity(moves.len());
        let mut records = Vec::with_capacity(moves.len());
        for (t, m) in moves {
            marks.push(TimerMark {
                schedule: Some(Schedule {
                    due: t.due,
                    topic_id: t.topic_id,
                    queue: t.queue,
                }),
                settles: Some((t.reference(), Settled::Moved)),
            });
            let mut m = m.clone();
            m.properties
                .insert(PROP_REF.into(), t.reference().to_property());
            records.push(m);
        }
        self.store
            .append_with(
                DELAY_TOPIC,
                0,
                &records,
                &AppendOptions {
                    durability: Some(Durability::Sync),
                    marks: &marks,
                    ..AppendOptions::default()
                },
            )?
            .wait()?;
        Ok(())
    }

    /// Ends a timer without delivery: a cancel marker (same id, no body) settles it.
    fn settle_with_marker(&self, t: Timer, message: Message, why: &str) -> Result<()> {
        let mut marker = Message {
            id: message.id,
            born_at: message.born_at,
            ..Message::default()
        };
        for p in [PROP_TOPIC, PROP_QUEUE, PROP_DELIVER_AT] {
            if let Some(v) = message.properties.get(p) {
                marker.properties.insert(p.into(), v.clone());
            }
        }
        marker.properties.insert(PROP_CANCEL.into(), why.into());
        marker
            .properties
            .insert(PROP_REF.into(), t.reference().to_property());
        self.store
            .append_with(
                DELAY_TOPIC,
                0,
                &[marker],
                &AppendOptions {
                    durability: Some(Durability::Sync),
                    marks: &[TimerMark {
                        schedule: None,
                        settles: Some((t.reference(), Settled::Cancelled)),
                    }],
                    ..AppendOptions::default()
                },
            )?
            .wait()?;
        Ok(())
    }

    /// Cancels the pending delay message `id` of `topic` (blocking). Returns its delivery time
    /// and whether it was cancelled before.
    pub fn cancel(&self, topic: &str, id: MessageId) -> Result<(i64, bool)> {
        let meta = self.store.topic_meta(topic)?;
        // Under the wheel's lock: a bucket cannot be loaded between the look and the marker.
        let mut wheel = self.wheel_current();
        let found = self.find(topic, id)?;
        let Some((position, size, rec)) = found.newest else {
            return Err(self.not_found(topic, id, found.delivered));
        };
        let deliver_at = deliver_at_of(&rec);
        if rec.message.properties.contains_key(PROP_CANCEL) {
            return Ok((deliver_at, true));
        }
        if found.delivered.is_some() {
            return Err(already_delivered(id, deliver_at));
        }
        let timer = Timer {
            due: deliver_at,
            slot: self.store.timer_index().slot_for(deliver_at, rec.stored_at),
            position,
            size,
            topic_id: meta.id,
            queue: rec.queue,
        };
        let timer = match wheel.take_for_cancel(position) {
            Take::Taken(t) => t,
            Take::InFlight => return Err(already_delivered(id, deliver_at)),
            Take::NotHeld if self.store.timer_index().is_watched(timer.slot) => {
                // Loaded and settled, but no copy found: delivered and gone, or moved.
                return Err(already_delivered(id, deliver_at));
            }
            // Not loaded yet: the marker goes to the bucket the index filed it in.
            Take::NotHeld => timer,
        };
        match self.settle_with_marker(timer, rec.message, "cancelled by request") {
            Ok(()) => {
                wheel.handle_settled(position);
                Ok((deliver_at, false))
            }
            Err(e) => {
                wheel.handle_failed(position, timer.slot);
                Err(e)
            }
        }
    }

    fn not_found(&self, topic: &str, id: MessageId, delivered: Option<Record>) -> BrokerError {
        match delivered {
            Some(rec) => already_delivered(id, deliver_at_of(&rec)),
            None => BrokerError::UnknownMessage(format!(
                "no delay message {id} for topic {topic:?} (never sent, or removed by retention)"
            )),
        }
    }

    /// The state of delay message `id` (of `topic`, or any topic when empty).
    pub fn state(&self, topic: &str, id: MessageId) -> Result<DelayState> {
        let found = self.find(topic, id)?;
        let wheel = self.wheel_current();
        let Some((position, _, rec)) = found.newest else {
            return match found.delivered {
                Some(d) => Ok(state_of(DelayPhase::Delivered, &d, topic)),
                None => Err(self.not_found(topic, id, None)),
            };
        };
        let dest = destination(&rec).0;
        if rec.message.properties.contains_key(PROP_CANCEL) {
            return Ok(state_of(DelayPhase::Cancelled, &rec, &dest));
        }
        if let Some(d) = found.delivered {
            return Ok(state_of(DelayPhase::Delivered, &d, &dest));
        }
        let phase = match wheel.state(position) {
            Some(Held::InFlight(_)) => DelayPhase::Delivering,
            Some(Held::Pending(_)) => DelayPhase::Pending,
            None => {
                let slot = self
                    .store
                    .timer_index()
                    .slot_for(deliver_at_of(&rec), rec.stored_at);
                if self.store.timer_index().is_watched(slot) {
                    DelayPhase::Delivered
                } else {
                    DelayPhase::Pending
                }
            }
        };
        let mut s = state_of(phase, &rec, &dest);
        s.queue = destination(&rec).1;
        Ok(s)
    }

    /// The newest delay record with this id (and the delivered copy, when `topic` names it).
    fn find(&self, topic: &str, id: MessageId) -> Result<Found> {
        let records = self.store.find_all_by_id(DELAY_TOPIC, &id, ID_LOOKUP)?;
        let newest = records
            .into_iter()
            .find(|(_, _, m)| topic.is_empty() || destination_of(&m.message).0 == topic)
            .map(|(p, n, m)| {
                (
                    p,
                    n,
                    Record {
                        producer: None,
                        topic_id: self.delay_topic_id,
                        queue: destination_of(&m.message).1,
                        queue_offset: m.offset,
                        stored_at: m.stored_at,
                        message: m.message,
                    },
                )
            });
        let dest = match (&newest, topic) {
            (_, t) if !t.is_empty() => Some(t.to_string()),
            (Some((_, _, r)), _) => Some(destination(r).0),
            (None, _) => None,
        };
        let delivered = match dest {
            Some(t) => match self.store.find_by_id(&t, &id) {
                Ok(found) => found
                    .filter(|m| m.message.properties.contains_key(PROP_REF))
                    .map(|m| Record {
                        producer: None,
                        topic_id: 0,
                        queue: m.queue,
                        queue_offset: m.offset,
                        stored_at: m.stored_at,
                        message: m.message,
                    }),
                Err(StorageError::UnknownTopic(_)) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        Ok(Found { newest, delivered })
    }

    pub fn stats(&self) -> DelayStatsInfo {
        let index = self.store.timer_index().stats();
        let wheel_next = self.wheel().earliest_due();
        let names: BTreeMap<u32, String> = self
            .store
            .list_topics()
            .into_iter()
            .map(|m| (m.id, m.name.to_string()))
            .collect();
        let mut topics: Vec<(String, u64)> = index
            .pending
            .iter()
            .map(|(id, n)| {
                let name = names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("(deleted topic {id})"));
                (name, *n)
            })
            .collect();
        topics.sort();
        DelayStatsInfo {
            next_due: wheel_next.or(index.earliest_bucket).unwrap_or(0),
            topics,
        }
    }
}

impl Timed for Delays {
    fn next_deadline(&self) -> Option<i64> {
        let next_bucket = self.store.timer_index().next_unwatched();
        let wheel = self.wheel();
        // Timers scheduled into loaded buckets since the last poll: look at once.
        if self.store.timer_index().has_fresh() {
            return Some(self.clock.now_ms());
        }
        wheel.next_deadline(next_bucket)
    }

    fn poll(&self, now_ms: i64) {
        self.turn(now_ms);
    }
}

/// A due timer and its delay record's bytes.
type DueRecord = (Timer, Vec<u8>);

/// Splits timers into batches of at most `room` bytes of records (at least one each).
fn chunks<T>(batch: Vec<(Timer, T)>, room: u64) -> Vec<Vec<(Timer, T)>> {
    let mut out: Vec<Vec<(Timer, T)>> = Vec::new();
    let mut bytes = 0u64;
    for item in batch {
        // The record grows by the timer ref it gains.
        let size = u64::from(item.0.size) + 64;
        if out.is_empty() || bytes + size > room {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        out.last_mut().expect("pushed").push(item);
    }
    out
}

struct Found {
    newest: Option<(u64, u32, Record)>,
    delivered: Option<Record>,
}

fn already_delivered(id: MessageId, deliver_at: i64) -> BrokerError {
    BrokerError::AlreadyDelivered(format!(
        "delay message {id} was delivered (due at {deliver_at} ms); nothing to cancel"
    ))
}

/// The delay record of `m` for `topic`/`queue` at `deliver_at`.
fn delay_record(mut m: Message, topic: &str, queue: u32, deliver_at: i64) -> Message {
    m.properties
        .insert(PROP_DELIVER_AT.into(), deliver_at.to_string());
    m.properties.insert(PROP_TOPIC.into(), topic.into());
    m.properties.insert(PROP_QUEUE.into(), queue.to_string());
    m
}

fn destination(rec: &Record) -> (String, u32) {
    destination_of(&rec.message)
}

/// A delay record's bytes did not decode (checked when read, so a bug, not damage).
fn undecodable(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Internal(format!("a delay record does not decode: {e}"))
}

/// The destination a delay record's bytes name.
fn destination_in(raw: &[u8]) -> Result<(String, u32)> {
    let view = record::decode_view(raw).map_err(undecodable)?;
    let c = ContentView::parse(view.content).map_err(undecodable)?;
    let topic = c.property(PROP_TOPIC).unwrap_or_default().to_string();
    let queue = c
        .property(PROP_QUEUE)
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    Ok((topic, queue))
}

/// The message in a record's bytes.
fn message_in(raw: &[u8]) -> Result<Message> {
    Ok(record::decode(raw).map_err(undecodable)?.message)
}

fn destination_of(m: &Message) -> (String, u32) {
    let topic = m.properties.get(PROP_TOPIC).cloned().unwrap_or_default();
    let queue = m
        .properties
        .get(PROP_QUEUE)
        .and_then(|q| q.parse().ok())
        .unwrap_or(0);
    (topic, queue)
}

fn deliver_at_of(rec: &Record) -> i64 {
    rec.message
        .properties
        .get(PROP_DELIVER_AT)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn state_of(phase: DelayPhase, rec: &Record, topic: &str) -> DelayState {
    DelayState {
        phase,
        topic: topic.to_string(),
        queue: rec.queue,
        deliver_at: deliver_at_of(rec),
        born_at: rec.message.born_at,
        offset: if phase == DelayPhase::Delivered {
            rec.queue_offset
        } else {
            0
        },
    }
}
