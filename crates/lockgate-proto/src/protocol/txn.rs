//! The Txn family: TxnBegin (140), TxnSend (141), TxnEnd (142), TxnList (143), and the check
//! stream: TxnCheckListen (144), TxnCheck (145, server to client) and TxnCheckAnswer (146,
//! client to server, no response).
//!
//! A TxnSend body is the transaction id (str16) followed by a Produce body, unchanged, and then
//! either nothing or one delivery per message exactly as in ProduceDelayed (a committed message
//! with a delivery time waits for it). The Produce checksum covers the deliveries.

use crate::codec::{ReadError, Reader, put_str16};

use super::delay::{self, Delivery};
use super::limits::OutOfRange;
use super::produce::{ProduceRequest, ProduceView, encode_produce_with};
use super::response::list;
use super::{Family, Kind, ProtocolError, TxnKind};

/// Longest transaction id and producer group name, in bytes.
pub const MAX_TXN_NAME: usize = 255;

wire_u8_enum! {
    /// How a transaction ends.
    pub enum Outcome, "an outcome" {
        Commit = 1 => "commit",
        Rollback = 2 => "rollback",
    }
}

/// A producer's answer to a check-back: an outcome, or "not known yet" (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckAnswer {
    Unknown,
    Outcome(Outcome),
}

/// Messages sent as half messages of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnSend {
    pub id: String,
    pub produce: ProduceRequest,
    /// Empty, or one per message.
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRequest {
    /// Begins (or, repeated with the same group, confirms) a transaction. `timeout_ms` 0 takes
    /// `[transactions] check_after`.
    Begin {
        id: String,
        producer_group: String,
        timeout_ms: u64,
    },
    Send(TxnSend),
    /// Commits or rolls back.
    End {
        id: String,
        outcome: Outcome,
    },
    /// Transactions without an outcome (open or parked).
    List,
    /// Turns its stream into the producer group's check stream (see `docs/protocol.md`).
    Listen {
        producer_group: String,
    },
    /// One-way, on a check stream: the producer's answer to a TxnCheck.
    Answer {
        id: String,
        answer: CheckAnswer,
    },
}

impl TxnRequest {
    /// Decodes a body of a Txn-family kind (`body` whole: TxnSend carries a Produce body).
    pub(super) fn decode_body(kind: TxnKind, body: &[u8]) -> Result<TxnRequest, ProtocolError> {
        if kind == TxnKind::TxnSend {
            let (id, view, deliveries) = decode_send_view(body)?;
            return Ok(TxnRequest::Send(TxnSend {
                id: id.to_string(),
                produce: view.to_owned()?,
                deliveries,
            }));
        }
        let mut r = Reader::new(body);
        <TxnRequest as Family>::decode(kind, &mut r)
            .and_then(|req| r.finish("request").map(|()| req))
            .map_err(|source| ProtocolError::Body {
                kind: kind.into(),
                source,
            })
    }
}

/// Decodes a TxnSend body without copying the messages: the transaction id, the produce view
/// and the deliveries (empty when none were sent).
pub fn decode_send_view(
    body: &[u8],
) -> Result<(&str, ProduceView<'_>, Vec<Delivery>), ProtocolError> {
    let kind = Kind::TxnSend;
    let err = |source| ProtocolError::Body { kind, source };
    let mut r = Reader::new(body);
    let id = r.str16_ref("transaction id").map_err(err)?;
    let rest = &body[r.position()..];
    let (view, end) = ProduceView::decode_prefix(rest, kind)?;
    if end == rest.len() {
        return Ok((id, view, Vec::new()));
    }
    let deliveries = delay::decode_deliveries(rest, end, view.messages.len(), kind)?;
    Ok((id, view, deliveries))
}

fn check_name(field: &'static str, name: &str) -> Result<(), OutOfRange> {
    let len = name.len() as u64;
    if (1..=MAX_TXN_NAME as u64).contains(&len) {
        return Ok(());
    }
    Err(OutOfRange {
        field,
        value: len,
        min: 1,
        max: MAX_TXN_NAME as u64,
    })
}

impl Family for TxnRequest {
    type Kinds = TxnKind;

    fn kind(&self) -> Kind {
        match self {
            TxnRequest::Begin { .. } => Kind::TxnBegin,
            TxnRequest::Send(_) => Kind::TxnSend,
            TxnRequest::End { .. } => Kind::TxnEnd,
            TxnRequest::List => Kind::TxnList,
            TxnRequest::Listen { .. } => Kind::TxnCheckListen,
            TxnRequest::Answer { .. } => Kind::TxnCheckAnswer,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            TxnRequest::Begin {
                id,
                producer_group,
                timeout_ms,
            } => {
                put_str16(buf, id);
                put_str16(buf, producer_group);
                buf.extend_from_slice(&timeout_ms.to_le_bytes());
            }
            TxnRequest::Send(s) => {
                put_str16(buf, &s.id);
                let mut tail = Vec::new();
                for d in &s.deliveries {
                    d.encode(&mut tail);
                }
                encode_produce_with(buf, &s.produce, &tail);
            }
            TxnRequest::End { id, outcome } => {
                put_str16(buf, id);
                buf.push(*outcome as u8);
            }
            TxnRequest::List => {}
            TxnRequest::Listen { producer_group } => put_str16(buf, producer_group),
            TxnRequest::Answer { id, answer } => {
                put_str16(buf, id);
                buf.push(match answer {
                    CheckAnswer::Unknown => 0,
                    CheckAnswer::Outcome(o) => *o as u8,
                });
            }
        }
    }

    /// Every kind but TxnSend (see [`TxnRequest::decode_body`]).
    fn decode(kind: TxnKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            TxnKind::TxnBegin => TxnRequest::Begin {
                id: r.str16("transaction id")?,
                producer_group: r.str16("producer group")?,
                timeout_ms: r.u64("timeout")?,
            },
            TxnKind::TxnEnd => TxnRequest::End {
                id: r.str16("transaction id")?,
                outcome: Outcome::read(r, "outcome")?,
            },
            TxnKind::TxnCheckListen => TxnRequest::Listen {
                producer_group: r.str16("producer group")?,
            },
            TxnKind::TxnCheckAnswer => {
                let id = r.str16("transaction id")?;
                let answer = match r.u8("answer")? {
                    0 => CheckAnswer::Unknown,
                    v => CheckAnswer::Outcome(Outcome::from_u8(v).ok_or_else(|| {
                        ReadError::Invalid {
                            field: "answer",
                            reason: format!(
                                "{v} is not an answer (0 unknown, 1 commit, 2 rollback)"
                            ),
                        }
                    })?),
                };
                TxnRequest::Answer { id, answer }
            }
            TxnKind::TxnList => TxnRequest::List,
            // Decoded from the whole body, by `decode_body`, before this is called.
            TxnKind::TxnSend => return Err(super::request::whole_body("TxnSend")),
            TxnKind::TxnCheck => {
                return Err(ReadError::Invalid {
                    field: "kind",
                    reason: "checks are sent by servers only".into(),
                });
            }
        })
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        match self {
            TxnRequest::Begin {
                id,
                producer_group,
                timeout_ms,
            } => {
                check_name("transaction id length", id)?;
                check_name("producer group length", producer_group)?;
                if *timeout_ms == 0 {
                    return Ok(());
                }
                super::limits::check_u64(
                    "transaction timeout (ms)",
                    *timeout_ms,
                    1,
                    super::limits::MAX_TXN_TIMEOUT_MS,
                )
            }
            TxnRequest::Send(s) => check_name("transaction id length", &s.id),
            TxnRequest::End { id, .. } | TxnRequest::Answer { id, .. } => {
                check_name("transaction id length", id)
            }
            TxnRequest::Listen { producer_group } => {
                check_name("producer group length", producer_group)
            }
            TxnRequest::List => Ok(()),
        }
    }
}

wire_u8_enum! {
    /// Where a transaction stands.
    pub enum TxnPhase, "a transaction phase" {
        /// Waiting for its outcome (and checked back after its timeout).
        Open = 1 => "open",
        /// Checked back `max_checks` times without an answer, and parked for an operator.
        Parked = 2 => "parked",
        Committed = 3 => "committed",
        RolledBack = 4 => "rolled back",
    }
}

/// A transaction as `TxnList` shows it, and as a TxnCheck asks about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnInfo {
    pub id: String,
    pub producer_group: String,
    pub phase: TxnPhase,
    /// Destination topics of its messages, sorted.
    pub topics: Vec<String>,
    pub messages: u32,
    pub begun_at: i64,
    /// Check-backs made so far.
    pub checks: u32,
}

/// One placed part of a committed transaction: `count` messages from `first_offset` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub topic: String,
    pub queue: u32,
    pub first_offset: u64,
    pub count: u32,
}

/// The answer to TxnEnd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEnded {
    pub outcome: Outcome,
    /// The outcome was recorded before (nothing was stored again).
    pub already: bool,
    /// Where a commit put the messages (empty for a rollback, and when `already`). A message
    /// with a delivery time is counted under the topic it waits for, at offset 0: it gets its
    /// offset when it is delivered.
    pub placed: Vec<Placed>,
}

pub(super) fn encode_info(buf: &mut Vec<u8>, t: &TxnInfo) {
    put_str16(buf, &t.id);
    put_str16(buf, &t.producer_group);
    buf.push(t.phase as u8);
    buf.extend_from_slice(&(t.topics.len() as u32).to_le_bytes());
    for topic in &t.topics {
        put_str16(buf, topic);
    }
    buf.extend_from_slice(&t.messages.to_le_bytes());
    buf.extend_from_slice(&t.begun_at.to_le_bytes());
    buf.extend_from_slice(&t.checks.to_le_bytes());
}

pub(super) fn decode_info(r: &mut Reader<'_>) -> Result<TxnInfo, ReadError> {
    let id = r.str16("transaction id")?;
    let producer_group = r.str16("producer group")?;
    let phase = TxnPhase::read(r, "phase")?;
    let topics = list(r, 2, "topic count", |r| r.str16("topic"))?;
    Ok(TxnInfo {
        id,
        producer_group,
        phase,
        topics,
        messages: r.u32("message count")?,
        begun_at: r.i64("begin time")?,
        checks: r.u32("checks")?,
    })
}

pub(super) fn encode_ended(buf: &mut Vec<u8>, e: &TxnEnded) {
    buf.push(e.outcome as u8);
    buf.push(u8::from(e.already));
    buf.extend_from_slice(&(e.placed.len() as u32).to_le_bytes());
    for p in &e.placed {
        put_str16(buf, &p.topic);
        buf.extend_from_slice(&p.queue.to_le_bytes());
        buf.extend_from_slice(&p.first_offset.to_le_bytes());
        buf.extend_from_slice(&p.count.to_le_bytes());
    }
}

pub(super) fn decode_ended(r: &mut Reader<'_>) -> Result<TxnEnded, ReadError> {
    let outcome = Outcome::read(r, "outcome")?;
    let already = r.u8("already flag")? != 0;
    let placed = list(r, 18, "placed count", |r| {
        Ok(Placed {
            topic: r.str16("topic")?,
            queue: r.u32("queue")?,
            first_offset: r.u64("first offset")?,
            count: r.u32("count")?,
        })
    })?;
    Ok(TxnEnded {
        outcome,
        already,
        placed,
    })
}
