//! Router, dedup and retry plugins through the host: the built-ins answer as their config says,
//! answers are checked against the batch, and a wrong world or a refused config is named.

use lockgate::plugin::batch::BatchBuilder;
use lockgate::plugin::stages::{Decision, FailedDelivery, Reason, StageError};
use lockgate::plugin::{PluginSpec, Plugins};
use lockgate::storage::Message;

fn configured(name: &str, builtin: &str, config: &[(&str, &str)]) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        config: config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PluginSpec::builtin(builtin)
    }
}

fn batch(messages: &[Message]) -> BatchBuilder {
    let mut b = BatchBuilder::with_capacity(1024);
    for m in messages {
        b.push_message(m, 0, 0, 0, 0);
    }
    b
}

fn tagged(tag: &str) -> Message {
    Message {
        tag: tag.into(),
        ..Message::default()
    }
}

#[test]
fn the_topic_exchange_routes_by_binding_with_fan_out_and_a_default() {
    let plugins = Plugins::load(
        None,
        &[configured(
            "x",
            "topic-exchange",
            &[
                ("bindings", "orders.*.eu -> eu\norders.# -> all, audit\n"),
                ("headers", "all tier=vip, region -> vip"),
                ("default", "unrouted"),
            ],
        )],
    )
    .unwrap();
    let mut r = plugins.router("x").unwrap();
    let mut vip = tagged("other");
    vip.properties = [
        ("region".into(), "us".into()),
        ("tier".into(), "vip".into()),
    ]
    .into();
    let messages = [
        tagged("orders.new.eu"),
        tagged("orders"),
        tagged("misc"),
        vip,
    ];
    let mut b = batch(&messages);
    let routes = r.route("in", b.finish(), messages.len()).unwrap();
    let names = |m: usize| -> Vec<String> {
        routes.targets[m]
            .iter()
            .map(|&i| routes.destinations[i as usize].topic.clone())
            .collect()
    };
    assert_eq!(names(0), ["eu", "all", "audit"]);
    assert_eq!(names(1), ["all", "audit"]);
    assert_eq!(names(2), ["unrouted"]);
    assert_eq!(names(3), ["vip"]);
    // Each destination once, no queue or sharding key chosen.
    assert_eq!(routes.destinations.len(), 5);
    assert!(
        routes
            .destinations
            .iter()
            .all(|d| d.queue.is_none() && d.sharding_key.is_none())
    );
}

#[test]
fn the_content_router_takes_the_first_or_every_rule_met() {
    let rules = "amount > 100 -> big\nregion = 'eu' -> eu";
    let plugins = Plugins::load(
        None,
        &[
            configured("first", "content-router", &[("rules", rules)]),
            configured(
                "all",
                "content-router",
                &[("rules", rules), ("mode", "all"), ("default", "rest")],
            ),
        ],
    )
    .unwrap();
    let m = |amount: &str, region: &str| Message {
        properties: [
            ("amount".into(), amount.into()),
            ("region".into(), region.into()),
        ]
        .into(),
        ..Message::default()
    };
    let messages = [m("500", "eu"), m("5", "eu"), m("5", "us")];
    for (name, want) in [
        ("first", vec![vec!["big"], vec!["eu"], vec![]]),
        ("all", vec![vec!["big", "eu"], vec!["eu"], vec!["rest"]]),
    ] {
        let mut r = plugins.router(name).unwrap();
        let mut b = batch(&messages);
        let routes = r.route("in", b.finish(), 3).unwrap();
        let got: Vec<Vec<&str>> = routes
            .targets
            .iter()
            .map(|t| {
                t.iter()
                    .map(|&i| routes.destinations[i as usize].topic.as_str())
                    .collect()
            })
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn dedup_keys_come_from_the_configured_field() {
    let plugins = Plugins::load(
        None,
        &[
            configured("by-prop", "dedup", &[("key", "property:order")]),
            configured("by-body", "dedup", &[("key", "body")]),
        ],
    )
    .unwrap();
    let m = |order: Option<&str>, body: &[u8]| Message {
        properties: order
            .map(|o| ("order".to_string(), o.to_string()))
            .into_iter()
            .collect(),
        body: body.to_vec(),
        ..Message::default()
    };
    let messages = [m(Some("o-1"), b"a"), m(None, b"a"), m(Some("o-2"), b"b")];
    let mut b = batch(&messages);
    let keys = plugins
        .dedup("by-prop")
        .unwrap()
        .keys("in", b.finish(), 3)
        .unwrap();
    assert_eq!(
        keys,
        vec![Some(b"o-1".to_vec()), None, Some(b"o-2".to_vec())]
    );
    // The built-in id key needs a producer-set id: none here, so no keys at all.
    let keys = plugins
        .dedup("dedup")
        .unwrap()
        .keys("in", b.finish(), 3)
        .unwrap();
    assert_eq!(keys, vec![None, None, None]);
    let keys = plugins
        .dedup("by-body")
        .unwrap()
        .keys("in", b.finish(), 3)
        .unwrap();
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[0], keys[2]);
    assert_eq!(keys[0].as_ref().map(Vec::len), Some(16));
}

#[test]
fn the_retry_schedule_decides_a_batch_of_failures() {
    let plugins = Plugins::load(
        None,
        &[configured(
            "fixed",
            "retry-schedule",
            &[
                ("schedule", "fixed"),
                ("delays", "1s, 2s"),
                ("max_attempts", "3"),
            ],
        )],
    )
    .unwrap();
    let failure = |attempt| FailedDelivery {
        topic: "t".into(),
        group: "g".into(),
        attempt,
        reason: Reason::Nack,
        tag: String::new(),
        keys: vec![],
        properties: vec![],
    };
    let mut p = plugins.retry("fixed").unwrap();
    let d = p.decide(&[failure(1), failure(2), failure(3)]).unwrap();
    assert!(matches!(d[0], Decision::RetryAfter(1000)), "{d:?}");
    assert!(matches!(d[1], Decision::RetryAfter(2000)), "{d:?}");
    assert!(
        matches!(&d[2], Decision::DeadLetter(why) if why.contains("max_attempts = 3")),
        "{d:?}"
    );
    let mut default = plugins.retry("retry-schedule").unwrap();
    let d = default.decide(&[failure(1)]).unwrap();
    assert!(matches!(d[0], Decision::RetryAfter(10_000)), "{d:?}");
}

#[test]
fn a_wrong_world_or_a_refused_config_is_named() {
    let plugins = Plugins::load(
        None,
        &[configured(
            "bad",
            "topic-exchange",
            &[("bindings", "no arrow here")],
        )],
    )
    .unwrap();
    match plugins.router("bad").err().unwrap() {
        StageError::Config { plugin, reason } => {
            assert_eq!(plugin, "bad");
            assert!(reason.contains("bindings line 1"), "{reason}");
        }
        e => panic!("{e}"),
    }
    let e = plugins.router("tag").err().unwrap().to_string();
    assert!(
        e.contains("does not implement the router-plugin world (it implements lockgate:plugin/filter-plugin@0.2.0)"),
        "{e}"
    );
    let e = plugins.dedup("retry-schedule").err().unwrap().to_string();
    assert!(e.contains("dedup-plugin"), "{e}");
    let e = plugins.filter("dedup", "x").err().unwrap().to_string();
    assert!(
        e.contains("does not implement the filter-plugin world"),
        "{e}"
    );
}
