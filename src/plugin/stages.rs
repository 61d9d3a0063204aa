//! Routers, dedup key makers and retry policies: one instance of a plugin per pipeline stage,
//! made with the plugin's config and kept across calls. As for filters, a failed call drops the
//! instance (counted and logged) and the next call makes a new one; a reload moves the stage to
//! the new plugin before its next call. What a failure does to the batch is the caller's.
//!
//! Answers are checked here, so callers get only answers that fit the batch: one entry per
//! message, destination indexes in range.

use std::sync::Arc;

use wasmtime::component::ResourceAny;

use super::exports::{Role, dedup, retry, router};
use super::sandbox::{Failure, Sandbox};
use super::{LoadedPlugin, PluginSlot};

pub use retry::{Decision, FailedDelivery, Reason};
pub use router::Destination;

/// Why a stage has no instance to call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    /// The plugin does not implement the world the stage needs.
    #[error("plugin {plugin:?} does not implement the {}-plugin world (it implements {has})", role.name())]
    WrongWorld {
        plugin: String,
        role: Role,
        has: String,
    },
    /// `create` refused the plugin's config.
    #[error("plugin {plugin:?} refused its config: {reason}")]
    Config { plugin: String, reason: String },
    #[error(transparent)]
    Failed(#[from] Failure),
    #[error("the plugin cannot be loaded: {0}")]
    Unavailable(String),
}

struct Live<G> {
    sandbox: Sandbox,
    guest: G,
    resource: ResourceAny,
}

/// A stage's instance, remade after a failure or a reload.
struct Held<G> {
    slot: Arc<PluginSlot>,
    role: Role,
    live: Option<Live<G>>,
}

type Load<G> = fn(
    &LoadedPlugin,
    &mut wasmtime::Store<super::bindings::HostState>,
    &wasmtime::component::Instance,
) -> Option<wasmtime::Result<G>>;
type Create<G> = fn(
    &G,
    &mut wasmtime::Store<super::bindings::HostState>,
    &[(String, String)],
) -> wasmtime::Result<Result<ResourceAny, String>>;

impl<G> Held<G> {
    fn new(slot: Arc<PluginSlot>, role: Role) -> Held<G> {
        Held {
            slot,
            role,
            live: None,
        }
    }

    fn ensure(&mut self, load: Load<G>, create: Create<G>) -> Result<&mut Live<G>, StageError> {
        let plugin = self.slot.current();
        if self
            .live
            .as_ref()
            .is_some_and(|l| l.sandbox.plugin.generation == plugin.generation)
        {
            return Ok(self.live.as_mut().expect("checked"));
        }
        self.live = None;
        let wrong = || StageError::WrongWorld {
            plugin: plugin.spec.name.clone(),
            role: self.role,
            has: plugin.worlds().join(", "),
        };
        if !plugin.roles().contains(&self.role) {
            return Err(wrong());
        }
        let mut sandbox = Sandbox::new(plugin.clone(), self.role)?;
        let guest = match load(&plugin, &mut sandbox.store, &sandbox.instance) {
            None => return Err(wrong()),
            Some(Ok(g)) => g,
            Some(Err(e)) => return Err(sandbox.classify(&e).into()),
        };
        sandbox.arm();
        let resource = match create(&guest, &mut sandbox.store, &plugin.spec.config) {
            Ok(Ok(r)) => r,
            Ok(Err(reason)) => {
                return Err(StageError::Config {
                    plugin: plugin.spec.name.clone(),
                    reason,
                });
            }
            Err(e) => {
                let f = sandbox.classify(&e);
                sandbox.count(&f);
                return Err(f.into());
            }
        };
        Ok(self.live.insert(Live {
            sandbox,
            guest,
            resource,
        }))
    }

    /// Runs one call on the live instance; a failure drops it, counted.
    fn call<T>(
        &mut self,
        load: Load<G>,
        create: Create<G>,
        messages: usize,
        f: impl FnOnce(&mut Live<G>) -> Result<T, CallError>,
    ) -> Result<T, StageError> {
        let live = self.ensure(load, create)?;
        live.sandbox.arm();
        let began = std::time::Instant::now();
        let failure = match f(live) {
            Ok(t) => {
                live.sandbox.observe(began, messages);
                return Ok(t);
            }
            Err(CallError::Trapped(e)) => live.sandbox.classify(&e),
            Err(CallError::Bad(detail)) => live.sandbox.bad_answer(detail),
        };
        live.sandbox.count(&failure);
        self.live = None;
        Err(failure.into())
    }

    fn plugin_name(&self) -> String {
        self.slot.current().spec.name.clone()
    }
}

enum CallError {
    Trapped(wasmtime::Error),
    Bad(String),
}

/// A batch's routing, checked: `targets` has one entry per message and every index names one
/// of `destinations`.
#[derive(Debug, Clone)]
pub struct Routes {
    pub destinations: Vec<Destination>,
    pub targets: Vec<Vec<u32>>,
}

/// A router stage.
pub struct Router(Held<router::Guest>);

fn load_router(
    p: &LoadedPlugin,
    store: &mut wasmtime::Store<super::bindings::HostState>,
    i: &wasmtime::component::Instance,
) -> Option<wasmtime::Result<router::Guest>> {
    Some(p.exports.router.as_ref()?.load(store, i))
}

fn create_router(
    g: &router::Guest,
    store: &mut wasmtime::Store<super::bindings::HostState>,
    config: &[(String, String)],
) -> wasmtime::Result<Result<ResourceAny, String>> {
    g.dispatcher().call_create(store, config)
}

impl Router {
    /// Makes the instance now, so that a wrong world or a refused config shows at once.
    pub(super) fn new(slot: Arc<PluginSlot>) -> Result<Router, StageError> {
        let mut held = Held::new(slot, Role::Router);
        held.ensure(load_router, create_router)?;
        Ok(Router(held))
    }

    pub fn plugin_name(&self) -> String {
        self.0.plugin_name()
    }

    /// Routes `count` messages of `topic` laid out in `batch`. A plugin's error answer is a
    /// failure (`bad_answer`) that carries its text.
    pub fn route(&mut self, topic: &str, batch: &[u8], count: usize) -> Result<Routes, StageError> {
        self.0.call(load_router, create_router, count, |live| {
            let answer = live
                .guest
                .dispatcher()
                .call_route(&mut live.sandbox.store, live.resource, topic, batch)
                .map_err(CallError::Trapped)?
                .map_err(|e| CallError::Bad(format!("it returned an error: {e}")))?;
            if answer.targets.len() != count {
                return Err(CallError::Bad(format!(
                    "{} routings for {count} messages",
                    answer.targets.len()
                )));
            }
            let n = answer.destinations.len();
            if let Some((m, i)) = answer
                .targets
                .iter()
                .enumerate()
                .find_map(|(m, t)| t.iter().find(|&&i| i as usize >= n).map(|&i| (m, i)))
            {
                return Err(CallError::Bad(format!(
                    "message {m} names destination {i} of {n}"
                )));
            }
            Ok(Routes {
                destinations: answer.destinations,
                targets: answer.targets,
            })
        })
    }
}

/// A dedup stage: the keys of a batch's messages.
pub struct Deduper(Held<dedup::Guest>);

fn load_dedup(
    p: &LoadedPlugin,
    store: &mut wasmtime::Store<super::bindings::HostState>,
    i: &wasmtime::component::Instance,
) -> Option<wasmtime::Result<dedup::Guest>> {
    Some(p.exports.dedup.as_ref()?.load(store, i))
}

fn create_dedup(
    g: &dedup::Guest,
    store: &mut wasmtime::Store<super::bindings::HostState>,
    config: &[(String, String)],
) -> wasmtime::Result<Result<ResourceAny, String>> {
    g.keyer().call_create(store, config)
}

impl Deduper {
    pub(super) fn new(slot: Arc<PluginSlot>) -> Result<Deduper, StageError> {
        let mut held = Held::new(slot, Role::Dedup);
        held.ensure(load_dedup, create_dedup)?;
        Ok(Deduper(held))
    }

    pub fn plugin_name(&self) -> String {
        self.0.plugin_name()
    }

    /// One key (or none) per message.
    pub fn keys(
        &mut self,
        topic: &str,
        batch: &[u8],
        count: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, StageError> {
        self.0.call(load_dedup, create_dedup, count, |live| {
            let keys = live
                .guest
                .keyer()
                .call_keys(&mut live.sandbox.store, live.resource, topic, batch)
                .map_err(CallError::Trapped)?
                .map_err(|e| CallError::Bad(format!("it returned an error: {e}")))?;
            if keys.len() != count {
                return Err(CallError::Bad(format!(
                    "{} keys for {count} messages",
                    keys.len()
                )));
            }
            Ok(keys)
        })
    }
}

/// A retry stage.
pub struct RetryPolicy(Held<retry::Guest>);

fn load_retry(
    p: &LoadedPlugin,
    store: &mut wasmtime::Store<super::bindings::HostState>,
    i: &wasmtime::component::Instance,
) -> Option<wasmtime::Result<retry::Guest>> {
    Some(p.exports.retry.as_ref()?.load(store, i))
}

fn create_retry(
    g: &retry::Guest,
    store: &mut wasmtime::Store<super::bindings::HostState>,
    config: &[(String, String)],
) -> wasmtime::Result<Result<ResourceAny, String>> {
    g.policy().call_create(store, config)
}

impl RetryPolicy {
    pub(super) fn new(slot: Arc<PluginSlot>) -> Result<RetryPolicy, StageError> {
        let mut held = Held::new(slot, Role::Retry);
        held.ensure(load_retry, create_retry)?;
        Ok(RetryPolicy(held))
    }

    pub fn plugin_name(&self) -> String {
        self.0.plugin_name()
    }

    /// One decision per failed delivery, in order.
    pub fn decide(&mut self, failures: &[FailedDelivery]) -> Result<Vec<Decision>, StageError> {
        self.0
            .call(load_retry, create_retry, failures.len(), |live| {
                let decisions = live
                    .guest
                    .policy()
                    .call_decide(&mut live.sandbox.store, live.resource, failures)
                    .map_err(CallError::Trapped)?;
                if decisions.len() != failures.len() {
                    return Err(CallError::Bad(format!(
                        "{} decisions for {} failed deliveries",
                        decisions.len(),
                        failures.len()
                    )));
                }
                Ok(decisions)
            })
    }
}
