//! One subscription's filter: an instance of a filter plugin with its compiled expression,
//! deciding batches in the flat layout (`docs/plugins.md`). Failures are contained here: the
//! instance is dropped and rebuilt for the next batch; the caller applies its `on_error`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wasmtime::Store;
use wasmtime::component::ResourceAny;

use super::bindings::{FilterPlugin, HostState};
use super::{LoadedPlugin, PluginSlot, TICK};
use crate::storage::record::tag_hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The guest trapped (a panic, an out-of-bounds access, …).
    Trap,
    /// It ran past its call timeout.
    Timeout,
    /// It needed more memory than its limit.
    Memory,
    /// It answered something that is not one decision per message.
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
#[error("filter plugin {plugin:?} failed ({}): {detail}", kind.name())]
pub struct Failure {
    pub plugin: String,
    pub kind: FailureKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("no filter plugin named {0:?} (built-in: tag, sql92; others come from [plugins.NAME])")]
    UnknownPlugin(String),
    #[error("filter expression error at position {position}: {message}")]
    Expression { position: u32, message: String },
    #[error(transparent)]
    Failed(#[from] Failure),
    #[error("the filter plugin cannot be loaded: {0}")]
    Unavailable(String),
}

struct Live {
    store: Store<HostState>,
    bindings: FilterPlugin,
    matcher: ResourceAny,
    plugin: Arc<LoadedPlugin>,
}

pub struct Filter {
    slot: Arc<PluginSlot>,
    expression: String,
    live: Option<Live>,
    /// The tag hashes a message must have to pass, when that is all the filter asks.
    tag_prefilter: Option<Arc<HashSet<u32>>>,
}

impl Filter {
    /// Instantiates the slot's plugin and compiles `expression` (its errors come back here).
    pub(super) fn new(slot: Arc<PluginSlot>, expression: &str) -> Result<Filter, FilterError> {
        let tag_prefilter = tag_prefilter(&slot.spec().source, expression);
        let mut f = Filter {
            slot,
            expression: expression.to_string(),
            live: None,
            tag_prefilter,
        };
        f.ensure_live()?;
        Ok(f)
    }

    /// For the built-in tag filter: the hashes of the tags it selects (`None` for `*` and
    /// for every other plugin), so a reader can pass over index entries with other tag hashes
    /// without reading their messages. The plugin still decides what is read.
    pub fn tag_prefilter(&self) -> Option<Arc<HashSet<u32>>> {
        self.tag_prefilter.clone()
    }

    pub fn plugin_name(&self) -> String {
        self.slot.current().spec.name.clone()
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    fn ensure_live(&mut self) -> Result<(), FilterError> {
        let plugin = self.slot.current();
        if self
            .live
            .as_ref()
            .is_some_and(|l| l.plugin.generation == plugin.generation)
        {
            return Ok(());
        }
        self.live = None;
        let name: Arc<str> = format!("filter:{}", plugin.spec.name).into();
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
        let failed = |store: &Store<HostState>, e: wasmtime::Error| {
            FilterError::Failed(classify(&plugin, store, &e))
        };
        let bindings = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| failed(&store, e))?;
        plugin.stats.creates.fetch_add(1, Ordering::Relaxed);
        let created = bindings
            .lockgate_plugin_filter()
            .matcher()
            .call_create(&mut store, &self.expression, &plugin.spec.config)
            .map_err(|e| failed(&store, e))?;
        let matcher = created.map_err(|e| FilterError::Expression {
            position: e.position,
            message: e.message,
        })?;
        self.live = Some(Live {
            store,
            bindings,
            matcher,
            plugin,
        });
        Ok(())
    }

    /// Decides `count` messages of `topic` laid out in `batch`: one `true` (deliver) or `false`
    /// (skip) per message. On failure the instance is dropped; the next call makes a new one.
    pub fn decide(
        &mut self,
        topic: &str,
        batch: &[u8],
        count: usize,
    ) -> Result<Vec<bool>, Failure> {
        self.ensure_live().map_err(|e| match e {
            FilterError::Failed(f) => f,
            other => Failure {
                plugin: self.slot.current().spec.name.clone(),
                kind: FailureKind::BadAnswer,
                detail: format!("the reloaded plugin refused the expression: {other}"),
            },
        })?;
        let live = self.live.as_mut().expect("made live above");
        let plugin = live.plugin.clone();
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        live.store.set_epoch_deadline(ticks(&plugin));
        let _span =
            tracing::debug_span!("plugin_call", plugin = %plugin.spec.name, kind = super::KIND, messages = count)
                .entered();
        let began = std::time::Instant::now();
        let answer = live
            .bindings
            .lockgate_plugin_filter()
            .matcher()
            .call_decide(&mut live.store, live.matcher, topic, batch);
        metrics::histogram!(
            crate::metrics::PLUGIN_CALL_DURATION_SECONDS,
            "plugin" => plugin.spec.name.clone(),
            "kind" => super::KIND
        )
        .record(began.elapsed().as_secs_f64());
        tracing::debug!(
            micros = began.elapsed().as_micros() as u64,
            "plugin call returned"
        );
        let failure = match answer {
            Ok(d) if d.len() == count => {
                plugin
                    .stats
                    .messages
                    .fetch_add(count as u64, Ordering::Relaxed);
                return Ok(d.into_iter().map(|b| b != 0).collect());
            }
            Ok(d) => Failure {
                plugin: plugin.spec.name.clone(),
                kind: FailureKind::BadAnswer,
                detail: format!("{} decisions for {count} messages", d.len()),
            },
            Err(e) => classify(&plugin, &live.store, &e),
        };
        let counter = match failure.kind {
            FailureKind::Trap => &plugin.stats.traps,
            FailureKind::Timeout => &plugin.stats.timeouts,
            FailureKind::Memory => &plugin.stats.memory,
            FailureKind::BadAnswer => &plugin.stats.bad_answers,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(plugin = %plugin.spec.name, kind = "filter", failure = failure.kind.name(), detail = %failure.detail, "plugin call failed; its instance is replaced");
        self.live = None;
        Err(failure)
    }
}

fn ticks(plugin: &LoadedPlugin) -> u64 {
    (plugin.spec.call_timeout.as_micros() / TICK.as_micros()).max(1) as u64 + 1
}

fn classify(plugin: &LoadedPlugin, store: &Store<HostState>, e: &wasmtime::Error) -> Failure {
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
        kind,
        detail,
    }
}

/// The host knows what its own built-in tag filter selects; a user plugin's expression means
/// whatever that plugin says, so nothing is prefiltered for it.
fn tag_prefilter(source: &str, expression: &str) -> Option<Arc<HashSet<u32>>> {
    if source != "builtin:tag" {
        return None;
    }
    let parsed = lockgate_filters::tag::TagFilter::parse(expression).ok()?;
    let tags = parsed.tags()?;
    Some(Arc::new(tags.iter().map(|t| tag_hash(t)).collect()))
}
