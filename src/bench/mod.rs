//! `lockgate bench …`: load generators and micro-benchmarks. Figures, not pass/fail: tests
//! never time anything.

pub mod delay;
pub mod net;
pub mod pipeline;
pub mod plugins;
pub mod soak;
pub mod storage;
pub mod txn;

/// Makes the bench's `async` topics (an existing one is fine) and returns the name function:
/// `bench-<bench>-<what>-<start time>`, so runs never share topics.
pub(crate) async fn bench_topics(
    client: &crate::client::Client,
    bench: &str,
    whats: &[&str],
    queues: u32,
) -> Result<impl Fn(&str) -> String + use<>, crate::cli::CliError> {
    let stamp = crate::clock::system_now_ms();
    let bench = bench.to_string();
    let name = move |what: &str| format!("bench-{bench}-{what}-{stamp}");
    for what in whats {
        match client
            .create_topic(
                &name(what),
                queues,
                Some(crate::storage::Durability::Async),
                0,
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.status() == Some(crate::protocol::Status::TopicExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(name)
}

/// The resident set size of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64, crate::cli::CliError> {
    use crate::cli::CliError;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| CliError(format!("reading /proc/{pid}/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| CliError(format!("no VmRSS in /proc/{pid}/status")))
}
