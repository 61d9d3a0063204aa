//! Where a batch's messages go: an explicit queue, a sharding key's queue (FNV-1a 64 of the
//! key, the same in every client), or spread over the queues — round robin, or by an
//! idempotent producer's numbers so a resend lands where the original did. Pure; the
//! admission (`ingest`) asks it per message.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::broker::{BrokerError, Result};
use crate::protocol::RouteView;
use crate::record::fnv1a64;
use crate::storage::TopicMeta;

/// The queue a sharding key maps to: stable across versions and languages (FNV-1a 64 of the
/// key's UTF-8 bytes, modulo the queue count), so clients can compute it too.
pub fn queue_for_key(key: &str, queues: u32) -> u32 {
    (fnv1a64(&[key.as_bytes()]) % u64::from(queues.max(1))) as u32
}

/// Spreads messages routed "any" over a topic's queues.
#[derive(Default)]
pub(in crate::broker) struct Router {
    round_robin: AtomicU64,
}

impl Router {
    /// The queue of the `nth` message routed "any" in a batch. An idempotent producer's batch
    /// `(id, sequence)` is spread by those numbers alone, so its resend, after any restart,
    /// lands on the queues that remember it; other batches go round robin.
    fn any(&self, producer: Option<(u64, u64)>, nth: u64, queues: u32) -> u32 {
        let n = match producer {
            Some((id, sequence)) => fnv1a64(&[&id.to_le_bytes()])
                .wrapping_add(sequence)
                .wrapping_add(nth),
            None => self.round_robin.fetch_add(1, Ordering::Relaxed),
        };
        (n % u64::from(queues)) as u32
    }

    /// The queue of message `i` of a batch for `topic`; `any` counts the batch's messages
    /// routed "any" so far.
    pub(super) fn queue_of(
        &self,
        topic: &str,
        meta: &TopicMeta,
        route: &RouteView<'_>,
        producer: Option<(u64, u64)>,
        any: &mut u64,
        i: usize,
    ) -> Result<u32> {
        Ok(match *route {
            RouteView::Queue(q) if q < meta.queues => q,
            RouteView::Queue(q) => {
                return Err(BrokerError::UnknownQueue {
                    context: format!("message {i}: "),
                    topic: topic.to_string(),
                    queues: meta.queues,
                    queue: q,
                });
            }
            RouteView::Key(k) => queue_for_key(k, meta.queues),
            RouteView::Any => {
                *any += 1;
                self.any(producer, *any - 1, meta.queues)
            }
        })
    }
}
