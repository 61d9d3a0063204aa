//! The TCP transport's streams: QUIC-like bidirectional streams carried over one TLS-over-TCP
//! connection, each protocol frame behind a 5-byte record prefix naming its stream
//! (`docs/protocol.md`, "TCP"; the prefix codec is `protocol::tcp`). The client opens streams
//! ([`Mux::open`]); the server accepts them ([`Mux::accept`]) — the broker's TCP listener
//! uses this module too, so both ends share one implementation.
//!
//! One task reads the socket and hands each frame, whole, to its stream; one task writes what
//! the streams queue, many records per flush. What it does not do: flow-control streams one by
//! one, as QUIC does. Unread frames of all streams share one connection window
//! ([`RECEIVE_WINDOW`]); when it is full the reader waits, so a stream its reader neglects
//! holds back the connection's others — head-of-line blocking, the price of one TCP stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::protocol::tcp::{self, CONNECTION, PREFIX_LEN, Prefix, TcpOp};
use crate::protocol::{HEADER_LEN, Header};

/// Bytes received and not yet read by their streams, per connection (as QUIC's connection
/// receive window on both ends).
pub const RECEIVE_WINDOW: usize = 64 << 20;
/// Bytes queued for the socket and not yet written, per connection.
const SEND_WINDOW: usize = 16 << 20;
/// Streams a client keeps open at once; opening another waits for one to end (QUIC's limit
/// on the server's connections is the same).
pub const MAX_STREAMS: usize = 1024;
/// Streams a server lets a connection hold before closing it: the client's limit, with room
/// for the moments between a client's stream ending and the server seeing it end.
const SERVER_MAX_STREAMS: usize = 4 * MAX_STREAMS;
/// Close code: the peer broke the TCP framing (an unknown op, a frame on stream 0, a stream
/// the server did not open, too many streams).
pub const CLOSE_PROTOCOL: u32 = 3;
const IO_BUFFER: usize = 64 << 10;

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// Opens streams, and pings every `keepalive`.
    Client { keepalive: Duration },
    /// Accepts streams and answers pings. A frame over `max_frame` body bytes is not read: its
    /// stream gets [`FrameRead::TooLarge`] and the body is skipped.
    Server { max_frame: u32 },
}

/// What reading a stream gave.
#[derive(Debug)]
pub enum FrameRead {
    Frame(Header, Vec<u8>),
    /// The peer finished the stream, or the connection ended.
    End,
    /// The header announced a body over the server's limit; the body was skipped.
    TooLarge(Header),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the peer stopped reading this stream (code {0})")]
    Stopped(u32),
    #[error("the stream was already finished")]
    Finished,
    #[error("not whole frames: a write carries complete frames, headers included")]
    NotFrames,
    #[error("connection lost: {0}")]
    Closed(String),
}

enum Inbound {
    /// The permit holds the frame's bytes against the receive window until it is read.
    Frame(Header, Vec<u8>, OwnedSemaphorePermit),
    TooLarge(Header),
    End,
}

enum Out {
    /// Whole frames of one stream, a prefix before each; `tail` ends the last one. The permit
    /// holds their bytes against the send window until they are written.
    Frames {
        stream: u32,
        head: Vec<u8>,
        tail: Vec<u8>,
        _permit: OwnedSemaphorePermit,
    },
    /// A whole `fin`, `stop` or `ping` record.
    Record(Vec<u8>),
    /// A whole `close` record; the connection ends after it.
    Close(Vec<u8>),
    /// The reader ended: flush and end.
    End,
}

struct Entry {
    inbox: mpsc::UnboundedSender<Inbound>,
    /// The code of the peer's `stop`, once it sent one.
    stopped: Arc<Mutex<Option<u32>>>,
}

struct Shared {
    out: mpsc::UnboundedSender<Out>,
    send_window: Arc<Semaphore>,
    receive_window: Arc<Semaphore>,
    streams: Mutex<HashMap<u32, Entry>>,
    /// Why the connection ended, once it did (the first reason wins).
    closed: Mutex<Option<String>>,
    /// Client: one permit per open stream.
    slots: Arc<Semaphore>,
    next_id: AtomicU32,
    /// Client: held while a stream takes its id and queues its first frame, so ids reach the
    /// server in increasing order (a lower id arriving later would be taken for a stream that
    /// already ended).
    opening: Mutex<()>,
}

impl Shared {
    fn close_with(&self, reason: String) {
        self.closed.lock().get_or_insert(reason);
    }

    fn closed_error(&self) -> WriteError {
        WriteError::Closed(
            self.closed
                .lock()
                .clone()
                .unwrap_or_else(|| "the connection ended".into()),
        )
    }

    /// A stream's two halves. With an `id` (server: the client opened it) the stream is
    /// registered at once; without one (client) it takes its id at its first write.
    fn halves(self: &Arc<Self>, id: Option<u32>, slot: Option<OwnedSemaphorePermit>) -> Halves {
        let (tx, inbox) = mpsc::unbounded_channel();
        let stopped = Arc::new(Mutex::new(None));
        let entry = Entry {
            inbox: tx,
            stopped: stopped.clone(),
        };
        let unregistered = match id {
            Some(id) => {
                self.streams.lock().insert(id, entry);
                None
            }
            None => Some(entry),
        };
        let id = Arc::new(AtomicU32::new(id.unwrap_or(0)));
        let slot = slot.map(Arc::new);
        let send = SendHalf {
            id: id.clone(),
            unregistered,
            shared: self.clone(),
            stopped,
            finished: false,
            _slot: slot.clone(),
        };
        let recv = RecvHalf {
            id,
            shared: self.clone(),
            inbox,
            ended: false,
            _slot: slot,
        };
        (send, recv)
    }
}

type Halves = (SendHalf, RecvHalf);

/// One TLS-over-TCP connection carrying streams.
pub struct Mux {
    shared: Arc<Shared>,
    incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<Halves>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Mux {
    /// Starts the connection's reader and writer tasks on `io` (a TLS stream, already shaken
    /// hands). The reader ends the connection after `idle` without a record.
    pub fn start<T>(io: T, role: Role, idle: Duration) -> Mux
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let (out, out_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            out,
            send_window: Arc::new(Semaphore::new(SEND_WINDOW)),
            receive_window: Arc::new(Semaphore::new(RECEIVE_WINDOW)),
            streams: Mutex::new(HashMap::new()),
            closed: Mutex::new(None),
            slots: Arc::new(Semaphore::new(MAX_STREAMS)),
            next_id: AtomicU32::new(1),
            opening: Mutex::new(()),
        });
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        let keepalive = match role {
            Role::Client { keepalive } => Some(keepalive),
            Role::Server { .. } => None,
        };
        let writer = tokio::spawn(write_loop(write, out_rx, keepalive, shared.clone()));
        let reader_shared = shared.clone();
        tokio::spawn(async move {
            let mut reader = Reader {
                io: BufReader::with_capacity(IO_BUFFER, read),
                shared: reader_shared.clone(),
                role,
                incoming: incoming_tx,
                highest: 0,
            };
            let reason = reader.run(idle).await;
            reader_shared.close_with(reason);
            // Every stream's reader sees the end; the writer flushes and stops.
            reader_shared.streams.lock().clear();
            let _ = reader_shared.out.send(Out::End);
        });
        Mux {
            shared,
            incoming: tokio::sync::Mutex::new(incoming),
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Opens a stream (client). Waits while [`MAX_STREAMS`] are open.
    pub async fn open(&self) -> Result<(SendHalf, RecvHalf), WriteError> {
        let slot = self
            .shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.shared.closed_error())?;
        if self.shared.closed.lock().is_some() {
            return Err(self.shared.closed_error());
        }
        Ok(self.shared.halves(None, Some(slot)))
    }

    /// The next stream the client opened (server); `None` once the connection ended.
    pub async fn accept(&self) -> Option<(SendHalf, RecvHalf)> {
        self.incoming.lock().await.recv().await
    }

    /// Closes the connection with `code` and `reason`, after what the streams already queued.
    pub fn close(&self, code: u32, reason: &str) {
        self.shared.close_with(format!("closed locally: {reason}"));
        let _ = self
            .shared
            .out
            .send(Out::Close(tcp::close_record(code, reason)));
    }

    /// Waits until the writer has sent everything and ended the connection.
    pub async fn closed(&self) {
        let writer = self.writer.lock().take();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
    }

    /// Why the connection ended, if it did.
    pub fn close_reason(&self) -> Option<String> {
        self.shared.closed.lock().clone()
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        if self.shared.closed.lock().is_none() {
            self.close(0, "");
        }
    }
}

/// The sending side of a stream.
pub struct SendHalf {
    /// 0 until a client's stream takes its id, at its first write.
    id: Arc<AtomicU32>,
    /// A client's stream until its first write: the entry that routes answers to it.
    unregistered: Option<Entry>,
    shared: Arc<Shared>,
    stopped: Arc<Mutex<Option<u32>>>,
    finished: bool,
    _slot: Option<Arc<OwnedSemaphorePermit>>,
}

impl SendHalf {
    /// The stream's id; 0 for a client's stream not written yet.
    pub fn id(&self) -> u32 {
        self.id.load(Ordering::Acquire)
    }

    /// Queues `frames` (one or more whole frames) for the socket.
    pub async fn write(&mut self, frames: Vec<u8>) -> Result<(), WriteError> {
        self.write_parts(frames, Vec::new()).await
    }

    /// Queues whole frames whose last one goes on in `tail` (a header written apart from the
    /// body it announces).
    pub async fn write_parts(&mut self, head: Vec<u8>, tail: Vec<u8>) -> Result<(), WriteError> {
        if self.finished {
            return Err(WriteError::Finished);
        }
        if let Some(code) = *self.stopped.lock() {
            return Err(WriteError::Stopped(code));
        }
        if !whole_frames(&head, tail.len()) {
            return Err(WriteError::NotFrames);
        }
        let bytes = (head.len() + tail.len()).clamp(1, SEND_WINDOW) as u32;
        let permit = self
            .shared
            .send_window
            .clone()
            .acquire_many_owned(bytes)
            .await
            .map_err(|_| self.shared.closed_error())?;
        let shared = self.shared.clone();
        let _opening = self.unregistered.is_some().then(|| shared.opening.lock());
        if let Some(entry) = self.unregistered.take() {
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            shared.streams.lock().insert(id, entry);
            self.id.store(id, Ordering::Release);
        }
        shared
            .out
            .send(Out::Frames {
                stream: self.id(),
                head,
                tail,
                _permit: permit,
            })
            .map_err(|_| shared.closed_error())
    }

    /// Ends the stream's sending side (the peer reads `End` after what was written).
    pub fn finish(&mut self) -> Result<(), WriteError> {
        if std::mem::replace(&mut self.finished, true) {
            return Err(WriteError::Finished);
        }
        if self.unregistered.is_some() {
            return Ok(()); // never written: the server never heard of it
        }
        let fin = Prefix::new(self.id(), TcpOp::Fin).encode().to_vec();
        self.shared
            .out
            .send(Out::Record(fin))
            .map_err(|_| self.shared.closed_error())
    }

    /// The peer's `stop` code, if it stopped reading.
    pub fn stopped(&self) -> Option<u32> {
        *self.stopped.lock()
    }
}

impl Drop for SendHalf {
    /// A half dropped unfinished finishes (as quinn's does).
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.finish();
        }
    }
}

/// The receiving side of a stream.
pub struct RecvHalf {
    /// Shared with the send half, which sets it at a client's first write.
    id: Arc<AtomicU32>,
    shared: Arc<Shared>,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    ended: bool,
    _slot: Option<Arc<OwnedSemaphorePermit>>,
}

impl RecvHalf {
    /// The stream's id; 0 for a client's stream not written yet.
    pub fn id(&self) -> u32 {
        self.id.load(Ordering::Acquire)
    }

    /// The stream's next frame, or its end.
    pub async fn read_frame(&mut self) -> FrameRead {
        if self.ended {
            return FrameRead::End;
        }
        match self.inbox.recv().await {
            // The permit goes back to the window here: the frame is the stream's now.
            Some(Inbound::Frame(h, body, _permit)) => FrameRead::Frame(h, body),
            Some(Inbound::TooLarge(h)) => FrameRead::TooLarge(h),
            Some(Inbound::End) | None => {
                self.ended = true;
                FrameRead::End
            }
        }
    }

    /// Why the connection ended, if it did (a stream's end may be the connection's).
    pub fn close_reason(&self) -> Option<String> {
        self.shared.closed.lock().clone()
    }

    /// Reads no more of the stream and tells the peer so, with `code`; what it sends after is
    /// dropped.
    pub fn stop(&mut self, code: u32) {
        let id = self.id();
        if id == 0 {
            self.ended = true; // never written: nothing to tell
            return;
        }
        self.shared.streams.lock().remove(&id);
        if !std::mem::replace(&mut self.ended, true) {
            let _ = self
                .shared
                .out
                .send(Out::Record(tcp::stop_record(id, code).to_vec()));
        }
    }
}

impl Drop for RecvHalf {
    /// A half dropped before the stream's end stops it with code 0 (as quinn's does).
    fn drop(&mut self) {
        self.stop(0);
    }
}

/// Whether `head` followed by `tail_len` bytes is whole frames, the last one (if `tail` is
/// not empty) begun in `head`.
fn whole_frames(head: &[u8], tail_len: usize) -> bool {
    let mut at = 0;
    while at < head.len() {
        let Some(len) = head.get(at..at + 4) else {
            return false;
        };
        let body = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if head.len() - at < HEADER_LEN {
            return false;
        }
        at += HEADER_LEN + body;
    }
    at == head.len() + tail_len && (tail_len == 0 || !head.is_empty())
}

async fn write_loop<W: AsyncWrite + Send>(
    io: W,
    mut rx: mpsc::UnboundedReceiver<Out>,
    keepalive: Option<Duration>,
    shared: Arc<Shared>,
) {
    let mut w = Box::pin(BufWriter::with_capacity(IO_BUFFER, io));
    let ping = Prefix::new(CONNECTION, TcpOp::Ping).encode();
    // A client pings on a steady beat, whatever it writes: the server answers each ping, so
    // the client hears from a live server even while the server has nothing else to say (a
    // quiet subscription), and the server sees a live client.
    let mut beat = keepalive.map(|k| tokio::time::interval_at(tokio::time::Instant::now() + k, k));
    let result: std::io::Result<()> = async {
        loop {
            let next = tokio::select! {
                next = rx.recv() => next,
                _ = async { beat.as_mut().expect("guarded").tick().await }, if beat.is_some() => {
                    w.write_all(&ping).await?;
                    w.flush().await?;
                    continue;
                }
            };
            let Some(mut out) = next else {
                return Ok(());
            };
            // Everything already queued goes out in one flush.
            loop {
                match out {
                    Out::Frames {
                        stream,
                        head,
                        tail,
                        _permit,
                    } => {
                        let prefix = Prefix::new(stream, TcpOp::Frame).encode();
                        let mut at = 0;
                        while at < head.len() {
                            let body = u32::from_le_bytes(
                                head[at..at + 4]
                                    .try_into()
                                    .expect("checked by whole_frames"),
                            ) as usize;
                            let end = (at + HEADER_LEN + body).min(head.len());
                            w.write_all(&prefix).await?;
                            w.write_all(&head[at..end]).await?;
                            at += HEADER_LEN + body;
                        }
                        w.write_all(&tail).await?;
                    }
                    Out::Record(bytes) => w.write_all(&bytes).await?,
                    Out::Close(bytes) => {
                        w.write_all(&bytes).await?;
                        w.flush().await?;
                        return w.shutdown().await;
                    }
                    Out::End => {
                        w.flush().await?;
                        return w.shutdown().await;
                    }
                }
                match rx.try_recv() {
                    Ok(more) => out = more,
                    Err(_) => break,
                }
            }
            w.flush().await?;
        }
    }
    .await;
    if let Err(e) = result {
        shared.close_with(format!("cannot write to the connection: {e}"));
    }
}

/// The connection's reader: routes each record to its stream.
struct Reader<R> {
    io: BufReader<R>,
    shared: Arc<Shared>,
    role: Role,
    incoming: mpsc::UnboundedSender<Halves>,
    /// The highest stream id seen (server): a greater one opens a stream.
    highest: u32,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads until the connection ends; returns why.
    async fn run(&mut self, idle: Duration) -> String {
        loop {
            let mut p = [0u8; PREFIX_LEN];
            match tokio::time::timeout(idle, self.io.read_exact(&mut p)).await {
                Err(_) => return format!("nothing received for {idle:?} (idle timeout)"),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return "the peer closed the connection".into();
                }
                Ok(Err(e)) => return format!("cannot read from the connection: {e}"),
                Ok(Ok(_)) => {}
            }
            let prefix = Prefix::decode(&p);
            match self.record(prefix).await {
                Ok(None) => {}
                Ok(Some(reason)) => return reason,
                Err(e) => return format!("cannot read from the connection: {e}"),
            }
        }
    }

    /// Handles one record after its prefix; `Some(reason)` ends the connection.
    async fn record(&mut self, p: Prefix) -> std::io::Result<Option<String>> {
        let op = TcpOp::from_u8(p.op);
        if p.stream == CONNECTION && !matches!(op, Some(TcpOp::Close | TcpOp::Ping)) {
            return Ok(Some(self.protocol_error(format!(
                "a {} record on stream 0",
                op.map_or("unknown", TcpOp::name)
            ))));
        }
        match op {
            Some(TcpOp::Frame) => self.frame(p.stream).await,
            Some(TcpOp::Fin) => {
                if let Some(e) = self.shared.streams.lock().get(&p.stream) {
                    let _ = e.inbox.send(Inbound::End);
                }
                Ok(None)
            }
            Some(TcpOp::Stop) => {
                let code = self.io.read_u32_le().await?;
                if let Some(e) = self.shared.streams.lock().get(&p.stream) {
                    *e.stopped.lock() = Some(code);
                }
                Ok(None)
            }
            Some(TcpOp::Close) => {
                let code = self.io.read_u32_le().await?;
                let len = self.io.read_u16_le().await? as usize;
                let mut reason = vec![0u8; len];
                self.io.read_exact(&mut reason).await?;
                let reason = String::from_utf8_lossy(&reason);
                Ok(Some(format!("closed by the peer (code {code}): {reason}")))
            }
            Some(TcpOp::Ping) => {
                if matches!(self.role, Role::Server { .. }) {
                    let ping = Prefix::new(CONNECTION, TcpOp::Ping).encode().to_vec();
                    let _ = self.shared.out.send(Out::Record(ping));
                }
                Ok(None)
            }
            None => Ok(Some(
                self.protocol_error(format!("unknown record op {}", p.op)),
            )),
        }
    }

    /// Reads one frame record's frame and hands it to its stream.
    async fn frame(&mut self, stream: u32) -> std::io::Result<Option<String>> {
        let mut header = [0u8; HEADER_LEN];
        self.io.read_exact(&mut header).await?;
        let h = Header::decode(&header);
        let len = h.body_len as usize;
        let inbox = match self.inbox_of(stream) {
            Ok(inbox) => inbox,
            Err(reason) => return Ok(Some(reason)),
        };
        if let Role::Server { max_frame } = self.role
            && h.body_len > max_frame
        {
            if let Some(inbox) = &inbox {
                let _ = inbox.send(Inbound::TooLarge(h));
            }
            self.skip(len).await?;
            return Ok(None);
        }
        let Some(inbox) = inbox else {
            // A stream this end already stopped reading: its frames are dropped.
            self.skip(len).await?;
            return Ok(None);
        };
        let permit = self
            .shared
            .receive_window
            .clone()
            .acquire_many_owned(len.clamp(1, RECEIVE_WINDOW) as u32)
            .await
            .expect("the window is never closed");
        // Straight into the body's own buffer: no zero-filling first.
        let mut body = Vec::with_capacity(len);
        while body.len() < len {
            let want = (len - body.len()) as u64;
            if (&mut self.io).take(want).read_buf(&mut body).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let _ = inbox.send(Inbound::Frame(h, body, permit));
        Ok(None)
    }

    /// The inbox of `stream`, opening it if the client just did (server); `Ok(None)` for a
    /// stream this end no longer reads; `Err` ends the connection.
    #[allow(clippy::type_complexity)]
    fn inbox_of(&mut self, stream: u32) -> Result<Option<mpsc::UnboundedSender<Inbound>>, String> {
        if let Some(e) = self.shared.streams.lock().get(&stream) {
            return Ok(Some(e.inbox.clone()));
        }
        if matches!(self.role, Role::Client { .. }) || stream <= self.highest {
            if matches!(self.role, Role::Client { .. })
                && stream >= self.shared.next_id.load(Ordering::Relaxed)
            {
                return Err(self.protocol_error(format!(
                    "a frame on stream {stream}, which this client never opened"
                )));
            }
            return Ok(None);
        }
        if self.shared.streams.lock().len() >= SERVER_MAX_STREAMS {
            return Err(self.protocol_error(format!(
                "more than {SERVER_MAX_STREAMS} streams open at once"
            )));
        }
        self.highest = stream;
        let (send, recv) = self.shared.halves(Some(stream), None);
        let inbox = self
            .shared
            .streams
            .lock()
            .get(&stream)
            .map(|e| e.inbox.clone());
        let _ = self.incoming.send((send, recv));
        Ok(inbox)
    }

    async fn skip(&mut self, len: usize) -> std::io::Result<()> {
        let skipped =
            tokio::io::copy(&mut (&mut self.io).take(len as u64), &mut tokio::io::sink()).await?;
        if skipped < len as u64 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Tells the peer what it broke, and gives the reason to end with.
    fn protocol_error(&self, what: String) -> String {
        let _ = self
            .shared
            .out
            .send(Out::Close(tcp::close_record(CLOSE_PROTOCOL, &what)));
        format!("protocol error: {what}")
    }
}
