//! `lockgate produce`: one message from `--body`, or one per line of stdin; prints one JSON
//! object per acknowledged message, in order. `--delay`, `--deliver-at` or `--delay-level`
//! make them delay messages; `--transaction` sends them all as one transaction, committed at
//! the end of input (see `txn`).

use std::collections::BTreeMap;

use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::output::{print_ack, print_routed, print_scheduled};
use super::{CliError, ConnectArgs};
use crate::client::{Acknowledged, AnyHandle, ProducerOptions, ScheduleHandle};
use crate::clock::system_now_ms as now_ms;
use crate::config::Config;
use crate::protocol::{Delivery, ProduceMessage, Route};

/// An acknowledgement to print, of a message or of a delay message.
enum Handle {
    Stored(AnyHandle),
    Scheduled(ScheduleHandle),
}
use crate::storage::{Message, MessageId};

#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// The topic to send to
    #[arg(short, long)]
    pub topic: String,
    #[command(flatten)]
    pub fields: MessageArgs,
    /// Messages with equal sharding keys go to the same queue, in order
    #[arg(long, conflicts_with = "queue")]
    pub sharding_key: Option<String>,
    /// Send to this queue
    #[arg(long)]
    pub queue: Option<u32>,
    /// The message body; without it, every line of stdin is one message
    #[arg(short, long)]
    pub body: Option<String>,
    /// The body (--body, or each stdin line) is base64, for bodies that are not text: it is
    /// decoded and the bytes are sent
    #[arg(long)]
    pub body_base64: bool,
    /// A batch unanswered this long counts as lost: reconnect and resend it (the server stores
    /// a resent batch once)
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub request_timeout: std::time::Duration,
    /// Deliver this long after the server receives it (like "1500ms", "10m", "2h")
    #[arg(long, value_parser = parse_delay, group = "when")]
    pub delay: Option<std::time::Duration>,
    /// Deliver at this time (RFC 3339, like 2026-12-02T08:00:00Z)
    #[arg(long, value_parser = super::time::parse_rfc3339, group = "when")]
    pub deliver_at: Option<i64>,
    /// Deliver after RocketMQ delay level N (1 = 1s … 18 = 2h; `[delay] levels`)
    #[arg(long, group = "when")]
    pub delay_level: Option<u8>,
    /// Send every message as one transaction, committed at the end of input: nothing is
    /// visible before, all of it after. Prints the messages, then
    /// `{"transaction","outcome","already","placed"}`
    #[arg(long)]
    pub transaction: bool,
    /// With --transaction: roll it back at the end of input instead (nothing is ever visible)
    #[arg(long, requires = "transaction")]
    pub rollback: bool,
    /// With --transaction: its id [default: a new "cli-…" id]
    #[arg(long, requires = "transaction")]
    pub txn_id: Option<String>,
    /// Print no line per message: a progress line on stderr while it is a terminal, and at the
    /// end `{"produced","seconds","per_second"}`
    #[arg(short, long, conflicts_with = "transaction")]
    pub quiet: bool,
    /// With --transaction: the producer group check-backs would go to
    #[arg(long, requires = "transaction", default_value = super::txn::CLI_PRODUCER_GROUP)]
    pub producer_group: String,
}

/// Messages from `--body` or stdin lines, for `--transaction`.
struct Lines<'a> {
    args: &'a ProduceArgs,
    body: Option<String>,
    stdin: Option<tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>>,
    /// Lines read so far.
    line: usize,
}

impl super::txn::AsyncMessages for Lines<'_> {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<ProduceMessage>, CliError> {
        if let Some(body) = self.body.take() {
            return Ok(vec![self.args.message(self.args.body_bytes(body, None)?)]);
        }
        let mut out = Vec::new();
        let Some(lines) = &mut self.stdin else {
            return Ok(out);
        };
        while out.len() < max {
            match lines
                .next_line()
                .await
                .map_err(|e| CliError(format!("reading stdin: {e}")))?
            {
                Some(line) => {
                    self.line += 1;
                    out.push(
                        self.args
                            .message(self.args.body_bytes(line, Some(self.line))?),
                    );
                }
                None => {
                    self.stdin = None;
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (like \"1500ms\", \"10m\", \"2h\")"))
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(s)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a duration above zero (like \"500ms\", \"10s\")"))
}

/// The fields of a message given on the command line (`produce`, `filter test`).
#[derive(Debug, clap::Args)]
pub struct MessageArgs {
    /// The message's tag
    #[arg(long, default_value = "")]
    pub tag: String,
    /// A key to index the message under (repeatable)
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// A property NAME=VALUE (repeatable)
    #[arg(long = "prop", value_parser = parse_prop)]
    pub props: Vec<(String, String)>,
}

impl MessageArgs {
    /// A message with these fields, `body`, and a new id born now.
    pub fn message(&self, body: Vec<u8>) -> Message {
        let now = now_ms();
        Message {
            id: MessageId::generate(now),
            tag: self.tag.clone(),
            keys: self.keys.clone(),
            properties: self.props.iter().cloned().collect::<BTreeMap<_, _>>(),
            body,
            born_at: now,
        }
    }
}

fn parse_prop(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

impl ProduceArgs {
    /// A body as given (`--body`, or stdin line `line`): its bytes, base64-decoded with
    /// --body-base64.
    fn body_bytes(&self, text: String, line: Option<usize>) -> Result<Vec<u8>, CliError> {
        use base64::Engine;
        if !self.body_base64 {
            return Ok(text.into_bytes());
        }
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| {
                let which = match line {
                    Some(n) => format!("stdin line {n}"),
                    None => "--body".to_string(),
                };
                CliError(format!(
                    "--body-base64: {which} is not base64 ({e}); nothing of it was sent"
                ))
            })
    }

    /// The delivery time the flags ask for, if any.
    fn delivery(&self) -> Option<Delivery> {
        match (self.delay, self.deliver_at, self.delay_level) {
            (Some(d), _, _) => Some(Delivery::After(d.as_millis() as u64)),
            (_, Some(at), _) => Some(Delivery::At(at)),
            (_, _, Some(level)) => Some(Delivery::Level(level)),
            _ => None,
        }
    }

    fn message(&self, body: Vec<u8>) -> ProduceMessage {
        ProduceMessage {
            route: match (&self.sharding_key, self.queue) {
                (Some(k), _) => Route::Key(k.clone()),
                (None, Some(q)) => Route::Queue(q),
                (None, None) => Route::Any,
            },
            message: self.fields.message(body),
        }
    }
}

pub async fn run(
    args: ProduceArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    if args.transaction {
        let t = super::txn::TxnProduce {
            topic: args.topic.clone(),
            id: args.txn_id.clone(),
            producer_group: args.producer_group.clone(),
            rollback: args.rollback,
            delivery: args.delivery(),
        };
        let lines = Lines {
            args: &args,
            body: args.body.clone(),
            stdin: args
                .body
                .is_none()
                .then(|| tokio::io::BufReader::new(tokio::io::stdin()).lines()),
            line: 0,
        };
        let done = super::txn::produce(&client, t, lines).await;
        client.close().await;
        return done;
    }
    let mut opts = ProducerOptions::new(&args.topic);
    opts.request_timeout = args.request_timeout;
    let producer = client.producer(opts).await?;
    // Acks are printed in send order by a task that awaits them one after another.
    let (tx, mut rx) = mpsc::channel::<Handle>(1024);
    let topic = args.topic.clone();
    let mut progress = args
        .quiet
        .then(|| super::progress::Progress::new("produced"));
    let printer = tokio::spawn(async move {
        while let Some(handle) = rx.recv().await {
            let quiet = progress.is_some();
            let printed = match handle {
                Handle::Stored(h) => h.await.map(|ack| match ack {
                    _ if quiet => {}
                    Acknowledged::Stored(ack) => print_ack(&topic, &ack),
                    Acknowledged::Routed(ack) => print_routed(&topic, &ack),
                }),
                Handle::Scheduled(h) => h.await.map(|ack| {
                    if !quiet {
                        print_scheduled(&topic, &ack)
                    }
                }),
            };
            printed.map_err(|e| CliError(e.to_string()))?;
            if let Some(p) = &mut progress {
                p.add(1);
            }
        }
        if let Some(p) = progress {
            p.finish();
        }
        Ok(())
    });
    let delivery = args.delivery();
    let send = |message: ProduceMessage| {
        let producer = &producer;
        async move {
            Ok::<Handle, CliError>(match delivery {
                Some(d) => Handle::Scheduled(producer.send_delayed_async(message, d).await?),
                None => Handle::Stored(producer.send_any_async(message).await?),
            })
        }
    };
    let sent = async {
        match &args.body {
            Some(body) => {
                let handle = send(args.message(args.body_bytes(body.clone(), None)?)).await?;
                let _ = tx.send(handle).await;
            }
            None => {
                let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
                let mut n = 0;
                while let Some(line) = lines
                    .next_line()
                    .await
                    .map_err(|e| CliError(format!("reading stdin: {e}")))?
                {
                    n += 1;
                    let handle = send(args.message(args.body_bytes(line, Some(n))?)).await?;
                    if tx.send(handle).await.is_err() {
                        break; // the printer stopped on an error
                    }
                }
            }
        }
        Ok::<(), CliError>(())
    }
    .await;
    drop(tx);
    let printed = printer.await.map_err(|e| CliError(e.to_string()))?;
    producer.close().await;
    client.close().await;
    sent?;
    printed
}
