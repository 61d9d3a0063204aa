//! Ingress pipelines end to end, in process: the issue's TOML as written (dedup then a topic
//! exchange), acknowledgements naming every destination, duplicates answered with their
//! original's offsets (in a batch, across batches, across a restart), idempotent resends,
//! `on_error`, and the validation of stages and routing loops.

mod common;

use std::path::Path;

use common::server::{connect, read_everything, start};
use lockgate::client::Client;
use lockgate::config::Config;
use lockgate::protocol::{
    ProduceMessage, ProduceRequest, Request, Response, Route, RouteOutcome, RoutedAck, Status,
};
use lockgate::storage::{Durability, Message};

/// The TOML of the issue, with the plugins it names.
fn config_text(dir: &Path, on_error: &str, bindings: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{dir}"

[storage]
segment_size = "8 MiB"

[metrics]
listen = "off"

[plugins.dedup-orders]
path = "builtin:dedup"
[plugins.dedup-orders.config]
key = "property:order"

[plugins.route-orders]
path = "builtin:topic-exchange"
[plugins.route-orders.config]
bindings = """
{bindings}
"""

[plugins.retry-exp]
path = "builtin:retry-schedule"
[plugins.retry-exp.config]
schedule = "exponential"

[[pipeline]]
topics = ["orders.in"]
[pipeline.ingress]
stages = ["dedup-orders", "route-orders"]    # run in order, each names a [plugins.X]
on_error = "{on_error}"                      # reject | store-unrouted
[pipeline.filter]                            # as today
[pipeline.retry]
plugin = "retry-exp"
"#,
        dir = dir.display()
    )
}

const BINDINGS: &str = "orders.*.eu -> orders.eu\norders.# -> orders.all";

/// `lockgate check-config --config PATH`: its exit code and what it printed.
fn check_config(path: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn order(tag: &str, order: &str) -> ProduceMessage {
    ProduceMessage {
        route: Route::Any,
        message: Message {
            tag: tag.into(),
            properties: [("order".to_string(), order.to_string())].into(),
            body: format!("{tag} {order}").into_bytes(),
            ..Message::default()
        },
    }
}

async fn produce(
    client: &Client,
    producer: (u64, u64),
    messages: Vec<ProduceMessage>,
) -> Result<(bool, Vec<RoutedAck>), lockgate::client::ClientError> {
    let answer = client
        .call(Request::Produce(ProduceRequest {
            topic: "orders.in".into(),
            producer_id: producer.0,
            sequence: producer.1,
            messages,
        }))
        .await?;
    match answer {
        Response::Routed {
            duplicate, acks, ..
        } => Ok((duplicate, acks)),
        other => panic!("not a routed answer: {other:?}"),
    }
}

async fn topics(client: &Client) {
    for (name, queues) in [("orders.in", 2), ("orders.eu", 2), ("orders.all", 3)] {
        client
            .create_topic(name, queues, Some(Durability::Async), 0)
            .await
            .unwrap();
    }
}

fn places(a: &RoutedAck) -> Vec<(String, u32, u64)> {
    a.destinations
        .iter()
        .map(|d| (d.topic.clone(), d.queue, d.offset))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issue_toml_routes_fans_out_and_deduplicates() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&config_text(dir.path(), "reject", BINDINGS)).unwrap();
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    topics(&client).await;

    let (dup, acks) = produce(
        &client,
        (0, 0),
        vec![
            order("orders.new.eu", "o-1"),
            order("orders.new.us", "o-2"),
            order("misc", "o-3"),
            // The same order again in the same batch.
            order("orders.new.eu", "o-1"),
        ],
    )
    .await
    .unwrap();
    assert!(!dup);
    assert_eq!(acks[0].outcome, RouteOutcome::Stored);
    let topics_of =
        |a: &RoutedAck| -> Vec<String> { a.destinations.iter().map(|d| d.topic.clone()).collect() };
    assert_eq!(topics_of(&acks[0]), ["orders.eu", "orders.all"]);
    assert_eq!(topics_of(&acks[1]), ["orders.all"]);
    assert_eq!(acks[2].outcome, RouteOutcome::Dropped);
    assert!(acks[2].destinations.is_empty());
    assert_eq!(acks[3].outcome, RouteOutcome::Duplicate);
    assert_eq!(places(&acks[3]), places(&acks[0]));
    assert_eq!(acks[3].id, acks[0].id);

    // Every place an ack names holds that message; nothing else was stored.
    let eu = read_everything(&client, "orders.eu", 2).await;
    let all = read_everything(&client, "orders.all", 3).await;
    assert_eq!((eu.len(), all.len()), (1, 2));
    for a in &acks[..2] {
        for d in &a.destinations {
            let held = if d.topic == "orders.eu" { &eu } else { &all };
            let m = held
                .iter()
                .find(|m| m.queue == d.queue && m.offset == d.offset)
                .unwrap_or_else(|| panic!("{d:?} holds nothing"));
            assert_eq!(m.message.id, a.id);
        }
    }
    assert!(read_everything(&client, "orders.in", 2).await.is_empty());

    // A later batch repeating o-2 is answered with the original's offsets, not stored.
    let (_, again) = produce(&client, (0, 0), vec![order("orders.x", "o-2")])
        .await
        .unwrap();
    assert_eq!(again[0].outcome, RouteOutcome::Duplicate);
    assert_eq!(places(&again[0]), places(&acks[1]));
    assert_eq!(read_everything(&client, "orders.all", 3).await.len(), 2);

    // An idempotent producer's resend is recognized by the batch summary: same answer.
    let batch = vec![order("orders.a.eu", "o-9")];
    let (first_dup, first) = produce(&client, (77, 0), batch.clone()).await.unwrap();
    let (resent_dup, resent) = produce(&client, (77, 0), batch).await.unwrap();
    assert!(!first_dup && resent_dup);
    assert_eq!(resent, first);
    assert_eq!(read_everything(&client, "orders.eu", 2).await.len(), 2);

    // The plain client API answers with the first destination.
    let producer = client
        .producer(lockgate::client::ProducerOptions::new("orders.in"))
        .await
        .unwrap();
    let ack = producer.send(order("orders.b.eu", "o-10")).await.unwrap();
    let any = producer
        .send_any(order("orders.b.eu", "o-10"))
        .await
        .unwrap();
    match any {
        lockgate::client::Acknowledged::Routed(r) => {
            assert_eq!(r.outcome, RouteOutcome::Duplicate);
            assert_eq!(
                (r.destinations[0].queue, r.destinations[0].offset),
                (ack.queue, ack.offset)
            );
        }
        other => panic!("{other:?}"),
    }
    let dropped = producer.send(order("nowhere", "o-11")).await.unwrap_err();
    assert!(dropped.to_string().contains("routed nowhere"), "{dropped}");
    // Delay messages are not routed: refused rather than stored past the pipeline.
    let delayed = producer
        .send_delayed(
            order("orders.c.eu", "o-12"),
            lockgate::protocol::Delivery::After(1000),
        )
        .await
        .unwrap_err();
    assert_eq!(delayed.status(), Some(Status::InvalidArgument), "{delayed}");
    assert!(
        delayed.to_string().contains("has an ingress pipeline"),
        "{delayed}"
    );
    producer.close().await;
    client.close().await;
    running.stop().await.unwrap();

    // The window survives a restart: it is rebuilt from the summaries.
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    let (_, after) = produce(&client, (0, 0), vec![order("orders.z", "o-1")])
        .await
        .unwrap();
    assert_eq!(after[0].outcome, RouteOutcome::Duplicate);
    assert_eq!(places(&after[0]), places(&acks[0]));
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stage_rejects_or_stores_unrouted_as_configured() {
    // A binding to a topic that does not exist fails the batch at routing.
    let bindings = "orders.# -> orders.missing";
    for on_error in ["reject", "store-unrouted"] {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(&config_text(dir.path(), on_error, bindings)).unwrap();
        let running = start(&config).await;
        let client = connect(&running, dir.path()).await;
        topics(&client).await;
        let result = produce(
            &client,
            (0, 0),
            vec![order("orders.a", "o-1"), order("x", "o-2")],
        )
        .await;
        let stored = read_everything(&client, "orders.in", 2).await;
        match on_error {
            "reject" => {
                let e = result.unwrap_err();
                match &e {
                    lockgate::client::ClientError::Server {
                        status, message, ..
                    } => {
                        assert_eq!(*status, Status::PipelineFailed);
                        assert!(message.contains("stage \"route-orders\""), "{message}");
                        assert!(
                            message.contains("\"orders.missing\", which does not exist"),
                            "{message}"
                        );
                    }
                    other => panic!("{other}"),
                }
                assert!(stored.is_empty());
            }
            _ => {
                let (_, acks) = result.unwrap();
                assert!(acks.iter().all(|a| a.outcome == RouteOutcome::Stored
                    && a.destinations.len() == 1
                    && a.destinations[0].topic == "orders.in"));
                assert_eq!(stored.len(), 2);
            }
        }
        client.close().await;
        running.stop().await.unwrap();
    }
}

#[test]
fn validation_names_the_pipeline_the_stage_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    // A routing loop: orders.in routes to itself.
    let text = config_text(dir.path(), "reject", "# -> orders.in")
        .replace(
            "stages = [\"dedup-orders\", \"route-orders\"]",
            "stages = [\"dedup-orders\", \"route-orders\", \"tag\"]",
        )
        .replace("plugin = \"retry-exp\"", "plugin = \"dedup\"");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let (code, stdout) = check_config(&path);
    assert_eq!(code, Some(2), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("pipeline[0].ingress.stages[1]: router \"route-orders\" routes to \"orders.in\", a topic this pipeline covers (a routing loop)"), "{stdout}");
    assert!(lines[1].starts_with("pipeline[0].ingress.stages[2]: plugin \"tag\" implements neither the router-plugin nor the dedup-plugin world"), "{stdout}");
    assert!(
        lines[2].starts_with(
            "pipeline[0].retry.plugin: plugin \"dedup\" does not implement the retry-plugin world"
        ),
        "{stdout}"
    );
    // The TOML of the issue as written is valid.
    std::fs::write(&path, config_text(dir.path(), "reject", BINDINGS)).unwrap();
    let (code, stdout) = check_config(&path);
    assert_eq!(
        (code, stdout.lines().next()),
        (Some(0), Some("ok")),
        "{stdout}"
    );
}

#[test]
fn a_config_a_stage_plugin_refuses_stops_check_config_and_serve_naming_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    // Both plugins pass the world checks; their `create` refuses these configs.
    let text = config_text(dir.path(), "reject", BINDINGS)
        .replace("key = \"property:order\"", "key = \"nonsense:order\"")
        .replace(
            "schedule = \"exponential\"",
            "schedule = \"exponential\"\nfactor = \"0.5\"",
        );
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    let (code, stdout) = check_config(&path);
    assert_eq!(code, Some(2), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(
            "pipeline[0].ingress.stages[0]: plugin \"dedup-orders\" refused its config: "
        ),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("pipeline[0].retry.plugin: plugin \"retry-exp\" refused its config: factor: 0.5 is below 1"),
        "{stdout}"
    );
    // serve does not start with it, and says the same (killed if it serves instead).
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    let out = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("serve started with a config its retry plugin refuses")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pipeline[0].retry.plugin: plugin \"retry-exp\" refused its config"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_with_one_key_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&config_text(dir.path(), "reject", BINDINGS)).unwrap();
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    topics(&client).await;
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                produce(
                    &client,
                    (0, 0),
                    vec![
                        order("orders.a", &format!("own-{i}")),
                        order("orders.a", "shared"),
                    ],
                )
                .await
                .unwrap()
                .1
            })
        })
        .collect();
    let mut shared = Vec::new();
    for s in sends {
        let acks = s.await.unwrap();
        assert_eq!(acks[0].outcome, RouteOutcome::Stored);
        shared.push(acks[1].clone());
    }
    let stored = shared
        .iter()
        .filter(|a| a.outcome == RouteOutcome::Stored)
        .count();
    assert_eq!(stored, 1, "{shared:?}");
    let original = shared
        .iter()
        .find(|a| a.outcome == RouteOutcome::Stored)
        .unwrap();
    assert!(shared.iter().all(|a| places(a) == places(original)));
    assert_eq!(read_everything(&client, "orders.all", 3).await.len(), 9);
    client.close().await;
    running.stop().await.unwrap();
}
