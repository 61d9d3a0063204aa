//! `lockgate filter test` (an expression through the very plugin the broker uses, locally) and
//! `lockgate plugin check|list|reload`.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use super::output::emit;
use super::produce::MessageArgs;
use super::{CliError, ConnectArgs};
use crate::config::Config;
use crate::plugin::batch::BatchBuilder;
use crate::plugin::{FilterError, Plugins};

#[derive(Debug, clap::Args)]
pub struct FilterTestArgs {
    /// tag, sql92, or the name of a [plugins.NAME] filter in the configuration
    #[arg(long = "type")]
    pub kind: String,
    #[arg(long)]
    pub expr: String,
    #[command(flatten)]
    pub fields: MessageArgs,
    /// The message's body (for plugins that look at it)
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// The message's body, read from a file
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
}

impl FilterTestArgs {
    fn body(&self) -> Result<Vec<u8>, String> {
        match (&self.body, &self.body_file) {
            (Some(b), _) => Ok(b.clone().into_bytes()),
            (None, Some(path)) => std::fs::read(path)
                .map_err(|e| format!("cannot read --body-file {}: {e}", path.display())),
            (None, None) => Ok(Vec::new()),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Which Lockgate worlds a component implements (or why it is not a plugin).
    Check { path: PathBuf },
    /// The plugins the server has loaded, one JSON object per line:
    /// `{"name","kind","source","generation","state","from_cache","load_seconds","loaded_at",
    /// "creates","calls","messages","failures":{"trap","timeout","memory","bad_answer"}}`,
    /// and `"last_error"`, `"last_error_at"` when a load or a call failed (times in ms since
    /// the Unix epoch). `state`: unused (a built-in not used yet), compiling, loaded or failed.
    List,
    /// Reload a plugin from its source on the server (filters switch before their next batch).
    Reload { name: String },
    /// Compile every configured and built-in plugin into the data directory's compile cache,
    /// so that a broker starting there has them all ready (run it at deploy time). One JSON
    /// line per plugin: `{"name","source","cached","seconds"}`, with `"error"` for one that
    /// does not load (exit 1).
    Compile,
}

/// Prints `true` or `false` (exit 0), or the expression's error (exit 2). Loads only the
/// plugin asked for, through the data directory's compile cache when there is one.
pub fn filter_test(args: FilterTestArgs, config: &Config) -> ExitCode {
    let body = match args.body() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let specs: Vec<_> = config
        .plugins
        .iter()
        .filter(|s| s.name == args.kind)
        .cloned()
        .collect();
    let cache = Plugins::existing_cache_dir(&config.server.data_dir);
    let plugins = match Plugins::load(cache.as_deref(), &specs) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut filter = match plugins.filter(&args.kind, &args.expr) {
        Ok(f) => f,
        Err(e @ FilterError::Expression { .. }) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let message = args.fields.message(body);
    let mut batch = BatchBuilder::with_capacity(256);
    batch.push_message(&message, 0, 0, crate::clock::system_now_ms(), 1);
    match filter.decide("test", batch.finish(), 1) {
        Ok(d) => {
            println!("{}", d[0]);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `plugin check` works locally; `list` and `reload` ask the server.
pub async fn run(
    cmd: PluginCommand,
    connect: &ConnectArgs,
    config: &Config,
) -> Result<(), CliError> {
    match cmd {
        PluginCommand::Compile => compile_all(config),
        PluginCommand::Check { path } => {
            let wasm = std::fs::read(&path)
                .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
            let plugins = Plugins::load(None, &[]).map_err(|e| CliError(e.to_string()))?;
            let worlds = plugins.check(&wasm).map_err(|why| {
                CliError(format!(
                    "{} is not a Lockgate plugin: {why}",
                    path.display()
                ))
            })?;
            for w in worlds {
                emit(json!({"path": path.display().to_string(), "world": w}));
            }
            Ok(())
        }
        PluginCommand::List | PluginCommand::Reload { .. } => {
            let listing = matches!(cmd, PluginCommand::List);
            let client = connect.connect(config).await?;
            let result = match cmd {
                PluginCommand::List => match client.list_plugins().await {
                    Ok(list) => match client.plugin_counters().await {
                        Ok(c) => client.plugin_states().await.map(|s| (list, c, s)),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
                PluginCommand::Reload { name } => client
                    .reload_plugin(&name)
                    .await
                    .map(|p| (vec![p], Vec::new(), Vec::new())),
                PluginCommand::Check { .. } | PluginCommand::Compile => {
                    unreachable!("handled above")
                }
            };
            client.close().await;
            let (plugins, counters, states) = result?;
            for p in plugins {
                let mut line = json!({"name": p.name, "kind": p.kind, "source": p.source, "generation": p.generation});
                if listing {
                    // A built-in not used yet has no counters: all zero.
                    let c = counters.iter().find(|c| c.name == p.name);
                    let n = |f: fn(&crate::protocol::PluginCounters) -> u64| c.map_or(0, f);
                    line["creates"] = json!(n(|c| c.creates));
                    line["calls"] = json!(n(|c| c.calls));
                    line["messages"] = json!(n(|c| c.messages));
                    line["failures"] = json!({
                        "trap": n(|c| c.traps),
                        "timeout": n(|c| c.timeouts),
                        "memory": n(|c| c.memory),
                        "bad_answer": n(|c| c.bad_answers),
                    });
                    if let Some(s) = states.iter().find(|s| s.name == p.name) {
                        add_state(&mut line, s);
                    }
                }
                emit(line);
            }
            Ok(())
        }
    }
}

/// A plugin's load state and last error, added to its `plugin list` line.
fn add_state(line: &mut serde_json::Value, s: &crate::protocol::PluginHealth) {
    line["state"] = json!(s.state.name());
    line["from_cache"] = json!(s.from_cache);
    line["load_seconds"] = json!(s.load_ms as f64 / 1000.0);
    if s.loaded_at > 0 {
        line["loaded_at"] = json!(s.loaded_at);
    }
    if !s.last_error.is_empty() {
        line["last_error"] = json!(s.last_error);
        line["last_error_at"] = json!(s.last_error_at);
    }
}

/// `plugin compile`: see [`PluginCommand::Compile`].
fn compile_all(config: &Config) -> Result<(), CliError> {
    let cache = Plugins::cache_dir(&config.server.data_dir);
    // As a serving broker loads them: what the cache holds is loaded, the rest waits.
    let plugins = Plugins::load_for_serving(crate::clock::Clock::system(), &cache, &config.plugins)
        .map_err(|e| CliError(e.to_string()))?;
    let mut failed = 0;
    for c in plugins.compile_all() {
        let mut line = json!({"name": c.name, "source": c.source, "cached": c.cached,
            "seconds": (c.seconds * 1000.0).round() / 1000.0});
        if let Err(e) = c.outcome {
            line["error"] = json!(e);
            failed += 1;
        }
        emit(line);
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError(format!("{n} plugin(s) did not compile"))),
    }
}
