//! The one place that generates bindings for the WIT contract (`wit/plugin.wit`), and the
//! host side of its imports: logging and the clock. Guests get nothing else but a WASI
//! context without files, sockets, environment, arguments or preopened directories; their
//! stdout and stderr go to the broker's log (`output`).

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::output::{GuestOutput, Stream};

// What the broker links every plugin against: the imports of every guest world (0.1.0's too)
// and every interface a plugin may export. A plugin exports some of them; `Worlds` notes which.
wasmtime::component::bindgen!({
    inline: "
        package lockgate:broker;

        world broker {
            import lockgate:plugin/host@0.2.0;
            import lockgate:plugin/host@0.1.0;
            export lockgate:plugin/filter@0.2.0;
            export lockgate:plugin/filter@0.1.0;
            export lockgate:plugin/router@0.2.0;
            export lockgate:plugin/dedup@0.2.0;
            export lockgate:plugin/retry@0.2.0;
        }
    ",
    path: ["wit", "wit/v0.1.0"],
});

use self::lockgate::plugin0_1_0::host as host_v1;
use self::lockgate::plugin0_2_0::host::{self, Level};

/// What a plugin instance's store holds.
pub struct HostState {
    /// `kind:name`, for logs.
    pub plugin: Arc<str>,
    /// The guest's stderr, whose end a failure report quotes.
    pub stderr: GuestOutput,
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    clock: crate::clock::Clock,
}

impl HostState {
    pub fn new(plugin: Arc<str>, memory_limit: usize, clock: crate::clock::Clock) -> HostState {
        let stderr = GuestOutput::new(plugin.clone(), Stream::Stderr);
        let wasi = WasiCtx::builder()
            .stdout(GuestOutput::new(plugin.clone(), Stream::Stdout))
            .stderr(stderr.clone())
            .build();
        HostState {
            plugin,
            stderr,
            clock,
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                inner: wasmtime::StoreLimitsBuilder::new()
                    .memory_size(memory_limit)
                    .instances(64)
                    .tables(64)
                    .memories(16)
                    .build(),
                max_memory: memory_limit,
                denied: false,
            },
        }
    }
}

/// The store's limits, remembering whether a memory growth was refused (so a trap that
/// follows can be reported as the memory limit).
pub struct Limiter {
    inner: StoreLimits,
    max_memory: usize,
    pub denied: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok =
            desired <= self.max_memory && self.inner.memory_growing(current, desired, maximum)?;
        if !ok {
            self.denied = true;
        }
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn now_ms(&mut self) -> i64 {
        self.clock.now_ms()
    }
}

/// 0.1.0's host interface is 0.2.0's.
impl host_v1::Host for HostState {
    fn log(&mut self, level: host_v1::Level, message: String) {
        let level = match level {
            host_v1::Level::Debug => Level::Debug,
            host_v1::Level::Info => Level::Info,
            host_v1::Level::Warn => Level::Warn,
            host_v1::Level::Error => Level::Error,
        };
        host::Host::log(self, level, message)
    }

    fn now_ms(&mut self) -> i64 {
        host::Host::now_ms(self)
    }
}
