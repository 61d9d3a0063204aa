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

use super::service::{GroupCell, Groups, Moving, bounds_of, moving_of};
use super::state::FailCause;
use super::timer_retry::{self, RETRY_QUEUE};
use super::window::Handout;
use crate::broker::filters::{self, SharedFilter};
use crate::broker::{BrokerError, Result};
use crate::metrics::{Tally, seconds_between};
use crate::plugin::batch::BatchBuilder;
use crate::protocol::{DeliveryParts, EncodedDeliveries};
use crate::record::RecordView;
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
    lease: u32,
    budget: ByteBudget,
    /// When the take was made: first deliveries' store → delivery times are measured to it.
    now: i64,
    /// Those times, added to the group's histogram once.
    latency: Tally,
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
    fn fits(&self, size: usize) -> bool {
        self.out.items.len() + size <= self.budget.max
            || (self.budget.at_least_one && self.out.count == 0)
    }

    fn first_delivered(&mut self, stored_at: i64) {
        self.latency.record(seconds_between(stored_at, self.now));
    }

    /// One record read for handout `h`: encoded for the wire, or put in the filter's batch.
    /// False when it does not fit the budget (the take is full from then on).
    fn take_record(&mut self, view: &RecordView<'_>, h: Handout, retry: bool) -> bool {
        let size = EncodedDeliveries::OVERHEAD + view.content.len();
        if retry {
            // Its attempt continues the count it carries.
            let (earlier, filter_failed) = retry_history(view);
            let shown = Handout {
                attempt: earlier.saturating_add(h.attempt),
                ..h
            };
            if let (true, Some((batch, batched))) = (filter_failed, &mut self.batch) {
                // It never passed the filter: it is filtered again.
                batch.push_record(view, shown.attempt);
                batched.push(shown);
                return true;
            }
            if !self.full && self.fits(size) {
                push_retry(&mut self.out, self.lease, shown, view);
                return true;
            }
        } else if let Some((batch, batched)) = &mut self.batch {
            batch.push_record(view, h.attempt);
            batched.push(h);
            return true;
        } else if !self.full && self.fits(size) {
            self.out.push(self.lease, h.attempt, view);
            if h.attempt == 1 {
                self.first_delivered(view.stored_at);
            }
            return true;
        }
        self.full = true;
        false
    }

    /// Files the handouts of a run the read did not take: done when the read passed them
    /// (a hole, a tag the prefilter refused), else given back. Returns the read's failure.
    fn after_run(
        &mut self,
        run: &[Handout],
        seen: &[bool],
        read: std::result::Result<u64, StorageError>,
    ) -> Option<BrokerError> {
        match read {
            Ok(next) => {
                for (h, &s) in run.iter().zip(seen) {
                    if s {
                        continue;
                    }
                    if h.offset < next && !self.full {
                        self.done.push(*h);
                    } else {
                        self.give_back.push(*h);
                    }
                }
                None
            }
            // The next take skips what retention removed.
            Err(StorageError::OffsetTrimmed { .. }) => {
                self.give_back.extend_from_slice(run);
                None
            }
            Err(e) => {
                let unseen = run.iter().zip(seen).filter(|(_, s)| !**s);
                self.give_back.extend(unseen.map(|(h, _)| *h));
                Some(BrokerError::from(e))
            }
        }
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
            .and_then(|f| f.lock().filter.tag_prefilter());
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
        let mut r = Reading {
            lease: taken.lease,
            budget,
            now,
            latency: Tally::default(),
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
                crate::storage::ReadSpan::new(read_topic, read_queue, start.offset)
                    .most(run.len(), left)
                    .keep(keep),
                |view| {
                    let k = (view.queue_offset - start.offset) as usize;
                    if k < run.len() {
                        seen[k] = r.take_record(view, run[k], retry);
                    } // else past the run (holes before it): not handed out here
                    Ok(())
                },
            );
            if let Some(e) = r.after_run(run, &seen, read) {
                failure = Some(e);
            }
        }
        if let (Some(f), Some((batch, batched))) = (&filter, r.batch.take())
            && let Err(e) = apply_filter(f, &topic, (batch, batched), &mut r)
        {
            failure = Some(e);
        }
        cell.delivery_latency.add(&r.latency);
        let moving = settle(&cell, member, &r);
        // The retry plugin decides them now, on this (blocking) thread, as an ack's would.
        self.write_out(&cell, moving);
        match failure {
            Some(e) if r.out.count == 0 => Err(e),
            _ => Ok(r.out),
        }
    }
}

/// Files with the group what a take's reads did not deliver: given back, done, or failed by
/// the filter (for the retry plugin). Returns what the group moves out of its windows.
fn settle(cell: &GroupCell, member: u64, r: &Reading) -> Vec<Moving> {
    if r.give_back.is_empty() && r.done.is_empty() && r.failed.is_empty() {
        return Vec::new();
    }
    let lease = r.lease;
    let mut g = cell.lock();
    g.release(member, lease, &r.give_back);
    for h in &r.done {
        g.skip(member, lease, h.queue, &[h.offset]);
    }
    if r.failed.is_empty() {
        return Vec::new();
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
    // The member is known (it took these under the same lock just now).
    let _ = g.fail_ranges(
        member,
        r.now,
        &failed,
        &r.failed_reason,
        FailCause::FilterFailed,
    );
    moving_of(&mut g)
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
    (mut batch, batched): (BatchBuilder, Vec<Handout>),
    r: &mut Reading,
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
        if r.full || !r.fits(EncodedDeliveries::OVERHEAD + e.content.len()) {
            r.full = true;
            r.give_back.push(h);
            continue;
        }
        if h.attempt == 1 {
            r.first_delivered(e.stored_at);
        }
        r.out.push_parts(&DeliveryParts {
            lease: r.lease,
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
