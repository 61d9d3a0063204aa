//! `lockgate filter test`, `plugin check|list|reload`, `check-config` with plugins and
//! `consume --group --filter-type … --filter …`, as written.

mod common;

use std::process::Command;

use common::process::{ServeProcess, bin, free_udp_port};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn plugin_file(name: &str) -> String {
    format!("{}/{name}.wasm", env!("LOCKGATE_PLUGIN_DIR"))
}

#[test]
fn filter_test_prints_the_plugins_decision_or_the_expression_error() {
    let sql = "a > 5 AND (b = 'x' OR TAGS = 'TagA')";
    let (code, out, _) = run(&[
        "filter", "test", "--type", "sql92", "--expr", sql, "--tag", "TagA", "--prop", "a=6",
        "--prop", "b=y",
    ]);
    assert_eq!((code, out.as_str()), (0, "true"));
    let (code, out, _) = run(&[
        "filter", "test", "--type", "sql92", "--expr", sql, "--prop", "a=6", "--prop", "b=y",
    ]);
    assert_eq!((code, out.as_str()), (0, "false"));
    let (code, out, _) = run(&[
        "filter",
        "test",
        "--type",
        "sql92",
        "--expr",
        "KEYS CONTAINS 'k2'",
        "--key",
        "k1",
        "--key",
        "k2",
    ]);
    assert_eq!((code, out.as_str()), (0, "true"));
    let (code, out, err) = run(&[
        "filter",
        "test",
        "--type",
        "sql92",
        "--expr",
        "a BETWEEN 1 2",
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("position 13"), "{err}");
    let (code, out, _) = run(&[
        "filter",
        "test",
        "--type",
        "tag",
        "--expr",
        "TagA || TagB",
        "--tag",
        "TagB",
    ]);
    assert_eq!((code, out.as_str()), (0, "true"));
    let (code, _, err) = run(&["filter", "test", "--type", "tag", "--expr", "||"]);
    assert_eq!(code, 2);
    assert!(err.contains("names no tag"), "{err}");
    let (code, _, err) = run(&["filter", "test", "--type", "nosuch", "--expr", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("no filter plugin named"), "{err}");
}

#[test]
fn plugin_check_and_check_config_name_the_problem() {
    let (code, out, _) = run(&["plugin", "check", &plugin_file("tag_filter")]);
    assert_eq!(code, 0);
    assert!(out.contains("lockgate:plugin/filter-plugin@0.2.0"), "{out}");
    let (code, _, err) = run(&["plugin", "check", &plugin_file("wrong_world")]);
    assert_ne!(code, 0);
    assert!(
        err.contains("implements none of Lockgate's plugin worlds"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.other]\npath = \"{}\"\n",
            plugin_file("wrong_world")
        ),
    )
    .unwrap();
    let (code, out, _) = run(&["check-config", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.starts_with("plugins.other: "), "{out}");
    assert!(
        out.contains("implements none of Lockgate's plugin worlds"),
        "{out}"
    );
}

#[test]
fn plugins_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    let listed = server.ok_lines(&["plugin", "list"], None);
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "content-router",
            "dedup",
            "retry-schedule",
            "sql92",
            "tag",
            "topic-exchange"
        ]
    );
    let kinds: Vec<&str> = listed.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["router", "dedup", "retry", "filter", "filter", "router"]
    );
    assert_eq!(listed[3]["source"], "builtin:sql92");
    // Built-ins compile on first use: none used yet.
    for p in &listed {
        assert_eq!(p["state"], "unused", "{p}");
        assert_eq!(p["load_seconds"], 0.0, "{p}");
        assert!(p.get("last_error").is_none(), "{p}");
    }
    let reloaded = server.ok_lines(&["plugin", "reload", "sql92"], None);
    assert!(reloaded[0]["generation"].as_u64().unwrap() > 0);
    let bad = server.cli(&["plugin", "reload", "nope"]);
    assert!(!bad.status.success());

    server.ok_lines(&["topic", "create", "orders", "--queues", "2"], None);
    let input: String = (0..20).map(|i| format!("line {i}\n")).collect();
    server.ok_lines(
        &["produce", "--topic", "orders", "--tag", "TagA"],
        Some(&input),
    );
    server.ok_lines(
        &["produce", "--topic", "orders", "--tag", "TagB"],
        Some(&input),
    );
    let got = server.ok_lines(
        &[
            "consume",
            "--topic",
            "orders",
            "--group",
            "b",
            "--from",
            "earliest",
            "--filter-type",
            "tag",
            "--filter",
            "TagB",
            "--wait",
            "500ms",
        ],
        None,
    );
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|m| m["tag"] == "TagB"));
    // A plain consumer may carry a filter too.
    let plain = server.ok_lines(
        &[
            "consume",
            "--topic",
            "orders",
            "--from",
            "earliest",
            "--filter-type",
            "sql92",
            "--filter",
            "TAGS = 'TagA'",
            "--wait",
            "500ms",
        ],
        None,
    );
    assert_eq!(plain.len(), 20);
    assert!(plain.iter().all(|m| m["tag"] == "TagA"));
    // `plugin list` counts calls, the messages they decided, and failures by kind.
    let listed = server.ok_lines(&["plugin", "list"], None);
    let filters = listed.iter().filter(|p| p["kind"] == "filter");
    assert_eq!(filters.clone().count(), 2);
    for p in filters {
        assert_eq!(p["state"], "loaded", "{p}");
        assert!(p["loaded_at"].as_i64().unwrap() > 1_700_000_000_000, "{p}");
        assert!(p["load_seconds"].as_f64().unwrap() >= 0.0, "{p}");
        assert!(p.get("last_error").is_none(), "{p}");
        assert!(p["calls"].as_u64().unwrap() > 0, "{p}");
        assert!(p["messages"].as_u64().unwrap() >= 20, "{p}");
        assert_eq!(p["failures"]["trap"], 0, "{p}");
        assert_eq!(p["failures"]["timeout"], 0, "{p}");
    }
    let bad = server.cli(&[
        "consume",
        "--topic",
        "orders",
        "--filter-type",
        "sql92",
        "--filter",
        "TAGS =",
        "--wait",
        "200ms",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("position 7"));
}

#[test]
fn sighup_reloads_plugins_and_pipelines_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), free_udp_port());
    let wasm = dir.path().join("hot.wasm");
    std::fs::copy(plugin_file("misbehave"), &wasm).unwrap();
    let mut text = std::fs::read_to_string(&server.config).unwrap();
    text.push_str(&format!("\n[plugins.hot]\npath = \"{}\"\n", wasm.display()));
    std::fs::write(&server.config, &text).unwrap();

    let hup = || {
        let pid = server.child.id() as i32;
        assert_eq!(unsafe_kill(pid), 0);
    };
    let generation_of_hot = || {
        server
            .ok_lines(&["plugin", "list"], None)
            .iter()
            .find(|p| p["name"] == "hot")
            .map(|p| p["generation"].as_u64().unwrap())
    };
    let wait_for = |pred: &dyn Fn(Option<u64>) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let g = generation_of_hot();
            if pred(g) {
                return g;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the reload did not happen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    hup();
    let first = wait_for(&|g| g.is_some()).unwrap();
    hup();
    let second = wait_for(&|g| g.is_some_and(|g| g > first)).unwrap();
    assert!(second > first);
    // A broken file is logged and changes nothing.
    std::fs::write(&server.config, "[server\n").unwrap();
    hup();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !server.log.lock().unwrap().contains("not reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line for the broken file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(&server.config, &text).unwrap();
    assert_eq!(generation_of_hot(), Some(second));
}

fn unsafe_kill(pid: i32) -> i32 {
    // The crate forbids unsafe code in the library, not in tests; this is the one call.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGHUP)
    }
}

#[test]
fn filter_test_takes_a_body_and_uses_the_data_directorys_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n\n[plugins.probe]\npath = \"{}\"\n\n[plugins.unused]\npath = \"{}\"\n",
            data.display(),
            plugin_file("misbehave"),
            plugin_file("wrong_world"),
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let test = |extra: &[&str]| {
        let mut args = vec![
            "--config",
            cfg,
            "filter",
            "test",
            "--type",
            "probe",
            "--expr",
            "body-has:needle",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Only the plugin asked for is loaded: the unloadable one beside it is not touched.
    let (code, out, err) = test(&["--body", "hay needle hay"]);
    assert_eq!((code, out.as_str()), (0, "true"), "{err}");
    let (code, out, err) = test(&["--body", "only hay"]);
    assert_eq!((code, out.as_str()), (0, "false"), "{err}");
    let file = dir.path().join("body.bin");
    std::fs::write(&file, b"\x00\x01needle\xff").unwrap();
    let (code, out, err) = test(&["--body-file", file.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "true"), "{err}");
    let (code, _, err) = test(&["--body-file", "/no/such/file"]);
    assert_eq!(code, 2);
    assert!(err.contains("--body-file /no/such/file"), "{err}");
    // The compiled plugin was cached in the data directory, under its name.
    let cached: Vec<String> = std::fs::read_dir(data.join("plugins/cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with("probe-"), "{cached:?}");
}

#[test]
fn bench_plugins_benches_a_configured_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"{}\"\n\n[plugins.probe]\npath = \"{}\"\n",
            dir.path().join("data").display(),
            plugin_file("misbehave")
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let (code, out, err) = run(&[
        "--config",
        cfg,
        "bench",
        "plugins",
        "--duration",
        "20ms",
        "--batch",
        "64",
        "--json",
        "--plugin",
        "probe",
        "--plugin-expr",
        "skip-if:c",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plugin"]["name"], "probe");
    assert_eq!(
        v["plugin"]["selected"], 0,
        "every bench message has property c: {v}"
    );
    assert!(v["plugin"]["ns_per_msg"].as_f64().unwrap() > 0.0);
    let (code, _, err) = run(&[
        "--config",
        cfg,
        "bench",
        "plugins",
        "--plugin",
        "nope",
        "--plugin-expr",
        "x",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no [plugins.nope]"), "{err}");
}

#[test]
fn plugin_compile_warms_the_cache_a_broker_then_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = |extra: &str| {
        format!(
            "[server]\ndata_dir = \"{}\"\n[plugins.mine]\npath = \"{}\"\n{extra}",
            dir.path().join("data").display(),
            plugin_file("tag_filter"),
        )
    };
    std::fs::write(&config, text("")).unwrap();
    let compile = || {
        let (code, out, err) = run(&["plugin", "compile", "--config", config.to_str().unwrap()]);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (code, lines, err)
    };
    let (code, first, err) = compile();
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = first.iter().map(|l| l["name"].as_str().unwrap()).collect();
    for name in [
        "mine",
        "tag",
        "sql92",
        "topic-exchange",
        "dedup",
        "retry-schedule",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert!(first.iter().all(|l| l["cached"] == false), "{first:?}");
    // Now every one comes from the cache.
    let (code, second, _) = compile();
    assert_eq!(code, 0);
    assert_eq!(second.len(), first.len());
    assert!(second.iter().all(|l| l["cached"] == true), "{second:?}");
    // One that does not load is named, and the command fails.
    std::fs::write(
        &config,
        text("[plugins.broken]\npath = \"/nonexistent/broken.wasm\"\n"),
    )
    .unwrap();
    let (code, _, err) = compile();
    assert_ne!(code, 0);
    assert!(err.contains("broken"), "{err}");
}
