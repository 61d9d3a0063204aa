//! `builtin:dedup`: `lockgate_filters::dedup` as a dedup plugin (the broker keeps the window).

use lockgate_filters::dedup::DedupKey;
use lockgate_plugin_sdk::{Dedup, Message};

struct Key(DedupKey);

impl Dedup for Key {
    fn create(config: &[(String, String)]) -> Result<Self, String> {
        DedupKey::new(config).map(Key)
    }

    fn key(&self, _topic: &str, m: &Message<'_>, key: &mut Vec<u8>) -> bool {
        self.0.key(m, key)
    }
}

lockgate_plugin_sdk::export_dedup!(Key);
