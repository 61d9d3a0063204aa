//! Check streams. A `TxnCheckListen` frame as the first frame of a stream makes it a channel on
//! which the broker asks the producer group about transactions without an outcome: the server
//! answers the `TxnCheckListen` once (`Done`, or an error and the end of the stream), then
//! sends a `TxnCheck` frame (kind 145 with the response bit, request id 0) per check-back; the
//! producer sends `TxnCheckAnswer` frames, which get no response. An answer applies only to a
//! check this stream was asked (so only to a transaction of its own producer group, whose
//! produce right the stream was opened with); any other answer changes nothing. A `TxnEnd` on
//! any stream (which needs produce on the transaction's group) answers a check-back just as
//! well. When either side finishes the stream, or the connection
//! closes, the stream stops being asked. After a reload of the access rules the stream is
//! checked again: one whose connection may no longer produce for the group gets the refusal
//! as a `TxnCheck` frame, and the stream ends.

use std::sync::Arc;

use super::server::decode;
use super::status::response_of;
use super::stream::{FrameRead, RecvStream, SendStream, response_frame as encode};
use crate::broker::Broker;
use crate::protocol::{Header, Kind, RESPONSE_BIT, Request, Response, TxnRequest};

pub(super) async fn serve(
    mut send: SendStream,
    recv: RecvStream,
    broker: Arc<Broker>,
    (h, body): (Header, &[u8]),
    max_frame: u32,
    rights: super::access::Rights,
) {
    let answer_kind = Kind::TxnCheckListen as u16 | RESPONSE_BIT;
    let group = match decode(h.kind, body) {
        Ok(req @ Request::Txn(TxnRequest::Listen { .. })) => match req.check_ranges() {
            Ok(()) => match req {
                Request::Txn(TxnRequest::Listen { producer_group }) => producer_group,
                _ => unreachable!("matched above"),
            },
            Err(e) => {
                let r = response_of(&e.into());
                send.answer_and_finish(answer_kind, h.request_id, &r).await;
                return;
            }
        },
        Ok(_) => unreachable!("the kind was TxnCheckListen"),
        Err(r) => {
            send.answer_and_finish(answer_kind, h.request_id, &r).await;
            return;
        }
    };
    // Reloads are watched from before the answer: one that lands between the answer and
    // the loop below must still end the stream. One that came after the rights were checked
    // at the stream's start and before this watch began is caught by checking again now.
    let mut reloads = broker.auth().reloads();
    if let Err(refused) = rights.recheck(&broker) {
        send.answer_and_finish(answer_kind, h.request_id, &refused)
            .await;
        return;
    }
    let txns = broker.transactions().clone();
    let (id, mut asks) = txns.listen(&group);
    tracing::debug!(group = %group, "check stream open");
    if send
        .write(encode(answer_kind, h.request_id, &Response::Done))
        .await
        .is_ok()
    {
        // Answers are read by a task of their own: a frame read must never be cut short by
        // a check going out (that would lose the bytes read so far).
        let asked = Arc::new(Asked::default());
        let mut reader = tokio::spawn(read_answers(
            recv,
            txns.clone(),
            max_frame,
            asked.clone(),
            group.clone(),
        ));
        let check_kind = Kind::TxnCheck as u16 | RESPONSE_BIT;
        loop {
            tokio::select! {
                _ = reloads.changed() => {
                    if let Err(refused) = rights.recheck(&broker) {
                        let _ = send.write(encode(check_kind, 0, &refused)).await;
                        break;
                    }
                }
                ask = asks.recv() => {
                    let Some(info) = ask else { break };
                    asked.note(&info.id, &txns);
                    let frame = encode(check_kind, 0, &Response::TxnCheck(info));
                    if send.write(frame).await.is_err() {
                        break;
                    }
                }
                _ = &mut reader => break,
            }
        }
        reader.abort();
    }
    txns.unlisten(id);
    let _ = send.finish();
}

/// The transactions a check stream was asked about and has not answered yet: the only ones
/// its answers may apply to. A transaction asked again is not added again; ones resolved
/// meanwhile (by a TxnEnd, another stream, `on_unresolved`) are dropped when the set grows
/// past [`ASKED_PRUNE_AT`], so it stays about as large as the group's open transactions.
#[derive(Default)]
struct Asked(parking_lot::Mutex<std::collections::HashSet<String>>);

/// Size of [`Asked`] past which resolved transactions are dropped from it.
const ASKED_PRUNE_AT: usize = 1024;

impl Asked {
    fn note(&self, id: &str, txns: &crate::broker::txn::Transactions) {
        let mut asked = self.0.lock();
        if asked.len() >= ASKED_PRUNE_AT {
            asked.retain(|id| txns.is_open(id));
        }
        asked.insert(id.to_string());
    }

    /// Whether `id` was asked here; it is taken off either way (asked again, it comes back).
    fn take(&self, id: &str) -> bool {
        self.0.lock().remove(id)
    }
}

/// Applies the TxnCheckAnswer frames of a check stream until it ends or carries anything else.
async fn read_answers(
    mut recv: RecvStream,
    txns: Arc<crate::broker::txn::Transactions>,
    max_frame: u32,
    asked: Arc<Asked>,
    group: String,
) {
    loop {
        let FrameRead::Frame(h, body) = recv.read_frame(max_frame).await else {
            return;
        };
        match decode(h.kind, &body) {
            Ok(Request::Txn(TxnRequest::Answer { id, answer })) => {
                if !asked.take(&id) {
                    tracing::debug!(txn = %id, "an answer to a check this stream was not asked is ignored");
                    continue;
                }
                let (txns, group) = (txns.clone(), group.clone());
                let done =
                    tokio::task::spawn_blocking(move || txns.answer(&id, answer, &group)).await;
                if let Ok(Err(e)) = done {
                    tracing::warn!(error = %e, "a check-back answer could not be recorded");
                }
            }
            _ => {
                tracing::debug!(
                    kind = h.kind,
                    "a check stream carries only TxnCheckAnswer frames"
                );
                return;
            }
        }
    }
}
