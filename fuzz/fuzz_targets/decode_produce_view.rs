//! Any bytes as a produce body, through the borrowed decoder the server uses: it fails cleanly,
//! or agrees with the owned decoder and its content slices decode as message content.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lockgate::codec::Reader;
use lockgate::protocol::{Kind, ProduceView, Request};
use lockgate::record::decode_content;

fuzz_target!(|data: &[u8]| {
    let view = ProduceView::decode(data);
    let owned = Request::decode(Kind::Produce as u16, data);
    assert_eq!(view.is_ok(), owned.is_ok());
    if let (Ok(view), Ok(Request::Produce(owned))) = (view, owned) {
        assert_eq!(view.messages.len(), owned.messages.len());
        for (v, o) in view.messages.iter().zip(&owned.messages) {
            let mut r = Reader::new(v.message.content);
            let (tag, keys, properties, body) = decode_content(&mut r).unwrap();
            assert_eq!((&tag, &keys, &properties, &body), (&o.message.tag, &o.message.keys, &o.message.properties, &o.message.body));
        }
    }
});
