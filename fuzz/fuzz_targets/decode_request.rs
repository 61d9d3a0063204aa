//! Any bytes as a request body of any kind: decoding fails cleanly or yields a request that
//! encodes back to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lockgate::protocol::Request;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let kind = u16::from_le_bytes([data[0], data[1]]);
    if let Ok(req) = Request::decode(kind, &data[2..]) {
        let mut again = Vec::new();
        req.encode_body(&mut again);
        assert_eq!(Request::decode(kind, &again).unwrap(), req);
    }
});
