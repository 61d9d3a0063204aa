//! The consumer-group service: runs the pure [`group`](super::group) state machines for the
//! broker. It resolves start positions and queue bounds from the store, reads the messages a
//! take hands out, writes dead letters, persists progress, expires leases and sessions on a
//! ticker, and wakes waiting receivers. It does not speak the wire protocol beyond building
//! responses; subscription streams are driven by `transport`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use super::group::{AckRange, DeadLetter, Group, GroupSnapshot, Member, Policy, Settings};
use super::group_read::{MemberFilter, SharedFilter};
use super::{Broker, blocking, dead_letter, group_files, status_of};
use crate::config::GroupsConfig;
use crate::config::plugins::filter_stage;
use crate::plugin::FilterError;
use crate::protocol::FilterSpec;
use crate::protocol::{
    EncodedDeliveries, GroupInfo, GroupSummary, JoinRequest, MemberInfo, ProgressInfo, ResetTo,
    Response, StartPosition, Status,
};
use crate::storage::{StorageError, Store, TopicName, now_ms};

/// How often leases, retries and sessions are checked (lease expiry is this precise).
const TICK: Duration = Duration::from_millis(50);
/// A dead-letter write that failed is tried again after this.
const DEAD_LETTER_RETRY: Duration = Duration::from_secs(1);

/// The connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub id: u64,
    pub remote: SocketAddr,
}

/// Every group of the broker and the members connected to them.
pub(super) struct Groups {
    dir: PathBuf,
    config: GroupsConfig,
    by_name: Mutex<BTreeMap<String, Arc<GroupCell>>>,
    members: Mutex<HashMap<u64, MemberRef>>,
    next_member: AtomicU64,
}

struct MemberRef {
    cell: Arc<GroupCell>,
    conn: u64,
    remote: String,
    topic: String,
    /// The subscription's filter, as asked for and as running.
    filter: Option<(FilterSpec, SharedFilter)>,
}

pub(super) struct GroupCell {
    state: Mutex<Group>,
    /// Bumped when messages may have become ready without an append (retry due, leases
    /// released, queues rebalanced, a reset): waiting receivers look again.
    ready: watch::Sender<u64>,
}

impl GroupCell {
    fn new(group: Group) -> Arc<GroupCell> {
        Arc::new(GroupCell {
            state: Mutex::new(group),
            ready: watch::channel(0).0,
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Group> {
        self.state.lock().expect("group lock")
    }

    fn bump(&self) {
        self.ready.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Groups {
    /// Loads the persisted groups under `<data_dir>/groups/`.
    pub(super) fn open(
        data_dir: &std::path::Path,
        config: GroupsConfig,
    ) -> Result<Groups, StorageError> {
        let dir = group_files::dir_of(data_dir);
        let policy = policy_of(&config);
        let by_name = group_files::load_all(&dir)?
            .into_iter()
            .map(|snap| {
                (
                    snap.name.clone(),
                    GroupCell::new(Group::restore(&snap, policy.clone())),
                )
            })
            .collect();
        Ok(Groups {
            dir,
            config,
            by_name: Mutex::new(by_name),
            members: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
        })
    }

    fn cells(&self) -> Vec<(String, Arc<GroupCell>)> {
        let map = self.by_name.lock().expect("groups lock");
        map.iter().map(|(n, c)| (n.clone(), c.clone())).collect()
    }

    fn cell(&self, name: &str) -> Result<Arc<GroupCell>, Response> {
        let map = self.by_name.lock().expect("groups lock");
        map.get(name).cloned().ok_or_else(|| {
            Response::error(
                Status::UnknownGroup,
                format!("group {name:?} does not exist"),
            )
        })
    }

    pub(super) fn member(&self, id: u64) -> Result<(Arc<GroupCell>, String), Response> {
        let members = self.members.lock().expect("members lock");
        members
            .get(&id)
            .map(|m| (m.cell.clone(), m.topic.clone()))
            .ok_or_else(|| unknown_member(id))
    }

    fn forget_member(&self, id: u64) {
        self.members.lock().expect("members lock").remove(&id);
    }

    /// A member's group, topic and filter.
    pub(super) fn member_with_filter(
        &self,
        id: u64,
    ) -> Result<(Arc<GroupCell>, String, Option<SharedFilter>), Response> {
        let members = self.members.lock().expect("members lock");
        let m = members.get(&id).ok_or_else(|| unknown_member(id))?;
        let filter = m.filter.as_ref().map(|(_, f)| f.clone());
        Ok((m.cell.clone(), m.topic.clone(), filter))
    }

    fn settings_for(&self, j: &JoinRequest) -> Settings {
        let c = &self.config;
        Settings {
            mode: j.mode,
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
}

fn nonzero_or(v: u64, default: u64) -> u64 {
    if v == 0 { default } else { v }
}

fn policy_of(c: &GroupsConfig) -> Policy {
    Policy {
        retry_delays_ms: c
            .retry_delays
            .iter()
            .map(|d| d.as_millis() as u64)
            .collect(),
        ordered_retry_ms: c.ordered_retry_interval.as_millis() as u64,
    }
}

pub(super) fn unknown_member(id: u64) -> Response {
    Response::error(
        Status::UnknownMember,
        format!("member {id} is not in a group (it left, or missed its heartbeats); join again"),
    )
}

/// Group names follow topic names, and `%DLQ%<group>` must be a valid topic name too.
fn check_group_name(name: &str) -> Result<(), Response> {
    let invalid = |why: String| Response::error(Status::InvalidArgument, why);
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
pub(super) fn bounds_of(store: &Store, topic: &str) -> Result<Vec<(u64, u64)>, Response> {
    let info = store.describe_topic(topic).map_err(status_of)?;
    Ok(info.queues.iter().map(|q| (q.earliest, q.next)).collect())
}

/// How a take's reads are bounded in bytes.
#[derive(Debug, Clone, Copy)]
pub struct ByteBudget {
    pub max: usize,
    /// Deliver one message even if it alone is larger (long-poll receives); subscriptions
    /// never exceed their credit.
    pub at_least_one: bool,
}

impl Broker {
    pub(super) async fn group_join(
        &self,
        conn: &ConnInfo,
        j: JoinRequest,
    ) -> Result<Response, Response> {
        check_group_name(&j.group)?;
        self.check_same_filter(&j)?;
        let filter = match &j.filter {
            None => None,
            Some(spec) => Some(self.make_filter(&j.topic, spec).await?),
        };
        let store = self.store.clone();
        let (topic, start) = (j.topic.clone(), j.start);
        let starts = blocking(move || {
            let bounds = bounds_of(&store, &topic)?;
            bounds
                .iter()
                .enumerate()
                .map(|(q, &(earliest, end))| match start {
                    StartPosition::Latest => Ok(end),
                    StartPosition::Earliest => Ok(earliest),
                    StartPosition::Time(t) => store
                        .offset_for_time(&topic, q as u32, t)
                        .map_err(status_of),
                })
                .collect::<Result<Vec<u64>, Response>>()
        })
        .await?;
        let groups = &self.groups;
        let settings = groups.settings_for(&j);
        let id = groups.next_member.fetch_add(1, Ordering::Relaxed);
        let instance = if j.instance.is_empty() {
            format!("{}#{id}", conn.remote)
        } else {
            j.instance.clone()
        };
        let cell = {
            let mut map = groups.by_name.lock().expect("groups lock");
            map.entry(j.group.clone())
                .or_insert_with(|| {
                    GroupCell::new(Group::new(
                        &j.group,
                        settings.clone(),
                        policy_of(&groups.config),
                    ))
                })
                .clone()
        };
        {
            let mut g = cell.lock();
            let live = g.members().next().is_some();
            if live && g.settings().mode != j.mode {
                return Err(Response::error(
                    Status::GroupConflict,
                    format!(
                        "group {:?} is consuming in {} mode; it cannot take a {} member",
                        j.group,
                        g.settings().mode.name(),
                        j.mode.name()
                    ),
                ));
            }
            g.set_settings(settings.clone());
            g.join(
                Member {
                    id,
                    topic: j.topic.clone(),
                    instance,
                    conn: conn.id,
                    last_seen: now_ms(),
                },
                &starts,
            );
        }
        groups.members.lock().expect("members lock").insert(
            id,
            MemberRef {
                cell: cell.clone(),
                conn: conn.id,
                remote: conn.remote.to_string(),
                topic: j.topic.clone(),
                filter: j.filter.clone().zip(filter),
            },
        );
        cell.bump();
        tracing::debug!(group = %j.group, topic = %j.topic, member = id, mode = settings.mode.name(), "member joined");
        Ok(Response::Joined {
            member: id,
            lease_ms: settings.lease_ms,
            session_timeout_ms: settings.session_timeout_ms,
        })
    }

    /// A subscription is a group's filter on a topic: what one member filters out is done for
    /// all of them, so every live member of a group on a topic must use the same filter.
    fn check_same_filter(&self, j: &JoinRequest) -> Result<(), Response> {
        let members = self.groups.members.lock().expect("members lock");
        let cell = self
            .groups
            .by_name
            .lock()
            .expect("groups lock")
            .get(&j.group)
            .cloned();
        let Some(cell) = cell else { return Ok(()) };
        let other = members.values().find(|m| {
            Arc::ptr_eq(&m.cell, &cell)
                && m.topic == j.topic
                && m.filter.as_ref().map(|(spec, _)| spec) != j.filter.as_ref()
        });
        match other {
            Some(m) => Err(Response::error(
                Status::GroupConflict,
                format!(
                    "group {:?} consumes {:?} with filter {}; a member cannot join with filter {}",
                    j.group,
                    j.topic,
                    describe_filter(m.filter.as_ref().map(|(spec, _)| spec)),
                    describe_filter(j.filter.as_ref())
                ),
            )),
            None => Ok(()),
        }
    }

    /// A member's filter, as its topic's pipeline allows (blocking work on the pool: a
    /// built-in plugin may compile on first use).
    pub(super) async fn make_filter(
        &self,
        topic: &str,
        spec: &FilterSpec,
    ) -> Result<SharedFilter, Response> {
        let rejected = |m: String| Response::error(Status::FilterRejected, m);
        let stage =
            filter_stage(&self.pipelines.read().expect("pipelines lock"), topic).into_owned();
        if let Some(allow) = &stage.allow
            && !allow.contains(&spec.plugin)
        {
            return Err(rejected(format!(
                "filter plugin {:?} is not allowed on topic {topic:?} (allowed: {})",
                spec.plugin,
                allow.join(", ")
            )));
        }
        let plugins = self.plugins.clone();
        let spec = spec.clone();
        blocking(move || {
            let filter = plugins
                .filter(&spec.plugin, &spec.expression)
                .map_err(|e| match e {
                    FilterError::Expression { .. } | FilterError::UnknownPlugin(_) => {
                        rejected(e.to_string())
                    }
                    other => Response::error(Status::FilterFailed, other.to_string()),
                })?;
            let tags = plugins
                .slot(&spec.plugin)
                .ok()
                .filter(|s| s.spec().source == "builtin:tag")
                .and_then(|_| lockgate_filters::tag::TagFilter::parse(&spec.expression).ok())
                .and_then(|t| {
                    t.tags().map(|ts| {
                        ts.iter()
                            .map(|t| crate::storage::record::tag_hash(t))
                            .collect()
                    })
                })
                .map(Arc::new);
            Ok(Arc::new(Mutex::new(MemberFilter {
                filter,
                on_error: stage.on_error,
                tags,
            })))
        })
        .await
    }

    /// Removes a member; its leases are released at once.
    pub fn group_leave(&self, member: u64) -> Result<Response, Response> {
        let (cell, _) = self.groups.member(member)?;
        self.groups.forget_member(member);
        if cell.lock().leave(member) {
            cell.bump();
        }
        Ok(Response::Done)
    }

    /// A connection closed: its members leave (no need to wait for their session timeout).
    pub fn connection_closed(&self, conn: u64) {
        let gone: Vec<u64> = {
            let members = self.groups.members.lock().expect("members lock");
            members
                .iter()
                .filter(|(_, m)| m.conn == conn)
                .map(|(&id, _)| id)
                .collect()
        };
        for id in gone {
            let _ = self.group_leave(id);
        }
    }

    pub fn group_heartbeat(&self, member: u64) -> Result<Response, Response> {
        let (cell, _) = self.groups.member(member)?;
        let result = cell.lock().heartbeat(member, now_ms());
        result
            .map(|()| Response::Done)
            .map_err(|_| unknown_member(member))
    }

    /// What a waiting receiver watches: appends to the member's topic and the group's ready
    /// signal.
    pub fn group_watch(
        &self,
        member: u64,
    ) -> Result<(watch::Receiver<u64>, watch::Receiver<u64>), Response> {
        let (cell, topic) = self.groups.member(member)?;
        Ok((self.watch_appends(&topic), cell.ready.subscribe()))
    }

    /// Takes up to `max_messages` for a member and reads them, without waiting.
    pub async fn group_take(
        self: &Arc<Self>,
        member: u64,
        max_messages: usize,
        budget: ByteBudget,
    ) -> Result<EncodedDeliveries, Response> {
        let this = self.clone();
        blocking(move || this.take_and_read(member, max_messages, budget)).await
    }

    /// Long poll: takes messages, waiting up to `wait` for some.
    pub(super) async fn group_receive(
        self: &Arc<Self>,
        member: u64,
        max_messages: usize,
        budget: ByteBudget,
        wait: Duration,
    ) -> Result<Response, Response> {
        let deadline = tokio::time::Instant::now() + wait;
        self.group_heartbeat(member)?;
        let (mut appends, mut ready) = self.group_watch(member)?;
        loop {
            appends.mark_unchanged();
            ready.mark_unchanged();
            let got = self.group_take(member, max_messages, budget).await?;
            if got.count > 0 || tokio::time::Instant::now() >= deadline {
                return Ok(Response::EncodedDeliveries(got));
            }
            tokio::select! {
                _ = appends.changed() => {}
                _ = ready.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    pub(super) fn group_ack(
        self: &Arc<Self>,
        member: u64,
        ranges: &[AckRange],
        nack_reason: Option<&str>,
    ) -> Result<Response, Response> {
        let (cell, _) = self.groups.member(member)?;
        let now = now_ms();
        let (result, dead) = {
            let mut g = cell.lock();
            let r = match nack_reason {
                None => g.ack(member, now, ranges),
                Some(reason) => g.nack(member, now, ranges, reason),
            };
            (r, g.take_dead_letters())
        };
        self.spawn_dead_letters(&cell, dead);
        let (done, stale) = result.map_err(|_| unknown_member(member))?;
        if done == 0 && stale > 0 {
            return Err(Response::Error {
                status: Status::StaleLease,
                message: format!(
                    "none of the {stale} messages is leased to this member any more (expired, redelivered or unknown)"
                ),
                detail: stale,
            });
        }
        Ok(Response::Acked { done, stale })
    }

    /// Writes dead letters on the blocking pool; each is marked done once stored, and tried
    /// again later if the write fails.
    fn spawn_dead_letters(self: &Arc<Self>, cell: &Arc<GroupCell>, dead: Vec<DeadLetter>) {
        if dead.is_empty() {
            return;
        }
        let (this, cell) = (self.clone(), cell.clone());
        tokio::task::spawn_blocking(move || {
            let name = cell.lock().name().to_string();
            let mut failed = Vec::new();
            for d in dead {
                match dead_letter::write(&this.store, &name, &d, this.default_durability) {
                    Ok(()) => {
                        cell.lock().dead_lettered(&d);
                        tracing::info!(group = %name, topic = %d.topic, queue = d.queue, offset = d.offset, reason = %d.reason, "message dead-lettered");
                    }
                    Err(e) => {
                        tracing::error!(group = %name, error = %e, "cannot write a dead letter; will try again");
                        failed.push(d);
                    }
                }
            }
            cell.bump();
            if !failed.is_empty() {
                let handle = tokio::runtime::Handle::current();
                handle.spawn(async move {
                    tokio::time::sleep(DEAD_LETTER_RETRY).await;
                    this.spawn_dead_letters(&cell, failed);
                });
            }
        });
    }

    pub(super) fn group_list(&self) -> Response {
        let cells = self.groups.cells();
        Response::Groups(
            cells
                .iter()
                .map(|(name, cell)| {
                    let g = cell.lock();
                    GroupSummary {
                        name: name.clone(),
                        mode: g.settings().mode,
                        members: g.members().count() as u32,
                        topics: g.topics(),
                    }
                })
                .collect(),
        )
    }

    /// Members, settings and per-queue lag (blocking: reads queue bounds and index entries).
    pub(super) fn group_describe(&self, name: &str) -> Result<Response, Response> {
        let cell = self.groups.cell(name)?;
        let (settings, topics) = {
            let g = cell.lock();
            (g.settings().clone(), g.topics())
        };
        let mut ends: HashMap<String, Vec<u64>> = HashMap::new();
        for t in topics {
            let e = bounds_of(&self.store, &t)
                .map(|b| b.iter().map(|q| q.1).collect())
                .unwrap_or_default();
            ends.insert(t, e);
        }
        let now = now_ms();
        let (progress, members) = {
            let g = cell.lock();
            let progress = g.progress(|t| ends.get(t).cloned().unwrap_or_default());
            let remotes = self.groups.members.lock().expect("members lock");
            let members: Vec<MemberInfo> = g
                .members()
                .map(|m| MemberInfo {
                    id: m.id,
                    topic: m.topic.clone(),
                    instance: m.instance.clone(),
                    client: remotes
                        .get(&m.id)
                        .map(|r| r.remote.clone())
                        .unwrap_or_default(),
                    idle_ms: now.saturating_sub(m.last_seen).max(0) as u64,
                    queues: progress
                        .iter()
                        .filter(|p| p.topic == m.topic && p.owner == Some(m.id))
                        .map(|p| p.queue)
                        .collect(),
                })
                .collect();
            (progress, members)
        };
        let progress = progress
            .into_iter()
            .map(|p| {
                let oldest = if p.acked < p.end {
                    self.store
                        .stored_at(&p.topic, p.queue, p.acked)
                        .ok()
                        .flatten()
                        .unwrap_or(0)
                } else {
                    0
                };
                ProgressInfo {
                    topic: p.topic,
                    instance: p.instance,
                    queue: p.queue,
                    owner: p.owner.unwrap_or(0),
                    acked: p.acked,
                    end: p.end,
                    ready: p.ready,
                    in_flight: p.in_flight,
                    retrying: p.retrying,
                    oldest_unacked_at: oldest,
                }
            })
            .collect();
        Ok(Response::Group(GroupInfo {
            name: name.to_string(),
            settings,
            members,
            progress,
        }))
    }

    /// Moves a group's position on a topic (blocking). A group that does not exist yet is
    /// created (clustering, default settings), so a position can be set before consumers start.
    pub(super) fn group_reset(
        &self,
        name: &str,
        topic: &str,
        queue: Option<u32>,
        to: ResetTo,
    ) -> Result<Response, Response> {
        check_group_name(name)?;
        let bounds = bounds_of(&self.store, topic)?;
        if let Some(q) = queue.filter(|&q| q as usize >= bounds.len()) {
            return Err(Response::error(
                Status::UnknownQueue,
                format!(
                    "topic {topic:?} has {} queues; there is no queue {q}",
                    bounds.len()
                ),
            ));
        }
        let targets = bounds
            .iter()
            .enumerate()
            .map(|(q, &(earliest, end))| match to {
                ResetTo::Earliest => Ok(earliest),
                ResetTo::Latest => Ok(end),
                ResetTo::Offset(o) => Ok(o.clamp(earliest, end)),
                ResetTo::Time(t) => self
                    .store
                    .offset_for_time(topic, q as u32, t)
                    .map_err(status_of),
            })
            .collect::<Result<Vec<u64>, Response>>()?;
        let cell = {
            let mut map = self.groups.by_name.lock().expect("groups lock");
            map.entry(name.to_string())
                .or_insert_with(|| {
                    let defaults = JoinRequest {
                        group: name.to_string(),
                        topic: topic.to_string(),
                        instance: String::new(),
                        mode: super::group::Mode::Clustering,
                        start: StartPosition::Latest,
                        lease_ms: 0,
                        max_attempts: 0,
                        session_timeout_ms: 0,
                        filter: None,
                    };
                    GroupCell::new(Group::new(
                        name,
                        self.groups.settings_for(&defaults),
                        policy_of(&self.groups.config),
                    ))
                })
                .clone()
        };
        cell.lock().reset(topic, queue, &targets);
        cell.bump();
        tracing::info!(group = name, topic, ?queue, ?to, "group position reset");
        Ok(Response::Positions(
            targets
                .into_iter()
                .enumerate()
                .filter(|(q, _)| queue.is_none_or(|only| only as usize == *q))
                .map(|(q, o)| (q as u32, o))
                .collect(),
        ))
    }

    /// Deletes a group with no live members, and its persisted progress (blocking).
    pub(super) fn group_delete(&self, name: &str) -> Result<Response, Response> {
        let mut map = self.groups.by_name.lock().expect("groups lock");
        let Some(cell) = map.get(name) else {
            return Err(Response::error(
                Status::UnknownGroup,
                format!("group {name:?} does not exist"),
            ));
        };
        let live = cell.lock().members().count();
        if live > 0 {
            return Err(Response::error(
                Status::GroupConflict,
                format!("group {name:?} has {live} live members; stop them first"),
            ));
        }
        group_files::remove(&self.groups.dir, name).map_err(status_of)?;
        map.remove(name);
        Ok(Response::Done)
    }

    /// Starts the ticker that expires leases and sessions, wakes due retries, writes dead
    /// letters and persists changed groups. It stops when `stop` turns true.
    pub fn start_group_ticker(
        self: &Arc<Self>,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let interval = this.groups.config.persist_interval;
            let mut next_persist = tokio::time::Instant::now() + interval;
            loop {
                this.tick_groups();
                if tokio::time::Instant::now() >= next_persist {
                    next_persist += interval;
                    let t = this.clone();
                    let _ = tokio::task::spawn_blocking(move || t.persist_groups()).await;
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(TICK) => {}
                }
            }
        })
    }

    fn tick_groups(self: &Arc<Self>) {
        let now = now_ms();
        for (_, cell) in self.groups.cells() {
            let (gone, woke, dead) = {
                let mut g = cell.lock();
                let gone = g.expire_sessions(now);
                let woke = g.poll(now);
                (gone, woke, g.take_dead_letters())
            };
            for id in &gone {
                tracing::info!(member = id, "member removed: session timed out");
                self.groups.forget_member(*id);
            }
            if woke || !gone.is_empty() {
                cell.bump();
            }
            self.spawn_dead_letters(&cell, dead);
        }
    }

    /// Writes every group that changed since it was last written (blocking). A failure is
    /// logged and the group is written again next time.
    pub fn persist_groups(&self) {
        for (name, cell) in self.groups.cells() {
            let snap: Option<GroupSnapshot> = cell.lock().snapshot_if_dirty();
            let Some(snap) = snap else { continue };
            if let Err(e) = group_files::save(&self.groups.dir, &snap) {
                tracing::error!(group = %name, error = %e, "cannot persist group progress");
                cell.lock().mark_dirty();
            }
            // Deleted while it was being written: take the file back out.
            let deleted = !self
                .groups
                .by_name
                .lock()
                .expect("groups lock")
                .get(&name)
                .is_some_and(|c| Arc::ptr_eq(c, &cell));
            if deleted {
                let _ = group_files::remove(&self.groups.dir, &name);
            }
        }
    }
}

fn describe_filter(f: Option<&FilterSpec>) -> String {
    match f {
        None => "none".into(),
        Some(f) => format!("{}:{:?}", f.plugin, f.expression),
    }
}
