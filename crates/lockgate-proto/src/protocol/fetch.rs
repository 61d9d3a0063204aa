//! The Fetch family: Fetch (32) and FetchFiltered (33), reads by (topic, queue, offset).

use crate::codec::{ReadError, Reader, put_str16};

use super::group::{FilterSpec, decode_filter_spec, encode_filter_spec};
use super::limits::{MAX_FETCH_MESSAGES, MAX_WAIT_MS, OutOfRange, check};
use super::{Family, FetchKind, Kind};
use crate::record::RecordView;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub topic: String,
    pub queue: u32,
    pub offset: u64,
    /// 1–10,000.
    pub max_messages: u32,
    pub max_bytes: u32,
    /// Long poll: wait up to this long (at most 30,000 ms) for a message when none is there yet.
    pub max_wait_ms: u32,
}

/// A Fetch answer the server encodes straight from stored records, the content bytes as
/// stored (decoding gives [`super::Response::Fetched`]): next offset, then `count` messages laid
/// out as a delivered message (queue, offset, store time, id, born time, content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedFetch {
    pub next_offset: u64,
    pub count: u32,
    pub items: Vec<u8>,
}

impl EncodedFetch {
    /// Bytes of one message besides its content.
    pub const OVERHEAD: usize = 44;

    pub fn push(&mut self, view: &RecordView<'_>) {
        let b = &mut self.items;
        b.extend_from_slice(&view.queue.to_le_bytes());
        b.extend_from_slice(&view.queue_offset.to_le_bytes());
        b.extend_from_slice(&view.stored_at.to_le_bytes());
        b.extend_from_slice(&view.id.0);
        b.extend_from_slice(&view.born_at.to_le_bytes());
        b.extend_from_slice(view.content);
        self.count += 1;
    }

    /// The response body before the items: status Ok, next offset, count.
    pub fn body_head(&self) -> [u8; 14] {
        let mut h = [0u8; 14];
        h[2..10].copy_from_slice(&self.next_offset.to_le_bytes());
        h[10..].copy_from_slice(&self.count.to_le_bytes());
        h
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFamily {
    Fetch(FetchRequest),
    /// A fetch whose messages pass through a filter first.
    Filtered(FetchRequest, FilterSpec),
}

impl FetchRequest {
    fn encode(&self, buf: &mut Vec<u8>) {
        put_str16(buf, &self.topic);
        buf.extend_from_slice(&self.queue.to_le_bytes());
        buf.extend_from_slice(&self.offset.to_le_bytes());
        buf.extend_from_slice(&self.max_messages.to_le_bytes());
        buf.extend_from_slice(&self.max_bytes.to_le_bytes());
        buf.extend_from_slice(&self.max_wait_ms.to_le_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Result<FetchRequest, ReadError> {
        Ok(FetchRequest {
            topic: r.str16("topic")?,
            queue: r.u32("queue")?,
            offset: r.u64("offset")?,
            max_messages: r.u32("max messages")?,
            max_bytes: r.u32("max bytes")?,
            max_wait_ms: r.u32("max wait")?,
        })
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        check("max messages", self.max_messages, 1, MAX_FETCH_MESSAGES)?;
        check("max wait ms", self.max_wait_ms, 0, MAX_WAIT_MS)
    }
}

impl Family for FetchFamily {
    type Kinds = FetchKind;

    fn kind(&self) -> Kind {
        match self {
            FetchFamily::Fetch(_) => Kind::Fetch,
            FetchFamily::Filtered(..) => Kind::FetchFiltered,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            FetchFamily::Fetch(f) => f.encode(buf),
            FetchFamily::Filtered(f, filter) => {
                f.encode(buf);
                encode_filter_spec(buf, filter);
            }
        }
    }

    fn decode(kind: FetchKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        let f = FetchRequest::decode(r)?;
        Ok(match kind {
            FetchKind::FetchFiltered => FetchFamily::Filtered(f, decode_filter_spec(r)?),
            FetchKind::Fetch => FetchFamily::Fetch(f),
        })
    }

    fn check_ranges(&self) -> Result<(), OutOfRange> {
        match self {
            FetchFamily::Fetch(f) | FetchFamily::Filtered(f, _) => f.check_ranges(),
        }
    }
}
