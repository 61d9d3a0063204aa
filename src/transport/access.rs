//! The request router's access check: what each request needs (an action on a resource), for
//! `crate::auth` to allow or refuse before the broker sees the request, and the refusal
//! (counted, logged rate limited) it answers with. Ping and Hello need
//! nothing; everything else needs at least an authenticated connection when `[auth] mode =
//! "required"`.
//!
//! | request | needs |
//! |---|---|
//! | Produce, ProduceDelayed, DelayCancel | produce on the topic |
//! | TxnSend | produce on the topic and on the transaction's producer group |
//! | Fetch, FetchFiltered, LookupId, LookupKey | consume on the topic |
//! | GroupJoin, Subscribe | consume on the group and on the topic |
//! | Receive, Ack, Nack, Heartbeat, GroupLeave | consume on the member's group |
//! | TopicDescribe, OffsetForTime, MessageState | describe on the topic (admin on what an internal topic belongs to) |
//! | GroupDescribe | describe on the group |
//! | TopicCreate, TopicDelete, TopicAlter | admin on the topic |
//! | GroupReset, GroupDelete | admin on the group |
//! | TxnBegin, TxnCheckListen | produce on the producer group |
//! | TxnEnd | produce on the transaction's producer group |
//! | TopicList, GroupList | an authenticated connection; the answer lists what it may describe (internal topics: what it may administer) |
//! | TxnCheckAnswer | nothing: outside a check stream it changes nothing |
//! | PluginList, PluginStats, PluginState, DelayStats, TxnList | describe on the broker |
//! | PluginReload | admin on the broker |
//!
//! Internal topics map to what they belong to ([`Resource::of_topic`]). Any right on a resource
//! includes describing it.

use super::status::response_of;
use crate::auth::{Action, AuthError, Identity, Principal, Resource};
use crate::broker::{Broker, BrokerError, ConnInfo};
use crate::codec::Reader;
use crate::metrics as m;
use crate::protocol::{
    DelayRequest, FetchFamily, GroupRequest, Kind, LookupRequest, PluginRequest, Request, Response,
    SessionRequest, TopicRequest, TxnRequest,
};

/// One thing a request needs.
pub(super) type Need = (Action, Resource);

/// What a long-lived stream's connection must still be allowed (a subscription, a check
/// stream): checked again on every reload of the access rules; the stream ends with the
/// refusal once it is not.
pub(super) struct Rights {
    pub identity: std::sync::Arc<Identity>,
    pub needs: Vec<Need>,
    pub conn: ConnInfo,
}

impl Rights {
    /// Checks them again (after a reload): `Err` is the refusal to end the stream with.
    pub fn recheck(&self, broker: &Broker) -> Result<(), Response> {
        check(broker, &self.identity, &self.conn, &self.needs)
    }
}

/// What a decoded request needs; `None` for the requests every connection may make.
pub(super) fn of_request(broker: &Broker, req: &Request) -> Option<Vec<Need>> {
    use Action::*;
    let topic = |a: Action, t: &str| (a, Resource::of_topic(t));
    let group = |a: Action, g: &str| (a, Resource::Group(g.to_string()));
    let broker_wide = |a: Action| vec![(a, Resource::Broker)];
    let member = |id: u64| match broker.groups().group_of_member(id) {
        Some(g) => vec![group(Consume, &g)],
        // An unknown member: the broker answers UnknownMember; the connection must still be
        // authenticated.
        None => Vec::new(),
    };
    Some(match req {
        Request::Session(_) => return None,
        Request::Produce(p) => vec![topic(Produce, &p.topic)],
        Request::Fetch(FetchFamily::Fetch(f) | FetchFamily::Filtered(f, _)) => {
            vec![topic(Consume, &f.topic)]
        }
        Request::Topic(t) => match t {
            TopicRequest::Create(c) => vec![topic(Admin, &c.name)],
            TopicRequest::Delete { name } | TopicRequest::Alter { name, .. } => {
                vec![topic(Admin, name)]
            }
            TopicRequest::Describe { name } => vec![topic(describe_action(name), name)],
            // Answered with what the principal may describe (see `visible`).
            TopicRequest::List => Vec::new(),
        },
        Request::Lookup(l) => match l {
            LookupRequest::Id { topic: t, .. } | LookupRequest::Key { topic: t, .. } => {
                vec![topic(Consume, t)]
            }
            LookupRequest::OffsetForTime { topic: t, .. } => vec![topic(Describe, t)],
        },
        Request::Group(g) => match g {
            GroupRequest::Join(j) => vec![group(Consume, &j.group), topic(Consume, &j.topic)],
            GroupRequest::Subscribe(s) => {
                vec![group(Consume, &s.join.group), topic(Consume, &s.join.topic)]
            }
            GroupRequest::Leave { member: id }
            | GroupRequest::Heartbeat { member: id }
            | GroupRequest::Ack { member: id, .. }
            | GroupRequest::Nack { member: id, .. } => member(*id),
            GroupRequest::Receive(r) => member(r.member),
            GroupRequest::Credit { .. } => Vec::new(),
            GroupRequest::List => Vec::new(),
            GroupRequest::Describe { group: g } => vec![group(Describe, g)],
            GroupRequest::Reset(r) => vec![group(Admin, &r.group)],
            GroupRequest::Delete { group: g } => vec![group(Admin, g)],
        },
        Request::Plugin(p) => match p {
            PluginRequest::List | PluginRequest::Stats | PluginRequest::State => {
                broker_wide(Describe)
            }
            PluginRequest::Reload { .. } => broker_wide(Admin),
        },
        Request::Delay(d) => match d {
            DelayRequest::Produce(p) => vec![topic(Produce, &p.produce.topic)],
            DelayRequest::Cancel { topic: t, .. } => vec![topic(Produce, t)],
            DelayRequest::Stats => broker_wide(Describe),
            DelayRequest::State { topic: t, .. } => vec![topic(Describe, t)],
        },
        Request::Txn(t) => match t {
            TxnRequest::Begin { producer_group, .. } | TxnRequest::Listen { producer_group } => {
                vec![group(Produce, producer_group)]
            }
            TxnRequest::Send(s) => {
                let mut needs = vec![topic(Produce, &s.produce.topic)];
                needs.extend(txn_group(broker, &s.id));
                needs
            }
            // An unknown transaction: the broker answers UnknownTransaction.
            TxnRequest::End { id, .. } => txn_group(broker, id).into_iter().collect(),
            // Applied only on a check stream, to a check asked there (`check_stream`); here it
            // changes nothing.
            TxnRequest::Answer { .. } => Vec::new(),
            TxnRequest::List => broker_wide(Describe),
        },
    })
}

/// Produce on the producer group of transaction `id`; `None` for an unknown transaction (the
/// broker answers UnknownTransaction).
fn txn_group(broker: &Broker, id: &str) -> Option<Need> {
    broker
        .transactions()
        .group_of(id)
        .map(|g| (Action::Produce, Resource::Group(g)))
}

/// Describing a topic: an internal one is an administrator's matter (its owner's admin right).
fn describe_action(topic: &str) -> Action {
    if crate::storage::TopicName::is_internal(topic) {
        Action::Admin
    } else {
        Action::Describe
    }
}

/// The request router's access check of a decoded request (a Hello's token authenticates the
/// connection first): `Err` is the refusal to answer with.
pub(super) fn admit(
    broker: &Broker,
    identity: &Identity,
    conn: &ConnInfo,
    req: &Request,
) -> Result<(), Response> {
    if let Request::Session(SessionRequest::Hello {
        token: Some(token), ..
    }) = req
    {
        match broker.auth().present(identity, token) {
            Ok(Some(p)) => tracing::debug!(principal = %p.config_name(), "authenticated"),
            Ok(None) => tracing::debug!("an unknown token, ignored: [auth] mode is none"),
            Err(e) => return Err(refusal(conn, None, e)),
        }
    }
    match of_request(broker, req) {
        None => Ok(()),
        Some(needs) => check(broker, identity, conn, &needs),
    }
}

/// [`admit`] for a frame taken undecoded (Produce, ProduceDelayed, TxnSend). Returns its
/// message count (for quotas; 0 when the body is too short to say): the body's head is read
/// once for both.
pub(super) fn admit_raw(
    broker: &Broker,
    identity: &Identity,
    conn: &ConnInfo,
    kind: Kind,
    body: &[u8],
) -> Result<u64, Response> {
    let head = produce_head(kind, body);
    check(broker, identity, conn, &of_raw(broker, kind, body, head))?;
    Ok(head.map_or(0, |(_, count)| u64::from(count)))
}

pub(super) fn check(
    broker: &Broker,
    identity: &Identity,
    conn: &ConnInfo,
    needs: &[Need],
) -> Result<(), Response> {
    broker
        .auth()
        .authorize(identity, needs)
        .map_err(|e| refusal(conn, identity.principal(), e))
}

/// Counts and logs (rate limited, with the principal or the remote address, never a secret) a
/// refusal, and makes its answer.
pub(super) fn refusal(conn: &ConnInfo, principal: Option<Principal>, e: AuthError) -> Response {
    let refused = BrokerError::Access(e);
    let answer = response_of(&refused);
    let status = answer.status().name();
    metrics::counter!(m::AUTH_FAILURES_TOTAL, "status" => status).increment(1);
    let who = principal.map_or_else(|| "anonymous".to_string(), |p| p.config_name());
    crate::warn_limited!("auth refusal", remote = %conn.remote, principal = %who, status, reason = %refused, "request refused");
    answer
}

/// What a frame the broker takes undecoded (Produce, ProduceDelayed, TxnSend) needs: produce
/// on the topic its body names first, and for TxnSend on the transaction's producer group. A
/// body too short to name one needs only an authenticated connection; decoding it then fails.
fn of_raw(broker: &Broker, kind: Kind, body: &[u8], head: Option<(&str, u32)>) -> Vec<Need> {
    let Some((topic, _)) = head else {
        return Vec::new();
    };
    let mut needs = vec![(Action::Produce, Resource::of_topic(topic))];
    if kind == Kind::TxnSend
        && let Ok(id) = Reader::new(body).str16_ref("transaction id")
    {
        needs.extend(txn_group(broker, id));
    }
    needs
}

/// The topic and message count at the head of a Produce, ProduceDelayed or TxnSend body (after
/// TxnSend's transaction id); `None` when the body is too short for them.
fn produce_head(kind: Kind, body: &[u8]) -> Option<(&str, u32)> {
    let mut r = Reader::new(body);
    if kind == Kind::TxnSend {
        r.str16_ref("transaction id").ok()?;
    }
    let topic = r.str16_ref("topic").ok()?;
    r.u64("producer id").ok()?;
    r.u64("sequence").ok()?;
    Some((topic, r.u32("message count").ok()?))
}

/// Whether a request's answer lists things the connection sees only some of (TopicList,
/// GroupList): [`visible`] filters it.
pub(super) fn lists(req: &Request) -> bool {
    matches!(
        req,
        Request::Topic(TopicRequest::List) | Request::Group(GroupRequest::List)
    )
}

/// A list answer with only the topics or groups the connection may describe.
pub(super) fn visible(broker: &Broker, identity: &Identity, answer: Response) -> Response {
    let may = |a: Action, r: Resource| broker.auth().check(identity, a, &r).is_ok();
    match answer {
        Response::Topics(mut topics) => {
            topics.retain(|t| may(describe_action(&t.name), Resource::of_topic(&t.name)));
            Response::Topics(topics)
        }
        Response::Groups(mut groups) => {
            groups.retain(|g| may(Action::Describe, Resource::Group(g.name.clone())));
            Response::Groups(groups)
        }
        other => other,
    }
}
