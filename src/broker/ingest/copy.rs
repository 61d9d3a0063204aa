//! The other door of `ingest`: the broker's own writes into its internal topics — a dead
//! letter's copy, a retry on its way through the timer, delay records, a transaction's half
//! messages and parked ones. A client batch is admitted by [`super::admit`] and may never
//! name an internal topic; a copy may name nothing else. Its topic is made here on first use,
//! with the queues and durability its owner needs; an existing one keeps the settings it has
//! (a copy never changes a topic an operator looks at) and only grows to the queues asked for.
//!
//! Not here: the copies' records and properties (their owners write those), the topics of
//! pipelines' summaries (`pipeline`, a floor below the broker, makes its own).

use crate::storage::{Durability, Store, TopicMeta, TopicName, TopicSpec};

use super::super::{BrokerError, Result};

/// The internal topic `name`, made with `queues` queues and `durability` if it does not exist.
///
/// # Errors
/// `name` is not an internal topic's (a bug in the caller: a copy must never land in a
/// client's topic), or the store cannot make it.
pub(in crate::broker) fn internal_topic(
    store: &Store,
    name: &str,
    queues: u32,
    durability: Durability,
) -> Result<TopicMeta> {
    if !crate::internal::is_internal(name) {
        return Err(BrokerError::InvalidArgument(format!(
            "the broker copies only into its internal topics, not into {name:?}"
        )));
    }
    if let Ok(meta) = store.topic_meta(name)
        && meta.queues >= queues
    {
        return Ok(meta);
    }
    Ok(store.ensure_topic(&TopicSpec {
        name: TopicName::new(name)?,
        queues,
        durability,
        retention: None,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_go_only_to_internal_topics_made_once_with_their_settings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(crate::storage::StoreOptions::new(dir.path())).unwrap();
        let dlq = crate::internal::dead_letter_topic("billing");
        let made = internal_topic(&store, &dlq, 1, Durability::Sync).unwrap();
        assert_eq!((made.queues, made.durability), (1, Durability::Sync));
        // Asked again with other settings: the topic keeps its own.
        let again = internal_topic(&store, &dlq, 1, Durability::Async).unwrap();
        assert_eq!(again, made);
        let err = internal_topic(&store, "orders", 1, Durability::Sync).unwrap_err();
        assert!(matches!(err, BrokerError::InvalidArgument(_)), "{err}");
        assert!(store.topic_meta("orders").is_err(), "no client topic made");
    }
}
