//! Small file-system helpers with the durability rules the engine relies on.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::error::{Result, StorageError, io_err};

/// Makes a directory entry (a created, renamed or deleted file) durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing directory", dir))
}

/// Replaces `path` atomically: write a temporary file, fsync it, rename it over `path`, fsync
/// the directory. A crash leaves either the old or the new content, never a mix.
///
/// A write that fails (a full disk, say) leaves the old file as it was and removes the
/// temporary one, so failed attempts neither leak space nor leave debris.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = File::create(&tmp)
        .map_err(io_err("creating", &tmp))
        .and_then(|mut f| {
            f.write_all(bytes).map_err(io_err("writing", &tmp))?;
            f.sync_all().map_err(io_err("syncing", &tmp))
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).map_err(io_err("renaming into place", path))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Creates `dir` (and parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(io_err("creating directory", dir))
}

/// Takes an exclusive lock on `<dir>/LOCK` for the life of the returned file, so two processes
/// never open the same data directory.
pub fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join("LOCK");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening", &path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(io_err("locking", &path)(e)),
    }
}

/// Files in `dir` named `<20 digits><ext>`, as (number, path), sorted by number.
pub fn numbered_files(dir: &Path, ext: &str) -> Result<Vec<(u64, std::path::PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(ext) else {
            continue;
        };
        if stem.len() == 20
            && let Ok(n) = stem.parse::<u64>()
        {
            out.push((n, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

/// `<20-digit n><ext>`, the naming of every numbered data file.
pub fn numbered_name(n: u64, ext: &str) -> String {
    format!("{n:020}{ext}")
}
