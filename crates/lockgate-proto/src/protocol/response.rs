//! Response bodies: encoding (the server) and decoding (clients).
//!
//! Every response body starts with a status u16. A non-zero status is followed by a message
//! (str16) and a detail u64 (the earliest offset for `OffsetTrimmed`, the next offset for
//! `OffsetBeyondEnd`, the expected sequence for `SequenceOutOfOrder`, else 0). Status 0 is
//! followed by the kind's payload.

use crate::codec::{ReadError, Reader, put_str16};
use crate::record::Durability;
use crate::record::{self, Message, MessageId};

use super::delay::{self, DelayState, DelayStatsInfo, ScheduledAck};
use super::group::{self, GroupDelivered, GroupInfo, GroupSummary};
use super::topic::{durability_code, durability_from};
use super::txn::{self, TxnEnded, TxnInfo};
use super::{Kind, ProtocolError, Status, compact};

/// One acknowledged message of a produce batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub queue: u32,
    pub offset: u64,
    pub id: MessageId,
}

/// In a Produce answer's first byte: the acks are [`RoutedAck`]s.
pub const ROUTED_FLAG: u8 = 2;
/// In a Produce answer's first byte: a `u32` throttle time (ms) follows it.
pub const THROTTLED_FLAG: u8 = 4;

/// What an ingress pipeline did with one message of a produce batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome {
    /// Stored at the destinations listed.
    Stored = 0,
    /// A repeat of a message inside the dedup window: not stored; the destinations are the
    /// original's.
    Duplicate = 1,
    /// Routed nowhere: not stored.
    Dropped = 2,
}

/// Where a routed message is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedTo {
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
}

/// One acknowledged message of a batch produced to a topic with an ingress pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedAck {
    pub id: MessageId,
    pub outcome: RouteOutcome,
    pub destinations: Vec<RoutedTo>,
}

/// A message as delivered to a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub queue: u32,
    pub offset: u64,
    pub stored_at: i64,
    pub message: Message,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: u32,
    pub queues: u32,
    pub durability: Durability,
    /// 0: none.
    pub retention_ms: u64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRange {
    pub earliest: u64,
    pub next: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Error {
        status: Status,
        message: String,
        detail: u64,
    },
    Pong {
        nonce: u64,
    },
    Hello {
        version: u16,
        max_frame: u32,
        server: String,
    },
    /// `duplicate`: an idempotent retry of a batch already stored; the acks are the originals.
    /// `throttle_ms`: the producer is over its quota; the server held the request that long
    /// before storing it, and the client should wait as long before sending more.
    /// `compact`: encoded as runs (the request asked, [`super::compact::ASK_COMPACT`]);
    /// decoding gives the same `acks` either way.
    Produced {
        duplicate: bool,
        acks: Vec<Ack>,
        throttle_ms: u32,
        compact: bool,
    },
    /// To `Produce` on a topic with an ingress pipeline: per message, what became of it and
    /// every place it is stored. `duplicate` and `throttle_ms` as for `Produced`.
    Routed {
        duplicate: bool,
        acks: Vec<RoutedAck>,
        throttle_ms: u32,
    },
    Fetched {
        next_offset: u64,
        messages: Vec<Delivered>,
    },
    Topic(TopicInfo),
    TopicDeleted,
    Topics(Vec<TopicInfo>),
    Description {
        topic: TopicInfo,
        queues: Vec<QueueRange>,
    },
    Found(Vec<Delivered>),
    Offset(u64),
    /// To `GroupJoin` and `Subscribe`: the member id and the settings in force.
    Joined {
        member: u64,
        lease_ms: u64,
        session_timeout_ms: u64,
    },
    /// An empty success (`GroupLeave`, `Heartbeat`, `GroupDelete`).
    Done,
    /// To `Receive`, and pushed on subscription streams.
    Deliveries(Vec<GroupDelivered>),
    /// The same on the wire, as the server builds it from stored records (decoding gives
    /// [`Response::Deliveries`]).
    EncodedDeliveries(group::EncodedDeliveries),
    /// A Fetch answer as the server builds it from stored records (decoding gives
    /// [`Response::Fetched`]).
    EncodedFetched(super::fetch::EncodedFetch),
    /// To `Ack` and `Nack`: messages changed, and messages whose lease was stale.
    Acked {
        done: u64,
        stale: u64,
    },
    Groups(Vec<GroupSummary>),
    Group(GroupInfo),
    /// To `GroupReset`: `(queue, offset)` of every queue moved.
    Positions(Vec<(u32, u64)>),
    /// To `PluginList` (all) and `PluginReload` (the one reloaded).
    Plugins(Vec<PluginEntry>),
    /// To `PluginStats`.
    PluginCounters(Vec<super::plugin::PluginCounters>),
    /// To `PluginState`.
    PluginStates(Vec<super::plugin::PluginHealth>),
    /// To `ProduceDelayed`; `duplicate` as for `Produced`.
    Scheduled {
        duplicate: bool,
        acks: Vec<ScheduledAck>,
    },
    /// To `DelayCancel`: the delivery time the message had; `already`: it was cancelled
    /// before (nothing changed).
    Cancelled {
        deliver_at: i64,
        already: bool,
    },
    DelayStats(DelayStatsInfo),
    DelayState(DelayState),
    /// To `TxnSend`: each half message's queue and id (`deliver_at` 0: none); `duplicate` as
    /// for `Produced`.
    Prepared {
        duplicate: bool,
        acks: Vec<ScheduledAck>,
    },
    TxnEnded(TxnEnded),
    /// To `TxnList`.
    Transactions(Vec<TxnInfo>),
    /// Pushed on a check stream: which transaction's outcome the broker asks for.
    TxnCheck(TxnInfo),
}

/// A plugin as the server has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    pub name: String,
    pub kind: String,
    /// `builtin:NAME` or a file path.
    pub source: String,
    /// Bumped by each (re)load; 0: a built-in not used yet.
    pub generation: u64,
}

impl Response {
    /// The status this response carries.
    pub fn status(&self) -> Status {
        match self {
            Response::Error { status, .. } => *status,
            _ => Status::Ok,
        }
    }

    pub fn error(status: Status, message: impl Into<String>) -> Response {
        Response::Error {
            status,
            message: message.into(),
            detail: 0,
        }
    }

    // Long on purpose: one arm per response, in the kind table's order; the encoder is a
    // table, and the round-trip and golden tests walk it arm by arm.
    pub fn encode_body(&self, buf: &mut Vec<u8>) {
        let ok = |buf: &mut Vec<u8>| buf.extend_from_slice(&(Status::Ok as u16).to_le_bytes());
        match self {
            Response::Error {
                status,
                message,
                detail,
            } => {
                buf.extend_from_slice(&(*status as u16).to_le_bytes());
                let mut message = message.as_str();
                while message.len() > usize::from(u16::MAX) {
                    message = &message[..message.floor_char_boundary(usize::from(u16::MAX))];
                }
                put_str16(buf, message);
                buf.extend_from_slice(&detail.to_le_bytes());
            }
            Response::Pong { nonce } => {
                ok(buf);
                buf.extend_from_slice(&nonce.to_le_bytes());
            }
            Response::Hello {
                version,
                max_frame,
                server,
            } => {
                ok(buf);
                buf.extend_from_slice(&version.to_le_bytes());
                buf.extend_from_slice(&max_frame.to_le_bytes());
                put_str16(buf, server);
            }
            Response::Produced {
                duplicate,
                acks,
                throttle_ms,
                compact: true,
            } => {
                ok(buf);
                produce_flags(buf, *duplicate, compact::COMPACT_FLAG, *throttle_ms);
                compact::encode_runs(buf, acks);
            }
            Response::Produced {
                duplicate,
                acks,
                throttle_ms,
                compact: false,
            } => {
                ok(buf);
                produce_flags(buf, *duplicate, 0, *throttle_ms);
                buf.extend_from_slice(&(acks.len() as u32).to_le_bytes());
                for a in acks {
                    buf.extend_from_slice(&a.queue.to_le_bytes());
                    buf.extend_from_slice(&a.offset.to_le_bytes());
                    buf.extend_from_slice(&a.id.0);
                }
            }
            Response::Routed {
                duplicate,
                acks,
                throttle_ms,
            } => {
                ok(buf);
                produce_flags(buf, *duplicate, ROUTED_FLAG, *throttle_ms);
                buf.extend_from_slice(&(acks.len() as u32).to_le_bytes());
                for a in acks {
                    buf.extend_from_slice(&a.id.0);
                    buf.push(a.outcome as u8);
                    buf.extend_from_slice(&(a.destinations.len() as u16).to_le_bytes());
                    for d in &a.destinations {
                        put_str16(buf, &d.topic);
                        buf.extend_from_slice(&d.queue.to_le_bytes());
                        buf.extend_from_slice(&d.offset.to_le_bytes());
                    }
                }
            }
            Response::Fetched {
                next_offset,
                messages,
            } => {
                ok(buf);
                buf.extend_from_slice(&next_offset.to_le_bytes());
                encode_delivered(buf, messages);
            }
            Response::Topic(t) => {
                ok(buf);
                encode_topic(buf, t);
            }
            Response::TopicDeleted => ok(buf),
            Response::Topics(ts) => {
                ok(buf);
                buf.extend_from_slice(&(ts.len() as u32).to_le_bytes());
                for t in ts {
                    encode_topic(buf, t);
                }
            }
            Response::Description { topic, queues } => {
                ok(buf);
                encode_topic(buf, topic);
                buf.extend_from_slice(&(queues.len() as u32).to_le_bytes());
                for q in queues {
                    buf.extend_from_slice(&q.earliest.to_le_bytes());
                    buf.extend_from_slice(&q.next.to_le_bytes());
                }
            }
            Response::Found(ms) => {
                ok(buf);
                encode_delivered(buf, ms);
            }
            Response::Offset(o) => {
                ok(buf);
                buf.extend_from_slice(&o.to_le_bytes());
            }
            Response::Joined {
                member,
                lease_ms,
                session_timeout_ms,
            } => {
                ok(buf);
                buf.extend_from_slice(&member.to_le_bytes());
                buf.extend_from_slice(&lease_ms.to_le_bytes());
                buf.extend_from_slice(&session_timeout_ms.to_le_bytes());
            }
            Response::Done => ok(buf),
            Response::Deliveries(ms) => {
                ok(buf);
                group::encode_deliveries(buf, ms);
            }
            Response::EncodedDeliveries(e) => {
                buf.extend_from_slice(&e.body_head());
                buf.extend_from_slice(&e.items);
            }
            Response::EncodedFetched(e) => {
                buf.extend_from_slice(&e.body_head());
                buf.extend_from_slice(&e.items);
            }
            Response::Acked { done, stale } => {
                ok(buf);
                buf.extend_from_slice(&done.to_le_bytes());
                buf.extend_from_slice(&stale.to_le_bytes());
            }
            Response::Groups(gs) => {
                ok(buf);
                group::encode_summaries(buf, gs);
            }
            Response::Group(g) => {
                ok(buf);
                group::encode_group_info(buf, g);
            }
            Response::Plugins(ps) => {
                ok(buf);
                buf.extend_from_slice(&(ps.len() as u32).to_le_bytes());
                for p in ps {
                    put_str16(buf, &p.name);
                    put_str16(buf, &p.kind);
                    put_str16(buf, &p.source);
                    buf.extend_from_slice(&p.generation.to_le_bytes());
                }
            }
            Response::PluginCounters(cs) => {
                ok(buf);
                buf.extend_from_slice(&(cs.len() as u32).to_le_bytes());
                for c in cs {
                    c.encode(buf);
                }
            }
            Response::PluginStates(hs) => {
                ok(buf);
                buf.extend_from_slice(&(hs.len() as u32).to_le_bytes());
                for h in hs {
                    h.encode(buf);
                }
            }
            Response::Scheduled { duplicate, acks } => {
                ok(buf);
                delay::encode_scheduled(buf, *duplicate, acks);
            }
            Response::Cancelled {
                deliver_at,
                already,
            } => {
                ok(buf);
                buf.push(u8::from(*already));
                buf.extend_from_slice(&deliver_at.to_le_bytes());
            }
            Response::DelayStats(s) => {
                ok(buf);
                delay::encode_stats(buf, s);
            }
            Response::DelayState(s) => {
                ok(buf);
                delay::encode_state(buf, s);
            }
            Response::Prepared { duplicate, acks } => {
                ok(buf);
                delay::encode_scheduled(buf, *duplicate, acks);
            }
            Response::TxnEnded(e) => {
                ok(buf);
                txn::encode_ended(buf, e);
            }
            Response::Transactions(ts) => {
                ok(buf);
                buf.extend_from_slice(&(ts.len() as u32).to_le_bytes());
                for t in ts {
                    txn::encode_info(buf, t);
                }
            }
            Response::TxnCheck(t) => {
                ok(buf);
                txn::encode_info(buf, t);
            }
            Response::Positions(ps) => {
                ok(buf);
                buf.extend_from_slice(&(ps.len() as u32).to_le_bytes());
                for (q, o) in ps {
                    buf.extend_from_slice(&q.to_le_bytes());
                    buf.extend_from_slice(&o.to_le_bytes());
                }
            }
        }
    }

    /// Decodes the response to a request of `kind` (the response's kind without bit 15).
    pub fn decode(kind: Kind, body: &[u8]) -> Result<Response, ProtocolError> {
        let mut r = Reader::new(body);
        let body_err = |source| ProtocolError::Body { kind, source };
        let status = r.u16("status").map_err(body_err)?;
        let status = Status::from_u16(status).ok_or(ProtocolError::UnknownStatus(status))?;
        let resp = if status == Status::Ok {
            decode_ok(kind, &mut r)
        } else {
            (|| {
                Ok(Response::Error {
                    status,
                    message: r.str16("error message")?,
                    detail: r.u64("error detail")?,
                })
            })()
        };
        resp.and_then(|resp| r.finish("response").map(|()| resp))
            .map_err(body_err)
    }
}

// Long on purpose: one arm per response, in the kind table's order (see `encode_body`).
fn decode_ok(kind: Kind, r: &mut Reader<'_>) -> Result<Response, ReadError> {
    Ok(match kind {
        Kind::Ping => Response::Pong {
            nonce: r.u64("nonce")?,
        },
        Kind::Hello => Response::Hello {
            version: r.u16("version")?,
            max_frame: r.u32("max frame")?,
            server: r.str16("server name")?,
        },
        Kind::Produce => {
            let flags = r.u8("flags")?;
            let duplicate = flags & 1 != 0;
            let throttle_ms = match flags & THROTTLED_FLAG {
                0 => 0,
                _ => r.u32("throttle ms")?,
            };
            if flags & ROUTED_FLAG != 0 {
                let acks = list(r, 19, "ack count", |r| {
                    let id = MessageId(r.array16("message id")?);
                    let outcome = match r.u8("outcome")? {
                        0 => RouteOutcome::Stored,
                        1 => RouteOutcome::Duplicate,
                        2 => RouteOutcome::Dropped,
                        other => {
                            return Err(ReadError::Invalid {
                                field: "outcome",
                                reason: format!("{other} is not 0, 1 or 2"),
                            });
                        }
                    };
                    let destinations = list16(r, 14, "destination count", |r| {
                        Ok(RoutedTo {
                            topic: r.str16("destination topic")?,
                            queue: r.u32("destination queue")?,
                            offset: r.u64("destination offset")?,
                        })
                    })?;
                    Ok(RoutedAck {
                        id,
                        outcome,
                        destinations,
                    })
                })?;
                return Ok(Response::Routed {
                    duplicate,
                    acks,
                    throttle_ms,
                });
            }
            let compact = flags & compact::COMPACT_FLAG != 0;
            let acks = if compact {
                compact::decode_runs(r)?
            } else {
                list(r, 28, "ack count", |r| {
                    Ok(Ack {
                        queue: r.u32("queue")?,
                        offset: r.u64("offset")?,
                        id: MessageId(r.array16("message id")?),
                    })
                })?
            };
            Response::Produced {
                duplicate,
                acks,
                throttle_ms,
                compact,
            }
        }
        Kind::Fetch | Kind::FetchFiltered => Response::Fetched {
            next_offset: r.u64("next offset")?,
            messages: decode_delivered(r)?,
        },
        Kind::TopicCreate | Kind::TopicAlter => Response::Topic(decode_topic(r)?),
        Kind::TopicDelete => Response::TopicDeleted,
        Kind::TopicList => Response::Topics(list(r, 27, "topic count", decode_topic)?),
        Kind::TopicDescribe => {
            let topic = decode_topic(r)?;
            let queues = list(r, 16, "queue count", |r| {
                Ok(QueueRange {
                    earliest: r.u64("earliest")?,
                    next: r.u64("next")?,
                })
            })?;
            Response::Description { topic, queues }
        }
        Kind::LookupId | Kind::LookupKey => Response::Found(decode_delivered(r)?),
        Kind::OffsetForTime => Response::Offset(r.u64("offset")?),
        Kind::GroupJoin | Kind::Subscribe => Response::Joined {
            member: r.u64("member")?,
            lease_ms: r.u64("lease")?,
            session_timeout_ms: r.u64("session timeout")?,
        },
        Kind::GroupLeave | Kind::Heartbeat | Kind::GroupDelete | Kind::Credit => Response::Done,
        Kind::Receive | Kind::Deliveries => Response::Deliveries(group::decode_deliveries(r)?),
        Kind::Ack | Kind::Nack => Response::Acked {
            done: r.u64("done")?,
            stale: r.u64("stale")?,
        },
        Kind::GroupList => Response::Groups(group::decode_summaries(r)?),
        Kind::GroupDescribe => Response::Group(group::decode_group_info(r)?),
        Kind::PluginList | Kind::PluginReload => {
            Response::Plugins(list(r, 14, "plugin count", |r| {
                Ok(PluginEntry {
                    name: r.str16("plugin name")?,
                    kind: r.str16("plugin kind")?,
                    source: r.str16("plugin source")?,
                    generation: r.u64("generation")?,
                })
            })?)
        }
        Kind::PluginStats => Response::PluginCounters(list(
            r,
            58,
            "plugin count",
            super::plugin::PluginCounters::decode,
        )?),
        // Name and error (2 + 2), state and cache (2), three 8-byte numbers.
        Kind::PluginState => Response::PluginStates(list(
            r,
            30,
            "plugin count",
            super::plugin::PluginHealth::decode,
        )?),
        Kind::ProduceDelayed => {
            let (duplicate, acks) = delay::decode_scheduled(r)?;
            Response::Scheduled { duplicate, acks }
        }
        Kind::DelayCancel => Response::Cancelled {
            already: r.u8("already flag")? != 0,
            deliver_at: r.i64("delivery time")?,
        },
        Kind::DelayStats => Response::DelayStats(delay::decode_stats(r)?),
        Kind::MessageState => Response::DelayState(delay::decode_state(r)?),
        Kind::TxnBegin | Kind::TxnCheckListen | Kind::TxnCheckAnswer => Response::Done,
        Kind::TxnSend => {
            let (duplicate, acks) = delay::decode_scheduled(r)?;
            Response::Prepared { duplicate, acks }
        }
        Kind::TxnEnd => Response::TxnEnded(txn::decode_ended(r)?),
        Kind::TxnList => {
            Response::Transactions(list(r, 27, "transaction count", txn::decode_info)?)
        }
        Kind::TxnCheck => Response::TxnCheck(txn::decode_info(r)?),
        Kind::GroupReset => Response::Positions(list(r, 12, "queue count", |r| {
            Ok((r.u32("queue")?, r.u64("offset")?))
        })?),
    })
}

/// A `u32` count, then that many items read by `item`. A count that cannot fit in what is left
/// (each item takes at least `min` bytes) is refused before anything is allocated.
pub(super) fn list<'a, T>(
    r: &mut Reader<'a>,
    min: usize,
    field: &'static str,
    item: impl FnMut(&mut Reader<'a>) -> Result<T, ReadError>,
) -> Result<Vec<T>, ReadError> {
    let n = r.u32(field)? as usize;
    items(r, n, min, field, item)
}

/// `n` items read by `item`, refused before anything is allocated when they cannot fit.
fn items<'a, T>(
    r: &mut Reader<'a>,
    n: usize,
    min: usize,
    field: &'static str,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T, ReadError>,
) -> Result<Vec<T>, ReadError> {
    if n > r.remaining() / min {
        return Err(ReadError::Invalid {
            field,
            reason: format!("{n} items cannot fit in {} bytes", r.remaining()),
        });
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(item(r)?);
    }
    Ok(out)
}

/// [`list`] with a `u16` count.
fn list16<'a, T>(
    r: &mut Reader<'a>,
    min: usize,
    field: &'static str,
    item: impl FnMut(&mut Reader<'a>) -> Result<T, ReadError>,
) -> Result<Vec<T>, ReadError> {
    let n = r.u16(field)? as usize;
    items(r, n, min, field, item)
}

fn encode_topic(buf: &mut Vec<u8>, t: &TopicInfo) {
    put_str16(buf, &t.name);
    buf.extend_from_slice(&t.id.to_le_bytes());
    buf.extend_from_slice(&t.queues.to_le_bytes());
    buf.push(durability_code(Some(t.durability)));
    buf.extend_from_slice(&t.retention_ms.to_le_bytes());
    buf.extend_from_slice(&t.created_at.to_le_bytes());
}

fn decode_topic(r: &mut Reader<'_>) -> Result<TopicInfo, ReadError> {
    let name = r.str16("topic name")?;
    let id = r.u32("topic id")?;
    let queues = r.u32("queues")?;
    let durability =
        durability_from(r.u8("durability")?, "durability")?.ok_or(ReadError::Invalid {
            field: "durability",
            reason: "a topic always has a durability".into(),
        })?;
    Ok(TopicInfo {
        name,
        id,
        queues,
        durability,
        retention_ms: r.u64("retention")?,
        created_at: r.i64("created at")?,
    })
}

/// Messages: count u32, then each: queue u32, offset u64, store time i64, id [16], born time
/// i64, content (the log record's layout from byte 60).
fn encode_delivered(buf: &mut Vec<u8>, ms: &[Delivered]) {
    buf.extend_from_slice(&(ms.len() as u32).to_le_bytes());
    for m in ms {
        encode_delivered_one(buf, m);
    }
}

pub(super) fn encode_delivered_one(buf: &mut Vec<u8>, m: &Delivered) {
    buf.extend_from_slice(&m.queue.to_le_bytes());
    buf.extend_from_slice(&m.offset.to_le_bytes());
    buf.extend_from_slice(&m.stored_at.to_le_bytes());
    buf.extend_from_slice(&m.message.id.0);
    buf.extend_from_slice(&m.message.born_at.to_le_bytes());
    record::encode_content(buf, &m.message);
}

fn decode_delivered(r: &mut Reader<'_>) -> Result<Vec<Delivered>, ReadError> {
    list(r, 54, "message count", decode_delivered_one)
}

pub(super) fn decode_delivered_one(r: &mut Reader<'_>) -> Result<Delivered, ReadError> {
    {
        let queue = r.u32("queue")?;
        let offset = r.u64("offset")?;
        let stored_at = r.i64("store time")?;
        let id = MessageId(r.array16("message id")?);
        let born_at = r.i64("born time")?;
        let (tag, keys, properties, body) = record::decode_content(r)?;
        Ok(Delivered {
            queue,
            offset,
            stored_at,
            message: Message {
                id,
                tag,
                keys,
                properties,
                body,
                born_at,
            },
        })
    }
}

/// A Produce answer's first byte (and its throttle time, when there is one).
fn produce_flags(buf: &mut Vec<u8>, duplicate: bool, kind: u8, throttle_ms: u32) {
    let throttled = if throttle_ms > 0 { THROTTLED_FLAG } else { 0 };
    buf.push(u8::from(duplicate) | kind | throttled);
    if throttle_ms > 0 {
        buf.extend_from_slice(&throttle_ms.to_le_bytes());
    }
}
