//! The connection's rules as plain functions, the TypeScript SDK's (sdk/typescript/src/policy.js) in Rust: how long
//! to wait before reconnecting or refreshing again, what a close code means, and when to refresh a token.

use std::time::Duration;

/// Reconnect delays: the ceiling doubles per failed attempt from `BACKOFF_BASE` up to `BACKOFF_CAP`.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Exponential backoff with full jitter: uniformly random in [0, min(cap, base · 2^attempt)), so that a crowd of
/// clients reconnecting after a node restart spreads over the whole window. `random` is in [0, 1).
#[must_use]
pub fn backoff_delay(attempt: u32, random: f64) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.min(16)).min(BACKOFF_CAP);
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

/// After a 4010 `draining` close: a random delay in [0, [`tanis_proto::DRAIN_JITTER_MS`]) whatever the attempt;
/// otherwise [`backoff_delay`].
#[must_use]
pub fn reconnect_delay(code: u16, attempt: u32, random: f64) -> Duration {
    if code == tanis_proto::CloseCode::Draining.code() {
        return Duration::from_millis(tanis_proto::DRAIN_JITTER_MS).mul_f64(random.clamp(0.0, 1.0));
    }
    backoff_delay(attempt, random)
}

/// What the client does after a close (docs/protocol.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Back off and connect again, then resume.
    Reconnect,
    /// Refresh the access token, then connect at once; a refused refresh ends the session.
    Reauthenticate,
    /// Never reconnect.
    Banned,
    /// The server says this client broke the protocol: reconnecting would send the same frames again and loop.
    Fatal,
}

#[must_use]
pub fn close_action(code: u16) -> CloseAction {
    match code {
        4001 | 4002 => CloseAction::Reauthenticate,
        4003 => CloseAction::Banned,
        1002 | 1007 | 1009 | 4004 => CloseAction::Fatal,
        _ => CloseAction::Reconnect,
    }
}

/// How long before an access token's expiry to refresh it: a minute, or a fifth of its lifetime when shorter.
#[must_use]
pub fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(Duration::from_secs(60))
}
