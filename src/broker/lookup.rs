//! The Lookup family: a message by id, messages by key, the offset for a time.

use crate::protocol::{Delivered, LookupRequest, Response};
use crate::storage::StoredMessage;

use super::{Broker, Result, blocking};

pub(super) async fn handle(broker: &Broker, r: LookupRequest) -> Result<Response> {
    let (LookupRequest::Id { topic, .. }
    | LookupRequest::Key { topic, .. }
    | LookupRequest::OffsetForTime { topic, .. }) = &r;
    crate::internal::guard_read(topic)?;
    let store = broker.store.clone();
    blocking(move || {
        Ok(match r {
            LookupRequest::Id { topic, id } => Response::Found(
                store
                    .find_by_id(&topic, &id)?
                    .into_iter()
                    .map(delivered)
                    .collect(),
            ),
            LookupRequest::Key { topic, key, limit } => Response::Found(
                store
                    .find_by_key(&topic, &key, limit as usize)?
                    .into_iter()
                    .map(delivered)
                    .collect(),
            ),
            LookupRequest::OffsetForTime {
                topic,
                queue,
                time_ms,
            } => Response::Offset(store.offset_for_time(&topic, queue, time_ms)?),
        })
    })
    .await
}

/// A stored message as a response carries it.
pub(super) fn delivered(m: StoredMessage) -> Delivered {
    Delivered {
        queue: m.queue,
        offset: m.offset,
        stored_at: m.stored_at,
        message: m.message,
    }
}
