//! Edges of delay and transaction messages found from outside (issue 22, points 9, 10 and 12),
//! and the statuses and client-side limits of points 13 and 14: a pending delay message is
//! never reported delivered; a committed message with a delivery time fires at its time; a
//! transaction never grows past what its commit can write; a range is InvalidArgument; a
//! message over the frame limit is refused before it is sent.

mod common;

use std::time::Duration;

use common::server::{connect, start, start_manual, test_config};
use lockgate::client::{
    ClientError, ProducerOptions, TransactionProducer, TransactionProducerOptions,
};
use lockgate::protocol::{
    DelayPhase, DelayRequest, DelayedProduce, Delivery, FetchRequest, ProduceMessage,
    ProduceRequest, Request, Response, Route, Status,
};
use lockgate::storage::{Durability, Message, MessageId};

/// Upper bound for any wait in these tests: reaching it is a failure.
const PATIENCE: Duration = Duration::from_secs(30);

fn message(body: &[u8], id: MessageId) -> ProduceMessage {
    ProduceMessage {
        route: Route::Queue(0),
        message: Message {
            id,
            body: body.to_vec(),
            ..Message::default()
        },
    }
}

fn delayed(topic: &str, id: MessageId, delivery: Delivery) -> Request {
    Request::Delay(DelayRequest::Produce(DelayedProduce {
        produce: ProduceRequest {
            topic: topic.into(),
            producer_id: 0,
            sequence: 0,
            messages: vec![message(b"later", id)],
        },
        deliveries: vec![delivery],
    }))
}

fn id_of(n: u64) -> MessageId {
    MessageId((u128::from(n) | 0xd1 << 64).to_be_bytes())
}

/// Point 9: MessageState and DelayCancel right behind their ProduceDelayed on one stream
/// (the server starts them in order) see the message pending, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_message_is_pending_right_after_it_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("later", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    for n in 0..150 {
        // Due within the buckets the timer wheel watches: the case that looked delivered.
        let (id, delivery) = (id_of(n), Delivery::After(20_000));
        let state = Request::Delay(DelayRequest::State {
            topic: "later".into(),
            id,
        });
        let answers = client
            .call_all(&[delayed("later", id, delivery), state])
            .await
            .unwrap();
        match &answers[1] {
            Ok(Response::DelayState(s)) => assert_eq!(s.phase, DelayPhase::Pending, "try {n}"),
            other => panic!("try {n}: {other:?}"),
        }
        let id = id_of(1000 + n);
        let cancel = Request::Delay(DelayRequest::Cancel {
            topic: "later".into(),
            id,
        });
        let answers = client
            .call_all(&[delayed("later", id, delivery), cancel])
            .await
            .unwrap();
        match &answers[1] {
            Ok(Response::Cancelled { already, .. }) => assert!(!already, "try {n}"),
            other => panic!("try {n}: the cancel right after the produce: {other:?}"),
        }
    }
    running.stop().await.unwrap();
}

/// Point 10: a committed message whose time has come fires then, woken by the commit, and
/// is pending until it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_delay_message_fires_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock) = start_manual(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("orders", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let p = TransactionProducer::new(client.clone(), TransactionProducerOptions::new("shop"));
    let tx = p.begin("t").await.unwrap();
    let acks = tx
        .send_delayed(
            "orders",
            vec![message(b"soon", MessageId::default())],
            vec![Delivery::After(200)],
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let state = client.delay_state("orders", acks[0].id).await.unwrap();
    assert_eq!(state.phase, DelayPhase::Pending);
    // Its time comes; no other deadline of the broker's is near, so only the commit's wake
    // makes the timer driver look at it.
    clock.advance(Duration::from_millis(200));
    let (_, got) = tokio::time::timeout(
        PATIENCE,
        client.fetch(FetchRequest {
            topic: "orders".into(),
            queue: 0,
            offset: 0,
            max_messages: 10,
            max_bytes: 1 << 20,
            max_wait_ms: 30_000,
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got.len(), 1, "delivered at its time");
    assert_eq!(got[0].message.body, b"soon");
    running.stop().await.unwrap();
}

/// Point 12: a send that would take a transaction past what its commit can write (one atomic
/// append, one segment) is refused with the limit, and the transaction still commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_refused_a_send_past_one_segment_and_still_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.storage.segment_size = 1 << 20;
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("big", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let p = TransactionProducer::new(client.clone(), TransactionProducerOptions::new("shop"));
    let tx = p.begin("t").await.unwrap();
    let body = vec![7u8; 200 << 10];
    let mut sent = 0;
    let refused = loop {
        match tx
            .send("big", vec![message(&body, MessageId::default())])
            .await
        {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 10, "a 1 MiB segment cannot take 10 sends of 200 KiB");
    };
    assert_eq!(refused.status(), Some(Status::BatchTooLarge), "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("storage.segment_size") && text.contains("at most"),
        "{text}"
    );
    assert!(sent >= 3, "{sent} sends fit");
    let ended = tx.commit().await.unwrap();
    assert_eq!(ended.placed.iter().map(|p| p.count).sum::<u32>(), sent);
    running.stop().await.unwrap();
}

/// Point 13: a field out of its range is InvalidArgument, whether the codec or the server
/// finds it; only a body that does not parse is Malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_are_invalid_arguments_not_malformed_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("later", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    // Raw bodies: the client's types cannot say a negative delay or a level above 255.
    let mut body = Vec::new();
    delayed("later", id_of(1), Delivery::At(0)).encode_body(&mut body);
    let at = body.len() - 9;
    for (kind, value, what) in [
        (2u8, -5i64, "negative after"),
        (3, 300, "level above 255"),
        (3, 0, "level 0"),
        (3, 200, "level past the configured ones"),
    ] {
        body[at] = kind;
        body[at + 1..].copy_from_slice(&value.to_le_bytes());
        // The batch checksum covers the messages and the deliveries: topic "later" (2 + 5
        // bytes), producer id, sequence and count put it at byte 27.
        let crc = crc32c::crc32c(&body[31..]);
        body[27..31].copy_from_slice(&crc.to_le_bytes());
        let (mut send, mut recv) = client.open_stream().await.unwrap();
        send.write_all(&lockgate::protocol::frame(
            lockgate::protocol::Kind::ProduceDelayed as u16,
            1,
            &body,
        ))
        .await
        .unwrap();
        send.finish();
        let (h, bytes) = recv.read_frame().await.unwrap();
        let answer = Response::decode(lockgate::protocol::Kind::ProduceDelayed, &bytes).unwrap();
        match answer {
            Response::Error { status, .. } => {
                assert_eq!(status, Status::InvalidArgument, "{what}")
            }
            other => panic!("{what}: {other:?} ({h:?})"),
        }
    }
    running.stop().await.unwrap();
}

/// Point 14: a message over the server's frame limit is refused before sending, at once, with
/// the limit named; the producer goes on with the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_frame_limit_is_refused_before_it_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.max_frame_size = 1 << 20;
    config.storage.max_message_size = 4 << 20;
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    assert_eq!(client.max_frame(), 1 << 20, "the Hello told the limit");
    client
        .create_topic("t", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let producer = client.producer(ProducerOptions::new("t")).await.unwrap();
    let huge = message(&vec![1u8; 2 << 20], MessageId::default());
    let refused = tokio::time::timeout(PATIENCE, producer.send(huge))
        .await
        .expect("refused at once, not after resends")
        .unwrap_err();
    match &refused {
        ClientError::FrameTooLarge { limit, .. } => assert_eq!(*limit, 1 << 20),
        other => panic!("{other}"),
    }
    assert!(
        refused.to_string().contains("server.max_frame_size"),
        "{refused}"
    );
    // Messages that fit go on; and many that fit only together are split across frames.
    let small = message(&vec![2u8; 300 << 10], MessageId::default());
    let mut sends = Vec::new();
    for _ in 0..6 {
        sends.push(producer.send_async(small.clone()).await.unwrap());
    }
    for s in sends {
        s.await.unwrap();
    }
    producer.close().await;
    let (_, queues) = client.describe_topic("t").await.unwrap();
    assert_eq!(queues[0].next, 6);
    running.stop().await.unwrap();
}

/// Point 12, parking: a transaction filled to its limit and left without an outcome is parked
/// whole (its copies to `%TXN_UNRESOLVED%` fit in one atomic append too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_filled_to_its_limit_can_be_parked() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.storage.segment_size = 1 << 20;
    config.transactions.max_checks = 1;
    config.transactions.on_unresolved = lockgate::config::OnUnresolved::Park;
    let (running, clock) = start_manual(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("big", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    let p = TransactionProducer::new(client.clone(), TransactionProducerOptions::new("gone"));
    let tx = p.begin("full").await.unwrap();
    // Small messages up to the limit exactly: the last refused send leaves it full.
    let body = vec![3u8; 60 << 10];
    let mut sent = 0u64;
    while tx
        .send("big", vec![message(&body, MessageId::default())])
        .await
        .is_ok()
    {
        sent += 1;
        assert!(sent < 40, "a 1 MiB segment cannot take 40 sends of 60 KiB");
    }
    // No producer answers: one check-back (counted), then parked at the next interval.
    clock.advance(Duration::from_millis(6_000));
    tokio::time::timeout(PATIENCE, async {
        while client.list_transactions().await.unwrap()[0].checks < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the check-back is made");
    clock.advance(Duration::from_millis(60_000));
    let parked = tokio::time::timeout(PATIENCE, async {
        let mut parked = 0u64;
        while parked < sent {
            match client
                .fetch(FetchRequest {
                    topic: "%TXN_UNRESOLVED%".into(),
                    queue: 0,
                    offset: parked,
                    max_messages: 100,
                    max_bytes: 16 << 20,
                    max_wait_ms: 30_000,
                })
                .await
            {
                Ok((_, got)) => parked += got.len() as u64,
                // Not made yet: the park makes it.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        parked
    })
    .await
    .expect("parked in time");
    assert_eq!(parked, sent, "every message of it is parked");
    let listed = client.list_transactions().await.unwrap();
    assert_eq!(listed[0].phase, lockgate::protocol::TxnPhase::Parked);
    running.stop().await.unwrap();
}
