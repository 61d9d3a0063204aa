//! The write seam: the one place where records reach the commit log. Every append — a plain
//! batch ([`StoreCore::append_with`]), an atomic one ([`StoreCore::append_atomic_with`]), the
//! broker's internal topics through either — is encoded by its caller and handed here as a
//! [`Write`], which:
//!
//! 1. under the log's write lock, recognizes an idempotent producer's resend (nothing is
//!    written; the original's offsets are answered);
//! 2. gives every part its offsets and the write its store time, seals the records (the
//!    last one after [`Write::fill_last`] may have named the others' offsets), and writes
//!    them to the log in one `write`;
//! 3. indexes them (consume queues, key index, timer index, producer table) before the lock
//!    is released, so queue order is log order.
//!
//! **Appended** means steps 1–3 are done: the records have log positions and queue offsets
//! and readers see them. **Durable** means the write's durability is met: for `sync`, the
//! log is on disk up to the write's end ([`PendingAppend::wait`]); for `async`, at once (the
//! flusher writes it within `flush_interval`). Callers acknowledge only after durable. A
//! replicated log puts its quorum behind these two words and nothing else changes above.
//!
//! It also refuses every write once the store is closed, and timer marks that do not match
//! their records one for one. Not here: encoding and per-message limits
//! (`StoreCore::encode_batch`), topic lookup and the choice of durability (the two append
//! calls), reads.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::append::{Appended, PendingAppend};
use super::atomic::FillLast;
use super::error::{Result, StorageError};
use super::producers::BatchKey;
use super::store::{StoreCore, Topic, entry_for, index_hashes};
use super::timers::TimerMark;
use crate::record::{self, RecordSource};

/// One destination's share of a write: its records, already encoded into [`Write::buf`].
pub(super) struct Part<'a, M> {
    pub topic: Arc<Topic>,
    pub queue: u32,
    pub records: &'a [M],
    /// Where each record is in the write's buffer.
    pub ranges: Vec<Range<usize>>,
    /// What each record does to the timer index (empty: nothing; else one per record).
    pub marks: &'a [TimerMark],
}

/// A write to the commit log: encoded records for one or more destinations, stored whole
/// or not at all.
pub(super) struct Write<'a, 'f, M> {
    pub buf: Vec<u8>,
    /// Borrowed, so a plain append (one part) allocates no list for it.
    pub parts: &'f [Part<'a, M>],
    /// An idempotent producer's batch `(id, sequence)`; its records (the last part's) carry
    /// the stamp already.
    pub producer: Option<(u64, u64)>,
    /// Durable only once on disk.
    pub sync: bool,
    /// Put the records in the key index (lookups by id and key).
    pub indexed: bool,
    /// Index every part under the visibility lock, so a reader of any of its queues sees all
    /// of the write or none of it (atomic appends).
    pub together: bool,
    pub fill_last: Option<FillLast<'f>>,
}

/// An appended write: its durability to wait for, and, for a write made `together` (an atomic
/// append), each part's offsets (none for a resend). A plain append's one part is the
/// pending append's own, and is not listed again (so it allocates no list).
pub(super) struct Written {
    pub pending: PendingAppend,
    pub parts: Vec<Appended>,
}

impl StoreCore {
    /// Appends `w` to the log (see the module docs): the only caller of the log's `append`.
    // Long on purpose: the write seam's steps (checks, encode, place, index, mark, wait
    // policy) run under one lock in this order; kept in one body so the order is the code.
    pub(super) fn write<M: RecordSource>(&self, w: Write<'_, '_, M>) -> Result<Written> {
        let Write {
            mut buf,
            parts,
            producer,
            sync,
            indexed,
            together,
            fill_last,
        } = w;
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::WritesFenced("the store is closed".into()));
        }
        if let Some(p) = parts
            .iter()
            .find(|p| !p.marks.is_empty() && p.marks.len() != p.records.len())
        {
            return Err(StorageError::BadMessage {
                index: 0,
                reason: format!(
                    "{} timer marks for {} messages",
                    p.marks.len(),
                    p.records.len()
                ),
            });
        }
        let Some(last) = parts.iter().rev().find_map(|p| p.ranges.last().cloned()) else {
            return Err(StorageError::EmptyBatch);
        };
        // All stored or none (a kill can cut a write short): every record but the last says
        // more follow, and recovery keeps only whole runs.
        for r in parts.iter().flat_map(|p| &p.ranges) {
            if *r != last {
                record::set_continued(&mut buf[r.clone()]);
            }
        }
        let last_part = parts.last().expect("a write has parts");
        let now = self.opts.clock.now_ms();
        // Each part's offsets: the one part's in `single`, more in `many` (no allocation for a
        // plain append, the hot path).
        let mut single: Option<Appended> = None;
        let mut many: Vec<Appended> = Vec::new();
        let end = {
            let mut lock = self.log.lock_writer();
            if let Some(original) = self.recognize(
                &last_part.topic,
                last_part.queue,
                last_part.records.len(),
                producer,
            )? {
                // Answer once the original is as durable as this write asks.
                let end = self.log.end_locked(&lock);
                drop(lock);
                return Ok(Written {
                    pending: PendingAppend::resent(self.log.clone(), sync.then_some(end), original),
                    parts: Vec::new(),
                });
            }
            let stored_at = self.log.next_stored_at(&mut lock, now);
            // Offsets first (a queue named twice continues where its earlier part ended).
            let mut last_offset = 0;
            for (n, part) in parts.iter().enumerate() {
                let same = |p: &Part<'_, M>| {
                    p.topic.meta.id == part.topic.meta.id && p.queue == part.queue
                };
                let first = match parts[..n].iter().rposition(same) {
                    Some(k) => many[k].first_offset + u64::from(many[k].count),
                    None => self.queue(&part.topic, part.queue)?.next_offset(),
                };
                for (i, r) in part.ranges.iter().enumerate() {
                    if *r == last {
                        last_offset = first + i as u64;
                    } else {
                        record::seal(&mut buf[r.clone()], first + i as u64, stored_at);
                    }
                }
                let a = Appended {
                    queue: part.queue,
                    first_offset: first,
                    count: part.ranges.len() as u32,
                    stored_at,
                };
                if parts.len() == 1 {
                    single = Some(a);
                } else {
                    many.push(a);
                }
            }
            let appended: &[Appended] = match &single {
                Some(a) => std::slice::from_ref(a),
                None => &many,
            };
            // The last record last: it may name the others' offsets.
            if let Some(fill) = fill_last {
                fill(appended, &mut buf[last.clone()]);
            }
            record::seal(&mut buf[last.clone()], last_offset, stored_at);
            let start = self.log.append(&mut lock, &buf)?;
            // Index under the write lock, so queue order is log order and a checkpoint taken at
            // any log position finds every record before it indexed.
            let _visible = together.then(|| self.visible.write());
            // One lock of each index per part, not per record.
            for part in parts {
                let placed = || {
                    let records = part.ranges.iter().zip(part.records);
                    records.map(|(r, m)| (start + r.start as u64, r.len() as u32, m))
                };
                let cq = self.queue(&part.topic, part.queue)?;
                cq.push_all(placed().map(|(p, size, m)| entry_for(p, size, stored_at, m.tag())));
                if indexed {
                    let id = part.topic.meta.id;
                    self.keys.insert_all(placed().map(|(p, size, m)| {
                        let (run, keys) = index_hashes(id, m);
                        (p, size, run, keys)
                    }));
                }
                for (mark, (position, size, _)) in part.marks.iter().zip(placed()) {
                    self.timers.apply(mark, position, size, stored_at);
                }
            }
            if let Some((id, sequence)) = producer {
                let a = appended.last().expect("a write has parts");
                self.producers.lock().note_batch(
                    BatchKey {
                        producer: id,
                        topic: last_part.topic.meta.id,
                        queue: last_part.queue,
                        sequence,
                    },
                    a.first_offset,
                    a.count,
                    stored_at,
                );
            }
            start + buf.len() as u64
        };
        let records: usize = parts.iter().map(|p| p.ranges.len()).sum();
        self.log
            .stats
            .records
            .fetch_add(records as u64, Ordering::Relaxed);
        let first = single.unwrap_or_else(|| many[0]);
        Ok(Written {
            pending: PendingAppend::written(self.log.clone(), sync.then_some(end), first),
            parts: match single {
                Some(a) if together => vec![a],
                _ => many,
            },
        })
    }
}
