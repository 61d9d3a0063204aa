//! The groups' administration: listing and describing groups (members, filters, backlog per
//! queue), moving a group's position, deleting a group. Reads and changes the same registry
//! as the rest of the service; no delivery path passes here.

use super::*;

impl Groups {
    pub fn list(&self) -> Vec<wire::GroupSummary> {
        self.cells()
            .iter()
            .map(|(name, cell)| {
                let g = cell.lock();
                wire::GroupSummary {
                    name: name.clone(),
                    mode: g.settings().mode.into(),
                    members: g.members().count() as u32,
                    topics: g.topics(),
                }
            })
            .collect()
    }

    /// Members, settings and per-queue lag (blocking: reads queue bounds and index entries).
    pub fn describe(&self, name: &str) -> Result<wire::GroupInfo> {
        let cell = self.cell(name)?;
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
        // Taken before the group's lock, never under it (the lock order on `Groups`).
        let remotes: HashMap<u64, String> = {
            let members = self.members.lock();
            members
                .iter()
                .filter(|(_, m)| Arc::ptr_eq(&m.cell, &cell))
                .map(|(&id, m)| (id, m.remote.clone()))
                .collect()
        };
        let now = self.clock.now_ms();
        let (progress, members) = {
            let g = cell.lock();
            let progress = g.progress(|t| ends.get(t).cloned().unwrap_or_default());
            let members: Vec<wire::MemberInfo> = g
                .members()
                .map(|m| wire::MemberInfo {
                    id: m.id,
                    topic: m.topic.clone(),
                    instance: m.instance.clone(),
                    client: remotes.get(&m.id).cloned().unwrap_or_default(),
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
                wire::ProgressInfo {
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
        Ok(wire::GroupInfo {
            name: name.to_string(),
            settings: (&settings).into(),
            members,
            progress,
        })
    }

    /// Moves a group's position on a topic (blocking) and returns the new offset per queue
    /// moved. A group that does not exist yet is created (clustering, default settings), so a
    /// position can be set before consumers start.
    pub fn reset(
        &self,
        name: &str,
        topic: &str,
        queue: Option<u32>,
        to: ResetTo,
    ) -> Result<Vec<(u32, u64)>> {
        check_group_name(name)?;
        let bounds = bounds_of(&self.store, topic)?;
        if let Some(q) = queue.filter(|&q| q as usize >= bounds.len()) {
            return Err(BrokerError::UnknownQueue {
                context: String::new(),
                topic: topic.to_string(),
                queues: bounds.len() as u32,
                queue: q,
            });
        }
        let targets = bounds
            .iter()
            .enumerate()
            .map(|(q, &(earliest, end))| match to {
                ResetTo::Earliest => Ok(earliest),
                ResetTo::Latest => Ok(end),
                ResetTo::Offset(o) => Ok(o.clamp(earliest, end)),
                ResetTo::Time(t) => Ok(self.store.offset_for_time(topic, q as u32, t)?),
            })
            .collect::<Result<Vec<u64>>>()?;
        let cell = {
            let mut map = self.by_name.lock();
            map.entry(name.to_string())
                .or_insert_with(|| {
                    let defaults = JoinRequest {
                        group: name.to_string(),
                        topic: topic.to_string(),
                        instance: String::new(),
                        mode: wire::Mode::Clustering,
                        start: StartPosition::Latest,
                        lease_ms: 0,
                        max_attempts: 0,
                        session_timeout_ms: 0,
                        filter: None,
                    };
                    GroupCell::new(Group::new(
                        name,
                        self.settings_for(&defaults),
                        policy_of(&self.config, &self.plugin_retry),
                    ))
                })
                .clone()
        };
        cell.lock().reset(topic, queue, &targets);
        cell.bump();
        tracing::info!(group = name, topic, ?queue, ?to, "group position reset");
        Ok(targets
            .into_iter()
            .enumerate()
            .filter(|(q, _)| queue.is_none_or(|only| only as usize == *q))
            .map(|(q, o)| (q as u32, o))
            .collect())
    }

    /// Deletes a group with no live members, its persisted progress and its retry topics
    /// (blocking).
    pub fn delete(&self, name: &str) -> Result<()> {
        let mut map = self.by_name.lock();
        let Some(cell) = map.get(name) else {
            return Err(BrokerError::UnknownGroup(name.to_string()));
        };
        let live = cell.lock().members().count();
        if live > 0 {
            return Err(BrokerError::GroupConflict(format!(
                "group {name:?} has {live} live members; stop them first"
            )));
        }
        files::remove(&self.dir, name)?;
        map.remove(name);
        // Its retry topics go too; retries still in the timer then end undelivered.
        for t in self.store.list_topics() {
            let t = t.name.to_string();
            if timer_retry::is_retry_topic_of(name, &t) {
                self.store.delete_topic(&t)?;
                self.retry_topics.lock().remove(&t);
            }
        }
        Ok(())
    }
}
