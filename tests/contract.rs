//! The wire contract as `docs/protocol.md` states it: a pending Receive keeps its member
//! alive, documented ranges are refused (never clamped) with the field and the range named,
//! and an idempotent resend is answered with the ids that were stored.

mod common;

use std::time::Duration;

use common::server::{clustering_join, connect, produce_all, start, start_manual, test_config};
use lockgate::client::Client;
use lockgate::protocol::{
    FetchRequest, ProduceMessage, ProduceRequest, Request, Response, Route, Status,
};
use lockgate::storage::{Durability, Message, MessageId};

const PATIENCE: Duration = Duration::from_secs(60);

/// A server on the system clock with one topic, and a client for it.
async fn with_topic(
    topic: &str,
    queues: u32,
    durability: Durability,
) -> (tempfile::TempDir, lockgate::server::Running, Client) {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic(topic, queues, Some(durability), 0)
        .await
        .unwrap();
    (dir, running, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_receive_keeps_its_member_alive_past_the_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock) = start_manual(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("quiet", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let waiter = client
        .join_group(clustering_join("w", "quiet"))
        .await
        .unwrap();
    let idle = client
        .join_group(clustering_join("w", "quiet"))
        .await
        .unwrap();

    // The long poll may wait the allowed 30 s; the session timeout is 10 s.
    let receive = {
        let client = connect(&running, dir.path()).await;
        tokio::spawn(async move {
            client
                .receive(waiter, 10, 1 << 20, Duration::from_secs(30))
                .await
        })
    };
    let groups = running.broker.groups().clone();
    let pending = async {
        while groups.holds(waiter) != Some(1) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, pending).await.unwrap();
    clock.advance(Duration::from_secs(15));
    // The idle member (no heartbeat, nothing pending) times out; the waiting one does not.
    let gone = async {
        while groups.holds(idle).is_some() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, gone).await.unwrap();
    assert_eq!(
        groups.holds(waiter),
        Some(1),
        "removed while its Receive was pending"
    );

    // A message arrives: the pending Receive gets it, and the member is still known.
    let late = ProduceMessage {
        route: Route::Any,
        message: Message {
            body: b"late".to_vec(),
            ..Message::default()
        },
    };
    produce_all(&client, "quiet", [late]).await;
    let got = tokio::time::timeout(PATIENCE, receive)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].delivered.message.body, b"late");
    client.heartbeat(waiter).await.unwrap();
    let e = client.heartbeat(idle).await.unwrap_err();
    assert_eq!(e.status(), Some(Status::UnknownMember));
    running.stop().await.unwrap();
}

/// Asserts a refusal with `InvalidArgument` whose message names `field` and `range`.
#[track_caller]
fn refused<T: std::fmt::Debug>(
    r: Result<T, lockgate::client::ClientError>,
    field: &str,
    range: &str,
) {
    let e = r.expect_err("out of range, so refused");
    assert_eq!(e.status(), Some(Status::InvalidArgument), "{e}");
    let text = e.to_string();
    assert!(
        text.contains(field) && text.contains(range),
        "{text:?} names {field:?} and {range:?}"
    );
}

fn fetch(max_messages: u32, max_wait_ms: u32) -> FetchRequest {
    FetchRequest {
        topic: "ranges".into(),
        queue: 0,
        offset: 0,
        max_messages,
        max_bytes: 1 << 20,
        max_wait_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_outside_their_documented_range_are_refused_not_clamped() {
    let (_dir, running, client) = with_topic("ranges", 1, Durability::Async).await;
    let c: &Client = &client;

    refused(
        c.fetch(fetch(0, 0)).await,
        "max messages is 0",
        "from 1 to 10000",
    );
    refused(
        c.fetch(fetch(10_001, 0)).await,
        "max messages is 10001",
        "from 1 to 10000",
    );
    refused(
        c.fetch(fetch(1, 30_001)).await,
        "max wait ms is 30001",
        "from 0 to 30000",
    );
    assert!(
        c.fetch(fetch(10_000, 0)).await.is_ok(),
        "the bounds themselves are fine"
    );
    refused(
        c.find_by_key("ranges", "k", 0).await,
        "limit is 0",
        "from 1 to 1000",
    );
    refused(
        c.find_by_key("ranges", "k", 1001).await,
        "limit is 1001",
        "from 1 to 1000",
    );
    assert!(c.find_by_key("ranges", "k", 1000).await.is_ok());
    let member = c.join_group(clustering_join("r", "ranges")).await.unwrap();
    refused(
        c.receive(member, 0, 1 << 20, Duration::ZERO).await,
        "max messages is 0",
        "from 1 to 10000",
    );
    refused(
        c.receive(member, 1, 1 << 20, Duration::from_millis(30_001))
            .await,
        "max wait ms is 30001",
        "from 0 to 30000",
    );
    refused(
        c.create_topic("many", 1025, None, 0).await,
        "queues is 1025",
        "from 1 to 1024",
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_batch_is_answered_with_the_ids_that_were_stored() {
    let (_dir, running, client) = with_topic("ids", 2, Durability::Sync).await;
    // All-zero ids: the server assigns them.
    let batch = || {
        Request::Produce(ProduceRequest {
            topic: "ids".into(),
            producer_id: 7,
            sequence: 0,
            messages: (0..4)
                .map(|i| ProduceMessage {
                    route: Route::Queue(i % 2),
                    message: Message {
                        body: vec![i as u8],
                        ..Message::default()
                    },
                })
                .collect(),
        })
    };
    let acks = |r: Response| match r {
        Response::Produced {
            duplicate, acks, ..
        } => (duplicate, acks),
        other => panic!("expected acks, got {other:?}"),
    };
    let (dup, first) = acks(client.call(batch()).await.unwrap());
    assert!(!dup);
    assert!(first.iter().all(|a| a.id != MessageId::default()));
    let (dup, again) = acks(client.call(batch()).await.unwrap());
    assert!(dup, "the resend is recognized");
    assert_eq!(again, first, "the resend's acks name the stored messages");
    for a in &again {
        let found = client.find_by_id("ids", a.id).await.unwrap();
        let found = found.unwrap_or_else(|| panic!("LookupId knows {:?}", a.id));
        assert_eq!((found.queue, found.offset), (a.queue, a.offset));
    }
    running.stop().await.unwrap();
}

/// Sends `req` as a raw Produce frame with header `flags` and returns the answer's body.
async fn raw_produce(client: &Client, req: &Request, flags: u16) -> Vec<u8> {
    let mut body = Vec::new();
    req.encode_body(&mut body);
    let (mut send, mut recv) = client.open_stream().await.unwrap();
    let kind = lockgate::protocol::Kind::Produce as u16;
    send.write_all(&lockgate::protocol::frame_with_flags(kind, flags, 9, &body))
        .await
        .unwrap();
    send.finish();
    let (h, answer) = recv.read_frame().await.unwrap();
    assert_eq!(h.request_id, 9);
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_that_asks_for_runs_is_answered_in_runs_that_name_what_was_stored() {
    use lockgate::protocol::Kind;
    use lockgate::protocol::compact::{ASK_COMPACT, COMPACT_FLAG};
    let (_dir, running, client) = with_topic("runs", 2, Durability::Async).await;
    // 100 server-made ids to queue 1, then 3 to queue 0 with one id of the producer's own.
    let own = MessageId([0xab; 16]);
    let batch = |n: u32| {
        Request::Produce(ProduceRequest {
            topic: "runs".into(),
            producer_id: 0,
            sequence: 0,
            messages: (0..n)
                .map(|i| ProduceMessage {
                    route: Route::Queue(u32::from(i >= 100) ^ 1),
                    message: Message {
                        id: if i == 101 { own } else { MessageId::default() },
                        body: i.to_le_bytes().to_vec(),
                        ..Message::default()
                    },
                })
                .collect(),
        })
    };
    let compact = raw_produce(&client, &batch(103), ASK_COMPACT).await;
    // status, flags (runs), run count 4 — queue 1's hundred, then in queue 0 the own id
    // breaks the block: the message before it, the own id, the message after — 32 bytes a run.
    assert_eq!(compact[2], COMPACT_FLAG, "{compact:?}");
    assert_eq!(compact.len(), 2 + 1 + 4 + 4 * 32, "runs: {compact:?}");
    let Response::Produced { acks, .. } = Response::decode(Kind::Produce, &compact).unwrap() else {
        panic!("not a produce answer");
    };
    assert_eq!(acks.len(), 103);
    assert_eq!(acks[101].id, own);
    for (i, a) in acks.iter().enumerate() {
        let found = client.find_by_id("runs", a.id).await.unwrap();
        let found = found.unwrap_or_else(|| panic!("message {i}: LookupId knows {:?}", a.id));
        assert_eq!(
            (found.queue, found.offset),
            (a.queue, a.offset),
            "message {i}"
        );
        assert_eq!(found.message.body, (i as u32).to_le_bytes());
    }
    // Without the flag: one 28-byte ack a message, as before.
    let plain = raw_produce(&client, &batch(103), 0).await;
    assert_eq!(plain[2], 0);
    assert_eq!(plain.len(), 2 + 1 + 4 + 103 * 28);
    running.stop().await.unwrap();
}
