//! `lockgate storage …`: offline commands on a stopped server's data directory.
//! `verify` reports what is damaged (one JSON line per problem, then a summary line) and changes
//! nothing; it exits 0 when everything checks out and 1 when something is damaged. `skip`
//! marks one damaged record as skipped, so consumers of its queue pass over it.

use crate::clock::Clock;
use crate::config::Config;
use crate::storage::verify::{VerifyReport, verify_offline};

use super::CliError;
use super::output::emit;

#[derive(Debug, clap::Subcommand)]
pub enum StorageCommand {
    /// With the server stopped: check every record, queue index and key-index file of the data
    /// directory; prints one JSON line per damaged thing, then a summary (exit 1 if any).
    Verify,
    /// With the server stopped: skip one damaged record for good (consumers pass over it; the
    /// skip is kept in <data_dir>/skipped.json and logged at every start). A record that reads
    /// fine is refused.
    Skip {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        queue: u32,
        #[arg(long)]
        offset: u64,
    },
}

/// Runs a storage command; `Ok(false)` when it found damage.
pub fn run(cmd: StorageCommand, config: &Config) -> Result<bool, CliError> {
    match cmd {
        StorageCommand::Verify => {
            let report = verify_offline(&config.store_options(Clock::system()))
                .map_err(|e| CliError(format!("{}: {e}", config.server.data_dir.display())))?;
            print_report(&report);
            Ok(report.damaged.is_empty())
        }
        StorageCommand::Skip {
            topic,
            queue,
            offset,
        } => {
            let at = |e: crate::storage::StorageError| {
                CliError(format!("{}: {e}", config.server.data_dir.display()))
            };
            let store =
                crate::storage::Store::open(config.store_options(Clock::system())).map_err(at)?;
            let skipped = store.skip_damaged(&topic, queue, offset);
            store.close().map_err(at)?;
            let skip = skipped.map_err(at)?;
            emit(serde_json::json!({
                "topic": topic, "queue": queue, "offset": offset, "skipped": true, "reason": skip.reason,
            }));
            Ok(true)
        }
    }
}

fn print_report(r: &VerifyReport) {
    for d in &r.damaged {
        emit(serde_json::to_string(d).expect("damage serializes"));
    }
    emit(serde_json::json!({
        "segments": r.segments,
        "records": r.records,
        "queues": r.queues,
        "index_files": r.index_files,
        "damaged": r.damaged.len(),
    }));
}
