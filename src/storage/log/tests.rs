//! The reserve / write / publish steps of an append, and what a failed step does to the
//! appends behind it.

use super::*;

fn reserve(log: &CommitLog, len: u64) -> Reservation<'_> {
    let mut w = log.lock_writer();
    log.make_room(&mut w, len).unwrap();
    log.reserve(&mut w, len)
}

fn file_bytes(log: &CommitLog) -> Vec<u8> {
    let seg = log.segments().pop().unwrap();
    let len = seg.data_len().unwrap() as usize;
    let mut buf = vec![0u8; len];
    seg.read_at(seg.base, &mut buf).unwrap();
    buf
}

#[test]
fn appends_reach_the_file_in_reservation_order_and_the_flusher_syncs_only_what_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(dir.path(), 1 << 20).unwrap();
    let mut a = reserve(&log, 4);
    let mut b = reserve(&log, 3);
    assert_eq!((a.start, b.start), (0, 4));
    assert_eq!(log.end(), 7, "the end counts what is reserved");
    std::thread::scope(|s| {
        // The second append is ready first; it waits for the first one's turn.
        let second = s.spawn(move || {
            b.write(b"bbb").unwrap();
            drop(b.publish());
        });
        a.write(b"aaaa").unwrap();
        drop(a.publish());
        second.join().unwrap();
    });
    assert_eq!(file_bytes(&log), b"aaaabbb");
    assert_eq!(log.written_end.load(Ordering::Acquire), 7);
    log.flush().unwrap();
    assert_eq!(log.flushed_at.load(Ordering::Acquire), 7);
    assert_eq!(log.next_unpublished(), 2);
}

#[test]
fn an_abandoned_append_fails_the_ones_reserved_behind_it_and_the_log_resumes_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let log = CommitLog::open(dir.path(), 1 << 20).unwrap();
    let mut first = reserve(&log, 5);
    first.write(b"11111").unwrap();
    drop(first.publish());
    let abandoned = reserve(&log, 4);
    let mut behind = reserve(&log, 6);
    // Dropped before it was written (a panic between the steps): its ticket still passes.
    drop(abandoned);
    let err = behind.write(b"333333").unwrap_err();
    assert!(
        err.to_string().contains("an earlier write failed"),
        "unexpected error: {err}"
    );
    drop(behind.publish());
    assert_eq!(
        file_bytes(&log),
        b"11111",
        "nothing of the failed appends stays"
    );
    // The next reservation settles the log: it starts where the file ends.
    let mut next = reserve(&log, 2);
    assert_eq!(next.start, 5);
    next.write(b"44").unwrap();
    drop(next.publish());
    assert_eq!(file_bytes(&log), b"1111144");
    assert_eq!(log.end(), 7);
}

#[test]
fn a_roll_waits_for_the_appends_in_flight_in_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Room for 100 bytes of records per segment.
    let log = CommitLog::open(dir.path(), HEADER_LEN + 100).unwrap();
    let mut a = reserve(&log, 90);
    std::thread::scope(|s| {
        // This reservation needs a new segment: it waits, under the write lock, until the
        // append in flight in the old one is written and published.
        let roller = s.spawn(|| {
            let mut b = reserve(&log, 20);
            assert_eq!(b.start, 90);
            b.write(&[7; 20]).unwrap();
            drop(b.publish());
        });
        a.write(&[1; 90]).unwrap();
        drop(a.publish());
        roller.join().unwrap();
    });
    let segments = log.segments();
    assert_eq!(segments.len(), 2);
    assert!(
        segments[0].is_sealed(),
        "the old segment was sealed when left"
    );
    assert_eq!(segments[0].data_len().unwrap(), 90);
    assert_eq!(file_bytes(&log), vec![7; 20]);
}
