//! The CLI commands as written in the docs, against a `lockgate serve` process.

mod common;

use common::process::{ServeProcess, free_udp_port};

#[test]
fn topic_produce_consume_and_lookup_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());

    let created = server.ok_lines(
        &[
            "topic",
            "create",
            "orders",
            "--queues",
            "4",
            "--durability",
            "sync",
        ],
        None,
    );
    assert_eq!(
        (created[0]["name"].as_str(), created[0]["queues"].as_u64()),
        (Some("orders"), Some(4))
    );
    assert_eq!(created[0]["durability"], "sync");
    let listed = server.ok_lines(&["topic", "list"], None);
    assert_eq!(listed.len(), 1);

    let input: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let acks = server.ok_lines(
        &[
            "produce",
            "--topic",
            "orders",
            "--tag",
            "TagA",
            "--key",
            "k1",
            "--prop",
            "a=1",
            "--sharding-key",
            "user-1",
        ],
        Some(&input),
    );
    assert_eq!(acks.len(), 100);
    let queue = acks[0]["queue"].as_u64().unwrap();
    for (i, a) in acks.iter().enumerate() {
        assert_eq!(a["topic"], "orders");
        assert_eq!(
            a["queue"].as_u64(),
            Some(queue),
            "one sharding key, one queue"
        );
        assert_eq!(a["offset"].as_u64(), Some(i as u64), "acks in order");
    }
    let other = ((queue + 1) % 4).to_string();
    // The short flags: -t topic, -b body (and -g group, below).
    let single = server.ok_lines(
        &["produce", "-t", "orders", "-b", "héllo", "--queue", &other],
        None,
    );
    assert_eq!(single[0]["queue"].as_u64(), Some((queue + 1) % 4));

    let consumed = server.ok_lines(
        &[
            "consume",
            "--topic",
            "orders",
            "--queue",
            &queue.to_string(),
            "--from",
            "earliest",
            "--wait",
            "500ms",
        ],
        None,
    );
    assert_eq!(consumed.len(), 100);
    for (i, m) in consumed.iter().enumerate() {
        assert_eq!(m["body"], format!("line {i}"));
        assert_eq!(m["offset"].as_u64(), Some(i as u64));
        assert_eq!(
            (
                m["tag"].as_str(),
                m["keys"][0].as_str(),
                m["properties"]["a"].as_str()
            ),
            (Some("TagA"), Some("k1"), Some("1"))
        );
        assert_eq!(m["id"], acks[i]["id"]);
        for field in ["born_at", "stored_at"] {
            assert!(m[field].as_i64().unwrap() > 0, "{field}");
        }
    }
    let all = server.ok_lines(
        &[
            "consume", "--topic", "orders", "--from", "earliest", "--max", "101",
        ],
        None,
    );
    assert_eq!(all.len(), 101, "--max stops after all queues were read");
    assert!(all.iter().any(|m| m["body"] == "héllo"));
    let grouped = server.ok_lines(
        &[
            "consume", "-t", "orders", "-g", "shorts", "--from", "earliest", "--max", "101",
        ],
        None,
    );
    assert_eq!(grouped.len(), 101, "-t and -g read the topic as a group");
    let shorts = server.ok_lines(&["group", "describe", "shorts", "--json"], None);
    assert_eq!(shorts[0]["name"], "shorts", "{shorts:?}");

    let id = acks[5]["id"].as_str().unwrap();
    let got = server.ok_lines(&["message", "get", "--topic", "orders", "--id", id], None);
    assert_eq!(got[0]["body"], "line 5");
    let by_key = server.ok_lines(
        &["message", "get", "--topic", "orders", "--key", "k1"],
        None,
    );
    assert_eq!(by_key.len(), 100);

    let described = server.ok_lines(&["topic", "describe", "orders"], None);
    let offsets = described[0]["queue_offsets"].as_array().unwrap();
    assert_eq!(offsets[queue as usize]["next"].as_u64(), Some(100));

    // Failures: one line on stderr, non-zero exit.
    for (args, expect) in [
        (
            vec!["consume", "--topic", "nope", "--wait", "1s"],
            "topic \"nope\" does not exist",
        ),
        (vec!["topic", "create", "bad name"], "invalid topic name"),
        (vec!["topic", "create", "%DLQ%x"], "reserved"),
        (
            vec![
                "produce", "--topic", "orders", "--body", "x", "--queue", "9",
            ],
            "there is no queue 9",
        ),
        (
            vec!["message", "get", "--topic", "orders", "--id", "00"],
            "not a message id",
        ),
    ] {
        let out = server.cli(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    server.ok_lines(&["topic", "delete", "orders"], None);
    assert!(server.ok_lines(&["topic", "list"], None).is_empty());
}

#[test]
fn an_unreachable_server_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    // A CA file must exist for the CLI to try; any certificate will do for an absent server.
    let (cert, _) = {
        let key = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (c.pem(), key)
    };
    std::fs::write(&ca, cert).unwrap();
    let port = free_udp_port();
    let out = std::process::Command::new(common::process::bin())
        .args(["--server", &format!("127.0.0.1:{port}"), "--ca"])
        .arg(&ca)
        .args(["topic", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("error: cannot reach 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServeProcess::start(dir.path(), free_udp_port());
    // `kill` from the shell keeps the test free of unsafe code.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
    // The log thread reads to the end of stderr once the process has exited.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let stderr = loop {
        let log = server.log.lock().unwrap().clone();
        if log.contains("stopped cleanly") || std::time::Instant::now() > deadline {
            break log;
        }
        drop(log);
        std::thread::yield_now();
    };
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
}

/// Stops a server with SIGTERM (a clean shutdown) and waits for it.
fn stop_cleanly(mut server: ServeProcess) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.child.wait().unwrap().success());
}

#[test]
fn a_damaged_record_stops_only_its_queue_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let server = ServeProcess::start(dir.path(), port);
    server.ok_lines(&["topic", "create", "two", "--queues", "2"], None);
    for q in 0..2 {
        let input: String = (0..3000)
            .map(|i| format!("queue {q} message {i:04}\n"))
            .collect();
        let acks = server.ok_lines(
            &["produce", "--topic", "two", "--queue", &q.to_string()],
            Some(&input),
        );
        assert_eq!(acks.len(), 3000);
    }
    stop_cleanly(server);
    // Flip one byte of one message body of queue 0 in the log.
    let marker: &[u8] = b"queue 0 message 1500";
    let (log, mut bytes, at) = std::fs::read_dir(dir.path().join("data/log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find_map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let at = bytes.windows(marker.len()).position(|w| w == marker)?;
            Some((p, bytes, at))
        })
        .expect("the segment holding the message");
    let verify = |config: &std::path::Path| {
        std::process::Command::new(common::process::bin())
            .arg("--config")
            .arg(config)
            .args(["storage", "verify"])
            .output()
            .unwrap()
    };
    let config = dir.path().join("config.toml");
    let sound = verify(&config);
    assert!(
        sound.status.success(),
        "{}",
        String::from_utf8_lossy(&sound.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8(sound.stdout).unwrap().trim()).unwrap();
    assert_eq!(
        (summary["records"].as_u64(), summary["damaged"].as_u64()),
        (Some(6000), Some(0))
    );

    bytes[at + marker.len() - 1] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();

    // Offline, `storage verify` names the damaged record and exits 1.
    let found = verify(&config);
    assert_eq!(found.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8(found.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (
            lines[0]["topic"].as_str(),
            lines[0]["queue"].as_u64(),
            lines[0]["offset"].as_u64()
        ),
        (Some("two"), Some(0), Some(1500))
    );
    assert_eq!(lines[0]["file"].as_str(), log.to_str());
    assert!(
        lines[0]["problem"].as_str().unwrap().contains("checksum"),
        "{}",
        lines[0]
    );
    assert_eq!(
        (lines[1]["records"].as_u64(), lines[1]["damaged"].as_u64()),
        (Some(5999), Some(1))
    );

    let server = ServeProcess::start(dir.path(), port);
    let out = server.cli(&[
        "consume", "--topic", "two", "--from", "earliest", "--wait", "2s",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a stopped queue is an error");
    assert!(
        stderr.contains("topic \"two\" queue 0 offset 1500")
            && stderr.contains("the other queues go on"),
        "{stderr}"
    );
    let printed: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let per_queue = |q: u64| {
        printed
            .iter()
            .filter(|m| m["queue"].as_u64() == Some(q))
            .count()
    };
    assert_eq!(per_queue(1), 3000, "the other queue reads in full");
    assert_eq!(per_queue(0), 1500, "queue 0 up to the damaged record");
    // Beside a running server it refuses.
    let busy = verify(&config);
    assert_eq!(busy.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "{busy:?}"
    );
    stop_cleanly(server);

    // The operator skips the damaged record, explicitly; a sound one cannot be skipped.
    let skip = |offset: &str| {
        std::process::Command::new(common::process::bin())
            .arg("--config")
            .arg(&config)
            .args([
                "storage", "skip", "--topic", "two", "--queue", "0", "--offset", offset,
            ])
            .output()
            .unwrap()
    };
    let refused = skip("1499");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("reads fine"),
        "{refused:?}"
    );
    let skipped = skip("1500");
    assert!(
        skipped.status.success(),
        "{}",
        String::from_utf8_lossy(&skipped.stderr)
    );
    let server = ServeProcess::start(dir.path(), port);
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .contains("a damaged record is skipped"),
        "the skip is logged at start"
    );
    let out = server.cli(&[
        "consume", "--topic", "two", "--queue", "0", "--from", "earliest", "--wait", "2s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offsets: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["offset"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(offsets.len(), 2999, "every other record of queue 0");
    assert!(!offsets.contains(&1500));
}

#[test]
fn delay_messages_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    server.ok_lines(&["topic", "create", "later", "--queues", "1"], None);
    let far = server.ok_lines(
        &[
            "produce", "--topic", "later", "--body", "far", "--delay", "2h",
        ],
        None,
    );
    let far_id = far[0]["id"].as_str().unwrap().to_string();
    let due = far[0]["deliver_at"].as_i64().unwrap();
    assert!(
        due > lockgate::clock::system_now_ms() + 7_000_000,
        "{far:?}"
    );
    let soon = server.ok_lines(
        &["produce", "--topic", "later", "--delay-level", "1"],
        Some("a\nb\n"),
    );
    assert_eq!(soon.len(), 2);

    let state = server.ok_lines(&["message", "get", "--id", &far_id], None);
    assert_eq!(state[0]["state"], "pending");
    assert_eq!(state[0]["deliver_at"].as_i64(), Some(due));
    let stats = server.ok_lines(&["delay", "stats"], None);
    assert!(stats[0]["pending"].as_u64().unwrap() >= 1, "{stats:?}");

    // Level 1 is one second: the consumer waits for both, each with its requested time.
    let got = server.ok_lines(
        &[
            "consume", "--topic", "later", "--from", "earliest", "--max", "2",
        ],
        None,
    );
    let bodies: Vec<&str> = got.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["a", "b"]);
    for (m, ack) in got.iter().zip(&soon) {
        assert_eq!(m["deliver_at"], ack["deliver_at"]);
        assert!(m["stored_at"].as_i64() >= m["deliver_at"].as_i64());
    }

    let cancelled = server.ok_lines(
        &["message", "cancel", "--topic", "later", "--id", &far_id],
        None,
    );
    assert_eq!(cancelled[0]["state"], "cancelled");
    let late = server.cli(&[
        "message",
        "cancel",
        "--topic",
        "later",
        "--id",
        soon[0]["id"].as_str().unwrap(),
    ]);
    assert!(!late.status.success());
    let stderr = String::from_utf8_lossy(&late.stderr);
    assert!(stderr.contains("delivered"), "{stderr}");
    let bad = server.cli(&[
        "produce",
        "--topic",
        "later",
        "--body",
        "x",
        "--delay-level",
        "19",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1 to 18"));
    let both = server.cli(&[
        "produce",
        "--topic",
        "later",
        "--body",
        "x",
        "--delay",
        "1s",
        "--delay-level",
        "2",
    ]);
    assert!(!both.status.success(), "one delivery flag at a time");
}

#[test]
fn binary_bodies_go_in_and_come_out_in_base64_and_bodies_print_alone() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    server.ok_lines(&["topic", "create", "bin", "--queues", "1"], None);
    // Every byte value, a newline and invalid UTF-8 among them.
    let binary: Vec<u8> = (0..=255u8).collect();
    let acked = server.ok_lines(
        &["produce", "-t", "bin", "--body-base64", "-b", &b64(&binary)],
        None,
    );
    assert_eq!(acked.len(), 1);
    let input = format!("{}\n{}\n", b64(b"text one"), b64(&[0xff, 0x00, 0x0a]));
    let acked = server.ok_lines(&["produce", "-t", "bin", "--body-base64"], Some(&input));
    assert_eq!(acked.len(), 2);

    let consume = ["consume", "-t", "bin", "--from", "earliest", "--max", "3"];
    let lines = |extra: &[&str]| {
        let args: Vec<&str> = consume.iter().chain(extra).copied().collect();
        let out = server.cli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // Bodies alone, in base64: exactly what went in.
    let alone = String::from_utf8(lines(&["--body-only", "--body-base64"])).unwrap();
    let want = [b64(&binary), b64(b"text one"), b64(&[0xff, 0x00, 0x0a])];
    assert_eq!(alone.lines().collect::<Vec<_>>(), want);
    // Bodies alone, as they are: the raw bytes, each followed by a newline.
    let raw = lines(&["--body-only"]);
    let mut expected = binary.clone();
    expected.extend_from_slice(b"\ntext one\n\xff\x00\x0a\n");
    assert_eq!(raw, expected);
    // JSON with --body-base64: body_b64 even for a text body.
    let json: Vec<serde_json::Value> = String::from_utf8(lines(&["--body-base64"]))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json[1]["body_b64"], b64(b"text one"));
    assert!(json[1].get("body").is_none());

    // A line that is not base64: named, and nothing of it sent; the line before it was.
    let out = server.cli_with_stdin(
        &["produce", "-t", "bin", "--body-base64"],
        Some(&format!("{}\nnot base64!\n", b64(b"fine"))),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--body-base64: stdin line 2 is not base64"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
    let all = server.ok_lines(
        &[
            "consume", "-t", "bin", "--from", "earliest", "--max", "5", "--wait", "1s",
        ],
        None,
    );
    assert_eq!(all.len(), 4, "the good line only");
}

#[test]
fn quiet_runs_print_a_count_and_rate_and_a_progress_line_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    server.ok_lines(&["topic", "create", "q", "--queues", "2"], None);
    let input: String = (0..500).map(|i| format!("m{i}\n")).collect();
    let produced = server.ok_lines(&["produce", "-t", "q", "--quiet"], Some(&input));
    assert_eq!(produced.len(), 1, "one summary line: {produced:?}");
    assert_eq!(produced[0]["produced"], 500);
    assert!(produced[0]["per_second"].as_f64().unwrap() > 0.0);
    assert!(produced[0]["seconds"].as_f64().unwrap() > 0.0);
    let consumed = server.ok_lines(
        &[
            "consume", "-t", "q", "--from", "earliest", "--max", "500", "-q",
        ],
        None,
    );
    assert_eq!(consumed.len(), 1, "{consumed:?}");
    assert_eq!(consumed[0]["consumed"], 500);

    // On a terminal (a pty from `script`), a progress line goes to it as well.
    let transport = common::transport_flag();
    let command = format!(
        "{} --config {} --transport {transport} consume -t q --from earliest --max 500 --quiet",
        common::process::bin(),
        server.config.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("\r500 consumed in "), "{screen:?}");
    assert!(screen.contains("\"consumed\":500"), "{screen:?}");
}

#[test]
fn bench_produces_to_a_topic_with_an_ingress_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = r##"
[plugins.route-all]
path = "builtin:topic-exchange"
[plugins.route-all.config]
bindings = "# -> orders.all"

[[pipeline]]
topics = ["orders.in"]
[pipeline.ingress]
stages = ["route-all"]
"##;
    let server = ServeProcess::start_with(dir.path(), free_udp_port(), pipeline);
    server.ok_lines(&["topic", "create", "orders.in"], None);
    server.ok_lines(&["topic", "create", "orders.all"], None);
    let out = server.cli(&[
        "bench",
        "--topic",
        "orders.in",
        "--producers",
        "1",
        "--consumers",
        "0",
        "--count",
        "3000",
        "--batch",
        "500",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(report["produce"]["messages"], 3000, "{report}");
    assert!(stderr.contains("has an ingress pipeline"), "{stderr}");
    // Routed where the pipeline sends them.
    let all = server.ok_lines(
        &[
            "consume",
            "-t",
            "orders.all",
            "--from",
            "earliest",
            "--max",
            "3000",
            "--quiet",
        ],
        None,
    );
    assert_eq!(all[0]["consumed"], 3000);
}

#[test]
fn topic_alter_grows_queues_online_and_a_restart_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let declared = "\n[[topic]]\nname = \"grow\"\nqueues = 2\n";
    let server = ServeProcess::start_with(dir.path(), port, declared);
    // A group reads the topic while it grows.
    let consume = [
        "consume", "-t", "grow", "-g", "g", "--from", "earliest", "--wait", "2s",
    ];
    server.ok_lines(
        &["produce", "-t", "grow", "--queue", "1", "-b", "before"],
        None,
    );
    assert_eq!(server.ok_lines(&consume, None).len(), 1);

    let grown = server.ok_lines(&["topic", "alter", "grow", "--queues", "4"], None);
    assert_eq!(
        (
            grown[0]["queues"].as_u64(),
            grown[0]["queues_before"].as_u64()
        ),
        (Some(4), Some(2))
    );
    let note = grown[0]["sharding_keys"].as_str().unwrap();
    assert!(note.contains("most keys map to another queue"), "{note}");
    let described = server.ok_lines(&["topic", "describe", "grow"], None);
    assert_eq!(described[0]["queue_offsets"].as_array().unwrap().len(), 4);
    // The new queues take messages, and the group reads them.
    let acked = server.ok_lines(
        &["produce", "-t", "grow", "--queue", "3", "-b", "after"],
        None,
    );
    assert_eq!(
        (acked[0]["queue"].as_u64(), acked[0]["offset"].as_u64()),
        (Some(3), Some(0))
    );
    let read = server.ok_lines(&consume, None);
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(
        (read[0]["queue"].as_u64(), read[0]["body"].as_str()),
        (Some(3), Some("after"))
    );

    // What it refuses, and why.
    for (args, why) in [
        (
            &["topic", "alter", "grow", "--queues", "3"][..],
            "can grow but not shrink",
        ),
        (&["topic", "alter", "grow", "--queues", "0"][..], "queues"),
        (&["topic", "alter", "nosuch", "--queues", "4"][..], "nosuch"),
        (
            &["topic", "alter", "%DELAY%", "--queues", "8"][..],
            "reserved for internal topics",
        ),
    ] {
        let out = server.cli(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }

    // The config still says 2: a restart keeps the 4 queues and says so.
    stop_cleanly(server);
    let server = ServeProcess::start_with(dir.path(), port, declared);
    let described = server.ok_lines(&["topic", "describe", "grow"], None);
    assert_eq!(described[0]["queue_offsets"].as_array().unwrap().len(), 4);
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("set queues = 4 in the config"), "{log}");
}
