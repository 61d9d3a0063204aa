//! `lockgate bench plugins`: what plugins cost per message on one core, in one run: an empty
//! plugin call, the tag filter, each built-in (SQL92 filter, topic exchange, content router,
//! dedup keys) as a plugin and the same logic compiled natively reading the same batch; with
//! `--plugin NAME`, a `[plugins.NAME]` of the configuration too (a filter with
//! `--plugin-expr E`, or a router). Messages: 100-byte bodies, a tag and 3 properties (`a`,
//! `b`, `c`); batches as the broker builds them.

use std::time::{Duration, Instant};

use lockgate_filters::MessageFields;
use lockgate_filters::batch::{Batch, Message as BatchMessage};
use lockgate_filters::sql92::Expr;
use serde_json::json;

use crate::plugin::Plugins;
use crate::plugin::batch::BatchBuilder;
use crate::storage::Message;

#[derive(Debug, Clone, clap::Args)]
pub struct PluginBenchArgs {
    /// Messages per batch
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// How long each case runs, e.g. "2s"
    #[arg(long, value_parser = super::net::parse_duration, default_value = "2s")]
    pub duration: Duration,
    /// The SQL92 expression
    #[arg(long, default_value = "a > 5 AND (b = 'x' OR TAGS = 'TagA')")]
    pub expr: String,
    /// Also bench this `[plugins.NAME]` of the configuration, a filter or a router (through
    /// the data directory's compile cache)
    #[arg(long)]
    pub plugin: Option<String>,
    /// The expression for --plugin
    #[arg(long, requires = "plugin")]
    pub plugin_expr: Option<String>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

struct Fields<'m, 'a>(&'m BatchMessage<'a>);

impl MessageFields for Fields<'_, '_> {
    fn tag(&self) -> &str {
        self.0.tag
    }
    fn keys(&self) -> &str {
        ""
    }
    fn property(&self, name: &str) -> Option<&str> {
        self.0.property(name)
    }
    fn property_bytes(&self, name: &str) -> Option<&[u8]> {
        self.0.property_bytes(name)
    }
}

fn messages(n: usize) -> BatchBuilder {
    let mut b = BatchBuilder::with_capacity(n * 200);
    for i in 0..n {
        let mut m = Message {
            tag: if i % 2 == 0 { "TagA" } else { "TagB" }.into(),
            body: vec![b'x'; 100],
            ..Message::default()
        };
        m.properties.insert("a".into(), (i % 10).to_string());
        m.properties
            .insert("b".into(), if i % 3 == 0 { "x" } else { "y" }.into());
        m.properties.insert("c".into(), "some value".into());
        b.push_message(&m, 0, i as u64, 0, 1);
    }
    b
}

/// Runs `f` (deciding `per_call` messages) repeatedly for `d`; ns per message (per call if
/// `per_call` is 0).
fn measure(d: Duration, per_call: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let start = Instant::now();
    let (mut calls, mut selected) = (0u64, 0usize);
    while start.elapsed() < d {
        for _ in 0..16 {
            selected = f();
            calls += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / calls as f64;
    (ns / per_call.max(1) as f64, selected)
}

pub fn run(args: &PluginBenchArgs, config: &crate::config::Config) -> anyhow::Result<()> {
    let specs: Vec<_> = match &args.plugin {
        None => Vec::new(),
        Some(name) => {
            let spec = config
                .plugins
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| {
                    anyhow::anyhow!("no [plugins.{name}] in the configuration to bench")
                })?;
            vec![spec.clone()]
        }
    };
    let cache = Plugins::existing_cache_dir(&config.server.data_dir);
    let plugins = Plugins::load(cache.as_deref(), &specs)?;
    let mut batch = messages(args.batch);
    let bytes = batch.finish().to_vec();
    let n = args.batch;
    let mut empty = BatchBuilder::with_capacity(0);
    let empty = empty.finish().to_vec();

    let mut all = plugins.filter("tag", "*")?;
    let (empty_call, _) = measure(args.duration, 0, || {
        all.decide("bench", &empty, 0).map_or(0, |d| d.len())
    });
    let mut tag = plugins.filter("tag", "TagA || TagC")?;
    let (tag_ns, tag_sel) = measure(args.duration, n, || count(tag.decide("bench", &bytes, n)));
    let mut sql = plugins.filter("sql92", &args.expr)?;
    let (sql_ns, sql_sel) = measure(args.duration, n, || count(sql.decide("bench", &bytes, n)));
    let native = Expr::parse(&args.expr).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (native_ns, native_sel) = measure(args.duration, n, || {
        let b = Batch::new(std::hint::black_box(&bytes)).expect("a valid batch");
        b.filter(|m| m.as_ref().is_ok_and(|m| native.selects(&Fields(m))))
            .count()
    });
    anyhow::ensure!(
        sql_sel == native_sel,
        "the plugin and the native evaluator disagree: {sql_sel} vs {native_sel}"
    );
    let configured = match (&args.plugin, &args.plugin_expr) {
        (Some(name), Some(expr)) => {
            let mut f = plugins.filter(name, expr)?;
            let (ns, selected) = measure(args.duration, n, || count(f.decide("bench", &bytes, n)));
            Some((name.clone(), ns, selected))
        }
        (Some(name), None) => {
            let mut r = plugins.router(name)?;
            let (ns, routed) = measure(args.duration, n, || {
                r.route("bench", &bytes, n)
                    .map_or(0, |r| r.targets.iter().filter(|t| !t.is_empty()).count())
            });
            Some((name.clone(), ns, routed))
        }
        _ => None,
    };
    let builtins = builtin_costs(&plugins, args.duration, &bytes, n)?;
    let mut v = json!({
        "batch": n,
        "expr": args.expr,
        "empty_call_ns": empty_call.round(),
        "tag_ns_per_msg": (tag_ns * 10.0).round() / 10.0,
        "sql92_ns_per_msg": (sql_ns * 10.0).round() / 10.0,
        "native_sql92_ns_per_msg": (native_ns * 10.0).round() / 10.0,
        "sql92_msgs_per_s": (1e9 / sql_ns).round(),
        "sql92_vs_native": (sql_ns / native_ns * 100.0).round() / 100.0,
        "selected": {"tag": tag_sel, "sql92": sql_sel},
    });
    for (name, plugin_ns, native_ns) in &builtins {
        v[format!("{name}_ns_per_msg")] = json!((plugin_ns * 10.0).round() / 10.0);
        v[format!("native_{name}_ns_per_msg")] = json!((native_ns * 10.0).round() / 10.0);
        v[format!("{name}_vs_native")] = json!((plugin_ns / native_ns * 100.0).round() / 100.0);
    }
    if let Some((name, ns, selected)) = &configured {
        v["plugin"] = json!({"name": name, "ns_per_msg": (ns * 10.0).round() / 10.0,
            "msgs_per_s": (1e9 / ns).round(), "selected": selected});
    }
    if args.json {
        crate::cli::output::emit(v);
    } else {
        println!("batch of {n} messages (100-byte bodies, a tag, 3 properties), one core");
        println!("empty plugin call        {:>8.0} ns per call", empty_call);
        println!("tag filter (plugin)      {tag_ns:>8.1} ns per message");
        println!(
            "sql92 filter (plugin)    {sql_ns:>8.1} ns per message  ({:.2} M msgs/s)",
            1e3 / sql_ns
        );
        println!("sql92 evaluator (native) {native_ns:>8.1} ns per message");
        println!("plugin / native          {:>8.2}x", sql_ns / native_ns);
        for (name, plugin_ns, native_ns) in &builtins {
            println!(
                "{name:<15} plugin {plugin_ns:>7.1} ns, native {native_ns:>6.1} ns per message  ({:.2}x)",
                plugin_ns / native_ns
            );
        }
        if let Some((name, ns, selected)) = &configured {
            println!(
                "{name} (configured)  {ns:>8.1} ns per message  ({:.2} M msgs/s, {selected} of {n} selected)",
                1e3 / ns
            );
        }
    }
    Ok(())
}

/// The built-in routers and dedup against their logic compiled natively, producing the same
/// answer (a routes table, a key per message): (name, plugin ns, native ns) per message.
fn builtin_costs(
    plugins: &Plugins,
    d: Duration,
    bytes: &[u8],
    n: usize,
) -> anyhow::Result<Vec<(&'static str, f64, f64)>> {
    use lockgate_filters::dedup::DedupKey;
    use lockgate_filters::route::content::ContentRouter;
    use lockgate_filters::route::exchange::TopicExchange;
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let exchange_cfg = vec![pair(
        "bindings",
        "TagA -> a\n# -> all, audit\nTag* -> never",
    )];
    let content_cfg = vec![
        pair("rules", "a > 5 -> big\nb = 'x' -> xs"),
        pair("mode", "all"),
        pair("default", "rest"),
    ];
    let dedup_cfg = vec![pair("key", "property:c")];
    let specs = [
        ("topic-exchange", exchange_cfg.clone()),
        ("content-router", content_cfg.clone()),
        ("dedup", dedup_cfg.clone()),
    ];
    let mut out = Vec::new();
    for (builtin, config) in specs {
        let loaded = Plugins::load(
            None,
            &[crate::plugin::PluginSpec {
                name: format!("bench-{builtin}"),
                config: config.clone(),
                ..crate::plugin::PluginSpec::builtin(builtin)
            }],
        )?;
        let _ = plugins;
        let name = format!("bench-{builtin}");
        let (plugin_ns, native_ns) = match builtin {
            "dedup" => {
                let mut p = loaded.dedup(&name)?;
                let native = DedupKey::new(&config).map_err(anyhow::Error::msg)?;
                let (pn, _) = measure(d, n, || p.keys("bench", bytes, n).map_or(0, |k| k.len()));
                let (nn, _) = measure(d, n, || {
                    let b = Batch::new(std::hint::black_box(bytes)).expect("a valid batch");
                    let mut key = Vec::new();
                    let keys: Vec<Option<Vec<u8>>> = b
                        .map(|m| {
                            let m = m.expect("a valid message");
                            native.key(&m, &mut key).then(|| key.clone())
                        })
                        .collect();
                    keys.len()
                });
                (pn, nn)
            }
            _ => {
                let mut p = loaded.router(&name)?;
                let (pn, _) = measure(d, n, || {
                    p.route("bench", bytes, n).map_or(0, |r| r.targets.len())
                });
                let nn = if builtin == "topic-exchange" {
                    native_router::<TopicExchange>(d, &config, bytes, n)?
                } else {
                    native_router::<ContentRouter>(d, &config, bytes, n)?
                };
                (pn, nn)
            }
        };
        out.push((builtin, plugin_ns, native_ns));
    }
    Ok(out)
}

/// A built-in router's logic natively: ns per message, building the same routes table.
fn native_router<R: lockgate_filters::route::TopicRouter>(
    d: Duration,
    config: &[(String, String)],
    bytes: &[u8],
    n: usize,
) -> anyhow::Result<f64> {
    let native = R::new(config).map_err(anyhow::Error::msg)?;
    Ok(measure(d, n, || {
        let b = Batch::new(std::hint::black_box(bytes)).expect("a valid batch");
        native.route_batch(b).map_or(0, |r| r.targets.len())
    })
    .0)
}

fn count(d: Result<Vec<bool>, crate::plugin::Failure>) -> usize {
    d.map_or(0, |d| d.into_iter().filter(|x| *x).count())
}
