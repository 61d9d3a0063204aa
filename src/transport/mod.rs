//! The QUIC front door: endpoint set-up (TLS, limits), connections and streams. Moves frames
//! between the network and the [`Broker`](crate::broker::Broker); knows nothing of storage.

mod server;
mod subscription;
pub mod tls;

pub use server::{Endpoint, EndpointError, EndpointOptions};
