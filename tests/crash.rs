//! Crash and disk-full tests. Each runs the storage engine in a child process — this same test
//! binary, re-executed with an environment variable that selects the child's role — so that the
//! child can be killed with SIGKILL or run under a file-size limit without touching the parent.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::spec;
use lockgate::storage::{Durability, Message, MessageId, StorageError, Store, StoreOptions};

const CRASH_ROLE: &str = "LOCKGATE_TEST_CRASH_CHILD";
const DISK_FULL_ROLE: &str = "LOCKGATE_TEST_DISK_FULL_CHILD";
const QUEUES: u32 = 4;

/// Re-executes this test binary to run only `test`, with `role` set to `dir`.
fn spawn_child(
    test: &str,
    role: &str,
    dir: &Path,
    extra: &[(&str, String)],
) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(role, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn crash_opts(dir: &Path) -> StoreOptions {
    let mut o = StoreOptions::new(dir);
    o.segment_size = 256 << 10; // several rolls per round
    o.retention = None;
    o.index_capacity = 512;
    o
}

/// The body of the `seq`-th message of `queue` in crash round `round`.
fn crash_body(round: u32, queue: u32, seq: u64) -> Vec<u8> {
    let mut b = format!("round {round} queue {queue} seq {seq} ").into_bytes();
    b.resize(b.len() + (seq * 31 % 300) as usize, b'0' + (seq % 10) as u8);
    b
}

/// Child: appends `sync` batches on every queue from one thread each, printing one line per
/// acknowledged batch, until killed.
fn crash_child(dir: &Path) {
    let round: u32 = std::env::var("LOCKGATE_TEST_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open(crash_opts(dir)).unwrap();
    store
        .ensure_topic(&spec("crash", QUEUES, Durability::Sync))
        .unwrap();
    // libtest has printed "test NAME ... " without a newline; start our lines on a fresh one.
    println!();
    let out = Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for q in 0..QUEUES {
            let (store, out) = (&store, &out);
            s.spawn(move || {
                let mut seq = 0u64;
                loop {
                    let count = 1 + (seq % 5);
                    let batch: Vec<Message> = (seq..seq + count)
                        .map(|n| Message {
                            id: MessageId::generate(n as i64),
                            body: crash_body(round, q, n),
                            ..Message::default()
                        })
                        .collect();
                    let a = store.append("crash", q, &batch).unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ACK {q} {} {count} {seq}", a.first_offset).unwrap();
                    out.flush().unwrap();
                    seq += count;
                }
            });
        }
    });
}

#[derive(Debug, Clone, Copy)]
struct Ack {
    round: u32,
    queue: u32,
    first_offset: u64,
    count: u64,
    seq: u64,
}

#[test]
fn sigkill_under_sync_load_loses_no_acknowledged_message() {
    if let Some(dir) = std::env::var_os(CRASH_ROLE) {
        crash_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<Ack> = Vec::new();
    for round in 0..5u32 {
        let mut child = spawn_child(
            "sigkill_under_sync_load_loses_no_acknowledged_message",
            CRASH_ROLE,
            dir.path(),
            &[("LOCKGATE_TEST_ROUND", round.to_string())],
        );
        // Kill after a random number of acknowledgements: a random moment in the child's work.
        let kill_after = fastrand::usize(20..400);
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut seen = 0;
        while seen < kill_after {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!("child exited early; it printed {seen} acks");
            }
            if let Some(ack) = parse_ack(round, &line) {
                acked.push(ack);
                seen += 1;
            }
        }
        child.kill().unwrap();
        // Acks printed before the kill landed count too; a line cut by the kill does not.
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if line.ends_with('\n')
                && let Some(ack) = parse_ack(round, &line)
            {
                acked.push(ack);
            }
        }
        child.wait().unwrap();

        let store = Store::open(crash_opts(dir.path())).unwrap();
        for a in &acked {
            let batch = store
                .read(
                    "crash",
                    a.queue,
                    a.first_offset,
                    a.count as usize,
                    usize::MAX,
                )
                .unwrap();
            assert_eq!(
                batch.messages.len() as u64,
                a.count,
                "acknowledged batch {a:?} is incomplete"
            );
            for (i, m) in batch.messages.iter().enumerate() {
                assert_eq!(
                    m.message.body,
                    crash_body(a.round, a.queue, a.seq + i as u64),
                    "{a:?} message {i}"
                );
            }
        }
        // Whatever survived beyond the acknowledged messages is whole and readable too.
        for q in 0..QUEUES {
            let (earliest, next) = store.queue_bounds("crash", q).unwrap();
            let mut at = earliest;
            while at < next {
                at = store
                    .read("crash", q, at, 1000, usize::MAX)
                    .unwrap()
                    .next_offset;
            }
        }
        store.close().unwrap();
    }
    assert!(
        acked.len() >= 100,
        "the rounds acknowledged {} batches",
        acked.len()
    );
}

fn parse_ack(round: u32, line: &str) -> Option<Ack> {
    let mut f = line
        .strip_prefix("ACK ")?
        .split_whitespace()
        .map(|x| x.parse::<u64>().unwrap());
    Some(Ack {
        round,
        queue: f.next()? as u32,
        first_offset: f.next()?,
        count: f.next()?,
        seq: f.next()?,
    })
}

/// Child: under a 200 KiB file-size limit, appends 1 KiB messages until the kernel refuses a
/// write, then checks the store still serves reads and refuses further appends cleanly.
#[allow(unsafe_code)] // setrlimit and signal have no safe std equivalent
fn disk_full_child(dir: &Path) {
    // SAFETY: plain libc calls with valid arguments, made before any other thread starts.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: 200 << 10,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut opts = StoreOptions::new(dir);
    opts.segment_size = 1 << 20;
    opts.index_capacity = 64;
    let store = Store::open(opts).unwrap();
    store
        .create_topic(&spec("full", 1, Durability::Sync))
        .unwrap();
    let message = |n: u64| Message {
        id: MessageId::generate(n as i64),
        body: vec![(n % 251) as u8; 1024],
        ..Message::default()
    };
    let mut acked = 0u64;
    let err = loop {
        match store.append("full", 0, &[message(acked)]) {
            Ok(a) => {
                assert_eq!(a.first_offset, acked);
                acked += 1;
            }
            Err(e) => break e,
        }
        assert!(acked < 10_000, "the file-size limit never hit");
    };
    let text = err.to_string();
    assert!(matches!(err, StorageError::Io { .. }), "{text}");
    assert!(
        text.contains("00000000000000000000.log"),
        "the error names the file: {text}"
    );
    // Reads keep working and see exactly the acknowledged messages.
    let batch = store.read("full", 0, 0, 100_000, usize::MAX).unwrap();
    assert_eq!(batch.messages.len() as u64, acked);
    assert!(
        store.append("full", 0, &[message(acked)]).is_err(),
        "still full"
    );
    assert_eq!(store.queue_bounds("full", 0).unwrap(), (0, acked));
    store.close().unwrap();
    println!();
    println!("ACKED {acked}");
    println!("ERROR {text}");
}

#[test]
fn disk_full_fails_the_append_and_loses_nothing() {
    if let Some(dir) = std::env::var_os(DISK_FULL_ROLE) {
        disk_full_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_child(
        "disk_full_fails_the_append_and_loses_nothing",
        DISK_FULL_ROLE,
        dir.path(),
        &[],
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}");
    let acked: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ACKED "))
        .unwrap_or_else(|| panic!("child did not report its count:\n{stdout}"))
        .parse()
        .unwrap();
    assert!(acked > 50, "only {acked} appends before the limit");

    // Without the limit, everything acknowledged is there, nothing else, and appends work again.
    let store = Store::open(StoreOptions::new(PathBuf::from(dir.path()))).unwrap();
    assert_eq!(store.queue_bounds("full", 0).unwrap(), (0, acked));
    let batch = store.read("full", 0, 0, 100_000, usize::MAX).unwrap();
    for (n, m) in batch.messages.iter().enumerate() {
        assert_eq!(m.message.body, vec![(n % 251) as u8; 1024]);
    }
    let a = store.append("full", 0, &[Message::default()]).unwrap();
    assert_eq!(a.first_offset, acked);
}
