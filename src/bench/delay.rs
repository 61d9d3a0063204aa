//! `lockgate bench delay`: the durable timer against a running server, in one run.
//!
//! 1. **Memory**: the server's RSS (`--pid`) before anything is pending and with `--pending`
//!    delay messages pending (due in 1 to 2 hours), first, on the fresh broker.
//! 2. **Enqueue**: `--count` messages through one pipelined producer as plain produce, then
//!    the same as delay messages (due in two hours): messages/s of each and their ratio.
//! 3. **Lateness**: delay messages due 2 s after sending, sent at `--rate` for `--duration`;
//!    lateness is the delivered copy's store time minus its requested time (p50/p99/p99.9).
//! 4. **Firing**: `--burst` messages all due at one instant; firing throughput is the burst
//!    over the spread of the copies' store times.
//!
//! Use a fresh data directory: the pending messages stay behind.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

use crate::cli::{CliError, ConnectArgs};
use crate::client::{Client, ProducerOptions, ScheduleHandle, SendHandle};
use crate::clock::system_now_ms;
use crate::config::Config;
use crate::protocol::{Delivery, FetchRequest, ProduceMessage, Route};
use crate::storage::Message;

#[derive(Debug, Clone, clap::Args)]
pub struct DelayBenchArgs {
    /// Messages for the enqueue comparison (each way)
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Message body size in bytes
    #[arg(long, default_value_t = 100)]
    pub msg_size: usize,
    /// Delay messages per second coming due in the lateness phase
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// How long the lateness phase sends
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Messages due at one instant in the firing phase
    #[arg(long, default_value_t = 500_000)]
    pub burst: u64,
    /// Delay messages left pending for the memory phase (0 skips it)
    #[arg(long, default_value_t = 10_000_000)]
    pub pending: u64,
    /// The server's process id, to read its RSS (without it the memory phase is skipped)
    #[arg(long)]
    pub pid: Option<u32>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration"))
}

const QUEUES: u32 = 4;
/// Handles awaited behind the newest send, at most (bounds the bench's own memory).
const WINDOW: usize = 200_000;

// Long on purpose: a benchmark script, step after step (set up, run, measure, report).
pub async fn run(
    args: DelayBenchArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let topic = super::bench_topics(
        &client,
        "delay",
        &["plain", "delayed", "late", "burst", "pending"],
        QUEUES,
    )
    .await?;
    let rss_before = args.pid.map(super::rss_kib).transpose()?;
    // 1. Many pending, on the fresh broker (later phases leave memory behind them).
    let rss_after = if args.pending > 0 && args.pid.is_some() {
        let base = system_now_ms() + 3_600_000;
        send(
            &client,
            &topic("pending"),
            args.pending,
            args.msg_size,
            move |i| Some(Delivery::At(base + (i % 3_600_000) as i64)),
        )
        .await?;
        args.pid.map(super::rss_kib).transpose()?
    } else {
        None
    };

    // 2. Enqueue, plain against delayed, back to back.
    let plain = send(&client, &topic("plain"), args.count, args.msg_size, |_| {
        None
    })
    .await?;
    let far = system_now_ms() + 2 * 3_600_000;
    let delayed = send(
        &client,
        &topic("delayed"),
        args.count,
        args.msg_size,
        |_| Some(Delivery::At(far)),
    )
    .await?;
    let plain_rate = args.count as f64 / plain;
    let delayed_rate = args.count as f64 / delayed;

    // 3. Lateness at a steady rate of timers coming due.
    let late_topic = topic("late");
    let late_count = (args.rate as f64 * args.duration.as_secs_f64()) as u64;
    let lateness = lateness(&client, &late_topic, late_count, args.rate, args.msg_size).await?;

    // 4. A burst due at once.
    let burst_topic = topic("burst");
    let (burst_secs, burst_rate) = burst(&client, &burst_topic, args.burst, args.msg_size).await?;

    client.close().await;

    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    let out = json!({
        "enqueue": {
            "messages": args.count,
            "plain_msgs_per_s": plain_rate.round(),
            "delayed_msgs_per_s": delayed_rate.round(),
            "ratio": (delayed_rate / plain_rate * 100.0).round() / 100.0,
        },
        "lateness": {
            "rate_per_s": args.rate,
            "messages": late_count,
            "p50_ms": ms(&lateness, 0.5),
            "p99_ms": ms(&lateness, 0.99),
            "p99.9_ms": ms(&lateness, 0.999),
            "max_ms": lateness.max(),
        },
        "firing": {
            "burst": args.burst,
            "seconds": (burst_secs * 1000.0).round() / 1000.0,
            "msgs_per_s": burst_rate.round(),
        },
        "memory": {
            "pending": if rss_after.is_some() { json!(args.pending) } else { json!(null) },
            "rss_before_mib": rss_before.map(|k| k / 1024),
            "rss_pending_mib": rss_after.map(|k| k / 1024),
            "rss_growth_mib": rss_before.zip(rss_after).map(|(b, a)| (a.saturating_sub(b)) / 1024),
        },
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "enqueue   plain {:.0} msg/s, delayed {:.0} msg/s (ratio {:.2})",
            plain_rate,
            delayed_rate,
            delayed_rate / plain_rate
        );
        println!(
            "lateness  at {}/s, {} messages: p50 {} ms, p99 {} ms, p99.9 {} ms, max {} ms",
            args.rate,
            late_count,
            ms(&lateness, 0.5),
            ms(&lateness, 0.99),
            ms(&lateness, 0.999),
            lateness.max()
        );
        println!(
            "firing    {} due at once: {:.0} msg/s ({:.3} s)",
            args.burst, burst_rate, burst_secs
        );
        match (rss_before, rss_after) {
            (Some(b), Some(a)) => println!(
                "memory    RSS {} MiB with none pending, {} MiB with {} pending (+{} MiB)",
                b / 1024,
                a / 1024,
                args.pending,
                a.saturating_sub(b) / 1024
            ),
            _ => println!("memory    skipped (give --pid of the server and --pending)"),
        }
    }
    Ok(())
}

fn message(i: u64, size: usize) -> ProduceMessage {
    let mut body = vec![b'x'; size.max(8)];
    body[..8].copy_from_slice(&i.to_le_bytes());
    ProduceMessage {
        route: Route::Any,
        message: Message {
            body,
            ..Message::default()
        },
    }
}

enum Handle {
    Stored(SendHandle),
    Scheduled(ScheduleHandle),
}

impl Handle {
    async fn wait(self) -> Result<(), CliError> {
        match self {
            Handle::Stored(h) => h.await.map(drop)?,
            Handle::Scheduled(h) => h.await.map(drop)?,
        }
        Ok(())
    }
}

/// Sends `count` messages through one pipelined producer (delay messages where `when` gives a
/// delivery) and waits for every acknowledgement; returns the seconds it took.
async fn send(
    client: &Client,
    topic: &str,
    count: u64,
    size: usize,
    when: impl Fn(u64) -> Option<Delivery>,
) -> Result<f64, CliError> {
    let mut opts = ProducerOptions::new(topic);
    opts.max_batch_messages = 1000;
    let producer = client.producer(opts).await?;
    let started = Instant::now();
    let mut window = VecDeque::new();
    for i in 0..count {
        let m = message(i, size);
        let h = match when(i) {
            Some(d) => Handle::Scheduled(producer.send_delayed_async(m, d).await?),
            None => Handle::Stored(producer.send_async(m).await?),
        };
        window.push_back(h);
        if window.len() >= WINDOW {
            window.pop_front().expect("not empty").wait().await?;
        }
    }
    for h in window {
        h.wait().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    producer.close().await;
    Ok(secs)
}

/// Store time minus requested time of every delivered copy, in ms.
async fn lateness(
    client: &Client,
    topic: &str,
    count: u64,
    rate: u64,
    size: usize,
) -> Result<Histogram<u64>, CliError> {
    let producer = client.producer(ProducerOptions::new(topic)).await?;
    let begin = tokio::time::Instant::now();
    let mut window = VecDeque::new();
    for i in 0..count {
        if i % 100 == 0 {
            tokio::time::sleep_until(begin + Duration::from_secs_f64(i as f64 / rate as f64)).await;
        }
        let due = system_now_ms() + 2_000;
        let h = producer
            .send_delayed_async(message(i, size), Delivery::At(due))
            .await?;
        window.push_back(h);
        if window.len() >= WINDOW {
            window.pop_front().expect("not empty").await?;
        }
    }
    for h in window {
        h.await?;
    }
    producer.close().await;
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).expect("histogram bounds");
    for (due, stored) in drain(client, topic, count).await? {
        h.record((stored - due).max(0) as u64 + 1).ok();
    }
    // Recorded +1 so that 0 ms fits the histogram; take it back.
    let mut out = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).expect("histogram bounds");
    for v in h.iter_recorded() {
        out.record_n(
            v.value_iterated_to().saturating_sub(1).max(1),
            v.count_at_value(),
        )
        .ok();
    }
    Ok(out)
}

/// `count` messages all due at one instant, once they are all acknowledged: seconds from the
/// first copy stored to the last, and messages per second.
async fn burst(
    client: &Client,
    topic: &str,
    count: u64,
    size: usize,
) -> Result<(f64, f64), CliError> {
    // Due after the enqueue is surely done: estimated from a generous 100k/s.
    let due = system_now_ms() + 3_000 + (count / 100) as i64;
    send(client, topic, count, size, |_| Some(Delivery::At(due))).await?;
    let got = drain(client, topic, count).await?;
    let first = got.iter().map(|g| g.1).min().unwrap_or(0);
    let last = got.iter().map(|g| g.1).max().unwrap_or(0);
    if got.iter().any(|g| g.1 < g.0) {
        return Err(CliError("a message was delivered before its time".into()));
    }
    let secs = ((last - first) as f64 / 1000.0).max(0.001);
    Ok((secs, count as f64 / secs))
}

/// Reads `count` messages from every queue of `topic`: (requested time, store time) each.
async fn drain(client: &Client, topic: &str, count: u64) -> Result<Vec<(i64, i64)>, CliError> {
    let mut out = Vec::with_capacity(count as usize);
    let mut offsets = vec![0u64; QUEUES as usize];
    let deadline = Instant::now() + Duration::from_secs(600);
    while (out.len() as u64) < count {
        if Instant::now() > deadline {
            return Err(CliError(format!(
                "only {} of {count} delay messages arrived within 10 minutes",
                out.len()
            )));
        }
        for q in 0..QUEUES {
            let (next, got) = client
                .fetch(FetchRequest {
                    topic: topic.into(),
                    queue: q,
                    offset: offsets[q as usize],
                    max_messages: 10_000,
                    max_bytes: 8 << 20,
                    max_wait_ms: 100,
                })
                .await?;
            offsets[q as usize] = next;
            for d in got {
                let due = d
                    .message
                    .properties
                    .get(crate::storage::timers::PROP_DELIVER_AT)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(d.stored_at);
                out.push((due, d.stored_at));
            }
        }
    }
    Ok(out)
}
