//! `sync` topics acknowledge only what is on disk: SIGKILL a `lockgate serve` process under
//! produce load, restart it, and read back every acknowledged message over QUIC.

mod common;

use std::sync::{Arc, Mutex};

use common::process::{ServeProcess, free_udp_port};
use lockgate::client::{Client, ClientOptions, ProducerOptions};
use lockgate::protocol::{FetchRequest, ProduceMessage, Route};
use lockgate::storage::{Durability, Message};

/// Acknowledged messages: (queue, offset, body).
type Acked = Arc<Mutex<Vec<(u32, u64, Vec<u8>)>>>;

fn options(server: &ServeProcess) -> ClientOptions {
    server.client_options()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_server_loses_no_acknowledged_sync_message() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let acked: Acked = Arc::default();
    for round in 0..3u32 {
        let mut server = ServeProcess::start(dir.path(), port);
        let client = Client::connect(&options(&server)).await.unwrap();
        if round == 0 {
            client
                .create_topic("crash", 4, Some(Durability::Sync), 0)
                .await
                .unwrap();
        }
        let kill_after = acked.lock().unwrap().len() + fastrand::usize(200..2_000);
        let mut producers = Vec::new();
        for q in 0..4u32 {
            let (client, acked) = (client.clone(), acked.clone());
            producers.push(tokio::spawn(async move {
                // No resending here: this test checks what was acknowledged before the kill.
                let mut opts = ProducerOptions::new("crash");
                opts.retries = 0;
                let producer = client.producer(opts).await.unwrap();
                let mut pending = std::collections::VecDeque::new();
                for n in 0u64.. {
                    let body = format!("round {round} queue {q} n {n}").into_bytes();
                    let m = ProduceMessage {
                        route: Route::Queue(q),
                        message: Message {
                            body: body.clone(),
                            ..Message::default()
                        },
                    };
                    let Ok(handle) = producer.send_async(m).await else {
                        return;
                    };
                    pending.push_back((handle, body));
                    // Keep a window of messages in flight; record each ack as it comes.
                    if pending.len() >= 32 {
                        let (handle, body) = pending.pop_front().unwrap();
                        match handle.await {
                            Ok(ack) => acked.lock().unwrap().push((ack.queue, ack.offset, body)),
                            Err(_) => return, // the server died
                        }
                    }
                }
            }));
        }
        while acked.lock().unwrap().len() < kill_after {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await; // polling a counter fed by other tasks
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        // A killed server says nothing; close our side instead of waiting for the idle timeout.
        client.abort(0, "server killed");
        for p in producers {
            let _ = p.await;
        }
        drop(server);

        let server = ServeProcess::start(dir.path(), port);
        let client = Client::connect(&options(&server)).await.unwrap();
        let acked_now = acked.lock().unwrap().clone();
        for (queue, offset, body) in &acked_now {
            let (_, msgs) = client
                .fetch(FetchRequest {
                    topic: "crash".into(),
                    queue: *queue,
                    offset: *offset,
                    max_messages: 1,
                    max_bytes: 1 << 20,
                    max_wait_ms: 0,
                })
                .await
                .unwrap();
            assert_eq!(
                msgs.first().map(|m| &m.message.body),
                Some(body),
                "acknowledged {queue}/{offset} lost (round {round})"
            );
        }
        client.close().await;
    }
    assert!(acked.lock().unwrap().len() >= 600);
}

/// Produces one batch as idempotent producer `id` with `sequence`, spanning two queues.
async fn produce_as(
    client: &Client,
    id: u64,
    sequence: u64,
    texts: &[&str],
) -> Result<lockgate::protocol::Response, lockgate::client::ClientError> {
    let messages = texts
        .iter()
        .enumerate()
        .map(|(i, t)| ProduceMessage {
            route: Route::Queue((i % 2) as u32),
            message: Message {
                id: lockgate::storage::MessageId([i as u8 + 1; 16]),
                body: t.as_bytes().to_vec(),
                ..Message::default()
            },
        })
        .collect();
    client
        .call(lockgate::protocol::Request::Produce(
            lockgate::protocol::ProduceRequest {
                topic: "idem".into(),
                producer_id: id,
                sequence,
                messages,
            },
        ))
        .await
}

fn produced(r: lockgate::protocol::Response) -> (bool, Vec<(u32, u64)>) {
    match r {
        lockgate::protocol::Response::Produced {
            duplicate, acks, ..
        } => (
            duplicate,
            acks.iter().map(|a| (a.queue, a.offset)).collect(),
        ),
        other => panic!("expected acks, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_batch_is_stored_once_also_after_a_crash_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut server = ServeProcess::start(dir.path(), port);
    let client = Client::connect(&options(&server)).await.unwrap();
    client
        .create_topic("idem", 2, Some(Durability::Sync), 0)
        .await
        .unwrap();
    client
        .call(lockgate::protocol::Request::Session(
            lockgate::protocol::SessionRequest::Ping { nonce: 0 },
        ))
        .await
        .unwrap();

    let batch = ["a", "b", "c"];
    let (dup, first) = produced(produce_as(&client, 42, 0, &batch).await.unwrap());
    assert!(!dup);
    assert_eq!(first, vec![(0, 0), (1, 0), (0, 1)]);
    let (dup, again) = produced(produce_as(&client, 42, 0, &batch).await.unwrap());
    assert!(dup, "a resent batch is recognized");
    assert_eq!(again, first, "and acknowledged with its original offsets");

    // Crash, restart: the table comes back from the log.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    client.abort(0, "server killed");
    drop(server);
    let server = ServeProcess::start(dir.path(), port);
    let client = Client::connect(&options(&server)).await.unwrap();
    let (dup, after_crash) = produced(produce_as(&client, 42, 0, &batch).await.unwrap());
    assert!(dup);
    assert_eq!(after_crash, first);
    let (_, ranges) = client.describe_topic("idem").await.unwrap();
    assert_eq!((ranges[0].next, ranges[1].next), (2, 1), "stored once");

    // The next batch is new; then a clean restart (the table comes from the snapshot).
    let (dup, second) = produced(produce_as(&client, 42, 1, &["d"]).await.unwrap());
    assert!(!dup);
    assert_eq!(second, vec![(0, 2)]);
    client.close().await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut server = server;
    server.child.wait().unwrap();
    drop(server);
    let server = ServeProcess::start(dir.path(), port);
    let client = Client::connect(&options(&server)).await.unwrap();
    let (dup, again) = produced(produce_as(&client, 42, 1, &["d"]).await.unwrap());
    assert!(dup);
    assert_eq!(again, second);

    // A batch older than everything remembered cannot be judged: refused, not stored.
    let last = lockgate::storage::KEEP_BATCHES as u64 + 3;
    for seq in 2..=last {
        produce_as(&client, 42, seq, &["x"]).await.unwrap();
    }
    let stale = produce_as(&client, 42, 0, &batch).await.unwrap_err();
    assert_eq!(
        stale.status(),
        Some(lockgate::protocol::Status::SequenceOutOfOrder),
        "{stale}"
    );
    // The same sequence reused for a different batch is refused too.
    let reused = produce_as(&client, 42, last, &["x", "y", "z"])
        .await
        .unwrap_err();
    assert_eq!(
        reused.status(),
        Some(lockgate::protocol::Status::InvalidArgument),
        "{reused}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_resends_through_a_server_crash_and_stores_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut server = ServeProcess::start(dir.path(), port);
    let client = Client::connect(&options(&server)).await.unwrap();
    client
        .create_topic("retry", 2, Some(Durability::Sync), 0)
        .await
        .unwrap();
    let mut opts = ProducerOptions::new("retry");
    opts.request_timeout = std::time::Duration::from_secs(1);
    let producer = client.producer(opts).await.unwrap();
    let send = |n: u64| ProduceMessage {
        route: Route::Queue((n % 2) as u32),
        message: Message {
            body: format!("m{n}").into_bytes(),
            ..Message::default()
        },
    };
    let mut handles = Vec::new();
    for n in 0..1500 {
        handles.push(producer.send_async(send(n)).await.unwrap());
    }
    // Let part of it be acknowledged, then kill the server with the rest in flight.
    let mut acked = Vec::new();
    for h in handles.drain(..200) {
        acked.push(h.await.unwrap());
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let server = ServeProcess::start(dir.path(), port);
    for n in 1500..3000 {
        handles.push(producer.send_async(send(n)).await.unwrap());
    }
    for h in handles {
        acked.push(h.await.expect("every send succeeds through the crash"));
    }
    producer.close().await;

    // Each message exactly once.
    let client = Client::connect(&options(&server)).await.unwrap();
    let mut bodies = Vec::new();
    for q in 0..2 {
        let (_, msgs) = client
            .fetch(FetchRequest {
                topic: "retry".into(),
                queue: q,
                offset: 0,
                max_messages: 10_000,
                max_bytes: 16 << 20,
                max_wait_ms: 0,
            })
            .await
            .unwrap();
        bodies.extend(
            msgs.into_iter()
                .map(|m| String::from_utf8(m.message.body).unwrap()),
        );
    }
    let unique: std::collections::HashSet<&String> = bodies.iter().collect();
    assert_eq!(unique.len(), bodies.len(), "a message was stored twice");
    assert_eq!(bodies.len(), 3000, "every message is stored");
    let offsets: std::collections::HashSet<(u32, u64)> =
        acked.iter().map(|a| (a.queue, a.offset)).collect();
    assert_eq!(offsets.len(), 3000, "every ack names its own offset");
    client.close().await;
}
