//! The one way in: every client batch that stores messages — a plain produce, a delayed
//! produce, a transaction's half messages — is admitted here before its records are written,
//! and the three differ only in the record they write (`produce`, `delay::handler`,
//! `txn::handler`).
//!
//! Admission checks the batch (at least one message, at most `max_batch_messages`, a topic a
//! client may write: never an internal one, see `crate::internal`), takes the time once,
//! names the idempotent producer, refuses the broker's own property names, routes every
//! message to its queue and gives it its id. A topic's ingress pipeline takes plain batches;
//! delay and transaction messages to such a topic are refused (not yet routed: see
//! [`Entry`]). The broker's own copies into its internal topics (dead letters, retries, delay
//! records, transactions) come in by the other door, [`copy`]. Not here: decoding (the
//! protocol's views), durability, the records themselves.

pub(in crate::broker) mod copy;
mod route;

use crate::protocol::ProduceView;
use crate::record::{MessageId, RESERVED_PROPERTY_PREFIX};
use crate::storage::TopicMeta;

use super::{Broker, BrokerError, Result};

pub(in crate::broker) use route::Router;
pub use route::queue_for_key;

/// What a batch will be stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::broker) enum Entry {
    /// Messages, visible when durable; through the topic's ingress pipeline if it has one.
    Plain,
    /// Delay records, delivered at their times. An ingress pipeline does not take them yet:
    /// its dedup window and routing decide at produce time, before the delay.
    Delayed,
    /// A transaction's half messages, visible at its commit. An ingress pipeline does not
    /// take them yet: routing at send time would spread a transaction's copies over topics
    /// its commit does not know.
    Half,
}

impl Entry {
    fn what(self) -> &'static str {
        match self {
            Entry::Plain => "messages",
            Entry::Delayed => "delay messages",
            Entry::Half => "transaction messages",
        }
    }
}

/// An admitted batch: the topic's settings, the time it was received, the idempotent
/// producer's `(id, sequence)`, each message's queue and id, and the topic's ingress pipeline
/// (plain batches only).
pub(in crate::broker) struct Admitted {
    pub meta: TopicMeta,
    pub now: i64,
    pub producer: Option<(u64, u64)>,
    pub placed: Vec<(u32, MessageId)>,
    pub ingress: Option<std::sync::Arc<crate::pipeline::ingress::Ingress>>,
}

/// Admits `view` as `entry` (see the module docs), or says what is wrong with it and where.
pub(in crate::broker) fn admit(
    broker: &Broker,
    view: &ProduceView<'_>,
    entry: Entry,
) -> Result<Admitted> {
    if view.messages.is_empty() {
        return Err(BrokerError::InvalidArgument(
            "a produce batch needs at least one message".into(),
        ));
    }
    let limit = broker.limits.max_batch;
    if view.messages.len() > limit as usize {
        return Err(BrokerError::BatchTooLarge {
            count: view.messages.len(),
            limit,
        });
    }
    crate::internal::guard_produce(view.topic)?;
    let meta = broker.store.topic_meta(view.topic)?;
    let ingress = broker.pipelines.ingress(view.topic)?;
    if ingress.is_some() && entry != Entry::Plain {
        return Err(BrokerError::InvalidArgument(format!(
            "topic {:?} has an ingress pipeline; {} to it are not supported (produce them plainly, or to a topic without one)",
            view.topic,
            entry.what()
        )));
    }
    let now = broker.clock.now_ms();
    let producer = (view.producer_id != 0).then_some((view.producer_id, view.sequence));
    let mut any = 0;
    // The ids the server gives come as one block, in batch order: a compact answer names
    // each run of them by its first.
    let block = MessageId::generate_block(now, view.messages.len() as u64);
    let placed = view
        .messages
        .iter()
        .enumerate()
        .map(|(i, mv)| {
            if mv.reserved_property {
                return Err(BrokerError::InvalidArgument(format!(
                    "message {i}: property names starting with {RESERVED_PROPERTY_PREFIX:?} are the broker's own"
                )));
            }
            let queue = broker
                .produce
                .queue_of(view.topic, &meta, &mv.route, producer, &mut any, i)?;
            let id = if mv.message.id == MessageId::default() {
                block
                    .nth(i as u64)
                    .unwrap_or_else(|| MessageId::generate(now))
            } else {
                mv.message.id
            };
            Ok((queue, id))
        })
        .collect::<Result<_>>()?;
    Ok(Admitted {
        meta,
        now,
        producer,
        placed,
        ingress,
    })
}
