//! `lockgate bench txn`: transactional produce against a running server, in one run.
//!
//! 1. **Throughput**: `--transactions` units of `--size` messages split evenly over two
//!    topics, from `--producers` concurrent tasks. Plain: each unit is two Produce requests
//!    (one per topic, one after the other). Transactional: begin, the same two sends, commit.
//!    Messages/s of each and their ratio.
//! 2. **Commit → visible**: `--latency-samples` one-message transactions, one at a time; each
//!    time is from just before the commit is sent to the return of a consumer's long poll
//!    that was already waiting at the end of the topic (p50/p99/max).
//!
//! Commits copy their messages from the half-message queue into their topics (with the commit
//! record, in one atomic append), so a transactional message is written twice. With
//! `--metrics HOST:PORT` (the server's `[metrics] listen`) the bench reads the commit log's
//! size before and after each throughput phase and reports log bytes per message of each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::cli::{CliError, ConnectArgs};
use crate::client::{Client, TransactionProducer, TransactionProducerOptions};
use crate::clock::system_now_ms;
use crate::config::Config;
use crate::protocol::{FetchRequest, ProduceMessage, ProduceRequest, Request, Route};
use crate::storage::Message;

#[derive(Debug, Clone, clap::Args)]
pub struct TxnBenchArgs {
    /// Units of work each way (a unit: `--size` messages over two topics)
    #[arg(long, default_value_t = 5_000)]
    pub transactions: u64,
    /// Messages per unit
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Message body size in bytes
    #[arg(long, default_value_t = 100)]
    pub msg_size: usize,
    /// Concurrent producer tasks
    #[arg(long, default_value_t = 8)]
    pub producers: u64,
    /// One-message transactions timed from commit to visibility
    #[arg(long, default_value_t = 2_000)]
    pub latency_samples: u64,
    /// The server's metrics endpoint (`[metrics] listen`), to report log bytes per message
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// `lockgate_storage_log_bytes` from a scrape of the server's metrics endpoint.
fn log_bytes(addr: std::net::SocketAddr) -> Result<f64, CliError> {
    use std::io::{Read, Write};
    let fail = |e: std::io::Error| CliError(format!("scraping http://{addr}/metrics: {e}"));
    let mut s = std::net::TcpStream::connect(addr).map_err(fail)?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .map_err(fail)?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(fail)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(crate::metrics::STORAGE_LOG_BYTES)?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| {
            CliError(format!(
                "http://{addr}/metrics has no {}",
                crate::metrics::STORAGE_LOG_BYTES
            ))
        })
}

const QUEUES: u32 = 4;

fn messages(n: usize, size: usize) -> Vec<ProduceMessage> {
    (0..n)
        .map(|_| ProduceMessage {
            route: Route::Any,
            message: Message {
                body: vec![b'x'; size],
                ..Message::default()
            },
        })
        .collect()
}

pub async fn run(
    args: TxnBenchArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let topic = super::bench_topics(
        &client,
        "txn",
        &["plain-a", "plain-b", "txn-a", "txn-b", "latency"],
        QUEUES,
    )
    .await?;
    let unit = Arc::new((
        messages(args.size / 2, args.msg_size),
        messages(args.size - args.size / 2, args.msg_size),
    ));
    let total = (args.transactions * args.size as u64) as f64;
    let bytes = |at: Option<f64>| -> Result<Option<f64>, CliError> {
        match (args.metrics, at) {
            (Some(m), Some(before)) => Ok(Some((log_bytes(m)? - before) / total)),
            _ => Ok(None),
        }
    };
    let start = args.metrics.map(log_bytes).transpose()?;
    let plain = throughput(
        &client,
        &args,
        unit.clone(),
        [topic("plain-a"), topic("plain-b")],
        false,
    )
    .await?;
    let plain_bytes = bytes(start)?;
    let start = args.metrics.map(log_bytes).transpose()?;
    let txn = throughput(&client, &args, unit, [topic("txn-a"), topic("txn-b")], true).await?;
    let txn_bytes = bytes(start)?;
    let (plain_rate, txn_rate) = (total / plain, total / txn);
    let lat = latency(
        &client,
        &topic("latency"),
        args.latency_samples,
        args.msg_size,
    )
    .await?;
    client.close().await;
    let us = |q: f64| lat.value_at_quantile(q) as f64 / 1000.0;
    if args.json {
        println!(
            "{}",
            json!({
                "plain_msgs_per_s": plain_rate,
                "txn_msgs_per_s": txn_rate,
                "ratio": txn_rate / plain_rate,
                "commit_visible_ms": {"p50": us(0.5), "p99": us(0.99), "max": lat.max() as f64 / 1000.0},
                "log_bytes_per_msg": {"plain": plain_bytes, "txn": txn_bytes},
            })
        );
    } else {
        println!(
            "produce, {} units of {} messages over 2 topics, {} producers:",
            args.transactions, args.size, args.producers
        );
        println!("  plain          {:>10.0} msgs/s", plain_rate);
        println!(
            "  transactional  {:>10.0} msgs/s   ratio {:.2}",
            txn_rate,
            txn_rate / plain_rate
        );
        if let (Some(p), Some(t)) = (plain_bytes, txn_bytes) {
            println!(
                "  log bytes per message: plain {p:.0}, transactional {t:.0} ({:.2}×)",
                t / p
            );
        }
        println!(
            "commit → visible ({} samples): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            lat.len(),
            us(0.5),
            us(0.99),
            lat.max() as f64 / 1000.0
        );
    }
    Ok(())
}

type Unit = Arc<(Vec<ProduceMessage>, Vec<ProduceMessage>)>;

/// Seconds to run `args.transactions` units, plain or in transactions.
async fn throughput(
    client: &Client,
    args: &TxnBenchArgs,
    unit: Unit,
    topics: [String; 2],
    transactional: bool,
) -> Result<f64, CliError> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..args.producers {
        let (client, unit, topics, next) =
            (client.clone(), unit.clone(), topics.clone(), next.clone());
        let total = args.transactions;
        let stamp = system_now_ms();
        tasks.push(tokio::spawn(async move {
            let p =
                TransactionProducer::new(client.clone(), TransactionProducerOptions::new("bench"));
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<(), crate::client::ClientError>(());
                }
                if transactional {
                    let tx = p.begin(&format!("bench-{stamp}-{w}-{n}")).await?;
                    tx.send(&topics[0], unit.0.clone()).await?;
                    tx.send(&topics[1], unit.1.clone()).await?;
                    tx.commit().await?;
                } else {
                    let produce = |t: &str, m: &Vec<ProduceMessage>| {
                        Request::Produce(ProduceRequest {
                            topic: t.to_string(),
                            producer_id: 0,
                            sequence: 0,
                            messages: m.clone(),
                        })
                    };
                    client.call(produce(&topics[0], &unit.0)).await?;
                    client.call(produce(&topics[1], &unit.1)).await?;
                }
            }
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| CliError(format!("a bench task failed: {e}")))??;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Commit → visible times, in µs.
async fn latency(
    client: &Client,
    topic: &str,
    samples: u64,
    msg_size: usize,
) -> Result<Histogram<u64>, CliError> {
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let p = TransactionProducer::new(client.clone(), TransactionProducerOptions::new("bench"));
    let stamp = system_now_ms();
    for n in 0..samples {
        let tx = p.begin(&format!("latency-{stamp}-{n}")).await?;
        let mut m = messages(1, msg_size);
        m[0].route = Route::Queue(0);
        tx.send(topic, m).await?;
        let poll = {
            let client = client.clone();
            let topic = topic.to_string();
            tokio::spawn(async move {
                client
                    .fetch(FetchRequest {
                        topic,
                        queue: 0,
                        offset: n,
                        max_messages: 1,
                        max_bytes: 1 << 20,
                        max_wait_ms: 10_000,
                    })
                    .await
                    .map(|_| Instant::now())
            })
        };
        // Let the poll reach the server and wait there.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let sent = Instant::now();
        tx.commit().await?;
        let seen = poll
            .await
            .map_err(|e| CliError(format!("a poll failed: {e}")))??;
        hist.record(seen.saturating_duration_since(sent).as_micros() as u64)
            .expect("in range");
    }
    Ok(hist)
}
