//! Dead-lettering: a message that used up its attempts is copied, with its id, to the group's
//! internal topic `%DLQ%<group>` (one queue, created on first use), with where it came from
//! and why in properties. The group marks it done only after the copy is stored.

use super::state::DeadLetter;
use crate::broker::Result;
use crate::broker::ingest::copy::internal_topic;
use crate::record::Message;
use crate::storage::{Durability, StorageError, Store};

/// The dead-letter topic of a group.
pub fn topic_of(group: &str) -> String {
    crate::internal::dead_letter_topic(group)
}

/// Properties a dead-lettered message carries (besides its own).
pub const PROP_GROUP: &str = "lockgate.dlq.group";
pub const PROP_TOPIC: &str = "lockgate.dlq.topic";
pub const PROP_QUEUE: &str = "lockgate.dlq.queue";
pub const PROP_OFFSET: &str = "lockgate.dlq.offset";
pub const PROP_ATTEMPTS: &str = "lockgate.dlq.attempts";
pub const PROP_REASON: &str = "lockgate.dlq.reason";

/// Where a message was first stored: what a dead letter names as its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
}

/// Copies the message to the dead-letter topic and waits for its durability (blocking).
/// A message retention already removed is reported as done: there is nothing left to copy.
pub fn write(store: &Store, group: &str, d: &DeadLetter, durability: Durability) -> Result<()> {
    let Some(message) = read_one(store, group, &d.topic, d.queue, d.offset)? else {
        return Ok(());
    };
    let origin = Origin {
        topic: d.topic.clone(),
        queue: d.queue,
        offset: d.offset,
    };
    append_copy(
        store, group, message, &origin, d.attempt, &d.reason, durability,
    )
}

/// The message at one offset; `None` when there is none (a hole, or removed by retention).
pub fn read_one(
    store: &Store,
    group: &str,
    topic: &str,
    queue: u32,
    offset: u64,
) -> Result<Option<Message>, StorageError> {
    let read = match store.read(topic, queue, offset, 1, usize::MAX) {
        Ok(r) => r,
        Err(StorageError::OffsetTrimmed { .. }) => {
            tracing::warn!(
                group,
                topic,
                queue,
                offset,
                "a failed message to move was already removed by retention"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(read
        .messages
        .into_iter()
        .find(|m| m.offset == offset)
        .map(|m| m.message))
}

/// Appends `message` to the group's dead-letter topic with its origin, attempts and reason, and
/// waits for its durability (blocking).
pub fn append_copy(
    store: &Store,
    group: &str,
    mut message: Message,
    origin: &Origin,
    attempts: u32,
    reason: &str,
    durability: Durability,
) -> Result<()> {
    let dlq = topic_of(group);
    internal_topic(store, &dlq, 1, durability)?;
    let props = &mut message.properties;
    props.insert(PROP_GROUP.into(), group.into());
    props.insert(PROP_TOPIC.into(), origin.topic.clone());
    props.insert(PROP_QUEUE.into(), origin.queue.to_string());
    props.insert(PROP_OFFSET.into(), origin.offset.to_string());
    props.insert(PROP_ATTEMPTS.into(), attempts.to_string());
    props.insert(PROP_REASON.into(), reason.into());
    store.append(&dlq, 0, &[message])?;
    Ok(())
}
