//! Transaction messages through a running server: invisible until the commit, all visible at
//! once across topics, never after a rollback; outcomes final and idempotent; check-backs
//! answered, unanswered and answered from a new connection; timeouts; idempotent sends; groups
//! and delivery times.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use common::server::{connect, start, start_manual, test_config};
use lockgate::client::{
    Client, GroupConsumerOptions, TransactionProducer, TransactionProducerOptions,
};
use lockgate::config::OnUnresolved;
use lockgate::protocol::{
    CheckAnswer, Delivered, Delivery, FetchRequest, Outcome, ProduceMessage, ProduceRequest,
    Request, Response, Route, Status, TxnPhase, TxnRequest, TxnSend,
};
use lockgate::storage::{Durability, Message};

fn message(body: &str) -> ProduceMessage {
    ProduceMessage {
        route: Route::Queue(0),
        message: Message {
            body: body.as_bytes().to_vec(),
            tag: "t".into(),
            born_at: 1_000,
            ..Message::default()
        },
    }
}

async fn fetch(client: &Client, topic: &str, wait_ms: u32) -> Vec<Delivered> {
    client
        .fetch(FetchRequest {
            topic: topic.into(),
            queue: 0,
            offset: 0,
            max_messages: 1000,
            max_bytes: 1 << 20,
            max_wait_ms: wait_ms,
        })
        .await
        .unwrap()
        .1
}

fn bodies(ms: &[Delivered]) -> Vec<String> {
    ms.iter()
        .map(|m| String::from_utf8(m.message.body.clone()).unwrap())
        .collect()
}

async fn topics(client: &Client, names: &[&str]) {
    for n in names {
        client
            .create_topic(n, 2, Some(Durability::Async), 0)
            .await
            .unwrap();
    }
}

fn producer(client: &Client, group: &str) -> TransactionProducer {
    TransactionProducer::new(client.clone(), TransactionProducerOptions::new(group))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_makes_every_message_visible_once_and_nothing_before() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    topics(&client, &["orders", "audit"]).await;
    let p = producer(&client, "shop");
    let tx = p.begin("tx-1").await.unwrap();
    let acks = tx
        .send("orders", vec![message("o1"), message("o2")])
        .await
        .unwrap();
    tx.send("audit", vec![message("a1")]).await.unwrap();

    assert!(
        fetch(&client, "orders", 0).await.is_empty(),
        "invisible before the commit"
    );
    assert!(
        client
            .find_by_id("orders", acks[0].id)
            .await
            .unwrap()
            .is_none()
    );
    let refused = client
        .fetch(FetchRequest {
            topic: "%TXN%".into(),
            queue: 1,
            offset: 0,
            max_messages: 10,
            max_bytes: 1 << 20,
            max_wait_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(Status::ReservedName));
    let listed = client.list_transactions().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "tx-1");
    assert_eq!(listed[0].producer_group, "shop");
    assert_eq!(listed[0].topics, vec!["audit", "orders"]);
    assert_eq!(listed[0].messages, 3);
    assert_eq!(listed[0].phase, TxnPhase::Open);

    let ended = tx.commit().await.unwrap();
    assert!(!ended.already);
    let mut placed: Vec<_> = ended
        .placed
        .iter()
        .map(|p| (p.topic.as_str(), p.queue, p.first_offset, p.count))
        .collect();
    placed.sort();
    assert_eq!(placed, vec![("audit", 0, 0, 1), ("orders", 0, 0, 2)]);
    let orders = fetch(&client, "orders", 0).await;
    assert_eq!(bodies(&orders), vec!["o1", "o2"]);
    assert_eq!(
        orders[0].message.id, acks[0].id,
        "the id the send was given"
    );
    assert_eq!(orders[0].message.tag, "t");
    assert_eq!(
        orders[0]
            .message
            .properties
            .get("lockgate.txn")
            .map(String::as_str),
        Some("tx-1")
    );
    assert!(!orders[0].message.properties.contains_key("lockgate.topic"));
    assert_eq!(bodies(&fetch(&client, "audit", 0).await), vec!["a1"]);
    assert!(
        client
            .find_by_id("orders", acks[0].id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(client.list_transactions().await.unwrap().is_empty());

    // A second commit answers Ok and stores nothing; a rollback now is refused.
    let again = p.resume("tx-1").commit().await.unwrap();
    assert!(again.already);
    assert_eq!(fetch(&client, "orders", 0).await.len(), 2);
    let e = p.resume("tx-1").rollback().await.unwrap_err();
    assert_eq!(e.status(), Some(Status::TxnCommitted));
    let e = p
        .resume("tx-1")
        .send("orders", vec![message("late")])
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(Status::TxnClosed));
    let e = p.resume("nope").commit().await.unwrap_err();
    assert_eq!(e.status(), Some(Status::UnknownTransaction));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_shows_nothing_ever_and_refuses_a_commit_after() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    topics(&client, &["orders"]).await;
    let p = producer(&client, "shop");
    let tx = p.begin("tx-r").await.unwrap();
    tx.send("orders", vec![message("x")]).await.unwrap();
    let ended = tx.rollback().await.unwrap();
    assert_eq!((ended.outcome, ended.already), (Outcome::Rollback, false));
    let e = p.resume("tx-r").commit().await.unwrap_err();
    assert_eq!(e.status(), Some(Status::TxnRolledBack));
    assert!(e.to_string().contains("rolled back"), "{e}");
    assert!(p.resume("tx-r").rollback().await.unwrap().already);
    // A committed one after it shows only its own message.
    let tx = p.begin("tx-c").await.unwrap();
    tx.send("orders", vec![message("y")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(bodies(&fetch(&client, "orders", 0).await), vec!["y"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_consumers_never_see_part_of_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    topics(&client, &["a", "b"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let looks = Arc::new(AtomicU32::new(0));
    // Each transaction puts 3 messages in a and 2 in b, committed one after another. A reader
    // of a then b must never find a's share without b's, nor part of a's.
    let mut watchers = Vec::new();
    for _ in 0..2 {
        let (client, stop, looks) = (client.clone(), stop.clone(), looks.clone());
        watchers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let a = fetch(&client, "a", 0).await.len();
                let b = fetch(&client, "b", 0).await.len();
                assert_eq!(a % 3, 0, "part of a transaction in a: {a}");
                assert!(
                    b / 2 >= a / 3,
                    "a transaction seen in a without b: a {a}, b {b}"
                );
                looks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let p = producer(&client, "g");
    for i in 0..40 {
        let tx = p.begin(&format!("t{i}")).await.unwrap();
        tx.send("a", vec![message("1"), message("2")])
            .await
            .unwrap();
        tx.send("b", vec![message("3"), message("4")])
            .await
            .unwrap();
        tx.send("a", vec![message("5")]).await.unwrap();
        tx.commit().await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for w in watchers {
        w.await.unwrap();
    }
    assert!(looks.load(Ordering::Relaxed) > 0);
    assert_eq!(fetch(&client, "a", 0).await.len(), 120);
    assert_eq!(fetch(&client, "b", 0).await.len(), 80);
}

/// A server with a manual clock and check-backs after 6 s, every 60 s, at most 2.
async fn check_server(
    dir: &std::path::Path,
    on_unresolved: OnUnresolved,
) -> (lockgate::server::Running, lockgate::clock::Clock, Client) {
    let mut config = test_config(dir);
    config.transactions.max_checks = 2;
    config.transactions.on_unresolved = on_unresolved;
    let (running, clock) = start_manual(&config).await;
    let client = connect(&running, dir).await;
    topics(&client, &["orders"]).await;
    (running, clock, client)
}

/// Waits until `cond` holds (the broker acts on its own task).
async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_back_answered_commit_or_rollback_settles_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, clock, client) = check_server(dir.path(), OnUnresolved::Rollback).await;
    let p = producer(&client, "shop");
    let asked = Arc::new(AtomicU32::new(0));
    let seen = asked.clone();
    p.listen(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        match info.id.as_str() {
            "keep" => CheckAnswer::Outcome(Outcome::Commit),
            "drop" => CheckAnswer::Outcome(Outcome::Rollback),
            _ => CheckAnswer::Unknown,
        }
    })
    .await
    .unwrap();
    for (id, body) in [("keep", "kept"), ("drop", "dropped"), ("wait", "waited")] {
        p.begin(id)
            .await
            .unwrap()
            .send("orders", vec![message(body)])
            .await
            .unwrap();
    }
    clock.advance(Duration::from_millis(5_999));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "not asked before check_after"
    );
    clock.advance(Duration::from_millis(1));
    eventually("the committed answer's message shows", async || {
        fetch(&client, "orders", 0).await.len() == 1
    })
    .await;
    eventually("two transactions settle", async || {
        client.list_transactions().await.unwrap().len() == 1
    })
    .await;
    assert_eq!(bodies(&fetch(&client, "orders", 0).await), vec!["kept"]);
    let left = client.list_transactions().await.unwrap();
    assert_eq!((left[0].id.as_str(), left[0].checks), ("wait", 1));
    assert_eq!(asked.load(Ordering::SeqCst), 3);
    // A late answer to the settled ones changes nothing; their outcomes stand.
    assert!(p.resume("drop").rollback().await.unwrap().already);
    let e = p.resume("drop").commit().await.unwrap_err();
    assert_eq!(e.status(), Some(Status::TxnRolledBack));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_producer_the_transaction_is_resolved_as_configured() {
    for on_unresolved in [OnUnresolved::Rollback, OnUnresolved::Park] {
        let dir = tempfile::tempdir().unwrap();
        let (_running, clock, client) = check_server(dir.path(), on_unresolved).await;
        let p = producer(&client, "gone");
        let tx = p.begin("orphan").await.unwrap();
        tx.send("orders", vec![message("m")]).await.unwrap();
        for (advance, checks) in [(6_000, 1), (60_000, 2)] {
            clock.advance(Duration::from_millis(advance));
            eventually("a check-back is counted", async || {
                client.list_transactions().await.unwrap()[0].checks == checks
            })
            .await;
        }
        // After max_checks (2) unanswered check-backs, the next interval resolves it.
        clock.advance(Duration::from_millis(60_000));
        match on_unresolved {
            OnUnresolved::Rollback => {
                eventually("it is rolled back", async || {
                    client.list_transactions().await.unwrap().is_empty()
                })
                .await;
                let e = p.resume("orphan").commit().await.unwrap_err();
                assert_eq!(e.status(), Some(Status::TxnRolledBack));
            }
            OnUnresolved::Park => {
                eventually("it is parked", async || {
                    client.list_transactions().await.unwrap()[0].phase == TxnPhase::Parked
                })
                .await;
                let parked = fetch(&client, "%TXN_UNRESOLVED%", 0).await;
                assert_eq!(bodies(&parked), vec!["m"], "readable for an operator");
                assert_eq!(
                    parked[0]
                        .message
                        .properties
                        .get("lockgate.topic")
                        .map(String::as_str),
                    Some("orders")
                );
                assert!(fetch(&client, "orders", 0).await.is_empty());
                let ended = client
                    .end_transaction("orphan", Outcome::Commit)
                    .await
                    .unwrap();
                assert_eq!(ended.placed.len(), 1);
                assert_eq!(bodies(&fetch(&client, "orders", 0).await), vec!["m"]);
            }
        }
        assert!(fetch(&client, "orders", 0).await.len() <= 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_that_reconnects_answers_on_its_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (running, clock, client) = check_server(dir.path(), OnUnresolved::Rollback).await;
    let first = producer(&client, "shop");
    first.listen(|_| CheckAnswer::Unknown).await.unwrap();
    first
        .begin("t")
        .await
        .unwrap()
        .send("orders", vec![message("m")])
        .await
        .unwrap();
    // The producer's process goes away; a new one connects with its own connection.
    drop(first);
    client.close().await;
    let fresh = connect(&running, dir.path()).await;
    let second = producer(&fresh, "shop");
    second
        .listen(|_| CheckAnswer::Outcome(Outcome::Commit))
        .await
        .unwrap();
    clock.advance(Duration::from_millis(6_000));
    eventually("the new connection's answer commits", async || {
        fetch(&fresh, "orders", 0).await.len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_timeout_a_transaction_takes_no_more_messages_but_can_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, clock, client) = check_server(dir.path(), OnUnresolved::Rollback).await;
    let mut opts = TransactionProducerOptions::new("shop");
    opts.timeout = Duration::from_millis(1_000);
    let p = TransactionProducer::new(client.clone(), opts);
    let tx = p.begin("t").await.unwrap();
    tx.send("orders", vec![message("in time")]).await.unwrap();
    clock.advance(Duration::from_millis(1_000));
    let e = tx.send("orders", vec![message("late")]).await.unwrap_err();
    assert_eq!(e.status(), Some(Status::TxnClosed));
    assert!(e.to_string().contains("timeout"), "{e}");
    eventually("the check-back at its timeout", async || {
        client.list_transactions().await.unwrap()[0].checks == 1
    })
    .await;
    tx.commit().await.unwrap();
    assert_eq!(bodies(&fetch(&client, "orders", 0).await), vec!["in time"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_send_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    topics(&client, &["orders"]).await;
    let p = producer(&client, "shop");
    let tx = p.begin("t").await.unwrap();
    let send = Request::Txn(TxnRequest::Send(TxnSend {
        id: "t".into(),
        produce: ProduceRequest {
            topic: "orders".into(),
            producer_id: 77,
            sequence: 0,
            messages: vec![message("once"), message("twice?")],
        },
        deliveries: Vec::new(),
    }));
    let first = client.call(send.clone()).await.unwrap();
    let again = client.call(send).await.unwrap();
    let (
        Response::Prepared {
            duplicate: d1,
            acks: a1,
        },
        Response::Prepared {
            duplicate: d2,
            acks: a2,
        },
    ) = (first, again)
    else {
        panic!("not Prepared");
    };
    assert!(!d1 && d2, "the resend is recognized");
    assert_eq!(a1, a2, "and answered with the original ids and queues");
    assert_eq!(client.list_transactions().await.unwrap()[0].messages, 2);
    tx.commit().await.unwrap();
    assert_eq!(
        bodies(&fetch(&client, "orders", 0).await),
        vec!["once", "twice?"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_receives_committed_messages_once_and_rolled_back_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    topics(&client, &["orders"]).await;
    let mut opts = GroupConsumerOptions::new("billing", "orders");
    opts.start = lockgate::protocol::StartPosition::Earliest;
    let mut consumer = client.subscribe(opts).await.unwrap();
    let p = producer(&client, "shop");
    for (id, commit) in [("a", true), ("b", false), ("c", true)] {
        let tx = p.begin(id).await.unwrap();
        tx.send("orders", vec![message(id)]).await.unwrap();
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("deliveries")
            .unwrap()
            .unwrap();
        consumer.ack(&m);
        got.push(String::from_utf8(m.delivered.message.body.clone()).unwrap());
    }
    got.sort();
    assert_eq!(got, vec!["a", "c"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.next())
            .await
            .is_err(),
        "nothing more: b was rolled back"
    );
    consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_message_with_a_delivery_time_waits_for_it_from_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, clock, client) = check_server(dir.path(), OnUnresolved::Rollback).await;
    let p = producer(&client, "shop");
    let tx = p.begin("t").await.unwrap();
    let acks = tx
        .send_delayed(
            "orders",
            vec![message("later")],
            vec![Delivery::After(10_000)],
        )
        .await
        .unwrap();
    let due = acks[0].deliver_at;
    tx.send("orders", vec![message("now")]).await.unwrap();
    clock.advance(Duration::from_millis(3_000));
    let ended = tx.commit().await.unwrap();
    assert!(ended.placed.iter().any(|p| p.topic == "%DELAY%"));
    assert_eq!(bodies(&fetch(&client, "orders", 0).await), vec!["now"]);
    assert!(
        client.delay_state("orders", acks[0].id).await.is_ok(),
        "scheduled at commit"
    );
    clock.advance(Duration::from_millis(6_999));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        fetch(&client, "orders", 0).await.len(),
        1,
        "not before its time"
    );
    assert!(clock.now_ms() < due);
    clock.advance(Duration::from_millis(1));
    eventually("delivered at its time", async || {
        fetch(&client, "orders", 0).await.len() == 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_transaction_pipelined_on_one_stream_is_applied_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    topics(&client, &["orders", "audit"]).await;
    let send = |topic: &str, body: &str, sequence| {
        Request::Txn(TxnRequest::Send(TxnSend {
            id: "piped".into(),
            produce: ProduceRequest {
                topic: topic.into(),
                producer_id: 5,
                sequence,
                messages: vec![message(body)],
            },
            deliveries: Vec::new(),
        }))
    };
    let answers = client
        .call_all(&[
            Request::Txn(TxnRequest::Begin {
                id: "piped".into(),
                producer_group: "shop".into(),
                timeout_ms: 0,
            }),
            send("orders", "o", 0),
            send("audit", "a", 1),
            Request::Txn(TxnRequest::End {
                id: "piped".into(),
                outcome: Outcome::Commit,
            }),
        ])
        .await
        .unwrap();
    let answers: Vec<Response> = answers.into_iter().map(Result::unwrap).collect();
    let Response::TxnEnded(ended) = &answers[3] else {
        panic!("{answers:?}");
    };
    assert_eq!(
        ended.placed.len(),
        2,
        "both sends were in before the commit"
    );
    assert_eq!(bodies(&fetch(&client, "orders", 0).await), vec!["o"]);
    assert_eq!(bodies(&fetch(&client, "audit", 0).await), vec!["a"]);
}
