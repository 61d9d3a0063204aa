//! `lockgate bench`: a load generator over QUIC against a running server, in the manner of
//! `nats bench` or `iggy-bench`. Producers write produce batches on pipelined streams (a window
//! of batches in flight each); consumers long-poll every queue; every message carries its send
//! time so that produce→consume latency is measured at the consumer.
//!
//! Reports messages/s, MB/s (payload) and latency percentiles (HDR histograms) for produce
//! acknowledgements and for delivery. With `--rate`, producers pace themselves to a fixed total
//! rate, to measure latency at a given load.
//!
//! With `--group`, consumers are members of a consumer group (`--mode`) on subscription
//! streams, acking every message (auto ack). With `--producers 0`, nothing is sent: the
//! consumers drain `--count` messages already stored (plain consumers from the earliest
//! offset, a group from its position reset to the earliest), which measures consumption alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Mutex;

use crate::cli::{CliError, ConnectArgs};
use crate::client::{AckMode, Client, GroupConsumer, GroupConsumerOptions};
use crate::config::Config;
use crate::protocol::Mode;
use crate::protocol::{
    FetchRequest, Kind, ProduceMessage, ProduceRequest, Request, ResetTo, Response, Route, Status,
    frame_with_flags,
};
use crate::storage::{Durability, Message};

#[derive(Debug, Clone, clap::Args)]
pub struct NetBenchArgs {
    /// Producer connections
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Consumer connections (each reads a share of the queues); 0 measures produce alone
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Queues of the topic (when the bench creates it)
    #[arg(long, default_value_t = 4)]
    pub queues: u32,
    /// Message body size in bytes (at least 8: the send time travels in the body)
    #[arg(long, default_value_t = 100)]
    pub msg_size: usize,
    /// Messages per produce request
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Messages to send in all
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// How long to send, e.g. "10s"
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Total messages per second across producers [default: as fast as possible]
    #[arg(long)]
    pub rate: Option<u64>,
    /// Durability of the topic when the bench creates it
    #[arg(long, value_parser = parse_durability, default_value = "async")]
    pub durability: Durability,
    /// Produce requests in flight per producer
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Consume through this consumer group (reset to the end of the topic first, or to the
    /// earliest with --producers 0)
    #[arg(long)]
    pub group: Option<String>,
    /// Group mode: clustering, broadcasting or ordered
    #[arg(long, default_value = "clustering", requires = "group")]
    pub mode: String,
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration"))
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "sync" => Ok(Durability::Sync),
        "async" => Ok(Durability::Async),
        _ => Err(format!("{s:?} is not a durability (sync or async)")),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

struct Shared {
    sent: AtomicU64,
    acked: AtomicU64,
    received: AtomicU64,
    stop_sending: AtomicBool,
    /// The topic has an ingress pipeline: produce answers say where each batch was routed.
    routed: AtomicBool,
    ack_latency: Mutex<Histogram<u64>>,
    delivery_latency: Mutex<Histogram<u64>>,
}

// Long on purpose: a benchmark script, step after step (set up, run, measure, report).
pub async fn run(
    args: NetBenchArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    if args.msg_size < 8 {
        return Err(CliError(
            "--msg-size must be at least 8 (the send time travels in the body)".into(),
        ));
    }
    let mode: Mode = args
        .mode
        .parse()
        .map_err(|e| CliError(format!("--mode {e}")))?;
    if args.producers == 0 && (args.count.is_none() || args.consumers == 0) {
        return Err(CliError(
            "--producers 0 drains stored messages: it needs --count and consumers".into(),
        ));
    }
    let total = match (args.count, args.duration) {
        (Some(c), _) => Some(c),
        (None, Some(_)) => None,
        (None, None) => Some(1_000_000),
    };
    let admin = connect.connect(config).await?;
    let queues = match admin.describe_topic(&args.topic).await {
        Ok((t, _)) => t.queues,
        Err(e) if e.status() == Some(Status::UnknownTopic) => {
            admin
                .create_topic(&args.topic, args.queues, Some(args.durability), 0)
                .await?
                .queues
        }
        Err(e) => return Err(e.into()),
    };
    let (_, ranges) = admin.describe_topic(&args.topic).await?;
    let shared = Arc::new(Shared {
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        received: AtomicU64::new(0),
        stop_sending: AtomicBool::new(false),
        routed: AtomicBool::new(false),
        ack_latency: Mutex::new(histogram()),
        delivery_latency: Mutex::new(histogram()),
    });

    // Consumers first, positioned at the current end of every queue (the earliest when only
    // draining).
    let drain = args.producers == 0;
    let consumers_done = Arc::new(AtomicBool::new(false));
    let mut consumers = Vec::new();
    if let Some(group) = &args.group {
        let to = if drain {
            ResetTo::Earliest
        } else {
            ResetTo::Latest
        };
        admin.reset_group(group, &args.topic, None, to).await?;
    }
    let started = Instant::now();
    for c in 0..args.consumers {
        if let Some(group) = &args.group {
            let client = connect.connect(config).await?;
            let mut o = GroupConsumerOptions::new(group, &args.topic);
            o.mode = mode;
            o.ack = AckMode::Auto;
            o.instance = format!("bench-{c}");
            o.credit_messages = 8192;
            let sub = client.subscribe(o).await?;
            let (shared, done) = (shared.clone(), consumers_done.clone());
            consumers.push(tokio::spawn(consume_group(sub, shared, done)));
            continue;
        }
        let client = connect.connect(config).await?;
        for q in (0..queues).filter(|q| *q as usize % args.consumers == c) {
            let (client, shared, done, topic) = (
                client.clone(),
                shared.clone(),
                consumers_done.clone(),
                args.topic.clone(),
            );
            let start = if drain {
                ranges[q as usize].earliest
            } else {
                ranges[q as usize].next
            };
            consumers.push(tokio::spawn(async move {
                consume(client, topic, q, start, shared, done).await
            }));
        }
    }

    let started = if drain { started } else { Instant::now() };
    let mut producers = Vec::new();
    for p in 0..args.producers {
        let client = connect.connect(config).await?;
        let share = total.map(|t| {
            t / args.producers.max(1) as u64
                + u64::from((p as u64) < t % args.producers.max(1) as u64)
        });
        let rate = args.rate.map(|r| (r / args.producers.max(1) as u64).max(1));
        let (shared, args) = (shared.clone(), args.clone());
        producers.push(tokio::spawn(async move {
            produce(client, args, p, queues, share, rate, shared).await
        }));
    }
    if let Some(d) = args.duration {
        tokio::time::sleep(d).await;
        shared.stop_sending.store(true, Ordering::Relaxed);
    }
    for p in producers {
        p.await.map_err(|e| CliError(e.to_string()))??;
    }
    let produce_secs = started.elapsed().as_secs_f64();
    let acked = if drain {
        total.unwrap_or(0)
    } else {
        shared.acked.load(Ordering::Relaxed)
    };
    // Wait for the consumers to see everything acknowledged (bounded). What a pipeline routed
    // elsewhere never reaches them.
    let routed = shared.routed.load(Ordering::Relaxed);
    if routed {
        eprintln!(
            "note: {:?} has an ingress pipeline, which routed the batches; its consumers see only what it stored in {:?}",
            args.topic, args.topic
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while args.consumers > 0
        && !routed
        && shared.received.load(Ordering::Relaxed) < acked
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let consume_secs = started.elapsed().as_secs_f64();
    consumers_done.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = c.await;
    }
    let received = shared.received.load(Ordering::Relaxed);
    let acks = shared.ack_latency.lock().await.clone();
    let delivery = shared.delivery_latency.lock().await.clone();
    report(
        &args,
        acked,
        produce_secs,
        received,
        consume_secs,
        &acks,
        &delivery,
    );
    admin.close().await;
    Ok(())
}

async fn produce(
    client: Client,
    args: NetBenchArgs,
    producer: usize,
    queues: u32,
    share: Option<u64>,
    rate: Option<u64>,
    shared: Arc<Shared>,
) -> Result<(), CliError> {
    let (mut send, mut recv) = client.open_stream().await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, usize)>(args.in_flight.max(1));
    let reader_shared = shared.clone();
    let reader = tokio::spawn(async move {
        while let Some((sent_at, n)) = rx.recv().await {
            match crate::client::read_response(&mut recv, Kind::Produce).await {
                // Routed: the topic has an ingress pipeline, which stored the batch elsewhere.
                Ok((_, answer @ (Response::Produced { .. } | Response::Routed { .. }))) => {
                    if matches!(answer, Response::Routed { .. }) {
                        reader_shared.routed.store(true, Ordering::Relaxed);
                    }
                    let us = sent_at.elapsed().as_micros() as u64;
                    reader_shared
                        .ack_latency
                        .lock()
                        .await
                        .record_n(us.max(1), n as u64)
                        .ok();
                    reader_shared.acked.fetch_add(n as u64, Ordering::Relaxed);
                }
                Ok((_, Response::Error { message, .. })) => {
                    return Err(CliError(format!("produce refused: {message}")));
                }
                Ok(_) => return Err(CliError("unexpected response to produce".into())),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    });
    let mut template = BatchTemplate::new(&args.topic, args.batch, args.msg_size);
    let mut sent = 0u64;
    let mut batch_no = 0u64;
    let pace = rate.map(|r| Duration::from_secs_f64(args.batch as f64 / r as f64));
    let begin = tokio::time::Instant::now();
    loop {
        if shared.stop_sending.load(Ordering::Relaxed) || share.is_some_and(|s| sent >= s) {
            break;
        }
        let n = share.map_or(args.batch, |s| (s - sent).min(args.batch as u64) as usize);
        if n != template.count {
            template = BatchTemplate::new(&args.topic, n, args.msg_size); // the last, shorter batch
        }
        if let Some(pace) = pace {
            tokio::time::sleep_until(begin + pace.mul_f64(batch_no as f64)).await;
        }
        let queue = ((producer as u64 + batch_no) % u64::from(queues)) as u32;
        let body = template.fill(queue, now_us());
        if tx.send((Instant::now(), n)).await.is_err() {
            break; // the reader failed; its error is reported below
        }
        // Compact answers, as the Rust producer asks.
        let flags = crate::protocol::compact::ASK_COMPACT;
        send.write_all(&frame_with_flags(
            Kind::Produce as u16,
            flags,
            batch_no as u32,
            body,
        ))
        .await
        .map_err(|e| CliError(e.to_string()))?;
        sent += n as u64;
        batch_no += 1;
        shared.sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    drop(tx);
    send.finish();
    reader.await.map_err(|e| CliError(e.to_string()))?
}

/// A produce body encoded once; each batch patches in its queue, send time and checksum, so
/// the load generator spends its CPU on the network, not on building messages.
struct BatchTemplate {
    body: Vec<u8>,
    count: usize,
    /// Where the messages start (the checksum covers from here).
    messages_at: usize,
    /// Bytes per encoded message.
    stride: usize,
}

/// Bytes of an encoded produce message before its body: route (5), id (16), born time (8),
/// empty tag (2), no keys (2), no properties (2), body length (4).
const BODY_AT: usize = 5 + 16 + 8 + 2 + 2 + 2 + 4;

impl BatchTemplate {
    fn new(topic: &str, count: usize, msg_size: usize) -> BatchTemplate {
        let mut body = vec![b'x'; msg_size];
        body[..8].fill(0);
        let messages = (0..count)
            .map(|_| ProduceMessage {
                route: Route::Queue(0),
                message: Message {
                    body: body.clone(),
                    ..Message::default()
                },
            })
            .collect();
        let mut encoded = Vec::new();
        Request::Produce(ProduceRequest {
            topic: topic.into(),
            producer_id: 0,
            sequence: 0,
            messages,
        })
        .encode_body(&mut encoded);
        let stride = BODY_AT + msg_size;
        BatchTemplate {
            messages_at: encoded.len() - count * stride,
            body: encoded,
            count,
            stride,
        }
    }

    fn fill(&mut self, queue: u32, sent_us: u64) -> &[u8] {
        for i in 0..self.count {
            let m = self.messages_at + i * self.stride;
            self.body[m + 1..m + 5].copy_from_slice(&queue.to_le_bytes());
            self.body[m + BODY_AT..m + BODY_AT + 8].copy_from_slice(&sent_us.to_le_bytes());
        }
        let crc = crc32c::crc32c(&self.body[self.messages_at..]);
        self.body[self.messages_at - 4..self.messages_at].copy_from_slice(&crc.to_le_bytes());
        &self.body
    }
}

/// A group member: takes every message pushed, records its latency, acks it (auto).
async fn consume_group(mut sub: GroupConsumer, shared: Arc<Shared>, done: Arc<AtomicBool>) {
    let mut local = histogram();
    while !done.load(Ordering::Relaxed) {
        let batch = match tokio::time::timeout(Duration::from_millis(100), sub.next_batch()).await {
            Err(_) => continue,
            Ok(Some(Ok(b))) => b,
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "bench group consumer failed");
                break;
            }
            Ok(None) => break,
        };
        let now = now_us();
        for m in &batch {
            if let Some(ts) = m.delivered.message.body.get(..8) {
                let sent = u64::from_le_bytes(ts.try_into().expect("8 bytes"));
                local.record(now.saturating_sub(sent).max(1)).ok();
            }
        }
        shared
            .received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
    sub.close().await;
    shared.delivery_latency.lock().await.add(&local).ok();
}

async fn consume(
    client: Client,
    topic: String,
    queue: u32,
    mut offset: u64,
    shared: Arc<Shared>,
    done: Arc<AtomicBool>,
) {
    let mut local = histogram();
    while !done.load(Ordering::Relaxed) {
        let req = FetchRequest {
            topic: topic.clone(),
            queue,
            offset,
            max_messages: 5000,
            max_bytes: 4 << 20,
            max_wait_ms: 100,
        };
        match client.fetch(req).await {
            Ok((next, msgs)) => {
                let now = now_us();
                for m in &msgs {
                    if let Some(ts) = m.message.body.get(..8) {
                        let sent = u64::from_le_bytes(ts.try_into().expect("8 bytes"));
                        local.record(now.saturating_sub(sent).max(1)).ok();
                    }
                }
                shared
                    .received
                    .fetch_add(msgs.len() as u64, Ordering::Relaxed);
                offset = next;
            }
            Err(e) => {
                tracing::warn!(error = %e, queue, "bench consumer fetch failed");
                break;
            }
        }
    }
    shared.delivery_latency.lock().await.add(&local).ok();
}

fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    json!({
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p99.9_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

fn report(
    args: &NetBenchArgs,
    acked: u64,
    produce_secs: f64,
    received: u64,
    consume_secs: f64,
    acks: &Histogram<u64>,
    delivery: &Histogram<u64>,
) {
    let mb = |n: u64, secs: f64| n as f64 * args.msg_size as f64 / secs / 1e6;
    let v = json!({
        "producers": args.producers, "consumers": args.consumers, "msg_size": args.msg_size, "batch": args.batch,
        "rate": args.rate, "durability": args.durability.to_string(),
        "produce": {"messages": acked, "seconds": produce_secs, "msgs_per_s": (acked as f64 / produce_secs).round(),
                    "mb_per_s": (mb(acked, produce_secs) * 10.0).round() / 10.0, "ack_latency": percentiles(acks)},
        "consume": {"messages": received, "seconds": consume_secs, "msgs_per_s": (received as f64 / consume_secs).round(),
                    "mb_per_s": (mb(received, consume_secs) * 10.0).round() / 10.0, "delivery_latency": percentiles(delivery)},
    });
    if args.json {
        crate::cli::output::emit(v);
        return;
    }
    let line = |name: &str, o: &serde_json::Value, lat: &str| {
        let l = &o[lat];
        println!(
            "{name:<8} {:>10} msgs in {:>6.2}s  {:>11.0} msgs/s  {:>8.1} MB/s   {lat}: p50 {} ms  p90 {} ms  p99 {} ms  p99.9 {} ms  max {} ms",
            o["messages"],
            o["seconds"].as_f64().unwrap_or(0.0),
            o["msgs_per_s"].as_f64().unwrap_or(0.0),
            o["mb_per_s"].as_f64().unwrap_or(0.0),
            l["p50_ms"],
            l["p90_ms"],
            l["p99_ms"],
            l["p99.9_ms"],
            l["max_ms"]
        );
    };
    if args.producers > 0 {
        line("produce", &v["produce"], "ack_latency");
    }
    line("consume", &v["consume"], "delivery_latency");
}
