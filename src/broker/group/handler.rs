//! The Group family: joins (with the subscription's filter), leaves, heartbeats, long-poll
//! receives, acks and nacks, and the admin requests. Subscription streams are driven by
//! `transport`, through [`Broker::group_join`], [`Broker::group_take`] and the hold.

use std::sync::Arc;
use std::time::Duration;

use super::read::ByteBudget;
use super::service::{ConnInfo, Joining};
use crate::broker::{Broker, BrokerError, Result, blocking};
use crate::protocol::{EncodedDeliveries, GroupRequest, JoinRequest, Response, StartPosition};

pub(in crate::broker) async fn handle(
    broker: &Arc<Broker>,
    r: GroupRequest,
    conn: ConnInfo,
) -> Result<Response> {
    let groups = &broker.groups;
    match r {
        GroupRequest::Join(j) => broker.group_join(&conn, j).await,
        GroupRequest::Leave { member } => groups.leave(member).map(|()| Response::Done),
        GroupRequest::Heartbeat { member } => groups.heartbeat(member).map(|()| Response::Done),
        GroupRequest::Receive(r) => {
            let budget = ByteBudget {
                max: (r.max_bytes.min(broker.limits.max_frame / 2)).max(1) as usize,
                at_least_one: true,
            };
            let wait = Duration::from_millis(u64::from(r.max_wait_ms));
            receive(broker, r.member, r.max_messages as usize, budget, wait).await
        }
        GroupRequest::Ack { member, ranges } => {
            let (done, stale) = groups.ack(member, &ranges, None)?;
            Ok(Response::Acked { done, stale })
        }
        GroupRequest::Nack {
            member,
            reason,
            ranges,
        } => {
            let (done, stale) = groups.ack(member, &ranges, Some(&reason))?;
            Ok(Response::Acked { done, stale })
        }
        GroupRequest::Subscribe(_) | GroupRequest::Credit { .. } => Err(BrokerError::InvalidArgument(
            "Subscribe must be the first frame of its own stream, and Credit is sent only on a subscription stream".into(),
        )),
        GroupRequest::List => Ok(Response::Groups(groups.list())),
        GroupRequest::Describe { group } => {
            let groups = groups.clone();
            blocking(move || groups.describe(&group).map(Response::Group)).await
        }
        GroupRequest::Reset(r) => {
            let groups = groups.clone();
            blocking(move || {
                groups
                    .reset(&r.group, &r.topic, r.queue, r.to)
                    .map(Response::Positions)
            })
            .await
        }
        GroupRequest::Delete { group } => {
            let groups = groups.clone();
            blocking(move || groups.delete(&group).map(|()| Response::Done)).await
        }
    }
}

impl Broker {
    /// Joins a group: the subscription's filter is made as the topic's pipeline allows, and a
    /// new subscription starts where the join says.
    pub async fn group_join(&self, conn: &ConnInfo, j: JoinRequest) -> Result<Response> {
        crate::internal::guard_read(&j.topic)?;
        self.groups.check_same_filter(&j)?;
        let filter = match &j.filter {
            None => None,
            Some(spec) => Some(self.filters.make(&j.topic, spec).await?),
        };
        let store = self.store.clone();
        let (topic, start) = (j.topic.clone(), j.start);
        let starts = blocking(move || {
            let bounds = super::service::bounds_of(&store, &topic)?;
            bounds
                .iter()
                .enumerate()
                .map(|(q, &(earliest, end))| {
                    Ok(match start {
                        StartPosition::Latest => end,
                        StartPosition::Earliest => earliest,
                        StartPosition::Time(t) => store.offset_for_time(&topic, q as u32, t)?,
                    })
                })
                .collect::<Result<Vec<u64>>>()
        })
        .await?;
        let (member, settings) = self.groups.join(
            &j,
            Joining {
                conn: *conn,
                starts,
                filter,
            },
        )?;
        Ok(Response::Joined {
            member,
            lease_ms: settings.lease_ms,
            session_timeout_ms: settings.session_timeout_ms,
        })
    }

    /// Takes up to `max_messages` for a member and reads them, without waiting.
    pub async fn group_take(
        &self,
        member: u64,
        max_messages: usize,
        budget: ByteBudget,
    ) -> Result<EncodedDeliveries> {
        let groups = self.groups.clone();
        blocking(move || groups.take_and_read(member, max_messages, budget)).await
    }
}

/// Long poll: takes messages, waiting up to `wait` for some. The member counts as alive while
/// it waits.
async fn receive(
    broker: &Arc<Broker>,
    member: u64,
    max_messages: usize,
    budget: ByteBudget,
    wait: Duration,
) -> Result<Response> {
    let deadline = tokio::time::Instant::now() + wait;
    broker.groups.heartbeat(member)?;
    let _alive = broker.groups.hold(member)?;
    let (mut appends, mut ready) = broker.groups.watch(member)?;
    loop {
        appends.mark_unchanged();
        ready.mark_unchanged();
        let got = broker.group_take(member, max_messages, budget).await?;
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
