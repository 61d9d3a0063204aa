//! Atomic multi-destination appends: all of one is stored and visible, or none of it, in
//! every destination, also when a crash cuts its write short.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{fp, msg, open, small_opts, spec};
use lockgate::storage::{AtomicPart, Durability, Message};

fn parts<'a>(a: &'a [Message], b: &'a [Message]) -> Vec<AtomicPart<'a, Message>> {
    vec![
        AtomicPart {
            topic: "a",
            queue: 0,
            records: a,
            marks: &[],
        },
        AtomicPart {
            topic: "b",
            queue: 1,
            records: b,
            marks: &[],
        },
    ]
}

fn newest_log(dir: &std::path::Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.pop().unwrap()
}

#[test]
fn an_atomic_append_lands_in_every_destination_with_its_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&small_opts(dir.path()));
    store
        .create_topic(&spec("a", 1, Durability::Async))
        .unwrap();
    store.create_topic(&spec("b", 2, Durability::Sync)).unwrap();
    store.append("b", 1, &[msg(0)]).unwrap();
    let a: Vec<Message> = (1..4).map(msg).collect();
    let b: Vec<Message> = (4..6).map(msg).collect();
    let done = store
        .append_atomic(&parts(&a, &b), None)
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(
        done.iter()
            .map(|d| (d.queue, d.first_offset, d.count))
            .collect::<Vec<_>>(),
        vec![(0, 0, 3), (1, 1, 2)]
    );
    assert_eq!(fp(&common::read_messages(&store, "a", 0)), fp(&a));
    assert_eq!(fp(&common::read_messages(&store, "b", 1))[1..], fp(&b)[..]);
    let found = store.find_by_id("b", &msg(5).id).unwrap().unwrap();
    assert_eq!((found.queue, found.offset), (1, 2));
    // And after a crash, the whole append is replayed.
    drop(store);
    let store = open(&small_opts(dir.path()));
    assert_eq!(fp(&common::read_messages(&store, "a", 0)), fp(&a));
    assert_eq!(common::read_messages(&store, "b", 1).len(), 3);
}

#[test]
fn a_crash_inside_the_write_leaves_nothing_of_it_in_any_destination() {
    // Cut into the last record, and cut exactly the last record away: the records before it
    // are whole and sound, and still none of them may survive.
    for cut_whole_record in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_opts(dir.path());
        let store = open(&opts);
        store.create_topic(&spec("a", 1, Durability::Sync)).unwrap();
        store.create_topic(&spec("b", 2, Durability::Sync)).unwrap();
        store.append("a", 0, &[msg(0)]).unwrap();
        let before = store.stats().bytes;
        store.append("b", 0, &[msg(9)]).unwrap();
        let last_len = store.stats().bytes - before;
        let a: Vec<Message> = (1..4).map(msg).collect();
        let b = vec![msg(9)];
        store
            .append_atomic(&parts(&a, &b), None)
            .unwrap()
            .wait()
            .unwrap();
        drop(store);

        let path = newest_log(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        let cut = if cut_whole_record { last_len } else { 7 };
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - cut)
            .unwrap();

        let store = open(&opts);
        let (_, _, reason) = store.recovery_report().truncated.clone().expect("a cut");
        assert!(reason.contains("atomic append"), "{reason}");
        assert_eq!(
            fp(&common::read_messages(&store, "a", 0)),
            fp(&[msg(0)]),
            "cut {cut}"
        );
        assert!(common::read_messages(&store, "b", 1).is_empty());
        assert_eq!(fp(&common::read_messages(&store, "b", 0)), fp(&[msg(9)]));
        // Offsets are given again, and a new append works.
        let again = store
            .append_atomic(&parts(&a, &b), None)
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!((again[0].first_offset, again[1].first_offset), (1, 0));
    }
}

#[test]
fn a_reader_never_sees_part_of_an_atomic_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&small_opts(dir.path()));
    store
        .create_topic(&spec("a", 1, Durability::Async))
        .unwrap();
    store
        .create_topic(&spec("b", 2, Durability::Async))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // The reader looks at "a" and then "b": each append puts 20 records in "a" and 1 in "b",
    // so at any moment a's count is 20 × b's count (after seeing a, b has at least as many).
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut looks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (_, a) = store.queue_bounds("a", 0).unwrap();
                let (_, b) = store.queue_bounds("b", 1).unwrap();
                assert_eq!(a % 20, 0, "a part of an append in a: {a}");
                assert!(b * 20 >= a, "a seen without b: a {a}, b {b}");
                let got = store.read("a", 0, 0, usize::MAX, usize::MAX).unwrap();
                assert_eq!(got.messages.len() % 20, 0, "a read took part of an append");
                looks += 1;
            }
            looks
        })
    };
    let a: Vec<Message> = (0..20).map(msg).collect();
    let b = vec![msg(20)];
    for _ in 0..200 {
        store
            .append_atomic(&parts(&a, &b), None)
            .unwrap()
            .wait()
            .unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let looks = reader.join().unwrap();
    assert!(looks > 0);
    assert_eq!(store.queue_bounds("a", 0).unwrap().1, 4000);
}

#[test]
fn a_plain_batch_cut_short_is_gone_whole() {
    // A kill in the middle of a batch's write leaves its first records on disk; they must not
    // count as stored (an idempotent resend then stores the whole batch again).
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let store = open(&opts);
    store.create_topic(&spec("a", 1, Durability::Sync)).unwrap();
    store.append("a", 0, &[msg(0)]).unwrap();
    let batch: Vec<Message> = (1..4).map(msg).collect();
    store.append("a", 0, &batch).unwrap();
    drop(store);
    let path = newest_log(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let store = open(&opts);
    assert_eq!(fp(&common::read_messages(&store, "a", 0)), fp(&[msg(0)]));
    let again = store.append("a", 0, &batch).unwrap();
    assert_eq!(again.first_offset, 1);
    assert_eq!(common::read_messages(&store, "a", 0).len(), 4);
}
