//! `lockgate serve`: opens the store, declares the topics from the config, runs until told to
//! stop, and shuts down cleanly (flush, clean checkpoint).
//!
//! Does not (yet) listen on the network: the QUIC endpoint and protocol v1 come with their own
//! issue and plug in here.

use std::future::Future;
use std::sync::Arc;

use crate::config::Config;
use crate::storage::{StorageError, Store, StoreOptions, TopicSpec};

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
}

/// Opens the store described by `config` and brings the configured topics to their settings.
pub fn open_store(config: &Config) -> Result<Arc<Store>, ServerError> {
    let store = Store::open(StoreOptions::from_config(config))?;
    for (index, t) in config.topics.iter().enumerate() {
        let spec = TopicSpec {
            name: t.name.clone(),
            queues: t.queues,
            durability: t.durability,
            retention: t.retention,
        };
        store
            .ensure_topic(&spec)
            .map_err(|source| ServerError::Topic {
                index,
                name: t.name.to_string(),
                source,
            })?;
    }
    Ok(store)
}

/// Runs the broker until `shutdown` completes, then closes the store cleanly.
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    let store = tokio::task::spawn_blocking({
        let config = config.clone();
        move || open_store(&config)
    })
    .await??;
    let report = store.recovery_report();
    tracing::info!(
        data_dir = %config.server.data_dir.display(),
        topics = store.list_topics().len(),
        log_end = report.end,
        "storage ready (the QUIC listener on {} is not built yet)",
        config.server.listen
    );
    shutdown.await;
    tracing::info!("shutting down: flushing and writing a clean checkpoint");
    tokio::task::spawn_blocking(move || store.close()).await??;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
