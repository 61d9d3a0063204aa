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

use lockgate::protocol::{
    HEADER_LEN, Header, Kind, RESPONSE_BIT, Request, Response, SessionRequest, Status, frame,
};

/// Sends one raw frame on a stream and reads the response's header and body.
async fn raw_call(
    send: &mut lockgate::client::SendStream,
    recv: &mut lockgate::client::RecvStream,
    kind: u16,
    id: u32,
    body: &[u8],
) -> (Header, Vec<u8>) {
    send.write_all(&frame(kind, id, body)).await.unwrap();
    recv.read_frame().await.unwrap()
}

fn status_of(kind: Kind, body: &[u8]) -> Status {
    match Response::decode(kind, body).unwrap() {
        Response::Error { status, .. } => status,
        _ => Status::Ok,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_error_statuses_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.max_frame_size = 64 << 10;
    config.server.max_batch_messages = 5;
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("t", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let (mut send, mut recv) = client.open_stream().await.unwrap();

    // A fetch body that stops inside the topic name.
    let (h, b) = raw_call(&mut send, &mut recv, Kind::Fetch as u16, 1, &[9, 0, b'x']).await;
    assert_eq!(
        (h.kind, h.request_id),
        (Kind::Fetch as u16 | RESPONSE_BIT, 1)
    );
    assert_eq!(status_of(Kind::Fetch, &b), Status::Malformed);
    // An unknown request kind.
    let (h, b) = raw_call(&mut send, &mut recv, 999, 2, b"whatever").await;
    assert_eq!(h.request_id, 2);
    assert_eq!(
        Status::from_u16(u16::from_le_bytes([b[0], b[1]])),
        Some(Status::UnknownRequest)
    );
    // A produce whose checksum does not match: refused, nothing stored.
    let mut body = Vec::new();
    Request::Produce(lockgate::protocol::ProduceRequest {
        topic: "t".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![ProduceMessage {
            route: Route::Queue(0),
            message: message(1),
        }],
    })
    .encode_body(&mut body);
    let last = body.len() - 1;
    body[last] ^= 0x20; // inside the body text: still parses
    let (_, b) = raw_call(&mut send, &mut recv, Kind::Produce as u16, 3, &body).await;
    assert_eq!(status_of(Kind::Produce, &b), Status::ChecksumMismatch);
    assert_eq!(
        client.describe_topic("t").await.unwrap().1[0].next,
        0,
        "nothing partial is stored"
    );
    // A batch over the message limit.
    let mut body = Vec::new();
    Request::Produce(lockgate::protocol::ProduceRequest {
        topic: "t".into(),
        producer_id: 0,
        sequence: 0,
        messages: (0..6)
            .map(|n| ProduceMessage {
                route: Route::Any,
                message: message(n),
            })
            .collect(),
    })
    .encode_body(&mut body);
    let (_, b) = raw_call(&mut send, &mut recv, Kind::Produce as u16, 6, &body).await;
    assert_eq!(status_of(Kind::Produce, &b), Status::BatchTooLarge);
    // The same stream still works.
    let mut ping = Vec::new();
    Request::Session(SessionRequest::Ping { nonce: 77 }).encode_body(&mut ping);
    let (_, b) = raw_call(&mut send, &mut recv, Kind::Ping as u16, 4, &ping).await;
    assert_eq!(
        Response::decode(Kind::Ping, &b).unwrap(),
        Response::Pong { nonce: 77 }
    );

    // An oversized frame: refused, and that stream is closed; the connection goes on. Over
    // QUIC the header alone is refused; over TCP the whole body is sent, and skipped by the
    // server without breaking the connection's framing.
    let (mut send2, mut recv2) = client.open_stream().await.unwrap();
    let header = Header {
        body_len: 10 << 20,
        kind: Kind::Produce as u16,
        flags: 0,
        request_id: 5,
    };
    let mut oversized = header.encode().to_vec();
    if common::transport() == lockgate::client::Transport::Tcp {
        oversized.resize(HEADER_LEN + (10 << 20), 0);
    }
    send2.write_all(&oversized).await.unwrap();
    let (h, b) = recv2.read_frame().await.unwrap();
    assert_eq!(h.request_id, 5);
    assert_eq!(status_of(Kind::Produce, &b), Status::FrameTooLarge);
    assert!(
        recv2.read_frame().await.is_err(),
        "the stream ends after the refusal"
    );
    assert_eq!(
        client.ping(5).await.unwrap(),
        5,
        "other streams keep working"
    );

    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_refuses_a_client_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = lockgate::tls::ensure_dev_certs(dir.path()).unwrap();
    let mut config = test_config(dir.path());
    config.server.client_ca = Some(paths.ca_cert.clone());
    let running = start(&config).await;

    let anonymous = common::server::client_options(&running, dir.path());
    let refused = match lockgate::client::Client::connect(&anonymous).await {
        Ok(_) => panic!("a client without a certificate got in"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("cannot reach") || refused.contains("connection"),
        "{refused}"
    );

    let (cert, key) = lockgate::tls::issue_dev_client_cert(dir.path(), "test client").unwrap();
    std::fs::write(dir.path().join("client.pem"), cert).unwrap();
    std::fs::write(dir.path().join("client.key"), key).unwrap();
    let mut with_cert = anonymous.clone();
    with_cert.client_cert = Some((dir.path().join("client.pem"), dir.path().join("client.key")));
    let client = lockgate::client::Client::connect(&with_cert)
        .await
        .expect("a client with a certificate connects");
    assert_eq!(client.ping(1).await.unwrap(), 1);
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharding_keys_keep_their_order_and_long_polls_wake_on_append() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("s", 8, Some(Durability::Async), 0)
        .await
        .unwrap();
    let producer = client
        .producer(lockgate::client::ProducerOptions::new("s"))
        .await
        .unwrap();
    let keys: Vec<String> = (0..20).map(|k| format!("user-{k}")).collect();
    let mut handles = Vec::new();
    for seq in 0..50u64 {
        for key in &keys {
            let m = Message {
                body: format!("{key}:{seq}").into_bytes(),
                ..Message::default()
            };
            handles.push(
                producer
                    .send_async(ProduceMessage {
                        route: Route::Key(key.clone()),
                        message: m,
                    })
                    .await
                    .unwrap(),
            );
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    producer.close().await;
    let mut seen: std::collections::HashMap<String, (u32, u64)> = std::collections::HashMap::new();
    for q in 0..8u32 {
        let (_, msgs) = client
            .fetch(FetchRequest {
                topic: "s".into(),
                queue: q,
                offset: 0,
                max_messages: 10_000,
                max_bytes: 8 << 20,
                max_wait_ms: 0,
            })
            .await
            .unwrap();
        for m in msgs {
            let text = String::from_utf8(m.message.body).unwrap();
            let (key, seq) = text.split_once(':').unwrap();
            let seq: u64 = seq.parse().unwrap();
            let expected = seen.get(key).map_or(0, |(_, last)| last + 1);
            assert_eq!(seq, expected, "{key} out of order in queue {q}");
            if let Some((queue, _)) = seen.get(key) {
                assert_eq!(*queue, q, "{key} spread over queues");
            }
            seen.insert(key.to_string(), (q, seq));
        }
    }
    assert_eq!(seen.len(), 20);
    assert!(seen.values().all(|(_, last)| *last == 49));

    // A long poll at the end of a queue returns as soon as a message arrives.
    let next = client.describe_topic("s").await.unwrap().1[0].next;
    let poller = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .fetch(FetchRequest {
                    topic: "s".into(),
                    queue: 0,
                    offset: next,
                    max_messages: 10,
                    max_bytes: 1 << 20,
                    max_wait_ms: 30_000,
                })
                .await
        })
    };
    // Wait until the poll is parked at the server (it has asked and got nothing yet).
    tokio::task::yield_now().await;
    let producer = client
        .producer(lockgate::client::ProducerOptions::new("s"))
        .await
        .unwrap();
    producer
        .send(ProduceMessage {
            route: Route::Queue(0),
            message: message(5),
        })
        .await
        .unwrap();
    let (_, msgs) = tokio::time::timeout(std::time::Duration::from_secs(10), poller)
        .await
        .expect("the poll woke up")
        .unwrap()
        .unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].message.body, message(5).body);
    producer.close().await;
    client.close().await;
    running.stop().await.unwrap();
}

/// Point 6: a burst of three times `server.max_connections` handshakes establishes at most
/// that many connections; once they close, new ones are taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connections_stays_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.max_connections = 10;
    let running = start(&config).await;
    let options = common::server::client_options(&running, dir.path());
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let o = options.clone();
            tokio::spawn(async move { lockgate::client::Client::connect(&o).await })
        })
        .collect();
    let mut open = Vec::new();
    let mut refused = 0;
    for a in attempts {
        match a.await.unwrap() {
            Ok(c) => open.push(c),
            Err(_) => refused += 1,
        }
    }
    assert!(
        !open.is_empty() && open.len() <= 10,
        "{} established of 30 with a limit of 10",
        open.len()
    );
    assert_eq!(open.len() + refused, 30);
    // Every established one is served.
    for c in &open {
        assert_eq!(c.ping(3).await.unwrap(), 3);
    }
    for c in open {
        c.close().await;
    }
    let again = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            if let Ok(c) = lockgate::client::Client::connect(&options).await {
                return c;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a connection is taken once the others closed");
    assert_eq!(again.ping(4).await.unwrap(), 4);
    running.stop().await.unwrap();
}
