//! The broker service: turns protocol requests into storage operations and storage outcomes
//! into protocol responses. Routing of produced messages to queues, long-poll fetches, and the
//! mapping of errors to status codes live here; bytes on the wire do not (see `transport`).
//!
//! Storage calls block (disk I/O, `sync` flushes), so they run on tokio's blocking pool.

mod dead_letter;
mod errors;
mod fetch_filtered;
pub mod group;
mod group_files;
mod group_read;
mod group_service;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::config::plugins::PipelineConfig;
use crate::plugin::Plugins;
use crate::protocol::{
    Ack, Delivered, FetchRequest, ProduceRequest, ProduceView, QueueRange, Request, Response,
    RouteView, Status, TopicInfo, VERSION,
};
use crate::storage::record::{MessageId, RawMessage, fnv1a64};
use crate::storage::{
    Durability, StorageError, Store, StoredMessage, TopicMeta, TopicName, TopicSpec, now_ms,
};

pub use dead_letter::{
    PROP_ATTEMPTS, PROP_GROUP, PROP_OFFSET, PROP_QUEUE, PROP_REASON, PROP_TOPIC,
    topic_of as dead_letter_topic,
};
pub use errors::status_of;
use group_service::Groups;
pub use group_service::{ByteBudget, ConnInfo};

/// Longest a fetch may wait for messages.
pub const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);
/// Most messages one fetch returns.
pub const MAX_FETCH_MESSAGES: u32 = 10_000;
/// Most messages a key lookup returns.
pub const MAX_LOOKUP: u32 = 1_000;

pub struct Broker {
    store: Arc<Store>,
    default_durability: Durability,
    /// Largest response body: fetches stop filling below it.
    max_frame: u32,
    /// Most messages one produce request may carry.
    max_batch: u32,
    /// Per topic, a counter bumped after every append: long polls wait on it.
    appended: Mutex<HashMap<String, watch::Sender<u64>>>,
    round_robin: AtomicU64,
    groups: Groups,
    plugins: Arc<Plugins>,
    /// Replaced by a configuration reload.
    pipelines: std::sync::RwLock<Vec<PipelineConfig>>,
}

/// The queue a sharding key maps to: stable across versions and languages (FNV-1a 64 of the
/// key's UTF-8 bytes, modulo the queue count), so clients can compute it too.
pub fn queue_for_key(key: &str, queues: u32) -> u32 {
    (fnv1a64(&[key.as_bytes()]) % u64::from(queues.max(1))) as u32
}

impl Broker {
    /// A broker over `store` with the settings of `config`; loads the persisted groups.
    pub fn new(
        store: Arc<Store>,
        config: &Config,
        plugins: Arc<Plugins>,
    ) -> Result<Broker, StorageError> {
        Ok(Broker {
            plugins,
            pipelines: std::sync::RwLock::new(config.pipelines.clone()),
            groups: Groups::open(&config.server.data_dir, config.groups.clone())?,
            store,
            default_durability: config.storage.durability,
            max_frame: config.server.max_frame_size,
            max_batch: config.server.max_batch_messages,
            appended: Mutex::new(HashMap::new()),
            round_robin: AtomicU64::new(0),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Applies a reloaded configuration's plugins and pipelines (blocking: plugins compile).
    /// Other settings need a restart. Returns the plugins that failed to load (they keep their
    /// old version).
    pub fn reload_config(&self, config: &Config) -> Vec<crate::plugin::PluginError> {
        let failures = self.plugins.apply(&config.plugins);
        *self.pipelines.write().expect("pipelines lock") = config.pipelines.clone();
        failures
    }

    /// Starts handling a request. Requests on one stream are dispatched in order, and a produce
    /// request's messages are written before this returns, so batches keep their stream order;
    /// the returned task completes with the response (for `sync` topics, after the flush).
    pub async fn dispatch(self: &Arc<Self>, req: Request, conn: ConnInfo) -> JoinHandle<Response> {
        match req {
            Request::Produce(p) => self.dispatch_produce(produce_body(p)).await,
            other => {
                let this = self.clone();
                tokio::spawn(async move { this.handle(other, conn).await })
            }
        }
    }

    /// [`Broker::dispatch`] for a produce frame's body, decoded here without copying: message
    /// contents go from the frame into the log as they are.
    pub async fn dispatch_produce(self: &Arc<Self>, body: Vec<u8>) -> JoinHandle<Response> {
        let this = self.clone();
        let written = blocking(move || this.write_produce(&body)).await;
        match written {
            Ok(pending) => tokio::task::spawn_blocking(move || pending.finish()),
            Err(resp) => tokio::spawn(async move { resp }),
        }
    }

    /// Handles a request to completion.
    pub async fn handle(self: &Arc<Self>, req: Request, conn: ConnInfo) -> Response {
        let result = match req {
            Request::Ping { nonce } => Ok(Response::Pong { nonce }),
            Request::Hello { version, .. } if version != VERSION => Err(Response::error(
                Status::UnsupportedVersion,
                format!("this server speaks protocol version {VERSION}, not {version}"),
            )),
            Request::Hello { .. } => Ok(Response::Hello {
                version: VERSION,
                max_frame: self.max_frame,
                server: format!("lockgate {}", env!("CARGO_PKG_VERSION")),
            }),
            Request::Produce(p) => {
                let pending = self.dispatch_produce(produce_body(p)).await;
                pending
                    .await
                    .map_err(|e| Response::error(Status::Internal, format!("produce failed: {e}")))
            }
            Request::Fetch(f) => self.fetch(f, None).await,
            Request::FetchFiltered(f, spec) => self.fetch_filtered(f, spec).await,
            Request::TopicCreate {
                name,
                queues,
                durability,
                retention_ms,
            } => {
                self.create_topic(name, queues, durability, retention_ms)
                    .await
            }
            Request::TopicDelete { name } => {
                let store = self.store.clone();
                blocking(move || {
                    store
                        .delete_topic(&name)
                        .map(|_| Response::TopicDeleted)
                        .map_err(status_of)
                })
                .await
            }
            Request::TopicList => {
                let store = self.store.clone();
                blocking(move || {
                    Ok(Response::Topics(
                        store.list_topics().iter().map(topic_info).collect(),
                    ))
                })
                .await
            }
            Request::TopicDescribe { name } => {
                let store = self.store.clone();
                blocking(move || {
                    let d = store.describe_topic(&name).map_err(status_of)?;
                    Ok(Response::Description {
                        topic: topic_info(&d.meta),
                        queues: d
                            .queues
                            .iter()
                            .map(|q| QueueRange {
                                earliest: q.earliest,
                                next: q.next,
                            })
                            .collect(),
                    })
                })
                .await
            }
            Request::LookupId { topic, id } => {
                let store = self.store.clone();
                blocking(move || {
                    let found = store.find_by_id(&topic, &id).map_err(status_of)?;
                    Ok(Response::Found(found.into_iter().map(delivered).collect()))
                })
                .await
            }
            Request::LookupKey { topic, key, limit } => {
                let store = self.store.clone();
                blocking(move || {
                    let found = store
                        .find_by_key(&topic, &key, limit.clamp(1, MAX_LOOKUP) as usize)
                        .map_err(status_of)?;
                    Ok(Response::Found(found.into_iter().map(delivered).collect()))
                })
                .await
            }
            Request::OffsetForTime {
                topic,
                queue,
                time_ms,
            } => {
                let store = self.store.clone();
                blocking(move || {
                    store
                        .offset_for_time(&topic, queue, time_ms)
                        .map(Response::Offset)
                        .map_err(status_of)
                })
                .await
            }
            Request::GroupJoin(j) => self.group_join(&conn, j).await,
            Request::GroupLeave { member } => self.group_leave(member),
            Request::Heartbeat { member } => self.group_heartbeat(member),
            Request::Receive {
                member,
                max_messages,
                max_bytes,
                max_wait_ms,
            } => {
                let budget = ByteBudget {
                    max: (max_bytes.min(self.max_frame / 2)).max(1) as usize,
                    at_least_one: true,
                };
                let wait = Duration::from_millis(u64::from(max_wait_ms)).min(MAX_FETCH_WAIT);
                let max = max_messages.clamp(1, MAX_FETCH_MESSAGES) as usize;
                self.group_receive(member, max, budget, wait).await
            }
            Request::Ack { member, ranges } => self.group_ack(member, &ranges, None),
            Request::Nack {
                member,
                reason,
                ranges,
            } => self.group_ack(member, &ranges, Some(&reason)),
            Request::Subscribe(_) | Request::Credit { .. } => Err(Response::error(
                Status::InvalidArgument,
                "Subscribe must be the first frame of its own stream, and Credit is sent only on a subscription stream",
            )),
            Request::GroupList => Ok(self.group_list()),
            Request::GroupDescribe { group } => {
                let this = self.clone();
                blocking(move || this.group_describe(&group)).await
            }
            Request::GroupReset {
                group,
                topic,
                queue,
                to,
            } => {
                let this = self.clone();
                blocking(move || this.group_reset(&group, &topic, queue, to)).await
            }
            Request::PluginList => Ok(Response::Plugins(
                self.plugins.list().into_iter().map(plugin_entry).collect(),
            )),
            Request::PluginReload { name } => {
                let plugins = self.plugins.clone();
                blocking(move || {
                    plugins
                        .reload(&name)
                        .map(|p| Response::Plugins(vec![plugin_entry(p)]))
                        .map_err(|e| match e {
                            crate::plugin::PluginError::Unknown(_) => {
                                Response::error(Status::InvalidArgument, e.to_string())
                            }
                            other => Response::error(Status::Internal, other.to_string()),
                        })
                })
                .await
            }
            Request::GroupDelete { group } => {
                let this = self.clone();
                blocking(move || this.group_delete(&group)).await
            }
        };
        result.unwrap_or_else(|e| e)
    }

    async fn create_topic(
        &self,
        name: String,
        queues: u32,
        durability: Option<Durability>,
        retention_ms: u64,
    ) -> Result<Response, Response> {
        let name = TopicName::new(&name).map_err(status_of)?;
        if name.is_reserved() {
            return Err(Response::error(
                Status::ReservedName,
                format!("{name:?} is reserved for internal topics"),
            ));
        }
        let spec = TopicSpec {
            name,
            queues,
            durability: durability.unwrap_or(self.default_durability),
            retention: (retention_ms > 0).then(|| Duration::from_millis(retention_ms)),
        };
        let store = self.store.clone();
        blocking(move || {
            store
                .create_topic(&spec)
                .map(|m| Response::Topic(topic_info(&m)))
                .map_err(status_of)
        })
        .await
    }

    /// Decodes a produce body, routes its messages to queues and writes each queue's part, in
    /// order (blocking). The result is acknowledged by [`PendingProduce::finish`].
    fn write_produce(&self, body: &[u8]) -> Result<PendingProduce, Response> {
        let view =
            ProduceView::decode(body).map_err(|e| Response::error(e.status(), e.to_string()))?;
        if view.messages.is_empty() {
            return Err(Response::error(
                Status::InvalidArgument,
                "a produce batch needs at least one message",
            ));
        }
        if view.messages.len() > self.max_batch as usize {
            return Err(Response::error(
                Status::BatchTooLarge,
                format!(
                    "the batch has {} messages; the limit is {} (server.max_batch_messages)",
                    view.messages.len(),
                    self.max_batch
                ),
            ));
        }
        let meta = self.store.topic_meta(view.topic).map_err(status_of)?;
        let now = now_ms();
        let count = view.messages.len();
        let mut by_queue: BTreeMap<u32, (Vec<usize>, Vec<RawMessage<'_>>)> = BTreeMap::new();
        for (i, mv) in view.messages.into_iter().enumerate() {
            let queue = match mv.route {
                RouteView::Queue(q) if q < meta.queues => q,
                RouteView::Queue(q) => {
                    return Err(Response::error(
                        Status::UnknownQueue,
                        format!(
                            "message {i}: topic {:?} has {} queues; there is no queue {q}",
                            view.topic, meta.queues
                        ),
                    ));
                }
                RouteView::Key(k) => queue_for_key(k, meta.queues),
                RouteView::Any => {
                    (self.round_robin.fetch_add(1, Ordering::Relaxed) % u64::from(meta.queues))
                        as u32
                }
            };
            let mut message = mv.message;
            if message.id == MessageId::default() {
                message.id = MessageId::generate(now);
            }
            let group = by_queue.entry(queue).or_default();
            group.0.push(i);
            group.1.push(message);
        }
        let mut parts = Vec::with_capacity(by_queue.len());
        for (queue, (indexes, messages)) in by_queue {
            let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
            let producer = (view.producer_id != 0).then_some((view.producer_id, view.sequence));
            let pending = self
                .store
                .append_pending_as(view.topic, queue, &messages, producer)
                .map_err(status_of)?;
            parts.push((indexes, ids, pending));
        }
        self.notify_appended(view.topic);
        Ok(PendingProduce { count, parts })
    }

    fn notify_appended(&self, topic: &str) {
        let map = self.appended.lock().expect("broker lock");
        if let Some(tx) = map.get(topic) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    fn watch_appends(&self, topic: &str) -> watch::Receiver<u64> {
        let mut map = self.appended.lock().expect("broker lock");
        map.entry(topic.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Reads from a queue (through `filter`, if given); with nothing there yet, waits up to
    /// `max_wait_ms` for an append.
    async fn fetch(
        self: &Arc<Self>,
        f: FetchRequest,
        filter: Option<group_read::SharedFilter>,
    ) -> Result<Response, Response> {
        let wait = Duration::from_millis(u64::from(f.max_wait_ms)).min(MAX_FETCH_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        let max_messages = f.max_messages.clamp(1, MAX_FETCH_MESSAGES) as usize;
        // Leave room in the response frame for per-message framing.
        let max_bytes = (f.max_bytes.min(self.max_frame / 2)).max(1) as usize;
        let mut appends = self.watch_appends(&f.topic);
        let mut offset = f.offset;
        loop {
            appends.mark_unchanged();
            let (this, topic, queue, filter) =
                (self.clone(), f.topic.clone(), f.queue, filter.clone());
            let (next, messages) = blocking(move || match &filter {
                None => this
                    .store
                    .read(&topic, queue, offset, max_messages, max_bytes)
                    .map(|b| {
                        (
                            b.next_offset,
                            b.messages.into_iter().map(delivered).collect(),
                        )
                    })
                    .map_err(status_of),
                Some(filter) => {
                    this.read_filtered(&topic, queue, offset, max_messages, max_bytes, filter)
                }
            })
            .await?;
            if !messages.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Response::Fetched {
                    next_offset: next,
                    messages,
                });
            }
            if next > offset {
                offset = next; // past holes or filtered-out messages: read on
                continue;
            }
            // An append to the topic (any queue) or the deadline, whichever comes first.
            if tokio::time::timeout_at(deadline, appends.changed())
                .await
                .is_err()
            {
                continue; // one last read at the deadline
            }
        }
    }
}

/// A produce batch written to the log, waiting for its durability.
struct PendingProduce {
    count: usize,
    parts: Vec<(Vec<usize>, Vec<MessageId>, crate::storage::PendingAppend)>,
}

impl PendingProduce {
    /// Waits for every part's durability (blocking) and builds the acknowledgement.
    fn finish(self) -> Response {
        let duplicate =
            !self.parts.is_empty() && self.parts.iter().all(|(_, _, p)| p.is_duplicate());
        let mut acks = vec![
            Ack {
                queue: 0,
                offset: 0,
                id: MessageId::default()
            };
            self.count
        ];
        for (indexes, ids, pending) in self.parts {
            let appended = match pending.wait() {
                Ok(a) => a,
                Err(e) => return status_of(e),
            };
            for (n, (i, id)) in indexes.into_iter().zip(ids).enumerate() {
                acks[i] = Ack {
                    queue: appended.queue,
                    offset: appended.first_offset + n as u64,
                    id,
                };
            }
        }
        Response::Produced { duplicate, acks }
    }
}

/// An owned produce request as the frame body the produce path decodes.
fn produce_body(p: ProduceRequest) -> Vec<u8> {
    let mut body = Vec::new();
    Request::Produce(p).encode_body(&mut body);
    body
}

/// Runs blocking storage work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Response::error(
            Status::Internal,
            format!("request task failed: {e}"),
        ))
    })
}

fn topic_info(m: &TopicMeta) -> TopicInfo {
    TopicInfo {
        name: m.name.to_string(),
        id: m.id,
        queues: m.queues,
        durability: m.durability,
        retention_ms: m.retention_ms.unwrap_or(0),
        created_at: m.created_at,
    }
}

fn delivered(m: StoredMessage) -> Delivered {
    Delivered {
        queue: m.queue,
        offset: m.offset,
        stored_at: m.stored_at,
        message: m.message,
    }
}

fn plugin_entry(p: crate::plugin::PluginInfo) -> crate::protocol::PluginEntry {
    crate::protocol::PluginEntry {
        name: p.name,
        kind: p.kind,
        source: p.source,
        generation: p.generation,
    }
}
