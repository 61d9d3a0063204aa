//! `FetchFiltered`: a plain fetch whose messages pass through a filter first. The filter is
//! made for the request (its topic's pipeline decides `on_error` and which plugins are
//! allowed); messages it skips are passed over (the next offset moves past them), so a
//! consumer never sees them; a tag filter skips misses by their index entries' tag hash,
//! without reading them.

use super::group_read::{SharedFilter, decisions};
use super::{Broker, status_of};
use crate::plugin::batch::BatchBuilder;
use crate::protocol::{Delivered, FetchRequest, FilterSpec, Response, Status};
use crate::storage::record::{self, MessageId};
use std::sync::Arc;

impl Broker {
    pub(super) async fn fetch_filtered(
        self: &Arc<Self>,
        f: FetchRequest,
        spec: FilterSpec,
    ) -> Result<Response, Response> {
        let filter = self.make_filter(&f.topic, &spec).await?;
        self.fetch(f, Some(filter)).await
    }

    /// Blocking: reads from `offset` and keeps what the filter selects.
    pub(super) fn read_filtered(
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
            let message =
                record::message_of(MessageId(*e.id), e.born_at, e.content).map_err(|err| {
                    Response::error(Status::Internal, format!("stored content: {err}"))
                })?;
            out.push(Delivered {
                queue: e.queue,
                offset: e.offset,
                stored_at: e.stored_at,
                message,
            });
        }
        Ok((next, out))
    }
}
