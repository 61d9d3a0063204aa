//! Subscription streams. A `Subscribe` frame as the first frame of a stream joins a group and
//! turns the stream into a push channel: the server answers with one `Subscribe` response
//! (`Joined`, or an error and the end of the stream), then sends `Deliveries` frames as long as
//! the consumer has credit; the consumer sends `Credit` frames, which get no response. The
//! server never sends more messages or bytes than granted (a message counts its wire size:
//! 52 bytes plus its content). Acks travel as ordinary requests on other streams. When either
//! side finishes the stream, or the connection closes, the member leaves the group.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::server::decode;
use super::status::response_of;
use super::stream::{FrameRead, RecvStream, SendStream, response_frame as encode};
use crate::broker::{Broker, ByteBudget, ConnInfo};

use crate::protocol::{GroupRequest, HEADER_LEN, Header, Kind, RESPONSE_BIT, Request, Response};

/// Most messages in one pushed frame.
const MAX_PUSH: u64 = 1024;
/// An idle subscription looks again this often (whether its member is still in its group).
const IDLE_RECHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Credit {
    messages: u64,
    bytes: u64,
    closed: bool,
}

pub(super) async fn serve(
    mut send: SendStream,
    recv: RecvStream,
    broker: Arc<Broker>,
    conn: ConnInfo,
    (h, body): (Header, &[u8]),
    max_frame: u32,
    rights: super::access::Rights,
) {
    let answer_kind = Kind::Subscribe as u16 | RESPONSE_BIT;
    // Reloads are watched from here, before the answer: one that lands while the member
    // joins must still be seen by the push loop (see check_stream for the same rule).
    let reloads = broker.auth().reloads();
    let seen = *reloads.borrow();
    if let Err(refused) = rights.recheck(&broker) {
        send.answer_and_finish(answer_kind, h.request_id, &refused)
            .await;
        return;
    }
    let req = match decode(h.kind, body) {
        Ok(Request::Group(GroupRequest::Subscribe(s))) => s,
        Ok(_) => unreachable!("the kind was Subscribe"),
        Err(r) => {
            send.answer_and_finish(answer_kind, h.request_id, &r).await;
            return;
        }
    };
    let joined = broker
        .group_join(&conn, req.join.clone())
        .await
        .unwrap_or_else(|e| response_of(&e));
    if send
        .write(encode(answer_kind, h.request_id, &joined))
        .await
        .is_err()
    {
        if let Response::Joined { member, .. } = joined {
            let _ = broker.groups().leave(member);
        }
        return;
    }
    let Response::Joined { member, .. } = joined else {
        let _ = send.finish();
        return;
    };
    tracing::debug!(member, group = %req.join.group, "subscription open");
    // An open subscription keeps its member alive; closing the stream removes it.
    let Ok(hold) = broker.groups().hold(member) else {
        let _ = send.finish();
        return;
    };

    let credit = Arc::new(Mutex::new(Credit {
        messages: u64::from(req.credit_messages),
        bytes: req.credit_bytes,
        closed: false,
    }));
    let changed = Arc::new(Notify::new());
    let reader = tokio::spawn(read_credits(
        recv,
        credit.clone(),
        changed.clone(),
        max_frame,
        broker.clone(),
        member,
    ));

    let watch = Watch {
        changed: &changed,
        rights: &rights,
        // Admitted under the rules of now.
        seen,
        reloads,
    };
    let result = push_loop(&mut send, &broker, member, &credit, watch, h, max_frame).await;
    if let Err(reason) = result {
        tracing::debug!(member, %reason, "subscription ended");
    }
    drop(hold);
    let _ = broker.groups().leave(member);
    reader.abort();
    let _ = send.finish();
}

/// Reads `Credit` frames until the stream ends; anything else ends the subscription. Each
/// `Credit` frame (even 0/0) is the member's heartbeat.
async fn read_credits(
    mut recv: RecvStream,
    credit: Arc<Mutex<Credit>>,
    changed: Arc<Notify>,
    max_frame: u32,
    broker: Arc<Broker>,
    member: u64,
) {
    loop {
        let grant = match recv.read_frame(max_frame).await {
            FrameRead::Frame(h, body) => match decode(h.kind, &body) {
                Ok(Request::Group(GroupRequest::Credit { messages, bytes })) => {
                    let _ = broker.groups().heartbeat(member);
                    Some((messages, bytes))
                }
                Ok(other) => {
                    tracing::debug!(kind = ?other.kind(), "a subscription stream carries only Credit frames");
                    None
                }
                Err(_) => None,
            },
            FrameRead::End | FrameRead::TooLarge(_) => None,
        };
        {
            let mut c = credit.lock();
            match grant {
                Some((m, b)) => {
                    c.messages = c.messages.saturating_add(u64::from(m));
                    c.bytes = c.bytes.saturating_add(b);
                }
                None => c.closed = true,
            }
        }
        changed.notify_one();
        if grant.is_none() {
            return;
        }
    }
}

/// What the push loop wakes on besides appends: new credit, and reloads of the access rules.
struct Watch<'a> {
    changed: &'a Notify,
    rights: &'a super::access::Rights,
    reloads: tokio::sync::watch::Receiver<u64>,
    /// The reload the rights were last checked at.
    seen: u64,
}

async fn push_loop(
    send: &mut SendStream,
    broker: &Arc<Broker>,
    member: u64,
    credit: &Mutex<Credit>,
    mut watch: Watch<'_>,
    h: Header,
    max_frame: u32,
) -> Result<(), String> {
    let push_kind = Kind::Deliveries as u16 | RESPONSE_BIT;
    let changed = watch.changed;
    let (mut appends, mut ready) = broker
        .groups()
        .watch(member)
        .map_err(|_| "member gone".to_string())?;
    loop {
        // Checked again after a reload (seen here, or woken by below).
        let generation = *watch.reloads.borrow_and_update();
        if generation != watch.seen {
            watch.seen = generation;
            if let Err(refused) = watch.rights.recheck(broker) {
                let _ = send.write(encode(push_kind, h.request_id, &refused)).await;
                return Err("its rights were revoked".into());
            }
        }
        let (messages, bytes, closed) = {
            let c = credit.lock();
            (c.messages, c.bytes, c.closed)
        };
        if closed {
            return Ok(());
        }
        if messages == 0 || bytes == 0 {
            // Out of credit: wait for more (or a reload), checking now and then that the
            // member is still in its group (it is removed when its heartbeats stop).
            let idle = tokio::select! {
                _ = changed.notified() => false,
                _ = watch.reloads.changed() => false,
                _ = tokio::time::sleep(IDLE_RECHECK) => true,
            };
            if idle && let Err(e) = broker.groups().watch(member) {
                let r = response_of(&e);
                let _ = send.write(encode(push_kind, h.request_id, &r)).await;
                return Err("member gone".into());
            }
            continue;
        }
        appends.mark_unchanged();
        ready.mark_unchanged();
        let budget = ByteBudget {
            max: bytes.min(u64::from(max_frame / 2)) as usize,
            at_least_one: false,
        };
        let got = match broker
            .group_take(member, messages.min(MAX_PUSH) as usize, budget)
            .await
        {
            Ok(got) => got,
            Err(e) => {
                // The member is gone (session timeout) or the store failed: say so and end.
                let r = response_of(&e);
                let _ = send.write(encode(push_kind, h.request_id, &r)).await;
                return Err(e.to_string());
            }
        };
        if got.count == 0 {
            tokio::select! {
                _ = appends.changed() => {}
                _ = ready.changed() => {}
                _ = changed.notified() => {}
                _ = watch.reloads.changed() => {}
                _ = tokio::time::sleep(IDLE_RECHECK) => {}
            }
            continue;
        }
        {
            let mut c = credit.lock();
            c.messages = c.messages.saturating_sub(u64::from(got.count));
            c.bytes = c.bytes.saturating_sub(got.items.len() as u64);
        }
        // Header and body head, then the items as they are: no copy of the messages.
        let head = got.body_head();
        let mut first = Vec::with_capacity(HEADER_LEN + head.len());
        first.extend_from_slice(
            &Header {
                body_len: (head.len() + got.items.len()) as u32,
                kind: push_kind,
                flags: 0,
                request_id: h.request_id,
            }
            .encode(),
        );
        first.extend_from_slice(&head);
        let sent = first.len() + got.items.len();
        metrics::counter!(crate::metrics::SENT_BYTES_TOTAL).increment(sent as u64);
        send.write_parts(first, got.items)
            .await
            .map_err(|e| e.to_string())?;
    }
}
