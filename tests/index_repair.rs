//! Consume queues are derived from the commit log: damage to them is found at open and
//! repaired from the log, after a clean stop and after a crash, so no message is lost to it.

mod common;

use std::path::{Path, PathBuf};

use common::{fp, msg, open, small_opts, spec};
use lockgate::storage::{Durability, Message, StoreCore, StoreOptions};

const COUNT: u64 = 120;

/// The consume-queue file of topic id 1's queue `q`.
fn cq_file(dir: &Path, q: u32) -> PathBuf {
    dir.join(format!("queues/1/{q}/{:020}.cq", 0))
}

/// Two queues of `COUNT` messages each (interleaved in the log), then a clean stop or a crash.
fn store_with_two_queues(opts: &StoreOptions, clean: bool) -> Vec<Message> {
    let store = open(opts);
    store
        .create_topic(&spec("t", 2, Durability::Async))
        .unwrap();
    let msgs: Vec<Message> = (0..COUNT).map(msg).collect();
    for m in &msgs {
        store.append("t", 0, std::slice::from_ref(m)).unwrap();
        store.append("t", 1, std::slice::from_ref(m)).unwrap();
    }
    if clean {
        store.close().unwrap();
    } else {
        store.checkpoint().unwrap(); // the entries are on disk and trusted, then a crash
    }
    drop(store);
    msgs
}

fn read_queue(store: &StoreCore, q: u32) -> Vec<Message> {
    common::read_messages(store, "t", q)
}

thread_local! {
    /// The data directory `repaired` is damaging, for damage beyond the queue file.
    static DAMAGING: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Damages queue 0's file with `damage`, reopens, and checks that queue 0 alone was rebuilt
/// (for a reason that contains `why`) and both queues hold every message.
fn repaired(clean: bool, why: &str, damage: impl FnOnce(&mut Vec<u8>)) {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let msgs = store_with_two_queues(&opts, clean);
    let path = cq_file(dir.path(), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, COUNT * 24);
    DAMAGING.with(|d| *d.borrow_mut() = Some(dir.path().to_path_buf()));
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();

    let store = open(&opts);
    let rebuilt = &store.recovery_report().rebuilt_queues;
    assert_eq!(rebuilt.len(), 1, "one queue rebuilt: {rebuilt:?}");
    assert_eq!((rebuilt[0].0.as_str(), rebuilt[0].1), ("t", 0));
    assert!(
        rebuilt[0].2.contains(why),
        "rebuilt because {:?}, expected {why:?}",
        rebuilt[0].2
    );
    assert_eq!(
        store.queue_bounds("t", 0).unwrap(),
        (0, COUNT),
        "every offset is back"
    );
    assert_eq!(
        fp(&read_queue(&store, 0)),
        fp(&msgs),
        "queue 0 rebuilt from the log"
    );
    assert_eq!(fp(&read_queue(&store, 1)), fp(&msgs), "queue 1 untouched");
    // New messages continue the queue's offsets.
    let a = store.append("t", 0, &[msg(999)]).unwrap();
    assert_eq!(a.first_offset, COUNT);
    drop(store);
    // The rebuilt queue is whole on disk: the next open finds nothing to repair.
    let before = inode(&path);
    let store = open(&opts);
    assert_eq!(read_queue(&store, 0).len() as u64, COUNT + 1);
    assert_eq!(inode(&path), before, "not rebuilt again");
}

/// A rebuild replaces the queue's files: a file that keeps its inode was left alone.
fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn a_consume_queue_cut_inside_an_entry_is_rebuilt() {
    repaired(true, "ends inside an entry", |b| b.truncate(b.len() - 100));
}

#[test]
fn a_consume_queue_short_by_whole_entries_is_rebuilt() {
    let why = "the last checkpoint recorded 120";
    repaired(true, why, |b| b.truncate(b.len() - 5 * 24));
    repaired(false, why, |b| b.truncate(b.len() - 5 * 24));
}

#[test]
fn an_entry_with_its_size_zeroed_is_rebuilt() {
    // Entry 7: position u64, then size u32 at byte 8.
    repaired(true, "checksum", |b| b[7 * 24 + 8..7 * 24 + 12].fill(0));
}

/// Entry 50 points one byte into its record: positions still grow and the edges are sound,
/// so only the checksum the checkpoint recorded (or reading the record there) shows it.
fn point_entry_50_elsewhere(b: &mut [u8]) {
    let this = u64::from_le_bytes(b[50 * 24..50 * 24 + 8].try_into().unwrap());
    b[50 * 24..50 * 24 + 8].copy_from_slice(&(this + 1).to_le_bytes());
}

#[test]
fn an_entry_pointing_elsewhere_is_rebuilt_after_a_crash_and_after_a_clean_stop() {
    repaired(false, "checksum", |b| point_entry_50_elsewhere(b));
    repaired(true, "checksum", |b| point_entry_50_elsewhere(b));
}

#[test]
fn without_a_recorded_checksum_a_crash_checks_every_entry_against_the_log() {
    // As a data directory from before checksums were kept: the queue ends carry none.
    repaired(false, "entry 50 (position", |b| {
        point_entry_50_elsewhere(b);
        let dir = DAMAGING.with(|d| d.borrow().clone()).unwrap();
        let path = dir.join("queue_ends.json");
        let mut ends: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(ends.as_object_mut().unwrap().remove("sums").is_some());
        std::fs::write(&path, serde_json::to_vec(&ends).unwrap()).unwrap();
    });
}

#[test]
fn a_checksum_that_does_not_match_rebuilds_the_queue() {
    // One bit of the stored time, which no structural check looks at.
    repaired(false, "checksum", |b| b[20 * 24 + 16] ^= 1);
}

#[test]
fn sound_queues_are_left_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    for clean in [true, false] {
        let msgs = store_with_two_queues(&opts, clean);
        let before = [
            inode(&cq_file(dir.path(), 0)),
            inode(&cq_file(dir.path(), 1)),
        ];
        let store = open(&opts);
        assert_eq!(fp(&read_queue(&store, 0)), fp(&msgs));
        assert_eq!(fp(&read_queue(&store, 1)), fp(&msgs));
        let after = [
            inode(&cq_file(dir.path(), 0)),
            inode(&cq_file(dir.path(), 1)),
        ];
        assert_eq!(
            before, after,
            "a sound queue is not rebuilt (clean stop: {clean})"
        );
        drop(store);
        std::fs::remove_dir_all(dir.path()).unwrap();
    }
}

#[test]
fn a_damaged_older_key_index_file_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path()); // 64 entries per key-index file: several files
    store_with_two_queues(&opts, true);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut bytes = std::fs::read(&files[1]).unwrap();
    bytes[2] ^= 0xff; // its magic number
    std::fs::write(&files[1], &bytes).unwrap();

    let store = open(&opts);
    // Every message can be found by its unique key again, those the damaged file covered too.
    for n in 0..COUNT {
        let found = store.find_by_key("t", &format!("unique-{n}"), 10).unwrap();
        assert_eq!(found.len(), 2, "unique-{n} in both queues");
    }
    drop(store);
    assert_ne!(
        std::fs::read(&files[1]).ok(),
        Some(bytes),
        "the damaged file was replaced"
    );
}
