//! Consumer-group bodies: join/subscribe parameters, acks, deliveries, and the admin views.
//! Layouts are in `docs/protocol.md` ("Consumer groups").

use crate::codec::{ReadError, Reader, put_str16};
use crate::record::RecordView;

use super::response::{Delivered, decode_delivered_one, encode_delivered_one, list};

/// How a group shares a topic among its members (`mode` on the wire: a `u8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Members share the messages; each goes to one member, under a lease.
    Clustering,
    /// Every member instance gets every message, with its own progress.
    Broadcasting,
    /// Each queue belongs to one member at a time and is delivered in order.
    Ordered,
}

impl Mode {
    pub fn code(self) -> u8 {
        match self {
            Mode::Clustering => 0,
            Mode::Broadcasting => 1,
            Mode::Ordered => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<Mode> {
        Some(match c {
            0 => Mode::Clustering,
            1 => Mode::Broadcasting,
            2 => Mode::Ordered,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Clustering => "clustering",
            Mode::Broadcasting => "broadcasting",
            Mode::Ordered => "ordered",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "clustering" => Ok(Mode::Clustering),
            "broadcasting" => Ok(Mode::Broadcasting),
            "ordered" => Ok(Mode::Ordered),
            other => Err(format!(
                "{other:?} is not a mode (clustering, broadcasting, ordered)"
            )),
        }
    }
}

/// A group's settings as `GroupDescribe` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSettings {
    pub mode: Mode,
    /// How long a delivered message stays invisible to others before it counts as failed.
    pub lease_ms: u64,
    /// Deliveries before a message is dead-lettered.
    pub max_attempts: u32,
    /// A member not heard from for this long is removed.
    pub session_timeout_ms: u64,
}

/// One acked or nacked range (`range` on the wire): `count` offsets from `offset` of `queue`,
/// delivered under `lease`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRange {
    pub queue: u32,
    pub offset: u64,
    pub count: u32,
    pub lease: u32,
}

/// Where a subscription that does not exist yet starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// After the last message stored now.
    Latest,
    Earliest,
    /// The first message stored at or after this time (ms since the epoch).
    Time(i64),
}

/// Where `GroupReset` moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    Latest,
    Offset(u64),
    Time(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub group: String,
    pub topic: String,
    /// The member's stable name; broadcasting keeps progress per instance.
    pub instance: String,
    pub mode: Mode,
    pub start: StartPosition,
    /// 0: the server's default (`groups.lease`).
    pub lease_ms: u64,
    /// 0: the server's default (`groups.max_attempts`).
    pub max_attempts: u32,
    /// 0: the server's default (`groups.session_timeout`).
    pub session_timeout_ms: u64,
    /// Only messages this filter selects are delivered to the member; the others count as
    /// consumed for it.
    pub filter: Option<FilterSpec>,
}

/// A subscription's filter: a filter plugin (`tag`, `sql92`, or a configured plugin's name)
/// and its expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    pub plugin: String,
    pub expression: String,
}

/// A filter: `str` plugin, `str` expression.
pub(super) fn encode_filter_spec(buf: &mut Vec<u8>, f: &FilterSpec) {
    put_str16(buf, &f.plugin);
    put_str16(buf, &f.expression);
}

pub(super) fn decode_filter_spec(r: &mut Reader<'_>) -> Result<FilterSpec, ReadError> {
    Ok(FilterSpec {
        plugin: r.str16("filter plugin")?,
        expression: r.str16("filter expression")?,
    })
}

/// An optional filter: `u8` 0, or 1 and the filter.
fn encode_filter(buf: &mut Vec<u8>, f: &Option<FilterSpec>) {
    match f {
        None => buf.push(0),
        Some(f) => {
            buf.push(1);
            encode_filter_spec(buf, f);
        }
    }
}

fn decode_filter(r: &mut Reader<'_>) -> Result<Option<FilterSpec>, ReadError> {
    match r.u8("filter flag")? {
        0 => Ok(None),
        1 => decode_filter_spec(r).map(Some),
        other => Err(ReadError::Invalid {
            field: "filter flag",
            reason: format!("{other} is not 0 or 1"),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeRequest {
    pub join: JoinRequest,
    /// Initial credit: messages, and bytes of message content.
    pub credit_messages: u32,
    pub credit_bytes: u64,
}

/// A message delivered to a group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDelivered {
    /// Quote it in the ack or nack.
    pub lease: u32,
    /// Deliveries of this message to the group, this one included.
    pub attempt: u32,
    pub delivered: Delivered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub name: String,
    pub mode: Mode,
    pub members: u32,
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub topic: String,
    pub instance: String,
    /// The member's address as the server sees it.
    pub client: String,
    /// Since the member was last heard from.
    pub idle_ms: u64,
    /// Ordered mode: the queues it owns.
    pub queues: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressInfo {
    pub topic: String,
    pub instance: String,
    pub queue: u32,
    /// 0: no owner (or not ordered).
    pub owner: u64,
    /// Every offset below is acked.
    pub acked: u64,
    pub end: u64,
    /// Not yet delivered (or due for redelivery).
    pub ready: u64,
    pub in_flight: u64,
    /// Waiting for a retry or the dead-letter topic.
    pub retrying: u64,
    /// Store time of the oldest unacked message; 0: none.
    pub oldest_unacked_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub settings: GroupSettings,
    pub members: Vec<MemberInfo>,
    pub progress: Vec<ProgressInfo>,
}

pub(super) fn encode_join(buf: &mut Vec<u8>, j: &JoinRequest) {
    put_str16(buf, &j.group);
    put_str16(buf, &j.topic);
    put_str16(buf, &j.instance);
    buf.push(j.mode.code());
    match j.start {
        StartPosition::Latest => buf.push(0),
        StartPosition::Earliest => buf.push(1),
        StartPosition::Time(t) => {
            buf.push(2);
            buf.extend_from_slice(&t.to_le_bytes());
        }
    }
    buf.extend_from_slice(&j.lease_ms.to_le_bytes());
    buf.extend_from_slice(&j.max_attempts.to_le_bytes());
    buf.extend_from_slice(&j.session_timeout_ms.to_le_bytes());
    encode_filter(buf, &j.filter);
}

pub(super) fn decode_join(r: &mut Reader<'_>) -> Result<JoinRequest, ReadError> {
    Ok(JoinRequest {
        group: r.str16("group")?,
        topic: r.str16("topic")?,
        instance: r.str16("instance")?,
        mode: mode_from(r.u8("mode")?)?,
        start: match r.u8("start")? {
            0 => StartPosition::Latest,
            1 => StartPosition::Earliest,
            2 => StartPosition::Time(r.i64("start time")?),
            other => {
                return Err(ReadError::Invalid {
                    field: "start",
                    reason: format!("{other} is not a start position"),
                });
            }
        },
        lease_ms: r.u64("lease")?,
        max_attempts: r.u32("max attempts")?,
        session_timeout_ms: r.u64("session timeout")?,
        filter: decode_filter(r)?,
    })
}

pub(super) fn encode_reset_to(buf: &mut Vec<u8>, to: ResetTo) {
    match to {
        ResetTo::Earliest => buf.push(0),
        ResetTo::Latest => buf.push(1),
        ResetTo::Offset(o) => {
            buf.push(2);
            buf.extend_from_slice(&o.to_le_bytes());
        }
        ResetTo::Time(t) => {
            buf.push(3);
            buf.extend_from_slice(&t.to_le_bytes());
        }
    }
}

pub(super) fn decode_reset_to(r: &mut Reader<'_>) -> Result<ResetTo, ReadError> {
    Ok(match r.u8("reset target")? {
        0 => ResetTo::Earliest,
        1 => ResetTo::Latest,
        2 => ResetTo::Offset(r.u64("offset")?),
        3 => ResetTo::Time(r.i64("time")?),
        other => {
            return Err(ReadError::Invalid {
                field: "reset target",
                reason: format!("{other} is not a reset target"),
            });
        }
    })
}

fn mode_from(c: u8) -> Result<Mode, ReadError> {
    Mode::from_code(c).ok_or(ReadError::Invalid {
        field: "mode",
        reason: format!("{c} is not a group mode"),
    })
}

/// Ranges: count u32, then each queue u32, offset u64, count u32, lease u32.
pub(super) fn encode_ranges(buf: &mut Vec<u8>, ranges: &[AckRange]) {
    buf.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
    for a in ranges {
        buf.extend_from_slice(&a.queue.to_le_bytes());
        buf.extend_from_slice(&a.offset.to_le_bytes());
        buf.extend_from_slice(&a.count.to_le_bytes());
        buf.extend_from_slice(&a.lease.to_le_bytes());
    }
}

pub(super) fn decode_ranges(r: &mut Reader<'_>) -> Result<Vec<AckRange>, ReadError> {
    list(r, 20, "range count", |r| {
        Ok(AckRange {
            queue: r.u32("queue")?,
            offset: r.u64("offset")?,
            count: r.u32("count")?,
            lease: r.u32("lease")?,
        })
    })
}

/// The fields of one delivery, for [`EncodedDeliveries::push_parts`].
pub struct DeliveryParts<'a> {
    pub lease: u32,
    pub attempt: u32,
    pub queue: u32,
    pub offset: u64,
    pub stored_at: i64,
    pub born_at: i64,
    pub id: &'a [u8; 16],
    /// The content in the log's layout.
    pub content: &'a [u8],
}

/// Deliveries the server encodes straight from stored records, without decoding their
/// content: `count` items, laid out as [`encode_deliveries`] lays out what follows the count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedDeliveries {
    pub count: u32,
    pub items: Vec<u8>,
}

impl EncodedDeliveries {
    /// Wire bytes of one item besides its content (lease, attempt, queue, offset, store time,
    /// id, born time): what subscription credit counts per message, plus the content.
    pub const OVERHEAD: usize = 52;

    pub fn push(&mut self, lease: u32, attempt: u32, view: &RecordView<'_>) {
        self.push_parts(&DeliveryParts {
            lease,
            attempt,
            queue: view.queue,
            offset: view.queue_offset,
            stored_at: view.stored_at,
            born_at: view.born_at,
            id: &view.id.0,
            content: view.content,
        });
    }

    pub fn push_parts(&mut self, p: &DeliveryParts<'_>) {
        let b = &mut self.items;
        b.extend_from_slice(&p.lease.to_le_bytes());
        b.extend_from_slice(&p.attempt.to_le_bytes());
        b.extend_from_slice(&p.queue.to_le_bytes());
        b.extend_from_slice(&p.offset.to_le_bytes());
        b.extend_from_slice(&p.stored_at.to_le_bytes());
        b.extend_from_slice(p.id);
        b.extend_from_slice(&p.born_at.to_le_bytes());
        b.extend_from_slice(p.content);
        self.count += 1;
    }

    /// The response body: status Ok, count, items.
    pub fn body_head(&self) -> [u8; 6] {
        let mut h = [0u8; 6];
        h[2..].copy_from_slice(&self.count.to_le_bytes());
        h
    }
}

/// Deliveries: count u32, then each lease u32, attempt u32, and a delivered message.
pub fn encode_deliveries(buf: &mut Vec<u8>, ms: &[GroupDelivered]) {
    buf.extend_from_slice(&(ms.len() as u32).to_le_bytes());
    for m in ms {
        buf.extend_from_slice(&m.lease.to_le_bytes());
        buf.extend_from_slice(&m.attempt.to_le_bytes());
        encode_delivered_one(buf, &m.delivered);
    }
}

pub(super) fn decode_deliveries(r: &mut Reader<'_>) -> Result<Vec<GroupDelivered>, ReadError> {
    list(r, 62, "message count", |r| {
        Ok(GroupDelivered {
            lease: r.u32("lease")?,
            attempt: r.u32("attempt")?,
            delivered: decode_delivered_one(r)?,
        })
    })
}

pub(super) fn encode_summaries(buf: &mut Vec<u8>, gs: &[GroupSummary]) {
    buf.extend_from_slice(&(gs.len() as u32).to_le_bytes());
    for g in gs {
        put_str16(buf, &g.name);
        buf.push(g.mode.code());
        buf.extend_from_slice(&g.members.to_le_bytes());
        put_strings(buf, &g.topics);
    }
}

pub(super) fn decode_summaries(r: &mut Reader<'_>) -> Result<Vec<GroupSummary>, ReadError> {
    list(r, 11, "group count", |r| {
        Ok(GroupSummary {
            name: r.str16("group")?,
            mode: mode_from(r.u8("mode")?)?,
            members: r.u32("members")?,
            topics: list(r, 2, "topic count", |r| r.str16("topic"))?,
        })
    })
}

fn put_strings(buf: &mut Vec<u8>, ss: &[String]) {
    buf.extend_from_slice(&(ss.len() as u32).to_le_bytes());
    for s in ss {
        put_str16(buf, s);
    }
}

pub(super) fn encode_group_info(buf: &mut Vec<u8>, g: &GroupInfo) {
    put_str16(buf, &g.name);
    buf.push(g.settings.mode.code());
    buf.extend_from_slice(&g.settings.lease_ms.to_le_bytes());
    buf.extend_from_slice(&g.settings.max_attempts.to_le_bytes());
    buf.extend_from_slice(&g.settings.session_timeout_ms.to_le_bytes());
    buf.extend_from_slice(&(g.members.len() as u32).to_le_bytes());
    for m in &g.members {
        buf.extend_from_slice(&m.id.to_le_bytes());
        put_str16(buf, &m.topic);
        put_str16(buf, &m.instance);
        put_str16(buf, &m.client);
        buf.extend_from_slice(&m.idle_ms.to_le_bytes());
        buf.extend_from_slice(&(m.queues.len() as u32).to_le_bytes());
        for q in &m.queues {
            buf.extend_from_slice(&q.to_le_bytes());
        }
    }
    buf.extend_from_slice(&(g.progress.len() as u32).to_le_bytes());
    for p in &g.progress {
        put_str16(buf, &p.topic);
        put_str16(buf, &p.instance);
        buf.extend_from_slice(&p.queue.to_le_bytes());
        for v in [p.owner, p.acked, p.end, p.ready, p.in_flight, p.retrying] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.extend_from_slice(&p.oldest_unacked_at.to_le_bytes());
    }
}

pub(super) fn decode_group_info(r: &mut Reader<'_>) -> Result<GroupInfo, ReadError> {
    let name = r.str16("group")?;
    let settings = GroupSettings {
        mode: mode_from(r.u8("mode")?)?,
        lease_ms: r.u64("lease")?,
        max_attempts: r.u32("max attempts")?,
        session_timeout_ms: r.u64("session timeout")?,
    };
    let members = list(r, 30, "member count", |r| {
        Ok(MemberInfo {
            id: r.u64("member")?,
            topic: r.str16("topic")?,
            instance: r.str16("instance")?,
            client: r.str16("client")?,
            idle_ms: r.u64("idle")?,
            queues: list(r, 4, "queue count", |r| r.u32("queue"))?,
        })
    })?;
    let progress = list(r, 64, "progress count", |r| {
        Ok(ProgressInfo {
            topic: r.str16("topic")?,
            instance: r.str16("instance")?,
            queue: r.u32("queue")?,
            owner: r.u64("owner")?,
            acked: r.u64("acked")?,
            end: r.u64("end")?,
            ready: r.u64("ready")?,
            in_flight: r.u64("in flight")?,
            retrying: r.u64("retrying")?,
            oldest_unacked_at: r.i64("oldest unacked")?,
        })
    })?;
    Ok(GroupInfo {
        name,
        settings,
        members,
        progress,
    })
}
