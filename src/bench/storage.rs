//! `lockgate bench storage`: append throughput of the storage engine, measured in the same run
//! as the disk's own limit (plain `write` + `fdatasync` every 1 MiB of the same bytes).
//!
//! For each message size and batch size it runs: the raw baseline; `async` appends and `sync`
//! appends (group commit) from 1, 4 and 16 threads, each thread on its own queue. Each case runs for a fixed
//! time on a fresh store in a scratch directory that is deleted afterwards.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::record;
use crate::storage::{
    Durability, Message, MessageId, StorageError, Store, StoreOptions, TopicName, TopicSpec,
};

#[derive(Debug, clap::Args)]
pub struct StorageBenchArgs {
    /// Scratch directory (created and removed per case) [default: a new directory under the
    /// system temp dir]
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Message body sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "100,1024")]
    pub sizes: Vec<usize>,
    /// Messages per append.
    #[arg(long, value_delimiter = ',', default_value = "1,64,512")]
    pub batches: Vec<usize>,
    /// Concurrent appenders (each on its own queue).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub appenders: Vec<usize>,
    /// How long each case runs, e.g. "2s".
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Print one JSON object per case instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::units::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration"))
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// One measured case.
#[derive(Debug, Clone)]
struct CaseResult {
    case: String,
    size: usize,
    batch: usize,
    appenders: usize,
    records: u64,
    log_bytes: u64,
    seconds: f64,
    data_syncs: u64,
    sync_nanos: u64,
}

impl CaseResult {
    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }
    fn mb_per_s(&self) -> f64 {
        self.log_bytes as f64 / self.seconds / 1e6
    }
    fn us_per_sync(&self) -> f64 {
        if self.data_syncs == 0 {
            0.0
        } else {
            self.sync_nanos as f64 / self.data_syncs as f64 / 1e3
        }
    }
}

pub fn run(args: &StorageBenchArgs) -> Result<(), BenchError> {
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("lockgate-bench-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root)
        .map_err(|e| BenchError::Io(format!("creating {}", root.display()), e))?;
    for &size in &args.sizes {
        for &batch in &args.batches {
            let record_len = record::encoded_len(&message(size));
            let raw = raw_baseline(&root.join("raw"), record_len * batch, args.duration)?;
            let raw = CaseResult {
                case: "raw write+fdatasync/1MiB".into(),
                size,
                batch,
                appenders: 1,
                records: raw.0 / record_len as u64,
                log_bytes: raw.0,
                seconds: raw.1,
                data_syncs: raw.2,
                sync_nanos: raw.3,
            };
            emit(args.json, &raw, None);
            // async against the disk's limit; sync against one sync appender.
            for durability in [Durability::Async, Durability::Sync] {
                let mut first: Option<f64> = None;
                for &appenders in &args.appenders {
                    let dir = root.join("store");
                    let c = store_case(&dir, durability, size, batch, appenders, args.duration)?;
                    let ratio = match durability {
                        Durability::Async => ("of raw MB/s", c.mb_per_s() / raw.mb_per_s()),
                        Durability::Sync => {
                            let one = *first.get_or_insert(c.records_per_s());
                            ("of sync×1 records/s", c.records_per_s() / one)
                        }
                    };
                    emit(args.json, &c, Some(ratio));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

fn emit(json: bool, c: &CaseResult, ratio: Option<(&str, f64)>) {
    if json {
        let mut v = serde_json::json!({
            "case": c.case, "msg_size": c.size, "batch": c.batch, "appenders": c.appenders,
            "records_per_s": c.records_per_s().round(), "mb_per_s": (c.mb_per_s() * 10.0).round() / 10.0,
            "records": c.records, "seconds": c.seconds, "fdatasyncs": c.data_syncs,
            "us_per_fdatasync": (c.us_per_sync() * 10.0).round() / 10.0,
        });
        if let Some((what, r)) = ratio {
            v["ratio"] = serde_json::json!({ "of": what, "value": (r * 100.0).round() / 100.0 });
        }
        println!("{v}");
    } else {
        let ratio = ratio
            .map(|(what, r)| format!("{r:>6.2}× {what}"))
            .unwrap_or_default();
        println!(
            "{:<26} size={:<5} batch={:<4} appenders={:<3} {:>12.0} rec/s {:>8.1} MB/s  fdatasyncs={:<7} ({:>4.0} µs each) {ratio}",
            c.case,
            c.size,
            c.batch,
            c.appenders,
            c.records_per_s(),
            c.mb_per_s(),
            c.data_syncs,
            c.us_per_sync()
        );
    }
    let _ = std::io::stdout().flush();
}

fn message(size: usize) -> Message {
    Message {
        id: MessageId::generate(0),
        tag: "TagA".into(),
        keys: vec![],
        properties: Default::default(),
        body: vec![b'x'; size],
        born_at: 0,
    }
}

/// Writes `chunk`-sized buffers with plain `pwrite`, `fdatasync` every 1 MiB, for `duration`.
/// Returns (bytes, seconds, fdatasyncs, nanoseconds spent in fdatasync).
fn raw_baseline(
    dir: &Path,
    chunk: usize,
    duration: Duration,
) -> Result<(u64, f64, u64, u64), BenchError> {
    let io = |what: &str| {
        let what = format!("{what} {}", dir.display());
        move |e| BenchError::Io(what, e)
    };
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(io("creating"))?;
    let file = std::fs::File::create(dir.join("raw")).map_err(io("creating file in"))?;
    let buf = vec![0x5au8; chunk];
    let (mut written, mut since_sync, mut syncs, mut sync_nanos) = (0u64, 0u64, 0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < duration {
        file.write_all_at(&buf, written).map_err(io("writing in"))?;
        written += chunk as u64;
        since_sync += chunk as u64;
        if since_sync >= 1 << 20 {
            let began = Instant::now();
            file.sync_data().map_err(io("syncing in"))?;
            sync_nanos += began.elapsed().as_nanos() as u64;
            syncs += 1;
            since_sync = 0;
        }
    }
    file.sync_data().map_err(io("syncing in"))?;
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_dir_all(dir);
    Ok((written, secs, syncs + 1, sync_nanos))
}

fn store_case(
    dir: &Path,
    durability: Durability,
    size: usize,
    batch: usize,
    appenders: usize,
    duration: Duration,
) -> Result<CaseResult, BenchError> {
    let _ = std::fs::remove_dir_all(dir);
    let mut opts = StoreOptions::new(dir);
    opts.segment_size = 256 << 20;
    opts.retention = None;
    opts.retention_size = None;
    let store = Store::open(opts)?;
    store.create_topic(&TopicSpec {
        name: TopicName::new("bench").map_err(StorageError::from)?,
        queues: appenders.max(1) as u32,
        durability,
        retention: None,
    })?;
    let before = store.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..appenders)
        .map(|q| {
            let (store, stop, count) = (store.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || -> Result<(), StorageError> {
                let msgs: Vec<Message> = (0..batch).map(|_| message(size)).collect();
                while !stop.load(Ordering::Relaxed) {
                    store.append("bench", q as u32, &msgs)?;
                    count.fetch_add(batch as u64, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("bench appender panicked")?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = store.stats();
    store.close()?;
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    Ok(CaseResult {
        case: format!("{durability} append"),
        size,
        batch,
        appenders,
        records: count.load(Ordering::Relaxed),
        log_bytes: after.bytes - before.bytes,
        seconds,
        data_syncs: after.data_syncs - before.data_syncs,
        sync_nanos: after.sync_nanos - before.sync_nanos,
    })
}
