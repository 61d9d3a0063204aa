//! Topic names and the persisted topic registry (`topics.json`).
//!
//! A topic has a numeric id that log records carry; ids are never reused, so records of a
//! deleted topic are never mistaken for those of a new topic with the same name. The registry
//! file is replaced atomically (write, fsync, rename, fsync directory) on every change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{Result, StorageError, io_err};
use super::fsutil;

pub use crate::record::topic::{Durability, MAX_QUEUES, TopicName};

/// What a topic is asked to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: TopicName,
    pub queues: u32,
    pub durability: Durability,
    /// Readers do not see messages older than this (the log itself follows storage retention).
    pub retention: Option<Duration>,
}

/// A topic as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub id: u32,
    pub name: TopicName,
    pub queues: u32,
    pub durability: Durability,
    pub retention_ms: Option<u64>,
    pub created_at: i64,
}

impl TopicMeta {
    pub fn retention(&self) -> Option<Duration> {
        self.retention_ms.map(Duration::from_millis)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    next_id: u32,
    topics: Vec<TopicMeta>,
}

/// The set of topics, mirrored to `topics.json`.
pub struct Registry {
    path: PathBuf,
    file: RegistryFile,
}

impl Registry {
    pub fn open(dir: &Path) -> Result<Registry> {
        let path = dir.join("topics.json");
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StorageError::Corrupt {
                file: path.clone(),
                position: e.column() as u64,
                reason: format!("topic registry is not valid: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RegistryFile {
                version: 1,
                next_id: 1,
                topics: Vec::new(),
            },
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        Ok(Registry { path, file })
    }

    pub fn topics(&self) -> &[TopicMeta] {
        &self.file.topics
    }

    /// Adds a topic and persists the registry; returns its metadata.
    pub fn add(&mut self, spec: &TopicSpec, now_ms: i64) -> Result<TopicMeta> {
        let meta = TopicMeta {
            id: self.file.next_id,
            name: spec.name.clone(),
            queues: spec.queues,
            durability: spec.durability,
            retention_ms: spec.retention.map(|d| d.as_millis() as u64),
            created_at: now_ms,
        };
        self.file.next_id += 1;
        self.file.topics.push(meta.clone());
        self.persist_or_undo(|f| {
            f.topics.pop();
            f.next_id -= 1;
        })?;
        Ok(meta)
    }

    /// Replaces a topic's settings (same id) and persists the registry.
    pub fn update(&mut self, meta: TopicMeta) -> Result<()> {
        let i = self.index_of(&meta.name)?;
        let old = std::mem::replace(&mut self.file.topics[i], meta);
        self.persist_or_undo(|f| f.topics[i] = old)
    }

    /// Removes a topic and persists the registry.
    pub fn remove(&mut self, name: &TopicName) -> Result<TopicMeta> {
        let i = self.index_of(name)?;
        let meta = self.file.topics.remove(i);
        let restore = meta.clone();
        self.persist_or_undo(|f| f.topics.insert(i, restore))?;
        Ok(meta)
    }

    fn index_of(&self, name: &TopicName) -> Result<usize> {
        self.file
            .topics
            .iter()
            .position(|t| &t.name == name)
            .ok_or_else(|| StorageError::UnknownTopic(name.to_string()))
    }

    /// Writes the file; if that fails, the in-memory change is undone so memory and disk agree.
    fn persist_or_undo(&mut self, undo: impl FnOnce(&mut RegistryFile)) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.file).expect("registry serializes");
        let result = fsutil::write_atomic(&self.path, &bytes);
        if result.is_err() {
            undo(&mut self.file);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(TopicName::new("orders.v2_eu-1%x").is_ok());
        assert!(TopicName::new(&"a".repeat(255)).is_ok());
        for bad in ["", "has space", "slash/", "ünï", &"a".repeat(256)] {
            assert!(TopicName::new(bad).is_err(), "{bad:?} accepted");
        }
        let e = TopicName::new("a b").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid topic name \"a b\": may contain only letters, digits, '.', '_', '-' and '%'"
        );
        assert!(TopicName::new("%DLQ%g").unwrap().is_reserved());
        assert!(TopicName::new("lockgate.delay").unwrap().is_reserved());
        assert!(!TopicName::new("lockgate-orders").unwrap().is_reserved());
    }

    #[test]
    fn registry_persists_and_never_reuses_ids() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |n: &str| TopicSpec {
            name: TopicName::new(n).unwrap(),
            queues: 4,
            durability: Durability::Sync,
            retention: None,
        };
        let mut r = Registry::open(dir.path()).unwrap();
        assert_eq!(r.add(&spec("a"), 1).unwrap().id, 1);
        assert_eq!(r.add(&spec("b"), 1).unwrap().id, 2);
        r.remove(&TopicName::new("a").unwrap()).unwrap();
        let r = Registry::open(dir.path()).unwrap();
        assert_eq!(
            r.topics()
                .iter()
                .map(|t| (t.id, t.name.as_str()))
                .collect::<Vec<_>>(),
            [(2, "b")]
        );
        let mut r = r;
        assert_eq!(r.add(&spec("a"), 1).unwrap().id, 3);
    }
}
