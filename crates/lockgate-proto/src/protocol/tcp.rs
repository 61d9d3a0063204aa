//! The TCP transport's record prefix (`docs/protocol.md`, "TCP"): over TLS on TCP, a
//! connection carries QUIC-like bidirectional streams as records, each a 5-byte prefix (the
//! stream id, u32, and an op, u8) and what that op carries. A `frame` record carries exactly
//! one protocol frame, header and body, unchanged; the other ops end a stream or the
//! connection. Pure codec: the streams themselves are `lockgate-client`'s `mux`.

/// Bytes before what a record carries: stream id (u32 LE) and op (u8).
pub const PREFIX_LEN: usize = 5;
/// The stream id of records about the whole connection (`close`, `ping`); streams are 1 up.
pub const CONNECTION: u32 = 0;

wire_u8_enum! {
    /// What a TCP record does.
    pub enum TcpOp, "a TCP record op" {
        /// One protocol frame (12-byte header and its body) on the stream. The first frame on a
        /// new id (greater than any the client opened before) opens that stream.
        Frame = 0 => "frame",
        /// The sender writes no more on the stream (QUIC's FIN). Nothing follows.
        Fin = 1 => "fin",
        /// The sender reads no more of the stream (QUIC's STOP_SENDING); a u32 code follows.
        Stop = 2 => "stop",
        /// The sender closes the connection (QUIC's CONNECTION_CLOSE), on stream 0; a u32
        /// code, a u16 reason length and the reason (UTF-8) follow.
        Close = 3 => "close",
        /// Keeps an idle connection open, on stream 0; nothing follows, the receiver ignores it.
        Ping = 4 => "ping",
    }
}

/// A record's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub stream: u32,
    /// The op byte as sent (unknown values are the receiver's to refuse).
    pub op: u8,
}

impl Prefix {
    pub fn new(stream: u32, op: TcpOp) -> Prefix {
        Prefix {
            stream,
            op: op as u8,
        }
    }

    pub fn encode(&self) -> [u8; PREFIX_LEN] {
        let mut b = [0u8; PREFIX_LEN];
        b[..4].copy_from_slice(&self.stream.to_le_bytes());
        b[4] = self.op;
        b
    }

    pub fn decode(b: &[u8; PREFIX_LEN]) -> Prefix {
        Prefix {
            stream: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            op: b[4],
        }
    }
}

/// A whole `close` record: prefix, code, reason length and reason (cut to 1,024 bytes at a
/// character boundary).
pub fn close_record(code: u32, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(1024);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    let mut out = Vec::with_capacity(PREFIX_LEN + 6 + reason.len());
    out.extend_from_slice(&Prefix::new(CONNECTION, TcpOp::Close).encode());
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(reason.len() as u16).to_le_bytes());
    out.extend_from_slice(reason);
    out
}

/// A whole `stop` record for `stream`.
pub fn stop_record(stream: u32, code: u32) -> [u8; PREFIX_LEN + 4] {
    let mut out = [0u8; PREFIX_LEN + 4];
    out[..PREFIX_LEN].copy_from_slice(&Prefix::new(stream, TcpOp::Stop).encode());
    out[PREFIX_LEN..].copy_from_slice(&code.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_comes_back_whole_and_matches_its_golden_bytes() {
        let p = Prefix::new(0x0102_0304, TcpOp::Stop);
        assert_eq!(p.encode(), [0x04, 0x03, 0x02, 0x01, 2]);
        assert_eq!(Prefix::decode(&p.encode()), p);
        for op in TcpOp::ALL {
            let p = Prefix::new(7, *op);
            assert_eq!(TcpOp::from_u8(Prefix::decode(&p.encode()).op), Some(*op));
        }
        assert_eq!(TcpOp::from_u8(5), None);
    }

    #[test]
    fn close_and_stop_records_match_their_golden_bytes() {
        assert_eq!(
            close_record(2, "bye"),
            [0, 0, 0, 0, 3, 2, 0, 0, 0, 3, 0, b'b', b'y', b'e']
        );
        assert_eq!(stop_record(9, 1), [9, 0, 0, 0, 2, 1, 0, 0, 0]);
        // A long reason is cut at a character boundary, never inside one.
        let long = "é".repeat(600);
        let rec = close_record(0, &long);
        let len = u16::from_le_bytes([rec[9], rec[10]]) as usize;
        assert_eq!(len, 1024);
        assert!(std::str::from_utf8(&rec[11..]).is_ok());
    }
}
