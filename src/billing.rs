//! The billing provider's webhook, as data: its signature and its events. A subscription starts, renews, is
//! cancelled (premium until its end, no renewal) or expires (premium ends now) when the provider says so, in an
//! event signed with the shared secret (`billing.webhook_secret`):
//!
//! `Tanis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
//!
//! The time is inside the signed text, so an old event cannot be replayed with a new time; events older or newer
//! than `billing.replay_window_secs` are refused, and each event id is applied once (the store remembers ids).

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain::UserId;
use crate::store::PlanChange;

/// Why a webhook call was refused before its event was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Tanis-Signature header is missing or malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signed time is outside the replay window")]
    Stale,
}

/// Checks `header` against `body` with `secret`, and that its time is within `window_secs` of `now`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex_decode(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return Err(SignatureError::Malformed) };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant time: the comparison does not tell an attacker how many bytes were right.
    mac.verify_slice(&v1).map_err(|_| SignatureError::Mismatch)?;
    if (now.timestamp() - t).abs() > window_secs {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The header value for `body` signed at `t` (what the provider sends; tests and tools sign with it).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("t={t},v1={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

/// What happened to a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    #[serde(rename = "subscription.started")]
    Started,
    #[serde(rename = "subscription.renewed")]
    Renewed,
    #[serde(rename = "subscription.cancelled")]
    Cancelled,
    #[serde(rename = "subscription.expired")]
    Expired,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "subscription.started",
            EventKind::Renewed => "subscription.renewed",
            EventKind::Cancelled => "subscription.cancelled",
            EventKind::Expired => "subscription.expired",
        }
    }
}

/// One webhook event.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The provider's event id: applied once, however often it is delivered.
    #[schema(example = "evt_1QmZ", min_length = 1, max_length = 128)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The tanis user the subscription belongs to (the app passes it to the provider at checkout).
    #[schema(value_type = i64)]
    pub user_id: UserId,
    /// The plan's name, e.g. `premium_monthly`.
    #[schema(example = "premium_monthly", min_length = 1, max_length = 64)]
    pub plan: String,
    /// Until when the subscription runs (`started`, `renewed`); ignored for `cancelled` and `expired`.
    pub ends_at: Option<DateTime<Utc>>,
}

/// Why an event cannot change a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A start or renewal that ends now or before, or names no end: it would grant nothing.
    #[error("ends_at must be in the future")]
    EndNotAhead,
}

impl Event {
    /// The change this event makes to its user's subscription at `now`: a start or a renewal runs the plan until
    /// `ends_at`, a cancellation stops the renewal, an expiry ends premium.
    pub fn plan_change(&self, now: DateTime<Utc>) -> Result<PlanChange<'_>, EventError> {
        Ok(match self.kind {
            EventKind::Started | EventKind::Renewed => match self.ends_at {
                Some(ends_at) if ends_at > now => PlanChange::Run { plan: &self.plan, ends_at },
                _ => return Err(EventError::EndNotAhead),
            },
            EventKind::Cancelled => PlanChange::Cancel,
            EventKind::Expired => PlanChange::End,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_0123456789abcdef0123456789";

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    fn event(kind: EventKind, ends_at: Option<DateTime<Utc>>) -> Event {
        Event { id: "evt_1".into(), kind, user_id: UserId(7), plan: "premium_monthly".into(), ends_at }
    }

    #[test]
    fn a_start_or_renewal_runs_the_plan_until_an_end_ahead_of_now() {
        let now = at(1_800_000_000);
        for kind in [EventKind::Started, EventKind::Renewed] {
            let later = at(1_800_000_001);
            let run = PlanChange::Run { plan: "premium_monthly", ends_at: later };
            assert_eq!(event(kind, Some(later)).plan_change(now), Ok(run));
            assert_eq!(event(kind, Some(now)).plan_change(now), Err(EventError::EndNotAhead), "ends now");
            assert_eq!(event(kind, None).plan_change(now), Err(EventError::EndNotAhead), "no end");
        }
    }

    #[test]
    fn a_cancellation_stops_renewal_and_an_expiry_ends_premium_whatever_their_end() {
        let now = at(1_800_000_000);
        for ends_at in [None, Some(at(0))] {
            assert_eq!(event(EventKind::Cancelled, ends_at).plan_change(now), Ok(PlanChange::Cancel));
            assert_eq!(event(EventKind::Expired, ends_at).plan_change(now), Ok(PlanChange::End));
        }
    }

    #[test]
    fn a_signature_made_with_the_secret_verifies_within_the_window_only() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, 1_800_000_000, body);
        assert_eq!(verify(SECRET, &header, body, at(1_800_000_000 + 300), 300), Ok(()));
        assert_eq!(verify(SECRET, &header, body, at(1_800_000_000 - 300), 300), Ok(()));
        assert_eq!(verify(SECRET, &header, body, at(1_800_000_000 + 301), 300), Err(SignatureError::Stale));
    }

    #[test]
    fn another_body_secret_or_time_does_not_verify() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, 1_800_000_000, body);
        let now = at(1_800_000_000);
        assert_eq!(verify(SECRET, &header, br#"{"id":"evt_2"}"#, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"another secret", &header, body, now, 300), Err(SignatureError::Mismatch));
        // The time is signed: moving it forward to pass the window breaks the signature.
        let moved = header.replace("t=1800000000", "t=1800000100");
        assert_eq!(verify(SECRET, &moved, body, at(1_800_000_100), 300), Err(SignatureError::Mismatch));
        for bad in ["", "t=1800000000", "v1=00", "t=x,v1=zz", "t=1800000000,v1=abc"] {
            assert_eq!(verify(SECRET, bad, body, now, 300), Err(SignatureError::Malformed), "{bad}");
        }
    }
}
