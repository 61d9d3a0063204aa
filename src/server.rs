//! `lockgate serve`: opens the store, declares the topics from the config, starts the QUIC
//! endpoint, runs until told to stop, and shuts down cleanly: stop accepting, let in-flight
//! requests finish, close connections, flush, write the clean checkpoint.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Action, Resource};
use crate::broker::Broker;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::http::MetricsServer;
use crate::metrics::scrape::Scraper;
use crate::storage::{StorageError, Store, TopicSpec};
use crate::transport::{Endpoint, EndpointError, EndpointOptions};

/// How long shutdown waits for in-flight requests.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("topic[{index}] {name:?}: {source}")]
    Topic {
        index: usize,
        name: String,
        source: StorageError,
    },
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginError),
    #[error("broker: {0}")]
    Broker(#[from] crate::broker::BrokerError),
    #[error("{0}")]
    Pipelines(String),
    /// Protected mode: no authentication, and an address other machines can reach.
    #[error(
        "refusing to listen on {0} with [auth] mode = \"none\": anyone who can reach it could \
         produce, consume and delete topics. Either create tokens (`lockgate auth token NAME`, \
         add the printed entry to config.toml), set [auth] mode = \"required\" and grant \
         [[acl]] rules; or listen on a loopback address; or, on purpose, set [auth] \
         allow_anonymous_remote = true"
    )]
    Unprotected(std::net::SocketAddr),
    /// Protected mode for the metrics endpoint, which names every topic and group.
    #[error(
        "refusing to serve metrics on {0} with [auth] mode = \"none\": anyone who can reach it \
         could read every topic's and group's name and backlog. Either set [auth] mode = \
         \"required\" (a scrape then presents a token whose principal may describe the broker: \
         Prometheus' `authorization` setting with `credentials` = the token); or set [metrics] \
         listen to a loopback address; or, on purpose, set [auth] allow_anonymous_remote = true"
    )]
    UnprotectedMetrics(std::net::SocketAddr),
    #[error("metrics.listen {addr}: {source}; set [metrics] listen to another address, or \"off\"")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Redis's protected mode: without authentication, only a loopback address, unless the
/// configuration says otherwise on purpose.
fn protected_mode(config: &Config) -> Result<(), ServerError> {
    let auth = &config.auth;
    // Both listeners: QUIC's and the TCP one's (on by default, at QUIC's address).
    for listen in [Some(config.server.listen), config.server.tcp_address()]
        .into_iter()
        .flatten()
    {
        if auth.mode == crate::auth::Mode::None
            && !auth.allow_anonymous_remote
            && !listen.ip().is_loopback()
        {
            return Err(ServerError::Unprotected(listen));
        }
    }
    if let Some(metrics) = config.metrics.listen
        && auth.mode == crate::auth::Mode::None
        && !auth.allow_anonymous_remote
        && !metrics.ip().is_loopback()
    {
        return Err(ServerError::UnprotectedMetrics(metrics));
    }
    Ok(())
}

/// Opens the store described by `config` and brings the configured topics to their settings.
pub fn open_store(config: &Config, clock: Clock) -> Result<Arc<Store>, ServerError> {
    let store = Store::open(config.store_options(clock))?;
    for (index, t) in config.topics.iter().enumerate() {
        let spec = TopicSpec {
            name: t.name.clone(),
            queues: t.queues,
            durability: t.durability,
            retention: t.retention,
        };
        let ensured = match store.ensure_topic(&spec) {
            // Grown online (`topic alter`) past what the config says: keep its queues.
            Err(StorageError::QueuesShrink { existing, .. }) => {
                tracing::warn!(topic = %t.name, queues = existing, config = t.queues,
                    "the topic has more queues than the config says (grown with `lockgate topic alter`); keeping them: set queues = {existing} in the config");
                store.ensure_topic(&TopicSpec {
                    queues: existing,
                    ..spec
                })
            }
            other => other,
        };
        ensured.map_err(|source| ServerError::Topic {
            index,
            name: t.name.to_string(),
            source,
        })?;
    }
    Ok(store)
}

/// A running server: its store, its broker (with the timer driver) and its endpoint.
pub struct Running {
    pub store: Arc<Store>,
    pub broker: Arc<Broker>,
    pub endpoint: Endpoint,
    metrics: Option<MetricsServer>,
    timers: tokio::task::JoinHandle<()>,
    stop_timers: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// Opens storage and starts listening as `config` says, on the system clock.
    pub async fn start(config: &Config) -> Result<Running, ServerError> {
        Running::start_with_clock(config, Clock::system()).await
    }

    /// [`Running::start`] with every service reading time from `clock` (tests pass a manual
    /// one to drive leases, retries and sessions).
    pub async fn start_with_clock(config: &Config, clock: Clock) -> Result<Running, ServerError> {
        protected_mode(config)?;
        // Before anything records: the plugins' and services' handles bind to it.
        let recorded = config.metrics.listen.map(|_| crate::metrics::install());
        let opening = std::time::Instant::now();
        let store = tokio::task::spawn_blocking({
            let (config, clock) = (config.clone(), clock.clone());
            move || open_store(&config, clock)
        })
        .await??;
        let recovery_seconds = opening.elapsed().as_secs_f64();
        let plugins = tokio::task::spawn_blocking({
            let (dir, specs) = (
                crate::plugin::Plugins::cache_dir(&config.server.data_dir),
                config.plugins.clone(),
            );
            let clock = clock.clone();
            move || crate::plugin::Plugins::load_for_serving(clock, &dir, &specs)
        })
        .await??;
        let plugins = Arc::new(plugins);
        let problems =
            crate::pipeline::validate::validate(&config.pipelines, &config.plugins, &|name| {
                plugins.known_roles(name)
            });
        if !problems.is_empty() {
            return Err(ServerError::Pipelines(problems.join("; ")));
        }
        // Each stage's plugin made once with its config, so that a refusal stops the start
        // rather than a producer's first batch. Plugins still to compile are made when first
        // used (their failures then go to the producer, as before).
        let problems = tokio::task::spawn_blocking({
            let (plugins, pipelines) = (plugins.clone(), config.pipelines.clone());
            move || {
                crate::pipeline::validate::create_stages(
                    &pipelines,
                    &|name| plugins.known_roles(name),
                    &|role, name| plugins.make_stage(role, name),
                )
            }
        })
        .await
        .map_err(|e| ServerError::Pipelines(e.to_string()))?;
        if !problems.is_empty() {
            return Err(ServerError::Pipelines(problems.join("; ")));
        }
        // Plugins not compiled before (no cached artifact) compile while the broker serves.
        plugins.compile_deferred();
        let broker = Arc::new(Broker::new(store.clone(), config, plugins, clock)?);
        let (stop_timers, stopped) = tokio::sync::watch::channel(false);
        let timers = broker.timers().spawn(stopped);
        let s = &config.server;
        let metrics = match (config.metrics.listen, recorded) {
            (Some(addr), Some(recorded)) => {
                start_series_at_zero(&broker);
                let checked = broker.clone();
                let scraper = Scraper {
                    source: broker.clone(),
                    authorize: Arc::new(move |token| {
                        checked
                            .auth()
                            .check_bearer(token, Action::Describe, &Resource::Broker)
                    }),
                    per_queue: config.metrics.per_queue,
                    data_dir: s.data_dir.clone(),
                    recovery_seconds,
                };
                let server = MetricsServer::start(addr, recorded, scraper)
                    .await
                    .map_err(|source| ServerError::Metrics { addr, source })?;
                Some(server)
            }
            _ => None,
        };
        let endpoint = Endpoint::start(
            &EndpointOptions {
                listen: s.listen,
                listen_tcp: s.tcp_address(),
                data_dir: s.data_dir.clone(),
                tls: s.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
                client_ca: s.client_ca.clone(),
                max_connections: s.max_connections,
                max_frame: s.max_frame_size,
                idle_timeout: s.idle_timeout,
            },
            broker.clone(),
        )?;
        let metrics_at = metrics.as_ref().map_or_else(
            || "off".to_string(),
            |m| format!("http://{}/metrics", m.local_addr()),
        );
        let tcp_at = endpoint
            .local_tcp_addr()
            .map_or_else(|| "off".to_string(), |a| a.to_string());
        tracing::info!(
            listen = %endpoint.local_addr(),
            listen_tcp = %tcp_at,
            data_dir = %s.data_dir.display(),
            topics = store.list_topics().len(),
            metrics = %metrics_at,
            "lockgate is serving"
        );
        Ok(Running {
            store,
            broker,
            endpoint,
            metrics,
            timers,
            stop_timers,
        })
    }

    /// The QUIC endpoint's address.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.endpoint.local_addr()
    }

    /// The TLS-over-TCP listener's address, unless it is off.
    pub fn local_tcp_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.local_tcp_addr()
    }

    /// Where `GET /metrics` is served, unless metrics are off.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::local_addr)
    }

    /// Clean shutdown: stop accepting, finish in-flight requests, close connections, then
    /// persist group progress, flush and write the clean checkpoint.
    pub async fn stop(self) -> Result<(), ServerError> {
        drop(self.metrics);
        self.endpoint.shutdown(SHUTDOWN_GRACE).await;
        let _ = self.stop_timers.send(true);
        let _ = self.timers.await;
        let groups = self.broker.groups().clone();
        tokio::task::spawn_blocking(move || groups.persist()).await?;
        let store = self.store;
        tokio::task::spawn_blocking(move || store.close()).await??;
        Ok(())
    }
}

/// The counter series whose labels are known now begin at 0 (see `metrics::known`).
fn start_series_at_zero(broker: &Broker) {
    crate::metrics::known::start();
    for g in broker.groups().list() {
        for t in &g.topics {
            crate::metrics::known::group_topic(&g.name, t);
        }
    }
    for t in broker.store().list_topics() {
        if let Ok(Some(_)) = broker.pipelines().ingress(t.name.as_str()) {
            crate::metrics::known::pipeline_topic(t.name.as_str());
        }
    }
}

/// Runs the broker until `shutdown` completes, then shuts down cleanly. With `config_path`,
/// SIGHUP reloads the file and applies its plugins and pipelines.
pub async fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    // The SIGHUP handler is installed before the server says it is serving, so an early
    // SIGHUP reloads instead of killing the process.
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let running = Running::start(&config).await?;
    let reloader = match hup {
        Ok(hup) => Some(tokio::spawn(reload_on_sighup(
            config_path,
            hup,
            running.broker.clone(),
        ))),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; configuration reloads need a restart");
            None
        }
    };
    shutdown.await;
    if let Some(r) = reloader {
        r.abort();
    }
    tracing::info!(
        "shutting down: finishing in-flight requests, flushing, writing a clean checkpoint"
    );
    running.stop().await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Reloads the configuration file on every SIGHUP: plugins (reloaded from their sources, new
/// ones added) and pipelines. A file with problems is logged and changes nothing.
async fn reload_on_sighup(
    path: Option<PathBuf>,
    mut hup: tokio::signal::unix::Signal,
    broker: Arc<Broker>,
) {
    while hup.recv().await.is_some() {
        let Some(path) = &path else {
            tracing::warn!("SIGHUP: the broker runs on its built-in defaults; no file to reload");
            continue;
        };
        let config = match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                for line in e.lines() {
                    tracing::error!(config = %path.display(), "not reloaded: {line}");
                }
                continue;
            }
        };
        let b = broker.clone();
        let failures = tokio::task::spawn_blocking(move || b.reload_config(&config)).await;
        match failures {
            Ok(f) if f.is_empty() => {
                tracing::info!(config = %path.display(), "configuration reloaded (plugins, pipelines)")
            }
            Ok(f) => {
                for e in f {
                    tracing::error!("plugin not reloaded, the old one stays: {e}");
                }
            }
            Err(e) => tracing::error!(error = %e, "configuration reload failed"),
        }
    }
}

pub use crate::signals::shutdown_signal;
