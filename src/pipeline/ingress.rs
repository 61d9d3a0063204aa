//! A batch through a topic's ingress stages, then stored: dedup keys checked against the
//! window, router destinations resolved to queues, and everything written as one atomic append
//! that ends with the batch's summary (`summary`). The answer lists, per message, every place
//! it is stored (or its original's, for a duplicate).
//!
//! - **No partial fan-out**: the messages' copies and the summary are one atomic append; a kill
//!   during it leaves none of them, and the producer's resend stores the batch whole.
//! - **Resends**: an idempotent producer's stamp is on the summary; a resend of a stored batch
//!   is recognized there and answered from the summary, nothing stored twice.
//! - **Dedup**: a batch's new keys are checked and reserved under the window's lock, appended
//!   without it, then stored in the window; a batch meeting a reserved key waits for it to
//!   settle, so two batches carrying one key cannot both store it.
//! - **Failures** (a plugin trap, an error answer, a destination that does not exist or that
//!   the same pipeline covers) follow `on_error`: `reject` refuses the batch, `store-unrouted`
//!   stores it in the topic produced to, as produced.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{PipelineError, Result};
use super::spec::{IngressOnError, IngressStage, PipelineConfig};
use crate::plugin::Plugins;
use crate::plugin::batch::BatchBuilder;
use crate::plugin::stages::{Deduper, Router, Routes, StageError};
use crate::protocol::RouteView;
use crate::protocol::{Response, RouteOutcome, RoutedAck, RoutedTo};
use crate::record::{self, Message, MessageId, RawMessage, fnv1a64};
use crate::storage::{AtomicOptions, AtomicPart, Durability, PendingAtomic, Store};

use super::summary::{Outcome, Part, Summary, THIS_SUMMARY};
use super::window::{DedupWindow, KeyHasher, Original};
use super::{WindowCell, summary_topic};

/// A pool of one stage's plugin instances: each call takes one (or makes one), so concurrent
/// batches do not wait for each other's plugin calls.
struct Pool<T> {
    plugin: String,
    free: Mutex<Vec<T>>,
}

impl<T> Pool<T> {
    fn new(plugin: &str) -> Pool<T> {
        Pool {
            plugin: plugin.to_string(),
            free: Mutex::new(Vec::new()),
        }
    }

    fn with<R>(
        &self,
        make: impl FnOnce(&str) -> std::result::Result<T, StageError>,
        f: impl FnOnce(&mut T) -> std::result::Result<R, StageError>,
    ) -> std::result::Result<R, StageError> {
        let taken = self.free.lock().pop();
        let mut instance = match taken {
            Some(i) => i,
            None => make(&self.plugin)?,
        };
        let out = f(&mut instance);
        // A failed instance remakes its sandbox on its next call: it can go back.
        self.free.lock().push(instance);
        out
    }
}

enum Stage {
    Dedup(Pool<Deduper>),
    Router(Pool<Router>),
}

impl Stage {
    fn plugin(&self) -> &str {
        match self {
            Stage::Dedup(p) => &p.plugin,
            Stage::Router(p) => &p.plugin,
        }
    }
}

/// The ingress of one topic, as its pipeline says.
pub struct Ingress {
    pub topic: String,
    pipeline: PipelineConfig,
    config: IngressStage,
    stages: Vec<Stage>,
    /// Present when dedup is on (a dedup stage, a window and a key count above zero).
    window: Option<std::sync::Arc<WindowCell>>,
    round_robin: AtomicU64,
}

/// What one message of the batch is.
enum Fate {
    /// To be stored at these places (a range of [`Placement::targets`]).
    Store(std::ops::Range<usize>),
    Duplicate(Duplicate),
    Dropped,
}

enum Duplicate {
    /// Of a message stored by an earlier batch.
    Window(Original),
    /// Of an earlier message of this batch.
    Batch(usize),
}

/// Where a batch's messages go: the distinct (topic, queue) places, and per message a run of
/// indexes into them (one flat list: no allocation per message).
struct Placement {
    places: Vec<(String, u32)>,
    /// Place indexes, message after message.
    targets: Vec<u32>,
    /// Message `i`'s places are `targets[ends[i - 1]..ends[i]]`.
    ends: Vec<usize>,
}

impl Placement {
    fn with_capacity(messages: usize) -> Placement {
        Placement {
            places: Vec::new(),
            targets: Vec::with_capacity(messages),
            ends: Vec::with_capacity(messages),
        }
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        start..self.ends[i]
    }

    /// Each message in the topic produced to, at the queue it would have without a pipeline.
    fn unrouted(topic: &str, queues: &[u32]) -> Placement {
        let mut p = Placement::with_capacity(queues.len());
        let mut place_of: HashMap<u32, u32> = HashMap::new();
        for &q in queues {
            let place = *place_of.entry(q).or_insert_with(|| {
                p.places.push((topic.to_string(), q));
                (p.places.len() - 1) as u32
            });
            p.targets.push(place);
            p.ends.push(p.targets.len());
        }
        p
    }
}

/// What becomes of a batch: its places, each message's fate and its dedup key's hash.
struct Plan<'a> {
    placement: &'a Placement,
    fates: &'a [Fate],
    hashes: &'a [Option<u128>],
}

/// A produce batch as the ingress sees it.
pub struct Batch<'a, 'v> {
    pub messages: &'a [RawMessage<'v>],
    /// The producer's route of each message.
    pub routes: &'a [RouteView<'v>],
    /// The queue of the topic produced to each message would have without a pipeline.
    pub queues: &'a [u32],
    /// The ids the producer set (zero: the broker assigns one, already in `messages`).
    pub given_ids: &'a [MessageId],
    pub producer: Option<(u64, u64)>,
}

impl Ingress {
    pub(super) fn new(
        plugins: &Plugins,
        topic: &str,
        pipeline: &PipelineConfig,
        window: Option<std::sync::Arc<WindowCell>>,
    ) -> std::result::Result<Ingress, String> {
        let config = pipeline.ingress.clone().expect("an ingress pipeline");
        let mut stages = Vec::new();
        for name in &config.stages {
            let roles = plugins.roles_of(name).map_err(|e| e.to_string())?;
            stages.push(match super::stage_role(name, &roles)? {
                crate::plugin::Role::Dedup => Stage::Dedup(Pool::new(name)),
                _ => Stage::Router(Pool::new(name)),
            });
        }
        let dedup_on = stages.iter().any(|s| matches!(s, Stage::Dedup(_)));
        Ok(Ingress {
            topic: topic.to_string(),
            pipeline: pipeline.clone(),
            window: window.filter(|_| dedup_on),
            config,
            stages,
            round_robin: AtomicU64::new(0),
        })
    }

    /// Runs the stages on `batch` and writes it (blocking). Acknowledge after
    /// [`PendingRouted::finish`].
    pub fn write(
        &self,
        plugins: &Plugins,
        store: &Store,
        hasher: &KeyHasher,
        durability: Durability,
        now: i64,
        batch: &Batch<'_, '_>,
    ) -> Result<PendingRouted> {
        let count = batch.messages.len();
        let planned = self.run_stages(plugins, store, batch, now);
        let (keys, routes) = match planned {
            Ok(p) => p,
            Err(why) => match self.config.on_error {
                IngressOnError::Reject => {
                    metrics::counter!(crate::metrics::PIPELINE_MESSAGES_TOTAL,
                        "topic" => self.topic.clone(), "outcome" => "rejected")
                    .increment(count as u64);
                    return Err(PipelineError::Failed(format!(
                        "topic {:?}: the ingress pipeline rejected the batch: {why}",
                        self.topic
                    )));
                }
                IngressOnError::StoreUnrouted => {
                    tracing::warn!(topic = %self.topic, reason = %why,
                        "ingress failed; storing the batch unrouted (on_error = store-unrouted)");
                    metrics::counter!(crate::metrics::PIPELINE_MESSAGES_TOTAL,
                        "topic" => self.topic.clone(), "outcome" => "unrouted")
                    .increment(count as u64);
                    (None, None)
                }
            },
        };
        let placement = match routes {
            Some(p) => p,
            None => Placement::unrouted(&self.topic, batch.queues),
        };
        let hashes: Vec<Option<u128>> = match &keys {
            Some(k) => k
                .iter()
                .map(|k| k.as_ref().map(|k| hasher.hash(&self.topic, k)))
                .collect(),
            None => vec![None; count],
        };
        // Checked and reserved under the window's lock, appended without it, then stored in
        // it: a batch carrying a key another batch is appending waits for that one to settle,
        // so two batches with one key never both store it.
        let cell = self.window.as_ref().filter(|_| keys.is_some());
        let mut window_guard = match cell {
            Some(c) => Some(c.lock(store, &self.topic, now)?),
            None => None,
        };
        if let Some(c) = cell {
            loop {
                let g = window_guard.as_mut().expect("locked");
                let w = g.as_ref().expect("loaded");
                if !hashes.iter().flatten().any(|h| w.is_pending(*h)) {
                    break;
                }
                c.settled.wait(g);
            }
        }
        let mut fates = Vec::with_capacity(count);
        let mut first_of: super::window::PreHashedMap<u128, usize> = Default::default();
        for (i, &hash) in hashes.iter().enumerate() {
            let d = placement.range(i);
            let dup = hash.and_then(|h| {
                if let Some(&j) = first_of.get(&h) {
                    return Some(Duplicate::Batch(j));
                }
                let w: &DedupWindow = window_guard.as_deref()?.as_ref()?;
                w.get(h, now).map(Duplicate::Window)
            });
            fates.push(match dup {
                Some(d) => Fate::Duplicate(d),
                None if d.is_empty() => Fate::Dropped,
                None => {
                    if let Some(h) = hash {
                        first_of.insert(h, i);
                    }
                    Fate::Store(d)
                }
            });
        }
        if let Some(g) = window_guard.as_mut() {
            g.as_mut()
                .expect("loaded")
                .reserve(first_of.keys().copied());
        }
        drop(window_guard);
        let plan = Plan {
            placement: &placement,
            fates: &fates,
            hashes: &hashes,
        };
        let written = self.append(store, durability, now, batch, &plan);
        if let Some(c) = cell {
            let mut g = c.window.lock();
            let w = g.as_mut().expect("loaded");
            w.release(first_of.keys().copied());
            if let Ok(Some(summary_at)) = written.as_ref().map(|w| w.summary_offset) {
                w.insert(
                    now,
                    first_of.iter().map(|(&h, &i)| {
                        (
                            h,
                            Original {
                                summary: summary_at,
                                index: i as u32,
                            },
                        )
                    }),
                );
            }
            drop(g);
            c.settled.notify_all();
        }
        let written = written?;
        Ok(written)
    }

    /// The stages in order: dedup keys and routes, each on the whole batch in one call.
    /// Returns the keys (if dedup ran) and each message's resolved destinations (if a router
    /// ran), or why the batch failed.
    #[allow(clippy::type_complexity)]
    fn run_stages(
        &self,
        plugins: &Plugins,
        store: &Store,
        batch: &Batch<'_, '_>,
        now: i64,
    ) -> std::result::Result<(Option<Vec<Option<Vec<u8>>>>, Option<Placement>), String> {
        let count = batch.messages.len();
        let mut flat =
            BatchBuilder::with_capacity(batch.messages.iter().map(|m| m.content.len() + 64).sum());
        for (m, id) in batch.messages.iter().zip(batch.given_ids) {
            flat.push_source(m, *id, 0, 0, now, 0);
        }
        let flat = flat.finish();
        let mut keys = None;
        let mut routes = None;
        for stage in &self.stages {
            let named = |e: StageError| format!("stage {:?}: {e}", stage.plugin());
            match stage {
                Stage::Dedup(pool) => {
                    if self.window.is_none() {
                        continue; // dedup is off (a zero window or key count)
                    }
                    keys = Some(
                        pool.with(|p| plugins.dedup(p), |d| d.keys(&self.topic, flat, count))
                            .map_err(named)?,
                    );
                }
                Stage::Router(pool) => {
                    let r = pool
                        .with(|p| plugins.router(p), |r| r.route(&self.topic, flat, count))
                        .map_err(named)?;
                    routes = Some(
                        self.resolve(store, batch, &r)
                            .map_err(|e| format!("stage {:?}: {e}", stage.plugin()))?,
                    );
                }
            }
        }
        Ok((keys, routes))
    }

    /// A router's destinations as places, checked: the topic exists, the queue is one of it,
    /// and the topic is not one this pipeline covers (a routing loop).
    fn resolve(
        &self,
        store: &Store,
        batch: &Batch<'_, '_>,
        routes: &Routes,
    ) -> std::result::Result<Placement, String> {
        let mut queue_counts = Vec::with_capacity(routes.destinations.len());
        for d in &routes.destinations {
            if self.pipeline.applies_to(&d.topic) || super::is_summary_topic(&d.topic) {
                return Err(format!(
                    "it routes to {:?}, which this pipeline covers (a routing loop)",
                    d.topic
                ));
            }
            if d.topic.starts_with('%') {
                return Err(format!("it routes to the internal topic {:?}", d.topic));
            }
            let meta = store
                .topic_meta(&d.topic)
                .map_err(|_| format!("it routes to topic {:?}, which does not exist", d.topic))?;
            if let Some(q) = d.queue
                && q >= meta.queues
            {
                return Err(format!(
                    "it routes to queue {q} of {:?}, which has {} queues",
                    d.topic, meta.queues
                ));
            }
            queue_counts.push(meta.queues);
        }
        let mut p = Placement::with_capacity(routes.targets.len());
        // The place of each (destination, queue), made on first use.
        let mut place_of: HashMap<(u32, u32), u32> = HashMap::new();
        for (m, targets) in routes.targets.iter().enumerate() {
            for &t in targets {
                let d = &routes.destinations[t as usize];
                let queues = queue_counts[t as usize];
                let queue = match (&d.queue, &d.sharding_key, &batch.routes[m]) {
                    (Some(q), _, _) => *q,
                    (None, Some(k), _) => shard(k, queues),
                    // The producer's own sharding key keeps its order per key.
                    (None, None, RouteView::Key(k)) => shard(k, queues),
                    _ => {
                        (self.round_robin.fetch_add(1, Ordering::Relaxed) % u64::from(queues))
                            as u32
                    }
                };
                let place = *place_of.entry((t, queue)).or_insert_with(|| {
                    p.places.push((d.topic.clone(), queue));
                    (p.places.len() - 1) as u32
                });
                p.targets.push(place);
            }
            p.ends.push(p.targets.len());
        }
        Ok(p)
    }

    /// Writes the copies and the summary as one atomic append.
    // Long on purpose: copies, summary and their placement are one atomic append; each step
    // fills the parts the next reads, so it reads top to bottom in write order.
    fn append(
        &self,
        store: &Store,
        durability: Durability,
        now: i64,
        batch: &Batch<'_, '_>,
        plan: &Plan<'_>,
    ) -> Result<PendingRouted> {
        let Plan {
            placement,
            fates,
            hashes,
        } = plan;
        // Parts (places with records) in order of first use; each message's places in them.
        let mut parts: Vec<(&(String, u32), Vec<&RawMessage<'_>>)> = Vec::new();
        let mut part_of: Vec<Option<usize>> = vec![None; placement.places.len()];
        let mut outcomes = Vec::with_capacity(fates.len());
        let mut keys = Vec::new();
        for (i, fate) in fates.iter().enumerate() {
            let id = batch.messages[i].id;
            outcomes.push((
                id,
                match fate {
                    Fate::Store(range) => {
                        if let Some(h) = hashes[i] {
                            keys.push((h, i as u32));
                        }
                        let places = placement.targets[range.clone()]
                            .iter()
                            .map(|&place| {
                                let place = place as usize;
                                let p = *part_of[place].get_or_insert_with(|| {
                                    parts.push((&placement.places[place], Vec::new()));
                                    parts.len() - 1
                                });
                                parts[p].1.push(&batch.messages[i]);
                                (p as u16, (parts[p].1.len() - 1) as u32)
                            })
                            .collect();
                        Outcome::Stored(places)
                    }
                    Fate::Duplicate(Duplicate::Window(o)) => Outcome::Duplicate {
                        summary: o.summary,
                        index: o.index,
                    },
                    Fate::Duplicate(Duplicate::Batch(j)) => Outcome::Duplicate {
                        summary: THIS_SUMMARY,
                        index: *j as u32,
                    },
                    Fate::Dropped => Outcome::Dropped,
                },
            ));
        }
        if parts.len() > u16::MAX as usize {
            return Err(PipelineError::InvalidArgument(format!(
                "the batch goes to {} queues; at most {} are allowed",
                parts.len(),
                u16::MAX
            )));
        }
        let summary = Summary {
            parts: parts
                .iter()
                .map(|((topic, queue), records)| Part {
                    topic: topic.clone(),
                    queue: *queue,
                    first_offset: 0,
                    count: records.len() as u32,
                })
                .collect(),
            messages: outcomes,
            keys,
        };
        let (body, offsets_at) = summary.encode();
        let pipe = summary_topic(&self.topic);
        super::ensure_summary_topic(store, &pipe, durability)?;
        let summary_message = Message {
            id: MessageId::generate(now),
            born_at: now,
            body,
            ..Message::default()
        };
        let mut content = Vec::with_capacity(summary_message.body.len() + 16);
        record::encode_content(&mut content, &summary_message);
        let summary_raw = RawMessage {
            id: summary_message.id,
            born_at: now,
            tag: "",
            keys: Vec::new(),
            content: &content,
        };
        let summary_record = [&summary_raw];
        let mut atomic: Vec<AtomicPart<'_, &RawMessage<'_>>> = parts
            .iter()
            .map(|((topic, queue), records)| AtomicPart {
                topic,
                queue: *queue,
                records,
                marks: &[],
            })
            .collect();
        atomic.push(AtomicPart {
            topic: &pipe,
            queue: 0,
            records: &summary_record,
            marks: &[],
        });
        let body_len = summary_message.body.len();
        let n = parts.len();
        let fill = |appended: &[crate::storage::Appended], rec: &mut [u8]| {
            Summary::fill(rec, body_len, &offsets_at, &appended[..n]);
        };
        let pending = store.append_atomic_with(
            &atomic,
            &AtomicOptions {
                durability: None,
                producer: batch.producer,
                fill_last: Some(&fill),
            },
        )?;
        let touched: Vec<String> = parts.iter().map(|((t, _), _)| t.clone()).collect();
        let resent = pending.resent();
        let summary_offset = match resent {
            Some(_) => None,
            None => pending.last_offset(),
        };
        Ok(PendingRouted {
            pipe,
            summary: resent.is_none().then_some(summary),
            summary_offset,
            resent_at: resent.map(|a| a.first_offset),
            pending,
            topic: self.topic.clone(),
            touched,
        })
    }
}

fn shard(key: &str, queues: u32) -> u32 {
    (fnv1a64(&[key.as_bytes()]) % u64::from(queues.max(1))) as u32
}

/// A routed batch written, waiting for its durability.
pub struct PendingRouted {
    pipe: String,
    /// What was written (`None` for a resend: it is read back from the log).
    summary: Option<Summary>,
    /// Where this batch's summary is, once written (not for a resend).
    pub(super) summary_offset: Option<u64>,
    resent_at: Option<u64>,
    pending: PendingAtomic,
    topic: String,
    /// The topics written, for append notifications.
    pub touched: Vec<String>,
}

impl PendingRouted {
    /// Waits for the durability (blocking) and builds the answer.
    pub fn finish(self, store: &Store) -> Result<Response> {
        let PendingRouted {
            pipe,
            summary,
            resent_at,
            pending,
            topic,
            ..
        } = self;
        let appended = pending.wait()?;
        let (summary, duplicate) = match (summary, resent_at) {
            (Some(mut s), _) => {
                for (part, a) in s.parts.iter_mut().zip(&appended) {
                    part.first_offset = a.first_offset;
                }
                (s, false)
            }
            (None, Some(at)) => (read_summary(store, &pipe, at)?, true),
            (None, None) => {
                return Err(PipelineError::Internal(
                    "a routed batch without a summary".into(),
                ));
            }
        };
        let mut originals: HashMap<u64, Summary> = HashMap::new();
        let mut acks = Vec::with_capacity(summary.messages.len());
        let mut outcome_counts = [0u64; 3];
        for (i, (id, outcome)) in summary.messages.iter().enumerate() {
            let (outcome, id, destinations) = match outcome {
                Outcome::Stored(_) => (RouteOutcome::Stored, *id, summary.places(i)),
                Outcome::Dropped => (RouteOutcome::Dropped, *id, Vec::new()),
                Outcome::Duplicate { summary: at, index } if *at == THIS_SUMMARY => (
                    RouteOutcome::Duplicate,
                    summary.messages[*index as usize].0,
                    summary.places(*index as usize),
                ),
                Outcome::Duplicate { summary: at, index } => {
                    if !originals.contains_key(at) {
                        match read_summary(store, &pipe, *at) {
                            Ok(s) => {
                                originals.insert(*at, s);
                            }
                            Err(e) => {
                                // Retention removed the original's summary: say it is a
                                // duplicate without its places.
                                tracing::warn!(topic = %topic, error = %e,
                                    "cannot read a duplicate's original summary");
                            }
                        }
                    }
                    match originals.get(at) {
                        Some(s) => (
                            RouteOutcome::Duplicate,
                            s.messages.get(*index as usize).map_or(*id, |m| m.0),
                            s.places(*index as usize),
                        ),
                        None => (RouteOutcome::Duplicate, *id, Vec::new()),
                    }
                }
            };
            outcome_counts[outcome as usize] += 1;
            acks.push(RoutedAck {
                id,
                outcome,
                destinations: destinations
                    .into_iter()
                    .map(|(topic, queue, offset)| RoutedTo {
                        topic,
                        queue,
                        offset,
                    })
                    .collect(),
            });
        }
        if !duplicate {
            for (n, name) in outcome_counts
                .iter()
                .zip(["stored", "duplicate", "dropped"])
            {
                if *n > 0 {
                    metrics::counter!(crate::metrics::PIPELINE_MESSAGES_TOTAL,
                        "topic" => topic.clone(), "outcome" => name)
                    .increment(*n);
                }
            }
        }
        Ok(Response::Routed {
            duplicate,
            acks,
            throttle_ms: 0,
        })
    }
}

/// The summary at `offset` of a `%PIPE%` topic.
pub(super) fn read_summary(store: &Store, pipe: &str, offset: u64) -> Result<Summary> {
    let read = store.read(pipe, 0, offset, 1, usize::MAX)?;
    let m = read
        .messages
        .into_iter()
        .find(|m| m.offset == offset)
        .ok_or_else(|| PipelineError::Internal(format!("no summary at {pipe}/0/{offset}")))?;
    Summary::decode(&m.message.body)
        .map_err(|e| PipelineError::Internal(format!("the summary at {pipe}/0/{offset}: {e}")))
}
