//! One subscription's filter: an instance of a filter plugin with its compiled expression,
//! deciding batches in the flat layout (`docs/plugins.md`). Failures are contained here: the
//! instance is dropped and rebuilt for the next batch; the caller applies its `on_error`.

use std::collections::HashSet;
use std::sync::Arc;

use wasmtime::component::ResourceAny;

use super::PluginSlot;
use super::exports::{FilterGuest, Role};
use super::sandbox::{Failure, FailureKind, Sandbox};
use crate::record::tag_hash;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("no filter plugin named {0:?} (built-in: tag, sql92; others come from [plugins.NAME])")]
    UnknownPlugin(String),
    /// The expression (or, at position 0, the plugin's config) was refused.
    #[error("{}", expression_error(*.position, .message))]
    Expression { position: u32, message: String },
    #[error(transparent)]
    Failed(#[from] Failure),
    #[error("the filter plugin cannot be loaded: {0}")]
    Unavailable(String),
}

fn expression_error(position: u32, message: &str) -> String {
    match position {
        0 => format!("filter config error: {message}"),
        p => format!("filter expression error at position {p}: {message}"),
    }
}

struct Live {
    sandbox: Sandbox,
    guest: FilterGuest,
    matcher: ResourceAny,
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
            .is_some_and(|l| l.sandbox.plugin.generation == plugin.generation)
        {
            return Ok(());
        }
        self.live = None;
        let Some(_) = plugin.exports.filter else {
            return Err(FilterError::Unavailable(format!(
                "plugin {:?} does not implement the filter-plugin world (it implements {})",
                plugin.spec.name,
                plugin.worlds().join(", ")
            )));
        };
        let mut sandbox = Sandbox::new(plugin.clone(), Role::Filter)?;
        let guest = match plugin
            .exports
            .load_filter(&mut sandbox.store, &sandbox.instance)
            .expect("checked above")
        {
            Ok(g) => g,
            Err(e) => return Err(sandbox.classify(&e).into()),
        };
        let created = guest
            .create(&mut sandbox.store, &self.expression, &plugin.spec.config)
            .map_err(|e| FilterError::Failed(sandbox.classify(&e)))?;
        let matcher =
            created.map_err(|(position, message)| FilterError::Expression { position, message })?;
        self.live = Some(Live {
            sandbox,
            guest,
            matcher,
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
                role: Role::Filter,
                kind: FailureKind::BadAnswer,
                detail: format!("the reloaded plugin refused the expression: {other}"),
            },
        })?;
        let live = self.live.as_mut().expect("made live above");
        live.sandbox.arm();
        let began = std::time::Instant::now();
        let answer = live
            .guest
            .decide(&mut live.sandbox.store, live.matcher, topic, batch);
        let failure = match answer {
            Ok(d) if d.len() == count => {
                live.sandbox.observe(began, count);
                return Ok(d.into_iter().map(|b| b != 0).collect());
            }
            Ok(d) => live
                .sandbox
                .bad_answer(format!("{} decisions for {count} messages", d.len())),
            Err(e) => live.sandbox.classify(&e),
        };
        live.sandbox.count(&failure);
        self.live = None;
        Err(failure)
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
