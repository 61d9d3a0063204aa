//! Which Lockgate interfaces a component exports, found when it is linked: a plugin implements
//! one or more worlds (a filter, a router, …), and every use checks that the plugin has the one
//! it needs. Filters of 0.1.0 and 0.2.0 are the same interface under two names.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre, ResourceAny};

use super::bindings::HostState;
use super::bindings::exports::lockgate::{plugin0_1_0 as v1, plugin0_2_0 as v2};

pub(super) use v2::{dedup, retry, router};

/// One of the roles a plugin can play (a world of `lockgate:plugin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Filter,
    Router,
    Dedup,
    Retry,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Filter, Role::Router, Role::Dedup, Role::Retry];

    /// As in logs, metrics labels and configuration: `filter`, `router`, `dedup`, `retry`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Filter => "filter",
            Role::Router => "router",
            Role::Dedup => "dedup",
            Role::Retry => "retry",
        }
    }

    /// The world a plugin of this role is built for.
    pub fn world(self) -> &'static str {
        match self {
            Role::Filter => "lockgate:plugin/filter-plugin@0.2.0",
            Role::Router => "lockgate:plugin/router-plugin@0.2.0",
            Role::Dedup => "lockgate:plugin/dedup-plugin@0.2.0",
            Role::Retry => "lockgate:plugin/retry-plugin@0.2.0",
        }
    }
}

const FILTER_V2: &str = "lockgate:plugin/filter@0.2.0";
const FILTER_V1: &str = "lockgate:plugin/filter@0.1.0";
const ROUTER: &str = "lockgate:plugin/router@0.2.0";
const DEDUP: &str = "lockgate:plugin/dedup@0.2.0";
const RETRY: &str = "lockgate:plugin/retry@0.2.0";

/// A filter export, of either version.
pub(super) enum FilterExport {
    V2(v2::filter::GuestIndices),
    V1(v1::filter::GuestIndices),
}

/// A filter export of one instance, ready to call.
pub(super) enum FilterGuest {
    V2(v2::filter::Guest),
    V1(v1::filter::Guest),
}

impl FilterGuest {
    /// `matcher.create`: the matcher, or the expression's error (position, message).
    pub fn create(
        &self,
        store: &mut Store<HostState>,
        expression: &str,
        config: &[(String, String)],
    ) -> wasmtime::Result<Result<ResourceAny, (u32, String)>> {
        Ok(match self {
            FilterGuest::V2(g) => g
                .matcher()
                .call_create(store, expression, config)?
                .map_err(|e| (e.position, e.message)),
            FilterGuest::V1(g) => g
                .matcher()
                .call_create(store, expression, config)?
                .map_err(|e| (e.position, e.message)),
        })
    }

    pub fn decide(
        &self,
        store: &mut Store<HostState>,
        matcher: ResourceAny,
        topic: &str,
        batch: &[u8],
    ) -> wasmtime::Result<Vec<u8>> {
        match self {
            FilterGuest::V2(g) => g.matcher().call_decide(store, matcher, topic, batch),
            FilterGuest::V1(g) => g.matcher().call_decide(store, matcher, topic, batch),
        }
    }
}

/// The Lockgate interfaces one component exports.
pub(super) struct Exports {
    pub filter: Option<FilterExport>,
    pub router: Option<router::GuestIndices>,
    pub dedup: Option<dedup::GuestIndices>,
    pub retry: Option<retry::GuestIndices>,
}

impl Exports {
    /// Looks the interfaces up; a component exporting none of them is not a plugin. Names are
    /// matched exactly (wasmtime's own lookup would let a 0.1.0 export answer for 0.2.0), and
    /// an interface whose functions do not fit is refused with the reason.
    pub fn find(pre: &InstancePre<HostState>) -> Result<Exports, String> {
        let engine = pre.engine();
        let names: std::collections::HashSet<String> = pre
            .component()
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let has = |name: &str| names.contains(name);
        let check = |name: &str, e: wasmtime::Error| {
            format!(
                "its export {name} does not match Lockgate's: {}",
                super::one_line(&e)
            )
        };
        let filter = if has(FILTER_V2) {
            Some(FilterExport::V2(
                v2::filter::GuestIndices::new(pre).map_err(|e| check(FILTER_V2, e))?,
            ))
        } else if has(FILTER_V1) {
            Some(FilterExport::V1(
                v1::filter::GuestIndices::new(pre).map_err(|e| check(FILTER_V1, e))?,
            ))
        } else {
            None
        };
        let router = has(ROUTER)
            .then(|| router::GuestIndices::new(pre).map_err(|e| check(ROUTER, e)))
            .transpose()?;
        let dedup = has(DEDUP)
            .then(|| dedup::GuestIndices::new(pre).map_err(|e| check(DEDUP, e)))
            .transpose()?;
        let retry = has(RETRY)
            .then(|| retry::GuestIndices::new(pre).map_err(|e| check(RETRY, e)))
            .transpose()?;
        let exports = Exports {
            filter,
            router,
            dedup,
            retry,
        };
        if exports.roles().is_empty() {
            return Err(
                "it implements none of Lockgate's plugin worlds (filter-plugin, router-plugin, dedup-plugin or retry-plugin of lockgate:plugin@0.2.0, or filter-plugin of 0.1.0): it exports no lockgate:plugin interface".into(),
            );
        }
        Ok(exports)
    }

    pub fn roles(&self) -> Vec<Role> {
        let mut roles = Vec::new();
        if self.filter.is_some() {
            roles.push(Role::Filter);
        }
        if self.router.is_some() {
            roles.push(Role::Router);
        }
        if self.dedup.is_some() {
            roles.push(Role::Dedup);
        }
        if self.retry.is_some() {
            roles.push(Role::Retry);
        }
        roles
    }

    /// The worlds implemented, by their full names (a 0.1.0 filter as 0.1.0's).
    pub fn worlds(&self) -> Vec<&'static str> {
        self.roles()
            .into_iter()
            .map(|r| match (r, &self.filter) {
                (Role::Filter, Some(FilterExport::V1(_))) => "lockgate:plugin/filter-plugin@0.1.0",
                (r, _) => r.world(),
            })
            .collect()
    }

    pub fn load_filter(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> Option<wasmtime::Result<FilterGuest>> {
        Some(match self.filter.as_ref()? {
            FilterExport::V2(i) => i.load(store, instance).map(FilterGuest::V2),
            FilterExport::V1(i) => i.load(store, instance).map(FilterGuest::V1),
        })
    }
}
