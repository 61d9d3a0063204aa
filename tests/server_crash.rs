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
    ClientOptions {
        server: format!("127.0.0.1:{}", server.port).parse().unwrap(),
        server_name: "localhost".into(),
        ca: server.ca(),
        client_cert: None,
    }
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
                let producer = client
                    .producer(ProducerOptions::new("crash"))
                    .await
                    .unwrap();
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
        client.connection().close(0u32.into(), b"server killed");
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
