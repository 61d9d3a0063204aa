//! SIGKILL a `lockgate serve` process while transactions are in every phase — half messages
//! being written, commits and rollbacks in flight, transactions waiting for a check-back —
//! five times over. After a last restart, and once every transaction is settled (check-backs
//! answer by the same rule the producers follow): each transaction's messages are visible all
//! or none, committed ones exactly once, rolled-back ones never.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{ServeProcess, free_udp_port};
use lockgate::client::{Client, TransactionProducer, TransactionProducerOptions};
use lockgate::protocol::{CheckAnswer, Outcome, ProduceMessage, Route};
use lockgate::storage::{Durability, Message, MessageId};

const PATIENCE: Duration = Duration::from_secs(90);
const GROUP: &str = "crash";
const CHECKS: &str =
    "\n[transactions]\ncheck_after = \"300ms\"\ncheck_interval = \"300ms\"\nmax_checks = 1000\n";

/// What the producer of transaction number `n` means to do, and what a check-back answers.
fn intended(n: u64) -> Outcome {
    match n % 3 {
        0 if n.is_multiple_of(2) => Outcome::Commit,
        0 => Outcome::Rollback,
        1 => Outcome::Commit,
        _ => Outcome::Rollback,
    }
}

fn number_of(id: &str) -> u64 {
    id.rsplit('-').next().unwrap().parse().unwrap()
}

/// What the producers know was acknowledged, per transaction id.
#[derive(Default, Clone)]
struct Known {
    /// Message ids of acknowledged sends.
    sent: Vec<MessageId>,
    /// Both sends were acknowledged.
    complete: bool,
    /// The outcome the server acknowledged.
    ended: Option<Outcome>,
}

type Ledger = Arc<Mutex<HashMap<String, Known>>>;

fn msg(id: &str, k: u32) -> ProduceMessage {
    ProduceMessage {
        route: Route::Any,
        message: Message {
            body: format!("{id} {k}").into_bytes(),
            ..Message::default()
        },
    }
}

/// Runs transactions until the connection fails: 2 messages to "ta", 1 to "tb"; n % 3 == 0
/// is left without an outcome for the check-back, the others end as [`intended`].
async fn work(
    client: Client,
    ledger: Ledger,
    round: u32,
    worker: u32,
    progress: Arc<tokio::sync::Notify>,
) {
    let mut opts = TransactionProducerOptions::new(GROUP);
    opts.retries = 0;
    let p = TransactionProducer::new(client, opts);
    for n in 0u64.. {
        let id = format!("r{round}-w{worker}-{}", n * 7 + u64::from(worker));
        let number = number_of(&id);
        let Ok(tx) = p.begin(&id).await else { return };
        ledger.lock().unwrap().insert(id.clone(), Known::default());
        let Ok(a) = tx.send("ta", vec![msg(&id, 0), msg(&id, 1)]).await else {
            return;
        };
        ledger
            .lock()
            .unwrap()
            .get_mut(&id)
            .unwrap()
            .sent
            .extend(a.iter().map(|a| a.id));
        let Ok(b) = tx.send("tb", vec![msg(&id, 2)]).await else {
            return;
        };
        {
            let mut l = ledger.lock().unwrap();
            let k = l.get_mut(&id).unwrap();
            k.sent.extend(b.iter().map(|a| a.id));
            k.complete = true;
        }
        if !number.is_multiple_of(3) {
            let outcome = intended(number);
            let ended = match outcome {
                Outcome::Commit => tx.commit().await,
                Outcome::Rollback => tx.rollback().await,
            };
            let Ok(_) = ended else { return };
            ledger.lock().unwrap().get_mut(&id).unwrap().ended = Some(outcome);
        }
        progress.notify_one();
    }
}

async fn listen(client: &Client) -> TransactionProducer {
    let p = TransactionProducer::new(client.clone(), TransactionProducerOptions::new(GROUP));
    p.listen(|info| CheckAnswer::Outcome(intended(number_of(&info.id))))
        .await
        .unwrap();
    p
}

/// Every visible message id of a topic, with how often it is there.
async fn visible(client: &Client, topic: &str, into: &mut HashMap<MessageId, u32>) {
    for d in common::server::read_everything(client, topic, 2).await {
        *into.entry(d.message.id).or_default() += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_every_phase_of_a_transaction_keeps_them_all_or_nothing_and_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let ledger: Ledger = Arc::default();
    for round in 0..5u32 {
        let server = ServeProcess::start_with(dir.path(), port, CHECKS);
        let client = Client::connect(&server.client_options()).await.unwrap();
        if round == 0 {
            for t in ["ta", "tb"] {
                client
                    .create_topic(t, 2, Some(Durability::Sync), 0)
                    .await
                    .unwrap();
            }
        }
        // Earlier rounds' open transactions are checked back while this round runs.
        let _listener = listen(&client).await;
        let progress = Arc::new(tokio::sync::Notify::new());
        let workers: Vec<_> = (0..2)
            .map(|w| {
                tokio::spawn(work(
                    client.clone(),
                    ledger.clone(),
                    round,
                    w,
                    progress.clone(),
                ))
            })
            .collect();
        let target = fastrand::usize(20..80);
        for _ in 0..target {
            tokio::time::timeout(PATIENCE, progress.notified())
                .await
                .unwrap_or_else(|_| panic!("round {round}: no progress"));
        }
        drop(server); // SIGKILL, with sends, commits and check-backs in flight
        // Their connection cannot learn that the server is gone (until its idle timeout):
        // stop them. Whatever they had not seen acknowledged stays unknown to the ledger.
        for w in workers {
            w.abort();
            let _ = w.await;
        }
        client.abort(0, "killed");
    }
    let server = ServeProcess::start_with(dir.path(), port, CHECKS);
    let client = Client::connect(&server.client_options()).await.unwrap();
    let _listener = listen(&client).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let open = client.list_transactions().await.unwrap();
        if open.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} transactions never settled: {:?}",
            open.len(),
            &open[..open.len().min(3)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen = HashMap::new();
    visible(&client, "ta", &mut seen).await;
    visible(&client, "tb", &mut seen).await;
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "visible twice: {twice:?}");
    let ledger = ledger.lock().unwrap().clone();
    let (mut committed, mut rolled_back, mut checked) = (0, 0, 0);
    for (id, k) in &ledger {
        let outcome = intended(number_of(id));
        let shown = k.sent.iter().filter(|m| seen.contains_key(m)).count();
        match outcome {
            Outcome::Rollback => assert_eq!(shown, 0, "{id} was rolled back: {k:?}", k = k.sent),
            Outcome::Commit => assert_eq!(shown, k.sent.len(), "{id} committed, messages missing"),
        }
        if k.complete {
            assert!(shown == 0 || shown == 3, "{id}: {shown} of 3 visible");
        }
        match (k.ended, outcome) {
            (Some(Outcome::Commit), _) => committed += 1,
            (Some(Outcome::Rollback), _) => rolled_back += 1,
            (None, _) if k.complete => checked += 1,
            _ => {}
        }
    }
    // Every visible message belongs to a transaction the producers know of.
    let known: std::collections::HashSet<_> = ledger.values().flat_map(|k| k.sent.iter()).collect();
    let strays = seen.keys().filter(|m| !known.contains(m)).count();
    let unacked_sends: usize = ledger.values().filter(|k| !k.complete).count();
    assert!(
        strays <= unacked_sends * 3,
        "{strays} visible messages of no known transaction"
    );
    assert!(
        committed > 10 && rolled_back > 10 && checked > 10,
        "every phase was exercised: {committed} committed, {rolled_back} rolled back, {checked} checked back"
    );
    client.close().await;
}
