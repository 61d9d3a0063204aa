//! Lockgate wire protocol, version 1: frames, request kinds, status codes, and the codecs of
//! every request and response. Pure: no tokio, no quinn; `docs/protocol.md` is the spec.
//!
//! A connection is QUIC with TLS 1.3 and ALPN [`ALPN`]. Clients open bidirectional streams; on
//! each, they send request frames (and may pipeline them) and the server answers every request
//! with exactly one response frame, in request order. Streams are independent, so a client that
//! wants concurrency (a producer pipeline, one fetch per queue) uses several streams.
//!
//! Frame header (12 bytes, little-endian): body length u32, kind u16, flags u16 (0),
//! request id u32 (echoed in the response). A response's kind is its request's kind with bit 15
//! set. Kind numbers and status codes are never reused.
//!
//! Requests come in families, one file each (`session`, `produce`, `fetch`, `topic`, `lookup`,
//! `group_request`, `plugin`, `delay`, `txn`) holding the family's enum, its codec ([`Family`]) and its
//! documented ranges ([`limits`]). **Adding a request kind**: one line in the kind table
//! (`kinds!` below), the variant and its arms in its family's file, and its arm in the family's
//! broker handler. Shared group types and responses live in `group` and `response`.

/// A one-byte wire enum: each variant with its number and the name docs and the CLI use.
/// `from_u8` and `name` come from the one list, and `read` names the field and the numbers it
/// takes when a body holds another (the phase and outcome enums were hand-kept copies).
macro_rules! wire_u8_enum {
    ($(#[$meta:meta])* $vis:vis enum $ty:ident, $what:literal {
        $($(#[$doc:meta])* $var:ident = $num:literal => $name:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        $vis enum $ty {
            $($(#[$doc])* $var = $num,)*
        }

        impl $ty {
            /// Every variant, in number order.
            pub const ALL: &[$ty] = &[$($ty::$var),*];

            /// The variant numbered `v`, if any.
            pub fn from_u8(v: u8) -> Option<$ty> {
                match v {
                    $($num => Some($ty::$var),)*
                    _ => None,
                }
            }

            /// Its name, as docs and the CLI spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$var => $name,)*
                }
            }

            /// Reads one from `field`, or says which numbers it takes.
            // Not every such enum travels in a body (the TCP ops are read from a prefix).
            #[allow(dead_code)]
            pub(crate) fn read(
                r: &mut crate::codec::Reader<'_>,
                field: &'static str,
            ) -> Result<$ty, crate::codec::ReadError> {
                let v = r.u8(field)?;
                $ty::from_u8(v).ok_or_else(|| crate::codec::ReadError::Invalid {
                    field,
                    reason: format!(
                        "{v} is not {} ({})",
                        $what,
                        [$(concat!($num, " ", $name)),*].join(", ")
                    ),
                })
            }
        }
    };
}

pub mod compact;
mod delay;
mod fetch;
mod group;
mod group_request;
pub mod limits;
mod lookup;
mod plugin;
mod produce;
mod request;
mod response;
mod session;
pub mod tcp;
mod topic;
mod txn;

pub use delay::{
    DelayPhase, DelayRequest, DelayState, DelayStatsInfo, DelayedProduce, Delivery, ScheduledAck,
    decode_delayed_view,
};
pub use fetch::{EncodedFetch, FetchFamily, FetchRequest};
pub use group::{
    AckRange, DeliveryParts, EncodedDeliveries, FilterSpec, GroupDelivered, GroupInfo,
    GroupSettings, GroupSummary, JoinRequest, MemberInfo, Mode, ProgressInfo, ResetTo,
    StartPosition, SubscribeRequest, encode_deliveries,
};
pub use group_request::{GroupRequest, ReceiveRequest, ResetRequest};
pub use limits::OutOfRange;
pub use lookup::LookupRequest;
pub use plugin::{LoadState, PluginCounters, PluginHealth, PluginRequest};
pub use produce::{
    MessageView, ProduceMessage, ProduceRequest, ProduceView, PropertySplice, Route, RouteView,
};
pub use request::{Family, Request};
pub use response::{
    Ack, Delivered, PluginEntry, QueueRange, Response, RouteOutcome, RoutedAck, RoutedTo, TopicInfo,
};
pub use session::SessionRequest;
pub use topic::{CreateTopic, TopicRequest};
pub use txn::{
    CheckAnswer, MAX_TXN_NAME, Outcome, Placed, TxnEnded, TxnInfo, TxnPhase, TxnRequest, TxnSend,
    decode_send_view,
};

use crate::codec::ReadError;

/// The TLS application protocol; it carries the protocol version.
pub const ALPN: &[u8] = b"lockgate/1";
pub const VERSION: u16 = 1;
pub const HEADER_LEN: usize = 12;
/// Set in a response's kind.
pub const RESPONSE_BIT: u16 = 0x8000;
/// The largest frame body a server accepts unless configured otherwise.
pub const DEFAULT_MAX_FRAME: u32 = 16 << 20;

/// The kind table: every request kind, its number and its family. Numbers are part of the
/// protocol and never reused. Adding a kind is one line here, its variant and codec in its
/// family's file, and its arm in the family's broker handler. Each family gets an enum of its
/// own kinds (`SessionKind`, …) that its decoder matches exhaustively, so a kind added here
/// and forgotten there does not compile.
macro_rules! kinds {
    ($(
        $(#[$fdoc:meta])* $family:ident($sub:ident) {
            $($(#[$doc:meta])* $name:ident = $num:literal,)*
        }
    )*) => {
        /// Request kinds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Kind {
            $($($(#[$doc])* $name = $num,)*)*
        }

        $(
            $(#[$fdoc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum $sub {
                $($(#[$doc])* $name,)*
            }

            impl From<$sub> for Kind {
                fn from(k: $sub) -> Kind {
                    match k {
                        $($sub::$name => Kind::$name,)*
                    }
                }
            }
        )*

        /// A kind as its family sees it: the family, and the kind among the family's own.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FamilyKind {
            $($family($sub),)*
        }

        impl Kind {
            /// Every kind, in table order.
            pub const ALL: &[Kind] = &[$($(Kind::$name,)*)*];

            pub fn from_u16(v: u16) -> Option<Kind> {
                match v {
                    $($($num => Some(Kind::$name),)*)*
                    _ => None,
                }
            }

            /// The kind's name, as docs and metrics labels spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $($(Kind::$name => stringify!($name),)*)*
                }
            }

            /// The family whose file holds this kind's codec, with the kind among its own.
            pub fn family(self) -> FamilyKind {
                match self {
                    $($(Kind::$name => FamilyKind::$family($sub::$name),)*)*
                }
            }
        }
    };
}

kinds! {
    /// Ping and Hello (`session.rs`).
    Session(SessionKind) {
        Ping = 1,
        Hello = 2,
    }
    /// Plain produce (`produce.rs`).
    Produce(ProduceKind) {
        Produce = 16,
    }
    /// Reads by queue and offset (`fetch.rs`).
    Fetch(FetchKind) {
        Fetch = 32,
        /// A Fetch whose messages pass through a filter first.
        FetchFiltered = 33,
    }
    /// Topic administration (`topic.rs`).
    Topic(TopicKind) {
        TopicCreate = 48,
        TopicDelete = 49,
        TopicList = 50,
        TopicDescribe = 51,
        /// Grows a topic's queues online.
        TopicAlter = 52,
    }
    /// Lookups by id, key and time (`lookup.rs`).
    Lookup(LookupKind) {
        LookupId = 64,
        LookupKey = 65,
        OffsetForTime = 66,
    }
    /// Consumer groups (`group_request.rs`, answers in `group.rs`).
    Group(GroupKind) {
        GroupJoin = 96,
        GroupLeave = 97,
        Heartbeat = 98,
        Receive = 99,
        Ack = 100,
        Nack = 101,
        /// Turns its stream into a subscription stream (see `docs/protocol.md`).
        Subscribe = 102,
        /// One-way, on a subscription stream: more credit.
        Credit = 103,
        /// Server to client only, on a subscription stream: pushed messages.
        Deliveries = 104,
        GroupList = 112,
        GroupDescribe = 113,
        GroupReset = 114,
        GroupDelete = 115,
    }
    /// Plugins (`plugin.rs`).
    Plugin(PluginKind) {
        PluginList = 120,
        PluginReload = 121,
        PluginStats = 122,
        PluginState = 123,
    }
    /// Delay messages (`delay.rs`).
    Delay(DelayKind) {
        /// A Produce body followed by each message's delivery time (see `delay`).
        ProduceDelayed = 17,
        DelayCancel = 130,
        DelayStats = 131,
        MessageState = 132,
    }
    /// Transactions (`txn.rs`).
    Txn(TxnKind) {
        TxnBegin = 140,
        /// A transaction id, then a Produce body (and optional deliveries): half messages.
        TxnSend = 141,
        TxnEnd = 142,
        TxnList = 143,
        /// Turns its stream into a producer group's check stream (see `docs/protocol.md`).
        TxnCheckListen = 144,
        /// Server to client only, on a check stream: asks for a transaction's outcome.
        TxnCheck = 145,
        /// One-way, on a check stream: the answer to a TxnCheck.
        TxnCheckAnswer = 146,
    }
}

/// The status table: every response status, its number and its doc line. Numbers are part
/// of the protocol and never reused; a status is one line here.
macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $num:literal,)*) => {
        /// Response status codes. Numbers are part of the protocol and never reused.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Status {
            $($(#[$doc])* $name = $num,)*
        }

        impl Status {
            /// The status's name, as docs and metrics labels spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Status::$name => stringify!($name),)*
                }
            }

            pub fn from_u16(v: u16) -> Option<Status> {
                match v {
                    $($num => Some(Status::$name),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    Ok = 0,
    /// The frame's body does not parse; the message says which field.
    Malformed = 1,
    /// The request kind is not known to this server.
    UnknownRequest = 2,
    /// The frame is larger than the server accepts; the stream is closed after this response.
    FrameTooLarge = 3,
    UnsupportedVersion = 4,
    /// A produce batch's CRC32C does not match its messages; nothing was stored.
    ChecksumMismatch = 5,
    /// A value is out of range or a name is invalid (the message says which).
    InvalidArgument = 6,
    UnknownTopic = 7,
    UnknownQueue = 8,
    TopicExists = 9,
    MessageTooLarge = 10,
    BatchTooLarge = 11,
    /// The offset is no longer stored; `detail` is the earliest offset.
    OffsetTrimmed = 12,
    /// The offset is past the end; `detail` is the next offset.
    OffsetBeyondEnd = 13,
    /// The store could not complete the request (I/O error, full disk); nothing was acknowledged.
    StorageFailure = 14,
    /// An idempotent producer skipped a sequence number; `detail` is the next expected one.
    SequenceOutOfOrder = 15,
    ShuttingDown = 16,
    Internal = 17,
    /// The name is reserved for internal topics.
    ReservedName = 18,
    UnknownGroup = 19,
    /// The member left or missed its heartbeats; join again.
    UnknownMember = 20,
    /// Every acked or nacked message had an expired, revoked or unknown lease (nothing changed;
    /// the message may have gone to another member). Safe to ignore.
    StaleLease = 21,
    /// The group is in another mode, or has live members where that is not allowed.
    GroupConflict = 22,
    /// The subscription's filter is refused: unknown or not allowed plugin, or an expression
    /// error (the message gives its position).
    FilterRejected = 23,
    /// A filter plugin failed and the topic's pipeline says `on_error = "pause"`.
    FilterFailed = 24,
    /// The delay message was delivered (or is being delivered) before the cancel arrived.
    AlreadyDelivered = 25,
    /// No delay message with this id is known (in this topic).
    UnknownMessage = 26,
    /// The transaction was committed before: a rollback is refused (a commit answers Ok).
    TxnCommitted = 27,
    /// The transaction was rolled back before: a commit is refused (a rollback answers Ok).
    TxnRolledBack = 28,
    /// No transaction with this id is known (never begun, or its outcome is forgotten).
    UnknownTransaction = 29,
    /// The transaction takes no more messages: past its timeout, parked, or ended.
    TxnClosed = 30,
    /// An ingress pipeline's plugin failed or routed somewhere it may not, and the pipeline
    /// says `on_error = "reject"`: nothing of the batch is stored; it may be sent again.
    PipelineFailed = 31,
    /// With `[auth] mode = "required"`, a connection that has not authenticated (no token in
    /// its Hello, no client certificate) or whose token was revoked may only ping and say hello.
    NotAuthenticated = 32,
    /// The connection's principal may not do this; the message names the action and the
    /// resource.
    NotAuthorized = 33,
    /// Not ready yet, nothing done: a plugin of the topic's ingress pipeline is still
    /// compiling after a fresh start. `detail` = how many milliseconds to wait before sending
    /// again.
    NotReady = 34,
}

/// A frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub body_len: u32,
    pub kind: u16,
    pub flags: u16,
    pub request_id: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&self.body_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.kind.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.request_id.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            body_len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            kind: u16::from_le_bytes([b[4], b[5]]),
            flags: u16::from_le_bytes([b[6], b[7]]),
            request_id: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// Why a frame body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("unknown request kind {0}")]
    UnknownKind(u16),
    #[error("unknown status code {0}")]
    UnknownStatus(u16),
    #[error("malformed {kind:?} body: {source}")]
    Body { kind: Kind, source: ReadError },
    #[error("produce batch checksum mismatch (sent {sent:#010x}, computed {computed:#010x})")]
    Checksum { sent: u32, computed: u32 },
}

impl ProtocolError {
    /// The status a server answers this error with.
    pub fn status(&self) -> Status {
        match self {
            ProtocolError::UnknownKind(_) => Status::UnknownRequest,
            ProtocolError::Checksum { .. } => Status::ChecksumMismatch,
            ProtocolError::Body {
                source: ReadError::OutOfRange { .. },
                ..
            } => Status::InvalidArgument,
            ProtocolError::Body { .. } | ProtocolError::UnknownStatus(_) => Status::Malformed,
        }
    }
}

/// A complete frame: header fields plus body, encoded.
pub fn frame(kind: u16, request_id: u32, body: &[u8]) -> Vec<u8> {
    frame_with_flags(kind, 0, request_id, body)
}

/// [`frame`] with header flags (a Produce asking for a compact answer:
/// [`compact::ASK_COMPACT`]).
pub fn frame_with_flags(kind: u16, flags: u16, request_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(
        &Header {
            body_len: body.len() as u32,
            kind,
            flags,
            request_id,
        }
        .encode(),
    );
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests;
