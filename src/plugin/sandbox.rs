//! One plugin instance in its own store, whatever its role: made from the plugin's
//! `InstancePre` with the plugin's memory limit and a time limit armed before every call, and
//! the failure of a call (trap, timeout, memory, a bad answer) classified, counted and logged.
//! Whoever holds the instance drops it after a failure and makes a new one for the next call.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use wasmtime::Store;
use wasmtime::component::Instance;

use super::bindings::HostState;
use super::exports::Role;
use super::{LoadedPlugin, TICK};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The guest trapped (a panic, an out-of-bounds access, …).
    Trap,
    /// It ran past its call timeout.
    Timeout,
    /// It needed more memory than its limit.
    Memory,
    /// It answered something that does not fit the batch (a count that differs, an index out
    /// of range), or returned an error.
    BadAnswer,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::BadAnswer => "bad_answer",
        }
    }
}

/// A plugin call that failed; the instance is gone and a new one serves the next batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} plugin {plugin:?} failed ({}): {detail}", role.name(), kind.name())]
pub struct Failure {
    pub plugin: String,
    pub role: Role,
    pub kind: FailureKind,
    pub detail: String,
}

/// An instance of a plugin, in its own store.
pub(super) struct Sandbox {
    pub store: Store<HostState>,
    pub instance: Instance,
    pub plugin: Arc<LoadedPlugin>,
    pub role: Role,
}

impl Sandbox {
    /// Instantiates `plugin` for `role` (counted as a create).
    pub fn new(plugin: Arc<LoadedPlugin>, role: Role) -> Result<Sandbox, Failure> {
        let name: Arc<str> = format!("{}:{}", role.name(), plugin.spec.name).into();
        let mut store = Store::new(
            plugin.pre.engine(),
            HostState::new(
                name,
                plugin.spec.memory_limit as usize,
                plugin.clock.clone(),
            ),
        );
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(&plugin));
        plugin.ticker.arm(ticks(&plugin));
        let instance = match plugin.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(classify(&plugin, role, &store, &e)),
        };
        plugin.stats.creates.fetch_add(1, Ordering::Relaxed);
        Ok(Sandbox {
            store,
            instance,
            plugin,
            role,
        })
    }

    /// Arms the time limit for the next call and counts it.
    pub fn arm(&mut self) {
        self.store.set_epoch_deadline(ticks(&self.plugin));
        self.plugin.ticker.arm(ticks(&self.plugin));
        self.plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The failure of a call that returned `e` (classified, not yet counted).
    pub fn classify(&self, e: &wasmtime::Error) -> Failure {
        classify(&self.plugin, self.role, &self.store, e)
    }

    /// An answer that does not fit: a failure of the plugin.
    pub fn bad_answer(&self, detail: String) -> Failure {
        Failure {
            plugin: self.plugin.spec.name.clone(),
            role: self.role,
            kind: FailureKind::BadAnswer,
            detail,
        }
    }

    /// Counts and logs a failure; the caller then drops the sandbox.
    pub fn count(&self, failure: &Failure) {
        let stats = &self.plugin.stats;
        let counter = match failure.kind {
            FailureKind::Trap => &stats.traps,
            FailureKind::Timeout => &stats.timeouts,
            FailureKind::Memory => &stats.memory,
            FailureKind::BadAnswer => &stats.bad_answers,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        *stats.last_failure.lock() = Some((
            self.plugin.clock.now_ms(),
            format!("{}: {}", failure.kind.name(), failure.detail),
        ));
        tracing::warn!(plugin = %self.plugin.spec.name, kind = self.role.name(), failure = failure.kind.name(),
            detail = %failure.detail, "plugin call failed; its instance is replaced");
    }

    /// Records a call's duration and the messages it handled.
    pub fn observe(&self, began: std::time::Instant, messages: usize) {
        let elapsed = began.elapsed();
        metrics::histogram!(
            crate::metrics::PLUGIN_CALL_DURATION_SECONDS,
            "plugin" => self.plugin.spec.name.clone(),
            "kind" => self.role.name()
        )
        .record(elapsed.as_secs_f64());
        self.plugin
            .stats
            .messages
            .fetch_add(messages as u64, Ordering::Relaxed);
        tracing::debug!(
            plugin = %self.plugin.spec.name,
            kind = self.role.name(),
            micros = elapsed.as_micros() as u64,
            messages,
            "plugin call returned"
        );
    }
}

fn ticks(plugin: &LoadedPlugin) -> u64 {
    (plugin.spec.call_timeout.as_micros() / TICK.as_micros()).max(1) as u64 + 1
}

fn classify(
    plugin: &LoadedPlugin,
    role: Role,
    store: &Store<HostState>,
    e: &wasmtime::Error,
) -> Failure {
    let kind = if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        FailureKind::Timeout
    } else if store.data().limiter.denied {
        FailureKind::Memory
    } else {
        FailureKind::Trap
    };
    let detail = match kind {
        FailureKind::Timeout => format!(
            "ran past its call timeout of {:?}",
            plugin.spec.call_timeout
        ),
        FailureKind::Memory => format!(
            "needed more than its memory limit of {} bytes",
            plugin.spec.memory_limit
        ),
        _ => format!("{e:#}")
            .lines()
            .next()
            .unwrap_or("trap")
            .to_string(),
    };
    // What the guest printed to stderr before failing (a traceback, an exception's message).
    let printed = store.data().stderr.tail();
    let detail = if printed.is_empty() {
        detail
    } else {
        format!("{detail}; the plugin's stderr ends with: {printed}")
    };
    Failure {
        plugin: plugin.spec.name.clone(),
        role,
        kind,
        detail,
    }
}
