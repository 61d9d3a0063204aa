//! Consumer groups from the command line, against `lockgate serve` processes: the commands as
//! written, and group progress across a SIGKILL of the server.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::process::{ServeProcess, free_udp_port};

fn bodies(lines: &[serde_json::Value]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l["body"].as_str().unwrap().to_string())
        .collect()
}

fn produce_lines(server: &ServeProcess, topic: &str, n: usize) {
    let input: String = (0..n).map(|i| format!("line {i}\n")).collect();
    let acks = server.ok_lines(&["produce", "--topic", topic], Some(&input));
    assert_eq!(acks.len(), n);
}

#[test]
fn group_commands_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    server.ok_lines(&["topic", "create", "orders", "--queues", "2"], None);
    produce_lines(&server, "orders", 100);

    let first = server.ok_lines(
        &[
            "consume", "--topic", "orders", "--group", "billing", "--from", "earliest", "--max",
            "60",
        ],
        None,
    );
    assert_eq!(first.len(), 60);
    assert!(
        first
            .iter()
            .all(|l| l["attempt"] == 1 && l["topic"] == "orders")
    );
    let rest = server.ok_lines(
        &[
            "consume",
            "--topic",
            "orders",
            "--group",
            "billing",
            "--mode",
            "clustering",
            "--ack",
            "auto",
            "--wait",
            "500ms",
        ],
        None,
    );
    assert_eq!(rest.len(), 40, "the group resumes where it was");
    let all: BTreeSet<String> = bodies(&first).union(&bodies(&rest)).cloned().collect();
    assert_eq!(all.len(), 100);

    let listed = server.ok_lines(&["group", "list"], None);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "billing");
    assert_eq!(listed[0]["mode"], "clustering");
    assert_eq!(listed[0]["topics"][0], "orders");

    let described = server.ok_lines(&["group", "describe", "billing", "--json"], None);
    let queues = described[0]["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2);
    assert!(
        queues
            .iter()
            .all(|q| q["acked"] == q["end"] && q["ready"] == 0)
    );
    let table = server.cli(&["group", "describe", "billing"]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("group billing  mode clustering"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("TOPIC") && l.contains("IN_FLIGHT")),
        "{text}"
    );

    let moved = server.ok_lines(
        &[
            "group",
            "reset",
            "billing",
            "--topic",
            "orders",
            "--queue",
            "1",
            "--to",
            "offset:45",
        ],
        None,
    );
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0]["queue"].as_u64(), moved[0]["offset"].as_u64()),
        (Some(1), Some(45))
    );
    let again = server.ok_lines(
        &[
            "consume", "--topic", "orders", "--group", "billing", "--wait", "2s", "--ack", "manual",
        ],
        None,
    );
    // Round robin spreads the 100 lines over the two queues about evenly, not exactly (the
    // CLI's batches are cut by timing): queue 1 ends where describe says.
    let end_of_1 = queues
        .iter()
        .find(|q| q["queue"] == 1)
        .and_then(|q| q["end"].as_u64())
        .unwrap();
    assert!((45..=55).contains(&end_of_1), "{queues:?}");
    assert_eq!(
        again.len() as u64,
        end_of_1 - 45,
        "queue 1 from offset 45 of {end_of_1}"
    );
    assert!(again.iter().all(|l| l["queue"] == 1));

    let bad = server.cli(&[
        "group", "reset", "billing", "--topic", "orders", "--to", "soon",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("offset:N or time:RFC3339"));

    let deleted = server.ok_lines(&["group", "delete", "billing"], None);
    assert_eq!(deleted[0]["deleted"], "billing");
    let gone = server.cli(&["group", "describe", "billing"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));
}

/// Messages the group's persisted file counts as done (the group started at offset 0).
fn persisted_done(server: &ServeProcess, group: &str) -> u64 {
    let path = server.dir.join("data/groups").join(format!("{group}.json"));
    let Ok(bytes) = std::fs::read(&path) else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut done = 0;
    for sub in v["group"]["subscriptions"].as_array().unwrap() {
        for q in sub["queues"].as_array().unwrap() {
            done += q["base"].as_u64().unwrap();
            for r in q["done"].as_array().unwrap() {
                done += r[1].as_u64().unwrap() - r[0].as_u64().unwrap();
            }
        }
    }
    done
}

#[test]
fn group_progress_survives_a_server_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut server = ServeProcess::start(dir.path(), port);
    server.ok_lines(&["topic", "create", "jobs", "--queues", "3"], None);
    produce_lines(&server, "jobs", 90);
    let first = server.ok_lines(
        &[
            "consume", "--topic", "jobs", "--group", "g", "--from", "earliest", "--max", "50",
        ],
        None,
    );
    assert_eq!(first.len(), 50);
    // The acks reach the disk within groups.persist_interval (1s); wait for that event.
    let deadline = Instant::now() + Duration::from_secs(30);
    while persisted_done(&server, "g") < 50 {
        assert!(
            Instant::now() < deadline,
            "group progress was not persisted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no final persist
    server.child.wait().unwrap();
    drop(server);

    let server = ServeProcess::start(dir.path(), port);
    let rest = server.ok_lines(
        &["consume", "--topic", "jobs", "--group", "g", "--wait", "1s"],
        None,
    );
    let (a, b) = (bodies(&first), bodies(&rest));
    assert_eq!(rest.len(), 40, "only what was not acked comes again");
    assert!(a.is_disjoint(&b));
    assert_eq!(a.union(&b).count(), 90, "nothing lost");
}

#[test]
fn a_group_consumer_resumes_after_the_broker_is_killed() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let mut server = ServeProcess::start(dir.path(), port);
    server.ok_lines(&["topic", "create", "jobs", "--queues", "2"], None);
    produce_lines(&server, "jobs", 100);
    let mut consumer = std::process::Command::new(common::process::bin())
        .arg("--config")
        .arg(&server.config)
        .args([
            "consume", "--topic", "jobs", "--group", "g", "--from", "earliest",
        ])
        .env("RUST_LOG", "info,lockgate=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("consumer.log")).unwrap())
        .spawn()
        .unwrap();
    let (tx, printed) = std::sync::mpsc::channel::<String>();
    let stdout = consumer.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if tx.send(v["body"].as_str().unwrap().to_string()).is_err() {
                return;
            }
        }
    });
    let patience = Duration::from_secs(60);
    let mut seen = BTreeSet::new();
    while seen.len() < 100 {
        seen.insert(
            printed
                .recv_timeout(patience)
                .expect("the first 100 arrive"),
        );
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(server);

    let server = ServeProcess::start(dir.path(), port);
    let input: String = (100..200).map(|i| format!("line {i}\n")).collect();
    let acks = server.ok_lines(&["produce", "--topic", "jobs"], Some(&input));
    assert_eq!(acks.len(), 100);
    // The same consumer process reconnects, joins again and goes on (redeliveries of what it
    // had not acked yet may come too).
    while seen.len() < 200 {
        match printed.recv_timeout(patience) {
            Ok(body) => {
                seen.insert(body);
            }
            Err(e) => panic!(
                "{} of 200 seen ({e}); the consumer {:?} logged:\n{}",
                seen.len(),
                consumer.try_wait().unwrap(),
                std::fs::read_to_string(dir.path().join("consumer.log")).unwrap()
            ),
        }
    }
    assert!(consumer.try_wait().unwrap().is_none(), "still consuming");
    consumer.kill().unwrap();
    consumer.wait().unwrap();
}

/// Ctrl-C (SIGINT) or SIGTERM on `consume --group` leaves the group: the member is gone and
/// its leases are given back at once, not when the server notices the connection is gone
/// (a process killed by the signal sends nothing over UDP).
#[test]
fn a_group_consumer_stopped_by_a_signal_leaves_its_group_at_once() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    server.ok_lines(&["topic", "create", "jobs", "--queues", "1"], None);
    produce_lines(&server, "jobs", 50);
    for signal in ["-INT", "-TERM"] {
        // Manual acks: what it printed stays leased to it until it leaves.
        let mut consumer = std::process::Command::new(common::process::bin())
            .arg("--config")
            .arg(&server.config)
            .args([
                "consume", "--topic", "jobs", "--group", "g", "--from", "earliest", "--ack",
                "manual",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(consumer.stdout.take().unwrap()).lines();
        lines.next().expect("a message is printed").unwrap();
        let leased = server.ok_lines(&["group", "describe", "g", "--json"], None);
        assert_eq!(leased[0]["members"].as_array().unwrap().len(), 1);
        assert!(leased[0]["queues"][0]["in_flight"].as_u64().unwrap() > 0);

        let sent = std::process::Command::new("kill")
            .args([signal, &consumer.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = consumer.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{signal}: {:?} {stderr}", out.status);
        assert!(stderr.contains("leaving group \"g\""), "{stderr}");

        // Right away: no member left, nothing leased.
        let after = server.ok_lines(&["group", "describe", "g", "--json"], None);
        assert_eq!(
            after[0]["members"].as_array().unwrap().len(),
            0,
            "{signal}: {after:?}"
        );
        assert_eq!(after[0]["queues"][0]["in_flight"], 0, "{signal}: {after:?}");
        assert_eq!(
            after[0]["queues"][0]["acked"], 0,
            "manual acks: nothing acked"
        );
    }
}

/// `--nack-if` nacks the printed messages whose body matches and acks the others; the nacked
/// come back as second attempts after the retry delay. `--lease` and `--max-attempts` set the
/// group's settings when it is made; `--nack` nacks everything.
#[test]
fn the_cli_nacks_what_it_is_told_to_and_sets_lease_and_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start_with(
        dir.path(),
        free_udp_port(),
        "[groups]\nretry_delays = [\"100ms\"]\n",
    );
    server.ok_lines(&["topic", "create", "jobs", "--queues", "1"], None);
    produce_lines(&server, "jobs", 10);
    let first = server.ok_lines(
        &[
            "consume",
            "--topic",
            "jobs",
            "--group",
            "g",
            "--from",
            "earliest",
            "--max",
            "10",
            "--nack-if",
            "^line [0-3]$",
            "--lease",
            "7s",
            "--max-attempts",
            "3",
        ],
        None,
    );
    assert_eq!(first.len(), 10);
    let g = &server.ok_lines(&["group", "describe", "g", "--json"], None)[0];
    assert_eq!(
        (g["lease_ms"].as_u64(), g["max_attempts"].as_u64()),
        (Some(7000), Some(3))
    );
    let q = &g["queues"][0];
    // The four nacked wait for their retry (or are ready again already: its delay is 100 ms).
    let back = q["retrying"].as_u64().unwrap() + q["ready"].as_u64().unwrap();
    assert_eq!(
        (back, q["in_flight"].as_u64(), q["acked"].as_u64()),
        (4, Some(0), Some(0)),
        "{g}"
    );

    // The four come back as second attempts; this run nacks them all again.
    let second = server.ok_lines(
        &[
            "consume", "--topic", "jobs", "--group", "g", "--max", "4", "--nack",
        ],
        None,
    );
    assert_eq!(
        bodies(&second),
        (0..4).map(|i| format!("line {i}")).collect()
    );
    assert!(second.iter().all(|l| l["attempt"] == 2), "{second:?}");
    let third = server.ok_lines(
        &["consume", "--topic", "jobs", "--group", "g", "--max", "4"],
        None,
    );
    assert!(third.iter().all(|l| l["attempt"] == 3), "{third:?}");
    let q = &server.ok_lines(&["group", "describe", "g", "--json"], None)[0]["queues"][0];
    assert_eq!(
        (q["acked"].as_u64(), q["end"].as_u64()),
        (Some(10), Some(10)),
        "{q}"
    );

    let refused = server.cli(&[
        "consume",
        "--topic",
        "jobs",
        "--group",
        "g",
        "--nack-if",
        "(",
    ]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("--nack-if \"(\" is not a regular expression"),
        "{said}"
    );
}
