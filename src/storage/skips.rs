//! Damaged records an operator chose to skip (`lockgate storage skip`): consumers pass over
//! them like holes instead of stopping at them. Kept in `<dir>/skipped.json` (replaced
//! atomically), logged at every open, and only ever added for a record that does not read:
//! a sound record is never skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError, io_err};
use super::fsutil;

pub const FILE: &str = "skipped.json";
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    pub topic_id: u32,
    pub queue: u32,
    pub offset: u64,
    /// What was wrong with it, as the read reported.
    pub reason: String,
    /// When it was skipped, ms since the Unix epoch.
    pub skipped_at: i64,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: u32,
    skipped: Vec<Skip>,
}

/// The skipped records, by queue.
#[derive(Debug, Default)]
pub struct Skips {
    all: Vec<Skip>,
    by_queue: BTreeMap<(u32, u32), BTreeSet<u64>>,
}

impl Skips {
    pub fn load(dir: &Path) -> Result<Skips> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Skips::default()),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let file: File = serde_json::from_slice(&bytes)
            .ok()
            .filter(|f: &File| f.format == FORMAT)
            .ok_or_else(|| StorageError::Corrupt {
                file: path.clone(),
                position: 0,
                reason: "the list of skipped records is not valid".into(),
            })?;
        let mut skips = Skips::default();
        for s in file.skipped {
            skips.note(s);
        }
        Ok(skips)
    }

    fn note(&mut self, s: Skip) {
        self.by_queue
            .entry((s.topic_id, s.queue))
            .or_default()
            .insert(s.offset);
        self.all.push(s);
    }

    /// Adds a skip and writes the list (write, fsync, rename).
    pub fn add(&mut self, dir: &Path, s: Skip) -> Result<()> {
        let mut all = self.all.clone();
        all.push(s.clone());
        let bytes = serde_json::to_vec_pretty(&File {
            format: FORMAT,
            skipped: all,
        })
        .expect("skips serialize");
        fsutil::write_atomic(&dir.join(FILE), &bytes)?;
        self.note(s);
        Ok(())
    }

    pub fn all(&self) -> &[Skip] {
        &self.all
    }

    /// The skipped offsets of one queue (empty for almost every queue).
    pub fn of(&self, topic_id: u32, queue: u32) -> Option<&BTreeSet<u64>> {
        self.by_queue.get(&(topic_id, queue))
    }
}
