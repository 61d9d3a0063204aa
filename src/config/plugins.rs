//! `[plugins.NAME]` (plugin instances: where the component is, its limits, its config) and
//! `[[pipeline]]` (which stages apply to which topics, and what a failure does): `ingress`
//! (dedup and router stages, run on produce), `filter` (which filter plugins subscriptions may
//! use) and `retry` (what follows a failed delivery). This checks values, names and that files
//! exist; whether a plugin implements the world its stage needs, and routing loops, are
//! checked when the plugins load (`serve`, `check-config`: `crate::pipeline::validate`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{RawPipeline, RawPlugin};
use super::{Validator, positive_duration_of, size_of};
use crate::plugin::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_MEMORY_LIMIT, PluginSpec, builtin, builtin_names,
};

pub use crate::pipeline::spec::{
    DEFAULT_DEDUP_MAX_KEYS, DEFAULT_DEDUP_WINDOW, FilterStage, IngressOnError, IngressStage,
    OnError, PipelineConfig, RetryStage, filter_stage, pipeline_of,
};

const MAX_DEDUP_KEYS: u64 = 100_000_000;
const MAX_MEMORY_LIMIT: u64 = 4 << 30;
const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn validate_plugins(
    v: &mut Validator,
    raw: BTreeMap<String, RawPlugin>,
) -> Vec<PluginSpec> {
    let mut out = Vec::new();
    for (name, rp) in raw {
        let at = |key: &str| format!("plugins.{name}.{key}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            v.problem(
                &format!("plugins.{name}"),
                "plugin names may contain only letters, digits, '-' and '_'".to_string(),
            );
            continue;
        }
        let source = match rp.path {
            None => {
                v.problem(
                    &at("path"),
                    format!(
                        "is required (a .wasm file, or builtin:NAME: {})",
                        builtin_names()
                    ),
                );
                continue;
            }
            Some(p) => p,
        };
        if let Some(b) = source.strip_prefix("builtin:") {
            if builtin(b).is_none() {
                v.problem(
                    &at("path"),
                    format!("there is no built-in plugin {b:?} ({})", builtin_names()),
                );
            }
        } else {
            let path = std::path::Path::new(&source);
            if path.is_dir() {
                v.problem(
                    &at("path"),
                    format!("{source:?} is a directory, not a .wasm file"),
                );
            } else if !path.is_file() {
                v.problem(&at("path"), format!("file {source:?} is missing"));
            }
        }
        let memory_limit = v.value(
            &at("memory_limit"),
            rp.memory_limit,
            DEFAULT_MEMORY_LIMIT,
            |s| match size_of(s)? {
                n if !((1 << 20)..=MAX_MEMORY_LIMIT).contains(&n) => {
                    Err(format!("{s:?} is out of range (1 MiB to 4 GiB)"))
                }
                n => Ok(n),
            },
        );
        let call_timeout = v.value(
            &at("call_timeout"),
            rp.call_timeout,
            DEFAULT_CALL_TIMEOUT,
            |s| match positive_duration_of(s)? {
                d if d > MAX_CALL_TIMEOUT => Err(format!("{s:?} is longer than 10s")),
                d => Ok(d),
            },
        );
        out.push(PluginSpec {
            name,
            source,
            memory_limit,
            call_timeout,
            config: rp.config.unwrap_or_default().into_iter().collect(),
        });
    }
    out
}

// Long on purpose: one rule of [[pipelines]] after another, each with its problem text, in
// the order problems are reported (tests/config.rs pins that order).
pub(super) fn validate_pipelines(
    v: &mut Validator,
    raw: Vec<RawPipeline>,
    plugins: &[PluginSpec],
) -> Vec<PipelineConfig> {
    let mut out = Vec::new();
    for (i, rp) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("pipeline[{i}].{key}");
        let topics = rp.topics.unwrap_or_default();
        if topics.is_empty() {
            v.problem(
                &at("topics"),
                "needs at least one topic name or pattern (\"orders\", \"audit.*\", \"*\")"
                    .to_string(),
            );
        }
        for t in &topics {
            let name = t.strip_suffix('*').unwrap_or(t);
            if t.matches('*').count() > 1
                || (!name.is_empty() && crate::storage::TopicName::new(name).is_err())
            {
                v.problem(
                    &at("topics"),
                    format!("{t:?} is not a topic name or a prefix ending in '*'"),
                );
            }
        }
        let known = |p: &str| builtin(p).is_some() || plugins.iter().any(|s| s.name == p);
        let ingress = rp.ingress.map(|ri| {
            let stages = ri.stages.unwrap_or_default();
            if stages.is_empty() {
                v.problem(
                    &at("ingress.stages"),
                    "needs at least one plugin name (a dedup or router plugin)".to_string(),
                );
            }
            for (n, p) in stages.iter().enumerate() {
                if !known(p) {
                    v.problem(
                        &format!("pipeline[{i}].ingress.stages[{n}]"),
                        format!(
                            "no plugin named {p:?} (built-in: {}; or a [plugins.NAME])",
                            builtin_names()
                        ),
                    );
                }
                if stages[..n].contains(p) {
                    v.problem(
                        &format!("pipeline[{i}].ingress.stages[{n}]"),
                        format!("{p:?} is named twice"),
                    );
                }
            }
            let on_error = v.value(
                &at("ingress.on_error"),
                ri.on_error,
                IngressOnError::Reject,
                |s| match s {
                    "reject" => Ok(IngressOnError::Reject),
                    "store-unrouted" => Ok(IngressOnError::StoreUnrouted),
                    other => Err(format!("{other:?} is not reject or store-unrouted")),
                },
            );
            let dedup_window = v.value(
                &at("ingress.dedup_window"),
                ri.dedup_window,
                DEFAULT_DEDUP_WINDOW,
                |s| {
                    crate::units::parse_duration(s).ok_or_else(|| {
                        format!(
                            "{s:?} is not a duration (e.g. \"10m\", \"1h\"; \"0s\" disables dedup)"
                        )
                    })
                },
            );
            let dedup_max_keys = match ri.dedup_max_keys {
                None => DEFAULT_DEDUP_MAX_KEYS,
                Some(n) if (0..=MAX_DEDUP_KEYS as i64).contains(&n) => n as u64,
                Some(n) => {
                    v.problem(
                        &at("ingress.dedup_max_keys"),
                        format!("{n} is out of range (0 to {MAX_DEDUP_KEYS}; 0 turns dedup off)"),
                    );
                    DEFAULT_DEDUP_MAX_KEYS
                }
            };
            IngressStage {
                stages,
                on_error,
                dedup_window,
                dedup_max_keys,
            }
        });
        let retry = rp.retry.and_then(|rr| match rr.plugin {
            None => {
                v.problem(
                    &at("retry.plugin"),
                    "is required (a retry plugin: builtin retry-schedule or a [plugins.NAME])"
                        .to_string(),
                );
                None
            }
            Some(p) if !known(&p) => {
                v.problem(
                    &at("retry.plugin"),
                    format!(
                        "no plugin named {p:?} (built-in: {}; or a [plugins.NAME])",
                        builtin_names()
                    ),
                );
                None
            }
            Some(plugin) => Some(RetryStage { plugin }),
        });
        let mut filter = FilterStage::default();
        if let Some(rf) = rp.filter {
            if let Some(e) = rf.on_error {
                filter.on_error = match e.as_str() {
                    "deliver" => OnError::Deliver,
                    "skip" => OnError::Skip,
                    "pause" => OnError::Pause,
                    other => {
                        v.problem(
                            &at("filter.on_error"),
                            format!("{other:?} is not deliver, skip or pause"),
                        );
                        OnError::Deliver
                    }
                };
            }
            if let Some(allow) = rf.allow {
                for p in &allow {
                    let known = builtin(p).is_some() || plugins.iter().any(|s| &s.name == p);
                    if !known {
                        v.problem(
                            &at("filter.allow"),
                            format!(
                                "no plugin named {p:?} (built-in: tag, sql92; or a [plugins.NAME])"
                            ),
                        );
                    }
                }
                filter.allow = Some(allow);
            }
        }
        out.push(PipelineConfig {
            topics,
            ingress,
            filter,
            retry,
        });
    }
    out
}
