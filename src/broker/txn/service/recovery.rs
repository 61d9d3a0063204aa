//! Rebuilding the transaction table at open, from the `%TXN%` topic: the operations from the
//! last operation's low mark on, and the half messages from its half mark on. Does not write.

use super::*;

/// Consecutive half messages of one transaction, as recovery reads them.
struct HalfRun {
    id: String,
    first: u64,
    count: u32,
    bytes: u64,
    topics: Vec<String>,
}

impl Transactions {
    /// Rebuilds the table from the operations from the last one's low mark on, and the half
    /// messages from its half mark on.
    pub(super) fn recover(&self) -> Result<()> {
        let (_, ops_end) = self.store.queue_bounds(TXN_TOPIC, OPS_QUEUE)?;
        if ops_end == 0 {
            return Ok(());
        }
        let last = self
            .store
            .read(TXN_TOPIC, OPS_QUEUE, ops_end - 1, 1, usize::MAX)?;
        let mark = |name: &str| {
            last.messages
                .first()
                .and_then(|m| m.message.properties.get(name))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (ops_earliest, _) = self.store.queue_bounds(TXN_TOPIC, OPS_QUEUE)?;
        let (halves_earliest, _) = self.store.queue_bounds(TXN_TOPIC, HALVES_QUEUE)?;
        let from_op = mark(PROP_LOW_OP)
            .unwrap_or(ops_end - 1)
            .min(ops_end - 1)
            .max(ops_earliest);
        let from_half = mark(PROP_LOW_HALF).unwrap_or(0).max(halves_earliest);
        let mut table = self.table();
        let mut ops = 0u64;
        self.scan(OPS_QUEUE, from_op, |offset, stored_at, c| {
            ops += 1;
            let Some(id) = c.property(PROP_TXN) else {
                return;
            };
            match c.tag {
                OP_BEGIN => {
                    let group = c.property(PROP_GROUP).unwrap_or_default();
                    let timeout = c
                        .property(PROP_TIMEOUT)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    table.apply_begin(id, group, stored_at, timeout, offset);
                }
                OP_COMMIT => table.apply_outcome(id, Outcome::Commit, stored_at),
                OP_ROLLBACK => table.apply_outcome(id, Outcome::Rollback, stored_at),
                OP_PARK => table.apply_park(id),
                OP_CHECK => {
                    let n = c
                        .property(PROP_CHECKS)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    table.apply_check(id, n, stored_at);
                }
                other => tracing::warn!(op = other, "unknown transaction operation skipped"),
            }
        })?;
        // Half messages, grouped into runs of one transaction.
        let mut run: Option<HalfRun> = None;
        let mut halves = 0u64;
        let flush = |table: &mut TxnTable, run: &mut Option<HalfRun>| {
            if let Some(r) = run.take() {
                let topics = r.topics.iter().map(String::as_str);
                table.apply_halves(&r.id, r.first, r.count, r.bytes, topics);
            }
        };
        self.scan(HALVES_QUEUE, from_half, |offset, _, c| {
            halves += 1;
            let (Some(id), Some(topic)) = (c.property(PROP_TXN), c.property(PROP_TOPIC)) else {
                return;
            };
            // As a stamped record: never less than it took when sent.
            let bytes = (record::FIXED_LEN + record::STAMP_LEN + c.content.len()) as u64;
            match &mut run {
                Some(r) if r.id == id && r.first + u64::from(r.count) == offset => {
                    r.count += 1;
                    r.bytes += bytes;
                    if !r.topics.iter().any(|t| t == topic) {
                        r.topics.push(topic.to_string());
                    }
                }
                _ => {
                    flush(&mut table, &mut run);
                    run = Some(HalfRun {
                        id: id.to_string(),
                        first: offset,
                        count: 1,
                        bytes,
                        topics: vec![topic.to_string()],
                    });
                }
            }
        })?;
        flush(&mut table, &mut run);
        let open = table.unresolved().len();
        if open > 0 {
            tracing::info!(
                open,
                ops,
                halves,
                "transactions without an outcome recovered; they are checked back when due"
            );
        }
        drop(table);
        self.rearm.wake();
        Ok(())
    }

    /// Visits the records of a `%TXN%` queue from `from` on: offset, store time, content.
    fn scan(
        &self,
        queue: u32,
        from: u64,
        mut each: impl FnMut(u64, i64, &ContentView<'_>),
    ) -> Result<()> {
        let mut at = from;
        loop {
            let next = self.store.read_with(
                crate::storage::ReadSpan::new(TXN_TOPIC, queue, at).most(4096, 16 << 20),
                |v| {
                    let c = ContentView::parse(v.content)
                        .map_err(|e| crate::record::DecodeError::Malformed(e.to_string()))?;
                    each(v.queue_offset, v.stored_at, &c);
                    Ok(())
                },
            )?;
            if next == at {
                return Ok(());
            }
            at = next;
        }
    }
}
