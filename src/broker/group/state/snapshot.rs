//! A group's persisted form: the snapshot of its subscriptions' windows, and a group
//! restored from one (no members, every unfinished message ready).

use std::collections::BinaryHeap;

use super::{Group, GroupSnapshot, Policy, QueueWindow, Subscription, SubscriptionSnapshot};

impl Group {
    /// The persisted form, if anything changed since the last call with `mark_clean`.
    pub fn snapshot_if_dirty(&mut self) -> Option<GroupSnapshot> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        Some(self.snapshot())
    }

    pub fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            name: self.name.clone(),
            settings: self.settings.clone(),
            subscriptions: self
                .subs
                .iter()
                .map(|((topic, instance), sub)| SubscriptionSnapshot {
                    topic: topic.clone(),
                    instance: instance.clone(),
                    queues: sub.windows.iter().map(QueueWindow::snapshot).collect(),
                })
                .collect(),
        }
    }

    /// A group as persisted: no members, every unfinished message ready.
    pub fn restore(snap: &GroupSnapshot, policy: Policy) -> Group {
        let mut g = Group::new(&snap.name, snap.settings.clone(), policy);
        for s in &snap.subscriptions {
            let windows = s
                .queues
                .iter()
                .enumerate()
                .map(|(q, w)| QueueWindow::restore(q as u32, w))
                .collect();
            g.subs.insert(
                (s.topic.clone(), s.instance.clone()),
                Subscription {
                    windows,
                    rr: 0,
                    expiries: BinaryHeap::new(),
                    waits: BinaryHeap::new(),
                },
            );
        }
        g.dirty = false;
        g
    }
}
