//! One commit-log segment file: a 64-byte header, then records back to back.
//!
//! Header layout (little-endian):
//!
//! ```text
//!  0  8  magic "LOCKGLOG"
//!  8  2  format version (1)
//! 10  2  flags: bit 0 = sealed (no more records will be written)
//! 12  4  reserved
//! 16  8  base position: the log position of the first record
//! 24  8  largest store time in the segment (valid when sealed), ms since the Unix epoch
//! 32 28  reserved
//! 60  4  CRC32C of bytes [0, 60)
//! ```
//!
//! A record at log position `p` lives at file offset `HEADER_LEN + (p - base)`. This module
//! reads and writes bytes at positions; it knows nothing of topics or indexes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use super::error::{Result, StorageError, io_err};
use crate::codec::Reader;

pub const HEADER_LEN: u64 = 64;
const MAGIC: &[u8; 8] = b"LOCKGLOG";
const VERSION: u16 = 1;
const SEALED: u16 = 1;
pub const EXT: &str = ".log";

#[derive(Debug)]
pub struct Segment {
    pub base: u64,
    pub path: PathBuf,
    pub file: File,
    /// Largest store time of any record in the segment (ms), `i64::MIN` if unknown/empty.
    max_stored_at: AtomicI64,
    /// Sealed segments are complete and synced; a bad record in one is corruption, not a torn tail.
    sealed: AtomicBool,
}

impl Segment {
    /// Creates a new segment file with its header, durably (file and directory entry synced).
    pub fn create(dir: &Path, base: u64) -> Result<Segment> {
        let path = dir.join(super::fsutil::numbered_name(base, EXT));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err("creating segment", &path))?;
        let seg = Segment {
            base,
            path,
            file,
            max_stored_at: AtomicI64::new(i64::MIN),
            sealed: AtomicBool::new(false),
        };
        seg.write_header(false)?;
        seg.file
            .sync_all()
            .map_err(io_err("syncing segment", &seg.path))?;
        super::fsutil::fsync_dir(dir)?;
        Ok(seg)
    }

    /// Opens an existing segment and checks its header. A header that is missing or torn is
    /// reported as `Ok(None)` only when `may_be_fresh` (the newest segment, whose creation may
    /// have been cut short by a crash) and the file provably holds nothing after the header
    /// (creation writes the header before any record); anything else is corruption, with the
    /// bytes at risk named.
    pub fn open(path: &Path, base: u64, may_be_fresh: bool) -> Result<Option<Segment>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err("opening segment", path))?;
        let mut header = [0u8; HEADER_LEN as usize];
        let complete = file.read_exact_at(&mut header, 0).is_ok();
        let problem = if !complete {
            Some("header is cut short".to_string())
        } else {
            check_header(&header, base).err()
        };
        if let Some(reason) = problem {
            let len = file
                .metadata()
                .map_err(io_err("reading size of", path))?
                .len();
            if may_be_fresh && len <= HEADER_LEN {
                return Ok(None);
            }
            return Err(StorageError::Corrupt {
                file: path.to_path_buf(),
                position: 0,
                reason: format!(
                    "{reason}; the {} bytes of records after the header are at risk, so the \
                     segment is neither used nor rewritten (restore the file from a copy)",
                    len.saturating_sub(HEADER_LEN)
                ),
            });
        }
        let flags = u16::from_le_bytes([header[10], header[11]]);
        let max =
            Reader::at(&header, 24)
                .i64("max store time")
                .map_err(|e| StorageError::Corrupt {
                    file: path.to_path_buf(),
                    position: 24,
                    reason: e.to_string(),
                })?;
        let max_stored_at = if flags & SEALED != 0 { max } else { i64::MIN };
        Ok(Some(Segment {
            base,
            path: path.to_path_buf(),
            file,
            max_stored_at: AtomicI64::new(max_stored_at),
            sealed: AtomicBool::new(flags & SEALED != 0),
        }))
    }

    /// Bytes of records in the file (its length less the header).
    pub fn data_len(&self) -> Result<u64> {
        let len = self
            .file
            .metadata()
            .map_err(io_err("reading size of", &self.path))?
            .len();
        Ok(len.saturating_sub(HEADER_LEN))
    }

    pub fn read_at(&self, position: u64, buf: &mut [u8]) -> Result<()> {
        let at = HEADER_LEN + (position - self.base);
        self.file
            .read_exact_at(buf, at)
            .map_err(io_err("reading segment", &self.path))
    }

    pub fn write_at(&self, position: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.file
            .write_all_at(bytes, HEADER_LEN + (position - self.base))
    }

    /// Cuts the segment so that it ends at log position `end`.
    pub fn truncate(&self, end: u64) -> Result<()> {
        self.file
            .set_len(HEADER_LEN + (end - self.base))
            .map_err(io_err("truncating segment", &self.path))
    }

    pub fn note_stored_at(&self, stored_at: i64) {
        self.max_stored_at.fetch_max(stored_at, Ordering::Relaxed);
    }

    /// Largest store time in the segment; for an old segment whose header was never sealed, the
    /// file's modification time stands in.
    pub fn max_stored_at(&self) -> i64 {
        match self.max_stored_at.load(Ordering::Relaxed) {
            i64::MIN => self
                .file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(i64::MIN, |d| d.as_millis() as i64),
            t => t,
        }
    }

    /// Marks the segment sealed (with its largest store time) and syncs it: after this the
    /// segment is complete on disk.
    pub fn seal(&self) -> Result<()> {
        self.write_header(true)?;
        self.file
            .sync_data()
            .map_err(io_err("syncing segment", &self.path))?;
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    fn write_header(&self, sealed: bool) -> Result<()> {
        let mut h = [0u8; HEADER_LEN as usize];
        h[..8].copy_from_slice(MAGIC);
        h[8..10].copy_from_slice(&VERSION.to_le_bytes());
        h[10..12].copy_from_slice(&(if sealed { SEALED } else { 0 }).to_le_bytes());
        h[16..24].copy_from_slice(&self.base.to_le_bytes());
        h[24..32].copy_from_slice(&self.max_stored_at.load(Ordering::Relaxed).to_le_bytes());
        let crc = crc32c::crc32c(&h[..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        self.file
            .write_all_at(&h, 0)
            .map_err(io_err("writing segment header", &self.path))
    }
}

fn check_header(h: &[u8; HEADER_LEN as usize], base: u64) -> Result<(), String> {
    if &h[..8] != MAGIC {
        return Err("not a Lockgate log segment (bad magic number)".into());
    }
    let field =
        |at: usize, name: &'static str| Reader::at(h, at).u64(name).map_err(|e| e.to_string());
    let crc = Reader::at(h, 60)
        .u32("header checksum")
        .map_err(|e| e.to_string())?;
    if crc != crc32c::crc32c(&h[..60]) {
        return Err("segment header checksum mismatch".into());
    }
    let version = u16::from_le_bytes([h[8], h[9]]);
    if version != VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    let stored_base = field(16, "base position")?;
    if stored_base != base {
        return Err(format!(
            "header says base position {stored_base}, file name says {base}"
        ));
    }
    Ok(())
}
