//! Reading the log record by record: the recovery scan ([`CommitLog::replay`]) and the
//! verification scan ([`CommitLog::verify_records`]).
//!
//! Does: validate each record (length, CRC, format), tell a torn tail from corruption, cut a
//! torn tail, pass over a damaged record without removing it. Does not: index anything (the
//! store does, from what the scan hands it).
//!
//! A bad record is a **torn tail** only when all of these hold: it lies in the newest segment
//! (or an unsealed one), at or past the position below which the log is known durable (the
//! checkpoint), and no sound record follows it. Only then is it cut (from the start of its
//! atomic append). Anything else is **corruption** of acknowledged data: it is never cut. The
//! damaged bytes, up to the next sound record (behind the record when its length is plausible,
//! else found by looking for the next record whose length and CRC32C hold), are passed over and
//! reported, so the store fences them in their queue and reads stop there, naming the file and
//! position, until an operator skips them (`lockgate storage skip`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{CommitLog, HEADER_LEN, Record, Result, Segment, io_err, record};

/// Read size of the recovery scanner.
const SCAN_CHUNK: usize = 4 << 20;
/// How far past a record with a damaged length the scan looks for the next sound record.
const RESYNC_WINDOW: u64 = 16 << 20;

/// What the recovery scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub from: u64,
    pub end: u64,
    pub records: u64,
    /// A torn tail that was cut: (file, position, reason).
    pub truncated: Option<(PathBuf, u64, String)>,
    /// Damaged records passed over and kept: (file, position, reason).
    pub damaged: Vec<(PathBuf, u64, String)>,
    /// Consume queues found damaged and rebuilt from the log: (topic, queue, reason). Filled
    /// in by the store, which checks the queues.
    pub rebuilt_queues: Vec<(String, u32, String)>,
}

/// What the recovery scan hands the store, in log order.
pub enum Replayed<'a> {
    /// A sound record at a log position, with its size.
    Record(u64, u32, &'a Record),
    /// A damaged record kept in place: its log position, size, and where its unchecked fixed
    /// fields say it belongs (`(topic id, queue, queue offset)`), if they could be read.
    Damaged(u64, u32, Option<(u32, u32, u64)>),
}

/// Where and why a segment scan stopped.
struct Stop {
    /// The start of what a torn tail would cut: the bad record, or the first record of the
    /// atomic append it cuts short.
    cut_at: u64,
    /// The bad record itself (equal to `end` when an atomic append is missing its last record).
    bad_at: u64,
    reason: String,
}

impl CommitLog {
    /// Scans records from `from` to the end of the log, handing each to `visit` in log order.
    /// `durable_below` is the position below which every record is known durable (the
    /// checkpoint's): a bad record there is corruption, never a torn tail. See the module
    /// docs for what is cut, passed over, or refused.
    pub fn replay(
        &self,
        from: u64,
        durable_below: u64,
        mut visit: impl FnMut(Replayed<'_>),
    ) -> Result<ReplayReport> {
        let segments: Vec<Arc<Segment>> = self.segments.read().values().cloned().collect();
        let mut report = ReplayReport {
            from,
            ..ReplayReport::default()
        };
        let mut last_stored_at = i64::MIN;
        let newest = segments.last().map(|s| s.base);
        for seg in &segments {
            let seg_end = seg.base + seg.data_len()?;
            if seg_end <= from && Some(seg.base) != newest {
                continue;
            }
            let mut start = from.max(seg.base);
            loop {
                let mut seen = Seen {
                    seg,
                    records: &mut report.records,
                    last_stored_at: &mut last_stored_at,
                    visit: &mut visit,
                };
                let stop =
                    match scan_segment(seg, start, seg_end, self.capacity, true, |p, l, r| {
                        seen.sound(p, l, r)
                    })? {
                        Ok(()) => break,
                        Err(stop) => stop,
                    };
                let file_at = |at: u64| HEADER_LEN + (at - seg.base);
                let next_sound = next_sound(seg, stop.bad_at, seg_end, self.capacity)?;
                let sealed_elsewhere = Some(seg.base) != newest && seg.is_sealed();
                if !sealed_elsewhere && stop.cut_at >= durable_below && next_sound.is_none() {
                    tracing::warn!(file = %seg.path.display(), position = file_at(stop.cut_at),
                        reason = %stop.reason, "cutting a torn tail from the log");
                    seg.truncate(stop.cut_at)?;
                    seg.file
                        .sync_data()
                        .map_err(io_err("syncing segment", &seg.path))?;
                    report.truncated =
                        Some((seg.path.clone(), file_at(stop.cut_at), stop.reason.clone()));
                    // An unsealed older segment that was cut: later segments are scanned from
                    // their start all the same.
                    break;
                }
                let resume = next_sound.unwrap_or(seg_end);
                // Corruption of data that was acknowledged: keep it, fence it, go on behind it.
                // The records of its atomic append before it are sound and indexed.
                if stop.cut_at < stop.bad_at {
                    let mut seen = Seen {
                        seg,
                        records: &mut report.records,
                        last_stored_at: &mut last_stored_at,
                        visit: &mut visit,
                    };
                    let prefix = scan_segment(
                        seg,
                        stop.cut_at,
                        stop.bad_at,
                        self.capacity,
                        false,
                        |p, l, r| seen.sound(p, l, r),
                    )?;
                    debug_assert!(prefix.is_ok(), "the records before the bad one were sound");
                }
                tracing::error!(file = %seg.path.display(), position = file_at(stop.bad_at),
                    reason = %stop.reason,
                    "a damaged record in the log is kept and fenced (reads stop at it; see lockgate storage verify and storage skip)");
                let mut head = [0u8; record::FIXED_LEN];
                let place = seg
                    .read_at(stop.bad_at, &mut head)
                    .ok()
                    .and_then(|()| record::peek_place(&head).ok())
                    .map(|(_, topic, queue, offset)| (topic, queue, offset));
                let len = u32::try_from(resume - stop.bad_at).unwrap_or(u32::MAX);
                visit(Replayed::Damaged(stop.bad_at, len, place));
                report
                    .damaged
                    .push((seg.path.clone(), file_at(stop.bad_at), stop.reason));
                start = resume;
                if start >= seg_end {
                    break;
                }
            }
        }
        let mut w = self.lock_writer();
        w.end = w.active.base + w.active.data_len()?;
        w.last_stored_at = w.last_stored_at.max(last_stored_at);
        report.end = w.end;
        w.queues.clear();
        w.batches.clear();
        // Nothing is in flight while the log is replayed: both turnstiles start at the end.
        self.written.peek().end = w.end;
        self.written_end.store(w.end, Ordering::Release);
        self.published.peek().end = w.end;
        drop(w);
        let mut d = self.lock_durable();
        d.flushed = report.end;
        d.requested = report.end;
        self.flushed_at.store(report.end, Ordering::Release);
        Ok(report)
    }

    /// Checks every record of every segment (length, CRC, format), calling `damaged` with
    /// `(segment, byte position in its file, the record's bytes if a header is there, why)` for
    /// each one that fails. After a damaged record whose length is plausible the scan goes on
    /// behind it; otherwise the rest of that segment is reported unreadable. Returns how many
    /// records were sound. Reads only.
    pub fn verify_records(
        &self,
        mut damaged: impl FnMut(&Segment, u64, Option<Vec<u8>>, String),
    ) -> Result<u64> {
        let mut sound = 0u64;
        for seg in self.segments() {
            let end = seg.base + seg.data_len()?;
            let mut pos = seg.base;
            while pos < end {
                // Record by record: a damage is named where it is, not at its batch's start.
                let stop =
                    match scan_segment(&seg, pos, end, self.capacity, false, |_, _, _| sound += 1)?
                    {
                        Ok(()) => break,
                        Err(stop) => stop,
                    };
                let at = stop.bad_at;
                let file_at = HEADER_LEN + (at - seg.base);
                let head = (end - at >= record::FIXED_LEN as u64)
                    .then(|| {
                        let mut b = vec![0u8; record::FIXED_LEN];
                        seg.read_at(at, &mut b).ok().map(|()| b)
                    })
                    .flatten();
                match plausible_len(&seg, at, end, self.capacity)? {
                    Some(len) => {
                        damaged(&seg, file_at, head, stop.reason);
                        pos = at + len;
                    }
                    None => {
                        damaged(
                            &seg,
                            file_at,
                            head,
                            format!(
                                "{}; the {} bytes from here to the end of the segment cannot be read",
                                stop.reason,
                                end - at
                            ),
                        );
                        break;
                    }
                }
            }
        }
        Ok(sound)
    }
}

/// What the recovery scan does with each sound record.
struct Seen<'a, V> {
    seg: &'a Segment,
    records: &'a mut u64,
    last_stored_at: &'a mut i64,
    visit: &'a mut V,
}

impl<V: FnMut(Replayed<'_>)> Seen<'_, V> {
    fn sound(&mut self, pos: u64, len: u32, rec: &Record) {
        *self.last_stored_at = (*self.last_stored_at).max(rec.stored_at);
        self.seg.note_stored_at(rec.stored_at);
        *self.records += 1;
        (self.visit)(Replayed::Record(pos, len, rec));
    }
}

/// The length a record at `at` claims, if it is one a record can have and fits before `end`
/// (then the next record starts behind it).
fn plausible_len(seg: &Segment, at: u64, end: u64, capacity: u64) -> Result<Option<u64>> {
    if end.saturating_sub(at) < 4 {
        return Ok(None);
    }
    let mut b = [0u8; 4];
    seg.read_at(at, &mut b)?;
    let len = u64::from(u32::from_le_bytes(b));
    Ok((len >= record::MIN_LEN as u64 && len <= capacity && at + len <= end).then_some(len))
}

/// Where the first sound record after a bad one at `bad_at` starts: right behind it if its
/// length is plausible and a sound record is there, else the first position (within a
/// rest of the segment) where a sound record is found; `None` if there is none before `end`.
fn next_sound(seg: &Segment, bad_at: u64, end: u64, capacity: u64) -> Result<Option<u64>> {
    if let Some(len) = plausible_len(seg, bad_at, end, capacity)?
        && sound_at(seg, bad_at + len, end, capacity)?
    {
        return Ok(Some(bad_at + len));
    }
    // The length itself is damaged: look for the next record byte by byte, a window at a
    // time. A false match needs a plausible length and a matching CRC32C.
    let mut from = bad_at + 1;
    while end.saturating_sub(from) >= record::MIN_LEN as u64 {
        let window = (end - from).min(RESYNC_WINDOW);
        let mut buf = vec![0u8; window as usize];
        seg.read_at(from, &mut buf)?;
        for i in 0..buf.len().saturating_sub(3) {
            let len = u64::from(record::peek_len(&buf[i..]).expect("4 bytes present"));
            let at = from + i as u64;
            if len < record::MIN_LEN as u64 || len > capacity || at + len > end {
                continue;
            }
            let sound = match buf.get(i..i + len as usize) {
                Some(bytes) => record::decode(bytes).is_ok(),
                None => sound_at(seg, at, end, capacity)?,
            };
            if sound {
                return Ok(Some(at));
            }
        }
        from += window.saturating_sub(3).max(1);
    }
    Ok(None)
}

/// Whether a sound record starts at `at` (before `end`).
fn sound_at(seg: &Segment, at: u64, end: u64, capacity: u64) -> Result<bool> {
    let Some(len) = plausible_len(seg, at, end, capacity)? else {
        return Ok(false);
    };
    let mut b = vec![0u8; len as usize];
    seg.read_at(at, &mut b)?;
    Ok(record::decode(&b).is_ok())
}

/// Scans `[from, end)` of a segment, visiting each sound record. With `whole_runs`, the
/// records of one append (see `record`) are visited together once its last record is read: a
/// run cut short by a torn or damaged record, or by the end, is reported as bad from its first
/// record, so replay cuts all of it. Without, every record stands alone (verification).
/// The outer `Result` is an I/O failure; the inner one says where and why the records stopped
/// being valid.
fn scan_segment(
    seg: &Segment,
    from: u64,
    end: u64,
    capacity: u64,
    whole_runs: bool,
    mut visit: impl FnMut(u64, u32, &Record),
) -> Result<std::result::Result<(), Stop>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_pos = from;
    let mut pos = from;
    // An atomic append read so far, waiting for its last record.
    let mut run: Vec<(u64, u32, Record)> = Vec::new();
    let cut = |run: &Vec<(u64, u32, Record)>, at: u64, reason: String| match run.first() {
        Some(&(start, ..)) => Err(Stop {
            cut_at: start,
            bad_at: at,
            reason: format!(
                "an atomic append of which {} records were read is cut short at {at}: {reason}",
                run.len()
            ),
        }),
        None => Err(Stop {
            cut_at: at,
            bad_at: at,
            reason,
        }),
    };
    while pos < end {
        let have =
            |buf: &Vec<u8>, buf_pos: u64, pos: u64, n: u64| pos + n <= buf_pos + buf.len() as u64;
        if !have(&buf, buf_pos, pos, 4) {
            if end - pos < 4 {
                return Ok(cut(
                    &run,
                    pos,
                    format!("{} stray bytes at the end", end - pos),
                ));
            }
            refill(seg, &mut buf, &mut buf_pos, pos, end, 4)?;
        }
        let at = (pos - buf_pos) as usize;
        let len = u64::from(record::peek_len(&buf[at..]).expect("4 bytes present"));
        if len < record::MIN_LEN as u64 || len > capacity {
            return Ok(cut(&run, pos, format!("impossible record length {len}")));
        }
        if pos + len > end {
            return Ok(cut(
                &run,
                pos,
                format!("record of {len} bytes cut short by the end of the file"),
            ));
        }
        if !have(&buf, buf_pos, pos, len) {
            refill(seg, &mut buf, &mut buf_pos, pos, end, len)?;
        }
        let at = (pos - buf_pos) as usize;
        let bytes = &buf[at..at + len as usize];
        match record::decode(bytes) {
            Ok(rec) if whole_runs && record::is_continued(bytes) => {
                run.push((pos, len as u32, rec))
            }
            Ok(rec) => {
                for (p, l, r) in run.drain(..) {
                    visit(p, l, &r);
                }
                visit(pos, len as u32, &rec);
            }
            Err(e) => return Ok(cut(&run, pos, e.to_string())),
        }
        pos += len;
    }
    if !run.is_empty() {
        return Ok(cut(&run, end, "its last record is missing".into()));
    }
    Ok(Ok(()))
}

fn refill(
    seg: &Segment,
    buf: &mut Vec<u8>,
    buf_pos: &mut u64,
    pos: u64,
    end: u64,
    need: u64,
) -> Result<()> {
    let n = (end - pos).min(need.max(SCAN_CHUNK as u64)) as usize;
    buf.resize(n, 0);
    seg.read_at(pos, buf)?;
    *buf_pos = pos;
    Ok(())
}
