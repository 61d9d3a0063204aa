//! The Session family: Ping (1) and Hello (2), which may carry the client's token.

use crate::codec::{ReadError, Reader, put_str16};

use super::{Family, Kind, SessionKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRequest {
    /// Answered with the same nonce.
    Ping { nonce: u64 },
    /// The client's protocol version and name, and the token it authenticates with (when it
    /// has one); answered with the server's frame limit.
    Hello {
        version: u16,
        client: String,
        token: Option<String>,
    },
}

impl Family for SessionRequest {
    type Kinds = SessionKind;

    fn kind(&self) -> Kind {
        match self {
            SessionRequest::Ping { .. } => Kind::Ping,
            SessionRequest::Hello { .. } => Kind::Hello,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            SessionRequest::Ping { nonce } => buf.extend_from_slice(&nonce.to_le_bytes()),
            SessionRequest::Hello {
                version,
                client,
                token,
            } => {
                buf.extend_from_slice(&version.to_le_bytes());
                put_str16(buf, client);
                if let Some(t) = token {
                    put_str16(buf, t);
                }
            }
        }
    }

    fn decode(kind: SessionKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            SessionKind::Ping => SessionRequest::Ping {
                nonce: r.u64("nonce")?,
            },
            SessionKind::Hello => SessionRequest::Hello {
                version: r.u16("version")?,
                client: r.str16("client name")?,
                // Optional: a Hello without it is an unauthenticated one.
                token: match r.remaining() {
                    0 => None,
                    _ => Some(r.str16("token")?),
                },
            },
        })
    }
}
