//! Filters on the delivery path, end to end over QUIC: group subscriptions with the built-in
//! SQL92 and tag filters, redeliveries filtered again, a plugin reloaded mid-stream, and what a
//! failing plugin does under each `on_error`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::server::{connect, number_of, produce_all, start, start_manual, test_config};
use lockgate::client::{Client, GroupConsumer, GroupConsumerOptions};
use lockgate::config::plugins::{FilterStage, OnError, PipelineConfig};
use lockgate::plugin::PluginSpec;
use lockgate::protocol::{
    FilterSpec, GroupDelivered, ProduceMessage, ProduceRequest, Request, Response, Route,
    StartPosition, Status,
};
use lockgate::storage::{Durability, Message};
use lockgate_filters::MessageFields;

const PATIENCE: Duration = Duration::from_secs(60);

fn sample(n: u64) -> Message {
    let mut m = Message {
        tag: if n.is_multiple_of(3) { "TagA" } else { "TagB" }.into(),
        body: n.to_le_bytes().to_vec(),
        ..Message::default()
    };
    m.properties.insert("a".into(), (n % 10).to_string());
    m.properties.insert(
        "b".into(),
        if n.is_multiple_of(2) { "x" } else { "y" }.into(),
    );
    if n > 0 && n.is_multiple_of(7) {
        m.properties.insert("poison".into(), "1".into());
    }
    m
}

struct Native<'a>(&'a Message);

impl MessageFields for Native<'_> {
    fn tag(&self) -> &str {
        &self.0.tag
    }
    fn keys(&self) -> &str {
        ""
    }
    fn property(&self, name: &str) -> Option<&str> {
        self.0.properties.get(name).map(String::as_str)
    }
}

async fn produce(client: &Client, topic: &str, range: std::ops::Range<u64>) {
    let messages = range.map(|n| ProduceMessage {
        route: Route::Any,
        message: sample(n),
    });
    produce_all(client, topic, messages).await;
}

fn number(m: &GroupDelivered) -> u64 {
    number_of(&m.delivered.message.body)
}

fn filtered(group: &str, topic: &str, plugin: &str, expression: &str) -> GroupConsumerOptions {
    let mut o = GroupConsumerOptions::new(group, topic);
    o.start = StartPosition::Earliest;
    o.filter = Some(FilterSpec {
        plugin: plugin.into(),
        expression: expression.into(),
    });
    o
}

/// Takes `n` messages (acking them), then checks nothing else comes and the group is settled.
async fn take_exactly(
    client: &Client,
    c: &mut GroupConsumer,
    group: &str,
    n: usize,
) -> BTreeSet<u64> {
    let mut got = BTreeSet::new();
    while got.len() < n {
        let m = tokio::time::timeout(PATIENCE, c.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(got.insert(number(&m)), "{} twice", number(&m));
        c.ack(&m);
    }
    c.flush().await;
    let settled = async {
        loop {
            let g = client.describe_group(group).await.unwrap();
            if g.progress
                .iter()
                .all(|p| p.acked == p.end && p.in_flight == 0)
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, settled).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(100), c.next()).await;
    assert!(extra.is_err(), "nothing else is delivered: {extra:?}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql92_and_tag_subscriptions_receive_exactly_the_matching_messages() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("orders", 3, Some(Durability::Async), 0)
        .await
        .unwrap();
    produce(&client, "orders", 0..300).await;

    let expr = "a > 5 AND (b = 'x' OR TAGS = 'TagA')";
    let native = lockgate_filters::sql92::Expr::parse(expr).unwrap();
    let expected: BTreeSet<u64> = (0..300)
        .filter(|&n| native.selects(&Native(&sample(n))))
        .collect();
    assert!(!expected.is_empty() && expected.len() < 300);
    let mut c = client
        .subscribe(filtered("sql", "orders", "sql92", expr))
        .await
        .unwrap();
    assert_eq!(
        take_exactly(&client, &mut c, "sql", expected.len()).await,
        expected
    );

    let mut t = client
        .subscribe(filtered("tags", "orders", "tag", "TagA || TagC"))
        .await
        .unwrap();
    let expected: BTreeSet<u64> = (0..300).filter(|n: &u64| n.is_multiple_of(3)).collect();
    assert_eq!(
        take_exactly(&client, &mut t, "tags", expected.len()).await,
        expected
    );

    // Subscriptions are checked when they join.
    let e = client
        .subscribe(filtered("bad", "orders", "sql92", "a >"))
        .await
        .err()
        .unwrap();
    assert_eq!(e.status(), Some(Status::FilterRejected));
    assert!(e.to_string().contains("position 4"), "{e}");
    let e = client
        .subscribe(filtered("bad", "orders", "nope", "x"))
        .await
        .err()
        .unwrap();
    assert_eq!(e.status(), Some(Status::FilterRejected));
    let e = client
        .subscribe(filtered("sql", "orders", "sql92", "a > 1"))
        .await
        .err()
        .unwrap();
    assert_eq!(
        e.status(),
        Some(Status::GroupConflict),
        "one filter per group and topic"
    );
    running.stop().await.unwrap();
}

fn misbehave_copy(dir: &std::path::Path, name: &str) -> PluginSpec {
    let file = dir.join(format!("{name}.wasm"));
    std::fs::copy(
        format!("{}/misbehave.wasm", env!("LOCKGATE_PLUGIN_DIR")),
        &file,
    )
    .unwrap();
    PluginSpec {
        name: name.into(),
        source: file.display().to_string(),
        memory_limit: 16 << 20,
        call_timeout: Duration::from_millis(100),
        config: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_are_filtered_again_and_a_reload_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.retry_delays = vec![Duration::from_millis(20)];
    config.plugins = vec![
        misbehave_copy(dir.path(), "attempts"),
        misbehave_copy(dir.path(), "swap"),
    ];
    let (running, clock) = start_manual(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("jobs", 2, Some(Durability::Async), 0)
        .await
        .unwrap();
    produce(&client, "jobs", 0..10).await;

    // First deliveries pass; after a nack, the redelivery (attempt 2) is filtered out: done.
    let mut c = client
        .subscribe(filtered("once", "jobs", "attempts", "attempt-below:2"))
        .await
        .unwrap();
    for _ in 0..10 {
        let m = tokio::time::timeout(PATIENCE, c.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m.attempt, 1);
        c.nack(&m, "try again");
    }
    c.flush().await;
    // All ten wait for their retry; moving the clock past it brings the redeliveries.
    let waiting = async {
        loop {
            let g = client.describe_group("once").await.unwrap();
            if g.progress.iter().map(|p| p.retrying).sum::<u64>() == 10 {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, waiting).await.unwrap();
    clock.advance(Duration::from_millis(20));
    let settled = async {
        loop {
            let g = client.describe_group("once").await.unwrap();
            if g.progress
                .iter()
                .all(|p| p.acked == p.end && p.retrying == 0 && p.in_flight == 0)
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, settled).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(100), c.next()).await;
    assert!(extra.is_err(), "no redelivery passed the filter: {extra:?}");

    // A reload mid-stream: every message still arrives exactly once.
    produce(&client, "jobs", 10..1_010).await;
    let mut o = filtered("swapper", "jobs", "swap", "pass");
    o.credit_messages = 50;
    let mut s = client.subscribe(o).await.unwrap();
    let mut got = BTreeSet::new();
    while got.len() < 1_010 {
        let m = tokio::time::timeout(PATIENCE, s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(got.insert(number(&m)));
        s.ack(&m);
        if got.len() == 300 {
            let before = client.list_plugins().await.unwrap();
            let reloaded = client.reload_plugin("swap").await.unwrap();
            let old = before.iter().find(|p| p.name == "swap").unwrap();
            assert!(reloaded.generation > old.generation);
        }
    }
    s.flush().await;
    running.stop().await.unwrap();
}

async fn run_with_on_error(on_error: OnError) -> (BTreeSet<u64>, Option<Status>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.plugins = vec![misbehave_copy(dir.path(), "fragile")];
    config.pipelines = vec![PipelineConfig {
        topics: vec!["fr*".into()],
        ingress: None,
        filter: FilterStage {
            on_error,
            allow: None,
        },
        retry: None,
    }];
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("fragile", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    // 0..7 are clean; 7 is poison: the batch holding it makes the plugin trap.
    produce(&client, "fragile", 0..7).await;
    let mut o = filtered("g", "fragile", "fragile", "trap-if:poison");
    o.credit_messages = 100;
    let mut c = client.subscribe(o).await.unwrap();
    let mut got = BTreeSet::new();
    while got.len() < 7 {
        let m = tokio::time::timeout(PATIENCE, c.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        got.insert(number(&m));
        c.ack(&m);
    }
    c.flush().await;
    // One batch, so one append: the filter sees 7, 8 and 9 together (a producer's batching
    // could split them, and a batch without the poison would pass).
    let answer = client
        .call(Request::Produce(ProduceRequest {
            topic: "fragile".into(),
            producer_id: 0,
            sequence: 0,
            messages: (7..10)
                .map(|n| ProduceMessage {
                    route: Route::Any,
                    message: sample(n),
                })
                .collect(),
        }))
        .await
        .unwrap();
    assert!(matches!(answer, Response::Produced { .. }), "{answer:?}");
    let mut status = None;
    loop {
        match tokio::time::timeout(Duration::from_millis(500), c.next()).await {
            Ok(Some(Ok(m))) => {
                got.insert(number(&m));
                c.ack(&m);
            }
            Ok(Some(Err(e))) => {
                status = e.status();
                break;
            }
            Ok(None) | Err(_) => break,
        }
    }
    c.flush().await;
    let g = client.describe_group("g").await.unwrap();
    let ready = g.progress[0].ready;
    running.stop().await.unwrap();
    (got, status, ready)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_filter_follows_its_pipelines_on_error() {
    let (got, status, _) = run_with_on_error(OnError::Deliver).await;
    assert_eq!(
        got,
        (0..10).collect(),
        "deliver: the failed batch comes unfiltered"
    );
    assert_eq!(status, None);
    let (got, status, ready) = run_with_on_error(OnError::Skip).await;
    assert_eq!(
        got,
        (0..7).collect(),
        "skip: the failed batch counts as filtered out"
    );
    assert_eq!((status, ready), (None, 0));
    let (got, status, ready) = run_with_on_error(OnError::Pause).await;
    assert_eq!(got, (0..7).collect());
    assert_eq!(
        status,
        Some(Status::FilterFailed),
        "pause: the subscription ends and says why"
    );
    assert_eq!(ready, 3, "the batch waits for the subscription");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_fetch_returns_the_selected_messages_and_moves_past_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("plain", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    produce(&client, "plain", 0..90).await;
    let req = |offset| lockgate::protocol::FetchRequest {
        topic: "plain".into(),
        queue: 0,
        offset,
        max_messages: 1_000,
        max_bytes: 1 << 20,
        max_wait_ms: 0,
    };
    let tag = FilterSpec {
        plugin: "tag".into(),
        expression: "TagA".into(),
    };
    let (next, msgs) = client.fetch_filtered(req(0), tag.clone()).await.unwrap();
    assert_eq!(next, 90);
    let got: Vec<u64> = msgs
        .iter()
        .map(|d| u64::from_le_bytes(d.message.body[..8].try_into().unwrap()))
        .collect();
    assert_eq!(
        got,
        (0..90)
            .filter(|n: &u64| n.is_multiple_of(3))
            .collect::<Vec<_>>()
    );
    assert!(
        msgs.iter()
            .all(|d| d.message.tag == "TagA" && d.message.properties.contains_key("a"))
    );
    let none = FilterSpec {
        plugin: "sql92".into(),
        expression: "a > 100".into(),
    };
    let (next, msgs) = client.fetch_filtered(req(10), none).await.unwrap();
    assert_eq!(
        (next, msgs.len()),
        (90, 0),
        "skipped messages are passed over"
    );
    // Polling again and again with one filter makes its instance once (the plugin's `create`
    // runs once for the subscription, not once per fetch).
    let sql = FilterSpec {
        plugin: "sql92".into(),
        expression: "a >= 0".into(),
    };
    let creates = |c: Vec<lockgate::protocol::PluginCounters>| {
        c.into_iter()
            .find(|p| p.name == "sql92")
            .map_or(0, |p| p.creates)
    };
    let before = creates(client.plugin_counters().await.unwrap());
    for offset in 0..15 {
        client
            .fetch_filtered(req(offset), sql.clone())
            .await
            .unwrap();
    }
    let counters = client.plugin_counters().await.unwrap();
    assert_eq!(creates(counters.clone()) - before, 1, "{counters:?}");
    running.stop().await.unwrap();
}
