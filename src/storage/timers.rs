//! The timer index: which delay records are still pending, in one file per minute of the time
//! they must be acted on. Like the consume queues and the key index it is derived from the log,
//! updated as appends are published (in log order), made durable by the checkpoint, and cut
//! back to the checkpoint and replayed at open.
//!
//! A delay message is a record of the internal topic [`DELAY_TOPIC`] that says where it goes
//! ([`PROP_TOPIC`], [`PROP_QUEUE`]) and when ([`PROP_DELIVER_AT`]). Its timer is *settled* by
//! the one later record that names it in [`PROP_REF`]: the copy delivered to its topic, a
//! cancel marker, or the delay record that moves it forward (below). The delivered copy is its
//! own settle record, so a crash can never separate delivery from the note that it happened:
//! exactly once follows from replaying the log.
//!
//! **Slots and rollover.** A timer is filed under its *slot*: its due time, but at most
//! `horizon` after the record was stored (and not before it was stored). A timer due later is
//! moved when its slot comes: the wheel writes the record again (a new delay record that settles
//! the old one). So every pending timer's record is younger than `horizon` plus a minute, and
//! retention keeps exactly the segments that could still hold one ([`TimerIndex::oldest_needed`]).
//!
//! This module does not fire anything: `broker::delay` loads buckets as their time nears and
//! acts on them.
//!
//! ```text
//! <dir>/timers/<bucket>.tmr   bucket = slot rounded down to the minute (ms, 20 digits)
//!   header 16 bytes: magic "LGTIMERS", version u32 (1), reserved u32
//!   events, 52 bytes each, little-endian:
//!     CRC32C u32 of bytes [4, 52), kind u8 (1 schedule, 2 fired, 3 cancelled, 4 moved),
//!     reserved [3], record size u32, topic id u32, queue u32, due i64, slot i64,
//!     the delay record's log position u64, the log position of the record that made the event u64
//! <dir>/timers/counts.json    event counts per bucket and pending timers per topic, as of a checkpoint
//! ```

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError, io_err};
use super::fsutil;
use crate::codec::Reader;

/// The internal topic that holds delay messages until their time.
pub use crate::internal::DELAY_TOPIC;
/// On delay records and delivered copies: the requested delivery time, ms since the epoch.
pub const PROP_DELIVER_AT: &str = "lockgate.deliver_at";
/// On delay records: the topic the message is delivered to.
pub const PROP_TOPIC: &str = "lockgate.topic";
/// On delay records: the queue of that topic.
pub const PROP_QUEUE: &str = "lockgate.queue";
/// On the record that settles a timer: which timer (see [`TimerRef`]).
pub const PROP_REF: &str = "lockgate.timer";
/// On cancel markers (delay records that only settle): why the timer ended.
pub const PROP_CANCEL: &str = "lockgate.cancel";
pub use crate::record::RESERVED_PROPERTY_PREFIX;

/// Width of a bucket: one file per minute of slots.
pub const BUCKET_MS: i64 = 60_000;
const MAGIC: &[u8; 8] = b"LGTIMERS";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 16;
const EVENT_LEN: usize = 52;
const EXT: &str = "tmr";
const COUNTS: &str = "counts.json";

/// A pending timer: a delay record and when to act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// When the message is due, ms since the epoch.
    pub due: i64,
    /// When to act: fire if due by then, else move the record forward.
    pub slot: i64,
    /// The delay record's log position and size.
    pub position: u64,
    pub size: u32,
    /// Where it is delivered (the topic id as of scheduling; for counts).
    pub topic_id: u32,
    pub queue: u32,
}

impl Timer {
    pub fn reference(&self) -> TimerRef {
        TimerRef {
            position: self.position,
            slot: self.slot,
            topic_id: self.topic_id,
        }
    }
}

/// Names a timer in the record that settles it: `"<position>/<slot>/<topic id>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerRef {
    pub position: u64,
    pub slot: i64,
    pub topic_id: u32,
}

impl TimerRef {
    pub fn to_property(self) -> String {
        format!("{}/{}/{}", self.position, self.slot, self.topic_id)
    }

    pub fn parse(text: &str) -> Option<TimerRef> {
        let mut parts = text.split('/');
        let r = TimerRef {
            position: parts.next()?.parse().ok()?,
            slot: parts.next()?.parse().ok()?,
            topic_id: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(r)
    }
}

/// How a timer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Fired = 2,
    Cancelled = 3,
    Moved = 4,
}

/// What an appended record does to the timer index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimerMark {
    /// A delay record: schedules a timer for it.
    pub schedule: Option<Schedule>,
    /// Ends this timer.
    pub settles: Option<(TimerRef, Settled)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub due: i64,
    pub topic_id: u32,
    pub queue: u32,
}

/// Pending timers, for `delay stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Pending timers per destination topic id.
    pub pending: BTreeMap<u32, u64>,
    /// The start of the earliest bucket that still has pending timers.
    pub earliest_bucket: Option<i64>,
}

pub fn bucket_of(slot: i64) -> i64 {
    slot.div_euclid(BUCKET_MS) * BUCKET_MS
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Counts {
    schedules: u64,
    settles: u64,
}

#[derive(Serialize, Deserialize)]
struct CountsFile {
    version: u32,
    position: u64,
    buckets: Vec<(i64, u64, u64)>,
    topics: Vec<(u32, u64)>,
}

#[derive(Default)]
struct Bucket {
    counts: Counts,
    /// Events not yet written to the file.
    buffer: Vec<u8>,
    /// Written since the last sync.
    dirty: bool,
    /// The wheel holds none of its timers any more (reset by a new schedule).
    finished: bool,
}

struct Inner {
    buckets: BTreeMap<i64, Bucket>,
    /// Buckets below this are watched by the wheel: their new timers go to `fresh`.
    watched_below: i64,
    fresh: Vec<Timer>,
    pending_by_topic: HashMap<u32, u64>,
}

pub struct TimerIndex {
    dir: PathBuf,
    horizon_ms: i64,
    inner: Mutex<Inner>,
    /// One flush (or bucket load) at a time.
    flushing: Mutex<()>,
}

/// A snapshot of the counts, taken under the log's write lock at a checkpoint position.
pub struct CountsSnapshot {
    buckets: Vec<(i64, u64, u64)>,
    topics: Vec<(u32, u64)>,
}

impl TimerIndex {
    /// Opens the index in `<dir>/timers`, dropping events made by records at or after
    /// `keep_below` (the replay makes them again). Returns it with the log position the replay
    /// must apply marks from: `keep_below`, or 0 when a file was damaged and the whole index is
    /// rebuilt from the log.
    pub fn open(dir: &Path, keep_below: u64, horizon_ms: i64) -> Result<(TimerIndex, u64)> {
        let dir = dir.join("timers");
        fsutil::ensure_dir(&dir)?;
        let mut from = keep_below;
        let mut loaded = match load_buckets(&dir, keep_below) {
            Ok(b) => b,
            Err(why) => {
                tracing::error!(dir = %dir.display(), problem = %why,
                    "the timer index is damaged; rebuilding it from the log");
                for (_, path) in fsutil::numbered_files(&dir, EXT)? {
                    std::fs::remove_file(&path).map_err(io_err("deleting", &path))?;
                }
                from = 0;
                BTreeMap::new()
            }
        };
        let saved = read_counts(&dir)?.filter(|c| c.position == keep_below && from == keep_below);
        let mut buckets = BTreeMap::new();
        let mut pending_by_topic = HashMap::new();
        match saved {
            Some(c) => {
                for (b, schedules, settles) in c.buckets {
                    if loaded.remove(&b).is_some() {
                        buckets.insert(b, bucket_with(schedules, settles));
                    }
                }
                pending_by_topic.extend(c.topics);
                // Files the counts do not know (made after them and cut back): count them.
                for (b, events) in loaded {
                    buckets.insert(b, count_events(&events, &mut pending_by_topic));
                }
            }
            None => {
                for (b, events) in loaded {
                    buckets.insert(b, count_events(&events, &mut pending_by_topic));
                }
            }
        }
        let index = TimerIndex {
            dir,
            horizon_ms,
            inner: Mutex::new(Inner {
                buckets,
                watched_below: i64::MIN,
                fresh: Vec::new(),
                pending_by_topic,
            }),
            flushing: Mutex::new(()),
        };
        Ok((index, from))
    }

    /// The slot of a timer due at `due` for a record stored at `stored_at`.
    pub fn slot_for(&self, due: i64, stored_at: i64) -> i64 {
        due.clamp(stored_at, stored_at.saturating_add(self.horizon_ms))
    }

    /// Applies one record's mark (called under the log's write lock, in log order).
    pub fn apply(&self, mark: &TimerMark, position: u64, size: u32, stored_at: i64) {
        let mut inner = self.inner.lock();
        if let Some(s) = mark.schedule {
            let timer = Timer {
                due: s.due,
                slot: self.slot_for(s.due, stored_at),
                position,
                size,
                topic_id: s.topic_id,
                queue: s.queue,
            };
            inner.schedule(timer, position);
        }
        if let Some((r, kind)) = mark.settles {
            inner.settle(r, kind, position);
        }
    }

    /// Writes buffered events to their files. The buffers are taken under the lock and
    /// written outside it, so appends (which apply marks under the log's write lock) never
    /// wait for this I/O; `flushing` keeps flushes (and bucket loads) one at a time, so each
    /// file gets its events in order.
    pub fn flush(&self) -> Result<()> {
        let _one = self.flushing.lock();
        let taken: Vec<(i64, Vec<u8>)> = {
            let mut inner = self.inner.lock();
            inner
                .buckets
                .iter_mut()
                .filter(|(_, b)| !b.buffer.is_empty())
                .map(|(&b, bucket)| {
                    bucket.dirty = true;
                    (b, std::mem::take(&mut bucket.buffer))
                })
                .collect()
        };
        let mut failed = None;
        for (i, (b, bytes)) in taken.iter().enumerate() {
            let path = self.dir.join(fsutil::numbered_name(*b as u64, EXT));
            let written = open_bucket_file(&path).and_then(|mut f| {
                f.seek(SeekFrom::End(0)).map_err(io_err("seeking", &path))?;
                f.write_all(bytes)
                    .map_err(io_err("writing timers to", &path))
            });
            if let Err(e) = written {
                failed = Some((i, e));
                break;
            }
        }
        if let Some((i, e)) = failed {
            // Put back what was not written, ahead of anything buffered since.
            let mut inner = self.inner.lock();
            for (b, mut bytes) in taken.into_iter().skip(i) {
                let bucket = inner.buckets.entry(b).or_default();
                bytes.extend_from_slice(&bucket.buffer);
                bucket.buffer = bytes;
            }
            return Err(e);
        }
        Ok(())
    }

    /// The counts as of now (take it under the log's write lock with the checkpoint position).
    pub fn snapshot(&self) -> CountsSnapshot {
        let inner = self.inner.lock();
        CountsSnapshot {
            buckets: inner
                .buckets
                .iter()
                .map(|(&b, k)| (b, k.counts.schedules, k.counts.settles))
                .collect(),
            topics: inner
                .pending_by_topic
                .iter()
                .map(|(&t, &n)| (t, n))
                .collect(),
        }
    }

    /// Makes every event so far durable, then the counts as of `position` (see [`snapshot`]).
    /// Call before the checkpoint file is written: the timers must be on disk before the
    /// checkpoint says the log needs no replay up to there.
    ///
    /// [`snapshot`]: TimerIndex::snapshot
    pub fn checkpoint(&self, position: u64, counts: CountsSnapshot) -> Result<()> {
        self.flush()?;
        let dirty: Vec<i64> = {
            let mut inner = self.inner.lock();
            inner
                .buckets
                .iter_mut()
                .filter_map(|(&b, k)| std::mem::take(&mut k.dirty).then_some(b))
                .collect()
        };
        for b in &dirty {
            let path = self.dir.join(fsutil::numbered_name(*b as u64, EXT));
            match File::open(&path) {
                Ok(f) => f.sync_data().map_err(io_err("syncing", &path))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("opening", &path)(e)),
            }
        }
        if !dirty.is_empty() {
            fsutil::fsync_dir(&self.dir)?;
        }
        let file = CountsFile {
            version: 1,
            position,
            buckets: counts.buckets,
            topics: counts.topics,
        };
        let bytes = serde_json::to_vec(&file).expect("timer counts serialize");
        fsutil::write_atomic(&self.dir.join(COUNTS), &bytes)
    }

    /// Deletes the files of buckets the wheel finished and whose every timer is settled (call
    /// after a checkpoint: their events are durable, and no replay will need them).
    pub fn remove_finished(&self) -> Result<()> {
        let _no_flush = self.flushing.lock();
        let mut inner = self.inner.lock();
        let done: Vec<i64> = inner
            .buckets
            .iter()
            .filter(|(_, b)| {
                b.finished && b.buffer.is_empty() && b.counts.settles >= b.counts.schedules
            })
            .map(|(&b, _)| b)
            .collect();
        for b in done {
            let path = self.dir.join(fsutil::numbered_name(b as u64, EXT));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("deleting", &path)(e)),
            }
            inner.buckets.remove(&b);
        }
        Ok(())
    }

    /// Hands the wheel the earliest bucket it does not watch yet, if that bucket starts at or
    /// before `until`, with its pending timers; from then on new timers of that bucket (and of
    /// every earlier one) are handed over by [`TimerIndex::take_fresh`]. `None` when no such
    /// bucket exists; everything up to `until` is watched then.
    pub fn watch_next(&self, until: i64) -> Result<Option<(i64, Vec<Timer>)>> {
        // No flush in flight: every event is either in its file or in its buffer.
        let _no_flush = self.flushing.lock();
        let mut inner = self.inner.lock();
        let from = inner.watched_below;
        let next = inner.buckets.range(from..).next().map(|(&b, _)| b);
        match next {
            Some(b) if b <= until => {
                let buffered = inner.buckets[&b].buffer.clone();
                let path = self.dir.join(fsutil::numbered_name(b as u64, EXT));
                let mut events = read_events(&path).map_err(|why| StorageError::Corrupt {
                    file: path.clone(),
                    position: 0,
                    reason: why,
                })?;
                events.extend(
                    parse_events(&buffered).map_err(|why| StorageError::Corrupt {
                        file: path.clone(),
                        position: 0,
                        reason: why,
                    })?,
                );
                inner.watched_below = b + BUCKET_MS;
                Ok(Some((b, pending_of(&events))))
            }
            _ => {
                inner.watched_below = inner.watched_below.max(bucket_of(until) + BUCKET_MS);
                Ok(None)
            }
        }
    }

    /// Timers scheduled into watched buckets since the last call.
    pub fn take_fresh(&self) -> Vec<Timer> {
        std::mem::take(&mut self.inner.lock().fresh)
    }

    /// Whether timers were scheduled into watched buckets since the last `take_fresh`.
    pub fn has_fresh(&self) -> bool {
        !self.inner.lock().fresh.is_empty()
    }

    /// Whether the wheel has loaded (or passed) the bucket of `slot`.
    pub fn is_watched(&self, slot: i64) -> bool {
        bucket_of(slot) < self.inner.lock().watched_below
    }

    /// The start of the earliest bucket not watched yet, if any has timers.
    pub fn next_unwatched(&self) -> Option<i64> {
        let inner = self.inner.lock();
        let from = inner.watched_below;
        inner.buckets.range(from..).next().map(|(&b, _)| b)
    }

    /// The wheel holds no timer of bucket `b` any more: its file may go once all is settled.
    pub fn finished(&self, b: i64) {
        if let Some(bucket) = self.inner.lock().buckets.get_mut(&b) {
            bucket.finished = true;
        }
    }

    pub fn stats(&self) -> TimerStats {
        let inner = self.inner.lock();
        TimerStats {
            pending: inner
                .pending_by_topic
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(&t, &n)| (t, n))
                .collect(),
            earliest_bucket: inner
                .buckets
                .iter()
                .find(|(_, b)| b.counts.schedules > b.counts.settles)
                .map(|(&b, _)| b),
        }
    }

    /// Records stored before this time (ms) hold no pending timer: see the module docs.
    /// `None` when no timer is pending.
    pub fn oldest_needed(&self) -> Option<i64> {
        let inner = self.inner.lock();
        inner
            .buckets
            .iter()
            .find(|(_, b)| !b.finished || b.counts.schedules > b.counts.settles)
            .map(|(&b, _)| b - self.horizon_ms - BUCKET_MS)
    }
}

impl Inner {
    fn schedule(&mut self, t: Timer, event_pos: u64) {
        let b = bucket_of(t.slot);
        let bucket = self.buckets.entry(b).or_default();
        bucket.counts.schedules += 1;
        bucket.finished = false;
        push_event(&mut bucket.buffer, 1, &t, event_pos);
        *self.pending_by_topic.entry(t.topic_id).or_default() += 1;
        if b < self.watched_below {
            self.fresh.push(t);
        }
    }

    fn settle(&mut self, r: TimerRef, kind: Settled, event_pos: u64) {
        let b = bucket_of(r.slot);
        let bucket = self.buckets.entry(b).or_default();
        bucket.counts.settles += 1;
        let t = Timer {
            due: 0,
            slot: r.slot,
            position: r.position,
            size: 0,
            topic_id: r.topic_id,
            queue: 0,
        };
        push_event(&mut bucket.buffer, kind as u8, &t, event_pos);
        if let Some(n) = self.pending_by_topic.get_mut(&r.topic_id) {
            *n = n.saturating_sub(1);
        }
    }
}

fn bucket_with(schedules: u64, settles: u64) -> Bucket {
    Bucket {
        counts: Counts { schedules, settles },
        ..Bucket::default()
    }
}

fn push_event(buf: &mut Vec<u8>, kind: u8, t: &Timer, event_pos: u64) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.push(kind);
    buf.extend_from_slice(&[0; 3]);
    buf.extend_from_slice(&t.size.to_le_bytes());
    buf.extend_from_slice(&t.topic_id.to_le_bytes());
    buf.extend_from_slice(&t.queue.to_le_bytes());
    buf.extend_from_slice(&t.due.to_le_bytes());
    buf.extend_from_slice(&t.slot.to_le_bytes());
    buf.extend_from_slice(&t.position.to_le_bytes());
    buf.extend_from_slice(&event_pos.to_le_bytes());
    let crc = crc32c::crc32c(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// One event as read back: its kind, its timer and the position of the record that made it.
#[derive(Debug, Clone, Copy)]
struct Event {
    kind: u8,
    timer: Timer,
    made_at: u64,
}

fn parse_events(bytes: &[u8]) -> std::result::Result<Vec<Event>, String> {
    let mut out = Vec::with_capacity(bytes.len() / EVENT_LEN);
    for (i, e) in bytes.chunks(EVENT_LEN).enumerate() {
        if e.len() < EVENT_LEN {
            break; // a torn tail: made after the last checkpoint, replayed again
        }
        out.push(parse_event(e).map_err(|why| format!("event {i}: {why}"))?);
    }
    Ok(out)
}

fn parse_event(e: &[u8]) -> std::result::Result<Event, String> {
    let mut r = Reader::new(e);
    let err = |e: crate::codec::ReadError| e.to_string();
    let stored = r.u32("checksum").map_err(err)?;
    let computed = crc32c::crc32c(&e[4..]);
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    let kind = r.u8("kind").map_err(err)?;
    if !(1..=4).contains(&kind) {
        return Err(format!("{kind} is not an event kind"));
    }
    r.take(3, "reserved").map_err(err)?;
    let size = r.u32("size").map_err(err)?;
    let topic_id = r.u32("topic id").map_err(err)?;
    let queue = r.u32("queue").map_err(err)?;
    let due = r.i64("due").map_err(err)?;
    let slot = r.i64("slot").map_err(err)?;
    let position = r.u64("position").map_err(err)?;
    let made_at = r.u64("event position").map_err(err)?;
    Ok(Event {
        kind,
        timer: Timer {
            due,
            slot,
            position,
            size,
            topic_id,
            queue,
        },
        made_at,
    })
}

fn open_bucket_file(path: &Path) -> Result<File> {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_err("opening", path))?;
    let len = f.metadata().map_err(io_err("reading", path))?.len();
    if len == 0 {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_le_bytes());
        f.write_all(&header).map_err(io_err("writing", path))?;
    }
    Ok(f)
}

fn read_events(path: &Path) -> std::result::Result<Vec<Event>, String> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes).map_err(|e| e.to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
        return Err("not a timer file (bad magic)".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("unsupported timer file version {version}"));
    }
    parse_events(&bytes[HEADER_LEN as usize..])
}

/// Every bucket file's events made before `keep_below`, each file cut back to them.
fn load_buckets(
    dir: &Path,
    keep_below: u64,
) -> std::result::Result<BTreeMap<i64, Vec<Event>>, String> {
    let mut out = BTreeMap::new();
    let files = fsutil::numbered_files(dir, EXT).map_err(|e| e.to_string())?;
    for (b, path) in files {
        let mut events = read_events(&path).map_err(|why| format!("{}: {why}", path.display()))?;
        let keep = events.iter().take_while(|e| e.made_at < keep_below).count();
        let len = HEADER_LEN + (keep * EVENT_LEN) as u64;
        let on_disk = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        if on_disk != len {
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| e.to_string())?;
            f.set_len(len).map_err(|e| e.to_string())?;
            f.sync_data().map_err(|e| e.to_string())?;
        }
        events.truncate(keep);
        out.insert(b as i64, events);
    }
    Ok(out)
}

fn count_events(events: &[Event], pending_by_topic: &mut HashMap<u32, u64>) -> Bucket {
    let mut counts = Counts::default();
    for e in events {
        let n = pending_by_topic.entry(e.timer.topic_id).or_default();
        if e.kind == 1 {
            counts.schedules += 1;
            *n += 1;
        } else {
            counts.settles += 1;
            *n = n.saturating_sub(1);
        }
    }
    Bucket {
        counts,
        ..Bucket::default()
    }
}

/// The timers scheduled and not settled, in order of slot.
fn pending_of(events: &[Event]) -> Vec<Timer> {
    let settled: HashSet<u64> = events
        .iter()
        .filter(|e| e.kind != 1)
        .map(|e| e.timer.position)
        .collect();
    let mut out: Vec<Timer> = events
        .iter()
        .filter(|e| e.kind == 1 && !settled.contains(&e.timer.position))
        .map(|e| e.timer)
        .collect();
    out.sort_by_key(|t| (t.slot, t.position));
    out
}

fn read_counts(dir: &Path) -> Result<Option<CountsFile>> {
    let path = dir.join(COUNTS);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", &path)(e)),
    }
}

#[cfg(test)]
mod tests;
