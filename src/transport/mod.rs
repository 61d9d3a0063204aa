//! The QUIC front door: endpoint set-up (TLS, limits), connections and streams. Moves frames
//! between the network and the [`Broker`](crate::broker::Broker), and maps broker errors to
//! wire statuses (`status`, the one place that does). Knows storage only as errors to map.

mod access;
mod check_stream;
mod server;
pub mod status;
mod subscription;

pub use server::{Endpoint, EndpointError, EndpointOptions};
