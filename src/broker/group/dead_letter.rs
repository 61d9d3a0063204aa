//! Dead-lettering: a message that used up its attempts is copied, with its id, to the group's
//! internal topic `%DLQ%<group>` (one queue, created on first use), with where it came from
//! and why in properties. The group marks it done only after the copy is stored.

use std::time::Duration;

use super::state::DeadLetter;
use crate::storage::{Durability, StorageError, Store, TopicName, TopicSpec};

/// The dead-letter topic of a group.
pub fn topic_of(group: &str) -> String {
    format!("%DLQ%{group}")
}

/// Properties a dead-lettered message carries (besides its own).
pub const PROP_GROUP: &str = "lockgate.dlq.group";
pub const PROP_TOPIC: &str = "lockgate.dlq.topic";
pub const PROP_QUEUE: &str = "lockgate.dlq.queue";
pub const PROP_OFFSET: &str = "lockgate.dlq.offset";
pub const PROP_ATTEMPTS: &str = "lockgate.dlq.attempts";
pub const PROP_REASON: &str = "lockgate.dlq.reason";

/// Copies the message to the dead-letter topic and waits for its durability (blocking).
/// A message retention already removed is reported as done: there is nothing left to copy.
pub fn write(
    store: &Store,
    group: &str,
    d: &DeadLetter,
    durability: Durability,
) -> Result<(), StorageError> {
    let dlq = topic_of(group);
    if store.topic_meta(&dlq).is_err() {
        store.ensure_topic(&TopicSpec {
            name: TopicName::new(&dlq)?,
            queues: 1,
            durability,
            retention: None::<Duration>,
        })?;
    }
    let read = match store.read(&d.topic, d.queue, d.offset, 1, usize::MAX) {
        Ok(r) => r,
        Err(StorageError::OffsetTrimmed { .. }) => {
            tracing::warn!(group, topic = %d.topic, queue = d.queue, offset = d.offset,
                "a message to dead-letter was already removed by retention");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let Some(stored) = read.messages.into_iter().find(|m| m.offset == d.offset) else {
        return Ok(()); // a hole: no message at that offset
    };
    let mut message = stored.message;
    let props = &mut message.properties;
    props.insert(PROP_GROUP.into(), group.into());
    props.insert(PROP_TOPIC.into(), d.topic.clone());
    props.insert(PROP_QUEUE.into(), d.queue.to_string());
    props.insert(PROP_OFFSET.into(), d.offset.to_string());
    props.insert(PROP_ATTEMPTS.into(), d.attempt.to_string());
    props.insert(PROP_REASON.into(), d.reason.clone());
    store.append(&dlq, 0, &[message])?;
    Ok(())
}
