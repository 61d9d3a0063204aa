//! The flat batch layout a filter receives (all integers little-endian):
//!
//! ```text
//! u32 count
//! count × {
//!   u32 length of the rest of this entry
//!   u32 queue, u64 offset, i64 store time, i64 born time, [16] message id, u32 attempt
//!   content, exactly as the commit log stores it:
//!     u16 n + n bytes tag (UTF-8, empty = none)
//!     u16 key count, then per key u16 n + n bytes
//!     u16 property count, then per property u16 n + name, u32 n + value
//!     u32 n + body
//! }
//! ```
//!
//! Pure Rust with no dependencies: the SDK re-exports it for guests, and the broker's
//! benchmark reads batches natively with it.

use std::fmt;

/// Bytes before the content in an entry.
pub const FIXED_LEN: usize = 4 + 8 + 8 + 8 + 16 + 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A batch, read lazily message by message.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    rest: &'a [u8],
    left: u32,
}

impl<'a> Batch<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Batch<'a>, LayoutError> {
        let count = read_u32(bytes, 0).ok_or_else(|| LayoutError("no message count".into()))?;
        Ok(Batch {
            rest: &bytes[4..],
            left: count,
        })
    }

    pub fn len(&self) -> usize {
        self.left as usize
    }

    pub fn is_empty(&self) -> bool {
        self.left == 0
    }
}

impl<'a> Iterator for Batch<'a> {
    type Item = Result<Message<'a>, LayoutError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let Some(len) = read_u32(self.rest, 0) else {
            self.rest = &[];
            return Some(Err(LayoutError("an entry is cut short".into())));
        };
        let end = 4 + len as usize;
        if self.rest.len() < end {
            self.rest = &[];
            return Some(Err(LayoutError("an entry runs past the batch".into())));
        }
        let entry = &self.rest[4..end];
        self.rest = &self.rest[end..];
        Some(Message::parse(entry))
    }
}

/// One message of a batch; strings borrow from the batch.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub queue: u32,
    pub offset: u64,
    pub stored_at: i64,
    pub born_at: i64,
    pub id: [u8; 16],
    /// Deliveries to this subscription, this one included (1 outside groups).
    pub attempt: u32,
    pub tag: &'a str,
    keys: &'a [u8],
    key_count: u16,
    props: &'a [u8],
    prop_count: u16,
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Reads the fixed fields and the tag, and finds where keys, properties and body lie
    /// (lengths only: names and values are checked as UTF-8 when asked for).
    fn parse(entry: &'a [u8]) -> Result<Message<'a>, LayoutError> {
        let short = || LayoutError("a message is cut short".into());
        if entry.len() < FIXED_LEN {
            return Err(short());
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&entry[28..44]);
        let mut at = FIXED_LEN;
        let tag = str16(entry, &mut at).ok_or_else(short)?;
        let key_count = read_u16(entry, at).ok_or_else(short)?;
        at += 2;
        let keys_at = at;
        for _ in 0..key_count {
            at = skip(entry, at, 2).ok_or_else(short)?;
        }
        let keys = &entry[keys_at..at];
        let prop_count = read_u16(entry, at).ok_or_else(short)?;
        at += 2;
        let props_at = at;
        for _ in 0..prop_count {
            at = skip(entry, at, 2).ok_or_else(short)?;
            at = skip(entry, at, 4).ok_or_else(short)?;
        }
        let props = &entry[props_at..at];
        let n = read_u32(entry, at).ok_or_else(short)? as usize;
        let body = entry.get(at + 4..at + 4 + n).ok_or_else(short)?;
        Ok(Message {
            queue: read_u32(entry, 0).ok_or_else(short)?,
            offset: read_u64(entry, 4).ok_or_else(short)?,
            stored_at: read_u64(entry, 12).ok_or_else(short)? as i64,
            born_at: read_u64(entry, 20).ok_or_else(short)? as i64,
            id,
            attempt: read_u32(entry, 44).ok_or_else(short)?,
            tag,
            keys,
            key_count,
            props,
            prop_count,
            body,
        })
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        let mut at = 0;
        (0..self.key_count).filter_map(move |_| str16(self.keys, &mut at))
    }

    /// The properties, in stored (name) order.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        let mut at = 0;
        (0..self.prop_count).filter_map(move |_| {
            let name = str16(self.props, &mut at)?;
            let n = read_u32(self.props, at)? as usize;
            let value = std::str::from_utf8(self.props.get(at + 4..at + 4 + n)?).ok()?;
            at += 4 + n;
            Some((name, value))
        })
    }

    /// A property's value: names are compared as bytes, only the value found is checked.
    pub fn property(&self, name: &str) -> Option<&'a str> {
        std::str::from_utf8(self.property_bytes(name)?).ok()
    }

    /// A property's value as bytes, unchecked.
    pub fn property_bytes(&self, name: &str) -> Option<&'a [u8]> {
        let (props, want) = (self.props, name.as_bytes());
        let mut at = 0;
        for _ in 0..self.prop_count {
            let n = read_u16(props, at)? as usize;
            let key = props.get(at + 2..at + 2 + n)?;
            at += 2 + n;
            let v = read_u32(props, at)? as usize;
            if key == want {
                return props.get(at + 4..at + 4 + v);
            }
            at += 4 + v;
        }
        None
    }
}

/// The position after a length-prefixed field (`prefix` bytes of length) at `at`.
fn skip(b: &[u8], at: usize, prefix: usize) -> Option<usize> {
    let n = if prefix == 2 {
        read_u16(b, at)? as usize
    } else {
        read_u32(b, at)? as usize
    };
    at.checked_add(prefix + n).filter(|&end| end <= b.len())
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn str16<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a str> {
    let n = read_u16(b, *at)? as usize;
    let s = std::str::from_utf8(b.get(*at + 2..*at + 2 + n)?).ok()?;
    *at += 2 + n;
    Some(s)
}

/// A batch message as the filter expressions see it ([`crate::MessageFields`]); the keys are
/// joined only if an expression asks for them.
pub struct Fields<'m, 'a> {
    m: &'m Message<'a>,
    keys: std::cell::OnceCell<String>,
}

impl<'m, 'a> Fields<'m, 'a> {
    pub fn new(m: &'m Message<'a>) -> Fields<'m, 'a> {
        Fields {
            m,
            keys: std::cell::OnceCell::new(),
        }
    }
}

impl crate::MessageFields for Fields<'_, '_> {
    fn tag(&self) -> &str {
        self.m.tag
    }
    fn keys(&self) -> &str {
        self.keys
            .get_or_init(|| self.m.keys().collect::<Vec<_>>().join(" "))
    }
    fn property(&self, name: &str) -> Option<&str> {
        self.m.property(name)
    }
    fn property_bytes(&self, name: &str) -> Option<&[u8]> {
        self.m.property_bytes(name)
    }
}
