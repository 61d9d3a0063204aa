//! `lockgate group list|describe|reset|delete`, and `consume --group` (a group member that
//! prints what it receives).

use serde_json::{Value, json};

use super::consume::{Printable, print_messages};
use super::output::emit;
use super::time::parse_rfc3339;
use super::{CliError, ConnectArgs, ConsumeArgs};
use crate::client::{AckMode, ClientError, GroupConsumer, GroupConsumerOptions};
use crate::clock::system_now_ms as now_ms;
use crate::config::Config;
use crate::protocol::Mode;
use crate::protocol::{Delivered, GroupDelivered, GroupInfo, ResetTo, StartPosition};

#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// List groups, one JSON object per line.
    List,
    /// Members, owned queues and per-queue lag of a group (a table; --json for one JSON object).
    Describe {
        group: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a group's position on a topic; prints the new offset of each queue moved.
    Reset {
        group: String,
        #[arg(long)]
        topic: String,
        /// Only this queue [default: all]
        #[arg(long)]
        queue: Option<u32>,
        /// earliest, latest, offset:N, or time:RFC3339 (the first message stored at or after it)
        #[arg(long, value_parser = parse_reset_to)]
        to: ResetTo,
    },
    /// Delete a group with no live members, and its progress.
    Delete { group: String },
}

fn parse_reset_to(s: &str) -> Result<ResetTo, String> {
    match s {
        "earliest" => Ok(ResetTo::Earliest),
        "latest" => Ok(ResetTo::Latest),
        _ => {
            if let Some(n) = s.strip_prefix("offset:") {
                n.parse()
                    .map(ResetTo::Offset)
                    .map_err(|_| format!("{n:?} is not an offset"))
            } else if let Some(t) = s.strip_prefix("time:") {
                parse_rfc3339(t).map(ResetTo::Time)
            } else {
                Err(format!(
                    "{s:?} is not earliest, latest, offset:N or time:RFC3339"
                ))
            }
        }
    }
}

pub async fn run(
    cmd: GroupCommand,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    let client = connect.connect(config).await?;
    let result = match cmd {
        GroupCommand::List => client.list_groups().await.map(|gs| {
            for g in gs {
                emit(json!({
                    "name": g.name,
                    "mode": g.mode.name(),
                    "members": g.members,
                    "topics": g.topics,
                }));
            }
        }),
        GroupCommand::Describe { group, json } => client.describe_group(&group).await.map(|g| {
            if json {
                emit(describe_json(&g));
            } else {
                for line in describe_table(&g, now_ms()) {
                    emit(line);
                }
            }
        }),
        GroupCommand::Reset {
            group,
            topic,
            queue,
            to,
        } => client
            .reset_group(&group, &topic, queue, to)
            .await
            .map(|moved| {
                for (q, offset) in moved {
                    emit(json!({"group": group, "topic": topic, "queue": q, "offset": offset}));
                }
            }),
        GroupCommand::Delete { group } => client
            .delete_group(&group)
            .await
            .map(|()| emit(json!({"deleted": group}))),
    };
    client.close().await;
    Ok(result?)
}

fn describe_json(g: &GroupInfo) -> Value {
    json!({
        "name": g.name,
        "mode": g.settings.mode.name(),
        "lease_ms": g.settings.lease_ms,
        "max_attempts": g.settings.max_attempts,
        "session_timeout_ms": g.settings.session_timeout_ms,
        "members": g.members.iter().map(|m| json!({
            "id": m.id,
            "topic": m.topic,
            "instance": m.instance,
            "client": m.client,
            "idle_ms": m.idle_ms,
            "queues": m.queues,
        })).collect::<Vec<_>>(),
        "queues": g.progress.iter().map(|p| json!({
            "topic": p.topic,
            "instance": p.instance,
            "queue": p.queue,
            "owner": if p.owner == 0 { Value::Null } else { json!(p.owner) },
            "acked": p.acked,
            "end": p.end,
            "ready": p.ready,
            "in_flight": p.in_flight,
            "retrying": p.retrying,
            "oldest_unacked_at": if p.oldest_unacked_at == 0 { Value::Null } else { json!(p.oldest_unacked_at) },
        })).collect::<Vec<_>>(),
    })
}

/// The human view: a settings line, a members table and a lag table.
fn describe_table(g: &GroupInfo, now: i64) -> Vec<String> {
    let s = &g.settings;
    let mut out = vec![format!(
        "group {}  mode {}  lease {}ms  max_attempts {}  session_timeout {}ms",
        g.name,
        s.mode.name(),
        s.lease_ms,
        s.max_attempts,
        s.session_timeout_ms
    )];
    out.push(String::new());
    let mut members = vec![vec![
        "MEMBER".to_string(),
        "TOPIC".into(),
        "INSTANCE".into(),
        "CLIENT".into(),
        "IDLE".into(),
        "QUEUES".into(),
    ]];
    for m in &g.members {
        members.push(vec![
            m.id.to_string(),
            m.topic.clone(),
            m.instance.clone(),
            m.client.clone(),
            format!("{}ms", m.idle_ms),
            m.queues
                .iter()
                .map(|q| q.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    out.extend(table(&members));
    out.push(String::new());
    let mut lag = vec![vec![
        "TOPIC".to_string(),
        "INSTANCE".into(),
        "QUEUE".into(),
        "OWNER".into(),
        "ACKED".into(),
        "END".into(),
        "READY".into(),
        "IN_FLIGHT".into(),
        "RETRYING".into(),
        "OLDEST_UNACKED".into(),
    ]];
    for p in &g.progress {
        lag.push(vec![
            p.topic.clone(),
            if p.instance.is_empty() {
                "-".into()
            } else {
                p.instance.clone()
            },
            p.queue.to_string(),
            if p.owner == 0 {
                "-".into()
            } else {
                p.owner.to_string()
            },
            p.acked.to_string(),
            p.end.to_string(),
            p.ready.to_string(),
            p.in_flight.to_string(),
            p.retrying.to_string(),
            if p.oldest_unacked_at == 0 {
                "-".into()
            } else {
                format!("{}ms", now.saturating_sub(p.oldest_unacked_at).max(0))
            },
        ]);
    }
    out.extend(table(&lag));
    out
}

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, cell)| format!("{cell:<w$}", w = widths[c]))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect()
}

/// `consume --group`: joins, prints each message with its attempt, acks (with `--ack auto`),
/// and leaves after `--max` messages or `--wait` without one.
pub async fn consume(
    args: ConsumeArgs,
    group: String,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    if args.queue.is_some() {
        return Err(CliError(
            "--queue does not apply to --group: the group assigns queues".into(),
        ));
    }
    let mode: Mode = args
        .mode
        .parse()
        .map_err(|e| CliError(format!("--mode {e}")))?;
    let start = match args.from.as_str() {
        "earliest" => StartPosition::Earliest,
        "latest" => StartPosition::Latest,
        t => StartPosition::Time(parse_rfc3339(t).map_err(|e| {
            CliError(format!(
                "--from with --group takes earliest, latest or a time: {e}"
            ))
        })?),
    };
    let ack = match args.ack.as_str() {
        "auto" => AckMode::Auto,
        "manual" => AckMode::Manual,
        other => return Err(CliError(format!("--ack {other:?} is not auto or manual"))),
    };
    let nack = match (&args.nack_if, args.nack) {
        (Some(re), _) => Some(NackRule::Matching(regex::Regex::new(re).map_err(|e| {
            CliError(format!("--nack-if {re:?} is not a regular expression: {e}"))
        })?)),
        (None, true) => Some(NackRule::Every),
        (None, false) => None,
    };
    let client = connect.connect(config).await?;
    let group_name = group.clone();
    let mut opts = GroupConsumerOptions::new(group, &args.topic);
    opts.mode = mode;
    opts.start = start;
    // With a nack rule, the member settles each printed message itself (see `Member`).
    opts.ack = if nack.is_some() { AckMode::Manual } else { ack };
    opts.lease = args.lease;
    opts.max_attempts = args.max_attempts;
    opts.instance = args.instance.clone().unwrap_or_default();
    opts.filter = args
        .filter_type
        .clone()
        .zip(args.filter.clone())
        .map(|(plugin, expression)| crate::protocol::FilterSpec { plugin, expression });
    if let Some(max) = args.max {
        // Never hold more than will be printed: the rest stays with the group.
        opts.credit_messages = max.clamp(1, 2048) as u32;
    }
    // Listening before joining: a Ctrl-C (or SIGTERM) from now on leaves the group, giving
    // its leases back at once, instead of ending the process with a member that keeps
    // taking deliveries until the server notices the connection is gone.
    let stop = crate::signals::shutdown_signal();
    let mut consumer = Member {
        consumer: client.subscribe(opts).await?,
        nack,
        printed: None,
    };
    let outcome = tokio::select! {
        outcome = print_messages(&mut consumer, &args) => outcome,
        () = stop => {
            eprintln!("lockgate: stopped; leaving group {group_name:?}");
            Ok(())
        }
    };
    // Settles what was printed (acks with --ack auto, or as --nack says) and leaves; the rest
    // goes to other members.
    consumer.settle();
    consumer.consumer.close().await;
    client.close().await;
    outcome
}

/// Which printed messages `--nack` / `--nack-if` nack (the others are acked).
enum NackRule {
    Every,
    Matching(regex::Regex),
}

/// A group member as `consume` runs it: the last message printed is settled when the next is
/// asked for (or at the end), so only what was printed is acked or nacked.
struct Member {
    consumer: GroupConsumer,
    /// `None`: the consumer acks by itself (`--ack auto`) or not at all (`manual`).
    nack: Option<NackRule>,
    printed: Option<GroupDelivered>,
}

/// The reason a nack from the command line gives.
const NACKED: &str = "nacked from the command line";

impl Member {
    fn settle(&mut self) {
        let (Some(rule), Some(m)) = (&self.nack, self.printed.take()) else {
            return;
        };
        let nack = match rule {
            NackRule::Every => true,
            NackRule::Matching(re) => {
                re.is_match(&String::from_utf8_lossy(&m.delivered.message.body))
            }
        };
        if nack {
            self.consumer.nack(&m, NACKED);
        } else {
            self.consumer.ack(&m);
        }
    }
}

impl Printable for Member {
    async fn next_printable(&mut self) -> Option<Result<(Delivered, Option<u32>), ClientError>> {
        self.settle();
        Some(match self.consumer.next().await {
            Some(Ok(m)) => {
                let shown = (m.delivered.clone(), Some(m.attempt));
                if self.nack.is_some() {
                    self.printed = Some(m);
                }
                Ok(shown)
            }
            Some(Err(e)) => Err(e),
            None => Err(ClientError::Stream(
                "the server ended the subscription".into(),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_targets_parse() {
        assert_eq!(parse_reset_to("earliest"), Ok(ResetTo::Earliest));
        assert_eq!(parse_reset_to("offset:42"), Ok(ResetTo::Offset(42)));
        assert_eq!(
            parse_reset_to("time:1970-01-01T00:00:01Z"),
            Ok(ResetTo::Time(1000))
        );
        assert!(
            parse_reset_to("offset:x")
                .unwrap_err()
                .contains("not an offset")
        );
        assert!(parse_reset_to("soon").unwrap_err().contains("offset:N"));
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["A".to_string(), "BB".into()],
            vec!["CCC".to_string(), "D".into()],
        ];
        assert_eq!(table(&rows), vec!["A    BB", "CCC  D"]);
    }
}
