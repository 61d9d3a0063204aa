//! The TLS-over-TCP transport's own rules, seen from raw TLS connections and the Rust client:
//! records that break the framing, pings and the idle timeout, admission shared with QUIC,
//! shutdown's close record, many streams at once, and `listen_tcp = "off"`. (Every other
//! protocol test also runs over TCP: `scripts/test` runs them with
//! `LOCKGATE_TEST_TRANSPORT=tcp`.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::server::{start, test_config};
use lockgate::client::{Client, ClientOptions, Transport};
use lockgate::config::{Config, TcpListen};
use lockgate::protocol::tcp::{CONNECTION, PREFIX_LEN, Prefix, TcpOp};
use lockgate::server::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

fn tcp_options(running: &Running, dir: &std::path::Path) -> ClientOptions {
    ClientOptions {
        server: running.local_tcp_addr().expect("TCP listener on"),
        server_name: "localhost".into(),
        ca: dir.join("tls/ca.pem"),
        client_cert: None,
        token: None,
        transport: Transport::Tcp,
    }
}

/// A TLS connection to the TCP listener, with nothing sent yet.
async fn raw(running: &Running, dir: &std::path::Path) -> Tls {
    let config = lockgate::client::tls::client_config(&dir.join("tls/ca.pem"), None).unwrap();
    let tcp = tokio::net::TcpStream::connect(running.local_tcp_addr().unwrap())
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads records until a `close` one; returns its code and reason.
async fn close_record(tls: &mut Tls) -> (u32, String) {
    let read = async {
        loop {
            let mut p = [0u8; PREFIX_LEN];
            tls.read_exact(&mut p).await.unwrap();
            let p = Prefix::decode(&p);
            match TcpOp::from_u8(p.op) {
                Some(TcpOp::Close) => {
                    assert_eq!(p.stream, CONNECTION);
                    let code = tls.read_u32_le().await.unwrap();
                    let mut reason = vec![0u8; tls.read_u16_le().await.unwrap() as usize];
                    tls.read_exact(&mut reason).await.unwrap();
                    return (code, String::from_utf8(reason).unwrap());
                }
                Some(TcpOp::Ping) => {}
                other => panic!("expected a close record, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("a close record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_that_break_the_framing_close_the_connection_with_code_3_and_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let cases: [(&[u8], &str); 3] = [
        (&[1, 0, 0, 0, 9], "unknown record op 9"),
        (
            &[0, 0, 0, 0, TcpOp::Frame as u8],
            "a frame record on stream 0",
        ),
        (&[0, 0, 0, 0, TcpOp::Fin as u8], "a fin record on stream 0"),
    ];
    for (record, says) in cases {
        let mut tls = raw(&running, dir.path()).await;
        tls.write_all(record).await.unwrap();
        tls.flush().await.unwrap();
        let (code, reason) = close_record(&mut tls).await;
        assert_eq!(code, lockgate::client::mux::CLOSE_PROTOCOL, "{reason}");
        assert!(reason.contains(says), "{says:?} not in {reason:?}");
    }
    // The server goes on serving.
    let client = Client::connect(&tcp_options(&running, dir.path()))
        .await
        .unwrap();
    assert_eq!(client.ping(3).await.unwrap(), 3);
    client.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_is_answered_and_a_silent_connection_ends_at_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.idle_timeout = Duration::from_millis(300);
    let running = start(&config).await;
    let mut tls = raw(&running, dir.path()).await;
    let ping = Prefix::new(CONNECTION, TcpOp::Ping).encode();
    tls.write_all(&ping).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = [0u8; PREFIX_LEN];
    tls.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, ping, "the server answers a ping with a ping");
    // Silent from here: the server ends the connection (no more bytes, then the end).
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the idle connection was never closed");
    assert!(rest.is_empty(), "nothing but the end: {rest:?}");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_and_tcp_connections_count_against_one_max_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.max_connections = 2;
    let running = start(&config).await;
    let mut quic_opts = tcp_options(&running, dir.path());
    quic_opts.server = running.local_addr();
    quic_opts.transport = Transport::Quic;
    let quic = Client::connect(&quic_opts).await.unwrap();
    let tcp = Client::connect(&tcp_options(&running, dir.path()))
        .await
        .unwrap();
    for (what, opts) in [
        ("TCP", tcp_options(&running, dir.path())),
        ("QUIC", quic_opts.clone()),
    ] {
        match Client::connect(&opts).await {
            Ok(_) => panic!("a third ({what}) connection got in"),
            Err(e) => assert!(e.to_string().contains("cannot reach"), "{what}: {e}"),
        }
    }
    // A place given back is taken again, over TCP.
    tcp.close().await;
    let again = async {
        loop {
            if let Ok(c) = Client::connect(&tcp_options(&running, dir.path())).await {
                return c;
            }
            tokio::task::yield_now().await;
        }
    };
    let again = tokio::time::timeout(Duration::from_secs(30), again)
        .await
        .expect("the closed connection's place was never given back");
    assert_eq!(again.ping(1).await.unwrap(), 1);
    assert_eq!(quic.ping(2).await.unwrap(), 2);
    again.close().await;
    quic.close().await;
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_tcp_connections_with_code_0() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let mut tls = raw(&running, dir.path()).await;
    // A ping answered: the server has the connection.
    tls.write_all(&Prefix::new(CONNECTION, TcpOp::Ping).encode())
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let mut answer = [0u8; PREFIX_LEN];
    tls.read_exact(&mut answer).await.unwrap();
    let stopping = tokio::spawn(running.stop());
    let (code, reason) = close_record(&mut tls).await;
    assert_eq!((code, reason.as_str()), (0, "server shutting down"));
    drop(tls);
    stopping.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_calls_at_once_share_one_tcp_connection() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(&test_config(dir.path())).await;
    let client = Client::connect(&tcp_options(&running, dir.path()))
        .await
        .unwrap();
    // More than the client's 1,024 open streams: the rest wait for a stream to end.
    let calls = (0..3000u64).map(|n| {
        let client = client.clone();
        async move { client.ping(n).await }
    });
    let answers = all_at_once(calls).await;
    for (n, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.unwrap(), n as u64);
    }
    client.close().await;
    running.stop().await.unwrap();
}

/// Runs the futures side by side on tasks and gives their outputs in order.
async fn all_at_once<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_tcp_off_serves_quic_only_and_the_key_parses_both_ways() {
    let off = Config::parse("[server]\nlisten_tcp = \"off\"\n").unwrap();
    assert_eq!(off.server.listen_tcp, TcpListen::Off);
    assert_eq!(off.server.tcp_address(), None);
    let at = Config::parse("[server]\nlisten_tcp = \"127.0.0.1:7999\"\n").unwrap();
    assert_eq!(
        at.server.tcp_address(),
        Some("127.0.0.1:7999".parse().unwrap())
    );
    let unset = Config::parse("[server]\nlisten = \"127.0.0.1:7001\"\n").unwrap();
    assert_eq!(
        unset.server.tcp_address(),
        Some("127.0.0.1:7001".parse().unwrap()),
        "unset: QUIC's address, over TCP"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.server.listen_tcp = TcpListen::Off;
    let running = start(&config).await;
    assert_eq!(running.local_tcp_addr(), None);
    running.stop().await.unwrap();
}
