//! Group consumers: a subscription stream with credit flow control, batched and pipelined
//! acks, automatic or manual acknowledgement, and ordered consumption.
//!
//! Credit: the consumer grants the server `credit_messages` messages and `credit_bytes` bytes
//! at the start, and grants again what the application has taken once half of either is used,
//! so a slow application is never flooded and a fast one never waits for a round trip. Every
//! `session_timeout / 3` a `Credit` frame is sent even with nothing to grant: it is the
//! member's heartbeat.
//!
//! Ordered mode: after [`GroupConsumer::nack`] of a message, later messages of its queue that
//! were already pushed are dropped (not handed to the application) until the server delivers
//! the failed message again, so the application sees each queue strictly in order.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::{Client, ClientError, read_response};
use crate::protocol::{AckRange, Mode};
use crate::protocol::{
    FilterSpec, GroupDelivered, GroupRequest, JoinRequest, Kind, PluginRequest, Request, Response,
    StartPosition, SubscribeRequest, frame,
};
use crate::protocol::{ReceiveRequest, ResetRequest};
use crate::record::content_len;

/// Wire bytes of a delivered message besides its content (what credit counts).
const DELIVERED_OVERHEAD: u64 = 52;
/// Ack requests in flight at once.
const ACKS_IN_FLIGHT: usize = 16;
/// Most acks coalesced into one request.
const MAX_ACK_BATCH: usize = 8192;
/// Longest an ack waits in the consumer before it is sent.
const ACK_DELAY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// A message is acked when the application asks for the next one (or closes).
    Auto,
    /// The application calls [`GroupConsumer::ack`] or [`GroupConsumer::nack`].
    Manual,
}

#[derive(Debug, Clone)]
pub struct GroupConsumerOptions {
    pub group: String,
    pub topic: String,
    pub mode: Mode,
    /// Where a group that has no progress on the topic starts.
    pub start: StartPosition,
    /// A stable name for this member; broadcasting keeps progress per instance. Empty: the
    /// server makes one up (a new instance every time).
    pub instance: String,
    pub ack: AckMode,
    pub credit_messages: u32,
    pub credit_bytes: u64,
    /// `None`: the server's defaults.
    pub lease: Option<Duration>,
    pub max_attempts: Option<u32>,
    pub session_timeout: Option<Duration>,
    /// Only what this filter selects is delivered (`tag`, `sql92` or a configured plugin).
    pub filter: Option<FilterSpec>,
    /// When the connection is lost (a broker restart, say) or the member was removed, how long
    /// to keep trying to reconnect and join again before giving up. Zero: never.
    pub reconnect_for: Duration,
}

impl GroupConsumerOptions {
    pub fn new(group: impl Into<String>, topic: impl Into<String>) -> GroupConsumerOptions {
        GroupConsumerOptions {
            group: group.into(),
            topic: topic.into(),
            mode: Mode::Clustering,
            start: StartPosition::Latest,
            instance: String::new(),
            ack: AckMode::Manual,
            credit_messages: 2048,
            credit_bytes: 16 << 20,
            lease: None,
            max_attempts: None,
            session_timeout: None,
            filter: None,
            reconnect_for: Duration::from_secs(60),
        }
    }

    pub fn join_request(&self) -> JoinRequest {
        JoinRequest {
            group: self.group.clone(),
            topic: self.topic.clone(),
            instance: self.instance.clone(),
            mode: self.mode,
            start: self.start,
            lease_ms: self.lease.map_or(0, |d| d.as_millis() as u64),
            max_attempts: self.max_attempts.unwrap_or(0),
            session_timeout_ms: self.session_timeout.map_or(0, |d| d.as_millis() as u64),
            filter: self.filter.clone(),
        }
    }
}

enum AckCmd {
    Ack(Vec<AckRange>),
    Nack(AckRange, String),
    Flush(oneshot::Sender<()>),
}

/// A member of a group, receiving over a subscription stream.
pub struct GroupConsumer {
    /// For joining again after a lost connection.
    client: Client,
    opts: GroupConsumerOptions,
    member: u64,
    mode: Mode,
    ack_mode: AckMode,
    /// Pushed frames, a batch each.
    rx: mpsc::UnboundedReceiver<Result<Vec<GroupDelivered>, ClientError>>,
    buffered: VecDeque<GroupDelivered>,
    /// Acks not yet handed to the ack task: sent before waiting for the next pushed batch,
    /// when many gathered, or when the oldest is [`ACK_DELAY`] old.
    pending_acks: Vec<AckRange>,
    pending_since: Option<std::time::Instant>,
    grants: mpsc::UnboundedSender<(u32, u64)>,
    acks: mpsc::UnboundedSender<AckCmd>,
    /// Taken by the application since the last grant.
    taken: (u32, u64),
    credit: (u32, u64),
    /// Auto ack: handed out, acked on the next call.
    unacked: Vec<AckRange>,
    /// Ordered mode: queue → offset of a nacked message; later ones are dropped until it
    /// comes back.
    blocked: HashMap<u32, u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl GroupConsumer {
    pub(super) async fn start(
        client: Client,
        opts: GroupConsumerOptions,
    ) -> Result<GroupConsumer, ClientError> {
        let (mut send, mut recv) = client.conn.open_bi().await?;
        let req = Request::Group(GroupRequest::Subscribe(SubscribeRequest {
            join: opts.join_request(),
            credit_messages: opts.credit_messages,
            credit_bytes: opts.credit_bytes,
        }));
        let mut body = Vec::new();
        req.encode_body(&mut body);
        let id = client.next_id();
        send.write_all(&frame(Kind::Subscribe as u16, id, &body))
            .await?;
        let (member, session_ms) =
            match super::into_result(read_response(&mut recv, Kind::Subscribe).await?)? {
                Response::Joined {
                    member,
                    session_timeout_ms,
                    ..
                } => (member, session_timeout_ms),
                _ => {
                    return Err(ClientError::Unexpected {
                        asked: Kind::Subscribe,
                    });
                }
            };
        let (tx, rx) = mpsc::unbounded_channel();
        let (grants, grant_rx) = mpsc::unbounded_channel();
        let (acks, ack_rx) = mpsc::unbounded_channel();
        let heartbeat = Duration::from_millis((session_ms / 3).max(100));
        let tasks = vec![
            tokio::spawn(read_pushes(recv, tx)),
            tokio::spawn(send_credits(send, grant_rx, heartbeat)),
            tokio::spawn(send_acks(client.clone(), member, ack_rx)),
        ];
        Ok(GroupConsumer {
            client,
            opts: opts.clone(),
            member,
            mode: opts.mode,
            ack_mode: opts.ack,
            rx,
            buffered: VecDeque::new(),
            pending_acks: Vec::new(),
            pending_since: None,
            grants,
            acks,
            taken: (0, 0),
            credit: (opts.credit_messages, opts.credit_bytes),
            unacked: Vec::new(),
            blocked: HashMap::new(),
            tasks,
        })
    }

    pub fn member(&self) -> u64 {
        self.member
    }

    /// The next message; `None` when the subscription ended (the server went away or the
    /// member was removed after an error, which comes first as `Some(Err)`).
    pub async fn next(&mut self) -> Option<Result<GroupDelivered, ClientError>> {
        self.settle_auto_acks();
        if self.pending_since.is_some_and(|t| t.elapsed() >= ACK_DELAY) {
            self.send_pending_acks();
        }
        loop {
            while let Some(m) = self.buffered.pop_front() {
                if self.accept(&m) {
                    return Some(Ok(m));
                }
            }
            if let Err(e) = self.fill().await? {
                return Some(Err(e));
            }
        }
    }

    /// Every message that has arrived (waiting for at least one): fewer wakeups than
    /// [`GroupConsumer::next`] at high rates. In ordered mode, after a nack the caller must
    /// skip the rest of that message's queue in the batch (it comes again, in order).
    pub async fn next_batch(&mut self) -> Option<Result<Vec<GroupDelivered>, ClientError>> {
        self.settle_auto_acks();
        loop {
            let mut batch = Vec::with_capacity(self.buffered.len());
            while let Some(m) = self.buffered.pop_front() {
                if self.accept(&m) {
                    batch.push(m);
                }
            }
            if !batch.is_empty() {
                return Some(Ok(batch));
            }
            if let Err(e) = self.fill().await? {
                return Some(Err(e));
            }
        }
    }

    /// Waits for the next pushed batch; acks gathered so far go out first. A subscription
    /// that ended because the connection went away, or the member was removed, is joined again
    /// (see [`GroupConsumerOptions::reconnect_for`]).
    async fn fill(&mut self) -> Option<Result<(), ClientError>> {
        self.send_pending_acks();
        let lost = match self.rx.recv().await {
            Some(Ok(batch)) => {
                self.buffered.extend(batch);
                return Some(Ok(()));
            }
            Some(Err(e)) if !rejoinable(&e) => return Some(Err(e)),
            Some(Err(e)) => Some(e),
            None => None,
        };
        if self.opts.reconnect_for.is_zero() {
            return lost.map(Err);
        }
        Some(self.rejoin(lost).await)
    }

    /// Connects and joins again, for up to `reconnect_for`. What was delivered and not yet
    /// acked in the old session is dropped (its leases are gone with it: it comes again), and
    /// so are acks not yet sent.
    async fn rejoin(&mut self, why: Option<ClientError>) -> Result<(), ClientError> {
        let why = why.map_or("the subscription ended".to_string(), |e| e.to_string());
        tracing::info!(group = %self.opts.group, member = self.member, reason = %why, "group consumer reconnecting");
        for t in self.tasks.drain(..) {
            t.abort();
        }
        // (Nothing is buffered and no ack is pending here: `fill` runs on an empty buffer,
        // after sending the acks. A fresh session replaces the rest.)
        let deadline = tokio::time::Instant::now() + self.opts.reconnect_for;
        let mut pause = Duration::from_millis(100);
        loop {
            let attempt = match self.client.reconnect().await {
                Ok(client) => GroupConsumer::start(client, self.opts.clone()).await,
                Err(e) => Err(e),
            };
            match attempt {
                Ok(fresh) => {
                    tracing::info!(group = %self.opts.group, member = fresh.member, "group consumer joined again");
                    let mode = self.ack_mode;
                    *self = fresh;
                    self.ack_mode = mode;
                    return Ok(());
                }
                Err(e)
                    if tokio::time::Instant::now() + pause >= deadline || !rejoinable_start(&e) =>
                {
                    return Err(e);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "not joined yet; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Counts a message against the credit and decides whether the application sees it.
    fn accept(&mut self, m: &GroupDelivered) -> bool {
        self.count_taken(m);
        if self.mode == Mode::Ordered {
            let q = m.delivered.queue;
            match self.blocked.get(&q) {
                Some(&at) if m.delivered.offset == at => {
                    self.blocked.remove(&q);
                }
                Some(_) => return false, // pushed before the failure; it comes again
                None => {}
            }
        }
        if self.ack_mode == AckMode::Auto {
            self.unacked.push(range_of(m));
        }
        true
    }

    /// Auto ack: what the application took before this call is done.
    fn settle_auto_acks(&mut self) {
        if self.ack_mode == AckMode::Auto {
            for r in std::mem::take(&mut self.unacked) {
                self.add_ack(r);
            }
        }
    }

    fn add_ack(&mut self, r: AckRange) {
        if self.pending_acks.is_empty() {
            self.pending_since = Some(std::time::Instant::now());
        }
        push_range(&mut self.pending_acks, r);
    }

    fn send_pending_acks(&mut self) {
        self.pending_since = None;
        if !self.pending_acks.is_empty() {
            let _ = self
                .acks
                .send(AckCmd::Ack(std::mem::take(&mut self.pending_acks)));
        }
    }

    fn count_taken(&mut self, m: &GroupDelivered) {
        self.taken.0 += 1;
        self.taken.1 += DELIVERED_OVERHEAD + content_len(&m.delivered.message) as u64;
        if self.taken.0 >= self.credit.0.div_ceil(2) || self.taken.1 >= self.credit.1.div_ceil(2) {
            let _ = self.grants.send(std::mem::take(&mut self.taken));
        }
    }

    /// Acks a message (batched with others and sent in the background).
    pub fn ack(&mut self, m: &GroupDelivered) {
        self.add_ack(range_of(m));
        if self.pending_acks.len() >= MAX_ACK_BATCH
            || self.pending_since.is_some_and(|t| t.elapsed() >= ACK_DELAY)
        {
            self.send_pending_acks();
        }
    }

    /// Fails a message: the server redelivers it after its retry delay (or dead-letters it).
    pub fn nack(&mut self, m: &GroupDelivered, reason: &str) {
        self.nack_range(m.delivered.queue, m.delivered.offset, m.lease, reason);
    }

    /// Waits until every ack and nack given so far has been answered by the server.
    pub async fn flush(&mut self) {
        self.settle_auto_acks();
        self.send_pending_acks();
        let (tx, rx) = oneshot::channel();
        if self.acks.send(AckCmd::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Callback style: hands every message to `handler` in turn, acks it when the handler
    /// returns `Ok`, nacks it with the error as the reason otherwise, until the subscription
    /// ends (its error, if any, is returned) or `handler` asks to stop with `Ok(false)`.
    /// Ordered groups get each queue's messages in order, a failed one again before the next.
    pub async fn run<F, Fut>(mut self, mut handler: F) -> Result<(), ClientError>
    where
        F: FnMut(GroupDelivered) -> Fut,
        Fut: std::future::Future<Output = Result<bool, String>>,
    {
        let manual = std::mem::replace(&mut self.ack_mode, AckMode::Manual);
        let result = loop {
            let m = match self.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            };
            let range = range_of(&m);
            let (queue, offset, lease) = (range.queue, range.offset, range.lease);
            match handler(m).await {
                Ok(go_on) => {
                    self.add_ack(range);
                    if !go_on {
                        break Ok(());
                    }
                }
                Err(reason) => self.nack_range(queue, offset, lease, &reason),
            }
        };
        self.ack_mode = manual;
        self.close().await;
        result
    }

    fn nack_range(&mut self, queue: u32, offset: u64, lease: u32, reason: &str) {
        if self.mode == Mode::Ordered {
            self.blocked.insert(queue, offset);
        }
        self.unacked
            .retain(|r| !(r.queue == queue && r.offset == offset));
        self.settle_auto_acks();
        self.send_pending_acks();
        let r = AckRange {
            queue,
            offset,
            count: 1,
            lease,
        };
        let _ = self.acks.send(AckCmd::Nack(r, reason.to_string()));
    }

    /// Flushes acks and leaves the group (unacked messages go to other members at once,
    /// rather than when the server notices the connection is gone).
    pub async fn close(mut self) {
        self.flush().await;
        for t in self.tasks.drain(..) {
            t.abort();
        }
        // Already gone (removed, or the connection lost) is fine: there is nothing to leave.
        let _ = self.client.leave_group(self.member).await;
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// A subscription that ended with this can be joined again: the connection or stream went
/// away, or the member was removed (missed heartbeats).
fn rejoinable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Connection(_) | ClientError::Stream(_) | ClientError::Connect { .. }
    ) || e.status() == Some(crate::protocol::Status::UnknownMember)
}

/// A join attempt that failed with this is tried again: the server is not back yet, or is
/// shutting down or starting.
fn rejoinable_start(e: &ClientError) -> bool {
    rejoinable(e) || e.status() == Some(crate::protocol::Status::ShuttingDown)
}

fn range_of(m: &GroupDelivered) -> AckRange {
    AckRange {
        queue: m.delivered.queue,
        offset: m.delivered.offset,
        count: 1,
        lease: m.lease,
    }
}

async fn read_pushes(
    mut recv: crate::stream::RecvStream,
    tx: mpsc::UnboundedSender<Result<Vec<GroupDelivered>, ClientError>>,
) {
    loop {
        match read_response(&mut recv, Kind::Deliveries).await {
            Ok((_, Response::Deliveries(ms))) => {
                if tx.send(Ok(ms)).is_err() {
                    return;
                }
            }
            Ok(other) => {
                let _ = tx.send(super::into_result(other).and(Err(ClientError::Unexpected {
                    asked: Kind::Subscribe,
                })));
                return;
            }
            // The stream ended: the server closed the subscription.
            Err(ClientError::Stream(_)) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// Sends grants as they come, and an empty one as a heartbeat when idle.
async fn send_credits(
    mut send: crate::stream::SendStream,
    mut grants: mpsc::UnboundedReceiver<(u32, u64)>,
    heartbeat: Duration,
) {
    let mut id = 0u32;
    loop {
        let (messages, bytes) = match tokio::time::timeout(heartbeat, grants.recv()).await {
            Ok(Some(g)) => g,
            Ok(None) => return,
            Err(_) => (0, 0),
        };
        let mut body = Vec::new();
        Request::Group(GroupRequest::Credit { messages, bytes }).encode_body(&mut body);
        id = id.wrapping_add(1);
        if send
            .write_all(&frame(Kind::Credit as u16, id, &body))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Coalesces acks into ranges and sends them, several requests in flight.
async fn send_acks(client: Client, member: u64, mut rx: mpsc::UnboundedReceiver<AckCmd>) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    while let Some(first) = rx.recv().await {
        let mut acks: Vec<AckRange> = Vec::new();
        let mut nacks: Vec<(AckRange, String)> = Vec::new();
        let mut flush = None;
        let mut cmd = Some(first);
        while let Some(c) = cmd.take() {
            match c {
                AckCmd::Ack(rs) => {
                    for r in rs {
                        push_range(&mut acks, r);
                    }
                }
                AckCmd::Nack(r, why) => nacks.push((r, why)),
                AckCmd::Flush(tx) => {
                    flush = Some(tx);
                    break;
                }
            }
            if acks.len() < MAX_ACK_BATCH {
                cmd = rx.try_recv().ok();
            }
        }
        if !acks.is_empty() {
            while in_flight.len() >= ACKS_IN_FLIGHT {
                in_flight.join_next().await;
            }
            let c = client.clone();
            in_flight.spawn(async move {
                report(c.ack(member, acks).await);
            });
        }
        for (r, why) in nacks {
            report(client.nack(member, &why, vec![r]).await);
        }
        if let Some(tx) = flush {
            while in_flight.join_next().await.is_some() {}
            let _ = tx.send(());
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Extends the last range when the offset follows it under the same lease.
fn push_range(ranges: &mut Vec<AckRange>, r: AckRange) {
    match ranges.last_mut() {
        Some(last)
            if last.queue == r.queue
                && last.lease == r.lease
                && last.offset + u64::from(last.count) == r.offset =>
        {
            last.count += r.count;
        }
        _ => ranges.push(r),
    }
}

fn report(r: Result<(u64, u64), ClientError>) {
    match r {
        Ok(_) => {}
        // Expected after a lease expired or the member was rebalanced: nothing to do.
        Err(ClientError::Server {
            status: crate::protocol::Status::StaleLease,
            ..
        }) => {}
        Err(e) => tracing::warn!(error = %e, "ack failed"),
    }
}

impl Client {
    /// Joins a group and subscribes: messages are pushed as credit allows.
    pub async fn subscribe(
        &self,
        opts: GroupConsumerOptions,
    ) -> Result<GroupConsumer, ClientError> {
        GroupConsumer::start(self.clone(), opts).await
    }

    /// Joins a group for use with [`Client::receive`]; returns the member id.
    pub async fn join_group(&self, j: JoinRequest) -> Result<u64, ClientError> {
        ask!(self, Request::Group(GroupRequest::Join(j)), Response::Joined { member, .. } => member)
    }

    /// Long poll for a member: up to `max_messages`, waiting up to `wait` for the first.
    pub async fn receive(
        &self,
        member: u64,
        max_messages: u32,
        max_bytes: u32,
        wait: Duration,
    ) -> Result<Vec<GroupDelivered>, ClientError> {
        let req = Request::Group(GroupRequest::Receive(ReceiveRequest {
            member,
            max_messages,
            max_bytes,
            max_wait_ms: wait.as_millis().min(u128::from(u32::MAX)) as u32,
        }));
        ask!(self, req, Response::Deliveries(ms) => ms)
    }

    /// Acks ranges; returns `(acked, stale)`.
    pub async fn ack(&self, member: u64, ranges: Vec<AckRange>) -> Result<(u64, u64), ClientError> {
        let req = Request::Group(GroupRequest::Ack { member, ranges });
        ask!(self, req, Response::Acked { done, stale } => (done, stale))
    }

    pub async fn nack(
        &self,
        member: u64,
        reason: &str,
        ranges: Vec<AckRange>,
    ) -> Result<(u64, u64), ClientError> {
        let req = Request::Group(GroupRequest::Nack {
            member,
            reason: reason.to_string(),
            ranges,
        });
        ask!(self, req, Response::Acked { done, stale } => (done, stale))
    }

    pub async fn heartbeat(&self, member: u64) -> Result<(), ClientError> {
        let req = Request::Group(GroupRequest::Heartbeat { member });
        ask!(self, req, Response::Done => ())
    }

    pub async fn leave_group(&self, member: u64) -> Result<(), ClientError> {
        let req = Request::Group(GroupRequest::Leave { member });
        ask!(self, req, Response::Done => ())
    }

    pub async fn list_groups(&self) -> Result<Vec<crate::protocol::GroupSummary>, ClientError> {
        ask!(self, Request::Group(GroupRequest::List), Response::Groups(g) => g)
    }

    pub async fn describe_group(
        &self,
        group: &str,
    ) -> Result<crate::protocol::GroupInfo, ClientError> {
        let req = Request::Group(GroupRequest::Describe {
            group: group.into(),
        });
        ask!(self, req, Response::Group(g) => g)
    }

    /// Moves a group's position on a topic; returns `(queue, offset)` of each queue moved.
    pub async fn reset_group(
        &self,
        group: &str,
        topic: &str,
        queue: Option<u32>,
        to: crate::protocol::ResetTo,
    ) -> Result<Vec<(u32, u64)>, ClientError> {
        let req = Request::Group(GroupRequest::Reset(ResetRequest {
            group: group.into(),
            topic: topic.into(),
            queue,
            to,
        }));
        ask!(self, req, Response::Positions(p) => p)
    }

    /// The plugins the server has loaded.
    pub async fn list_plugins(&self) -> Result<Vec<crate::protocol::PluginEntry>, ClientError> {
        ask!(self, Request::Plugin(PluginRequest::List), Response::Plugins(p) => p)
    }

    /// Every plugin's call and failure counters.
    pub async fn plugin_counters(
        &self,
    ) -> Result<Vec<crate::protocol::PluginCounters>, ClientError> {
        ask!(self, Request::Plugin(PluginRequest::Stats), Response::PluginCounters(c) => c)
    }

    /// Where each plugin's load stands, how its last load went, and its last error.
    pub async fn plugin_states(&self) -> Result<Vec<crate::protocol::PluginHealth>, ClientError> {
        ask!(self, Request::Plugin(PluginRequest::State), Response::PluginStates(s) => s)
    }

    /// Reloads a plugin from its source; filters move to it before their next batch.
    pub async fn reload_plugin(
        &self,
        name: &str,
    ) -> Result<crate::protocol::PluginEntry, ClientError> {
        let req = Request::Plugin(PluginRequest::Reload { name: name.into() });
        ask!(self, req, Response::Plugins(mut p) if p.len() == 1 => p.remove(0))
    }

    pub async fn delete_group(&self, group: &str) -> Result<(), ClientError> {
        let req = Request::Group(GroupRequest::Delete {
            group: group.into(),
        });
        ask!(self, req, Response::Done => ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_acks_of_one_lease_coalesce() {
        let r = |queue, offset, lease| AckRange {
            queue,
            offset,
            count: 1,
            lease,
        };
        let mut v = Vec::new();
        for a in [
            r(0, 5, 1),
            r(0, 6, 1),
            r(0, 7, 1),
            r(0, 8, 2),
            r(1, 9, 2),
            r(1, 11, 2),
        ] {
            push_range(&mut v, a);
        }
        let got: Vec<(u32, u64, u32)> = v.iter().map(|a| (a.queue, a.offset, a.count)).collect();
        assert_eq!(got, vec![(0, 5, 3), (0, 8, 1), (1, 9, 1), (1, 11, 1)]);
    }
}
