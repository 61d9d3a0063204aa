//! A fetch-based consumer: one long-polling reader per queue, each on its own stream (so queues
//! never wait behind each other), merged into one sequence of messages. Order is kept within a
//! queue; queues interleave. Offsets are the consumer's own (no group progress: consumer groups
//! come with their own requests).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Client, ClientError};
use crate::protocol::{Delivered, FetchRequest, FilterSpec, Status};

/// Where a consumer starts in each queue it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
    /// This offset in every queue read.
    Offset(u64),
    /// The first message stored at or after this time (ms since the Unix epoch).
    Time(i64),
}

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub topic: String,
    /// Queues to read; `None`: all of the topic's queues.
    pub queues: Option<Vec<u32>>,
    pub from: StartFrom,
    /// Messages per fetch.
    pub max_messages: u32,
    /// Bytes per fetch (at least one message is returned).
    pub max_bytes: u32,
    /// How long a fetch waits at the end of a queue before asking again.
    pub poll_wait: Duration,
    /// Only messages this filter selects are returned (`tag`, `sql92` or a configured plugin).
    pub filter: Option<FilterSpec>,
}

impl ConsumerOptions {
    pub fn new(topic: impl Into<String>, from: StartFrom) -> ConsumerOptions {
        ConsumerOptions {
            topic: topic.into(),
            queues: None,
            from,
            max_messages: 500,
            max_bytes: 4 << 20,
            poll_wait: Duration::from_secs(1),
            filter: None,
        }
    }
}

pub struct Consumer {
    rx: mpsc::Receiver<Result<Delivered, ClientError>>,
    readers: Vec<JoinHandle<()>>,
}

impl Consumer {
    pub(super) async fn start(
        client: Client,
        opts: ConsumerOptions,
    ) -> Result<Consumer, ClientError> {
        let (topic, ranges) = client.describe_topic(&opts.topic).await?;
        let queues = match &opts.queues {
            None => (0..topic.queues).collect(),
            Some(qs) => {
                if let Some(q) = qs.iter().find(|q| **q >= topic.queues) {
                    return Err(ClientError::Invalid(format!(
                        "topic {:?} has {} queues; there is no queue {q}",
                        opts.topic, topic.queues
                    )));
                }
                qs.clone()
            }
        };
        let (tx, rx) = mpsc::channel(4096);
        let mut readers = Vec::new();
        for q in queues {
            let range = ranges[q as usize];
            let offset = match opts.from {
                StartFrom::Earliest => range.earliest,
                StartFrom::Latest => range.next,
                StartFrom::Offset(n) => n,
                StartFrom::Time(t) => client.offset_for_time(&opts.topic, q, t).await?,
            };
            readers.push(tokio::spawn(read_queue(
                client.clone(),
                opts.clone(),
                q,
                offset,
                tx.clone(),
            )));
        }
        Ok(Consumer { rx, readers })
    }

    /// The next message from any queue; `None` once every reader has stopped.
    pub async fn next(&mut self) -> Option<Result<Delivered, ClientError>> {
        self.rx.recv().await
    }

    /// Stops reading.
    pub fn close(self) {
        for r in self.readers {
            r.abort();
        }
    }
}

async fn read_queue(
    client: Client,
    opts: ConsumerOptions,
    queue: u32,
    mut offset: u64,
    tx: mpsc::Sender<Result<Delivered, ClientError>>,
) {
    loop {
        let req = FetchRequest {
            topic: opts.topic.clone(),
            queue,
            offset,
            max_messages: opts.max_messages,
            max_bytes: opts.max_bytes,
            max_wait_ms: opts.poll_wait.as_millis().min(u128::from(u32::MAX)) as u32,
        };
        let fetched = match &opts.filter {
            None => client.fetch(req).await,
            Some(f) => client.fetch_filtered(req, f.clone()).await,
        };
        match fetched {
            Ok((next, messages)) => {
                offset = next;
                for m in messages {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
            }
            // Retention removed what was next: go on from the earliest still stored.
            Err(ClientError::Server {
                status: Status::OffsetTrimmed,
                detail,
                ..
            }) => offset = detail,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}
