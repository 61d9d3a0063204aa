//! The Rust client: connecting (TLS, version check), one-shot requests on their own streams,
//! admin and lookup calls, fetches, a batching, pipelining [`Producer`], and a
//! [`TransactionProducer`].
//!
//! Every call opens its own QUIC stream (≈ 4 µs), so calls never wait behind each other; the
//! producer keeps one stream and pipelines its batches on it.
//!
//! A crate of its own: it stands on `lockgate-proto` (the record format and the protocol,
//! re-exported as [`protocol`] and [`record`]) and on quinn, rustls and tokio, and on nothing
//! of the broker.

pub use lockgate_proto::{codec, protocol, record};

pub mod tls;

/// Sends a request on a client and takes its one expected answer apart: `ask!(client, request,
/// Response::X(v) => v)`. Any other answer is `ClientError::Unexpected`, naming the request's
/// kind; error statuses were already turned into errors by `call`. Every request-answer call
/// of the client goes through it.
macro_rules! ask {
    ($client:expr, $req:expr, $pat:pat $(if $guard:expr)? => $out:expr) => {{
        let req: Request = $req;
        let asked = req.kind();
        match $client.call(req).await? {
            $pat $(if $guard)? => Ok($out),
            _ => Err(ClientError::Unexpected { asked }),
        }
    }};
}

mod consumer;
mod group;
pub mod mux;
mod producer;
mod stream;
mod transaction;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub use consumer::{Consumer, ConsumerOptions, StartFrom};
pub use group::{AckMode, GroupConsumer, GroupConsumerOptions};
pub use producer::{
    Acknowledged, AnyHandle, Producer, ProducerOptions, ScheduleHandle, SendHandle,
};
pub use stream::{RecvStream, SendStream, Transport};
pub use transaction::{Transaction, TransactionProducer, TransactionProducerOptions};

use stream::Conn;

use crate::protocol::CreateTopic;
use crate::protocol::{
    DelayRequest, DelayState, DelayStatsInfo, Delivered, FetchFamily, FetchRequest, Kind,
    LookupRequest, ProtocolError, QueueRange, RESPONSE_BIT, Request, Response, SessionRequest,
    Status, TopicInfo, TopicRequest, VERSION, frame,
};
use crate::record::{Durability, MessageId};
use crate::tls::TlsError;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub server: SocketAddr,
    /// The name the server's certificate must carry.
    pub server_name: String,
    /// PEM file of the CA that signed the server's certificate.
    pub ca: PathBuf,
    /// `(cert, key)` PEM files, for servers that require client certificates.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// The token presented in Hello (`lockgate auth token NAME` makes one), for servers with
    /// `[auth] mode = "required"`.
    pub token: Option<String>,
    /// QUIC (the default) or TLS over TCP; `server` is that listener's address.
    pub transport: Transport,
}

impl ClientOptions {
    /// The same options authenticating with `token` (`lockgate auth token NAME` makes one).
    pub fn with_token(self, token: impl Into<String>) -> ClientOptions {
        ClientOptions {
            token: Some(token.into()),
            ..self
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot reach {server}: {reason}")]
    Connect { server: SocketAddr, reason: String },
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("stream failed: {0}")]
    Stream(String),
    #[error("bad response from the server: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{message}")]
    Server {
        status: Status,
        message: String,
        detail: u64,
    },
    #[error("the server answered a {asked:?} request with an unexpected response")]
    Unexpected { asked: Kind },
    #[error("{0}")]
    Invalid(String),
    /// Refused before sending: the request would not fit in one frame.
    #[error(
        "the request is {size} bytes; the server takes requests of at most {limit} bytes (server.max_frame_size); nothing was sent"
    )]
    FrameTooLarge { size: usize, limit: u32 },
    /// The topic's ingress pipeline routed the message nowhere (it is not stored).
    #[error("the message {id} was routed nowhere by the topic's ingress pipeline (not stored)")]
    Dropped { id: crate::record::MessageId },
}

impl ClientError {
    /// The status code, when the server refused the request.
    pub fn status(&self) -> Option<Status> {
        match self {
            ClientError::Server { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A connection to a Lockgate server.
#[derive(Clone)]
pub struct Client {
    conn: Conn,
    next_id: Arc<AtomicU32>,
    opts: Arc<ClientOptions>,
    /// The server's frame limit, from its Hello answer.
    max_frame: u32,
}

impl Client {
    /// Connects, completes the TLS handshake and checks the protocol version.
    pub async fn connect(opts: &ClientOptions) -> Result<Client, ClientError> {
        let conn = Conn::connect(opts).await?;
        let mut client = Client {
            conn,
            next_id: Arc::new(AtomicU32::new(1)),
            opts: Arc::new(opts.clone()),
            max_frame: crate::protocol::DEFAULT_MAX_FRAME,
        };
        let hello = Request::Session(SessionRequest::Hello {
            version: VERSION,
            client: format!("lockgate-client {}", env!("CARGO_PKG_VERSION")),
            token: opts.token.clone(),
        });
        let hello = ask!(client, hello, Response::Hello { max_frame, .. } => max_frame);
        // Over TLS 1.3 on TCP the server checks a client certificate after the client's
        // handshake is done: a refusal shows at the first request, as the connection's end.
        client.max_frame = hello.map_err(|e| match client.conn.close_reason() {
            Some(reason) => ClientError::Connect {
                server: opts.server,
                reason,
            },
            None => e,
        })?;
        Ok(client)
    }

    /// The largest request body the server takes (its Hello said so).
    pub fn max_frame(&self) -> u32 {
        self.max_frame
    }

    /// Refuses a request body larger than the server takes, before it is sent: the server
    /// would close the stream on it, and a resend can never succeed.
    pub fn check_frame(&self, body: &[u8]) -> Result<(), ClientError> {
        if body.len() > self.max_frame as usize {
            return Err(ClientError::FrameTooLarge {
                size: body.len(),
                limit: self.max_frame,
            });
        }
        Ok(())
    }

    /// A new connection to the same server with the same settings.
    pub async fn reconnect(&self) -> Result<Client, ClientError> {
        Client::connect(&self.opts).await
    }

    fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends one request on a new stream and returns the server's answer; error statuses
    /// become [`ClientError::Server`].
    pub async fn call(&self, req: Request) -> Result<Response, ClientError> {
        let kind = req.kind();
        let (mut send, mut recv) = self.conn.open_bi().await?;
        let mut body = Vec::new();
        req.encode_body(&mut body);
        self.check_frame(&body)?;
        send.write_all(&frame(kind as u16, self.next_id(), &body))
            .await?;
        send.finish();
        let resp = read_response(&mut recv, kind).await?;
        into_result(resp)
    }

    /// Sends `reqs` pipelined on one new stream and returns each answer, in order (the server
    /// starts them in order: see `docs/protocol.md`). A failure of the stream itself is the
    /// outer error.
    pub async fn call_all(
        &self,
        reqs: &[Request],
    ) -> Result<Vec<Result<Response, ClientError>>, ClientError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        let mut bytes = Vec::new();
        let mut body = Vec::new();
        for req in reqs {
            body.clear();
            req.encode_body(&mut body);
            self.check_frame(&body)?;
            bytes.extend_from_slice(&frame(req.kind() as u16, self.next_id(), &body));
        }
        send.write_all(&bytes).await?;
        send.finish();
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            out.push(into_result(read_response(&mut recv, req.kind()).await?));
        }
        Ok(out)
    }

    /// Closes the connection gracefully.
    pub async fn close(&self) {
        self.conn.close(0, "bye");
        self.conn.closed().await;
    }

    /// Ends the connection at once with `code` and `reason`, as a process that dies would
    /// (tests of what the server does then); every stream and call on it fails.
    pub fn abort(&self, code: u32, reason: &str) {
        self.conn.close(code, reason);
    }

    /// Why the connection ended, if it did.
    pub fn close_reason(&self) -> Option<String> {
        self.conn.close_reason()
    }

    /// A new bidirectional stream, for requests this client has no call for (raw frames:
    /// `read_response` reads their answers).
    pub async fn open_stream(&self) -> Result<(SendStream, RecvStream), ClientError> {
        self.conn.open_bi().await
    }

    pub async fn ping(&self, nonce: u64) -> Result<u64, ClientError> {
        let req = Request::Session(SessionRequest::Ping { nonce });
        ask!(self, req, Response::Pong { nonce } => nonce)
    }

    pub async fn create_topic(
        &self,
        name: &str,
        queues: u32,
        durability: Option<Durability>,
        retention_ms: u64,
    ) -> Result<TopicInfo, ClientError> {
        let req = Request::Topic(TopicRequest::Create(CreateTopic {
            name: name.into(),
            queues,
            durability,
            retention_ms,
        }));
        ask!(self, req, Response::Topic(t) => t)
    }

    /// Grows a topic to `queues` queues, online (TopicAlter). Sharding keys map to queues by
    /// their hash modulo the queue count, so most keys move to another queue from now on.
    pub async fn alter_topic(&self, name: &str, queues: u32) -> Result<TopicInfo, ClientError> {
        let req = Request::Topic(TopicRequest::Alter {
            name: name.into(),
            queues,
        });
        ask!(self, req, Response::Topic(t) => t)
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let req = Request::Topic(TopicRequest::Delete { name: name.into() });
        ask!(self, req, Response::TopicDeleted => ())
    }

    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>, ClientError> {
        ask!(self, Request::Topic(TopicRequest::List), Response::Topics(t) => t)
    }

    pub async fn describe_topic(
        &self,
        name: &str,
    ) -> Result<(TopicInfo, Vec<QueueRange>), ClientError> {
        let req = Request::Topic(TopicRequest::Describe { name: name.into() });
        ask!(self, req, Response::Description { topic, queues } => (topic, queues))
    }

    /// Reads from a queue: up to `max_messages` from `offset`, waiting up to `max_wait_ms` when
    /// nothing is there yet. Returns the next offset to read and the messages.
    pub async fn fetch(&self, req: FetchRequest) -> Result<(u64, Vec<Delivered>), ClientError> {
        let req = Request::Fetch(FetchFamily::Fetch(req));
        ask!(self, req, Response::Fetched { next_offset, messages } => (next_offset, messages))
    }

    /// [`Client::fetch`] through a filter: only what it selects comes back; the next offset
    /// moves past what it skipped.
    pub async fn fetch_filtered(
        &self,
        req: FetchRequest,
        filter: crate::protocol::FilterSpec,
    ) -> Result<(u64, Vec<Delivered>), ClientError> {
        let req = Request::Fetch(FetchFamily::Filtered(req, filter));
        ask!(self, req, Response::Fetched { next_offset, messages } => (next_offset, messages))
    }

    pub async fn find_by_id(
        &self,
        topic: &str,
        id: MessageId,
    ) -> Result<Option<Delivered>, ClientError> {
        let req = Request::Lookup(LookupRequest::Id {
            topic: topic.into(),
            id,
        });
        ask!(self, req, Response::Found(mut m) => m.pop())
    }

    pub async fn find_by_key(
        &self,
        topic: &str,
        key: &str,
        limit: u32,
    ) -> Result<Vec<Delivered>, ClientError> {
        let req = Request::Lookup(LookupRequest::Key {
            topic: topic.into(),
            key: key.into(),
            limit,
        });
        ask!(self, req, Response::Found(m) => m)
    }

    pub async fn offset_for_time(
        &self,
        topic: &str,
        queue: u32,
        time_ms: i64,
    ) -> Result<u64, ClientError> {
        let req = Request::Lookup(LookupRequest::OffsetForTime {
            topic: topic.into(),
            queue,
            time_ms,
        });
        ask!(self, req, Response::Offset(o) => o)
    }

    /// Cancels a pending delay message of `topic`: returns its delivery time, and whether it
    /// was cancelled before. A message already delivered is refused with `AlreadyDelivered`.
    pub async fn cancel_delayed(
        &self,
        topic: &str,
        id: MessageId,
    ) -> Result<(i64, bool), ClientError> {
        let req = Request::Delay(DelayRequest::Cancel {
            topic: topic.into(),
            id,
        });
        ask!(self, req, Response::Cancelled { deliver_at, already } => (deliver_at, already))
    }

    /// Pending delay messages per topic, and the next due time.
    pub async fn delay_stats(&self) -> Result<DelayStatsInfo, ClientError> {
        ask!(self, Request::Delay(DelayRequest::Stats), Response::DelayStats(s) => s)
    }

    /// A delay message's state: pending (with its due time), delivered or cancelled. An
    /// empty `topic` matches any.
    pub async fn delay_state(&self, topic: &str, id: MessageId) -> Result<DelayState, ClientError> {
        let req = Request::Delay(DelayRequest::State {
            topic: topic.into(),
            id,
        });
        ask!(self, req, Response::DelayState(s) => s)
    }

    /// A consumer of `opts.topic` (all or some queues) from a starting point.
    pub async fn consumer(&self, opts: ConsumerOptions) -> Result<Consumer, ClientError> {
        Consumer::start(self.clone(), opts).await
    }

    /// A producer for `opts.topic` with its own pipelined stream.
    pub async fn producer(&self, opts: ProducerOptions) -> Result<Producer, ClientError> {
        Producer::start(self.clone(), opts).await
    }
}

/// Reads one response frame for a request of `kind`.
pub async fn read_response(
    recv: &mut RecvStream,
    kind: Kind,
) -> Result<(u32, Response), ClientError> {
    read_response_of(recv, &[kind]).await
}

/// Reads one response frame, which must answer one of `kinds`.
pub(crate) async fn read_response_of(
    recv: &mut RecvStream,
    kinds: &[Kind],
) -> Result<(u32, Response), ClientError> {
    let (h, body) = recv.read_frame().await?;
    let Some(&kind) = kinds.iter().find(|k| h.kind == **k as u16 | RESPONSE_BIT) else {
        return Err(ClientError::Unexpected { asked: kinds[0] });
    };
    Ok((h.request_id, Response::decode(kind, &body)?))
}

fn into_result((_, resp): (u32, Response)) -> Result<Response, ClientError> {
    match resp {
        Response::Error {
            status,
            message,
            detail,
        } => Err(ClientError::Server {
            status,
            message,
            detail,
        }),
        ok => Ok(ok),
    }
}
