//! The scrape endpoint: a minimal HTTP/1.1 server on `[metrics] listen` answering
//! `GET /metrics` with the Prometheus text format (recorded series, then scraped ones), one
//! request per connection. Anything else gets 404 or 405; a request head that is too large or
//! too slow is dropped. It serves nothing but metrics, so it needs no HTTP library.
//!
//! With `[auth] mode = "required"` a scrape must present a token (`Authorization: Bearer
//! TOKEN`, as Prometheus' `authorization` scrape setting sends it) whose principal may
//! describe the broker: the series name every topic and group. Without one it gets 401, with
//! a principal that may not 403.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::scrape::Scraper;

/// Longest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// A client must send its request head within this.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the exporter's histogram samples are folded into buckets.
const UPKEEP: Duration = Duration::from_secs(1);

/// Aborts a task when dropped (with the task that owns it).
struct DropAbort(JoinHandle<()>);

impl Drop for DropAbort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The running endpoint; dropping it stops it.
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `listen` and serves scrapes until dropped.
    pub async fn start(
        listen: SocketAddr,
        recorded: PrometheusHandle,
        scraper: Scraper,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let upkeep = recorded.clone();
        let state = Arc::new((recorded, scraper));
        let task = tokio::spawn(async move {
            // The exporter keeps histogram samples until they are folded into their buckets:
            // fold them often, scraped or not, so they cost bounded memory.
            let _upkeep = DropAbort(tokio::spawn(async move {
                let mut every = tokio::time::interval(UPKEEP);
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            }));
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve(stream, state.clone()));
                    }
                    Err(e) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        crate::error_limited!("metrics accept", error = %e, "cannot accept a metrics scrape");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(MetricsServer { addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Asked {
    /// With the bearer token the request presented, if any.
    Metrics(Option<String>),
    NotFound,
    BadMethod,
    Malformed,
}

fn parse_head(head: &[u8]) -> Asked {
    let Some(line) = head.split(|&b| b == b'\n').next() else {
        return Asked::Malformed;
    };
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Asked::Malformed;
    };
    if !version.starts_with("HTTP/1.") {
        return Asked::Malformed;
    }
    if method != "GET" {
        return Asked::BadMethod;
    }
    let path = target.split('?').next().unwrap_or_default();
    if path == "/metrics" {
        Asked::Metrics(bearer(head))
    } else {
        Asked::NotFound
    }
}

/// The token of an `Authorization: Bearer TOKEN` header line, if there is one.
fn bearer(head: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(head);
    head.lines().skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("authorization") {
            return None;
        }
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    })
}

async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(head);
        }
        if head.len() > MAX_HEAD {
            return None;
        }
    }
}

async fn serve(mut stream: TcpStream, state: Arc<(PrometheusHandle, Scraper)>) {
    let Ok(Some(head)) = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await else {
        return;
    };
    let (status, body) = match parse_head(&head) {
        Asked::Metrics(token) if let Err(refused) = allowed(&state.1, token.as_deref()) => refused,
        Asked::Metrics(_) => {
            let rendered = tokio::task::spawn_blocking(move || {
                let mut text = state.0.render();
                text.push_str(&state.1.render());
                text
            })
            .await;
            match rendered {
                Ok(text) => ("200 OK", text),
                Err(e) => ("500 Internal Server Error", format!("scrape failed: {e}\n")),
            }
        }
        Asked::NotFound => ("404 Not Found", "only /metrics is served here\n".into()),
        Asked::BadMethod => (
            "405 Method Not Allowed",
            "only GET /metrics is served here\n".into(),
        ),
        Asked::Malformed => ("400 Bad Request", "not an HTTP/1 request\n".into()),
    };
    let challenge = if status.starts_with("401") {
        "WWW-Authenticate: Bearer realm=\"lockgate\"\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {status}\r\n{challenge}Content-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Whether a scrape presenting `token` may read the metrics: `Err` is the status and body to
/// answer with (counted as a refusal).
fn allowed(scraper: &Scraper, token: Option<&str>) -> Result<(), (&'static str, String)> {
    use crate::auth::AuthError;
    let refused = match (scraper.authorize)(token) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let (status, name) = match refused {
        AuthError::NotAuthenticated(_) => ("401 Unauthorized", "NotAuthenticated"),
        _ => ("403 Forbidden", "NotAuthorized"),
    };
    metrics::counter!(super::AUTH_FAILURES_TOTAL, "status" => name).increment(1);
    crate::warn_limited!("metrics auth refusal", reason = %refused, "a metrics scrape was refused");
    Err((status, format!("{refused}\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_metrics_is_served() {
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\n\r\n"),
            Asked::Metrics(None)
        );
        assert_eq!(
            parse_head(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Asked::Metrics(None)
        );
        assert_eq!(
            parse_head(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\nauthorization: bearer lgt_abc \r\n\r\n"
            ),
            Asked::Metrics(Some("lgt_abc".into()))
        );
        assert_eq!(
            parse_head(b"GET /metrics HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n"),
            Asked::Metrics(None)
        );
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\n\r\n"), Asked::NotFound);
        assert_eq!(
            parse_head(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Asked::BadMethod
        );
        assert_eq!(parse_head(b"hello\r\n\r\n"), Asked::Malformed);
        assert_eq!(parse_head(b"GET /metrics SPDY/3\r\n\r\n"), Asked::Malformed);
    }
}
