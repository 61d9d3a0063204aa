//! Transactions from the command line, as the docs write them: `produce --transaction`
//! (commit at the end of input, or `--rollback`), `txn list`, `txn commit ID`,
//! `txn rollback ID`, against a `lockgate serve` process.

mod common;

use common::process::{ServeProcess, free_udp_port};
use lockgate::client::{Client, TransactionProducer, TransactionProducerOptions};
use lockgate::protocol::{ProduceMessage, Route};
use lockgate::storage::Message;

fn consume(server: &ServeProcess) -> Vec<String> {
    server
        .ok_lines(
            &[
                "consume", "--topic", "orders", "--queue", "0", "--from", "earliest", "--wait",
                "300ms",
            ],
            None,
        )
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect()
}

/// Begins transaction `id` with one message for an operator to settle, from this process.
fn leave_open(server: &ServeProcess, id: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = Client::connect(&server.client_options()).await.unwrap();
        let p = TransactionProducer::new(client.clone(), TransactionProducerOptions::new("app"));
        let tx = p.begin(id).await.unwrap();
        let m = ProduceMessage {
            route: Route::Queue(0),
            message: Message {
                body: b"settled by an operator".to_vec(),
                ..Message::default()
            },
        };
        tx.send("orders", vec![m]).await.unwrap();
        client.close().await;
    });
}

#[test]
fn transactions_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    server.ok_lines(&["topic", "create", "orders", "--queues", "1"], None);

    let out = server.ok_lines(
        &[
            "produce",
            "--topic",
            "orders",
            "--transaction",
            "--txn-id",
            "batch-1",
        ],
        Some("a\nb\nc\n"),
    );
    assert_eq!(out.len(), 4, "three messages and the outcome: {out:?}");
    for (i, m) in out[..3].iter().enumerate() {
        assert_eq!(m["topic"], "orders");
        assert_eq!(m["offset"].as_u64(), Some(i as u64));
    }
    let outcome = &out[3];
    assert_eq!(outcome["transaction"], "batch-1");
    assert_eq!(outcome["outcome"], "commit");
    assert_eq!(outcome["already"], false);
    assert_eq!(outcome["placed"][0]["count"].as_u64(), Some(3));
    assert_eq!(consume(&server), ["a", "b", "c"]);

    let out = server.ok_lines(
        &[
            "produce",
            "--topic",
            "orders",
            "--transaction",
            "--rollback",
        ],
        Some("x\ny\n"),
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["outcome"], "rollback");
    assert!(out[0]["transaction"].as_str().unwrap().starts_with("cli-"));
    assert_eq!(consume(&server), ["a", "b", "c"], "nothing of a rollback");

    leave_open(&server, "pending-1");
    let listed = server.ok_lines(&["txn", "list"], None);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let t = &listed[0];
    assert_eq!(t["id"], "pending-1");
    assert_eq!(t["producer_group"], "app");
    assert_eq!(t["state"], "open");
    assert_eq!(t["topics"][0], "orders");
    assert_eq!(t["messages"].as_u64(), Some(1));
    assert!(t["age_ms"].as_i64().unwrap() >= 0);
    assert_eq!(t["checks"].as_u64(), Some(0));

    let committed = server.ok_lines(&["txn", "commit", "pending-1"], None);
    assert_eq!(committed[0]["outcome"], "commit");
    assert_eq!(committed[0]["placed"][0]["first_offset"].as_u64(), Some(3));
    assert_eq!(consume(&server).len(), 4);
    let again = server.ok_lines(&["txn", "commit", "pending-1"], None);
    assert_eq!(again[0]["already"], true);
    assert_eq!(consume(&server).len(), 4, "a second commit stores nothing");
    let refused = server.cli(&["txn", "rollback", "pending-1"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("was committed"), "{stderr}");
    assert!(server.ok_lines(&["txn", "list"], None).is_empty());
    let unknown = server.cli(&["txn", "commit", "never"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not known"));
}
