//! The Delay family: ProduceDelayed writes delay records (routing each message as Produce
//! does), DelayCancel, DelayStats and MessageState ask the [`Delays`] service.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::DelayConfig;
use crate::protocol::{
    DelayRequest, DelayedProduce, Delivery, Request, Response, ScheduledAck, decode_delayed_view,
};
use crate::storage::timers::{DELAY_TOPIC, PROP_DELIVER_AT, PROP_QUEUE, Schedule};
use crate::storage::{PendingAppend, Store};

use super::record::DelayRecord;
use crate::broker::ingest::{self, Entry};
use crate::broker::{Broker, BrokerError, Result, blocking};

pub(in crate::broker) async fn handle(broker: &Arc<Broker>, r: DelayRequest) -> Result<Response> {
    let delays = broker.delays.clone();
    match r {
        DelayRequest::Produce(p) => dispatch_produce(broker, body_of(p))
            .await
            .await
            .map_err(|e| BrokerError::Internal(format!("delayed produce failed: {e}")))?,
        DelayRequest::Cancel { topic, id } => {
            crate::internal::guard_read(&topic)?;
            blocking(move || {
                let (deliver_at, already) = delays.cancel(&topic, id)?;
                Ok(Response::Cancelled {
                    deliver_at,
                    already,
                })
            })
            .await
        }
        DelayRequest::Stats => blocking(move || Ok(Response::DelayStats(delays.stats()))).await,
        DelayRequest::State { topic, id } => {
            blocking(move || Ok(Response::DelayState(delays.state(&topic, id)?))).await
        }
    }
}

/// Writes the batch's delay records before returning (so a stream's batches keep their
/// order); the task completes with the acknowledgement once they are durable. `body` is a
/// ProduceDelayed frame body, decoded here without copying: message contents go from the frame
/// into the log with their delay properties spliced in.
pub(in crate::broker) async fn dispatch_produce(
    broker: &Arc<Broker>,
    body: Vec<u8>,
) -> JoinHandle<Result<Response>> {
    let received = std::time::Instant::now();
    let this = broker.clone();
    let written = blocking(move || write(&this, &body)).await;
    match written {
        Ok(pending) => {
            let class = pending.durability;
            tokio::task::spawn_blocking(move || {
                crate::broker::produce::acknowledged(class, received, pending.finish())
            })
        }
        Err(e) => tokio::spawn(async move { Err(e) }),
    }
}

/// An owned ProduceDelayed request as the frame body [`dispatch_produce`] decodes.
pub(in crate::broker) fn body_of(p: DelayedProduce) -> Vec<u8> {
    let mut body = Vec::new();
    Request::Delay(DelayRequest::Produce(p)).encode_body(&mut body);
    body
}

/// When a delivery is due, at `now`; refused beyond `[delay] max_delay`.
pub fn resolve(d: Delivery, now: i64, config: &DelayConfig) -> Result<i64, String> {
    let at = match d {
        Delivery::At(t) => t,
        Delivery::After(ms) => now.saturating_add(ms.min(i64::MAX as u64) as i64),
        Delivery::Level(l) => {
            let n = config.levels.len();
            let Some(wait) = usize::from(l)
                .checked_sub(1)
                .and_then(|i| config.levels.get(i))
            else {
                return Err(format!(
                    "delay level {l} is out of range (1 to {n}, [delay] levels)"
                ));
            };
            now.saturating_add(wait.as_millis() as i64)
        }
    };
    let max = config.max_delay.as_millis() as i64;
    if at.saturating_sub(now) > max {
        return Err(format!(
            "the delivery time is {} ahead; the limit is {} ([delay] max_delay)",
            crate::units::format_duration(Duration::from_millis(at.saturating_sub(now) as u64)),
            crate::units::format_duration(config.max_delay),
        ));
    }
    Ok(at)
}

fn write(broker: &Broker, body: &[u8]) -> Result<PendingDelayed> {
    let (view, deliveries) = decode_delayed_view(body)?;
    let admitted = ingest::admit(broker, &view, Entry::Delayed)?;
    let count = view.messages.len();
    let config = broker.delays.config();
    let mut records = Vec::with_capacity(count);
    let mut schedules = Vec::with_capacity(count);
    for (i, ((mv, d), (queue, id))) in view
        .messages
        .iter()
        .zip(deliveries)
        .zip(admitted.placed)
        .enumerate()
    {
        let deliver_at = resolve(d, admitted.now, config)
            .map_err(|why| BrokerError::InvalidArgument(format!("message {i}: {why}")))?;
        records.push(DelayRecord {
            raw: &mv.message,
            id,
            splice: mv.splice,
            deliver_at,
            topic: view.topic,
            queue,
        });
        schedules.push(Schedule {
            due: deliver_at,
            topic_id: admitted.meta.id,
            queue,
        });
    }
    let acks = records
        .iter()
        .map(|r| ScheduledAck {
            queue: r.queue,
            id: r.id,
            deliver_at: r.deliver_at,
        })
        .collect();
    let pending = broker.delays.schedule_records(
        &records,
        &schedules,
        admitted.producer,
        admitted.meta.durability,
    )?;
    Ok(PendingDelayed {
        store: broker.store.clone(),
        durability: admitted.meta.durability,
        acks,
        pending,
    })
}

struct PendingDelayed {
    store: Arc<Store>,
    durability: crate::storage::Durability,
    acks: Vec<ScheduledAck>,
    pending: PendingAppend,
}

impl PendingDelayed {
    fn finish(self) -> Result<Response> {
        let duplicate = self.pending.is_duplicate();
        let appended = self.pending.wait()?;
        let acks = if duplicate {
            // A resend: answer with what was stored the first time.
            let stored = self.store.read(
                DELAY_TOPIC,
                0,
                appended.first_offset,
                appended.count as usize,
                usize::MAX,
            )?;
            stored
                .messages
                .into_iter()
                .map(|m| ScheduledAck {
                    queue: prop(&m.message.properties, PROP_QUEUE),
                    id: m.message.id,
                    deliver_at: prop(&m.message.properties, PROP_DELIVER_AT),
                })
                .collect()
        } else {
            self.acks
        };
        Ok(Response::Scheduled { duplicate, acks })
    }
}

fn prop<T: std::str::FromStr + Default>(
    props: &std::collections::BTreeMap<String, String>,
    name: &str,
) -> T {
    props
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_resolve_to_times_and_the_limits_are_named() {
        let c = DelayConfig::default();
        let now = 1_000_000;
        assert_eq!(
            resolve(Delivery::At(5), now, &c),
            Ok(5),
            "a past time stays: at once"
        );
        assert_eq!(resolve(Delivery::After(1_500), now, &c), Ok(now + 1_500));
        let levels: Vec<i64> = (1..=18)
            .map(|l| resolve(Delivery::Level(l), now, &c).unwrap() - now)
            .collect();
        assert_eq!(
            levels,
            vec![
                1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000,
                420_000, 480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000
            ],
            "RocketMQ's 18 levels"
        );
        let e = resolve(Delivery::Level(19), now, &c).unwrap_err();
        assert!(e.contains("1 to 18"), "{e}");
        assert!(resolve(Delivery::Level(0), now, &c).is_err());
        let year: u64 = 365 * 24 * 3600 * 1000;
        assert_eq!(
            resolve(Delivery::After(year), now, &c),
            Ok(now + year as i64)
        );
        let e = resolve(Delivery::After(year + 1), now, &c).unwrap_err();
        assert!(e.contains("max_delay") && e.contains("365d"), "{e}");
    }
}
