//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod process;
pub mod server;
pub mod tmpfs;

use std::path::Path;
use std::sync::Arc;

use lockgate::storage::{
    Durability, Message, MessageId, Store, StoreOptions, TopicName, TopicSpec,
};

/// Every message a queue holds, from its earliest offset on, as stored (offset, store time).
pub fn read_stored(
    store: &lockgate::storage::StoreCore,
    topic: &str,
    queue: u32,
) -> Vec<lockgate::storage::StoredMessage> {
    let mut out = Vec::new();
    let mut at = store.queue_bounds(topic, queue).unwrap().0;
    loop {
        let batch = store.read(topic, queue, at, 1000, 16 << 20).unwrap();
        if batch.messages.is_empty() {
            return out;
        }
        at = batch.next_offset;
        out.extend(batch.messages);
    }
}

/// The messages of [`read_stored`].
pub fn read_messages(
    store: &lockgate::storage::StoreCore,
    topic: &str,
    queue: u32,
) -> Vec<Message> {
    read_stored(store, topic, queue)
        .into_iter()
        .map(|m| m.message)
        .collect()
}

/// The transport the Rust clients of these tests use: QUIC, or TLS over TCP when
/// `LOCKGATE_TEST_TRANSPORT=tcp` (`scripts/test` runs the protocol tests both ways).
pub fn transport() -> lockgate::client::Transport {
    match std::env::var("LOCKGATE_TEST_TRANSPORT").as_deref() {
        Ok("tcp") => lockgate::client::Transport::Tcp,
        Ok("quic") | Err(_) => lockgate::client::Transport::Quic,
        Ok(other) => panic!("LOCKGATE_TEST_TRANSPORT={other:?}: quic or tcp"),
    }
}

/// [`transport`] as the CLI's `--transport` (and `LOCKGATE_TRANSPORT`) spells it.
pub fn transport_flag() -> &'static str {
    match transport() {
        lockgate::client::Transport::Quic => "quic",
        lockgate::client::Transport::Tcp => "tcp",
    }
}

/// Options for a small store: 64 KiB segments so that tests roll segments quickly.
pub fn small_opts(dir: &Path) -> StoreOptions {
    let mut o = StoreOptions::new(dir);
    o.segment_size = 64 << 10;
    o.max_message_size = 16 << 10;
    o.retention = None;
    o.retention_size = None;
    o.index_capacity = 64;
    o
}

pub fn spec(name: &str, queues: u32, durability: Durability) -> TopicSpec {
    TopicSpec {
        name: TopicName::new(name).unwrap(),
        queues,
        durability,
        retention: None,
    }
}

/// A message whose content is a function of `n`, so a reader can check it byte for byte.
pub fn msg(n: u64) -> Message {
    let len = 16 + (n * 7919 % 600) as usize;
    let mut body = format!("message {n} ").into_bytes();
    body.resize(len, b'a' + (n % 26) as u8);
    Message {
        id: MessageId((u128::from(n) | 0xfeed << 64).to_be_bytes()),
        tag: if n.is_multiple_of(2) {
            "even".into()
        } else {
            "odd".into()
        },
        keys: vec![format!("key-{}", n % 10), format!("unique-{n}")],
        properties: [("n".to_string(), n.to_string())].into(),
        body,
        born_at: 1_700_000_000_000 + n as i64,
    }
}

pub fn open(opts: &StoreOptions) -> Arc<Store> {
    Store::open(opts.clone()).unwrap()
}

/// A compact, comparable summary of messages: (n, body length, body checksum, id) each.
pub fn fp(msgs: &[Message]) -> Vec<(String, usize, u32, MessageId)> {
    msgs.iter()
        .map(|m| {
            let n = m.properties.get("n").cloned().unwrap_or_default();
            (n, m.body.len(), crc32c::crc32c(&m.body), m.id)
        })
        .collect()
}

/// Asserts that `m` is exactly `msg(n)`.
#[track_caller]
pub fn assert_is_msg(m: &Message, n: u64) {
    assert_eq!(fp(std::slice::from_ref(m)), fp(&[msg(n)]));
}
