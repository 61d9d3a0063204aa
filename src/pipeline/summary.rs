//! The summary record of a routed batch, stored in the source topic's internal topic
//! `%PIPE%<topic>` (one queue) as the last record of the batch's atomic append: what became of
//! every message, and the dedup keys it introduced.
//!
//! It is what makes a routed batch answerable again and its dedup window durable:
//! - an idempotent resend is recognized by its stamp on this record, and answered from it;
//! - a duplicate's acknowledgement names its original's destinations, read from the original's
//!   summary;
//! - at start, the summaries of the last dedup window rebuild the window.
//!
//! Body layout (little-endian), version 1:
//!
//! ```text
//! u8  version = 1
//! u32 P parts          P × { u16 n, topic; u32 queue; u64 first offset; u32 count }
//! u32 N messages       N × { [16] id; u8 outcome; outcome's fields }
//!     outcome 0 stored:     u16 d, d × { u16 part; u32 index in the part }
//!     outcome 1 duplicate:  u64 summary offset of the original (u64::MAX: this summary);
//!                           u32 the original's message index there
//!     outcome 2 dropped
//! u32 K keys           K × { [16] key hash; u32 message index }
//! ```
//!
//! The parts' first offsets are known only under the log's write lock: they are written by
//! [`Summary::fill`] then, at positions [`Summary::encode`] noted.

use crate::codec::{ReadError, Reader};
use crate::record::MessageId;
use crate::storage::Appended;

const VERSION: u8 = 1;
/// `Duplicate::summary` of a message that repeats one of the same batch.
pub const THIS_SUMMARY: u64 = u64::MAX;

/// One destination queue of a batch, with the offset its first record got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub topic: String,
    pub queue: u32,
    pub first_offset: u64,
    pub count: u32,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored at these (part, index in part) places.
    Stored(Vec<(u16, u32)>),
    /// A repeat of the message `index` of the summary at `summary` (or of this batch).
    Duplicate { summary: u64, index: u32 },
    /// Routed nowhere.
    Dropped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub parts: Vec<Part>,
    pub messages: Vec<(MessageId, Outcome)>,
    /// Dedup key hashes the batch introduced, with the message carrying each.
    pub keys: Vec<(u128, u32)>,
}

impl Summary {
    /// The body, and where each part's first offset goes in it.
    pub fn encode(&self) -> (Vec<u8>, Vec<usize>) {
        let mut b = Vec::with_capacity(64 + self.messages.len() * 28 + self.keys.len() * 20);
        b.push(VERSION);
        b.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        let mut at = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            b.extend_from_slice(&(p.topic.len() as u16).to_le_bytes());
            b.extend_from_slice(p.topic.as_bytes());
            b.extend_from_slice(&p.queue.to_le_bytes());
            at.push(b.len());
            b.extend_from_slice(&p.first_offset.to_le_bytes());
            b.extend_from_slice(&p.count.to_le_bytes());
        }
        b.extend_from_slice(&(self.messages.len() as u32).to_le_bytes());
        for (id, outcome) in &self.messages {
            b.extend_from_slice(&id.0);
            match outcome {
                Outcome::Stored(places) => {
                    b.push(0);
                    b.extend_from_slice(&(places.len() as u16).to_le_bytes());
                    for (part, index) in places {
                        b.extend_from_slice(&part.to_le_bytes());
                        b.extend_from_slice(&index.to_le_bytes());
                    }
                }
                Outcome::Duplicate { summary, index } => {
                    b.push(1);
                    b.extend_from_slice(&summary.to_le_bytes());
                    b.extend_from_slice(&index.to_le_bytes());
                }
                Outcome::Dropped => b.push(2),
            }
        }
        b.extend_from_slice(&(self.keys.len() as u32).to_le_bytes());
        for (hash, index) in &self.keys {
            b.extend_from_slice(&hash.to_le_bytes());
            b.extend_from_slice(&index.to_le_bytes());
        }
        (b, at)
    }

    /// Writes the parts' first offsets into an encoded summary `record` (whose body, `body_len`
    /// bytes, is its tail), at the positions [`Summary::encode`] returned.
    pub fn fill(record: &mut [u8], body_len: usize, at: &[usize], parts: &[Appended]) {
        let body = record.len() - body_len;
        for (pos, part) in at.iter().zip(parts) {
            record[body + pos..body + pos + 8].copy_from_slice(&part.first_offset.to_le_bytes());
        }
    }

    pub fn decode(body: &[u8]) -> Result<Summary, ReadError> {
        let mut r = Reader::new(body);
        let version = r.u8("summary version")?;
        if version != VERSION {
            return Err(ReadError::Invalid {
                field: "summary version",
                reason: format!("{version} (this broker reads {VERSION})"),
            });
        }
        let parts = (0..r.u32("part count")?)
            .map(|_| {
                Ok(Part {
                    topic: r.str16("part topic")?,
                    queue: r.u32("part queue")?,
                    first_offset: r.u64("part first offset")?,
                    count: r.u32("part count")?,
                })
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        let messages = (0..r.u32("message count")?)
            .map(|_| {
                let id = MessageId(r.array16("message id")?);
                let outcome = match r.u8("outcome")? {
                    0 => Outcome::Stored(
                        (0..r.u16("place count")?)
                            .map(|_| Ok((r.u16("place part")?, r.u32("place index")?)))
                            .collect::<Result<_, ReadError>>()?,
                    ),
                    1 => Outcome::Duplicate {
                        summary: r.u64("original summary")?,
                        index: r.u32("original index")?,
                    },
                    2 => Outcome::Dropped,
                    other => {
                        return Err(ReadError::Invalid {
                            field: "outcome",
                            reason: format!("{other} is not 0, 1 or 2"),
                        });
                    }
                };
                Ok((id, outcome))
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        let keys = (0..r.u32("key count")?)
            .map(|_| {
                let hash = u128::from_le_bytes(r.array16("key hash")?);
                Ok((hash, r.u32("key message")?))
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        Ok(Summary {
            parts,
            messages,
            keys,
        })
    }

    /// Where message `index` was stored: (topic, queue, offset) of each place.
    pub fn places(&self, index: usize) -> Vec<(String, u32, u64)> {
        match self.messages.get(index) {
            Some((_, Outcome::Stored(places))) => places
                .iter()
                .filter_map(|&(part, i)| {
                    let p = self.parts.get(part as usize)?;
                    Some((p.topic.clone(), p.queue, p.first_offset + u64::from(i)))
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Summary {
        Summary {
            parts: vec![
                Part {
                    topic: "eu".into(),
                    queue: 1,
                    first_offset: 0,
                    count: 2,
                },
                Part {
                    topic: "audit".into(),
                    queue: 0,
                    first_offset: 0,
                    count: 1,
                },
            ],
            messages: vec![
                (MessageId([1; 16]), Outcome::Stored(vec![(0, 0), (1, 0)])),
                (
                    MessageId([2; 16]),
                    Outcome::Duplicate {
                        summary: THIS_SUMMARY,
                        index: 0,
                    },
                ),
                (MessageId([3; 16]), Outcome::Dropped),
                (MessageId([4; 16]), Outcome::Stored(vec![(0, 1)])),
            ],
            keys: vec![(7 << 100, 0), (9, 3)],
        }
    }

    #[test]
    fn round_trips_and_fills_offsets_in_place() {
        let s = sample();
        let (body, at) = s.encode();
        assert_eq!(Summary::decode(&body).unwrap(), s);
        let mut record = vec![0xAA; 10];
        record.extend_from_slice(&body);
        let appended = [
            Appended {
                queue: 1,
                first_offset: 40,
                count: 2,
                stored_at: 0,
            },
            Appended {
                queue: 0,
                first_offset: 7,
                count: 1,
                stored_at: 0,
            },
        ];
        Summary::fill(&mut record, body.len(), &at, &appended);
        let filled = Summary::decode(&record[10..]).unwrap();
        assert_eq!(
            filled.places(0),
            [("eu".to_string(), 1, 40), ("audit".to_string(), 0, 7)]
        );
        assert_eq!(filled.places(3), [("eu".to_string(), 1, 41)]);
        assert!(filled.places(2).is_empty());
        assert_eq!(&record[..10], &[0xAA; 10]);
    }

    #[test]
    fn a_cut_or_unknown_summary_is_an_error_not_a_panic() {
        let (body, _) = sample().encode();
        for end in 0..body.len() {
            assert!(Summary::decode(&body[..end]).is_err(), "cut at {end}");
        }
        let mut v2 = body.clone();
        v2[0] = 2;
        assert!(Summary::decode(&v2).is_err());
    }
}
