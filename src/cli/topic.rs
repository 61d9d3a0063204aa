//! `lockgate topic create|list|describe|alter|delete`.

use serde_json::json;

use super::output::{emit, topic_json};
use super::{CliError, ConnectArgs};
use crate::config::Config;
use crate::storage::Durability;

#[derive(Debug, clap::Subcommand)]
pub enum TopicCommand {
    /// Create a topic; prints it as JSON.
    Create {
        name: String,
        #[arg(long, default_value_t = crate::config::DEFAULT_QUEUES)]
        queues: u32,
        /// sync or async [default: the server's storage.durability]
        #[arg(long, value_parser = parse_durability)]
        durability: Option<Durability>,
    },
    /// List topics, one JSON object per line.
    List,
    /// A topic and its queues' offset ranges, as JSON.
    Describe { name: String },
    /// Grow a topic's queues online; prints it as JSON, with what that does to sharding keys.
    Alter {
        name: String,
        /// The new number of queues (more than it has; queues are never removed)
        #[arg(long)]
        queues: u32,
    },
    /// Delete a topic.
    Delete { name: String },
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "sync" => Ok(Durability::Sync),
        "async" => Ok(Durability::Async),
        _ => Err(format!("{s:?} is not a durability (sync or async)")),
    }
}

pub async fn run(
    cmd: TopicCommand,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let result = match cmd {
        TopicCommand::Create {
            name,
            queues,
            durability,
        } => client
            .create_topic(&name, queues, durability, 0)
            .await
            .map(|t| emit(topic_json(&t))),
        TopicCommand::List => client.list_topics().await.map(|ts| {
            for t in ts {
                emit(topic_json(&t));
            }
        }),
        TopicCommand::Describe { name } => client.describe_topic(&name).await.map(|(t, queues)| {
            let mut v = topic_json(&t);
            v["queue_offsets"] = queues
                .iter()
                .enumerate()
                .map(|(q, r)| json!({"queue": q, "earliest": r.earliest, "next": r.next}))
                .collect();
            emit(v);
        }),
        TopicCommand::Alter { name, queues } => match client.describe_topic(&name).await {
            Ok((before, _)) => client.alter_topic(&name, queues).await.map(|t| {
                let mut v = topic_json(&t);
                v["queues_before"] = json!(before.queues);
                if t.queues != before.queues {
                    v["sharding_keys"] = json!(format!(
                        "a sharding key's queue is its hash modulo the queue count: from now on most keys map to another queue than before (messages already stored stay where they are, so a key's order holds across the change only for consumers that finish the old queue first); set queues = {} for this topic in the config too",
                        t.queues
                    ));
                }
                emit(v);
            }),
            Err(e) => Err(e),
        },
        TopicCommand::Delete { name } => client
            .delete_topic(&name)
            .await
            .map(|()| emit(json!({"deleted": name}))),
    };
    client.close().await;
    Ok(result?)
}
