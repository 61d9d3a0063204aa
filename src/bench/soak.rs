//! `lockgate bench soak`: a steady mixed load against a running server for a long time, with
//! the server's resident memory (`--pid`) sampled as it goes: does it stay flat?
//!
//! Every second: `--rate` plain messages, a quarter of them from a new idempotent producer
//! each second (as a CLI run is), `--txn-rate` one-message transactions (each a new id),
//! `--delay-rate` delay messages due 1 to 5 s later; a clustering group consumes and acks the
//! topic. RSS is read every `--sample`; the report gives each sample and the growth rate (a
//! least-squares slope over the samples after `--warm-up`, in MiB per minute), with what was
//! sent and consumed.
//!
//! Use a fresh data directory; the bench's topics stay behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{CliError, ConnectArgs};
use crate::client::{
    AckMode, Client, GroupConsumerOptions, ProducerOptions, TransactionProducer,
    TransactionProducerOptions,
};
use crate::config::Config;
use crate::protocol::{Delivery, ProduceMessage, Route, StartPosition};
use crate::storage::Message;

#[derive(Debug, Clone, clap::Args)]
pub struct SoakBenchArgs {
    /// The server's process id, to read its RSS
    #[arg(long)]
    pub pid: u32,
    /// How long the load runs
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Plain messages per second
    #[arg(long, default_value_t = 230)]
    pub rate: u64,
    /// One-message transactions per second
    #[arg(long, default_value_t = 1)]
    pub txn_rate: u64,
    /// Delay messages per second
    #[arg(long, default_value_t = 20)]
    pub delay_rate: u64,
    /// Message body size in bytes
    #[arg(long, default_value_t = 200)]
    pub msg_size: usize,
    /// How often RSS is read
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub sample: Duration,
    /// Samples before this are left out of the growth rate (caches filling up)
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub warm_up: Duration,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration"))
}

fn message(size: usize) -> ProduceMessage {
    ProduceMessage {
        route: Route::Any,
        message: Message {
            body: vec![b's'; size],
            ..Message::default()
        },
    }
}

pub async fn run(
    args: SoakBenchArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let topic = super::bench_topics(&client, "soak", &["mixed"], 4).await?("mixed");
    let consumed = Arc::new(AtomicU64::new(0));
    let consumer = tokio::spawn(consume(client.clone(), topic.clone(), consumed.clone()));
    let steady = client.producer(ProducerOptions::new(topic.clone())).await?;
    let txns = TransactionProducer::new(
        client.clone(),
        TransactionProducerOptions::new(format!("{topic}-txn")),
    );
    let started = Instant::now();
    let mut samples: Vec<(f64, u64)> = vec![(0.0, super::rss_kib(args.pid)?)];
    let mut next_sample = args.sample;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let (mut sent, mut transactions, mut delayed) = (0u64, 0u64, 0u64);
    while started.elapsed() < args.duration {
        tick.tick().await;
        let second = started.elapsed().as_secs();
        // A quarter from a producer that lives one second, as each CLI run is a new producer.
        let brief = client.producer(ProducerOptions::new(topic.clone())).await?;
        let mut acks = Vec::new();
        for i in 0..args.rate {
            let p = if i % 4 == 0 { &brief } else { &steady };
            acks.push(p.send_async(message(args.msg_size)).await?);
        }
        for i in 0..args.delay_rate {
            let after = 1_000 + (i * 4_000 / args.delay_rate.max(1));
            steady
                .send_delayed(message(args.msg_size), Delivery::After(after))
                .await?;
            delayed += 1;
        }
        for i in 0..args.txn_rate {
            let tx = txns.begin(&format!("{topic}-{second}-{i}")).await?;
            tx.send(&topic, vec![message(args.msg_size)]).await?;
            tx.commit().await?;
            transactions += 1;
        }
        for a in acks {
            a.await?;
            sent += 1;
        }
        brief.close().await;
        if started.elapsed() >= next_sample {
            let minutes = started.elapsed().as_secs_f64() / 60.0;
            let rss = super::rss_kib(args.pid)?;
            if !args.json {
                println!(
                    "{minutes:6.1} min  rss {:7.1} MiB  sent {sent}  consumed {}",
                    rss as f64 / 1024.0,
                    consumed.load(Ordering::Relaxed)
                );
            }
            samples.push((minutes, rss));
            next_sample += args.sample;
        }
    }
    steady.close().await;
    consumer.abort();
    let warm = args.warm_up.as_secs_f64() / 60.0;
    let steady_samples: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(m, _)| *m >= warm)
        .map(|&(m, k)| (m, k as f64 / 1024.0))
        .collect();
    let slope = slope(&steady_samples);
    let mib = |k: u64| (k as f64 / 1024.0 * 10.0).round() / 10.0;
    let out = json!({
        "minutes": (started.elapsed().as_secs_f64() / 60.0 * 10.0).round() / 10.0,
        "sent": sent,
        "transactions": transactions,
        "delayed": delayed,
        "consumed": consumed.load(Ordering::Relaxed),
        "rss_first_mib": samples.first().map(|s| mib(s.1)),
        "rss_last_mib": samples.last().map(|s| mib(s.1)),
        "rss_max_mib": samples.iter().map(|s| s.1).max().map(mib),
        "growth_mib_per_min": slope.map(|s| (s * 1000.0).round() / 1000.0),
        "samples": samples.iter().map(|&(m, k)| json!([(m * 10.0).round() / 10.0, mib(k)])).collect::<Vec<_>>(),
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "sent {sent} plain, {transactions} transactions, {delayed} delayed; consumed {}",
            consumed.load(Ordering::Relaxed)
        );
        match slope {
            Some(s) => println!("rss growth after {warm:.0} min: {s:.3} MiB/min"),
            None => println!("rss growth: too few samples after the warm-up"),
        }
    }
    client.close().await;
    Ok(())
}

/// A clustering member that acks everything it gets, counting it.
async fn consume(client: Client, topic: String, consumed: Arc<AtomicU64>) -> Result<(), CliError> {
    let mut options = GroupConsumerOptions::new(format!("{topic}-group"), topic);
    options.start = StartPosition::Earliest;
    options.ack = AckMode::Auto;
    let mut sub = client.subscribe(options).await?;
    while let Some(m) = sub.next().await {
        m?;
        consumed.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// The least-squares slope of `y` over `x`; `None` for fewer than two points.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (var > 0.0).then(|| points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / var)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_slope_is_the_growth_per_minute() {
        let flat = [(5.0, 30.0), (6.0, 31.0), (7.0, 30.0), (8.0, 31.0)];
        assert!(super::slope(&flat).unwrap().abs() < 0.5);
        let growing = [(0.0, 10.0), (1.0, 11.5), (2.0, 13.0)];
        assert!((super::slope(&growing).unwrap() - 1.5).abs() < 1e-9);
        assert_eq!(super::slope(&[(1.0, 1.0)]), None);
    }
}
