//! The write seam: the one place where records reach the commit log. Every append — a plain
//! batch ([`StoreCore::append_with`]), an atomic one ([`StoreCore::append_atomic_with`]), the
//! broker's internal topics through either — is encoded by its caller and handed here as a
//! [`Write`], which:
//!
//! 1. **reserves**, under the log's write lock (held for nothing else): recognizes an
//!    idempotent producer's resend (nothing is written; the original's offsets are answered,
//!    once it is published if it is still in flight), gives every part its offsets (after
//!    the appends in flight to the same queue) and the write its store time, and takes its
//!    stretch of the log and a ticket;
//! 2. **writes**, outside the lock: seals the records (the last one after
//!    [`Write::fill_last`] may have named the others' offsets) and writes them in one
//!    `pwrite` when the ticket's turn comes (appends reach the file in ticket order);
//! 3. **publishes**, in ticket order: indexes them (consume queues, key index, timer index,
//!    producer table), so queue order is log order.
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
        let batch = producer.map(|(id, sequence)| BatchKey {
            producer: id,
            topic: last_part.topic.meta.id,
            queue: last_part.queue,
            sequence,
        });
        // Each part's offsets: the one part's in `single`, more in `many` (no allocation for a
        // plain append, the hot path).
        let mut single: Option<Appended> = None;
        let mut many: Vec<Appended> = Vec::new();
        // 1. Reserve, under the write lock: offsets, store time, log position, ticket.
        let (mut r, stored_at) = loop {
            let mut lock = self.log.lock_writer();
            // Checked again under the lock: `close` drains what is reserved behind it.
            if self.closed.load(Ordering::Acquire) {
                return Err(StorageError::WritesFenced("the store is closed".into()));
            }
            self.log.make_room(&mut lock, buf.len() as u64)?;
            let published = self.log.next_unpublished();
            lock.batches.retain(|(_, t)| *t >= published);
            if let Some(key) = batch {
                // The original of this resend is in flight: answer from the table once it
                // is published.
                if let Some(&(_, t)) = lock.batches.iter().find(|(b, _)| *b == key) {
                    drop(lock);
                    self.log.wait_published(t);
                    continue;
                }
            }
            if let Some(original) = self.recognize(
                &last_part.topic,
                last_part.queue,
                last_part.records.len(),
                producer,
            )? {
                drop(lock);
                // Answer once the original (published, so before this end) is as durable as
                // this write asks.
                let end = self.log.published().end;
                return Ok(Written {
                    pending: PendingAppend::resent(self.log.clone(), sync.then_some(end), original),
                    parts: Vec::new(),
                });
            }
            let stored_at = self.log.next_stored_at(&mut lock, now);
            // Offsets first (a queue named twice continues where its earlier part ended; one
            // with appends in flight, where the last of them ends).
            let ticket = lock.next_ticket();
            if lock.queues.len() > 1024 {
                lock.queues.retain(|_, (_, t)| *t >= published);
            }
            for (n, part) in parts.iter().enumerate() {
                let same = |p: &Part<'_, M>| {
                    p.topic.meta.id == part.topic.meta.id && p.queue == part.queue
                };
                let first = match parts[..n].iter().rposition(same) {
                    Some(k) => many[k].first_offset + u64::from(many[k].count),
                    None => match lock.queues.get(&(part.topic.meta.id, part.queue)) {
                        Some(&(next, t)) if t >= published => next,
                        _ => self.queue(&part.topic, part.queue)?.next_offset(),
                    },
                };
                let count = part.ranges.len() as u32;
                let a = Appended {
                    queue: part.queue,
                    first_offset: first,
                    count,
                    stored_at,
                };
                if parts.len() == 1 {
                    single = Some(a);
                } else {
                    many.push(a);
                }
            }
            // Only now, with every part's offsets chosen, may the next reservation count on them.
            for (part, a) in parts.iter().zip(single.iter().chain(&many)) {
                let next = a.first_offset + u64::from(a.count);
                lock.queues
                    .insert((part.topic.meta.id, part.queue), (next, ticket));
            }
            if let Some(key) = batch {
                lock.batches.push((key, ticket));
            }
            break (self.log.reserve(&mut lock, buf.len() as u64), stored_at);
        };
        // From here on the ticket must pass both turnstiles, failed or not.
        let appended: &[Appended] = match &single {
            Some(a) => std::slice::from_ref(a),
            None => &many,
        };
        // 2. Seal and write, outside the write lock: the checksums and the copy of one append
        // overlap the next one's reservation and sealing.
        for (part, a) in parts.iter().zip(appended) {
            for (i, range) in part.ranges.iter().enumerate() {
                if *range != last {
                    record::seal(
                        &mut buf[range.clone()],
                        a.first_offset + i as u64,
                        stored_at,
                    );
                }
            }
        }
        // The last record last: it may name the others' offsets.
        if let Some(fill) = fill_last {
            fill(appended, &mut buf[last.clone()]);
        }
        let last_offset = {
            let (part, a) = parts
                .iter()
                .zip(appended)
                .next_back()
                .expect("a write has parts");
            let i = part
                .ranges
                .iter()
                .position(|r| *r == last)
                .expect("the last record");
            a.first_offset + i as u64
        };
        record::seal(&mut buf[last.clone()], last_offset, stored_at);
        let written = r.write(&buf);
        // 3. Publish: index in ticket order, so queue order is log order and a checkpoint taken
        // between turns finds every record before its position indexed.
        let end = {
            let (start, len) = (r.start, r.len);
            let mut turn = r.publish();
            written?;
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
            if let Some(key) = batch {
                let a = appended.last().expect("a write has parts");
                self.producers
                    .lock()
                    .note_batch(key, a.first_offset, a.count, stored_at);
            }
            turn.end = start + len;
            turn.end
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
