//! The Plugin family: PluginList (120), PluginReload (121) and PluginStats (122).

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
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            PluginRequest::List | PluginRequest::Stats => {}
            PluginRequest::Reload { name } => put_str16(buf, name),
        }
    }

    fn decode(kind: PluginKind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            PluginKind::PluginList => PluginRequest::List,
            PluginKind::PluginStats => PluginRequest::Stats,
            PluginKind::PluginReload => PluginRequest::Reload {
                name: r.str16("plugin")?,
            },
        })
    }
}
