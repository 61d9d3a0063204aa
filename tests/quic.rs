//! End to end over QUIC: an in-process server, the Rust client, the produce and fetch paths.

mod common;

use common::server::{connect, start, test_config};
use lockgate::protocol::{FetchRequest, ProduceMessage, Route};
use lockgate::storage::{Durability, Message};

fn message(n: u64) -> Message {
    Message {
        body: format!("message {n}").into_bytes(),
        keys: vec![format!("k{n}")],
        ..Message::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_come_back_in_per_queue_order() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("orders", 4, Some(Durability::Async), 0)
        .await
        .unwrap();

    let producer = client
        .producer(lockgate::client::ProducerOptions::new("orders"))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for n in 0..10_000u64 {
        let route = Route::Queue((n % 4) as u32);
        handles.push(
            producer
                .send_async(ProduceMessage {
                    route,
                    message: message(n),
                })
                .await
                .unwrap(),
        );
    }
    let mut acks = Vec::new();
    for h in handles {
        acks.push(h.await.unwrap());
    }
    producer.close().await;
    for (n, a) in acks.iter().enumerate() {
        assert_eq!(
            (a.queue, a.offset),
            ((n % 4) as u32, (n / 4) as u64),
            "ack of message {n}"
        );
    }

    for q in 0..4u32 {
        let mut offset = 0;
        let mut got = Vec::new();
        while got.len() < 2_500 {
            let (next, msgs) = client
                .fetch(FetchRequest {
                    topic: "orders".into(),
                    queue: q,
                    offset,
                    max_messages: 700,
                    max_bytes: 1 << 20,
                    max_wait_ms: 0,
                })
                .await
                .unwrap();
            assert!(!msgs.is_empty(), "queue {q} ran dry at {offset}");
            offset = next;
            got.extend(msgs);
        }
        for (i, d) in got.iter().enumerate() {
            let n = i as u64 * 4 + u64::from(q);
            assert_eq!((d.queue, d.offset), (q, i as u64));
            assert_eq!(d.message.body, message(n).body, "queue {q} offset {i}");
        }
    }
    client.close().await;
    running.stop().await.unwrap();
}
