//! Any bytes as a response body: decoding fails cleanly or round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lockgate::protocol::{Kind, Response};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let Some(kind) = Kind::from_u16(u16::from_le_bytes([data[0], data[1]])) else { return };
    if let Ok(resp) = Response::decode(kind, &data[2..]) {
        let mut again = Vec::new();
        resp.encode_body(&mut again);
        assert_eq!(Response::decode(kind, &again).unwrap(), resp);
    }
});
