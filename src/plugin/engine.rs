//! The one wasmtime [`Engine`] of the broker (component model, Cranelift `Speed`, epoch
//! interruption), its linker with the host imports, and the [`Ticker`] thread that advances
//! the epoch so that a guest past its deadline is interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, OptLevel};

use super::PluginError;
use super::bindings::{Broker, HostState};

/// One epoch tick: call time limits are counted in these.
pub const TICK: Duration = Duration::from_millis(1);

/// Ticks the ticker goes on for after the last deadline it was armed for has passed.
const GRACE: u64 = 1000;

pub struct PluginEngine {
    pub engine: Engine,
    pub linker: Linker<HostState>,
    pub ticker: Arc<Ticker>,
}

/// Advances the engine's epoch every [`TICK`] while a guest may be running — until every
/// deadline it was armed for has passed, and a grace of a second more — and sleeps otherwise.
/// A broker whose plugins are idle does not wake a thousand times a second (that cost about 3%
/// of the server's CPU under load, in context switches); one busy with plugins arms it often
/// enough that it never sleeps, so arming is a few atomic operations and no wake-up.
pub struct Ticker {
    /// Ticks so far.
    ticks: AtomicU64,
    /// Tick on while `ticks` is below this.
    until: AtomicU64,
    grace: u64,
    parked: AtomicBool,
    stop: AtomicBool,
    thread: std::sync::OnceLock<Thread>,
}

impl Ticker {
    /// Starts the ticker thread for `engine`.
    fn start(engine: Engine, grace: u64) -> std::io::Result<Arc<Ticker>> {
        let ticker = Arc::new(Ticker {
            ticks: AtomicU64::new(0),
            until: AtomicU64::new(0),
            grace,
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            thread: std::sync::OnceLock::new(),
        });
        let t = ticker.clone();
        let handle = std::thread::Builder::new()
            .name("lockgate-epoch".into())
            .spawn(move || t.run(&engine))?;
        let _ = ticker.thread.set(handle.thread().clone());
        Ok(ticker)
    }

    fn run(&self, engine: &Engine) {
        while !self.stop.load(SeqCst) {
            if self.ticks.load(SeqCst) >= self.until.load(SeqCst) {
                // Announce the sleep, then look again: an `arm` either sees `parked` and
                // wakes this thread, or was done before the second look, which then sees it.
                self.parked.store(true, SeqCst);
                if self.ticks.load(SeqCst) >= self.until.load(SeqCst) && !self.stop.load(SeqCst) {
                    std::thread::park();
                }
                self.parked.store(false, SeqCst);
                continue;
            }
            std::thread::sleep(TICK);
            self.ticks.fetch_add(1, SeqCst);
            engine.increment_epoch();
        }
    }

    /// Keeps the epoch moving for a deadline `ticks` ticks from now (and the grace after it).
    pub fn arm(&self, ticks: u64) {
        let until = self.ticks.load(SeqCst) + ticks + self.grace;
        self.until.fetch_max(until, SeqCst);
        if self.parked.load(SeqCst) {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Whether the thread is asleep (nothing armed).
    #[cfg(test)]
    fn sleeping(&self) -> bool {
        self.parked.load(SeqCst)
    }
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticker.stop.store(true, SeqCst);
        self.ticker.wake();
    }
}

impl PluginEngine {
    pub fn new() -> Result<PluginEngine, PluginError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            // Plugins are called synchronously; without this every call pays ≈ 3× (MEASURED.md).
            .concurrency_support(false);
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        Broker::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Engine(e.to_string()))?;
        let ticker = Ticker::start(engine.clone(), GRACE)
            .map_err(|e| PluginError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(PluginEngine {
            engine,
            linker,
            ticker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `cond` until it holds (the ticker runs on real time; each wait is a few ticks).
    fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "never: {what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_ticker_sleeps_until_armed_and_ticks_past_the_deadline_and_grace() {
        let engine = Engine::new(Config::new().epoch_interruption(true)).unwrap();
        let ticker = Ticker::start(engine, 3).unwrap();
        eventually("asleep with nothing armed", || ticker.sleeping());
        assert_eq!(
            ticker.ticks.load(SeqCst),
            0,
            "no tick while nothing is armed"
        );
        for round in 1..=3u64 {
            let from = ticker.ticks.load(SeqCst);
            ticker.arm(5);
            eventually("awake once armed", || ticker.ticks.load(SeqCst) > from);
            eventually("asleep again", || ticker.sleeping());
            let ticked = ticker.ticks.load(SeqCst) - from;
            assert!(
                ticked >= 8,
                "round {round}: {ticked} ticks, the deadline and grace are 8"
            );
        }
        ticker.stop.store(true, SeqCst);
        ticker.wake();
    }
}
