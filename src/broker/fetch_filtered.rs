//! `FetchFiltered`: a plain fetch whose messages pass through a filter first. The filter is
//! made for the request (its topic's pipeline decides `on_error` and which plugins are
//! allowed); messages it skips are passed over (the next offset moves past them), so a
//! consumer never sees them; a tag filter skips misses by their index entries' tag hash,
//! without reading them.

use std::sync::Arc;
use std::time::Duration;

use super::group_read::{SharedFilter, decisions};
use super::{Broker, MAX_FETCH_MESSAGES, MAX_FETCH_WAIT, blocking, status_of};
use crate::plugin::batch::BatchBuilder;
use crate::protocol::{Delivered, FetchRequest, FilterSpec, Response};
use crate::storage::record::{self, Message, MessageId};

impl Broker {
    pub(super) async fn fetch_filtered(
        self: &Arc<Self>,
        f: FetchRequest,
        spec: FilterSpec,
    ) -> Result<Response, Response> {
        let filter = self.make_filter(&f.topic, &spec).await?;
        let wait = Duration::from_millis(u64::from(f.max_wait_ms)).min(MAX_FETCH_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        let max_messages = f.max_messages.clamp(1, MAX_FETCH_MESSAGES) as usize;
        let max_bytes = (f.max_bytes.min(self.max_frame / 2)).max(1) as usize;
        let mut appends = self.watch_appends(&f.topic);
        let mut offset = f.offset;
        loop {
            appends.mark_unchanged();
            let (this, filter, topic) = (self.clone(), filter.clone(), f.topic.clone());
            let queue = f.queue;
            let (next, messages) = blocking(move || {
                this.read_filtered(&topic, queue, offset, max_messages, max_bytes, &filter)
            })
            .await?;
            if !messages.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Response::Fetched {
                    next_offset: next,
                    messages,
                });
            }
            if next > offset {
                offset = next; // everything read was filtered out: read on
                continue;
            }
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
        &self,
        topic: &str,
        queue: u32,
        offset: u64,
        max_messages: usize,
        max_bytes: usize,
        filter: &SharedFilter,
    ) -> Result<(u64, Vec<Delivered>), Response> {
        let tags = filter.lock().expect("filter lock").tags.clone();
        let keep = |hash: u32| tags.as_ref().is_none_or(|t| t.contains(&hash));
        let mut batch = BatchBuilder::with_capacity(max_bytes.min(1 << 20));
        let next = self
            .store
            .read_with(
                topic,
                queue,
                offset,
                max_messages,
                max_bytes,
                &keep,
                |view| {
                    batch.push_record(view, 1);
                    Ok(())
                },
            )
            .map_err(status_of)?;
        if batch.is_empty() {
            return Ok((next, Vec::new()));
        }
        let decided = decisions(filter, topic, &mut batch)?;
        let mut out = Vec::new();
        for (e, keep) in batch.entries().zip(decided) {
            if !keep {
                continue;
            }
            let mut r = crate::codec::Reader::new(e.content);
            let (tag, keys, properties, body) = record::decode_content(&mut r).map_err(|err| {
                Response::error(
                    crate::protocol::Status::Internal,
                    format!("stored content: {err}"),
                )
            })?;
            out.push(Delivered {
                queue: e.queue,
                offset: e.offset,
                stored_at: e.stored_at,
                message: Message {
                    id: MessageId(*e.id),
                    tag,
                    keys,
                    properties,
                    body,
                    born_at: e.born_at,
                },
            });
        }
        Ok((next, out))
    }
}
