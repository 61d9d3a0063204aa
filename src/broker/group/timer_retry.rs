//! Group retries through the durable timer, RocketMQ's `%RETRY%` path. A clustering group's
//! failed message that is to wait at least `[groups] timer_retry_threshold` leaves its queue's
//! window: it is written as a delay message whose destination is the group's retry topic for
//! its topic, `%RETRY%<group>%<topic>` (one queue, created on first use), carrying where it
//! was first stored and its deliveries so far. The window is done with it once that record is
//! durable, so a two-hour wait holds back nobody's progress, and a restart delivers the retry
//! at its time with its attempt count. At its time the timer stores it in the retry topic,
//! whose subscription the topic's members take from too: its queues appear on the wire as
//! [`RETRY_QUEUE`]` + q`, and the attempt a member sees continues the message's count.
//!
//! This file names the topic and properties and writes forwards ([`write`]); when a first
//! retry is due the group state machine decides, and for a retry that failed again [`write`]
//! decides with the retry schedule and the attempts the message carries. When the topic's
//! pipeline names a retry plugin, every failed delivery comes here undecided and the plugin
//! decides — a batch of failures in one call, outside the group's lock: `retry-after` goes
//! through the timer, `dead-letter` to `%DLQ%` with the plugin's reason, `drop` is done. A
//! plugin that fails is counted and its batch falls back to the group's schedule.

use std::sync::Arc;

use super::dead_letter::{self, Origin};
use super::retry::{self, Decision};
use super::state::{FailCause, Forward};
use crate::broker::Result;
use crate::broker::delay::Delays;
use crate::broker::delay::service::ToSchedule;
use crate::broker::ingest::copy::internal_topic;
use crate::plugin::stages;
use crate::record::Message;
use crate::storage::timers::PROP_REF;
use crate::storage::{Durability, Store, TopicName};

/// Queue ids from this one on name the queues of a member's retry subscription (`RETRY_QUEUE +
/// q` is queue q of the retry topic) in deliveries, acks and nacks.
pub const RETRY_QUEUE: u32 = 1 << 31;

/// Properties a message in a retry topic carries (besides its own): where it was first stored,
/// its deliveries so far, and why the last one failed.
pub const PROP_TOPIC: &str = "lockgate.retry.topic";
pub const PROP_QUEUE: &str = "lockgate.retry.queue";
pub const PROP_OFFSET: &str = "lockgate.retry.offset";
pub const PROP_ATTEMPTS: &str = "lockgate.retry.attempts";
pub const PROP_REASON: &str = "lockgate.retry.reason";

/// How the reason of a delivery its filter failed on begins.
pub const FILTER_FAILED: &str = "filter failed";

/// Most retries scheduled by one append.
const BATCH: usize = 512;

/// The retry topic of `group` for `topic`; `None` when the name would be too long (that pair's
/// retries stay in place).
pub fn topic_of(group: &str, topic: &str) -> Option<String> {
    let name = crate::internal::retry_topic(group, topic);
    TopicName::new(&name).is_ok().then_some(name)
}

pub use crate::internal::{is_retry_topic, is_retry_topic_of};

/// Deliveries a retry-topic message had before it was stored there (0 for any other message).
pub fn earlier_attempts(m: &Message) -> u32 {
    m.properties
        .get(PROP_ATTEMPTS)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

/// Where a retry-topic message was first stored.
fn origin_of(m: &Message) -> Option<Origin> {
    let p = &m.properties;
    Some(Origin {
        topic: p.get(PROP_TOPIC)?.clone(),
        queue: p.get(PROP_QUEUE)?.parse().ok()?,
        offset: p.get(PROP_OFFSET)?.parse().ok()?,
    })
}

/// What [`write`] needs of the group and the broker.
pub struct Writer<'a> {
    pub store: &'a Store,
    pub delays: &'a Arc<Delays>,
    pub group: &'a str,
    pub delays_ms: &'a [u64],
    pub max_attempts: u32,
    pub now: i64,
    /// Of the retry topics it creates, and of dead letters.
    pub durability: Durability,
    /// Which topics' failures a retry plugin decides.
    pub plugin_retry: &'a super::state::PluginRetry,
    /// Calls a retry plugin (by name) on a batch of failures.
    pub decide: PluginDecide<'a>,
}

/// Asks retry plugin `name` about a batch of failed deliveries.
pub type PluginDecide<'a> = &'a dyn Fn(
    &str,
    &[stages::FailedDelivery],
) -> std::result::Result<Vec<stages::Decision>, String>;

/// A retry plugin's decision for one forward.
enum Verdict {
    RetryAt(i64),
    DeadLetter(String),
    Drop,
}

/// Writes forwards (blocking): each becomes a retry scheduled in the timer, a dead-letter copy
/// once its attempts are used up, or nothing when its message is gone. Returns the forwards
/// done (stored, or nothing left to store) and those whose write failed, to try again.
pub fn write(w: &Writer<'_>, forwards: Vec<Forward>) -> (Vec<Forward>, Vec<Forward>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut retries: Vec<(Forward, Message, String, i64)> = Vec::new();
    let verdicts = plugin_verdicts(w, &forwards);
    for (f, verdict) in forwards.into_iter().zip(verdicts) {
        match plan(w, &f, verdict) {
            Ok(Plan::Nothing) => done.push(f),
            Ok(Plan::Retry {
                message,
                topic,
                due,
            }) => retries.push((f, message, topic, due)),
            Ok(Plan::DeadLetter {
                message,
                origin,
                attempts,
                reason,
            }) => {
                let reason = reason.unwrap_or_else(|| format!("{} (attempt {attempts})", f.reason));
                match dead_letter::append_copy(
                    w.store,
                    w.group,
                    message,
                    &origin,
                    attempts,
                    &reason,
                    w.durability,
                ) {
                    Ok(()) => {
                        metrics::counter!(crate::metrics::GROUP_DEAD_LETTERS_TOTAL, "group" => w.group.to_string(), "topic" => origin.topic.clone()).increment(1);
                        tracing::info!(group = w.group, topic = %origin.topic, queue = origin.queue, offset = origin.offset, %reason, "message dead-lettered");
                        done.push(f);
                    }
                    Err(e) => {
                        crate::error_limited!("dead letter", group = w.group, error = %e, "cannot write a dead letter; will try again");
                        failed.push(f);
                    }
                }
            }
            Err(e) => {
                crate::error_limited!("retry forward", group = w.group, error = %e, "cannot read a failed message to retry; will try again");
                failed.push(f);
            }
        }
    }
    let mut retries = retries.into_iter().peekable();
    while retries.peek().is_some() {
        let (fs, items): (Vec<Forward>, Vec<_>) = retries
            .by_ref()
            .take(BATCH)
            .map(|(f, m, t, due)| (f, (m, t, due)))
            .unzip();
        match schedule(w, items) {
            Ok(()) => done.extend(fs),
            Err(e) => {
                crate::error_limited!("retry forward", group = w.group, error = %e, "cannot schedule retries in the timer; will try again");
                failed.extend(fs);
            }
        }
    }
    (done, failed)
}

enum Plan {
    /// The message is gone: nothing to retry.
    Nothing,
    Retry {
        message: Message,
        topic: String,
        due: i64,
    },
    DeadLetter {
        message: Message,
        origin: Origin,
        attempts: u32,
        /// A retry plugin's reason.
        reason: Option<String>,
    },
}

/// Where a forward's message was first stored, and its deliveries so far.
fn origin_and_attempts(w: &Writer<'_>, f: &Forward, message: &Message) -> (Origin, u32) {
    if is_retry_topic_of(w.group, &f.topic) {
        let origin = origin_of(message).unwrap_or_else(|| Origin {
            topic: f.topic.clone(),
            queue: f.queue,
            offset: f.offset,
        });
        (origin, earlier_attempts(message).saturating_add(f.attempt))
    } else {
        let origin = Origin {
            topic: f.topic.clone(),
            queue: f.queue,
            offset: f.offset,
        };
        (origin, f.attempt)
    }
}

/// The plugin verdicts of the undecided forwards whose topic has a retry plugin, one call per
/// plugin for the whole batch; `None` where the schedule decides (a plugin that fails leaves
/// its batch to the schedule).
fn plugin_verdicts(w: &Writer<'_>, forwards: &[Forward]) -> Vec<Option<Verdict>> {
    let mut out: Vec<Option<Verdict>> = forwards.iter().map(|_| None).collect();
    let mut asks: std::collections::BTreeMap<String, Vec<(usize, stages::FailedDelivery)>> =
        Default::default();
    for (i, f) in forwards.iter().enumerate() {
        if f.retry_at.is_some() {
            continue;
        }
        let Ok(Some(message)) =
            dead_letter::read_one(w.store, w.group, &f.topic, f.queue, f.offset)
        else {
            continue; // plan() sees the same and answers it
        };
        let (origin, attempts) = origin_and_attempts(w, f, &message);
        let Some(plugin) = w.plugin_retry.plugin_of(&origin.topic) else {
            continue;
        };
        let reason = match f.cause {
            FailCause::Nack => stages::Reason::Nack,
            FailCause::LeaseExpired => stages::Reason::LeaseExpired,
            FailCause::FilterFailed => stages::Reason::FilterFailed,
        };
        asks.entry(plugin).or_default().push((
            i,
            stages::FailedDelivery {
                topic: origin.topic.clone(),
                group: w.group.to_string(),
                attempt: attempts,
                reason,
                tag: message.tag.clone(),
                keys: message.keys.clone(),
                properties: message
                    .properties
                    .iter()
                    .filter(|(k, _)| {
                        !k.starts_with(crate::storage::timers::RESERVED_PROPERTY_PREFIX)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
        ));
    }
    for (plugin, batch) in asks {
        let failures: Vec<stages::FailedDelivery> = batch.iter().map(|(_, f)| f.clone()).collect();
        match (w.decide)(&plugin, &failures) {
            Ok(decisions) => {
                for ((i, _), d) in batch.iter().zip(decisions) {
                    out[*i] = Some(match d {
                        stages::Decision::RetryAfter(ms) => {
                            Verdict::RetryAt(w.now.saturating_add(ms.min(i64::MAX as u64) as i64))
                        }
                        stages::Decision::DeadLetter(why) => Verdict::DeadLetter(why),
                        stages::Decision::Drop => Verdict::Drop,
                    });
                }
            }
            Err(e) => {
                crate::error_limited!("retry plugin", group = w.group, plugin = %plugin, error = %e,
                    "the retry plugin failed; its batch follows the group's retry schedule");
            }
        }
    }
    out
}

/// Reads a forward's message and decides what it becomes.
fn plan(w: &Writer<'_>, f: &Forward, verdict: Option<Verdict>) -> Result<Plan> {
    let Some(mut message) = dead_letter::read_one(w.store, w.group, &f.topic, f.queue, f.offset)?
    else {
        return Ok(Plan::Nothing);
    };
    let mut plugin_reason = None;
    let (origin, attempts) = origin_and_attempts(w, f, &message);
    let decision = match (f.retry_at, verdict) {
        (Some(due), _) => Decision::RetryAt(due),
        (None, Some(Verdict::RetryAt(due))) => Decision::RetryAt(due),
        (None, Some(Verdict::DeadLetter(why))) => {
            plugin_reason = Some(why);
            Decision::DeadLetter
        }
        (None, Some(Verdict::Drop)) => {
            tracing::info!(group = w.group, topic = %origin.topic, queue = origin.queue, offset = origin.offset,
                "failed message dropped by the retry plugin");
            return Ok(Plan::Nothing);
        }
        (None, None) => retry::decide(w.delays_ms, w.max_attempts, attempts, w.now),
    };
    let topic = topic_of(w.group, &origin.topic);
    match (decision, topic) {
        (Decision::RetryAt(due), Some(topic)) => {
            let p = &mut message.properties;
            // The timer ref of an earlier firing would read as a move of that timer.
            p.remove(PROP_REF);
            p.insert(PROP_TOPIC.into(), origin.topic.clone());
            p.insert(PROP_QUEUE.into(), origin.queue.to_string());
            p.insert(PROP_OFFSET.into(), origin.offset.to_string());
            p.insert(PROP_ATTEMPTS.into(), attempts.to_string());
            p.insert(PROP_REASON.into(), f.reason.clone());
            Ok(Plan::Retry {
                message,
                topic,
                due,
            })
        }
        _ => {
            for p in [
                PROP_TOPIC,
                PROP_QUEUE,
                PROP_OFFSET,
                PROP_ATTEMPTS,
                PROP_REASON,
                PROP_REF,
            ] {
                message.properties.remove(p);
            }
            Ok(Plan::DeadLetter {
                message,
                origin,
                attempts,
                reason: plugin_reason,
            })
        }
    }
}

/// Schedules retries in the timer, one append for the batch, and waits for it to be durable.
fn schedule(w: &Writer<'_>, batch: Vec<(Message, String, i64)>) -> Result<()> {
    let mut ids = std::collections::HashMap::new();
    let mut messages = Vec::with_capacity(batch.len());
    for (message, topic, deliver_at) in batch {
        let topic_id = match ids.get(&topic) {
            Some(&id) => id,
            None => {
                let meta = internal_topic(w.store, &topic, 1, w.durability)?;
                ids.insert(topic.clone(), meta.id);
                meta.id
            }
        };
        messages.push(ToSchedule {
            message,
            topic,
            topic_id,
            queue: 0,
            deliver_at,
        });
    }
    w.delays
        .schedule(messages, None, Durability::Sync)?
        .wait()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_topics_are_named_per_group_and_topic() {
        let t = topic_of("billing", "orders").unwrap();
        assert_eq!(t, "%RETRY%billing%orders");
        assert!(is_retry_topic_of("billing", &t));
        assert!(!is_retry_topic_of("bill", &t));
        assert!(!is_retry_topic_of("billing", "orders"));
        assert!(is_retry_topic(&t));
        // Too long for a topic name: that pair retries in place.
        assert_eq!(topic_of(&"g".repeat(200), &"t".repeat(60)), None);
    }

    #[test]
    fn earlier_attempts_come_from_the_message() {
        let mut m = Message::default();
        assert_eq!(earlier_attempts(&m), 0);
        m.properties.insert(PROP_ATTEMPTS.into(), "4".into());
        assert_eq!(earlier_attempts(&m), 4);
    }
}
