//! The Delay family: ProduceDelayed (17), DelayCancel (130), DelayStats (131) and
//! MessageState (132).
//!
//! A ProduceDelayed body is a Produce body, unchanged, followed by one delivery per message:
//! kind u8 (1 = at, ms since the epoch; 2 = after, ms from when the server receives it;
//! 3 = RocketMQ delay level, 1 to the number of levels configured), value i64. The produce part
//! is checked and decoded exactly as a Produce body is.

use crate::codec::{ReadError, Reader, put_str16};
use crate::record::MessageId;

use super::produce::{ProduceRequest, ProduceView, encode_produce_with};
use super::{DelayKind, Family, Kind, ProtocolError};

/// When a delay message is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// At this time, ms since the Unix epoch (a past time: at once).
    At(i64),
    /// This many ms after the server receives it.
    After(u64),
    /// After the wait of this delay level (1 = the first of `[delay] levels`).
    Level(u8),
}

const AT: u8 = 1;
const AFTER: u8 = 2;
const LEVEL: u8 = 3;
const DELIVERY_LEN: usize = 9;

impl Delivery {
    pub(super) fn encode(self, buf: &mut Vec<u8>) {
        let (kind, value) = match self {
            Delivery::At(t) => (AT, t),
            Delivery::After(ms) => (AFTER, ms.min(i64::MAX as u64) as i64),
            Delivery::Level(l) => (LEVEL, i64::from(l)),
        };
        buf.push(kind);
        buf.extend_from_slice(&value.to_le_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Result<Delivery, ReadError> {
        let kind = r.u8("delivery kind")?;
        let value = r.i64("delivery value")?;
        let out_of_range = |reason: String| ReadError::OutOfRange {
            field: "delivery",
            reason,
        };
        match kind {
            AT => Ok(Delivery::At(value)),
            AFTER if value >= 0 => Ok(Delivery::After(value as u64)),
            AFTER => Err(out_of_range(format!("a delay of {value} ms is negative"))),
            // Level 0 and levels past the configured ones are refused when the server
            // resolves them, with the configured range.
            LEVEL => u8::try_from(value).map(Delivery::Level).map_err(|_| {
                out_of_range(format!(
                    "delay level {value} is out of range (1 to the number of [delay] levels)"
                ))
            }),
            other => Err(ReadError::Invalid {
                field: "delivery",
                reason: format!("{other} is not a delivery kind (1 to 3)"),
            }),
        }
    }
}

/// A produce batch whose messages wait for their delivery times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayedProduce {
    pub produce: ProduceRequest,
    /// One per message.
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DelayRequest {
    Produce(DelayedProduce),
    /// Cancels a pending delay message of `topic`.
    Cancel {
        topic: String,
        id: MessageId,
    },
    /// Pending delay messages per topic, and the next due time.
    Stats,
    /// A delay message's state; an empty topic matches any.
    State {
        topic: String,
        id: MessageId,
    },
}

impl DelayRequest {
    /// Decodes a body of a Delay-family kind (`body` whole: ProduceDelayed reuses the
    /// Produce parser).
    pub(super) fn decode_body(kind: DelayKind, body: &[u8]) -> Result<DelayRequest, ProtocolError> {
        if kind == DelayKind::ProduceDelayed {
            let (view, deliveries) = decode_delayed_view(body)?;
            return Ok(DelayRequest::Produce(DelayedProduce {
                produce: view.to_owned()?,
                deliveries,
            }));
        }
        let mut r = Reader::new(body);
        let req = <DelayRequest as Family>::decode(kind, &mut r)
            .and_then(|req| r.finish("request").map(|()| req))
            .map_err(|source| ProtocolError::Body {
                kind: kind.into(),
                source,
            })?;
        Ok(req)
    }
}

/// Decodes a ProduceDelayed body without copying the messages (the server stores the views),
/// with its deliveries.
pub fn decode_delayed_view(body: &[u8]) -> Result<(ProduceView<'_>, Vec<Delivery>), ProtocolError> {
    let kind = Kind::ProduceDelayed;
    let (view, rest) = ProduceView::decode_prefix(body, kind)?;
    let deliveries = decode_deliveries(body, rest, view.messages.len(), kind)?;
    Ok((view, deliveries))
}

/// The `n` deliveries that fill `body` from `at` to its end.
pub(super) fn decode_deliveries(
    body: &[u8],
    at: usize,
    n: usize,
    kind: Kind,
) -> Result<Vec<Delivery>, ProtocolError> {
    let err = |source| ProtocolError::Body { kind, source };
    let mut r = Reader::at(body, at);
    if r.remaining() != n * DELIVERY_LEN {
        return Err(err(ReadError::Invalid {
            field: "deliveries",
            reason: format!(
                "{} bytes follow the messages; {n} deliveries take {}",
                r.remaining(),
                n * DELIVERY_LEN
            ),
        }));
    }
    (0..n)
        .map(|_| Delivery::decode(&mut r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)
}

impl Family for DelayRequest {
    type Kinds = DelayKind;

    fn kind(&self) -> Kind {
        match self {
            DelayRequest::Produce(_) => Kind::ProduceDelayed,
            DelayRequest::Cancel { .. } => Kind::DelayCancel,
            DelayRequest::Stats => Kind::DelayStats,
            DelayRequest::State { .. } => Kind::MessageState,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            DelayRequest::Produce(p) => {
                let mut tail = Vec::with_capacity(p.deliveries.len() * DELIVERY_LEN);
                for d in &p.deliveries {
                    d.encode(&mut tail);
                }
                encode_produce_with(buf, &p.produce, &tail);
            }
            DelayRequest::Cancel { topic, id } | DelayRequest::State { topic, id } => {
                put_str16(buf, topic);
                buf.extend_from_slice(&id.0);
            }
            DelayRequest::Stats => {}
        }
    }

    /// Every kind but ProduceDelayed (see [`DelayRequest::decode_body`]).
    fn decode(kind: DelayKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            DelayKind::DelayCancel => DelayRequest::Cancel {
                topic: r.str16("topic")?,
                id: MessageId(r.array16("message id")?),
            },
            DelayKind::MessageState => DelayRequest::State {
                topic: r.str16("topic")?,
                id: MessageId(r.array16("message id")?),
            },
            DelayKind::DelayStats => DelayRequest::Stats,
            // Decoded from the whole body, by `decode_body`, before this is called.
            DelayKind::ProduceDelayed => return Err(super::request::whole_body("ProduceDelayed")),
        })
    }

    // Delay levels are checked against the configured levels when the server resolves them.
}

/// One message of a ProduceDelayed batch, as acknowledged: the queue it will be delivered
/// to, its id and its delivery time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduledAck {
    pub queue: u32,
    pub id: MessageId,
    pub deliver_at: i64,
}

wire_u8_enum! {
    /// Where a delay message is.
    pub enum DelayPhase, "a delay state" {
        /// Waiting for its time.
        Pending = 1 => "pending",
        /// Being delivered right now.
        Delivering = 2 => "delivering",
        Delivered = 3 => "delivered",
        Cancelled = 4 => "cancelled",
    }
}

/// The answer to MessageState.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayState {
    pub phase: DelayPhase,
    pub topic: String,
    pub queue: u32,
    pub deliver_at: i64,
    pub born_at: i64,
    /// The delivered copy's offset in its queue (`Delivered` only, else 0).
    pub offset: u64,
}

/// The answer to DelayStats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayStatsInfo {
    /// The earliest delivery time among pending messages the timer holds in memory, else the
    /// start of the earliest minute that has pending messages; 0 when none is pending.
    pub next_due: i64,
    /// `(topic, pending messages)`, by topic name.
    pub topics: Vec<(String, u64)>,
}

pub(super) fn encode_scheduled(buf: &mut Vec<u8>, duplicate: bool, acks: &[ScheduledAck]) {
    buf.push(u8::from(duplicate));
    buf.extend_from_slice(&(acks.len() as u32).to_le_bytes());
    for a in acks {
        buf.extend_from_slice(&a.queue.to_le_bytes());
        buf.extend_from_slice(&a.id.0);
        buf.extend_from_slice(&a.deliver_at.to_le_bytes());
    }
}

pub(super) fn decode_scheduled(r: &mut Reader<'_>) -> Result<(bool, Vec<ScheduledAck>), ReadError> {
    let duplicate = r.u8("duplicate flag")? != 0;
    let acks = super::response::list(r, 28, "ack count", |r| {
        Ok(ScheduledAck {
            queue: r.u32("queue")?,
            id: MessageId(r.array16("message id")?),
            deliver_at: r.i64("delivery time")?,
        })
    })?;
    Ok((duplicate, acks))
}

pub(super) fn encode_state(buf: &mut Vec<u8>, s: &DelayState) {
    buf.push(s.phase as u8);
    put_str16(buf, &s.topic);
    buf.extend_from_slice(&s.queue.to_le_bytes());
    buf.extend_from_slice(&s.deliver_at.to_le_bytes());
    buf.extend_from_slice(&s.born_at.to_le_bytes());
    buf.extend_from_slice(&s.offset.to_le_bytes());
}

pub(super) fn decode_state(r: &mut Reader<'_>) -> Result<DelayState, ReadError> {
    Ok(DelayState {
        phase: DelayPhase::read(r, "state")?,
        topic: r.str16("topic")?,
        queue: r.u32("queue")?,
        deliver_at: r.i64("delivery time")?,
        born_at: r.i64("born time")?,
        offset: r.u64("offset")?,
    })
}

pub(super) fn encode_stats(buf: &mut Vec<u8>, s: &DelayStatsInfo) {
    buf.extend_from_slice(&s.next_due.to_le_bytes());
    buf.extend_from_slice(&(s.topics.len() as u32).to_le_bytes());
    for (topic, pending) in &s.topics {
        put_str16(buf, topic);
        buf.extend_from_slice(&pending.to_le_bytes());
    }
}

pub(super) fn decode_stats(r: &mut Reader<'_>) -> Result<DelayStatsInfo, ReadError> {
    let next_due = r.i64("next due")?;
    let topics = super::response::list(r, 10, "topic count", |r| {
        Ok((r.str16("topic")?, r.u64("pending")?))
    })?;
    Ok(DelayStatsInfo { next_due, topics })
}
