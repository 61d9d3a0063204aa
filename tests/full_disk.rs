//! A full disk loses nothing: a `lockgate serve` process on a small tmpfs (mounted by the test;
//! CI runs as root) fills it, stops cleanly, starts again on the still-full disk serving reads
//! and refusing writes with a clear status, and takes writes once space returns. Group
//! progress and every acknowledged message survive; repeated errors are rate-limited.

mod common;

use std::process::Command;

use common::process::{ServeProcess, free_udp_port};
use common::tmpfs::Tmpfs;

fn stop_cleanly(mut server: ServeProcess) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.child.wait().unwrap()
}

fn bodies_from_earliest(server: &ServeProcess) -> Vec<String> {
    server
        .ok_lines(
            &[
                "consume", "--topic", "full", "--from", "earliest", "--wait", "1s",
            ],
            None,
        )
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect()
}

fn group_acked(server: &ServeProcess) -> u64 {
    let g = server.ok_lines(&["group", "describe", "g", "--json"], None);
    g[0]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["acked"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_full_disk_loses_nothing_and_writes_resume_when_space_returns() {
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("mnt");
    let _fs = Tmpfs::mount(&mnt, "6m");
    let port = free_udp_port();
    // Space to hand back later.
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![0u8; 512 << 10]).unwrap();

    let server = ServeProcess::start(&mnt, port);
    server.ok_lines(
        &[
            "topic",
            "create",
            "full",
            "--queues",
            "2",
            "--durability",
            "sync",
        ],
        None,
    );
    let small: String = (0..100).map(|i| format!("small {i}\n")).collect();
    assert_eq!(
        server
            .ok_lines(&["produce", "--topic", "full"], Some(&small))
            .len(),
        100
    );
    let first = server.ok_lines(
        &[
            "consume", "--topic", "full", "--group", "g", "--from", "earliest", "--max", "60",
        ],
        None,
    );
    assert_eq!(first.len(), 60);

    // Fill the disk with 60 KB messages until a write is refused.
    let mut acked = 100;
    let refusal = loop {
        let body = format!("big {acked} {}", "x".repeat(60_000));
        let out = server.cli(&["produce", "--topic", "full", "--body", &body]);
        if !out.status.success() {
            break String::from_utf8_lossy(&out.stderr).to_string();
        }
        acked += 1;
        assert!(acked < 200, "the disk never filled");
    };
    assert!(
        refusal.contains("disk is full") && refusal.contains("nothing was stored"),
        "{refusal}"
    );
    // Refused again and again: the log says so once in a while, not every time.
    let big = "x".repeat(60_000);
    for _ in 0..20 {
        let out = server.cli(&["produce", "--topic", "full", "--body", &big]);
        assert!(!out.status.success());
    }
    let answered = server
        .log
        .lock()
        .unwrap()
        .matches("failure answered to a client")
        .count();
    assert!(answered <= 2, "{answered} lines for 21 refusals");

    // A clean stop on the full disk.
    let status = stop_cleanly(server);
    assert!(
        status.success(),
        "a clean stop on a full disk exits 0, not {status}"
    );

    // A start on the still-full disk: reads are served, writes refused clearly.
    let server = ServeProcess::start(&mnt, port);
    let all = bodies_from_earliest(&server);
    assert_eq!(all.len(), acked, "every acknowledged message is there");
    assert!(group_acked(&server) >= 60, "the group's progress survived");
    let out = server.cli(&["produce", "--topic", "full", "--body", &big]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disk is full"));
    assert!(stop_cleanly(server).success());

    // Space returns: after a restart, writes are taken again and nothing is missing.
    std::fs::remove_file(&ballast).unwrap();
    let server = ServeProcess::start(&mnt, port);
    let acks = server.ok_lines(
        &["produce", "--topic", "full", "--body", "room again"],
        None,
    );
    assert_eq!(acks.len(), 1);
    let all = bodies_from_earliest(&server);
    assert_eq!(all.len(), acked + 1);
    assert!(all.iter().any(|b| b == "room again"));
    let rest = server.ok_lines(
        &["consume", "--topic", "full", "--group", "g", "--wait", "1s"],
        None,
    );
    assert!(
        rest.len() as u64 >= 100 - 60,
        "the group goes on from its progress"
    );
    assert!(stop_cleanly(server).success());
}
