//! Delay messages through a running server: delivery at the time and never before, the
//! levels and limits, cancel and state, and the delay topic's invisibility.

mod common;

use std::time::Duration;

use common::server::{connect, start_manual, test_config};
use lockgate::client::{Client, ProducerOptions};
use lockgate::protocol::{DelayPhase, Delivery, FetchRequest, ProduceMessage, Route, ScheduledAck};
use lockgate::storage::{Durability, Message};

fn message(body: &str) -> ProduceMessage {
    ProduceMessage {
        route: Route::Queue(0),
        message: Message {
            body: body.as_bytes().to_vec(),
            born_at: 1_000,
            ..Message::default()
        },
    }
}

async fn schedule(client: &Client, topic: &str, body: &str, d: Delivery) -> ScheduledAck {
    let producer = client.producer(ProducerOptions::new(topic)).await.unwrap();
    let ack = producer.send_delayed(message(body), d).await.unwrap();
    producer.close().await;
    ack
}

/// Fetches queue 0 from `offset`, waiting up to `wait_ms` for something to arrive.
async fn fetch(
    client: &Client,
    topic: &str,
    offset: u64,
    wait_ms: u32,
) -> Vec<lockgate::protocol::Delivered> {
    client
        .fetch(FetchRequest {
            topic: topic.into(),
            queue: 0,
            offset,
            max_messages: 100,
            max_bytes: 1 << 20,
            max_wait_ms: wait_ms,
        })
        .await
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_message_appears_at_its_time_never_before_with_its_times() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock) = start_manual(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("later", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let start = clock.now_ms();
    let ack = schedule(&client, "later", "hello", Delivery::After(1_500)).await;
    assert_eq!(ack.deliver_at, start + 1_500);
    assert_eq!(ack.queue, 0);

    clock.advance(Duration::from_millis(1_499));
    assert!(
        fetch(&client, "later", 0, 200).await.is_empty(),
        "one ms early is early"
    );
    let state = client.delay_state("later", ack.id).await.unwrap();
    assert_eq!(state.phase, DelayPhase::Pending);
    assert_eq!(state.deliver_at, start + 1_500);

    clock.advance(Duration::from_millis(1));
    let got = fetch(&client, "later", 0, 10_000).await;
    assert_eq!(got.len(), 1, "delivered once it is due");
    let m = &got[0];
    assert_eq!(m.message.id, ack.id, "the id the producer was given");
    assert_eq!(m.message.body, b"hello");
    assert_eq!(m.message.born_at, 1_000, "the original born time");
    assert_eq!(
        m.message
            .properties
            .get("lockgate.deliver_at")
            .map(String::as_str),
        Some((start + 1_500).to_string().as_str()),
        "the requested delivery time"
    );
    assert!(m.stored_at >= start + 1_500, "stored no earlier than due");
    assert!(
        fetch(&client, "later", 1, 200).await.is_empty(),
        "exactly once"
    );
    let state = client.delay_state("later", ack.id).await.unwrap();
    assert_eq!((state.phase, state.offset), (DelayPhase::Delivered, 0));
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_system_clock_a_short_delay_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let running = common::server::start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("soon", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let ack = schedule(&client, "soon", "x", Delivery::After(300)).await;
    let got = fetch(&client, "soon", 0, 20_000).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].stored_at >= ack.deliver_at);
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_pending_message_and_says_when_it_is_too_late() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock) = start_manual(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("c", 1, Some(Durability::Sync), 0)
        .await
        .unwrap();
    let kept = schedule(&client, "c", "kept", Delivery::After(1_000)).await;
    let dropped = schedule(&client, "c", "dropped", Delivery::After(1_000)).await;
    // Far ahead, in a bucket the timer has not loaded yet.
    let far = schedule(&client, "c", "far", Delivery::After(3_600_000)).await;

    assert_eq!(
        client.cancel_delayed("c", dropped.id).await.unwrap(),
        (dropped.deliver_at, false)
    );
    assert_eq!(
        client.cancel_delayed("c", dropped.id).await.unwrap(),
        (dropped.deliver_at, true),
        "a second cancel changes nothing"
    );
    assert!(!client.cancel_delayed("c", far.id).await.unwrap().1);
    let e = client.cancel_delayed("other", kept.id).await.unwrap_err();
    assert_eq!(e.status(), Some(lockgate::protocol::Status::UnknownTopic));

    clock.advance(Duration::from_millis(1_000));
    let got = fetch(&client, "c", 0, 10_000).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message.body, b"kept");
    let e = client.cancel_delayed("c", kept.id).await.unwrap_err();
    assert_eq!(
        e.status(),
        Some(lockgate::protocol::Status::AlreadyDelivered),
        "{e}"
    );
    assert!(e.to_string().contains("delivered"), "{e}");
    assert_eq!(
        client.delay_state("", dropped.id).await.unwrap().phase,
        DelayPhase::Cancelled
    );
    clock.advance(Duration::from_millis(3_600_000));
    assert!(
        fetch(&client, "c", 1, 300).await.is_empty(),
        "cancelled messages never appear"
    );
    let stats = client.delay_stats().await.unwrap();
    assert!(stats.topics.is_empty(), "{stats:?}");
    let e = client
        .delay_state("", lockgate::storage::MessageId([7; 16]))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(lockgate::protocol::Status::UnknownMessage));
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_past_times_limits_and_the_hidden_delay_topic() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock) = start_manual(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("lv", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let now = clock.now_ms();
    let level3 = schedule(&client, "lv", "l3", Delivery::Level(3)).await;
    assert_eq!(level3.deliver_at, now + 10_000, "level 3 is 10s");
    let past = schedule(&client, "lv", "past", Delivery::At(now - 60_000)).await;
    let got = fetch(&client, "lv", 0, 10_000).await;
    assert_eq!(got.len(), 1, "a past time is delivered at once");
    assert_eq!(got[0].message.id, past.id);

    let producer = client.producer(ProducerOptions::new("lv")).await.unwrap();
    let refused = |e: lockgate::client::ClientError, needle: &str| {
        assert_eq!(
            e.status(),
            Some(lockgate::protocol::Status::InvalidArgument),
            "{e}"
        );
        assert!(e.to_string().contains(needle), "{e}");
    };
    refused(
        producer
            .send_delayed(message("x"), Delivery::Level(19))
            .await
            .unwrap_err(),
        "1 to 18",
    );
    refused(
        producer
            .send_delayed(message("x"), Delivery::After(366 * 24 * 3_600_000))
            .await
            .unwrap_err(),
        "max_delay",
    );
    let mut reserved = message("x");
    reserved
        .message
        .properties
        .insert("lockgate.timer".into(), "1/2/3".into());
    refused(
        producer
            .send_delayed(reserved.clone(), Delivery::After(1))
            .await
            .unwrap_err(),
        "lockgate.",
    );
    refused(producer.send(reserved).await.unwrap_err(), "lockgate.");
    producer.close().await;

    let e = client
        .fetch(FetchRequest {
            topic: "%DELAY%".into(),
            queue: 0,
            offset: 0,
            max_messages: 10,
            max_bytes: 1 << 20,
            max_wait_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(lockgate::protocol::Status::ReservedName));
    assert!(
        client
            .list_topics()
            .await
            .unwrap()
            .iter()
            .all(|t| t.name != "%DELAY%")
    );
    assert!(client.delete_topic("%DELAY%").await.is_err());
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_delay_messages_go_through_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock) = start_manual(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("f", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let producer = client.producer(ProducerOptions::new("f")).await.unwrap();
    for tag in ["a", "b", "a"] {
        let mut m = message(tag);
        m.message.tag = tag.into();
        producer
            .send_delayed(m, Delivery::After(5_000))
            .await
            .unwrap();
    }
    producer.close().await;
    clock.advance(Duration::from_millis(5_000));
    let filter = lockgate::protocol::FilterSpec {
        plugin: "tag".into(),
        expression: "a".into(),
    };
    let mut seen = Vec::new();
    let mut offset = 0;
    while seen.len() < 2 {
        let (next, got) = client
            .fetch_filtered(
                FetchRequest {
                    topic: "f".into(),
                    queue: 0,
                    offset,
                    max_messages: 10,
                    max_bytes: 1 << 20,
                    max_wait_ms: 10_000,
                },
                filter.clone(),
            )
            .await
            .unwrap();
        seen.extend(got.into_iter().map(|d| d.message.tag));
        offset = next;
    }
    assert_eq!(seen, vec!["a", "a"]);
    client.close().await;
    running.stop().await.unwrap();
}
