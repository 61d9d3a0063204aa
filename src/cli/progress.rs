//! `--quiet` runs of `produce` and `consume`: a count instead of a line per message, a
//! progress line on stderr while it is a terminal, and one summary line at the end.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::json;

use super::output::emit;

/// How often the progress line is redrawn.
const EVERY: Duration = Duration::from_millis(500);

pub struct Progress {
    /// What is counted, as the summary's key: "produced" or "consumed".
    verb: &'static str,
    count: u64,
    started: Instant,
    drawn: Instant,
    terminal: bool,
}

impl Progress {
    pub fn new(verb: &'static str) -> Progress {
        let now = Instant::now();
        Progress {
            verb,
            count: 0,
            started: now,
            drawn: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Counts `n` more; redraws the progress line when it is due.
    pub fn add(&mut self, n: u64) {
        self.count += n;
        if self.terminal && self.drawn.elapsed() >= EVERY {
            self.drawn = Instant::now();
            self.draw("");
        }
    }

    fn rate(&self) -> (f64, f64) {
        let seconds = self.started.elapsed().as_secs_f64();
        (seconds, self.count as f64 / seconds.max(1e-9))
    }

    fn draw(&self, end: &str) {
        let (seconds, rate) = self.rate();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} {} in {seconds:.1} s ({rate:.0}/s){end}",
            self.count, self.verb
        );
        let _ = err.flush();
    }

    /// The last progress line (on a terminal) and the summary on stdout:
    /// `{"<verb>": N, "seconds": S, "per_second": R}`.
    pub fn finish(self) {
        if self.terminal {
            self.draw("\n");
        }
        let (seconds, rate) = self.rate();
        emit(json!({
            self.verb: self.count,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "per_second": rate.round() as u64,
        }));
    }
}
