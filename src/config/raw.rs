//! Phase one: the TOML file as serde sees it. Unknown keys are errors; every value that needs
//! interpretation (sizes, durations, addresses, enums) stays a string here so that phase two can
//! report all problems at once instead of stopping at the first.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub groups: RawGroups,
    #[serde(default)]
    pub delay: RawDelay,
    #[serde(default)]
    pub transactions: RawTransactions,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default, rename = "topic")]
    pub topics: Vec<RawTopic>,
    #[serde(default)]
    pub plugins: std::collections::BTreeMap<String, RawPlugin>,
    #[serde(default, rename = "pipeline")]
    pub pipelines: Vec<RawPipeline>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub acl: Vec<RawAcl>,
    #[serde(default, rename = "quota")]
    pub quotas: Vec<RawQuota>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub principal: Option<String>,
    pub produce_rate: Option<String>,
    pub produce_bytes: Option<String>,
    pub connections: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub mode: Option<String>,
    pub allow_anonymous_remote: Option<bool>,
    #[serde(default, rename = "token")]
    pub tokens: Vec<RawToken>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAcl {
    pub principal: Option<String>,
    pub actions: Option<Vec<String>>,
    pub topics: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: Option<String>,
    pub memory_limit: Option<String>,
    pub call_timeout: Option<String>,
    pub config: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    pub topics: Option<Vec<String>>,
    pub ingress: Option<RawIngressStage>,
    pub filter: Option<RawFilterStage>,
    pub retry: Option<RawRetryStage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIngressStage {
    pub stages: Option<Vec<String>>,
    pub on_error: Option<String>,
    pub dedup_window: Option<String>,
    pub dedup_max_keys: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetryStage {
    pub plugin: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilterStage {
    pub on_error: Option<String>,
    pub allow: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroups {
    pub lease: Option<String>,
    pub max_attempts: Option<i64>,
    pub retry_delays: Option<Vec<String>>,
    pub ordered_retry_interval: Option<String>,
    pub timer_retry_threshold: Option<String>,
    pub session_timeout: Option<String>,
    pub persist_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<String>,
    pub per_queue: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransactions {
    pub check_after: Option<String>,
    pub check_interval: Option<String>,
    pub max_checks: Option<i64>,
    pub on_unresolved: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDelay {
    pub levels: Option<Vec<String>>,
    pub max_delay: Option<String>,
    pub fire_rate: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub listen_tcp: Option<String>,
    pub data_dir: Option<String>,
    pub max_connections: Option<i64>,
    pub max_frame_size: Option<String>,
    pub max_batch_messages: Option<i64>,
    pub idle_timeout: Option<String>,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Option<String>,
    pub key: Option<String>,
    pub client_ca: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub segment_size: Option<String>,
    pub durability: Option<String>,
    pub flush_interval: Option<String>,
    pub checkpoint_interval: Option<String>,
    pub retention: Option<String>,
    pub retention_size: Option<String>,
    pub max_message_size: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub name: Option<String>,
    pub queues: Option<i64>,
    pub durability: Option<String>,
    pub retention: Option<String>,
}
