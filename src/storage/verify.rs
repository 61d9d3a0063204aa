//! Checking the consume queues against the commit log they are derived from.
//!
//! At every open, before recovery replays the log, each queue is checked:
//! - its files: consecutive, full but for the last, the last ending on an entry boundary;
//! - its length: the number of entries the last checkpoint recorded for it
//!   (`queue_ends.json`, written with every checkpoint at the checkpoint's log position);
//! - its newest file, against the checksum of its entries the same checkpoint recorded
//!   ([`TailSum`], checked by `ConsumeQueue::open`);
//! - the entries of its newest file, read in order: positions only grow and lie inside the
//!   log, and an entry marked as a hole does not name a record the log holds for that offset;
//! - against the log's records (the record at the entry's position is of this topic, queue and
//!   offset, and of the entry's size): the queue's first and last entry; and every entry of
//!   the newest file when no checksum vouches for it after an unclean stop.
//!
//! So the work at open does not grow with the log: older files were synced before an earlier
//! checkpoint and nothing writes to them again, so a crash cannot have touched them; they get
//! the structural checks, and reads check every record against its entry. Entries past the
//! checkpoint are not checked at all: the queue drops them at open and the replay of the log
//! past the checkpoint adds them again.
//!
//! A queue that fails any check is rebuilt from the log by the store (a full scan), and the
//! rebuild is logged with the reason. Nothing here writes.
//!
//! [`verify_offline`] is `lockgate storage verify`: with the server stopped, every record of
//! every segment (length, CRC, format), every entry of every queue against the log, and every
//! key-index header; it reports what is damaged and changes nothing.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StoreOptions;
use super::consume_queue::{ConsumeQueue, Entry, TailSum};
use super::error::{Result, StorageError, io_err};
use super::fsutil;
use super::log::CommitLog;
use super::topics::Registry;
use crate::record;

pub const ENDS_FILE: &str = "queue_ends.json";
const ENDS_FORMAT: u32 = 1;

/// The next offset of every queue at a checkpoint's log position, and the checksum of what
/// the checkpoint made durable of each queue's newest file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEnds {
    format: u32,
    pub position: u64,
    /// `(topic id, queue, next offset)`.
    pub queues: Vec<(u32, u32, u64)>,
    /// `(topic id, queue, checksum)`; absent in files from before checksums were kept.
    #[serde(default)]
    pub sums: Vec<(u32, u32, TailSum)>,
}

/// What [`QueueEnds::load_at`] found for a checkpoint.
#[derive(Debug, Default)]
pub struct Recorded {
    pub ends: HashMap<(u32, u32), u64>,
    pub sums: HashMap<(u32, u32), TailSum>,
}

impl QueueEnds {
    pub fn new(
        position: u64,
        queues: Vec<(u32, u32, u64)>,
        sums: Vec<(u32, u32, TailSum)>,
    ) -> QueueEnds {
        QueueEnds {
            format: ENDS_FORMAT,
            position,
            queues,
            sums,
        }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).expect("queue ends serialize");
        fsutil::write_atomic(&dir.join(ENDS_FILE), &bytes)
    }

    /// The ends and checksums recorded at `position`, if the file was written there (an
    /// unreadable file only costs those checks, so it is logged, not fatal).
    pub fn load_at(dir: &Path, position: u64) -> Result<Recorded> {
        let path = dir.join(ENDS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recorded::default()),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        match serde_json::from_slice::<QueueEnds>(&bytes) {
            Ok(e) if e.format == ENDS_FORMAT && e.position == position => Ok(Recorded {
                ends: e.queues.into_iter().map(|(t, q, n)| ((t, q), n)).collect(),
                sums: e.sums.into_iter().map(|(t, q, s)| ((t, q), s)).collect(),
            }),
            Ok(_) => Ok(Recorded::default()),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "queue ends are unreadable; queue lengths and checksums are not checked this time");
                Ok(Recorded::default())
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
    pub depth: Depth,
}

/// How much of a queue [`check_queue`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every entry, each against the log (`lockgate storage verify`).
    Everything,
    /// The newest file's entries in order, the queue's edges against the log, and every entry
    /// of the newest file against the log too when `unvouched` (an unclean stop that no
    /// checksum covers).
    Open { unvouched: bool },
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
    if let Depth::Open { .. } = c.depth {
        // Older files: the queue's first entry against the log, then on to the newest file.
        let newest = cq.newest_base().clamp(start, next);
        if start < newest {
            let Some(e) = cq.entry(start)? else {
                return Ok(Some(format!("entry {start} cannot be read")));
            };
            if e.position >= log_start
                && let Some(why) = check_entry(c, start, &e, None, log_end, true)?
            {
                return Ok(Some(why));
            }
            offset = newest;
        }
    }
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
    let every = match c.depth {
        Depth::Everything => true,
        Depth::Open { unvouched } => unvouched,
    };
    if !(every || edge) {
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

/// One damaged thing `verify_offline` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    pub file: std::path::PathBuf,
    /// Byte position in the file, where known.
    pub position: Option<u64>,
    /// The message it concerns, where known: topic, queue, offset.
    pub topic: Option<String>,
    pub queue: Option<u32>,
    pub offset: Option<u64>,
    pub problem: String,
}

/// What `verify_offline` looked at and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub segments: usize,
    pub records: u64,
    pub queues: usize,
    pub index_files: usize,
    pub damaged: Vec<Damage>,
}

/// Checks a stopped store's data directory (see the module docs). Takes the directory's lock,
/// so it refuses to run beside a server.
pub fn verify_offline(opts: &StoreOptions) -> Result<VerifyReport> {
    let dir = &opts.dir;
    if !dir.join("topics.json").exists() && !dir.join("log").exists() {
        return Err(StorageError::Io {
            op: "verifying",
            path: dir.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no Lockgate store there"),
        });
    }
    let _lock = fsutil::lock_dir(dir)?;
    let registry = Registry::open(dir)?;
    let names: HashMap<u32, String> = registry
        .topics()
        .iter()
        .map(|t| (t.id, t.name.to_string()))
        .collect();
    let mut report = VerifyReport::default();
    let log = match CommitLog::open(&dir.join("log"), opts.segment_size) {
        Ok(log) => log,
        Err(StorageError::Corrupt {
            file,
            position,
            reason,
        }) => {
            report.damaged.push(Damage {
                file,
                position: Some(position),
                topic: None,
                queue: None,
                offset: None,
                problem: format!("{reason} (the queues cannot be checked against the log)"),
            });
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    report.segments = log.segments().len();
    report.records = log.verify_records(|seg, position, head, problem| {
        let place = head.as_deref().and_then(|h| record::peek_place(h).ok());
        report.damaged.push(Damage {
            file: seg.path.clone(),
            position: Some(position),
            topic: place.map(|(_, t, _, _)| {
                names
                    .get(&t)
                    .cloned()
                    .unwrap_or_else(|| format!("topic id {t}"))
            }),
            queue: place.map(|p| p.2),
            offset: place.map(|p| p.3),
            problem,
        });
    })?;
    for meta in registry.topics() {
        for q in 0..meta.queues {
            let qdir = super::store::queue_dir(dir, meta.id, q);
            if !qdir.is_dir() {
                continue;
            }
            let cq = ConsumeQueue::open(&qdir, u64::MAX, None)?;
            report.queues += 1;
            let check = QueueCheck {
                log: &log,
                topic_id: meta.id,
                queue: q,
                expected_next: None,
                depth: Depth::Everything,
            };
            if let Some(problem) = check_queue(&cq, &check)? {
                report.damaged.push(Damage {
                    file: qdir,
                    position: None,
                    topic: Some(meta.name.to_string()),
                    queue: Some(q),
                    offset: None,
                    problem: format!("{problem} (the next start rebuilds it from the log)"),
                });
            }
        }
    }
    let index = dir.join("index");
    if index.is_dir() {
        report.index_files = fsutil::numbered_files(&index, ".idx")?.len();
    }
    for (file, problem) in super::key_index::damaged_files(&index)? {
        report.damaged.push(Damage {
            file,
            position: Some(0),
            topic: None,
            queue: None,
            offset: None,
            problem,
        });
    }
    Ok(report)
}
