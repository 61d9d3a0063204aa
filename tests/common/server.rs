//! An in-process server on 127.0.0.1:0 with a temporary data directory, and a client for it.

use std::path::Path;

use lockgate::client::{Client, ClientOptions};
use lockgate::clock::Clock;
use lockgate::config::Config;
use lockgate::server::Running;

pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.server.data_dir = dir.to_path_buf();
    c.storage.segment_size = 8 << 20;
    // In-process servers run side by side; the metrics tests turn the endpoint on.
    c.metrics.listen = None;
    c
}

pub async fn start(config: &Config) -> Running {
    Running::start(config).await.expect("server starts")
}

/// A server whose services read time from a manual clock, standing at the system's time
/// until the test moves it.
pub async fn start_manual(config: &Config) -> (Running, Clock) {
    let clock = Clock::manual(lockgate::clock::system_now_ms());
    let running = Running::start_with_clock(config, clock.clone())
        .await
        .expect("server starts");
    (running, clock)
}

/// Options for a client of `running`, over the transport under test.
pub fn client_options(running: &Running, dir: &Path) -> ClientOptions {
    let transport = super::transport();
    let server = match transport {
        lockgate::client::Transport::Quic => running.local_addr(),
        lockgate::client::Transport::Tcp => running.local_tcp_addr().expect("TCP listener on"),
    };
    ClientOptions {
        server,
        server_name: "localhost".into(),
        ca: dir.join("tls/ca.pem"),
        client_cert: None,
        token: None,
        transport,
    }
}

pub async fn connect(running: &Running, dir: &Path) -> Client {
    Client::connect(&client_options(running, dir))
        .await
        .expect("client connects")
}

/// Produces every message through one pipelined producer and waits for all acknowledgements.
pub async fn produce_all(
    client: &Client,
    topic: &str,
    messages: impl IntoIterator<Item = lockgate::protocol::ProduceMessage>,
) {
    let producer = client
        .producer(lockgate::client::ProducerOptions::new(topic))
        .await
        .unwrap();
    let mut handles = Vec::new();
    for pm in messages {
        handles.push(producer.send_async(pm).await.unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    producer.close().await;
}

/// The number a test message carries in its first 8 body bytes.
pub fn number_of(body: &[u8]) -> u64 {
    u64::from_le_bytes(body[..8].try_into().unwrap())
}

/// A clustering join from the earliest offset, with the server's defaults.
pub fn clustering_join(group: &str, topic: &str) -> lockgate::protocol::JoinRequest {
    lockgate::protocol::JoinRequest {
        group: group.into(),
        topic: topic.into(),
        instance: String::new(),
        mode: lockgate::protocol::Mode::Clustering,
        start: lockgate::protocol::StartPosition::Earliest,
        lease_ms: 0,
        max_attempts: 0,
        session_timeout_ms: 0,
        filter: None,
    }
}

/// A fetch of up to 10 messages of queue 0 from offset 0, without waiting.
pub fn fetch_start(topic: &str) -> lockgate::protocol::FetchRequest {
    lockgate::protocol::FetchRequest {
        topic: topic.into(),
        queue: 0,
        offset: 0,
        max_messages: 10,
        max_bytes: 1 << 20,
        max_wait_ms: 0,
    }
}

/// Waits (up to a minute) until queue 0 of `topic` holds `n` messages.
pub async fn until_stored(client: &Client, topic: &str, n: u64) {
    let stored = async {
        loop {
            if let Ok((_, q)) = client.describe_topic(topic).await
                && q[0].next == n
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), stored)
        .await
        .unwrap_or_else(|_| panic!("{topic} never held {n} messages"));
}

/// Every message stored in `topic`'s queues `0..queues`, queue after queue, in offset order.
pub async fn read_everything(
    client: &Client,
    topic: &str,
    queues: u32,
) -> Vec<lockgate::protocol::Delivered> {
    let mut out = Vec::new();
    for queue in 0..queues {
        let mut offset = 0;
        loop {
            let (next, got) = client
                .fetch(lockgate::protocol::FetchRequest {
                    topic: topic.into(),
                    queue,
                    offset,
                    max_messages: 10_000,
                    max_bytes: 8 << 20,
                    max_wait_ms: 0,
                })
                .await
                .unwrap();
            if got.is_empty() {
                break;
            }
            out.extend(got);
            offset = next;
        }
    }
    out
}
