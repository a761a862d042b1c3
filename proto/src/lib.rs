//! The tanis WebSocket protocol, version 1: every frame a client may send ([`ClientFrame`]) and every frame
//! the server sends ([`ServerFrame`]), as JSON text frames tagged by `type`. The server and the reference
//! client both use these types, so the two cannot drift apart. docs/protocol.md describes each frame with an
//! example and its error codes.
//!
//! Versioning: the protocol version is negotiated with the WebSocket subprotocol [`SUBPROTOCOL`] and
//! repeated in `hello`. Within a version a frame's meaning never changes; fields may be added.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod codes;
pub mod evidence;
pub mod franking;
mod ids;
mod parse;
mod text;

pub use codes::{CloseCode, DRAIN_JITTER_MS, ErrorCode};
pub use ids::{MatchId, Seq, UserId};
/// The schema generator the frames derive with (feature `schema`), for the server's AsyncAPI document.
#[cfg(feature = "schema")]
pub use schemars;
pub use text::has_nul;

/// The protocol version a client gets when it offers no version, or `tanis.v1` ([`SUBPROTOCOL`]).
pub const PROTOCOL_VERSION: u32 = 1;
/// The WebSocket subprotocol of version 1 a client offers (and the server selects).
pub const SUBPROTOCOL: &str = "tanis.v1";
/// Version 2: cumulative acknowledgements and coalesced receipts (docs/protocol.md, "Version 2"). The server
/// selects it when offered; a client offering both gets version 2.
pub const PROTOCOL_VERSION_2: u32 = 2;
/// The WebSocket subprotocol of version 2.
pub const SUBPROTOCOL_V2: &str = "tanis.v2";
/// Prefix of the subprotocol that carries the access token for clients that cannot set headers (browsers):
/// `Sec-WebSocket-Protocol: tanis.v1, tanis.auth.<access token>`.
pub const AUTH_SUBPROTOCOL_PREFIX: &str = "tanis.auth.";

/// What kind of conversation a match is. On the wire and in the server's database (`matches.type`,
/// `message_logs.connection_type`) it is the same lowercase text; with the `sqlx` feature a TEXT column decodes
/// straight into it, and text that names no kind is a decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(type_name = "text", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    Text,
    Video,
}

impl MatchKind {
    /// Every kind.
    pub const ALL: [MatchKind; 2] = [MatchKind::Text, MatchKind::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Text => "text",
            MatchKind::Video => "video",
        }
    }

    /// The kind `text` names; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        MatchKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Whether `match.find` matches on the profile's interests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum InterestMatching {
    /// Interests play no part.
    #[default]
    Off,
    /// The compatible waiter sharing the most interests first; anyone once the fallback wait is over.
    Prefer,
    /// Only someone sharing at least one interest, however long it takes.
    Only,
}

/// Whom `match.find` may pair with, as a hard restriction (premium accounts only; `anywhere` for everyone else).
/// Unlike `nearby`, it never widens with waiting. Externally tagged: `"anywhere"`, `"country"`,
/// `{"radius_km": 50}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// No restriction.
    #[default]
    Anywhere,
    /// Only someone whose phone number is of the same country as the seeker's.
    Country,
    /// Only someone whose stored location is within this many km of the seeker's stored location (1 to 20 000).
    /// Any JSON number is read: one that is not a whole number of km that fits (negative, fractional, 1e20)
    /// reads as 0, out of range like it, so the server refuses it as `invalid_field` for its range, not as a
    /// malformed frame.
    RadiusKm(#[serde(deserialize_with = "any_radius")] u32),
}

/// A radius as any JSON number: a whole one that fits a `u32` as itself, anything else as 0 (out of range).
fn any_radius<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    Ok(number.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
}

impl Region {
    pub fn is_anywhere(&self) -> bool {
        *self == Region::Anywhere
    }
}

/// A gender a user may declare for matching (`PUT /v1/me/gender`). Not saying is declaring none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Woman,
    Man,
    NonBinary,
}

impl Gender {
    pub const ALL: [Gender; 3] = [Gender::Woman, Gender::Man, Gender::NonBinary];

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Woman => "woman",
            Gender::Man => "man",
            Gender::NonBinary => "non_binary",
        }
    }

    /// The gender `text` names; `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        Gender::ALL.into_iter().find(|gender| gender.as_str() == text)
    }
}

/// How a gender preference binds: `only` (never anyone else, however long it takes, the default) or `prefer`
/// (anyone once the fallback wait, `matching.gender_fallback_secs`, is over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum PreferenceMode {
    #[default]
    Only,
    Prefer,
}

/// Whom a premium `match.find` wants to meet by declared gender: one to three distinct genders. It binds both
/// sides (a partner must also accept the seeker's declaration) and lives only in the queue's entry for this find:
/// the server never stores it (docs/privacy.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Seeking {
    pub genders: Vec<Gender>,
    #[serde(default)]
    pub mode: PreferenceMode,
}

/// How a call's setup ended, as `rtc.stats` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum CallOutcome {
    /// The peer connection reached `connected`.
    Connected,
    /// ICE failed, or the client gave up waiting.
    Failed,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Connected => "connected",
            CallOutcome::Failed => "failed",
        }
    }
}

/// A received message revealed in a report: its `seq` in the reported match, `text_utf8` (base64 of the exact bytes
/// of its text, the UTF-8 the sender committed to) and the franking key the receiver's client opened it with (base64
/// of 32 bytes). The bytes and not a JSON string: a string is re-encoded on the way, and a leading U+FEFF dropped
/// by a decoder, a U+0000 or a text of escapes (quotes, control characters) would no longer open the commitment,
/// fit a frame or be accepted at all (docs/protocol.md, section 9, "Franking").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Reveal {
    pub seq: Seq,
    pub text_utf8: String,
    pub franking_key: String,
}

/// Why a report is filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    Spam,
    Harassment,
    Nudity,
    Hate,
    Scam,
    Underage,
    /// Child sexual abuse material, or a child being exploited: the child-safety lane, ahead of every other
    /// report (docs/admin.md "Child safety first").
    ChildSexualAbuse,
    Other,
    /// Not the gender they declared: one tap, no details or evidence. It refunds the reporter's unit for the
    /// match and counts toward suspending the declaration's use in filtered matching, never toward a ban
    /// (docs/privacy.md "Gender").
    NotAsDeclared,
}

impl ReportReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Spam => "spam",
            ReportReason::Harassment => "harassment",
            ReportReason::Nudity => "nudity",
            ReportReason::Hate => "hate",
            ReportReason::Scam => "scam",
            ReportReason::Underage => "underage",
            ReportReason::ChildSexualAbuse => "child_sexual_abuse",
            ReportReason::Other => "other",
            ReportReason::NotAsDeclared => "not_as_declared",
        }
    }
}

/// Frames a client sends. `id` is the client's request id, echoed in the answer (and in any `error`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientFrame {
    /// Join the queue for a stranger. `public_key` is this match's X25519 key (base64, 32 bytes).
    #[serde(rename = "match.find")]
    MatchFind {
        #[serde(default)]
        id: Option<String>,
        kind: MatchKind,
        public_key: String,
        /// Prefer partners close to the location stored with the profile.
        #[serde(default)]
        nearby: bool,
        /// Match on the interests of the profile: `off` (the default), `prefer` (the waiter sharing the most,
        /// anyone after the fallback wait) or `only` (never anyone sharing none).
        #[serde(default)]
        interests: InterestMatching,
        /// Premium only: pair only within the seeker's country or a radius around their stored location. Not
        /// written when `anywhere`, so a plain find reads the same to a server that predates regions.
        #[serde(default, skip_serializing_if = "Region::is_anywhere")]
        region: Region,
        /// Premium only: whom to meet by declared gender (absent: anyone). Not written when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seeking: Option<Seeking>,
    },
    /// Leave the queue.
    #[serde(rename = "match.cancel")]
    MatchCancel {
        #[serde(default)]
        id: Option<String>,
    },
    /// End the current match.
    #[serde(rename = "match.leave")]
    MatchLeave {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Send an end-to-end encrypted message. `client_msg_id` makes a retry idempotent.
    #[serde(rename = "msg.send")]
    MsgSend {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        client_msg_id: String,
        ciphertext: String,
        nonce: String,
        /// The sender's commitment to the plaintext ([`franking`]): base64 of 32 bytes.
        commitment: String,
        /// Version 2 only: a cumulative acknowledgement riding on the send, as a `msg.ack` of this match with this
        /// `seq` would be, so a chatting client sends no `msg.ack` of its own. Refused as an unknown field in
        /// version 1 (`invalid_frame`), as before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<Seq>,
    },
    /// The receiver has the message with this `seq` (version 1), or every message of the match up to `seq`
    /// addressed to it (version 2).
    #[serde(rename = "msg.ack")]
    MsgAck {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        seq: Seq,
    },
    /// Send again every stored message of the match after `after_seq` (after a reconnect).
    #[serde(rename = "resume")]
    Resume {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        after_seq: Seq,
    },
    /// The user is typing; relayed to the peer, never stored.
    #[serde(rename = "typing")]
    Typing {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Block the peer of this match: ends it and never pairs the two again.
    #[serde(rename = "block")]
    Block {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Report the peer of this (current or past) match.
    #[serde(rename = "report")]
    Report {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        reason_code: ReportReason,
        #[serde(default)]
        details: Option<String>,
        /// Messages of that match the peer sent you, revealed so the server can verify them ([`franking`]).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Reveal>,
    },
    /// Claim a unit back for a match that got no reply (or whose call never connected); answered with `ok`.
    #[serde(rename = "claim")]
    Claim {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Video: the session description offer, sent by the initiator. Relayed to the peer with every
    /// non-relay candidate removed.
    #[serde(rename = "rtc.offer")]
    RtcOffer {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        sdp: String,
    },
    /// Video: the answer to an offer.
    #[serde(rename = "rtc.answer")]
    RtcAnswer {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        sdp: String,
    },
    /// Video: one trickled ICE candidate. Only relay candidates reach the peer.
    #[serde(rename = "rtc.ice")]
    RtcIce {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        candidate: String,
        #[serde(default)]
        sdp_mid: Option<String>,
        #[serde(default)]
        sdp_mline_index: Option<u16>,
    },
    /// Video: this side's connection is up (recorded for the video claim rule).
    #[serde(rename = "rtc.connected")]
    RtcConnected {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Video: how this side's call went, once per match (docs/protocol.md, "Call quality"). Numbers and one
    /// enum only: no field can carry an address or an identifier. Answered with `ok`.
    #[serde(rename = "rtc.stats")]
    RtcStats {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        outcome: CallOutcome,
        /// Milliseconds from the start of the offer/answer exchange to connected, or to giving up.
        setup_ms: i64,
        /// Round-trip time of the selected candidate pair (through the relay), in milliseconds.
        #[serde(default)]
        rtt_ms: Option<i64>,
        /// RTP packets this side sent, and how many of them the peer reported lost (RTCP).
        #[serde(default)]
        packets_sent: Option<i64>,
        #[serde(default)]
        packets_lost: Option<i64>,
    },
    /// Video: the call ended (the match stays; a new offer may follow).
    #[serde(rename = "rtc.hangup")]
    RtcHangup {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Propose, during the match, to keep in touch with the peer; answered with `ok`. When both have, the match
    /// becomes the two's contact conversation (`contact.added`).
    #[serde(rename = "contact.propose")]
    ContactPropose {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
    },
    /// Publish a new X25519 public key (base64, 32 bytes) for a contact conversation: this device takes it over
    /// (docs/protocol.md, section 9). Answered with `ok`; the peer gets `contact.key`.
    #[serde(rename = "contact.key")]
    ContactKey {
        #[serde(default)]
        id: Option<String>,
        match_id: MatchId,
        public_key: String,
    },
    /// Application-level liveness check; answered with `pong`.
    #[serde(rename = "ping")]
    Ping {
        #[serde(default)]
        id: Option<String>,
    },
}

impl ClientFrame {
    pub fn id(&self) -> Option<&str> {
        match self {
            ClientFrame::MatchFind { id, .. }
            | ClientFrame::MatchCancel { id }
            | ClientFrame::MatchLeave { id, .. }
            | ClientFrame::MsgSend { id, .. }
            | ClientFrame::MsgAck { id, .. }
            | ClientFrame::Resume { id, .. }
            | ClientFrame::Typing { id, .. }
            | ClientFrame::Block { id, .. }
            | ClientFrame::Report { id, .. }
            | ClientFrame::Claim { id, .. }
            | ClientFrame::RtcOffer { id, .. }
            | ClientFrame::RtcAnswer { id, .. }
            | ClientFrame::RtcIce { id, .. }
            | ClientFrame::RtcConnected { id, .. }
            | ClientFrame::RtcStats { id, .. }
            | ClientFrame::RtcHangup { id, .. }
            | ClientFrame::ContactPropose { id, .. }
            | ClientFrame::ContactKey { id, .. }
            | ClientFrame::Ping { id } => id.as_deref(),
        }
    }
}

/// Match balances: daily units reset every day, bonus units (referrals, refunds) are spent after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Balances {
    pub daily_text: i32,
    pub daily_video: i32,
    pub bonus_text: i32,
    pub bonus_video: i32,
}

/// Limits the server enforces on this connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Limits {
    /// Largest decoded ciphertext accepted by `msg.send`.
    pub max_message_bytes: usize,
    /// Sustained `msg.send` rate per user.
    pub messages_per_second: u32,
    /// Largest WebSocket frame the server reads.
    pub max_frame_bytes: usize,
    /// How many days back a `report` can reveal messages (`jobs.report_window_days`): older ones the server no
    /// longer verifies. Absent from an older server (read as 0): the client falls back to its own setting.
    #[serde(default)]
    pub report_window_days: u32,
}

/// The current match, as `hello` reports it after a reconnect and `match.found` announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MatchInfo {
    pub match_id: MatchId,
    pub kind: MatchKind,
    /// The stranger's `alias#tag`: all a peer ever learns of the other.
    pub peer: String,
    /// The stranger's X25519 public key for this match (base64).
    pub peer_public_key: String,
    /// Whether this side starts (sends the first video offer; the initiator key direction in E2E).
    pub initiator: bool,
    pub expires_at: DateTime<Utc>,
    /// The interests (ids of `GET /v1/interests`) both profiles list: nothing else of the other's profile.
    #[serde(default)]
    pub shared_interests: Vec<String>,
    /// The languages (ISO 639-1) both speak.
    #[serde(default)]
    pub shared_languages: Vec<String>,
    /// Video matches: how the viewer's app protects them from the stranger's picture (docs/protocol.md, "Video
    /// safety"); absent for text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_safety: Option<VideoSafety>,
}

/// The video safety policy of a video match: the viewer's app blurs the stranger's picture for `blur_secs` from
/// when it first shows (the viewer may reveal it sooner), and its own classifier may blur it again. The server
/// never sees a frame; this is all it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VideoSafety {
    pub blur_secs: u32,
    /// The other account is new, its phone unverified, or it is under review: one coarse flag, never which, and
    /// nothing more of its age or standing. `blur_secs` is then the longer one.
    pub caution: bool,
}

/// A contact: someone both sides chose, during a match, to keep in touch with. The conversation is the match's
/// (`match_id`, its seqs and its E2E keys), kept open after the match. All a contact shows of the other is their
/// handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Contact {
    pub match_id: MatchId,
    /// The other's `alias#tag`.
    pub peer: String,
    /// The other's current X25519 public key for this conversation (base64).
    pub peer_public_key: String,
    /// Whether this side was the match's initiator: the E2E key direction stays the match's.
    pub initiator: bool,
    /// When both agreed.
    pub since: DateTime<Utc>,
}

/// One ICE server, in the shape WebRTC's `RTCIceServer` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What a video client configures its peer connection with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RtcConfig {
    /// TURN servers with ephemeral credentials (valid for `ttl_secs`).
    pub ice_servers: Vec<IceServer>,
    /// `relay`: gather and use relay candidates only, so neither side learns the other's IP address.
    pub ice_transport_policy: String,
    pub ttl_secs: u64,
}

/// Why a match ended, from the receiver's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// This user left.
    Left,
    /// The stranger left (or blocked: a block is not revealed to the blocked side).
    PeerLeft,
    /// This user blocked the stranger.
    Blocked,
    /// The match reached its expiry time.
    Expired,
    /// One side was banned.
    Banned,
}

/// Frames the server sends.
/// An ad as an `ad` frame carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AdFrame {
    /// For `POST /v1/ads/{id}/click`.
    pub id: i64,
    pub title: String,
    pub content: String,
}

/// A notification as a `notification` frame carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Notification {
    pub id: i64,
    /// `system`, `match`, `claim` or `ad`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// First frame of every authenticated connection.
    #[serde(rename = "hello")]
    Hello {
        protocol: u32,
        /// This user's own `alias#tag`.
        handle: String,
        balances: Balances,
        premium: bool,
        limits: Limits,
        server_time: DateTime<Utc>,
        /// The match this user is in, if any (a reconnecting client resumes it).
        active_match: Option<MatchInfo>,
    },
    /// `match.find` accepted: the user waits in the queue.
    #[serde(rename = "match.queued")]
    MatchQueued { id: Option<String>, kind: MatchKind },
    /// `match.cancel` done: the user left the queue.
    #[serde(rename = "match.cancelled")]
    MatchCancelled { id: Option<String> },
    /// Paired with a stranger. Sent to every socket of both users.
    #[serde(rename = "match.found")]
    MatchFound {
        #[serde(flatten)]
        info: MatchInfo,
        /// Balances after this match consumed its unit.
        balances: Balances,
        /// Video matches: the ICE servers and policy for the call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtc: Option<RtcConfig>,
    },
    /// The match is over; no more messages or typing for it. Sent to every socket of both users (`id` is
    /// always null: the request that ended it gets its own `ok`).
    #[serde(rename = "match.ended")]
    MatchEnded { id: Option<String>, match_id: MatchId, reason: EndReason },
    /// The message is durably stored under `seq`; safe to forget the local copy's retry state.
    #[serde(rename = "msg.accepted")]
    MsgAccepted { id: Option<String>, match_id: MatchId, client_msg_id: String, seq: Seq },
    /// A stored message. `mine` is true when this user sent it (from another of their sockets, or on resume).
    #[serde(rename = "msg")]
    Msg {
        match_id: MatchId,
        seq: Seq,
        ciphertext: String,
        nonce: String,
        /// The sender's commitment, as the server bound it; absent only for messages stored before franking, which
        /// a client refuses like any message whose commitment does not open ([`franking`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commitment: Option<String>,
        sent_at: DateTime<Utc>,
        mine: bool,
        /// Version 2 only: a receipt riding on the peer's message, as `msg.delivered` with `up_to: true` would
        /// be: every message you sent in this match up to this seq has been delivered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivered: Option<Seq>,
    },
    /// The peer acknowledged the message with this `seq`; with `up_to` (version 2 sockets only, for a peer's
    /// cumulative acknowledgement), every message up to `seq` you sent in this match.
    #[serde(rename = "msg.delivered")]
    MsgDelivered {
        match_id: MatchId,
        seq: Seq,
        #[serde(default, skip_serializing_if = "is_false")]
        up_to: bool,
    },
    /// Every message after `after_seq` has been sent (as `msg` frames, before this one).
    #[serde(rename = "resume.done")]
    ResumeDone { id: Option<String>, match_id: MatchId, last_seq: Seq },
    /// Frames meant for this socket may have been lost between server nodes (their link restarted): here is the
    /// current match as the database has it; send `resume` for it from the last `seq` you hold.
    #[serde(rename = "resync")]
    Resync { active_match: Option<MatchInfo> },
    /// The peer is typing.
    #[serde(rename = "typing")]
    Typing { match_id: MatchId },
    /// Video signalling from the peer, already stripped of non-relay candidates.
    #[serde(rename = "rtc.offer")]
    RtcOffer { match_id: MatchId, sdp: String },
    #[serde(rename = "rtc.answer")]
    RtcAnswer { match_id: MatchId, sdp: String },
    #[serde(rename = "rtc.ice")]
    RtcIce {
        match_id: MatchId,
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
    #[serde(rename = "rtc.hangup")]
    RtcHangup { match_id: MatchId },
    /// The peer proposed to keep in touch (answer with your own `contact.propose` to accept).
    #[serde(rename = "contact.proposed")]
    ContactProposed { match_id: MatchId },
    /// Both proposed: the match is over as a match (it is no longer the active match; `match.find` may follow) and
    /// its conversation goes on as a contact. Sent to every socket of both users instead of `match.ended`.
    #[serde(rename = "contact.added")]
    ContactAdded { contact: Contact },
    /// The contact conversation is closed (either side ended it, blocked, or deleted the account): no more
    /// messages; what was stored can still be `resume`d until it is deleted.
    #[serde(rename = "contact.ended")]
    ContactEnded { match_id: MatchId },
    /// A new public key for the contact conversation. `mine: false`: the contact published it (a new device of
    /// theirs, or a reinstall), in `peer_public_key`. `mine: true`: another of your own sessions (`session_id`)
    /// took the conversation over with `public_key`, and a device without that key reads nothing new in it: if
    /// that was not you, sign that session out (`DELETE /v1/me/sessions/{id}`) and take the conversation back.
    #[serde(rename = "contact.key")]
    ContactKey {
        match_id: MatchId,
        /// The contact's new key (`mine: false` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer_public_key: Option<String>,
        /// Your own side's new key (`mine: true` only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_key: Option<String>,
        /// Whether it is your own side's key, published by another of your sessions.
        #[serde(default)]
        mine: bool,
        /// With `mine: true`: the session that published it (an id of `GET /v1/me/sessions`); absent when its
        /// token names no session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
    },
    /// A new notification, in the user's language; it is stored too (`GET /v1/notifications`).
    #[serde(rename = "notification")]
    Notification { notification: Notification },
    /// An ad, to free users only, at most one after a `match.ended`.
    #[serde(rename = "ad")]
    Ad { ad: AdFrame },
    /// A request without a more specific answer (`match.leave`, `block`, `report`, `claim`) succeeded.
    #[serde(rename = "ok")]
    Ok { id: Option<String> },
    #[serde(rename = "pong")]
    Pong { id: Option<String> },
    /// A request failed; the connection stays open. `id` is the offending request's id when it was readable.
    #[serde(rename = "error")]
    Error {
        id: Option<String>,
        code: ErrorCode,
        message: String,
        /// For `quota_exhausted`: when the daily units come back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resets_at: Option<DateTime<Utc>>,
        /// For a refusal that is only for now (`rate_limited` and `internal` of a `msg.send`): wait at least this
        /// many milliseconds before sending the same request again. `rate_limited`: until the per-user bucket
        /// holds a token again (at least 1); `internal`: a fixed pause while the store recovers. Absent from other
        /// refusals, and from an older server: wait as the client would without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl ServerFrame {
    pub fn error(id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error { id, code, message: message.into(), resets_at: None, retry_after_ms: None }
    }

    /// This frame, when it is an `error`, telling the client to wait `ms` before sending the request again.
    pub fn retry_after(mut self, ms: u64) -> Self {
        if let ServerFrame::Error { retry_after_ms, .. } = &mut self {
            *retry_after_ms = Some(ms);
        }
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialise")
    }
}

/// Serde's `skip_serializing_if` for flags that are written only when set, so a version 1 frame reads as before.
fn is_false(flag: &bool) -> bool {
    !*flag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_tagged_by_type_and_the_id_is_optional() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"match.find","kind":"video","public_key":"AAAA"}"#).unwrap();
        assert_eq!(
            frame,
            ClientFrame::MatchFind {
                id: None,
                kind: MatchKind::Video,
                public_key: "AAAA".into(),
                nearby: false,
                interests: Default::default(),
                region: Region::Anywhere,
                seeking: None,
            }
        );
        let frame: ClientFrame = serde_json::from_str(r#"{"type":"ping","id":"r1"}"#).unwrap();
        assert_eq!(frame.id(), Some("r1"));
    }

    #[test]
    fn a_region_is_a_word_or_a_tagged_radius_and_anywhere_when_absent() {
        for (json, region) in [
            (r#""anywhere""#, Region::Anywhere),
            (r#""country""#, Region::Country),
            (r#"{"radius_km":50}"#, Region::RadiusKm(50)),
        ] {
            assert_eq!(serde_json::from_str::<Region>(json).unwrap(), region, "{json}");
            assert_eq!(serde_json::to_string(&region).unwrap(), json);
        }
        for bad in [r#""radius_km""#, r#"{"radius_km":"50"}"#, r#"{"country":1}"#, r#""Country""#] {
            assert!(serde_json::from_str::<Region>(bad).is_err(), "{bad}");
        }
        // Any number is a radius: one that is not a whole u32 reads as 0, which the server refuses for its range.
        for (json, km) in [
            ("-1", 0),
            ("1.5", 0),
            ("1e20", 0),
            ("18446744073709551616", 0),
            ("4294967296", 0),
            ("20001", 20001),
            ("0", 0),
        ] {
            let region = serde_json::from_str::<Region>(&format!(r#"{{"radius_km":{json}}}"#)).unwrap();
            assert_eq!(region, Region::RadiusKm(km), "{json}");
        }
        let frame: ClientFrame = serde_json::from_str(
            r#"{"type":"match.find","kind":"text","public_key":"AAAA","region":{"radius_km":25}}"#,
        )
        .unwrap();
        assert!(matches!(frame, ClientFrame::MatchFind { region: Region::RadiusKm(25), .. }), "{frame:?}");
    }

    #[test]
    fn unknown_types_and_fields_are_rejected() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"nope"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping","extra":1}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"msg.ack","match_id":1}"#).is_err());
    }

    #[test]
    fn call_stats_are_numbers_and_an_outcome_only() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"rtc.stats","match_id":7,"outcome":"failed","setup_ms":30000}"#).unwrap();
        assert_eq!(
            frame,
            ClientFrame::RtcStats {
                id: None,
                match_id: MatchId(7),
                outcome: CallOutcome::Failed,
                setup_ms: 30000,
                rtt_ms: None,
                packets_sent: None,
                packets_lost: None,
            }
        );
        let text = r#"{"type":"rtc.stats","match_id":7,"outcome":"connected","setup_ms":1,"candidate":"10.0.0.1"}"#;
        assert!(serde_json::from_str::<ClientFrame>(text).is_err(), "no room for an address");
        let text = r#"{"type":"rtc.stats","match_id":7,"outcome":"maybe","setup_ms":1}"#;
        assert!(serde_json::from_str::<ClientFrame>(text).is_err());
    }

    #[test]
    fn server_frames_round_trip() {
        let frame = ServerFrame::MsgAccepted {
            id: Some("r2".into()),
            match_id: MatchId(7),
            client_msg_id: "c1".into(),
            seq: Seq(3),
        };
        let json = frame.to_json();
        assert!(json.starts_with(r#"{"type":"msg.accepted""#), "{json}");
        assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
    }

    #[test]
    fn a_match_kind_reads_and_writes_as_the_same_lowercase_text() {
        assert_eq!(MatchKind::ALL.map(MatchKind::as_str), ["text", "video"]);
        for kind in MatchKind::ALL {
            assert_eq!(MatchKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for unknown in ["", "Video", "audio", " text"] {
            assert_eq!(MatchKind::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn errors_carry_their_code_as_snake_case() {
        let json = ServerFrame::error(Some("r3".into()), ErrorCode::QuotaExhausted, "no units left").to_json();
        assert_eq!(json, r#"{"type":"error","id":"r3","code":"quota_exhausted","message":"no units left"}"#);
    }
}
