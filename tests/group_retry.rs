//! Group retries through the durable timer, end to end over QUIC on a manual clock: a long
//! retry leaves its queue's window at once, waits in the timer across a restart, comes back
//! from the group's retry topic at its time with its attempt count, and is dead-lettered with
//! its origin once its attempts are used up.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::server::{
    clustering_join, connect, fetch_start, number_of, produce_all, test_config, until_stored,
};
use lockgate::broker::group::timer_retry::{self, RETRY_QUEUE};
use lockgate::client::Client;
use lockgate::clock::Clock;
use lockgate::protocol::{AckRange, GroupDelivered, JoinRequest, ProduceMessage, Route};
use lockgate::server::Running;
use lockgate::storage::{Durability, Message};

/// Upper bound for any wait in these tests: reaching it is a failure, not a pass.
const PATIENCE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn join() -> JoinRequest {
    JoinRequest {
        max_attempts: 3,
        // The clock jumps hours ahead: the member must outlive that.
        session_timeout_ms: 100 * 3_600_000,
        ..clustering_join("billing", "orders")
    }
}

fn range(m: &GroupDelivered) -> AckRange {
    AckRange {
        queue: m.delivered.queue,
        offset: m.delivered.offset,
        count: 1,
        lease: m.lease,
    }
}

/// Receives until `n` messages came, by number.
async fn receive_n(client: &Client, member: u64, n: usize) -> BTreeMap<u64, GroupDelivered> {
    let mut got = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while got.len() < n {
        assert!(tokio::time::Instant::now() < deadline, "only {got:?} came");
        let batch = client
            .receive(member, n as u32, 1 << 20, Duration::from_secs(5))
            .await
            .unwrap();
        for m in batch {
            got.insert(number_of(&m.delivered.message.body), m);
        }
    }
    got
}

/// Waits until `check` holds for the group's progress on `topic` (acked, retrying) summed.
async fn until_progress(client: &Client, topic: &str, want: (u64, u64)) {
    let waiting = async {
        loop {
            let g = client.describe_group("billing").await.unwrap();
            let p = g.progress.iter().filter(|p| p.topic == topic);
            let got = p.fold((0, 0), |(a, r), p| (a + p.acked, r + p.retrying));
            if got == want {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, waiting).await.unwrap();
}

async fn start(config: &lockgate::config::Config, clock: &Clock) -> Running {
    Running::start_with_clock(config, clock.clone())
        .await
        .expect("server starts")
}

/// A server with topic `orders` (one queue) holding messages `0..n`.
async fn with_orders(
    config: &lockgate::config::Config,
    clock: &Clock,
    dir: &std::path::Path,
    n: u64,
) -> (Running, Client) {
    let running = start(config, clock).await;
    let client = connect(&running, dir).await;
    client
        .create_topic("orders", 1, Some(Durability::Sync), 0)
        .await
        .unwrap();
    let messages = (0..n).map(|n| ProduceMessage {
        route: Route::Queue(0),
        message: Message {
            body: n.to_le_bytes().to_vec(),
            ..Message::default()
        },
    });
    produce_all(&client, "orders", messages).await;
    (running, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_retry_waits_in_the_timer_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.retry_delays = vec![HOUR * 2];
    let clock = Clock::manual(lockgate::clock::system_now_ms());
    let (running, client) = with_orders(&config, &clock, dir.path(), 3).await;
    let member = client.join_group(join()).await.unwrap();
    let first = receive_n(&client, member, 3).await;
    assert!(first.values().all(|m| m.attempt == 1));
    client
        .nack(
            member,
            "db down",
            vec![range(&first[&0]), range(&first[&1])],
        )
        .await
        .unwrap();
    assert_eq!(
        client.ack(member, vec![range(&first[&2])]).await.unwrap(),
        (1, 0)
    );
    // The two-hour retries are in the timer: the queue's progress is past them.
    until_progress(&client, "orders", (3, 0)).await;
    let retry_topic = timer_retry::topic_of("billing", "orders").unwrap();
    let stats = client.delay_stats().await.unwrap();
    assert_eq!(stats.topics, vec![(retry_topic.clone(), 2)]);
    client.close().await;
    running.stop().await.unwrap();

    // Restarted, an hour later: nothing is due yet.
    clock.advance(HOUR);
    let running = start(&config, &clock).await;
    let client = connect(&running, dir.path()).await;
    let member = client.join_group(join()).await.unwrap();
    let early = client
        .receive(member, 10, 1 << 20, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    // At their time, both come back from the retry topic with their attempt count.
    clock.advance(HOUR);
    let second = receive_n(&client, member, 2).await;
    for (n, m) in &second {
        assert_eq!(m.attempt, 2, "message {n}");
        assert_eq!(m.delivered.queue, RETRY_QUEUE);
        let p = &m.delivered.message.properties;
        assert_eq!(p[timer_retry::PROP_TOPIC], "orders");
        assert_eq!(p[timer_retry::PROP_QUEUE], "0");
        assert_eq!(p[timer_retry::PROP_OFFSET], n.to_string());
        assert_eq!(p[timer_retry::PROP_ATTEMPTS], "1");
        assert!(p[timer_retry::PROP_REASON].contains("db down"));
        assert_eq!(m.delivered.message.id, first[n].delivered.message.id);
        assert!(m.delivered.stored_at >= clock.now_ms() - 1);
    }
    // One is acked (done), the other fails again: back to the timer, then its last attempt.
    assert_eq!(
        client.ack(member, vec![range(&second[&1])]).await.unwrap(),
        (1, 0)
    );
    client
        .nack(member, "still down", vec![range(&second[&0])])
        .await
        .unwrap();
    until_progress(&client, &retry_topic, (2, 0)).await;
    clock.advance(HOUR * 2);
    let third = receive_n(&client, member, 1).await;
    assert_eq!(third[&0].attempt, 3);
    client
        .nack(member, "gave up", vec![range(&third[&0])])
        .await
        .unwrap();

    // Its attempts used up, it is dead-lettered with where it first was.
    let dlq = lockgate::broker::dead_letter_topic("billing");
    until_stored(&client, &dlq, 1).await;
    let (_, dead) = client.fetch(fetch_start(&dlq)).await.unwrap();
    let p = &dead[0].message.properties;
    assert_eq!(number_of(&dead[0].message.body), 0);
    assert_eq!(p[lockgate::broker::PROP_TOPIC], "orders");
    assert_eq!(p[lockgate::broker::PROP_QUEUE], "0");
    assert_eq!(p[lockgate::broker::PROP_OFFSET], "0");
    assert_eq!(p[lockgate::broker::PROP_ATTEMPTS], "3");
    assert!(p[lockgate::broker::PROP_REASON].contains("gave up"));
    until_progress(&client, &retry_topic, (3, 0)).await;
    assert!(client.delay_stats().await.unwrap().topics.is_empty());
    // The retry topic is the group's: nobody produces to it or reads it directly.
    let refused = client.fetch(fetch_start(&retry_topic)).await.unwrap_err();
    assert_eq!(
        refused.status(),
        Some(lockgate::protocol::Status::ReservedName)
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_retries_and_off_keep_retrying_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.retry_delays = vec![HOUR];
    config.groups.timer_retry_threshold = None;
    let clock = Clock::manual(lockgate::clock::system_now_ms());
    let (running, client) = with_orders(&config, &clock, dir.path(), 1).await;
    let member = client.join_group(join()).await.unwrap();
    let first = receive_n(&client, member, 1).await;
    client
        .nack(member, "x", vec![range(&first[&0])])
        .await
        .unwrap();
    // With the timer off, the retry waits in the queue's window.
    until_progress(&client, "orders", (0, 1)).await;
    assert!(client.delay_stats().await.unwrap().topics.is_empty());
    clock.advance(HOUR);
    let again = receive_n(&client, member, 1).await;
    assert_eq!((again[&0].attempt, again[&0].delivered.queue), (2, 0));
    running.stop().await.unwrap();
}

/// `builtin:retry-schedule` retrying after 5 s, dead-lettering after the second delivery.
fn retry_fixed() -> lockgate::plugin::PluginSpec {
    lockgate::plugin::PluginSpec {
        name: "retry-fixed".into(),
        config: vec![
            ("schedule".into(), "fixed".into()),
            ("delays".into(), "5s".into()),
            ("max_attempts".into(), "2".into()),
        ],
        ..lockgate::plugin::PluginSpec::builtin("retry-schedule")
    }
}

/// With a retry plugin in the topic's pipeline, the plugin decides every failed delivery: its
/// delays go through the timer, and its dead-letter reason reaches `%DLQ%`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_plugin_decides_the_delays_and_the_dead_letter() {
    use lockgate::config::plugins::{FilterStage, PipelineConfig, RetryStage};
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    // The group's own schedule would wait two hours; the plugin says 5 s, then gives up.
    config.groups.retry_delays = vec![HOUR * 2];
    config.plugins = vec![retry_fixed()];
    config.pipelines = vec![PipelineConfig {
        topics: vec!["orders".into()],
        ingress: None,
        filter: FilterStage::default(),
        retry: Some(RetryStage {
            plugin: "retry-fixed".into(),
        }),
    }];
    let clock = Clock::manual(lockgate::clock::system_now_ms());
    let (running, client) = with_orders(&config, &clock, dir.path(), 2).await;
    let member = client.join_group(join()).await.unwrap();
    let first = receive_n(&client, member, 2).await;
    client
        .nack(
            member,
            "db down",
            vec![range(&first[&0]), range(&first[&1])],
        )
        .await
        .unwrap();
    // Both left the window for the timer (the plugin decided, not the in-place schedule).
    until_progress(&client, "orders", (2, 0)).await;
    clock.advance(Duration::from_secs(5));
    let second = receive_n(&client, member, 2).await;
    assert!(second.values().all(|m| m.attempt == 2));
    client
        .nack(
            member,
            "still down",
            vec![range(&second[&0]), range(&second[&1])],
        )
        .await
        .unwrap();
    let dlq = lockgate::broker::dead_letter_topic("billing");
    until_stored(&client, &dlq, 2).await;
    let (_, dead) = client.fetch(fetch_start(&dlq)).await.unwrap();
    for d in &dead {
        let reason = &d.message.properties[lockgate::broker::PROP_REASON];
        assert!(reason.contains("max_attempts = 2"), "{reason}");
        assert!(reason.contains("the last by a nack"), "{reason}");
    }
    let listed = client.list_plugins().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|p| p.name == "retry-fixed" && p.kind == "retry"),
        "{listed:?}"
    );
    running.stop().await.unwrap();
}

/// With a retry plugin, a filter that fails under `on_error = "pause"` does not pause the
/// member: the batch's messages are failed deliveries (reason filter-failed) the plugin
/// decides; their retries are filtered again, and the last failure shows in the dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_failure_under_pause_goes_to_the_retry_plugin() {
    use lockgate::config::plugins::{FilterStage, OnError, PipelineConfig, RetryStage};
    use lockgate::protocol::FilterSpec;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.retry_delays = vec![HOUR * 2];
    let fragile = dir.path().join("fragile.wasm");
    std::fs::copy(
        format!("{}/misbehave.wasm", env!("LOCKGATE_PLUGIN_DIR")),
        &fragile,
    )
    .unwrap();
    config.plugins = vec![
        retry_fixed(),
        lockgate::plugin::PluginSpec {
            name: "fragile".into(),
            source: fragile.display().to_string(),
            ..lockgate::plugin::PluginSpec::builtin("fragile")
        },
    ];
    config.pipelines = vec![PipelineConfig {
        topics: vec!["orders".into()],
        ingress: None,
        filter: FilterStage {
            on_error: OnError::Pause,
            allow: None,
        },
        retry: Some(RetryStage {
            plugin: "retry-fixed".into(),
        }),
    }];
    let clock = Clock::manual(lockgate::clock::system_now_ms());
    let (running, client) = with_orders(&config, &clock, dir.path(), 2).await;
    let member = client
        .join_group(JoinRequest {
            filter: Some(FilterSpec {
                plugin: "fragile".into(),
                expression: "trap".into(),
            }),
            ..join()
        })
        .await
        .unwrap();
    // The take runs the filter, which traps: nothing is delivered and nothing is paused.
    let got = client
        .receive(member, 10, 1 << 20, Duration::from_millis(50))
        .await
        .expect("no FilterFailed: the retry plugin decides");
    assert!(got.is_empty(), "{got:?}");
    until_progress(&client, "orders", (2, 0)).await;
    // At the plugin's 5 s the retries come back, are filtered again, fail again: dead letters.
    clock.advance(Duration::from_secs(5));
    let dlq = lockgate::broker::dead_letter_topic("billing");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = client
            .receive(member, 10, 1 << 20, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(
            got.is_empty(),
            "a message the filter failed on was delivered: {got:?}"
        );
        let (_, dead) = client.fetch(fetch_start(&dlq)).await.unwrap_or_default();
        if dead.len() == 2 {
            for d in &dead {
                let reason = &d.message.properties[lockgate::broker::PROP_REASON];
                assert!(reason.contains("the last by a failed filter"), "{reason}");
                assert!(reason.contains("max_attempts = 2"), "{reason}");
            }
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "dead letters: {dead:?}"
        );
    }
    running.stop().await.unwrap();
}
