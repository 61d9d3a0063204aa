//! Idempotence across crashes for every route: four `lockgate produce` processes send on route
//! "any" while the server is killed with SIGKILL and restarted, round after round. Every
//! producer exits 0, every line it sent is stored exactly once, and every acknowledgement
//! names the stored copy.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::process::{ServeProcess, bin, free_udp_port};
use lockgate::client::{Client, ClientOptions};
use lockgate::storage::Durability;

const PRODUCERS: usize = 4;
const ROUNDS: usize = 10;
const LINES_PER_ROUND: usize = 300;
const PATIENCE: Duration = Duration::from_secs(120);

/// An acknowledgement a producer printed: (producer, its line number, queue, offset).
type Ack = (usize, usize, u32, u64);

fn options(server: &ServeProcess) -> ClientOptions {
    server.client_options()
}

fn line(producer: usize, n: usize) -> String {
    format!("producer {producer} line {n}")
}

/// Starts a producer process whose acknowledgements (in send order) go to `acks`.
fn producer(server: &ServeProcess, i: usize, acks: mpsc::Sender<Ack>) -> Child {
    let log = std::fs::File::create(server.dir.join(format!("producer-{i}.log"))).unwrap();
    let mut child = Command::new(bin())
        .args(["produce", "--topic", "spread", "--request-timeout", "1s"])
        .args(["--server", &format!("127.0.0.1:{}", server.port)])
        .arg("--ca")
        .arg(server.ca())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for (n, l) in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .enumerate()
        {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            let ack = (
                i,
                n,
                v["queue"].as_u64().unwrap() as u32,
                v["offset"].as_u64().unwrap(),
            );
            if acks.send(ack).is_err() {
                return;
            }
        }
    });
    child
}

async fn every_stored_body(client: &Client, queues: u32) -> BTreeMap<(u32, u64), String> {
    common::server::read_everything(client, "spread", queues)
        .await
        .into_iter()
        .map(|m| {
            (
                (m.queue, m.offset),
                String::from_utf8(m.message.body).unwrap(),
            )
        })
        .collect()
}

async fn kill_and_resend(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut server = ServeProcess::start(dir.path(), port);
    let client = Client::connect(&options(&server)).await.unwrap();
    client
        .create_topic("spread", 4, Some(durability), 0)
        .await
        .unwrap();
    client.close().await;

    let (ack_tx, acks) = mpsc::channel();
    let mut producers: Vec<Child> = (0..PRODUCERS)
        .map(|i| producer(&server, i, ack_tx.clone()))
        .collect();
    drop(ack_tx);
    let mut received: Vec<Ack> = Vec::new();
    for round in 0..ROUNDS {
        for (i, p) in producers.iter_mut().enumerate() {
            let stdin = p.stdin.as_mut().unwrap();
            let gave_up = |e| panic!("producer {i} stopped taking input ({e}): it gave up");
            for n in round * LINES_PER_ROUND..(round + 1) * LINES_PER_ROUND {
                writeln!(stdin, "{}", line(i, n)).unwrap_or_else(gave_up);
            }
            stdin.flush().unwrap_or_else(gave_up);
        }
        // Kill somewhere inside this round's traffic, once part of it was acknowledged.
        let kill_at = received.len() + fastrand::usize(50..PRODUCERS * LINES_PER_ROUND / 2);
        // (Every producer has connected by then: a first connection is not retried.)
        let connected = |r: &[Ack]| (0..PRODUCERS).all(|i| r.iter().any(|a| a.0 == i));
        while received.len() < kill_at || !connected(&received) {
            received.push(acks.recv_timeout(PATIENCE).expect("acknowledgements flow"));
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        drop(server);
        server = ServeProcess::start(dir.path(), port);
    }
    for p in &mut producers {
        drop(p.stdin.take()); // end of input: each producer finishes and exits
    }
    let total = PRODUCERS * ROUNDS * LINES_PER_ROUND;
    let logs = || {
        (0..PRODUCERS)
            .map(|i| std::fs::read_to_string(dir.path().join(format!("producer-{i}.log"))).unwrap())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    while received.len() < total {
        match acks.recv_timeout(PATIENCE) {
            Ok(ack) => received.push(ack),
            Err(e) => panic!(
                "{} of {total} lines acknowledged ({e}); producers logged:\n{}",
                received.len(),
                logs()
            ),
        }
    }
    for (i, p) in producers.iter_mut().enumerate() {
        let status = p.wait().unwrap();
        assert!(status.success(), "producer {i} exited with {status}");
    }

    let client = Client::connect(&options(&server)).await.unwrap();
    let stored = every_stored_body(&client, 4).await;
    let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
    for body in stored.values() {
        *copies.entry(body.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "stored more than once ({:?}): {:?}",
        durability,
        &twice[..twice.len().min(5)]
    );
    assert_eq!(stored.len(), total, "every line stored once");
    for (i, n, queue, offset) in received {
        assert_eq!(
            stored.get(&(queue, offset)).map(String::as_str),
            Some(line(i, n).as_str()),
            "the acknowledgement of producer {i} line {n} names {queue}/{offset}"
        );
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resends_on_route_any_are_stored_once_across_kills_sync() {
    kill_and_resend(Durability::Sync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resends_on_route_any_are_stored_once_across_kills_async() {
    kill_and_resend(Durability::Async).await;
}
