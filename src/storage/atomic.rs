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
//! are such appends. An idempotent producer's stamp goes on the last part only
//! ([`AtomicOptions::producer`]): a resend is recognized by that part's queue, and nothing is
//! written for it. [`AtomicOptions::fill_last`] lets the last record name the offsets the
//! others were given (a routed batch's summary record does).

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::error::{Result, StorageError};
use super::store::{Appended, PendingAppend, StoreCore, entry_for, index_hashes};
use super::timers::TimerMark;
use super::topics::Durability;
use crate::record::{self, RecordSource};

/// One destination's share of an atomic append.
pub struct AtomicPart<'a, M> {
    pub topic: &'a str,
    pub queue: u32,
    pub records: &'a [M],
    /// What each record does to the timer index (empty: nothing; else one per record).
    pub marks: &'a [TimerMark],
}

/// Fills the last record's bytes (it is sealed after) once every part has its offsets.
pub type FillLast<'a> = &'a dyn Fn(&[Appended], &mut [u8]);

/// How an atomic append is made.
#[derive(Default)]
pub struct AtomicOptions<'a> {
    /// Durability other than the strictest of the parts' topics.
    pub durability: Option<Durability>,
    /// An idempotent producer's batch `(id, sequence)`, stamped on the last part's records.
    pub producer: Option<(u64, u64)>,
    /// Called with every part's offsets and the last record's bytes before it is sealed: the
    /// record may carry them. It must not change the record's length.
    pub fill_last: Option<FillLast<'a>>,
}

/// An atomic append written to the log; acknowledge after [`PendingAtomic::wait`].
#[must_use = "an append is acknowledged only after `wait`"]
pub struct PendingAtomic {
    pending: PendingAppend,
    parts: Vec<Appended>,
}

impl PendingAtomic {
    /// For a resend of a producer's batch stored before: where its last part is (nothing was
    /// written; the other parts' offsets are whatever that part's record says).
    pub fn resent(&self) -> Option<Appended> {
        self.pending.is_duplicate().then(|| self.pending.appended())
    }

    /// The offset of the last record written (none for a resend).
    pub fn last_offset(&self) -> Option<u64> {
        let last = self.parts.last()?;
        Some(last.first_offset + u64::from(last.count) - 1)
    }

    /// Blocks until the append's durability is met; returns each part's offsets, in order
    /// (empty for a resend).
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
        self.append_atomic_with(
            parts,
            &AtomicOptions {
                durability,
                ..AtomicOptions::default()
            },
        )
    }

    /// [`StoreCore::append_atomic`] with a producer stamp and a fill hook ([`AtomicOptions`]).
    pub fn append_atomic_with<M: RecordSource>(
        &self,
        parts: &[AtomicPart<'_, M>],
        opts: &AtomicOptions<'_>,
    ) -> Result<PendingAtomic> {
        let durability = opts.durability;
        if parts.iter().all(|p| p.records.is_empty()) {
            return Err(StorageError::EmptyBatch);
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::WritesFenced("the store is closed".into()));
        }
        let mut buf = Vec::new();
        let mut encoded = Vec::with_capacity(parts.len());
        let mut sync = durability == Some(Durability::Sync);
        for (n, part) in parts.iter().enumerate() {
            let stamp = if n + 1 == parts.len() {
                opts.producer
            } else {
                None
            };
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
            let (bytes, ranges) = self.encode_batch(&topic, part.queue, part.records, stamp)?;
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
            if let (Some(producer), Some(last_part), Some((last_topic, _))) =
                (opts.producer, parts.last(), encoded.last())
                && let Some(original) = self.recognize(
                    last_topic,
                    last_part.queue,
                    last_part.records.len(),
                    Some(producer),
                )?
            {
                let end = self.log.end_locked(&w);
                drop(w);
                return Ok(PendingAtomic {
                    pending: PendingAppend::resent(self.log.clone(), sync.then_some(end), original),
                    parts: Vec::new(),
                });
            }
            let stored_at = self.log.next_stored_at(&mut w, now);
            // Offsets first (a queue named twice continues where its earlier part ended).
            let mut next: HashMap<(u32, u32), u64> = HashMap::new();
            for (part, (topic, ranges)) in parts.iter().zip(&encoded) {
                let cq = self.queue(topic, part.queue)?;
                let first = *next
                    .entry((topic.meta.id, part.queue))
                    .or_insert_with(|| cq.next_offset());
                for (i, r) in ranges.iter().enumerate() {
                    if *r != last {
                        record::seal(&mut buf[r.clone()], first + i as u64, stored_at);
                    }
                }
                next.insert((topic.meta.id, part.queue), first + ranges.len() as u64);
                appended.push(Appended {
                    queue: part.queue,
                    first_offset: first,
                    count: ranges.len() as u32,
                    stored_at,
                });
            }
            // The last record last: it may name the others' offsets.
            let last_appended = appended.last().expect("a part has records");
            let last_offset = last_appended.first_offset + u64::from(last_appended.count) - 1;
            if let Some(fill) = opts.fill_last {
                fill(&appended, &mut buf[last.clone()]);
            }
            record::seal(&mut buf[last.clone()], last_offset, stored_at);
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
            if let (Some((id, sequence)), Some(part), Some((topic, _)), Some(a)) =
                (opts.producer, parts.last(), encoded.last(), appended.last())
            {
                self.producers
                    .lock()
                    .expect("producer table lock")
                    .note_batch(
                        super::producers::BatchKey {
                            producer: id,
                            topic: topic.meta.id,
                            queue: part.queue,
                            sequence,
                        },
                        a.first_offset,
                        a.count,
                        stored_at,
                    );
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
