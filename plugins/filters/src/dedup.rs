//! `builtin:dedup`'s logic: a message's dedup key from one field (`key` option): `id` (the
//! message id a producer set; an id the broker assigns is never a repeat), `key` (the first
//! key), `property:NAME`, `body` (a 128-bit FNV-1a hash of the body) or `tag`. A message
//! without the field has no key: it is never a duplicate.

use crate::batch::Message;
use crate::settings::{KeyField, Settings};

#[derive(Debug, Clone)]
pub struct DedupKey(KeyField);

impl DedupKey {
    pub const OPTIONS: [&str; 1] = ["key"];

    pub fn new(config: &[(String, String)]) -> Result<DedupKey, String> {
        let s = Settings::new(config, &Self::OPTIONS)?;
        Ok(DedupKey(match s.get("key") {
            Some(k) => KeyField::parse(k, true).map_err(|e| format!("key: {e}"))?,
            None => KeyField::Id,
        }))
    }

    /// The message's key, written into `out`; false when it has none.
    pub fn key(&self, m: &Message<'_>, out: &mut Vec<u8>) -> bool {
        out.clear();
        match &self.0 {
            KeyField::Id if m.id == [0; 16] => return false,
            KeyField::Id => out.extend_from_slice(&m.id),
            KeyField::FirstKey => match m.keys().next() {
                Some(k) => out.extend_from_slice(k.as_bytes()),
                None => return false,
            },
            KeyField::Property(p) => match m.property_bytes(p) {
                Some(v) => out.extend_from_slice(v),
                None => return false,
            },
            KeyField::Tag if m.tag.is_empty() => return false,
            KeyField::Tag => out.extend_from_slice(m.tag.as_bytes()),
            KeyField::Body => out.extend_from_slice(&fnv1a128(m.body).to_le_bytes()),
        }
        true
    }
}

/// FNV-1a, 128 bits.
pub fn fnv1a128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for &b in bytes {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}
