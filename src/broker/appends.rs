//! Append signals: per topic, a counter bumped after every append, so long polls (fetches,
//! group receives, subscriptions) wait for new messages instead of polling the store.

use parking_lot::Mutex;
use std::collections::HashMap;

use tokio::sync::watch;

#[derive(Default)]
pub struct Appends {
    by_topic: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Topics whose appends also wake another topic's watchers (a group's retry topic wakes
    /// the receivers of the topic it retries).
    links: Mutex<HashMap<String, String>>,
}

impl Appends {
    /// Messages were appended to `topic`: its watchers look again.
    pub fn notify(&self, topic: &str) {
        let linked = self.links.lock().get(topic).cloned();
        let map = self.by_topic.lock();
        for t in std::iter::once(topic).chain(linked.as_deref()) {
            if let Some(tx) = map.get(t) {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// From now on, appends to `from` wake the watchers of `to` too.
    pub fn link(&self, from: &str, to: &str) {
        let mut links = self.links.lock();
        if links.get(from).map(String::as_str) != Some(to) {
            links.insert(from.to_string(), to.to_string());
        }
    }

    /// A receiver that changes after each later append to `topic`.
    pub fn watch(&self, topic: &str) -> watch::Receiver<u64> {
        let mut map = self.by_topic.lock();
        map.entry(topic.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}
