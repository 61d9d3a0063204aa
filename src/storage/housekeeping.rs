//! Background work of a [`Store`]: the log flusher thread, and a housekeeping thread that writes
//! in-memory index entries out, advances the checkpoint and applies retention. Also the clean
//! shutdown.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::checkpoint::Checkpoint;
use super::error::Result;
use super::store::StoreCore;

/// A stop signal the housekeeping thread waits on.
#[derive(Default)]
pub(super) struct Stop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub(super) fn signal(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }

    /// Waits up to `timeout`; true when stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        self.cv.wait_while_for(&mut stopped, |s| !*s, timeout);
        *stopped
    }
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    pub segments_deleted: u32,
    pub bytes_deleted: u64,
}

/// Starts the flusher and housekeeping threads of `core`; they run until `stop` is signalled
/// and the log's flusher is stopped.
pub(super) fn start(core: &Arc<StoreCore>, stop: &Arc<Stop>) -> Vec<JoinHandle<()>> {
    let log = core.log.clone();
    let interval = core.opts.flush_interval;
    let flusher = std::thread::Builder::new()
        .name("lockgate-flusher".into())
        .spawn(move || log.run_flusher(interval))
        .expect("spawn flusher thread");
    let (core, stop) = (core.clone(), stop.clone());
    let housekeeping = std::thread::Builder::new()
        .name("lockgate-housekeeping".into())
        .spawn(move || housekeeping_loop(&core, &stop))
        .expect("spawn housekeeping thread");
    vec![flusher, housekeeping]
}

impl StoreCore {
    /// Writes every in-memory consume-queue entry to its file (without syncing).
    pub(super) fn flush_queues(&self) -> Result<()> {
        for cq in self.all_queues() {
            cq.flush()?;
        }
        self.timers.flush()
    }

    /// `(topic id, queue, next offset)` of every queue.
    fn queue_ends(&self) -> Vec<(u32, u32, u64)> {
        self.queues_by_place()
            .into_iter()
            .map(|((topic, queue), cq)| (topic, queue, cq.next_offset()))
            .collect()
    }

    fn all_queues(&self) -> Vec<Arc<super::consume_queue::ConsumeQueue>> {
        self.queues_by_place()
            .into_iter()
            .map(|(_, cq)| cq)
            .collect()
    }

    fn queues_by_place(&self) -> Vec<((u32, u32), Arc<super::consume_queue::ConsumeQueue>)> {
        let topics = self.topics.read();
        topics
            .by_id
            .values()
            .flat_map(|t| {
                let id = t.meta.id;
                t.queues
                    .iter()
                    .enumerate()
                    .map(move |(q, cq)| ((id, q as u32), cq.clone()))
            })
            .collect()
    }

    /// Makes all indexes durable up to the current end of the log and records that position,
    /// so the next open replays only what comes after it.
    pub fn checkpoint(&self) -> Result<()> {
        self.checkpoint_now(false)
    }

    pub(super) fn checkpoint_now(&self, clean: bool) -> Result<()> {
        let _one = self.checkpointing.lock();
        // Every record before `position` has its index entries (appends are indexed as they
        // pass the log's publishing turnstile, and none passes while we look), so once those
        // are durable the checkpoint may say so.
        // The producer table is taken at the same log position as the checkpoint.
        // So are the queues' next offsets, which the next open checks the queues against.
        let (position, producers, ends, timer_counts) = {
            let published = self.log.published();
            (
                published.end,
                self.producers.lock().clone(),
                self.queue_ends(),
                self.timers.snapshot(),
            )
        };
        self.log.flush()?;
        // What is synced of each queue's newest file, checked against at the next open.
        let mut sums = Vec::new();
        for ((topic, queue), cq) in self.queues_by_place() {
            if let Some(sum) = cq.make_durable()? {
                sums.push((topic, queue, sum));
            }
        }
        self.keys.checkpoint()?;
        producers.save(&self.opts.dir, position)?;
        super::verify::QueueEnds::new(position, ends, sums).save(&self.opts.dir)?;
        // The timers are on disk before the checkpoint says no replay is needed up to here.
        self.timers.checkpoint(position, timer_counts)?;
        Checkpoint {
            position,
            clean,
            written_at: self.opts.clock.now_ms(),
        }
        .write(&self.opts.dir)?;
        // Only now may settled buckets go: no replay from an earlier checkpoint needs them.
        self.timers.remove_finished()
    }

    /// Deletes whole sealed segments, oldest first, while the oldest is past the retention age
    /// or the log is over its size limit; never the active segment. Index files that only point
    /// into deleted segments go with them.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        loop {
            let segments = self.log.segments();
            let [oldest, _, ..] = segments.as_slice() else {
                break;
            };
            let total = self.log.end() - self.log.start();
            let too_old = self.opts.retention.is_some_and(|r| {
                oldest.max_stored_at() < now_ms.saturating_sub(r.as_millis() as i64)
            });
            let too_big = self.opts.retention_size.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                break;
            }
            // A segment that may hold a pending delay record stays until the record is
            // delivered or written again (within the timer horizon).
            if let Some(needed) = self.timers.oldest_needed()
                && oldest.max_stored_at() >= needed
            {
                tracing::debug!(file = %oldest.path.display(), "retention waits for pending delay records");
                break;
            }
            match self.log.delete_oldest()? {
                Some(range) => {
                    tracing::info!(file = %oldest.path.display(), reason = if too_old { "age" } else { "size" },
                        "retention deleted a segment");
                    report.segments_deleted += 1;
                    report.bytes_deleted += range.end - range.start;
                }
                None => break,
            }
        }
        if report.segments_deleted > 0 {
            let start = self.log.start();
            for cq in self.all_queues() {
                cq.trim(start)?;
            }
            self.keys.trim(start)?;
        }
        Ok(report)
    }
}

fn housekeeping_loop(s: &StoreCore, stop: &Stop) {
    let tick = s.opts.flush_interval;
    let checkpoint_every = s.opts.checkpoint_interval;
    let retention_every = checkpoint_every.min(Duration::from_secs(60));
    let mut last_checkpoint = Instant::now();
    let mut last_retention = Instant::now();
    while !stop.wait(tick) {
        if let Err(e) = s.flush_queues() {
            crate::error_limited!("queue flush", error = %e, "writing consume-queue entries failed");
        }
        if let Err(e) = s.keys.write_frozen() {
            crate::error_limited!("key index write", error = %e, "writing a full key-index table failed; it stays in memory");
        }
        if last_checkpoint.elapsed() >= checkpoint_every {
            last_checkpoint = Instant::now();
            let cutoff = s
                .opts
                .clock
                .now_ms()
                .saturating_sub(super::producers::EXPIRY.as_millis() as i64);
            let forgotten = s.producers.lock().expire(
                cutoff,
                super::producers::MAX_ENTRIES,
                super::producers::MAX_BATCHES,
            );
            if forgotten > 0 {
                tracing::info!(
                    forgotten,
                    "idempotent producers forgotten early: the producer table is full"
                );
            }
            if let Err(e) = s.checkpoint_now(false) {
                crate::error_limited!("checkpoint", error = %e, "checkpoint failed");
            }
        }
        if last_retention.elapsed() >= retention_every {
            last_retention = Instant::now();
            if let Err(e) = s.enforce_retention(s.opts.clock.now_ms()) {
                crate::error_limited!("retention", error = %e, "retention failed");
            }
        }
    }
}
