//! Request bodies: encoding (clients) and decoding (the server).

use crate::codec::{ReadError, Reader, put_str16};
use crate::storage::Durability;
use crate::storage::record::{self, Message, MessageId};

use super::group::{self, JoinRequest, ResetTo, SubscribeRequest};
use super::{Kind, ProtocolError};
use crate::broker::group::AckRange;

/// Where a produced message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This queue.
    Queue(u32),
    /// The queue this key hashes to: equal keys keep their order.
    Key(String),
    /// Any queue; the server spreads such messages.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceMessage {
    pub route: Route,
    /// An all-zero id asks the server to assign one.
    pub message: Message,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    pub topic: String,
    /// 0: not idempotent.
    pub producer_id: u64,
    /// Batch sequence of this producer on this topic, from 0, one per batch.
    pub sequence: u64,
    pub messages: Vec<ProduceMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
    pub max_messages: u32,
    pub max_bytes: u32,
    /// Long poll: wait up to this long for a message when none is there yet.
    pub max_wait_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Ping {
        nonce: u64,
    },
    Hello {
        version: u16,
        client: String,
    },
    Produce(ProduceRequest),
    Fetch(FetchRequest),
    FetchFiltered(FetchRequest, group::FilterSpec),
    TopicCreate {
        name: String,
        queues: u32,
        /// `None`: the server's default.
        durability: Option<Durability>,
        /// 0: no topic-level retention.
        retention_ms: u64,
    },
    TopicDelete {
        name: String,
    },
    TopicList,
    TopicDescribe {
        name: String,
    },
    LookupId {
        topic: String,
        id: MessageId,
    },
    LookupKey {
        topic: String,
        key: String,
        limit: u32,
    },
    OffsetForTime {
        topic: String,
        queue: u32,
        time_ms: i64,
    },
    GroupJoin(JoinRequest),
    GroupLeave {
        member: u64,
    },
    Heartbeat {
        member: u64,
    },
    /// Long poll for a member: up to `max_messages`, waiting up to `max_wait_ms` for one.
    Receive {
        member: u64,
        max_messages: u32,
        max_bytes: u32,
        max_wait_ms: u32,
    },
    Ack {
        member: u64,
        ranges: Vec<AckRange>,
    },
    Nack {
        member: u64,
        reason: String,
        ranges: Vec<AckRange>,
    },
    Subscribe(SubscribeRequest),
    Credit {
        messages: u32,
        bytes: u64,
    },
    GroupList,
    GroupDescribe {
        group: String,
    },
    GroupReset {
        group: String,
        topic: String,
        /// `None`: every queue.
        queue: Option<u32>,
        to: ResetTo,
    },
    GroupDelete {
        group: String,
    },
    PluginList,
    PluginReload {
        name: String,
    },
}

const ROUTE_QUEUE: u8 = 0;
const ROUTE_KEY: u8 = 1;
const ROUTE_ANY: u8 = 2;
/// The smallest encoded produce message: route, id, born time, empty tag, keys, properties, body.
const MIN_MESSAGE_LEN: usize = 1 + 16 + 8 + 2 + 2 + 2 + 4;

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

impl Request {
    pub fn kind(&self) -> Kind {
        match self {
            Request::Ping { .. } => Kind::Ping,
            Request::Hello { .. } => Kind::Hello,
            Request::Produce(_) => Kind::Produce,
            Request::Fetch(_) => Kind::Fetch,
            Request::FetchFiltered(..) => Kind::FetchFiltered,
            Request::TopicCreate { .. } => Kind::TopicCreate,
            Request::TopicDelete { .. } => Kind::TopicDelete,
            Request::TopicList => Kind::TopicList,
            Request::TopicDescribe { .. } => Kind::TopicDescribe,
            Request::LookupId { .. } => Kind::LookupId,
            Request::LookupKey { .. } => Kind::LookupKey,
            Request::OffsetForTime { .. } => Kind::OffsetForTime,
            Request::GroupJoin(_) => Kind::GroupJoin,
            Request::GroupLeave { .. } => Kind::GroupLeave,
            Request::Heartbeat { .. } => Kind::Heartbeat,
            Request::Receive { .. } => Kind::Receive,
            Request::Ack { .. } => Kind::Ack,
            Request::Nack { .. } => Kind::Nack,
            Request::Subscribe(_) => Kind::Subscribe,
            Request::Credit { .. } => Kind::Credit,
            Request::GroupList => Kind::GroupList,
            Request::GroupDescribe { .. } => Kind::GroupDescribe,
            Request::GroupReset { .. } => Kind::GroupReset,
            Request::GroupDelete { .. } => Kind::GroupDelete,
            Request::PluginList => Kind::PluginList,
            Request::PluginReload { .. } => Kind::PluginReload,
        }
    }

    /// The body bytes. Names and strings longer than 65,535 bytes are the caller's error; the
    /// client checks them (see [`record::check_limits`] for messages).
    pub fn encode_body(&self, buf: &mut Vec<u8>) {
        match self {
            Request::Ping { nonce } => buf.extend_from_slice(&nonce.to_le_bytes()),
            Request::Hello { version, client } => {
                buf.extend_from_slice(&version.to_le_bytes());
                put_str16(buf, client);
            }
            Request::Produce(p) => encode_produce(buf, p),
            Request::Fetch(f) => encode_fetch(buf, f),
            Request::FetchFiltered(f, filter) => {
                encode_fetch(buf, f);
                group::encode_filter_spec(buf, filter);
            }
            Request::TopicCreate {
                name,
                queues,
                durability,
                retention_ms,
            } => {
                put_str16(buf, name);
                buf.extend_from_slice(&queues.to_le_bytes());
                buf.push(durability_code(*durability));
                buf.extend_from_slice(&retention_ms.to_le_bytes());
            }
            Request::TopicDelete { name } | Request::TopicDescribe { name } => put_str16(buf, name),
            Request::TopicList => {}
            Request::LookupId { topic, id } => {
                put_str16(buf, topic);
                buf.extend_from_slice(&id.0);
            }
            Request::LookupKey { topic, key, limit } => {
                put_str16(buf, topic);
                put_str16(buf, key);
                buf.extend_from_slice(&limit.to_le_bytes());
            }
            Request::OffsetForTime {
                topic,
                queue,
                time_ms,
            } => {
                put_str16(buf, topic);
                buf.extend_from_slice(&queue.to_le_bytes());
                buf.extend_from_slice(&time_ms.to_le_bytes());
            }
            Request::GroupJoin(j) => group::encode_join(buf, j),
            Request::GroupLeave { member } | Request::Heartbeat { member } => {
                buf.extend_from_slice(&member.to_le_bytes())
            }
            Request::Receive {
                member,
                max_messages,
                max_bytes,
                max_wait_ms,
            } => {
                buf.extend_from_slice(&member.to_le_bytes());
                buf.extend_from_slice(&max_messages.to_le_bytes());
                buf.extend_from_slice(&max_bytes.to_le_bytes());
                buf.extend_from_slice(&max_wait_ms.to_le_bytes());
            }
            Request::Ack { member, ranges } => {
                buf.extend_from_slice(&member.to_le_bytes());
                group::encode_ranges(buf, ranges);
            }
            Request::Nack {
                member,
                reason,
                ranges,
            } => {
                buf.extend_from_slice(&member.to_le_bytes());
                put_str16(buf, reason);
                group::encode_ranges(buf, ranges);
            }
            Request::Subscribe(s) => {
                group::encode_join(buf, &s.join);
                buf.extend_from_slice(&s.credit_messages.to_le_bytes());
                buf.extend_from_slice(&s.credit_bytes.to_le_bytes());
            }
            Request::Credit { messages, bytes } => {
                buf.extend_from_slice(&messages.to_le_bytes());
                buf.extend_from_slice(&bytes.to_le_bytes());
            }
            Request::GroupList | Request::PluginList => {}
            Request::PluginReload { name } => put_str16(buf, name),
            Request::GroupDescribe { group } | Request::GroupDelete { group } => {
                put_str16(buf, group)
            }
            Request::GroupReset {
                group,
                topic,
                queue,
                to,
            } => {
                put_str16(buf, group);
                put_str16(buf, topic);
                buf.extend_from_slice(&queue.unwrap_or(u32::MAX).to_le_bytes());
                group::encode_reset_to(buf, *to);
            }
        }
    }

    /// Decodes a request body of the given kind.
    pub fn decode(kind: u16, body: &[u8]) -> Result<Request, ProtocolError> {
        let kind = Kind::from_u16(kind).ok_or(ProtocolError::UnknownKind(kind))?;
        if kind == Kind::Produce {
            // One parser for produce bodies: the borrowed view, then owned copies.
            return ProduceView::decode(body)?.to_owned().map(Request::Produce);
        }
        let mut r = Reader::new(body);
        decode_body(kind, &mut r)
            .and_then(|req| r.finish("request").map(|()| req))
            .map_err(|source| ProtocolError::Body { kind, source })
    }
}

fn decode_body(kind: Kind, r: &mut Reader<'_>) -> Result<Request, ReadError> {
    Ok(match kind {
        Kind::Ping => Request::Ping {
            nonce: r.u64("nonce")?,
        },
        Kind::Hello => Request::Hello {
            version: r.u16("version")?,
            client: r.str16("client name")?,
        },
        Kind::Produce => unreachable!("produce bodies are decoded through ProduceView"),
        Kind::Fetch => Request::Fetch(decode_fetch(r)?),
        Kind::FetchFiltered => {
            Request::FetchFiltered(decode_fetch(r)?, group::decode_filter_spec(r)?)
        }
        Kind::TopicCreate => Request::TopicCreate {
            name: r.str16("topic name")?,
            queues: r.u32("queues")?,
            durability: durability_from(r.u8("durability")?, "durability")?,
            retention_ms: r.u64("retention")?,
        },
        Kind::TopicDelete => Request::TopicDelete {
            name: r.str16("topic name")?,
        },
        Kind::TopicList => Request::TopicList,
        Kind::TopicDescribe => Request::TopicDescribe {
            name: r.str16("topic name")?,
        },
        Kind::LookupId => Request::LookupId {
            topic: r.str16("topic")?,
            id: MessageId(r.array16("message id")?),
        },
        Kind::LookupKey => Request::LookupKey {
            topic: r.str16("topic")?,
            key: r.str16("key")?,
            limit: r.u32("limit")?,
        },
        Kind::OffsetForTime => Request::OffsetForTime {
            topic: r.str16("topic")?,
            queue: r.u32("queue")?,
            time_ms: r.i64("time")?,
        },
        Kind::GroupJoin => Request::GroupJoin(group::decode_join(r)?),
        Kind::GroupLeave => Request::GroupLeave {
            member: r.u64("member")?,
        },
        Kind::Heartbeat => Request::Heartbeat {
            member: r.u64("member")?,
        },
        Kind::Receive => Request::Receive {
            member: r.u64("member")?,
            max_messages: r.u32("max messages")?,
            max_bytes: r.u32("max bytes")?,
            max_wait_ms: r.u32("max wait")?,
        },
        Kind::Ack => Request::Ack {
            member: r.u64("member")?,
            ranges: group::decode_ranges(r)?,
        },
        Kind::Nack => Request::Nack {
            member: r.u64("member")?,
            reason: r.str16("reason")?,
            ranges: group::decode_ranges(r)?,
        },
        Kind::Subscribe => Request::Subscribe(SubscribeRequest {
            join: group::decode_join(r)?,
            credit_messages: r.u32("credit messages")?,
            credit_bytes: r.u64("credit bytes")?,
        }),
        Kind::Credit => Request::Credit {
            messages: r.u32("credit messages")?,
            bytes: r.u64("credit bytes")?,
        },
        Kind::Deliveries => {
            return Err(ReadError::Invalid {
                field: "kind",
                reason: "deliveries are sent by servers only".into(),
            });
        }
        Kind::GroupList => Request::GroupList,
        Kind::GroupDescribe => Request::GroupDescribe {
            group: r.str16("group")?,
        },
        Kind::GroupReset => Request::GroupReset {
            group: r.str16("group")?,
            topic: r.str16("topic")?,
            queue: Some(r.u32("queue")?).filter(|&q| q != u32::MAX),
            to: group::decode_reset_to(r)?,
        },
        Kind::GroupDelete => Request::GroupDelete {
            group: r.str16("group")?,
        },
        Kind::PluginList => Request::PluginList,
        Kind::PluginReload => Request::PluginReload {
            name: r.str16("plugin")?,
        },
    })
}

fn encode_fetch(buf: &mut Vec<u8>, f: &FetchRequest) {
    put_str16(buf, &f.topic);
    buf.extend_from_slice(&f.queue.to_le_bytes());
    buf.extend_from_slice(&f.offset.to_le_bytes());
    buf.extend_from_slice(&f.max_messages.to_le_bytes());
    buf.extend_from_slice(&f.max_bytes.to_le_bytes());
    buf.extend_from_slice(&f.max_wait_ms.to_le_bytes());
}

fn decode_fetch(r: &mut Reader<'_>) -> Result<FetchRequest, ReadError> {
    Ok(FetchRequest {
        topic: r.str16("topic")?,
        queue: r.u32("queue")?,
        offset: r.u64("offset")?,
        max_messages: r.u32("max messages")?,
        max_bytes: r.u32("max bytes")?,
        max_wait_ms: r.u32("max wait")?,
    })
}

/// Produce body: topic, producer id u64, sequence u64, message count u32, CRC32C u32 of the
/// message bytes that follow, then the messages: route (u8 0 = queue + u32, 1 = key + str16,
/// 2 = any), id [16], born time i64, content (the log record's layout from byte 60).
fn encode_produce(buf: &mut Vec<u8>, p: &ProduceRequest) {
    put_str16(buf, &p.topic);
    buf.extend_from_slice(&p.producer_id.to_le_bytes());
    buf.extend_from_slice(&p.sequence.to_le_bytes());
    buf.extend_from_slice(&(p.messages.len() as u32).to_le_bytes());
    let crc_at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let messages_at = buf.len();
    for m in &p.messages {
        match &m.route {
            Route::Queue(q) => {
                buf.push(ROUTE_QUEUE);
                buf.extend_from_slice(&q.to_le_bytes());
            }
            Route::Key(k) => {
                buf.push(ROUTE_KEY);
                put_str16(buf, k);
            }
            Route::Any => buf.push(ROUTE_ANY),
        }
        buf.extend_from_slice(&m.message.id.0);
        buf.extend_from_slice(&m.message.born_at.to_le_bytes());
        record::encode_content(buf, &m.message);
    }
    let crc = crc32c::crc32c(&buf[messages_at..]);
    buf[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A produce request decoded without copying: strings and message contents borrow from the
/// frame body. Every field is validated exactly as [`Request::decode`] does, so the content
/// slices can be stored as log records as they are.
#[derive(Debug, Clone)]
pub struct ProduceView<'a> {
    pub topic: &'a str,
    pub producer_id: u64,
    pub sequence: u64,
    pub messages: Vec<MessageView<'a>>,
}

#[derive(Debug, Clone)]
pub enum RouteView<'a> {
    Queue(u32),
    Key(&'a str),
    Any,
}

#[derive(Debug, Clone)]
pub struct MessageView<'a> {
    pub route: RouteView<'a>,
    pub message: record::RawMessage<'a>,
}

impl<'a> ProduceView<'a> {
    /// Decodes and validates a produce body, checksum included.
    pub fn decode(body: &'a [u8]) -> Result<ProduceView<'a>, ProtocolError> {
        let kind = Kind::Produce;
        let err = |source| ProtocolError::Body { kind, source };
        let mut r = Reader::new(body);
        let topic = r.str16_ref("topic").map_err(err)?;
        let producer_id = r.u64("producer id").map_err(err)?;
        let sequence = r.u64("sequence").map_err(err)?;
        let count = r.u32("message count").map_err(err)?;
        let sent = r.u32("checksum").map_err(err)?;
        let computed = crc32c::crc32c(&body[r.position()..]);
        if sent != computed {
            return Err(ProtocolError::Checksum { sent, computed });
        }
        if count as usize > r.remaining() / MIN_MESSAGE_LEN {
            return Err(err(ReadError::Invalid {
                field: "message count",
                reason: format!("{count} messages cannot fit in {} bytes", r.remaining()),
            }));
        }
        let mut messages = Vec::with_capacity(count as usize);
        for _ in 0..count {
            messages.push(decode_message_view(&mut r).map_err(err)?);
        }
        r.finish("request").map_err(err)?;
        Ok(ProduceView {
            topic,
            producer_id,
            sequence,
            messages,
        })
    }
}

impl ProduceView<'_> {
    /// Owned copies of everything (for clients and tests; the server stores the views).
    pub fn to_owned(&self) -> Result<ProduceRequest, ProtocolError> {
        let err = |source| ProtocolError::Body {
            kind: Kind::Produce,
            source,
        };
        let messages = self
            .messages
            .iter()
            .map(|v| {
                let (tag, keys, properties, body) =
                    record::decode_content(&mut Reader::new(v.message.content)).map_err(err)?;
                let route = match v.route {
                    RouteView::Queue(q) => Route::Queue(q),
                    RouteView::Key(k) => Route::Key(k.to_string()),
                    RouteView::Any => Route::Any,
                };
                let message = Message {
                    id: v.message.id,
                    tag,
                    keys,
                    properties,
                    body,
                    born_at: v.message.born_at,
                };
                Ok(ProduceMessage { route, message })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProduceRequest {
            topic: self.topic.to_string(),
            producer_id: self.producer_id,
            sequence: self.sequence,
            messages,
        })
    }
}

fn decode_message_view<'a>(r: &mut Reader<'a>) -> Result<MessageView<'a>, ReadError> {
    let route = match r.u8("route")? {
        ROUTE_QUEUE => RouteView::Queue(r.u32("queue")?),
        ROUTE_KEY => RouteView::Key(r.str16_ref("sharding key")?),
        ROUTE_ANY => RouteView::Any,
        other => {
            return Err(ReadError::Invalid {
                field: "route",
                reason: format!("{other} is not a route"),
            });
        }
    };
    let id = MessageId(r.array16("message id")?);
    let born_at = r.i64("born time")?;
    let start = r.position();
    let tag = r.str16_ref("tag")?;
    let key_count = r.u16("key count")?;
    let mut keys = Vec::with_capacity(usize::from(key_count));
    for _ in 0..key_count {
        keys.push(r.str16_ref("key")?);
    }
    for _ in 0..r.u16("property count")? {
        r.str16_ref("property name")?;
        let n = r.u32("property value")? as usize;
        r.str_ref(n, "property value")?;
    }
    r.bytes32("body")?;
    let content = r.slice(start, r.position());
    Ok(MessageView {
        route,
        message: record::RawMessage {
            id,
            born_at,
            tag,
            keys,
            content,
        },
    })
}
