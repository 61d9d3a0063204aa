//! The flat batch a filter decides (`docs/plugins.md`): a `u32` count, then per message a
//! `u32` entry length, its fixed fields (queue, offset, store time, born time, id, attempt) and
//! its content exactly as the commit log stores it. Built straight from stored records, so a
//! batch costs one copy of the bytes the log already holds.

use crate::record::{self, Message, RecordView};

/// Fixed bytes of an entry before the content.
pub const FIXED_LEN: usize = 4 + 8 + 8 + 8 + 16 + 4;

/// One entry of a batch, read back.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub queue: u32,
    pub offset: u64,
    pub stored_at: i64,
    pub born_at: i64,
    pub id: &'a [u8; 16],
    pub attempt: u32,
    /// In the log's content layout.
    pub content: &'a [u8],
}

/// The fixed fields of an entry.
struct Fixed<'a> {
    queue: u32,
    offset: u64,
    stored_at: i64,
    born_at: i64,
    id: &'a [u8; 16],
    attempt: u32,
}

#[derive(Debug, Clone, Default)]
pub struct BatchBuilder {
    bytes: Vec<u8>,
    count: u32,
}

impl BatchBuilder {
    pub fn with_capacity(bytes: usize) -> BatchBuilder {
        let mut b = BatchBuilder {
            bytes: Vec::with_capacity(bytes + 4),
            count: 0,
        };
        b.bytes.extend_from_slice(&0u32.to_le_bytes());
        b
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn head(&mut self, content_len: usize, f: Fixed<'_>) {
        if self.bytes.is_empty() {
            self.bytes.extend_from_slice(&0u32.to_le_bytes());
        }
        let b = &mut self.bytes;
        b.extend_from_slice(&((FIXED_LEN + content_len) as u32).to_le_bytes());
        b.extend_from_slice(&f.queue.to_le_bytes());
        b.extend_from_slice(&f.offset.to_le_bytes());
        b.extend_from_slice(&f.stored_at.to_le_bytes());
        b.extend_from_slice(&f.born_at.to_le_bytes());
        b.extend_from_slice(f.id);
        b.extend_from_slice(&f.attempt.to_le_bytes());
        self.count += 1;
    }

    /// Adds a stored record as it is.
    pub fn push_record(&mut self, view: &RecordView<'_>, attempt: u32) {
        self.head(
            view.content.len(),
            Fixed {
                queue: view.queue,
                offset: view.queue_offset,
                stored_at: view.stored_at,
                born_at: view.born_at,
                id: &view.id.0,
                attempt,
            },
        );
        self.bytes.extend_from_slice(view.content);
    }

    /// Adds a message about to be stored (an ingress stage's batch), with the id its producer
    /// gave it (zero: none).
    pub fn push_source(
        &mut self,
        m: &impl record::RecordSource,
        id: record::MessageId,
        queue: u32,
        offset: u64,
        stored_at: i64,
        attempt: u32,
    ) {
        self.head(
            m.content_len(),
            Fixed {
                queue,
                offset,
                stored_at,
                born_at: m.born_at(),
                id: &id.0,
                attempt,
            },
        );
        m.encode_content(&mut self.bytes);
    }

    /// Adds a message that is not stored (`lockgate filter test`, tests).
    pub fn push_message(
        &mut self,
        m: &Message,
        queue: u32,
        offset: u64,
        stored_at: i64,
        attempt: u32,
    ) {
        self.head(
            record::content_len(m),
            Fixed {
                queue,
                offset,
                stored_at,
                born_at: m.born_at,
                id: &m.id.0,
                attempt,
            },
        );
        record::encode_content(&mut self.bytes, m);
    }

    /// The batch bytes (count filled in).
    pub fn finish(&mut self) -> &[u8] {
        if self.bytes.is_empty() {
            self.bytes.extend_from_slice(&0u32.to_le_bytes());
        }
        self.bytes[..4].copy_from_slice(&self.count.to_le_bytes());
        &self.bytes
    }

    /// The entries added so far, in order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        let b = &self.bytes;
        let mut at = 4;
        (0..self.count).map(move |_| {
            let len = u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes")) as usize;
            let e = &b[at + 4..at + 4 + len];
            at += 4 + len;
            let u64_at = |i: usize| u64::from_le_bytes(e[i..i + 8].try_into().expect("8 bytes"));
            Entry {
                queue: u32::from_le_bytes(e[0..4].try_into().expect("4 bytes")),
                offset: u64_at(4),
                stored_at: u64_at(12) as i64,
                born_at: u64_at(20) as i64,
                id: e[28..44].try_into().expect("16 bytes"),
                attempt: u32::from_le_bytes(e[44..48].try_into().expect("4 bytes")),
                content: &e[FIXED_LEN..],
            }
        })
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}
