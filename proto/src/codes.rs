//! Error codes in `error` frames and the close codes the server ends a connection with.

use serde::{Deserialize, Serialize};

/// Machine-readable codes of `error` frames. Add, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The text frame is not JSON.
    MalformedJson,
    /// JSON, but not a known frame: unknown `type`, missing or unknown field, wrong type.
    InvalidFrame,
    /// A binary WebSocket frame: the protocol is JSON text only.
    BinaryNotSupported,
    /// A field that must be base64 is not, or decodes to the wrong length.
    InvalidBase64,
    /// The ciphertext is larger than the limit in `hello`.
    MessageTooLarge,
    /// Too many messages too fast; slow down.
    RateLimited,
    /// No units of this kind left today; `resets_at` says when daily units return.
    QuotaExhausted,
    /// Already waiting in the queue.
    AlreadyQueued,
    /// Already in a match: leave it first.
    AlreadyInMatch,
    /// Not waiting in the queue.
    NotQueued,
    /// The match does not exist, is not yours, or is not active (nor an open contact conversation of yours).
    NotInMatch,
    /// The reported user was never matched with you in that match.
    NotMatched,
    /// A claim for this match was already filed.
    ClaimExists,
    /// A field's value is out of range (e.g. report details too long).
    InvalidField,
    /// The account is banned.
    Banned,
    /// A string (value or key) holds U+0000, which the server cannot store; nothing of the frame is applied.
    InvalidText,
    /// Something failed on the server; try again.
    Internal,
    /// A new version of the privacy notice must be accepted (`POST /v1/me/consent`) before matching.
    ConsentRequired,
    /// `match.find` asked for a `region` other than `anywhere`, which only premium accounts may.
    PremiumRequired,
    /// `match.find` asked for a `radius_km` region, but the profile has no stored location (`PATCH /v1/me`).
    LocationRequired,
    /// A revealed message in a report's `evidence` does not open the commitment bound when it was sent: its text
    /// or its franking key is not the one the sender committed to (forged or altered). Nothing is stored.
    EvidenceForged,
    /// A revealed message in a report's `evidence` was not sent by the reported user to you in that match (or
    /// there is no such message). Nothing is stored.
    EvidenceNotTheirs,
    /// A revealed message in a report's `evidence` was stored without a commitment (sent before franking), so it
    /// cannot be verified. Nothing is stored.
    EvidenceUnfranked,
    /// A revealed message in a report's `evidence` can no longer be verified: it was sent before the report window
    /// (`jobs.report_window_days`), or its sender's account has been deleted; the server no longer keeps its
    /// commitment. Nothing is stored.
    EvidenceExpired,
    /// A message in a report's `evidence` is already evidence of your report, or is named twice. Nothing is
    /// stored.
    EvidenceReplayed,
    /// `match.find` while the account's phone is not verified, on a server that asks for one
    /// (`trust.match_requires_verified_phone`): verify it (`POST /v1/me/phone/verification`) first.
    PhoneUnverified,
    /// `match.find` that the server asks an assured age for (`age_assurance.required_for`: video finds, finds with
    /// `seeking`, or every find) by an account whose age no provider has assured: prove it
    /// (`POST /v1/me/age-assurance`, then `/v1/me/age-assurance/check`) and find again.
    AgeAssuranceRequired,
    /// `match.find` with `seeking` (`only`) while a node of the cluster, or its matchmaker, runs a release that does
    /// not know the wish (a rolling update under way) and would pair without it: find again without `seeking`, or
    /// later. A `prefer` wish is queued without the wish instead. Nothing is queued.
    SeekingUnavailable,
    /// A video `match.find` while a report that a child may be at risk, from someone matched with the account, waits
    /// for a moderator: video matching is held until they decide (text finds work). Nothing is queued.
    VideoHeld,
}

/// The spread of a client's reconnection after [`CloseCode::Draining`]: a uniformly random delay below this many
/// milliseconds, so that a node's clients do not all land on the other nodes in the same instant.
pub const DRAIN_JITTER_MS: u64 = 2000;

/// WebSocket close codes the server uses (4000–4999 is the application range; 1002, 1007 and 1009 are RFC 6455's
/// answers to a peer that broke the WebSocket protocol itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u16)]
pub enum CloseCode {
    /// The server is shutting down (standard "going away").
    GoingAway = 1001,
    /// A frame broke RFC 6455: a reserved bit set, an unmasked frame, an unknown opcode, a control frame over 125
    /// bytes or fragmented, a close code a client may not send, a stray continuation.
    ProtocolError = 1002,
    /// A text frame (or a close frame's reason) that is not UTF-8.
    InvalidPayload = 1007,
    /// A frame or message above the hard limit (docs/protocol.md, "Limits"), which is never read.
    MessageTooBig = 1009,
    /// No valid access token: missing, forged or malformed.
    InvalidToken = 4001,
    /// The access token has expired: refresh it and reconnect.
    TokenExpired = 4002,
    /// The account is banned.
    Banned = 4003,
    /// Too many invalid frames.
    ProtocolAbuse = 4004,
    /// The client did not read fast enough; its messages stay stored for `resume`.
    SlowConsumer = 4008,
    /// No answer to heartbeats.
    HeartbeatTimeout = 4009,
    /// The node is stopping (a rolling update): reconnect after a random delay of up to [`DRAIN_JITTER_MS`], and a
    /// load balancer takes the socket to another node.
    Draining = 4010,
    /// The node has reached its connection limit; try again later.
    Overloaded = 4013,
}

impl CloseCode {
    /// Every close code, for the document and the clients' tables.
    pub const ALL: [CloseCode; 12] = [
        CloseCode::GoingAway,
        CloseCode::ProtocolError,
        CloseCode::InvalidPayload,
        CloseCode::MessageTooBig,
        CloseCode::InvalidToken,
        CloseCode::TokenExpired,
        CloseCode::Banned,
        CloseCode::ProtocolAbuse,
        CloseCode::SlowConsumer,
        CloseCode::HeartbeatTimeout,
        CloseCode::Draining,
        CloseCode::Overloaded,
    ];

    /// What a client should do when the server closes with this code (docs/protocol.md, section 3); the SDK and
    /// the reference clients follow it.
    pub fn advice(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "reconnect with backoff, then resume",
            CloseCode::InvalidToken => "refresh the access token and reconnect; if the refresh fails, sign in again",
            CloseCode::TokenExpired => "refresh the access token, then reconnect",
            CloseCode::Banned => "never reconnect: the account is banned",
            CloseCode::SlowConsumer | CloseCode::HeartbeatTimeout => "reconnect, then resume; nothing stored is lost",
            CloseCode::Overloaded => "retry later, with jittered backoff",
            CloseCode::Draining => {
                "the node is stopping: reconnect after a random delay uniform in [0, 2000) ms (another node takes the \
                 socket), then resume"
            }
            // Reconnecting on its own would send the same frames again and loop (the SDK stays closed).
            CloseCode::ProtocolError
            | CloseCode::InvalidPayload
            | CloseCode::MessageTooBig
            | CloseCode::ProtocolAbuse => {
                "a client bug: log it and stop; reconnect only when the user asks, without the frame that caused it"
            }
        }
    }
}

/// On the wire a close code is the close frame's number, with its reason (`CloseCode::reason`) as the text.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for CloseCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CloseCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one_of: Vec<serde_json::Value> = CloseCode::ALL
            .iter()
            .map(|c| serde_json::json!({"const": c.code(), "title": c.reason(), "description": c.advice()}))
            .collect();
        schemars::json_schema!({
            "description": "The WebSocket close codes the server ends a connection with; the close frame's reason is the title.",
            "type": "integer",
            "oneOf": one_of,
        })
    }
}

impl CloseCode {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::GoingAway => "server shutting down",
            CloseCode::ProtocolError => "protocol_error",
            CloseCode::InvalidPayload => "invalid_utf8",
            CloseCode::MessageTooBig => "message_too_big",
            CloseCode::InvalidToken => "invalid_token",
            CloseCode::TokenExpired => "token_expired",
            CloseCode::Banned => "banned",
            CloseCode::ProtocolAbuse => "protocol_abuse",
            CloseCode::SlowConsumer => "slow_consumer",
            CloseCode::HeartbeatTimeout => "heartbeat_timeout",
            CloseCode::Draining => "draining",
            CloseCode::Overloaded => "overloaded",
        }
    }
}
