//! The TLS-over-TCP listener (`[server] listen_tcp`): the same frames as QUIC, their streams
//! carried as records (`lockgate_client::mux`), the same TLS configuration (TLS 1.3, ALPN
//! `lockgate/1`, client certificates), tokens, ACLs, limits and statuses. Each stream is served
//! by the very code that serves QUIC streams ([`serve_stream`]).
//!
//! It admits connections against the same `max_connections` count as QUIC, bounds handshakes
//! in progress (TCP's own SYN cookies stand for QUIC's Retry) and their time, and closes a
//! connection silent for `idle_timeout` (clients ping). It does not do QUIC's per-stream flow
//! control: see the mux's module doc.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::server::{
    Accepting, CLOSE_QUOTA, EndpointError, HANDSHAKE_TIMEOUT, InFlight, MAX_HANDSHAKES, Stream,
    next_connection_id, serve_stream, try_admit,
};
use super::stream::{RecvStream, SendStream};
use crate::broker::ConnInfo;
use crate::client::mux::{Mux, Role};
use crate::metrics as m;

/// A running TCP listener.
pub(super) struct Listener {
    local: SocketAddr,
    accept: Option<JoinHandle<()>>,
    /// Its connections, so shutdown can wait for them to close.
    open: Arc<InFlight>,
    close_all: watch::Sender<bool>,
}

impl Listener {
    /// Binds `addr` and starts accepting.
    pub(super) fn start(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        accepting: Accepting,
    ) -> Result<Listener, EndpointError> {
        let bind = |source| EndpointError::Bind { addr, source };
        let std_listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(bind)?;
        let local = listener.local_addr().map_err(bind)?;
        let open = Arc::new(InFlight::default());
        let (close_all, closing) = watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let accept = tokio::spawn(accept_loop(
            listener,
            acceptor,
            accepting,
            open.clone(),
            closing,
        ));
        Ok(Listener {
            local,
            accept: Some(accept),
            open,
            close_all,
        })
    }

    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Waits for the accept loop to end (the endpoint's stop signal ends it).
    pub(super) async fn stop_accepting(&mut self) {
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
    }

    /// Closes every connection with code 0, "server shutting down", and waits up to `grace`
    /// for them to be gone.
    pub(super) async fn close_all(self, grace: Duration) {
        let _ = self.close_all.send(true);
        let _ = self.open.drained(grace).await;
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    accepting: Accepting,
    open: Arc<InFlight>,
    closing: watch::Receiver<bool>,
) {
    let mut stopped = accepting.stopped.clone();
    let handshaking = Arc::new(AtomicUsize::new(0));
    loop {
        let (tcp, remote) = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: new connections wait a moment rather than spin.
                    crate::error_limited!("tcp-accept", error = %e, "cannot accept a TCP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let pending = handshaking.load(Ordering::Acquire);
        if pending >= MAX_HANDSHAKES {
            crate::error_limited!(
                "handshakes",
                pending,
                "dropping new TCP connections: too many handshakes in progress"
            );
            continue;
        }
        if !try_admit(&accepting.admitted, accepting.max_connections) {
            continue; // dropped: a TCP client sees the connection reset
        }
        handshaking.fetch_add(1, Ordering::AcqRel);
        let (acceptor, accepting, handshaking, open, closing) = (
            acceptor.clone(),
            accepting.clone(),
            handshaking.clone(),
            open.clone(),
            closing.clone(),
        );
        tokio::spawn(async move {
            let _open = open.enter();
            // Frames are flushed whole; Nagle would hold an answer's last segment back.
            let _ = tcp.set_nodelay(true);
            let shaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
            handshaking.fetch_sub(1, Ordering::AcqRel);
            match shaken {
                Ok(Ok(tls)) => {
                    let gauge = metrics::gauge!(m::CONNECTIONS_OPEN);
                    gauge.increment(1.0);
                    serve_connection(tls, remote, &accepting, closing).await;
                    gauge.decrement(1.0);
                }
                Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TCP handshake failed"),
                Err(_) => tracing::debug!(%remote, "TCP handshake not finished in time; dropped"),
            }
            accepting.admitted.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn serve_connection(
    tls: tokio_rustls::server::TlsStream<TcpStream>,
    remote: SocketAddr,
    accepting: &Accepting,
    mut closing: watch::Receiver<bool>,
) {
    let info = ConnInfo {
        id: next_connection_id(),
        remote,
    };
    let span = tracing::debug_span!("connection", %remote, id = info.id, transport = "tcp");
    async move {
        tracing::debug!("connection open");
        let subject = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| crate::auth::cert::subject_of(cert.as_ref()));
        let broker = &accepting.broker;
        let role = Role::Server {
            max_frame: accepting.max_frame,
        };
        let mux = Mux::start(tls, role, accepting.idle_timeout);
        let (in_flight, max_frame) = (&accepting.in_flight, accepting.max_frame);
        let stream = match Stream::for_connection(broker, in_flight, max_frame, info, subject) {
            Ok(stream) => stream,
            Err(reason) => {
                mux.close(CLOSE_QUOTA, &reason);
                mux.closed().await;
                return;
            }
        };
        loop {
            tokio::select! {
                next = mux.accept() => {
                    let Some((send, recv)) = next else { break };
                    tokio::spawn(
                        serve_stream(SendStream::Tcp(send), RecvStream::Tcp(recv), stream.clone())
                            .in_current_span(),
                    );
                }
                _ = closing.changed() => {
                    mux.close(0, "server shutting down");
                    break;
                }
            }
        }
        tracing::debug!(
            reason = mux.close_reason().unwrap_or_default(),
            "connection closed"
        );
        // Its group members leave now rather than at their session timeout.
        broker.connection_closed(info.id);
        // A client that stopped reading must not hold shutdown up.
        let _ = tokio::time::timeout(Duration::from_secs(2), mux.closed()).await;
    }
    .instrument(span)
    .await
}
