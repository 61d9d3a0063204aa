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
