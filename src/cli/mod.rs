//! The network commands of the `lockgate` CLI (`topic`, `produce`, `consume`, `message`,
//! `delay`, `group`, `plugin`, `txn`):
//! argument types (clap), connection defaults, and JSON output. `main.rs` only dispatches.

pub mod auth;
pub mod consume;
pub mod delay;
pub mod group;
pub mod message;
pub mod output;
pub mod plugin;
pub mod produce;
pub mod progress;
pub mod storage;
pub mod time;
pub mod topic;
pub mod txn;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use consume::ConsumeArgs;
pub use delay::DelayCommand;
pub use group::GroupCommand;
pub use message::{MessageCommand, message};
pub use produce::ProduceArgs;
pub use topic::TopicCommand;
pub use txn::TxnCommand;

use crate::client::{Client, ClientOptions, Transport};
use crate::config::Config;

/// How long the CLI waits for a server to answer its handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Flags every network command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// Server address [default: `[server] listen` (or `listen_tcp` with --transport tcp) of
    /// ./config.toml if present, else 127.0.0.1:7420]
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// How to reach the server: quic, or tcp (TLS over TCP, `[server] listen_tcp`)
    #[arg(
        long,
        global = true,
        value_name = "quic|tcp",
        default_value = "quic",
        env = "LOCKGATE_TRANSPORT"
    )]
    pub transport: crate::client::Transport,
    /// CA certificate (PEM) to trust [default: <data_dir>/tls/ca.pem of the same config]
    #[arg(long, global = true, value_name = "PATH")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one
    #[arg(long, global = true, value_name = "PATH", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert
    #[arg(long, global = true, value_name = "PATH", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Token to authenticate with (`lockgate auth token NAME` makes one)
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "LOCKGATE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// A CLI failure: one line for stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<crate::client::ClientError> for CliError {
    fn from(e: crate::client::ClientError) -> CliError {
        CliError(e.to_string())
    }
}

impl ConnectArgs {
    /// Resolves the server address, TLS name and CA from the flags and the config.
    pub fn options(&self, config: &Config) -> Result<ClientOptions, CliError> {
        let default = match self.transport {
            Transport::Quic => Some(config.server.listen),
            Transport::Tcp => config.server.tcp_address(),
        };
        let server = match (&self.server, default) {
            (Some(s), _) => s.clone(),
            (None, Some(a)) => a.to_string(),
            (None, None) => {
                return Err(CliError(
                    "--transport tcp: the config's [server] listen_tcp is \"off\"; pass --server"
                        .into(),
                ));
            }
        };
        let (host, addr) = resolve(&server)?;
        let ca = self
            .ca
            .clone()
            .unwrap_or_else(|| crate::tls::DevPaths::new(&config.server.data_dir).ca_cert);
        if !ca.exists() {
            return Err(CliError(format!(
                "CA certificate {} not found (start the server once to create it, or pass --ca)",
                ca.display()
            )));
        }
        Ok(ClientOptions {
            server: addr,
            server_name: host,
            ca,
            client_cert: self.client_cert.clone().zip(self.client_key.clone()),
            token: self.token.clone(),
            transport: self.transport,
        })
    }

    pub async fn connect(&self, config: &Config) -> Result<Client, CliError> {
        let opts = self.options(config)?;
        match tokio::time::timeout(CONNECT_TIMEOUT, Client::connect(&opts)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CliError(format!(
                "cannot reach {}: no answer within {}s (is the server running?)",
                opts.server,
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// `host:port` → (the name to verify the certificate against, an address).
fn resolve(server: &str) -> Result<(String, SocketAddr), CliError> {
    let host = match server.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => return Err(CliError(format!("--server {server:?} is not HOST:PORT"))),
    };
    let addr = server
        .to_socket_addrs()
        .map_err(|e| CliError(format!("cannot resolve {server:?}: {e}")))?
        .next()
        .ok_or_else(|| CliError(format!("{server:?} resolves to no address")))?;
    Ok((host, addr))
}

/// The config `--config` names, else ./config.toml when present, else the defaults.
pub fn load_config(path: Option<&Path>) -> Result<Config, Vec<String>> {
    let default = Path::new("config.toml");
    let path = match path {
        Some(p) => p,
        None if default.exists() => default,
        None => return Ok(Config::default()),
    };
    Config::load(path).map_err(|e| e.lines())
}
