//! Compact Produce answers (`docs/protocol.md`, 16 Produce): a request whose header carries
//! [`ASK_COMPACT`] is answered with runs — queue, first offset, count, first id — instead of
//! one 28-byte ack per message. A run is a stretch of the batch, in request order, stored in
//! one queue at consecutive offsets with ids that follow each other
//! ([`MessageId::successor`]); the server gives the ids of a batch as one such block, so a
//! batch bound for one queue is one run of 32 bytes. Ids a producer chose itself break runs
//! where they do not follow each other, so the answer is always exact, and decodes into the
//! same per-message acks.

use super::response::Ack;
use crate::codec::{ReadError, Reader};
use crate::record::MessageId;

/// Request header flag (Produce): answer with runs.
pub const ASK_COMPACT: u16 = 1;
/// Produce answer flag: the acks are runs.
pub const COMPACT_FLAG: u8 = 8;
/// The most messages runs may add up to: the largest batch a server takes
/// (`server.max_batch_messages` at most); more is refused before anything is allocated.
pub const MAX_ACKED: usize = 1_000_000;
/// Bytes of one run: queue, first offset, count, first id.
const RUN_LEN: usize = 4 + 8 + 4 + 16;

/// Writes `acks` as a run count and the runs.
pub(super) fn encode_runs(buf: &mut Vec<u8>, acks: &[Ack]) {
    let count_at = buf.len();
    buf.extend_from_slice(&0u32.to_le_bytes());
    let mut runs = 0u32;
    let mut at = 0;
    while at < acks.len() {
        let first = acks[at];
        let mut len = 1;
        while let Some(next) = acks.get(at + len) {
            let prev = acks[at + len - 1];
            let follows = next.queue == first.queue
                && Some(next.offset) == prev.offset.checked_add(1)
                && Some(next.id) == prev.id.successor();
            if !follows || len == u32::MAX as usize {
                break;
            }
            len += 1;
        }
        buf.extend_from_slice(&first.queue.to_le_bytes());
        buf.extend_from_slice(&first.offset.to_le_bytes());
        buf.extend_from_slice(&(len as u32).to_le_bytes());
        buf.extend_from_slice(&first.id.0);
        runs += 1;
        at += len;
    }
    buf[count_at..count_at + 4].copy_from_slice(&runs.to_le_bytes());
}

/// Reads runs back into one ack per message.
pub(super) fn decode_runs(r: &mut Reader<'_>) -> Result<Vec<Ack>, ReadError> {
    let runs = r.u32("run count")? as usize;
    if runs > r.remaining() / RUN_LEN {
        return Err(ReadError::Invalid {
            field: "run count",
            reason: format!("{runs} runs cannot fit in {} bytes", r.remaining()),
        });
    }
    let mut acks = Vec::new();
    for _ in 0..runs {
        let queue = r.u32("run queue")?;
        let offset = r.u64("run first offset")?;
        let count = r.u32("run count of messages")? as usize;
        let id = MessageId(r.array16("run first id")?);
        if count == 0 || acks.len() + count > MAX_ACKED {
            return Err(ReadError::Invalid {
                field: "run count of messages",
                reason: format!(
                    "{count} (runs must hold 1 or more, and {MAX_ACKED} at most in all)"
                ),
            });
        }
        for n in 0..count as u64 {
            let (Some(offset), Some(id)) = (offset.checked_add(n), id.nth(n)) else {
                return Err(ReadError::Invalid {
                    field: "run",
                    reason: "its offsets or ids run past their range".into(),
                });
            };
            acks.push(Ack { queue, offset, id });
        }
    }
    Ok(acks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(counter: u8) -> MessageId {
        let mut id = [7u8; 16];
        id[10..].copy_from_slice(&[0, 0, 0, 0, 0, counter]);
        MessageId(id)
    }

    fn ack(queue: u32, offset: u64, counter: u8) -> Ack {
        Ack {
            queue,
            offset,
            id: id(counter),
        }
    }

    #[test]
    fn one_queue_and_one_block_is_one_run_of_golden_bytes() {
        let acks: Vec<Ack> = (0..3).map(|n| ack(2, 10 + n as u64, n)).collect();
        let mut buf = Vec::new();
        encode_runs(&mut buf, &acks);
        let mut want = vec![1, 0, 0, 0, 2, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0];
        want.extend_from_slice(&id(0).0);
        assert_eq!(buf, want);
        let mut r = Reader::new(&buf);
        assert_eq!(decode_runs(&mut r).unwrap(), acks);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn runs_break_at_a_new_queue_a_gap_in_offsets_or_ids_and_come_back_whole() {
        let acks = vec![
            ack(0, 5, 1),
            ack(0, 6, 2),
            ack(1, 0, 3),  // another queue
            ack(1, 2, 4),  // an offset gap
            ack(1, 3, 9),  // an id gap (a producer's own id)
            ack(1, 4, 10), // follows the last
        ];
        let mut buf = Vec::new();
        encode_runs(&mut buf, &acks);
        assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), 4);
        assert_eq!(buf.len(), 4 + 4 * RUN_LEN);
        assert_eq!(decode_runs(&mut Reader::new(&buf)).unwrap(), acks);
        // An empty batch is no run.
        let mut empty = Vec::new();
        encode_runs(&mut empty, &[]);
        assert_eq!(decode_runs(&mut Reader::new(&empty)).unwrap(), vec![]);
    }

    #[test]
    fn truncated_empty_oversized_and_wrapping_runs_are_refused() {
        let acks: Vec<Ack> = (0..2).map(|n| ack(0, n as u64, n)).collect();
        let mut buf = Vec::new();
        encode_runs(&mut buf, &acks);
        for cut in 0..buf.len() {
            assert!(
                decode_runs(&mut Reader::new(&buf[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let run = |count: u32, offset: u64, id: MessageId| {
            let mut b = 1u32.to_le_bytes().to_vec();
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&id.0);
            b
        };
        let e = decode_runs(&mut Reader::new(&run(0, 0, id(0)))).unwrap_err();
        assert!(e.to_string().contains("1 or more"), "{e}");
        let e = decode_runs(&mut Reader::new(&run(u32::MAX, 0, id(0)))).unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
        let e = decode_runs(&mut Reader::new(&run(2, u64::MAX, id(0)))).unwrap_err();
        assert!(e.to_string().contains("past their range"), "{e}");
        let last = MessageId([0xff; 16]);
        let e = decode_runs(&mut Reader::new(&run(2, 0, last))).unwrap_err();
        assert!(e.to_string().contains("past their range"), "{e}");
    }
}
