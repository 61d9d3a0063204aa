//! A batching, pipelining, idempotent producer on one stream, which resends what was not
//! acknowledged when the stream or the connection fails.
//!
//! `send_async` queues a message; the producer's driver task packs queued messages into produce
//! requests (up to `max_batch_bytes`, waiting up to `linger` for more), writes them without
//! waiting for earlier answers (up to `max_in_flight` batches), and matches the in-order answers
//! to the waiting senders. Every batch carries the producer's id and its own sequence number and
//! is kept, encoded, until it is answered. When the stream or connection fails (or the server is
//! shutting down), the driver reconnects with back-off and writes the unanswered batches again,
//! unchanged: the server recognizes any it had stored and answers with their original offsets,
//! so a retry never stores a message twice.
//!
//! `send_delayed` queues a delay message the same way; consecutive delay messages share a
//! ProduceDelayed batch, and batches of both kinds share the pipeline and its sequence.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Client, ClientError, read_response_of};
use crate::protocol::RoutedAck;
use crate::protocol::{
    Ack, DelayRequest, DelayedProduce, Delivery, Kind, ProduceMessage, ProduceRequest, Request,
    Response, ScheduledAck, Status, frame_with_flags,
};
use crate::record;

/// A produce body's bytes besides its messages (topic, producer, sequence, count), at most.
const FRAME_OVERHEAD: usize = 1024;

/// About the bytes a message takes in a produce body (at least: its content, its route, its
/// id, birth time and delivery; the limit itself is checked exactly before sending).
fn wire_len(m: &crate::protocol::ProduceMessage) -> usize {
    let key = match &m.route {
        crate::protocol::Route::Key(k) => k.len(),
        _ => 0,
    };
    record::content_len(&m.message) + key + 64
}

#[derive(Debug, Clone)]
pub struct ProducerOptions {
    pub topic: String,
    /// How long a batch waits for more messages before it is sent. Zero: send what is queued.
    pub linger: Duration,
    /// A batch is sent once its messages reach this size.
    pub max_batch_bytes: usize,
    /// Or this many messages (keep it within the server's `max_batch_messages`).
    pub max_batch_messages: usize,
    /// Batches sent and not yet answered, at most. An idempotent producer keeps within the
    /// batches the server remembers per queue ([`crate::record::KEEP_BATCHES`], 64), so a
    /// resend after any crash is still recognized.
    pub max_in_flight: usize,
    /// Stamp batches with a producer id and sequence so that the server stores a resent batch
    /// only once (see `docs/protocol.md`). Retries need it.
    pub idempotent: bool,
    /// Reconnect-and-resend attempts after a failure before unanswered sends fail.
    pub retries: u32,
    /// A batch unanswered this long counts as a failure: the connection is given up and the
    /// unanswered batches are resent on a new one. (A server that crashed and came back cannot
    /// tell the old connection it is gone.)
    pub request_timeout: Duration,
}

impl ProducerOptions {
    pub fn new(topic: impl Into<String>) -> ProducerOptions {
        ProducerOptions {
            topic: topic.into(),
            linger: Duration::ZERO,
            max_batch_bytes: 1 << 20,
            max_batch_messages: 1000,
            max_in_flight: 64,
            idempotent: true,
            retries: 10,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What the server answered for one message.
enum Answer {
    Stored(Ack),
    Scheduled(ScheduledAck),
    Routed(RoutedAck),
}

/// A message's acknowledgement, whether its topic routes messages or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledged {
    /// Stored in the topic produced to.
    Stored(Ack),
    /// Through the topic's ingress pipeline: where it went.
    Routed(RoutedAck),
}

type Done = oneshot::Sender<Result<Answer, ClientError>>;

struct Outgoing {
    message: ProduceMessage,
    /// A delay message's delivery time.
    delivery: Option<Delivery>,
    done: Option<Done>,
}

/// A batch written and not yet answered: its frame, kept for resending.
struct InFlight {
    kind: Kind,
    frame: Vec<u8>,
    dones: Vec<Option<Done>>,
    /// When it was last written.
    sent_at: tokio::time::Instant,
}

pub struct Producer {
    tx: mpsc::Sender<Outgoing>,
    driver: JoinHandle<()>,
}

/// Resolves to the acknowledgement of one message.
pub struct SendHandle(oneshot::Receiver<Result<Answer, ClientError>>);

/// Resolves to the acknowledgement of one delay message: where and when it will be delivered.
pub struct ScheduleHandle(oneshot::Receiver<Result<Answer, ClientError>>);

fn answered(
    r: Result<Result<Answer, ClientError>, oneshot::error::RecvError>,
) -> Result<Answer, ClientError> {
    r.unwrap_or_else(|_| {
        Err(ClientError::Stream(
            "the producer stopped before an answer".into(),
        ))
    })
}

/// Resolves to the acknowledgement of one message, routed or not ([`Producer::send_any`]).
pub struct AnyHandle(oneshot::Receiver<Result<Answer, ClientError>>);

impl Future for SendHandle {
    type Output = Result<Ack, ClientError>;
    /// On a topic with an ingress pipeline: the first place the message was stored (its
    /// original's, for a duplicate); [`Producer::send_any`] tells every place.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| match answered(r)? {
            Answer::Stored(ack) => Ok(ack),
            Answer::Routed(r) => match r.destinations.first() {
                Some(d) => Ok(Ack {
                    queue: d.queue,
                    offset: d.offset,
                    id: r.id,
                }),
                None => Err(ClientError::Dropped { id: r.id }),
            },
            Answer::Scheduled(_) => Err(ClientError::Unexpected {
                asked: Kind::Produce,
            }),
        })
    }
}

impl Future for AnyHandle {
    type Output = Result<Acknowledged, ClientError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| match answered(r)? {
            Answer::Stored(ack) => Ok(Acknowledged::Stored(ack)),
            Answer::Routed(r) => Ok(Acknowledged::Routed(r)),
            Answer::Scheduled(_) => Err(ClientError::Unexpected {
                asked: Kind::Produce,
            }),
        })
    }
}

impl Future for ScheduleHandle {
    type Output = Result<ScheduledAck, ClientError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| match answered(r)? {
            Answer::Scheduled(ack) => Ok(ack),
            Answer::Stored(_) | Answer::Routed(_) => Err(ClientError::Unexpected {
                asked: Kind::ProduceDelayed,
            }),
        })
    }
}

impl Producer {
    pub(super) async fn start(
        client: Client,
        opts: ProducerOptions,
    ) -> Result<Producer, ClientError> {
        let link = Link::open(&client).await?;
        let (tx, rx) = mpsc::channel(opts.max_in_flight.max(1) * 1024);
        let driver = tokio::spawn(
            Driver {
                client,
                opts,
                link,
                in_flight: VecDeque::new(),
                carry: None,
                producer_id: 0,
                sequence: 0,
                throttled_until: None,
            }
            .run(rx),
        );
        Ok(Producer { tx, driver })
    }

    /// Sends a message and waits for its acknowledgement.
    pub async fn send(&self, message: ProduceMessage) -> Result<Ack, ClientError> {
        self.send_async(message).await?.await
    }

    /// Sends a message and waits for its acknowledgement, which on a topic with an ingress
    /// pipeline lists every place it went (or says it was a duplicate, or dropped).
    pub async fn send_any(&self, message: ProduceMessage) -> Result<Acknowledged, ClientError> {
        self.send_any_async(message).await?.await
    }

    /// [`Producer::send_any`], queued: the handle resolves to the acknowledgement.
    pub async fn send_any_async(&self, message: ProduceMessage) -> Result<AnyHandle, ClientError> {
        self.queue(message, None).await.map(AnyHandle)
    }

    /// Queues a message; the handle resolves to its acknowledgement. Waits only when the queue
    /// is full.
    pub async fn send_async(&self, message: ProduceMessage) -> Result<SendHandle, ClientError> {
        self.queue(message, None).await.map(SendHandle)
    }

    /// Sends a delay message (delivered to the topic at its time) and waits for the server to
    /// acknowledge it.
    pub async fn send_delayed(
        &self,
        message: ProduceMessage,
        delivery: Delivery,
    ) -> Result<ScheduledAck, ClientError> {
        self.send_delayed_async(message, delivery).await?.await
    }

    /// Queues a delay message; the handle resolves to its acknowledgement.
    pub async fn send_delayed_async(
        &self,
        message: ProduceMessage,
        delivery: Delivery,
    ) -> Result<ScheduleHandle, ClientError> {
        self.queue(message, Some(delivery))
            .await
            .map(ScheduleHandle)
    }

    async fn queue(
        &self,
        message: ProduceMessage,
        delivery: Option<Delivery>,
    ) -> Result<oneshot::Receiver<Result<Answer, ClientError>>, ClientError> {
        record::check_limits(&message.message).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Outgoing {
                message,
                delivery,
                done: Some(done),
            })
            .await
            .map_err(|_| ClientError::Stream("the producer has stopped".into()))?;
        Ok(rx)
    }

    /// Queues a message without waiting for (or reporting) its acknowledgement.
    pub async fn send_oneway(&self, message: ProduceMessage) -> Result<(), ClientError> {
        record::check_limits(&message.message).map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.tx
            .send(Outgoing {
                message,
                delivery: None,
                done: None,
            })
            .await
            .map_err(|_| ClientError::Stream("the producer has stopped".into()))
    }

    /// Sends everything queued, waits for every answer, and closes the producer's stream.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.driver.await;
    }
}

/// One stream: its send side, and the answers its reader task decodes.
struct Link {
    send: crate::stream::SendStream,
    answers: mpsc::Receiver<Result<Response, ClientError>>,
}

impl Link {
    async fn open(client: &Client) -> Result<Link, ClientError> {
        let (send, mut recv) = client.conn.open_bi().await?;
        let (tx, answers) = mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                let answer = read_response_of(&mut recv, &[Kind::Produce, Kind::ProduceDelayed])
                    .await
                    .map(|(_, r)| r);
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Link { send, answers })
    }
}

struct Driver {
    client: Client,
    opts: ProducerOptions,
    link: Link,
    in_flight: VecDeque<InFlight>,
    /// A message that ended the last batch by being of the other kind: it starts the next.
    carry: Option<Outgoing>,
    producer_id: u64,
    sequence: u64,
    /// The server throttled this producer (over its quota): no batch is written before then.
    throttled_until: Option<tokio::time::Instant>,
}

impl Driver {
    /// Batches that may be unanswered at once.
    fn pipeline_depth(&self) -> usize {
        let depth = self.opts.max_in_flight.max(1);
        if self.opts.idempotent {
            depth.min(crate::record::KEEP_BATCHES)
        } else {
            depth
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Outgoing>) {
        // A random non-zero id names this producer; its batches are numbered from 0.
        self.producer_id = if self.opts.idempotent {
            fastrand::u64(1..)
        } else {
            0
        };
        let mut closing = false;
        let mut failures = 0u32;
        loop {
            if closing && self.in_flight.is_empty() {
                self.link.send.finish();
                return;
            }
            let room = self.in_flight.len() < self.pipeline_depth();
            if room && let Some(first) = self.carry.take() {
                let batch = self.gather(first, &mut rx).await;
                if let Err(e) = self.write(batch).await {
                    failures = self.recover(failures, e).await;
                }
                continue;
            }
            let deadline = self
                .in_flight
                .front()
                .map(|b| b.sent_at + self.opts.request_timeout);
            tokio::select! {
                () = sleep_until_some(deadline) => {
                    let error = ClientError::Stream(format!("no answer within {:?}", self.opts.request_timeout));
                    self.client.conn.close(0, "no answer");
                    failures = self.recover(failures, error).await;
                }
                next = rx.recv(), if room && !closing => match next {
                    None => closing = true,
                    Some(first) => {
                        let batch = self.gather(first, &mut rx).await;
                        if let Err(e) = self.write(batch).await {
                            failures = self.recover(failures, e).await;
                        }
                    }
                },
                answer = self.link.answers.recv() => {
                    let answer = answer.unwrap_or_else(|| Err(ClientError::Stream("the stream ended".into())));
                    match answer {
                        // Nothing was stored: resend what is unanswered after a pause (a server
                        // going away, or a topic whose ingress plugin is still compiling).
                        Ok(Response::Error { status: status @ (Status::ShuttingDown | Status::NotReady), message, detail }) => {
                            failures = self.recover(failures, ClientError::Server { status, message, detail }).await;
                        }
                        Ok(answer) => {
                            failures = 0;
                            self.answer(answer);
                        }
                        Err(e) => failures = self.recover(failures, e).await,
                    }
                }
            }
        }
    }

    /// The first message plus whatever else is queued (or arrives within `linger`).
    async fn gather(
        &mut self,
        first: Outgoing,
        rx: &mut mpsc::Receiver<Outgoing>,
    ) -> Vec<Outgoing> {
        let mut bytes = wire_len(&first.message);
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + self.opts.linger;
        // A batch never grows past the server's frame limit (with room for each message's
        // framing): only a message too large on its own is refused.
        let frame_room = (self.client.max_frame() as usize).saturating_sub(FRAME_OVERHEAD);
        while bytes < self.opts.max_batch_bytes && batch.len() < self.opts.max_batch_messages {
            let next = if self.opts.linger.is_zero() {
                rx.try_recv().ok()
            } else {
                tokio::time::timeout_at(deadline, rx.recv())
                    .await
                    .ok()
                    .flatten()
            };
            match next {
                Some(m) if m.delivery.is_some() != batch[0].delivery.is_some() => {
                    self.carry = Some(m);
                    break;
                }
                Some(m) => {
                    let len = wire_len(&m.message);
                    if bytes + len > frame_room {
                        self.carry = Some(m);
                        break;
                    }
                    bytes += len;
                    batch.push(m);
                }
                None => break,
            }
        }
        batch
    }

    /// Encodes a batch with the next sequence, keeps it, and writes it (after the throttle
    /// time the server last asked for).
    async fn write(&mut self, batch: Vec<Outgoing>) -> Result<(), ClientError> {
        if let Some(until) = self.throttled_until.take() {
            tokio::time::sleep_until(until).await;
        }
        let delayed = batch[0].delivery.is_some();
        let mut messages = Vec::with_capacity(batch.len());
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut dones = Vec::with_capacity(batch.len());
        for o in batch {
            messages.push(o.message);
            deliveries.extend(o.delivery);
            dones.push(o.done);
        }
        let produce = ProduceRequest {
            topic: self.opts.topic.clone(),
            producer_id: self.producer_id,
            sequence: self.sequence,
            messages,
        };
        let request = if delayed {
            Request::Delay(DelayRequest::Produce(DelayedProduce {
                produce,
                deliveries,
            }))
        } else {
            Request::Produce(produce)
        };
        let kind = request.kind();
        let mut body = Vec::new();
        request.encode_body(&mut body);
        if let Err(e) = self.client.check_frame(&body) {
            // Never sent, so never resent: only these messages fail, with the limit named.
            tracing::warn!(error = %e, "a produce batch is refused before sending");
            for d in dones.into_iter().flatten() {
                let _ = d.send(Err(ClientError::FrameTooLarge {
                    size: body.len(),
                    limit: self.client.max_frame(),
                }));
            }
            return Ok(());
        }
        self.sequence += u64::from(self.producer_id != 0);
        // Produce asks for a compact answer (runs instead of one ack per message); the
        // decoded acks are the same.
        let flags = if kind == Kind::Produce {
            crate::protocol::compact::ASK_COMPACT
        } else {
            0
        };
        let frame = frame_with_flags(kind as u16, flags, self.client.next_id(), &body);
        self.in_flight.push_back(InFlight {
            kind,
            frame,
            dones,
            sent_at: tokio::time::Instant::now(),
        });
        let frame = &self.in_flight.back().expect("just pushed").frame;
        self.link.send.write_all(frame).await
    }

    /// Resolves the oldest batch with its answer.
    fn answer(&mut self, answer: Response) {
        if let Response::Produced { throttle_ms, .. } | Response::Routed { throttle_ms, .. } =
            &answer
            && *throttle_ms > 0
        {
            self.throttled_until = Some(
                tokio::time::Instant::now()
                    + std::time::Duration::from_millis(u64::from(*throttle_ms)),
            );
        }
        let Some(batch) = self.in_flight.pop_front() else {
            tracing::warn!("an answer arrived for no batch");
            return;
        };
        match answer {
            Response::Produced { acks, .. }
                if acks.len() == batch.dones.len() && batch.kind == Kind::Produce =>
            {
                for (done, ack) in batch.dones.into_iter().zip(acks) {
                    if let Some(d) = done {
                        let _ = d.send(Ok(Answer::Stored(ack)));
                    }
                }
            }
            Response::Routed { acks, .. }
                if acks.len() == batch.dones.len() && batch.kind == Kind::Produce =>
            {
                for (done, ack) in batch.dones.into_iter().zip(acks) {
                    if let Some(d) = done {
                        let _ = d.send(Ok(Answer::Routed(ack)));
                    }
                }
            }
            Response::Scheduled { acks, .. }
                if acks.len() == batch.dones.len() && batch.kind == Kind::ProduceDelayed =>
            {
                for (done, ack) in batch.dones.into_iter().zip(acks) {
                    if let Some(d) = done {
                        let _ = d.send(Ok(Answer::Scheduled(ack)));
                    }
                }
            }
            Response::Error {
                status,
                message,
                detail,
            } => {
                if batch.dones.iter().all(Option::is_none) {
                    tracing::warn!(%message, "a one-way produce batch was refused");
                }
                for d in batch.dones.into_iter().flatten() {
                    let _ = d.send(Err(ClientError::Server {
                        status,
                        message: message.clone(),
                        detail,
                    }));
                }
            }
            _ => {
                let asked = batch.kind;
                fail(batch, &ClientError::Unexpected { asked })
            }
        }
    }

    /// After a failure: reconnect (with back-off) and write every unanswered batch again, in
    /// order. Without idempotence, or after `retries` failures in a row, the unanswered sends
    /// fail instead. Returns the count of failures in a row.
    async fn recover(&mut self, mut failures: u32, error: ClientError) -> u32 {
        loop {
            failures += 1;
            if self.producer_id == 0 || failures > self.opts.retries {
                tracing::warn!(error = %error, "producer gives up on its unanswered batches");
                for batch in self.in_flight.drain(..) {
                    fail(batch, &error);
                }
                if let Ok(link) = Link::open(&self.client).await {
                    self.link = link;
                }
                return 0;
            }
            let backoff = Duration::from_millis(100 << (failures - 1).min(4));
            tracing::info!(error = %error, attempt = failures, "producer reconnecting to resend {} batches", self.in_flight.len());
            tokio::time::sleep(backoff).await;
            let client = match self.client.conn.close_reason() {
                None => Ok(self.client.clone()),
                Some(_) => {
                    match tokio::time::timeout(self.opts.request_timeout, self.client.reconnect())
                        .await
                    {
                        Ok(result) => result,
                        Err(_) => continue, // no answer to the handshake yet
                    }
                }
            };
            let Ok(client) = client else { continue };
            let Ok(mut link) = Link::open(&client).await else {
                continue;
            };
            let mut resent = true;
            for batch in &mut self.in_flight {
                batch.sent_at = tokio::time::Instant::now();
                if link.send.write_all(&batch.frame).await.is_err() {
                    resent = false;
                    break;
                }
            }
            if resent {
                self.client = client;
                self.link = link;
                return failures;
            }
        }
    }
}

fn fail(batch: InFlight, error: &ClientError) {
    for d in batch.dones.into_iter().flatten() {
        let _ = d.send(Err(match error {
            ClientError::Server {
                status,
                message,
                detail,
            } => ClientError::Server {
                status: *status,
                message: message.clone(),
                detail: *detail,
            },
            other => ClientError::Stream(other.to_string()),
        }));
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
