//! Appends from many threads at once: each is reserved under the log's write lock and then
//! sealed, written and indexed outside it, in reservation order. Offsets stay dense per queue,
//! every acknowledged batch reads back where its acknowledgement said, idempotent resends racing
//! their originals are stored once, checkpoints taken meanwhile stay consistent, and a disk that
//! fills up mid-flight fails whole appends only and takes writes again once space returns.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::tmpfs::Tmpfs;
use common::{fp, msg, open, read_stored, small_opts, spec};
use lockgate::storage::{Durability, Message, StorageError, Store, StoreOptions};

/// What one thread had acknowledged: per queue, `(first offset, messages)` of each batch.
type Acked = Vec<(u32, u64, Vec<Message>)>;

/// Checks that the acknowledged batches tile each queue from offset 0 with no gap or overlap,
/// that the queue holds exactly them, and that store times never go back along a queue (queue
/// order is log order).
fn check_queues(store: &Store, acked: &Acked, queues: u32) {
    for q in 0..queues {
        let mut batches: BTreeMap<u64, &Vec<Message>> = BTreeMap::new();
        for (queue, first, msgs) in acked {
            if *queue == q {
                assert!(
                    batches.insert(*first, msgs).is_none(),
                    "queue {q}: two batches acknowledged at offset {first}"
                );
            }
        }
        let mut want = Vec::new();
        for (first, msgs) in &batches {
            assert_eq!(
                *first,
                want.len() as u64,
                "queue {q}: the acknowledged batches leave a gap or overlap at {first}"
            );
            want.extend(msgs.iter().cloned());
        }
        let got = read_stored(store, "t", q);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.offset, i as u64, "queue {q}: offsets are dense");
        }
        assert!(
            got.windows(2).all(|w| w[0].stored_at <= w[1].stored_at),
            "queue {q}: store times go back along the queue"
        );
        let got: Vec<Message> = got.into_iter().map(|m| m.message).collect();
        assert_eq!(fp(&got), fp(&want), "queue {q} holds what was acknowledged");
    }
}

#[test]
fn racing_appends_resends_and_checkpoints_keep_every_queue_dense_and_whole_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: appends in flight meet segment rolls often.
    let opts = small_opts(dir.path());
    let store = open(&opts);
    store
        .create_topic(&spec("t", 2, Durability::Async))
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let checkpointer = {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            let mut taken = 0;
            while !done.load(Ordering::Acquire) {
                store.checkpoint().unwrap();
                taken += 1;
            }
            taken
        })
    };
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Two writers share each queue.
                let queue = (w % 2) as u32;
                let producer = w + 1;
                let mut acked: Acked = Vec::new();
                for sequence in 0..150u64 {
                    let n0 = w * 100_000 + sequence * 10;
                    let msgs: Vec<Message> = (0..1 + sequence % 4).map(|i| msg(n0 + i)).collect();
                    let batch = Some((producer, sequence));
                    let first = store.append_pending_as("t", queue, &msgs, batch).unwrap();
                    assert!(!first.is_duplicate());
                    let stored = first.wait().unwrap();
                    if sequence % 7 == 0 {
                        // A resend of what was just stored: the same offsets, nothing new.
                        let again = store.append_pending_as("t", queue, &msgs, batch).unwrap();
                        assert!(again.is_duplicate(), "batch {sequence} of {producer}");
                        assert_eq!(again.wait().unwrap().first_offset, stored.first_offset);
                    }
                    acked.push((queue, stored.first_offset, msgs));
                }
                acked
            })
        })
        .collect();
    let acked: Acked = writers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    done.store(true, Ordering::Release);
    assert!(checkpointer.join().unwrap() > 0);
    check_queues(&store, &acked, 2);
    // No clean shutdown: what the last checkpoint covers and what the replay adds meet.
    drop(store);
    let store = open(&opts);
    check_queues(&store, &acked, 2);
    store.close().unwrap();
    drop(store);
    let report = lockgate::storage::verify::verify_offline(&opts).unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
}

#[test]
fn a_disk_filling_up_under_racing_appends_fails_whole_appends_and_loses_no_acknowledged_one() {
    let outer = tempfile::tempdir().unwrap();
    let mount = outer.path().join("disk");
    let _fs = Tmpfs::mount(&mount, "3m");
    let mut opts: StoreOptions = small_opts(&mount.join("data"));
    opts.segment_size = 256 << 10;
    let store = open(&opts);
    store
        .create_topic(&spec("t", 2, Durability::Async))
        .unwrap();
    // Space held back, given back once the disk is full.
    let reserve = mount.join("reserve");
    std::fs::write(&reserve, vec![1u8; 512 << 10]).unwrap();
    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                let queue = (w % 2) as u32;
                let mut acked: Acked = Vec::new();
                let mut refused = 0;
                let mut sequence = 0u64;
                // Until this writer has been refused a few times: the disk is full.
                while refused < 3 {
                    let n0 = w * 1_000_000 + sequence * 10;
                    let msgs: Vec<Message> = (0..1 + sequence % 4).map(|i| msg(n0 + i)).collect();
                    match store.append("t", queue, &msgs) {
                        Ok(a) => acked.push((queue, a.first_offset, msgs)),
                        Err(StorageError::Io { .. } | StorageError::WritesFenced(_)) => {
                            refused += 1
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                    sequence += 1;
                }
                acked
            })
        })
        .collect();
    let mut acked: Acked = writers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(!acked.is_empty());
    check_queues(&store, &acked, 2);
    // Space returns: the log takes writes again, where the queues left off.
    std::fs::remove_file(&reserve).unwrap();
    for q in 0..2u32 {
        let msgs = vec![msg(9_000_000 + u64::from(q))];
        let a = store.append("t", q, &msgs).unwrap();
        acked.push((q, a.first_offset, msgs));
    }
    check_queues(&store, &acked, 2);
    drop(store);
    let store = open(&opts);
    check_queues(&store, &acked, 2);
}
