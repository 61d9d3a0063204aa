//! Using the storage engine directly: create a topic, append a batch, read it back, look a
//! message up by key. Run with `cargo run --example storage_quickstart`.

use lockgate::clock::system_now_ms as now_ms;
use lockgate::storage::{
    Durability, Message, MessageId, Store, StoreOptions, TopicName, TopicSpec,
};

fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("lockgate-example-{}", std::process::id()));
    let store = Store::open(StoreOptions::new(&dir))?;
    store.create_topic(&TopicSpec {
        name: TopicName::new("orders")?,
        queues: 4,
        durability: Durability::Sync,
        retention: None,
    })?;

    let batch: Vec<Message> = (0..3)
        .map(|i| Message {
            id: MessageId::generate(now_ms()),
            tag: "created".into(),
            keys: vec![format!("order-{i}")],
            properties: [("region".to_string(), "eu".to_string())].into(),
            body: format!("order {i} created").into_bytes(),
            born_at: now_ms(),
        })
        .collect();
    let appended = store.append("orders", 2, &batch)?;
    println!(
        "stored {} messages at offsets {}..",
        appended.count, appended.first_offset
    );

    for m in store
        .read("orders", 2, appended.first_offset, 10, 1 << 20)?
        .messages
    {
        println!(
            "{}/{} @{}: {}",
            m.topic,
            m.queue,
            m.offset,
            String::from_utf8_lossy(&m.message.body)
        );
    }
    let found = store.find_by_key("orders", "order-1", 10)?;
    println!(
        "by key order-1: {} message(s), offset {}",
        found.len(),
        found[0].offset
    );

    store.close()?;
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
