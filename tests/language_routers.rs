//! Routers written in Python (componentize-py), JavaScript (ComponentizeJS) and C (clang +
//! wasi-libc), built from `examples/plugins/` by their own build scripts, route produced
//! messages through a real pipeline. `scripts/test` installs the tools (PyPI, npm, apt); a
//! missing tool fails the test with how to install it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{connect, read_everything, start, test_config};
use lockgate::config::plugins::{FilterStage, IngressOnError, IngressStage, PipelineConfig};
use lockgate::plugin::PluginSpec;
use lockgate::protocol::{
    ProduceMessage, ProduceRequest, Request, Response, Route, RouteOutcome, Status,
};
use lockgate::storage::{Durability, Message};

fn build(example: &str, out: &Path, install: &str) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/plugins/{example}/build.sh"));
    let built = Command::new(&script)
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        built.status.success() && out.is_file(),
        "{} failed (install the tool: {install}):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
}

fn message(region: Option<&str>, audit: bool) -> ProduceMessage {
    let mut properties = std::collections::BTreeMap::new();
    if let Some(r) = region {
        properties.insert("region".to_string(), r.to_string());
    }
    if audit {
        properties.insert("audit".to_string(), "yes".to_string());
    }
    ProduceMessage {
        route: Route::Any,
        message: Message {
            properties,
            body: b"order".to_vec(),
            ..Message::default()
        },
    }
}

async fn routes_through(wasm: PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.plugins = vec![PluginSpec {
        name: "router".into(),
        source: wasm.display().to_string(),
        memory_limit: 256 << 20,
        call_timeout: std::time::Duration::from_secs(2),
        config: vec![("default".into(), "orders.other".into())],
    }];
    config.pipelines = vec![PipelineConfig {
        topics: vec!["orders.in".into()],
        ingress: Some(IngressStage {
            stages: vec!["router".into()],
            on_error: IngressOnError::Reject,
            dedup_window: std::time::Duration::ZERO,
            dedup_max_keys: 0,
        }),
        filter: FilterStage::default(),
        retry: None,
    }];
    let running = start(&config).await;
    let client = connect(&running, dir.path()).await;
    for t in [
        "orders.in",
        "orders.eu",
        "orders.us",
        "orders.other",
        "audit",
    ] {
        client
            .create_topic(t, 1, Some(Durability::Async), 0)
            .await
            .unwrap();
    }
    let request = Request::Produce(ProduceRequest {
        topic: "orders.in".into(),
        producer_id: 0,
        sequence: 0,
        messages: vec![
            message(Some("eu"), false),
            message(Some("us"), true),
            message(None, false),
        ],
    });
    // A fresh start has no compiled copy of the router: until its background compile ends,
    // the produce is answered NotReady at once (nothing stored) with the wait it asks for.
    let mut not_ready = 0;
    let answer = loop {
        match client.call(request.clone()).await {
            Err(lockgate::client::ClientError::Server {
                status: Status::NotReady,
                message,
                detail,
            }) => {
                assert!(
                    message.contains("\"router\" is still compiling"),
                    "{message}"
                );
                assert!((1..=5_000).contains(&detail), "{detail}");
                not_ready += 1;
                assert!(not_ready < 1_000, "the router never finished compiling");
                tokio::time::sleep(std::time::Duration::from_millis(detail)).await;
            }
            other => break other.unwrap(),
        }
    };
    let Response::Routed { acks, .. } = answer else {
        panic!("{answer:?}")
    };
    let topics: Vec<Vec<&str>> = acks
        .iter()
        .map(|a| {
            assert_eq!(a.outcome, RouteOutcome::Stored);
            a.destinations.iter().map(|d| d.topic.as_str()).collect()
        })
        .collect();
    assert_eq!(
        topics,
        [
            vec!["orders.eu"],
            vec!["orders.us", "audit"],
            vec!["orders.other"]
        ]
    );
    for (t, n) in [
        ("orders.eu", 1),
        ("orders.us", 1),
        ("audit", 1),
        ("orders.other", 1),
        ("orders.in", 0),
    ] {
        assert_eq!(read_everything(&client, t, 1).await.len(), n, "{t}");
    }
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_router_routes() {
    let out = tempfile::tempdir().unwrap();
    let wasm = out.path().join("router.wasm");
    build("python-router", &wasm, "pip install componentize-py");
    routes_through(wasm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_router_routes() {
    let out = tempfile::tempdir().unwrap();
    let wasm = out.path().join("router.wasm");
    build(
        "js-router",
        &wasm,
        "npm ci --prefix examples/plugins/js-router",
    );
    routes_through(wasm.clone()).await;
    // An `Error` thrown in `create` reaches the operator with its text (the example's
    // `errorText` pattern), not as "expected a string, received [object]".
    let plugins = lockgate::plugin::Plugins::load(
        None,
        &[PluginSpec {
            name: "router".into(),
            source: wasm.display().to_string(),
            memory_limit: 256 << 20,
            call_timeout: std::time::Duration::from_secs(2),
            config: vec![("bogus".into(), "1".into())],
        }],
    )
    .unwrap();
    let refused = plugins
        .make_stage(lockgate::plugin::Role::Router, "router")
        .unwrap_err();
    assert!(
        refused.contains(r#"unknown option "bogus" (known: prefix, default)"#),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_c_router_routes() {
    let out = tempfile::tempdir().unwrap();
    let wasm = out.path().join("router.wasm");
    build(
        "c-router",
        &wasm,
        "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32",
    );
    routes_through(wasm).await;
}
