//! A flood of handshakes that never finish does not lock real clients out: only established
//! connections count against `server.max_connections`, a server with many handshakes in
//! progress asks new clients to prove their address first (a stateless Retry), and unfinished
//! handshakes are dropped after a short timeout.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{client_options, start, test_config};
use lockgate::client::Client;
use quinn::crypto::rustls::QuicClientConfig;

/// Sends each of `n` clients' first handshake packet from its own socket, and never answers:
/// the sockets are returned open and are never read.
fn first_packets(server: SocketAddr, ca: &std::path::Path, n: usize) -> Vec<UdpSocket> {
    let mut endpoint = quinn_proto::Endpoint::new(
        Arc::new(quinn_proto::EndpointConfig::default()),
        None,
        false,
        None,
    );
    let tls = lockgate::tls::client_config(ca, None).unwrap();
    let config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()));
    (0..n)
        .map(|_| {
            let (_, mut conn) = endpoint
                .connect(Instant::now(), config.clone(), server, "localhost")
                .unwrap();
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut buf = Vec::new();
            while let Some(t) = conn.poll_transmit(Instant::now(), 1, &mut buf) {
                socket.send_to(&buf[..t.size], t.destination).unwrap();
                buf.clear();
            }
            socket
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_flood_does_not_lock_out_a_real_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.max_connections = 100;
    let running = start(&config).await;
    let opts = client_options(&running, dir.path());
    let _flood = first_packets(running.local_addr(), &opts.ca, 120);

    let started = Instant::now();
    let client = tokio::time::timeout(Duration::from_secs(1), Client::connect(&opts))
        .await
        .expect("a real client connects within a second of the flood")
        .expect("and is not refused");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(client.ping(7).await.unwrap(), 7);
    client.close().await;
    running.stop().await.unwrap();
}
