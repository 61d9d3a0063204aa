//! Reading what a group take handed out: one read per run of consecutive offsets, deliveries
//! encoded for the wire straight from the stored records, and the member's filter (if it has
//! one) deciding the whole batch in one plugin call. A tag filter's tags also prefilter the
//! consume-queue entries by tag hash, so misses are never read from the log.
//!
//! Handed-out messages that are not delivered are given back (over the byte budget, removed by
//! retention meanwhile, a paused filter); offsets without a message (holes, prefiltered) and
//! messages the filter skips are done for the member's subscription. When the topic's pipeline
//! names a retry plugin, a filter failure under `pause` does not pause: the batch's messages
//! are failed deliveries (reason `filter-failed`) that the plugin decides.
//!
//! Retries from the group's retry topic (queue ids from `RETRY_QUEUE` on) are read from that
//! topic and not filtered again (they passed the filter before), except those whose filter
//! failed; their attempt continues the count the message carries.

use super::service::{Groups, bounds_of, moving_of};
use super::state::FailCause;
use super::timer_retry::{self, RETRY_QUEUE};
use super::window::Handout;
use crate::broker::filters::{self, SharedFilter};
use crate::broker::{BrokerError, Result};
use crate::metrics::{Tally, seconds_between};
use crate::plugin::batch::BatchBuilder;
use crate::protocol::{DeliveryParts, EncodedDeliveries};
use crate::storage::StorageError;

/// How a take's reads are bounded in bytes.
#[derive(Debug, Clone, Copy)]
pub struct ByteBudget {
    pub max: usize,
    /// Deliver one message even if it alone is larger (long-poll receives); subscriptions
    /// never exceed their credit.
    pub at_least_one: bool,
}

/// What one take's reads produced.
struct Reading {
    out: EncodedDeliveries,
    give_back: Vec<Handout>,
    done: Vec<Handout>,
    /// A filter failure is failed deliveries for the topic's retry plugin, not a pause.
    plugin_retries: bool,
    /// Failed by the filter, for the retry plugin, and why.
    failed: Vec<Handout>,
    failed_reason: String,
    full: bool,
    /// With a filter: the records read, decided together after the reads.
    batch: Option<(BatchBuilder, Vec<Handout>)>,
}

impl Reading {
    fn fits(&self, size: usize, budget: ByteBudget) -> bool {
        self.out.items.len() + size <= budget.max || (budget.at_least_one && self.out.count == 0)
    }
}

impl Groups {
    /// Blocking: one take for `member`, then the reads (and its filter).
    pub fn take_and_read(
        &self,
        member: u64,
        max_messages: usize,
        budget: ByteBudget,
    ) -> Result<EncodedDeliveries> {
        let (cell, topic, filter, retry_topic) = self.with_member(member, |m| {
            let filter = m.filter.as_ref().map(|(_, f)| f.clone());
            (
                m.cell.clone(),
                m.topic.clone(),
                filter,
                m.retry_topic.clone(),
            )
        })?;
        let tags = filter
            .as_ref()
            .and_then(|f| f.lock().expect("filter lock").filter.tag_prefilter());
        let bounds = bounds_of(self.store(), &topic)?;
        let retry_topic = retry_topic.filter(|t| self.retry_topic_exists(t));
        let retry_bounds = match &retry_topic {
            Some(t) => bounds_of(self.store(), t).unwrap_or_default(),
            None => Vec::new(),
        };
        let now = self.clock().now_ms();
        let (taken, lease_ms, plugin_retries) = {
            let mut g = cell.lock();
            let taken = g
                .take_with_retries(member, now, &bounds, &retry_bounds, max_messages)
                .map_err(|_| BrokerError::UnknownMember(member))?;
            let plugin_retries = filter.is_some() && g.retry_plugin_decides(&topic);
            (taken, g.settings().lease_ms, plugin_retries)
        };
        if taken.handouts.is_empty() {
            return Ok(EncodedDeliveries::default());
        }
        self.leased(now.saturating_add(lease_ms as i64));
        let lease = taken.lease;
        let mut r = Reading {
            out: EncodedDeliveries {
                count: 0,
                items: Vec::with_capacity(budget.max.min(taken.handouts.len() * 256)),
            },
            give_back: Vec::new(),
            done: Vec::new(),
            plugin_retries,
            failed: Vec::new(),
            failed_reason: String::new(),
            full: false,
            batch: filter.as_ref().map(|_| {
                (
                    BatchBuilder::with_capacity(taken.handouts.len() * 256),
                    Vec::new(),
                )
            }),
        };
        let keep = |hash: u32| tags.as_ref().is_none_or(|t| t.contains(&hash));
        // First deliveries' store → delivery times, added to the group's histogram once.
        let latency = std::cell::RefCell::new(Tally::default());
        let mut failure = None;
        let handouts = &taken.handouts;
        let mut i = 0;
        while i < handouts.len() {
            // A run of consecutive offsets of one queue is one read.
            let start = handouts[i];
            let mut end = i + 1;
            while end < handouts.len()
                && handouts[end].queue == start.queue
                && handouts[end].offset == handouts[end - 1].offset + 1
            {
                end += 1;
            }
            let run = &handouts[i..end];
            i = end;
            if failure.is_some() || r.full {
                r.give_back.extend_from_slice(run);
                continue;
            }
            let mut seen = vec![false; run.len()];
            let left = budget.max.saturating_sub(r.out.items.len());
            let retry = start.queue >= RETRY_QUEUE;
            let (read_topic, read_queue) = match (&retry_topic, retry) {
                (Some(t), true) => (t.as_str(), start.queue - RETRY_QUEUE),
                _ => (topic.as_str(), start.queue),
            };
            let keep_all = |_: u32| true;
            let keep: &dyn Fn(u32) -> bool = if retry { &keep_all } else { &keep };
            let read = self.store().read_with(
                read_topic,
                read_queue,
                start.offset,
                run.len(),
                left,
                keep,
                |view| {
                    let k = (view.queue_offset - start.offset) as usize;
                    if k >= run.len() {
                        return Ok(()); // past the run (holes before it): not handed out here
                    }
                    if retry {
                        // Its attempt continues the count it carries.
                        let (earlier, filter_failed) = retry_history(view);
                        let shown = Handout {
                            attempt: earlier.saturating_add(run[k].attempt),
                            ..run[k]
                        };
                        let size = EncodedDeliveries::OVERHEAD + view.content.len();
                        if let (true, Some((batch, batched))) = (filter_failed, &mut r.batch) {
                            // It never passed the filter: it is filtered again.
                            batch.push_record(view, shown.attempt);
                            batched.push(shown);
                            seen[k] = true;
                        } else if !r.full && r.fits(size, budget) {
                            push_retry(&mut r.out, lease, shown, view);
                            seen[k] = true;
                        } else {
                            r.full = true;
                        }
                    } else if let Some((batch, batched)) = &mut r.batch {
                        batch.push_record(view, run[k].attempt);
                        batched.push(run[k]);
                        seen[k] = true;
                    } else if !r.full
                        && r.fits(EncodedDeliveries::OVERHEAD + view.content.len(), budget)
                    {
                        r.out.push(lease, run[k].attempt, view);
                        if run[k].attempt == 1 {
                            latency
                                .borrow_mut()
                                .record(seconds_between(view.stored_at, now));
                        }
                        seen[k] = true;
                    } else {
                        r.full = true;
                    }
                    Ok(())
                },
            );
            match read {
                Ok(next) => {
                    for (h, &s) in run.iter().zip(&seen) {
                        if s {
                            continue;
                        }
                        if h.offset < next && !r.full {
                            r.done.push(*h); // a hole, or a tag the prefilter refused
                        } else {
                            r.give_back.push(*h);
                        }
                    }
                }
                // The next take skips what retention removed.
                Err(StorageError::OffsetTrimmed { .. }) => r.give_back.extend_from_slice(run),
                Err(e) => {
                    failure = Some(BrokerError::from(e));
                    r.give_back
                        .extend(run.iter().zip(&seen).filter(|(_, s)| !**s).map(|(h, _)| *h));
                }
            }
        }
        if let (Some(f), Some((batch, batched))) = (&filter, r.batch.take())
            && let Err(e) = apply_filter(
                f,
                &topic,
                lease,
                budget,
                (batch, batched),
                &mut r,
                |stored_at| latency.borrow_mut().record(seconds_between(stored_at, now)),
            )
        {
            failure = Some(e);
        }
        cell.delivery_latency.add(&latency.borrow());
        let mut moving = Vec::new();
        if !r.give_back.is_empty() || !r.done.is_empty() || !r.failed.is_empty() {
            let mut g = cell.lock();
            g.release(member, lease, &r.give_back);
            for h in &r.done {
                g.skip(member, lease, h.queue, &[h.offset]);
            }
            let failed: Vec<_> = r
                .failed
                .iter()
                .map(|h| crate::protocol::AckRange {
                    queue: h.queue,
                    offset: h.offset,
                    count: 1,
                    lease,
                })
                .collect();
            if !failed.is_empty() {
                // The member is known (it took these under the same lock just now).
                let _ = g.fail_ranges(
                    member,
                    now,
                    &failed,
                    &r.failed_reason,
                    FailCause::FilterFailed,
                );
                moving = moving_of(&mut g);
            }
        }
        // The retry plugin decides them now, on this (blocking) thread, as an ack's would.
        self.write_out(&cell, moving);
        match failure {
            Some(e) if r.out.count == 0 => Err(e),
            _ => Ok(r.out),
        }
    }
}

/// What a retry-topic message carries of its history, read from its properties in place: its
/// deliveries before it was stored there, and whether the filter failed on the last one (then
/// it never passed the filter and is filtered again).
fn retry_history(view: &crate::record::RecordView<'_>) -> (u32, bool) {
    let Ok(content) = crate::record::ContentView::parse(view.content) else {
        return (0, false);
    };
    let earlier = content
        .property(timer_retry::PROP_ATTEMPTS)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let filter_failed = content
        .property(timer_retry::PROP_REASON)
        .is_some_and(|r| r.starts_with(timer_retry::FILTER_FAILED));
    (earlier, filter_failed)
}

/// A retry-topic delivery (`h` with the attempt count the message carries), on its wire queue id.
fn push_retry(
    out: &mut EncodedDeliveries,
    lease: u32,
    h: Handout,
    view: &crate::record::RecordView<'_>,
) {
    out.push_parts(&DeliveryParts {
        lease,
        attempt: h.attempt,
        queue: h.queue,
        offset: h.offset,
        stored_at: view.stored_at,
        born_at: view.born_at,
        id: &view.id.0,
        content: view.content,
    });
}

/// Decides the batch with the member's filter and files every message: delivered (within the
/// budget), done (filtered out), or given back. A plugin failure follows the pipeline's
/// `on_error`; with `pause` the batch is given back and the answer is `FilterFailed`, unless
/// [`Reading::plugin_retries`]: then the batch is failed deliveries for the retry plugin.
fn apply_filter(
    f: &SharedFilter,
    topic: &str,
    lease: u32,
    budget: ByteBudget,
    (mut batch, batched): (BatchBuilder, Vec<Handout>),
    r: &mut Reading,
    first_delivered: impl Fn(i64),
) -> Result<()> {
    if batched.is_empty() {
        return Ok(());
    }
    let decisions = match filters::decide(f, topic, &mut batch) {
        Ok(d) => d,
        Err(BrokerError::FilterFailed(why)) if r.plugin_retries => {
            r.failed.extend(batched);
            r.failed_reason = format!("{}: {why}", timer_retry::FILTER_FAILED);
            return Ok(());
        }
        Err(paused) => {
            r.give_back.extend(batched);
            return Err(paused);
        }
    };
    for ((h, deliver), e) in batched.into_iter().zip(decisions).zip(batch.entries()) {
        if !deliver {
            r.done.push(h);
            continue;
        }
        if r.full || !r.fits(EncodedDeliveries::OVERHEAD + e.content.len(), budget) {
            r.full = true;
            r.give_back.push(h);
            continue;
        }
        if h.attempt == 1 {
            first_delivered(e.stored_at);
        }
        r.out.push_parts(&DeliveryParts {
            lease,
            attempt: h.attempt,
            queue: h.queue,
            offset: h.offset,
            stored_at: e.stored_at,
            born_at: e.born_at,
            id: e.id,
            content: e.content,
        });
    }
    Ok(())
}
