//! The read side of [`StoreCore`]: queue bounds, reads by offset (back-to-back records with
//! one `pread`), checks that a record is the one its index entry meant, lookups by id, key and
//! time.

use super::consume_queue::Entry;
use super::error::{Result, StorageError};
use super::key_index::{RUN_BITS, id_hash, id_run, id_run_hash, key_hash};
use super::store::{LOOKUP_CANDIDATES, ReadBatch, StoreCore, StoredMessage, Topic};
use crate::codec::Reader;
use crate::record::{self, DecodeError, Message, MessageId, RecordView};

/// Where a read starts and how much it may take: up to `max_messages` and roughly
/// `max_bytes` (at least one message) from `offset` of one queue. Entries whose tag hash
/// `keep` refuses are passed over like holes, without reading the log (a tag prefilter).
#[derive(Clone, Copy)]
pub struct ReadSpan<'a> {
    pub topic: &'a str,
    pub queue: u32,
    pub offset: u64,
    pub max_messages: usize,
    pub max_bytes: usize,
    pub keep: Option<&'a dyn Fn(u32) -> bool>,
}

impl<'a> ReadSpan<'a> {
    /// Everything from `offset` on, unfiltered.
    pub fn new(topic: &'a str, queue: u32, offset: u64) -> ReadSpan<'a> {
        ReadSpan {
            topic,
            queue,
            offset,
            max_messages: usize::MAX,
            max_bytes: usize::MAX,
            keep: None,
        }
    }

    /// At most `messages` and roughly `bytes`.
    pub fn most(self, messages: usize, bytes: usize) -> ReadSpan<'a> {
        ReadSpan {
            max_messages: messages,
            max_bytes: bytes,
            ..self
        }
    }

    /// Only entries whose tag hash `keep` takes.
    pub fn keep(self, keep: &'a dyn Fn(u32) -> bool) -> ReadSpan<'a> {
        ReadSpan {
            keep: Some(keep),
            ..self
        }
    }
}

impl StoreCore {
    /// The earliest readable and the next offset of a queue.
    pub fn queue_bounds(&self, topic: &str, queue: u32) -> Result<(u64, u64)> {
        let topic = self.topic(topic)?;
        self.bounds(&topic, queue)
    }

    pub(super) fn bounds(&self, topic: &Topic, queue: u32) -> Result<(u64, u64)> {
        let cq = self.queue(topic, queue)?;
        let earliest = match topic.meta.retention() {
            None => cq.earliest(),
            // Time moves the topic's own retention forward; search from the stored earliest.
            Some(r) => {
                let cutoff = self
                    .opts
                    .clock
                    .now_ms()
                    .saturating_sub(r.as_millis() as i64);
                cq.first_where(|e| e.stored_at >= cutoff)?
            }
        };
        // Never in the middle of an atomic append's indexing (see `atomic`).
        let next = {
            let _visible = self.visible.read();
            cq.next_offset()
        };
        Ok((earliest, next))
    }

    /// Reads up to `max_messages` (and roughly `max_bytes`, at least one message) from `offset`.
    /// Reading at the next offset returns nothing; below the earliest is
    /// [`StorageError::OffsetTrimmed`], naming the earliest.
    pub fn read(
        &self,
        topic: &str,
        queue: u32,
        offset: u64,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<ReadBatch> {
        let mut messages = Vec::new();
        let next_offset = self.read_with(
            ReadSpan::new(topic, queue, offset).most(max_messages, max_bytes),
            |v| {
                messages.push(StoredMessage {
                    topic: topic.to_string(),
                    queue,
                    offset: v.queue_offset,
                    stored_at: v.stored_at,
                    message: v.message()?,
                });
                Ok(())
            },
        )?;
        Ok(ReadBatch {
            messages,
            next_offset,
        })
    }

    /// [`StoreCore::read`] without decoding: `each` sees every record read, checked and in
    /// offset order, with its content as stored (the wire layout). Entries whose tag hash
    /// `keep` refuses are passed over like holes, without reading the log (a tag prefilter).
    /// Returns the next offset to read (past any holes skipped).
    // Long on purpose: the read path's one loop (entries, runs of back-to-back records read
    // with one pread, checks, holes); the run bookkeeping is shared by all of it.
    pub fn read_with(
        &self,
        span: ReadSpan<'_>,
        mut each: impl FnMut(&RecordView<'_>) -> std::result::Result<(), DecodeError>,
    ) -> Result<u64> {
        let ReadSpan {
            topic,
            queue,
            offset,
            max_messages,
            max_bytes,
            keep,
        } = span;
        let topic = self.topic(topic)?;
        let cq = self.queue(&topic, queue)?;
        let (earliest, next) = self.bounds(&topic, queue)?;
        let trimmed = |earliest| StorageError::OffsetTrimmed {
            topic: topic.meta.name.to_string(),
            queue,
            requested: offset,
            earliest,
        };
        if offset < earliest {
            return Err(trimmed(earliest));
        }
        if offset > next {
            return Err(StorageError::OffsetBeyondEnd {
                topic: topic.meta.name.to_string(),
                queue,
                requested: offset,
                next,
            });
        }
        let skipped = self
            .skips
            .read()
            .of(topic.meta.id, queue)
            .cloned()
            .unwrap_or_default();
        // Holes, records the prefilter refuses and records an operator skipped are passed over.
        let pass = |e: &Entry, at: u64| {
            e.is_hole() || keep.is_some_and(|k| !k(e.tag_hash)) || skipped.contains(&at)
        };
        let mut count = 0usize;
        let mut bytes = 0usize;
        let mut at = offset;
        'fill: while count < max_messages && at < next {
            // Never past `next`: entries pushed since belong to a later view of the queue.
            let want = (max_messages - count).min((next - at) as usize);
            let entries = cq.entries(at, want)?;
            if entries.is_empty() {
                break;
            }
            let mut i = 0;
            while i < entries.len() {
                if pass(&entries[i], at) {
                    at += 1;
                    i += 1;
                    continue;
                }
                // A run of records that lie back to back in the log (a produce batch, usually)
                // is read with one pread, within what is left of the byte budget.
                let budget = max_bytes.saturating_sub(bytes).max(1);
                let mut end = i + 1;
                let mut run_bytes = entries[i].size as usize;
                while end < entries.len()
                    && !pass(&entries[end], at + (end - i) as u64)
                    && entries[end].position
                        == entries[end - 1].position + u64::from(entries[end - 1].size)
                    && run_bytes < budget
                {
                    run_bytes += entries[end].size as usize;
                    end += 1;
                }
                let run = &entries[i..end];
                let mut done = 0;
                // A damaged record ends the read before it: what came before is served, and
                // the next read (starting at it) reports it. Other queues are not affected.
                let mut damaged = None;
                match self.log.read(run[0].position, run_bytes)? {
                    Some((seg, buf)) => {
                        let mut within = 0usize;
                        for (k, entry) in run.iter().enumerate() {
                            let rec = &buf[within..within + entry.size as usize];
                            if let Err(e) = check_record(
                                (&topic, queue, at + k as u64),
                                (entry, &seg),
                                rec,
                                &mut each,
                            ) {
                                damaged = Some(e);
                                break;
                            }
                            within += entry.size as usize;
                            done += 1;
                        }
                    }
                    // Across a segment boundary or partly deleted: one record at a time.
                    None => {
                        for (k, entry) in run.iter().enumerate() {
                            let Some((seg, rec)) =
                                self.log.read(entry.position, entry.size as usize)?
                            else {
                                break;
                            };
                            if let Err(e) = check_record(
                                (&topic, queue, at + k as u64),
                                (entry, &seg),
                                &rec,
                                &mut each,
                            ) {
                                damaged = Some(e);
                                break;
                            }
                            done += 1;
                        }
                    }
                }
                if let Some(e) = damaged
                    && count + done == 0
                {
                    return Err(e);
                }
                if done == 0 {
                    if count == 0 {
                        return Err(trimmed(self.bounds(&topic, queue)?.0));
                    }
                    break 'fill;
                }
                for entry in &run[..done] {
                    bytes += entry.size as usize;
                }
                count += done;
                at += done as u64;
                if done < run.len() || bytes >= max_bytes || count >= max_messages {
                    break 'fill;
                }
                i = end;
            }
        }
        Ok(at)
    }

    /// The message with this id, if still stored.
    pub fn find_by_id(&self, topic: &str, id: &MessageId) -> Result<Option<StoredMessage>> {
        let topic = self.topic(topic)?;
        let candidates = self.id_candidates(topic.meta.id, id, 1)?;
        let found = self.lookup(&topic, candidates, 1, |m| m.id == *id)?;
        Ok(found.into_iter().next().map(|(_, m)| m))
    }

    /// Every stored record of `topic` with this id, newest first, with its log position and
    /// size (a delay message has its delay record, records that moved it, a cancel marker).
    pub fn find_all_by_id(
        &self,
        topic: &str,
        id: &MessageId,
        limit: usize,
    ) -> Result<Vec<(u64, u32, StoredMessage)>> {
        let topic = self.topic(topic)?;
        let candidates = self.id_candidates(topic.meta.id, id, limit)?;
        let mut found = self.lookup(&topic, candidates, limit, |m| m.id == *id)?;
        found.sort_by_key(|(p, _)| std::cmp::Reverse(p.0));
        Ok(found.into_iter().map(|((p, n), m)| (p, n, m)).collect())
    }

    /// The largest batch one append takes, in encoded bytes (a segment's room).
    pub fn max_batch_bytes(&self) -> u64 {
        self.log.capacity()
    }

    /// The timer index of delay records (see `timers`).
    pub fn timer_index(&self) -> &super::timers::TimerIndex {
        &self.timers
    }

    /// The records at these log positions, in the order given, as their bytes: checked
    /// (length, CRC) but not decoded, for callers that store the content again
    /// (`record::decode_view` reads it). Runs of adjacent records (a batch scheduled together)
    /// are read with one call; each record is read at most once.
    pub fn read_records_raw(&self, at: &[(u64, u32)]) -> Vec<Result<Vec<u8>>> {
        self.read_records_as(at, |bytes| {
            record::decode_view(bytes)?;
            Ok(bytes.to_vec())
        })
    }

    fn read_records_as<T>(
        &self,
        at: &[(u64, u32)],
        decode: impl Fn(&[u8]) -> std::result::Result<T, record::DecodeError>,
    ) -> Vec<Result<T>> {
        const RUN_BYTES: u64 = 1 << 20;
        let mut order: Vec<usize> = (0..at.len()).collect();
        order.sort_by_key(|&i| at[i].0);
        let mut out: Vec<Option<Result<T>>> = (0..at.len()).map(|_| None).collect();
        let mut i = 0;
        while i < order.len() {
            let (start, size) = at[order[i]];
            let mut end = start + u64::from(size);
            let mut j = i + 1;
            while j < order.len() && at[order[j]].0 == end && end - start < RUN_BYTES {
                end += u64::from(at[order[j]].1);
                j += 1;
            }
            match self.log.read(start, (end - start) as usize) {
                Ok(Some((seg, bytes))) if j > i + 1 => {
                    for &k in &order[i..j] {
                        let (p, n) = at[k];
                        let from = (p - start) as usize;
                        let rec = decode(&bytes[from..from + n as usize])
                            .map_err(|e| corrupt_at(&seg, p, &e));
                        out[k] = Some(rec);
                    }
                }
                // One record, or a run that crosses a segment: read them one by one.
                _ => {
                    for &k in &order[i..j] {
                        out[k] = Some(self.read_record_as(at[k].0, at[k].1, &decode));
                    }
                }
            }
            i = j;
        }
        out.into_iter()
            .map(|r| r.expect("every record was read"))
            .collect()
    }

    /// The record at a log position (as the timer index names it).
    pub fn read_record(&self, position: u64, size: u32) -> Result<record::Record> {
        self.read_record_as(position, size, &record::decode)
    }

    fn read_record_as<T>(
        &self,
        position: u64,
        size: u32,
        decode: &impl Fn(&[u8]) -> std::result::Result<T, record::DecodeError>,
    ) -> Result<T> {
        let Some((seg, bytes)) = self.log.read(position, size as usize)? else {
            return Err(StorageError::Corrupt {
                file: self.opts.dir.join("log"),
                position,
                reason: format!("no record of {size} bytes at log position {position} any more"),
            });
        };
        decode(&bytes).map_err(|e| corrupt_at(&seg, position, &e))
    }

    /// Messages carrying `key`, newest first, at most `limit`.
    pub fn find_by_key(&self, topic: &str, key: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        let topic = self.topic(topic)?;
        let hash = key_hash(topic.meta.id, key);
        let candidates = self.keys.lookup(hash, LOOKUP_CANDIDATES.max(limit))?;
        let found = self.lookup(&topic, candidates, limit, |m| {
            m.keys.iter().any(|k| k == key)
        })?;
        Ok(found.into_iter().map(|(_, m)| m).collect())
    }

    /// Log positions that may hold a record of `topic_id` with this id, newest first: those
    /// whose header shows the id, in each stretch of the id's run the key index names (see
    /// `key_index`), and the entries made for the id itself before stretches.
    fn id_candidates(&self, topic_id: u32, id: &MessageId, limit: usize) -> Result<Vec<u64>> {
        // A stretch holds at most 1 << RUN_BITS distinct ids; repeats of an id (a delay
        // message written again, say) are not next to each other. The bound only guards
        // against a damaged log.
        const MOST_PER_STRETCH: usize = 4 << RUN_BITS;
        let want = LOOKUP_CANDIDATES.max(limit);
        let run = id_run(id);
        // Every stretch of the run: one per append at most, and a run has 1 << RUN_BITS ids.
        let starts = self
            .keys
            .lookup(id_run_hash(topic_id, id), MOST_PER_STRETCH)?;
        let starts_set: std::collections::HashSet<u64> = starts.iter().copied().collect();
        let mut out = Vec::new();
        for &start in &starts {
            let mut at = start;
            for _ in 0..MOST_PER_STRETCH {
                // Where another stretch starts, that stretch's own scan takes over.
                if at != start && starts_set.contains(&at) {
                    break;
                }
                let head = match self.log.read(at, record::FIXED_LEN) {
                    Ok(Some((_, head))) => head,
                    // The end of the log, or of the segment: the stretch ends there too.
                    Ok(None) | Err(StorageError::Io { .. }) => break,
                    Err(e) => return Err(e),
                };
                let (Ok(len), Ok(topic), Ok(found)) = (
                    Reader::at(&head, 0).u32("record length"),
                    Reader::at(&head, 12).u32("topic id"),
                    Reader::at(&head, record::ID_AT).array16("message id"),
                ) else {
                    break;
                };
                let found = MessageId(found);
                if topic != topic_id || id_run(&found) != run || (len as usize) < record::MIN_LEN {
                    break;
                }
                if found == *id {
                    out.push(at);
                }
                at += u64::from(len);
            }
        }
        out.extend(self.keys.lookup(id_hash(topic_id, id), want)?);
        out.sort_unstable_by(|a, b| b.cmp(a));
        out.dedup();
        Ok(out)
    }

    /// The records at `candidates` (log positions) that are of `topic`, match, and are still
    /// visible, in the order given, at most `limit`.
    fn lookup(
        &self,
        topic: &Topic,
        candidates: Vec<u64>,
        limit: usize,
        matches: impl Fn(&Message) -> bool,
    ) -> Result<Vec<((u64, u32), StoredMessage)>> {
        let mut out = Vec::new();
        for position in candidates {
            let Some((_, len)) = self.log.read(position, 4)? else {
                continue;
            };
            let Ok(len) = Reader::new(&len).u32("record length") else {
                continue; // a key-index hint that points at nothing: not a match
            };
            let Some((_, bytes)) = self.log.read(position, len as usize)? else {
                continue;
            };
            let Ok(rec) = record::decode(&bytes) else {
                continue;
            };
            if rec.topic_id != topic.meta.id || !matches(&rec.message) {
                continue;
            }
            let Some(cq) = topic.queues.get(rec.queue as usize) else {
                continue;
            };
            // Still visible (not below the queue's earliest offset)?
            let (earliest, _) = self.bounds(topic, rec.queue)?;
            if rec.queue_offset < earliest
                || cq
                    .entry(rec.queue_offset)?
                    .is_none_or(|e| e.position != position)
            {
                continue;
            }
            out.push((
                (position, len),
                StoredMessage {
                    topic: topic.meta.name.to_string(),
                    queue: rec.queue,
                    offset: rec.queue_offset,
                    stored_at: rec.stored_at,
                    message: rec.message,
                },
            ));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The first offset of the queue stored at or after `time_ms` (the next offset if none).
    pub fn offset_for_time(&self, topic: &str, queue: u32, time_ms: i64) -> Result<u64> {
        let topic = self.topic(topic)?;
        let (earliest, _) = self.bounds(&topic, queue)?;
        let cq = self.queue(&topic, queue)?;
        Ok(cq.first_where(|e| e.stored_at >= time_ms)?.max(earliest))
    }

    /// When the message at `offset` was stored, if the queue still holds it (from the index,
    /// without reading the log).
    pub fn stored_at(&self, topic: &str, queue: u32, offset: u64) -> Result<Option<i64>> {
        let topic = self.topic(topic)?;
        let cq = self.queue(&topic, queue)?;
        Ok(cq.entry(offset)?.map(|e| e.stored_at))
    }
}

/// A record that does not decode at a log position: where, in its segment file, and why.
fn corrupt_at(
    seg: &super::segment::Segment,
    position: u64,
    e: &record::DecodeError,
) -> StorageError {
    StorageError::Corrupt {
        file: seg.path.clone(),
        position: super::segment::HEADER_LEN + (position - seg.base),
        reason: e.to_string(),
    }
}

/// Checks that a record read for an index entry is the one the index meant, and hands it
/// to `each`; a record that does not decode is corruption, named by file and position.
fn check_record(
    (topic, queue, offset): (&Topic, u32, u64),
    (entry, seg): (&Entry, &super::segment::Segment),
    bytes: &[u8],
    each: &mut impl FnMut(&RecordView<'_>) -> std::result::Result<(), DecodeError>,
) -> Result<()> {
    let corrupt = |reason: String| StorageError::Corrupt {
        file: seg.path.clone(),
        position: super::segment::HEADER_LEN + (entry.position - seg.base),
        reason: format!(
            "the record of topic {:?} queue {queue} offset {offset}: {reason}",
            topic.meta.name.as_str()
        ),
    };
    let rec = record::decode_view(bytes).map_err(|e| corrupt(e.to_string()))?;
    if (rec.topic_id, rec.queue, rec.queue_offset) != (topic.meta.id, queue, offset) {
        return Err(corrupt(format!(
            "index of {}/{queue} offset {offset} points at a record of topic id {} queue {} offset {}",
            topic.meta.name, rec.topic_id, rec.queue, rec.queue_offset
        )));
    }
    each(&rec).map_err(|e| corrupt(e.to_string()))
}
