//! The broker: turns requests into work on its services and answers with responses or
//! [`BrokerError`]s. [`Broker::handle`] only routes: each request family has its handler in
//! one file (`session`, `produce`, `fetch`, `topics`, `lookup`, `plugins`,
//! `group::handler`, `delay::handler` and `txn::handler`). Every client batch that stores
//! messages (Produce, ProduceDelayed, TxnSend) is admitted by `ingest` first. Bytes on the
//! wire are not its business (see `transport`), nor are wire statuses (the transport maps
//! errors once).
//!
//! Services own their state: [`group::Groups`] (consumer groups), [`delay::Delays`] (delay
//! messages and their timer), [`txn::Transactions`] (transaction messages and check-backs),
//! [`filters::Filters`]
//! (subscription filters and pipelines), [`appends::Appends`] (append signals for long
//! polls). Time comes from one [`Clock`]; one [`timer::TimerDriver`] wakes the services that
//! have deadlines. Storage calls block (disk I/O, `sync` flushes), so they run on tokio's
//! blocking pool.

pub mod appends;
pub mod delay;
mod error;
mod fetch;
pub mod filters;
pub mod group;
mod ingest;
mod lookup;
mod plugins;
mod produce;
mod scrape;
mod session;
mod splice;
pub mod timer;
mod topics;
pub mod txn;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::plugin::Plugins;
use crate::protocol::{Request, Response};
use crate::storage::{Durability, Store};

pub use error::{BrokerError, Result};
pub use group::dead_letter::{
    PROP_ATTEMPTS, PROP_GROUP, PROP_OFFSET, PROP_QUEUE, PROP_REASON, PROP_TOPIC,
    topic_of as dead_letter_topic,
};
pub use group::{ByteBudget, ConnInfo};
pub use ingest::queue_for_key;

/// Limits the broker applies to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest response body: fetches stop filling below it.
    pub max_frame: u32,
    /// Most messages one produce request may carry.
    pub max_batch: u32,
    /// Topics created without a durability get this one.
    pub default_durability: Durability,
}

pub struct Broker {
    store: Arc<Store>,
    clock: Clock,
    limits: Limits,
    appends: Arc<appends::Appends>,
    produce: ingest::Router,
    groups: Arc<group::Groups>,
    delays: Arc<delay::Delays>,
    txns: Arc<txn::Transactions>,
    filters: filters::Filters,
    pipelines: crate::pipeline::Pipelines,
    timers: Arc<timer::TimerDriver>,
    /// Who may do what (`[auth]`, `[[acl]]`), reloaded with the configuration.
    auth: crate::auth::Auth,
}

impl Broker {
    /// A broker over `store` with the settings of `config`, reading time from `clock`; loads
    /// the persisted groups.
    pub fn new(
        store: Arc<Store>,
        config: &Config,
        plugins: Arc<Plugins>,
        clock: Clock,
    ) -> Result<Broker> {
        let limits = Limits {
            max_frame: config.server.max_frame_size,
            max_batch: config.server.max_batch_messages,
            default_durability: config.storage.durability,
        };
        let appends = Arc::new(appends::Appends::default());
        // One copy of the pipelines, which a reload replaces: ingress and group retries read it.
        let pipeline_configs = Arc::new(parking_lot::RwLock::new(config.pipelines.clone()));
        let mut timers = timer::TimerDriver::new(clock.clone());
        let delays = Arc::new(delay::Delays::open(delay::DelaysOptions {
            store: store.clone(),
            clock: clock.clone(),
            config: config.delay.clone(),
            appends: appends.clone(),
            rearm: timers.rearm(),
        })?);
        timers.register(delays.clone());
        let groups = Arc::new(group::Groups::open(group::GroupsOptions {
            store: store.clone(),
            clock: clock.clone(),
            data_dir: config.server.data_dir.clone(),
            config: config.groups.clone(),
            dead_letter_durability: limits.default_durability,
            appends: appends.clone(),
            delays: delays.clone(),
            rearm: timers.rearm(),
            pipelines: pipeline_configs.clone(),
            plugins: plugins.clone(),
        })?);
        timers.register(groups.clone());
        let txns = Arc::new(txn::Transactions::open(txn::TransactionsOptions {
            store: store.clone(),
            clock: clock.clone(),
            config: config.transactions.clone(),
            appends: appends.clone(),
            rearm: timers.rearm(),
            durability: limits.default_durability,
        })?);
        timers.register(txns.clone());
        let pipelines = crate::pipeline::Pipelines::open(
            plugins.clone(),
            store.clone(),
            &config.server.data_dir,
            pipeline_configs,
        )?;
        Ok(Broker {
            delays,
            txns,
            pipelines,
            filters: filters::Filters::new(plugins, config.pipelines.clone()),
            produce: ingest::Router::default(),
            groups,
            appends,
            timers: Arc::new(timers),
            store,
            clock,
            limits,
            auth: crate::auth::Auth::new(config.auth.clone()),
        })
    }

    pub fn auth(&self) -> &crate::auth::Auth {
        &self.auth
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn groups(&self) -> &Arc<group::Groups> {
        &self.groups
    }

    pub fn delays(&self) -> &Arc<delay::Delays> {
        &self.delays
    }

    pub fn transactions(&self) -> &Arc<txn::Transactions> {
        &self.txns
    }

    /// The counters of every loaded plugin, for metrics.
    pub fn plugin_stats(&self) -> Vec<(String, String, Arc<crate::plugin::PluginStats>)> {
        self.filters.plugins().stats()
    }

    /// The driver of every service deadline; `server` spawns it.
    pub fn timers(&self) -> &Arc<timer::TimerDriver> {
        &self.timers
    }

    /// Applies a reloaded configuration's plugins and pipelines (blocking: plugins compile).
    /// Other settings need a restart. Returns the plugins that failed to load (they keep their
    /// old version).
    pub fn reload_config(&self, config: &Config) -> Vec<crate::plugin::PluginError> {
        let failures = self.filters.reload(config);
        self.pipelines.reload(config.pipelines.clone());
        self.auth.reload(config.auth.clone());
        failures
    }

    /// The ingress pipelines.
    pub fn pipelines(&self) -> &crate::pipeline::Pipelines {
        &self.pipelines
    }

    /// Starts handling a request. Requests on one stream are dispatched in order, and a produce
    /// request's messages (and a transaction's begin, sends and end) are written before this
    /// returns, so they keep their stream order. The [`Answer`] is the response, or a task
    /// that completes with it (for `sync` topics, after the flush).
    pub async fn dispatch(self: &Arc<Self>, req: Request, conn: ConnInfo) -> Answer {
        let later = match req {
            Request::Produce(p) => return self.dispatch_produce(produce::body_of(p)).await,
            // Levels and limits are checked as the delivery times are resolved.
            Request::Delay(crate::protocol::DelayRequest::Produce(p)) => {
                return self.dispatch_delayed(delay::handler::body_of(p)).await;
            }
            Request::Txn(crate::protocol::TxnRequest::Send(s)) => {
                return self.dispatch_txn_send(txn::handler::body_of(s)).await;
            }
            Request::Txn(
                r @ (crate::protocol::TxnRequest::Begin { .. }
                | crate::protocol::TxnRequest::End { .. }),
            ) => match crate::protocol::Family::check_ranges(&r) {
                Ok(()) => txn::handler::dispatch_ordered(self, r).await,
                Err(e) => tokio::spawn(async move { Err(e.into()) }),
            },
            other => {
                let this = self.clone();
                tokio::spawn(async move { this.handle(other, conn).await })
            }
        };
        Answer::Later(later)
    }

    /// [`Broker::dispatch`] for a produce frame's body, decoded here without copying: message
    /// contents go from the frame into the log as they are.
    pub async fn dispatch_produce(self: &Arc<Self>, body: Vec<u8>) -> Answer {
        produce::dispatch(self, body).await
    }

    /// [`Broker::dispatch`] for a ProduceDelayed frame's body, decoded here without copying.
    pub async fn dispatch_delayed(self: &Arc<Self>, body: Vec<u8>) -> Answer {
        Answer::Later(delay::handler::dispatch_produce(self, body).await)
    }

    /// [`Broker::dispatch`] for a TxnSend frame's body, decoded here without copying.
    pub async fn dispatch_txn_send(self: &Arc<Self>, body: Vec<u8>) -> Answer {
        Answer::Later(txn::handler::dispatch_send(self, body).await)
    }

    /// Handles a request to completion: checks its documented ranges, then routes it to its
    /// family's handler.
    pub async fn handle(self: &Arc<Self>, req: Request, conn: ConnInfo) -> Result<Response> {
        req.check_ranges()?;
        match req {
            Request::Session(r) => session::handle(self, r),
            Request::Produce(p) => produce::handle(self, p).await,
            Request::Fetch(r) => fetch::handle(self, r).await,
            Request::Topic(r) => topics::handle(self, r).await,
            Request::Lookup(r) => lookup::handle(self, r).await,
            Request::Group(r) => group::handler::handle(self, r, conn).await,
            Request::Plugin(r) => plugins::handle(self, r).await,
            Request::Delay(r) => delay::handler::handle(self, r).await,
            Request::Txn(r) => txn::handler::handle(self, r).await,
        }
    }

    /// A connection closed: its group members leave (no need to wait for their session
    /// timeout).
    pub fn connection_closed(&self, conn: u64) {
        self.groups.connection_closed(conn);
    }
}

/// A dispatched request's answer: ready when it was known by the time its write was done (an
/// async topic's produce: no second hand-off to wait for nothing), or a task that completes
/// with it (a sync topic's produce waits for the flush there, so the stream's next request
/// is written meanwhile).
pub enum Answer {
    Ready(Result<Response>),
    Later(JoinHandle<Result<Response>>),
}

impl Answer {
    /// Waits for the answer (a task that failed is an internal error).
    pub async fn get(self) -> Result<Response> {
        match self {
            Answer::Ready(r) => r,
            Answer::Later(t) => t
                .await
                .unwrap_or_else(|e| Err(BrokerError::Internal(format!("request failed: {e}")))),
        }
    }
}

/// Runs blocking storage work on the blocking pool.
/// Runs `f`, which blocks briefly (a write to the log, under its lock), on this very worker:
/// `block_in_place` moves the worker's other tasks to another thread first, so a write that
/// stalls (a full page cache, a plugin's stage) holds up no other connection. In a
/// current-thread runtime, where that is not possible, `f` goes to the blocking pool.
async fn in_place<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => blocking(f).await,
        _ => tokio::task::block_in_place(f),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(BrokerError::Internal(format!("request task failed: {e}"))))
}
