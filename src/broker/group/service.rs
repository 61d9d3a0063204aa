//! The consumer-group service: runs the pure [`Group`] state machines for the broker. It owns
//! the registry of groups and connected members, resolves queue bounds from the store, writes
//! dead letters and retries through the timer, persists progress, and wakes waiting receivers.
//! Its deadlines (leases, retries, sessions, persistence, failed writes tried again) are
//! driven by the broker's timer driver through [`Timed`]. It does not read messages for
//! members (`read`) nor speak the wire protocol (`handler`).

use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::state::{
    DeadLetter, Forward, Group, GroupSnapshot, Member, Mode, PluginRetry, Policy, Settings,
};
use super::{dead_letter, files, timer_retry};

mod admin;
use crate::broker::appends::Appends;
use crate::broker::delay::Delays;
use crate::broker::filters::SharedFilter;
use crate::broker::timer::{Rearm, Timed};
use crate::broker::{BrokerError, Result};
use crate::clock::Clock;
use crate::config::GroupsConfig;
use crate::metrics as m;
use crate::protocol::{self as wire, FilterSpec, JoinRequest, ResetTo, StartPosition};
use crate::storage::{Durability, Store, TopicName};

/// A dead-letter or retry write that failed is tried again after this.
const WRITE_RETRY: Duration = Duration::from_secs(1);

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub id: u64,
    pub remote: std::net::SocketAddr,
}

/// What [`Groups::open`] needs.
pub struct GroupsOptions {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub data_dir: PathBuf,
    pub config: GroupsConfig,
    /// Of the `%DLQ%` topics it creates.
    pub dead_letter_durability: Durability,
    pub appends: Arc<Appends>,
    /// The durable timer that group retries go through.
    pub delays: Arc<Delays>,
    pub rearm: Rearm,
    /// The pipelines (as reloaded) and the plugins their retry stages name.
    pub pipelines: Arc<parking_lot::RwLock<Vec<crate::config::plugins::PipelineConfig>>>,
    pub plugins: Arc<crate::plugin::Plugins>,
}

/// A failed message on its way out of a window.
pub(super) enum Moving {
    Dead(DeadLetter),
    Forward(Forward),
}

/// Every group of the broker and the members connected to them.
pub struct Groups {
    store: Arc<Store>,
    clock: Clock,
    dir: PathBuf,
    config: GroupsConfig,
    dead_letter_durability: Durability,
    appends: Arc<Appends>,
    delays: Arc<Delays>,
    rearm: Rearm,
    /// Lock order: `members`, then `by_name`, then a group's cell. `members` is never locked
    /// while a cell is, nor a cell while `members` is: [`Groups::describe`] and the access
    /// checks ([`Groups::group_of_member`]) took them in opposite orders and deadlocked.
    by_name: Mutex<BTreeMap<String, Arc<GroupCell>>>,
    /// Retry topics that exist: a take looks at a member's only once it does.
    retry_topics: Mutex<HashSet<String>>,
    members: Mutex<HashMap<u64, MemberRef>>,
    next_member: AtomicU64,
    /// When changed groups are written next (ms since the epoch).
    next_persist: AtomicI64,
    /// Dead letters and retries whose write failed, with when to try again.
    write_retries: Mutex<Vec<(Arc<GroupCell>, Moving, i64)>>,
    plugin_retry: PluginRetry,
    plugins: Arc<crate::plugin::Plugins>,
    /// Idle retry plugin instances, by plugin name.
    retry_pools: Mutex<HashMap<String, Vec<crate::plugin::stages::RetryPolicy>>>,
}

pub(super) struct MemberRef {
    pub cell: Arc<GroupCell>,
    conn: u64,
    remote: String,
    pub topic: String,
    /// The group's retry topic for `topic`, when its retries go through the timer.
    pub retry_topic: Option<String>,
    /// The subscription's filter, as asked for and as running.
    pub filter: Option<(FilterSpec, SharedFilter)>,
}

pub struct GroupCell {
    state: Mutex<Group>,
    /// Bumped when messages may have become ready without an append (retry due, leases
    /// released, queues rebalanced, a reset): waiting receivers look again.
    ready: watch::Sender<u64>,
    /// Store → first delivery, and store → ack, of this group's messages.
    pub(super) delivery_latency: m::Buckets,
    ack_latency: m::Buckets,
}

impl GroupCell {
    fn new(group: Group) -> Arc<GroupCell> {
        Arc::new(GroupCell {
            state: Mutex::new(group),
            ready: watch::channel(0).0,
            delivery_latency: m::Buckets::default(),
            ack_latency: m::Buckets::default(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Group> {
        self.state.lock()
    }

    fn bump(&self) {
        self.ready.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// What a join brings besides its request.
pub struct Joining {
    pub conn: ConnInfo,
    /// Per queue, where a new subscription starts.
    pub starts: Vec<u64>,
    pub filter: Option<SharedFilter>,
}

/// Keeps a member alive while a long poll or subscription of it is pending.
pub struct Hold {
    groups: Arc<Groups>,
    member: u64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Ok(cell) = self.groups.cell_of(self.member) {
            cell.lock().unhold(self.member, self.groups.clock.now_ms());
            self.groups.rearm.wake();
        }
    }
}

impl Groups {
    /// Loads the persisted groups under `<data_dir>/groups/`.
    pub fn open(o: GroupsOptions) -> Result<Groups> {
        let dir = files::dir_of(&o.data_dir);
        let plugin_retry = PluginRetry::new(o.pipelines.clone());
        let policy = policy_of(&o.config, &plugin_retry);
        let by_name = files::load_all(&dir)?
            .into_iter()
            .map(|snap| {
                (
                    snap.name.clone(),
                    GroupCell::new(Group::restore(&snap, policy.clone())),
                )
            })
            .collect();
        let first_persist = o.clock.now_ms() + o.config.persist_interval.as_millis() as i64;
        let retry_topics = o
            .store
            .list_topics()
            .into_iter()
            .map(|t| t.name.to_string())
            .filter(|t| timer_retry::is_retry_topic(t))
            .collect();
        Ok(Groups {
            plugin_retry,
            plugins: o.plugins,
            retry_pools: Mutex::new(HashMap::new()),
            store: o.store,
            dir,
            dead_letter_durability: o.dead_letter_durability,
            appends: o.appends,
            delays: o.delays,
            rearm: o.rearm,
            config: o.config,
            clock: o.clock,
            by_name: Mutex::new(by_name),
            retry_topics: Mutex::new(retry_topics),
            members: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
            next_persist: AtomicI64::new(first_persist),
            write_retries: Mutex::new(Vec::new()),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn cells(&self) -> Vec<(String, Arc<GroupCell>)> {
        let map = self.by_name.lock();
        map.iter().map(|(n, c)| (n.clone(), c.clone())).collect()
    }

    fn cell(&self, name: &str) -> Result<Arc<GroupCell>> {
        let map = self.by_name.lock();
        map.get(name)
            .cloned()
            .ok_or_else(|| BrokerError::UnknownGroup(name.to_string()))
    }

    fn cell_of(&self, member: u64) -> Result<Arc<GroupCell>> {
        self.with_member(member, |m| m.cell.clone())
    }

    /// The group a member belongs to (for access checks); `None` for an unknown member.
    pub fn group_of_member(&self, id: u64) -> Option<String> {
        let cell = self.cell_of(id).ok()?;
        let name = cell.lock().name().to_string();
        Some(name)
    }

    /// Something of a connected member. `f` runs under the members' lock: it must not lock a
    /// group (see the lock order on [`Groups`]).
    pub(super) fn with_member<T>(&self, id: u64, f: impl FnOnce(&MemberRef) -> T) -> Result<T> {
        let members = self.members.lock();
        members
            .get(&id)
            .map(f)
            .ok_or(BrokerError::UnknownMember(id))
    }

    fn settings_for(&self, j: &JoinRequest) -> Settings {
        let c = &self.config;
        Settings {
            mode: j.mode.into(),
            lease_ms: nonzero_or(j.lease_ms, c.lease.as_millis() as u64),
            max_attempts: if j.max_attempts == 0 {
                c.max_attempts
            } else {
                j.max_attempts
            },
            session_timeout_ms: nonzero_or(
                j.session_timeout_ms,
                c.session_timeout.as_millis() as u64,
            ),
        }
    }

    /// Adds a member to its group (created on first join) and returns its id and settings.
    pub fn join(&self, j: &JoinRequest, joining: Joining) -> Result<(u64, Settings)> {
        check_group_name(&j.group)?;
        let settings = self.settings_for(j);
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let instance = if j.instance.is_empty() {
            format!("{}#{id}", joining.conn.remote)
        } else {
            j.instance.clone()
        };
        let cell = {
            let mut map = self.by_name.lock();
            map.entry(j.group.clone())
                .or_insert_with(|| {
                    GroupCell::new(Group::new(
                        &j.group,
                        settings.clone(),
                        policy_of(&self.config, &self.plugin_retry),
                    ))
                })
                .clone()
        };
        let retry_topic = {
            let mut g = cell.lock();
            let live = g.members().next().is_some();
            let mode: Mode = j.mode.into();
            if live && g.settings().mode != mode {
                return Err(BrokerError::GroupConflict(format!(
                    "group {:?} is consuming in {} mode; it cannot take a {} member",
                    j.group,
                    g.settings().mode.name(),
                    mode.name()
                )));
            }
            g.set_settings(settings.clone());
            g.join(
                Member {
                    id,
                    topic: j.topic.clone(),
                    instance,
                    conn: joining.conn.id,
                    last_seen: self.clock.now_ms(),
                    held: 0,
                },
                &joining.starts,
            );
            g.retry_topic(&j.topic)
        };
        if crate::metrics::enabled() {
            crate::metrics::known::group_topic(&j.group, &j.topic);
        }
        if let Some(retry) = &retry_topic {
            // Retries stored in the retry topic wake the topic's waiting receivers.
            self.appends.link(retry, &j.topic);
        }
        self.members.lock().insert(
            id,
            MemberRef {
                cell: cell.clone(),
                conn: joining.conn.id,
                remote: joining.conn.remote.to_string(),
                topic: j.topic.clone(),
                retry_topic,
                filter: j.filter.clone().zip(joining.filter),
            },
        );
        cell.bump();
        self.rearm.wake();
        tracing::debug!(group = %j.group, topic = %j.topic, member = id, mode = settings.mode.name(), "member joined");
        Ok((id, settings))
    }

    /// A subscription is a group's filter on a topic: what one member filters out is done for
    /// all of them, so every live member of a group on a topic must use the same filter.
    pub fn check_same_filter(&self, j: &JoinRequest) -> Result<()> {
        let members = self.members.lock();
        let cell = self.by_name.lock().get(&j.group).cloned();
        let Some(cell) = cell else { return Ok(()) };
        let other = members.values().find(|m| {
            Arc::ptr_eq(&m.cell, &cell)
                && m.topic == j.topic
                && m.filter.as_ref().map(|(spec, _)| spec) != j.filter.as_ref()
        });
        match other {
            Some(m) => Err(BrokerError::GroupConflict(format!(
                "group {:?} consumes {:?} with filter {}; a member cannot join with filter {}",
                j.group,
                j.topic,
                describe_filter(m.filter.as_ref().map(|(spec, _)| spec)),
                describe_filter(j.filter.as_ref())
            ))),
            None => Ok(()),
        }
    }

    /// Removes a member; its leases are released at once.
    pub fn leave(&self, member: u64) -> Result<()> {
        let cell = self.cell_of(member)?;
        self.members.lock().remove(&member);
        if cell.lock().leave(member) {
            cell.bump();
        }
        Ok(())
    }

    /// A connection closed: its members leave (no need to wait for their session timeout).
    pub fn connection_closed(&self, conn: u64) {
        let gone: Vec<u64> = {
            let members = self.members.lock();
            members
                .iter()
                .filter(|(_, m)| m.conn == conn)
                .map(|(&id, _)| id)
                .collect()
        };
        for id in gone {
            let _ = self.leave(id);
        }
    }

    pub fn heartbeat(&self, member: u64) -> Result<()> {
        let cell = self.cell_of(member)?;
        let result = cell.lock().heartbeat(member, self.clock.now_ms());
        result.map_err(|_| BrokerError::UnknownMember(member))
    }

    /// Keeps `member` alive until the returned hold is dropped (a pending `Receive`, an open
    /// subscription stream).
    pub fn hold(self: &Arc<Self>, member: u64) -> Result<Hold> {
        let cell = self.cell_of(member)?;
        cell.lock()
            .hold(member)
            .map_err(|_| BrokerError::UnknownMember(member))?;
        self.rearm.wake();
        Ok(Hold {
            groups: self.clone(),
            member,
        })
    }

    /// How many long polls and subscriptions of `member` are pending, if it is in a group
    /// (for operators and tests: a held member does not time out).
    pub fn holds(&self, member: u64) -> Option<u32> {
        let cell = self.cell_of(member).ok()?;
        cell.lock().member(member).map(|m| m.held)
    }

    /// What a waiting receiver watches: appends to the member's topic and the group's ready
    /// signal.
    pub fn watch(&self, member: u64) -> Result<(watch::Receiver<u64>, watch::Receiver<u64>)> {
        let (topic, ready) =
            self.with_member(member, |m| (m.topic.clone(), m.cell.ready.subscribe()))?;
        Ok((self.appends.watch(&topic), ready))
    }

    /// Acks (or, with a reason, nacks) ranges of a member's deliveries: `(done, stale)`.
    /// Dead letters this decides are written on the blocking pool. Call it inside the runtime.
    pub fn ack(
        self: &Arc<Self>,
        member: u64,
        ranges: &[wire::AckRange],
        nack_reason: Option<&str>,
    ) -> Result<(u64, u64)> {
        let cell = self.cell_of(member)?;
        let now = self.clock.now_ms();
        let (result, out, capped) = {
            let mut g = cell.lock();
            let r = match nack_reason {
                None => g.ack(member, now, ranges),
                Some(reason) => g.nack(member, now, ranges, reason),
            };
            (r, moving_of(&mut g), g.take_capped())
        };
        if capped {
            // A member held to its fair share may take more now that leases are settled.
            cell.bump();
        }
        if nack_reason.is_some() {
            self.rearm.wake(); // a retry deadline
        }
        if !out.is_empty() {
            let (this, cell) = (self.clone(), cell.clone());
            tokio::task::spawn_blocking(move || this.write_out(&cell, out));
        }
        let (done, stale) = result.map_err(|_| BrokerError::UnknownMember(member))?;
        if done == 0 && stale > 0 {
            return Err(BrokerError::StaleLease { stale });
        }
        if nack_reason.is_none() && done > 0 && m::enabled() {
            self.record_ack_latency(member, &cell, ranges, now);
        }
        Ok((done, stale))
    }

    /// Store → ack, per acked range by its first message's store time (one index read per
    /// range, not per message).
    fn record_ack_latency(
        &self,
        member: u64,
        cell: &GroupCell,
        ranges: &[wire::AckRange],
        now: i64,
    ) {
        let Ok((topic, retry)) =
            self.with_member(member, |m| (m.topic.clone(), m.retry_topic.clone()))
        else {
            return;
        };
        for r in ranges {
            let (topic, queue) = match &retry {
                Some(t) if r.queue >= timer_retry::RETRY_QUEUE => {
                    (t.as_str(), r.queue - timer_retry::RETRY_QUEUE)
                }
                _ => (topic.as_str(), r.queue),
            };
            if let Ok(Some(stored)) = self.store.stored_at(topic, queue, r.offset) {
                cell.ack_latency
                    .record_many(m::seconds_between(stored, now), u64::from(r.count));
            }
        }
    }

    /// A take's leases end at `expiry`: the driver looks again only if it sleeps past that
    /// (a busy group's takes then cost no wakeups).
    pub(super) fn leased(&self, expiry: i64) {
        self.rearm.wake_before(expiry);
    }

    /// Whether a retry topic was created: a take looks at it only then.
    pub(super) fn retry_topic_exists(&self, topic: &str) -> bool {
        self.retry_topics.lock().contains(topic)
    }

    /// Writes failed messages out of their windows (blocking): dead letters to `%DLQ%`, retries
    /// to the timer. Each is marked done once stored; a failed write is tried again after
    /// [`WRITE_RETRY`], by the timer driver.
    pub(super) fn write_out(&self, cell: &Arc<GroupCell>, out: Vec<Moving>) {
        if out.is_empty() {
            return;
        }
        let (name, max_attempts) = {
            let g = cell.lock();
            (g.name().to_string(), g.settings().max_attempts)
        };
        let mut failed = Vec::new();
        let mut forwards = Vec::new();
        for m in out {
            let d = match m {
                Moving::Forward(f) => {
                    forwards.push(f);
                    continue;
                }
                Moving::Dead(d) => d,
            };
            match dead_letter::write(&self.store, &name, &d, self.dead_letter_durability) {
                Ok(()) => {
                    cell.lock().dead_lettered(&d);
                    metrics::counter!(m::GROUP_DEAD_LETTERS_TOTAL, "group" => name.clone(), "topic" => d.topic.clone()).increment(1);
                    tracing::info!(group = %name, topic = %d.topic, queue = d.queue, offset = d.offset, reason = %d.reason, "message dead-lettered");
                }
                Err(e) => {
                    crate::error_limited!("dead letter", group = %name, error = %e, "cannot write a dead letter; will try again");
                    failed.push(Moving::Dead(d));
                }
            }
        }
        if !forwards.is_empty() {
            let policy = policy_of(&self.config, &self.plugin_retry);
            let writer = timer_retry::Writer {
                store: &self.store,
                delays: &self.delays,
                group: &name,
                delays_ms: &policy.retry_delays_ms,
                max_attempts,
                now: self.clock.now_ms(),
                durability: self.dead_letter_durability,
                plugin_retry: &self.plugin_retry,
                decide: &|plugin, failures| self.retry_decide(plugin, failures),
            };
            let (done, again) = timer_retry::write(&writer, forwards);
            {
                let mut known = self.retry_topics.lock();
                // A first forward may have created its topic's retry topic.
                let first = done
                    .iter()
                    .filter(|f| !timer_retry::is_retry_topic_of(&name, &f.topic));
                known.extend(first.filter_map(|f| timer_retry::topic_of(&name, &f.topic)));
            }
            let mut g = cell.lock();
            for f in &done {
                g.forwarded(f);
            }
            drop(g);
            failed.extend(again.into_iter().map(Moving::Forward));
            // Windows moved on: write them soon, so a crash does not deliver a message both
            // from its queue and, later, from the retry topic.
            self.persist_soon();
        }
        cell.bump();
        if !failed.is_empty() {
            let at = self.clock.now_ms() + WRITE_RETRY.as_millis() as i64;
            let mut retries = self.write_retries.lock();
            retries.extend(failed.into_iter().map(|m| (cell.clone(), m, at)));
            self.rearm.wake();
        }
    }

    /// Asks retry plugin `plugin` about failed deliveries (an idle instance of it, or a new
    /// one; blocking).
    fn retry_decide(
        &self,
        plugin: &str,
        failures: &[crate::plugin::stages::FailedDelivery],
    ) -> std::result::Result<Vec<crate::plugin::stages::Decision>, String> {
        let idle = self.retry_pools.lock().get_mut(plugin).and_then(Vec::pop);
        let mut policy = match idle {
            Some(p) => p,
            None => self.plugins.retry(plugin).map_err(|e| e.to_string())?,
        };
        let decided = policy.decide(failures).map_err(|e| e.to_string());
        self.retry_pools
            .lock()
            .entry(plugin.to_string())
            .or_default()
            .push(policy);
        decided
    }

    /// Brings the next persistence forward to now.
    fn persist_soon(&self) {
        let now = self.clock.now_ms();
        self.next_persist.fetch_min(now, Ordering::AcqRel);
        self.rearm.wake();
    }

    /// Each group's latency histograms: (name, store → first delivery, store → ack).
    pub fn latencies(&self, mut each: impl FnMut(&str, &m::Buckets, &m::Buckets)) {
        for (name, cell) in self.cells() {
            each(&name, &cell.delivery_latency, &cell.ack_latency);
        }
    }

    /// Writes every group that changed since it was last written (blocking). A failure is
    /// logged and the group is written again next time.
    pub fn persist(&self) {
        for (name, cell) in self.cells() {
            let snap: Option<GroupSnapshot> = cell.lock().snapshot_if_dirty();
            let Some(snap) = snap else { continue };
            if let Err(e) = files::save(&self.dir, &snap) {
                crate::error_limited!("group persist", group = %name, error = %e, "cannot persist group progress; the last saved progress stays");
                cell.lock().mark_dirty();
            }
            // Deleted while it was being written: take the file back out.
            let deleted = !self
                .by_name
                .lock()
                .get(&name)
                .is_some_and(|c| Arc::ptr_eq(c, &cell));
            if deleted {
                let _ = files::remove(&self.dir, &name);
            }
        }
    }
}

impl Timed for Groups {
    fn next_deadline(&self) -> Option<i64> {
        let groups = self
            .cells()
            .into_iter()
            .filter_map(|(_, c)| c.lock().next_deadline());
        let retries = self.write_retries.lock().iter().map(|(_, _, at)| *at).min();
        let persist = self.next_persist.load(Ordering::Acquire);
        groups.chain(retries).chain([persist]).min()
    }

    /// Expires sessions and leases, wakes due retries, writes dead letters and retries through
    /// the timer, tries failed writes again, and persists changed groups when their interval is
    /// up.
    fn poll(&self, now: i64) {
        for (_, cell) in self.cells() {
            let (gone, woke, out) = {
                let mut g = cell.lock();
                let gone = g.expire_sessions(now);
                let woke = g.poll(now);
                (gone, woke, moving_of(&mut g))
            };
            if !gone.is_empty() {
                let mut members = self.members.lock();
                for id in &gone {
                    tracing::info!(member = id, "member removed: session timed out");
                    members.remove(id);
                }
            }
            if woke || !gone.is_empty() {
                cell.bump();
            }
            self.write_out(&cell, out);
        }
        let due: Vec<(Arc<GroupCell>, Moving)> = {
            let mut retries = self.write_retries.lock();
            let (due, later) = std::mem::take(&mut *retries)
                .into_iter()
                .partition(|(_, _, at)| *at <= now);
            *retries = later;
            due.into_iter().map(|(c, m, _)| (c, m)).collect()
        };
        for (cell, m) in due {
            self.write_out(&cell, vec![m]);
        }
        if self.next_persist.load(Ordering::Acquire) <= now {
            let interval = self.config.persist_interval.as_millis() as i64;
            self.next_persist
                .store(now + interval.max(1), Ordering::Release);
            self.persist();
        }
    }
}

/// What a group decided to move out of its windows since the last call.
pub(super) fn moving_of(g: &mut Group) -> Vec<Moving> {
    let dead = g.take_dead_letters().into_iter().map(Moving::Dead);
    dead.chain(g.take_forwards().into_iter().map(Moving::Forward))
        .collect()
}

fn nonzero_or(v: u64, default: u64) -> u64 {
    if v == 0 { default } else { v }
}

fn policy_of(c: &GroupsConfig, plugin_retry: &PluginRetry) -> Policy {
    Policy {
        plugin_retry: plugin_retry.clone(),
        retry_delays_ms: c
            .retry_delays
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect(),
        ordered_retry_ms: c.ordered_retry_interval.as_millis() as u64,
        timer_retry_ms: c.timer_retry_threshold.map(|d| d.as_millis() as u64),
    }
}

/// Group names follow topic names, and `%DLQ%<group>` must be a valid topic name too.
fn check_group_name(name: &str) -> Result<()> {
    let invalid = |why: String| BrokerError::InvalidArgument(why);
    let parsed = TopicName::new(name).map_err(|e| invalid(format!("group name: {e}")))?;
    if parsed.is_reserved() {
        return Err(invalid(format!("group name {name:?} is reserved")));
    }
    TopicName::new(&dead_letter::topic_of(name)).map_err(|_| {
        invalid(format!(
            "group name {name:?} is too long (at most 250 characters)"
        ))
    })?;
    Ok(())
}

/// One queue's `(earliest, end)` bounds, for every queue of a topic.
pub(super) fn bounds_of(store: &Store, topic: &str) -> Result<Vec<(u64, u64)>> {
    let info = store.describe_topic(topic)?;
    Ok(info.queues.iter().map(|q| (q.earliest, q.next)).collect())
}

fn describe_filter(f: Option<&FilterSpec>) -> String {
    match f {
        None => "none".into(),
        Some(f) => format!("{}:{:?}", f.plugin, f.expression),
    }
}
