//! The delay service driven by hand on a manual clock, over a real store: long delays against
//! retention, restarts, and the catch-up after downtime.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{msg, small_opts, spec};
use lockgate::broker::appends::Appends;
use lockgate::broker::delay::service::ToSchedule;
use lockgate::broker::delay::{Delays, DelaysOptions};
use lockgate::broker::timer::{Rearm, Timed};
use lockgate::clock::Clock;
use lockgate::config::DelayConfig;
use lockgate::storage::{Durability, Store, StoreOptions};

const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

fn delays(store: &Arc<Store>, clock: &Clock, config: DelayConfig) -> Delays {
    Delays::open(DelaysOptions {
        store: store.clone(),
        clock: clock.clone(),
        config,
        appends: Arc::new(Appends::default()),
        rearm: Rearm::default(),
    })
    .unwrap()
}

fn to(topic: &str, n: u64, deliver_at: i64) -> ToSchedule {
    ToSchedule {
        message: msg(n),
        topic: topic.into(),
        topic_id: 0,
        queue: 0,
        deliver_at,
    }
}

/// Polls the service at the clock's time until it has nothing due.
fn settle(d: &Delays, clock: &Clock) {
    while d.next_deadline().is_some_and(|t| t <= clock.now_ms()) {
        d.poll(clock.now_ms());
    }
}

/// Every message of queue 0, with its store time.
fn delivered(store: &Store, topic: &str) -> Vec<(u64, i64, i64)> {
    let batch = store.read(topic, 0, 0, 100_000, usize::MAX).unwrap();
    batch
        .messages
        .iter()
        .map(|m| {
            let n = m.message.properties["n"].parse().unwrap();
            let due = m.message.properties["lockgate.deliver_at"].parse().unwrap();
            (n, due, m.stored_at)
        })
        .collect()
}

#[test]
fn a_thirty_day_delay_survives_retention_of_one_hour() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let opts = StoreOptions {
        retention: Some(Duration::from_secs(3600)),
        timer_horizon: Duration::from_secs(20 * 60),
        clock: clock.clone(),
        ..small_opts(dir.path())
    };
    let store = Store::open(opts).unwrap();
    store
        .create_topic(&spec("long", 1, Durability::Async))
        .unwrap();
    store
        .create_topic(&spec("filler", 1, Durability::Async))
        .unwrap();
    let d = delays(&store, &clock, DelayConfig::default());
    let due = T0 + 30 * 24 * HOUR;
    d.schedule(vec![to("long", 1, due)], None, Durability::Sync)
        .unwrap()
        .wait()
        .unwrap();
    let mut deleted = 0;
    let mut n = 0;
    while clock.now_ms() < due + MINUTE {
        clock.advance(Duration::from_millis(10 * MINUTE as u64));
        settle(&d, &clock);
        // Enough to roll a 64 KiB segment every step, so retention has work.
        let batch: Vec<_> = (0..8)
            .map(|_| {
                n += 1;
                msg(10_000 + n)
            })
            .collect();
        store.append("filler", 0, &batch).unwrap();
        deleted += store
            .enforce_retention(clock.now_ms())
            .unwrap()
            .segments_deleted;
        assert!(
            delivered(&store, "long")
                .iter()
                .all(|&(_, _, at)| at >= due),
            "never early"
        );
    }
    assert!(deleted > 100, "retention ran all along: {deleted} segments");
    let got = delivered(&store, "long");
    assert_eq!(got.len(), 1, "delivered exactly once: {got:?}");
    assert_eq!((got[0].0, got[0].1), (1, due));
    assert!(got[0].2 >= due && got[0].2 <= due + 10 * MINUTE);
    store.close().unwrap();
}

#[test]
fn pending_timers_survive_restarts_and_fire_once_with_a_bounded_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(T0);
    let opts = StoreOptions {
        clock: clock.clone(),
        ..small_opts(dir.path())
    };
    const N: u64 = 3_000;
    {
        let store = Store::open(opts.clone()).unwrap();
        store
            .create_topic(&spec("t", 1, Durability::Async))
            .unwrap();
        let d = delays(&store, &clock, DelayConfig::default());
        for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
            let batch = chunk
                .iter()
                .map(|&n| to("t", n, T0 + 5 * MINUTE + (n as i64 % 600) * 1_000))
                .collect();
            d.schedule(batch, None, Durability::Sync)
                .unwrap()
                .wait()
                .unwrap();
        }
        clock.advance(Duration::from_millis(6 * MINUTE as u64));
        // Some fire, then the process dies without a clean shutdown.
        d.poll(clock.now_ms());
        let fired = delivered(&store, "t").len();
        assert!(fired > 0 && fired < N as usize, "{fired}");
        drop(d);
        drop(store);
    }
    // Down for an hour: everything came due meanwhile.
    clock.advance(Duration::from_millis(HOUR as u64));
    let store = Store::open(opts.clone()).unwrap();
    let before = delivered(&store, "t").len();
    let config = DelayConfig {
        fire_rate: 1_000,
        ..DelayConfig::default()
    };
    let d = delays(&store, &clock, config);
    d.poll(clock.now_ms());
    let first = delivered(&store, "t").len() - before;
    assert!(
        first > 0 && first <= 4_096,
        "one burst at most, not all at once: {first}"
    );
    let mut steps = 0;
    while delivered(&store, "t").len() < N as usize {
        clock.advance(Duration::from_millis(100));
        settle(&d, &clock);
        steps += 1;
        assert!(steps < 10_000, "the backlog drains");
    }
    let got = delivered(&store, "t");
    let mut ns: Vec<u64> = got.iter().map(|g| g.0).collect();
    ns.sort();
    ns.dedup();
    assert_eq!(ns.len(), N as usize, "each exactly once");
    assert_eq!(got.len(), N as usize);
    assert!(got.iter().all(|&(_, due, at)| at >= due), "never early");
    drop(d);
    store.close().unwrap();
    drop(store);
    // And after a clean restart, nothing fires again.
    let store = Store::open(opts).unwrap();
    let d = delays(&store, &clock, DelayConfig::default());
    clock.advance(Duration::from_millis(HOUR as u64));
    settle(&d, &clock);
    assert_eq!(delivered(&store, "t").len(), N as usize);
    assert!(d.stats().topics.is_empty(), "{:?}", d.stats());
    store.close().unwrap();
}
