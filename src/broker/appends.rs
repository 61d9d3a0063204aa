//! Append signals: per topic, a counter bumped after every append, so long polls (fetches,
//! group receives, subscriptions) wait for new messages instead of polling the store.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Default)]
pub struct Appends {
    by_topic: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl Appends {
    /// Messages were appended to `topic`: its watchers look again.
    pub fn notify(&self, topic: &str) {
        let map = self.by_topic.lock().expect("appends lock");
        if let Some(tx) = map.get(topic) {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// A receiver that changes after each later append to `topic`.
    pub fn watch(&self, topic: &str) -> watch::Receiver<u64> {
        let mut map = self.by_topic.lock().expect("appends lock");
        map.entry(topic.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }
}
