//! The access-check matrix: every request kind a client sends, made by a principal with the
//! right (it passes the access check) and by one without it (NotAuthorized) and by an
//! unauthenticated connection (NotAuthenticated); after each refusal, nothing the broker holds
//! has changed. A test walks the kind table so that a new kind cannot be left out.
//!
//! Also the holes found from outside (issue 22, points 1–7): check-back answers that are not
//! asked for, a TxnSend into another principal's transaction, a later Hello with a bad token,
//! internal topics, and describe implied by produce and consume. (A burst of connections over
//! `server.max_connections` is in `quic.rs`.)

mod common;

use common::server::{client_options, clustering_join, fetch_start, start, test_config};
use lockgate::auth::{Action, AuthConfig, Mode, Pattern, Rule, TokenEntry, TokenHash};
use lockgate::client::{Client, ClientError};
use lockgate::protocol::{
    AckRange, CheckAnswer, CreateTopic, DelayRequest, DelayedProduce, Delivery, FetchFamily,
    FilterSpec, GroupRequest, Kind, LookupRequest, Outcome, PluginRequest, ProduceMessage,
    ProduceRequest, ReceiveRequest, Request, ResetRequest, ResetTo, Response, Route,
    SessionRequest, Status, SubscribeRequest, TopicRequest, TxnRequest, TxnSend,
};
use lockgate::storage::{Durability, Message};

fn rule(principal: &str, actions: &[Action], topics: &[&str], groups: &[&str]) -> Rule {
    Rule {
        principal: principal.into(),
        actions: actions.to_vec(),
        topics: topics.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
        groups: groups.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
    }
}

/// Principals and their tokens: `ops` may do anything; `alice` everything on `a.*` topics and
/// `ga*` groups; `mallory` everything on `m.*` and `gm*`; `carol` only produce and consume on
/// `c.*`.
struct Tokens {
    ops: String,
    alice: String,
    mallory: String,
    carol: String,
}

fn auth() -> (AuthConfig, Tokens) {
    let t = Tokens {
        ops: lockgate::auth::token::generate().unwrap(),
        alice: lockgate::auth::token::generate().unwrap(),
        mallory: lockgate::auth::token::generate().unwrap(),
        carol: lockgate::auth::token::generate().unwrap(),
    };
    let entry = |name: &str, token: &str| TokenEntry {
        name: name.into(),
        hash: TokenHash::of(token),
    };
    let config = AuthConfig {
        mode: Mode::Required,
        allow_anonymous_remote: false,
        tokens: vec![
            entry("ops", &t.ops),
            entry("alice", &t.alice),
            entry("mallory", &t.mallory),
            entry("carol", &t.carol),
        ],
        acl: vec![
            rule("ops", &Action::ALL, &["*"], &["*"]),
            rule("alice", &Action::ALL, &["a.*"], &["ga*"]),
            rule("mallory", &Action::ALL, &["m.*"], &["gm*"]),
            rule("carol", &[Action::Produce, Action::Consume], &["c.*"], &[]),
        ],
        quotas: vec![],
    };
    (config, t)
}

/// A broker with [`auth`]'s rules, its data directory and the tokens.
async fn server() -> (tempfile::TempDir, lockgate::server::Running, Tokens) {
    let dir = tempfile::tempdir().unwrap();
    let (auth, tokens) = auth();
    let mut config = test_config(dir.path());
    config.auth = auth;
    let running = start(&config).await;
    (dir, running, tokens)
}

fn begin(id: &str, group: &str) -> Request {
    Request::Txn(TxnRequest::Begin {
        id: id.into(),
        producer_group: group.into(),
        timeout_ms: 0,
    })
}

async fn connect(
    running: &lockgate::server::Running,
    dir: &std::path::Path,
    token: Option<&str>,
) -> Client {
    let o = client_options(running, dir);
    let o = match token {
        Some(t) => o.with_token(t),
        None => o,
    };
    Client::connect(&o).await.unwrap()
}

fn status_of(r: &Result<Response, ClientError>) -> Option<Status> {
    match r {
        Ok(_) => None,
        Err(e) => e.status(),
    }
}

fn message(body: &str, key: Option<&str>) -> ProduceMessage {
    ProduceMessage {
        route: Route::Any,
        message: Message {
            keys: key.into_iter().map(String::from).collect(),
            body: body.as_bytes().to_vec(),
            ..Message::default()
        },
    }
}

fn produce(topic: &str) -> ProduceRequest {
    ProduceRequest {
        topic: topic.into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![message("x", None)],
    }
}

fn delayed(topic: &str) -> Request {
    Request::Delay(DelayRequest::Produce(DelayedProduce {
        produce: produce(topic),
        deliveries: vec![Delivery::After(3_600_000)],
    }))
}

fn txn_send(id: &str, topic: &str) -> Request {
    Request::Txn(TxnRequest::Send(TxnSend {
        id: id.into(),
        produce: produce(topic),
        deliveries: Vec::new(),
    }))
}

/// Who passes a case's access check.
#[derive(Clone, Copy, PartialEq)]
enum Granted {
    /// alice, on her own topics and groups.
    Owner,
    /// Only a principal with the right on the whole broker (ops).
    Broker,
    /// Every authenticated connection (the answer lists only what it may see).
    Listing,
    /// Every connection.
    Anyone,
}

struct Case {
    kind: Kind,
    granted: Granted,
    /// The request alice (or ops) makes.
    request: Request,
    /// The request mallory makes (the same unless given).
    by_mallory: Option<Request>,
}

fn case(kind: Kind, granted: Granted, request: Request) -> Case {
    assert_eq!(request.kind(), kind, "the case's request is of its kind");
    Case {
        kind,
        granted,
        request,
        by_mallory: None,
    }
}

/// Kinds no client sends as a request of its own, with why.
const NOT_REQUESTS: &[(Kind, &str)] = &[
    (
        Kind::Credit,
        "one-way, only on the client's own subscription stream",
    ),
    (Kind::Deliveries, "sent by the server only"),
    (Kind::TxnCheck, "sent by the server only"),
];

/// What the broker holds, as ops sees it: topics with their queue ranges, groups, open
/// transactions, pending delay messages. A refused request must leave it as it was.
async fn observe(ops: &Client) -> String {
    let mut out = String::new();
    for t in ops.list_topics().await.unwrap() {
        let (_, queues) = ops.describe_topic(&t.name).await.unwrap();
        out += &format!("{} {:?}\n", t.name, queues);
    }
    for g in ops.list_groups().await.unwrap() {
        out += &format!("{g:?}\n");
    }
    for t in ops.list_transactions().await.unwrap() {
        out += &format!("{t:?}\n");
    }
    out += &format!("{:?}\n", ops.delay_stats().await.unwrap().topics);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_kind_is_allowed_with_its_right_and_refused_without_changing_anything() {
    let (dir, running, tokens) = server().await;
    let ops = connect(&running, dir.path(), Some(&tokens.ops)).await;
    let alice = connect(&running, dir.path(), Some(&tokens.alice)).await;
    let mallory = connect(&running, dir.path(), Some(&tokens.mallory)).await;
    let anonymous = connect(&running, dir.path(), None).await;
    for t in ["a.orders", "a.del", "m.own"] {
        ops.create_topic(t, 1, Some(Durability::Async), 0)
            .await
            .unwrap();
    }
    // alice's things: a message (with a key), a delay message, a member of group ga, a group
    // ga.del without members, and an open transaction with one message.
    let stored = match alice
        .call(Request::Produce(ProduceRequest {
            messages: vec![message("first", Some("k1"))],
            ..produce("a.orders")
        }))
        .await
        .unwrap()
    {
        Response::Produced { acks, .. } => acks[0].id,
        other => panic!("{other:?}"),
    };
    let pending = match alice.call(delayed("a.orders")).await.unwrap() {
        Response::Scheduled { acks, .. } => acks[0].id,
        other => panic!("{other:?}"),
    };
    let member = alice
        .join_group(clustering_join("ga", "a.orders"))
        .await
        .unwrap();
    let leaving = alice
        .join_group(clustering_join("ga.del", "a.orders"))
        .await
        .unwrap();
    alice
        .call(Request::Group(GroupRequest::Leave { member: leaving }))
        .await
        .unwrap();
    alice.call(begin("t-alice", "ga")).await.unwrap();
    alice.call(txn_send("t-alice", "a.orders")).await.unwrap();

    let range = AckRange {
        queue: 0,
        offset: 0,
        count: 1,
        lease: 1,
    };
    let fetch = fetch_start("a.orders");
    let cases = vec![
        case(
            Kind::Ping,
            Granted::Anyone,
            Request::Session(SessionRequest::Ping { nonce: 1 }),
        ),
        case(
            Kind::Hello,
            Granted::Anyone,
            Request::Session(SessionRequest::Hello {
                version: lockgate::protocol::VERSION,
                client: "matrix".into(),
                token: None,
            }),
        ),
        case(
            Kind::Produce,
            Granted::Owner,
            Request::Produce(produce("a.orders")),
        ),
        case(Kind::ProduceDelayed, Granted::Owner, delayed("a.orders")),
        case(
            Kind::Fetch,
            Granted::Owner,
            Request::Fetch(FetchFamily::Fetch(fetch.clone())),
        ),
        case(
            Kind::FetchFiltered,
            Granted::Owner,
            Request::Fetch(FetchFamily::Filtered(
                fetch,
                FilterSpec {
                    plugin: "tag".into(),
                    expression: "*".into(),
                },
            )),
        ),
        case(
            Kind::TopicCreate,
            Granted::Owner,
            Request::Topic(TopicRequest::Create(CreateTopic {
                name: "a.new".into(),
                queues: 1,
                durability: None,
                retention_ms: 0,
            })),
        ),
        case(
            Kind::TopicList,
            Granted::Listing,
            Request::Topic(TopicRequest::List),
        ),
        case(
            Kind::TopicDescribe,
            Granted::Owner,
            Request::Topic(TopicRequest::Describe {
                name: "a.orders".into(),
            }),
        ),
        case(
            Kind::LookupId,
            Granted::Owner,
            Request::Lookup(LookupRequest::Id {
                topic: "a.orders".into(),
                id: stored,
            }),
        ),
        case(
            Kind::LookupKey,
            Granted::Owner,
            Request::Lookup(LookupRequest::Key {
                topic: "a.orders".into(),
                key: "k1".into(),
                limit: 10,
            }),
        ),
        case(
            Kind::OffsetForTime,
            Granted::Owner,
            Request::Lookup(LookupRequest::OffsetForTime {
                topic: "a.orders".into(),
                queue: 0,
                time_ms: 0,
            }),
        ),
        case(
            Kind::GroupJoin,
            Granted::Owner,
            Request::Group(GroupRequest::Join(clustering_join("ga", "a.orders"))),
        ),
        case(
            Kind::Heartbeat,
            Granted::Owner,
            Request::Group(GroupRequest::Heartbeat { member }),
        ),
        case(
            Kind::Receive,
            Granted::Owner,
            Request::Group(GroupRequest::Receive(ReceiveRequest {
                member,
                max_messages: 1,
                max_bytes: 1 << 20,
                max_wait_ms: 0,
            })),
        ),
        case(
            Kind::Ack,
            Granted::Owner,
            Request::Group(GroupRequest::Ack {
                member,
                ranges: vec![range],
            }),
        ),
        case(
            Kind::Nack,
            Granted::Owner,
            Request::Group(GroupRequest::Nack {
                member,
                reason: "no".into(),
                ranges: vec![range],
            }),
        ),
        case(
            Kind::Subscribe,
            Granted::Owner,
            Request::Group(GroupRequest::Subscribe(SubscribeRequest {
                join: clustering_join("ga", "a.orders"),
                credit_messages: 0,
                credit_bytes: 0,
            })),
        ),
        case(
            Kind::GroupList,
            Granted::Listing,
            Request::Group(GroupRequest::List),
        ),
        case(
            Kind::GroupDescribe,
            Granted::Owner,
            Request::Group(GroupRequest::Describe { group: "ga".into() }),
        ),
        case(
            Kind::GroupReset,
            Granted::Owner,
            Request::Group(GroupRequest::Reset(ResetRequest {
                group: "ga".into(),
                topic: "a.orders".into(),
                queue: None,
                to: ResetTo::Earliest,
            })),
        ),
        case(
            Kind::PluginList,
            Granted::Broker,
            Request::Plugin(PluginRequest::List),
        ),
        case(
            Kind::PluginStats,
            Granted::Broker,
            Request::Plugin(PluginRequest::Stats),
        ),
        case(
            Kind::PluginState,
            Granted::Broker,
            Request::Plugin(PluginRequest::State),
        ),
        case(
            Kind::PluginReload,
            Granted::Broker,
            Request::Plugin(PluginRequest::Reload { name: "tag".into() }),
        ),
        case(
            Kind::DelayStats,
            Granted::Broker,
            Request::Delay(DelayRequest::Stats),
        ),
        case(
            Kind::MessageState,
            Granted::Owner,
            Request::Delay(DelayRequest::State {
                topic: "a.orders".into(),
                id: pending,
            }),
        ),
        case(
            Kind::TxnList,
            Granted::Broker,
            Request::Txn(TxnRequest::List),
        ),
        case(Kind::TxnBegin, Granted::Owner, begin("t-new", "ga")),
        Case {
            // mallory writes to a topic of his own: only the transaction is not his.
            by_mallory: Some(txn_send("t-alice", "m.own")),
            ..case(
                Kind::TxnSend,
                Granted::Owner,
                txn_send("t-alice", "a.orders"),
            )
        },
        case(
            Kind::TxnCheckListen,
            Granted::Owner,
            Request::Txn(TxnRequest::Listen {
                producer_group: "ga".into(),
            }),
        ),
        // The ones that end things come last: their granted attempt changes what the others
        // use.
        case(
            Kind::DelayCancel,
            Granted::Owner,
            Request::Delay(DelayRequest::Cancel {
                topic: "a.orders".into(),
                id: pending,
            }),
        ),
        case(
            Kind::GroupLeave,
            Granted::Owner,
            Request::Group(GroupRequest::Leave { member }),
        ),
        case(
            Kind::GroupDelete,
            Granted::Owner,
            Request::Group(GroupRequest::Delete {
                group: "ga.del".into(),
            }),
        ),
        case(
            Kind::TopicDelete,
            Granted::Owner,
            Request::Topic(TopicRequest::Delete {
                name: "a.del".into(),
            }),
        ),
        // A refused one would show as a second queue in `observe`.
        case(
            Kind::TopicAlter,
            Granted::Owner,
            Request::Topic(TopicRequest::Alter {
                name: "a.orders".into(),
                queues: 2,
            }),
        ),
        case(
            Kind::TxnEnd,
            Granted::Owner,
            Request::Txn(TxnRequest::End {
                id: "t-alice".into(),
                outcome: Outcome::Commit,
            }),
        ),
    ];
    // A check-back answer outside a check stream is answered and changes nothing, whoever
    // sends it (tested below); here it is in the table walk.
    let answer = Request::Txn(TxnRequest::Answer {
        id: "t-alice".into(),
        answer: CheckAnswer::Outcome(Outcome::Rollback),
    });

    // Every kind a client sends is in the table, or known not to be a request of its own.
    let covered: Vec<Kind> = cases.iter().map(|c| c.kind).collect();
    for v in 0..=u16::MAX {
        let Some(kind) = Kind::from_u16(v) else {
            continue;
        };
        assert!(
            covered.contains(&kind)
                || kind == Kind::TxnCheckAnswer
                || NOT_REQUESTS.iter().any(|(k, _)| *k == kind),
            "{kind:?} is missing from the access matrix"
        );
    }

    // Refused: by mallory (authenticated, no right) and by an unauthenticated connection.
    let before = observe(&ops).await;
    for c in &cases {
        if c.granted == Granted::Anyone {
            continue;
        }
        let by_mallory = c.by_mallory.clone().unwrap_or_else(|| c.request.clone());
        let r = mallory.call(by_mallory).await;
        match c.granted {
            Granted::Listing => assert_eq!(status_of(&r), None, "{:?}: {r:?}", c.kind),
            _ => assert_eq!(
                status_of(&r),
                Some(Status::NotAuthorized),
                "{:?} by mallory: {r:?}",
                c.kind
            ),
        }
        let r = anonymous.call(c.request.clone()).await;
        assert_eq!(
            status_of(&r),
            Some(Status::NotAuthenticated),
            "{:?} unauthenticated: {r:?}",
            c.kind
        );
        assert_eq!(
            observe(&ops).await,
            before,
            "{:?} refused changed nothing",
            c.kind
        );
    }
    // A list shows mallory none of alice's things.
    let topics = mallory.list_topics().await.unwrap();
    assert_eq!(
        topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["m.own"]
    );
    let groups = mallory.list_groups().await.unwrap();
    assert!(groups.is_empty(), "{groups:?}");
    // An answer outside a check stream changes nothing, by mallory or by alice.
    for who in [&mallory, &alice] {
        assert!(matches!(who.call(answer.clone()).await, Ok(Response::Done)));
        assert_eq!(
            observe(&ops).await,
            before,
            "an unasked answer changed nothing"
        );
    }

    // Allowed: alice on her things, ops on the broker's, anyone for ping and hello.
    for c in &cases {
        let who = match c.granted {
            Granted::Broker => &ops,
            Granted::Anyone => &anonymous,
            Granted::Owner | Granted::Listing => &alice,
        };
        let r = who.call(c.request.clone()).await;
        assert!(
            !matches!(
                status_of(&r),
                Some(Status::NotAuthorized | Status::NotAuthenticated)
            ),
            "{:?} with the right: {r:?}",
            c.kind
        );
    }
    // Nothing of mallory's refused sends reached his own topic, nor did alice's commit put
    // anything there.
    let (_, queues) = ops.describe_topic("m.own").await.unwrap();
    assert_eq!(queues[0].next, 0);
    running.stop().await.unwrap();
}

/// Opens a check stream for `group` on `client` and returns its halves once the server said
/// Done.
async fn check_stream(
    client: &Client,
    group: &str,
) -> (lockgate::client::SendStream, lockgate::client::RecvStream) {
    use lockgate::protocol::frame;
    let (mut send, mut recv) = client.open_stream().await.unwrap();
    let mut body = Vec::new();
    Request::Txn(TxnRequest::Listen {
        producer_group: group.into(),
    })
    .encode_body(&mut body);
    send.write_all(&frame(Kind::TxnCheckListen as u16, 1, &body))
        .await
        .unwrap();
    let (_, b) = recv.read_frame().await.unwrap();
    assert_eq!(
        Response::decode(Kind::TxnCheckListen, &b).unwrap(),
        Response::Done
    );
    (send, recv)
}

async fn answer_on(send: &mut lockgate::client::SendStream, id: &str, outcome: Outcome) {
    let mut body = Vec::new();
    Request::Txn(TxnRequest::Answer {
        id: id.into(),
        answer: CheckAnswer::Outcome(outcome),
    })
    .encode_body(&mut body);
    send.write_all(&lockgate::protocol::frame(
        Kind::TxnCheckAnswer as u16,
        0,
        &body,
    ))
    .await
    .unwrap();
}

/// Point 1 and 2: a check-back answer applies only on a check stream of the transaction's
/// group, to a check asked there; a TxnSend needs produce on the transaction's group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_of_a_transaction_can_add_to_it_or_end_it() {
    let (dir, running, tokens) = server().await;
    let ops = connect(&running, dir.path(), Some(&tokens.ops)).await;
    let alice = connect(&running, dir.path(), Some(&tokens.alice)).await;
    let mallory = connect(&running, dir.path(), Some(&tokens.mallory)).await;
    for t in ["a.orders", "m.own"] {
        ops.create_topic(t, 1, Some(Durability::Async), 0)
            .await
            .unwrap();
    }
    alice.call(begin("t-alice", "ga")).await.unwrap();
    alice.call(txn_send("t-alice", "a.orders")).await.unwrap();
    // mallory's own check stream, and alice's (asked nothing yet): answers there change
    // nothing.
    for (who, group) in [(&mallory, "gm"), (&alice, "ga")] {
        let (mut send, mut recv) = check_stream(who, group).await;
        answer_on(&mut send, "t-alice", Outcome::Rollback).await;
        // The server ends its side once it has read (and applied or ignored) every answer.
        send.finish();
        let end = tokio::time::timeout(std::time::Duration::from_secs(30), recv.read_frame())
            .await
            .expect("the check stream ends");
        assert!(end.is_err(), "nothing is asked there: {end:?}");
    }
    // A TxnSend into alice's transaction, to mallory's own topic: refused.
    let e = mallory
        .call(txn_send("t-alice", "m.own"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(Status::NotAuthorized), "{e}");
    assert!(e.to_string().contains("group \"ga\""), "{e}");
    // Still open: alice commits.
    match alice
        .call(Request::Txn(TxnRequest::End {
            id: "t-alice".into(),
            outcome: Outcome::Commit,
        }))
        .await
        .unwrap()
    {
        Response::TxnEnded(ended) => assert_eq!(ended.outcome, Outcome::Commit),
        other => panic!("{other:?}"),
    }
    let (_, orders) = ops.describe_topic("a.orders").await.unwrap();
    assert_eq!(orders[0].next, 1, "alice's message is visible");
    let (_, own) = ops.describe_topic("m.own").await.unwrap();
    assert_eq!(
        own[0].next, 0,
        "nothing of mallory's joined the transaction"
    );
    running.stop().await.unwrap();
}

/// Point 3: after a Hello with a token, the connection is what that token makes it; a refused
/// token leaves it unauthenticated, whatever it presented before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_hello_with_a_bad_token_leaves_the_connection_unauthenticated() {
    let (dir, running, tokens) = server().await;
    let alice = connect(&running, dir.path(), Some(&tokens.alice)).await;
    alice.create_topic("a.x", 1, None, 0).await.unwrap();
    let hello = |token: &str| {
        Request::Session(SessionRequest::Hello {
            version: lockgate::protocol::VERSION,
            client: "again".into(),
            token: Some(token.into()),
        })
    };
    // The same token again changes nothing.
    alice.call(hello(&tokens.alice)).await.unwrap();
    alice.describe_topic("a.x").await.unwrap();
    let e = alice.call(hello("lgt_not_a_token")).await.unwrap_err();
    assert_eq!(e.status(), Some(Status::NotAuthenticated), "{e}");
    let e = alice.describe_topic("a.x").await.unwrap_err();
    assert_eq!(e.status(), Some(Status::NotAuthenticated), "{e}");
    // A good token authenticates it again.
    alice.call(hello(&tokens.alice)).await.unwrap();
    alice.describe_topic("a.x").await.unwrap();
    running.stop().await.unwrap();
}

/// Point 5 and 7: only the broker writes internal topics; describing them is an
/// administrator's matter, and TopicList shows none that cannot be read; any right on a topic
/// includes describing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_topics_are_the_brokers_and_a_right_to_a_topic_includes_describing_it() {
    let (dir, running, tokens) = server().await;
    let ops = connect(&running, dir.path(), Some(&tokens.ops)).await;
    let alice = connect(&running, dir.path(), Some(&tokens.alice)).await;
    let carol = connect(&running, dir.path(), Some(&tokens.carol)).await;
    ops.create_topic("c.eu", 1, None, 0).await.unwrap();
    // A delay message makes %DELAY%; a forged dead letter is refused even for ops.
    carol.call(delayed("c.eu")).await.unwrap();
    for topic in ["%DLQ%ga", "%DELAY%", "%TXN_UNRESOLVED%", "%PIPE%c.eu"] {
        let e = ops
            .call(Request::Produce(produce(topic)))
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(Status::ReservedName), "{topic}: {e}");
    }
    let listed: Vec<String> = ops
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(listed, ["c.eu"], "the broker's stores are not listed");
    ops.describe_topic("%DELAY%").await.unwrap();
    let e = alice.describe_topic("%DELAY%").await.unwrap_err();
    assert_eq!(e.status(), Some(Status::NotAuthorized), "{e}");
    assert!(e.to_string().contains("admin the broker"), "{e}");
    // carol may produce and consume c.*, and so describe them (as consume --topic does).
    let (_, queues) = carol.describe_topic("c.eu").await.unwrap();
    assert_eq!(queues.len(), 1);
    let e = carol.describe_topic("a.x").await.unwrap_err();
    assert_eq!(e.status(), Some(Status::NotAuthorized), "{e}");
    running.stop().await.unwrap();
}
