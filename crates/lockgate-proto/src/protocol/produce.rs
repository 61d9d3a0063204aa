//! The Produce family (kind 16): a batch of messages for one topic, with each message's route.
//! The server decodes bodies as a borrowed [`ProduceView`], so message contents go from the
//! frame into the log as they are; [`ProduceRequest`] is the owned form clients build.

use crate::codec::{ReadError, Reader, put_str16};
use crate::record::RESERVED_PROPERTY_PREFIX;
use crate::record::{self, Message, MessageId};

use super::{Kind, ProtocolError};

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

impl Route {
    /// The borrowed form the server routes by.
    pub fn as_view(&self) -> RouteView<'_> {
        match self {
            Route::Queue(q) => RouteView::Queue(*q),
            Route::Key(k) => RouteView::Key(k),
            Route::Any => RouteView::Any,
        }
    }
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

const ROUTE_QUEUE: u8 = 0;
const ROUTE_KEY: u8 = 1;
const ROUTE_ANY: u8 = 2;
/// The smallest encoded produce message: route, id, born time, empty tag, keys, properties, body.
const MIN_MESSAGE_LEN: usize = 1 + 16 + 8 + 2 + 2 + 2 + 4;

/// Produce body: topic, producer id u64, sequence u64, message count u32, CRC32C u32 of the
/// message bytes that follow, then the messages: route (u8 0 = queue + u32, 1 = key + str16,
/// 2 = any), id [16], born time i64, content (the log record's layout from byte 60).
pub(super) fn encode_produce(buf: &mut Vec<u8>, p: &ProduceRequest) {
    encode_produce_with(buf, p, &[]);
}

/// A produce body followed by `tail` (ProduceDelayed's deliveries), the checksum covering the
/// messages and the tail.
pub(super) fn encode_produce_with(buf: &mut Vec<u8>, p: &ProduceRequest, tail: &[u8]) {
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
    buf.extend_from_slice(tail);
    let crc = crc32c::crc32c(&buf[messages_at..]);
    buf[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A produce request decoded without copying: strings and message contents borrow from the
/// frame body. Every field is validated as any request body is, so the content
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
    /// A property name starts with `lockgate.`: those are the broker's own.
    pub reserved_property: bool,
    /// Where the broker's own properties would go in the content, to store the message with
    /// them without decoding it (delay records).
    pub splice: PropertySplice,
    pub message: record::RawMessage<'a>,
}

/// The property section of a message's content: where its count is, the count, and where the
/// names that sort after `lockgate.` start (the broker's own properties go there, keeping the
/// names sorted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertySplice {
    pub count_at: usize,
    pub count: u16,
    pub insert_at: usize,
}

impl<'a> ProduceView<'a> {
    /// Decodes and validates a produce body, checksum included.
    pub fn decode(body: &'a [u8]) -> Result<ProduceView<'a>, ProtocolError> {
        let (view, end) = Self::decode_prefix(body, Kind::Produce)?;
        Reader::at(body, end)
            .finish("request")
            .map_err(|source| ProtocolError::Body {
                kind: Kind::Produce,
                source,
            })?;
        Ok(view)
    }

    /// Decodes a produce body at the start of a `kind` body and returns where it ends. The
    /// checksum covers everything after it, so what follows the messages is checked too.
    pub fn decode_prefix(
        body: &'a [u8],
        kind: Kind,
    ) -> Result<(ProduceView<'a>, usize), ProtocolError> {
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
        let view = ProduceView {
            topic,
            producer_id,
            sequence,
            messages,
        };
        Ok((view, r.position()))
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
    // Properties are a map: names sorted (by bytes), each once, so every reader of the stored
    // bytes (consumers, filter plugins) sees the same one value per name.
    let mut last: Option<&str> = None;
    let mut reserved = false;
    let count_at = r.position() - start;
    let count = r.u16("property count")?;
    let mut insert_at = None;
    for _ in 0..count {
        let at = r.position() - start;
        let name = r.str16_ref("property name")?;
        if insert_at.is_none() && name > RESERVED_PROPERTY_PREFIX {
            insert_at = Some(at);
        }
        if last.is_some_and(|l| l >= name) {
            return Err(ReadError::Invalid {
                field: "property name",
                reason: format!(
                    "{name:?} follows {:?}: properties must be sorted by name, each name once",
                    last.unwrap_or_default()
                ),
            });
        }
        last = Some(name);
        reserved |= name.starts_with(RESERVED_PROPERTY_PREFIX);
        let n = r.u32("property value")? as usize;
        r.str_ref(n, "property value")?;
    }
    let body_at = r.position() - start;
    r.bytes32("body")?;
    let content = r.slice(start, r.position());
    Ok(MessageView {
        route,
        reserved_property: reserved,
        splice: PropertySplice {
            count_at,
            count,
            insert_at: insert_at.unwrap_or(body_at),
        },
        message: record::RawMessage {
            id,
            born_at,
            tag,
            keys,
            content,
        },
    })
}
