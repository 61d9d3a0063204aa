//! [`Store`]: opening (with recovery) and topics. Appends are `append` and `atomic` (both through
//! the write seam, `write`), reads `reads`.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::checkpoint::Checkpoint;
use super::consume_queue::{ConsumeQueue, Entry};
use super::error::{Result, StorageError, io_err};
use super::housekeeping::Stop;
use super::key_index::{KeyIndex, id_run_hash, key_hash};
use super::log::{CommitLog, ReplayReport, Replayed};
use super::producers::{BatchKey, ProducerTable};
use super::skips::{Skip, Skips};
use super::timers::{self, Schedule, Settled, TimerIndex, TimerMark, TimerRef};
use super::topics::{Registry, TopicMeta, TopicName, TopicSpec};
use super::verify::{Depth, QueueCheck, QueueEnds, Recorded, check_queue};
use super::{StoreOptions, fsutil};
use crate::record::{self, Message, RecordSource};

/// Most candidates a lookup by id or key examines.
pub(super) const LOOKUP_CANDIDATES: usize = 64;

/// A topic with its open consume queues.
pub(super) struct Topic {
    pub(super) meta: TopicMeta,
    pub(super) queues: Vec<Arc<ConsumeQueue>>,
}

#[derive(Default)]
pub(super) struct Topics {
    pub(super) by_name: HashMap<TopicName, Arc<Topic>>,
    pub(super) by_id: HashMap<u32, Arc<Topic>>,
}

/// The storage engine, as handed out by [`Store::open`]: share it as `Arc<Store>`; its whole
/// API is that of [`StoreCore`]. Call [`Store::close`] for a clean shutdown. Dropping the last
/// handle without `close` stops and joins the background threads (so the data directory is
/// unlocked when the drop returns) but leaves recovery work for the next open, exactly like a
/// crash after the last checkpoint.
pub struct Store {
    core: Arc<StoreCore>,
    stop: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::ops::Deref for Store {
    type Target = StoreCore;
    fn deref(&self) -> &StoreCore {
        &self.core
    }
}

/// Everything a store is; background threads share it with the [`Store`] handle.
pub struct StoreCore {
    pub(super) opts: StoreOptions,
    pub(super) log: Arc<CommitLog>,
    pub(super) keys: KeyIndex,
    pub(super) registry: Mutex<Registry>,
    pub(super) topics: RwLock<Topics>,
    pub(super) checkpointing: Mutex<()>,
    pub(super) closed: AtomicBool,
    /// Batches of idempotent producers; changed only as appends are published (in log order).
    pub(super) producers: Mutex<ProducerTable>,
    /// Damaged records an operator chose to skip: read as holes.
    pub(super) skips: RwLock<Skips>,
    /// Pending timers of delay records.
    pub(super) timers: TimerIndex,
    /// Held for reading while a reader takes a queue's end, for writing while an atomic append
    /// indexes its records: so no reader sees part of one, in any of its queues.
    pub(super) visible: RwLock<()>,
    recovery: ReplayReport,
    _lock: File,
}

/// A message read back, with where and when it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
    pub stored_at: i64,
    pub message: Message,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatch {
    pub messages: Vec<StoredMessage>,
    /// The offset to read from next (past any holes skipped).
    pub next_offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub queue: u32,
    /// The first offset a reader can get.
    pub earliest: u64,
    /// The offset the next message will get.
    pub next: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub meta: TopicMeta,
    pub queues: Vec<QueueInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Records appended since open.
    pub records: u64,
    pub bytes: u64,
    /// `write` calls on the log.
    pub writes: u64,
    /// `fdatasync` calls on the log.
    pub data_syncs: u64,
    /// Time spent in those calls.
    pub sync_nanos: u64,
    /// Commit-log segment files.
    pub segments: u64,
    /// Bytes of commit log kept (from the oldest segment's start to the end).
    pub log_bytes: u64,
}

impl Store {
    /// Opens (or creates) a store: replays the log past the checkpoint, rebuilding consume
    /// queues and the key index, cutting a torn tail; then starts the flusher and housekeeping
    /// threads.
    pub fn open(opts: StoreOptions) -> Result<Arc<Store>> {
        let core = Arc::new(StoreCore::open(opts)?);
        let stop = Arc::new(Stop::default());
        let threads = Mutex::new(super::housekeeping::start(&core, &stop));
        Ok(Arc::new(Store {
            core,
            stop,
            threads,
        }))
    }

    /// Clean shutdown: stops the background threads, flushes everything and writes a clean
    /// checkpoint. Appends after this fail.
    /// Stops taking writes, makes the log durable and writes the clean checkpoint. On a full
    /// disk the checkpoint (derived data only) may not fit: the log is durable all the same, so
    /// that is logged and the next open recovers from the previous checkpoint.
    pub fn close(&self) -> Result<()> {
        self.core.closed.store(true, Ordering::Release);
        // Appends already reserved finish (and are in the checkpoint); later ones see `closed`.
        self.core.log.drain_reserved();
        self.stop_background();
        self.core.log.flush()?;
        match self.core.checkpoint_now(true) {
            Err(e) if e.is_disk_full() => {
                tracing::error!(error = %e, "the disk is full: no clean checkpoint was written; every acknowledged message is in the log, and the next start recovers from it");
                Ok(())
            }
            other => other,
        }
    }

    fn stop_background(&self) {
        self.stop.signal();
        self.core.log.stop_flusher();
        for t in std::mem::take(&mut *self.threads.lock()) {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_background();
    }
}

impl StoreCore {
    // Long on purpose: recovery is one ordered pass whose steps share its state (the
    // topics, the set of queues to rebuild, producers, key and timer indexes); its order is
    // what makes it correct, so it reads top to bottom.
    fn open(opts: StoreOptions) -> Result<StoreCore> {
        let dir = opts.dir.clone();
        fsutil::ensure_dir(&dir)?;
        let lock = fsutil::lock_dir(&dir)?;
        let checkpoint = Checkpoint::read(&dir)?;
        let registry = Registry::open(&dir)?;
        let log = Arc::new(CommitLog::open(&dir.join("log"), opts.segment_size)?);

        // Where indexes are known good up to, clamped to what the log really holds.
        let mut keep_below = checkpoint.map_or(0, |c| c.position).max(log.start());
        if keep_below > log.end() {
            tracing::warn!(
                checkpoint = keep_below,
                log_end = log.end(),
                "the log is shorter than the checkpoint says; re-indexing its newest segment"
            );
            keep_below = log.active_base();
        }
        let (keys, keys_from) =
            KeyIndex::open(&dir.join("index"), keep_below, opts.index_capacity)?;
        let horizon = opts.timer_horizon.as_millis() as i64;
        let (timers, timers_from) = TimerIndex::open(&dir, keep_below, horizon)?;
        let timers_from = timers_from.max(log.start());
        // What the checkpoint recorded of each queue: its length and its newest file's checksum.
        let recorded = QueueEnds::load_at(&dir, keep_below)?;
        let mut topics = Topics::default();
        for meta in registry.topics() {
            let topic = Arc::new(open_topic(&dir, meta.clone(), keep_below, &recorded)?);
            topics.by_id.insert(meta.id, topic.clone());
            topics.by_name.insert(meta.name.clone(), topic);
        }
        remove_orphan_queue_dirs(&dir, &topics)?;

        // Derived data is checked against the log; what fails is rebuilt by the replay below.
        let clean = checkpoint.is_some_and(|c| c.clean && c.position == keep_below);
        let mut rebuild = damaged_queues(&log, &topics, &recorded, !clean)?;
        let mut producers = ProducerTable::load(&dir)?;
        let skips = Skips::load(&dir)?;
        for s in skips.all() {
            let topic = topics
                .by_id
                .get(&s.topic_id)
                .map(|t| t.meta.name.to_string());
            tracing::warn!(topic = ?topic, queue = s.queue, offset = s.offset, reason = %s.reason,
                "a damaged record is skipped (lockgate storage skip); consumers pass over it");
        }
        let replay_from = keep_below.min(keys_from).max(log.start());
        // A rebuild needs every record of its queues: the whole log, once.
        let scan_from = if rebuild.is_empty() {
            replay_from.min(timers_from)
        } else {
            log.start()
        };
        let delay_topic = topics
            .by_name
            .get(&TopicName::new(timers::DELAY_TOPIC)?)
            .map(|t| t.meta.id);
        let mut failed = None;
        let mut recovery = log.replay(scan_from, keep_below, |item| {
            let (position, size, rec) = match item {
                Replayed::Record(position, size, rec) => (position, size, rec),
                Replayed::Damaged(position, size, place) => {
                    // Fenced in its queue where its place can be trusted (the queue's very next
                    // offset), so that reads stop at it rather than pass over it.
                    let Some((topic_id, queue, offset)) = place else {
                        return;
                    };
                    let rebuilding = rebuild.get(&(topic_id, queue)).map(|r| r.started);
                    if rebuilding == Some(false) || (rebuilding.is_none() && position < replay_from)
                    {
                        return;
                    }
                    if let Some(cq) = topics
                        .by_id
                        .get(&topic_id)
                        .and_then(|t| t.queues.get(queue as usize))
                        && cq.next_offset() == offset
                    {
                        cq.push_at(offset, entry_for(position, size, 0, ""));
                    }
                    return;
                }
            };
            if position >= timers_from {
                let mark = mark_of(rec, delay_topic, &topics);
                if mark != TimerMark::default() {
                    timers.apply(&mark, position, size, rec.stored_at);
                }
            }
            if let Some(topic) = topics.by_id.get(&rec.topic_id)
                && let Some(cq) = topic.queues.get(rec.queue as usize)
            {
                if let Some(r) = rebuild.get_mut(&(rec.topic_id, rec.queue))
                    && !r.started
                {
                    // The queue's first record in the log: start the queue over there.
                    r.started = true;
                    if let Err(e) = cq.reset_to(rec.queue_offset) {
                        failed.get_or_insert(e);
                    }
                }
                cq.push_at(
                    rec.queue_offset,
                    entry_for(position, size, rec.stored_at, &rec.message.tag),
                );
                if position < replay_from {
                    return; // before the checkpoint: only rebuilt queues need it
                }
                if let Some((producer, sequence)) = rec.producer {
                    producers.note(
                        BatchKey {
                            producer,
                            topic: rec.topic_id,
                            queue: rec.queue,
                            sequence,
                        },
                        rec.queue_offset,
                        rec.stored_at,
                    );
                }
            }
            if position >= replay_from {
                let (run, key_hashes) = index_hashes(rec.topic_id, &rec.message);
                keys.insert(position, size, run, key_hashes);
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        for ((topic_id, queue), r) in &rebuild {
            let cq = &topics.by_id[topic_id].queues[*queue as usize];
            if !r.started {
                // No record of it is left in the log: keep its offsets moving forward.
                cq.reset_to(r.next_at_least)?;
            } else if cq.next_offset() < r.next_at_least {
                // Offsets it gave out before are never given out again, even where their
                // records are gone from the log: they stay holes.
                tracing::error!(topic = %topics.by_id[topic_id].meta.name, queue,
                    rebuilt_to = cq.next_offset(), next = r.next_at_least,
                    "the log holds fewer records of a queue than it had given offsets; the missing ones stay holes");
                cq.push_at(r.next_at_least - 1, entry_for(0, 0, 0, ""));
            }
            tracing::warn!(topic = %topics.by_id[topic_id].meta.name, queue, next = cq.next_offset(),
                "consume queue rebuilt from the log");
            let name = topics.by_id[topic_id].meta.name.to_string();
            recovery.rebuilt_queues.push((name, *queue, r.why.clone()));
        }
        // Entries that point into segments deleted before the crash become unreachable.
        for topic in topics.by_id.values() {
            for cq in &topic.queues {
                cq.trim(log.start())?;
            }
        }
        match checkpoint {
            Some(c) if c.clean => {
                tracing::info!(records = recovery.records, "opened after a clean shutdown")
            }
            Some(_) => tracing::warn!(from = recovery.from, records = recovery.records,
                truncated = ?recovery.truncated, "recovered after an unclean shutdown"),
            None => tracing::info!(dir = %dir.display(), "created a new store"),
        }

        let store = StoreCore {
            opts,
            log,
            keys,
            registry: Mutex::new(registry),
            topics: RwLock::new(topics),
            checkpointing: Mutex::new(()),
            closed: AtomicBool::new(false),
            producers: Mutex::new(producers),
            skips: RwLock::new(skips),
            timers,
            visible: RwLock::new(()),
            recovery,
            _lock: lock,
        };
        // From here on a crash must not look like a clean shutdown. On a full disk the store
        // still opens: reads are served, writes fail (and work again once space returns).
        match store.checkpoint_now(false) {
            Err(e) if e.is_disk_full() => tracing::error!(error = %e,
                "the disk is full: serving reads; writes are refused until space returns"),
            other => other?,
        }
        Ok(store)
    }

    /// Skips a damaged record for good: consumers pass over it like a hole from now on. Only
    /// a record that does not read can be skipped; the skip is persisted and logged.
    pub fn skip_damaged(&self, topic: &str, queue: u32, offset: u64) -> Result<Skip> {
        let t = self.topic(topic)?;
        let reason = match self.read_with(
            super::ReadSpan::new(topic, queue, offset).most(1, usize::MAX),
            |_| Ok(()),
        ) {
            Err(e @ StorageError::Corrupt { .. }) => e.to_string(),
            Err(e) => return Err(e),
            Ok(_) => {
                return Err(StorageError::BadMessage {
                    index: 0,
                    reason: format!(
                        "the record of {topic:?} queue {queue} offset {offset} reads fine; only a damaged record can be skipped"
                    ),
                });
            }
        };
        let skip = Skip {
            topic_id: t.meta.id,
            queue,
            offset,
            reason,
            skipped_at: self.opts.clock.now_ms(),
        };
        self.skips.write().add(&self.opts.dir, skip.clone())?;
        tracing::warn!(topic, queue, offset, reason = %skip.reason, "damaged record skipped by the operator");
        Ok(skip)
    }

    /// Bytes one append (and so one atomic append) may take: a segment's.
    pub fn segment_capacity(&self) -> u64 {
        self.log.capacity()
    }

    /// What recovery found when this store was opened.
    pub fn recovery_report(&self) -> &ReplayReport {
        &self.recovery
    }

    pub fn stats(&self) -> StoreStats {
        let s = &self.log.stats;
        StoreStats {
            records: s.records.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
            writes: s.writes.load(Ordering::Relaxed),
            data_syncs: s.data_syncs.load(Ordering::Relaxed),
            sync_nanos: s.sync_nanos.load(Ordering::Relaxed),
            segments: self.log.segments().len() as u64,
            log_bytes: self.log.end().saturating_sub(self.log.start()),
        }
    }

    // ---- topics -------------------------------------------------------------------------

    /// Creates a topic; an existing name is an error.
    pub fn create_topic(&self, spec: &TopicSpec) -> Result<TopicMeta> {
        check_spec(spec)?;
        let mut registry = self.registry.lock();
        if self.topic_opt(&spec.name).is_some() {
            return Err(StorageError::TopicExists(spec.name.to_string()));
        }
        self.add_topic(&mut registry, spec)
    }

    /// Adds a topic that does not exist, under the registry's lock (so that no other creation
    /// comes between the look and the add).
    fn add_topic(&self, registry: &mut Registry, spec: &TopicSpec) -> Result<TopicMeta> {
        let meta = registry.add(spec, self.opts.clock.now_ms())?;
        let topic = Arc::new(open_topic(
            &self.opts.dir,
            meta.clone(),
            u64::MAX,
            &Recorded::default(),
        )?);
        let mut topics = self.topics.write();
        topics.by_id.insert(meta.id, topic.clone());
        topics.by_name.insert(meta.name.clone(), topic);
        Ok(meta)
    }

    /// Grows an existing topic to `queues` queues (online: `lockgate topic alter`); its other
    /// settings stay. Asking for as many as it has changes nothing; fewer is an error.
    pub fn grow_topic(&self, name: &str, queues: u32) -> Result<TopicMeta> {
        let name = TopicName::new(name)?;
        let mut registry = self.registry.lock();
        let existing = self
            .topic_opt(&name)
            .ok_or_else(|| StorageError::UnknownTopic(name.to_string()))?;
        let old = &existing.meta;
        let spec = TopicSpec {
            name,
            queues,
            durability: old.durability,
            retention: old.retention_ms.map(std::time::Duration::from_millis),
        };
        check_spec(&spec)?;
        self.update_topic(&mut registry, &existing, &spec)
    }

    /// Creates the topic, or brings an existing one to `spec`: durability and retention change,
    /// queues can be added (never removed).
    pub fn ensure_topic(&self, spec: &TopicSpec) -> Result<TopicMeta> {
        check_spec(spec)?;
        let mut registry = self.registry.lock();
        let Some(existing) = self.topic_opt(&spec.name) else {
            return self.add_topic(&mut registry, spec);
        };
        self.update_topic(&mut registry, &existing, spec)
    }

    /// Brings `existing` to `spec` under the registry's lock (see [`StoreCore::ensure_topic`]).
    fn update_topic(
        &self,
        registry: &mut Registry,
        existing: &Topic,
        spec: &TopicSpec,
    ) -> Result<TopicMeta> {
        let old = &existing.meta;
        if spec.queues < old.queues {
            return Err(StorageError::QueuesShrink {
                topic: spec.name.to_string(),
                existing: old.queues,
                requested: spec.queues,
            });
        }
        let meta = TopicMeta {
            queues: spec.queues,
            durability: spec.durability,
            retention_ms: spec.retention.map(|d| d.as_millis() as u64),
            ..old.clone()
        };
        if &meta == old {
            return Ok(meta);
        }
        registry.update(meta.clone())?;
        let mut queues = existing.queues.clone();
        for q in old.queues..meta.queues {
            queues.push(Arc::new(ConsumeQueue::open(
                &queue_dir(&self.opts.dir, meta.id, q),
                u64::MAX,
                None,
            )?));
        }
        let topic = Arc::new(Topic {
            meta: meta.clone(),
            queues,
        });
        let mut topics = self.topics.write();
        topics.by_id.insert(meta.id, topic.clone());
        topics.by_name.insert(meta.name.clone(), topic);
        Ok(meta)
    }

    /// Deletes a topic: it disappears at once; its records stay in the log until retention
    /// removes their segments, and are never served again.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta> {
        let name = TopicName::new(name)?;
        let mut registry = self.registry.lock();
        let meta = registry.remove(&name)?;
        {
            let mut topics = self.topics.write();
            topics.by_name.remove(&name);
            topics.by_id.remove(&meta.id);
        }
        let dir = self.opts.dir.join("queues").join(meta.id.to_string());
        std::fs::remove_dir_all(&dir).map_err(io_err("deleting queues of", &dir))?;
        Ok(meta)
    }

    pub fn list_topics(&self) -> Vec<TopicMeta> {
        let mut list: Vec<TopicMeta> = self
            .topics
            .read()
            .by_name
            .values()
            .map(|t| t.meta.clone())
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// A topic's settings (cheap; no per-queue work).
    pub fn topic_meta(&self, name: &str) -> Result<TopicMeta> {
        Ok(self.topic(name)?.meta.clone())
    }

    pub fn describe_topic(&self, name: &str) -> Result<TopicInfo> {
        let topic = self.topic(name)?;
        let queues = (0..topic.meta.queues)
            .map(|q| {
                let (earliest, next) = self.bounds(&topic, q)?;
                Ok(QueueInfo {
                    queue: q,
                    earliest,
                    next,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TopicInfo {
            meta: topic.meta.clone(),
            queues,
        })
    }

    fn topic_opt(&self, name: &TopicName) -> Option<Arc<Topic>> {
        self.topics.read().by_name.get(name).cloned()
    }

    pub(super) fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        let name = TopicName::new(name)?;
        self.topic_opt(&name)
            .ok_or_else(|| StorageError::UnknownTopic(name.to_string()))
    }

    pub(super) fn queue<'t>(&self, topic: &'t Topic, queue: u32) -> Result<&'t Arc<ConsumeQueue>> {
        topic
            .queues
            .get(queue as usize)
            .ok_or_else(|| StorageError::UnknownQueue {
                topic: topic.meta.name.to_string(),
                queue,
                queues: topic.meta.queues,
            })
    }
}

fn check_spec(spec: &TopicSpec) -> Result<()> {
    let max = super::topics::MAX_QUEUES;
    if spec.queues == 0 || spec.queues > max {
        return Err(StorageError::InvalidTopic {
            topic: spec.name.to_string(),
            reason: format!("{} queues is out of range (1 to {max})", spec.queues),
        });
    }
    Ok(())
}

pub(super) fn queue_dir(dir: &Path, topic_id: u32, queue: u32) -> PathBuf {
    dir.join("queues")
        .join(topic_id.to_string())
        .join(queue.to_string())
}

fn open_topic(dir: &Path, meta: TopicMeta, keep_below: u64, recorded: &Recorded) -> Result<Topic> {
    let queues = (0..meta.queues)
        .map(|q| {
            let sum = recorded.sums.get(&(meta.id, q)).copied();
            ConsumeQueue::open(&queue_dir(dir, meta.id, q), keep_below, sum).map(Arc::new)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Topic { meta, queues })
}

/// Queue directories of topics no longer in the registry (a delete cut short by a crash).
fn remove_orphan_queue_dirs(dir: &Path, topics: &Topics) -> Result<()> {
    let queues = dir.join("queues");
    fsutil::ensure_dir(&queues)?;
    for entry in std::fs::read_dir(&queues).map_err(io_err("listing", &queues))? {
        let path = entry.map_err(io_err("listing", &queues))?.path();
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok());
        if id.is_some_and(|id| !topics.by_id.contains_key(&id)) {
            std::fs::remove_dir_all(&path).map_err(io_err("deleting queues of", &path))?;
        }
    }
    Ok(())
}

pub(super) fn entry_for(position: u64, size: u32, stored_at: i64, tag: &str) -> Entry {
    Entry {
        position,
        size,
        tag_hash: record::tag_hash(tag),
        stored_at,
    }
}

/// What a replayed record does to the timer index (see `timers`): a delay record schedules a
/// timer; the one record that names a timer in its properties settles it. Only a copy in the
/// timer's own topic, or a record of the delay topic, settles: a dead-letter copy of a delivered
/// message carries the property too.
fn mark_of(rec: &record::Record, delay_topic: Option<u32>, topics: &Topics) -> TimerMark {
    let props = &rec.message.properties;
    let in_delay = Some(rec.topic_id) == delay_topic;
    let cancel = in_delay && props.contains_key(timers::PROP_CANCEL);
    let settles = props
        .get(timers::PROP_REF)
        .and_then(|p| TimerRef::parse(p))
        .filter(|r| in_delay || r.topic_id == rec.topic_id)
        .map(|r| {
            let kind = match (in_delay, cancel) {
                (false, _) => Settled::Fired,
                (true, true) => Settled::Cancelled,
                (true, false) => Settled::Moved,
            };
            (r, kind)
        });
    let schedule = (in_delay && !cancel)
        .then(|| {
            let due = props.get(timers::PROP_DELIVER_AT)?.parse().ok()?;
            let name = TopicName::new(props.get(timers::PROP_TOPIC)?).ok()?;
            let topic_id = topics.by_name.get(&name).map_or(u32::MAX, |t| t.meta.id);
            let queue = props.get(timers::PROP_QUEUE)?.parse().ok()?;
            Some(Schedule {
                due,
                topic_id,
                queue,
            })
        })
        .flatten();
    TimerMark { schedule, settles }
}

/// What a record is indexed under: its id's run (see `key_index`) and its keys.
pub(super) fn index_hashes<M: RecordSource>(
    topic_id: u32,
    m: &M,
) -> (u64, impl Iterator<Item = u64> + '_) {
    (
        id_run_hash(topic_id, &m.id()),
        m.keys().map(move |k| key_hash(topic_id, k)),
    )
}

/// A consume queue being rebuilt from the log.
struct Rebuild {
    /// Whether the replay reached its first record yet.
    started: bool,
    /// Its next offset must not fall below this (offsets are never given out twice).
    next_at_least: u64,
    /// What was wrong with it.
    why: String,
}

/// Every queue whose index fails its check (see `verify`), each logged with the reason.
fn damaged_queues(
    log: &CommitLog,
    topics: &Topics,
    recorded: &Recorded,
    unclean: bool,
) -> Result<HashMap<(u32, u32), Rebuild>> {
    let mut out = HashMap::new();
    for topic in topics.by_id.values() {
        for (q, cq) in topic.queues.iter().enumerate() {
            let key = (topic.meta.id, q as u32);
            let check = QueueCheck {
                log,
                topic_id: key.0,
                queue: key.1,
                expected_next: recorded.ends.get(&key).copied(),
                depth: Depth::Open {
                    unvouched: unclean && !cq.sum_checked(),
                },
            };
            if let Some(why) = check_queue(cq, &check)? {
                tracing::error!(topic = %topic.meta.name, queue = q, problem = %why,
                    "consume queue is damaged; rebuilding it from the log");
                let next_at_least = cq.held().1.max(check.expected_next.unwrap_or(0));
                out.insert(
                    key,
                    Rebuild {
                        started: false,
                        next_at_least,
                        why,
                    },
                );
            }
        }
    }
    Ok(out)
}
