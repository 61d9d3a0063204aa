//! The Session family: Ping and Hello.

use crate::protocol::{Response, SessionRequest, VERSION};

use super::{Broker, BrokerError, Result};

pub(super) fn handle(broker: &Broker, r: SessionRequest) -> Result<Response> {
    match r {
        SessionRequest::Ping { nonce } => Ok(Response::Pong { nonce }),
        SessionRequest::Hello { version, .. } if version != VERSION => {
            Err(BrokerError::UnsupportedVersion {
                ours: VERSION,
                theirs: version,
            })
        }
        SessionRequest::Hello { .. } => Ok(Response::Hello {
            version: VERSION,
            max_frame: broker.limits.max_frame,
            server: format!("lockgate {}", env!("CARGO_PKG_VERSION")),
        }),
    }
}
