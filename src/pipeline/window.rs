//! A topic's dedup window: the keys of the messages stored in the last `window` (at most
//! `max_keys` of them), each with where its message's summary is.
//!
//! - **Sliding by time, from the first store**: a key is remembered for `window` after the
//!   message that introduced it was stored; a duplicate does not extend it. With more than
//!   `max_keys` keys, the oldest are forgotten first.
//! - **Keys are hashed**: SipHash-1-3, 128 bits, keyed with the data directory's secret, over
//!   the topic and the key; a producer cannot aim a collision, and a random one is a 2⁻¹²⁸ event.
//! - **Memory**: [`DedupWindow::bytes`] counts what the window holds (measured in the tests at
//!   10 M keys).
//! - **Durable**: the window is rebuilt at start from the summaries of the last `window`
//!   (`summary`); nothing here touches the disk.

use std::collections::{HashMap, VecDeque};
use std::hash::Hasher;

use siphasher::sip128::{Hasher128, SipHasher13};

/// Where a key's original is: its message's index in the summary at `summary` (an offset of
/// queue 0 of `%PIPE%<topic>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Original {
    pub summary: u64,
    pub index: u32,
}

/// Hashes dedup keys with a secret.
#[derive(Clone)]
pub struct KeyHasher {
    secret: [u8; 16],
}

impl KeyHasher {
    pub fn new(secret: [u8; 16]) -> KeyHasher {
        KeyHasher { secret }
    }

    pub fn hash(&self, topic: &str, key: &[u8]) -> u128 {
        let mut h = SipHasher13::new_with_key(&self.secret);
        h.write(&(topic.len() as u32).to_le_bytes());
        h.write(topic.as_bytes());
        h.write(key);
        h.finish128().as_u128()
    }
}

/// A remembered key: where its original is and when it was stored.
#[derive(Debug, Clone, Copy)]
struct Entry {
    summary: u64,
    stored_at: i64,
    index: u32,
}

/// Keys as two words: 8-byte alignment keeps a table slot at 40 bytes (a `u128` would pad it
/// to 48).
type Key = (u64, u64);

fn split(key: u128) -> Key {
    ((key >> 64) as u64, key as u64)
}

/// Keys are already keyed hashes: the table uses their bits as they are.
#[derive(Default, Clone, Copy)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(5) ^ n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 ^= n as u64;
    }
}

/// A map keyed by already-hashed keys.
pub type PreHashedMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<PreHashed>>;

pub struct DedupWindow {
    window_ms: i64,
    max_keys: usize,
    keys: PreHashedMap<Key, Entry>,
    /// Keys in the order they were stored (so, by store time).
    order: VecDeque<Key>,
    /// Keys of batches being appended right now (checked, not yet stored): another batch
    /// carrying one waits until they are settled.
    pending: PreHashedMap<Key, ()>,
}

impl DedupWindow {
    pub fn new(window_ms: u64, max_keys: u64) -> DedupWindow {
        DedupWindow {
            window_ms: window_ms.min(i64::MAX as u64) as i64,
            max_keys: max_keys as usize,
            keys: PreHashedMap::default(),
            order: VecDeque::new(),
            pending: PreHashedMap::default(),
        }
    }

    /// The original of `key`, if it is remembered and its window has not passed at `now`
    /// (swept or not).
    pub fn get(&self, key: u128, now_ms: i64) -> Option<Original> {
        let e = self.keys.get(&split(key))?;
        (e.stored_at >= now_ms.saturating_sub(self.window_ms)).then_some(Original {
            summary: e.summary,
            index: e.index,
        })
    }

    /// Whether `key` belongs to a batch being appended.
    pub fn is_pending(&self, key: u128) -> bool {
        self.pending.contains_key(&split(key))
    }

    /// Marks keys as being appended (see [`DedupWindow::is_pending`]).
    pub fn reserve(&mut self, keys: impl IntoIterator<Item = u128>) {
        self.pending
            .extend(keys.into_iter().map(|k| (split(k), ())));
    }

    /// The append of reserved keys is over (stored or not).
    pub fn release(&mut self, keys: impl IntoIterator<Item = u128>) {
        for k in keys {
            self.pending.remove(&split(k));
        }
    }

    /// Remembers keys stored at `at_ms` (not present before), then forgets what is past the
    /// window or beyond the count.
    pub fn insert(&mut self, at_ms: i64, keys: impl IntoIterator<Item = (u128, Original)>) {
        for (key, original) in keys {
            let key = split(key);
            if let std::collections::hash_map::Entry::Vacant(v) = self.keys.entry(key) {
                v.insert(Entry {
                    summary: original.summary,
                    stored_at: at_ms,
                    index: original.index,
                });
                self.order.push_back(key);
            }
        }
        self.sweep(at_ms);
    }

    /// Forgets keys stored before `now - window`, and the oldest beyond `max_keys`.
    pub fn sweep(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.window_ms);
        while let Some(&key) = self.order.front() {
            let at = self.keys.get(&key).map_or(i64::MIN, |e| e.stored_at);
            if at >= cutoff && self.order.len() <= self.max_keys {
                break;
            }
            self.order.pop_front();
            self.keys.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes the window's tables hold, from their capacities (hashbrown: a slot and a control
    /// byte per bucket, at most 7/8 full; the order queue: a slot per entry).
    pub fn bytes(&self) -> usize {
        let map_slot = std::mem::size_of::<(Key, Entry)>() + 1;
        let buckets = (self.keys.capacity() * 8 / 7).next_power_of_two();
        buckets * map_slot + self.order.capacity() * std::mem::size_of::<Key>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(summary: u64) -> Original {
        Original { summary, index: 0 }
    }

    #[test]
    fn keys_slide_out_by_time_and_by_count() {
        let mut w = DedupWindow::new(1000, 3);
        w.insert(0, [(1, at(10)), (2, at(10))]);
        assert_eq!(w.get(1, 500), Some(at(10)));
        // A key seen again keeps its first store time (a duplicate does not extend it).
        w.insert(600, [(1, at(99)), (3, at(11))]);
        assert_eq!(w.get(1, 999), Some(at(10)));
        assert_eq!(w.get(1, 1001), None, "past its window, swept or not");
        w.sweep(1001);
        assert_eq!((w.get(1, 1001), w.get(2, 1001), w.len()), (None, None, 1));
        assert_eq!(w.get(3, 1001), Some(at(11)));
        // More than max_keys: the oldest go first.
        w.insert(1100, [(4, at(12)), (5, at(12)), (6, at(12))]);
        assert_eq!(w.len(), 3);
        assert_eq!(w.get(3, 1100), None);
        assert_eq!(w.get(6, 1100), Some(at(12)));
    }

    #[test]
    fn hashes_depend_on_the_secret_topic_and_key() {
        let a = KeyHasher::new([1; 16]);
        let b = KeyHasher::new([2; 16]);
        assert_eq!(a.hash("t", b"k"), a.hash("t", b"k"));
        assert_ne!(a.hash("t", b"k"), b.hash("t", b"k"));
        assert_ne!(a.hash("t", b"k"), a.hash("u", b"k"));
        // The topic's length is hashed: ("ab", "c") is not ("a", "bc").
        assert_ne!(a.hash("ab", b"c"), a.hash("a", b"bc"));
    }

    /// Bytes per remembered key: 1 M keys here; the docs' figure at 10 M comes from
    /// `LOCKGATE_WINDOW_KEYS=10000000 cargo test --release --lib window_memory -- --nocapture`.
    #[test]
    fn window_memory_per_key() {
        let n: u64 = std::env::var("LOCKGATE_WINDOW_KEYS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let mut w = DedupWindow::new(u64::MAX / 2, n);
        let h = KeyHasher::new([7; 16]);
        let mut batch = Vec::with_capacity(1000);
        for i in 0..n {
            batch.push((h.hash("t", &i.to_le_bytes()), at(i / 1000)));
            if batch.len() == 1000 {
                w.insert(1, batch.drain(..));
            }
        }
        assert_eq!(w.len(), n as usize);
        let per_key = w.bytes() as f64 / n as f64;
        eprintln!("dedup window: {per_key:.1} bytes per key at {n} keys");
        assert!((48.0..=110.0).contains(&per_key), "{per_key}");
    }
}
