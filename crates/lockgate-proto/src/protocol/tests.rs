//! Every message type three ways: round trip, every truncated prefix fails cleanly, golden bytes.

use super::*;
use super::{AckRange, GroupSettings as Settings, Mode};
use crate::record::Durability;
use crate::record::{Message, MessageId};

fn message(n: u8) -> Message {
    Message {
        id: MessageId([n; 16]),
        tag: "TagA".into(),
        keys: vec!["k1".into(), "k2".into()],
        properties: [("a".to_string(), "6".to_string())].into(),
        body: vec![n; 5],
        born_at: 1_700_000_000_000 + i64::from(n),
    }
}

fn requests() -> Vec<Request> {
    vec![
        Request::Session(SessionRequest::Ping { nonce: 7 }),
        Request::Session(SessionRequest::Hello {
            version: 1,
            client: "lockgate-cli".into(),
            token: None,
        }),
        Request::Produce(ProduceRequest {
            topic: "orders".into(),
            producer_id: 42,
            sequence: 3,
            messages: vec![
                ProduceMessage {
                    route: Route::Queue(2),
                    message: message(1),
                },
                ProduceMessage {
                    route: Route::Key("user-9".into()),
                    message: message(2),
                },
                ProduceMessage {
                    route: Route::Any,
                    message: Message::default(),
                },
            ],
        }),
        Request::Fetch(FetchFamily::Fetch(FetchRequest {
            topic: "orders".into(),
            queue: 3,
            offset: 99,
            max_messages: 100,
            max_bytes: 1 << 20,
            max_wait_ms: 500,
        })),
        Request::Fetch(FetchFamily::Filtered(
            FetchRequest {
                topic: "orders".into(),
                queue: 1,
                offset: 2,
                max_messages: 3,
                max_bytes: 4,
                max_wait_ms: 5,
            },
            FilterSpec {
                plugin: "tag".into(),
                expression: "TagA || TagB".into(),
            },
        )),
        Request::Topic(TopicRequest::Create(CreateTopic {
            name: "t".into(),
            queues: 8,
            durability: Some(Durability::Async),
            retention_ms: 0,
        })),
        Request::Topic(TopicRequest::Create(CreateTopic {
            name: "t".into(),
            queues: 1,
            durability: None,
            retention_ms: 3_600_000,
        })),
        Request::Topic(TopicRequest::Delete { name: "t".into() }),
        Request::Topic(TopicRequest::List),
        Request::Topic(TopicRequest::Describe { name: "t".into() }),
        Request::Topic(TopicRequest::Alter {
            name: "t".into(),
            queues: 16,
        }),
        Request::Lookup(LookupRequest::Id {
            topic: "t".into(),
            id: MessageId([9; 16]),
        }),
        Request::Lookup(LookupRequest::Key {
            topic: "t".into(),
            key: "k".into(),
            limit: 10,
        }),
        Request::Lookup(LookupRequest::OffsetForTime {
            topic: "t".into(),
            queue: 1,
            time_ms: -5,
        }),
        Request::Group(GroupRequest::Join(join(StartPosition::Time(
            1_700_000_000_000,
        )))),
        Request::Group(GroupRequest::Leave { member: 3 }),
        Request::Group(GroupRequest::Heartbeat { member: 4 }),
        Request::Group(GroupRequest::Receive(ReceiveRequest {
            member: 5,
            max_messages: 10,
            max_bytes: 1 << 20,
            max_wait_ms: 100,
        })),
        Request::Group(GroupRequest::Ack {
            member: 5,
            ranges: vec![range(0), range(1)],
        }),
        Request::Group(GroupRequest::Nack {
            member: 5,
            reason: "failed".into(),
            ranges: vec![range(2)],
        }),
        Request::Group(GroupRequest::Subscribe(SubscribeRequest {
            join: join(StartPosition::Earliest),
            credit_messages: 512,
            credit_bytes: 1 << 20,
        })),
        Request::Group(GroupRequest::Credit {
            messages: 7,
            bytes: 99,
        }),
        Request::Group(GroupRequest::List),
        Request::Group(GroupRequest::Describe { group: "g".into() }),
        Request::Group(GroupRequest::Reset(ResetRequest {
            group: "g".into(),
            topic: "t".into(),
            queue: Some(2),
            to: ResetTo::Time(-1),
        })),
        Request::Group(GroupRequest::Reset(ResetRequest {
            group: "g".into(),
            topic: "t".into(),
            queue: None,
            to: ResetTo::Offset(5),
        })),
        Request::Group(GroupRequest::Delete { group: "g".into() }),
        Request::Plugin(PluginRequest::List),
        Request::Plugin(PluginRequest::Reload { name: "vip".into() }),
        Request::Delay(DelayRequest::Produce(DelayedProduce {
            produce: ProduceRequest {
                topic: "later".into(),
                producer_id: 9,
                sequence: 2,
                messages: vec![
                    ProduceMessage {
                        route: Route::Key("k".into()),
                        message: message(1),
                    },
                    ProduceMessage {
                        route: Route::Any,
                        message: message(2),
                    },
                    ProduceMessage {
                        route: Route::Queue(1),
                        message: message(3),
                    },
                ],
            },
            deliveries: vec![
                Delivery::At(1_800_000_000_000),
                Delivery::After(1_500),
                Delivery::Level(18),
            ],
        })),
        Request::Delay(DelayRequest::Cancel {
            topic: "later".into(),
            id: MessageId([4; 16]),
        }),
        Request::Delay(DelayRequest::Stats),
        Request::Delay(DelayRequest::State {
            topic: String::new(),
            id: MessageId([5; 16]),
        }),
        Request::Txn(TxnRequest::Begin {
            id: "tx-1".into(),
            producer_group: "shop".into(),
            timeout_ms: 6_000,
        }),
        Request::Txn(TxnRequest::Send(txn_send(Vec::new()))),
        Request::Txn(TxnRequest::Send(txn_send(vec![
            Delivery::After(5),
            Delivery::At(7),
        ]))),
        Request::Txn(TxnRequest::End {
            id: "tx-1".into(),
            outcome: Outcome::Rollback,
        }),
        Request::Txn(TxnRequest::List),
        Request::Plugin(PluginRequest::Stats),
        Request::Plugin(PluginRequest::State),
        Request::Txn(TxnRequest::Listen {
            producer_group: "shop".into(),
        }),
        Request::Txn(TxnRequest::Answer {
            id: "tx-1".into(),
            answer: CheckAnswer::Unknown,
        }),
        Request::Txn(TxnRequest::Answer {
            id: "tx-2".into(),
            answer: CheckAnswer::Outcome(Outcome::Commit),
        }),
        Request::Session(SessionRequest::Hello {
            version: 1,
            client: "lockgate-cli".into(),
            token: Some("lgt_secret".into()),
        }),
    ]
}

fn txn_send(deliveries: Vec<Delivery>) -> TxnSend {
    TxnSend {
        id: "tx-1".into(),
        produce: ProduceRequest {
            topic: "orders".into(),
            producer_id: 9,
            sequence: 1,
            messages: vec![
                ProduceMessage {
                    route: Route::Key("k".into()),
                    message: message(4),
                },
                ProduceMessage {
                    route: Route::Any,
                    message: message(5),
                },
            ],
        },
        deliveries,
    }
}

fn txn_info() -> TxnInfo {
    TxnInfo {
        id: "tx-1".into(),
        producer_group: "shop".into(),
        phase: TxnPhase::Parked,
        topics: vec!["audit".into(), "orders".into()],
        messages: 3,
        begun_at: 1_700_000_000_000,
        checks: 15,
    }
}

fn join(start: StartPosition) -> JoinRequest {
    JoinRequest {
        group: "billing".into(),
        topic: "orders".into(),
        instance: "host-1".into(),
        mode: Mode::Ordered,
        start,
        lease_ms: 30_000,
        max_attempts: 16,
        session_timeout_ms: 0,
        filter: match start {
            StartPosition::Earliest => None,
            _ => Some(FilterSpec {
                plugin: "sql92".into(),
                expression: "a > 5".into(),
            }),
        },
    }
}

fn range(n: u32) -> AckRange {
    AckRange {
        queue: n,
        offset: 100 + u64::from(n),
        count: 3,
        lease: 9,
    }
}

fn topic_info() -> TopicInfo {
    TopicInfo {
        name: "orders".into(),
        id: 3,
        queues: 4,
        durability: Durability::Sync,
        retention_ms: 60_000,
        created_at: 1_700_000_000_000,
    }
}

fn responses() -> Vec<(Kind, Response)> {
    let delivered = Delivered {
        queue: 1,
        offset: 5,
        stored_at: 1_700_000_000_500,
        message: message(3),
    };
    vec![
        (Kind::Ping, Response::Pong { nonce: 7 }),
        (
            Kind::Hello,
            Response::Hello {
                version: 1,
                max_frame: 1 << 24,
                server: "lockgate 0.1.0".into(),
            },
        ),
        (
            Kind::Produce,
            Response::Routed {
                duplicate: false,
                acks: vec![
                    RoutedAck {
                        id: MessageId([3; 16]),
                        outcome: RouteOutcome::Stored,
                        destinations: vec![
                            RoutedTo {
                                topic: "eu".into(),
                                queue: 1,
                                offset: 40,
                            },
                            RoutedTo {
                                topic: "audit".into(),
                                queue: 0,
                                offset: 7,
                            },
                        ],
                    },
                    RoutedAck {
                        id: MessageId([4; 16]),
                        outcome: RouteOutcome::Dropped,
                        destinations: vec![],
                    },
                ],
                throttle_ms: 0,
            },
        ),
        (
            Kind::Produce,
            Response::Produced {
                duplicate: true,
                acks: vec![
                    Ack {
                        queue: 2,
                        offset: 10,
                        id: MessageId([1; 16]),
                    },
                    Ack {
                        queue: 0,
                        offset: 0,
                        id: MessageId([2; 16]),
                    },
                ],
                throttle_ms: 250,
                compact: false,
            },
        ),
        (
            Kind::Produce,
            Response::Produced {
                duplicate: false,
                acks: (0..3)
                    .map(|n| Ack {
                        queue: 1,
                        offset: 40 + n,
                        id: MessageId([3; 16]).nth(n).unwrap(),
                    })
                    .chain([Ack {
                        queue: 0,
                        offset: 7,
                        id: MessageId([4; 16]),
                    }])
                    .collect(),
                throttle_ms: 0,
                compact: true,
            },
        ),
        (
            Kind::Fetch,
            Response::Fetched {
                next_offset: 6,
                messages: vec![delivered.clone()],
            },
        ),
        (
            Kind::Fetch,
            Response::Fetched {
                next_offset: 6,
                messages: vec![],
            },
        ),
        (Kind::TopicCreate, Response::Topic(topic_info())),
        (Kind::TopicDelete, Response::TopicDeleted),
        (Kind::TopicAlter, Response::Topic(topic_info())),
        (
            Kind::TopicList,
            Response::Topics(vec![topic_info(), topic_info()]),
        ),
        (
            Kind::TopicDescribe,
            Response::Description {
                topic: topic_info(),
                queues: vec![
                    QueueRange {
                        earliest: 0,
                        next: 5,
                    },
                    QueueRange {
                        earliest: 2,
                        next: 2,
                    },
                ],
            },
        ),
        (
            Kind::LookupKey,
            Response::Found(vec![delivered.clone(), delivered.clone()]),
        ),
        (Kind::LookupId, Response::Found(vec![])),
        (Kind::OffsetForTime, Response::Offset(77)),
        (
            Kind::Subscribe,
            Response::Joined {
                member: 1,
                lease_ms: 2,
                session_timeout_ms: 3,
            },
        ),
        (Kind::Heartbeat, Response::Done),
        (
            Kind::Deliveries,
            Response::Deliveries(vec![GroupDelivered {
                lease: 4,
                attempt: 2,
                delivered: delivered.clone(),
            }]),
        ),
        (Kind::Nack, Response::Acked { done: 3, stale: 1 }),
        (
            Kind::GroupList,
            Response::Groups(vec![GroupSummary {
                name: "g".into(),
                mode: Mode::Broadcasting,
                members: 2,
                topics: vec!["a".into(), "b".into()],
            }]),
        ),
        (
            Kind::GroupDescribe,
            Response::Group(GroupInfo {
                name: "g".into(),
                settings: Settings {
                    mode: Mode::Ordered,
                    lease_ms: 30_000,
                    max_attempts: 16,
                    session_timeout_ms: 10_000,
                },
                members: vec![MemberInfo {
                    id: 7,
                    topic: "t".into(),
                    instance: "i".into(),
                    client: "127.0.0.1:5000".into(),
                    idle_ms: 12,
                    queues: vec![0, 2],
                }],
                progress: vec![ProgressInfo {
                    topic: "t".into(),
                    instance: String::new(),
                    queue: 2,
                    owner: 7,
                    acked: 10,
                    end: 20,
                    ready: 5,
                    in_flight: 4,
                    retrying: 1,
                    oldest_unacked_at: 1_700_000_000_000,
                }],
            }),
        ),
        (Kind::GroupReset, Response::Positions(vec![(0, 5), (1, 9)])),
        (
            Kind::PluginList,
            Response::Plugins(vec![PluginEntry {
                name: "sql92".into(),
                kind: "filter".into(),
                source: "builtin:sql92".into(),
                generation: 3,
            }]),
        ),
        (
            Kind::Fetch,
            Response::Error {
                status: Status::OffsetTrimmed,
                message: "gone".into(),
                detail: 12,
            },
        ),
        (
            Kind::Produce,
            Response::error(Status::UnknownTopic, "topic \"x\" does not exist"),
        ),
        (
            Kind::ProduceDelayed,
            Response::Scheduled {
                duplicate: false,
                acks: vec![ScheduledAck {
                    queue: 3,
                    id: MessageId([6; 16]),
                    deliver_at: 1_800_000_001_500,
                }],
            },
        ),
        (
            Kind::DelayCancel,
            Response::Cancelled {
                deliver_at: 42,
                already: true,
            },
        ),
        (
            Kind::DelayCancel,
            Response::error(Status::AlreadyDelivered, "delivered"),
        ),
        (
            Kind::DelayStats,
            Response::DelayStats(DelayStatsInfo {
                next_due: 7,
                topics: vec![("a".into(), 2), ("b".into(), 0)],
            }),
        ),
        (
            Kind::MessageState,
            Response::DelayState(DelayState {
                phase: DelayPhase::Delivered,
                topic: "later".into(),
                queue: 1,
                deliver_at: 9,
                born_at: 8,
                offset: 77,
            }),
        ),
        (
            Kind::MessageState,
            Response::error(Status::UnknownMessage, "no such"),
        ),
        (Kind::TxnBegin, Response::Done),
        (
            Kind::PluginStats,
            Response::PluginCounters(vec![PluginCounters {
                name: "sql92".into(),
                creates: 7,
                calls: 1,
                messages: 2,
                traps: 3,
                timeouts: 4,
                memory: 5,
                bad_answers: 6,
            }]),
        ),
        (
            Kind::PluginState,
            Response::PluginStates(vec![
                PluginHealth {
                    name: "router".into(),
                    state: LoadState::Loaded,
                    from_cache: true,
                    load_ms: 12,
                    loaded_at: 1_800_000_000_000,
                    last_error: "trap: unreachable".into(),
                    last_error_at: 1_800_000_000_500,
                },
                PluginHealth {
                    name: "tag".into(),
                    state: LoadState::Unused,
                    from_cache: false,
                    load_ms: 0,
                    loaded_at: 0,
                    last_error: String::new(),
                    last_error_at: 0,
                },
            ]),
        ),
        (
            Kind::TxnSend,
            Response::Prepared {
                duplicate: true,
                acks: vec![ScheduledAck {
                    queue: 1,
                    id: MessageId([6; 16]),
                    deliver_at: 0,
                }],
            },
        ),
        (
            Kind::TxnEnd,
            Response::TxnEnded(TxnEnded {
                outcome: Outcome::Commit,
                already: false,
                placed: vec![Placed {
                    topic: "orders".into(),
                    queue: 2,
                    first_offset: 10,
                    count: 3,
                }],
            }),
        ),
        (Kind::TxnList, Response::Transactions(vec![txn_info()])),
        (Kind::TxnCheck, Response::TxnCheck(txn_info())),
        (
            Kind::TxnEnd,
            Response::error(Status::TxnRolledBack, "rolled back"),
        ),
    ]
}

fn body_of_request(r: &Request) -> Vec<u8> {
    let mut b = Vec::new();
    r.encode_body(&mut b);
    b
}

fn body_of_response(r: &Response) -> Vec<u8> {
    let mut b = Vec::new();
    r.encode_body(&mut b);
    b
}

#[test]
fn requests_round_trip_and_every_prefix_fails() {
    for req in requests() {
        let body = body_of_request(&req);
        assert_eq!(Request::decode(req.kind() as u16, &body).unwrap(), req);
        let has_token = matches!(
            req,
            Request::Session(SessionRequest::Hello { token: Some(_), .. })
        );
        for cut in 0..body.len() {
            match Request::decode(req.kind() as u16, &body[..cut]) {
                Err(_) => {}
                // The one optional field: a Hello cut right before its token is a Hello
                // without one (and so unauthenticated).
                Ok(Request::Session(SessionRequest::Hello { token: None, .. })) if has_token => {}
                Ok(other) => panic!("{req:?} decoded from {cut} bytes as {other:?}"),
            }
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(
            Request::decode(req.kind() as u16, &longer).is_err(),
            "{req:?} accepted a trailing byte"
        );
    }
}

#[test]
fn responses_round_trip_and_every_prefix_fails() {
    for (kind, resp) in responses() {
        let body = body_of_response(&resp);
        assert_eq!(Response::decode(kind, &body).unwrap(), resp);
        for cut in 0..body.len() {
            assert!(
                Response::decode(kind, &body[..cut]).is_err(),
                "{resp:?} decoded from {cut} bytes"
            );
        }
    }
}

#[test]
fn golden_bytes() {
    let ping = frame(
        Kind::Ping as u16,
        5,
        &body_of_request(&Request::Session(SessionRequest::Ping { nonce: 0x0102 })),
    );
    assert_eq!(
        ping,
        [8, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0]
    );

    let produce = Request::Produce(ProduceRequest {
        topic: "t".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![ProduceMessage {
            route: Route::Queue(1),
            message: Message {
                id: MessageId([0; 16]),
                body: b"hi".to_vec(),
                born_at: 3,
                ..Message::default()
            },
        }],
    });
    let body = body_of_request(&produce);
    let mut messages = vec![0u8, 1, 0, 0, 0];
    messages.extend_from_slice(&[0; 16]);
    messages.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
    messages.extend_from_slice(&[0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'h', b'i']);
    let mut expected = vec![1, 0, b't'];
    expected.extend_from_slice(&[0; 16]); // producer id, sequence
    expected.extend_from_slice(&[1, 0, 0, 0]);
    expected.extend_from_slice(&crc32c::crc32c(&messages).to_le_bytes());
    expected.extend_from_slice(&messages);
    assert_eq!(body, expected);

    let err = body_of_response(&Response::Error {
        status: Status::OffsetTrimmed,
        message: "x".into(),
        detail: 4,
    });
    assert_eq!(err, [12, 0, 1, 0, b'x', 4, 0, 0, 0, 0, 0, 0, 0]);
    let h = Header {
        body_len: 3,
        kind: Kind::Fetch as u16 | RESPONSE_BIT,
        flags: 0,
        request_id: 9,
    };
    assert_eq!(Header::decode(&h.encode()), h);
    assert_eq!(h.encode(), [3, 0, 0, 0, 32, 0x80, 0, 0, 9, 0, 0, 0]);
}

#[test]
fn golden_bytes_of_transactions() {
    let begin = body_of_request(&Request::Txn(TxnRequest::Begin {
        id: "t".into(),
        producer_group: "g".into(),
        timeout_ms: 0x0102,
    }));
    assert_eq!(begin, [1, 0, b't', 1, 0, b'g', 2, 1, 0, 0, 0, 0, 0, 0]);
    let end = body_of_request(&Request::Txn(TxnRequest::End {
        id: "t".into(),
        outcome: Outcome::Commit,
    }));
    assert_eq!(end, [1, 0, b't', 1]);
    let answer = body_of_request(&Request::Txn(TxnRequest::Answer {
        id: "t".into(),
        answer: CheckAnswer::Outcome(Outcome::Rollback),
    }));
    assert_eq!(answer, [1, 0, b't', 2]);
    // A TxnSend is the id, then the Produce body as it is.
    let send = txn_send(Vec::new());
    let plain = body_of_request(&Request::Produce(send.produce.clone()));
    let body = body_of_request(&Request::Txn(TxnRequest::Send(send)));
    assert_eq!(body[..6], [4, 0, b't', b'x', b'-', b'1']);
    assert_eq!(body[6..], plain[..]);
    let ended = body_of_response(&Response::TxnEnded(TxnEnded {
        outcome: Outcome::Rollback,
        already: true,
        placed: Vec::new(),
    }));
    assert_eq!(ended, [0, 0, 2, 1, 0, 0, 0, 0]);
    assert_eq!(Status::from_u16(27), Some(Status::TxnCommitted));
    assert_eq!(Status::from_u16(30), Some(Status::TxnClosed));
    assert_eq!(Kind::from_u16(146), Some(Kind::TxnCheckAnswer));
    assert!(matches!(
        Request::decode(Kind::TxnEnd as u16, &[1, 0, b't', 3]),
        Err(ProtocolError::Body { .. })
    ));
}

#[test]
fn golden_bytes_of_a_routed_acknowledgement() {
    let body = body_of_response(&Response::Routed {
        throttle_ms: 0,
        duplicate: true,
        acks: vec![RoutedAck {
            id: MessageId([9; 16]),
            outcome: RouteOutcome::Duplicate,
            destinations: vec![RoutedTo {
                topic: "t".into(),
                queue: 2,
                offset: 5,
            }],
        }],
    });
    let mut want = vec![0, 0, 3, 1, 0, 0, 0];
    want.extend_from_slice(&[9; 16]);
    want.extend_from_slice(&[1, 1, 0, 1, 0, b't', 2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(body, want);
    assert_eq!(Status::from_u16(31), Some(Status::PipelineFailed));
}

#[test]
fn golden_bytes_of_a_delayed_produce() {
    let produce = ProduceRequest {
        topic: "t".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![ProduceMessage {
            route: Route::Any,
            message: Message {
                body: b"hi".to_vec(),
                born_at: 3,
                ..Message::default()
            },
        }],
    };
    let plain = body_of_request(&Request::Produce(produce.clone()));
    let delayed = body_of_request(&Request::Delay(DelayRequest::Produce(DelayedProduce {
        produce,
        deliveries: vec![Delivery::After(0x0102)],
    })));
    // The Produce body unchanged but for the checksum, which also covers the deliveries.
    let crc_at = 3 + 16 + 4;
    assert_eq!(delayed[..crc_at], plain[..crc_at]);
    assert_eq!(delayed[crc_at + 4..plain.len()], plain[crc_at + 4..]);
    let tail = [2u8, 2, 1, 0, 0, 0, 0, 0, 0];
    assert_eq!(delayed[plain.len()..], tail);
    let crc = crc32c::crc32c(&delayed[crc_at + 4..]);
    assert_eq!(delayed[crc_at..crc_at + 4], crc.to_le_bytes());

    let mut flipped = delayed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(matches!(
        Request::decode(Kind::ProduceDelayed as u16, &flipped),
        Err(ProtocolError::Checksum { .. })
    ));
    let ack = body_of_response(&Response::Scheduled {
        duplicate: true,
        acks: vec![ScheduledAck {
            queue: 2,
            id: MessageId([0xab; 16]),
            deliver_at: 5,
        }],
    });
    let mut expected = vec![0, 0, 1, 1, 0, 0, 0, 2, 0, 0, 0];
    expected.extend_from_slice(&[0xab; 16]);
    expected.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(ack, expected);
}

#[test]
fn bad_deliveries_name_the_problem() {
    let produce = ProduceRequest {
        topic: "t".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![ProduceMessage {
            route: Route::Any,
            message: Message::default(),
        }],
    };
    let mut body = body_of_request(&Request::Produce(produce));
    let crc_at = 3 + 16 + 4;
    body.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0, 0]);
    let crc = crc32c::crc32c(&body[crc_at + 4..]);
    body[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    let e = Request::decode(Kind::ProduceDelayed as u16, &body).unwrap_err();
    assert!(e.to_string().contains("not a delivery kind"), "{e}");
    let n = body.len();
    body[n - 9] = 2; // after, with a negative value
    body[n - 8..].copy_from_slice(&(-5i64).to_le_bytes());
    let crc = crc32c::crc32c(&body[crc_at + 4..]);
    body[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    let e = Request::decode(Kind::ProduceDelayed as u16, &body).unwrap_err();
    assert!(e.to_string().contains("negative"), "{e}");
}

#[test]
fn bad_bodies_name_the_problem() {
    let mut body = body_of_request(&requests()[2]);
    // Byte 40 lies in the first message's id (after the 32-byte head and its 5-byte route):
    // the body still parses, so only the checksum can catch the change.
    body[40] ^= 0xff;
    match Request::decode(Kind::Produce as u16, &body) {
        Err(ProtocolError::Checksum { .. }) => {}
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert_eq!(
        Request::decode(999, &[]).unwrap_err(),
        ProtocolError::UnknownKind(999)
    );
    let huge_count = {
        let mut b = vec![1, 0, b't'];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b
    };
    let e = Request::decode(Kind::Produce as u16, &huge_count)
        .unwrap_err()
        .to_string();
    assert!(e.contains("message count"), "{e}");
    let e = Request::decode(Kind::Fetch as u16, &[3, 0, b'a'])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "malformed Fetch body: cut short reading topic");
}

#[test]
fn the_borrowed_produce_view_agrees_with_the_owned_decode() {
    let req = requests()
        .into_iter()
        .find(|r| matches!(r, Request::Produce(_)))
        .unwrap();
    let Request::Produce(owned) = &req else {
        unreachable!()
    };
    let body = body_of_request(&req);
    let view = ProduceView::decode(&body).unwrap();
    assert_eq!(
        (view.topic, view.producer_id, view.sequence),
        (owned.topic.as_str(), owned.producer_id, owned.sequence)
    );
    assert_eq!(view.messages.len(), owned.messages.len());
    for (v, o) in view.messages.iter().zip(&owned.messages) {
        let route_matches = match (&v.route, &o.route) {
            (RouteView::Queue(a), Route::Queue(b)) => a == b,
            (RouteView::Key(a), Route::Key(b)) => *a == b.as_str(),
            (RouteView::Any, Route::Any) => true,
            _ => false,
        };
        assert!(route_matches);
        assert_eq!(
            (v.message.id, v.message.born_at, v.message.tag),
            (o.message.id, o.message.born_at, o.message.tag.as_str())
        );
        let mut content = Vec::new();
        crate::record::encode_content(&mut content, &o.message);
        assert_eq!(
            v.message.content,
            content.as_slice(),
            "the content slice is the record layout"
        );
    }
    for cut in 0..body.len() {
        assert!(
            ProduceView::decode(&body[..cut]).is_err(),
            "view decoded from {cut} bytes"
        );
    }
    let mut bad_utf8 = body.clone();
    // The first message's tag "TagA" begins 32 (head) + 5 (route) + 16 (id) + 8 (born) + 2 bytes in.
    bad_utf8[63] = 0xff;
    let crc = crc32c::crc32c(&bad_utf8[32..]);
    bad_utf8[28..32].copy_from_slice(&crc.to_le_bytes());
    let e = ProduceView::decode(&bad_utf8).unwrap_err().to_string();
    assert!(e.contains("tag is invalid: not UTF-8"), "{e}");
}

#[test]
fn deliveries_encoded_from_records_decode_like_typed_ones() {
    use crate::record;
    let m = message(7);
    let mut rec = Vec::new();
    record::encode(&mut rec, 3, 2, &m).unwrap();
    record::seal(&mut rec, 41, 1_700_000_000_999);
    let view = record::decode_view(&rec).unwrap();
    let mut encoded = EncodedDeliveries::default();
    encoded.push(9, 2, &view);
    assert_eq!(
        encoded.items.len(),
        EncodedDeliveries::OVERHEAD + record::content_len(&m)
    );
    let typed = Response::Deliveries(vec![GroupDelivered {
        lease: 9,
        attempt: 2,
        delivered: Delivered {
            queue: 2,
            offset: 41,
            stored_at: 1_700_000_000_999,
            message: m,
        },
    }]);
    let from_record = body_of_response(&Response::EncodedDeliveries(encoded));
    assert_eq!(from_record, body_of_response(&typed));
    assert_eq!(
        Response::decode(Kind::Receive, &from_record).unwrap(),
        typed
    );
}

#[test]
fn a_fetch_answer_encoded_from_records_decodes_like_a_typed_one() {
    use crate::record;
    let (a, b) = (message(7), message(8));
    let mut encoded = EncodedFetch {
        next_offset: 43,
        ..EncodedFetch::default()
    };
    for (m, offset) in [(&a, 41), (&b, 42)] {
        let mut rec = Vec::new();
        record::encode(&mut rec, 3, 2, m).unwrap();
        record::seal(&mut rec, offset, 1_700_000_000_999);
        encoded.push(&record::decode_view(&rec).unwrap());
    }
    assert_eq!(
        encoded.items.len(),
        2 * EncodedFetch::OVERHEAD + record::content_len(&a) + record::content_len(&b)
    );
    let delivered = |m: &Message, offset| Delivered {
        queue: 2,
        offset,
        stored_at: 1_700_000_000_999,
        message: m.clone(),
    };
    let typed = Response::Fetched {
        next_offset: 43,
        messages: vec![delivered(&a, 41), delivered(&b, 42)],
    };
    let from_records = body_of_response(&Response::EncodedFetched(encoded));
    assert_eq!(from_records, body_of_response(&typed));
    assert_eq!(Response::decode(Kind::Fetch, &from_records).unwrap(), typed);
    // Empty: the next offset and no message.
    let empty = body_of_response(&Response::EncodedFetched(EncodedFetch {
        next_offset: 5,
        ..EncodedFetch::default()
    }));
    assert_eq!(empty, [0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn golden_bytes_of_an_ack() {
    let ack = Request::Group(GroupRequest::Ack {
        member: 2,
        ranges: vec![AckRange {
            queue: 1,
            offset: 5,
            count: 3,
            lease: 7,
        }],
    });
    let mut expected = vec![2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    expected.extend_from_slice(&[1, 0, 0, 0]);
    expected.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&[3, 0, 0, 0, 7, 0, 0, 0]);
    assert_eq!(body_of_request(&ack), expected);
    assert_eq!(
        Request::decode(Kind::Deliveries as u16, &[])
            .unwrap_err()
            .status(),
        Status::Malformed,
        "clients cannot send deliveries"
    );
}

#[test]
fn properties_out_of_order_or_repeated_are_malformed() {
    let req = Request::Produce(ProduceRequest {
        topic: "t".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![ProduceMessage {
            route: Route::Any,
            message: Message {
                properties: [("a".to_string(), "1".to_string()), ("b".into(), "2".into())].into(),
                ..Message::default()
            },
        }],
    });
    let body = body_of_request(&req);
    // Head: topic (2 + 1), producer id, sequence, count, then the checksum at 23..27.
    let with = |from: u8, to: u8| {
        let mut b = body.clone();
        let at = b
            .windows(3)
            .rposition(|w| w == [1, 0, from])
            .expect("the property name");
        b[at + 2] = to;
        let crc = crc32c::crc32c(&b[27..]);
        b[23..27].copy_from_slice(&crc.to_le_bytes());
        b
    };
    assert!(Request::decode(Kind::Produce as u16, &with(b'b', b'c')).is_ok());
    for (bad, why) in [
        (with(b'a', b'c'), "\"b\" follows \"c\""),
        (with(b'b', b'a'), "\"a\" follows \"a\""),
    ] {
        let e = Request::decode(Kind::Produce as u16, &bad).unwrap_err();
        assert_eq!(e.status(), Status::Malformed);
        let text = e.to_string();
        assert!(
            text.contains(why) && text.contains("sorted by name, each name once"),
            "{text}"
        );
    }
}

#[test]
fn ranges_are_checked_per_family() {
    let fetch = |max_messages, max_wait_ms| {
        Request::Fetch(FetchFamily::Fetch(FetchRequest {
            topic: "t".into(),
            queue: 0,
            offset: 0,
            max_messages,
            max_bytes: 0,
            max_wait_ms,
        }))
    };
    assert!(fetch(1, 30_000).check_ranges().is_ok());
    let e = fetch(0, 0).check_ranges().unwrap_err();
    assert_eq!(
        (e.field, e.value, e.min, e.max),
        ("max messages", 0, 1, 10_000)
    );
    assert_eq!(
        fetch(1, 30_001).check_ranges().unwrap_err().field,
        "max wait ms"
    );
    let lookup = |limit| {
        Request::Lookup(LookupRequest::Key {
            topic: "t".into(),
            key: "k".into(),
            limit,
        })
    };
    assert!(lookup(1000).check_ranges().is_ok());
    assert_eq!(
        lookup(1001).check_ranges().unwrap_err().to_string(),
        "limit is 1001; it must be from 1 to 1000"
    );
    let begin = |timeout_ms| {
        Request::Txn(TxnRequest::Begin {
            id: "t".into(),
            producer_group: "g".into(),
            timeout_ms,
        })
    };
    for ok in [0, 1, 86_400_000] {
        assert!(begin(ok).check_ranges().is_ok(), "{ok}");
    }
    assert_eq!(
        begin(86_400_001).check_ranges().unwrap_err().to_string(),
        "transaction timeout (ms) is 86400001; it must be from 1 to 86400000"
    );
}

/// A delivery out of its range is InvalidArgument, not Malformed: the body parses.
#[test]
fn delivery_ranges_are_invalid_arguments() {
    let mut body = Vec::new();
    Request::Delay(DelayRequest::Produce(DelayedProduce {
        produce: ProduceRequest {
            topic: "t".into(),
            producer_id: 0,
            sequence: 0,
            messages: vec![ProduceMessage {
                route: Route::Any,
                message: Message::default(),
            }],
        },
        deliveries: vec![Delivery::At(0)],
    }))
    .encode_body(&mut body);
    let at = body.len() - 9;
    for (kind, value, status) in [
        (2u8, -1i64, Status::InvalidArgument),
        (3, 256, Status::InvalidArgument),
        (3, -3, Status::InvalidArgument),
        (9, 1, Status::Malformed),
    ] {
        let mut b = body.clone();
        b[at] = kind;
        b[at + 1..].copy_from_slice(&value.to_le_bytes());
        // The checksum (bytes 23..27 with topic "t") covers the messages and the deliveries.
        let crc = crc32c::crc32c(&b[27..]);
        b[23..27].copy_from_slice(&crc.to_le_bytes());
        let e = match Request::decode(Kind::ProduceDelayed as u16, &b) {
            Ok(r) => panic!("{kind}/{value} decoded: {r:?}"),
            Err(e) => e,
        };
        assert_eq!(e.status(), status, "{kind}/{value}: {e}");
    }
}

#[test]
fn golden_bytes_of_a_hello_with_a_token() {
    let body = body_of_request(&Request::Session(SessionRequest::Hello {
        version: 1,
        client: "c".into(),
        token: Some("lgt_x".into()),
    }));
    assert_eq!(body, [1, 0, 1, 0, b'c', 5, 0, b'l', b'g', b't', b'_', b'x']);
    // Without a token the body ends after the client name, as protocol v1 always had it.
    let plain = body_of_request(&Request::Session(SessionRequest::Hello {
        version: 1,
        client: "c".into(),
        token: None,
    }));
    assert_eq!(plain, [1, 0, 1, 0, b'c']);
}

#[test]
fn golden_bytes_of_a_throttled_acknowledgement() {
    let body = body_of_response(&Response::Produced {
        duplicate: false,
        acks: vec![],
        throttle_ms: 300,
        compact: false,
    });
    // status 0, flags 4 (throttled), u32 300, u32 0 acks
    assert_eq!(body, [0, 0, 4, 44, 1, 0, 0, 0, 0, 0, 0]);
}

/// Kinds that only a server sends: a client's frame of these is malformed.
const SERVER_ONLY: &[Kind] = &[Kind::Deliveries, Kind::TxnCheck];

#[test]
fn every_kind_in_the_table_decodes_into_its_own_variant() {
    let samples = requests();
    let bodies: Vec<Vec<u8>> = samples.iter().map(body_of_request).collect();
    let mut seen = 0;
    for v in 0..=u16::MAX {
        let Some(kind) = Kind::from_u16(v) else {
            assert_eq!(
                Request::decode(v, &[]).unwrap_err(),
                ProtocolError::UnknownKind(v)
            );
            continue;
        };
        seen += 1;
        assert_eq!(kind as u16, v);
        assert_eq!(Kind::ALL.iter().filter(|k| **k == kind).count(), 1);
        // The family's own kind names this kind back.
        let back: Kind = match kind.family() {
            FamilyKind::Session(k) => k.into(),
            FamilyKind::Produce(k) => k.into(),
            FamilyKind::Fetch(k) => k.into(),
            FamilyKind::Topic(k) => k.into(),
            FamilyKind::Lookup(k) => k.into(),
            FamilyKind::Group(k) => k.into(),
            FamilyKind::Plugin(k) => k.into(),
            FamilyKind::Delay(k) => k.into(),
            FamilyKind::Txn(k) => k.into(),
        };
        assert_eq!(back, kind);
        // Whatever body it is given, a kind decodes as itself or not at all: a kind its
        // family forgot cannot pass for another one.
        for (sample, body) in samples.iter().zip(&bodies) {
            if let Ok(req) = Request::decode(v, body) {
                assert_eq!(
                    req.kind(),
                    kind,
                    "a {:?} body sent as {kind:?} decoded as {req:?}",
                    sample.kind()
                );
            }
        }
        if SERVER_ONLY.contains(&kind) {
            for body in bodies.iter().chain([&Vec::new()]) {
                let e = Request::decode(v, body).unwrap_err();
                assert_eq!(e.status(), Status::Malformed, "{kind:?}: {e}");
                assert!(e.to_string().contains("servers only"), "{kind:?}: {e}");
            }
            continue;
        }
        // Every request kind has a sample, and the sample comes back whole.
        let (sample, body) = samples
            .iter()
            .zip(&bodies)
            .find(|(r, _)| r.kind() == kind)
            .unwrap_or_else(|| panic!("no sample request of kind {kind:?} in requests()"));
        assert_eq!(&Request::decode(v, body).unwrap(), sample);
    }
    assert_eq!(seen, Kind::ALL.len());
}

#[test]
fn every_status_number_names_itself() {
    let mut known = 0;
    for v in 0..=u16::MAX {
        if let Some(s) = Status::from_u16(v) {
            known += 1;
            assert_eq!(s as u16, v);
            assert_eq!(s.name(), format!("{s:?}"));
        }
    }
    // Ok through NotReady, numbered densely.
    assert_eq!(known, Status::NotReady as u16 + 1);
}

#[test]
fn one_byte_enums_read_every_variant_and_name_what_they_take() {
    fn check<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        number: fn(T) -> u8,
        read: fn(&mut crate::codec::Reader<'_>, &'static str) -> Result<T, ReadError>,
        unknown: &str,
    ) {
        for &v in all {
            let byte = [number(v)];
            assert_eq!(read(&mut crate::codec::Reader::new(&byte), "f").unwrap(), v);
        }
        let err = read(&mut crate::codec::Reader::new(&[99]), "f").unwrap_err();
        assert_eq!(err.to_string(), unknown);
    }
    check(
        DelayPhase::ALL,
        |v| v as u8,
        DelayPhase::read,
        "f is invalid: 99 is not a delay state (1 pending, 2 delivering, 3 delivered, 4 cancelled)",
    );
    check(
        TxnPhase::ALL,
        |v| v as u8,
        TxnPhase::read,
        "f is invalid: 99 is not a transaction phase (1 open, 2 parked, 3 committed, 4 rolled back)",
    );
    check(
        Outcome::ALL,
        |v| v as u8,
        Outcome::read,
        "f is invalid: 99 is not an outcome (1 commit, 2 rollback)",
    );
    check(
        LoadState::ALL,
        |v| v as u8,
        LoadState::read,
        "f is invalid: 99 is not a load state (0 unused, 1 compiling, 2 loaded, 3 failed)",
    );
}
