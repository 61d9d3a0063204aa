//! The Fetch family: plain reads by (topic, queue, offset), served as stored (each record's
//! content bytes go into the answer unchanged: `EncodedFetch`), and filtered ones whose messages
//! pass through a filter first. With nothing there yet, a fetch waits up to its max wait for
//! an append. A filtered fetch's filter is the one kept for its (topic, plugin, expression), made
//! by the first such fetch (its topic's pipeline decides `on_error` and which plugins are
//! allowed; see `filters`); messages it skips are passed over (the next
//! offset moves past them), and a tag filter skips misses by their index entries' tag hash,
//! without reading them.

use std::sync::Arc;
use std::time::Duration;

use crate::plugin::batch::BatchBuilder;
use crate::protocol::{Delivered, EncodedFetch, FetchFamily, FetchRequest, Response};
use crate::record::{self, MessageId};

use super::filters::SharedFilter;
use super::{Broker, BrokerError, Result, blocking};

pub(super) async fn handle(broker: &Arc<Broker>, r: FetchFamily) -> Result<Response> {
    let (FetchFamily::Fetch(f) | FetchFamily::Filtered(f, _)) = &r;
    crate::internal::guard_read(&f.topic)?;
    match r {
        FetchFamily::Fetch(f) => fetch(broker, f, None).await,
        FetchFamily::Filtered(f, spec) => {
            let filter = broker.filters.for_fetch(&f.topic, &spec).await?;
            fetch(broker, f, Some(filter)).await
        }
    }
}

/// Reads from a queue (through `filter`, if given); with nothing there yet, waits up to
/// `max_wait_ms` for an append.
async fn fetch(
    broker: &Arc<Broker>,
    f: FetchRequest,
    filter: Option<SharedFilter>,
) -> Result<Response> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(f.max_wait_ms));
    let max_messages = f.max_messages as usize;
    // Leave room in the response frame for per-message framing.
    let max_bytes = (f.max_bytes.min(broker.limits.max_frame / 2)).max(1) as usize;
    let mut appends = broker.appends.watch(&f.topic);
    let mut offset = f.offset;
    loop {
        appends.mark_unchanged();
        let (this, topic, queue, filter) =
            (broker.clone(), f.topic.clone(), f.queue, filter.clone());
        // The next offset, whether any message came, and the answer.
        let (next, any, answer) = blocking(move || match &filter {
            // Served as stored: each record's content goes into the answer as it lies in the
            // log, never decoded into a message and encoded again.
            None => {
                let mut out = EncodedFetch::default();
                out.next_offset = this.store.read_with(
                    crate::storage::ReadSpan::new(&topic, queue, offset)
                        .most(max_messages, max_bytes),
                    |view| {
                        out.push(view);
                        Ok(())
                    },
                )?;
                Ok((
                    out.next_offset,
                    out.count > 0,
                    Response::EncodedFetched(out),
                ))
            }
            Some(filter) => {
                let (next_offset, messages) = read_filtered(
                    &this,
                    &topic,
                    queue,
                    offset,
                    max_messages,
                    max_bytes,
                    filter,
                )?;
                let any = !messages.is_empty();
                let answer = Response::Fetched {
                    next_offset,
                    messages,
                };
                Ok((next_offset, any, answer))
            }
        })
        .await?;
        if any || tokio::time::Instant::now() >= deadline {
            return Ok(answer);
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

/// Blocking: reads from `offset` and keeps what the filter selects.
fn read_filtered(
    broker: &Broker,
    topic: &str,
    queue: u32,
    offset: u64,
    max_messages: usize,
    max_bytes: usize,
    filter: &SharedFilter,
) -> Result<(u64, Vec<Delivered>)> {
    let tags = filter.lock().filter.tag_prefilter();
    let keep = |hash: u32| tags.as_ref().is_none_or(|t| t.contains(&hash));
    let mut batch = BatchBuilder::with_capacity(max_bytes.min(1 << 20));
    let next = broker.store.read_with(
        crate::storage::ReadSpan::new(topic, queue, offset)
            .most(max_messages, max_bytes)
            .keep(&keep),
        |view| {
            batch.push_record(view, 1);
            Ok(())
        },
    )?;
    if batch.is_empty() {
        return Ok((next, Vec::new()));
    }
    let decided = super::filters::decide(filter, topic, &mut batch)?;
    let mut out = Vec::new();
    for (e, keep) in batch.entries().zip(decided) {
        if !keep {
            continue;
        }
        let message = record::message_of(MessageId(*e.id), e.born_at, e.content)
            .map_err(|err| BrokerError::Internal(format!("stored content: {err}")))?;
        out.push(Delivered {
            queue: e.queue,
            offset: e.offset,
            stored_at: e.stored_at,
            message,
        });
    }
    Ok((next, out))
}
