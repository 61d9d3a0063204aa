//! Consumer groups end to end over QUIC: clustering, leases and dead letters, ordered
//! consumption across rebalances and retries, broadcasting, reset, restart, flow control.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use common::server::{
    connect, fetch_start, number_of, produce_all, start, start_manual, test_config, until_stored,
};
use lockgate::client::{AckMode, Client, GroupConsumer, GroupConsumerOptions};
use lockgate::clock::system_now_ms as now_ms;
use lockgate::protocol::Mode;
use lockgate::protocol::{
    GroupDelivered, JoinRequest, ProduceMessage, ResetTo, Route, StartPosition,
};
use lockgate::storage::{Durability, Message};
use tokio::sync::mpsc;

/// Upper bound for any wait in these tests: reaching it is a failure, not a pass.
const PATIENCE: Duration = Duration::from_secs(60);

async fn produce(
    client: &Client,
    topic: &str,
    range: std::ops::Range<u64>,
    route: impl Fn(u64) -> Route,
) {
    let messages = range.map(|n| ProduceMessage {
        route: route(n),
        message: Message {
            body: n.to_le_bytes().to_vec(),
            ..Message::default()
        },
    });
    produce_all(client, topic, messages).await;
}

fn number(m: &GroupDelivered) -> u64 {
    number_of(&m.delivered.message.body)
}

fn opts(group: &str, topic: &str, mode: Mode) -> GroupConsumerOptions {
    let mut o = GroupConsumerOptions::new(group, topic);
    o.mode = mode;
    o.start = StartPosition::Earliest;
    o
}

/// Messages of `group` waiting for a retry (or the dead-letter topic), and its live members.
async fn retrying(client: &Client, group: &str) -> (u64, usize) {
    let Ok(g) = client.describe_group(group).await else {
        return (0, 0); // not created yet
    };
    (g.progress.iter().map(|p| p.retrying).sum(), g.members.len())
}

/// Waits until `group` has `n` messages waiting for a retry (and, if given, that many live
/// members).
async fn until_retrying(client: &Client, group: &str, n: u64, members: Option<usize>) {
    let waiting = async {
        loop {
            let (r, m) = retrying(client, group).await;
            if r == n && members.is_none_or(|want| want == m) {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, waiting).await.unwrap();
}

/// Once `group` has `n` messages waiting for a retry (and `members` live members, if given),
/// moves the manual clock by `step`, so they come due without a real wait.
fn advance_when_retrying(
    client: Client,
    group: &'static str,
    (n, members): (u64, Option<usize>),
    clock: lockgate::clock::Clock,
    step: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        until_retrying(&client, group, n, members).await;
        clock.advance(step);
    })
}

async fn next(c: &mut GroupConsumer) -> GroupDelivered {
    tokio::time::timeout(PATIENCE, c.next())
        .await
        .expect("a message within the patience bound")
        .expect("the subscription is open")
        .expect("no error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clustering_members_share_30k_messages_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("jobs", 4, Some(Durability::Async), 0)
        .await
        .unwrap();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut members = Vec::new();
    for i in 0..3 {
        let mut c = client
            .subscribe(opts("workers", "jobs", Mode::Clustering))
            .await
            .unwrap();
        let tx = tx.clone();
        members.push(tokio::spawn(async move {
            while let Some(Ok(m)) = c.next().await {
                c.ack(&m);
                if tx
                    .send((i, m.delivered.queue, m.delivered.offset, m.attempt))
                    .is_err()
                {
                    break;
                }
            }
            c.close().await;
        }));
    }
    produce(&client, "jobs", 0..30_000, |_| Route::Any).await;

    let mut seen = HashSet::new();
    let mut per_member = [0u32; 3];
    for _ in 0..30_000 {
        let (i, q, o, attempt) = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(seen.insert((q, o)), "queue {q} offset {o} delivered twice");
        assert_eq!(attempt, 1);
        per_member[i] += 1;
    }
    assert!(
        per_member.iter().all(|&n| n > 0),
        "every member took part: {per_member:?}"
    );
    // Every ack lands: nothing ready, nothing in flight.
    let settled = async {
        loop {
            let g = client.describe_group("workers").await.unwrap();
            if g.progress
                .iter()
                .all(|p| p.acked == p.end && p.in_flight == 0)
            {
                assert_eq!(g.progress.iter().map(|p| p.end).sum::<u64>(), 30_000);
                assert_eq!(g.members.len(), 3);
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, settled).await.unwrap();
    assert!(
        rx.try_recv().is_err(),
        "nothing delivered twice after the run"
    );
    for m in members {
        m.abort();
    }
    running.stop().await.unwrap();
}

fn join(group: &str, topic: &str, mode: Mode, instance: &str) -> JoinRequest {
    JoinRequest {
        group: group.into(),
        topic: topic.into(),
        instance: instance.into(),
        mode,
        start: StartPosition::Earliest,
        lease_ms: 0,
        max_attempts: 0,
        session_timeout_ms: 0,
        filter: None,
    }
}

/// Receives until `n` messages came (long polls; fails past the patience bound).
async fn receive_n(client: &Client, member: u64, n: usize) -> Vec<GroupDelivered> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while got.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} messages came",
            got.len()
        );
        let batch = client
            .receive(
                member,
                (n - got.len()) as u32,
                1 << 20,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        got.extend(batch);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_members_messages_are_redelivered_then_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.retry_delays = vec![Duration::from_millis(50)];
    let (running, clock) = start_manual(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("pay", 2, Some(Durability::Sync), 0)
        .await
        .unwrap();
    produce(&client, "pay", 0..6, |n| Route::Queue((n % 2) as u32)).await;

    let mut j = join("billing", "pay", Mode::Clustering, "");
    j.lease_ms = 300;
    j.max_attempts = 3;
    // The vanishing member: it takes everything, then never acks nor calls again. Its
    // session outlives the lease, so only lease expiry can free the messages.
    let gone = connect(&running, dir.path()).await;
    let mut jg = j.clone();
    jg.session_timeout_ms = 60_000;
    let ghost = gone.join_group(jg).await.unwrap();
    let first = receive_n(&gone, ghost, 6).await;
    assert!(first.iter().all(|m| m.attempt == 1));

    let other = client.join_group(j).await.unwrap();
    // The leases run out when the clock passes them: the messages wait for their retry.
    clock.advance(Duration::from_millis(299));
    let pending = client.describe_group("billing").await.unwrap();
    assert!(
        pending.progress.iter().all(|p| p.in_flight == 3),
        "{:?}",
        pending.progress
    );
    clock.advance(Duration::from_millis(1));
    until_retrying(&client, "billing", 6, None).await;
    clock.advance(Duration::from_millis(50));
    let second = receive_n(&client, other, 6).await;
    let mut numbers: Vec<u64> = second.iter().map(number).collect();
    numbers.sort();
    assert_eq!(numbers, (0..6).collect::<Vec<_>>());
    assert!(
        second.iter().all(|m| m.attempt == 2),
        "redelivered with attempt 2"
    );
    // The ghost's acks come too late: stale.
    let late = gone
        .ack(ghost, first.iter().map(range).collect())
        .await
        .unwrap_err();
    assert_eq!(late.status(), Some(lockgate::protocol::Status::StaleLease));

    // Fail the 2nd and the 3rd delivery: dead-lettered with the reason.
    client
        .nack(other, "cannot parse", second.iter().map(range).collect())
        .await
        .unwrap();
    until_retrying(&client, "billing", 6, None).await;
    clock.advance(Duration::from_millis(50));
    let third = receive_n(&client, other, 6).await;
    assert!(third.iter().all(|m| m.attempt == 3));
    client
        .nack(
            other,
            "still cannot parse",
            third.iter().map(range).collect(),
        )
        .await
        .unwrap();

    let dlq = lockgate::broker::dead_letter_topic("billing");
    until_stored(&client, &dlq, 6).await;
    let (_, msgs) = client.fetch(fetch_start(&dlq)).await.unwrap();
    let mut seen = BTreeSet::new();
    for m in &msgs {
        let p = &m.message.properties;
        assert_eq!(p[lockgate::broker::PROP_TOPIC], "pay");
        assert_eq!(p[lockgate::broker::PROP_ATTEMPTS], "3");
        assert!(
            p[lockgate::broker::PROP_REASON].contains("still cannot parse"),
            "{p:?}"
        );
        let n = u64::from_le_bytes(m.message.body[..8].try_into().unwrap());
        assert_eq!(p[lockgate::broker::PROP_QUEUE], (n % 2).to_string());
        assert_eq!(p[lockgate::broker::PROP_OFFSET], (n / 2).to_string());
        seen.insert(n);
    }
    assert_eq!(seen, (0..6).collect());
    // Dead-lettered messages are done for the group.
    let g = client.describe_group("billing").await.unwrap();
    assert!(
        g.progress.iter().all(|p| p.acked == 3 && p.retrying == 0),
        "{:?}",
        g.progress
    );
    running.stop().await.unwrap();
}

fn range(m: &GroupDelivered) -> lockgate::protocol::AckRange {
    lockgate::protocol::AckRange {
        queue: m.delivered.queue,
        offset: m.delivered.offset,
        count: 1,
        lease: m.lease,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_groups_keep_queue_order_across_a_rebalance_and_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.ordered_retry_interval = Duration::from_millis(50);
    let (running, clock) = start_manual(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("ord", 4, Some(Durability::Async), 0)
        .await
        .unwrap();
    const N: u64 = 4_000;
    produce(&client, "ord", 0..N, |n| Route::Key(format!("k{}", n % 16))).await;

    // One message fails once: its queue waits for the ordered retry interval, which ends once
    // its member has left (a delivery cut short by leaving would count as another attempt).
    let retries = advance_when_retrying(
        connect(&running, dir.path()).await,
        "sequencer",
        (1, Some(1)),
        clock,
        Duration::from_millis(50),
    );
    // (member, queue, offset, attempt) of every processed (acked) message, in order.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for (member, quota) in [(0, 300usize), (1, usize::MAX)] {
        let mut c = client
            .subscribe(opts("sequencer", "ord", Mode::Ordered))
            .await
            .unwrap();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < quota {
                let m = next(&mut c).await;
                let (q, o) = (m.delivered.queue, m.delivered.offset);
                if (q, o, m.attempt) == (0, 10, 1) {
                    c.nack(&m, "simulated failure");
                    continue;
                }
                c.ack(&m);
                done += 1;
                if tx.send((member, q, o, m.attempt)).is_err() {
                    break;
                }
            }
            // Member 0 leaves mid-stream: acks first, then its queues go to member 1.
            c.close().await;
        }));
    }
    let mut per_queue: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut members_of_queue: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut retried = None;
    for _ in 0..N {
        let (member, q, o, attempt) = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        per_queue.entry(q).or_default().push(o);
        members_of_queue.entry(q).or_default().insert(member);
        if (q, o) == (0, 10) {
            retried = Some(attempt);
        }
    }
    for (q, offsets) in &per_queue {
        let expected: Vec<u64> = (0..offsets.len() as u64).collect();
        assert_eq!(
            offsets, &expected,
            "queue {q} processed out of order or twice"
        );
    }
    assert_eq!(retried, Some(2), "the failed message came back in place");
    assert!(
        members_of_queue.values().any(|m| m.len() == 2),
        "a queue moved from the leaving member to the other: {members_of_queue:?}"
    );
    for t in tasks {
        t.abort();
    }
    retries.await.unwrap();
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasting_delivers_every_message_to_every_member() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("news", 3, Some(Durability::Async), 0)
        .await
        .unwrap();
    let mut consumers = Vec::new();
    for instance in ["a", "b"] {
        let mut o = opts("readers", "news", Mode::Broadcasting);
        o.instance = instance.into();
        o.ack = AckMode::Auto;
        consumers.push(client.subscribe(o).await.unwrap());
    }
    produce(&client, "news", 0..500, |_| Route::Any).await;
    for c in &mut consumers {
        let mut got = BTreeSet::new();
        while got.len() < 500 {
            let m = next(c).await;
            assert!(got.insert(number(&m)), "{} twice", number(&m));
        }
        assert_eq!(got, (0..500).collect());
        c.flush().await;
    }
    let g = client.describe_group("readers").await.unwrap();
    assert_eq!(g.progress.len(), 6, "3 queues for each of 2 instances");
    assert!(g.progress.iter().all(|p| p.acked == p.end));
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_to_a_time_replays_from_the_first_message_stored_then() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("audit", 2, Some(Durability::Async), 0)
        .await
        .unwrap();
    produce(&client, "audit", 0..50, |n| Route::Queue((n % 2) as u32)).await;
    let last = client.find_by_key("audit", "none", 1).await.unwrap();
    assert!(last.is_empty());
    let (_, early) = client
        .fetch(lockgate::protocol::FetchRequest {
            topic: "audit".into(),
            queue: 1,
            offset: 24,
            max_messages: 1,
            max_bytes: 1 << 20,
            max_wait_ms: 0,
        })
        .await
        .unwrap();
    let t = early[0].stored_at + 1;
    while now_ms() < t {
        tokio::task::yield_now().await; // the clock must pass t before the second half
    }
    produce(&client, "audit", 50..100, |n| Route::Queue((n % 2) as u32)).await;

    let member = client
        .join_group(join("auditors", "audit", Mode::Clustering, ""))
        .await
        .unwrap();
    let all = receive_n(&client, member, 100).await;
    client
        .ack(member, all.iter().map(range).collect())
        .await
        .unwrap();

    let moved = client
        .reset_group("auditors", "audit", None, ResetTo::Time(t))
        .await
        .unwrap();
    for &(q, offset) in &moved {
        assert_eq!(offset, client.offset_for_time("audit", q, t).await.unwrap());
    }
    assert_eq!(moved, vec![(0, 25), (1, 25)]);
    let replay = receive_n(&client, member, 50).await;
    let mut numbers: Vec<u64> = replay.iter().map(number).collect();
    numbers.sort();
    assert_eq!(numbers, (50..100).collect::<Vec<_>>());
    client
        .ack(member, replay.iter().map(range).collect())
        .await
        .unwrap();

    // One queue, to an offset.
    let moved = client
        .reset_group("auditors", "audit", Some(1), ResetTo::Offset(48))
        .await
        .unwrap();
    assert_eq!(moved, vec![(1, 48)]);
    let tail = receive_n(&client, member, 2).await;
    let numbers: BTreeSet<u64> = tail.iter().map(number).collect();
    assert_eq!(numbers, BTreeSet::from([97, 99]));
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_and_attempts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("orders", 2, Some(Durability::Sync), 0)
        .await
        .unwrap();
    produce(&client, "orders", 0..200, |n| Route::Queue((n % 2) as u32)).await;
    let member = client
        .join_group(join("shipping", "orders", Mode::Clustering, ""))
        .await
        .unwrap();
    let got = receive_n(&client, member, 200).await;
    let first_half: Vec<_> = got.iter().filter(|m| number(m) < 100).map(range).collect();
    assert_eq!(client.ack(member, first_half).await.unwrap(), (100, 0));
    client.close().await;
    running.stop().await.unwrap();

    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    let mut j = join("shipping", "orders", Mode::Clustering, "");
    j.start = StartPosition::Latest; // ignored: the group has progress
    let member = client.join_group(j).await.unwrap();
    let again = receive_n(&client, member, 100).await;
    let numbers: BTreeSet<u64> = again.iter().map(number).collect();
    assert_eq!(numbers, (100..200).collect());
    assert!(
        again.iter().all(|m| m.attempt == 2),
        "delivery counts were kept"
    );
    let more = client
        .receive(member, 10, 1 << 20, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(more.is_empty(), "acked messages are not redelivered");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_member_gets_no_more_than_its_credit_and_others_keep_receiving() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("feed", 2, Some(Durability::Async), 0)
        .await
        .unwrap();
    produce(&client, "feed", 0..1_000, |_| Route::Any).await;

    // The slow member grants 5 messages and never takes one.
    let mut slow = opts("eaters", "feed", Mode::Clustering);
    slow.credit_messages = 5;
    let slow = client.subscribe(slow).await.unwrap();
    let totals = |g: &lockgate::protocol::GroupInfo| {
        let sum =
            |f: fn(&lockgate::protocol::ProgressInfo) -> u64| g.progress.iter().map(f).sum::<u64>();
        (sum(|p| p.acked), sum(|p| p.in_flight), sum(|p| p.ready))
    };
    let holding = async {
        loop {
            let (_, in_flight, _) = totals(&client.describe_group("eaters").await.unwrap());
            if in_flight >= 5 {
                return in_flight;
            }
            tokio::task::yield_now().await;
        }
    };
    assert_eq!(tokio::time::timeout(PATIENCE, holding).await.unwrap(), 5);

    let mut fast = client
        .subscribe(opts("eaters", "feed", Mode::Clustering))
        .await
        .unwrap();
    let mut fast_got = 0;
    while fast_got < 995 {
        let m = next(&mut fast).await;
        fast.ack(&m);
        fast_got += 1;
    }
    fast.flush().await;
    let (_, in_flight, ready) = totals(&client.describe_group("eaters").await.unwrap());
    assert_eq!(
        (in_flight, ready),
        (5, 0),
        "the slow member holds exactly its credit"
    );
    let extra = tokio::time::timeout(Duration::from_millis(100), fast.next()).await;
    assert!(
        extra.is_err(),
        "nothing left for the fast member: {extra:?}"
    );
    drop(slow);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_api_acks_on_ok_and_nacks_on_err() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.groups.retry_delays = vec![Duration::from_millis(20)];
    let (running, clock) = start_manual(&config).await;
    let client = connect(&running, dir.path()).await;
    // Every first delivery fails: all ten wait for their retry.
    let retries = advance_when_retrying(
        connect(&running, dir.path()).await,
        "handlers",
        (10, None),
        clock,
        Duration::from_millis(20),
    );
    client
        .create_topic("cb", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    produce(&client, "cb", 0..10, |_| Route::Any).await;
    let consumer = client
        .subscribe(opts("handlers", "cb", Mode::Clustering))
        .await
        .unwrap();
    let mut seen: Vec<(u64, u32)> = Vec::new();
    let mut succeeded = 0;
    let run = consumer.run(|m| {
        seen.push((number(&m), m.attempt));
        let fail = m.attempt == 1;
        if !fail {
            succeeded += 1;
        }
        let done = succeeded == 10;
        async move {
            if fail {
                Err("first try fails".to_string())
            } else {
                Ok(!done)
            }
        }
    });
    tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
    let mut firsts: Vec<u64> = seen.iter().filter(|s| s.1 == 1).map(|s| s.0).collect();
    let mut seconds: Vec<u64> = seen.iter().filter(|s| s.1 == 2).map(|s| s.0).collect();
    firsts.sort();
    seconds.sort();
    assert_eq!(firsts, (0..10).collect::<Vec<_>>());
    assert_eq!(seconds, (0..10).collect::<Vec<_>>());
    let g = client.describe_group("handlers").await.unwrap();
    assert_eq!(
        (g.progress[0].acked, g.progress[0].end),
        (10, 10),
        "run flushed its acks"
    );
    retries.await.unwrap();
    running.stop().await.unwrap();
}

/// A group's description and its members' own requests (each access check looks up the
/// member's group) lock the same two things; side by side they must never deadlock. The
/// broker runs on a thread of its own, so a deadlock fails this test at its bound instead of
/// hanging the runtime's shutdown on a blocked thread.
#[test]
fn describing_a_group_while_its_members_ask_never_deadlocks() {
    const ROUNDS: usize = 1_000;
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let running = start(&test_config(dir.path())).await;
            let client = connect(&running, dir.path()).await;
            // Many queues: describing the group holds its lock a while.
            client
                .create_topic("busy", 64, Some(Durability::Async), 0)
                .await
                .unwrap();
            let member = client
                .join_group(common::server::clustering_join("watched", "busy"))
                .await
                .unwrap();
            let mut askers = Vec::new();
            for i in 0..4 {
                let c = connect(&running, dir.path()).await;
                askers.push(tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        if i % 2 == 0 {
                            let g = c.describe_group("watched").await.unwrap();
                            assert_eq!(g.members.len(), 1);
                        } else {
                            c.heartbeat(member).await.unwrap();
                        }
                    }
                }));
            }
            for a in askers {
                a.await.unwrap();
            }
            running.stop().await.unwrap();
        });
        let _ = done.send(());
    });
    finished
        .recv_timeout(PATIENCE * 2)
        .expect("a deadlock: the broker stopped answering while a group was described");
}

/// Issue 27: a burst produced while two clustering members wait is spread over both, not
/// taken whole by the first to wake: with each member's credit under the burst (600 of 1,000)
/// and over it (the default 2,048, where the first used to take all 1,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_spread_over_the_members_that_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = connect(&running, dir.path()).await;
    for (round, credit) in [600, 2048].into_iter().enumerate() {
        let (group, topic) = (format!("spread{round}"), format!("burst{round}"));
        client
            .create_topic(&topic, 4, Some(Durability::Async), 0)
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, u64)>();
        let mut members = Vec::new();
        for who in 0..2 {
            let mut o = opts(&group, &topic, Mode::Clustering);
            o.credit_messages = credit;
            let mut member = client.subscribe(o).await.unwrap();
            let tx = tx.clone();
            members.push(tokio::spawn(async move {
                while let Some(Ok(m)) = member.next().await {
                    member.ack(&m);
                    if tx.send((who, number(&m))).is_err() {
                        return;
                    }
                }
            }));
        }
        // Both members are in the group before the burst.
        let joined = async {
            while client
                .describe_group(&group)
                .await
                .map_or(0, |g| g.members.len())
                < 2
            {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(PATIENCE, joined).await.unwrap();
        produce(&client, &topic, 0..1_000, |_| Route::Any).await;
        let mut got = [0usize; 2];
        let mut seen = HashSet::new();
        while seen.len() < 1_000 {
            let (who, n) = tokio::time::timeout(PATIENCE, rx.recv())
                .await
                .expect("the burst arrives")
                .unwrap();
            assert!(seen.insert(n), "message {n} delivered twice");
            got[who] += 1;
        }
        assert!(
            got.iter().all(|&n| n >= 250),
            "credit {credit}: the burst was not spread over both members: {got:?}"
        );
        for m in members {
            m.abort();
        }
    }
    running.stop().await.unwrap();
}
