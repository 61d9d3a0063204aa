//! Server side: the QUIC endpoint, which accepts connections and their bidirectional streams,
//! and the serving of one stream on either transport (`serve_stream`, which `tcp` uses too):
//! it reads request frames and writes one response per request in request order.
//!
//! Per stream, a reader dispatches requests in order (so a producer's batches are written in
//! its order) and a writer sends responses as they complete, still in order, so a pipelining
//! client never waits for a round trip. A malformed or unknown request gets an error status and
//! the stream goes on; a frame over the size limit gets `FrameTooLarge` and that stream is
//! closed (its framing can no longer be trusted); the connection and its other streams go on.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::status::response_of;
use super::stream::{FrameRead, RecvStream, SendStream};
use super::{access, check_stream, subscription};
use crate::auth::Identity;
use crate::broker::{Broker, ConnInfo};
use crate::metrics as m;
use crate::protocol::compact::ASK_COMPACT;
use crate::protocol::{HEADER_LEN, Header, Kind, RESPONSE_BIT, Request, Response, Status, frame};
use crate::tls::{self, TlsError};

/// Responses a stream may have outstanding before its reader waits (pipelining depth).
const PIPELINE_DEPTH: usize = 256;
/// Application error code sent when a stream is stopped after an oversized frame.
pub(super) const STOP_FRAME_TOO_LARGE: u32 = 1;
/// Connection close code: the principal already has its `[[quota]] connections`.
pub(super) const CLOSE_QUOTA: u32 = 2;
/// Handshakes in progress at most, per transport; more new connections are dropped unanswered
/// until some finish (a flood of first packets must not cost unbounded state).
pub(super) const MAX_HANDSHAKES: usize = 256;
/// Above this many handshakes in progress, a client must first prove its address with a
/// stateless Retry (costs the server nothing until the client answers it).
const RETRY_ABOVE: usize = 16;
/// A handshake not finished in this time is dropped.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct EndpointOptions {
    pub listen: SocketAddr,
    /// The TLS-over-TCP listener's address; `None`: QUIC only.
    pub listen_tcp: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// `(cert, key)` PEM files; `None` makes (once) and uses the development CA.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub client_ca: Option<PathBuf>,
    pub max_connections: u32,
    pub max_frame: u32,
    pub idle_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("TLS configuration is not usable for QUIC: {0}")]
    Quic(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running endpoint: the QUIC endpoint and, unless it is off, the TCP listener.
pub struct Endpoint {
    endpoint: quinn::Endpoint,
    accept: JoinHandle<()>,
    tcp: Option<super::tcp::Listener>,
    stop_accepting: watch::Sender<bool>,
    in_flight: Arc<InFlight>,
}

/// Requests being handled, so shutdown can wait for them (and TCP connections open, so it
/// can wait for them to close).
#[derive(Default)]
pub(super) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    pub(super) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    /// Waits until none is left, or `grace` is over; false if some are still there.
    pub(super) async fn drained(&self, grace: Duration) -> bool {
        let drained = async {
            loop {
                let idle = self.idle.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(grace, drained).await.is_ok()
    }

    pub(super) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }
}

pub(super) struct InFlightGuard(Arc<InFlight>);

/// Connection ids, one sequence for both transports (the broker keys group members by them).
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

pub(super) fn next_connection_id() -> u64 {
    NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)
}

/// Takes one of `max_connections` places for a new connection, or counts and logs the refusal. Both
/// transports' accept loops take from the same count, so together they never pass it.
pub(super) fn try_admit(admitted: &AtomicUsize, max_connections: usize) -> bool {
    let taken = admitted
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max_connections).then_some(n + 1)
        })
        .is_ok();
    if !taken {
        crate::error_limited!(
            "connections",
            max_connections,
            "refusing connections: at the limit"
        );
        metrics::counter!(m::CONNECTIONS_REFUSED_TOTAL).increment(1);
    }
    taken
}

/// What accepting connections needs, on either transport.
#[derive(Clone)]
pub(super) struct Accepting {
    pub broker: Arc<Broker>,
    pub stopped: watch::Receiver<bool>,
    pub in_flight: Arc<InFlight>,
    /// Connections admitted on both transports together, against `max_connections`.
    pub admitted: Arc<AtomicUsize>,
    pub max_connections: usize,
    pub max_frame: u32,
    pub idle_timeout: Duration,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Endpoint {
    /// Binds and starts accepting connections.
    pub fn start(opts: &EndpointOptions, broker: Arc<Broker>) -> Result<Endpoint, EndpointError> {
        let rustls_config = match &opts.tls {
            Some((cert, key)) => tls::server_config(cert, key, opts.client_ca.as_deref())?,
            None => {
                let (paths, created) = tls::ensure_dev_certs(&opts.data_dir)?;
                if created {
                    tracing::info!(ca = %paths.ca_cert.display(), "created a local development CA and server certificate");
                } else {
                    tracing::info!(ca = %paths.ca_cert.display(), "using the local development CA");
                }
                tls::server_config(
                    &paths.server_cert,
                    &paths.server_key,
                    opts.client_ca.as_deref(),
                )?
            }
        };
        let tcp_tls = Arc::new(rustls_config.clone());
        let crypto = QuicServerConfig::try_from(rustls_config)
            .map_err(|e| EndpointError::Quic(e.to_string()))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(Some(
                opts.idle_timeout
                    .try_into()
                    .map_err(|_| EndpointError::Quic("idle timeout too long".into()))?,
            ))
            .max_concurrent_bidi_streams(1024u32.into())
            .max_concurrent_uni_streams(0u32.into())
            .stream_receive_window((16u32 << 20).into())
            .receive_window((64u32 << 20).into())
            .send_window(64 << 20);
        server_config.transport_config(Arc::new(transport));
        let keys = tls::restart_keys(&opts.data_dir)?;
        let mut endpoint_config = quinn::EndpointConfig::default();
        let id_key = keys.connection_ids;
        endpoint_config
            .reset_key(Arc::new(keys.reset))
            .cid_generator(move || {
                Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(id_key))
            });
        let bind = |source| EndpointError::Bind {
            addr: opts.listen,
            source,
        };
        let socket = std::net::UdpSocket::bind(opts.listen).map_err(bind)?;
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(bind)?;

        let (stop_accepting, stopped) = watch::channel(false);
        let in_flight = Arc::new(InFlight::default());
        let accepting = Accepting {
            broker,
            stopped,
            in_flight: in_flight.clone(),
            admitted: Arc::new(AtomicUsize::new(0)),
            max_connections: opts.max_connections as usize,
            max_frame: opts.max_frame,
            idle_timeout: opts.idle_timeout,
        };
        let tcp = match opts.listen_tcp {
            Some(addr) => Some(super::tcp::Listener::start(
                addr,
                tcp_tls,
                accepting.clone(),
            )?),
            None => None,
        };
        let accept = tokio::spawn(accept_loop(endpoint.clone(), accepting));
        Ok(Endpoint {
            endpoint,
            accept,
            tcp,
            stop_accepting,
            in_flight,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint
            .local_addr()
            .expect("a bound endpoint has an address")
    }

    /// The TCP listener's address, unless it is off.
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().map(super::tcp::Listener::local_addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to `grace`), then closes every
    /// connection.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop_accepting.send(true);
        let _ = self.accept.await;
        if let Some(tcp) = &mut self.tcp {
            tcp.stop_accepting().await;
        }
        if !self.in_flight.drained(grace).await {
            tracing::warn!(
                in_flight = self.in_flight.count(),
                "shutdown grace period over; closing anyway"
            );
        }
        if let Some(tcp) = self.tcp {
            tcp.close_all(Duration::from_secs(2)).await;
        }
        self.endpoint.close(0u32.into(), b"server shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

async fn accept_loop(endpoint: quinn::Endpoint, accepting: Accepting) {
    // Connections count against `max_connections` from the moment their handshake is taken
    // on (a burst of handshakes cannot overshoot it) until they close or their handshake
    // fails. Handshakes in progress also have their own bound, and under load must validate
    // their address first.
    let Accepting {
        broker,
        mut stopped,
        in_flight,
        admitted,
        max_connections,
        max_frame,
        ..
    } = accepting;
    let handshaking = Arc::new(AtomicUsize::new(0));
    loop {
        let incoming = tokio::select! {
            _ = stopped.changed() => return,
            incoming = endpoint.accept() => match incoming {
                Some(i) => i,
                None => return,
            },
        };
        let pending = handshaking.load(Ordering::Acquire);
        if pending >= MAX_HANDSHAKES {
            crate::error_limited!(
                "handshakes",
                pending,
                "dropping new connections: too many handshakes in progress"
            );
            incoming.ignore();
            continue;
        }
        let incoming = if pending >= RETRY_ABOVE && !incoming.remote_address_validated() {
            // A stateless retry: a real client answers it at once; a flood of first packets
            // leaves nothing behind.
            match incoming.retry() {
                Ok(()) => continue,
                Err(e) => e.into_incoming(),
            }
        } else {
            incoming
        };
        if !try_admit(&admitted, max_connections) {
            incoming.refuse();
            continue;
        }
        handshaking.fetch_add(1, Ordering::AcqRel);
        let (broker, in_flight, admitted, handshaking) = (
            broker.clone(),
            in_flight.clone(),
            admitted.clone(),
            handshaking.clone(),
        );
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let shaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await;
            handshaking.fetch_sub(1, Ordering::AcqRel);
            match shaken {
                Ok(Ok(conn)) => {
                    let open = metrics::gauge!(m::CONNECTIONS_OPEN);
                    open.increment(1.0);
                    serve_connection(conn, broker, in_flight, max_frame).await;
                    open.decrement(1.0);
                }
                Ok(Err(e)) => tracing::debug!(%remote, error = %e, "handshake failed"),
                Err(_) => tracing::debug!(%remote, "handshake not finished in time; dropped"),
            }
            admitted.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

async fn serve_connection(
    conn: quinn::Connection,
    broker: Arc<Broker>,
    in_flight: Arc<InFlight>,
    max_frame: u32,
) {
    let remote = conn.remote_address();
    let info = ConnInfo {
        id: next_connection_id(),
        remote,
    };
    // Every request's span and log line nests in its connection's.
    let span = tracing::debug_span!("connection", %remote, id = info.id);
    serve_connection_in(conn, broker, in_flight, max_frame, info)
        .instrument(span)
        .await;
}

async fn serve_connection_in(
    conn: quinn::Connection,
    broker: Arc<Broker>,
    in_flight: Arc<InFlight>,
    max_frame: u32,
    info: ConnInfo,
) {
    let remote = info.remote;
    tracing::debug!("connection open");
    let stream =
        match Stream::for_connection(&broker, &in_flight, max_frame, info, cert_subject(&conn)) {
            Ok(stream) => stream,
            Err(reason) => {
                conn.close(CLOSE_QUOTA.into(), reason.as_bytes());
                return;
            }
        };
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                tokio::spawn(
                    serve_stream(
                        SendStream::Quic(send),
                        RecvStream::Quic(recv),
                        stream.clone(),
                    )
                    .in_current_span(),
                );
            }
            Err(e) => {
                tracing::debug!(%remote, reason = %e, "connection closed");
                // Its group members leave now rather than at their session timeout.
                broker.connection_closed(info.id);
                return;
            }
        }
    }
}

/// The subject of the certificate the client presented (verified against `client_ca` in the
/// handshake; without a client CA, clients present none).
fn cert_subject(conn: &quinn::Connection) -> Option<String> {
    let identity = conn.peer_identity()?;
    let chain = identity
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()?;
    crate::auth::cert::subject_of(chain.first()?.as_ref())
}

pub(super) fn too_large(h: &Header, max_frame: u32) -> Response {
    Response::error(
        Status::FrameTooLarge,
        format!(
            "frame of {} bytes exceeds the limit of {max_frame} bytes; closing this stream",
            h.body_len
        ),
    )
}

/// A request answered in order by the stream's writer.
struct Queued {
    kind: u16,
    request_id: u32,
    pending: Pending,
    guard: InFlightGuard,
    answering: Answering,
    /// How long the producer is throttled (put in a Produce answer).
    throttle_ms: u32,
    /// The Produce request asked for a compact answer (header flag `ASK_COMPACT`).
    compact: bool,
}

/// A response on its way: ready now, or being worked on.
enum Pending {
    Ready(Response),
    Task(JoinHandle<crate::broker::Result<Response>>),
}

impl Pending {
    fn of(answer: crate::broker::Answer) -> Pending {
        match answer {
            crate::broker::Answer::Ready(Ok(r)) => Pending::Ready(r),
            crate::broker::Answer::Ready(Err(e)) => Pending::Ready(response_of(&e)),
            crate::broker::Answer::Later(t) => Pending::Task(t),
        }
    }
}

/// What a stream's task shares with its connection (one per connection, cloned per stream).
#[derive(Clone)]
pub(super) struct Stream {
    broker: Arc<Broker>,
    in_flight: Arc<InFlight>,
    max_frame: u32,
    conn: ConnInfo,
    identity: Arc<Identity>,
}

impl Stream {
    /// What a new connection's streams share, on either transport. Its streams share who it
    /// is: its verified client certificate's `subject`, and the token a Hello presents counts
    /// for all of them. `Err` is the refusal's reason (logged here), to close the connection
    /// with [`CLOSE_QUOTA`].
    pub(super) fn for_connection(
        broker: &Arc<Broker>,
        in_flight: &Arc<InFlight>,
        max_frame: u32,
        conn: ConnInfo,
        subject: Option<String>,
    ) -> Result<Stream, String> {
        match broker.auth().identity(subject) {
            Ok(identity) => Ok(Stream {
                broker: broker.clone(),
                in_flight: in_flight.clone(),
                max_frame,
                conn,
                identity: Arc::new(identity),
            }),
            Err(e) => {
                let reason = e.to_string();
                let _ = access::refusal(&conn, None, e);
                Err(reason)
            }
        }
    }
}

pub(super) async fn serve_stream(mut send: SendStream, mut recv: RecvStream, s: Stream) {
    let first = recv.read_frame(s.max_frame).await;
    // A subscription or check stream is checked at its first frame, and again on every reload
    // of the access rules.
    let mut needs = Vec::new();
    if let FrameRead::Frame(h, body) = &first
        && (h.kind == Kind::Subscribe as u16 || h.kind == Kind::TxnCheckListen as u16)
        && let Ok(req) = decode(h.kind, body)
    {
        if let Err(refused) = access::admit(&s.broker, &s.identity, &s.conn, &req) {
            let answer = frame(h.kind | RESPONSE_BIT, h.request_id, &body_of(&refused));
            let _ = send.write(answer).await;
            let _ = send.finish();
            return;
        }
        needs = access::of_request(&s.broker, &req).unwrap_or_default();
    }
    let rights = access::Rights {
        identity: s.identity.clone(),
        needs,
        conn: s.conn,
    };
    if let FrameRead::Frame(h, body) = &first
        && h.kind == Kind::Subscribe as u16
    {
        // Not counted in flight: a subscription lasts until its connection closes, which
        // shutdown does after draining requests.
        let first = (*h, body.as_slice());
        subscription::serve(send, recv, s.broker, s.conn, first, s.max_frame, rights).await;
        return;
    }
    if let FrameRead::Frame(h, body) = &first
        && h.kind == Kind::TxnCheckListen as u16
    {
        // Not counted in flight either: it lasts as long as its producer keeps it open.
        let first = (*h, body.as_slice());
        check_stream::serve(send, recv, s.broker, first, s.max_frame, rights).await;
        return;
    }
    serve_requests(send, recv, s, first).await;
}

fn body_of(response: &Response) -> Vec<u8> {
    let mut body = Vec::new();
    response.encode_body(&mut body);
    body
}

/// A request stream: responses in request order, pipelined.
// Long on purpose: the stream's reader loop and its writer task share the queue between
// them; the per-frame routing is what is long, and it is one match on the frame's kind.
async fn serve_requests(mut send: SendStream, mut recv: RecvStream, s: Stream, first: FrameRead) {
    let Stream {
        broker,
        in_flight,
        max_frame,
        conn,
        identity,
    } = s;
    let (tx, mut rx) = mpsc::channel::<Queued>(PIPELINE_DEPTH);
    let writer = tokio::spawn(async move {
        let mut body = Vec::new();
        while let Some(q) = rx.recv().await {
            let Queued {
                kind,
                request_id,
                pending,
                guard: _guard,
                answering,
                throttle_ms: throttle,
                compact: asked_compact,
            } = q;
            let mut response = match pending {
                Pending::Ready(r) => r,
                Pending::Task(t) => match t.await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => response_of(&e),
                    Err(e) => Response::error(Status::Internal, format!("request failed: {e}")),
                },
            };
            if let Response::Produced { throttle_ms, .. } | Response::Routed { throttle_ms, .. } =
                &mut response
            {
                *throttle_ms = throttle;
            }
            if let Response::Produced { compact, .. } = &mut response {
                *compact = asked_compact;
            }
            body.clear();
            response.encode_body(&mut body);
            count_request(kind, &response, HEADER_LEN + body.len());
            answering.done(&response);
            if send
                .write(frame(kind | RESPONSE_BIT, request_id, &body))
                .await
                .is_err()
            {
                return; // the client went away
            }
        }
        let _ = send.finish();
    });

    let mut next = Some(first);
    loop {
        let read = match next.take() {
            Some(r) => r,
            None => recv.read_frame(max_frame).await,
        };
        let (h, body) = match read {
            FrameRead::End => break,
            FrameRead::TooLarge(h) => {
                let guard = in_flight.enter();
                let r = too_large(&h, max_frame);
                let _ = tx
                    .send(Queued {
                        kind: h.kind & !RESPONSE_BIT,
                        request_id: h.request_id,
                        pending: Pending::Ready(r),
                        guard,
                        answering: Answering::start(&h),
                        throttle_ms: 0,
                        compact: false,
                    })
                    .await;
                recv.stop(STOP_FRAME_TOO_LARGE);
                break;
            }
            FrameRead::Frame(h, body) => (h, body),
        };
        let guard = in_flight.enter();
        let answering = Answering::start(&h);
        let raw = [Kind::Produce, Kind::ProduceDelayed, Kind::TxnSend]
            .into_iter()
            .find(|k| *k as u16 == h.kind);
        let mut throttle = Duration::ZERO;
        let pending = match raw {
            Some(kind) => match access::admit_raw(&broker, &identity, &conn, kind, &body) {
                Err(refused) => Pending::Ready(refused),
                // These bodies go to the broker undecoded: their message bytes become records.
                Ok(messages) => {
                    throttle = broker
                        .auth()
                        .throttle(&identity, messages, body.len() as u64);
                    if !throttle.is_zero() {
                        // Over its quota: held, not dropped. The principal's debt is the
                        // wait, so however many streams it opens, what it stores per second
                        // is its quota; the answer says how long it was held.
                        tokio::time::sleep(throttle).await;
                    }
                    Pending::of(match kind {
                        Kind::Produce => broker.dispatch_produce(body).await,
                        Kind::ProduceDelayed => broker.dispatch_delayed(body).await,
                        _ => broker.dispatch_txn_send(body).await,
                    })
                }
            },
            None => match decode(h.kind, &body) {
                Ok(req) => match access::admit(&broker, &identity, &conn, &req) {
                    Ok(()) if access::lists(&req) => {
                        let answer = broker.dispatch(req, conn).await;
                        let (broker, identity) = (broker.clone(), identity.clone());
                        Pending::Task(tokio::spawn(async move {
                            Ok(access::visible(&broker, &identity, answer.get().await?))
                        }))
                    }
                    Ok(()) => Pending::of(broker.dispatch(req, conn).await),
                    Err(refused) => Pending::Ready(refused),
                },
                Err(r) => Pending::Ready(r),
            },
        };
        let queued = Queued {
            kind: h.kind & !RESPONSE_BIT,
            request_id: h.request_id,
            pending,
            guard,
            answering,
            throttle_ms: throttle.as_millis().min(u128::from(u32::MAX)) as u32,
            compact: h.kind == Kind::Produce as u16 && h.flags & ASK_COMPACT != 0,
        };
        if tx.send(queued).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A request's span, from its frame to its answer: `RUST_LOG=lockgate=debug` shows each
/// request's kind, status and time (never its payload).
struct Answering {
    span: tracing::Span,
    began: std::time::Instant,
}

impl Answering {
    fn start(h: &Header) -> Answering {
        let kind = Kind::from_u16(h.kind).map_or("Unknown", Kind::name);
        Answering {
            span: tracing::debug_span!(
                "request",
                kind,
                id = h.request_id,
                status = tracing::field::Empty
            ),
            began: std::time::Instant::now(),
        }
    }

    fn done(self, response: &Response) {
        self.span.record("status", response.status().name());
        let _in = self.span.enter();
        tracing::debug!(micros = self.began.elapsed().as_micros() as u64, "answered");
    }
}

/// Counts an answered request by kind and status, and the bytes of its response.
fn count_request(kind: u16, response: &Response, bytes: usize) {
    let kind = Kind::from_u16(kind).map_or("Unknown", Kind::name);
    let status = response.status().name();
    metrics::counter!(m::REQUESTS_TOTAL, "kind" => kind, "status" => status).increment(1);
    metrics::counter!(m::SENT_BYTES_TOTAL).increment(bytes as u64);
}

pub(super) fn decode(kind: u16, body: &[u8]) -> Result<Request, Response> {
    if kind & RESPONSE_BIT != 0 || Kind::from_u16(kind).is_none() {
        return Err(Response::error(
            Status::UnknownRequest,
            format!("unknown request kind {kind}"),
        ));
    }
    Request::decode(kind, body).map_err(|e| Response::error(e.status(), e.to_string()))
}
