//! Requests: one enum per family (each in its own file, with its codec and its ranges), and
//! [`Request`], which routes a kind to its family. Encoding is for clients, decoding for the
//! server.

use crate::codec::{ReadError, Reader};

use super::delay::DelayRequest;
use super::fetch::FetchFamily;
use super::group_request::GroupRequest;
use super::limits::OutOfRange;
use super::lookup::LookupRequest;
use super::plugin::PluginRequest;
use super::produce::{ProduceRequest, ProduceView, encode_produce};
use super::session::SessionRequest;
use super::topic::TopicRequest;
use super::txn::TxnRequest;
use super::{FamilyKind, Kind, ProtocolError};

/// What every request family provides: its kinds, its body codec and its documented ranges.
pub trait Family: Sized {
    /// The family's own kinds (from the kind table), which [`Family::decode`] matches.
    type Kinds: Copy + Into<Kind>;
    /// The kind of this request.
    fn kind(&self) -> Kind;
    /// Appends the body bytes. Names and strings longer than 65,535 bytes are the caller's
    /// error; the client checks them.
    fn encode(&self, buf: &mut Vec<u8>);
    /// Decodes a body of `kind`, one of this family's.
    fn decode(kind: Self::Kinds, r: &mut Reader<'_>) -> Result<Self, ReadError>;
    /// Whether every field is within its documented range.
    fn check_ranges(&self) -> Result<(), OutOfRange> {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Session(SessionRequest),
    Produce(ProduceRequest),
    Fetch(FetchFamily),
    Topic(TopicRequest),
    Lookup(LookupRequest),
    Group(GroupRequest),
    Plugin(PluginRequest),
    Delay(DelayRequest),
    Txn(TxnRequest),
}

impl Request {
    pub fn kind(&self) -> Kind {
        match self {
            Request::Session(r) => r.kind(),
            Request::Produce(_) => Kind::Produce,
            Request::Fetch(r) => r.kind(),
            Request::Topic(r) => r.kind(),
            Request::Lookup(r) => r.kind(),
            Request::Group(r) => r.kind(),
            Request::Plugin(r) => r.kind(),
            Request::Delay(r) => r.kind(),
            Request::Txn(r) => r.kind(),
        }
    }

    /// The body bytes.
    pub fn encode_body(&self, buf: &mut Vec<u8>) {
        match self {
            Request::Session(r) => r.encode(buf),
            Request::Produce(p) => encode_produce(buf, p),
            Request::Fetch(r) => r.encode(buf),
            Request::Topic(r) => r.encode(buf),
            Request::Lookup(r) => r.encode(buf),
            Request::Group(r) => r.encode(buf),
            Request::Plugin(r) => r.encode(buf),
            Request::Delay(r) => r.encode(buf),
            Request::Txn(r) => r.encode(buf),
        }
    }

    /// Whether every field is within its documented range (see `limits`).
    pub fn check_ranges(&self) -> Result<(), OutOfRange> {
        match self {
            Request::Session(r) => r.check_ranges(),
            Request::Produce(_) => Ok(()),
            Request::Fetch(r) => r.check_ranges(),
            Request::Topic(r) => r.check_ranges(),
            Request::Lookup(r) => r.check_ranges(),
            Request::Group(r) => r.check_ranges(),
            Request::Plugin(r) => r.check_ranges(),
            Request::Delay(r) => r.check_ranges(),
            Request::Txn(r) => r.check_ranges(),
        }
    }

    /// Decodes a request body of the given kind.
    pub fn decode(kind: u16, body: &[u8]) -> Result<Request, ProtocolError> {
        let kind = Kind::from_u16(kind).ok_or(ProtocolError::UnknownKind(kind))?;
        let mut r = Reader::new(body);
        let req = match kind.family() {
            // One parser for produce bodies: the borrowed view, then owned copies.
            FamilyKind::Produce(_) => {
                return ProduceView::decode(body)?.to_owned().map(Request::Produce);
            }
            FamilyKind::Delay(k) => return DelayRequest::decode_body(k, body).map(Request::Delay),
            FamilyKind::Txn(k) => return TxnRequest::decode_body(k, body).map(Request::Txn),
            FamilyKind::Session(k) => SessionRequest::decode(k, &mut r).map(Request::Session),
            FamilyKind::Fetch(k) => FetchFamily::decode(k, &mut r).map(Request::Fetch),
            FamilyKind::Topic(k) => TopicRequest::decode(k, &mut r).map(Request::Topic),
            FamilyKind::Lookup(k) => LookupRequest::decode(k, &mut r).map(Request::Lookup),
            FamilyKind::Group(k) => GroupRequest::decode(k, &mut r).map(Request::Group),
            FamilyKind::Plugin(k) => PluginRequest::decode(k, &mut r).map(Request::Plugin),
        };
        req.and_then(|req| r.finish("request").map(|()| req))
            .map_err(|source| ProtocolError::Body { kind, source })
    }
}

/// The error a family's `decode` gives for a kind whose body its `decode_body` reads whole (a
/// Produce body inside): never reached through [`Request::decode`].
pub(super) fn whole_body(kind: &str) -> ReadError {
    ReadError::Invalid {
        field: "kind",
        reason: format!("{kind} bodies are decoded whole"),
    }
}
