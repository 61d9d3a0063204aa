//! A connection and its streams on either transport: QUIC (the default) or TLS over TCP
//! ([`crate::mux`]). The rest of the client speaks only these types, so every call, producer,
//! consumer and transaction works the same over both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;

use crate::mux::{self, Mux};
use crate::protocol::{HEADER_LEN, Header};
use crate::{ClientError, ClientOptions};

/// The Rust client pings an idle connection this often; a connection silent for
/// [`IDLE_TIMEOUT`] is taken for dead.
const KEEPALIVE: Duration = Duration::from_secs(5);
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    /// QUIC over UDP (`[server] listen`).
    #[default]
    Quic,
    /// TLS over TCP, streams carried as records (`[server] listen_tcp`): for networks that
    /// block UDP, and bulk transfer (a third of QUIC's CPU per byte).
    Tcp,
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Transport, String> {
        match s {
            "quic" => Ok(Transport::Quic),
            "tcp" => Ok(Transport::Tcp),
            _ => Err(format!("{s:?} is not a transport (quic or tcp)")),
        }
    }
}

/// One connection to the server.
#[derive(Clone)]
pub(crate) enum Conn {
    Quic {
        endpoint: quinn::Endpoint,
        conn: quinn::Connection,
    },
    Tcp(Arc<Mux>),
}

impl Conn {
    /// Connects and completes the TLS handshake (not yet Hello).
    pub(crate) async fn connect(opts: &ClientOptions) -> Result<Conn, ClientError> {
        let cert = opts
            .client_cert
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path()));
        let rustls_config = crate::tls::client_config(&opts.ca, cert)?;
        let unreachable = |reason: String| ClientError::Connect {
            server: opts.server,
            reason,
        };
        match opts.transport {
            Transport::Quic => quic(opts, rustls_config).await,
            Transport::Tcp => {
                let tcp = tokio::net::TcpStream::connect(opts.server)
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                // Frames are flushed whole; Nagle would hold a request's last segment back.
                tcp.set_nodelay(true)
                    .map_err(|e| unreachable(e.to_string()))?;
                let name = rustls::pki_types::ServerName::try_from(opts.server_name.clone())
                    .map_err(|e| ClientError::Invalid(format!("server name: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::new(rustls_config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                let role = mux::Role::Client {
                    keepalive: KEEPALIVE,
                };
                Ok(Conn::Tcp(Arc::new(Mux::start(tls, role, IDLE_TIMEOUT))))
            }
        }
    }

    /// A new bidirectional stream.
    pub(crate) async fn open_bi(&self) -> Result<(SendStream, RecvStream), ClientError> {
        match self {
            Conn::Quic { conn, .. } => {
                let (send, recv) = conn.open_bi().await?;
                Ok((SendStream::Quic(send), RecvStream::Quic(recv)))
            }
            Conn::Tcp(mux) => {
                let (send, recv) = mux
                    .open()
                    .await
                    .map_err(|e| ClientError::Stream(e.to_string()))?;
                Ok((SendStream::Tcp(send), RecvStream::Tcp(recv)))
            }
        }
    }

    /// Closes the connection with `code` at once (streams end).
    pub(crate) fn close(&self, code: u32, reason: &str) {
        match self {
            Conn::Quic { conn, .. } => conn.close(code.into(), reason.as_bytes()),
            Conn::Tcp(mux) => mux.close(code, reason),
        }
    }

    /// Waits until a closed connection has told the server.
    pub(crate) async fn closed(&self) {
        match self {
            Conn::Quic { endpoint, .. } => endpoint.wait_idle().await,
            Conn::Tcp(mux) => mux.closed().await,
        }
    }

    /// Why the connection ended, if it did.
    pub(crate) fn close_reason(&self) -> Option<String> {
        match self {
            Conn::Quic { conn, .. } => conn.close_reason().map(|e| e.to_string()),
            Conn::Tcp(mux) => mux.close_reason(),
        }
    }
}

async fn quic(opts: &ClientOptions, tls: rustls::ClientConfig) -> Result<Conn, ClientError> {
    let crypto =
        QuicClientConfig::try_from(tls).map_err(|e| ClientError::Invalid(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(KEEPALIVE))
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("15s fits")))
        .stream_receive_window((16u32 << 20).into())
        .receive_window((64u32 << 20).into())
        .send_window(64 << 20);
    config.transport_config(Arc::new(transport));
    let bind: SocketAddr = if opts.server.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    }
    .parse()
    .expect("address");
    let unreachable = |reason: String| ClientError::Connect {
        server: opts.server,
        reason,
    };
    let endpoint = quinn::Endpoint::client(bind)
        .map_err(|e| unreachable(format!("cannot open a UDP socket: {e}")))?;
    let conn = endpoint
        .connect_with(config, opts.server, &opts.server_name)
        .map_err(|e| unreachable(e.to_string()))?
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(Conn::Quic { endpoint, conn })
}

/// The sending side of a stream.
pub enum SendStream {
    Quic(quinn::SendStream),
    Tcp(mux::SendHalf),
}

impl SendStream {
    /// Writes whole frames (one or more, headers included).
    pub async fn write_all(&mut self, frames: &[u8]) -> Result<(), ClientError> {
        let failed = |e: String| ClientError::Stream(e);
        match self {
            SendStream::Quic(s) => s.write_all(frames).await.map_err(|e| failed(e.to_string())),
            SendStream::Tcp(s) => s
                .write(frames.to_vec())
                .await
                .map_err(|e| failed(e.to_string())),
        }
    }

    /// Ends the sending side: the server answers what it has and finishes its own.
    pub fn finish(&mut self) {
        match self {
            SendStream::Quic(s) => {
                let _ = s.finish();
            }
            SendStream::Tcp(s) => {
                let _ = s.finish();
            }
        }
    }
}

/// The receiving side of a stream.
pub enum RecvStream {
    Quic(quinn::RecvStream),
    Tcp(mux::RecvHalf),
}

impl RecvStream {
    /// The next whole frame; the stream's end (or the connection's) is `ClientError::Stream`.
    pub async fn read_frame(&mut self) -> Result<(Header, Vec<u8>), ClientError> {
        match self {
            RecvStream::Quic(r) => {
                let failed = |e: quinn::ReadExactError| ClientError::Stream(e.to_string());
                let mut header = [0u8; HEADER_LEN];
                r.read_exact(&mut header).await.map_err(failed)?;
                let h = Header::decode(&header);
                let mut body = vec![0u8; h.body_len as usize];
                r.read_exact(&mut body).await.map_err(failed)?;
                Ok((h, body))
            }
            RecvStream::Tcp(r) => match r.read_frame().await {
                mux::FrameRead::Frame(h, body) => Ok((h, body)),
                // Only a server refuses frames as too large.
                mux::FrameRead::TooLarge(_) | mux::FrameRead::End => {
                    Err(ClientError::Stream(match r.close_reason() {
                        Some(reason) => format!("connection lost: {reason}"),
                        None => "the stream ended".into(),
                    }))
                }
            },
        }
    }
}
