use std::collections::{BTreeMap, BTreeSet};

use super::*;

fn settings(mode: Mode) -> Settings {
    Settings {
        mode,
        lease_ms: 1_000,
        max_attempts: 3,
        session_timeout_ms: 10_000,
    }
}

fn policy() -> Policy {
    Policy {
        retry_delays_ms: vec![100, 200],
        ordered_retry_ms: 50,
        timer_retry_ms: None,
        plugin_retry: Default::default(),
    }
}

fn member(id: u64, instance: &str) -> Member {
    Member {
        id,
        topic: "t".into(),
        instance: instance.into(),
        conn: id,
        last_seen: 0,
        held: 0,
    }
}

fn group(mode: Mode, queues: usize, members: &[u64]) -> Group {
    let mut g = Group::new("g", settings(mode), policy());
    for &id in members {
        g.join(member(id, &format!("i{id}")), &vec![0; queues]);
    }
    g
}

fn ack_all(g: &mut Group, id: u64, now: i64, t: &Taken) -> (u64, u64) {
    let ranges: Vec<AckRange> = t
        .handouts
        .iter()
        .map(|h| AckRange {
            queue: h.queue,
            offset: h.offset,
            count: 1,
            lease: t.lease,
        })
        .collect();
    g.ack(id, now, &ranges).unwrap()
}

#[test]
fn clustering_members_share_every_message_once() {
    let mut g = group(Mode::Clustering, 4, &[1, 2, 3]);
    let bounds = vec![(0, 250); 4];
    let mut seen = BTreeSet::new();
    let mut per_member = BTreeMap::new();
    'outer: loop {
        let mut progress = false;
        for id in [1, 2, 3] {
            let t = g.take(id, 0, &bounds, 37).unwrap();
            if t.handouts.is_empty() {
                continue;
            }
            progress = true;
            for h in &t.handouts {
                assert!(seen.insert((h.queue, h.offset)), "{h:?} delivered twice");
                assert_eq!(h.attempt, 1);
            }
            *per_member.entry(id).or_insert(0) += t.handouts.len();
            assert_eq!(ack_all(&mut g, id, 0, &t), (t.handouts.len() as u64, 0));
        }
        if !progress {
            break 'outer;
        }
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(per_member.len(), 3, "every member got work");
    let p = g.progress(|_| vec![250; 4]);
    assert!(
        p.iter()
            .all(|q| q.acked == 250 && q.ready == 0 && q.in_flight == 0)
    );
}

#[test]
fn an_expired_lease_is_retried_with_a_higher_attempt_then_dead_lettered() {
    let mut g = group(Mode::Clustering, 1, &[1, 2]);
    let bounds = [(0, 1)];
    let t = g.take(1, 0, &bounds, 10).unwrap();
    assert_eq!(t.handouts.len(), 1);
    assert_eq!(g.next_deadline(), Some(1_000));
    assert!(!g.poll(999));
    assert!(g.take(2, 999, &bounds, 10).unwrap().handouts.is_empty());
    assert!(!g.poll(1_000), "expired, now waiting 100 ms");
    assert_eq!(g.next_deadline(), Some(1_100));
    assert!(g.poll(1_100));
    let t2 = g.take(2, 1_100, &bounds, 10).unwrap();
    assert_eq!(t2.handouts[0].attempt, 2);
    // The first member's late ack is stale.
    assert_eq!(ack_all(&mut g, 1, 1_100, &t), (0, 1));
    // Nack the 2nd delivery, let the 3rd expire: dead-lettered with the reason.
    let r = AckRange {
        queue: 0,
        offset: 0,
        count: 1,
        lease: t2.lease,
    };
    assert_eq!(g.nack(2, 1_200, &[r], "bad payload").unwrap(), (1, 0));
    assert!(g.poll(1_400));
    let t3 = g.take(1, 1_400, &bounds, 10).unwrap();
    assert_eq!(t3.handouts[0].attempt, 3);
    g.poll(2_400);
    let dl = g.take_dead_letters();
    assert_eq!(dl.len(), 1);
    assert_eq!((dl[0].offset, dl[0].attempt), (0, 3));
    assert!(dl[0].reason.contains("lease expired"), "{}", dl[0].reason);
    assert_eq!(g.progress(|_| vec![1])[0].retrying, 1);
    g.dead_lettered(&dl[0]);
    assert_eq!(g.progress(|_| vec![1])[0].acked, 1);
}

#[test]
fn a_member_that_leaves_releases_its_leases_at_once() {
    let mut g = group(Mode::Clustering, 2, &[1, 2]);
    let bounds = [(0, 5), (0, 5)];
    let t = g.take(1, 0, &bounds, 6).unwrap();
    assert_eq!(t.handouts.len(), 6);
    assert!(g.leave(1));
    let t2 = g.take(2, 1, &bounds, 100).unwrap();
    assert_eq!(t2.handouts.len(), 10);
    let again: Vec<_> = t2.handouts.iter().filter(|h| h.attempt == 2).collect();
    assert_eq!(again.len(), 6);
    assert_eq!(g.ack(1, 1, &[]).unwrap_err(), GroupError::UnknownMember(1));
}

#[test]
fn silent_members_time_out() {
    let mut g = group(Mode::Clustering, 1, &[1, 2]);
    g.take(1, 0, &[(0, 3)], 3).unwrap();
    g.heartbeat(2, 9_000).unwrap();
    g.poll(10_001);
    assert!(g.member(1).is_none());
    assert!(g.member(2).is_some());
    assert_eq!(g.take(2, 10_001, &[(0, 3)], 3).unwrap().handouts.len(), 3);
}

#[test]
fn ordered_queues_have_one_owner_and_rebalance_keeps_the_order() {
    let mut g = group(Mode::Ordered, 4, &[1, 2]);
    let bounds = vec![(0, 10); 4];
    let t1 = g.take(1, 0, &bounds, 100).unwrap();
    let t2 = g.take(2, 0, &bounds, 100).unwrap();
    let queues = |t: &Taken| t.handouts.iter().map(|h| h.queue).collect::<BTreeSet<_>>();
    assert_eq!(queues(&t1), BTreeSet::from([0, 2]));
    assert_eq!(queues(&t2), BTreeSet::from([1, 3]));
    // Member 1 acks the first 4 of queue 0, then leaves; member 2 resumes queue 0 at 4.
    g.ack(
        1,
        0,
        &[AckRange {
            queue: 0,
            offset: 0,
            count: 4,
            lease: t1.lease,
        }],
    )
    .unwrap();
    g.leave(1);
    let t3 = g.take(2, 1, &bounds, 100).unwrap();
    let q0: Vec<u64> = t3
        .handouts
        .iter()
        .filter(|h| h.queue == 0)
        .map(|h| h.offset)
        .collect();
    assert_eq!(q0, (4..10).collect::<Vec<_>>());
}

#[test]
fn an_ordered_failure_blocks_its_queue_and_retries_the_same_message() {
    let mut g = group(Mode::Ordered, 1, &[1]);
    let bounds = [(0, 5)];
    let t = g.take(1, 0, &bounds, 5).unwrap();
    g.ack(
        1,
        0,
        &[AckRange {
            queue: 0,
            offset: 0,
            count: 2,
            lease: t.lease,
        }],
    )
    .unwrap();
    let r = AckRange {
        queue: 0,
        offset: 2,
        count: 1,
        lease: t.lease,
    };
    assert_eq!(g.nack(1, 10, &[r], "handler failed").unwrap(), (1, 0));
    // A late ack of 3 (delivered under the old lease) is stale: order is kept.
    assert_eq!(ack_all(&mut g, 1, 11, &t), (0, 5));
    assert!(
        g.take(1, 20, &bounds, 5).unwrap().handouts.is_empty(),
        "blocked"
    );
    assert!(g.poll(60));
    let t2 = g.take(1, 60, &bounds, 5).unwrap();
    let got: Vec<(u64, u32)> = t2.handouts.iter().map(|h| (h.offset, h.attempt)).collect();
    assert_eq!(got, vec![(2, 2), (3, 2), (4, 2)]);
    // Two more failures of offset 2: dead-lettered, and the queue moves on.
    let r2 = AckRange {
        lease: t2.lease,
        ..r
    };
    g.nack(1, 70, &[r2], "again").unwrap();
    g.poll(120);
    let t3 = g.take(1, 120, &bounds, 5).unwrap();
    g.nack(
        1,
        130,
        &[AckRange {
            lease: t3.lease,
            ..r
        }],
        "still",
    )
    .unwrap();
    let dl = g.take_dead_letters();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].attempt, 3);
    assert!(g.take(1, 131, &bounds, 5).unwrap().handouts.is_empty());
    g.dead_lettered(&dl[0]);
    let t4 = g.take(1, 132, &bounds, 5).unwrap();
    assert_eq!(t4.handouts.first().map(|h| h.offset), Some(3));
}

#[test]
fn broadcasting_gives_every_instance_every_message() {
    let mut g = group(Mode::Broadcasting, 2, &[1, 2]);
    let bounds = [(0, 3), (0, 3)];
    for id in [1, 2] {
        let t = g.take(id, 0, &bounds, 100).unwrap();
        assert_eq!(t.handouts.len(), 6);
        ack_all(&mut g, id, 0, &t);
    }
    let p = g.progress(|_| vec![3, 3]);
    assert_eq!(p.len(), 4);
    assert!(p.iter().all(|q| q.acked == 3));
    // A returning instance resumes where it was.
    g.leave(1);
    g.join(member(3, "i1"), &[0, 0]);
    assert!(g.take(3, 1, &bounds, 100).unwrap().handouts.is_empty());
}

#[test]
fn snapshots_keep_acks_and_attempts() {
    let mut g = group(Mode::Clustering, 1, &[1]);
    let bounds = [(0, 10)];
    let t = g.take(1, 0, &bounds, 10).unwrap();
    g.ack(
        1,
        0,
        &[
            AckRange {
                queue: 0,
                offset: 0,
                count: 3,
                lease: t.lease,
            },
            AckRange {
                queue: 0,
                offset: 5,
                count: 2,
                lease: t.lease,
            },
        ],
    )
    .unwrap();
    let snap = g.snapshot_if_dirty().expect("dirty");
    assert!(g.snapshot_if_dirty().is_none());
    let json = serde_json::to_string(&snap).unwrap();
    let back: GroupSnapshot = serde_json::from_str(&json).unwrap();
    let mut r = Group::restore(&back, policy());
    r.join(member(9, "x"), &[10]);
    let t2 = r.take(9, 0, &bounds, 10).unwrap();
    let got: Vec<(u64, u32)> = t2.handouts.iter().map(|h| (h.offset, h.attempt)).collect();
    assert_eq!(got, vec![(3, 2), (4, 2), (7, 2), (8, 2), (9, 2)]);
}

#[test]
fn reset_moves_every_queue_or_one() {
    let mut g = group(Mode::Clustering, 2, &[1]);
    let bounds = [(0, 10), (0, 10)];
    let t = g.take(1, 0, &bounds, 20).unwrap();
    ack_all(&mut g, 1, 0, &t);
    g.reset("t", Some(1), &[0, 4]);
    let t = g.take(1, 0, &bounds, 20).unwrap();
    let got: Vec<(u32, u64)> = t.handouts.iter().map(|h| (h.queue, h.offset)).collect();
    assert_eq!(got, (4..10).map(|o| (1, o)).collect::<Vec<_>>());
    g.reset("t", None, &[7, 7]);
    let p = g.progress(|_| vec![10, 10]);
    assert!(
        p.iter()
            .all(|q| q.acked == 7 && q.ready == 3 && q.in_flight == 0)
    );
    g.reset("other", None, &[2]);
    assert_eq!(g.topics(), vec!["other".to_string(), "t".to_string()]);
}

#[test]
fn retention_skips_what_is_gone_and_new_queues_start_at_their_earliest() {
    let mut g = group(Mode::Clustering, 1, &[1]);
    let t = g.take(1, 0, &[(5, 8), (2, 4)], 100).unwrap();
    let got: Vec<(u32, u64)> = t.handouts.iter().map(|h| (h.queue, h.offset)).collect();
    assert_eq!(got, vec![(0, 5), (0, 6), (0, 7), (1, 2), (1, 3)]);
}

#[test]
fn a_queue_leaves_a_live_owner_only_after_its_leases_settle() {
    let mut g = group(Mode::Ordered, 2, &[1]);
    let bounds = [(0, 10), (0, 10)];
    let t1 = g.take(1, 0, &bounds, 15).unwrap();
    let q1: Vec<u64> = t1
        .handouts
        .iter()
        .filter(|h| h.queue == 1)
        .map(|h| h.offset)
        .collect();
    assert!(!q1.is_empty());
    g.join(member(2, "i2"), &[0, 0]);
    assert!(
        g.take(2, 1, &bounds, 10).unwrap().handouts.is_empty(),
        "queue 1 is still draining at member 1"
    );
    assert!(
        g.take(1, 1, &bounds, 10)
            .unwrap()
            .handouts
            .iter()
            .all(|h| h.queue == 0),
        "and member 1 gets no more of it"
    );
    g.ack(
        1,
        2,
        &[AckRange {
            queue: 1,
            offset: q1[0],
            count: q1.len() as u32,
            lease: t1.lease,
        }],
    )
    .unwrap();
    let t2 = g.take(2, 3, &bounds, 100).unwrap();
    let got: Vec<(u32, u64)> = t2.handouts.iter().map(|h| (h.queue, h.offset)).collect();
    let expected: Vec<(u32, u64)> = (q1.len() as u64..10).map(|o| (1, o)).collect();
    assert_eq!(got, expected, "member 2 resumes after member 1's last ack");
}

#[test]
fn a_held_member_stays_alive_past_its_session_timeout() {
    let mut g = group(Mode::Clustering, 1, &[1]);
    g.hold(1).unwrap();
    assert_eq!(
        g.next_deadline(),
        None,
        "a held member has no session deadline"
    );
    g.poll(60_000);
    assert!(
        g.member(1).is_some(),
        "removed while its long poll was pending"
    );
    g.unhold(1, 60_000);
    assert_eq!(g.next_deadline(), Some(70_001));
    g.poll(70_001);
    assert!(g.member(1).is_none(), "silent after the hold ended");
}

/// A clustering group whose retries from 1 s on go through the timer.
fn timer_group(mode: Mode) -> Group {
    let policy = Policy {
        retry_delays_ms: vec![100, 5_000],
        ordered_retry_ms: 50,
        timer_retry_ms: Some(1_000),
        plugin_retry: Default::default(),
    };
    let mut g = Group::new("g", settings(mode), policy);
    g.join(member(1, "i1"), &[0]);
    g
}

fn nack_one(g: &mut Group, id: u64, now: i64, queue: u32, offset: u64, lease: u32) {
    let r = AckRange {
        queue,
        offset,
        count: 1,
        lease,
    };
    assert_eq!(g.nack(id, now, &[r], "boom").unwrap(), (1, 0));
}

#[test]
fn a_long_retry_leaves_the_window_through_the_timer() {
    let mut g = timer_group(Mode::Clustering);
    let bounds = [(0, 2)];
    let t = g.take(1, 0, &bounds, 1).unwrap();
    // A 100 ms retry is short: it waits in place.
    nack_one(&mut g, 1, 0, 0, 0, t.lease);
    assert!(g.take_forwards().is_empty());
    assert!(g.poll(100));
    let t = g.take(1, 100, &bounds, 1).unwrap();
    assert_eq!(t.handouts[0].attempt, 2);
    // A 5 s retry goes to the timer; the window holds it only until that is stored.
    nack_one(&mut g, 1, 200, 0, 0, t.lease);
    let f = g.take_forwards();
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].topic.as_str(), f[0].queue, f[0].offset, f[0].attempt),
        ("t", 0, 0, 2)
    );
    assert_eq!(f[0].retry_at, Some(5_200));
    assert!(f[0].reason.contains("boom"));
    assert_eq!(g.progress(|_| vec![2])[0].retrying, 1);
    let t2 = g.take(1, 200, &bounds, 10).unwrap();
    assert_eq!(t2.handouts.len(), 1, "the next message goes out meanwhile");
    ack_all(&mut g, 1, 200, &t2);
    g.forwarded(&f[0]);
    let p = g.progress(|_| vec![2]);
    assert_eq!(
        (p[0].acked, p[0].retrying),
        (2, 0),
        "nothing holds the queue"
    );
    // Past the leases, nothing of the message is left to wake for: only the session.
    assert!(!g.poll(1_300));
    assert!(g.take_forwards().is_empty());
    assert_eq!(g.next_deadline(), Some(10_201));
}

#[test]
fn retries_are_taken_from_the_retry_topic_on_their_own_queue_ids() {
    let mut g = timer_group(Mode::Clustering);
    let retry = g.retry_topic("t").unwrap();
    assert_eq!(retry, "%RETRY%g%t");
    let t = g.take_with_retries(1, 0, &[(0, 1)], &[(0, 2)], 10).unwrap();
    let queues: Vec<(u32, u64)> = t.handouts.iter().map(|h| (h.queue, h.offset)).collect();
    assert_eq!(
        queues,
        vec![(RETRY_QUEUE, 0), (RETRY_QUEUE, 1), (0, 0)],
        "due retries first"
    );
    // Ack one retry, nack the other: a retry-topic failure is the service's to decide.
    let ack = AckRange {
        queue: RETRY_QUEUE,
        offset: 0,
        count: 1,
        lease: t.lease,
    };
    assert_eq!(g.ack(1, 10, &[ack]).unwrap(), (1, 0));
    nack_one(&mut g, 1, 10, RETRY_QUEUE, 1, t.lease);
    let f = g.take_forwards();
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].topic.as_str(), f[0].queue, f[0].offset, f[0].retry_at),
        (retry.as_str(), 0, 1, None)
    );
    g.forwarded(&f[0]);
    let p = g.progress(|_| vec![2]);
    let r = p.iter().find(|p| p.topic == retry).unwrap();
    assert_eq!((r.acked, r.retrying, r.in_flight), (2, 0, 0));
    // The retry subscription's progress survives a restart.
    let back = Group::restore(&g.snapshot(), policy());
    let p = back.progress(|_| vec![2]);
    assert_eq!(p.iter().find(|p| p.topic == retry).unwrap().acked, 2);
    // A member that leaves gives its retries back at once, their delivery counted.
    let mut g = timer_group(Mode::Clustering);
    g.join(member(2, "i2"), &[0]);
    let t = g.take_with_retries(1, 0, &[(0, 0)], &[(0, 1)], 10).unwrap();
    assert_eq!(t.handouts[0].queue, RETRY_QUEUE);
    assert!(g.leave(1));
    let again = g.take_with_retries(2, 0, &[(0, 0)], &[(0, 1)], 10).unwrap();
    assert_eq!(
        (again.handouts[0].queue, again.handouts[0].attempt),
        (RETRY_QUEUE, 2)
    );
    // An expired lease on a retry is a forward too.
    let mut g = timer_group(Mode::Clustering);
    g.take_with_retries(1, 0, &[(0, 0)], &[(0, 1)], 10).unwrap();
    g.poll(1_000);
    let f = g.take_forwards();
    assert_eq!(f.len(), 1);
    assert!(f[0].reason.contains("lease expired"));
}

#[test]
fn ordered_and_broadcasting_groups_keep_their_retries_in_place() {
    for mode in [Mode::Ordered, Mode::Broadcasting] {
        let mut g = timer_group(mode);
        assert_eq!(g.retry_topic("t"), None);
        // Retry bounds are ignored: such a group has no retry subscription.
        let t = g.take_with_retries(1, 0, &[(0, 1)], &[(0, 5)], 10).unwrap();
        assert_eq!(t.handouts.len(), 1);
        let r = AckRange {
            queue: 0,
            offset: 0,
            count: 1,
            lease: t.lease,
        };
        g.nack(1, 0, &[r], "x").unwrap();
        assert!(g.take_forwards().is_empty(), "{mode:?}");
        assert_eq!(g.progress(|_| vec![1])[0].retrying, 1);
    }
    // A retry-topic queue id without a retry topic is stale.
    let mut g = group(Mode::Clustering, 1, &[1]);
    let r = AckRange {
        queue: RETRY_QUEUE,
        offset: 0,
        count: 1,
        lease: 1,
    };
    assert_eq!(g.nack(1, 0, &[r], "x").unwrap(), (0, 1));
}
