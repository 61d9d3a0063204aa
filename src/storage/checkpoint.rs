//! The checkpoint file: the log position below which every derived structure (consume queues,
//! key index) is on disk, and whether the last shutdown was clean. Recovery replays the log from
//! this position only, so start-up time follows what was written since, not the log's size.
//!
//! Layout (36 bytes, little-endian): magic "LOCKGCKP", version u16, flags u16 (bit 0: clean
//! shutdown), reserved u32, log position u64, written-at (ms since the epoch) i64, CRC32C of the
//! first 32 bytes u32.

use std::path::Path;

use super::error::{Result, StorageError, io_err};
use super::fsutil;
use crate::codec::Reader;

const MAGIC: &[u8; 8] = b"LOCKGCKP";
const VERSION: u16 = 1;
const LEN: usize = 36;
pub const FILE: &str = "checkpoint";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: u64,
    pub clean: bool,
    pub written_at: i64,
}

impl Checkpoint {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10..12].copy_from_slice(&u16::from(self.clean).to_le_bytes());
        b[16..24].copy_from_slice(&self.position.to_le_bytes());
        b[24..32].copy_from_slice(&self.written_at.to_le_bytes());
        let crc = crc32c::crc32c(&b[..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads the checkpoint in `dir`; `None` when there is none yet (a new data directory).
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>> {
        let path = dir.join(FILE);
        let b = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        let corrupt = |reason: &str| StorageError::Corrupt {
            file: path.clone(),
            position: 0,
            reason: reason.to_string(),
        };
        if b.len() != LEN || &b[..8] != MAGIC {
            return Err(corrupt("not a Lockgate checkpoint file"));
        }
        let field = |at: usize, name: &'static str| {
            Reader::at(&b, at)
                .u64(name)
                .map_err(|e| corrupt(&e.to_string()))
        };
        let crc = Reader::at(&b, 32)
            .u32("checksum")
            .map_err(|e| corrupt(&e.to_string()))?;
        if crc != crc32c::crc32c(&b[..32]) {
            return Err(corrupt("checkpoint checksum mismatch"));
        }
        if u16::from_le_bytes([b[8], b[9]]) != VERSION {
            return Err(corrupt("unsupported checkpoint version"));
        }
        Ok(Some(Checkpoint {
            clean: u16::from_le_bytes([b[10], b[11]]) & 1 == 1,
            position: field(16, "position")?,
            written_at: field(24, "written at")? as i64,
        }))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        fsutil::write_atomic(&dir.join(FILE), &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), None);
        let c = Checkpoint {
            position: 12345,
            clean: true,
            written_at: 99,
        };
        c.write(dir.path()).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), Some(c));
        let mut b = std::fs::read(dir.path().join(FILE)).unwrap();
        b[17] ^= 1;
        std::fs::write(dir.path().join(FILE), b).unwrap();
        let e = Checkpoint::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoint checksum mismatch"), "{e}");
    }
}
