//! The key index: finds records by message id or key.
//!
//! Keys are indexed record by record. Ids are indexed by **stretch**: generated ids come in
//! blocks (time, process, then a counter; see `MessageId::generate_block`), so the records of
//! one append that lie next to each other in the log and share an id's *run* (the id without
//! the counter's low [`RUN_BITS`] bits, see [`id_run_hash`]) get one entry, at the first of
//! them. A lookup by id reads the records of each stretch the index names, header by header,
//! until the run changes (`reads`). A 1000-message batch over four queues makes about 20 id
//! entries instead of 1000. Files written before stretches hold one entry per id under
//! [`id_hash`]; lookups ask for both. A stretch never spans two appends, so never two
//! segments: retention cannot take its first record and leave the rest.
//!
//! A hash table of (hash → log position) entries, chained through a `prev` link, in files that
//! each cover a range of the log. The newest table lives in memory; when it fills up it is
//! frozen (still searched in memory) and written to its file by the housekeeping thread, never
//! on the append path. The active table is also written at every checkpoint. Older tables are
//! read from their files on lookup. Hashes
//! can collide, so a lookup yields *candidate* positions: the store reads each record and keeps
//! the ones that really match. Everything here can be rebuilt from the log; nothing in it is the
//! only copy of anything.
//!
//! File layout (little-endian): a 64-byte header — magic "LOCKGIDX", version u16, reserved u16,
//! slot count u32, entry count u32, reserved u32, first covered log position u64, end of the
//! covered range u64, reserved, CRC32C of bytes [0, 60) at 60 — then `slot count` u32 slots
//! (entry number + 1 of the newest entry in that slot, 0 for none), then `entry count` entries of
//! 20 bytes: hash u64, log position u64, previous entry number + 1 in the chain u32.

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{Result, StorageError, io_err};
use super::fsutil;
use crate::codec::{ReadError, Reader};
use crate::record::{MessageId, fnv1a64};

const MAGIC: &[u8; 8] = b"LOCKGIDX";
const VERSION: u16 = 1;
const HEADER_LEN: u64 = 64;
const ENTRY_LEN: u64 = 20;
const EXT: &str = ".idx";
pub const DEFAULT_CAPACITY: u32 = 1 << 18;

/// The hash a message id was indexed under before ids were indexed by stretch (still looked
/// up: data directories from then hold such entries).
pub fn id_hash(topic_id: u32, id: &MessageId) -> u64 {
    fnv1a64(&[b"i", &topic_id.to_le_bytes(), &id.0])
}

/// Ids whose counters differ only in these low bits share a run.
pub const RUN_BITS: u32 = 8;

/// An id's run: its time and process bytes, and its counter without the low [`RUN_BITS`].
pub fn id_run(id: &MessageId) -> ([u8; 10], u64) {
    let mut counter = [0u8; 8];
    counter[2..].copy_from_slice(&id.0[10..]);
    let mut head = [0u8; 10];
    head.copy_from_slice(&id.0[..10]);
    (head, u64::from_be_bytes(counter) >> RUN_BITS)
}

/// The hash a stretch of records whose ids share a run is indexed under.
pub fn id_run_hash(topic_id: u32, id: &MessageId) -> u64 {
    let (head, run) = id_run(id);
    fnv1a64(&[b"r", &topic_id.to_le_bytes(), &head, &run.to_le_bytes()])
}

/// The hash a key is indexed under.
pub fn key_hash(topic_id: u32, key: &str) -> u64 {
    fnv1a64(&[b"k", &topic_id.to_le_bytes(), key.as_bytes()])
}

#[derive(Clone)]
struct Table {
    start: u64,
    end: u64,
    slots: Vec<u32>,
    hashes: Vec<u64>,
    positions: Vec<u64>,
    prevs: Vec<u32>,
}

impl Table {
    fn new(start: u64, capacity: u32) -> Table {
        Table {
            start,
            end: start,
            slots: vec![0; (capacity / 2).max(1) as usize],
            hashes: Vec::new(),
            positions: Vec::new(),
            prevs: Vec::new(),
        }
    }

    fn insert(&mut self, hash: u64, position: u64) {
        let slot = (hash % self.slots.len() as u64) as usize;
        self.hashes.push(hash);
        self.positions.push(position);
        self.prevs.push(self.slots[slot]);
        self.slots[slot] = self.hashes.len() as u32;
    }

    fn lookup(&self, hash: u64, limit: usize, out: &mut Vec<u64>) {
        let mut link = self.slots[(hash % self.slots.len() as u64) as usize];
        while link != 0 && out.len() < limit {
            let i = (link - 1) as usize;
            if self.hashes[i] == hash {
                out.push(self.positions[i]);
            }
            link = self.prevs[i];
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let n = self.hashes.len();
        let mut b =
            Vec::with_capacity(HEADER_LEN as usize + self.slots.len() * 4 + n * ENTRY_LEN as usize);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&(self.slots.len() as u32).to_le_bytes());
        b.extend_from_slice(&(n as u32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&self.start.to_le_bytes());
        b.extend_from_slice(&self.end.to_le_bytes());
        b.resize(60, 0);
        let crc = crc32c::crc32c(&b[..60]);
        b.extend_from_slice(&crc.to_le_bytes());
        for s in &self.slots {
            b.extend_from_slice(&s.to_le_bytes());
        }
        for i in 0..n {
            b.extend_from_slice(&self.hashes[i].to_le_bytes());
            b.extend_from_slice(&self.positions[i].to_le_bytes());
            b.extend_from_slice(&self.prevs[i].to_le_bytes());
        }
        b
    }

    /// Rebuilds a table from a file's bytes, keeping entries for positions below `keep_below`.
    fn from_bytes(b: &[u8], keep_below: u64, capacity: u32) -> Option<Table> {
        let h = Header::parse(b.get(..HEADER_LEN as usize)?)?;
        let entries_at = HEADER_LEN as usize + h.slots as usize * 4;
        let mut t = Table::new(h.start, capacity);
        for i in 0..h.entries as usize {
            let e = b.get(
                entries_at + i * ENTRY_LEN as usize..entries_at + (i + 1) * ENTRY_LEN as usize,
            )?;
            let hash = Reader::at(e, 0).u64("hash").ok()?;
            let position = Reader::at(e, 8).u64("position").ok()?;
            if position >= keep_below {
                break;
            }
            t.insert(hash, position);
        }
        // `end` is a record boundary: the file's own, or the keep point (also a boundary).
        t.end = h.end.min(keep_below);
        Some(t)
    }
}

#[derive(Clone, Copy)]
struct Header {
    slots: u32,
    entries: u32,
    start: u64,
    end: u64,
}

impl Header {
    fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN as usize || &b[..8] != MAGIC {
            return None;
        }
        let crc = Reader::at(b, 60).u32("header checksum").ok()?;
        if crc != crc32c::crc32c(&b[..60]) || u16::from_le_bytes([b[8], b[9]]) != VERSION {
            return None;
        }
        let h = Header {
            slots: Reader::at(b, 12).u32("slots").ok()?,
            entries: Reader::at(b, 16).u32("entries").ok()?,
            start: Reader::at(b, 24).u64("start").ok()?,
            end: Reader::at(b, 32).u64("end").ok()?,
        };
        (h.slots > 0).then_some(h)
    }
}

/// An index file no longer written to.
struct Sealed {
    path: PathBuf,
    file: File,
    header: Header,
}

impl Sealed {
    fn open(path: &Path) -> Result<Option<Sealed>> {
        let file = File::open(path).map_err(io_err("opening key index", path))?;
        let mut h = [0u8; HEADER_LEN as usize];
        if file.read_exact_at(&mut h, 0).is_err() {
            return Ok(None);
        }
        Ok(Header::parse(&h).map(|header| Sealed {
            path: path.to_path_buf(),
            file,
            header,
        }))
    }

    fn lookup(&self, hash: u64, limit: usize, out: &mut Vec<u64>) -> Result<()> {
        let read = |at: u64, buf: &mut [u8]| {
            self.file
                .read_exact_at(buf, at)
                .map_err(io_err("reading key index", &self.path))
        };
        let mut four = [0u8; 4];
        let slot = hash % u64::from(self.header.slots);
        read(HEADER_LEN + slot * 4, &mut four)?;
        let mut link = u32::from_le_bytes(four);
        let entries_at = HEADER_LEN + u64::from(self.header.slots) * 4;
        let mut e = [0u8; ENTRY_LEN as usize];
        while link != 0 && link <= self.header.entries && out.len() < limit {
            let at = entries_at + u64::from(link - 1) * ENTRY_LEN;
            read(at, &mut e)?;
            let corrupt = |err: ReadError| StorageError::Corrupt {
                file: self.path.clone(),
                position: at,
                reason: err.to_string(),
            };
            if Reader::at(&e, 0).u64("hash").map_err(corrupt)? == hash {
                out.push(Reader::at(&e, 8).u64("position").map_err(corrupt)?);
            }
            let prev = Reader::at(&e, 16).u32("chain link").map_err(corrupt)?;
            if prev >= link {
                break; // a damaged chain must not loop
            }
            link = prev;
        }
        Ok(())
    }
}

pub struct KeyIndex {
    dir: PathBuf,
    capacity: u32,
    active: Mutex<Table>,
    /// Full tables waiting to be written, oldest first. Lock order: `frozen`, then `sealed`.
    frozen: Mutex<std::collections::VecDeque<Arc<Table>>>,
    /// One writer of frozen tables at a time.
    writing: Mutex<()>,
    /// Oldest first.
    sealed: RwLock<Vec<Arc<Sealed>>>,
    /// Sealed files written since the last checkpoint, to be synced by it.
    unsynced: Mutex<Vec<PathBuf>>,
}

/// Key-index files in `dir` whose header does not check out, with why (reads only).
pub fn damaged_files(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for (_, path) in fsutil::numbered_files(dir, EXT)? {
        let bytes = std::fs::read(&path).map_err(io_err("reading key index", &path))?;
        if bytes
            .get(..HEADER_LEN as usize)
            .and_then(Header::parse)
            .is_none()
        {
            out.push((
                path,
                "the key-index header is damaged (lookups by id and key miss what it covers)"
                    .into(),
            ));
        }
    }
    Ok(out)
}

impl KeyIndex {
    /// Opens the index in `dir`, keeping entries for positions below `keep_below`. Returns the
    /// index and the log position from which it must be fed again by a replay (at most
    /// `keep_below`; less when a file turned out damaged).
    pub fn open(dir: &Path, keep_below: u64, capacity: u32) -> Result<(KeyIndex, u64)> {
        fsutil::ensure_dir(dir)?;
        let mut files = fsutil::numbered_files(dir, EXT)?;
        // Files that start at or after the keep point hold nothing worth keeping.
        while let Some((start, path)) = files.last().cloned() {
            if start < keep_below {
                break;
            }
            std::fs::remove_file(&path).map_err(io_err("deleting key index", &path))?;
            files.pop();
        }
        // A damaged older file is rebuilt with everything after it: those files go, and the
        // replay re-indexes the log from where the damaged one began.
        let older = &files[..files.len().saturating_sub(1)];
        let damaged = older
            .iter()
            .find(|(_, path)| Sealed::open(path).ok().flatten().is_none())
            .map(|(start, path)| (*start, path.clone()));
        let rebuild_from = damaged.map(|(from, path)| {
            tracing::warn!(file = %path.display(), "key index file is damaged; rebuilding it and the ones after it from the log");
            from
        });
        if let Some(from) = rebuild_from {
            while files.last().is_some_and(|(start, _)| *start >= from) {
                let (_, p) = files.pop().expect("checked");
                std::fs::remove_file(&p).map_err(io_err("deleting key index", &p))?;
            }
        }
        let mut active = Table::new(rebuild_from.unwrap_or(keep_below), capacity);
        // After a rebuild nothing newer is left; otherwise the newest file becomes active.
        let newest = if rebuild_from.is_none() {
            files.pop()
        } else {
            None
        };
        if let Some((start, path)) = newest {
            let bytes = std::fs::read(&path).map_err(io_err("reading key index", &path))?;
            match Table::from_bytes(&bytes, keep_below, capacity) {
                Some(t) => active = t,
                None => {
                    tracing::warn!(file = %path.display(), "key index file is damaged; rebuilding it from the log");
                    std::fs::remove_file(&path).map_err(io_err("deleting key index", &path))?;
                    active = Table::new(start, capacity);
                }
            }
        }
        let mut sealed = Vec::new();
        for (_, path) in files {
            // Damaged ones were removed above: these all open.
            if let Some(s) = Sealed::open(&path)? {
                sealed.push(Arc::new(s));
            }
        }
        let replay_from = active.end;
        Ok((
            KeyIndex {
                dir: dir.to_path_buf(),
                capacity,
                active: Mutex::new(active),
                frozen: Mutex::new(std::collections::VecDeque::new()),
                writing: Mutex::new(()),
                sealed: RwLock::new(sealed),
                unsynced: Mutex::new(Vec::new()),
            },
            replay_from,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.active.lock()
    }

    /// Indexes the `size`-byte record at `position`: its id's run (an [`id_run_hash`]) and its
    /// keys' hashes. Called in log order, as appends are published, so it only touches
    /// memory. A table fills up only between records, so a table's `end` is always a record
    /// boundary (recovery may start scanning there).
    pub fn insert(&self, position: u64, size: u32, run: u64, keys: impl IntoIterator<Item = u64>) {
        self.insert_all([(position, size, run, keys)]);
    }

    /// [`KeyIndex::insert`] for the records of one append, in log order, under one lock. A
    /// record that directly follows one of the same id run in this call adds no id entry: the
    /// stretch's first record stands for it.
    pub fn insert_all<H: IntoIterator<Item = u64>>(
        &self,
        records: impl IntoIterator<Item = (u64, u32, u64, H)>,
    ) {
        let mut t = self.lock();
        let mut stretch: Option<(u64, u64)> = None; // (run, where the next record would be)
        for (position, size, run, keys) in records {
            if position < t.end {
                continue; // already indexed (a replay that starts before the index's end)
            }
            if t.hashes.len() >= self.capacity as usize {
                let full = std::mem::replace(&mut *t, Table::new(position, self.capacity));
                self.frozen.lock().push_back(Arc::new(full));
            }
            if stretch != Some((run, position)) {
                t.insert(run, position);
            }
            for h in keys {
                t.insert(h, position);
            }
            t.end = position + u64::from(size);
            stretch = Some((run, t.end));
        }
    }

    /// Writes frozen tables to their files (unsynced; the checkpoint syncs them).
    pub fn write_frozen(&self) -> Result<()> {
        let _one = self.writing.lock();
        loop {
            let Some(table) = self.frozen.lock().front().cloned() else {
                return Ok(());
            };
            let path = self.dir.join(fsutil::numbered_name(table.start, EXT));
            std::fs::write(&path, table.to_bytes()).map_err(io_err("writing key index", &path))?;
            let sealed =
                Sealed::open(&path)?.ok_or_else(|| super::error::StorageError::Corrupt {
                    file: path.clone(),
                    position: 0,
                    reason: "key index file just written does not read back".into(),
                })?;
            self.unsynced.lock().push(path);
            // Move it from `frozen` to `sealed` under both locks, so a lookup sees it once.
            let mut frozen = self.frozen.lock();
            self.sealed.write().push(Arc::new(sealed));
            frozen.pop_front();
        }
    }

    /// Candidate positions for `hash`, newest first, at most `limit`.
    pub fn lookup(&self, hash: u64, limit: usize) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        self.lock().lookup(hash, limit, &mut out);
        let (frozen, sealed): (Vec<Arc<Table>>, Vec<Arc<Sealed>>) = {
            let frozen = self.frozen.lock();
            let sealed = self.sealed.read();
            (frozen.iter().cloned().collect(), sealed.clone())
        };
        for t in frozen.iter().rev() {
            if out.len() >= limit {
                break;
            }
            t.lookup(hash, limit, &mut out);
        }
        for s in sealed.iter().rev() {
            if out.len() >= limit {
                break;
            }
            s.lookup(hash, limit, &mut out)?;
        }
        Ok(out)
    }

    /// Makes everything indexed so far durable: syncs sealed files and writes the active table.
    pub fn checkpoint(&self) -> Result<()> {
        self.write_frozen()?;
        let unsynced = std::mem::take(&mut *self.unsynced.lock());
        for path in unsynced {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err("syncing key index", &path))?;
        }
        let table = self.lock().clone();
        let path = self.dir.join(fsutil::numbered_name(table.start, EXT));
        fsutil::write_atomic(&path, &table.to_bytes())
    }

    /// Deletes files that only cover log positions below `log_start`.
    pub fn trim(&self, log_start: u64) -> Result<()> {
        let doomed: Vec<Arc<Sealed>> = {
            let mut sealed = self.sealed.write();
            let keep = sealed
                .iter()
                .position(|s| s.header.end > log_start)
                .unwrap_or(sealed.len());
            sealed.drain(..keep).collect()
        };
        let mut unsynced = self.unsynced.lock();
        for s in doomed {
            unsynced.retain(|p| p != &s.path);
            std::fs::remove_file(&s.path).map_err(io_err("deleting key index", &s.path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_span_sealed_files_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, from) = KeyIndex::open(dir.path(), 0, 8).unwrap();
        assert_eq!(from, 0);
        for pos in 0..20u64 {
            idx.insert(pos * 10, 10, 0, [key_hash(1, &format!("k{}", pos % 3))]);
        }
        let hits = idx.lookup(key_hash(1, "k0"), 100).unwrap();
        assert_eq!(hits, vec![180, 150, 120, 90, 60, 30, 0]);
        assert_eq!(idx.lookup(key_hash(1, "k0"), 2).unwrap(), vec![180, 150]);
        assert!(idx.lookup(key_hash(2, "k0"), 10).unwrap().is_empty());
        assert!(!idx.frozen.lock().is_empty(), "full tables wait in memory");
        idx.checkpoint().unwrap();
        assert!(
            idx.frozen.lock().is_empty(),
            "the checkpoint writes them out"
        );
        assert_eq!(
            idx.lookup(key_hash(1, "k0"), 100).unwrap(),
            hits,
            "same answers from files"
        );
        drop(idx);
        // Reopen keeping positions below 100: entries at 100.. are dropped and must be replayed.
        let (idx, from) = KeyIndex::open(dir.path(), 100, 8).unwrap();
        assert!(from <= 100);
        assert_eq!(
            idx.lookup(key_hash(1, "k0"), 100).unwrap(),
            vec![90, 60, 30, 0]
        );
    }

    #[test]
    fn damaged_newest_file_is_rebuilt_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, _) = KeyIndex::open(dir.path(), 0, 8).unwrap();
        for pos in 0..12u64 {
            idx.insert(pos, 1, 0, [key_hash(1, "a")]);
        }
        idx.checkpoint().unwrap();
        drop(idx);
        let files = fsutil::numbered_files(dir.path(), EXT).unwrap();
        let (newest_start, newest) = files.last().unwrap().clone();
        std::fs::write(&newest, b"garbage").unwrap();
        let (idx, from) = KeyIndex::open(dir.path(), 12, 8).unwrap();
        assert_eq!(from, newest_start);
        assert_eq!(
            idx.lookup(key_hash(1, "a"), 100).unwrap().len(),
            newest_start as usize
        );
    }

    #[test]
    fn an_append_indexes_each_stretch_of_one_id_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let (idx, _) = KeyIndex::open(dir.path(), 0, 1 << 10).unwrap();
        let none = || std::iter::empty::<u64>();
        // Runs 7 7 7 | 8 8 | 7 (a new stretch: the run changed) , then a gap before 7 again.
        idx.insert_all([
            (0, 10, 7, none()),
            (10, 10, 7, none()),
            (20, 10, 7, none()),
            (30, 10, 8, none()),
            (40, 10, 8, none()),
            (50, 10, 7, none()),
            (70, 10, 7, none()),
        ]);
        assert_eq!(idx.lookup(7, 100).unwrap(), vec![70, 50, 0]);
        assert_eq!(idx.lookup(8, 100).unwrap(), vec![30]);
        // The next append starts a stretch of its own, even right behind the last one.
        idx.insert_all([(80, 10, 7, none()), (90, 10, 7, none())]);
        assert_eq!(idx.lookup(7, 100).unwrap(), vec![80, 70, 50, 0]);
        // Keys are indexed record by record all the same.
        idx.insert_all([(100, 10, 7, [1u64]), (110, 10, 7, [1u64])]);
        assert_eq!(idx.lookup(1, 100).unwrap(), vec![110, 100]);
    }
}
