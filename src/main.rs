//! The `lockgate` command line. Parses arguments and calls into the library; nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use lockgate::cli::{
    self, CliError, ConnectArgs, ConsumeArgs, GroupCommand, MessageCommand, ProduceArgs,
    TopicCommand,
};
use lockgate::config::Config;

/// See the `jemalloc` feature in Cargo.toml: freed memory goes back to the system.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "lockgate", version, about = "Lockgate message broker")]
struct Cli {
    /// Configuration file [default: ./config.toml if it exists, else built-in defaults]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker until SIGINT or SIGTERM.
    Serve,
    /// Validate the configuration: prints `ok`, or every problem on its own line (exit 2).
    CheckConfig,
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Send messages (from --body or stdin lines); prints one JSON line per acknowledged message.
    Produce(ProduceArgs),
    /// Read messages; prints one JSON line per message.
    Consume(ConsumeArgs),
    /// Find messages by id or key; cancel a pending delay message.
    #[command(subcommand)]
    Message(MessageCommand),
    /// Delay messages: `delay stats`.
    #[command(subcommand)]
    Delay(cli::DelayCommand),
    /// Transactions: `txn list`, `txn commit ID`, `txn rollback ID`.
    #[command(subcommand)]
    Txn(cli::TxnCommand),
    /// List, describe, reset and delete consumer groups.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Filters: `filter test` runs an expression through the plugin the broker uses.
    #[command(subcommand)]
    Filter(FilterCommand),
    /// Check a component, list or reload the server's plugins.
    #[command(subcommand)]
    Plugin(cli::plugin::PluginCommand),
    /// Load generator over QUIC against a running server (`bench storage`: the storage engine alone).
    Bench(BenchArgs),
    /// Offline checks of a stopped server's data directory (`storage verify`).
    #[command(subcommand)]
    Storage(cli::storage::StorageCommand),
    /// Access control: `auth token NAME` makes a token.
    #[command(subcommand)]
    Auth(cli::auth::AuthCommand),
    /// Prints a shell completion script: `source <(lockgate completions bash)`, or save it
    /// where the shell looks (zsh: a `_lockgate` file in $fpath; fish:
    /// ~/.config/fish/completions/lockgate.fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum FilterCommand {
    /// Prints true or false for a message (exit 0), or the expression's error (exit 2).
    Test(cli::plugin::FilterTestArgs),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    what: Option<BenchCommand>,
    #[command(flatten)]
    net: lockgate::bench::net::NetBenchArgs,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Append throughput of the storage engine against the disk's own limit.
    Storage(lockgate::bench::storage::StorageBenchArgs),
    /// Plugin cost per message: built-in plugins against their logic compiled natively.
    Plugins(lockgate::bench::plugins::PluginBenchArgs),
    /// Produce through an ingress pipeline (dedup + topic exchange) against plain produce.
    Pipeline(lockgate::bench::pipeline::PipelineBenchArgs),
    /// The durable timer: enqueue against plain produce, lateness, firing, memory.
    Delay(lockgate::bench::delay::DelayBenchArgs),
    /// Transactions: transactional produce against plain produce, commit → visible latency.
    Txn(lockgate::bench::txn::TxnBenchArgs),
    /// A long mixed load with the server's memory sampled: does it stay flat?
    Soak(lockgate::bench::soak::SoakBenchArgs),
}

/// Commands that never connect to a server (a path of subcommand names): the connection
/// flags (global, so that `lockgate --token T produce …` works) are left out of their help.
const OFFLINE: &[&[&str]] = &[
    &["serve"],
    &["check-config"],
    &["storage"],
    &["auth"],
    &["completions"],
    &["filter"],
    &["bench", "storage"],
    &["bench", "plugins"],
    // Runs its own servers in process.
    &["bench", "pipeline"],
];

/// The command line, with the connection flags hidden where they do nothing.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // A subcommand that has an argument of a global's name keeps its own: give the offline
    // ones hidden copies (their subcommands inherit those).
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_id() != "config")
        .map(|a| a.clone().hide(true))
        .collect();
    for path in OFFLINE {
        cmd = hide_at(cmd, path, &hidden);
    }
    cmd
}

/// Gives the subcommand at `path` under `cmd` the hidden copies.
fn hide_at(cmd: clap::Command, path: &[&str], hidden: &[clap::Arg]) -> clap::Command {
    match path {
        [] => cmd.args(hidden.iter().cloned()),
        [name, rest @ ..] => cmd.mut_subcommand(*name, |sub| hide_at(sub, rest, hidden)),
    }
}

// Long on purpose: one arm per command of the CLI, each a call into `cli`; the length is the
// command list.
fn main() -> ExitCode {
    let cli = match command().try_get_matches() {
        Ok(m) => Cli::from_arg_matches(&m).unwrap_or_else(|e| e.exit()),
        Err(e) => e.exit(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::CheckConfig => match cli::load_config(cli.config.as_deref()) {
            // Values are fine: load the plugins too (component, world).
            Ok(config) => match lockgate::plugin::Plugins::load(
                lockgate::plugin::Plugins::existing_cache_dir(&config.server.data_dir).as_deref(),
                &config.plugins,
            ) {
                Ok(plugins) => {
                    let roles =
                        |name: &str| Some(plugins.roles_of(name).map_err(|e| e.to_string()));
                    let mut problems = lockgate::pipeline::validate::validate(
                        &config.pipelines,
                        &config.plugins,
                        &roles,
                    );
                    if problems.is_empty() {
                        // The worlds fit: does each plugin take its config?
                        problems = lockgate::pipeline::validate::create_stages(
                            &config.pipelines,
                            &roles,
                            &|role, name| plugins.make_stage(role, name),
                        );
                    }
                    if !problems.is_empty() {
                        for p in problems {
                            println!("{p}");
                        }
                        return ExitCode::from(2);
                    }
                    println!("ok");
                    match config.metrics.listen {
                        Some(addr) => println!("metrics: http://{addr}/metrics"),
                        None => println!("metrics: off"),
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("{e}");
                    ExitCode::from(2)
                }
            },
            Err(lines) => {
                for line in lines {
                    println!("{line}");
                }
                ExitCode::from(2)
            }
        },
        Command::Serve => {
            // The file SIGHUP reloads: the one given, or ./config.toml if that was used.
            let config_path = cli
                .config
                .clone()
                .or_else(|| Some(PathBuf::from("config.toml")).filter(|p| p.exists()));
            let config = match cli::load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(lines) => {
                    for line in lines {
                        eprintln!("{line}");
                    }
                    return ExitCode::from(2);
                }
            };
            run(async move {
                // Install the signal handlers before the server starts and says it is serving.
                let shutdown = lockgate::server::shutdown_signal();
                lockgate::server::serve(config, config_path, shutdown).await
            })
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "lockgate", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Auth(cmd) => match cli::auth::run(cmd) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", e.0);
                ExitCode::from(2)
            }
        },
        Command::Storage(cmd) => match cli::load_config(cli.config.as_deref()) {
            Ok(config) => match cli::storage::run(cmd, &config) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {}", e.0);
                    ExitCode::from(2)
                }
            },
            Err(lines) => {
                for line in lines {
                    eprintln!("{line}");
                }
                ExitCode::from(2)
            }
        },
        Command::Topic(cmd) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::topic::run(cmd, &conn, &c).await
        }),
        Command::Produce(args) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::produce::run(args, &conn, &c).await
        }),
        Command::Consume(args) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::consume::run(args, &conn, &c).await
        }),
        Command::Filter(FilterCommand::Test(args)) => match cli::load_config(cli.config.as_deref())
        {
            Ok(config) => cli::plugin::filter_test(args, &config),
            Err(lines) => {
                for line in lines {
                    eprintln!("{line}");
                }
                ExitCode::from(2)
            }
        },
        Command::Plugin(cmd) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::plugin::run(cmd, &conn, &c).await
        }),
        Command::Group(cmd) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::group::run(cmd, &conn, &c).await
        }),
        Command::Message(cmd) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::message(cmd, &conn, &c).await
        }),
        Command::Delay(cmd) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::delay::run(cmd, &conn, &c).await
        }),
        Command::Txn(cmd) => network(cli.config, cli.connect, move |c, conn| async move {
            cli::txn::run(cmd, &conn, &c).await
        }),
        Command::Bench(BenchArgs {
            what: Some(BenchCommand::Storage(args)),
            ..
        }) => match lockgate::bench::storage::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(BenchArgs {
            what: Some(BenchCommand::Plugins(args)),
            ..
        }) => match cli::load_config(cli.config.as_deref()) {
            Ok(config) => match lockgate::bench::plugins::run(&args, &config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            },
            Err(lines) => {
                for line in lines {
                    eprintln!("{line}");
                }
                ExitCode::from(2)
            }
        },
        Command::Bench(BenchArgs {
            what: Some(BenchCommand::Delay(args)),
            ..
        }) => network(cli.config, cli.connect, move |c, conn| async move {
            lockgate::bench::delay::run(args, &conn, &c).await
        }),
        Command::Bench(BenchArgs {
            what: Some(BenchCommand::Txn(args)),
            ..
        }) => network(cli.config, cli.connect, move |c, conn| async move {
            lockgate::bench::txn::run(args, &conn, &c).await
        }),
        Command::Bench(BenchArgs {
            what: Some(BenchCommand::Soak(args)),
            ..
        }) => network(cli.config, cli.connect, move |c, conn| async move {
            lockgate::bench::soak::run(args, &conn, &c).await
        }),
        Command::Bench(BenchArgs {
            what: Some(BenchCommand::Pipeline(args)),
            ..
        }) => network(cli.config, cli.connect, move |_, _| async move {
            lockgate::bench::pipeline::run(args).await
        }),
        Command::Bench(BenchArgs { what: None, net }) => {
            network(cli.config, cli.connect, move |c, conn| async move {
                lockgate::bench::net::run(net, &conn, &c).await
            })
        }
    }
}

/// Runs a network command with its config; any failure is one line on stderr and exit 1.
fn network<F, Fut>(config: Option<PathBuf>, connect: ConnectArgs, command: F) -> ExitCode
where
    F: FnOnce(Config, ConnectArgs) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let config = match cli::load_config(config.as_deref()) {
        Ok(c) => c,
        Err(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
            return ExitCode::from(2);
        }
    };
    run(command(config, connect))
}

fn run<E: std::fmt::Display>(work: impl std::future::Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
        super::command().debug_assert();
    }
}
