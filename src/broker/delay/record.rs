//! Delay records, without decoding messages: a produced message's content bytes from the
//! frame with the broker's three delay properties (`lockgate.deliver_at`, `lockgate.queue`,
//! `lockgate.topic`) spliced in where their names sort. A due record's delivered copy drops
//! its destination and carries the timer ref that settles it ([`fired_copy`]). Enqueueing and
//! firing copy bytes, as a plain produce does.

use crate::broker::splice::{CopyOf, Decimal, Spliced};
use crate::protocol::PropertySplice;
use crate::record::{ContentView, MessageId, RawMessage};
use crate::storage::timers::{PROP_DELIVER_AT, PROP_QUEUE, PROP_REF, PROP_TOPIC};

/// What a delivered copy leaves out of its delay record.
const FIRED_DROPS: [&str; 3] = [PROP_TOPIC, PROP_QUEUE, PROP_REF];

/// The delivered copy of a delay record: its content without the destination properties
/// (`lockgate.topic`, `lockgate.queue`), with the timer ref that settles it (`lockgate.timer`),
/// everything else as stored.
pub fn fired_copy<'a>(
    id: MessageId,
    born_at: i64,
    content: ContentView<'a>,
    timer_ref: &'a str,
) -> CopyOf<'a> {
    CopyOf {
        id,
        born_at,
        content,
        drop: &FIRED_DROPS,
        insert: Some((PROP_REF, timer_ref)),
    }
}

/// The delay record of one produced message.
pub struct DelayRecord<'a> {
    pub raw: &'a RawMessage<'a>,
    /// The message's id (the producer's, or one the server made up).
    pub id: MessageId,
    pub splice: PropertySplice,
    pub deliver_at: i64,
    pub topic: &'a str,
    pub queue: u32,
}

crate::broker::splice::spliced_record_source!(DelayRecord<'_>);

impl Spliced for DelayRecord<'_> {
    fn raw(&self) -> &RawMessage<'_> {
        self.raw
    }
    fn stored_id(&self) -> MessageId {
        self.id
    }
    fn splice(&self) -> PropertySplice {
        self.splice
    }
    const MAX_ADDED: usize = 3;
    /// The three properties, in name order.
    fn with_added<T>(&self, f: impl FnOnce(&[(&str, &[u8])]) -> T) -> T {
        let at = Decimal::new(self.deliver_at);
        let queue = Decimal::new(i64::from(self.queue));
        f(&[
            (PROP_DELIVER_AT, at.bytes()),
            (PROP_QUEUE, queue.bytes()),
            (PROP_TOPIC, self.topic.as_bytes()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;
    use crate::protocol::ProduceView;
    use crate::record::RecordSource;
    use crate::record::{Message, message_of};

    /// Property names in the order the content stores them.
    fn names_in(content: &[u8]) -> Vec<String> {
        let mut r = Reader::new(content);
        r.str16_ref("tag").unwrap();
        for _ in 0..r.u16("keys").unwrap() {
            r.str16_ref("key").unwrap();
        }
        let mut names = Vec::new();
        for _ in 0..r.u16("properties").unwrap() {
            names.push(r.str16_ref("name").unwrap().to_string());
            let n = r.u32("value").unwrap() as usize;
            r.str_ref(n, "value").unwrap();
        }
        names
    }

    #[test]
    fn the_record_is_the_message_with_its_delay_properties_in_name_order() {
        for props in [
            vec![],
            vec![("a", "1")],
            vec![("zz", "2")],
            vec![("a", "1"), ("m", "x"), ("z", "")],
        ] {
            let mut m = Message {
                tag: "t".into(),
                keys: vec!["k1".into(), "k2".into()],
                body: b"hello".to_vec(),
                ..Message::default()
            };
            for (k, v) in &props {
                m.properties.insert((*k).into(), (*v).into());
            }
            let body = crate::broker::splice::produce_body_of(&m);
            let view = ProduceView::decode(&body).unwrap();
            let v = &view.messages[0];
            let rec = DelayRecord {
                raw: &v.message,
                id: v.message.id,
                splice: v.splice,
                deliver_at: -1_700_000_000_123,
                topic: "orders",
                queue: 7,
            };
            let mut content = Vec::new();
            rec.encode_content(&mut content);
            assert_eq!(content.len(), rec.content_len());
            let back = message_of(rec.id, rec.born_at(), &content).unwrap();
            let mut want = m.clone();
            want.properties
                .insert(PROP_DELIVER_AT.into(), "-1700000000123".into());
            want.properties.insert(PROP_QUEUE.into(), "7".into());
            want.properties.insert(PROP_TOPIC.into(), "orders".into());
            assert_eq!(back, want, "with {props:?}");
            // Names stay sorted in the bytes, as every reader of a record expects.
            let names = names_in(&content);
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
            assert_eq!(names.len(), props.len() + 3);
        }
    }
}
