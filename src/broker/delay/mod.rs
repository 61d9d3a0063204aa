//! Delay messages: produced with a delivery time, held in the durable timer, delivered to their
//! topic at that time (never before), cancelled, inspected.
//!
//! - `wheel`: the pure timing wheel (time as an argument);
//! - `service`: [`Delays`], its I/O shell, polled by the timer driver;
//! - `handler`: the Delay request family (ProduceDelayed, DelayCancel, DelayStats,
//!   MessageState) and the resolution of a delivery (time, delay or level) to a time;
//! - `record`: a produced message as its delay record, spliced from the frame's bytes.
//!
//! The durable part, the timer index, is the store's (`storage::timers`): it must be exactly
//! as durable as the records it indexes.

pub mod handler;
mod record;
pub mod service;
pub mod wheel;

pub use service::{Delays, DelaysOptions};

use crate::broker::group::timer_retry::is_retry_topic;
use crate::broker::txn::{TXN_TOPIC, UNRESOLVED_TOPIC};
use crate::storage::timers::DELAY_TOPIC;

use super::{BrokerError, Result};

/// Refuses requests that would read or write the delay topic, the transaction topic or a
/// group's retry topic directly: delay messages are invisible until their time, half messages
/// until their commit, and a retry topic belongs to its group's members (who take from it
/// through their own topic).
pub(super) fn guard_internal(topic: &str) -> Result<()> {
    if topic == DELAY_TOPIC
        || topic == TXN_TOPIC
        || is_retry_topic(topic)
        || crate::pipeline::is_summary_topic(topic)
    {
        return Err(BrokerError::ReservedName(topic.to_string()));
    }
    Ok(())
}

/// For writes by clients: only the broker writes internal topics (a dead letter, a parked
/// transaction or a pipeline summary produced by a client would be a forgery).
pub(super) fn guard_produce(topic: &str) -> Result<()> {
    if crate::storage::TopicName::is_internal(topic) {
        return Err(BrokerError::ReservedName(topic.to_string()));
    }
    Ok(())
}

/// [`guard_internal`] for deletes, which `%TXN_UNRESOLVED%` (readable by
/// operators, written by the broker alone) refuses too.
pub(super) fn guard_delete(topic: &str) -> Result<()> {
    guard_internal(topic)?;
    if topic == UNRESOLVED_TOPIC {
        return Err(BrokerError::ReservedName(topic.to_string()));
    }
    Ok(())
}
