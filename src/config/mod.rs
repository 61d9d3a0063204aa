//! `config.toml`: loading, defaults and validation.
//!
//! Two phases: [`raw`] deserializes the file strictly (unknown keys are errors), then
//! [`Config::from_raw`] interprets and checks every value, collecting **all** problems, each
//! with its TOML path (`storage.segment_size: "12 XB" is not a size`), before anything starts.
//! This module reads and checks configuration; it does not create directories or open storage.

pub mod auth;
pub mod delay;
pub mod groups;
pub mod metrics;
pub mod plugins;
mod raw;
mod server;
mod storage;
mod topics;
pub mod transactions;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::Clock;
use crate::storage::{Durability, StoreOptions, TopicName};
use crate::units::{parse_duration, parse_size};
pub use delay::DelayConfig;
pub use groups::GroupsConfig;
pub use metrics::MetricsConfig;
pub use raw::RawConfig;
pub use transactions::{OnUnresolved, TransactionsConfig};

/// The validated configuration. `Config::default()` is exactly what the shipped `config.toml`
/// describes (a test holds the two together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub groups: GroupsConfig,
    pub delay: DelayConfig,
    pub transactions: TransactionsConfig,
    pub metrics: MetricsConfig,
    pub topics: Vec<TopicConfig>,
    /// `[plugins.NAME]`, in name order (the built-ins need no entry).
    pub plugins: Vec<crate::plugin::PluginSpec>,
    /// `[[pipeline]]`, in file order: the first naming a topic applies to it.
    pub pipelines: Vec<plugins::PipelineConfig>,
    /// `[auth]` and `[[acl]]`.
    pub auth: crate::auth::AuthConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// UDP address the QUIC endpoint listens on.
    pub listen: SocketAddr,
    /// Where the TLS-over-TCP listener listens (`listen_tcp`).
    pub listen_tcp: TcpListen,
    /// Everything Lockgate persists lives below this directory.
    pub data_dir: PathBuf,
    pub max_connections: u32,
    /// Largest request frame body accepted.
    pub max_frame_size: u32,
    /// Most messages one produce request may carry.
    pub max_batch_messages: u32,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// `None`: a local CA and server certificate are created under `<data_dir>/tls/`.
    pub tls: Option<TlsConfig>,
    /// Clients must present a certificate signed by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// `[server] listen_tcp`: the TLS-over-TCP listener, on by default at `listen`'s address
/// (TCP and UDP ports are separate, so one address serves both; with port 0 each gets its
/// own). On by default because clients without a QUIC library, and networks that drop UDP,
/// should work as they come; it takes the same TLS, tokens, ACLs and limits as QUIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpListen {
    /// The address in `listen`, over TCP.
    #[default]
    AsQuic,
    At(SocketAddr),
    /// `listen_tcp = "off"`: QUIC only.
    Off,
}

impl ServerConfig {
    /// The TCP listener's address, `None` when it is off.
    pub fn tcp_address(&self) -> Option<SocketAddr> {
        match self.listen_tcp {
            TcpListen::AsQuic => Some(self.listen),
            TcpListen::At(a) => Some(a),
            TcpListen::Off => None,
        }
    }
}

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    pub segment_size: u64,
    pub durability: Durability,
    pub flush_interval: Duration,
    pub checkpoint_interval: Duration,
    /// `None`: keep segments regardless of age.
    pub retention: Option<Duration>,
    /// `None`: no bound on the log's total size.
    pub retention_size: Option<u64>,
    pub max_message_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub name: TopicName,
    pub queues: u32,
    pub durability: Durability,
    /// Hides messages older than this from readers of this topic; at most `storage.retention`.
    pub retention: Option<Duration>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7420";
pub const DEFAULT_DATA_DIR: &str = "data";
pub const DEFAULT_QUEUES: u32 = 8;
pub use crate::storage::MAX_QUEUES;
const MIN_SEGMENT_SIZE: u64 = 1 << 20;
const MAX_SEGMENT_SIZE: u64 = 64 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig {
                listen: DEFAULT_LISTEN
                    .parse()
                    .expect("default listen address parses"),
                listen_tcp: TcpListen::AsQuic,
                data_dir: PathBuf::from(DEFAULT_DATA_DIR),
                max_connections: 10_000,
                max_frame_size: crate::protocol::DEFAULT_MAX_FRAME,
                max_batch_messages: 10_000,
                idle_timeout: Duration::from_secs(30),
                tls: None,
                client_ca: None,
            },
            storage: StorageConfig {
                segment_size: StoreOptions::DEFAULT_SEGMENT_SIZE,
                durability: Durability::Sync,
                flush_interval: StoreOptions::DEFAULT_FLUSH_INTERVAL,
                checkpoint_interval: StoreOptions::DEFAULT_CHECKPOINT_INTERVAL,
                retention: Some(StoreOptions::DEFAULT_RETENTION),
                retention_size: None,
                max_message_size: StoreOptions::DEFAULT_MAX_MESSAGE_SIZE,
            },
            groups: GroupsConfig::default(),
            delay: DelayConfig::default(),
            transactions: TransactionsConfig::default(),
            metrics: MetricsConfig::default(),
            topics: Vec::new(),
            plugins: Vec::new(),
            pipelines: Vec::new(),
            auth: crate::auth::AuthConfig::default(),
        }
    }
}

impl Config {
    /// The store this configuration describes, reading time from `clock`.
    pub fn store_options(&self, clock: Clock) -> StoreOptions {
        let s = &self.storage;
        StoreOptions {
            dir: self.server.data_dir.clone(),
            segment_size: s.segment_size,
            flush_interval: s.flush_interval,
            checkpoint_interval: s.checkpoint_interval,
            retention: s.retention,
            retention_size: s.retention_size,
            max_message_size: s.max_message_size,
            clock,
            // A delay record is written again within a third of the retention age, so
            // retention is never held back for long.
            timer_horizon: s
                .retention
                .map_or(StoreOptions::DEFAULT_TIMER_HORIZON, |r| {
                    (r / 3).clamp(
                        std::time::Duration::from_secs(60),
                        StoreOptions::DEFAULT_TIMER_HORIZON,
                    )
                }),
            ..StoreOptions::new(&self.server.data_dir)
        }
    }
}

/// One thing wrong with a configuration: where (a TOML path, or a line for syntax errors) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

impl ConfigError {
    /// The individual problems, one per line of output (a read failure is one problem).
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Read { .. } => vec![self.to_string()],
            ConfigError::Invalid { problems } => problems.iter().map(ToString::to_string).collect(),
        }
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw = parse_raw(text).map_err(|problem| ConfigError::Invalid {
            problems: vec![problem],
        })?;
        Config::from_raw(raw).map_err(|problems| ConfigError::Invalid { problems })
    }

    /// Phase two: interprets every value, collecting all problems.
    pub fn from_raw(raw: RawConfig) -> Result<Config, Vec<Problem>> {
        let mut v = Validator::default();
        let defaults = Config::default();
        let server = server::validate(&mut v, raw.server, &defaults.server);
        let storage = storage::validate(&mut v, raw.storage, defaults.storage);
        let groups = groups::validate(&mut v, raw.groups);
        let delay = delay::validate(&mut v, raw.delay);
        let transactions = transactions::validate(&mut v, raw.transactions);
        let metrics = metrics::validate(&mut v, raw.metrics);
        let plugin_specs = plugins::validate_plugins(&mut v, raw.plugins);
        let pipelines = plugins::validate_pipelines(&mut v, raw.pipelines, &plugin_specs);
        let auth = auth::validate(&mut v, raw.auth, raw.acl, raw.quotas);
        if auth.mode == crate::auth::Mode::Required
            && auth.tokens.is_empty()
            && server.client_ca.is_none()
        {
            v.problem(
                "auth.mode",
                "is \"required\", but there is no [[auth.token]] and no server.client_ca: no \
                 client could authenticate (`lockgate auth token NAME` makes a token)"
                    .into(),
            );
        }
        let topics = topics::validate(&mut v, raw.topics, storage.durability, storage.retention);
        if v.problems.is_empty() {
            Ok(Config {
                server,
                storage,
                groups,
                delay,
                transactions,
                metrics,
                topics,
                plugins: plugin_specs,
                pipelines,
                auth,
            })
        } else {
            Err(v.problems)
        }
    }
}

/// Phase one, with serde errors turned into a [`Problem`] that names the TOML path and line.
fn parse_raw(text: &str) -> Result<RawConfig, Problem> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| syntax_problem(text, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = inner
            .span()
            .map(|s| format!(" (line {})", line_of(text, s.start)))
            .unwrap_or_default();
        Problem {
            path: if path == "." {
                "config".to_string()
            } else {
                path
            },
            message: format!("{}{location}", inner.message().trim()),
        }
    })
}

fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
    let mut message = format!("invalid TOML: {}", e.message().trim());
    // The parser says "duplicate key" and points at it: name it.
    if let Some(key) = e
        .span()
        .and_then(|s| text.get(s))
        .map(str::trim)
        .filter(|k| !k.is_empty() && message.contains("duplicate key"))
    {
        message = format!("{message} {key}");
    }
    Problem {
        path: format!("line {line}"),
        message,
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn problem(&mut self, path: &str, message: String) {
        self.problems.push(Problem {
            path: path.to_string(),
            message,
        });
    }

    /// Interprets an optional raw string, recording a problem (and using the default) on failure.
    fn value<T>(
        &mut self,
        path: &str,
        raw: Option<String>,
        default: T,
        interpret: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        match raw {
            None => default,
            Some(text) => match interpret(&text) {
                Ok(value) => value,
                Err(message) => {
                    self.problem(path, message);
                    default
                }
            },
        }
    }
}

fn size_of(s: &str) -> Result<u64, String> {
    parse_size(s).ok_or_else(|| format!("{s:?} is not a size (e.g. \"512 MiB\", \"1 GiB\")"))
}

fn positive_duration_of(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        None => Err(format!(
            "{s:?} is not a duration (e.g. \"500ms\", \"30s\", \"72h\")"
        )),
        Some(Duration::ZERO) => Err(format!("{s:?} must be greater than zero")),
        Some(d) => Ok(d),
    }
}

fn durability_of(s: &str) -> Result<Durability, String> {
    match s {
        "sync" => Ok(Durability::Sync),
        "async" => Ok(Durability::Async),
        _ => Err(format!(
            "{s:?} is not a durability (expected \"sync\" or \"async\")"
        )),
    }
}

/// `"unlimited"` is `None`; anything else goes through `inner`.
fn optional<T>(
    s: &str,
    inner: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, String> {
    if s.trim() == "unlimited" {
        Ok(None)
    } else {
        inner(s).map(Some)
    }
}
