//! WebAssembly plugins: the wasmtime engine, loading (built-in, from files, from the compile
//! cache), the roles a component plays ([`Role`]: filter, router, dedup, retry; `exports`),
//! and sandboxed instances: [`Filter`] per subscription, `stages` for the others.
//!
//! Each instance has its own `Store`, a memory limit and a time limit per call (epoch
//! interruption; `sandbox`). A trap, a timeout or a memory blow-up fails only the call at
//! hand: the instance is dropped, counted and logged, and the next call gets a fresh one from
//! the plugin's cached `InstancePre`. What happens to the failed batch is the caller's policy
//! (`on_error`). This module does not know about topics, groups or the wire.

pub mod batch;
mod bindings;
mod cache;
mod engine;
mod exports;
mod filter;
mod output;
mod sandbox;
pub mod stages;

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use engine::TICK;
pub use exports::Role;
pub use filter::{Filter, FilterError};
pub use sandbox::{Failure, FailureKind};

use bindings::HostState;
use cache::CompileCache;
use engine::PluginEngine;
use exports::Exports;

use crate::clock::Clock;
use crate::protocol::{LoadState, PluginHealth};

/// A built-in plugin, embedded at build time (see `build.rs`).
pub struct Builtin {
    /// Its name, as a plugin and after `builtin:`.
    pub name: &'static str,
    pub role: Role,
    pub wasm: &'static [u8],
}

macro_rules! builtin {
    ($name:literal, $role:expr, $file:literal) => {
        Builtin {
            name: $name,
            role: $role,
            wasm: include_bytes!(concat!(env!("LOCKGATE_PLUGIN_DIR"), "/", $file)),
        }
    };
}

/// The built-in plugins, by name.
pub const BUILTINS: &[Builtin] = &[
    builtin!("tag", Role::Filter, "tag_filter.wasm"),
    builtin!("sql92", Role::Filter, "sql92_filter.wasm"),
    builtin!("topic-exchange", Role::Router, "topic_exchange.wasm"),
    builtin!("content-router", Role::Router, "content_router.wasm"),
    builtin!("dedup", Role::Dedup, "dedup_key.wasm"),
    builtin!("retry-schedule", Role::Retry, "retry_schedule.wasm"),
];

/// The built-in plugin named `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The built-ins' names, for messages: `tag, sql92, …`.
pub fn builtin_names() -> String {
    BUILTINS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub const DEFAULT_MEMORY_LIMIT: u64 = 32 << 20;
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("the WebAssembly engine cannot start: {0}")]
    Engine(String),
    #[error("plugin compile cache: {0}")]
    Cache(String),
    #[error("plugins.{plugin}: {source_}: {reason}")]
    Load {
        plugin: String,
        source_: String,
        reason: String,
    },
    #[error("no plugin named {name:?} (built-in: {}; others come from [plugins.NAME])", builtin_names(), name = .0)]
    Unknown(String),
}

/// Where a plugin comes from and how it is confined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    pub name: String,
    /// `builtin:NAME` or a file path.
    pub source: String,
    pub memory_limit: u64,
    pub call_timeout: Duration,
    /// `[plugins.NAME.config]`, handed to the plugin.
    pub config: Vec<(String, String)>,
}

impl PluginSpec {
    /// A built-in plugin under its own name with the default limits.
    pub fn builtin(name: &str) -> PluginSpec {
        PluginSpec {
            name: name.to_string(),
            source: format!("builtin:{name}"),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            config: Vec::new(),
        }
    }
}

/// Counters of one plugin.
#[derive(Debug, Default)]
pub struct PluginStats {
    /// Instances made: each calls the guest's `create` once (a subscription's first batch, and
    /// again after a failure).
    pub creates: AtomicU64,
    pub calls: AtomicU64,
    pub messages: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub memory: AtomicU64,
    pub bad_answers: AtomicU64,
    /// The last failed call: when (ms since the Unix epoch) and what.
    pub last_failure: parking_lot::Mutex<Option<(i64, String)>>,
}

/// A plugin compiled and linked, ready to instantiate.
pub struct LoadedPlugin {
    pub spec: PluginSpec,
    pre: wasmtime::component::InstancePre<HostState>,
    /// The interfaces it exports: the roles it can play.
    exports: Exports,
    /// Bumped by each reload; live instances of an older one are replaced before their next
    /// batch.
    pub generation: u64,
    pub stats: Arc<PluginStats>,
    /// What the guest's `host.now-ms` reads.
    clock: Clock,
    /// Arms the epoch ticker for each call's deadline.
    ticker: Arc<engine::Ticker>,
    /// How its load went.
    pub load: LoadRecord,
}

/// How a plugin's load went: from the compile cache or compiled, how long it took, when.
#[derive(Debug, Clone, Copy)]
pub struct LoadRecord {
    pub from_cache: bool,
    pub took: std::time::Duration,
    /// ms since the Unix epoch.
    pub at: i64,
}

/// What [`Plugins::compile_all`] did with one plugin.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub name: String,
    pub source: String,
    /// The cache held it already (or it was loaded from there).
    pub cached: bool,
    pub seconds: f64,
    pub outcome: Result<(), String>,
}

/// A name's current plugin; reloading swaps it. Built-ins are compiled on first use, and so
/// are configured plugins a serving broker found no compiled artifact for (in the background).
pub struct PluginSlot {
    spec: RwLock<PluginSpec>,
    current: RwLock<Option<Arc<LoadedPlugin>>>,
    /// Held while the plugin compiles on first use: others wanting it wait here, while
    /// listing and metrics (which read `current`) do not.
    compiling: parking_lot::Mutex<()>,
    /// Since when a serving broker has left it to its background compile (until that ends).
    deferred_since: parking_lot::Mutex<Option<std::time::Instant>>,
    /// The last load that failed: when (ms since the Unix epoch) and why.
    load_error: parking_lot::Mutex<Option<(i64, String)>>,
}

impl PluginSlot {
    fn new(spec: PluginSpec, loaded: Option<Arc<LoadedPlugin>>) -> Arc<PluginSlot> {
        Arc::new(PluginSlot {
            spec: RwLock::new(spec),
            current: RwLock::new(loaded),
            compiling: parking_lot::Mutex::new(()),
            deferred_since: parking_lot::Mutex::new(None),
            load_error: parking_lot::Mutex::new(None),
        })
    }
}

impl LoadedPlugin {
    /// The roles it can play, in [`Role::ALL`] order.
    pub fn roles(&self) -> Vec<Role> {
        self.exports.roles()
    }

    /// The worlds it implements (`lockgate:plugin/filter-plugin@0.2.0`, …).
    pub fn worlds(&self) -> Vec<&'static str> {
        self.exports.worlds()
    }
}

impl PluginSlot {
    /// The loaded plugin. Filters exist only for loaded slots.
    pub fn current(&self) -> Arc<LoadedPlugin> {
        self.current
            .read()
            .clone()
            .expect("a filter's plugin slot is loaded")
    }

    pub fn spec(&self) -> PluginSpec {
        self.spec.read().clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: String,
    pub kind: String,
    pub source: String,
    pub generation: u64,
}

/// Every plugin the broker knows, by name (the built-ins as `tag` and `sql92`).
pub struct Plugins {
    engine: PluginEngine,
    cache: Option<CompileCache>,
    slots: RwLock<BTreeMap<String, Arc<PluginSlot>>>,
    generations: AtomicU64,
    clock: Clock,
    /// Configured plugins left to compile in the background (see `load_for_serving`).
    deferred: parking_lot::Mutex<Vec<String>>,
}

impl Plugins {
    /// Where a data directory keeps compiled plugins.
    pub fn cache_dir(data_dir: &Path) -> std::path::PathBuf {
        data_dir.join("plugins/cache")
    }

    /// The compile cache for commands that only check (`check-config`, `filter test`): the
    /// data directory's, when it exists (they never create a data directory).
    pub fn existing_cache_dir(data_dir: &Path) -> Option<std::path::PathBuf> {
        data_dir.is_dir().then(|| Self::cache_dir(data_dir))
    }

    /// Starts the engine and loads the built-ins and `specs`. With `cache_dir`, compiled
    /// components are cached there.
    pub fn load(cache_dir: Option<&Path>, specs: &[PluginSpec]) -> Result<Plugins, PluginError> {
        Plugins::load_with_clock(Clock::system(), cache_dir, specs)
    }

    /// [`Plugins::load`] with guests reading time from `clock`.
    pub fn load_with_clock(
        clock: Clock,
        cache_dir: Option<&Path>,
        specs: &[PluginSpec],
    ) -> Result<Plugins, PluginError> {
        Self::load_inner(clock, cache_dir, specs, false).map(|(p, _)| p)
    }

    /// For a serving broker: like [`Plugins::load_with_clock`], but a configured plugin whose
    /// compiled artifact is not in the cache yet (a first start, a rebuilt `.wasm`) is only
    /// checked (readable, a component) and left to compile in the background, so serving
    /// starts at once: call [`Plugins::compile_deferred`]. A subscription to it waits for it;
    /// a produce through an ingress pipeline that needs it is answered "not ready" at once
    /// ([`Plugins::compiling`]). If it then fails to load, the failure is logged with its name
    /// and its subscriptions are refused with the reason (`check-config` finds that
    /// beforehand).
    pub fn load_for_serving(
        clock: Clock,
        cache_dir: &Path,
        specs: &[PluginSpec],
    ) -> Result<Plugins, PluginError> {
        let (plugins, deferred) = Self::load_inner(clock, Some(cache_dir), specs, true)?;
        *plugins.deferred.lock() = deferred;
        Ok(plugins)
    }

    /// Compiles the plugins [`Plugins::load_for_serving`] left for later, one after the other
    /// on a thread of its own (each takes one core while it compiles).
    pub fn compile_deferred(self: &Arc<Self>) {
        let names = std::mem::take(&mut *self.deferred.lock());
        if names.is_empty() {
            return;
        }
        let plugins = self.clone();
        let spawned = std::thread::Builder::new()
            .name("lockgate-plugin-compile".into())
            .spawn(move || {
                for name in names {
                    let started = std::time::Instant::now();
                    let compiled = plugins.slot(&name);
                    if let Some(slot) = plugins.slots.read().get(&name) {
                        slot.deferred_since.lock().take();
                    }
                    match compiled {
                        Ok(_) => tracing::info!(plugin = %name, seconds = started.elapsed().as_secs_f64(),
                            "plugin compiled (in the background; its subscriptions may start)"),
                        Err(e) => tracing::error!(plugin = %name, error = %e,
                            "plugin cannot be loaded; subscriptions to it are refused"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a compile thread; plugins compile on first use");
        }
    }

    fn load_inner(
        clock: Clock,
        cache_dir: Option<&Path>,
        specs: &[PluginSpec],
        defer_cold: bool,
    ) -> Result<(Plugins, Vec<String>), PluginError> {
        let engine = PluginEngine::new()?;
        let cache = cache_dir
            .map(|d| CompileCache::open(d, &engine.engine))
            .transpose()?;
        let plugins = Plugins {
            engine,
            cache,
            slots: RwLock::new(BTreeMap::new()),
            generations: AtomicU64::new(1),
            clock,
            deferred: parking_lot::Mutex::new(Vec::new()),
        };
        // Built-ins are compiled when first used; configured plugins now, so that a plugin
        // that cannot load stops the start with its name (but for the cold ones a serving
        // broker defers, which are checked as far as that is cheap).
        let builtins = BUILTINS
            .iter()
            .filter(|b| !specs.iter().any(|s| s.name == b.name))
            .map(|b| (PluginSpec::builtin(b.name), None));
        let mut all = Vec::new();
        let mut deferred = Vec::new();
        for spec in specs {
            if defer_cold && !plugins.is_cached(spec)? {
                deferred.push(spec.name.clone());
                all.push((spec.clone(), None));
                continue;
            }
            let loaded = Arc::new(plugins.compile(spec)?);
            all.push((spec.clone(), Some(loaded)));
        }
        let mut slots = plugins.slots.write();
        let now = std::time::Instant::now();
        for (spec, loaded) in builtins.chain(all) {
            let slot = PluginSlot::new(spec, loaded);
            if deferred.contains(&slot.spec().name) {
                *slot.deferred_since.lock() = Some(now);
            }
            slots.insert(slot.spec().name.clone(), slot);
        }
        drop(slots);
        Ok((plugins, deferred))
    }

    /// Whether `spec`'s component has a compiled artifact in the cache; its cheap checks
    /// (readable, WebAssembly, a component) fail here already.
    fn is_cached(&self, spec: &PluginSpec) -> Result<bool, PluginError> {
        let fail = |reason: String| PluginError::Load {
            plugin: spec.name.clone(),
            source_: spec.source.clone(),
            reason,
        };
        let wasm = Self::wasm_of(spec).map_err(fail)?;
        precheck(&wasm).map_err(fail)?;
        Ok(self
            .cache
            .as_ref()
            .is_some_and(|c| c.cached(&self.engine.engine, &spec.name, &wasm).is_some()))
    }

    fn wasm_of(spec: &PluginSpec) -> Result<std::borrow::Cow<'static, [u8]>, String> {
        if let Some(name) = spec.source.strip_prefix("builtin:") {
            return builtin(name)
                .map(|b| std::borrow::Cow::Borrowed(b.wasm))
                .ok_or_else(|| {
                    format!("there is no built-in plugin {name:?} ({})", builtin_names())
                });
        }
        std::fs::read(PathBuf::from(&spec.source))
            .map(std::borrow::Cow::Owned)
            .map_err(|e| format!("cannot read the file: {e}"))
    }

    fn compile(&self, spec: &PluginSpec) -> Result<LoadedPlugin, PluginError> {
        let fail = |reason: String| PluginError::Load {
            plugin: spec.name.clone(),
            source_: spec.source.clone(),
            reason,
        };
        let began = std::time::Instant::now();
        let wasm = Self::wasm_of(spec).map_err(fail)?;
        let (pre, exports, from_cache) = self.link(&spec.name, &wasm).map_err(fail)?;
        Ok(LoadedPlugin {
            spec: spec.clone(),
            pre,
            exports,
            generation: self.generations.fetch_add(1, Ordering::Relaxed),
            stats: Arc::new(PluginStats::default()),
            clock: self.clock.clone(),
            ticker: self.engine.ticker.clone(),
            load: LoadRecord {
                from_cache,
                took: began.elapsed(),
                at: self.clock.now_ms(),
            },
        })
    }

    /// Compiles (or loads from the cache) and links a component, finding the roles it plays.
    fn link(
        &self,
        name: &str,
        wasm: &[u8],
    ) -> Result<(wasmtime::component::InstancePre<HostState>, Exports, bool), String> {
        precheck(wasm)?;
        let engine = &self.engine.engine;
        let (component, from_cache) = match &self.cache {
            Some(c) => c.component(engine, name, wasm)?,
            None => (
                wasmtime::component::Component::from_binary(engine, wasm)
                    .map_err(|e| format!("not a valid component: {}", one_line(&e)))?,
                false,
            ),
        };
        let pre = self
            .engine
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("it needs imports Lockgate does not provide: {e:#}"))?;
        let exports = Exports::find(&pre)?;
        Ok((pre, exports, from_cache))
    }

    /// Which Lockgate worlds a component implements, or why it is not a plugin.
    pub fn check(&self, wasm: &[u8]) -> Result<Vec<&'static str>, String> {
        self.link("check", wasm).map(|(_, e, _)| e.worlds())
    }

    /// A name's slot, its plugin loaded.
    pub fn slot(&self, name: &str) -> Result<Arc<PluginSlot>, PluginError> {
        let slot = self
            .slots
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| PluginError::Unknown(name.to_string()))?;
        if slot.current.read().is_some() {
            return Ok(slot);
        }
        // Compile outside `current`'s lock: who wants this plugin waits, listing does not.
        {
            let _compiling = slot.compiling.lock();
            if slot.current.read().is_none() {
                let loaded = Arc::new(self.remember_failure(&slot, self.compile(&slot.spec()))?);
                *slot.current.write() = Some(loaded);
            }
        }
        Ok(slot)
    }

    /// How long `plugin` has been waiting for (or in) its background compile, while it is: a
    /// request that needs it is answered "not ready" instead of waiting (see
    /// [`Plugins::load_for_serving`]). `None` once it is loaded, or when it was not deferred.
    pub fn compiling(&self, plugin: &str) -> Option<std::time::Duration> {
        let slot = self.slots.read().get(plugin).cloned()?;
        if slot.current.read().is_some() {
            return None;
        }
        let since = *slot.deferred_since.lock();
        since.map(|t| t.elapsed())
    }

    /// A filter for one subscription: `plugin` (a name) compiled with `expression`.
    pub fn filter(&self, plugin: &str, expression: &str) -> Result<Filter, FilterError> {
        let slot = self.slot(plugin).map_err(|e| match e {
            PluginError::Unknown(_) => FilterError::UnknownPlugin(plugin.to_string()),
            other => FilterError::Unavailable(other.to_string()),
        })?;
        Filter::new(slot, expression)
    }

    /// A stage's slot: `plugin` loaded (waiting for a background compile).
    fn stage_slot(&self, plugin: &str) -> Result<Arc<PluginSlot>, stages::StageError> {
        self.slot(plugin)
            .map_err(|e| stages::StageError::Unavailable(e.to_string()))
    }

    /// A router stage of `plugin`, made with its config.
    pub fn router(&self, plugin: &str) -> Result<stages::Router, stages::StageError> {
        stages::Router::new(self.stage_slot(plugin)?)
    }

    /// A dedup stage of `plugin`, made with its config.
    pub fn dedup(&self, plugin: &str) -> Result<stages::Deduper, stages::StageError> {
        stages::Deduper::new(self.stage_slot(plugin)?)
    }

    /// A retry stage of `plugin`, made with its config.
    pub fn retry(&self, plugin: &str) -> Result<stages::RetryPolicy, stages::StageError> {
        stages::RetryPolicy::new(self.stage_slot(plugin)?)
    }

    /// Compiles every plugin not compiled yet, configured and built-in, into the compile cache
    /// (`lockgate plugin compile`, at deploy time: a broker then starts with all of them
    /// ready). Each is reported with whether the cache already held it and how long it took.
    pub fn compile_all(&self) -> Vec<Compiled> {
        let slots: Vec<(String, Arc<PluginSlot>)> = self
            .slots
            .read()
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        slots
            .into_iter()
            .map(|(name, slot)| {
                let spec = slot.spec();
                let cached =
                    slot.current.read().is_some() || self.is_cached(&spec).unwrap_or(false);
                let started = std::time::Instant::now();
                let outcome = self.slot(&name).map(drop).map_err(|e| e.to_string());
                Compiled {
                    name,
                    source: spec.source.clone(),
                    cached,
                    seconds: started.elapsed().as_secs_f64(),
                    outcome,
                }
            })
            .collect()
    }

    /// Makes one instance of a `role` stage of `plugin` with its config and drops it: what
    /// `check-config` and `serve` do to report a config the plugin refuses before a batch does.
    pub fn make_stage(&self, role: Role, plugin: &str) -> Result<(), String> {
        let made = match role {
            Role::Router => self.router(plugin).map(drop),
            Role::Dedup => self.dedup(plugin).map(drop),
            Role::Retry => self.retry(plugin).map(drop),
            Role::Filter => Ok(()),
        };
        made.map_err(|e| e.to_string())
    }

    /// The roles `plugin` plays if known without compiling: loaded, or a built-in. `None` for
    /// one compiling in the background (for validating pipelines at start).
    pub fn known_roles(&self, plugin: &str) -> Option<Result<Vec<Role>, String>> {
        let slot = match self.slots.read().get(plugin).cloned() {
            Some(s) => s,
            None => return Some(Err(PluginError::Unknown(plugin.to_string()).to_string())),
        };
        if let Some(p) = slot.current.read().as_ref() {
            return Some(Ok(p.roles()));
        }
        let spec = slot.spec();
        let b = spec.source.strip_prefix("builtin:").and_then(builtin)?;
        Some(Ok(vec![b.role]))
    }

    /// The roles `plugin` plays, compiling it if needed (for validating pipelines).
    pub fn roles_of(&self, plugin: &str) -> Result<Vec<Role>, PluginError> {
        Ok(self.slot(plugin)?.current().roles())
    }

    /// Reloads a plugin from its source (the file may have changed). Batches being decided
    /// finish on the old instance; each filter moves to the new one before its next batch.
    pub fn reload(&self, name: &str) -> Result<PluginInfo, PluginError> {
        let slot = self.slot(name)?;
        self.reload_slot(&slot, slot.spec())
    }

    fn reload_slot(&self, slot: &PluginSlot, spec: PluginSpec) -> Result<PluginInfo, PluginError> {
        let loaded = Arc::new(self.remember_failure(slot, self.compile(&spec))?);
        let info = info_of(&spec, Some(&loaded));
        *slot.spec.write() = spec;
        *slot.current.write() = Some(loaded);
        tracing::info!(plugin = %info.name, generation = info.generation, "plugin reloaded");
        Ok(info)
    }

    /// A configuration reload: every configured plugin is loaded again from its (possibly new)
    /// source and limits, and new ones are added. A plugin that fails to load keeps its old
    /// version; each failure is returned. Plugins no longer configured stay until a restart
    /// (subscriptions may be using them).
    pub fn apply(&self, specs: &[PluginSpec]) -> Vec<PluginError> {
        let mut failures = Vec::new();
        for spec in specs {
            let existing = self.slots.read().get(&spec.name).cloned();
            let result = match existing {
                Some(slot) => self.reload_slot(&slot, spec.clone()).map(|_| ()),
                None => self.compile(spec).map(|loaded| {
                    self.slots.write().insert(
                        spec.name.clone(),
                        PluginSlot::new(spec.clone(), Some(Arc::new(loaded))),
                    );
                }),
            };
            if let Err(e) = result {
                failures.push(e);
            }
        }
        failures
    }

    /// The counters of every loaded plugin, with its name and kind (its roles joined by `+`; a
    /// reload starts them anew: a counter reset, as Prometheus understands it).
    pub fn stats(&self) -> Vec<(String, String, Arc<PluginStats>)> {
        self.slots
            .read()
            .values()
            .filter_map(|s| {
                let current = s.current.read();
                let p = current.as_deref()?;
                Some((p.spec.name.clone(), kind_of(p), p.stats.clone()))
            })
            .collect()
    }

    /// Keeps a failed load's reason on its slot (for [`Plugins::health`]), and passes the
    /// result on.
    fn remember_failure<T>(
        &self,
        slot: &PluginSlot,
        loaded: Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        if let Err(e) = &loaded {
            *slot.load_error.lock() = Some((self.clock.now_ms(), e.to_string()));
        }
        loaded
    }

    /// Where each plugin's load stands, how its last load went, and its last error (a failed
    /// load, or the loaded plugin's last failed call, whichever came later).
    pub fn health(&self) -> Vec<PluginHealth> {
        self.slots
            .read()
            .values()
            .map(|slot| {
                let spec = slot.spec();
                let current = slot.current.read().clone();
                let deferred = slot.deferred_since.lock().is_some();
                let load_error = slot.load_error.lock().clone();
                let call_error = current
                    .as_ref()
                    .and_then(|p| p.stats.last_failure.lock().clone());
                let (last_error_at, last_error) = match (load_error, call_error) {
                    (Some(l), Some(c)) => std::cmp::max_by_key(l, c, |e| e.0),
                    (Some(e), None) | (None, Some(e)) => e,
                    (None, None) => (0, String::new()),
                };
                let state = if current.is_some() {
                    LoadState::Loaded
                } else if last_error_at > 0 {
                    // Only a load can fail while nothing is loaded.
                    LoadState::Failed
                } else if deferred {
                    LoadState::Compiling
                } else {
                    LoadState::Unused
                };
                PluginHealth {
                    name: spec.name,
                    state,
                    from_cache: current.as_ref().is_some_and(|p| p.load.from_cache),
                    load_ms: current
                        .as_ref()
                        .map_or(0, |p| p.load.took.as_millis() as u64),
                    loaded_at: current.as_ref().map_or(0, |p| p.load.at),
                    last_error,
                    last_error_at,
                }
            })
            .collect()
    }

    pub fn list(&self) -> Vec<PluginInfo> {
        self.slots
            .read()
            .values()
            .map(|s| info_of(&s.spec(), s.current.read().as_deref()))
            .collect()
    }
}

/// A plugin's roles joined by `+` (`filter`, `router+dedup`).
fn kind_of(p: &LoadedPlugin) -> String {
    p.roles()
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join("+")
}

/// A plugin's description; generation 0: not loaded yet (a built-in before its first use, or
/// a plugin compiling in the background, whose kind is known only once it is loaded).
fn info_of(spec: &PluginSpec, loaded: Option<&LoadedPlugin>) -> PluginInfo {
    let kind = match loaded {
        Some(p) => kind_of(p),
        None => spec
            .source
            .strip_prefix("builtin:")
            .and_then(builtin)
            .map_or("loading", |b| b.role.name())
            .to_string(),
    };
    PluginInfo {
        name: spec.name.clone(),
        kind,
        source: spec.source.clone(),
        generation: loaded.map_or(0, |p| p.generation),
    }
}

/// A core module starts with the magic and version 1; a component with layer 1.
/// An engine error on one line: its chain joined, white space folded (some carry byte arrays
/// printed one per line).
pub(crate) fn one_line(e: &impl std::fmt::Display) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checks that need no compiling: a WebAssembly file, and a component.
fn precheck(wasm: &[u8]) -> Result<(), String> {
    if !wasm.starts_with(b"\0asm") {
        return Err(
            "not a valid component: not a WebAssembly file (it does not start with the \\0asm magic number)".into(),
        );
    }
    if wasmparser_is_core_module(wasm) {
        return Err("not a component: a core WebAssembly module (build for wasm32-wasip2, or wrap it with `wasm-tools component new`)".into());
    }
    Ok(())
}

fn wasmparser_is_core_module(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[..4] == *b"\0asm" && wasm[4..8] == [1, 0, 0, 0]
}
