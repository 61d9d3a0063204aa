//! The Plugin family: PluginList (120), PluginReload (121), PluginStats (122) and
//! PluginState (123).

use crate::codec::{ReadError, Reader, put_str16};

use super::{Family, Kind, PluginKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRequest {
    List,
    /// Reloads the named plugin from its source.
    Reload {
        name: String,
    },
    /// Every plugin's call and failure counters.
    Stats,
    /// Every plugin's load state, compile time and last error.
    State,
}

wire_u8_enum! {
    /// Where a plugin's load stands.
    pub enum LoadState, "a load state" {
        /// A built-in not used yet (it compiles on first use).
        Unused = 0 => "unused",
        /// Compiling in the background after a start without a compiled copy of it.
        Compiling = 1 => "compiling",
        Loaded = 2 => "loaded",
        /// Its last load failed and nothing of it is loaded.
        Failed = 3 => "failed",
    }
}

/// A plugin's load state, how its last load went, and its last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginHealth {
    pub name: String,
    pub state: LoadState,
    /// The last load took the compiled copy from the cache.
    pub from_cache: bool,
    /// How long the last successful load took (0: none yet).
    pub load_ms: u64,
    /// When it was loaded, ms since the Unix epoch (0: not loaded).
    pub loaded_at: i64,
    /// The last failure: a load that failed, or a call (trap, timeout, memory, bad answer),
    /// with its reason; empty: none since the broker started.
    pub last_error: String,
    /// When that happened, ms since the Unix epoch (0: none).
    pub last_error_at: i64,
}

impl PluginHealth {
    pub(super) fn encode(&self, buf: &mut Vec<u8>) {
        put_str16(buf, &self.name);
        buf.push(self.state as u8);
        buf.push(u8::from(self.from_cache));
        buf.extend_from_slice(&self.load_ms.to_le_bytes());
        buf.extend_from_slice(&self.loaded_at.to_le_bytes());
        put_str16(buf, &self.last_error);
        buf.extend_from_slice(&self.last_error_at.to_le_bytes());
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<PluginHealth, ReadError> {
        Ok(PluginHealth {
            name: r.str16("plugin")?,
            state: LoadState::read(r, "load state")?,
            from_cache: r.u8("from cache")? != 0,
            load_ms: r.u64("load ms")?,
            loaded_at: r.i64("loaded at")?,
            last_error: r.str16("last error")?,
            last_error_at: r.i64("last error at")?,
        })
    }
}

/// A plugin's counters since it was loaded (a reload starts them again). A built-in not used
/// yet has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCounters {
    pub name: String,
    /// Instances made (each ran the guest's `create` once).
    pub creates: u64,
    /// Calls (one decides a batch) and the messages they decided.
    pub calls: u64,
    pub messages: u64,
    /// Failed calls, by kind.
    pub traps: u64,
    pub timeouts: u64,
    pub memory: u64,
    pub bad_answers: u64,
}

impl PluginCounters {
    pub(super) fn encode(&self, buf: &mut Vec<u8>) {
        put_str16(buf, &self.name);
        for v in [
            self.creates,
            self.calls,
            self.messages,
            self.traps,
            self.timeouts,
            self.memory,
            self.bad_answers,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<PluginCounters, ReadError> {
        Ok(PluginCounters {
            name: r.str16("plugin")?,
            creates: r.u64("creates")?,
            calls: r.u64("calls")?,
            messages: r.u64("messages")?,
            traps: r.u64("traps")?,
            timeouts: r.u64("timeouts")?,
            memory: r.u64("memory failures")?,
            bad_answers: r.u64("bad answers")?,
        })
    }
}

impl Family for PluginRequest {
    type Kinds = PluginKind;

    fn kind(&self) -> Kind {
        match self {
            PluginRequest::List => Kind::PluginList,
            PluginRequest::Reload { .. } => Kind::PluginReload,
            PluginRequest::Stats => Kind::PluginStats,
            PluginRequest::State => Kind::PluginState,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            PluginRequest::List | PluginRequest::Stats | PluginRequest::State => {}
            PluginRequest::Reload { name } => put_str16(buf, name),
        }
    }

    fn decode(kind: PluginKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            PluginKind::PluginList => PluginRequest::List,
            PluginKind::PluginStats => PluginRequest::Stats,
            PluginKind::PluginState => PluginRequest::State,
            PluginKind::PluginReload => PluginRequest::Reload {
                name: r.str16("plugin")?,
            },
        })
    }
}
