//! `lockgate consume`: reads a topic's queues (or one) from a starting point and prints one
//! JSON object per message. Exits after `--max` messages, or once `--wait` passes with nothing
//! new.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{CliError, ConnectArgs, output::print_message};
use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::protocol::{Delivered, FetchRequest, Status};

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    #[arg(long)]
    pub topic: String,
    /// Only this queue [default: all]
    #[arg(long)]
    pub queue: Option<u32>,
    /// earliest, latest, or an offset (applied to each queue read)
    #[arg(long, default_value = "latest")]
    pub from: String,
    /// Stop after this many messages
    #[arg(long)]
    pub max: Option<u64>,
    /// Stop once this long passes with no new message, e.g. "2s" [default: never]
    #[arg(long, value_parser = parse_wait)]
    pub wait: Option<Duration>,
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    crate::config::units::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. \"500ms\", \"2s\")"))
}

enum Start {
    Earliest,
    Latest,
    Offset(u64),
}

pub async fn run(
    args: ConsumeArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let start =
        match args.from.as_str() {
            "earliest" => Start::Earliest,
            "latest" => Start::Latest,
            n => Start::Offset(n.parse().map_err(|_| {
                CliError(format!("--from {n:?} is not earliest, latest or an offset"))
            })?),
        };
    let client = connect.connect(config).await?;
    let (topic, ranges) = client.describe_topic(&args.topic).await?;
    let queues: Vec<u32> = match args.queue {
        Some(q) if q < topic.queues => vec![q],
        Some(q) => {
            return Err(CliError(format!(
                "topic {:?} has {} queues; there is no queue {q}",
                args.topic, topic.queues
            )));
        }
        None => (0..topic.queues).collect(),
    };
    let (tx, mut rx) = mpsc::channel::<Result<Delivered, ClientError>>(4096);
    let poll = args
        .wait
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1));
    let mut readers = Vec::new();
    for q in queues {
        let offset = match start {
            Start::Earliest => ranges[q as usize].earliest,
            Start::Latest => ranges[q as usize].next,
            Start::Offset(n) => n,
        };
        readers.push(tokio::spawn(read_queue(
            client.clone(),
            args.topic.clone(),
            q,
            offset,
            poll,
            tx.clone(),
        )));
    }
    drop(tx);
    let mut printed = 0u64;
    let outcome = loop {
        if args.max.is_some_and(|m| printed >= m) {
            break Ok(());
        }
        let next = match args.wait {
            Some(w) => match tokio::time::timeout(w, rx.recv()).await {
                Ok(m) => m,
                Err(_) => break Ok(()), // nothing new for --wait
            },
            None => rx.recv().await,
        };
        match next {
            Some(Ok(d)) => {
                print_message(&args.topic, &d, None);
                printed += 1;
            }
            Some(Err(e)) => break Err(CliError(e.to_string())),
            None => break Ok(()),
        }
    };
    for r in readers {
        r.abort();
    }
    client.close().await;
    outcome
}

/// Long-polls one queue on its own stream, so queues never wait behind each other.
async fn read_queue(
    client: Client,
    topic: String,
    queue: u32,
    mut offset: u64,
    poll: Duration,
    tx: mpsc::Sender<Result<Delivered, ClientError>>,
) {
    loop {
        let req = FetchRequest {
            topic: topic.clone(),
            queue,
            offset,
            max_messages: 500,
            max_bytes: 4 << 20,
            max_wait_ms: poll.as_millis() as u32,
        };
        match client.fetch(req).await {
            Ok((next, messages)) => {
                offset = next;
                for m in messages {
                    if tx.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
            }
            // Retention removed what we were about to read: go on from the earliest.
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
