//! A plugin instance's stdout and stderr: each line goes to the broker's log, tagged with the
//! plugin and the stream (stdout at info, stderr at warn), and the end of stderr is kept so
//! that a failure can say what the guest printed before it (a Python traceback, a JS
//! `Error`). Bounded: a line is cut at [`MAX_LINE`] bytes, at most [`BUDGET`] bytes per stream
//! are logged per minute (what is held back is counted and said once the minute is over), and
//! [`TAIL`] bytes of stderr are kept.
//!
//! Guests see an ordinary, always-ready output stream: writing never blocks or fails.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line logged; the rest of it is dropped.
pub const MAX_LINE: usize = 1024;
/// Bytes per stream logged per [`WINDOW`].
pub const BUDGET: usize = 64 << 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Bytes of stderr kept for failure reports.
pub const TAIL: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

struct State {
    line: Vec<u8>,
    tail: VecDeque<u8>,
    window_start: Instant,
    logged: usize,
    held_back: usize,
}

/// One stream of one plugin instance (cheap to clone: clones share it).
#[derive(Clone)]
pub struct GuestOutput {
    plugin: Arc<str>,
    stream: Stream,
    state: Arc<Mutex<State>>,
}

impl GuestOutput {
    pub fn new(plugin: Arc<str>, stream: Stream) -> GuestOutput {
        GuestOutput {
            plugin,
            stream,
            state: Arc::new(Mutex::new(State {
                line: Vec::new(),
                tail: VecDeque::new(),
                window_start: Instant::now(),
                logged: 0,
                held_back: 0,
            })),
        }
    }

    /// The last [`TAIL`] bytes written to stderr (lossy UTF-8, trimmed), also a line not
    /// ended yet.
    pub fn tail(&self) -> String {
        let st = self.state.lock();
        let bytes: Vec<u8> = st.tail.iter().copied().collect();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }

    fn push(&self, bytes: &[u8]) {
        let mut st = self.state.lock();
        if self.stream == Stream::Stderr {
            st.tail.extend(bytes);
            let excess = st.tail.len().saturating_sub(TAIL);
            st.tail.drain(..excess);
        }
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut st.line);
                self.emit(&mut st, &line);
            } else if st.line.len() < MAX_LINE {
                st.line.push(b);
            }
        }
    }

    fn emit(&self, st: &mut State, line: &[u8]) {
        if st.window_start.elapsed() >= WINDOW {
            if st.held_back > 0 {
                tracing::warn!(plugin = %self.plugin, stream = self.stream.name(), bytes = st.held_back,
                    "guest output held back (more than {BUDGET} bytes a minute)");
            }
            st.window_start = Instant::now();
            st.logged = 0;
            st.held_back = 0;
        }
        if st.logged + line.len() > BUDGET {
            st.held_back += line.len() + 1;
            return;
        }
        st.logged += line.len() + 1;
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        match self.stream {
            Stream::Stdout => tracing::info!(plugin = %self.plugin, stream = "stdout", "{text}"),
            Stream::Stderr => tracing::warn!(plugin = %self.plugin, stream = "stderr", "{text}"),
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_keeps_its_tail_and_lines_are_bounded() {
        let out = GuestOutput::new("filter:x".into(), Stream::Stderr);
        let mut w = out.clone();
        w.write(Bytes::from_static(
            b"Traceback (most recent call last):\n  File \"app.py\"\n",
        ))
        .unwrap();
        w.write(Bytes::from_static(b"ValueError: bad")).unwrap();
        assert!(out.tail().ends_with("ValueError: bad"), "{}", out.tail());
        assert!(out.tail().starts_with("Traceback"));
        let long = vec![b'x'; TAIL * 3];
        w.write(Bytes::from(long)).unwrap();
        assert_eq!(out.tail().len(), TAIL, "only the end is kept");
        assert!(out.state.lock().line.len() <= MAX_LINE);
        let stdout = GuestOutput::new("filter:x".into(), Stream::Stdout);
        stdout.push(b"hello\n");
        assert_eq!(stdout.tail(), "", "stdout keeps no tail");
        assert_eq!(w.check_write().unwrap(), 64 << 10, "always ready");
    }

    #[test]
    fn a_chatty_guest_is_held_to_its_budget() {
        let out = GuestOutput::new("filter:x".into(), Stream::Stdout);
        let line = vec![b'y'; 999];
        for _ in 0..200 {
            out.push(&line);
            out.push(b"\n");
        }
        let st = out.state.lock();
        assert!(st.logged <= BUDGET, "{}", st.logged);
        assert!(st.held_back >= 200 * 1000 - BUDGET, "{}", st.held_back);
    }
}
