//! `lockgate bench pipeline`: produce through an ingress pipeline against plain produce, in one
//! run, on a broker this command starts in process (a temporary data directory, `async`
//! topics, 4 queues each).
//!
//! The pipeline is the built-in `dedup` (key: the message id, which the bench sets, so every
//! message is checked against the window and remembered) then the built-in `topic-exchange`
//! (`# -> out`: every message routed to one topic). Rounds alternate plain, pipeline, plain,
//! pipeline, … so that the machine's drift falls on both; the figure is the ratio of the two
//! means.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::CliError;
use crate::client::{Client, ClientOptions};
use crate::config::Config;
use crate::config::plugins::{FilterStage, IngressOnError, IngressStage, PipelineConfig};
use crate::plugin::PluginSpec;
use crate::protocol::{ProduceMessage, ProduceRequest, Request, Response, Route};
use crate::storage::{Durability, Message, MessageId};

#[derive(Debug, Clone, clap::Args)]
pub struct PipelineBenchArgs {
    /// Messages per round each way
    #[arg(long, default_value_t = 200_000)]
    pub count: u64,
    /// Messages per produce batch
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Message body size in bytes
    #[arg(long, default_value_t = 100)]
    pub msg_size: usize,
    /// Concurrent producer tasks
    #[arg(long, default_value_t = 4)]
    pub producers: u64,
    /// Rounds each way (alternating)
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// The topic exchange alone (no dedup stage)
    #[arg(long)]
    pub no_dedup: bool,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: PipelineBenchArgs) -> Result<(), CliError> {
    let dir = tempfile_dir()?;
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("an address");
    config.server.data_dir = dir.clone();
    config.metrics.listen = None;
    config.plugins = vec![PluginSpec {
        name: "route".into(),
        config: vec![("bindings".into(), "# -> out".into())],
        ..PluginSpec::builtin("topic-exchange")
    }];
    config.pipelines = vec![PipelineConfig {
        topics: vec!["in".into()],
        ingress: Some(IngressStage {
            stages: if args.no_dedup {
                vec!["route".into()]
            } else {
                vec!["dedup".into(), "route".into()]
            },
            on_error: IngressOnError::Reject,
            dedup_window: Duration::from_secs(600),
            dedup_max_keys: 10_000_000,
        }),
        filter: FilterStage::default(),
        retry: None,
    }];
    let running = crate::server::Running::start(&config)
        .await
        .map_err(|e| CliError(format!("cannot start the bench's broker: {e}")))?;
    let client = Client::connect(&ClientOptions {
        server: running.local_addr(),
        server_name: "localhost".into(),
        ca: dir.join("tls/ca.pem"),
        client_cert: None,
        token: None,
        transport: crate::client::Transport::Quic,
    })
    .await?;
    for t in ["plain", "in", "out"] {
        client
            .create_topic(t, 4, Some(Durability::Async), 0)
            .await?;
    }
    let ids = Arc::new(AtomicU64::new(1));
    let (mut plain, mut piped) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        plain.push(round(&client, &args, "plain", &ids).await?);
        piped.push(round(&client, &args, "in", &ids).await?);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ratio = mean(&piped) / mean(&plain);
    client.close().await;
    running
        .stop()
        .await
        .map_err(|e| CliError(format!("stopping the bench's broker: {e}")))?;
    let _ = std::fs::remove_dir_all(&dir);
    if args.json {
        crate::cli::output::emit(json!({
            "plain_msgs_per_s": plain.iter().map(|r| r.round()).collect::<Vec<_>>(),
            "pipeline_msgs_per_s": piped.iter().map(|r| r.round()).collect::<Vec<_>>(),
            "pipeline_vs_plain": (ratio * 1000.0).round() / 1000.0,
        }));
    } else {
        println!(
            "{} messages per round, batches of {}, {} producers, {}-byte bodies",
            args.count, args.batch, args.producers, args.msg_size
        );
        println!(
            "plain produce      {:?} msgs/s",
            plain.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        println!(
            "dedup + exchange   {:?} msgs/s",
            piped.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        println!("pipeline / plain   {ratio:.3}");
    }
    Ok(())
}

/// One round: `count` messages to `topic` from the producer tasks; messages per second.
async fn round(
    client: &Client,
    args: &PipelineBenchArgs,
    topic: &str,
    ids: &Arc<AtomicU64>,
) -> Result<f64, CliError> {
    let batches = args.count.div_ceil(args.batch as u64);
    let next = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let tasks: Vec<_> = (0..args.producers)
        .map(|_| {
            let (client, next, ids, topic) =
                (client.clone(), next.clone(), ids.clone(), topic.to_string());
            let (batch, size) = (args.batch, args.msg_size);
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < batches {
                    let messages = (0..batch)
                        .map(|_| {
                            let n = ids.fetch_add(1, Ordering::Relaxed);
                            let mut id = [0u8; 16];
                            id[..8].copy_from_slice(&n.to_le_bytes());
                            ProduceMessage {
                                route: Route::Any,
                                message: Message {
                                    id: MessageId(id),
                                    body: vec![b'x'; size],
                                    ..Message::default()
                                },
                            }
                        })
                        .collect();
                    let answer = client
                        .call(Request::Produce(ProduceRequest {
                            topic: topic.clone(),
                            producer_id: 0,
                            sequence: 0,
                            messages,
                        }))
                        .await?;
                    if !matches!(answer, Response::Produced { .. } | Response::Routed { .. }) {
                        return Err(CliError(format!("unexpected answer: {answer:?}")));
                    }
                }
                Ok::<(), CliError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await
            .map_err(|e| CliError(format!("a producer task failed: {e}")))??;
    }
    Ok((batches * args.batch as u64) as f64 / began.elapsed().as_secs_f64())
}

/// A fresh directory under the system's temporary one.
fn tempfile_dir() -> Result<std::path::PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!(
        "lockgate-bench-pipeline-{}-{}",
        std::process::id(),
        crate::clock::system_now_ms()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| CliError(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}
