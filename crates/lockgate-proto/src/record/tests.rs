//! The record codec's round-trip, limit and corruption tests.

use super::*;

fn sample() -> Message {
    Message {
        id: MessageId::generate(1_700_000_000_000),
        tag: "TagA".into(),
        keys: vec!["order-1".into(), "user-7".into()],
        properties: [("a".to_string(), "6".to_string()), ("b".into(), "x".into())].into(),
        body: b"hello world".to_vec(),
        born_at: 1_700_000_000_000,
    }
}

fn sealed(m: &Message) -> Vec<u8> {
    let mut buf = Vec::new();
    encode(&mut buf, 3, 2, m).unwrap();
    seal(&mut buf, 41, 1_700_000_000_123);
    buf
}

#[test]
fn round_trip() {
    let m = sample();
    let buf = sealed(&m);
    assert_eq!(buf.len(), encoded_len(&m));
    let r = decode(&buf).unwrap();
    assert_eq!(
        (r.topic_id, r.queue, r.queue_offset, r.stored_at),
        (3, 2, 41, 1_700_000_000_123)
    );
    assert_eq!(r.message, m);
}

#[test]
fn producer_stamp_round_trips_and_is_covered_by_the_checksum() {
    let m = sample();
    let mut buf = Vec::new();
    encode_record(&mut buf, &m, 3, 2, Some((77, 9))).unwrap();
    seal(&mut buf, 41, 5);
    assert_eq!(buf.len(), encoded_len(&m) + STAMP_LEN);
    let r = decode(&buf).unwrap();
    assert_eq!((r.producer, r.message.clone()), (Some((77, 9)), m.clone()));
    assert_eq!(decode(&sealed(&m)).unwrap().producer, None);
    buf[62] ^= 1; // inside the stamp
    assert!(decode(&buf).is_err());
}

#[test]
fn every_truncated_prefix_fails_cleanly() {
    let buf = sealed(&sample());
    for cut in 0..buf.len() {
        assert!(
            decode(&buf[..cut]).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
}

#[test]
fn every_flipped_byte_is_detected() {
    let buf = sealed(&sample());
    for i in 0..buf.len() {
        let mut bad = buf.clone();
        bad[i] ^= 0x40;
        assert!(decode(&bad).is_err(), "flip at byte {i} went unnoticed");
    }
}

#[test]
fn golden_bytes() {
    let m = Message {
        id: MessageId([0xab; 16]),
        tag: "t".into(),
        keys: vec!["k".into()],
        properties: [("p".to_string(), "v".to_string())].into(),
        body: b"B".to_vec(),
        born_at: 2,
    };
    let mut buf = Vec::new();
    encode(&mut buf, 1, 0, &m).unwrap();
    seal(&mut buf, 5, 7);
    let mut expected = Vec::new();
    expected.extend_from_slice(&(buf.len() as u32).to_le_bytes());
    expected.extend_from_slice(&crc32c::crc32c(&buf[8..]).to_le_bytes());
    expected.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[
        5, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expected.extend_from_slice(&[0xab; 16]);
    expected.extend_from_slice(&[
        1, 0, b't', 1, 0, 1, 0, b'k', 1, 0, 1, 0, b'p', 1, 0, 0, 0, b'v', 1, 0, 0, 0, b'B',
    ]);
    assert_eq!(buf, expected);
    assert_eq!(buf.len(), 83);
}

#[test]
fn oversized_fields_are_refused() {
    let m = Message {
        tag: "x".repeat(70_000),
        ..Message::default()
    };
    let err = encode(&mut Vec::new(), 1, 0, &m).unwrap_err();
    assert_eq!(err.to_string(), "tag is 70000 bytes; the limit is 65535");
}

#[test]
fn ids_are_unique_and_parse_back() {
    let a = MessageId::generate(5);
    let b = MessageId::generate(5);
    assert_ne!(a, b);
    assert_eq!(a.to_string().parse::<MessageId>().unwrap(), a);
    assert!("zz".parse::<MessageId>().is_err());
}

#[test]
fn tag_hash_reserves_zero_for_untagged() {
    assert_eq!(tag_hash(""), 0);
    assert_ne!(tag_hash("TagA"), 0);
    assert_ne!(tag_hash("TagA"), tag_hash("TagB"));
}
