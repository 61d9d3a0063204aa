//! The `[[topic]]` sections: topics the broker declares at start, with their queues,
//! durability and retention (at most the storage's, since topics share the commit log).

use std::time::Duration;

use super::raw::RawTopic;
use super::{
    DEFAULT_QUEUES, MAX_QUEUES, TopicConfig, Validator, durability_of, positive_duration_of,
};
use crate::storage::{Durability, TopicName};

pub(super) fn validate(
    v: &mut Validator,
    raw: Vec<RawTopic>,
    durability: Durability,
    retention: Option<Duration>,
) -> Vec<TopicConfig> {
    let mut topics: Vec<TopicConfig> = Vec::new();
    for (i, rt) in raw.into_iter().enumerate() {
        let at = |key: &str| format!("topic[{i}].{key}");
        let name = match rt.name {
            None => {
                v.problem(&at("name"), "is required".to_string());
                None
            }
            Some(name) => match TopicName::new(&name) {
                Err(e) => {
                    v.problem(&at("name"), e.to_string());
                    None
                }
                Ok(n) if n.is_reserved() => {
                    v.problem(
                        &at("name"),
                        format!("{name:?} is reserved for internal topics"),
                    );
                    None
                }
                Ok(n) => {
                    if let Some(j) = topics.iter().position(|t| t.name == n) {
                        v.problem(
                            &at("name"),
                            format!("duplicate topic {name:?} (also topic[{j}])"),
                        );
                    }
                    Some(n)
                }
            },
        };
        let queues = match rt.queues {
            None => DEFAULT_QUEUES,
            Some(q) if (1..=i64::from(MAX_QUEUES)).contains(&q) => q as u32,
            Some(q) => {
                v.problem(
                    &at("queues"),
                    format!("{q} is out of range (1 to {MAX_QUEUES})"),
                );
                DEFAULT_QUEUES
            }
        };
        let topic_durability = v.value(&at("durability"), rt.durability, durability, durability_of);
        let topic_retention = v.value(&at("retention"), rt.retention, None, |s| {
            let own = positive_duration_of(s)?;
            match retention {
                Some(global) if own > global => Err(format!(
                    "{s:?} is longer than storage.retention; topics share the commit log, so a \
                     topic can only keep its messages for a shorter time"
                )),
                _ => Ok(Some(own)),
            }
        });
        if let Some(name) = name {
            topics.push(TopicConfig {
                name,
                queues,
                durability: topic_durability,
                retention: topic_retention,
            });
        }
    }
    topics
}
