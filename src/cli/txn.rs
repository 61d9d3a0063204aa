//! `lockgate txn list|commit|rollback`, and `produce --transaction` (all of stdin as one
//! transaction).

use serde_json::{Value, json};

use super::{CliError, ConnectArgs, output};
use crate::client::{Client, TransactionProducer, TransactionProducerOptions};
use crate::clock::system_now_ms;
use crate::config::Config;
use crate::protocol::{Delivery, Outcome, ProduceMessage, ScheduledAck, TxnEnded, TxnInfo};
use crate::storage::MessageId;

/// The producer group of transactions the CLI begins unless told otherwise.
pub const CLI_PRODUCER_GROUP: &str = "lockgate-cli";
/// Messages per TxnSend.
const SEND_BATCH: usize = 1000;

#[derive(Debug, clap::Subcommand)]
pub enum TxnCommand {
    /// Transactions without an outcome, oldest first: one line each,
    /// `{"id","producer_group","state","topics","messages","begun_at","age_ms","checks"}`.
    List,
    /// Commits a transaction (as an operator): prints
    /// `{"transaction","outcome","already","placed":[{"topic","queue","first_offset","count"}]}`.
    Commit { id: String },
    /// Rolls a transaction back (as an operator); prints as `commit` does.
    Rollback { id: String },
}

pub async fn run(cmd: TxnCommand, connect: &ConnectArgs, config: &Config) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let result = match cmd {
        TxnCommand::List => client.list_transactions().await.map(|list| {
            let now = system_now_ms();
            for t in &list {
                output::emit(info_json(t, now));
            }
        }),
        TxnCommand::Commit { id } => client
            .end_transaction(&id, Outcome::Commit)
            .await
            .map(|e| output::emit(ended_json(&id, &e))),
        TxnCommand::Rollback { id } => client
            .end_transaction(&id, Outcome::Rollback)
            .await
            .map(|e| output::emit(ended_json(&id, &e))),
    };
    client.close().await;
    Ok(result?)
}

fn info_json(t: &TxnInfo, now: i64) -> Value {
    json!({
        "id": t.id,
        "producer_group": t.producer_group,
        "state": t.phase.name(),
        "topics": t.topics,
        "messages": t.messages,
        "begun_at": t.begun_at,
        "age_ms": now.saturating_sub(t.begun_at).max(0),
        "checks": t.checks,
    })
}

fn ended_json(id: &str, e: &TxnEnded) -> Value {
    let placed: Vec<Value> = e
        .placed
        .iter()
        .map(|p| json!({"topic": p.topic, "queue": p.queue, "first_offset": p.first_offset, "count": p.count}))
        .collect();
    json!({
        "transaction": id,
        "outcome": e.outcome.name(),
        "already": e.already,
        "placed": placed,
    })
}

/// How `produce --transaction` runs.
pub struct TxnProduce {
    pub topic: String,
    pub id: Option<String>,
    pub producer_group: String,
    pub rollback: bool,
    pub delivery: Option<Delivery>,
}

/// Sends every message of `messages` in one transaction, then commits it (or rolls it back).
/// On commit, prints each message as `produce` does (`{"id","topic","queue","offset"}`, or
/// `deliver_at` instead of `offset` for a delayed one); then, always, the outcome line of
/// `txn commit`. A failure before the end rolls the transaction back.
pub async fn produce(
    client: &Client,
    t: TxnProduce,
    mut messages: impl AsyncMessages,
) -> Result<(), CliError> {
    let id =
        t.id.clone()
            .unwrap_or_else(|| format!("cli-{}", MessageId::generate(system_now_ms())));
    let p = TransactionProducer::new(
        client.clone(),
        TransactionProducerOptions::new(&t.producer_group),
    );
    let tx = p.begin(&id).await?;
    let mut acks: Vec<ScheduledAck> = Vec::new();
    let sent = async {
        loop {
            let batch = messages.next_batch(SEND_BATCH).await?;
            if batch.is_empty() {
                return Ok::<(), CliError>(());
            }
            let got = match t.delivery {
                Some(d) => {
                    let n = batch.len();
                    tx.send_delayed(&t.topic, batch, vec![d; n]).await?
                }
                None => tx.send(&t.topic, batch).await?,
            };
            acks.extend(got);
        }
    }
    .await;
    if let Err(e) = sent {
        let _ = p.resume(&id).rollback().await;
        return Err(CliError(format!("{e}; transaction {id} was rolled back")));
    }
    let ended = if t.rollback {
        tx.rollback().await?
    } else {
        tx.commit().await?
    };
    if ended.outcome == Outcome::Commit {
        // Each queue's messages were placed in send order from the queue's first offset.
        let mut next: std::collections::HashMap<u32, u64> = ended
            .placed
            .iter()
            .filter(|p| p.topic == t.topic)
            .map(|p| (p.queue, p.first_offset))
            .collect();
        for a in &acks {
            if a.deliver_at != 0 {
                output::print_scheduled(&t.topic, a);
                continue;
            }
            let offset = next.entry(a.queue).or_default();
            output::emit(
                json!({"id": a.id.to_string(), "topic": t.topic, "queue": a.queue, "offset": *offset}),
            );
            *offset += 1;
        }
    }
    output::emit(ended_json(&id, &ended));
    Ok(())
}

/// Where `produce --transaction` gets its messages: in batches, empty at the end.
pub trait AsyncMessages {
    fn next_batch(
        &mut self,
        max: usize,
    ) -> impl std::future::Future<Output = Result<Vec<ProduceMessage>, CliError>>;
}
