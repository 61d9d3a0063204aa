//! The Plugin family: list the server's plugins, reload one from its source.

use crate::protocol::{PluginEntry, PluginRequest, Response};

use super::{Broker, Result, blocking};

pub(super) async fn handle(broker: &Broker, r: PluginRequest) -> Result<Response> {
    let plugins = broker.filters.plugins().clone();
    match r {
        PluginRequest::List => Ok(Response::Plugins(
            plugins.list().into_iter().map(entry_of).collect(),
        )),
        PluginRequest::Reload { name } => {
            blocking(move || {
                let p = plugins.reload(&name)?;
                Ok(Response::Plugins(vec![entry_of(p)]))
            })
            .await
        }
    }
}

fn entry_of(p: crate::plugin::PluginInfo) -> PluginEntry {
    PluginEntry {
        name: p.name,
        kind: p.kind,
        source: p.source,
        generation: p.generation,
    }
}
