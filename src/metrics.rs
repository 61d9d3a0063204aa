//! Prometheus metrics: every name as a constant with its unit, described once ([`DESCRIPTIONS`]),
//! the process-wide recorder, and the `GET /metrics` endpoint (`[metrics] listen`).
//!
//! Two kinds of series, so the hot path stays cheap:
//! - **recorded** ones (counters and histograms the code bumps as things happen: requests,
//!   bytes, latencies, fsyncs, dead letters) go through the `metrics` facade to
//!   `metrics-exporter-prometheus`'s recorder. With metrics off no recorder is installed and
//!   the facade's calls do nothing.
//! - **scraped** ones (backlog, queue bounds, storage, plugins, delay) are computed from the
//!   broker's own state when Prometheus scrapes ([`scrape`]), never per message.
//!
//! Labels are bounded: topic, queue, group, plugin, kind, status, outcome, durability. Never a
//! message key, an id or a client address.

pub mod http;
pub mod known;
pub mod scrape;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

// ---- backlog (scraped) ---------------------------------------------------------------------
/// Messages of a queue (or a topic) not yet acked by a group: end offset − acked watermark.
pub const GROUP_LAG_MESSAGES: &str = "lockgate_group_lag_messages";
/// Age of the oldest message a group has not acked yet (0 when caught up).
pub const GROUP_LAG_SECONDS: &str = "lockgate_group_lag_seconds";
/// Messages deliverable to a group now (never delivered, released, or due again).
pub const GROUP_READY_MESSAGES: &str = "lockgate_group_ready_messages";
/// Messages delivered to a group's members and not acked yet (leased).
pub const GROUP_IN_FLIGHT_MESSAGES: &str = "lockgate_group_in_flight_messages";
/// Messages waiting for a retry: in their queue's window, or in the durable timer.
pub const GROUP_RETRYING_MESSAGES: &str = "lockgate_group_retrying_messages";
/// Live members of a group.
pub const GROUP_MEMBERS: &str = "lockgate_group_members";
/// Messages a group moved to its dead-letter topic (recorded).
pub const GROUP_DEAD_LETTERS_TOTAL: &str = "lockgate_group_dead_letters_total";

// ---- queues (scraped) ----------------------------------------------------------------------
/// Messages stored in a queue (next offset − first offset).
pub const QUEUE_MESSAGES: &str = "lockgate_queue_messages";
/// The oldest offset still stored in a queue.
pub const QUEUE_FIRST_OFFSET: &str = "lockgate_queue_first_offset";
/// The offset the next message of a queue gets (its last offset + 1).
pub const QUEUE_NEXT_OFFSET: &str = "lockgate_queue_next_offset";

// ---- latency (recorded) --------------------------------------------------------------------
/// Store → first delivery of a message to a group.
pub const GROUP_DELIVERY_LATENCY_SECONDS: &str = "lockgate_group_delivery_latency_seconds";
/// Store → ack by a group (per acked range, by its first message's store time).
pub const GROUP_ACK_LATENCY_SECONDS: &str = "lockgate_group_ack_latency_seconds";
/// Produce request received → acknowledged, per durability class.
pub const PRODUCE_LATENCY_SECONDS: &str = "lockgate_produce_latency_seconds";
/// Delay messages: time of visibility − requested delivery time.
pub const DELAY_LATENESS_SECONDS: &str = "lockgate_delay_lateness_seconds";
/// Transaction messages: commit received → its messages visible (recorded).
pub const TXN_COMMIT_VISIBLE_SECONDS: &str = "lockgate_txn_commit_visible_seconds";

// ---- transactions --------------------------------------------------------------------------
/// Transactions without an outcome, by state (scraped).
pub const TXN_OPEN: &str = "lockgate_txn_open";
/// Transactions ended, by outcome and by what ended them (recorded).
pub const TXN_ENDED_TOTAL: &str = "lockgate_txn_ended_total";
/// Check-backs made, by whether a producer's check stream took them (recorded).
pub const TXN_CHECKS_TOTAL: &str = "lockgate_txn_checks_total";

// ---- delay ---------------------------------------------------------------------------------
/// Delay messages waiting in the timer, per destination topic (scraped).
pub const DELAY_PENDING_MESSAGES: &str = "lockgate_delay_pending_messages";
/// Delay messages delivered to their topic (recorded).
pub const DELAY_FIRED_TOTAL: &str = "lockgate_delay_fired_total";

// ---- plugins (scraped, but for the call histogram) -----------------------------------------
/// Plugin calls (one call decides a batch).
pub const PLUGIN_CALLS_TOTAL: &str = "lockgate_plugin_calls_total";
/// Messages decided by plugin calls.
pub const PLUGIN_MESSAGES_TOTAL: &str = "lockgate_plugin_messages_total";
/// Plugin calls by outcome: ok, trap, timeout, memory, bad_answer.
pub const PLUGIN_OUTCOMES_TOTAL: &str = "lockgate_plugin_outcomes_total";
/// Duration of one plugin call (recorded).
pub const PLUGIN_CALL_DURATION_SECONDS: &str = "lockgate_plugin_call_duration_seconds";

// ---- pipelines -----------------------------------------------------------------------------
/// Messages through ingress pipelines by source topic and outcome: stored, duplicate, dropped,
/// rejected, unrouted (recorded).
pub const PIPELINE_MESSAGES_TOTAL: &str = "lockgate_pipeline_messages_total";

// ---- storage -------------------------------------------------------------------------------
/// Records appended to the commit log since start (scraped).
pub const STORAGE_APPENDED_RECORDS_TOTAL: &str = "lockgate_storage_appended_records_total";
/// Bytes appended to the commit log since start (scraped).
pub const STORAGE_APPENDED_BYTES_TOTAL: &str = "lockgate_storage_appended_bytes_total";
/// Duration of one `fdatasync` of the commit log (recorded).
pub const STORAGE_FSYNC_DURATION_SECONDS: &str = "lockgate_storage_fsync_duration_seconds";
/// Commit-log segment files (scraped).
pub const STORAGE_SEGMENTS: &str = "lockgate_storage_segments";
/// Bytes of commit log kept (scraped).
pub const STORAGE_LOG_BYTES: &str = "lockgate_storage_log_bytes";
/// Bytes free for the broker on the data directory's file system (scraped).
pub const STORAGE_DISK_FREE_BYTES: &str = "lockgate_storage_disk_free_bytes";
/// Size of the data directory's file system (scraped).
pub const STORAGE_DISK_SIZE_BYTES: &str = "lockgate_storage_disk_size_bytes";
/// How long opening the store (recovery included) took at start (scraped).
pub const STORAGE_RECOVERY_SECONDS: &str = "lockgate_storage_recovery_seconds";

// ---- transport (recorded) ------------------------------------------------------------------
/// QUIC connections established and open now.
pub const CONNECTIONS_OPEN: &str = "lockgate_connections_open";
/// Connections refused at the `max_connections` limit.
pub const CONNECTIONS_REFUSED_TOTAL: &str = "lockgate_connections_refused_total";
/// Requests answered, by kind and status.
pub const REQUESTS_TOTAL: &str = "lockgate_requests_total";
/// Frame bytes received (headers included).
pub const RECEIVED_BYTES_TOTAL: &str = "lockgate_received_bytes_total";
/// Frame bytes sent (headers included).
pub const SENT_BYTES_TOTAL: &str = "lockgate_sent_bytes_total";
/// Requests refused by the access rules, by status (NotAuthenticated, NotAuthorized).
pub const AUTH_FAILURES_TOTAL: &str = "lockgate_auth_failures_total";

// ---- reserved for later features -----------------------------------------------------------
/// Reserved: messages an ingress pipeline dropped (no destination), per topic.
pub const PIPELINE_DROPPED_TOTAL: &str = "lockgate_pipeline_dropped_total";
/// Reserved: duplicates an ingress pipeline's dedup stage refused, per topic.
pub const PIPELINE_DUPLICATES_TOTAL: &str = "lockgate_pipeline_duplicates_total";

/// Every metric with its Prometheus type and help text: the one place each is described.
pub const DESCRIPTIONS: &[(&str, Type, &str)] = &[
    (
        GROUP_LAG_MESSAGES,
        Type::Gauge,
        "Messages not yet acked by the group (end offset minus acked watermark).",
    ),
    (
        GROUP_LAG_SECONDS,
        Type::Gauge,
        "Age of the oldest message the group has not acked (0 when caught up).",
    ),
    (
        GROUP_READY_MESSAGES,
        Type::Gauge,
        "Messages deliverable to the group now.",
    ),
    (
        GROUP_IN_FLIGHT_MESSAGES,
        Type::Gauge,
        "Messages delivered to members and not acked yet (leased).",
    ),
    (
        GROUP_RETRYING_MESSAGES,
        Type::Gauge,
        "Messages waiting for a retry, in their queue or in the durable timer.",
    ),
    (GROUP_MEMBERS, Type::Gauge, "Live members of the group."),
    (
        GROUP_DEAD_LETTERS_TOTAL,
        Type::Counter,
        "Messages moved to the group's dead-letter topic.",
    ),
    (QUEUE_MESSAGES, Type::Gauge, "Messages stored in the queue."),
    (
        QUEUE_FIRST_OFFSET,
        Type::Gauge,
        "Oldest offset still stored in the queue.",
    ),
    (
        QUEUE_NEXT_OFFSET,
        Type::Gauge,
        "Offset the next message of the queue gets (last offset + 1).",
    ),
    (
        GROUP_DELIVERY_LATENCY_SECONDS,
        Type::Histogram,
        "Time from store to first delivery to the group.",
    ),
    (
        GROUP_ACK_LATENCY_SECONDS,
        Type::Histogram,
        "Time from store to ack by the group.",
    ),
    (
        PRODUCE_LATENCY_SECONDS,
        Type::Histogram,
        "Time from receiving a produce request to acknowledging it.",
    ),
    (
        DELAY_LATENESS_SECONDS,
        Type::Histogram,
        "Delay messages: visibility time minus requested delivery time.",
    ),
    (
        TXN_COMMIT_VISIBLE_SECONDS,
        Type::Histogram,
        "Transaction messages: time from receiving a commit to its messages being visible.",
    ),
    (
        TXN_OPEN,
        Type::Gauge,
        "Transactions without an outcome, by state (open, parked).",
    ),
    (
        TXN_ENDED_TOTAL,
        Type::Counter,
        "Transactions ended, by outcome (commit, rollback, park) and by (request, check_back, unresolved).",
    ),
    (
        TXN_CHECKS_TOTAL,
        Type::Counter,
        "Transaction check-backs made, by whether a producer's check stream took them.",
    ),
    (
        DELAY_PENDING_MESSAGES,
        Type::Gauge,
        "Delay messages waiting in the timer, by destination topic.",
    ),
    (
        DELAY_FIRED_TOTAL,
        Type::Counter,
        "Delay messages delivered to their topic.",
    ),
    (
        PLUGIN_CALLS_TOTAL,
        Type::Counter,
        "Plugin calls (each decides a batch).",
    ),
    (
        PLUGIN_MESSAGES_TOTAL,
        Type::Counter,
        "Messages decided by plugin calls.",
    ),
    (
        PLUGIN_OUTCOMES_TOTAL,
        Type::Counter,
        "Plugin calls by outcome (ok, trap, timeout, memory, bad_answer).",
    ),
    (
        PLUGIN_CALL_DURATION_SECONDS,
        Type::Histogram,
        "Duration of one plugin call.",
    ),
    (
        PIPELINE_MESSAGES_TOTAL,
        Type::Counter,
        "Messages through ingress pipelines, by source topic and outcome (stored, duplicate, dropped, rejected, unrouted).",
    ),
    (
        STORAGE_APPENDED_RECORDS_TOTAL,
        Type::Counter,
        "Records appended to the commit log since start.",
    ),
    (
        STORAGE_APPENDED_BYTES_TOTAL,
        Type::Counter,
        "Bytes appended to the commit log since start.",
    ),
    (
        STORAGE_FSYNC_DURATION_SECONDS,
        Type::Histogram,
        "Duration of one fdatasync of the commit log.",
    ),
    (STORAGE_SEGMENTS, Type::Gauge, "Commit-log segment files."),
    (STORAGE_LOG_BYTES, Type::Gauge, "Bytes of commit log kept."),
    (
        STORAGE_DISK_FREE_BYTES,
        Type::Gauge,
        "Bytes available on the data directory's file system.",
    ),
    (
        STORAGE_DISK_SIZE_BYTES,
        Type::Gauge,
        "Size of the data directory's file system.",
    ),
    (
        STORAGE_RECOVERY_SECONDS,
        Type::Gauge,
        "Time opening the store (recovery included) took at start.",
    ),
    (CONNECTIONS_OPEN, Type::Gauge, "Open QUIC connections."),
    (
        CONNECTIONS_REFUSED_TOTAL,
        Type::Counter,
        "Connections refused at the max_connections limit.",
    ),
    (
        REQUESTS_TOTAL,
        Type::Counter,
        "Requests answered, by kind and status.",
    ),
    (
        RECEIVED_BYTES_TOTAL,
        Type::Counter,
        "Frame bytes received, headers included.",
    ),
    (
        SENT_BYTES_TOTAL,
        Type::Counter,
        "Frame bytes sent, headers included.",
    ),
    (
        AUTH_FAILURES_TOTAL,
        Type::Counter,
        "Requests refused by the access rules, by status.",
    ),
    (
        PIPELINE_DROPPED_TOTAL,
        Type::Counter,
        "Messages an ingress pipeline routed nowhere (reserved).",
    ),
    (
        PIPELINE_DUPLICATES_TOTAL,
        Type::Counter,
        "Duplicates refused by an ingress dedup stage (reserved).",
    ),
];

/// The series recorded through the `metrics` facade and the exporter (described to it at
/// install); every other name is rendered by [`scrape`] or reserved.
pub const RECORDED: &[&str] = &[
    CONNECTIONS_OPEN,
    CONNECTIONS_REFUSED_TOTAL,
    REQUESTS_TOTAL,
    RECEIVED_BYTES_TOTAL,
    SENT_BYTES_TOTAL,
    AUTH_FAILURES_TOTAL,
    PRODUCE_LATENCY_SECONDS,
    STORAGE_FSYNC_DURATION_SECONDS,
    PLUGIN_CALL_DURATION_SECONDS,
    GROUP_DEAD_LETTERS_TOTAL,
    DELAY_FIRED_TOTAL,
    TXN_COMMIT_VISIBLE_SECONDS,
    TXN_ENDED_TOTAL,
    TXN_CHECKS_TOTAL,
];

/// A metric's Prometheus type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Histogram,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        }
    }
}

/// The help text of a metric.
pub fn help_of(name: &str) -> &'static str {
    DESCRIPTIONS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("", |(_, _, h)| h)
}

/// Histogram bucket bounds in seconds: 0.5 ms to 1 h, for latencies from an fsync to a
/// consumer that is hours behind. The exporter's histograms and [`Buckets`] share them.
pub const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 1800.0, 3600.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder on first call and returns its handle (a second server in
/// the same process, as in tests, shares it: the facade has one global recorder).
pub fn install() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .expect("bucket bounds are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was installed already; recorded metrics go there"
                );
            }
            for (name, kind, help) in DESCRIPTIONS.iter().filter(|d| RECORDED.contains(&d.0)) {
                match kind {
                    Type::Counter => metrics::describe_counter!(*name, *help),
                    Type::Gauge => metrics::describe_gauge!(*name, *help),
                    Type::Histogram => metrics::describe_histogram!(*name, *help),
                }
            }
            handle
        })
        .clone()
}

/// Whether this process records metrics (a server with `[metrics] listen` started in it):
/// work done only to feed a metric (an index read for a latency) is skipped otherwise.
pub fn enabled() -> bool {
    RECORDER.get().is_some()
}

/// Seconds between two times in ms since the epoch (0 when `to` is earlier).
pub fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    (to_ms.saturating_sub(from_ms)).max(0) as f64 / 1000.0
}

/// A histogram with the fixed [`BUCKETS`], kept in atomics and rendered at scrape time: for
/// per-message latencies, where recording a sample must cost a few nanoseconds and no memory
/// (the exporter's histograms keep every sample until they are drained).
pub struct Buckets {
    /// Per bound, the samples at most that bound (not cumulative); the last counts the rest.
    counts: [std::sync::atomic::AtomicU64; BUCKETS.len() + 1],
    /// Sum of the samples, in microseconds.
    sum_micros: std::sync::atomic::AtomicU64,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            counts: std::array::from_fn(|_| std::sync::atomic::AtomicU64::new(0)),
            sum_micros: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Buckets {
    /// Records `n` samples of `seconds`.
    pub fn record_many(&self, seconds: f64, n: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let i = BUCKETS.partition_point(|&b| b < seconds);
        self.counts[i].fetch_add(n, Relaxed);
        self.sum_micros
            .fetch_add((seconds.max(0.0) * 1e6) as u64 * n, Relaxed);
    }

    pub fn record(&self, seconds: f64) {
        self.record_many(seconds, 1);
    }

    /// Adds what a [`Tally`] counted (one atomic add per bucket hit, not per sample).
    pub fn add(&self, t: &Tally) {
        use std::sync::atomic::Ordering::Relaxed;
        for (c, &n) in self.counts.iter().zip(&t.counts) {
            if n > 0 {
                c.fetch_add(n, Relaxed);
            }
        }
        if t.sum_micros > 0 {
            self.sum_micros.fetch_add(t.sum_micros, Relaxed);
        }
    }

    /// `(cumulative count per bound and +Inf, count, sum in seconds)`.
    pub fn snapshot(&self) -> (Vec<u64>, u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Relaxed);
                total
            })
            .collect();
        (
            cumulative,
            total,
            self.sum_micros.load(Relaxed) as f64 / 1e6,
        )
    }
}

/// Samples counted locally (one batch of deliveries, say), then added to [`Buckets`] at once.
#[derive(Default)]
pub struct Tally {
    counts: [u64; BUCKETS.len() + 1],
    sum_micros: u64,
}

impl Tally {
    pub fn record(&mut self, seconds: f64) {
        self.counts[BUCKETS.partition_point(|&b| b < seconds)] += 1;
        self.sum_micros += (seconds.max(0.0) * 1e6) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_cumulatively_by_bound() {
        let b = Buckets::default();
        b.record(0.0001);
        b.record_many(0.003, 2);
        b.record(7200.0);
        let (cumulative, count, sum) = b.snapshot();
        assert_eq!(count, 4);
        assert_eq!(cumulative[0], 1, "≤ 0.5 ms");
        assert_eq!(cumulative[2], 1, "≤ 2.5 ms");
        assert_eq!(cumulative[3], 3, "≤ 5 ms");
        assert_eq!(cumulative[BUCKETS.len() - 1], 3, "≤ 1 h");
        assert_eq!(cumulative[BUCKETS.len()], 4, "+Inf");
        assert!((sum - 7200.0061).abs() < 1e-6, "{sum}");
        let mut t = Tally::default();
        t.record(0.0001);
        t.record(0.2);
        b.add(&t);
        let (cumulative, count, _) = b.snapshot();
        assert_eq!((cumulative[0], count), (2, 6));
    }

    #[test]
    fn every_name_has_its_unit_and_one_description() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, kind, help) in DESCRIPTIONS {
            assert!(seen.insert(*name), "{name} described twice");
            assert!(name.starts_with("lockgate_"), "{name}");
            assert!(!help.is_empty(), "{name} has no help");
            let unit = [
                "_total",
                "_seconds",
                "_bytes",
                "_messages",
                "_offset",
                "_segments",
                "_members",
                "_open",
            ]
            .iter()
            .any(|u| name.ends_with(u));
            assert!(unit, "{name} names no unit");
            assert_eq!(name.ends_with("_total"), *kind == Type::Counter, "{name}");
        }
        assert_eq!(help_of(GROUP_LAG_MESSAGES), DESCRIPTIONS[0].2);
        for r in RECORDED {
            assert!(
                DESCRIPTIONS.iter().any(|d| d.0 == *r),
                "{r} is not described"
            );
        }
        assert_eq!(seconds_between(1_000, 3_500), 2.5);
        assert_eq!(seconds_between(3_500, 1_000), 0.0);
    }
}
