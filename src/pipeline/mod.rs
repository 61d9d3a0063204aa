//! Ingress pipelines: the dedup and router plugins a `[[pipeline]]`'s `[pipeline.ingress]`
//! runs on every batch produced to its topics, before the batch is stored ([`ingress`]).
//!
//! [`summary`] is the record each routed batch leaves in `%PIPE%<topic>`, [`window`] the dedup
//! window rebuilt from those records, [`validate`] the checks a configuration's pipelines pass
//! once their plugins are loaded. This module does not decode frames or pick the queues of
//! plain produce; the broker's produce path hands batches of topics with an ingress here.

mod error;
pub mod ingress;
pub mod spec;
pub mod summary;
pub mod validate;
pub mod window;

use parking_lot::{Mutex, MutexGuard, RwLock};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use error::Result;

use crate::plugin::{Plugins, Role};
use crate::storage::{Durability, Store, TopicName, TopicSpec};
pub use error::PipelineError;
use spec::{PipelineConfig, pipeline_of};

use ingress::Ingress;

/// How long a producer is told to wait before sending again to a topic whose ingress plugin
/// is still compiling.
pub const NOT_READY_RETRY_MS: u64 = 250;
use window::{DedupWindow, KeyHasher, Original};

pub use crate::internal::{is_summary_topic, summary_topic};

fn ensure_summary_topic(store: &Store, pipe: &str, durability: Durability) -> Result<()> {
    if store.topic_meta(pipe).is_err() {
        store.ensure_topic(&TopicSpec {
            name: TopicName::new(pipe)?,
            queues: 1,
            durability,
            retention: None::<Duration>,
        })?;
    }
    Ok(())
}

/// The role a stage's plugin plays there: dedup or router (not both, not another).
pub fn stage_role(plugin: &str, roles: &[Role]) -> std::result::Result<Role, String> {
    let ingress: Vec<Role> = roles
        .iter()
        .copied()
        .filter(|r| matches!(r, Role::Dedup | Role::Router))
        .collect();
    match ingress.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "plugin {plugin:?} implements neither the router-plugin nor the dedup-plugin world (it implements {})",
            roles
                .iter()
                .map(|r| r.world())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!(
            "plugin {plugin:?} implements both the router-plugin and the dedup-plugin worlds; a stage needs one (configure two [plugins.NAME] over the file)"
        )),
    }
}

/// A topic's dedup window, loaded from its summaries on first use.
pub struct WindowCell {
    window: Mutex<Option<DedupWindow>>,
    /// Signalled when a batch's reserved keys are settled.
    settled: parking_lot::Condvar,
    window_ms: u64,
    max_keys: u64,
}

impl WindowCell {
    fn new(window_ms: u64, max_keys: u64) -> WindowCell {
        WindowCell {
            window: Mutex::new(None),
            settled: parking_lot::Condvar::new(),
            window_ms,
            max_keys,
        }
    }

    /// The window, rebuilt first if this is its first use: the keys of the summaries stored in
    /// the last `window` (blocking: it reads them).
    fn lock(
        &self,
        store: &Store,
        topic: &str,
        now: i64,
    ) -> Result<MutexGuard<'_, Option<DedupWindow>>> {
        let mut guard = self.window.lock();
        if guard.is_none() {
            let began = std::time::Instant::now();
            let mut w = DedupWindow::new(self.window_ms, self.max_keys);
            let pipe = summary_topic(topic);
            if store.topic_meta(&pipe).is_ok() {
                let cutoff = now.saturating_sub(self.window_ms.min(i64::MAX as u64) as i64);
                let from = store.offset_for_time(&pipe, 0, cutoff)?;
                let mut bad = 0u64;
                store.read_with(crate::storage::ReadSpan::new(&pipe, 0, from), |view| {
                    let body = view.message().map(|m| m.body);
                    match body.ok().and_then(|b| summary::Summary::decode(&b).ok()) {
                        Some(s) => w.insert(
                            view.stored_at,
                            s.keys.iter().map(|&(hash, index)| {
                                (
                                    hash,
                                    Original {
                                        summary: view.queue_offset,
                                        index,
                                    },
                                )
                            }),
                        ),
                        None => bad += 1,
                    }
                    Ok(())
                })?;
                if bad > 0 {
                    tracing::error!(
                        topic,
                        summaries = bad,
                        "unreadable batch summaries: their dedup keys are not in the window"
                    );
                }
            }
            w.sweep(now);
            tracing::info!(
                topic,
                keys = w.len(),
                millis = began.elapsed().as_millis() as u64,
                "dedup window rebuilt from the batch summaries"
            );
            *guard = Some(w);
        }
        Ok(guard)
    }
}

/// Every topic's ingress, as the current configuration says.
pub struct Pipelines {
    plugins: Arc<Plugins>,
    store: Arc<Store>,
    hasher: KeyHasher,
    /// Shared with the group service (retry stages).
    configs: Arc<RwLock<Vec<PipelineConfig>>>,
    /// Built on a topic's first batch, `None` for a topic without ingress (so plain produce
    /// pays one map lookup); cleared by a reload.
    ingress: RwLock<HashMap<String, Option<Arc<Ingress>>>>,
    /// Kept across reloads that keep the window's settings.
    windows: Mutex<HashMap<String, Arc<WindowCell>>>,
}

impl Pipelines {
    /// `data_dir` keeps the secret dedup keys are hashed with (`dedup.key`, made on first
    /// start).
    pub fn open(
        plugins: Arc<Plugins>,
        store: Arc<Store>,
        data_dir: &Path,
        configs: Arc<RwLock<Vec<PipelineConfig>>>,
    ) -> Result<Pipelines> {
        Ok(Pipelines {
            plugins,
            store,
            hasher: KeyHasher::new(secret(data_dir)?),
            configs,
            ingress: RwLock::new(HashMap::new()),
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// A reloaded configuration's pipelines; the next batch of each topic uses them.
    pub fn reload(&self, configs: Vec<PipelineConfig>) {
        *self.configs.write() = configs;
        self.ingress.write().clear();
    }

    pub fn plugins(&self) -> &Arc<Plugins> {
        &self.plugins
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn hasher(&self) -> &KeyHasher {
        &self.hasher
    }

    /// The ingress of `topic`, if its pipeline has one (blocking: its plugins may still be
    /// compiling).
    pub fn ingress(&self, topic: &str) -> Result<Option<Arc<Ingress>>> {
        if let Some(i) = self.ingress.read().get(topic) {
            return Ok(i.clone());
        }
        let pipeline = pipeline_of(&self.configs.read(), topic)
            .filter(|p| p.ingress.is_some())
            .cloned();
        let Some(p) = pipeline else {
            self.ingress.write().insert(topic.to_string(), None);
            return Ok(None);
        };
        let p = &p;
        let stage = p.ingress.as_ref().expect("filtered above");
        // A stage whose plugin is compiling in the background is answered at once: waiting
        // for it (seconds for a big component) would outlast the producer's timeout, and its
        // resend would arrive while this one still waited.
        for name in &stage.stages {
            if let Some(since) = self.plugins.compiling(name) {
                return Err(PipelineError::NotReady {
                    message: format!(
                        "topic {topic:?}: its ingress plugin {name:?} is still compiling ({:.1} s so far, after a start without a compiled copy: `lockgate plugin compile` makes one at deploy time); nothing was stored, send again",
                        since.as_secs_f64()
                    ),
                    retry_ms: NOT_READY_RETRY_MS,
                });
            }
        }
        let window = (!stage.dedup_window.is_zero() && stage.dedup_max_keys > 0).then(|| {
            let ms = stage.dedup_window.as_millis().min(u128::from(u64::MAX)) as u64;
            let mut windows = self.windows.lock();
            let cell = windows
                .entry(topic.to_string())
                .or_insert_with(|| Arc::new(WindowCell::new(ms, stage.dedup_max_keys)));
            if cell.window_ms != ms || cell.max_keys != stage.dedup_max_keys {
                *cell = Arc::new(WindowCell::new(ms, stage.dedup_max_keys));
            }
            cell.clone()
        });
        let ingress = Ingress::new(&self.plugins, topic, p, window).map_err(|e| {
            PipelineError::Failed(format!(
                "topic {topic:?}: its ingress pipeline cannot run: {e}"
            ))
        })?;
        let ingress = Arc::new(ingress);
        self.ingress
            .write()
            .insert(topic.to_string(), Some(ingress.clone()));
        Ok(Some(ingress))
    }
}

/// The data directory's secret for dedup key hashes, made on first use.
fn secret(data_dir: &Path) -> Result<[u8; 16]> {
    let path = data_dir.join("dedup.key");
    let io = |e: std::io::Error| {
        PipelineError::Internal(format!("dedup key secret {}: {e}", path.display()))
    };
    match std::fs::read(&path) {
        Ok(b) if b.len() == 16 => Ok(b.try_into().expect("16 bytes")),
        Ok(b) => Err(PipelineError::Internal(format!(
            "dedup key secret {} has {} bytes, not 16",
            path.display(),
            b.len()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 16];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(
                |_| PipelineError::Internal("no randomness for the dedup secret".into()),
            )?;
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, key).map_err(io)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}
