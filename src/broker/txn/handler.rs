//! The Txn family: TxnBegin, TxnSend (half messages, routed to queues as Produce routes them,
//! decoded without copying), TxnEnd, TxnList, and TxnCheckAnswer. Begin, sends and end are
//! applied in their stream's order. TxnCheckListen opens a check
//! stream, which the transport serves (`transport::check_stream`).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::broker::delay::handler::resolve;
use crate::broker::ingest::{self, Entry};
use crate::broker::{Broker, BrokerError, Result, blocking};
use crate::protocol::{
    MAX_TXN_NAME, Request, Response, ScheduledAck, TxnRequest, TxnSend, decode_send_view,
};
use crate::storage::timers::{PROP_DELIVER_AT, PROP_QUEUE};
use crate::storage::{PendingAppend, Store};

use super::record::{HALVES_QUEUE, HalfRecord, TXN_TOPIC};

pub(in crate::broker) async fn handle(broker: &Arc<Broker>, r: TxnRequest) -> Result<Response> {
    let txns = broker.txns.clone();
    match r {
        TxnRequest::Begin {
            id,
            producer_group,
            timeout_ms,
        } => {
            blocking(move || {
                txns.begin(&id, &producer_group, timeout_ms)?;
                Ok(Response::Done)
            })
            .await
        }
        TxnRequest::Send(s) => dispatch_send(broker, body_of(s))
            .await
            .await
            .map_err(|e| BrokerError::Internal(format!("transaction send failed: {e}")))?,
        TxnRequest::End { id, outcome } => {
            blocking(move || Ok(Response::TxnEnded(txns.end(&id, outcome)?.finish()?))).await
        }
        TxnRequest::List => blocking(move || Ok(Response::Transactions(txns.list()))).await,
        // Outside a check stream an answer was asked nothing: it changes nothing (a TxnEnd,
        // which is access-checked on the transaction's group, ends a transaction).
        TxnRequest::Answer { id, .. } => {
            tracing::debug!(txn = %id, "a check-back answer outside a check stream is ignored");
            Ok(Response::Done)
        }
        TxnRequest::Listen { .. } => Err(BrokerError::InvalidArgument(
            "TxnCheckListen must be the first frame of its own stream".into(),
        )),
    }
}

/// Applies a TxnBegin or TxnEnd before returning, so that the requests after it on its
/// stream see it (a producer may pipeline a whole transaction on one stream); the task
/// completes with the answer (for an end, once it is durable).
pub(in crate::broker) async fn dispatch_ordered(
    broker: &Arc<Broker>,
    r: TxnRequest,
) -> JoinHandle<Result<Response>> {
    let txns = broker.txns.clone();
    match r {
        TxnRequest::End { id, outcome } => match blocking(move || txns.end(&id, outcome)).await {
            Ok(pending) => {
                tokio::task::spawn_blocking(move || Ok(Response::TxnEnded(pending.finish()?)))
            }
            Err(e) => tokio::spawn(async move { Err(e) }),
        },
        other => {
            let answer = handle(broker, other).await;
            tokio::spawn(async move { answer })
        }
    }
}

/// An owned TxnSend as the frame body [`dispatch_send`] decodes.
pub(in crate::broker) fn body_of(s: TxnSend) -> Vec<u8> {
    let mut body = Vec::new();
    Request::Txn(TxnRequest::Send(s)).encode_body(&mut body);
    body
}

/// Writes the half messages of a TxnSend body before returning (so a stream's sends keep
/// their order); the task completes with the acknowledgement once they are durable.
pub(in crate::broker) async fn dispatch_send(
    broker: &Arc<Broker>,
    body: Vec<u8>,
) -> JoinHandle<Result<Response>> {
    let this = broker.clone();
    match blocking(move || write(&this, &body)).await {
        Ok(pending) => tokio::task::spawn_blocking(move || pending.finish()),
        Err(e) => tokio::spawn(async move { Err(e) }),
    }
}

fn write(broker: &Broker, body: &[u8]) -> Result<PendingPrepared> {
    let (id, view, deliveries) = decode_send_view(body)?;
    if id.is_empty() || id.len() > MAX_TXN_NAME {
        return Err(BrokerError::InvalidArgument(format!(
            "a transaction id has 1 to {MAX_TXN_NAME} bytes, not {}",
            id.len()
        )));
    }
    let admitted = ingest::admit(broker, &view, Entry::Half)?;
    let count = view.messages.len();
    let config = broker.delays.config();
    let mut halves = Vec::with_capacity(count);
    for (i, (mv, (queue, mid))) in view.messages.iter().zip(admitted.placed).enumerate() {
        let deliver_at = match deliveries.get(i) {
            None => None,
            Some(d) => Some(
                resolve(*d, admitted.now, config)
                    .map_err(|why| BrokerError::InvalidArgument(format!("message {i}: {why}")))?,
            ),
        };
        halves.push(HalfRecord {
            raw: &mv.message,
            id: mid,
            splice: mv.splice,
            topic: view.topic,
            queue,
            txn: id,
            deliver_at,
        });
    }
    let acks = halves
        .iter()
        .map(|h| ScheduledAck {
            queue: h.queue,
            id: h.id,
            deliver_at: h.deliver_at.unwrap_or(0),
        })
        .collect();
    let pending = broker
        .txns
        .send(id, &halves, admitted.producer, admitted.meta.durability)?;
    Ok(PendingPrepared {
        store: broker.store.clone(),
        acks,
        pending,
    })
}

struct PendingPrepared {
    store: Arc<Store>,
    acks: Vec<ScheduledAck>,
    pending: PendingAppend,
}

impl PendingPrepared {
    fn finish(self) -> Result<Response> {
        let duplicate = self.pending.is_duplicate();
        let appended = self.pending.wait()?;
        if !duplicate {
            return Ok(Response::Prepared {
                duplicate,
                acks: self.acks,
            });
        }
        // A resend: answer with what was stored the first time.
        let stored = self.store.read(
            TXN_TOPIC,
            HALVES_QUEUE,
            appended.first_offset,
            appended.count as usize,
            usize::MAX,
        )?;
        let prop = |m: &crate::storage::StoredMessage, name: &str| {
            m.message
                .properties
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or_default()
        };
        let acks = stored
            .messages
            .iter()
            .map(|m| ScheduledAck {
                queue: prop(m, PROP_QUEUE) as u32,
                id: m.message.id,
                deliver_at: prop(m, PROP_DELIVER_AT),
            })
            .collect();
        Ok(Response::Prepared { duplicate, acks })
    }
}
