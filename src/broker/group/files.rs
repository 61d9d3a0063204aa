//! Group progress on disk: `<data_dir>/groups/<group>.json`, one file per group, replaced
//! atomically (write, fsync, rename, fsync directory). Written every `groups.persist_interval`
//! for groups that changed, and at shutdown.

use std::path::{Path, PathBuf};

use super::state::GroupSnapshot;
use crate::storage::StorageError;
use crate::storage::fsutil;

/// File format version, checked on load.
const FORMAT: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct File {
    format: u32,
    group: GroupSnapshot,
}

pub fn dir_of(data_dir: &Path) -> PathBuf {
    data_dir.join("groups")
}

fn path_of(dir: &Path, group: &str) -> PathBuf {
    dir.join(format!("{group}.json"))
}

pub fn save(dir: &Path, snap: &GroupSnapshot) -> Result<(), StorageError> {
    let bytes = serde_json::to_vec(&File {
        format: FORMAT,
        group: snap.clone(),
    })
    .expect("group snapshots serialize");
    fsutil::write_atomic(&path_of(dir, &snap.name), &bytes)
}

pub fn remove(dir: &Path, group: &str) -> Result<(), StorageError> {
    let path = path_of(dir, group);
    match std::fs::remove_file(&path) {
        Ok(()) => fsutil::fsync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StorageError::Io {
            op: "removing",
            path,
            source,
        }),
    }
}

/// Every group in the directory (created if missing). A file that does not parse is an error
/// naming it: progress is never silently dropped.
pub fn load_all(dir: &Path) -> Result<Vec<GroupSnapshot>, StorageError> {
    fsutil::ensure_dir(dir)?;
    let entries = std::fs::read_dir(dir).map_err(|source| StorageError::Io {
        op: "listing",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| StorageError::Io {
                op: "listing",
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue; // a leftover .tmp from an interrupted write: the .json is intact
        }
        let bytes = std::fs::read(&path).map_err(|source| StorageError::Io {
            op: "reading",
            path: path.clone(),
            source,
        })?;
        let corrupt = |reason: String| StorageError::Corrupt {
            file: path.clone(),
            position: 0,
            reason,
        };
        let file: File = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if file.format != FORMAT {
            return Err(corrupt(format!(
                "group file format {} is not {FORMAT}",
                file.format
            )));
        }
        out.push(file.group);
    }
    Ok(out)
}
