//! A batching, pipelining producer on one stream.
//!
//! `send_async` queues a message; a batcher task packs queued messages into produce requests
//! (up to `max_batch_bytes`, waiting up to `linger` for more) and writes them on the producer's
//! stream without waiting for earlier answers (up to `max_in_flight` batches outstanding). A
//! reader task matches the in-order responses to the waiting senders.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Client, ClientError, read_response};
use crate::protocol::{Ack, Kind, ProduceMessage, ProduceRequest, Request, Response, frame};
use crate::storage::record;

#[derive(Debug, Clone)]
pub struct ProducerOptions {
    pub topic: String,
    /// How long a batch waits for more messages before it is sent. Zero: send what is queued.
    pub linger: Duration,
    /// A batch is sent once its messages reach this size.
    pub max_batch_bytes: usize,
    /// Batches sent and not yet answered, at most.
    pub max_in_flight: usize,
    /// Stamp batches with a producer id and sequence so that the server stores a resent batch
    /// only once (see `docs/protocol.md`).
    pub idempotent: bool,
}

impl ProducerOptions {
    pub fn new(topic: impl Into<String>) -> ProducerOptions {
        ProducerOptions {
            topic: topic.into(),
            linger: Duration::ZERO,
            max_batch_bytes: 1 << 20,
            max_in_flight: 64,
            idempotent: true,
        }
    }
}

type Done = oneshot::Sender<Result<Ack, ClientError>>;

struct Outgoing {
    message: ProduceMessage,
    done: Option<Done>,
}

pub struct Producer {
    tx: mpsc::Sender<Outgoing>,
    batcher: JoinHandle<()>,
    reader: JoinHandle<()>,
}

/// Resolves to the acknowledgement of one message.
pub struct SendHandle(oneshot::Receiver<Result<Ack, ClientError>>);

impl Future for SendHandle {
    type Output = Result<Ack, ClientError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(ClientError::Stream(
                    "the producer stopped before an answer".into(),
                ))
            })
        })
    }
}

impl Producer {
    pub(super) async fn start(
        client: Client,
        opts: ProducerOptions,
    ) -> Result<Producer, ClientError> {
        let (send, recv) = client.conn.open_bi().await?;
        let (tx, rx) = mpsc::channel(opts.max_in_flight.max(1) * 1024);
        let (in_flight_tx, in_flight_rx) = mpsc::channel(opts.max_in_flight.max(1));
        let reader = tokio::spawn(read_acks(recv, in_flight_rx));
        let batcher = tokio::spawn(batch_and_send(client, opts, rx, send, in_flight_tx));
        Ok(Producer {
            tx,
            batcher,
            reader,
        })
    }

    /// Sends a message and waits for its acknowledgement.
    pub async fn send(&self, message: ProduceMessage) -> Result<Ack, ClientError> {
        self.send_async(message).await?.await
    }

    /// Queues a message; the handle resolves to its acknowledgement. Waits only when the queue
    /// is full.
    pub async fn send_async(&self, message: ProduceMessage) -> Result<SendHandle, ClientError> {
        record::check_limits(&message.message).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Outgoing {
                message,
                done: Some(done),
            })
            .await
            .map_err(|_| ClientError::Stream("the producer has stopped".into()))?;
        Ok(SendHandle(rx))
    }

    /// Queues a message without waiting for (or reporting) its acknowledgement.
    pub async fn send_oneway(&self, message: ProduceMessage) -> Result<(), ClientError> {
        record::check_limits(&message.message).map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.tx
            .send(Outgoing {
                message,
                done: None,
            })
            .await
            .map_err(|_| ClientError::Stream("the producer has stopped".into()))
    }

    /// Sends everything queued, waits for every answer, and closes the producer's stream.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.batcher.await;
        let _ = self.reader.await;
    }
}

async fn batch_and_send(
    client: Client,
    opts: ProducerOptions,
    mut rx: mpsc::Receiver<Outgoing>,
    mut send: quinn::SendStream,
    in_flight: mpsc::Sender<Vec<Option<Done>>>,
) {
    let mut body = Vec::new();
    // A random non-zero id names this producer; its batches are numbered from 0.
    let producer_id = if opts.idempotent {
        fastrand::u64(1..)
    } else {
        0
    };
    let mut sequence = 0u64;
    while let Some(first) = rx.recv().await {
        let mut bytes = record::content_len(&first.message.message);
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + opts.linger;
        while bytes < opts.max_batch_bytes {
            let next = if opts.linger.is_zero() {
                rx.try_recv().ok()
            } else {
                tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten()
            };
            match next {
                Some(m) => {
                    bytes += record::content_len(&m.message.message);
                    batch.push(m);
                }
                None => break,
            }
        }
        let (messages, dones): (Vec<ProduceMessage>, Vec<Option<Done>>) =
            batch.into_iter().map(|o| (o.message, o.done)).unzip();
        body.clear();
        Request::Produce(ProduceRequest {
            topic: opts.topic.clone(),
            producer_id,
            sequence,
            messages,
        })
        .encode_body(&mut body);
        sequence += u64::from(producer_id != 0);
        // Announce the batch to the reader first, so its answer always has someone to go to.
        if in_flight.send(dones).await.is_err() {
            return;
        }
        if let Err(e) = send
            .write_all(&frame(Kind::Produce as u16, client.next_id(), &body))
            .await
        {
            tracing::warn!(error = %e, "producer stream failed");
            return;
        }
    }
    let _ = send.finish();
}

async fn read_acks(mut recv: quinn::RecvStream, mut in_flight: mpsc::Receiver<Vec<Option<Done>>>) {
    while let Some(dones) = in_flight.recv().await {
        match read_response(&mut recv, Kind::Produce).await {
            Ok((_, Response::Produced { acks, .. })) if acks.len() == dones.len() => {
                for (done, ack) in dones.into_iter().zip(acks) {
                    if let Some(d) = done {
                        let _ = d.send(Ok(ack));
                    }
                }
            }
            Ok((
                _,
                Response::Error {
                    status,
                    message,
                    detail,
                },
            )) => {
                if dones.iter().all(Option::is_none) {
                    tracing::warn!(%message, "a one-way produce batch was refused");
                }
                for d in dones.into_iter().flatten() {
                    let _ = d.send(Err(ClientError::Server {
                        status,
                        message: message.clone(),
                        detail,
                    }));
                }
            }
            Ok(_) => {
                fail_all(
                    dones,
                    &mut in_flight,
                    "the server answered a produce with something else",
                )
                .await
            }
            Err(e) => {
                let reason = e.to_string();
                fail_all(dones, &mut in_flight, &reason).await;
                return;
            }
        }
    }
}

/// Fails a batch and every batch after it (the stream can no longer be trusted).
async fn fail_all(
    dones: Vec<Option<Done>>,
    rest: &mut mpsc::Receiver<Vec<Option<Done>>>,
    reason: &str,
) {
    for d in dones.into_iter().flatten() {
        let _ = d.send(Err(ClientError::Stream(reason.to_string())));
    }
    rest.close();
    while let Some(more) = rest.recv().await {
        for d in more.into_iter().flatten() {
            let _ = d.send(Err(ClientError::Stream(reason.to_string())));
        }
    }
}
