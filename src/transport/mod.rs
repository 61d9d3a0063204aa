//! The front door: the QUIC endpoint (`server`) and the TLS-over-TCP listener (`tcp`), their
//! set-up (TLS, limits), connections and streams. Moves frames between the network and the
//! [`Broker`](crate::broker::Broker), and maps broker errors to wire statuses (`status`, the
//! one place that does). A stream is served by the same code on both (`stream` hides which).
//! Knows storage only as errors to map.

mod access;
mod check_stream;
mod server;
pub mod status;
mod stream;
mod subscription;
mod tcp;

pub use server::{Endpoint, EndpointError, EndpointOptions};
