//! The records of transactions in `%TXN%`:
//!
//! - queue 1 holds **half messages**: a sent message's content bytes from the frame with its
//!   destination (`lockgate.topic`, `lockgate.queue`), its transaction (`lockgate.txn`) and,
//!   if it waits after the commit, its delivery time (`lockgate.deliver_at`) spliced in. These
//!   are exactly a delay record's properties plus the transaction's, so a committed message
//!   with a delivery time goes to the delay topic as it is;
//! - queue 0 holds **operations**: one small record per begin, commit, rollback, park and
//!   check-back, its kind as the tag, with where a restart must start reading
//!   (`lockgate.txn.low_op`, `lockgate.txn.low_half`).

use std::collections::BTreeMap;

use crate::broker::splice::{Decimal, Spliced};
use crate::protocol::PropertySplice;
use crate::record::{Message, MessageId, RawMessage};
use crate::storage::timers::{PROP_DELIVER_AT, PROP_QUEUE, PROP_TOPIC};

/// The internal topic of transactions: queue 0 operations, queue 1 half messages.
pub use crate::internal::TXN_TOPIC;
/// Where parked transactions' messages are copied for operators to read.
pub use crate::internal::UNRESOLVED_TOPIC;
pub const OPS_QUEUE: u32 = 0;
pub const HALVES_QUEUE: u32 = 1;

/// The transaction id, on half messages, operations and committed copies.
pub const PROP_TXN: &str = "lockgate.txn";
pub const PROP_GROUP: &str = "lockgate.txn.group";
pub const PROP_TIMEOUT: &str = "lockgate.txn.timeout";
pub const PROP_CHECKS: &str = "lockgate.txn.checks";
pub const PROP_LOW_OP: &str = "lockgate.txn.low_op";
pub const PROP_LOW_HALF: &str = "lockgate.txn.low_half";

/// Operation kinds (the tag of an operation record).
pub const OP_BEGIN: &str = "begin";
pub const OP_COMMIT: &str = "commit";
pub const OP_ROLLBACK: &str = "rollback";
pub const OP_PARK: &str = "park";
pub const OP_CHECK: &str = "check";

/// One sent message as its half message.
pub struct HalfRecord<'a> {
    pub raw: &'a RawMessage<'a>,
    pub id: MessageId,
    pub splice: PropertySplice,
    pub topic: &'a str,
    pub queue: u32,
    pub txn: &'a str,
    pub deliver_at: Option<i64>,
}

crate::broker::splice::spliced_record_source!(HalfRecord<'_>);

impl Spliced for HalfRecord<'_> {
    fn raw(&self) -> &RawMessage<'_> {
        self.raw
    }
    fn stored_id(&self) -> MessageId {
        self.id
    }
    fn splice(&self) -> PropertySplice {
        self.splice
    }
    const MAX_ADDED: usize = 4;
    /// The spliced properties, in name order.
    fn with_added<T>(&self, f: impl FnOnce(&[(&str, &[u8])]) -> T) -> T {
        let queue = Decimal::new(i64::from(self.queue));
        let at = self.deliver_at.map(Decimal::new);
        let mut props: Vec<(&str, &[u8])> = Vec::with_capacity(4);
        if let Some(at) = &at {
            props.push((PROP_DELIVER_AT, at.bytes()));
        }
        props.push((PROP_QUEUE, queue.bytes()));
        props.push((PROP_TOPIC, self.topic.as_bytes()));
        props.push((PROP_TXN, self.txn.as_bytes()));
        f(&props)
    }
}

/// An operation record of `kind` for transaction `txn`, with `extra` properties and the low
/// marks.
pub fn operation(
    kind: &str,
    txn: &str,
    extra: &[(&str, String)],
    low: (u64, u64),
    now: i64,
) -> Message {
    let mut properties = BTreeMap::new();
    properties.insert(PROP_TXN.to_string(), txn.to_string());
    properties.insert(PROP_LOW_OP.to_string(), low.0.to_string());
    properties.insert(PROP_LOW_HALF.to_string(), low.1.to_string());
    for (k, v) in extra {
        properties.insert((*k).to_string(), v.clone());
    }
    Message {
        id: MessageId::generate(now),
        tag: kind.to_string(),
        keys: Vec::new(),
        properties,
        body: Vec::new(),
        born_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProduceView;
    use crate::record::RecordSource;
    use crate::record::{ContentView, message_of};

    #[test]
    fn a_half_message_is_the_message_with_its_destination_and_transaction() {
        for deliver_at in [None, Some(1_700_000_000_000)] {
            let mut m = Message {
                tag: "t".into(),
                keys: vec!["k".into()],
                body: b"hello".to_vec(),
                ..Message::default()
            };
            m.properties.insert("a".into(), "1".into());
            m.properties.insert("z".into(), "2".into());
            let body = crate::broker::splice::produce_body_of(&m);
            let view = ProduceView::decode(&body).unwrap();
            let v = &view.messages[0];
            let half = HalfRecord {
                raw: &v.message,
                id: v.message.id,
                splice: v.splice,
                topic: "orders",
                queue: 3,
                txn: "tx-1",
                deliver_at,
            };
            let mut content = Vec::new();
            half.encode_content(&mut content);
            assert_eq!(content.len(), half.content_len());
            let back = message_of(half.id, half.born_at(), &content).unwrap();
            let mut want = m.clone();
            want.properties.insert(PROP_QUEUE.into(), "3".into());
            want.properties.insert(PROP_TOPIC.into(), "orders".into());
            want.properties.insert(PROP_TXN.into(), "tx-1".into());
            if let Some(at) = deliver_at {
                want.properties
                    .insert(PROP_DELIVER_AT.into(), at.to_string());
            }
            assert_eq!(back, want);
            let names: Vec<&str> = ContentView::parse(&content)
                .unwrap()
                .props
                .iter()
                .map(|(n, _)| *n)
                .collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "names stay sorted");
        }
    }
}
