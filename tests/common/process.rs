//! A `lockgate serve` child process with its own config file and data directory.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub struct ServeProcess {
    pub child: Child,
    pub config: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    /// Everything the server logged so far.
    pub log: Arc<Mutex<String>>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockgate")
}

/// A UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The TCP port the servers of `dir` listen on: chosen free once, then kept in `<dir>/tcp_port`
/// so that a server restarted on the same directory comes back on the same TCP port, as it
/// does on the same UDP port. (TCP and UDP ports are separate: the UDP port's number may be
/// another process's TCP port.)
pub fn tcp_port_of(dir: &Path) -> u16 {
    let kept = dir.join("tcp_port");
    if let Ok(text) = std::fs::read_to_string(&kept) {
        return text.trim().parse().unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(&kept, port.to_string()).unwrap();
    port
}

/// Writes `<dir>/config.toml` listening on UDP `port` (and the dir's TCP port) with data in
/// `<dir>/data`.
pub fn write_config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("config.toml");
    let data = dir.join("data");
    let tcp = tcp_port_of(dir);
    std::fs::write(
        &path,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\nlisten_tcp = \"127.0.0.1:{tcp}\"\ndata_dir = \"{}\"\n\n[storage]\nsegment_size = \"8 MiB\"\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n", data.display()),
    )
    .unwrap();
    path
}

impl ServeProcess {
    /// Starts `lockgate serve` and waits until it logs that it is serving.
    pub fn start(dir: &Path, port: u16) -> ServeProcess {
        Self::start_with(dir, port, "")
    }

    /// [`ServeProcess::start`] with `extra` TOML sections appended to the config.
    pub fn start_with(dir: &Path, port: u16, extra: &str) -> ServeProcess {
        let config = write_config(dir, port);
        if !extra.is_empty() {
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(extra);
            std::fs::write(&config, text).unwrap();
        }
        let mut child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drain stderr on a thread (a full pipe would block the server) and watch for readiness.
        let log = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("lockgate is serving") {
                    let _ = ready_tx.send(());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let p = ServeProcess {
            child,
            config,
            dir: dir.to_path_buf(),
            port,
            log,
        };
        if ready.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!(
                "lockgate serve did not come up; it logged:\n{}",
                p.log.lock().unwrap()
            );
        }
        p
    }

    /// Runs a CLI command against this server (through its config file).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(bin());
        cmd.arg("--config").arg(&self.config).args(args);
        // The CLI speaks the transport under test (`--transport`'s variable).
        cmd.env("LOCKGATE_TRANSPORT", super::transport_flag());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// The lines a successful command printed.
    pub fn ok_lines(&self, args: &[&str], stdin: Option<&str>) -> Vec<serde_json::Value> {
        let out = self.cli_with_stdin(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{args:?} printed non-JSON {l:?}: {e}"))
            })
            .collect()
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("data/tls/ca.pem")
    }

    /// Options for a Rust client of this server.
    pub fn client_options(&self) -> lockgate::client::ClientOptions {
        let transport = super::transport();
        let port = match transport {
            lockgate::client::Transport::Quic => self.port,
            lockgate::client::Transport::Tcp => tcp_port_of(&self.dir),
        };
        lockgate::client::ClientOptions {
            server: format!("127.0.0.1:{port}").parse().unwrap(),
            server_name: "localhost".into(),
            ca: self.ca(),
            client_cert: None,
            token: None,
            transport,
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
