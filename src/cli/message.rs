//! `lockgate message get` (by id or key; a delay message not delivered yet shows its state and
//! due time) and `lockgate message cancel` (a pending delay message).

use serde_json::json;

use super::{CliError, ConnectArgs, output};
use crate::config::Config;
use crate::protocol::{DelayState, Status};
use crate::storage::MessageId;

#[derive(Debug, clap::Subcommand)]
pub enum MessageCommand {
    /// Find a message by id or by key; prints one JSON object per message. A delay message not
    /// delivered yet prints its state and due time instead.
    Get {
        /// The topic [required with --key; with --id, without it any topic's delay messages match]
        #[arg(long, required_unless_present = "id")]
        topic: Option<String>,
        /// Message id (32 hex digits)
        #[arg(long, conflicts_with = "key", required_unless_present = "key")]
        id: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// Cancel a pending delay message; prints one JSON object (exit 1 if it was delivered).
    Cancel {
        #[arg(long)]
        topic: String,
        /// Message id (32 hex digits), as `produce` printed it
        #[arg(long)]
        id: String,
    },
}

/// `message get` and `message cancel`.
pub async fn message(
    cmd: MessageCommand,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let result = async {
        match cmd {
            MessageCommand::Get { topic, id, key } => get(&client, topic, id, key).await,
            MessageCommand::Cancel { topic, id } => {
                let id: MessageId = id.parse().map_err(CliError)?;
                let (deliver_at, already) = client.cancel_delayed(&topic, id).await?;
                output::emit(json!({
                    "id": id.to_string(),
                    "topic": topic,
                    "state": "cancelled",
                    "already_cancelled": already,
                    "deliver_at": deliver_at,
                }));
                Ok(())
            }
        }
    }
    .await;
    client.close().await;
    result
}

async fn get(
    client: &crate::client::Client,
    topic: Option<String>,
    id: Option<String>,
    key: Option<String>,
) -> Result<(), CliError> {
    let Some(id) = id else {
        let (Some(topic), Some(key)) = (topic, key) else {
            return Err(CliError("give --id, or --topic and --key".into()));
        };
        let found = client
            .find_by_key(&topic, &key, crate::protocol::limits::MAX_LOOKUP)
            .await?;
        if found.is_empty() {
            return Err(CliError(format!("no such message in topic {topic:?}")));
        }
        for d in &found {
            output::print_message(&topic, d, None);
        }
        return Ok(());
    };
    let id: MessageId = id.parse().map_err(CliError)?;
    if let Some(topic) = &topic
        && let Some(d) = client.find_by_id(topic, id).await?
    {
        output::print_message(topic, &d, None);
        return Ok(());
    }
    match client.delay_state(topic.as_deref().unwrap_or(""), id).await {
        Ok(s) => {
            print_state(id, &s);
            Ok(())
        }
        Err(e) if e.status() == Some(Status::UnknownMessage) => Err(CliError(match topic {
            Some(t) => format!("no such message in topic {t:?}"),
            None => format!("no delay message {id} (give --topic to look among stored messages)"),
        })),
        Err(e) => Err(e.into()),
    }
}

/// `{"id","topic","queue","state","deliver_at","born_at"[,"offset"]}`; times in ms since the
/// Unix epoch.
fn print_state(id: MessageId, s: &DelayState) {
    let mut o = json!({
        "id": id.to_string(),
        "topic": s.topic,
        "queue": s.queue,
        "state": s.phase.name(),
        "deliver_at": s.deliver_at,
        "born_at": s.born_at,
    });
    if s.phase == crate::protocol::DelayPhase::Delivered {
        o["offset"] = json!(s.offset);
    }
    output::emit(o);
}
