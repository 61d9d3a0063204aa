//! The documented ranges of request fields. A value outside its range is refused
//! (`InvalidArgument`, naming the field and the range), never clamped: a silent clamp hides a
//! client's bug.

/// Most messages one Fetch or Receive returns.
pub const MAX_FETCH_MESSAGES: u32 = 10_000;
/// Longest a Fetch or Receive may wait, in ms.
pub const MAX_WAIT_MS: u32 = 30_000;
/// Most messages a LookupKey returns.
pub const MAX_LOOKUP: u32 = 1_000;
/// Most queues a topic may have (storage's limit).
pub use crate::record::MAX_QUEUES;

/// Longest timeout a TxnBegin may ask for, in ms (24 h); 0 takes the server's default.
pub const MAX_TXN_TIMEOUT_MS: u64 = 86_400_000;

/// A request field outside its documented range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is {value}; it must be from {min} to {max}")]
pub struct OutOfRange {
    pub field: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

/// `Ok` when `min <= value <= max`.
pub(super) fn check(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(OutOfRange {
        field,
        value: value.into(),
        min: min.into(),
        max: max.into(),
    })
}

/// [`check`] for a `u64` field.
pub(super) fn check_u64(
    field: &'static str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(OutOfRange {
        field,
        value,
        min,
        max,
    })
}
