//! The Plugin family: PluginList (120) and PluginReload (121).

use crate::codec::{ReadError, Reader, put_str16};

use super::{Family, Kind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginRequest {
    List,
    /// Reloads the named plugin from its source.
    Reload {
        name: String,
    },
}

impl Family for PluginRequest {
    fn kind(&self) -> Kind {
        match self {
            PluginRequest::List => Kind::PluginList,
            PluginRequest::Reload { .. } => Kind::PluginReload,
        }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            PluginRequest::List => {}
            PluginRequest::Reload { name } => put_str16(buf, name),
        }
    }

    fn decode(kind: Kind, r: &mut Reader<'_>) -> Result<Self, ReadError> {
        Ok(match kind {
            Kind::PluginList => PluginRequest::List,
            _ => PluginRequest::Reload {
                name: r.str16("plugin")?,
            },
        })
    }
}
