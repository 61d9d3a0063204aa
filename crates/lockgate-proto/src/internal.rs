//! The internal topics: their names, what each belongs to, and who may read, write or delete
//! them. Everything that names an internal topic takes the name from here, and every request
//! path asks the guards here, so this module imports nothing of the crate: every floor may use
//! it.
//!
//! | topic | belongs to | requests may |
//! |---|---|---|
//! | `%DELAY%` (pending delay messages) | the broker | nothing |
//! | `%TXN%` (transaction operations and half messages) | the broker | nothing |
//! | `%TXN_UNRESOLVED%` (parked transactions) | the broker | read |
//! | `%RETRY%<group>%<topic>` | its group | nothing (the group's members take from it through their own topic) |
//! | `%PIPE%<topic>` (ingress batch summaries) | its topic | nothing |
//! | `%DLQ%<group>` | its group | read, delete |
//!
//! Only the broker writes any of them. Does not: create them (the services that own them do,
//! on first use), or check rights (`auth` maps them to what they belong to through
//! [`owner_of`]).

/// Names starting with one of these are internal: created by the broker, never by a request.
pub const RESERVED_PREFIXES: [&str; 2] = ["%", "lockgate."];

/// Pending delay messages (see `storage::timers`).
pub const DELAY_TOPIC: &str = "%DELAY%";
/// Transaction operations (queue 0) and half messages (queue 1).
pub const TXN_TOPIC: &str = "%TXN%";
/// Transactions parked for an operator (`[transactions] on_unresolved = "park"`).
pub const UNRESOLVED_TOPIC: &str = "%TXN_UNRESOLVED%";
/// `%DLQ%<group>`: a group's dead letters.
pub const DLQ_PREFIX: &str = "%DLQ%";
/// `%RETRY%<group>%<topic>`: a group's retries of a topic.
pub const RETRY_PREFIX: &str = "%RETRY%";
/// `%PIPE%<topic>`: the batch summaries of a topic's ingress pipeline.
pub const SUMMARY_PREFIX: &str = "%PIPE%";

/// Whether `name` is an internal topic's.
pub fn is_internal(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The dead-letter topic of a group.
pub fn dead_letter_topic(group: &str) -> String {
    format!("{DLQ_PREFIX}{group}")
}

/// The retry topic of `group` for `topic` (not checked as a topic name).
pub fn retry_topic(group: &str, topic: &str) -> String {
    format!("{RETRY_PREFIX}{group}%{topic}")
}

/// Whether `topic` is a retry topic.
pub fn is_retry_topic(topic: &str) -> bool {
    topic.starts_with(RETRY_PREFIX)
}

/// Whether `topic` is one of `group`'s retry topics.
pub fn is_retry_topic_of(group: &str, topic: &str) -> bool {
    topic
        .strip_prefix(RETRY_PREFIX)
        .and_then(|rest| rest.strip_prefix(group))
        .is_some_and(|rest| rest.starts_with('%'))
}

/// The summary topic of a topic's ingress pipeline.
pub fn summary_topic(topic: &str) -> String {
    format!("{SUMMARY_PREFIX}{topic}")
}

/// Whether `topic` is an ingress pipeline's summary topic.
pub fn is_summary_topic(topic: &str) -> bool {
    topic.starts_with(SUMMARY_PREFIX)
}

/// What a topic belongs to, for rights: internal topics obey their owner's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A user topic, or an internal topic of that topic's (`%PIPE%<topic>`).
    Topic(String),
    /// A group's internal topic (`%DLQ%`, `%RETRY%`).
    Group(String),
    /// The broker's own (`%DELAY%`, `%TXN%`, `%TXN_UNRESOLVED%`).
    Broker,
}

/// What `topic` belongs to.
pub fn owner_of(topic: &str) -> Owner {
    if let Some(group) = topic.strip_prefix(DLQ_PREFIX) {
        return Owner::Group(group.to_string());
    }
    if let Some(rest) = topic.strip_prefix(RETRY_PREFIX) {
        let group = rest.split('%').next().unwrap_or(rest);
        return Owner::Group(group.to_string());
    }
    if let Some(t) = topic.strip_prefix(SUMMARY_PREFIX) {
        return Owner::Topic(t.to_string());
    }
    if topic.starts_with('%') {
        return Owner::Broker;
    }
    Owner::Topic(topic.to_string())
}

/// A request refused because the topic is internal (answered `ReservedName`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is reserved for internal topics")]
pub struct Reserved(pub String);

/// Requests that read a topic (fetch, lookups, joins, delay cancel and state): refused for
/// the topics no request reads. Delay messages are invisible until their time, half messages
/// until their commit, and a retry topic belongs to its group's members (who take from it
/// through their own topic).
pub fn guard_read(topic: &str) -> Result<(), Reserved> {
    if topic == DELAY_TOPIC
        || topic == TXN_TOPIC
        || is_retry_topic(topic)
        || is_summary_topic(topic)
    {
        return Err(Reserved(topic.to_string()));
    }
    Ok(())
}

/// Requests that write messages (Produce, ProduceDelayed, TxnSend): refused for every internal
/// topic (a dead letter, a parked transaction or a summary from a client would be a forgery).
pub fn guard_produce(topic: &str) -> Result<(), Reserved> {
    if is_internal(topic) {
        return Err(Reserved(topic.to_string()));
    }
    Ok(())
}

/// TopicDelete: refused for the unreadable ones and for `%TXN_UNRESOLVED%` (the broker's
/// alone); a group's dead-letter topic may be deleted.
pub fn guard_delete(topic: &str) -> Result<(), Reserved> {
    guard_read(topic)?;
    if topic == UNRESOLVED_TOPIC {
        return Err(Reserved(topic.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_owners_and_guards_agree() {
        let dlq = dead_letter_topic("billing");
        let retry = retry_topic("billing", "orders");
        let pipe = summary_topic("orders");
        assert_eq!(owner_of(&dlq), Owner::Group("billing".into()));
        assert_eq!(owner_of(&retry), Owner::Group("billing".into()));
        assert_eq!(owner_of(&pipe), Owner::Topic("orders".into()));
        assert_eq!(owner_of(UNRESOLVED_TOPIC), Owner::Broker);
        assert_eq!(owner_of("orders"), Owner::Topic("orders".into()));
        assert!(is_retry_topic_of("billing", &retry));
        assert!(!is_retry_topic_of("bill", &retry));
        for t in [DELAY_TOPIC, TXN_TOPIC, &retry, &pipe] {
            assert!(guard_read(t).is_err() && guard_delete(t).is_err(), "{t}");
        }
        assert!(guard_read(&dlq).is_ok() && guard_delete(&dlq).is_ok());
        assert!(guard_read(UNRESOLVED_TOPIC).is_ok() && guard_delete(UNRESOLVED_TOPIC).is_err());
        for t in [
            DELAY_TOPIC,
            TXN_TOPIC,
            UNRESOLVED_TOPIC,
            &dlq,
            &retry,
            &pipe,
            "lockgate.x",
        ] {
            assert!(guard_produce(t).is_err(), "{t}");
        }
        assert!(guard_produce("orders").is_ok());
    }
}
