//! Records made from other records' bytes, without decoding messages:
//!
//! - [`splice_content`]: a produced message's content from the frame, with the broker's own
//!   properties (all named `lockgate.…`) spliced in where their names sort (delay records,
//!   transaction half messages);
//! - [`CopyOf`]: a stored record's content with some of the broker's properties dropped and
//!   at most one put in (a fired delay message, a committed transaction message).
//!
//! Property names stay sorted in the bytes, as every reader of a record expects.

use crate::protocol::PropertySplice;
use crate::record::{ContentView, EncodeError, MessageId, RawMessage, RecordSource};

/// An integer's decimal digits, without an allocation.
#[derive(Clone, Copy)]
pub(crate) struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(v: i64) -> Decimal {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        let negative = v < 0;
        let mut n = v.unsigned_abs();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if negative {
            start -= 1;
            buf[start] = b'-';
        }
        Decimal { buf, start }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

pub(crate) fn property_len(name: &str, value: &[u8]) -> usize {
    2 + name.len() + 4 + value.len()
}

pub(crate) fn put_property(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value);
}

/// The content length of `content` with `added` spliced in.
pub(crate) fn spliced_len(content: &[u8], added: &[(&str, &[u8])]) -> usize {
    content.len() + added.iter().map(|(n, v)| property_len(n, v)).sum::<usize>()
}

/// Checks that `added` more properties still fit the count's u16.
pub(crate) fn check_splice(splice: PropertySplice, added: usize) -> Result<(), EncodeError> {
    let limit = usize::from(u16::MAX);
    let count = usize::from(splice.count) + added;
    if count > limit {
        return Err(EncodeError::TooMany {
            field: "properties",
            count,
            limit,
        });
    }
    Ok(())
}

/// Writes `content` with the properties `added` (sorted by name, all `lockgate.…`) spliced in.
pub(crate) fn splice_content(
    buf: &mut Vec<u8>,
    content: &[u8],
    splice: PropertySplice,
    added: &[(&str, &[u8])],
) {
    buf.extend_from_slice(&content[..splice.count_at]);
    buf.extend_from_slice(&(splice.count + added.len() as u16).to_le_bytes());
    buf.extend_from_slice(&content[splice.count_at + 2..splice.insert_at]);
    for (name, value) in added {
        put_property(buf, name, value);
    }
    buf.extend_from_slice(&content[splice.insert_at..]);
}

/// A produced message stored with some of the broker's own properties spliced into its
/// content (a delay record, a half message): every such type is a [`RecordSource`].
pub(crate) trait Spliced {
    /// The message as the frame carries it.
    fn raw(&self) -> &RawMessage<'_>;
    /// The id it is stored with (the producer's, or one the server made up).
    fn stored_id(&self) -> MessageId;
    fn splice(&self) -> PropertySplice;
    /// At most how many properties [`Spliced::with_added`] adds.
    const MAX_ADDED: usize;
    /// Calls `f` with the added properties, sorted by name.
    fn with_added<T>(&self, f: impl FnOnce(&[(&str, &[u8])]) -> T) -> T;
}

/// Makes a [`Spliced`] type a [`RecordSource`]: one impl per type, since the trait is the record
/// format's (`lockgate-proto`) and a blanket impl over `Spliced` would be a foreign one.
macro_rules! spliced_record_source {
    ($t:ty) => {
        impl $crate::record::RecordSource for $t {
            fn id(&self) -> $crate::record::MessageId {
                $crate::broker::splice::Spliced::stored_id(self)
            }
            fn born_at(&self) -> i64 {
                $crate::broker::splice::Spliced::raw(self).born_at
            }
            fn tag(&self) -> &str {
                $crate::broker::splice::Spliced::raw(self).tag
            }
            fn keys(&self) -> impl Iterator<Item = &str> {
                $crate::broker::splice::Spliced::raw(self)
                    .keys
                    .iter()
                    .copied()
            }
            fn content_len(&self) -> usize {
                $crate::broker::splice::spliced_content_len(self)
            }
            fn check(&self) -> Result<(), $crate::record::EncodeError> {
                $crate::broker::splice::check_splice(
                    $crate::broker::splice::Spliced::splice(self),
                    <$t as $crate::broker::splice::Spliced>::MAX_ADDED,
                )
            }
            fn encode_content(&self, buf: &mut Vec<u8>) {
                $crate::broker::splice::encode_spliced(self, buf)
            }
        }
    };
}
pub(crate) use spliced_record_source;

/// The content length of a spliced record (its content with the added properties).
pub(crate) fn spliced_content_len<S: Spliced>(s: &S) -> usize {
    s.with_added(|p| spliced_len(s.raw().content, p))
}

/// Writes a spliced record's content.
pub(crate) fn encode_spliced<S: Spliced>(s: &S, buf: &mut Vec<u8>) {
    s.with_added(|p| splice_content(buf, s.raw().content, s.splice(), p));
}

/// A copy of a stored record's content: the properties named in `drop` left out, `insert` put
/// in (if given), everything else as stored.
pub(crate) struct CopyOf<'a> {
    pub id: MessageId,
    pub born_at: i64,
    pub content: ContentView<'a>,
    pub drop: &'a [&'a str],
    pub insert: Option<(&'a str, &'a str)>,
}

impl CopyOf<'_> {
    fn kept(&self) -> impl Iterator<Item = (&str, &str)> {
        let inserted = self.insert.map(|(n, _)| n);
        self.content
            .props
            .iter()
            .copied()
            .filter(move |(n, _)| !self.drop.contains(n) && Some(*n) != inserted)
    }

    /// The properties of the copy, in name order.
    fn each_property(&self, mut f: impl FnMut(&str, &[u8])) {
        let mut pending = self.insert;
        for (name, value) in self.kept() {
            if let Some((n, v)) = pending
                && name > n
            {
                f(n, v.as_bytes());
                pending = None;
            }
            f(name, value.as_bytes());
        }
        if let Some((n, v)) = pending {
            f(n, v.as_bytes());
        }
    }
}

impl RecordSource for CopyOf<'_> {
    fn id(&self) -> MessageId {
        self.id
    }
    fn born_at(&self) -> i64 {
        self.born_at
    }
    fn tag(&self) -> &str {
        self.content.tag
    }
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.content.keys.iter().copied()
    }
    fn content_len(&self) -> usize {
        let c = &self.content;
        let mut props = 0;
        self.each_property(|n, v| props += property_len(n, v));
        c.props_at + 2 + props + (c.content.len() - c.body_at)
    }
    fn check(&self) -> Result<(), EncodeError> {
        let count = self.kept().count() + usize::from(self.insert.is_some());
        if count > usize::from(u16::MAX) {
            return Err(EncodeError::TooMany {
                field: "properties",
                count,
                limit: usize::from(u16::MAX),
            });
        }
        Ok(())
    }
    fn encode_content(&self, buf: &mut Vec<u8>) {
        let c = &self.content;
        buf.extend_from_slice(&c.content[..c.props_at]);
        let count = self.kept().count() + usize::from(self.insert.is_some());
        buf.extend_from_slice(&(count as u16).to_le_bytes());
        self.each_property(|n, v| put_property(buf, n, v));
        buf.extend_from_slice(&c.content[c.body_at..]);
    }
}

/// The Produce frame body of `m` alone, for tests that splice its view.
#[cfg(test)]
pub(crate) fn produce_body_of(m: &crate::record::Message) -> Vec<u8> {
    use crate::protocol::{ProduceMessage, ProduceRequest, Request, Route};
    let req = ProduceRequest {
        topic: "orders".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![ProduceMessage {
            route: Route::Any,
            message: m.clone(),
        }],
    };
    let mut body = Vec::new();
    Request::Produce(req).encode_body(&mut body);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Message, message_of};

    /// Property names in the order the content stores them.
    pub(crate) fn names_in(content: &[u8]) -> Vec<String> {
        ContentView::parse(content)
            .unwrap()
            .props
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    #[test]
    fn a_copy_drops_and_inserts_properties_in_name_order() {
        for props in [
            vec![],
            vec![("a", "1"), ("zz", "2")],
            vec![("lockgate.retry.topic", "t")],
        ] {
            let mut m = Message {
                tag: "t".into(),
                keys: vec!["k".into()],
                body: b"body".to_vec(),
                ..Message::default()
            };
            for (k, v) in &props {
                m.properties.insert((*k).into(), (*v).into());
            }
            let mut stored = m.clone();
            stored
                .properties
                .insert("lockgate.deliver_at".into(), "5".into());
            stored
                .properties
                .insert("lockgate.queue".into(), "2".into());
            stored
                .properties
                .insert("lockgate.topic".into(), "orders".into());
            stored
                .properties
                .insert("lockgate.timer".into(), "old".into());
            let mut content = Vec::new();
            crate::record::encode_content(&mut content, &stored);
            let drop = ["lockgate.topic", "lockgate.queue"];
            for insert in [None, Some(("lockgate.timer", "1/2/3")), Some(("a", "new"))] {
                let copy = CopyOf {
                    id: m.id,
                    born_at: 9,
                    content: ContentView::parse(&content).unwrap(),
                    drop: &drop,
                    insert,
                };
                let mut out = Vec::new();
                copy.encode_content(&mut out);
                assert_eq!(out.len(), copy.content_len());
                let back = message_of(m.id, 9, &out).unwrap();
                let mut want = stored.clone();
                want.born_at = 9;
                want.properties.remove("lockgate.topic");
                want.properties.remove("lockgate.queue");
                if let Some((n, v)) = insert {
                    want.properties.insert(n.into(), v.into());
                }
                assert_eq!(back, want, "with {props:?}, inserting {insert:?}");
                let names = names_in(&out);
                let mut sorted = names.clone();
                sorted.sort();
                assert_eq!(names, sorted);
            }
        }
        assert_eq!(
            Decimal::new(i64::MIN).bytes(),
            i64::MIN.to_string().as_bytes()
        );
        assert_eq!(Decimal::new(0).bytes(), b"0");
    }
}
