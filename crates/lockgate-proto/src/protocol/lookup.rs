//! The Lookup family: LookupId (64), LookupKey (65), OffsetForTime (66).

use crate::codec::{ReadError, Reader, put_str16};
use crate::record::MessageId;

use super::limits::{MAX_LOOKUP, OutOfRange, check};
use super::{Family, Kind, LookupKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupRequest {
    Id {
        topic: String,
        id: MessageId,
    },
    Key {
        topic: String,
        key: String,
        /// 1–1000.
        limit: u32,
    },
    OffsetForTime {
        topic: String,
        queue: u32,
        time_ms: i64,
    },
}

impl Family for LookupRequest {
    type Kinds = LookupKind;

    fn kind(&self) -> Kind {
        match self {
            LookupRequest::Id { .. } => Kind::LookupId,
            LookupRequest::Key { .. } => Kind::LookupKey,
            LookupRequest::OffsetForTime { .. } => Kind::OffsetForTime,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            LookupRequest::Id { topic, id } => {
                put_str16(buf, topic);
                buf.extend_from_slice(&id.0);
            }
            LookupRequest::Key { topic, key, limit } => {
                put_str16(buf, topic);
                put_str16(buf, key);
                buf.extend_from_slice(&limit.to_le_bytes());
            }
            LookupRequest::OffsetForTime {
                topic,
                queue,
                time_ms,
            } => {
                put_str16(buf, topic);
                buf.extend_from_slice(&queue.to_le_bytes());
                buf.extend_from_slice(&time_ms.to_le_bytes());
            }
        }
    }

    fn decode(kind: LookupKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            LookupKind::LookupId => LookupRequest::Id {
                topic: r.str16("topic")?,
                id: MessageId(r.array16("message id")?),
            },
            LookupKind::LookupKey => LookupRequest::Key {
                topic: r.str16("topic")?,
                key: r.str16("key")?,
                limit: r.u32("limit")?,
            },
            LookupKind::OffsetForTime => LookupRequest::OffsetForTime {
                topic: r.str16("topic")?,
                queue: r.u32("queue")?,
                time_ms: r.i64("time")?,
            },
        })
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        match self {
            LookupRequest::Key { limit, .. } => check("limit", *limit, 1, MAX_LOOKUP),
            _ => Ok(()),
        }
    }
}
