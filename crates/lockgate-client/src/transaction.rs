//! Transactional producing: [`TransactionProducer::begin`] a transaction, [`Transaction::send`]
//! its messages (to any topics) as half messages, then [`Transaction::commit`] or
//! [`Transaction::rollback`]. Nothing a transaction sends is visible before its commit; on
//! commit all of it becomes visible at once.
//!
//! A producer that may crash between its own work and the commit registers a check listener
//! ([`TransactionProducer::listen`]): a callback the broker consults, over a check stream, about
//! transactions of the producer group that got no outcome in time. It answers commit, rollback
//! or unknown (ask again later).
//!
//! Sends are idempotent: each carries this producer's id and a sequence number, and a send
//! that fails on the connection is written again on a new one; the broker stores it once.
//! One producer's sends go one at a time (concurrent calls wait their turn); for concurrency,
//! use several producers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::{Client, ClientError, read_response_of};
use crate::protocol::{
    CheckAnswer, Delivery, Kind, Outcome, ProduceMessage, ProduceRequest, Request, Response,
    ScheduledAck, TxnEnded, TxnInfo, TxnRequest, TxnSend, frame,
};

#[derive(Debug, Clone)]
pub struct TransactionProducerOptions {
    /// Check-backs for this producer's transactions go to a listener of this group.
    pub producer_group: String,
    /// Sends are refused, and check-backs begin, this long after a begin. Zero: the server's
    /// `[transactions] check_after`.
    pub timeout: Duration,
    /// Attempts to write a request again on a new connection after the old one failed.
    pub retries: u32,
}

impl TransactionProducerOptions {
    pub fn new(producer_group: impl Into<String>) -> TransactionProducerOptions {
        TransactionProducerOptions {
            producer_group: producer_group.into(),
            timeout: Duration::ZERO,
            retries: 5,
        }
    }
}

pub struct TransactionProducer {
    client: Mutex<Client>,
    opts: TransactionProducerOptions,
    producer_id: u64,
    sequence: AtomicU64,
    /// Sends of one producer reach the server one at a time, in sequence order (the server
    /// refuses a sequence older than the last it saw from this producer).
    sending: Mutex<()>,
    listener: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// One transaction of a [`TransactionProducer`].
pub struct Transaction<'a> {
    producer: &'a TransactionProducer,
    id: String,
}

impl TransactionProducer {
    pub fn new(client: Client, opts: TransactionProducerOptions) -> TransactionProducer {
        TransactionProducer {
            client: Mutex::new(client),
            opts,
            producer_id: fastrand::u64(1..),
            sequence: AtomicU64::new(0),
            sending: Mutex::new(()),
            listener: std::sync::Mutex::new(None),
        }
    }

    /// Begins transaction `id` (a repeat for the same group is fine: it resumes it). The
    /// begin is answered before anything is sent for it: an id already open for another
    /// producer group is refused here, before a message of this producer could join that
    /// transaction.
    pub async fn begin(&self, id: &str) -> Result<Transaction<'_>, ClientError> {
        let req = Request::Txn(TxnRequest::Begin {
            id: id.to_string(),
            producer_group: self.opts.producer_group.clone(),
            timeout_ms: self.opts.timeout.as_millis() as u64,
        });
        ask!(self, req, Response::Done => self.resume(id))
    }

    /// A handle on transaction `id` without asking the server (e.g. to commit after a restart).
    pub fn resume(&self, id: &str) -> Transaction<'_> {
        Transaction {
            producer: self,
            id: id.to_string(),
        }
    }

    /// Answers the broker's check-backs for this producer group with `decide`, on a check
    /// stream kept open (and opened again after a connection failure) until the producer is
    /// dropped. Replaces an earlier listener.
    pub async fn listen(
        &self,
        decide: impl Fn(&TxnInfo) -> CheckAnswer + Send + Sync + 'static,
    ) -> Result<(), ClientError> {
        let client = self.client.lock().await.clone();
        let group = self.opts.producer_group.clone();
        // The first stream is opened here, so errors reach the caller.
        let stream = open_check_stream(&client, &group).await?;
        let decide = Arc::new(decide);
        let task = tokio::spawn(async move {
            let mut client = client;
            let mut stream = Some(stream);
            loop {
                if let Some((send, recv)) = stream.take() {
                    serve_checks(send, recv, decide.as_ref()).await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                if client.conn.close_reason().is_some() {
                    match client.reconnect().await {
                        Ok(c) => client = c,
                        Err(_) => continue,
                    }
                }
                stream = open_check_stream(&client, &group).await.ok();
            }
        });
        if let Some(old) = self.listener.lock().expect("listener lock").replace(task) {
            old.abort();
        }
        Ok(())
    }

    /// One request on its own stream, written again on a new connection if the old one fails.
    async fn call(&self, req: Request) -> Result<Response, ClientError> {
        let mut failures = 0;
        loop {
            let client = self.client.lock().await.clone();
            let answer = client.call(req.clone()).await;
            match answer {
                Err(e @ (ClientError::Connection(_) | ClientError::Stream(_)))
                    if failures < self.opts.retries =>
                {
                    failures += 1;
                    tracing::info!(error = %e, attempt = failures, "transaction request failed; reconnecting");
                    tokio::time::sleep(Duration::from_millis(100 << (failures - 1).min(4))).await;
                    if client.conn.close_reason().is_some()
                        && let Ok(c) = client.reconnect().await
                    {
                        *self.client.lock().await = c;
                    }
                }
                other => return other,
            }
        }
    }
}

impl Drop for TransactionProducer {
    fn drop(&mut self) {
        if let Some(t) = self.listener.lock().expect("listener lock").take() {
            t.abort();
        }
    }
}

impl Transaction<'_> {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sends `messages` to `topic` as half messages: stored, invisible until the commit.
    /// Returns each message's queue and id.
    pub async fn send(
        &self,
        topic: &str,
        messages: Vec<ProduceMessage>,
    ) -> Result<Vec<ScheduledAck>, ClientError> {
        self.send_with(topic, messages, Vec::new()).await
    }

    /// [`Transaction::send`] for messages delivered at their delivery times after the commit
    /// (one delivery per message).
    pub async fn send_delayed(
        &self,
        topic: &str,
        messages: Vec<ProduceMessage>,
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<ScheduledAck>, ClientError> {
        if deliveries.len() != messages.len() {
            return Err(ClientError::Invalid(format!(
                "{} deliveries for {} messages",
                deliveries.len(),
                messages.len()
            )));
        }
        self.send_with(topic, messages, deliveries).await
    }

    async fn send_with(
        &self,
        topic: &str,
        messages: Vec<ProduceMessage>,
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<ScheduledAck>, ClientError> {
        let p = self.producer;
        let _turn = p.sending.lock().await;
        let req = Request::Txn(TxnRequest::Send(TxnSend {
            id: self.id.clone(),
            produce: ProduceRequest {
                topic: topic.to_string(),
                producer_id: p.producer_id,
                sequence: p.sequence.fetch_add(1, Ordering::Relaxed),
                messages,
            },
            deliveries,
        }));
        ask!(p, req, Response::Prepared { acks, .. } => acks)
    }

    /// Makes every message of the transaction visible, atomically. A repeat answers `already`.
    pub async fn commit(self) -> Result<TxnEnded, ClientError> {
        self.end(Outcome::Commit).await
    }

    /// Drops every message of the transaction; none is ever visible.
    pub async fn rollback(self) -> Result<TxnEnded, ClientError> {
        self.end(Outcome::Rollback).await
    }

    async fn end(&self, outcome: Outcome) -> Result<TxnEnded, ClientError> {
        let req = Request::Txn(TxnRequest::End {
            id: self.id.clone(),
            outcome,
        });
        ask!(self.producer, req, Response::TxnEnded(e) => e)
    }
}

impl Client {
    /// Transactions without an outcome (open or parked), oldest first.
    pub async fn list_transactions(&self) -> Result<Vec<TxnInfo>, ClientError> {
        ask!(self, Request::Txn(TxnRequest::List), Response::Transactions(list) => list)
    }

    /// Commits or rolls back transaction `id`, as an operator.
    pub async fn end_transaction(
        &self,
        id: &str,
        outcome: Outcome,
    ) -> Result<TxnEnded, ClientError> {
        let req = Request::Txn(TxnRequest::End {
            id: id.to_string(),
            outcome,
        });
        ask!(self, req, Response::TxnEnded(e) => e)
    }
}

type Stream = (crate::stream::SendStream, crate::stream::RecvStream);

async fn open_check_stream(client: &Client, group: &str) -> Result<Stream, ClientError> {
    let (mut send, mut recv) = client.conn.open_bi().await?;
    let mut body = Vec::new();
    Request::Txn(TxnRequest::Listen {
        producer_group: group.to_string(),
    })
    .encode_body(&mut body);
    send.write_all(&frame(Kind::TxnCheckListen as u16, client.next_id(), &body))
        .await?;
    match super::into_result(read_response_of(&mut recv, &[Kind::TxnCheckListen]).await?)? {
        Response::Done => Ok((send, recv)),
        _ => Err(ClientError::Unexpected {
            asked: Kind::TxnCheckListen,
        }),
    }
}

/// Answers check-backs on one stream until it fails.
async fn serve_checks(
    mut send: crate::stream::SendStream,
    mut recv: crate::stream::RecvStream,
    decide: &(dyn Fn(&TxnInfo) -> CheckAnswer + Send + Sync),
) {
    loop {
        let info = match read_response_of(&mut recv, &[Kind::TxnCheck]).await {
            Ok((_, Response::TxnCheck(info))) => info,
            _ => return,
        };
        let answer = decide(&info);
        let mut body = Vec::new();
        Request::Txn(TxnRequest::Answer {
            id: info.id.clone(),
            answer,
        })
        .encode_body(&mut body);
        if send
            .write_all(&frame(Kind::TxnCheckAnswer as u16, 0, &body))
            .await
            .is_err()
        {
            return;
        }
    }
}
