//! Idempotent producers: for each (producer, topic, queue), the last few batches stored, so a
//! retried batch is recognized and answered with its original offsets instead of being stored
//! twice.
//!
//! The table is checked under the log's write lock (a resend whose original is still in flight
//! waits for it there) and updated as each append is published, in log order; it is rebuilt
//! from the producer stamps in log records during recovery, and snapshotted to
//! `producers.json` at every checkpoint, so it survives restarts and crashes like the data does.
//! Producers idle for [`EXPIRY`] are forgotten, and the longest idle ones sooner when the
//! table holds more than [`MAX_ENTRIES`] entries or [`MAX_BATCHES`] batches (a CLI run is a new
//! producer each time: 24 hours of them must not grow the table without bound).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError, io_err};
use super::fsutil;

pub use crate::record::KEEP_BATCHES;
/// (producer, topic, queue) entries held at most (about 100 bytes each, plus their batches).
pub const MAX_ENTRIES: usize = 200_000;
/// Batches held at most over all entries (24 bytes each): about 24 MiB.
pub const MAX_BATCHES: usize = 1_000_000;
/// A producer silent this long is forgotten (its retries then count as new batches).
pub const EXPIRY: Duration = Duration::from_secs(24 * 3600);
pub const FILE: &str = "producers.json";

type Key = (u64, u32, u32);

/// Which batch: of which producer, in which topic and queue, with which sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchKey {
    pub producer: u64,
    pub topic: u32,
    pub queue: u32,
    pub sequence: u64,
}

impl BatchKey {
    fn entry(&self) -> Key {
        (self.producer, self.topic, self.queue)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Batch {
    sequence: u64,
    first_offset: u64,
    count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Entry {
    batches: VecDeque<Batch>,
    last_stored_at: i64,
}

/// What the table knows of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Stored before, at these offsets.
    Duplicate {
        first_offset: u64,
        count: u32,
    },
    /// Older than every remembered batch: cannot tell whether it was stored.
    Stale {
        last: u64,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerTable {
    entries: HashMap<Key, Entry>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    position: u64,
    producers: Vec<SnapshotEntry>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotEntry {
    producer: u64,
    topic: u32,
    queue: u32,
    last_stored_at: i64,
    batches: Vec<Batch>,
}

impl ProducerTable {
    pub fn check(&self, key: BatchKey) -> Seen {
        let sequence = key.sequence;
        let Some(entry) = self.entries.get(&key.entry()) else {
            return Seen::New;
        };
        if let Some(b) = entry.batches.iter().find(|b| b.sequence == sequence) {
            return Seen::Duplicate {
                first_offset: b.first_offset,
                count: b.count,
            };
        }
        match entry.batches.back() {
            Some(last) if sequence < last.sequence => Seen::Stale {
                last: last.sequence,
            },
            _ => Seen::New,
        }
    }

    /// Notes that the record at `offset` belongs to batch `sequence`. Records arrive in log
    /// order; noting one twice (a replay over a snapshot) changes nothing.
    pub fn note(&mut self, key: BatchKey, offset: u64, stored_at: i64) {
        let sequence = key.sequence;
        let entry = self.entries.entry(key.entry()).or_default();
        entry.last_stored_at = entry.last_stored_at.max(stored_at);
        if let Some(b) = entry.batches.iter_mut().find(|b| b.sequence == sequence) {
            if offset == b.first_offset + u64::from(b.count) {
                b.count += 1;
            }
            return;
        }
        if entry
            .batches
            .back()
            .is_some_and(|last| sequence < last.sequence)
        {
            return; // older than what is remembered: already forgotten on purpose
        }
        entry.batches.push_back(Batch {
            sequence,
            first_offset: offset,
            count: 1,
        });
        while entry.batches.len() > KEEP_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// Notes a whole batch written at `first_offset..first_offset + count`.
    pub fn note_batch(&mut self, key: BatchKey, first_offset: u64, count: u32, stored_at: i64) {
        for i in 0..u64::from(count) {
            self.note(key, first_offset + i, stored_at);
        }
    }

    /// Forgets producers last seen before `cutoff` (ms), then the longest idle ones while the
    /// table holds more than `max_entries` entries or `max_batches` batches. Returns how many
    /// were forgotten for room (their retries then count as new batches).
    pub fn expire(&mut self, cutoff: i64, max_entries: usize, max_batches: usize) -> usize {
        self.entries.retain(|_, e| e.last_stored_at >= cutoff);
        let batches: usize = self.entries.values().map(|e| e.batches.len()).sum();
        if self.entries.len() <= max_entries && batches <= max_batches {
            return 0;
        }
        let mut by_age: Vec<(i64, Key, usize)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.last_stored_at, *k, e.batches.len()))
            .collect();
        by_age.sort_unstable();
        let (mut entries, mut batches, mut forgotten) = (self.entries.len(), batches, 0);
        for (_, key, n) in by_age {
            if entries <= max_entries && batches <= max_batches {
                break;
            }
            self.entries.remove(&key);
            entries -= 1;
            batches -= n;
            forgotten += 1;
        }
        forgotten
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Writes the table as of log `position` (atomically).
    pub fn save(&self, dir: &Path, position: u64) -> Result<()> {
        let snapshot = Snapshot {
            version: 1,
            position,
            producers: self
                .entries
                .iter()
                .map(|(&(producer, topic, queue), e)| SnapshotEntry {
                    producer,
                    topic,
                    queue,
                    last_stored_at: e.last_stored_at,
                    batches: e.batches.iter().copied().collect(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&snapshot).expect("snapshot serializes");
        fsutil::write_atomic(&dir.join(FILE), &bytes)
    }

    /// Reads the snapshot, if there is one.
    pub fn load(dir: &Path) -> Result<ProducerTable> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProducerTable::default());
            }
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let snapshot: Snapshot =
            serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
                file: path.clone(),
                position: e.column() as u64,
                reason: format!("producer snapshot is not valid: {e}"),
            })?;
        let mut table = ProducerTable::default();
        for e in snapshot.producers {
            table.entries.insert(
                (e.producer, e.topic, e.queue),
                Entry {
                    batches: e.batches.into(),
                    last_stored_at: e.last_stored_at,
                },
            );
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(producer: u64, topic: u32, queue: u32, sequence: u64) -> BatchKey {
        BatchKey {
            producer,
            topic,
            queue,
            sequence,
        }
    }

    #[test]
    fn recognizes_retries_and_refuses_stale_ones() {
        let mut t = ProducerTable::default();
        assert_eq!(t.check(k(7, 1, 0, 0)), Seen::New);
        t.note_batch(k(7, 1, 0, 0), 100, 3, 5);
        assert_eq!(
            t.check(k(7, 1, 0, 0)),
            Seen::Duplicate {
                first_offset: 100,
                count: 3
            }
        );
        assert_eq!(
            t.check(k(7, 1, 1, 0)),
            Seen::New,
            "other queues are separate"
        );
        assert_eq!(
            t.check(k(8, 1, 0, 0)),
            Seen::New,
            "other producers are separate"
        );
        for seq in 1..=KEEP_BATCHES as u64 {
            t.note_batch(k(7, 1, 0, seq), 100 + 3 * seq, 3, 5);
        }
        assert_eq!(
            t.check(k(7, 1, 0, 0)),
            Seen::Stale {
                last: KEEP_BATCHES as u64
            }
        );
        assert_eq!(
            t.check(k(7, 1, 0, 2)),
            Seen::Duplicate {
                first_offset: 106,
                count: 3
            }
        );
        // Noting the same records again (a replay over a snapshot) changes nothing.
        let before = t.clone();
        t.note_batch(k(7, 1, 0, 2), 106, 3, 5);
        assert_eq!(t, before);
    }

    #[test]
    fn a_full_table_forgets_the_longest_idle_first() {
        let mut t = ProducerTable::default();
        // Producer n was last seen at time n, with n + 1 batches.
        for n in 0..10u64 {
            for seq in 0..=n {
                t.note_batch(k(n, 1, 0, seq), seq, 1, n as i64);
            }
        }
        // By count: the 4 longest idle go.
        assert_eq!(t.expire(0, 6, usize::MAX), 4);
        assert_eq!(t.len(), 6);
        assert_eq!(t.check(k(3, 1, 0, 0)), Seen::New, "producer 3 is forgotten");
        assert!(matches!(t.check(k(4, 1, 0, 0)), Seen::Duplicate { .. }));
        // By batches: 5..=10 batches of producers 4..=9 make 45; at most 20 keep 9 and 8.
        assert_eq!(t.expire(0, usize::MAX, 20), 4);
        assert_eq!(t.len(), 2);
        assert!(matches!(t.check(k(8, 1, 0, 8)), Seen::Duplicate { .. }));
        assert_eq!(t.expire(0, 2, 20), 0, "within both bounds nothing goes");
    }

    #[test]
    fn snapshot_round_trips_and_expiry_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = ProducerTable::default();
        t.note_batch(k(1, 2, 3, 4), 5, 6, 1_000);
        t.note_batch(k(9, 2, 3, 0), 0, 1, 10);
        t.save(dir.path(), 77).unwrap();
        assert_eq!(ProducerTable::load(dir.path()).unwrap(), t);
        t.expire(500, MAX_ENTRIES, MAX_BATCHES);
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.check(k(1, 2, 3, 4)),
            Seen::Duplicate {
                first_offset: 5,
                count: 6
            }
        );
    }
}
