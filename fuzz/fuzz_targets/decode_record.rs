//! Any bytes as a log record: decoding fails cleanly (no panic, no huge allocation).
#![no_main]
use libfuzzer_sys::fuzz_target;
use lockgate::record;

fuzz_target!(|data: &[u8]| {
    let _ = record::decode(data);
});
