//! The record format, the floor every other module stands on: the message, its id, the
//! commit-log record that frames it and the views that read one in place; topic names and
//! durabilities ([`topic`]). Storage writes these records, the protocol carries their content,
//! plugins and the client read them. It imports only `codec`.
//!
//! The commit-log record: one message, framed with its length and a CRC32C.
//!
//! Pure encoding and decoding; no I/O. Byte layout (format version 1, little-endian):
//!
//! ```text
//! offset size  field
//!  0      4    total length of the record in bytes, this field included
//!  4      4    CRC32C of bytes [8, length)
//!  8      1    format version (1)
//!  9      1    flags: bit 0 = the producer stamp below is present; bit 1 = more records of
//!              the same append follow (see below); other bits 0
//! 10      2    reserved (0)
//! 12      4    topic id (see topics.json; ids are never reused)
//! 16      4    queue id
//! 20      8    queue offset (dense per queue, from 0)
//! 28      8    store time, ms since the Unix epoch (non-decreasing along the log)
//! 36      8    born time, ms since the Unix epoch (set by the producer)
//! 44     16    message id
//! (60     16    only with flag bit 0: producer id u64, batch sequence u64 — see below)
//! 60      2+n  tag (u16 length + UTF-8; empty = no tag)  [76 with the producer stamp]
//!  …      2    key count, then per key: u16 length + UTF-8
//!  …      2    property count, then per property: u16 key length + key, u32 value length + value
//!  …      4+n  body (u32 length + bytes)
//! ```
//!
//! A batch (several records of one append: a produce batch's share of a queue, or an atomic
//! append for several topics, such as a transaction's commit) must be stored whole or not at
//! all, so every record of it but the last sets bit 1.
//! Recovery keeps such a run only when its last record is there too, so a crash in the middle
//! of its write leaves none of it.
//!
//! The producer stamp marks records written for an idempotent producer: recovery rebuilds the
//! table that recognizes retried batches from it, so duplicates are refused after a crash too.
//!
//! The queue offset and store time are assigned when the record is appended (under the log's
//! write lock), so a record is encoded first and then [`seal`]ed, which patches them and computes
//! the CRC.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::{ReadError, Reader, put_bytes32, put_str16};

pub mod topic;

pub use topic::{Durability, MAX_NAME_LEN, MAX_QUEUES, TopicName, TopicNameError};

/// Property names producers may not set: the broker's own.
pub const RESERVED_PROPERTY_PREFIX: &str = "lockgate.";

/// Batches remembered per (producer, topic, queue): how far back a retry is recognized. A
/// producer must not have more batches unanswered than this (the Rust client keeps its
/// idempotent pipelines within it), or a resend after a crash may be older than everything
/// remembered and refused as stale.
pub const KEEP_BATCHES: usize = 64;

pub const FORMAT_VERSION: u8 = 1;
/// Bytes before the variable part (tag length onwards).
pub const FIXED_LEN: usize = 60;
/// The producer stamp's size, when present.
pub const STAMP_LEN: usize = 16;
const FLAG_STAMP: u8 = 1;
const FLAG_CONTINUED: u8 = 2;
const FLAGS_AT: usize = 9;
/// The smallest valid record: fixed part plus empty tag, keys, properties and body.
pub const MIN_LEN: usize = FIXED_LEN + 2 + 2 + 2 + 4;
const QUEUE_OFFSET_AT: usize = 20;
/// Where the message id is in a record.
pub const ID_AT: usize = 44;
const STORE_TIME_AT: usize = 28;

/// A 16-byte message id, shown as 32 lowercase hex digits. Generated ids start with the
/// millisecond timestamp, so they sort roughly by time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// A new id: 6 bytes of ms timestamp, 4 random bytes fixed per process, 6 bytes of counter.
    #[inline]
    pub fn generate(now_ms: i64) -> MessageId {
        MessageId::generate_block(now_ms, 1)
    }

    /// The first of `n` new ids that follow each other ([`MessageId::successor`]), unless the
    /// 6-byte counter wraps inside the block: a batch's ids, so that an answer can name them
    /// by the first (`docs/protocol.md`, compact produce answers).
    pub fn generate_block(now_ms: i64, n: u64) -> MessageId {
        static PROCESS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let process = *PROCESS.get_or_init(|| fastrand::u32(..));
        let count = COUNTER.fetch_add(n.max(1), Ordering::Relaxed);
        let mut id = [0u8; 16];
        id[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
        id[6..10].copy_from_slice(&process.to_be_bytes());
        id[10..].copy_from_slice(&count.to_be_bytes()[2..]);
        MessageId(id)
    }

    /// The id after this one in a block: the last 6 bytes (a big-endian counter) plus one;
    /// `None` where the counter would wrap.
    pub fn successor(&self) -> Option<MessageId> {
        self.nth(1)
    }

    /// The `n`-th id of the block that starts here (`nth(0)` is this one), if the counter does
    /// not wrap before it.
    pub fn nth(&self, n: u64) -> Option<MessageId> {
        let mut counter = [0u8; 8];
        counter[2..].copy_from_slice(&self.0[10..]);
        let at = u64::from_be_bytes(counter).checked_add(n)?;
        if at >= 1 << 48 {
            return None;
        }
        let mut id = self.0;
        id[10..].copy_from_slice(&at.to_be_bytes()[2..]);
        Some(MessageId(id))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl FromStr for MessageId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() != 32 || !s.is_ascii() {
            return Err(format!("{s:?} is not a message id (32 hex digits)"));
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("{s:?} is not a message id (32 hex digits)"))?;
        }
        Ok(MessageId(id))
    }
}

/// A message as producers give it to the store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub id: MessageId,
    /// Empty means "no tag".
    pub tag: String,
    pub keys: Vec<String>,
    pub properties: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When the producer created the message, ms since the Unix epoch.
    pub born_at: i64,
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// (producer id, batch sequence) for records of idempotent producers.
    pub producer: Option<(u64, u64)>,
    pub topic_id: u32,
    pub queue: u32,
    pub queue_offset: u64,
    pub stored_at: i64,
    pub message: Message,
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record length {0} is impossible")]
    BadLength(u64),
    #[error("record is cut short: {needed} bytes needed, {available} present")]
    Truncated { needed: u64, available: u64 },
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("unsupported record format version {0}")]
    Version(u8),
    #[error("malformed record: {0}")]
    Malformed(String),
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} is {len} bytes; the limit is {limit}")]
    FieldTooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("{field} has {count} entries; the limit is {limit}")]
    TooMany {
        field: &'static str,
        count: usize,
        limit: usize,
    },
}

/// The encoded size of a message's record.
#[inline]
pub fn encoded_len(m: &Message) -> usize {
    FIXED_LEN + content_len(m)
}

/// The size of a message's content part: tag, keys, properties and body, laid out as in the
/// record from byte 60 on. The wire protocol carries messages in this same layout.
#[inline]
pub fn content_len(m: &Message) -> usize {
    2 + m.tag.len()
        + 2
        + m.keys.iter().map(|k| 2 + k.len()).sum::<usize>()
        + 2
        + m.properties
            .iter()
            .map(|(k, v)| 2 + k.len() + 4 + v.len())
            .sum::<usize>()
        + 4
        + m.body.len()
}

/// Checks that a message's fields fit the layout's length prefixes.
#[inline]
pub fn check_limits(m: &Message) -> Result<(), EncodeError> {
    let short = |field: &'static str, len: usize| {
        if len > usize::from(u16::MAX) {
            Err(EncodeError::FieldTooLong {
                field,
                len,
                limit: usize::from(u16::MAX),
            })
        } else {
            Ok(())
        }
    };
    let count = |field: &'static str, count: usize| {
        if count > usize::from(u16::MAX) {
            Err(EncodeError::TooMany {
                field,
                count,
                limit: usize::from(u16::MAX),
            })
        } else {
            Ok(())
        }
    };
    short("tag", m.tag.len())?;
    count("keys", m.keys.len())?;
    for k in &m.keys {
        short("key", k.len())?;
    }
    count("properties", m.properties.len())?;
    for (k, v) in &m.properties {
        short("property name", k.len())?;
        if v.len() > u32::MAX as usize {
            return Err(EncodeError::FieldTooLong {
                field: "property value",
                len: v.len(),
                limit: u32::MAX as usize,
            });
        }
    }
    if encoded_len(m) > u32::MAX as usize {
        return Err(EncodeError::FieldTooLong {
            field: "message",
            len: encoded_len(m),
            limit: u32::MAX as usize,
        });
    }
    Ok(())
}

/// Appends a message's content part (see [`content_len`]); limits must have been checked.
#[inline]
pub fn encode_content(buf: &mut Vec<u8>, m: &Message) {
    put_str16(buf, &m.tag);
    buf.extend_from_slice(&(m.keys.len() as u16).to_le_bytes());
    for k in &m.keys {
        put_str16(buf, k);
    }
    buf.extend_from_slice(&(m.properties.len() as u16).to_le_bytes());
    for (k, v) in &m.properties {
        put_str16(buf, k);
        put_bytes32(buf, v.as_bytes());
    }
    put_bytes32(buf, &m.body);
}

/// Something the store can write as a record: an owned [`Message`], or a message whose content
/// bytes arrived ready-made from the network ([`RawMessage`]).
pub trait RecordSource {
    fn id(&self) -> MessageId;
    fn born_at(&self) -> i64;
    fn tag(&self) -> &str;
    fn keys(&self) -> impl Iterator<Item = &str>;
    /// Size of the content part (the record from byte 60, or 76 with a producer stamp).
    fn content_len(&self) -> usize;
    /// Checks that the fields fit their length prefixes.
    fn check(&self) -> Result<(), EncodeError>;
    fn encode_content(&self, buf: &mut Vec<u8>);
}

/// A reference stores what it refers to (an atomic append's parts can share messages).
impl RecordSource for &RawMessage<'_> {
    fn id(&self) -> MessageId {
        (**self).id()
    }
    fn born_at(&self) -> i64 {
        (**self).born_at()
    }
    fn tag(&self) -> &str {
        (**self).tag()
    }
    fn keys(&self) -> impl Iterator<Item = &str> {
        (**self).keys()
    }
    fn content_len(&self) -> usize {
        (**self).content_len()
    }
    fn check(&self) -> Result<(), EncodeError> {
        (**self).check()
    }
    fn encode_content(&self, buf: &mut Vec<u8>) {
        (**self).encode_content(buf)
    }
}

impl RecordSource for Message {
    fn id(&self) -> MessageId {
        self.id
    }
    fn born_at(&self) -> i64 {
        self.born_at
    }
    fn tag(&self) -> &str {
        &self.tag
    }
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }
    fn content_len(&self) -> usize {
        content_len(self)
    }
    fn check(&self) -> Result<(), EncodeError> {
        check_limits(self)
    }
    fn encode_content(&self, buf: &mut Vec<u8>) {
        encode_content(buf, self);
    }
}

/// A message whose content (the record layout from byte 60: tag, keys, properties, body) is
/// already encoded and validated, e.g. a slice of a produce frame. Storing it copies the bytes
/// once, behind the record header; nothing is decoded into owned fields.
#[derive(Debug, Clone)]
pub struct RawMessage<'a> {
    pub id: MessageId,
    pub born_at: i64,
    pub tag: &'a str,
    pub keys: Vec<&'a str>,
    pub content: &'a [u8],
}

impl RecordSource for RawMessage<'_> {
    fn id(&self) -> MessageId {
        self.id
    }
    fn born_at(&self) -> i64 {
        self.born_at
    }
    fn tag(&self) -> &str {
        self.tag
    }
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().copied()
    }
    fn content_len(&self) -> usize {
        self.content.len()
    }
    fn check(&self) -> Result<(), EncodeError> {
        Ok(()) // validated when the view was decoded
    }
    fn encode_content(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(self.content);
    }
}

/// The size of `m`'s record, with or without a producer stamp.
#[inline]
pub fn record_len(m: &impl RecordSource, stamped: bool) -> usize {
    FIXED_LEN + if stamped { STAMP_LEN } else { 0 } + m.content_len()
}

/// Appends an unsealed record (queue offset, store time and CRC zero) for `m`, stamped with
/// `producer` (id, batch sequence) when given.
#[inline]
pub fn encode_record(
    buf: &mut Vec<u8>,
    m: &impl RecordSource,
    topic_id: u32,
    queue: u32,
    producer: Option<(u64, u64)>,
) -> Result<(), EncodeError> {
    m.check()?;
    let len = record_len(m, producer.is_some());
    if len > u32::MAX as usize {
        return Err(EncodeError::FieldTooLong {
            field: "message",
            len,
            limit: u32::MAX as usize,
        });
    }
    buf.reserve(len);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    buf.extend_from_slice(&[
        FORMAT_VERSION,
        if producer.is_some() { FLAG_STAMP } else { 0 },
        0,
        0,
    ]);
    buf.extend_from_slice(&topic_id.to_le_bytes());
    buf.extend_from_slice(&queue.to_le_bytes());
    buf.extend_from_slice(&0u64.to_le_bytes());
    buf.extend_from_slice(&0i64.to_le_bytes());
    buf.extend_from_slice(&m.born_at().to_le_bytes());
    buf.extend_from_slice(&m.id().0);
    if let Some((id, sequence)) = producer {
        buf.extend_from_slice(&id.to_le_bytes());
        buf.extend_from_slice(&sequence.to_le_bytes());
    }
    m.encode_content(buf);
    Ok(())
}

/// The content part of a message: (tag, keys, properties, body).
pub type Content = (String, Vec<String>, BTreeMap<String, String>, Vec<u8>);

/// Reads a message's content part (see [`content_len`]).
pub fn decode_content(r: &mut Reader<'_>) -> Result<Content, ReadError> {
    let tag = r.str16("tag")?;
    let key_count = r.u16("key count")?;
    let mut keys = Vec::with_capacity(usize::from(key_count));
    for _ in 0..key_count {
        keys.push(r.str16("key")?);
    }
    let prop_count = r.u16("property count")?;
    let mut properties = BTreeMap::new();
    for _ in 0..prop_count {
        let k = r.str16("property name")?;
        let n = r.u32("property value")? as usize;
        properties.insert(k, r.string(n, "property value")?);
    }
    let body = r.bytes32("body")?.to_vec();
    Ok((tag, keys, properties, body))
}

/// [`decode_content`] without copying: tag, keys and properties borrowed from the content,
/// with where the properties and the body start, so the content can be stored again with its
/// properties edited.
pub struct ContentView<'a> {
    /// The whole content.
    pub content: &'a [u8],
    pub tag: &'a str,
    pub keys: Vec<&'a str>,
    /// Where the property count starts.
    pub props_at: usize,
    pub props: Vec<(&'a str, &'a str)>,
    /// Where the body starts.
    pub body_at: usize,
}

impl<'a> ContentView<'a> {
    #[inline]
    pub fn parse(content: &'a [u8]) -> Result<ContentView<'a>, ReadError> {
        let mut r = Reader::new(content);
        let tag = r.str16_ref("tag")?;
        let key_count = r.u16("key count")?;
        let mut keys = Vec::with_capacity(usize::from(key_count));
        for _ in 0..key_count {
            keys.push(r.str16_ref("key")?);
        }
        let props_at = r.position();
        let count = r.u16("property count")?;
        let mut props = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let name = r.str16_ref("property name")?;
            let n = r.u32("property value")? as usize;
            props.push((name, r.str_ref(n, "property value")?));
        }
        Ok(ContentView {
            content,
            tag,
            keys,
            props_at,
            props,
            body_at: r.position(),
        })
    }

    #[inline]
    pub fn property(&self, name: &str) -> Option<&'a str> {
        self.props.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// Appends an unsealed record (queue offset, store time and CRC zero) for `m` to `buf`.
pub fn encode(
    buf: &mut Vec<u8>,
    topic_id: u32,
    queue: u32,
    m: &Message,
) -> Result<(), EncodeError> {
    encode_record(buf, m, topic_id, queue, None)
}

/// Patches the queue offset and store time into an encoded record and writes its CRC.
#[inline]
pub fn seal(record: &mut [u8], queue_offset: u64, stored_at: i64) {
    record[QUEUE_OFFSET_AT..QUEUE_OFFSET_AT + 8].copy_from_slice(&queue_offset.to_le_bytes());
    record[STORE_TIME_AT..STORE_TIME_AT + 8].copy_from_slice(&stored_at.to_le_bytes());
    let crc = crc32c::crc32c(&record[8..]);
    record[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// Marks an encoded (unsealed) record as followed by more records of the same append.
#[inline]
pub fn set_continued(record: &mut [u8]) {
    record[FLAGS_AT] |= FLAG_CONTINUED;
}

/// Whether a record says more records of its append follow it (see the module docs).
#[inline]
pub fn is_continued(record: &[u8]) -> bool {
    record
        .get(FLAGS_AT)
        .is_some_and(|f| f & FLAG_CONTINUED != 0)
}

/// The length a record announces in its first four bytes, if four bytes are there.
#[inline]
pub fn peek_len(bytes: &[u8]) -> Option<u32> {
    bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Where a record says it belongs: `(length, topic id, queue, queue offset)`, read from its
/// fixed fields without checking its CRC (enough to tell whether an index entry points at it).
#[inline]
pub fn peek_place(bytes: &[u8]) -> Result<(u32, u32, u32, u64), ReadError> {
    Ok((
        Reader::at(bytes, 0).u32("record length")?,
        Reader::at(bytes, 12).u32("topic id")?,
        Reader::at(bytes, 16).u32("queue")?,
        Reader::at(bytes, QUEUE_OFFSET_AT).u64("queue offset")?,
    ))
}

/// A record whose frame is checked (length, CRC, version, flags) and whose fixed fields are
/// read; the content (tag, keys, properties, body) stays bytes, in the very layout the wire
/// protocol carries, so a reader can pass it on without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub producer: Option<(u64, u64)>,
    pub topic_id: u32,
    pub queue: u32,
    pub queue_offset: u64,
    pub stored_at: i64,
    pub born_at: i64,
    pub id: MessageId,
    pub content: &'a [u8],
}

impl RecordView<'_> {
    /// The message, with its content decoded.
    pub fn message(&self) -> Result<Message, DecodeError> {
        message_of(self.id, self.born_at, self.content)
    }
}

/// A message from its id, born time and content bytes (the record layout from byte 60).
pub fn message_of(id: MessageId, born_at: i64, content: &[u8]) -> Result<Message, DecodeError> {
    let malformed = |e: ReadError| DecodeError::Malformed(e.to_string());
    let mut r = Reader::new(content);
    let (tag, keys, properties, body) = decode_content(&mut r).map_err(malformed)?;
    r.finish("record").map_err(malformed)?;
    Ok(Message {
        id,
        tag,
        keys,
        properties,
        body,
        born_at,
    })
}

/// Checks the record at the start of `bytes` (length, CRC, version, flags) and reads its
/// fixed fields; see [`RecordView`].
#[inline]
pub fn decode_view(bytes: &[u8]) -> Result<RecordView<'_>, DecodeError> {
    let len = peek_len(bytes).ok_or(DecodeError::Truncated {
        needed: 4,
        available: bytes.len() as u64,
    })? as usize;
    if len < MIN_LEN {
        return Err(DecodeError::BadLength(len as u64));
    }
    if bytes.len() < len {
        return Err(DecodeError::Truncated {
            needed: len as u64,
            available: bytes.len() as u64,
        });
    }
    let record = &bytes[..len];
    let stored = Reader::at(record, 4)
        .u32("record checksum")
        .map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let computed = crc32c::crc32c(&record[8..]);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let mut r = Reader::new(&record[8..]);
    let malformed = |e: ReadError| DecodeError::Malformed(e.to_string());
    let version = r.u8("version").map_err(malformed)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    let flags = r.u8("flags").map_err(malformed)?;
    if flags & !(FLAG_STAMP | FLAG_CONTINUED) != 0 {
        return Err(DecodeError::Malformed(format!(
            "unknown flags {flags:#04x}"
        )));
    }
    let fixed = (|| {
        r.take(2, "reserved")?;
        Ok((
            r.u32("topic id")?,
            r.u32("queue")?,
            r.u64("queue offset")?,
            r.i64("store time")?,
            r.i64("born time")?,
            r.array16("message id")?,
        ))
    })();
    let (topic_id, queue, queue_offset, stored_at, born_at, id) = fixed.map_err(malformed)?;
    let producer = if flags & FLAG_STAMP != 0 {
        Some((
            r.u64("producer id").map_err(malformed)?,
            r.u64("producer sequence").map_err(malformed)?,
        ))
    } else {
        None
    };
    let content = r.take(r.remaining(), "content").map_err(malformed)?;
    Ok(RecordView {
        producer,
        topic_id,
        queue,
        queue_offset,
        stored_at,
        born_at,
        id: MessageId(id),
        content,
    })
}

/// Decodes one record from the start of `bytes`, verifying its length and CRC.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    let view = decode_view(bytes)?;
    Ok(Record {
        producer: view.producer,
        topic_id: view.topic_id,
        queue: view.queue,
        queue_offset: view.queue_offset,
        stored_at: view.stored_at,
        message: view.message()?,
    })
}

/// A stable 32-bit hash of a tag for the consume-queue prefilter; 0 means "no tag".
#[inline]
pub fn tag_hash(tag: &str) -> u32 {
    if tag.is_empty() {
        return 0;
    }
    let h = fnv1a64(&[tag.as_bytes()]);
    match (h ^ (h >> 32)) as u32 {
        0 => 1,
        v => v,
    }
}

/// FNV-1a, 64 bits, over several byte slices. Stable across versions: it is persisted in indexes.
#[inline]
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests;
