//! WebRTC plumbing for tanis that does not depend on the tanis server itself.
//!
//! This crate owns:
//!
//! - **The signalling rules.** tanis matches strangers, so a peer's IP address is private data.
//!   Media is relay-only: the server forwards an SDP or a trickled ICE candidate only after
//!   passing it through [`privacy`], which drops every `host`/`srflx`/`prflx` candidate and
//!   blanks every other address field, so the only address a peer can learn is the TURN relay's.
//!   Clients must additionally configure `iceTransportPolicy: "relay"`, so that a malicious peer
//!   that skips the filter cannot learn *their* address from connectivity checks.
//! - **The ICE candidate privacy filter** ([`privacy`]): pure text functions, plus
//!   [`privacy::relay_only_violations`] for asserting the rule holds.
//! - **TURN REST credentials** ([`credentials`]): short-lived, HMAC-derived, compatible with
//!   coturn's `use-auth-secret`, so no per-user state is shared with the TURN server.
//! - **The embedded TURN server** ([`turn_server`]): a TURN server over UDP, TCP and TLS checking
//!   those credentials and refusing to relay to internal addresses.

pub mod credentials;
pub mod privacy;
pub mod turn_server;

pub use credentials::{TurnCredentials, issue, password_for};
pub use privacy::{
    CandidateType, FilteredSdp, candidate_type, relay_only_violations, sanitize_candidate, sanitize_sdp,
};
pub use turn_server::{
    Clock, EmbeddedTurn, TurnCounters, TurnError, TurnServerConfig, TurnStats, TurnTls, is_forbidden_peer, system_clock,
};
