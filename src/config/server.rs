//! The `[server]` section: where the broker listens and keeps its data, its connection and
//! frame limits, and its TLS files (checked to exist, so `check-config` finds what `serve`
//! would).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::raw::RawServer;
use super::{ServerConfig, TcpListen, TlsConfig, Validator, positive_duration_of, size_of};

pub(super) fn validate(v: &mut Validator, raw: RawServer, defaults: &ServerConfig) -> ServerConfig {
    let listen = v.value("server.listen", raw.listen, defaults.listen, |s| {
        s.parse::<SocketAddr>()
            .map_err(|_| format!("{s:?} is not an address like \"127.0.0.1:7420\""))
    });
    let listen_tcp = v.value(
        "server.listen_tcp",
        raw.listen_tcp,
        defaults.listen_tcp,
        |s| match s.trim() {
            "off" => Ok(TcpListen::Off),
            s => s.parse::<SocketAddr>().map(TcpListen::At).map_err(|_| {
                format!("{s:?} is not an address like \"127.0.0.1:7420\" nor \"off\"")
            }),
        },
    );
    let data_dir = v.value(
        "server.data_dir",
        raw.data_dir,
        defaults.data_dir.clone(),
        |s| {
            if s.trim().is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(PathBuf::from(s))
            }
        },
    );

    let ds = defaults;
    let max_connections = match raw.max_connections {
        None => ds.max_connections,
        Some(n) if (1..=1_000_000).contains(&n) => n as u32,
        Some(n) => {
            v.problem(
                "server.max_connections",
                format!("{n} is out of range (1 to 1000000)"),
            );
            ds.max_connections
        }
    };
    let max_frame_size = v.value(
        "server.max_frame_size",
        raw.max_frame_size,
        ds.max_frame_size,
        |s| match size_of(s)? {
            n if (4096..=1 << 30).contains(&n) => Ok(n as u32),
            _ => Err(format!("{s:?} is out of range (4 KiB to 1 GiB)")),
        },
    );
    let max_batch_messages = match raw.max_batch_messages {
        None => ds.max_batch_messages,
        Some(n) if (1..=1_000_000).contains(&n) => n as u32,
        Some(n) => {
            v.problem(
                "server.max_batch_messages",
                format!("{n} is out of range (1 to 1000000)"),
            );
            ds.max_batch_messages
        }
    };
    let idle_timeout = v.value(
        "server.idle_timeout",
        raw.idle_timeout,
        ds.idle_timeout,
        positive_duration_of,
    );
    let raw_tls = raw.tls.unwrap_or_default();
    let tls = match (raw_tls.cert, raw_tls.key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsConfig {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        }),
        (Some(_), None) => {
            v.problem(
                "server.tls.key",
                "is required when server.tls.cert is set".to_string(),
            );
            None
        }
        (None, Some(_)) => {
            v.problem(
                "server.tls.cert",
                "is required when server.tls.key is set".to_string(),
            );
            None
        }
    };
    let client_ca = raw_tls.client_ca.map(PathBuf::from);
    // Certificate files are checked now, so that check-config finds what serve would.
    let tls_files = tls
        .iter()
        .flat_map(|t| [("server.tls.cert", &t.cert), ("server.tls.key", &t.key)])
        .chain(client_ca.iter().map(|p| ("server.tls.client_ca", p)));
    for (key, path) in tls_files {
        if path.is_dir() {
            v.problem(
                key,
                format!(
                    "{:?} is a directory, not a PEM file",
                    path.display().to_string()
                ),
            );
        } else if !path.is_file() {
            v.problem(
                key,
                format!("file {:?} is missing", path.display().to_string()),
            );
        }
    }
    ServerConfig {
        listen,
        listen_tcp,
        data_dir,
        max_connections,
        max_frame_size,
        max_batch_messages,
        idle_timeout,
        tls,
        client_ca,
    }
}
