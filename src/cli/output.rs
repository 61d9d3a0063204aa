//! JSON lines the CLI prints.

use std::io::Write;

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::protocol::{Ack, Delivered, TopicInfo};

/// Prints one line to stdout. When the reader has gone (`lockgate consume | head`), exits
/// quietly, as command-line tools do, instead of panicking.
pub fn emit(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `{"id","topic","queue","deliver_at"}` for an acknowledged delay message.
pub fn print_scheduled(topic: &str, ack: &crate::protocol::ScheduledAck) {
    emit(
        json!({"id": ack.id.to_string(), "topic": topic, "queue": ack.queue, "deliver_at": ack.deliver_at}),
    );
}

/// `{"id","topic","queue","offset"}` for an acknowledged message.
pub fn print_ack(topic: &str, ack: &Ack) {
    emit(
        json!({"id": ack.id.to_string(), "topic": topic, "queue": ack.queue, "offset": ack.offset}),
    );
}

/// A message produced to a topic with an ingress pipeline: `{"id","topic","outcome"
/// ("stored", "duplicate", "dropped"),"destinations":[{"topic","queue","offset"}]}`; a
/// duplicate's destinations are its original's.
pub fn print_routed(topic: &str, ack: &crate::protocol::RoutedAck) {
    let outcome = match ack.outcome {
        crate::protocol::RouteOutcome::Stored => "stored",
        crate::protocol::RouteOutcome::Duplicate => "duplicate",
        crate::protocol::RouteOutcome::Dropped => "dropped",
    };
    let destinations: Vec<_> = ack
        .destinations
        .iter()
        .map(|d| json!({"topic": d.topic, "queue": d.queue, "offset": d.offset}))
        .collect();
    emit(
        json!({"id": ack.id.to_string(), "topic": topic, "outcome": outcome,
        "destinations": destinations}),
    );
}

/// How `consume` prints a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyStyle {
    /// The body alone, one line per message, instead of the JSON object.
    pub only: bool,
    /// The body in base64 (`body_b64` in the JSON object), text or not.
    pub base64: bool,
}

/// Prints a message as `style` asks: the JSON object of [`print_message`], or its body alone
/// (as it is, or in base64) on a line of its own.
pub fn print_message_as(topic: &str, d: &Delivered, attempt: Option<u32>, style: BodyStyle) {
    if !style.only {
        return print_json(topic, d, attempt, style.base64);
    }
    if style.base64 {
        return emit(base64::engine::general_purpose::STANDARD.encode(&d.message.body));
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(&d.message.body)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `{"topic","queue","offset","id","tag","keys","properties","body"|"body_b64","born_at","stored_at"}`
/// (plus `"attempt"` for group deliveries, `"deliver_at"` for delay messages). Times are ms
/// since the Unix epoch. A body that is not UTF-8 is `body_b64`.
pub fn print_message(topic: &str, d: &Delivered, attempt: Option<u32>) {
    print_json(topic, d, attempt, false)
}

fn print_json(topic: &str, d: &Delivered, attempt: Option<u32>, base64: bool) {
    let m = &d.message;
    let mut o = Map::new();
    o.insert("topic".into(), json!(topic));
    o.insert("queue".into(), json!(d.queue));
    o.insert("offset".into(), json!(d.offset));
    o.insert("id".into(), json!(m.id.to_string()));
    o.insert("tag".into(), json!(m.tag));
    o.insert("keys".into(), json!(m.keys));
    o.insert("properties".into(), json!(m.properties));
    match std::str::from_utf8(&m.body) {
        Ok(text) if !base64 => o.insert("body".into(), json!(text)),
        _ => o.insert(
            "body_b64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(&m.body)),
        ),
    };
    o.insert("born_at".into(), json!(m.born_at));
    o.insert("stored_at".into(), json!(d.stored_at));
    // A delivered delay message: the time it was asked to be delivered at.
    if let Some(at) = m
        .properties
        .get(crate::storage::timers::PROP_DELIVER_AT)
        .and_then(|t| t.parse::<i64>().ok())
    {
        o.insert("deliver_at".into(), json!(at));
    }
    if let Some(a) = attempt {
        o.insert("attempt".into(), json!(a));
    }
    emit(Value::Object(o));
}

pub fn topic_json(t: &TopicInfo) -> Value {
    json!({
        "name": t.name,
        "id": t.id,
        "queues": t.queues,
        "durability": t.durability.to_string(),
        "retention_ms": if t.retention_ms == 0 { Value::Null } else { json!(t.retention_ms) },
        "created_at": t.created_at,
    })
}
