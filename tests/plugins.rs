//! The plugin host: the built-in filters against their conformance table (through
//! WebAssembly), the sandbox (traps, runaway loops, memory blow-ups, wrong worlds), the compile
//! cache and reloads.

use std::time::{Duration, Instant};

use lockgate::plugin::batch::BatchBuilder;
use lockgate::plugin::{FailureKind, FilterError, PluginError, PluginSpec, Plugins};
use lockgate::storage::Message;
use lockgate_filters::cases::{self, Sample};

fn plugin_file(name: &str) -> String {
    format!("{}/{name}.wasm", env!("LOCKGATE_PLUGIN_DIR"))
}

fn message_of(s: &Sample) -> Message {
    Message {
        tag: s.tag.into(),
        keys: s.keys.split_whitespace().map(String::from).collect(),
        properties: s
            .props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: b"body".to_vec(),
        ..Message::default()
    }
}

fn one(m: &Message) -> BatchBuilder {
    let mut b = BatchBuilder::with_capacity(256);
    b.push_message(m, 0, 0, 0, 1);
    b
}

fn spec(name: &str, file: &str, memory: u64, timeout_ms: u64) -> PluginSpec {
    PluginSpec {
        name: name.into(),
        source: plugin_file(file),
        memory_limit: memory,
        call_timeout: Duration::from_millis(timeout_ms),
        config: vec![],
    }
}

#[test]
fn the_sql92_plugin_passes_the_conformance_table() {
    let plugins = Plugins::load(None, &[]).unwrap();
    for (expr, sample, expected) in cases::SQL92 {
        let mut f = plugins
            .filter("sql92", expr)
            .unwrap_or_else(|e| panic!("{expr:?}: {e}"));
        let mut b = one(&message_of(sample));
        let got = f.decide("t", b.finish(), 1).unwrap();
        assert_eq!(got, vec![*expected], "{expr:?} on {sample:?}");
    }
    for (expr, position, part) in cases::SQL92_ERRORS {
        match plugins.filter("sql92", expr) {
            Err(FilterError::Expression {
                position: p,
                message,
            }) => {
                assert_eq!(p, *position, "{expr:?}: {message}");
                assert!(message.contains(part), "{expr:?}: {message}");
            }
            Err(e) => panic!("{expr:?}: {e}"),
            Ok(_) => panic!("{expr:?} compiled"),
        }
    }
}

#[test]
fn the_sql92_plugin_takes_the_sql_dialect_from_its_config() {
    let sql = PluginSpec {
        name: "sql".into(),
        config: vec![("dialect".into(), "sql".into())],
        ..PluginSpec::builtin("sql92")
    };
    let typo = PluginSpec {
        name: "typo".into(),
        config: vec![("dialect".into(), "mysql".into())],
        ..PluginSpec::builtin("sql92")
    };
    let plugins = Plugins::load(None, &[sql, typo]).unwrap();
    for (expr, sample, expected) in cases::SQL92_SQL {
        let mut f = plugins
            .filter("sql", expr)
            .unwrap_or_else(|e| panic!("{expr:?}: {e}"));
        let mut b = one(&message_of(sample));
        let got = f.decide("t", b.finish(), 1).unwrap();
        assert_eq!(got, vec![*expected], "sql: {expr:?} on {sample:?}");
    }
    match plugins.filter("typo", "a = 1") {
        Err(e @ FilterError::Expression { position: 0, .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("filter config error: dialect:"), "{text}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a bad dialect was accepted"),
    }
}

#[test]
fn the_tag_plugin_follows_the_rules_and_decides_whole_batches() {
    let plugins = Plugins::load(None, &[]).unwrap();
    for (expr, tag, expected) in cases::TAG {
        let mut f = plugins.filter("tag", expr).unwrap();
        let m = Message {
            tag: tag.to_string(),
            ..Message::default()
        };
        assert_eq!(
            f.decide("t", one(&m).finish(), 1).unwrap(),
            vec![*expected],
            "{expr:?} on {tag:?}"
        );
    }
    for (expr, position, part) in cases::TAG_ERRORS {
        match plugins.filter("tag", expr) {
            Err(FilterError::Expression {
                position: p,
                message,
            }) => {
                assert_eq!(p, *position);
                assert!(message.contains(part), "{message}");
            }
            _ => panic!("{expr:?} should fail"),
        }
    }
    let mut f = plugins.filter("tag", "TagA || TagC").unwrap();
    let mut b = BatchBuilder::with_capacity(4096);
    let tags = ["TagA", "TagB", "", "TagC", "TagA"];
    for (i, t) in tags.iter().enumerate() {
        let m = Message {
            tag: t.to_string(),
            ..Message::default()
        };
        b.push_message(&m, 1, i as u64, 0, 1);
    }
    assert_eq!(
        f.decide("t", b.finish(), 5).unwrap(),
        vec![true, false, false, true, true]
    );
}

#[test]
fn failing_plugins_are_contained_and_replaced() {
    let plugins = Plugins::load(None, &[spec("bad", "misbehave", 8 << 20, 50)]).unwrap();
    let poison = Message {
        properties: [("poison".to_string(), "1".to_string())].into(),
        ..Message::default()
    };
    let fine = Message::default();

    // A trap fails that batch only; the next batch gets a new instance.
    let mut f = plugins.filter("bad", "trap-if:poison").unwrap();
    let e = f.decide("t", one(&poison).finish(), 1).unwrap_err();
    assert_eq!(e.kind, FailureKind::Trap, "{e}");
    // What the guest printed to stderr (here its panic message) is in the report.
    assert!(
        e.detail.contains("stderr ends with") && e.detail.contains("poison message"),
        "{e}"
    );
    assert_eq!(f.decide("t", one(&fine).finish(), 1).unwrap(), vec![true]);

    // A loop is stopped at its time limit.
    let mut spin = plugins.filter("bad", "spin").unwrap();
    let started = Instant::now();
    let e = spin.decide("t", one(&fine).finish(), 1).unwrap_err();
    assert_eq!(e.kind, FailureKind::Timeout, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped near its deadline"
    );

    // Allocating past the memory limit fails the batch.
    let mut hog = plugins.filter("bad", "hog").unwrap();
    let e = hog.decide("t", one(&fine).finish(), 1).unwrap_err();
    assert_eq!(e.kind, FailureKind::Memory, "{e}");

    let stats = plugins.slot("bad").unwrap().current().stats.clone();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        (
            stats.traps.load(Relaxed),
            stats.timeouts.load(Relaxed),
            stats.memory.load(Relaxed)
        ),
        (1, 1, 1)
    );
}

#[test]
fn filters_built_for_0_1_0_keep_loading_and_filtering() {
    let plugins = Plugins::load(None, &[spec("old", "filter_v010", 8 << 20, 50)]).unwrap();
    let worlds = plugins
        .check(&std::fs::read(plugin_file("filter_v010")).unwrap())
        .unwrap();
    assert_eq!(worlds, vec!["lockgate:plugin/filter-plugin@0.1.0"]);
    let mut f = plugins.filter("old", "TagA").unwrap();
    let mut b = BatchBuilder::with_capacity(256);
    for tag in ["TagA", "TagB", "TagA"] {
        let m = Message {
            tag: tag.into(),
            ..Message::default()
        };
        b.push_message(&m, 0, 0, 0, 1);
    }
    assert_eq!(
        f.decide("t", b.finish(), 3).unwrap(),
        vec![true, false, true]
    );
    match plugins.filter("old", "") {
        Err(FilterError::Expression {
            position: 1,
            message,
        }) => assert_eq!(message, "name a tag"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let info = plugins
        .list()
        .into_iter()
        .find(|p| p.name == "old")
        .unwrap();
    assert_eq!(info.kind, "filter");
}

#[test]
fn components_of_another_world_or_no_component_are_refused_with_the_reason() {
    let e = Plugins::load(None, &[spec("other", "wrong_world", 8 << 20, 20)])
        .err()
        .unwrap();
    let text = e.to_string();
    assert!(matches!(e, PluginError::Load { .. }));
    assert!(text.starts_with("plugins.other: "), "{text}");
    assert!(
        text.contains("implements none of Lockgate's plugin worlds"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    for (file, expected) in [
        (&core, "not a component"),
        (&junk, "not a valid component"),
        (&dir.path().join("missing.wasm"), "cannot read the file"),
    ] {
        let s = PluginSpec {
            source: file.display().to_string(),
            ..spec("x", "misbehave", 1 << 20, 20)
        };
        let text = Plugins::load(None, &[s]).err().unwrap().to_string();
        assert!(text.contains(expected), "{text}");
    }
    let plugins = Plugins::load(None, &[]).unwrap();
    let worlds = plugins
        .check(&std::fs::read(plugin_file("sql92_filter")).unwrap())
        .unwrap();
    assert_eq!(worlds, vec!["lockgate:plugin/filter-plugin@0.2.0"]);
    assert!(
        plugins
            .check(&std::fs::read(plugin_file("wrong_world")).unwrap())
            .is_err()
    );
}

#[test]
fn compiled_components_are_cached_and_a_tampered_artifact_is_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = Plugins::load(Some(&cache), &[]).unwrap();
    assert!(
        first.list().iter().all(|p| p.generation == 0),
        "built-ins load when first used"
    );
    first.filter("tag", "*").unwrap();
    first.filter("sql92", "TRUE").unwrap();
    let artifacts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 2, "one per built-in");
    // Flip a byte in each: the MAC no longer matches, so they are compiled again, not loaded.
    for a in &artifacts {
        let mut bytes = std::fs::read(a).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(a, bytes).unwrap();
    }
    let plugins = Plugins::load(Some(&cache), &[]).unwrap();
    let mut f = plugins.filter("sql92", "a = '1'").unwrap();
    let m = Message {
        properties: [("a".to_string(), "1".to_string())].into(),
        ..Message::default()
    };
    assert_eq!(f.decide("t", one(&m).finish(), 1).unwrap(), vec![true]);
}

#[test]
fn a_serving_broker_compiles_uncached_plugins_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let clock = lockgate::clock::Clock::system();
    let good = spec("probe", "misbehave", 8 << 20, 50);
    let generation = |p: &Plugins, name: &str| {
        p.list()
            .into_iter()
            .find(|i| i.name == name)
            .unwrap()
            .generation
    };
    let plugins = std::sync::Arc::new(
        Plugins::load_for_serving(clock.clone(), &cache, std::slice::from_ref(&good)).unwrap(),
    );
    assert_eq!(
        generation(&plugins, "probe"),
        0,
        "not compiled at start: nothing cached"
    );
    // A subscription waits for it (here it compiles it itself); the background thread finds
    // it done.
    let mut f = plugins.filter("probe", "pass").unwrap();
    assert_eq!(
        f.decide("t", one(&Message::default()).finish(), 1).unwrap(),
        vec![true]
    );
    plugins.compile_deferred();
    assert!(generation(&plugins, "probe") > 0);
    // Next start: cached, so loaded (and checked) at once.
    let again = Plugins::load_for_serving(clock.clone(), &cache, &[good]).unwrap();
    assert!(
        generation(&again, "probe") > 0,
        "cached plugins load at start"
    );

    // Cheap checks still stop the start; what needs a compile fails the plugin's
    // subscriptions with the reason instead.
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let bad = PluginSpec {
        source: garbage.display().to_string(),
        ..spec("g", "misbehave", 8 << 20, 50)
    };
    let e = Plugins::load_for_serving(clock.clone(), &cache, &[bad])
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a WebAssembly file"), "{e}");
    let other = spec("other", "wrong_world", 8 << 20, 50);
    let plugins = Plugins::load_for_serving(clock, &cache, &[other]).unwrap();
    let e = plugins.filter("other", "x").err().unwrap();
    assert!(
        e.to_string()
            .contains("implements none of Lockgate's plugin worlds"),
        "{e}"
    );
}

#[test]
fn a_rebuilt_plugin_replaces_its_cache_entry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let entries = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cwasm"))
            .collect();
        v.sort();
        v
    };
    let file = dir.path().join("p.wasm");
    let mut builds = Vec::new();
    // Two builds of one plugin (here: two components) under one name, one after the other.
    for component in ["misbehave", "sql92_filter"] {
        std::fs::copy(plugin_file(component), &file).unwrap();
        let s = PluginSpec {
            source: file.display().to_string(),
            ..spec("mine", "misbehave", 8 << 20, 50)
        };
        Plugins::load(Some(&cache), &[s]).unwrap();
        let now = entries();
        assert_eq!(now.len(), 1, "one entry for the plugin: {now:?}");
        assert!(now[0].starts_with("mine-"));
        builds.push(now[0].clone());
    }
    assert_ne!(builds[0], builds[1], "the old build's entry is gone");
    // Another plugin's entries stay.
    let plugins = Plugins::load(Some(&cache), &[]).unwrap();
    plugins.filter("tag", "*").unwrap();
    assert_eq!(entries().len(), 2);
}

#[test]
fn a_reload_moves_filters_to_the_new_plugin_before_their_next_batch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.wasm");
    std::fs::copy(plugin_file("misbehave"), &file).unwrap();
    let s = PluginSpec {
        source: file.display().to_string(),
        ..spec("swap", "misbehave", 8 << 20, 50)
    };
    let plugins = Plugins::load(None, &[s]).unwrap();
    let before = plugins
        .list()
        .into_iter()
        .find(|p| p.name == "swap")
        .unwrap();
    let mut f = plugins.filter("swap", "pass").unwrap();
    assert_eq!(
        f.decide("t", one(&Message::default()).finish(), 1).unwrap(),
        vec![true]
    );
    let after = plugins.reload("swap").unwrap();
    assert!(after.generation > before.generation);
    assert_eq!(
        f.decide("t", one(&Message::default()).finish(), 1).unwrap(),
        vec![true]
    );
    let names: Vec<String> = plugins.list().into_iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        vec![
            "content-router",
            "dedup",
            "retry-schedule",
            "sql92",
            "swap",
            "tag",
            "topic-exchange"
        ]
    );
}

#[test]
fn a_produce_through_an_ingress_plugin_still_compiling_is_answered_not_ready_at_once() {
    use lockgate::pipeline::{NOT_READY_RETRY_MS, PipelineError, Pipelines};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let text = format!(
        r#"
[server]
data_dir = "{data}"
[plugins.route]
path = "{wasm}"
[plugins.route.config]
bindings = "orders.# -> orders.all"
[[pipeline]]
topics = ["orders.in"]
[pipeline.ingress]
stages = ["route"]
"#,
        data = data.display(),
        wasm = plugin_file("topic_exchange"),
    );
    let config = lockgate::config::Config::parse(&text).unwrap();
    // A fresh cache: a serving broker leaves the router to its background compile.
    let plugins = std::sync::Arc::new(
        Plugins::load_for_serving(
            lockgate::clock::Clock::system(),
            &data.join("plugins/cache"),
            &config.plugins,
        )
        .unwrap(),
    );
    let store =
        lockgate::storage::Store::open(lockgate::storage::StoreOptions::new(&data)).unwrap();
    let pipelines = Pipelines::open(
        plugins.clone(),
        store,
        &data,
        std::sync::Arc::new(parking_lot::RwLock::new(config.pipelines.clone())),
    )
    .unwrap();
    assert!(plugins.compiling("route").is_some());
    match pipelines.ingress("orders.in") {
        Err(PipelineError::NotReady { message, retry_ms }) => {
            assert_eq!(retry_ms, NOT_READY_RETRY_MS);
            assert!(
                message.contains("ingress plugin \"route\" is still compiling")
                    && message.contains("nothing was stored"),
                "{message}"
            );
        }
        Err(e) => panic!("expected not ready, got {e}"),
        Ok(_) => panic!("expected not ready, got the ingress"),
    }
    // Topics the pipeline does not cover are not held up.
    assert!(pipelines.ingress("payments").unwrap().is_none());
    plugins.compile_deferred();
    // Waits for the background compile (or does it), then the topic's ingress runs.
    plugins.roles_of("route").unwrap();
    assert_eq!(plugins.compiling("route"), None);
    assert!(pipelines.ingress("orders.in").unwrap().is_some());
}

#[test]
fn health_tells_each_plugins_load_state_how_it_loaded_and_its_last_error() {
    use lockgate::protocol::LoadState;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let clock = lockgate::clock::Clock::system();
    let probe = spec("probe", "misbehave", 8 << 20, 50);
    let other = spec("other", "wrong_world", 8 << 20, 50);
    let plugins =
        Plugins::load_for_serving(clock.clone(), &cache, &[probe.clone(), other]).unwrap();
    let health = |p: &Plugins, name: &str| {
        p.health()
            .into_iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    // Nothing cached: both wait for their background compile; built-ins wait for first use.
    assert_eq!(health(&plugins, "probe").state, LoadState::Compiling);
    assert_eq!(health(&plugins, "other").state, LoadState::Compiling);
    let tag = health(&plugins, "tag");
    assert_eq!(
        (tag.state, tag.loaded_at, tag.last_error.as_str()),
        (LoadState::Unused, 0, "")
    );

    // Loaded (here by its first use): compiled, not from the cache, when and how long.
    let before = lockgate::clock::system_now_ms();
    let mut f = plugins.filter("probe", "trap").unwrap();
    let p = health(&plugins, "probe");
    assert_eq!(p.state, LoadState::Loaded);
    assert!(!p.from_cache);
    assert!(p.loaded_at >= before, "{p:?}");
    assert_eq!(p.last_error, "");
    // A failed call is its last error.
    assert!(f.decide("t", one(&Message::default()).finish(), 1).is_err());
    let p = health(&plugins, "probe");
    assert!(p.last_error.starts_with("trap: "), "{p:?}");
    assert!(p.last_error_at >= p.loaded_at, "{p:?}");

    // A load that fails leaves the plugin failed, with the reason.
    assert!(plugins.filter("other", "x").is_err());
    let o = health(&plugins, "other");
    assert_eq!(o.state, LoadState::Failed);
    assert!(o.last_error.contains("other"), "{o:?}");
    assert!(o.last_error_at >= before);

    // The next start takes the compiled copy from the cache.
    let again = Plugins::load_for_serving(clock, &cache, &[probe]).unwrap();
    let p = health(&again, "probe");
    assert_eq!((p.state, p.from_cache), (LoadState::Loaded, true));
}
