//! What a `[[pipeline]]` says, as values: the topics it covers and its ingress, filter and
//! retry stages. `config` parses and checks a file into these; the pipelines, filters and
//! groups read them. No parsing here, and no plugin loading (`pipeline::validate` checks the
//! plugins a stage names once they are loaded).

use std::time::Duration;

/// What a filter stage does with a batch when its plugin fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Deliver the batch unfiltered (no message is lost; some may not match).
    Deliver,
    /// Treat the batch as filtered out for this subscription (consumed, not delivered).
    Skip,
    /// Stop the subscription and report; the messages wait for it.
    Pause,
}

impl OnError {
    pub fn name(self) -> &'static str {
        match self {
            OnError::Deliver => "deliver",
            OnError::Skip => "skip",
            OnError::Pause => "pause",
        }
    }
}

/// A `[[pipeline]]`: the stages for the topics it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Topic names, or prefixes ending in `*` (`*` alone: every topic).
    pub topics: Vec<String>,
    pub ingress: Option<IngressStage>,
    pub filter: FilterStage,
    pub retry: Option<RetryStage>,
}

/// What an ingress stage does with a batch when one of its plugins fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngressOnError {
    /// Refuse the batch (status `PipelineFailed`, nothing stored): the producer may resend it.
    Reject,
    /// Store the batch as produced, in the topic it was produced to, unrouted and not
    /// deduplicated (the acknowledgement says so: its one destination is that topic).
    StoreUnrouted,
}

impl IngressOnError {
    pub fn name(self) -> &'static str {
        match self {
            IngressOnError::Reject => "reject",
            IngressOnError::StoreUnrouted => "store-unrouted",
        }
    }
}

/// `[pipeline.ingress]`: plugins run on every produced batch, in order, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressStage {
    /// Plugin names (a `[plugins.NAME]` or a built-in): at most one router and one dedup.
    pub stages: Vec<String>,
    pub on_error: IngressOnError,
    /// How long a dedup key is remembered after the message carrying it was stored (a
    /// duplicate does not extend it). Zero turns dedup off: the dedup stage is not called.
    pub dedup_window: Duration,
    /// At most this many keys are remembered per topic (the oldest are forgotten first). Zero
    /// turns dedup off too.
    pub dedup_max_keys: u64,
}

pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(600);
pub const DEFAULT_DEDUP_MAX_KEYS: u64 = 1_000_000;

/// `[pipeline.retry]`: the plugin deciding what follows a failed delivery of these topics'
/// messages, for every group consuming them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryStage {
    pub plugin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterStage {
    pub on_error: OnError,
    /// Filter plugins subscriptions may use on these topics; `None`: any.
    pub allow: Option<Vec<String>>,
}

impl Default for FilterStage {
    fn default() -> Self {
        FilterStage {
            on_error: OnError::Deliver,
            allow: None,
        }
    }
}

impl PipelineConfig {
    pub fn applies_to(&self, topic: &str) -> bool {
        self.topics.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => topic.starts_with(prefix),
            None => p == topic,
        })
    }
}

/// The pipeline that applies to `topic`: the first naming it.
pub fn pipeline_of<'a>(pipelines: &'a [PipelineConfig], topic: &str) -> Option<&'a PipelineConfig> {
    pipelines.iter().find(|p| p.applies_to(topic))
}

/// The filter stage for `topic`: the first pipeline naming it, else the default (deliver on
/// error, any plugin).
pub fn filter_stage<'a>(
    pipelines: &'a [PipelineConfig],
    topic: &str,
) -> std::borrow::Cow<'a, FilterStage> {
    pipelines
        .iter()
        .find(|p| p.applies_to(topic))
        .map(|p| std::borrow::Cow::Borrowed(&p.filter))
        .unwrap_or_default()
}
