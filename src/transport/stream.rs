//! A stream the server serves, on either transport: a QUIC stream, or a stream of a TLS-over-TCP
//! connection (`lockgate_client::mux`, shared with the client). The request, subscription and
//! check-stream code sees only these two types, so every request behaves the same over both.

use bytes::Bytes;

use crate::client::mux;
use crate::metrics as m;
use crate::protocol::{HEADER_LEN, Header, Response, frame};

/// The server's side of writing a stream.
pub(super) enum SendStream {
    Quic(quinn::SendStream),
    Tcp(mux::SendHalf),
}

/// The stream can no longer be written (the client went away or stopped reading it).
#[derive(Debug)]
pub(super) struct Gone(pub String);

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SendStream {
    /// Writes whole frames (one or more, headers included).
    pub(super) async fn write(&mut self, frames: Vec<u8>) -> Result<(), Gone> {
        match self {
            SendStream::Quic(s) => s
                .write_chunk(Bytes::from(frames))
                .await
                .map_err(|e| Gone(e.to_string())),
            SendStream::Tcp(s) => s.write(frames).await.map_err(|e| Gone(e.to_string())),
        }
    }

    /// Writes one frame given as its start (`head`, header included) and the rest of its body.
    pub(super) async fn write_parts(&mut self, head: Vec<u8>, tail: Vec<u8>) -> Result<(), Gone> {
        match self {
            SendStream::Quic(s) => s
                .write_all_chunks(&mut [Bytes::from(head), Bytes::from(tail)])
                .await
                .map_err(|e| Gone(e.to_string())),
            SendStream::Tcp(s) => s
                .write_parts(head, tail)
                .await
                .map_err(|e| Gone(e.to_string())),
        }
    }

    /// Ends the server's side of the stream after what was written.
    pub(super) fn finish(&mut self) -> Result<(), Gone> {
        match self {
            SendStream::Quic(s) => s.finish().map_err(|e| Gone(e.to_string())),
            SendStream::Tcp(s) => s.finish().map_err(|e| Gone(e.to_string())),
        }
    }

    /// Answers with `r` and ends the stream: what a stream that will not go on sends last.
    /// A client already gone is nothing to report.
    pub(super) async fn answer_and_finish(&mut self, kind: u16, request_id: u32, r: &Response) {
        let _ = self.write(response_frame(kind, request_id, r)).await;
        let _ = self.finish();
    }
}

/// `r` as one frame of `kind` (the response bit included) for `request_id`.
pub(super) fn response_frame(kind: u16, request_id: u32, r: &Response) -> Vec<u8> {
    let mut body = Vec::new();
    r.encode_body(&mut body);
    frame(kind, request_id, &body)
}

/// The server's side of reading a stream.
pub(super) enum RecvStream {
    Quic(quinn::RecvStream),
    Tcp(mux::RecvHalf),
}

/// What reading one frame gave.
pub(super) enum FrameRead {
    Frame(Header, Vec<u8>),
    /// The peer finished the stream (cleanly, between frames, or not).
    End,
    /// The header announced a body over the limit; the body was not read.
    TooLarge(Header),
}

impl RecvStream {
    /// The next frame; a body over `max_frame` bytes is not read.
    pub(super) async fn read_frame(&mut self, max_frame: u32) -> FrameRead {
        let read = match self {
            RecvStream::Quic(r) => read_quic_frame(r, max_frame).await,
            // The connection's reader already held the frame to the server's limit.
            RecvStream::Tcp(r) => match r.read_frame().await {
                mux::FrameRead::Frame(h, body) => FrameRead::Frame(h, body),
                mux::FrameRead::TooLarge(h) => FrameRead::TooLarge(h),
                mux::FrameRead::End => FrameRead::End,
            },
        };
        if let FrameRead::Frame(_, body) = &read {
            metrics::counter!(m::RECEIVED_BYTES_TOTAL).increment((HEADER_LEN + body.len()) as u64);
        }
        read
    }

    /// Reads no more of the stream and tells the client so with `code`.
    pub(super) fn stop(&mut self, code: u32) {
        match self {
            RecvStream::Quic(r) => {
                let _ = r.stop(code.into());
            }
            RecvStream::Tcp(r) => r.stop(code),
        }
    }
}

async fn read_quic_frame(recv: &mut quinn::RecvStream, max_frame: u32) -> FrameRead {
    let mut header = [0u8; HEADER_LEN];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return FrameRead::End,
        Err(e) => {
            tracing::debug!(error = %e, "stream ended inside a frame header");
            return FrameRead::End;
        }
    }
    let h = Header::decode(&header);
    if h.body_len > max_frame {
        return FrameRead::TooLarge(h);
    }
    // Chunks as QUIC reassembled them, copied once into the body: no zero-filled buffer first.
    let len = h.body_len as usize;
    let mut body = Vec::with_capacity(len);
    while body.len() < len {
        match recv.read_chunk(len - body.len(), true).await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk.bytes),
            Ok(None) => {
                tracing::debug!("stream ended inside a frame body");
                return FrameRead::End;
            }
            Err(e) => {
                tracing::debug!(error = %e, "stream ended inside a frame body");
                return FrameRead::End;
            }
        }
    }
    FrameRead::Frame(h, body)
}
