//! The Group family's requests: membership (96–99), acks (100, 101), subscription streams
//! (102, 103; 104 is server to client only) and administration (112–115). The shared types
//! (`join`, `range`, reset targets) are in [`super::group`].

use crate::codec::{ReadError, Reader, put_str16};

use super::group::{
    AckRange, JoinRequest, ResetTo, SubscribeRequest, decode_join, decode_ranges, decode_reset_to,
    encode_join, encode_ranges, encode_reset_to,
};
use super::limits::{MAX_FETCH_MESSAGES, MAX_WAIT_MS, OutOfRange, check};
use super::{Family, GroupKind, Kind};

/// Long poll for a member: up to `max_messages` (1–10,000), waiting up to `max_wait_ms` (at
/// most 30,000) for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRequest {
    pub member: u64,
    pub max_messages: u32,
    pub max_bytes: u32,
    pub max_wait_ms: u32,
}

/// Moves a group's position on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    pub group: String,
    pub topic: String,
    /// `None`: every queue.
    pub queue: Option<u32>,
    pub to: ResetTo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRequest {
    Join(JoinRequest),
    Leave {
        member: u64,
    },
    Heartbeat {
        member: u64,
    },
    Receive(ReceiveRequest),
    Ack {
        member: u64,
        ranges: Vec<AckRange>,
    },
    Nack {
        member: u64,
        reason: String,
        ranges: Vec<AckRange>,
    },
    /// Only as the first frame of a stream: makes it a subscription stream.
    Subscribe(SubscribeRequest),
    /// Only on a subscription stream: more credit (0/0 is a heartbeat).
    Credit {
        messages: u32,
        bytes: u64,
    },
    List,
    Describe {
        group: String,
    },
    Reset(ResetRequest),
    Delete {
        group: String,
    },
}

impl Family for GroupRequest {
    type Kinds = GroupKind;

    fn kind(&self) -> Kind {
        match self {
            GroupRequest::Join(_) => Kind::GroupJoin,
            GroupRequest::Leave { .. } => Kind::GroupLeave,
            GroupRequest::Heartbeat { .. } => Kind::Heartbeat,
            GroupRequest::Receive(_) => Kind::Receive,
            GroupRequest::Ack { .. } => Kind::Ack,
            GroupRequest::Nack { .. } => Kind::Nack,
            GroupRequest::Subscribe(_) => Kind::Subscribe,
            GroupRequest::Credit { .. } => Kind::Credit,
            GroupRequest::List => Kind::GroupList,
            GroupRequest::Describe { .. } => Kind::GroupDescribe,
            GroupRequest::Reset(_) => Kind::GroupReset,
            GroupRequest::Delete { .. } => Kind::GroupDelete,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            GroupRequest::Join(j) => encode_join(buf, j),
            GroupRequest::Leave { member } | GroupRequest::Heartbeat { member } => {
                buf.extend_from_slice(&member.to_le_bytes())
            }
            GroupRequest::Receive(r) => {
                buf.extend_from_slice(&r.member.to_le_bytes());
                buf.extend_from_slice(&r.max_messages.to_le_bytes());
                buf.extend_from_slice(&r.max_bytes.to_le_bytes());
                buf.extend_from_slice(&r.max_wait_ms.to_le_bytes());
            }
            GroupRequest::Ack { member, ranges } => {
                buf.extend_from_slice(&member.to_le_bytes());
                encode_ranges(buf, ranges);
            }
            GroupRequest::Nack {
                member,
                reason,
                ranges,
            } => {
                buf.extend_from_slice(&member.to_le_bytes());
                put_str16(buf, reason);
                encode_ranges(buf, ranges);
            }
            GroupRequest::Subscribe(s) => {
                encode_join(buf, &s.join);
                buf.extend_from_slice(&s.credit_messages.to_le_bytes());
                buf.extend_from_slice(&s.credit_bytes.to_le_bytes());
            }
            GroupRequest::Credit { messages, bytes } => {
                buf.extend_from_slice(&messages.to_le_bytes());
                buf.extend_from_slice(&bytes.to_le_bytes());
            }
            GroupRequest::List => {}
            GroupRequest::Describe { group } | GroupRequest::Delete { group } => {
                put_str16(buf, group)
            }
            GroupRequest::Reset(r) => {
                put_str16(buf, &r.group);
                put_str16(buf, &r.topic);
                buf.extend_from_slice(&r.queue.unwrap_or(u32::MAX).to_le_bytes());
                encode_reset_to(buf, r.to);
            }
        }
    }

    fn decode(kind: GroupKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            GroupKind::GroupJoin => GroupRequest::Join(decode_join(r)?),
            GroupKind::GroupLeave => GroupRequest::Leave {
                member: r.u64("member")?,
            },
            GroupKind::Heartbeat => GroupRequest::Heartbeat {
                member: r.u64("member")?,
            },
            GroupKind::Receive => GroupRequest::Receive(ReceiveRequest {
                member: r.u64("member")?,
                max_messages: r.u32("max messages")?,
                max_bytes: r.u32("max bytes")?,
                max_wait_ms: r.u32("max wait")?,
            }),
            GroupKind::Ack => GroupRequest::Ack {
                member: r.u64("member")?,
                ranges: decode_ranges(r)?,
            },
            GroupKind::Nack => GroupRequest::Nack {
                member: r.u64("member")?,
                reason: r.str16("reason")?,
                ranges: decode_ranges(r)?,
            },
            GroupKind::Subscribe => GroupRequest::Subscribe(SubscribeRequest {
                join: decode_join(r)?,
                credit_messages: r.u32("credit messages")?,
                credit_bytes: r.u64("credit bytes")?,
            }),
            GroupKind::Credit => GroupRequest::Credit {
                messages: r.u32("credit messages")?,
                bytes: r.u64("credit bytes")?,
            },
            GroupKind::GroupList => GroupRequest::List,
            GroupKind::GroupDescribe => GroupRequest::Describe {
                group: r.str16("group")?,
            },
            GroupKind::GroupReset => GroupRequest::Reset(ResetRequest {
                group: r.str16("group")?,
                topic: r.str16("topic")?,
                queue: Some(r.u32("queue")?).filter(|&q| q != u32::MAX),
                to: decode_reset_to(r)?,
            }),
            GroupKind::GroupDelete => GroupRequest::Delete {
                group: r.str16("group")?,
            },
            GroupKind::Deliveries => {
                return Err(ReadError::Invalid {
                    field: "kind",
                    reason: "deliveries are sent by servers only".into(),
                });
            }
        })
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        match self {
            GroupRequest::Receive(r) => {
                check("max messages", r.max_messages, 1, MAX_FETCH_MESSAGES)?;
                check("max wait ms", r.max_wait_ms, 0, MAX_WAIT_MS)
            }
            _ => Ok(()),
        }
    }
}
