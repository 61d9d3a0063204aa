//! The Topic family: TopicCreate (48), TopicDelete (49), TopicList (50), TopicDescribe (51),
//! TopicAlter (52).

use crate::codec::{ReadError, Reader, put_str16};
use crate::record::Durability;

use super::limits::{MAX_QUEUES, OutOfRange, check};
use super::{Family, Kind, TopicKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopic {
    pub name: String,
    /// 1–1024.
    pub queues: u32,
    /// `None`: the server's default.
    pub durability: Option<Durability>,
    /// 0: no topic-level retention.
    pub retention_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRequest {
    Create(CreateTopic),
    Delete {
        name: String,
    },
    List,
    Describe {
        name: String,
    },
    /// Grows the topic to `queues` queues (1–1024; never fewer than it has).
    Alter {
        name: String,
        queues: u32,
    },
}

impl Family for TopicRequest {
    type Kinds = TopicKind;

    fn kind(&self) -> Kind {
        match self {
            TopicRequest::Create(_) => Kind::TopicCreate,
            TopicRequest::Delete { .. } => Kind::TopicDelete,
            TopicRequest::List => Kind::TopicList,
            TopicRequest::Describe { .. } => Kind::TopicDescribe,
            TopicRequest::Alter { .. } => Kind::TopicAlter,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            TopicRequest::Create(c) => {
                put_str16(buf, &c.name);
                buf.extend_from_slice(&c.queues.to_le_bytes());
                buf.push(durability_code(c.durability));
                buf.extend_from_slice(&c.retention_ms.to_le_bytes());
            }
            TopicRequest::Delete { name } | TopicRequest::Describe { name } => put_str16(buf, name),
            TopicRequest::List => {}
            TopicRequest::Alter { name, queues } => {
                put_str16(buf, name);
                buf.extend_from_slice(&queues.to_le_bytes());
            }
        }
    }

    fn decode(kind: TopicKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            TopicKind::TopicCreate => TopicRequest::Create(CreateTopic {
                name: r.str16("topic name")?,
                queues: r.u32("queues")?,
                durability: durability_from(r.u8("durability")?, "durability")?,
                retention_ms: r.u64("retention")?,
            }),
            TopicKind::TopicDelete => TopicRequest::Delete {
                name: r.str16("topic name")?,
            },
            TopicKind::TopicList => TopicRequest::List,
            TopicKind::TopicDescribe => TopicRequest::Describe {
                name: r.str16("topic name")?,
            },
            TopicKind::TopicAlter => TopicRequest::Alter {
                name: r.str16("topic name")?,
                queues: r.u32("queues")?,
            },
        })
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        match self {
            TopicRequest::Create(c) => check("queues", c.queues, 1, MAX_QUEUES),
            TopicRequest::Alter { queues, .. } => check("queues", *queues, 1, MAX_QUEUES),
            _ => Ok(()),
        }
    }
}

pub(super) fn durability_code(d: Option<Durability>) -> u8 {
    match d {
        Some(Durability::Sync) => 0,
        Some(Durability::Async) => 1,
        None => 255,
    }
}

pub(super) fn durability_from(
    code: u8,
    field: &'static str,
) -> Result<Option<Durability>, ReadError> {
    match code {
        0 => Ok(Some(Durability::Sync)),
        1 => Ok(Some(Durability::Async)),
        255 => Ok(None),
        other => Err(ReadError::Invalid {
            field,
            reason: format!("{other} is not a durability code"),
        }),
    }
}
