//! The `lockgate` command line. Parses arguments and calls into the library; nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lockgate::config::Config;

#[derive(Parser)]
#[command(name = "lockgate", version, about = "Lockgate message broker")]
struct Cli {
    /// Configuration file [default: ./config.toml if it exists, else built-in defaults]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker until SIGINT or SIGTERM.
    Serve,
    /// Validate the configuration: prints `ok`, or every problem on its own line (exit 2).
    CheckConfig,
    /// Load generators and micro-benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Append throughput of the storage engine against the disk's own limit.
    Storage(lockgate::bench::storage::StorageBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::CheckConfig => match load_config(cli.config.as_deref()) {
            Ok(_) => {
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(lines) => {
                for line in lines {
                    println!("{line}");
                }
                ExitCode::from(2)
            }
        },
        Command::Serve => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(lines) => {
                    for line in lines {
                        eprintln!("{line}");
                    }
                    return ExitCode::from(2);
                }
            };
            run(async move {
                lockgate::server::serve(config, lockgate::server::shutdown_signal()).await
            })
        }
        Command::Bench(BenchCommand::Storage(args)) => match lockgate::bench::storage::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The config from `--config`, else `./config.toml` when present, else the built-in defaults.
fn load_config(path: Option<&Path>) -> Result<Config, Vec<String>> {
    let default = Path::new("config.toml");
    let path = match path {
        Some(p) => p,
        None if default.exists() => default,
        None => return Ok(Config::default()),
    };
    Config::load(path).map_err(|e| e.lines())
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
