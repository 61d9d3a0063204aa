//! The Plugin family: list the server's plugins, reload one from its source, their counters,
//! and where each one's load stands.

use std::sync::atomic::Ordering::Relaxed;

use crate::protocol::{PluginCounters, PluginEntry, PluginRequest, Response};

use super::{Broker, Result, blocking};

pub(super) async fn handle(broker: &Broker, r: PluginRequest) -> Result<Response> {
    let plugins = broker.filters.plugins().clone();
    match r {
        PluginRequest::List => Ok(Response::Plugins(
            plugins.list().into_iter().map(entry_of).collect(),
        )),
        PluginRequest::Stats => Ok(Response::PluginCounters(
            broker
                .plugin_stats()
                .into_iter()
                .map(|(name, _, s)| PluginCounters {
                    name,
                    creates: s.creates.load(Relaxed),
                    calls: s.calls.load(Relaxed),
                    messages: s.messages.load(Relaxed),
                    traps: s.traps.load(Relaxed),
                    timeouts: s.timeouts.load(Relaxed),
                    memory: s.memory.load(Relaxed),
                    bad_answers: s.bad_answers.load(Relaxed),
                })
                .collect(),
        )),
        PluginRequest::State => Ok(Response::PluginStates(plugins.health())),
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
