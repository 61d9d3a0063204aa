//! `lockgate consume`: reads a topic's queues (or one) from a starting point and prints one
//! JSON object per message. Exits after `--max` messages, or once `--wait` passes with nothing
//! new. With `--group`, it is a member of a consumer group instead (see `group.rs`).

use std::time::Duration;

use super::output::{BodyStyle, print_message_as};
use super::{CliError, ConnectArgs};
use crate::client::{ClientError, Consumer, ConsumerOptions, StartFrom};
use crate::config::Config;
use crate::protocol::Delivered;

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// The topic to read
    #[arg(short, long)]
    pub topic: String,
    /// Only this queue [default: all]
    #[arg(long)]
    pub queue: Option<u32>,
    /// earliest, latest, or an offset (applied to each queue read); with --group: earliest,
    /// latest or an RFC 3339 time, for a group that has no position on the topic yet
    #[arg(long, default_value = "latest")]
    pub from: String,
    /// Consume as a member of this consumer group (progress kept by the server)
    #[arg(short, long)]
    pub group: Option<String>,
    /// With --group: clustering, broadcasting or ordered
    #[arg(long, default_value = "clustering", requires = "group")]
    pub mode: String,
    /// With --group: auto (ack what was printed) or manual (print only; the messages come back
    /// after their lease)
    #[arg(long, default_value = "auto", requires = "group")]
    pub ack: String,
    /// With --group: a stable member name (broadcasting keeps progress per instance)
    #[arg(long, requires = "group")]
    pub instance: Option<String>,
    /// With --group: nack every message printed instead of acking it (it comes back after its
    /// retry delay, or goes to the dead-letter topic after its last attempt)
    #[arg(long, requires = "group", conflicts_with_all = ["ack", "nack_if"])]
    pub nack: bool,
    /// With --group: nack the printed messages whose body matches this regular expression and
    /// ack the others
    #[arg(long, requires = "group", conflicts_with = "ack", value_name = "REGEX")]
    pub nack_if: Option<String>,
    /// With --group: how long a delivery is leased to this member before it counts as failed,
    /// e.g. "30s" [default: the server's]
    #[arg(long, requires = "group", value_parser = parse_wait)]
    pub lease: Option<Duration>,
    /// With --group: deliveries before a message goes to the dead-letter topic [default: the
    /// server's]
    #[arg(long, requires = "group")]
    pub max_attempts: Option<u32>,
    /// Only messages this filter selects: tag, sql92, or a configured plugin's name
    #[arg(long, requires = "filter")]
    pub filter_type: Option<String>,
    /// The filter's expression, e.g. "a > 5 AND b = 'x'" or "TagA || TagB"
    #[arg(long, requires = "filter_type")]
    pub filter: Option<String>,
    /// Stop after this many messages
    #[arg(long)]
    pub max: Option<u64>,
    /// Stop once this long passes with no new message, e.g. "2s" [default: never]
    #[arg(long, value_parser = parse_wait)]
    pub wait: Option<Duration>,
    /// Print each message's body alone, one per line (bytes as they are), not the JSON object
    #[arg(long)]
    pub body_only: bool,
    /// Print bodies in base64: alone with --body-only, else as "body_b64" in the JSON object
    #[arg(long)]
    pub body_base64: bool,
    /// Print no line per message: a progress line on stderr while it is a terminal, and at the
    /// end (--max, --wait or the end) `{"consumed","seconds","per_second"}`
    #[arg(short, long, conflicts_with_all = ["body_only", "body_base64"])]
    pub quiet: bool,
}

impl ConsumeArgs {
    fn body_style(&self) -> BodyStyle {
        BodyStyle {
            only: self.body_only,
            base64: self.body_base64,
        }
    }
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. \"500ms\", \"2s\")"))
}

pub async fn run(
    args: ConsumeArgs,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    if let Some(group) = args.group.clone() {
        return super::group::consume(args, group, connect, config).await;
    }
    let from =
        match args.from.as_str() {
            "earliest" => StartFrom::Earliest,
            "latest" => StartFrom::Latest,
            n => StartFrom::Offset(n.parse().map_err(|_| {
                CliError(format!("--from {n:?} is not earliest, latest or an offset"))
            })?),
        };
    let client = connect.connect(config).await?;
    let mut opts = ConsumerOptions::new(&args.topic, from);
    opts.queues = args.queue.map(|q| vec![q]);
    opts.filter = args
        .filter_type
        .clone()
        .zip(args.filter.clone())
        .map(|(plugin, expression)| crate::protocol::FilterSpec { plugin, expression });
    opts.poll_wait = args
        .wait
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_secs(1));
    let mut consumer = client.consumer(opts).await?;
    let outcome = print_messages(&mut consumer, &args).await;
    consumer.close();
    client.close().await;
    outcome
}

/// What `consume` prints from: the next message, with its delivery attempt for groups.
pub(super) trait Printable {
    /// An error stops only the queue it came from (the others go on); otherwise it ends all.
    const ERRORS_STOP_ONE_QUEUE: bool = false;
    async fn next_printable(&mut self) -> Option<Result<(Delivered, Option<u32>), ClientError>>;
}

impl Printable for Consumer {
    const ERRORS_STOP_ONE_QUEUE: bool = true;

    async fn next_printable(&mut self) -> Option<Result<(Delivered, Option<u32>), ClientError>> {
        self.next().await.map(|r| r.map(|d| (d, None)))
    }
}

/// Prints messages until `--max` of them, `--wait` without one, the end, or an error.
pub(super) async fn print_messages<S: Printable>(
    source: &mut S,
    args: &ConsumeArgs,
) -> Result<(), CliError> {
    let mut printed = 0u64;
    // Queues that stopped on an error (a damaged record, say), reported as they stop.
    let mut stopped = Vec::new();
    let mut progress = args
        .quiet
        .then(|| super::progress::Progress::new("consumed"));
    let outcome = |stopped: Vec<String>, progress: Option<super::progress::Progress>| {
        if let Some(p) = progress {
            p.finish();
        }
        match stopped.len() {
            0 => Ok(()),
            n => Err(CliError(format!(
                "{n} queue(s) stopped early: {}",
                stopped.join("; ")
            ))),
        }
    };
    loop {
        if args.max.is_some_and(|m| printed >= m) {
            return outcome(stopped, progress);
        }
        let next = match args.wait {
            Some(w) => match tokio::time::timeout(w, source.next_printable()).await {
                Ok(m) => m,
                Err(_) => return outcome(stopped, progress), // nothing new for --wait
            },
            None => source.next_printable().await,
        };
        match next {
            Some(Ok((d, attempt))) => {
                match &mut progress {
                    Some(p) => p.add(1),
                    None => print_message_as(&args.topic, &d, attempt, args.body_style()),
                }
                printed += 1;
            }
            Some(Err(e)) if S::ERRORS_STOP_ONE_QUEUE => {
                eprintln!("lockgate: {e}; the other queues go on");
                stopped.push(e.to_string());
            }
            Some(Err(e)) => return Err(CliError(e.to_string())),
            None => return outcome(stopped, progress),
        }
    }
}
