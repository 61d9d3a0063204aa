//! The commit log: every record of every topic, appended to one sequence of segment files.
//!
//! Does: appends in three steps (below), segment rolls, durability (group commit for `sync`
//! appends, a periodic flush for `async` ones), the recovery scan that validates records and
//! cuts a torn tail (`scan`), reads by position, and deleting whole old segments.
//! Does not: know which records belong to which queue (the store's indexes do), or decide
//! retention (the store does).
//!
//! An append is **reserved** under the write lock ([`CommitLog::reserve`]: its position and a
//! ticket, the segment rolled first if it would not fit), **written** when its ticket passes
//! the first turnstile ([`Reservation::write`]: one `pwrite`), and **published** when it
//! passes the second ([`Reservation::publish`], where the store indexes it). The write
//! lock is held only for the reservation, so one append's checksums and copy overlap the next
//! one's; the turnstiles keep the file a prefix of whole appends in reservation order (a crash
//! leaves at most a torn last one, never a hole) and the indexes in log order. A write that
//! fails is cut from the file and fails every append reserved after it; the next reservation
//! waits until those have passed and starts again from the file's end ([`CommitLog::settle`]).
//!
//! Group commit: appenders write under the lock, release it, then wait until the flusher's
//! `flushed` position passes their record. The flusher runs one `fdatasync` at a time; every
//! append that arrives while one runs is covered by the next, so one flush serves many appends.
//! Before flushing, it also waits (at most [`GATHER_MAX`]) until as many appenders wait as took
//! part in the last two flushes: those are the appenders about to come back, and on a busy
//! machine the first of them would otherwise trigger a flush that the rest just miss (appenders
//! then split into two groups whose writes slow each other's flushes). A lone appender is
//! flushed at once; when load drops, a wait or two runs into the cap and the expectation
//! follows. (The idea behind InnoDB's and PostgreSQL's commit delay, without a fixed delay.)

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::{Result, StorageError, io_err};
use super::fsutil;
use super::producers::BatchKey;
use super::segment::{self, HEADER_LEN, Segment};
use super::turnstile::{Passage, Peek, Turnstile};
use crate::record::{self, Record};

mod scan;
#[cfg(test)]
mod tests;
pub use scan::{ReplayReport, Replayed};

/// Longest the flusher holds a flush back for `sync` appenders it expects to join it.
const GATHER_MAX: Duration = Duration::from_micros(500);

pub struct CommitLog {
    dir: PathBuf,
    /// Bytes of records a segment may hold.
    capacity: u64,
    segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    writer: Mutex<Writer>,
    /// Appends reach the file in ticket order.
    written: Turnstile<WrittenEnd>,
    /// `WrittenEnd::end`, readable without the turnstile (the flusher syncs up to it).
    written_end: AtomicU64,
    /// Whether `WrittenEnd::broken` is set, readable without waiting for a write to pass.
    broken: std::sync::atomic::AtomicBool,
    /// Appends are indexed in ticket order.
    published: Turnstile<Published>,
    durable: Mutex<Durable>,
    /// The flusher waits here for work.
    flush_wanted: Condvar,
    /// `Durable::flushed`, readable without the lock by parked appenders.
    flushed_at: AtomicU64,
    /// Set when a flush failed or the flusher stopped: parked appenders must look at `Durable`.
    disturbed: std::sync::atomic::AtomicBool,
    pub stats: LogStats,
}

/// State behind the write lock.
pub struct Writer {
    active: Arc<Segment>,
    /// Log position after the last append reserved.
    end: u64,
    /// The next append's ticket.
    next_ticket: u64,
    /// Store times never go backwards along the log.
    last_stored_at: i64,
    /// Set when a flush failed: the page cache can no longer be trusted, so no more writes.
    fenced: Option<String>,
    /// The write seam's reservations, behind the same lock: per `(topic id, queue)`, the next
    /// offset after the last append reserved for it and that append's ticket (an entry whose
    /// ticket was published is stale: the queue's own next offset holds).
    pub(super) queues: std::collections::HashMap<(u32, u32), (u64, u64)>,
    /// Idempotent producers' batches reserved and not yet published, with their tickets, so a
    /// resend arriving meanwhile waits for the original instead of being stored twice.
    pub(super) batches: Vec<(BatchKey, u64)>,
}

/// An append's place: reserved under the write lock, then written
/// ([`Reservation::write`]) and published ([`Reservation::publish`]) in ticket order. One
/// dropped before both (a panic between the steps) still lets the appends behind it through:
/// unwritten, it fails them, as a failed write does.
pub struct Reservation<'a> {
    log: &'a CommitLog,
    ticket: u64,
    /// The log position of its first byte.
    pub start: u64,
    pub len: u64,
    segment: Arc<Segment>,
    written: bool,
    published: bool,
}

/// State of the first turnstile.
struct WrittenEnd {
    /// Log position after the last append written.
    end: u64,
    /// Set when a write failed: every append reserved after it fails too, until the next
    /// reservation settles the log.
    broken: Option<String>,
    /// Set when a failed write could not even be cut from the file.
    cut_failed: Option<String>,
}

/// State of the second turnstile, which the store holds while it indexes an append.
pub struct Published {
    /// Log position after the last append published (indexed).
    pub end: u64,
}

struct Durable {
    flushed: u64,
    requested: u64,
    failed: Option<String>,
    shutdown: bool,
    /// Appenders parked until a position is flushed. A flush removes and unparks exactly the
    /// ones it covered, so a released appender that has not run yet is not counted as waiting,
    /// and no herd of woken threads fights over this lock.
    waiting: Vec<(u64, std::thread::Thread)>,
    /// Appenders (by thread) that took part in the last two flushes, with the number of the
    /// last flush each took part in: how many the next flush waits for.
    recent: std::collections::HashMap<std::thread::ThreadId, u64>,
    /// Flushes completed.
    flushes: u64,
}

/// Counters for tests, benchmarks and (later) metrics.
#[derive(Default)]
pub struct LogStats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub writes: AtomicU64,
    pub data_syncs: AtomicU64,
    /// Nanoseconds spent inside `fdatasync` of the log.
    pub sync_nanos: AtomicU64,
}

impl Writer {
    /// The ticket the next reservation gets.
    pub fn next_ticket(&self) -> u64 {
        self.next_ticket
    }
}

impl<'a> Reservation<'a> {
    /// Writes the append's bytes when its ticket's turn comes, in one `pwrite`. On failure
    /// nothing of it stays in the file, and every append reserved after it fails too.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(bytes.len() as u64, self.len);
        self.written = true;
        let log = self.log;
        let mut turn = log.written.enter(self.ticket);
        if let Some(reason) = &turn.broken {
            return Err(StorageError::WritesFenced(format!(
                "an earlier write failed: {reason}"
            )));
        }
        debug_assert_eq!(
            turn.end, self.start,
            "appends are written in reservation order"
        );
        if let Err(e) = self.segment.write_at(self.start, bytes) {
            let err = io_err("appending to", &self.segment.path)(e);
            // Cut whatever part of the append reached the file; if even that fails, the
            // file's tail is unknown and the log stops taking writes.
            if let Err(cut) = self.segment.truncate(self.start) {
                turn.cut_failed = Some(format!("could not remove a failed write: {cut}"));
            }
            log.break_at(&mut turn, err.to_string());
            return Err(err);
        }
        turn.end = self.start + self.len;
        log.written_end.store(turn.end, Ordering::Release);
        log.stats.writes.fetch_add(1, Ordering::Relaxed);
        log.stats.bytes.fetch_add(self.len, Ordering::Relaxed);
        Ok(())
    }

    /// Waits for the append's turn to be published (indexed, by the caller, while it holds
    /// the passage); the next append's turn comes when the passage is dropped.
    pub fn publish(mut self) -> Passage<'a, Published> {
        self.published = true;
        self.log.published.enter(self.ticket)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.written {
            let mut turn = self.log.written.enter(self.ticket);
            self.log.break_at(
                &mut turn,
                "a write was abandoned before it reached the file".into(),
            );
        }
        if !self.published {
            drop(self.log.published.enter(self.ticket));
        }
    }
}

impl CommitLog {
    /// Opens (or creates) the log in `dir`. Segment headers are checked; records are not read
    /// until [`CommitLog::replay`].
    pub fn open(dir: &Path, segment_size: u64) -> Result<CommitLog> {
        fsutil::ensure_dir(dir)?;
        let files = fsutil::numbered_files(dir, segment::EXT)?;
        let mut segments = BTreeMap::new();
        let count = files.len();
        for (i, (base, path)) in files.into_iter().enumerate() {
            let newest = i + 1 == count;
            match Segment::open(&path, base, newest)? {
                Some(seg) => {
                    segments.insert(base, Arc::new(seg));
                }
                None => {
                    // Creation was cut short by a crash: nothing was ever written to it.
                    tracing::warn!(file = %path.display(), "replacing a segment whose header was never completed");
                    segments.insert(base, Arc::new(Segment::create(dir, base)?));
                }
            }
        }
        if segments.is_empty() {
            segments.insert(0, Arc::new(Segment::create(dir, 0)?));
        }
        let active = segments
            .values()
            .next_back()
            .cloned()
            .expect("at least one segment");
        let end = active.base + active.data_len()?;
        Ok(CommitLog {
            dir: dir.to_path_buf(),
            capacity: segment_size
                .saturating_sub(HEADER_LEN)
                .max(record::MIN_LEN as u64),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                active,
                end,
                next_ticket: 0,
                last_stored_at: i64::MIN,
                fenced: None,
                queues: std::collections::HashMap::new(),
                batches: Vec::new(),
            }),
            written: Turnstile::new(
                0,
                WrittenEnd {
                    end,
                    broken: None,
                    cut_failed: None,
                },
            ),
            written_end: AtomicU64::new(end),
            broken: std::sync::atomic::AtomicBool::new(false),
            published: Turnstile::new(0, Published { end }),
            durable: Mutex::new(Durable {
                flushed: 0,
                requested: 0,
                failed: None,
                shutdown: false,
                waiting: Vec::new(),
                recent: std::collections::HashMap::new(),
                flushes: 0,
            }),
            flush_wanted: Condvar::new(),
            flushed_at: AtomicU64::new(0),
            disturbed: std::sync::atomic::AtomicBool::new(false),
            stats: LogStats::default(),
        })
    }

    /// The position of the oldest record still stored.
    pub fn start(&self) -> u64 {
        *self
            .segments
            .read()
            .keys()
            .next()
            .expect("at least one segment")
    }

    /// The position after the last append reserved (written once the appends in flight are).
    pub fn end(&self) -> u64 {
        self.lock_writer().end
    }

    /// The base of the newest segment.
    pub fn active_base(&self) -> u64 {
        self.lock_writer().active.base
    }

    /// The largest batch (in encoded bytes) one append can take.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock()
    }

    fn lock_durable(&self) -> MutexGuard<'_, Durable> {
        self.durable.lock()
    }

    /// Makes room for an append of `len` bytes, for a caller holding the write lock about to
    /// [`CommitLog::reserve`] it: settles the log after a failed write, and rolls to a new
    /// segment when the append would not fit in the active one (the whole append lands in one
    /// segment). Call before choosing anything that depends on earlier appends succeeding
    /// (queue offsets): both may wait for every reserved append to be published.
    pub fn make_room(&self, w: &mut Writer, len: u64) -> Result<()> {
        self.settle(w)?;
        if w.end - w.active.base + len > self.capacity && w.end > w.active.base {
            // The old segment is synced and sealed as it is left: every append reserved in it
            // must be in it first.
            self.drain(w);
            self.settle(w)?;
            self.roll(w)?;
        }
        Ok(())
    }

    /// Reserves the next `len` bytes of the log and a ticket, after [`CommitLog::make_room`].
    pub fn reserve(&self, w: &mut Writer, len: u64) -> Reservation<'_> {
        let r = Reservation {
            log: self,
            ticket: w.next_ticket,
            start: w.end,
            len,
            segment: w.active.clone(),
            written: false,
            published: false,
        };
        w.next_ticket += 1;
        w.end += len;
        r
    }

    /// Waits (holding the write lock) until every reserved append has been published.
    fn drain(&self, w: &Writer) {
        self.published.wait_passed(w.next_ticket);
    }

    /// Waits until every append reserved so far has been published (or has failed).
    pub fn drain_reserved(&self) {
        let w = self.lock_writer();
        self.drain(&w);
    }

    /// After a failed write: waits until every append reserved behind it has passed (they
    /// failed too), then reserves again from where the file ends. Fails when the log is
    /// fenced.
    pub fn settle(&self, w: &mut Writer) -> Result<()> {
        if let Some(reason) = &w.fenced {
            return Err(StorageError::WritesFenced(reason.clone()));
        }
        if !self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        self.drain(w);
        let mut written = self.written.peek();
        written.broken = None;
        self.broken.store(false, Ordering::Release);
        w.end = written.end;
        w.queues.clear();
        w.batches.clear();
        if let Some(reason) = written.cut_failed.take() {
            w.fenced = Some(reason.clone());
            return Err(StorageError::WritesFenced(reason));
        }
        Ok(())
    }

    /// Marks the log broken by a failed or abandoned write: the appends reserved after it fail
    /// too, until the next reservation settles the log.
    fn break_at(&self, turn: &mut WrittenEnd, reason: String) {
        turn.broken = Some(reason);
        self.broken.store(true, Ordering::Release);
    }

    /// The published state between turns: everything before `end` is indexed, and nothing
    /// more is while the guard is held (checkpoints take their snapshot here).
    pub fn published(&self) -> Peek<'_, Published> {
        self.published.peek()
    }

    /// Waits until the append with `ticket` (and every one before it) has been published.
    pub fn wait_published(&self, ticket: u64) {
        self.published.wait_passed(ticket + 1);
    }

    /// The first ticket not yet published.
    pub fn next_unpublished(&self) -> u64 {
        self.published.next()
    }

    /// The store time for the next record: now, but never earlier than the previous one.
    pub fn next_stored_at(&self, w: &mut Writer, now_ms: i64) -> i64 {
        w.last_stored_at = w.last_stored_at.max(now_ms);
        w.active.note_stored_at(w.last_stored_at);
        w.last_stored_at
    }

    /// Creates the next segment, then seals (and syncs) the current one. If creation fails the
    /// current segment stays active and unsealed.
    fn roll(&self, w: &mut Writer) -> Result<()> {
        let next = Arc::new(Segment::create(&self.dir, w.end)?);
        if let Err(e) = w.active.seal() {
            w.fenced = Some(format!("sealing {} failed: {e}", w.active.path.display()));
            return Err(e);
        }
        self.stats.data_syncs.fetch_add(1, Ordering::Relaxed);
        self.segments.write().insert(next.base, next.clone());
        w.active = next;
        Ok(())
    }

    /// Blocks until every byte before `position` is on disk (group commit).
    pub fn wait_durable(&self, position: u64) -> Result<()> {
        let mut d = self.lock_durable();
        if d.flushed >= position {
            return Ok(());
        }
        d.requested = d.requested.max(position);
        d.waiting.push((position, std::thread::current()));
        // The flusher needs waking for the first request and when the group it gathers is
        // complete; waking it for every arrival in between only costs context switches.
        if d.waiting.len() == 1 || d.waiting.len() >= d.recent.len() {
            self.flush_wanted.notify_one();
        }
        drop(d);
        loop {
            if self.flushed_at.load(Ordering::Acquire) >= position {
                return Ok(());
            }
            if self.disturbed.load(Ordering::Acquire) {
                let d = self.lock_durable();
                if let Some(reason) = &d.failed {
                    return Err(StorageError::WritesFenced(reason.clone()));
                }
                if d.flushed >= position {
                    return Ok(());
                }
                if d.shutdown {
                    drop(d);
                    return self.flush();
                }
            }
            std::thread::park();
        }
    }

    /// Unparks every waiting appender (they then look at the shared state themselves).
    fn disturb_waiters(&self, d: &mut Durable) {
        self.disturbed.store(true, Ordering::Release);
        for (_, t) in d.waiting.drain(..) {
            t.unpark();
        }
    }

    /// Syncs everything written so far.
    pub fn flush(&self) -> Result<()> {
        // Everything written is in the active segment or in one sealed (synced) when left.
        let (active, end) = {
            let w = self.lock_writer();
            (w.active.clone(), self.written_end.load(Ordering::Acquire))
        };
        {
            let d = self.lock_durable();
            if let Some(reason) = &d.failed {
                return Err(StorageError::WritesFenced(reason.clone()));
            }
            if d.flushed >= end {
                return Ok(());
            }
        }
        let began = Instant::now();
        let result = active.file.sync_data();
        let took = began.elapsed();
        metrics::histogram!(crate::metrics::STORAGE_FSYNC_DURATION_SECONDS)
            .record(took.as_secs_f64());
        self.stats
            .sync_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.stats.data_syncs.fetch_add(1, Ordering::Relaxed);
        let mut d = self.lock_durable();
        match result {
            Ok(()) => {
                d.flushed = d.flushed.max(end);
                self.flushed_at.store(d.flushed, Ordering::Release);
                let flushed = d.flushed;
                let (covered, rest): (Vec<_>, Vec<_>) =
                    d.waiting.drain(..).partition(|(p, _)| *p <= flushed);
                d.waiting = rest;
                d.flushes += 1;
                let seq = d.flushes;
                for (_, t) in &covered {
                    d.recent.insert(t.id(), seq);
                }
                d.recent.retain(|_, last| *last + 1 >= seq);
                drop(d);
                for (_, t) in covered {
                    t.unpark();
                }
                Ok(())
            }
            Err(e) => {
                let reason = format!("syncing {} failed: {e}", active.path.display());
                d.failed = Some(reason.clone());
                self.disturb_waiters(&mut d);
                drop(d);
                self.lock_writer().fenced = Some(reason);
                Err(io_err("syncing", &active.path)(e))
            }
        }
    }

    /// The flusher loop: flushes when an appender asks, and at least every `interval` when
    /// there is unflushed data. Returns when [`CommitLog::stop_flusher`] is called.
    pub fn run_flusher(&self, interval: Duration) {
        loop {
            let mut d = self.lock_durable();
            let deadline = Instant::now() + interval;
            loop {
                if d.shutdown {
                    return;
                }
                if d.requested > d.flushed {
                    // Let the appenders released by the last flush join this one.
                    let gather_until = Instant::now() + GATHER_MAX;
                    while d.waiting.len() < d.recent.len() && !d.shutdown {
                        let now = Instant::now();
                        if now >= gather_until {
                            break;
                        }
                        self.flush_wanted.wait_for(&mut d, gather_until - now);
                    }
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                self.flush_wanted.wait_for(&mut d, deadline - now);
            }
            drop(d);
            if let Err(e) = self.flush() {
                tracing::error!(error = %e, "commit log flush failed; the log now refuses writes");
                // Wake waiters, then idle until shutdown: nothing more can be made durable.
                let mut d = self.lock_durable();
                while !d.shutdown {
                    self.flush_wanted.wait(&mut d);
                }
                return;
            }
        }
    }

    pub fn stop_flusher(&self) {
        let mut d = self.lock_durable();
        d.shutdown = true;
        self.disturb_waiters(&mut d);
        self.flush_wanted.notify_all();
    }

    /// Reads `size` bytes at `position` with one `pread`. `None` when that part of the log was
    /// deleted, or when the range crosses into the next segment (a single record never does;
    /// a run of back-to-back records may).
    pub fn read(&self, position: u64, size: usize) -> Result<Option<(Arc<Segment>, Vec<u8>)>> {
        let seg = {
            let segments = self.segments.read();
            let Some((_, seg)) = segments.range(..=position).next_back() else {
                return Ok(None);
            };
            if segments
                .range(position + 1..)
                .next()
                .is_some_and(|(&next, _)| position + size as u64 > next)
            {
                return Ok(None);
            }
            seg.clone()
        };
        let mut buf = vec![0u8; size];
        seg.read_at(position, &mut buf)?;
        Ok(Some((seg, buf)))
    }

    /// All segments, oldest first.
    pub fn segments(&self) -> Vec<Arc<Segment>> {
        self.segments.read().values().cloned().collect()
    }

    /// Deletes the oldest segment unless it is the active one. Returns the deleted segment's
    /// position range. Readers that hold it keep reading until they drop it.
    pub fn delete_oldest(&self) -> Result<Option<Range<u64>>> {
        let w = self.lock_writer();
        let mut segments = self.segments.write();
        let Some((&base, seg)) = segments.iter().next() else {
            return Ok(None);
        };
        if base == w.active.base {
            return Ok(None);
        }
        let next = segments
            .keys()
            .nth(1)
            .copied()
            .expect("active segment follows");
        let path = seg.path.clone();
        segments.remove(&base);
        drop(segments);
        drop(w);
        std::fs::remove_file(&path).map_err(io_err("deleting segment", &path))?;
        fsutil::fsync_dir(&self.dir)?;
        Ok(Some(base..next))
    }
}
