//! The timer index's slots, checkpoints, damaged files, hand-over and references.

use super::*;

fn mark(due: i64) -> TimerMark {
    TimerMark {
        schedule: Some(Schedule {
            due,
            topic_id: 7,
            queue: 1,
        }),
        settles: None,
    }
}

#[test]
fn slots_are_clamped_to_the_store_time_and_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = TimerIndex::open(dir.path(), 0, 3_600_000).unwrap();
    assert_eq!(index.slot_for(5_000, 10_000), 10_000, "past: act at once");
    assert_eq!(index.slot_for(20_000, 10_000), 20_000);
    assert_eq!(
        index.slot_for(100_000_000, 10_000),
        3_610_000,
        "long: moved at the horizon"
    );
}

#[test]
fn events_after_the_checkpoint_are_cut_and_counts_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, from) = TimerIndex::open(dir.path(), 0, 3_600_000).unwrap();
        assert_eq!(from, 0);
        index.apply(&mark(70_000), 100, 50, 1_000);
        index.apply(&mark(75_000), 200, 50, 1_000);
        let counts = index.snapshot();
        index.checkpoint(300, counts).unwrap();
        // After the checkpoint: settled, and another scheduled; flushed but not checkpointed.
        let settle = TimerMark {
            schedule: None,
            settles: Some((
                TimerRef {
                    position: 100,
                    slot: 70_000,
                    topic_id: 7,
                },
                Settled::Fired,
            )),
        };
        index.apply(&settle, 400, 60, 2_000);
        index.apply(&mark(80_000), 500, 50, 2_000);
        index.flush().unwrap();
    }
    let (index, from) = TimerIndex::open(dir.path(), 300, 3_600_000).unwrap();
    assert_eq!(from, 300);
    assert_eq!(index.stats().pending.get(&7), Some(&2));
    let (b, timers) = index.watch_next(120_000).unwrap().unwrap();
    assert_eq!(b, 60_000);
    let positions: Vec<u64> = timers.iter().map(|t| t.position).collect();
    assert_eq!(
        positions,
        vec![100, 200],
        "events from position 300 on were cut"
    );
}

#[test]
fn a_damaged_file_asks_for_a_rebuild_from_the_start_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (index, _) = TimerIndex::open(dir.path(), 0, 3_600_000).unwrap();
        index.apply(&mark(70_000), 100, 50, 1_000);
        let counts = index.snapshot();
        index.checkpoint(300, counts).unwrap();
    }
    let path = dir
        .path()
        .join("timers")
        .join(fsutil::numbered_name(60_000, EXT));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[HEADER_LEN as usize + 20] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let (index, from) = TimerIndex::open(dir.path(), 300, 3_600_000).unwrap();
    assert_eq!(from, 0, "the replay rebuilds the index from the whole log");
    assert!(index.stats().pending.is_empty());
}

#[test]
fn new_timers_of_watched_buckets_are_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _) = TimerIndex::open(dir.path(), 0, 3_600_000).unwrap();
    index.apply(&mark(200_000), 100, 50, 1_000);
    assert!(index.watch_next(100_000).unwrap().is_none(), "too early");
    index.apply(&mark(130_000), 150, 50, 1_000);
    assert!(index.take_fresh().is_empty(), "120 000 is not watched yet");
    let (b, timers) = index.watch_next(130_000).unwrap().unwrap();
    assert_eq!((b, timers.len()), (120_000, 1));
    index.apply(&mark(90_000), 300, 50, 1_000);
    assert_eq!(index.take_fresh().len(), 1, "a bucket below the watch line");
    assert_eq!(index.next_unwatched(), Some(180_000));
}

#[test]
fn refs_round_trip() {
    let r = TimerRef {
        position: 42,
        slot: 1_700_000_000_000,
        topic_id: 3,
    };
    assert_eq!(TimerRef::parse(&r.to_property()), Some(r));
    assert_eq!(TimerRef::parse("1/2"), None);
    assert_eq!(TimerRef::parse("1/2/3/4"), None);
}
