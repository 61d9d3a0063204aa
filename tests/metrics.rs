//! Metrics with the real tools: a scrape that `promtool check metrics` passes, a real Prometheus
//! scraping the broker and answering the group's lag as `describe` reports it, the Grafana
//! dashboard's queries and the alert rules checked against the metric names, Prometheus and
//! promtool. Both tools come from Debian's `prometheus` package (`scripts/test` installs it).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{clustering_join, connect, fetch_start, produce_all, test_config};
use lockgate::config::Config;
use lockgate::metrics::{DESCRIPTIONS, Type};
use lockgate::protocol::{AckRange, FetchRequest, ProduceMessage, Route};
use lockgate::server::Running;
use lockgate::storage::{Durability, Message};

/// Upper bound for any wait in these tests: reaching it is a failure, not a pass.
const PATIENCE: Duration = Duration::from_secs(90);

fn metrics_config(dir: &Path) -> Config {
    let mut c = test_config(dir);
    c.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    c
}

/// One HTTP/1.0 GET (no chunked answers to decode): (status code, body).
fn http_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {target} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A tool from Debian's `prometheus` package, or a failure that says how to get it.
fn tool(name: &str) -> Command {
    let found = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{name} is not installed: `apt-get install prometheus` (Debian's package has prometheus and promtool; scripts/test installs it)"
    );
    Command::new(name)
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Names of the metrics an expression or file mentions (`lockgate_…` words, histogram series
/// suffixes removed).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("lockgate_") {
        let word: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[i + word.len()..];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| word.strip_suffix(s))
            .filter(|b| {
                DESCRIPTIONS
                    .iter()
                    .any(|(n, t, _)| n == b && *t == Type::Histogram)
            })
            .map_or(word.clone(), str::to_string);
        out.insert(base);
    }
    out
}

fn assert_known(names: &BTreeSet<String>, what: &str) {
    for n in names {
        assert!(
            DESCRIPTIONS.iter().any(|(d, _, _)| d == n),
            "{what} uses {n}, which src/metrics.rs does not define"
        );
    }
}

/// Fills a broker with something to show: a topic half consumed by a group, a filtered fetch
/// (a plugin call), a delay message. Returns the group's lag as `describe` reports it.
async fn activity(running: &Running, dir: &Path) -> u64 {
    let client = connect(running, dir).await;
    client
        .create_topic("orders", 2, Some(Durability::Sync), 0)
        .await
        .unwrap();
    let messages = (0..100u64).map(|n| ProduceMessage {
        route: Route::Queue((n % 2) as u32),
        message: Message {
            tag: if n % 3 == 0 { "a".into() } else { "b".into() },
            body: n.to_le_bytes().to_vec(),
            ..Message::default()
        },
    });
    produce_all(&client, "orders", messages).await;
    let member = client
        .join_group(clustering_join("billing", "orders"))
        .await
        .unwrap();
    let got = client
        .receive(member, 30, 1 << 20, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.len(), 30);
    let ranges: Vec<AckRange> = got
        .iter()
        .map(|m| AckRange {
            queue: m.delivered.queue,
            offset: m.delivered.offset,
            count: 1,
            lease: m.lease,
        })
        .collect();
    assert_eq!(client.ack(member, ranges).await.unwrap(), (30, 0));
    let filtered = client
        .fetch_filtered(
            FetchRequest {
                max_messages: 50,
                ..fetch_start("orders")
            },
            lockgate::protocol::FilterSpec {
                plugin: "tag".into(),
                expression: "a".into(),
            },
        )
        .await
        .unwrap();
    assert!(!filtered.1.is_empty());
    let g = client.describe_group("billing").await.unwrap();
    g.progress.iter().map(|p| p.end - p.acked).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_passes_promtool_and_shows_the_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(&metrics_config(dir.path())).await.unwrap();
    let addr = running.metrics_addr().expect("metrics are on");
    let lag = activity(&running, dir.path()).await;
    assert_eq!(lag, 70);
    let (code, scrape) = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    for family in [
        "lockgate_group_lag_messages",
        "lockgate_group_lag_seconds",
        "lockgate_queue_messages",
        "lockgate_requests_total",
        "lockgate_produce_latency_seconds_bucket",
        "lockgate_group_delivery_latency_seconds_bucket",
        "lockgate_group_ack_latency_seconds_bucket",
        "lockgate_storage_fsync_duration_seconds_bucket",
        "lockgate_plugin_calls_total",
        "lockgate_storage_disk_free_bytes",
    ] {
        assert!(
            scrape.contains(&format!("\n{family}")),
            "{family} missing from:\n{scrape}"
        );
    }
    let per_queue: u64 = scrape
        .lines()
        .filter(|l| l.starts_with("lockgate_group_lag_messages{group=\"billing\",topic=\"orders\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum();
    assert_eq!(per_queue, lag, "the scrape's lag is describe's");
    assert_known(&names_in(&scrape), "a scrape");

    let mut check = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {said}");
    assert!(said.trim().is_empty(), "promtool lints: {said}");

    // Only GET /metrics is served.
    let (code, _) = tokio::task::spawn_blocking(move || http_get(addr, "/"))
        .await
        .unwrap();
    assert_eq!(code, 404);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_queue_off_gives_one_backlog_series_per_group_and_topic() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = metrics_config(dir.path());
    config.metrics.per_queue = false;
    let running = Running::start(&config).await.unwrap();
    let addr = running.metrics_addr().unwrap();
    let lag = activity(&running, dir.path()).await;
    let (_, scrape) = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
        .await
        .unwrap();
    let series: Vec<&str> = scrape
        .lines()
        .filter(|l| l.starts_with("lockgate_group_lag_messages{"))
        .collect();
    assert_eq!(
        series,
        vec![format!(
            "lockgate_group_lag_messages{{group=\"billing\",topic=\"orders\"}} {lag}"
        )],
        "{scrape}"
    );
    assert!(
        !scrape.contains("lockgate_queue_first_offset{"),
        "no per-queue offsets"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_serves_nothing_and_a_taken_port_stops_the_start_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(&test_config(dir.path())).await.unwrap();
    assert_eq!(running.metrics_addr(), None);
    running.stop().await.unwrap();

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.metrics.listen = Some(taken.local_addr().unwrap());
    let e = match Running::start(&config).await {
        Ok(_) => panic!("started on a taken metrics port"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("metrics.listen") && e.contains("off"), "{e}");
}

/// A Prometheus server, killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus scraping `target` every second, presenting `token` (Prometheus'
/// `authorization` setting: `Authorization: Bearer TOKEN`) when given.
fn start_prometheus(dir: &Path, target: SocketAddr, token: Option<&str>) -> Prometheus {
    let config = dir.join("prometheus.yml");
    let authorization = token.map_or_else(String::new, |t| {
        format!("    authorization:\n      type: Bearer\n      credentials: {t}\n")
    });
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {:?}\nscrape_configs:\n  - job_name: lockgate\n{authorization}    static_configs:\n      - targets: [\"{target}\"]\n",
            repo("examples/prometheus/alerts.yml").display().to_string()
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()).parse().unwrap();
    let child = tool("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    Prometheus { child, addr }
}

/// Prometheus' answer to an instant query, as JSON.
fn query(p: &Prometheus, expr: &str) -> serde_json::Value {
    let (_, body) = http_get(p.addr, &format!("/api/v1/query?query={}", url_encode(expr)));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reports_the_lag_describe_shows_and_the_dashboard_queries_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(&metrics_config(dir.path())).await.unwrap();
    let lag = activity(&running, dir.path()).await;
    let prom = start_prometheus(dir.path(), running.metrics_addr().unwrap(), None);
    let prom = tokio::task::spawn_blocking(move || {
        let expr = "sum(lockgate_group_lag_messages{group=\"billing\",topic=\"orders\"})";
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < PATIENCE,
                "Prometheus never reported the lag"
            );
            // Up and scraped at least once?
            if TcpStream::connect(prom.addr).is_ok() {
                let v = query(&prom, expr);
                if let Some(value) = v["data"]["result"][0]["value"][1].as_str() {
                    assert_eq!(value, lag.to_string(), "Prometheus' lag is describe's");
                    return prom;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/grafana/lockgate.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            exprs.push(t["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(exprs.len() >= 12, "{exprs:?}");
    let mut names = BTreeSet::new();
    for e in &exprs {
        names.extend(names_in(e));
    }
    assert_known(&names, "the dashboard");
    for wanted in [
        "lockgate_group_lag_messages",
        "lockgate_group_lag_seconds",
        "lockgate_group_delivery_latency_seconds",
        "lockgate_produce_latency_seconds",
        "lockgate_plugin_outcomes_total",
        "lockgate_storage_fsync_duration_seconds",
        "lockgate_storage_disk_free_bytes",
    ] {
        assert!(names.contains(wanted), "the dashboard shows no {wanted}");
    }
    let rules = std::fs::read_to_string(repo("examples/prometheus/alerts.yml")).unwrap();
    assert_known(&names_in(&rules), "alerts.yml");
    tokio::task::spawn_blocking(move || {
        for e in &exprs {
            let v = query(&prom, e);
            assert_eq!(v["status"], "success", "{e}: {v}");
        }
        // A query that is not PromQL is refused: the check above can fail.
        assert_eq!(
            query(&prom, "sum(lockgate_group_lag_messages")["status"],
            "error"
        );
        // The alert rules loaded (and evaluate) in this Prometheus.
        let (_, body) = http_get(prom.addr, "/api/v1/rules");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let loaded = v["data"]["groups"][0]["rules"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(loaded, 5, "{body}");
    })
    .await
    .unwrap();
    running.stop().await.unwrap();
}

#[test]
fn the_alert_rules_pass_promtool() {
    let out = tool("promtool")
        .args(["check", "rules"])
        .arg(repo("examples/prometheus/alerts.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS: 5 rules found"));
}

/// Waits (in real time, bounded) until Prometheus answers `expr` with a first sample.
fn first_sample(prom: &Prometheus, expr: &str) -> String {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < PATIENCE,
            "Prometheus never answered {expr}"
        );
        if TcpStream::connect(prom.addr).is_ok()
            && let Some(v) = query(prom, expr)["data"]["result"][0]["value"][1].as_str()
        {
            return v.to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// With `[auth] mode = "required"` the endpoint serves only a token whose principal may
/// describe the broker: a real Prometheus scrapes it with its `authorization` setting; no
/// token is 401, a token without the right 403 (both counted as refusals).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_token_that_may_describe_the_broker() {
    use lockgate::auth::{Action, AuthConfig, Mode, Pattern, Rule, TokenEntry, TokenHash};
    let dir = tempfile::tempdir().unwrap();
    let (scraper, other) = (
        lockgate::auth::token::generate().unwrap(),
        lockgate::auth::token::generate().unwrap(),
    );
    let mut config = metrics_config(dir.path());
    let rule = |who: &str, topics: &str| Rule {
        principal: who.into(),
        actions: vec![Action::Describe],
        topics: vec![Pattern::parse(topics).unwrap()],
        groups: vec![Pattern::parse("*").unwrap()],
    };
    config.auth = AuthConfig {
        mode: Mode::Required,
        allow_anonymous_remote: false,
        tokens: vec![
            TokenEntry {
                name: "prometheus".into(),
                hash: TokenHash::of(&scraper),
            },
            TokenEntry {
                name: "team".into(),
                hash: TokenHash::of(&other),
            },
        ],
        acl: vec![rule("prometheus", "*"), rule("team", "team.*")],
        quotas: vec![],
    };
    let running = Running::start(&config).await.unwrap();
    let addr = running.metrics_addr().unwrap();
    let get = move |token: Option<String>| {
        tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
            write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n").unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            text
        })
    };
    let anonymous = get(None).await.unwrap();
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(
        anonymous.contains("WWW-Authenticate: Bearer"),
        "{anonymous}"
    );
    assert!(
        !anonymous.contains("lockgate_"),
        "no series without a token"
    );
    let wrong = get(Some("lgt_unknown".into())).await.unwrap();
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let team = get(Some(other)).await.unwrap();
    assert!(team.starts_with("HTTP/1.1 403"), "{team}");
    assert!(team.contains("team may not describe the broker"), "{team}");
    let ok = get(Some(scraper.clone())).await.unwrap();
    assert!(
        ok.starts_with("HTTP/1.1 200"),
        "{}",
        &ok[..ok.len().min(200)]
    );
    assert!(ok.contains("lockgate_auth_failures_total{status=\"NotAuthorized\"}"));

    let prom = start_prometheus(dir.path(), addr, Some(&scraper));
    let up = tokio::task::spawn_blocking(move || first_sample(&prom, "up{job=\"lockgate\"}"))
        .await
        .unwrap();
    assert_eq!(up, "1", "Prometheus scrapes with its token");
    running.stop().await.unwrap();
}

/// Protected mode covers the metrics endpoint: without authentication it listens on a
/// loopback address only, unless that is asked for on purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_mode_refuses_a_remote_metrics_listener_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = metrics_config(dir.path());
    config.metrics.listen = Some("0.0.0.0:0".parse().unwrap());
    let e = match Running::start(&config).await {
        Ok(_) => panic!("served metrics to anyone"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("refusing to serve metrics on 0.0.0.0:0") && e.contains("authorization"),
        "{e}"
    );
    config.auth.allow_anonymous_remote = true;
    let running = Running::start(&config).await.unwrap();
    running.stop().await.unwrap();
}

/// Counters whose labels are known at start begin at 0: a group's dead letters (the shipped
/// alert takes their `increase()`), transaction outcomes and check-backs, refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_with_known_labels_start_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = metrics_config(dir.path());
    let running = Running::start(&config).await.unwrap();
    let client = connect(&running, dir.path()).await;
    client
        .create_topic("zero", 1, Some(Durability::Async), 0)
        .await
        .unwrap();
    client
        .join_group(clustering_join("zero-group", "zero"))
        .await
        .unwrap();
    let scrape = |addr| tokio::task::spawn_blocking(move || http_get(addr, "/metrics").1);
    let text = scrape(running.metrics_addr().unwrap()).await.unwrap();
    for series in [
        "lockgate_group_dead_letters_total{group=\"zero-group\",topic=\"zero\"} 0",
        "lockgate_txn_ended_total{outcome=\"commit\",by=\"request\"}",
        "lockgate_txn_checks_total{delivered=\"false\"}",
        "lockgate_auth_failures_total{status=\"NotAuthorized\"}",
        "lockgate_connections_refused_total",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(series)),
            "no {series} in:\n{text}"
        );
    }
    running.stop().await.unwrap();
    // After a restart the group's series is there before any member joins.
    let running = Running::start(&config).await.unwrap();
    let text = scrape(running.metrics_addr().unwrap()).await.unwrap();
    assert!(
        text.lines().any(|l| l
            .starts_with("lockgate_group_dead_letters_total{group=\"zero-group\",topic=\"zero\"}")),
        "{text}"
    );
    running.stop().await.unwrap();
}
