//! Subscription filters: a filter plugin instance with its expression, made as the topic's
//! pipeline allows, and deciding batches in one plugin call. A plugin failure becomes the
//! pipeline's `on_error` here. Group subscriptions and filtered fetches both use this; the
//! pipelines and the plugins are replaced by a configuration reload.
//!
//! A plain consumer has no subscription the broker knows of, so its filtered fetches share one
//! filter per (topic, plugin, expression): the plugin's `create` runs once for them, not once
//! per fetch (at most [`MAX_FETCH_FILTERS`] are kept, the least recently used going first).

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::config::plugins::{OnError, PipelineConfig, filter_stage};
use crate::plugin::batch::BatchBuilder;
use crate::plugin::{Filter, PluginError, Plugins};
use crate::protocol::FilterSpec;

use super::{BrokerError, Result, blocking};

/// A subscription's filter and what its pipeline says about failures.
pub struct SubscriptionFilter {
    pub filter: Filter,
    pub on_error: OnError,
}

pub type SharedFilter = Arc<Mutex<SubscriptionFilter>>;

/// Most filters kept for plain consumers' filtered fetches.
pub const MAX_FETCH_FILTERS: usize = 1024;

type FetchKey = (String, String, String);
/// Kept fetch filters with when each was last used, and the use counter.
type FetchFilters = (HashMap<FetchKey, (SharedFilter, u64)>, u64);

/// The plugins and the pipelines that say which may filter which topic.
pub struct Filters {
    plugins: Arc<Plugins>,
    pipelines: RwLock<Vec<PipelineConfig>>,
    /// Filters of filtered fetches, with when each was last used.
    fetched: Mutex<FetchFilters>,
}

impl Filters {
    pub fn new(plugins: Arc<Plugins>, pipelines: Vec<PipelineConfig>) -> Filters {
        Filters {
            plugins,
            pipelines: RwLock::new(pipelines),
            fetched: Mutex::new((HashMap::new(), 0)),
        }
    }

    pub fn plugins(&self) -> &Arc<Plugins> {
        &self.plugins
    }

    /// Applies a reloaded configuration's plugins and pipelines (blocking: plugins compile).
    pub fn reload(&self, config: &Config) -> Vec<PluginError> {
        let failures = self.plugins.apply(&config.plugins);
        *self.pipelines.write() = config.pipelines.clone();
        // Their pipelines may say otherwise now: filtered fetches make theirs again.
        self.fetched.lock().0.clear();
        failures
    }

    /// The filter of a plain consumer's filtered fetch: the one kept for (topic, plugin,
    /// expression), else a new one (kept from then on). The pipeline's `allow` is checked
    /// every time.
    pub async fn for_fetch(&self, topic: &str, spec: &FilterSpec) -> Result<SharedFilter> {
        let key = (
            topic.to_string(),
            spec.plugin.clone(),
            spec.expression.clone(),
        );
        {
            let mut fetched = self.fetched.lock();
            let (map, tick) = &mut *fetched;
            *tick += 1;
            if let Some((f, used)) = map.get_mut(&key) {
                *used = *tick;
                let f = f.clone();
                drop(fetched);
                self.allowed(topic, spec)?;
                return Ok(f);
            }
        }
        let f = self.make(topic, spec).await?;
        let mut fetched = self.fetched.lock();
        let (map, tick) = &mut *fetched;
        if map.len() >= MAX_FETCH_FILTERS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(key, (f.clone(), *tick));
        Ok(f)
    }

    /// Refuses a plugin the topic's pipeline does not allow.
    fn allowed(
        &self,
        topic: &str,
        spec: &FilterSpec,
    ) -> Result<crate::config::plugins::FilterStage> {
        let stage = filter_stage(&self.pipelines.read(), topic).into_owned();
        if let Some(allow) = &stage.allow
            && !allow.contains(&spec.plugin)
        {
            return Err(BrokerError::FilterRejected(format!(
                "filter plugin {:?} is not allowed on topic {topic:?} (allowed: {})",
                spec.plugin,
                allow.join(", ")
            )));
        }
        Ok(stage)
    }

    /// A filter for `topic`, as its pipeline allows (blocking work on the pool: a built-in
    /// plugin may compile on first use).
    pub async fn make(&self, topic: &str, spec: &FilterSpec) -> Result<SharedFilter> {
        let stage = self.allowed(topic, spec)?;
        let plugins = self.plugins.clone();
        let spec = spec.clone();
        blocking(move || {
            let filter = plugins.filter(&spec.plugin, &spec.expression)?;
            Ok(Arc::new(Mutex::new(SubscriptionFilter {
                filter,
                on_error: stage.on_error,
            })))
        })
        .await
    }
}

/// The filter's decisions for a batch; a plugin failure becomes the pipeline's `on_error`
/// (`Err` for pause).
pub fn decide(f: &SharedFilter, topic: &str, batch: &mut BatchBuilder) -> Result<Vec<bool>> {
    let n = batch.len();
    let (decided, on_error) = {
        let mut sf = f.lock();
        (sf.filter.decide(topic, batch.finish(), n), sf.on_error)
    };
    match decided {
        Ok(d) => Ok(d),
        Err(failure) => match on_error {
            OnError::Deliver => Ok(vec![true; n]),
            OnError::Skip => Ok(vec![false; n]),
            OnError::Pause => Err(BrokerError::FilterFailed(format!(
                "{failure}; the subscription is paused (pipeline on_error = \"pause\")"
            ))),
        },
    }
}
