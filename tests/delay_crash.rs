//! SIGKILL a `lockgate serve` process while delay messages are being enqueued and fired, five
//! times over; after a last restart every acknowledged delay message is delivered exactly
//! once, and none before its time.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{ServeProcess, free_udp_port};
use lockgate::client::{Client, ProducerOptions};
use lockgate::clock::system_now_ms;
use lockgate::protocol::{Delivery, FetchRequest, ProduceMessage, Route};
use lockgate::storage::{Durability, Message, MessageId};

const QUEUES: u32 = 2;
/// Upper bound for the final wait: reaching it is a failure.
const PATIENCE: Duration = Duration::from_secs(90);

/// Acknowledged delay messages: id → requested delivery time; notified at each new one.
#[derive(Default)]
struct AckedInner {
    map: Mutex<HashMap<MessageId, i64>>,
    more: tokio::sync::Notify,
}
type Acked = Arc<AckedInner>;

/// Sends delay messages due within 0–1.5 s until the producer fails (the kill).
async fn enqueue(client: Client, acked: Acked, round: u32) {
    let mut opts = ProducerOptions::new("dc");
    opts.retries = 0;
    let Ok(producer) = client.producer(opts).await else {
        return;
    };
    let mut pending = std::collections::VecDeque::new();
    for n in 0u64.. {
        let m = ProduceMessage {
            route: Route::Any,
            message: Message {
                body: format!("round {round} n {n}").into_bytes(),
                ..Message::default()
            },
        };
        let due = system_now_ms() + fastrand::i64(0..1_500);
        let Ok(h) = producer.send_delayed_async(m, Delivery::At(due)).await else {
            return;
        };
        pending.push_back(h);
        if pending.len() >= 16 {
            match pending.pop_front().unwrap().await {
                Ok(ack) => {
                    acked.map.lock().unwrap().insert(ack.id, ack.deliver_at);
                    acked.more.notify_one();
                }
                Err(_) => return,
            }
        }
    }
}

/// Every message of the topic: id → (requested time, store time), and ids seen twice.
async fn read_all(client: &Client) -> (HashMap<MessageId, (i64, i64)>, Vec<MessageId>) {
    let mut seen = HashMap::new();
    let mut twice = Vec::new();
    for d in common::server::read_everything(client, "dc", QUEUES).await {
        let due = d.message.properties["lockgate.deliver_at"].parse().unwrap();
        if seen.insert(d.message.id, (due, d.stored_at)).is_some() {
            twice.push(d.message.id);
        }
    }
    (seen, twice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_enqueue_and_firing_delivers_every_acked_delay_message_once_never_early() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let acked: Acked = Arc::default();
    for round in 0..5u32 {
        let server = ServeProcess::start(dir.path(), port);
        let client = Client::connect(&server.client_options()).await.unwrap();
        if round == 0 {
            client
                .create_topic("dc", QUEUES, Some(Durability::Sync), 0)
                .await
                .unwrap();
        }
        let producer = tokio::spawn(enqueue(client.clone(), acked.clone(), round));
        // Kill once some messages of this round are acknowledged (and earlier ones fire).
        let target = acked.map.lock().unwrap().len() + fastrand::usize(100..600);
        while acked.map.lock().unwrap().len() < target {
            tokio::time::timeout(PATIENCE, acked.more.notified())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no progress"));
        }
        drop(server); // SIGKILL
        let _ = producer.await;
        client.close().await;
    }
    let server = ServeProcess::start(dir.path(), port);
    let client = Client::connect(&server.client_options()).await.unwrap();
    let acked = acked.map.lock().unwrap().clone();
    let last_due = acked.values().copied().max().unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (seen, twice) = loop {
        let (seen, twice) = read_all(&client).await;
        if acked.keys().all(|id| seen.contains_key(id)) {
            break (seen, twice);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} acknowledged delay messages delivered (last due {} ms ago)",
            acked.keys().filter(|id| seen.contains_key(id)).count(),
            acked.len(),
            system_now_ms() - last_due
        );
        // Wait for the next delivery to queue 0 (a long poll at its end) rather than spin.
        let (_, ranges) = client.describe_topic("dc").await.unwrap();
        let _ = client
            .fetch(FetchRequest {
                topic: "dc".into(),
                queue: 0,
                offset: ranges[0].next,
                max_messages: 1,
                max_bytes: 1 << 20,
                max_wait_ms: 500,
            })
            .await;
    };
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    for (id, due) in &acked {
        let (requested, stored) = seen[id];
        assert_eq!(requested, *due, "{id}: the requested time travels");
        assert!(
            stored >= requested,
            "{id} delivered {} ms early",
            requested - stored
        );
    }
    assert!(
        acked.len() >= 500,
        "the rounds acknowledged {}",
        acked.len()
    );
    client.close().await;
}
