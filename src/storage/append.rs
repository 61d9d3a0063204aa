//! Plain appends: a batch for one queue of a topic, checked and encoded here and written
//! through the write seam (`write`); what an append returns ([`Appended`]) and the handle that
//! waits for its durability ([`PendingAppend`]). Atomic appends are `atomic`'s.

use std::ops::Range;
use std::sync::Arc;

use super::error::{Result, StorageError};
use super::log::CommitLog;
use super::producers::{BatchKey, Seen};
use super::store::{StoreCore, Topic};
use super::timers::TimerMark;
use super::topics::Durability;
use super::write::{Part, Write};
use crate::record::{self, RecordSource};

/// The outcome of an append: the batch's messages got offsets `first_offset..first_offset+count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub queue: u32,
    pub first_offset: u64,
    pub count: u32,
    pub stored_at: i64,
}

/// A batch written to the log whose durability has not been waited for yet.
#[must_use = "an append is acknowledged only after `wait`"]
pub struct PendingAppend {
    pub(super) log: Arc<CommitLog>,
    /// For `sync` topics: the log position that must be on disk.
    sync_to: Option<u64>,
    appended: Appended,
    /// An idempotent producer's retry of a batch already stored: nothing new was written.
    duplicate: bool,
}

impl PendingAppend {
    /// An idempotent resend of `appended`, stored before: answered once the log up to
    /// `sync_to` is on disk.
    pub(super) fn resent(log: Arc<CommitLog>, sync_to: Option<u64>, appended: Appended) -> Self {
        PendingAppend {
            log,
            sync_to,
            appended,
            duplicate: true,
        }
    }

    /// A fresh (not duplicate) append that must reach `sync_to` on disk before its answer.
    pub(super) fn written(log: Arc<CommitLog>, sync_to: Option<u64>, appended: Appended) -> Self {
        PendingAppend {
            log,
            sync_to,
            appended,
            duplicate: false,
        }
    }

    /// Blocks until the topic's durability class is met (for `sync`, the group-committed flush).
    pub fn wait(self) -> Result<Appended> {
        if let Some(end) = self.sync_to {
            self.log.wait_durable(end)?;
        }
        Ok(self.appended)
    }

    /// The queue offset of the batch's first message (its original one for a duplicate).
    pub fn first_offset(&self) -> u64 {
        self.appended.first_offset
    }

    /// Where the batch is (for a duplicate: where it was stored before).
    pub fn appended(&self) -> Appended {
        self.appended
    }

    /// True for a retried batch that was stored before (its original offsets are reported).
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// Whether [`PendingAppend::wait`] waits: the batch must reach the disk first (a `sync`
    /// topic's). Otherwise the answer can be given at once.
    pub fn waits(&self) -> bool {
        self.sync_to.is_some()
    }
}

/// How [`StoreCore::append_with`] writes a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppendOptions<'a> {
    /// `(producer id, sequence)` of an idempotent producer's batch.
    pub producer: Option<(u64, u64)>,
    /// Wait for this durability instead of the topic's.
    pub durability: Option<Durability>,
    /// What each record does to the timer index (empty: nothing).
    pub marks: &'a [TimerMark],
    /// Leave the records out of the key index (nobody looks them up by id or key: the half
    /// messages of transactions).
    pub unindexed: bool,
}

impl StoreCore {
    /// Appends a batch to one queue of a topic in one write. Returns once the topic's
    /// durability class is met: for `sync`, after the data is on disk. The whole batch is
    /// stored or none of it is; an error means nothing was acknowledged.
    pub fn append<M: RecordSource>(
        &self,
        topic: &str,
        queue: u32,
        messages: &[M],
    ) -> Result<Appended> {
        self.append_pending(topic, queue, messages)?.wait()
    }

    /// The first half of [`StoreCore::append`]: writes the batch (so it has its offsets and is
    /// visible to readers) and returns without waiting for durability. Acknowledge only after
    /// [`PendingAppend::wait`]. Lets a caller write batches in order and wait for their flushes
    /// together (a pipelined producer stream).
    pub fn append_pending<M: RecordSource>(
        &self,
        topic: &str,
        queue: u32,
        messages: &[M],
    ) -> Result<PendingAppend> {
        self.append_pending_as(topic, queue, messages, None)
    }

    /// [`StoreCore::append_pending`] for an idempotent producer's batch `(producer id,
    /// sequence)`: a batch this queue already holds is not stored again; the result carries
    /// its original offsets and `duplicate` set. Records are stamped so that recovery knows
    /// them too.
    pub fn append_pending_as<M: RecordSource>(
        &self,
        topic: &str,
        queue: u32,
        messages: &[M],
        producer: Option<(u64, u64)>,
    ) -> Result<PendingAppend> {
        self.append_with(
            topic,
            queue,
            messages,
            &AppendOptions {
                producer,
                ..AppendOptions::default()
            },
        )
    }

    /// The most general append: [`StoreCore::append_pending_as`] with a durability other than
    /// the topic's, and timer marks (one per message, or none) that the timer index applies
    /// as the records are published, so they are exactly as durable as the records that carry
    /// them.
    pub fn append_with<M: RecordSource>(
        &self,
        topic: &str,
        queue: u32,
        messages: &[M],
        opts: &AppendOptions<'_>,
    ) -> Result<PendingAppend> {
        if messages.is_empty() {
            return Err(StorageError::EmptyBatch);
        }
        let topic = self.topic(topic)?;
        self.queue(&topic, queue)?;
        let (buf, ranges) = self.encode_batch(&topic, queue, messages, opts.producer)?;
        let sync = opts.durability.unwrap_or(topic.meta.durability) == Durability::Sync;
        let written = self.write(Write {
            buf,
            parts: &[Part {
                topic,
                queue,
                records: messages,
                ranges,
                marks: opts.marks,
            }],
            producer: opts.producer,
            sync,
            indexed: !opts.unindexed,
            together: false,
            fill_last: None,
        })?;
        Ok(written.pending)
    }

    /// For an idempotent producer's batch: its original offsets if this queue holds it already.
    pub(super) fn recognize(
        &self,
        topic: &Topic,
        queue: u32,
        count: usize,
        producer: Option<(u64, u64)>,
    ) -> Result<Option<Appended>> {
        let Some((id, sequence)) = producer else {
            return Ok(None);
        };
        match self.producers.lock().check(BatchKey {
            producer: id,
            topic: topic.meta.id,
            queue,
            sequence,
        }) {
            Seen::New => Ok(None),
            Seen::Duplicate {
                first_offset,
                count: stored,
            } if stored as usize == count => Ok(Some(Appended {
                queue,
                first_offset,
                count: stored,
                stored_at: 0,
            })),
            Seen::Duplicate { count: stored, .. } => Err(StorageError::BadMessage {
                index: 0,
                reason: format!(
                    "batch {sequence} of producer {id} was stored with {stored} messages, not {count}"
                ),
            }),
            Seen::Stale { last } => Err(StorageError::SequenceStale {
                producer: id,
                queue,
                sequence,
                last,
            }),
        }
    }

    pub(super) fn encode_batch<M: RecordSource>(
        &self,
        topic: &Topic,
        queue: u32,
        messages: &[M],
        producer: Option<(u64, u64)>,
    ) -> Result<(Vec<u8>, Vec<Range<usize>>)> {
        let total: usize = messages
            .iter()
            .map(|m| record::record_len(m, producer.is_some()))
            .sum();
        if total as u64 > self.log.capacity() {
            return Err(StorageError::BadMessage {
                index: 0,
                reason: format!(
                    "the batch is {total} bytes encoded; one batch must fit in a segment ({} bytes)",
                    self.log.capacity()
                ),
            });
        }
        let mut buf = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(messages.len());
        for (index, m) in messages.iter().enumerate() {
            let size = record::record_len(m, producer.is_some());
            if size as u64 > self.opts.max_message_size {
                return Err(StorageError::MessageTooLarge {
                    index,
                    size,
                    limit: self.opts.max_message_size,
                });
            }
            let start = buf.len();
            record::encode_record(&mut buf, m, topic.meta.id, queue, producer).map_err(|e| {
                StorageError::BadMessage {
                    index,
                    reason: e.to_string(),
                }
            })?;
            ranges.push(start..buf.len());
        }
        Ok((buf, ranges))
    }
}
