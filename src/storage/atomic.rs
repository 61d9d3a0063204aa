//! Atomic multi-destination appends: records for several (topic, queue) destinations written
//! as one log write, all stored or none, all visible at once or none.
//!
//! - **In the log**: every record but the last carries the "continued" flag (see `record`);
//!   recovery keeps the run only when its last record is there, so a crash during the write
//!   leaves nothing of it.
//! - **To readers**: the records are indexed while the store's visibility lock is held for
//!   writing, and readers take a queue's end under the same lock for reading, so a reader of
//!   any of the destinations sees all of the append or nothing of it — across queues and
//!   topics too.
//!
//! A transaction's commit (its messages' copies plus the commit record) and a routed fan-out
//! are such appends. Producer stamps are not written: callers that must recognize a resend do
//! it themselves (a transaction's outcome is recorded once).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::error::{Result, StorageError};
use super::record::{self, RecordSource};
use super::store::{Appended, PendingAppend, StoreCore, entry_for, index_hashes};
use super::timers::TimerMark;
use super::topics::Durability;

/// One destination's share of an atomic append.
pub struct AtomicPart<'a, M> {
    pub topic: &'a str,
    pub queue: u32,
    pub records: &'a [M],
    /// What each record does to the timer index (empty: nothing; else one per record).
    pub marks: &'a [TimerMark],
}

/// An atomic append written to the log; acknowledge after [`PendingAtomic::wait`].
#[must_use = "an append is acknowledged only after `wait`"]
pub struct PendingAtomic {
    pending: PendingAppend,
    parts: Vec<Appended>,
}

impl PendingAtomic {
    /// Blocks until the append's durability is met; returns each part's offsets, in order.
    pub fn wait(self) -> Result<Vec<Appended>> {
        self.pending.wait()?;
        Ok(self.parts)
    }
}

impl StoreCore {
    /// Appends `parts` atomically (see the module docs). Durability is the strictest of the
    /// parts' topics unless `durability` says otherwise. Two parts may name the same queue:
    /// their records follow each other in part order.
    pub fn append_atomic<M: RecordSource>(
        &self,
        parts: &[AtomicPart<'_, M>],
        durability: Option<Durability>,
    ) -> Result<PendingAtomic> {
        if parts.iter().all(|p| p.records.is_empty()) {
            return Err(StorageError::EmptyBatch);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::WritesFenced("the store is closed".into()));
        }
        let mut buf = Vec::new();
        let mut encoded = Vec::with_capacity(parts.len());
        let mut sync = durability == Some(Durability::Sync);
        for part in parts {
            if !part.marks.is_empty() && part.marks.len() != part.records.len() {
                return Err(StorageError::BadMessage {
                    index: 0,
                    reason: format!(
                        "{} timer marks for {} messages",
                        part.marks.len(),
                        part.records.len()
                    ),
                });
            }
            let topic = self.topic(part.topic)?;
            self.queue(&topic, part.queue)?;
            if durability.is_none() && topic.meta.durability == Durability::Sync {
                sync = true;
            }
            let (bytes, ranges) = self.encode_batch(&topic, part.queue, part.records, None)?;
            let base = buf.len();
            buf.extend_from_slice(&bytes);
            let ranges: Vec<_> = ranges
                .into_iter()
                .map(|r| r.start + base..r.end + base)
                .collect();
            encoded.push((topic, ranges));
        }
        if buf.len() as u64 > self.log.capacity() {
            return Err(StorageError::BadMessage {
                index: 0,
                reason: format!(
                    "the atomic append is {} bytes encoded; it must fit in a segment ({} bytes)",
                    buf.len(),
                    self.log.capacity()
                ),
            });
        }
        let last = encoded
            .iter()
            .rev()
            .find_map(|(_, ranges)| ranges.last().cloned())
            .expect("a part has records");
        for (_, ranges) in &encoded {
            for r in ranges {
                if *r != last {
                    record::set_continued(&mut buf[r.clone()]);
                }
            }
        }
        let now = self.opts.clock.now_ms();
        let mut appended = Vec::with_capacity(parts.len());
        let end = {
            let mut w = self.log.lock_writer();
            let stored_at = self.log.next_stored_at(&mut w, now);
            // Offsets first (a queue named twice continues where its earlier part ended).
            let mut next: HashMap<(u32, u32), u64> = HashMap::new();
            for (part, (topic, ranges)) in parts.iter().zip(&encoded) {
                let cq = self.queue(topic, part.queue)?;
                let first = *next
                    .entry((topic.meta.id, part.queue))
                    .or_insert_with(|| cq.next_offset());
                for (i, r) in ranges.iter().enumerate() {
                    record::seal(&mut buf[r.clone()], first + i as u64, stored_at);
                }
                next.insert((topic.meta.id, part.queue), first + ranges.len() as u64);
                appended.push(Appended {
                    queue: part.queue,
                    first_offset: first,
                    count: ranges.len() as u32,
                    stored_at,
                });
            }
            let start = self.log.append(&mut w, &buf)?;
            let _visible = self.visible.write().expect("visibility lock");
            for (part, (topic, ranges)) in parts.iter().zip(&encoded) {
                let cq = self.queue(topic, part.queue)?;
                for (i, (r, m)) in ranges.iter().zip(part.records).enumerate() {
                    let position = start + r.start as u64;
                    let size = r.len() as u32;
                    cq.push(entry_for(position, size, stored_at, m.tag()));
                    self.keys
                        .insert(position, size, index_hashes(topic.meta.id, m));
                    if let Some(mark) = part.marks.get(i) {
                        self.timers.apply(mark, position, size, stored_at);
                    }
                }
            }
            start + buf.len() as u64
        };
        let records: usize = parts.iter().map(|p| p.records.len()).sum();
        self.log
            .stats
            .records
            .fetch_add(records as u64, Ordering::Relaxed);
        Ok(PendingAtomic {
            pending: PendingAppend::written(self.log.clone(), sync.then_some(end), appended[0]),
            parts: appended,
        })
    }
}
