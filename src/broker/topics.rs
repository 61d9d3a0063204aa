//! The Topic family: create, delete, list, describe and grow topics.

use std::time::Duration;

use crate::protocol::{QueueRange, Response, TopicInfo, TopicRequest};
use crate::storage::{TopicMeta, TopicName, TopicSpec};

use super::{Broker, BrokerError, Result, blocking};

pub(super) async fn handle(broker: &Broker, r: TopicRequest) -> Result<Response> {
    let store = broker.store.clone();
    match r {
        TopicRequest::Create(c) => {
            let name = TopicName::new(&c.name)?;
            if name.is_reserved() {
                return Err(BrokerError::ReservedName(name.to_string()));
            }
            let spec = TopicSpec {
                name,
                queues: c.queues,
                durability: c.durability.unwrap_or(broker.limits.default_durability),
                retention: (c.retention_ms > 0).then(|| Duration::from_millis(c.retention_ms)),
            };
            blocking(move || Ok(Response::Topic(info_of(&store.create_topic(&spec)?)))).await
        }
        TopicRequest::Delete { name } => {
            crate::internal::guard_delete(&name)?;
            blocking(move || {
                store.delete_topic(&name)?;
                Ok(Response::TopicDeleted)
            })
            .await
        }
        TopicRequest::Alter { name, queues } => {
            // The broker's own topics have the queues it gave them.
            if TopicName::is_internal(&name) {
                return Err(BrokerError::ReservedName(name));
            }
            blocking(move || Ok(Response::Topic(info_of(&store.grow_topic(&name, queues)?)))).await
        }
        TopicRequest::List => {
            blocking(move || {
                // The broker's own stores (delay, transaction, retry and summary topics) are not
                // topics anyone reads; the request router keeps the rest of the internal ones
                // for those who may administer them.
                Ok(Response::Topics(
                    store
                        .list_topics()
                        .iter()
                        .filter(|t| crate::internal::guard_read(t.name.as_str()).is_ok())
                        .map(info_of)
                        .collect(),
                ))
            })
            .await
        }
        TopicRequest::Describe { name } => {
            blocking(move || {
                let d = store.describe_topic(&name)?;
                Ok(Response::Description {
                    topic: info_of(&d.meta),
                    queues: d
                        .queues
                        .iter()
                        .map(|q| QueueRange {
                            earliest: q.earliest,
                            next: q.next,
                        })
                        .collect(),
                })
            })
            .await
        }
    }
}

fn info_of(m: &TopicMeta) -> TopicInfo {
    TopicInfo {
        name: m.name.to_string(),
        id: m.id,
        queues: m.queues,
        durability: m.durability,
        retention_ms: m.retention_ms.unwrap_or(0),
        created_at: m.created_at,
    }
}
