//! Write Lockgate plugins in Rust. Implement [`Filter`] and export it:
//!
//! ```ignore
//! struct VipOnly;
//! impl lockgate_plugin_sdk::Filter for VipOnly {
//!     fn create(_expression: &str, _config: &[(String, String)]) -> Result<Self, lockgate_plugin_sdk::ExpressionError> {
//!         Ok(VipOnly)
//!     }
//!     fn decide(&self, _topic: &str, m: &lockgate_plugin_sdk::Message<'_>) -> bool {
//!         m.property("tier") == Some("vip")
//!     }
//! }
//! lockgate_plugin_sdk::export_filter!(VipOnly);
//! ```
//!
//! Routers ([`Router`], [`export_router!`]), dedup key makers ([`Dedup`], [`export_dedup!`])
//! and retry policies ([`Retry`], [`export_retry!`]) work the same way.
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` is the component.
//! The SDK reads the flat batch the broker passes ([`batch`]) so that a plugin sees typed
//! messages, and hides the WIT glue.

pub use lockgate_filters::batch;
pub use lockgate_filters::batch::{Batch, Message};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "filter-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_filter_world",
        default_bindings_module: "lockgate_plugin_sdk::bindings",
    });
}

/// The router world's bindings.
#[doc(hidden)]
pub mod router_bindings {
    wit_bindgen::generate!({
        world: "router-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_router_world",
        default_bindings_module: "lockgate_plugin_sdk::router_bindings",
    });
}

/// The dedup world's bindings.
#[doc(hidden)]
pub mod dedup_bindings {
    wit_bindgen::generate!({
        world: "dedup-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_dedup_world",
        default_bindings_module: "lockgate_plugin_sdk::dedup_bindings",
    });
}

/// The retry world's bindings.
#[doc(hidden)]
pub mod retry_bindings {
    wit_bindgen::generate!({
        world: "retry-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_retry_world",
        default_bindings_module: "lockgate_plugin_sdk::retry_bindings",
    });
}

pub use bindings::exports::lockgate::plugin::filter::ExpressionError;
pub use bindings::lockgate::plugin::host::{Level, log, now_ms};
pub use retry_bindings::exports::lockgate::plugin::retry::{Decision, FailedDelivery, Reason};
pub use router_bindings::exports::lockgate::plugin::router::Destination;

/// A filter: created once per subscription from its expression, then asked about messages.
pub trait Filter: Sized + 'static {
    /// Compiles the expression; an error names its position (1-based, in characters).
    fn create(expression: &str, config: &[(String, String)]) -> Result<Self, ExpressionError>;

    /// True to deliver the message to the subscription.
    fn decide(&self, topic: &str, message: &Message<'_>) -> bool;
}

/// Adapts a [`Filter`] to the WIT resource; used by [`export_filter!`].
#[doc(hidden)]
pub struct Adapter<F: Filter>(pub F);

impl<F: Filter> bindings::exports::lockgate::plugin::filter::GuestMatcher for Adapter<F> {
    fn create(
        expression: String,
        config: Vec<(String, String)>,
    ) -> Result<bindings::exports::lockgate::plugin::filter::Matcher, ExpressionError> {
        let f = F::create(&expression, &config)?;
        Ok(bindings::exports::lockgate::plugin::filter::Matcher::new(
            Adapter(f),
        ))
    }

    fn decide(&self, topic: String, batch: Vec<u8>) -> Vec<u8> {
        decide_batch(&self.0, &topic, &batch)
    }
}

/// Decides every message of a flat batch; a message the SDK cannot read is delivered (a
/// filter never makes the broker lose one).
fn decide_batch<F: Filter>(f: &F, topic: &str, bytes: &[u8]) -> Vec<u8> {
    match Batch::new(bytes) {
        Ok(batch) => batch
            .map(|m| match m {
                Ok(m) => u8::from(f.decide(topic, &m)),
                Err(_) => 1,
            })
            .collect(),
        Err(e) => {
            log(Level::Error, &format!("unreadable batch: {e}"));
            Vec::new()
        }
    }
}

/// Exports a [`Filter`] type as this component's `filter` interface.
#[macro_export]
macro_rules! export_filter {
    ($filter:ty) => {
        const _: () = {
            struct Component;

            impl $crate::bindings::exports::lockgate::plugin::filter::Guest for Component {
                type Matcher = $crate::Adapter<$filter>;
            }

    $crate::bindings::export_filter_world!(Component with_types_in $crate::bindings);
        };
    };
}

/// A router: made once per pipeline from the plugin's config, then asked where each message of
/// a batch goes.
pub trait Router: Sized + 'static {
    /// Reads the config; an error is shown to the operator when the pipeline loads.
    fn create(config: &[(String, String)]) -> Result<Self, String>;

    /// Adds the destinations of one message to `to` ([`Targets::to`]); none: the message is
    /// dropped. An error fails the whole batch (the pipeline's `on_error` applies).
    fn route(&self, topic: &str, message: &Message<'_>, to: &mut Targets) -> Result<(), String>;

    /// For routers whose destinations are a fixed list of topics: the whole batch at once,
    /// as (topics, per message the indexes of its own). `None` (the default): [`Router::route`]
    /// per message.
    fn route_all(&self, _topic: &str, _batch: &Batch<'_>) -> Option<Result<TopicRoutes, String>> {
        None
    }
}

/// A batch's routing by topic: the topics, and per message the indexes of its own.
pub type TopicRoutes = (Vec<String>, Vec<Vec<u32>>);

/// A batch's destinations as a router adds them: each destination once, and per message the
/// indexes of its own.
#[derive(Default)]
pub struct Targets {
    destinations: Vec<Destination>,
    targets: Vec<Vec<u32>>,
}

impl Targets {
    /// The message being routed goes to `topic` (the broker picks the queue).
    pub fn topic(&mut self, topic: &str) {
        let found = self
            .destinations
            .iter()
            .position(|e| e.topic == topic && e.queue.is_none() && e.sharding_key.is_none());
        match found {
            Some(i) => self.add(i as u32),
            None => self.to(Destination {
                topic: topic.to_string(),
                queue: None,
                sharding_key: None,
            }),
        }
    }

    fn add(&mut self, i: u32) {
        let current = self.targets.last_mut().expect("a message is being routed");
        if !current.contains(&i) {
            current.push(i);
        }
    }

    /// The message being routed goes to `d`.
    pub fn to(&mut self, d: Destination) {
        let same = |e: &Destination| {
            e.topic == d.topic && e.queue == d.queue && e.sharding_key == d.sharding_key
        };
        let i = match self.destinations.iter().position(same) {
            Some(i) => i,
            None => {
                self.destinations.push(d);
                self.destinations.len() - 1
            }
        } as u32;
        self.add(i);
    }

    /// Starts the next message (the SDK calls it).
    #[doc(hidden)]
    pub fn next_message(&mut self) {
        self.targets.push(Vec::new());
    }

    /// The WIT answer.
    #[doc(hidden)]
    pub fn into_routes(self) -> router_bindings::exports::lockgate::plugin::router::Routes {
        router_bindings::exports::lockgate::plugin::router::Routes {
            destinations: self.destinations,
            targets: self.targets,
        }
    }
}

/// A router of `lockgate_filters::route` (a fixed list of topics) as a plugin: the built-in
/// routers are `export_router!(TopicsOf<TopicExchange>)`.
pub struct TopicsOf<R>(R);

impl<R: lockgate_filters::route::TopicRouter + 'static> Router for TopicsOf<R> {
    fn create(config: &[(String, String)]) -> Result<Self, String> {
        R::new(config).map(TopicsOf)
    }

    fn route(&self, _topic: &str, m: &Message<'_>, to: &mut Targets) -> Result<(), String> {
        let mut out = Vec::new();
        self.0.route(m, &mut out);
        for t in out {
            to.topic(&self.0.topics()[t]);
        }
        Ok(())
    }

    /// Through the router's own topic numbering: no string compares.
    fn route_all(&self, _topic: &str, batch: &Batch<'_>) -> Option<Result<TopicRoutes, String>> {
        Some(
            self.0
                .route_batch(batch.clone())
                .map(|r| (r.topics, r.targets)),
        )
    }
}

/// Routes a flat batch with a [`Router`]; used by [`export_router!`].
#[doc(hidden)]
pub fn route_batch<R: Router>(
    r: &R,
    topic: &str,
    bytes: &[u8],
) -> Result<router_bindings::exports::lockgate::plugin::router::Routes, String> {
    let batch = Batch::new(bytes).map_err(|e| format!("unreadable batch: {e}"))?;
    if let Some(all) = r.route_all(topic, &batch) {
        let (topics, targets) = all?;
        return Ok(router_bindings::exports::lockgate::plugin::router::Routes {
            destinations: topics
                .into_iter()
                .map(|topic| Destination {
                    topic,
                    queue: None,
                    sharding_key: None,
                })
                .collect(),
            targets,
        });
    }
    let mut targets = Targets::default();
    for m in batch {
        let m = m.map_err(|e| format!("unreadable message: {e}"))?;
        targets.next_message();
        r.route(topic, &m, &mut targets)?;
    }
    Ok(targets.into_routes())
}

/// Exports a [`Router`] type as this component's `router` interface.
#[macro_export]
macro_rules! export_router {
    ($router:ty) => {
        const _: () = {
            use $crate::router_bindings::exports::lockgate::plugin::router as wit;
            struct Component;
            struct Instance($router);

            impl wit::Guest for Component {
                type Dispatcher = Instance;
            }

            impl wit::GuestDispatcher for Instance {
                fn create(config: Vec<(String, String)>) -> Result<wit::Dispatcher, String> {
                    <$router as $crate::Router>::create(&config)
                        .map(|r| wit::Dispatcher::new(Instance(r)))
                }

                fn route(&self, topic: String, batch: Vec<u8>) -> Result<wit::Routes, String> {
                    $crate::route_batch(&self.0, &topic, &batch)
                }
            }

            $crate::router_bindings::export_router_world!(Component with_types_in $crate::router_bindings);
        };
    };
}

/// A dedup key maker: made once per pipeline, then asked for each message's key.
pub trait Dedup: Sized + 'static {
    fn create(config: &[(String, String)]) -> Result<Self, String>;

    /// The message's dedup key written into `key` (cleared before each call); false when it
    /// has none (never a duplicate).
    fn key(&self, topic: &str, message: &Message<'_>, key: &mut Vec<u8>) -> bool;
}

/// One key per message of a flat batch; used by [`export_dedup!`].
#[doc(hidden)]
pub fn keys_of<D: Dedup>(d: &D, topic: &str, bytes: &[u8]) -> Result<Vec<Option<Vec<u8>>>, String> {
    let batch = Batch::new(bytes).map_err(|e| format!("unreadable batch: {e}"))?;
    let mut key = Vec::new();
    batch
        .map(|m| {
            let m = m.map_err(|e| format!("unreadable message: {e}"))?;
            key.clear();
            Ok(d.key(topic, &m, &mut key).then(|| key.clone()))
        })
        .collect()
}

/// Exports a [`Dedup`] type as this component's `dedup` interface.
#[macro_export]
macro_rules! export_dedup {
    ($dedup:ty) => {
        const _: () = {
            use $crate::dedup_bindings::exports::lockgate::plugin::dedup as wit;
            struct Component;
            struct Instance($dedup);

            impl wit::Guest for Component {
                type Keyer = Instance;
            }

            impl wit::GuestKeyer for Instance {
                fn create(config: Vec<(String, String)>) -> Result<wit::Keyer, String> {
                    <$dedup as $crate::Dedup>::create(&config).map(|d| wit::Keyer::new(Instance(d)))
                }

                fn keys(&self, topic: String, batch: Vec<u8>) -> Result<Vec<Option<Vec<u8>>>, String> {
                    $crate::keys_of(&self.0, &topic, &batch)
                }
            }

            $crate::dedup_bindings::export_dedup_world!(Component with_types_in $crate::dedup_bindings);
        };
    };
}

/// A retry policy: made once per group's pipeline, then asked about failed deliveries.
pub trait Retry: Sized + 'static {
    fn create(config: &[(String, String)]) -> Result<Self, String>;

    fn decide(&self, failure: &FailedDelivery) -> Decision;
}

/// Exports a [`Retry`] type as this component's `retry` interface.
#[macro_export]
macro_rules! export_retry {
    ($retry:ty) => {
        const _: () = {
            use $crate::retry_bindings::exports::lockgate::plugin::retry as wit;
            struct Component;
            struct Instance($retry);

            impl wit::Guest for Component {
                type Policy = Instance;
            }

            impl wit::GuestPolicy for Instance {
                fn create(config: Vec<(String, String)>) -> Result<wit::Policy, String> {
                    <$retry as $crate::Retry>::create(&config).map(|r| wit::Policy::new(Instance(r)))
                }

                fn decide(&self, failures: Vec<wit::FailedDelivery>) -> Vec<wit::Decision> {
                    failures.iter().map(|f| <$retry as $crate::Retry>::decide(&self.0, f)).collect()
                }
            }

            $crate::retry_bindings::export_retry_world!(Component with_types_in $crate::retry_bindings);
        };
    };
}
