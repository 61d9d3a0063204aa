//! `lockgate delay stats`: pending delay messages per topic and the next due time.

use serde_json::json;

use super::{CliError, ConnectArgs, output};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum DelayCommand {
    /// Prints `{"pending","next_due","topics":[{"topic","pending"}]}` (next_due: ms since the
    /// Unix epoch, or null with nothing pending).
    Stats,
}

pub async fn run(
    cmd: DelayCommand,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let DelayCommand::Stats = cmd;
    let client = connect.connect(config).await?;
    let stats = client.delay_stats().await;
    client.close().await;
    let stats = stats?;
    let total: u64 = stats.topics.iter().map(|(_, n)| n).sum();
    let topics: Vec<_> = stats
        .topics
        .iter()
        .map(|(t, n)| json!({"topic": t, "pending": n}))
        .collect();
    output::emit(json!({
        "pending": total,
        "next_due": if stats.next_due == 0 { serde_json::Value::Null } else { json!(stats.next_due) },
        "topics": topics,
    }));
    Ok(())
}
