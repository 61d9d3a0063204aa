//! Checking the consume queues against the commit log they are derived from.
//!
//! At every open, before recovery replays the log, each queue is checked:
//! - its files: consecutive, full but for the last, the last ending on an entry boundary;
//! - its length: the number of entries the last checkpoint recorded for it
//!   (`queue_ends.json`, written with every checkpoint at the checkpoint's log position);
//! - its entries, read in order: positions only grow and lie inside the log, and an entry
//!   marked as a hole does not name a record the log holds for that very offset;
//! - against the log's records (the record at the entry's position is of this topic, queue and
//!   offset, and of the entry's size): every entry after an unclean stop, the first and last
//!   after a clean one.
//!
//! A queue that fails any check is rebuilt from the log by the store (a full scan), and the
//! rebuild is logged with the reason. Nothing here writes.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::consume_queue::{ConsumeQueue, Entry};
use super::error::{Result, StorageError, io_err};
use super::fsutil;
use super::log::CommitLog;
use super::record;

pub const ENDS_FILE: &str = "queue_ends.json";
const ENDS_FORMAT: u32 = 1;

/// The next offset of every queue at a checkpoint's log position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEnds {
    format: u32,
    pub position: u64,
    /// `(topic id, queue, next offset)`.
    pub queues: Vec<(u32, u32, u64)>,
}

impl QueueEnds {
    pub fn new(position: u64, queues: Vec<(u32, u32, u64)>) -> QueueEnds {
        QueueEnds {
            format: ENDS_FORMAT,
            position,
            queues,
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).expect("queue ends serialize");
        fsutil::write_atomic(&dir.join(ENDS_FILE), &bytes)
    }

    /// The ends recorded at `position`, if the file was written there (an unreadable file
    /// only costs the length check, so it is logged, not fatal).
    pub fn load_at(dir: &Path, position: u64) -> Result<HashMap<(u32, u32), u64>> {
        let path = dir.join(ENDS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        match serde_json::from_slice::<QueueEnds>(&bytes) {
            Ok(e) if e.format == ENDS_FORMAT && e.position == position => {
                Ok(e.queues.into_iter().map(|(t, q, n)| ((t, q), n)).collect())
            }
            Ok(_) => Ok(HashMap::new()),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "queue ends are unreadable; queue lengths are not checked this time");
                Ok(HashMap::new())
            }
        }
    }
}

/// What is being checked, and how thoroughly.
pub struct QueueCheck<'a> {
    pub log: &'a CommitLog,
    pub topic_id: u32,
    pub queue: u32,
    /// The next offset the last checkpoint recorded, if it did.
    pub expected_next: Option<u64>,
    /// Every entry against the log (after an unclean stop), or the first and last.
    pub full: bool,
}

/// Why the queue cannot be trusted, or `None`.
pub fn check_queue(cq: &ConsumeQueue, c: &QueueCheck<'_>) -> Result<Option<String>> {
    if let Some(d) = cq.damage() {
        return Ok(Some(d));
    }
    let (start, next) = cq.held();
    if let Some(expected) = c.expected_next
        && expected != next
    {
        return Ok(Some(format!(
            "it holds entries up to offset {next}, the last checkpoint recorded {expected}"
        )));
    }
    let (log_start, log_end) = (c.log.start(), c.log.end());
    let mut prev: Option<u64> = None;
    let mut offset = start;
    while offset < next {
        let entries = cq.entries(offset, 4096)?;
        if entries.is_empty() {
            return Ok(Some(format!("entry {offset} cannot be read")));
        }
        for e in entries {
            let here = offset;
            offset += 1;
            if e.position < log_start {
                continue; // removed by retention with its segment
            }
            if let Some(why) =
                check_entry(c, here, &e, prev, log_end, here == start || offset == next)?
            {
                return Ok(Some(why));
            }
            if !e.is_hole() {
                prev = Some(e.position);
            }
        }
    }
    Ok(None)
}

fn check_entry(
    c: &QueueCheck<'_>,
    offset: u64,
    e: &Entry,
    prev: Option<u64>,
    log_end: u64,
    edge: bool,
) -> Result<Option<String>> {
    if e.position >= log_end || e.position + u64::from(e.size) > log_end {
        return Ok(Some(format!(
            "entry {offset} points at log position {} (size {}), past the log's end {log_end}",
            e.position, e.size
        )));
    }
    if e.is_hole() {
        // A real hole points at a later record; a zeroed entry at its own message.
        return Ok(match place_at(c.log, e.position)? {
            Some((_, t, q, o)) if (t, q, o) == (c.topic_id, c.queue, offset) => Some(format!(
                "entry {offset} is marked missing, but the log holds it at position {}",
                e.position
            )),
            _ => None,
        });
    }
    if let Some(p) = prev
        && e.position <= p
    {
        return Ok(Some(format!(
            "entry {offset} points at log position {}, not after the entry before it ({p})",
            e.position
        )));
    }
    if !(c.full || edge) {
        return Ok(None);
    }
    let found = place_at(c.log, e.position)?;
    if found != Some((e.size, c.topic_id, c.queue, offset)) {
        return Ok(Some(format!(
            "entry {offset} (position {}, size {}) does not match the log, which holds {}",
            e.position,
            e.size,
            match found {
                Some((len, t, q, o)) =>
                    format!("topic {t} queue {q} offset {o} ({len} bytes) there"),
                None => "no record there".into(),
            }
        )));
    }
    Ok(None)
}

/// What the record at `position` says of itself; `None` when no whole header is there.
fn place_at(log: &CommitLog, position: u64) -> Result<Option<(u32, u32, u32, u64)>> {
    match log.read(position, record::FIXED_LEN) {
        Ok(Some((_, bytes))) => Ok(record::peek_place(&bytes).ok()),
        Ok(None) => Ok(None),
        // A header cut off at the segment's end reads as nothing there.
        Err(StorageError::Io { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
