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

use super::append::{Appended, PendingAppend};
use super::error::{Result, StorageError};
use super::store::StoreCore;
use super::timers::TimerMark;
use super::topics::Durability;
use super::write::{Part, Write};
use crate::record::RecordSource;

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
        let mut buf = Vec::new();
        let mut encoded = Vec::with_capacity(parts.len());
        let mut sync = durability == Some(Durability::Sync);
        for (n, part) in parts.iter().enumerate() {
            let stamp = if n + 1 == parts.len() {
                opts.producer
            } else {
                None
            };
            let topic = self.topic(part.topic)?;
            self.queue(&topic, part.queue)?;
            if durability.is_none() && topic.meta.durability == Durability::Sync {
                sync = true;
            }
            let (bytes, ranges) = self.encode_batch(&topic, part.queue, part.records, stamp)?;
            let base = buf.len();
            buf.extend_from_slice(&bytes);
            encoded.push(Part {
                topic,
                queue: part.queue,
                records: part.records,
                ranges: ranges
                    .into_iter()
                    .map(|r| r.start + base..r.end + base)
                    .collect(),
                marks: part.marks,
            });
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
        let written = self.write(Write {
            buf,
            parts: &encoded,
            producer: opts.producer,
            sync,
            indexed: true,
            together: true,
            fill_last: opts.fill_last,
        })?;
        Ok(PendingAtomic {
            pending: written.pending,
            parts: written.parts,
        })
    }
}
