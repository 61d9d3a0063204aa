//! SIGKILL a `lockgate serve` process while idempotent producers send batches through an
//! ingress pipeline that fans every message out to two topics, five times over. After each
//! restart every producer resends the batch it had in flight. In the end: every message is in
//! both topics or in neither (no partial fan-out), exactly once, and every acknowledged batch
//! is there, at the places its acknowledgement named.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{ServeProcess, free_udp_port};
use lockgate::client::Client;
use lockgate::protocol::{ProduceMessage, ProduceRequest, Request, Response, Route, RouteOutcome};
use lockgate::storage::{Durability, Message, MessageId};

const PATIENCE: Duration = Duration::from_secs(90);
const FAN_OUT: &str = r##"
[plugins.fan]
path = "builtin:topic-exchange"
[plugins.fan.config]
bindings = "# -> fan.a, fan.b"

[[pipeline]]
topics = ["fan.in"]
[pipeline.ingress]
stages = ["fan"]
"##;
const PER_BATCH: u64 = 5;

/// The batch `sequence` of producer `producer`: its messages carry ids naming both.
fn batch(producer: u64, sequence: u64) -> ProduceRequest {
    ProduceRequest {
        topic: "fan.in".into(),
        producer_id: producer,
        sequence,
        messages: (0..PER_BATCH)
            .map(|k| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&producer.to_le_bytes());
                id[8..].copy_from_slice(&(sequence * PER_BATCH + k + 1).to_le_bytes());
                ProduceMessage {
                    route: Route::Any,
                    message: Message {
                        id: MessageId(id),
                        body: format!("{producer}/{sequence}/{k}").into_bytes(),
                        ..Message::default()
                    },
                }
            })
            .collect(),
    }
}

/// Acknowledged places per message id.
type Acked = Arc<Mutex<HashMap<MessageId, Vec<(String, u32, u64)>>>>;

/// Sends one batch; true when it was acknowledged (its places noted).
async fn send(client: &Client, req: ProduceRequest, acked: &Acked) -> bool {
    match client.call(Request::Produce(req)).await {
        Ok(Response::Routed { acks, .. }) => {
            let mut a = acked.lock().unwrap();
            for ack in acks {
                assert_eq!(ack.outcome, RouteOutcome::Stored, "{ack:?}");
                let places = ack
                    .destinations
                    .iter()
                    .map(|d| (d.topic.clone(), d.queue, d.offset))
                    .collect();
                a.insert(ack.id, places);
            }
            true
        }
        Ok(other) => panic!("not a routed answer: {other:?}"),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_routed_fan_out_stores_whole_batches_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let acked: Acked = Arc::default();
    // Each producer's next sequence; the batch at it may be in flight.
    let next: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    for round in 0..6u32 {
        let server = ServeProcess::start_with(dir.path(), port, FAN_OUT);
        let client = Client::connect(&server.client_options()).await.unwrap();
        if round == 0 {
            for (t, q) in [("fan.in", 1), ("fan.a", 2), ("fan.b", 3)] {
                client
                    .create_topic(t, q, Some(Durability::Sync), 0)
                    .await
                    .unwrap();
            }
        }
        // Resend whatever was in flight when the server died: stored once, or now.
        for producer in 1..=2u64 {
            let seq = *next.lock().unwrap().get(&producer).unwrap_or(&0);
            if round > 0 {
                assert!(
                    send(&client, batch(producer, seq), &acked).await,
                    "resend refused"
                );
                next.lock().unwrap().insert(producer, seq + 1);
            }
        }
        if round == 5 {
            break;
        }
        let progress = Arc::new(tokio::sync::Notify::new());
        let workers: Vec<_> = (1..=2u64)
            .map(|producer| {
                let (client, acked, next, progress) = (
                    client.clone(),
                    acked.clone(),
                    next.clone(),
                    progress.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let seq = *next.lock().unwrap().get(&producer).unwrap_or(&0);
                        if !send(&client, batch(producer, seq), &acked).await {
                            return;
                        }
                        next.lock().unwrap().insert(producer, seq + 1);
                        progress.notify_one();
                    }
                })
            })
            .collect();
        for _ in 0..fastrand::usize(10..60) {
            tokio::time::timeout(PATIENCE, progress.notified())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no progress"));
        }
        drop(server); // SIGKILL, batches in flight
        for w in workers {
            w.abort();
            let _ = w.await;
        }
        client.abort(0, "killed");
    }
    let server = ServeProcess::start_with(dir.path(), port, FAN_OUT);
    let client = Client::connect(&server.client_options()).await.unwrap();
    let mut held: HashMap<(String, MessageId), Vec<(u32, u64)>> = HashMap::new();
    for (topic, queues) in [("fan.a", 2), ("fan.b", 3)] {
        for d in common::server::read_everything(&client, topic, queues).await {
            held.entry((topic.to_string(), d.message.id))
                .or_default()
                .push((d.queue, d.offset));
        }
    }
    assert!(
        common::server::read_everything(&client, "fan.in", 1)
            .await
            .is_empty()
    );
    let twice: Vec<_> = held.iter().filter(|(_, at)| at.len() > 1).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    let ids: std::collections::HashSet<MessageId> = held.keys().map(|(_, id)| *id).collect();
    for id in &ids {
        for topic in ["fan.a", "fan.b"] {
            assert!(
                held.contains_key(&(topic.to_string(), *id)),
                "{id} is not in {topic}: a partial fan-out"
            );
        }
    }
    let acked = acked.lock().unwrap();
    let sent: u64 = next.lock().unwrap().values().sum();
    assert_eq!(
        acked.len() as u64,
        sent * PER_BATCH,
        "every batch was acknowledged in the end"
    );
    assert_eq!(
        ids.len(),
        acked.len(),
        "stored messages are the acknowledged ones"
    );
    for (id, places) in acked.iter() {
        assert_eq!(places.len(), 2, "{id}: {places:?}");
        for (topic, queue, offset) in places {
            assert_eq!(
                held.get(&(topic.clone(), *id)),
                Some(&vec![(*queue, *offset)]),
                "{id} is not where its ack says"
            );
        }
    }
    assert!(sent > 20, "only {sent} batches went through");
}
