//! Storage engine behaviour through its public API: appends and reads across segment rolls,
//! reopen, torn tails, corruption, group commit, retention, lookups, topics and recovery bounds.

mod common;

use std::sync::Arc;

use common::{assert_is_msg, fp, msg, open, small_opts, spec};
use lockgate::storage::{Durability, Message, StorageError, Store};

fn log_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn read_all(store: &lockgate::storage::StoreCore, topic: &str, queue: u32) -> Vec<Message> {
    let (earliest, _) = store.queue_bounds(topic, queue).unwrap();
    let mut out = Vec::new();
    let mut at = earliest;
    loop {
        let batch = store.read(topic, queue, at, 100, 1 << 20).unwrap();
        if batch.messages.is_empty() {
            return out;
        }
        for (i, m) in batch.messages.iter().enumerate() {
            assert_eq!(
                m.offset,
                at + i as u64,
                "offsets in a batch are consecutive"
            );
            assert_eq!((m.topic.as_str(), m.queue), (topic, queue));
        }
        at = batch.next_offset;
        out.extend(batch.messages.into_iter().map(|m| m.message));
    }
}

#[test]
fn appends_span_segment_rolls_and_read_back_byte_for_byte_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let store = open(&opts);
    store
        .create_topic(&spec("t", 3, Durability::Async))
        .unwrap();
    let mut expected: Vec<Vec<Message>> = vec![Vec::new(); 3];
    let mut n = 0;
    for round in 0..240 {
        let q = round % 3;
        let batch: Vec<Message> = (0..(1 + round % 7))
            .map(|_| {
                n += 1;
                msg(n)
            })
            .collect();
        let a = store.append("t", q, &batch).unwrap();
        assert_eq!(
            a.first_offset,
            expected[q as usize].len() as u64,
            "offsets are dense per queue"
        );
        expected[q as usize].extend(batch);
    }
    assert!(
        log_files(dir.path()).len() >= 3,
        "the test must roll segments"
    );
    for q in 0..3 {
        assert_eq!(fp(&read_all(&store, "t", q)), fp(&expected[q as usize]));
    }
    store.close().unwrap();
    drop(store);

    let store = open(&opts);
    assert_eq!(
        store.recovery_report().records,
        0,
        "a clean shutdown leaves nothing to replay"
    );
    for q in 0..3 {
        assert_eq!(fp(&read_all(&store, "t", q)), fp(&expected[q as usize]));
        // The raw bytes are the same too: compare every field of every message.
        let batch = store.read("t", q, 0, 1000, usize::MAX).unwrap();
        assert_eq!(batch.messages.len(), expected[q as usize].len());
        assert_eq!(batch.next_offset, expected[q as usize].len() as u64);
    }
}

#[test]
fn reads_honour_max_messages_and_max_bytes_and_report_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&small_opts(dir.path()));
    store
        .create_topic(&spec("t", 1, Durability::Async))
        .unwrap();
    let batch: Vec<Message> = (0..10).map(msg).collect();
    store.append("t", 0, &batch).unwrap();
    assert_eq!(
        store.read("t", 0, 2, 3, usize::MAX).unwrap().messages.len(),
        3
    );
    let one = store.read("t", 0, 0, 10, 1).unwrap();
    assert_eq!(
        (one.messages.len(), one.next_offset),
        (1, 1),
        "max_bytes still returns one message"
    );
    let end = store.read("t", 0, 10, 10, usize::MAX).unwrap();
    assert!(end.messages.is_empty());
    assert_eq!(end.next_offset, 10);
    assert!(matches!(
        store.read("t", 0, 11, 1, 1),
        Err(StorageError::OffsetBeyondEnd { next: 10, .. })
    ));
    assert!(matches!(
        store.read("t", 1, 0, 1, 1),
        Err(StorageError::UnknownQueue { queues: 1, .. })
    ));
    assert!(matches!(
        store.read("nope", 0, 0, 1, 1),
        Err(StorageError::UnknownTopic(_))
    ));
}

/// Appends `count` messages to a fresh store and drops it without closing (a crash after the
/// last checkpoint). Returns the messages.
fn crash_after_appends(opts: &lockgate::storage::StoreOptions, count: u64) -> Vec<Message> {
    let store = open(opts);
    store.create_topic(&spec("t", 1, Durability::Sync)).unwrap();
    let msgs: Vec<Message> = (0..count).map(msg).collect();
    for m in &msgs {
        store.append("t", 0, std::slice::from_ref(m)).unwrap();
    }
    drop(store);
    msgs
}

/// A store with topic "t" (one async queue) of messages `0..count`, cleanly closed.
fn closed_store_with(opts: &lockgate::storage::StoreOptions, count: u64) {
    let store = open(opts);
    store
        .create_topic(&spec("t", 1, Durability::Async))
        .unwrap();
    for n in 0..count {
        store.append("t", 0, &[msg(n)]).unwrap();
    }
    store.close().unwrap();
}

fn newest_log(dir: &std::path::Path) -> std::path::PathBuf {
    log_files(dir).pop().unwrap()
}

#[test]
fn torn_tail_is_cut_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let msgs = crash_after_appends(&opts, 20);
    // Cut the last record in the middle.
    let path = newest_log(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 7).unwrap();
    drop(f);

    let store = open(&opts);
    let report = store.recovery_report().clone();
    assert!(
        report.truncated.is_some(),
        "recovery reports the cut: {report:?}"
    );
    assert_eq!(fp(&read_all(&store, "t", 0)), fp(&msgs[..19]));
    let a = store.append("t", 0, &[msg(100)]).unwrap();
    assert_eq!(a.first_offset, 19, "the broken record's offset is reused");
    assert_is_msg(read_all(&store, "t", 0).last().unwrap(), 100);
}

#[test]
fn corrupt_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let msgs = crash_after_appends(&opts, 20);
    let path = newest_log(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 5;
    bytes[at] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();

    let store = open(&opts);
    let (_, _, reason) = store
        .recovery_report()
        .truncated
        .clone()
        .expect("cut reported");
    assert!(reason.contains("checksum"), "{reason}");
    assert_eq!(fp(&read_all(&store, "t", 0)), fp(&msgs[..19]));
    store.append("t", 0, &[msg(7)]).unwrap();
    assert_eq!(store.queue_bounds("t", 0).unwrap(), (0, 20));
}

#[test]
fn corruption_inside_a_sealed_segment_is_reported_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    closed_store_with(&opts, 400);
    let first = log_files(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[64 + 70] ^= 0x01; // inside the first record's id
    std::fs::write(&first, &bytes).unwrap();

    // After a clean shutdown nothing is scanned; the read notices.
    let store = open(&opts);
    let err = store.read("t", 0, 0, 1, 1).unwrap_err();
    match &err {
        StorageError::Corrupt { file, position, .. } => {
            assert_eq!(file, &first);
            assert_eq!(*position, 64);
        }
        other => panic!("expected corruption, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("00000000000000000000.log at byte 64"),
        "{err}"
    );
    assert_is_msg(&store.read("t", 0, 1, 1, 1).unwrap().messages[0].message, 1);
    drop(store);

    // A recovery scan over that segment keeps the record and fences it: it is named in the
    // report, reads still stop at it, and nothing is cut.
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let size = std::fs::metadata(&first).unwrap().len();
    let store = open(&opts);
    let damaged = &store.recovery_report().damaged;
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!((&damaged[0].0, damaged[0].1), (&first, 64));
    assert!(store.recovery_report().truncated.is_none());
    assert_eq!(std::fs::metadata(&first).unwrap().len(), size);
    match store.read("t", 0, 0, 1, 1).unwrap_err() {
        StorageError::Corrupt { file, position, .. } => assert_eq!((file, position), (first, 64)),
        other => panic!("expected corruption, got {other}"),
    }
    assert_is_msg(&store.read("t", 0, 1, 1, 1).unwrap().messages[0].message, 1);
    assert_eq!(store.queue_bounds("t", 0).unwrap(), (0, 400));
}

#[test]
fn group_commit_flushes_far_less_often_than_it_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_opts(dir.path());
    opts.segment_size = 64 << 20;
    let store = open(&opts);
    store
        .create_topic(&spec("t", 16, Durability::Sync))
        .unwrap();
    let before = store.stats();
    let per_thread = 150u64;
    let threads: Vec<_> = (0..16u32)
        .map(|q| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    store
                        .append("t", q, &[msg(u64::from(q) * 1000 + i)])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let after = store.stats();
    let appends = 16 * per_thread;
    let syncs = after.data_syncs - before.data_syncs;
    assert_eq!(after.records - before.records, appends);
    assert!(
        syncs * 3 <= appends,
        "{syncs} fdatasyncs for {appends} sync appends"
    );
    drop(store); // no clean shutdown: everything acknowledged must come back anyway

    let store = open(&opts);
    for q in 0..16u32 {
        let got = read_all(&store, "t", q);
        let want: Vec<Message> = (0..per_thread)
            .map(|i| msg(u64::from(q) * 1000 + i))
            .collect();
        assert_eq!(fp(&got), fp(&want), "queue {q}");
    }
}

#[test]
fn retention_by_size_deletes_oldest_segments_and_readers_learn_the_earliest_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_opts(dir.path());
    opts.retention_size = Some(256 << 10);
    let store = open(&opts);
    store
        .create_topic(&spec("t", 2, Durability::Async))
        .unwrap();
    for n in 0..3000 {
        store.append("t", (n % 2) as u32, &[msg(n)]).unwrap();
    }
    let segments_before = log_files(dir.path()).len();
    let report = store
        .enforce_retention(lockgate::clock::system_now_ms())
        .unwrap();
    assert!(report.segments_deleted > 0);
    assert_eq!(
        log_files(dir.path()).len(),
        segments_before - report.segments_deleted as usize
    );
    let kept: u64 = log_files(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(kept <= (256 << 10) + (64 << 10), "{kept} bytes kept");

    let (earliest, next) = store.queue_bounds("t", 0).unwrap();
    assert!(earliest > 0 && earliest < next);
    match store.read("t", 0, 0, 10, usize::MAX) {
        Err(StorageError::OffsetTrimmed { earliest: e, .. }) => assert_eq!(e, earliest),
        other => panic!("expected OffsetTrimmed, got {other:?}"),
    }
    let first = store
        .read("t", 0, earliest, 1, usize::MAX)
        .unwrap()
        .messages
        .remove(0);
    assert_is_msg(&first.message, earliest * 2);
    // A message whose segment is gone is not found by id either.
    assert!(store.find_by_id("t", &msg(0).id).unwrap().is_none());

    // Reopen keeps the same view.
    store.close().unwrap();
    drop(store);
    let store = open(&opts);
    assert_eq!(store.queue_bounds("t", 0).unwrap(), (earliest, next));
}

#[test]
fn retention_by_age_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = small_opts(dir.path());
    opts.retention = Some(std::time::Duration::from_secs(3600));
    let store = open(&opts);
    store
        .create_topic(&spec("t", 1, Durability::Async))
        .unwrap();
    for n in 0..1000 {
        store.append("t", 0, &[msg(n)]).unwrap();
    }
    let now = lockgate::clock::system_now_ms();
    assert_eq!(
        store.enforce_retention(now).unwrap().segments_deleted,
        0,
        "nothing is an hour old yet"
    );
    let segments = log_files(dir.path()).len();
    let report = store.enforce_retention(now + 2 * 3600 * 1000).unwrap();
    assert_eq!(report.segments_deleted as usize, segments - 1);
    assert_eq!(log_files(dir.path()).len(), 1);
    let (earliest, next) = store.queue_bounds("t", 0).unwrap();
    assert_eq!(next, 1000);
    assert!(earliest > 0);
    let a = store.append("t", 0, &[msg(5)]).unwrap();
    assert_eq!(a.first_offset, 1000);
}

#[test]
fn lookups_by_id_key_and_time_work_before_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path()); // index_capacity 64: lookups span several index files
    let store = open(&opts);
    store
        .create_topic(&spec("t", 2, Durability::Async))
        .unwrap();
    store
        .create_topic(&spec("other", 1, Durability::Async))
        .unwrap();
    let mut stamps = Vec::new();
    for n in 0..300u64 {
        let a = store.append("t", (n % 2) as u32, &[msg(n)]).unwrap();
        stamps.push((n, a.queue, a.first_offset, a.stored_at));
    }
    store.append("other", 0, &[msg(42)]).unwrap();

    let check = |store: &lockgate::storage::StoreCore| {
        let found = store
            .find_by_id("t", &msg(123).id)
            .unwrap()
            .expect("found by id");
        assert_eq!((found.queue, found.offset), (1, 61));
        assert_is_msg(&found.message, 123);
        assert!(
            store
                .find_by_id("t", &lockgate::storage::MessageId([7; 16]))
                .unwrap()
                .is_none()
        );

        let by_key = store.find_by_key("t", "key-3", 1000).unwrap();
        let ns: Vec<u64> = by_key
            .iter()
            .map(|m| m.message.properties["n"].parse().unwrap())
            .collect();
        let want: Vec<u64> = (0..300).rev().filter(|n| n % 10 == 3).collect();
        assert_eq!(ns, want, "every match, newest first");
        assert_eq!(store.find_by_key("t", "key-3", 2).unwrap().len(), 2);
        assert_is_msg(
            &store.find_by_key("t", "unique-77", 10).unwrap()[0].message,
            77,
        );
        assert_eq!(
            store.find_by_key("other", "unique-42", 10).unwrap().len(),
            1,
            "lookups stay within a topic"
        );
        assert!(
            store
                .find_by_key("t", "no-such-key", 10)
                .unwrap()
                .is_empty()
        );

        // The first message stored at or after each stamp's time is at or before that offset.
        for &(_, q, offset, stored_at) in stamps.iter().step_by(37) {
            let got = store.offset_for_time("t", q, stored_at).unwrap();
            assert!(got <= offset);
            let first = store.read("t", q, got, 1, 1).unwrap().messages.remove(0);
            assert!(first.stored_at >= stored_at);
            if got > 0 {
                let before = store
                    .read("t", q, got - 1, 1, 1)
                    .unwrap()
                    .messages
                    .remove(0);
                assert!(before.stored_at < stored_at);
            }
        }
        assert_eq!(store.offset_for_time("t", 0, i64::MAX).unwrap(), 150);
        assert_eq!(store.offset_for_time("t", 0, 0).unwrap(), 0);
    };
    check(&store);
    drop(store); // unclean: the index is rebuilt past the checkpoint
    let store = open(&opts);
    check(&store);
    store.close().unwrap();
    drop(store);
    let store = open(&opts);
    check(&store);
}

#[test]
fn topics_survive_reopen_and_a_recreated_topic_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let store = open(&opts);
    store.create_topic(&spec("a", 2, Durability::Sync)).unwrap();
    store
        .create_topic(&spec("b", 4, Durability::Async))
        .unwrap();
    assert!(matches!(
        store.create_topic(&spec("a", 1, Durability::Sync)),
        Err(StorageError::TopicExists(_))
    ));
    store.append("a", 1, &[msg(1), msg(2)]).unwrap();
    store.delete_topic("a").unwrap();
    assert!(matches!(
        store.append("a", 0, &[msg(3)]),
        Err(StorageError::UnknownTopic(_))
    ));
    drop(store);

    let store = open(&opts);
    let names: Vec<String> = store
        .list_topics()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["b"]);
    let b = store.describe_topic("b").unwrap();
    assert_eq!(
        (b.meta.queues, b.meta.durability, b.queues.len()),
        (4, Durability::Async, 4)
    );
    let a = store.create_topic(&spec("a", 2, Durability::Sync)).unwrap();
    assert!(a.id > b.meta.id, "ids are never reused");
    assert_eq!(
        store.queue_bounds("a", 1).unwrap(),
        (0, 0),
        "the old topic's records stay invisible"
    );
    // Growing a topic keeps its data; shrinking is refused.
    store.append("b", 3, &[msg(9)]).unwrap();
    let grown = store.ensure_topic(&spec("b", 6, Durability::Sync)).unwrap();
    assert_eq!((grown.queues, grown.durability), (6, Durability::Sync));
    assert_eq!(store.queue_bounds("b", 3).unwrap(), (0, 1));
    assert!(matches!(
        store.ensure_topic(&spec("b", 2, Durability::Sync)),
        Err(StorageError::QueuesShrink {
            existing: 6,
            requested: 2,
            ..
        })
    ));
    drop(store);
    let store = open(&opts);
    assert_eq!(store.describe_topic("b").unwrap().meta.queues, 6);
    assert_is_msg(&store.read("b", 3, 0, 1, 1).unwrap().messages[0].message, 9);
}

#[test]
fn recovery_replays_only_what_follows_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let store = open(&opts);
    store
        .create_topic(&spec("t", 1, Durability::Async))
        .unwrap();
    for n in 0..500 {
        store.append("t", 0, &[msg(n)]).unwrap();
    }
    store.checkpoint().unwrap();
    for n in 500..510 {
        store.append("t", 0, &[msg(n)]).unwrap();
    }
    drop(store);
    let store = open(&opts);
    assert_eq!(
        store.recovery_report().records,
        10,
        "only the records after the checkpoint are scanned"
    );
    assert_eq!(store.queue_bounds("t", 0).unwrap(), (0, 510));
    assert_is_msg(
        &store.read("t", 0, 505, 1, 1).unwrap().messages[0].message,
        505,
    );
}

#[test]
fn bad_appends_are_refused_whole_and_a_directory_opens_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let store = open(&opts);
    store.create_topic(&spec("t", 1, Durability::Sync)).unwrap();
    let mut big = msg(1);
    big.body = vec![0; 20 << 10];
    let err = store.append("t", 0, &[msg(0), big]).unwrap_err();
    assert!(
        matches!(err, StorageError::MessageTooLarge { index: 1, limit, .. } if limit == 16 << 10),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("storage.max_message_size") && text.contains("as stored"),
        "the error names the setting and what it counts: {text}"
    );
    assert!(matches!(
        store.append::<Message>("t", 0, &[]),
        Err(StorageError::EmptyBatch)
    ));
    let too_many: Vec<Message> = (0..200).map(msg).collect();
    assert!(matches!(
        store.append("t", 0, &too_many),
        Err(StorageError::BadMessage { .. })
    ));
    assert_eq!(
        store.queue_bounds("t", 0).unwrap(),
        (0, 0),
        "nothing partial was stored"
    );

    let second = Store::open(opts.clone());
    assert!(matches!(second, Err(StorageError::Locked(_))));
    store.close().unwrap();
    assert!(matches!(
        store.append("t", 0, &[msg(1)]),
        Err(StorageError::WritesFenced(_))
    ));
    drop(store);
    let _again: Arc<Store> = open(&opts);
}

#[test]
fn topic_retention_hides_older_messages_from_readers_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&small_opts(dir.path()));
    let mut short = spec("short", 1, Durability::Async);
    short.retention = Some(std::time::Duration::from_millis(1));
    store.create_topic(&short).unwrap();
    store
        .create_topic(&spec("long", 1, Durability::Async))
        .unwrap();
    let old = store.append("short", 0, &[msg(1)]).unwrap();
    store.append("long", 0, &[msg(2)]).unwrap();
    // Wait for the wall clock to pass the short topic's retention (an event, not a guess).
    while lockgate::clock::system_now_ms() <= old.stored_at + 1 {
        std::hint::spin_loop();
    }
    store.append("short", 0, &[msg(3)]).unwrap();
    assert_eq!(
        store.queue_bounds("short", 0).unwrap(),
        (1, 2),
        "the old message is hidden"
    );
    assert!(matches!(
        store.read("short", 0, 0, 10, usize::MAX),
        Err(StorageError::OffsetTrimmed { earliest: 1, .. })
    ));
    assert!(store.find_by_id("short", &msg(1).id).unwrap().is_none());
    assert_eq!(
        store.queue_bounds("long", 0).unwrap(),
        (0, 1),
        "other topics keep theirs"
    );
}

#[test]
fn one_read_returns_back_to_back_records_across_segment_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&small_opts(dir.path()));
    store
        .create_topic(&spec("t", 1, Durability::Async))
        .unwrap();
    for n in 0..600 {
        store.append("t", 0, &[msg(n)]).unwrap();
    }
    assert!(
        log_files(dir.path()).len() >= 3,
        "the records must span segments"
    );
    let batch = store.read("t", 0, 0, 10_000, usize::MAX).unwrap();
    assert_eq!(batch.next_offset, 600);
    let want: Vec<Message> = (0..600).map(msg).collect();
    let got: Vec<Message> = batch.messages.into_iter().map(|m| m.message).collect();
    assert_eq!(fp(&got), fp(&want));
    // A byte budget stops a run in the middle and the next read resumes there.
    let part = store.read("t", 0, 10, 10_000, 2_000).unwrap();
    assert!(part.messages.len() < 20 && !part.messages.is_empty());
    assert_eq!(part.next_offset, 10 + part.messages.len() as u64);
    assert_is_msg(&part.messages[0].message, 10);
}

#[test]
fn a_damaged_header_of_the_newest_segment_refuses_the_start_unless_it_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    closed_store_with(&opts, 50);
    let newest = newest_log(dir.path());
    let mut bytes = std::fs::read(&newest).unwrap();
    let data = bytes.len() as u64 - 64;
    bytes[3] ^= 0x40; // the magic number
    std::fs::write(&newest, &bytes).unwrap();

    let err = match Store::open(opts.clone()) {
        Ok(_) => panic!("opened over a newest segment whose header is damaged"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, StorageError::Corrupt { file, .. } if file == &newest),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "the {data} bytes of records after the header are at risk"
        )),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&newest).unwrap(),
        bytes,
        "the file is left as it was"
    );

    // Restored, everything is there.
    bytes[3] ^= 0x40;
    std::fs::write(&newest, &bytes).unwrap();
    let store = open(&opts);
    assert_eq!(
        fp(&read_all(&store, "t", 0)),
        fp(&(0..50).map(msg).collect::<Vec<_>>())
    );
    drop(store);

    // A newest segment cut inside its header holds nothing: it is made again.
    // (A new segment starts where the previous one ends; this one was first, at 0.)
    let next = newest.with_file_name(format!("{data:020}.log"));
    std::fs::write(&next, &bytes[..20]).unwrap();
    std::fs::remove_file(dir.path().join("checkpoint")).unwrap();
    let store = open(&opts);
    assert_eq!(read_all(&store, "t", 0).len(), 50);
}

/// Internal topics are made on first use by whoever comes first: racing makers all succeed,
/// and one topic is made.
#[test]
fn racing_ensure_topic_calls_all_succeed_on_one_topic() {
    use lockgate::storage::{TopicName, TopicSpec};
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&small_opts(dir.path()));
        let name = format!("%PIPE%in.{round}");
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let makers: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier, name) = (store.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.ensure_topic(&TopicSpec {
                        name: TopicName::new(&name).unwrap(),
                        queues: 1,
                        durability: Durability::Async,
                        retention: None,
                    })
                })
            })
            .collect();
        let ids: Vec<u32> = makers
            .into_iter()
            .map(|m| m.join().unwrap().expect("every maker succeeds").id)
            .collect();
        assert!(ids.iter().all(|&id| id == ids[0]), "one topic: {ids:?}");
        assert_eq!(store.list_topics().len(), 1);
    }
}

#[test]
fn ids_of_batched_appends_are_indexed_by_stretch_and_all_found() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path()); // index_capacity 64 entries per index file
    let store = open(&opts);
    store
        .create_topic(&spec("t", 4, Durability::Async))
        .unwrap();
    // Three batches of 600 ids in a row (a block, as the broker generates them), crossing
    // runs of 256; message k of a batch goes to queue k % 4, as a produce batch is split.
    let id = |n: u64| lockgate::storage::MessageId((u128::from(n) | 0xabc << 64).to_be_bytes());
    let first = (1u64 << 32) + 100;
    let mut placed = Vec::new();
    for batch in 0..3u64 {
        for q in 0..4u32 {
            let ns: Vec<u64> = (0..600u64)
                .filter(|k| k % 4 == u64::from(q))
                .map(|k| first + batch * 600 + k)
                .collect();
            let msgs: Vec<Message> = ns
                .iter()
                .map(|&n| Message {
                    id: id(n),
                    keys: Vec::new(),
                    ..msg(n)
                })
                .collect();
            let a = store.append("t", q, &msgs).unwrap();
            for (i, n) in ns.into_iter().enumerate() {
                placed.push((n, q, a.first_offset + i as u64));
            }
        }
    }
    let index_files = || std::fs::read_dir(dir.path().join("index")).unwrap().count();
    store.checkpoint().unwrap();
    // 1800 ids, in 12 appends of 150 spread over 600 counters: a few stretches each.
    assert!(index_files() <= 2, "{} index files", index_files());
    let check = |store: &lockgate::storage::StoreCore| {
        for &(n, q, offset) in &placed {
            let found = store.find_by_id("t", &id(n)).unwrap().expect("found");
            assert_eq!((found.queue, found.offset), (q, offset), "id {n}");
        }
        let absent = id(first + 1800);
        assert!(store.find_by_id("t", &absent).unwrap().is_none());
    };
    check(&store);
    drop(store);
    check(&open(&opts));
}
