//! Counter series whose labels are known before anything happens start at 0, so that a rate
//! or an `increase()` (the shipped alerts use them) sees their first events: a series that
//! appears at its first event has no earlier sample to compare with.
//!
//! Does: register those series (broker-wide outcomes at start; a group's dead letters per
//! topic at start and when it subscribes to a new topic; an ingress pipeline's outcomes per
//! topic at start). Does not: record anything (the code that counts does), or create series
//! whose labels are open-ended (request kind × status is made on first use).

use super::{
    AUTH_FAILURES_TOTAL, CONNECTIONS_REFUSED_TOTAL, GROUP_DEAD_LETTERS_TOTAL,
    PIPELINE_MESSAGES_TOTAL, RECEIVED_BYTES_TOTAL, SENT_BYTES_TOTAL, TXN_CHECKS_TOTAL,
    TXN_ENDED_TOTAL,
};

/// How a transaction ends, and what ended it (the labels of `TXN_ENDED_TOTAL`).
pub const TXN_ENDINGS: [(&str, &str); 5] = [
    ("commit", "request"),
    ("rollback", "request"),
    ("commit", "check_back"),
    ("rollback", "check_back"),
    ("rollback", "unresolved"),
];

/// The outcomes an ingress pipeline counts per topic.
pub const PIPELINE_OUTCOMES: [&str; 5] = ["stored", "duplicate", "dropped", "rejected", "unrouted"];

/// Registers the broker-wide series at 0.
pub fn start() {
    for name in [
        CONNECTIONS_REFUSED_TOTAL,
        RECEIVED_BYTES_TOTAL,
        SENT_BYTES_TOTAL,
    ] {
        metrics::counter!(name).increment(0);
    }
    for status in ["NotAuthenticated", "NotAuthorized"] {
        metrics::counter!(AUTH_FAILURES_TOTAL, "status" => status).increment(0);
    }
    for (outcome, by) in TXN_ENDINGS.into_iter().chain([("park", "unresolved")]) {
        metrics::counter!(TXN_ENDED_TOTAL, "outcome" => outcome, "by" => by).increment(0);
    }
    for delivered in ["true", "false"] {
        metrics::counter!(TXN_CHECKS_TOTAL, "delivered" => delivered).increment(0);
    }
}

/// A group consumes `topic`: its dead letters from there start at 0.
pub fn group_topic(group: &str, topic: &str) {
    metrics::counter!(GROUP_DEAD_LETTERS_TOTAL, "group" => group.to_string(), "topic" => topic.to_string())
        .increment(0);
}

/// `topic` has an ingress pipeline: its outcomes start at 0.
pub fn pipeline_topic(topic: &str) {
    for outcome in PIPELINE_OUTCOMES {
        metrics::counter!(PIPELINE_MESSAGES_TOTAL, "topic" => topic.to_string(), "outcome" => outcome)
            .increment(0);
    }
}
