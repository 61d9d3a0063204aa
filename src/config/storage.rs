//! The `[storage]` section: segment size, default durability, flush and checkpoint
//! intervals, retention by age and size, the largest message.

use super::raw::RawStorage;
use super::{
    MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, StorageConfig, Validator, durability_of, optional,
    positive_duration_of, size_of,
};
use crate::units;

pub(super) fn validate(
    v: &mut Validator,
    raw: RawStorage,
    defaults: StorageConfig,
) -> StorageConfig {
    let d = defaults;
    let rs = raw;
    let segment_size = v.value(
        "storage.segment_size",
        rs.segment_size,
        d.segment_size,
        |s| {
            let size = size_of(s)?;
            if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&size) {
                return Err(format!("{s:?} is out of range (1 MiB to 64 GiB)"));
            }
            Ok(size)
        },
    );
    let durability = v.value(
        "storage.durability",
        rs.durability,
        d.durability,
        durability_of,
    );
    let flush_interval = v.value(
        "storage.flush_interval",
        rs.flush_interval,
        d.flush_interval,
        positive_duration_of,
    );
    let checkpoint_interval = v.value(
        "storage.checkpoint_interval",
        rs.checkpoint_interval,
        d.checkpoint_interval,
        positive_duration_of,
    );
    let retention = v.value("storage.retention", rs.retention, d.retention, |s| {
        optional(s, positive_duration_of)
    });
    let retention_size = v.value(
        "storage.retention_size",
        rs.retention_size,
        d.retention_size,
        |s| {
            optional(s, |s| match size_of(s)? {
                0 => Err(format!(
                    "{s:?} must be greater than zero (or \"unlimited\")"
                )),
                n => Ok(n),
            })
        },
    );
    let max_message_size = v.value(
        "storage.max_message_size",
        rs.max_message_size,
        d.max_message_size,
        |s| match size_of(s)? {
            0 => Err(format!("{s:?} must be greater than zero")),
            n => Ok(n),
        },
    );
    if max_message_size > segment_size / 2 {
        v.problem(
            "storage.max_message_size",
            format!(
                "{} must be at most half of storage.segment_size ({})",
                units::format_size(max_message_size),
                units::format_size(segment_size)
            ),
        );
    }
    StorageConfig {
        segment_size,
        durability,
        flush_interval,
        checkpoint_interval,
        retention,
        retention_size,
        max_message_size,
    }
}
