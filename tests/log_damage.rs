//! Damage to primary data (a commit-log record) combined with damage to derived data (a
//! consume queue, the checkpoint): whatever is rebuilt, no acknowledged record is cut from the
//! log, reads stop at the damaged record only (naming it), and offsets never move backwards.
//! Only a torn tail after a crash (a bad record with nothing sound after it, past the
//! checkpoint) is cut.

mod common;

use std::path::{Path, PathBuf};

use common::{fp, msg, open, small_opts, spec};
use lockgate::record::peek_place;
use lockgate::storage::{Durability, Message, StorageError, StoreCore, StoreOptions};

const COUNT: u64 = 120;
const SEGMENT_HEADER: usize = 64;

/// Two queues of `COUNT` messages each, interleaved in the log (more than one segment).
fn store_with_two_queues(opts: &StoreOptions, clean: bool) -> Vec<Message> {
    let store = open(opts);
    store.create_topic(&spec("t", 2, Durability::Sync)).unwrap();
    let msgs: Vec<Message> = (0..COUNT).map(msg).collect();
    for m in &msgs {
        store.append("t", 0, std::slice::from_ref(m)).unwrap();
        store.append("t", 1, std::slice::from_ref(m)).unwrap();
    }
    if clean {
        store.close().unwrap();
    }
    drop(store);
    msgs
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn log_bytes(dir: &Path) -> Vec<u64> {
    log_files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect()
}

/// Every record of a segment file: (byte position, length, queue, queue offset).
fn records(path: &Path) -> Vec<(usize, usize, u32, u64)> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER;
    while at < bytes.len() {
        let (len, _, queue, offset) = peek_place(&bytes[at..]).unwrap();
        out.push((at, len as usize, queue, offset));
        at += len as usize;
    }
    out
}

/// Reads queue `q` from `from` until the end or a failure.
fn read_from(store: &StoreCore, q: u32, from: u64) -> (Vec<Message>, Option<StorageError>) {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        match store.read("t", q, at, 1000, 16 << 20) {
            Ok(batch) if batch.messages.is_empty() => return (out, None),
            Ok(batch) => {
                out.extend(batch.messages.into_iter().map(|m| m.message));
                at = batch.next_offset;
            }
            Err(e) => return (out, Some(e)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Primary {
    /// A byte of a record's body flipped, in the newest segment, with records after it.
    BodyInNewest,
    /// The same in a sealed segment.
    BodyInSealed,
    /// The record's length field made impossible, in the newest segment.
    LengthInNewest,
}

#[derive(Debug, Clone, Copy)]
enum Derived {
    None,
    /// Queue 0's consume-queue file loses 100 bytes (rebuilt from the whole log).
    QueueCut,
    /// The checkpoint is gone (every index is replayed from the log's start).
    NoCheckpoint,
}

/// Damages a record of queue 0 as `primary` says; returns its queue offset.
fn damage_primary(dir: &Path, primary: Primary) -> u64 {
    let files = log_files(dir);
    assert!(files.len() >= 2, "the test needs a sealed segment");
    let path = match primary {
        Primary::BodyInSealed => &files[0],
        _ => files.last().unwrap(),
    };
    let recs = records(path);
    // A record of queue 0 in the middle of the file.
    let &(at, len, _, offset) = recs.iter().skip(recs.len() / 2).find(|r| r.2 == 0).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    match primary {
        Primary::BodyInNewest | Primary::BodyInSealed => {
            for b in &mut bytes[at + len - 20..at + len - 4] {
                *b ^= 0x5a;
            }
        }
        Primary::LengthInNewest => bytes[at + 3] = 0xff,
    }
    std::fs::write(path, &bytes).unwrap();
    offset
}

fn damage_derived(dir: &Path, derived: Derived) {
    match derived {
        Derived::None => {}
        Derived::QueueCut => {
            let path = dir.join(format!("queues/1/0/{:020}.cq", 0));
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        }
        Derived::NoCheckpoint => std::fs::remove_file(dir.join("checkpoint")).unwrap(),
    }
}

fn one_primary_and_one_derived(primary: Primary, derived: Derived) {
    let dir = tempfile::tempdir().unwrap();
    let opts = small_opts(dir.path());
    let msgs = store_with_two_queues(&opts, true);
    let bad = damage_primary(dir.path(), primary);
    damage_derived(dir.path(), derived);
    let sizes = log_bytes(dir.path());

    let store = open(&opts);
    let case = format!("{primary:?} + {derived:?}");
    assert_eq!(
        log_bytes(dir.path()),
        sizes,
        "{case}: nothing is cut from the log"
    );
    assert!(
        store.recovery_report().truncated.is_none(),
        "{case}: {:?}",
        store.recovery_report()
    );
    for q in [0, 1] {
        assert_eq!(
            store.queue_bounds("t", q).unwrap(),
            (0, COUNT),
            "{case}: queue {q} keeps every offset"
        );
    }
    // Queue 0 serves everything before the damaged record, stops there naming it, and serves
    // everything after it.
    let (before, stopped) = read_from(&store, 0, 0);
    assert_eq!(fp(&before), fp(&msgs[..bad as usize]), "{case}");
    match stopped {
        Some(StorageError::Corrupt { .. }) => {}
        other => panic!("{case}: the read at {bad} fails as corrupt, not {other:?}"),
    }
    let (after, stopped) = read_from(&store, 0, bad + 1);
    assert!(stopped.is_none(), "{case}: {stopped:?}");
    assert_eq!(fp(&after), fp(&msgs[bad as usize + 1..]), "{case}");
    assert_eq!(fp(&read_from(&store, 1, 0).0), fp(&msgs), "{case}: queue 1");
    // No offset is given out twice.
    let a = store.append("t", 0, &[msg(999)]).unwrap();
    assert_eq!(a.first_offset, COUNT, "{case}");
    drop(store);
    // And the next start agrees.
    let store = open(&opts);
    assert_eq!(
        store.queue_bounds("t", 0).unwrap(),
        (0, COUNT + 1),
        "{case}"
    );
}

#[test]
fn damage_in_the_newest_segment_is_fenced_never_cut() {
    for derived in [Derived::None, Derived::QueueCut, Derived::NoCheckpoint] {
        one_primary_and_one_derived(Primary::BodyInNewest, derived);
    }
}

#[test]
fn damage_in_a_sealed_segment_is_fenced_never_cut() {
    for derived in [Derived::None, Derived::QueueCut, Derived::NoCheckpoint] {
        one_primary_and_one_derived(Primary::BodyInSealed, derived);
    }
}

#[test]
fn a_damaged_length_is_passed_over_to_the_next_sound_record() {
    for derived in [Derived::None, Derived::QueueCut, Derived::NoCheckpoint] {
        one_primary_and_one_derived(Primary::LengthInNewest, derived);
    }
}

/// The one case where a cut is right: after a crash, a bad record past the checkpoint with
/// nothing sound after it (a write the crash cut short), even while a queue is rebuilt.
#[test]
fn a_torn_tail_after_a_crash_is_still_cut_and_only_it() {
    for derived in [Derived::None, Derived::NoCheckpoint] {
        let dir = tempfile::tempdir().unwrap();
        let opts = small_opts(dir.path());
        let msgs = store_with_two_queues(&opts, false);
        let newest = log_files(dir.path()).pop().unwrap();
        let &(at, len, queue, offset) = records(&newest).last().unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap();
        f.set_len((at + len / 2) as u64).unwrap();
        drop(f);
        damage_derived(dir.path(), derived);

        let store = open(&opts);
        let (_, position, _) = store
            .recovery_report()
            .truncated
            .clone()
            .expect("the torn record is cut");
        assert_eq!(
            position, at as u64,
            "{derived:?}: cut exactly at the torn record"
        );
        assert_eq!(std::fs::metadata(&newest).unwrap().len(), at as u64);
        assert_eq!(queue, 1, "the last append was queue 1's");
        assert_eq!(fp(&read_from(&store, 0, 0).0), fp(&msgs), "{derived:?}");
        assert_eq!(
            fp(&read_from(&store, 1, 0).0),
            fp(&msgs[..offset as usize]),
            "{derived:?}"
        );
    }
}
