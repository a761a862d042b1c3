//! The session: the token pair, kept in the secret store, and the HTTP calls that get and rotate it (sign-in,
//! registration, refresh, sign-out), as the TypeScript SDK's api.js does them. The core makes no HTTP call itself: it
//! hands the host a [`Request`](super::Output::Request) and takes its answer back ([`Core::response`](super::Core::response)).
//! One refresh at a time (a reused refresh token signs every session out: docs/errors.md); a refresh refused (401)
//! ends the session; one that fails for now (the network, 5xx) is tried again after a full-jitter backoff; a token is
//! refreshed a margin before it expires ([`refresh_margin`](super::policy::refresh_margin)).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::{Deserialize, Serialize};

use super::policy::{backoff_delay, refresh_margin};
use super::port::{Millis, Storage};

pub(crate) const TOKENS: &str = "tanis.tokens";

/// The pair `POST /v1/auth/login`, `/register` and `/refresh` answer with (docs/api.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    #[serde(default)]
    access_token_expires_at: Option<String>,
    refresh_token: String,
    #[serde(default)]
    refresh_token_expires_at: Option<String>,
}

/// What an HTTP request in flight was for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Purpose {
    SignIn,
    Refresh { stale: String },
    SignOut,
}

/// What an answer means for the rest of the core.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Signed in (or registered): the user's handle, if the answer named it.
    SignedIn {
        handle: Option<String>,
    },
    Refreshed,
    /// The session is over: sign in again (`code` the server's, e.g. `invalid_token`).
    SignedOut {
        code: String,
    },
    /// Sign-in refused (wrong password, banned: `code`), or a refresh failing for now (tried again later).
    Failed {
        code: String,
    },
    Nothing,
}

#[derive(Debug, Default)]
pub(crate) struct Session {
    tokens: Option<Tokens>,
    pending: Vec<(u64, Purpose)>,
    next_id: u64,
    /// Failed refreshes in a row, and when to try again.
    failures: u32,
    retry_at: Option<Millis>,
}

impl Session {
    pub(crate) fn restored(secrets: &dyn Storage) -> Self {
        let tokens = secrets.load(TOKENS).and_then(|t| serde_json::from_str(&t).ok());
        Self { tokens, next_id: 1, ..Self::default() }
    }

    pub(crate) fn access_token(&self) -> Option<&str> {
        self.tokens.as_ref().map(|t| t.access_token.as_str())
    }

    pub(crate) fn refreshing(&self) -> bool {
        self.pending.iter().any(|(_, p)| matches!(p, Purpose::Refresh { .. }))
    }

    /// A new request id for `purpose`.
    pub(crate) fn request(&mut self, purpose: Purpose) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push((id, purpose));
        id
    }

    /// The refresh token to send, if a refresh may start now (signed in, none in flight).
    pub(crate) fn refresh(&mut self) -> Option<(u64, String)> {
        if self.refreshing() {
            return None;
        }
        let stale = self.tokens.as_ref()?.refresh_token.clone();
        self.retry_at = None;
        Some((self.request(Purpose::Refresh { stale: stale.clone() }), stale))
    }

    /// When the access token should be refreshed next: a margin before it expires, or the retry after a failure.
    pub(crate) fn refresh_at(&self) -> Option<Millis> {
        if self.refreshing() {
            return None;
        }
        let tokens = self.tokens.as_ref()?;
        self.retry_at.or_else(|| due(tokens))
    }

    /// The host's answer to request `id`: `status` 0 when it never reached the server.
    pub(crate) fn answered(
        &mut self,
        id: u64,
        status: u16,
        body: &str,
        secrets: &dyn Storage,
        now: Millis,
        random: f64,
    ) -> Outcome {
        let Some(at) = self.pending.iter().position(|(i, _)| *i == id) else { return Outcome::Nothing };
        let (_, purpose) = self.pending.remove(at);
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let code = || json["error"]["code"].as_str().or(json["code"].as_str()).unwrap_or("unavailable").to_owned();
        match purpose {
            Purpose::SignIn if (200..300).contains(&status) => {
                let Ok(tokens) = serde_json::from_value::<Tokens>(json["tokens"].clone()) else {
                    return Outcome::Failed { code: "internal".into() };
                };
                self.store(tokens, secrets);
                Outcome::SignedIn { handle: json["user"]["handle"].as_str().map(str::to_owned) }
            }
            Purpose::SignIn => Outcome::Failed { code: code() },
            // A sign-out while the refresh was out wins: its answer is dropped.
            Purpose::Refresh { stale } if self.tokens.as_ref().is_none_or(|t| t.refresh_token != stale) => {
                Outcome::Nothing
            }
            Purpose::Refresh { .. } if (200..300).contains(&status) => match serde_json::from_value::<Tokens>(json) {
                Ok(tokens) => {
                    self.store(tokens, secrets);
                    Outcome::Refreshed
                }
                Err(_) => self.failed_for_now(now, random, "internal".into()),
            },
            Purpose::Refresh { .. } if status == 401 => {
                self.forget(secrets);
                Outcome::SignedOut { code: code() }
            }
            Purpose::Refresh { .. } => self.failed_for_now(now, random, code()),
            Purpose::SignOut => Outcome::Nothing,
        }
    }

    fn failed_for_now(&mut self, now: Millis, random: f64, code: String) -> Outcome {
        self.retry_at = Some(now + backoff_delay(self.failures, random));
        self.failures += 1;
        Outcome::Failed { code }
    }

    fn store(&mut self, tokens: Tokens, secrets: &dyn Storage) {
        secrets.save(TOKENS, &serde_json::to_string(&tokens).expect("tokens serialise"));
        self.tokens = Some(tokens);
        self.failures = 0;
        self.retry_at = None;
    }

    /// Signed out: the tokens are gone, here and in the secret store; the refresh token, for the server's sign-out.
    pub(crate) fn forget(&mut self, secrets: &dyn Storage) -> Option<String> {
        secrets.remove(TOKENS);
        self.failures = 0;
        self.retry_at = None;
        self.tokens.take().map(|t| t.refresh_token)
    }
}

/// When `tokens` should be refreshed: before the earlier of the JWT's `exp` and `access_token_expires_at`, by a
/// margin that follows the token's lifetime.
fn due(tokens: &Tokens) -> Option<Millis> {
    let claims = tokens
        .access_token
        .split('.')
        .nth(1)
        .and_then(|payload| B64URL.decode(payload.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let jwt_exp = claims.as_ref().and_then(|c| c["exp"].as_u64()).map(|s| s * 1000);
    let stated = tokens
        .access_token_expires_at
        .as_deref()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .and_then(|at| u64::try_from(at.timestamp_millis()).ok());
    let exp = match (jwt_exp, stated) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let lifetime_from = jwt_exp.unwrap_or(exp);
    let iat =
        claims.as_ref().and_then(|c| c["iat"].as_u64()).map_or(lifetime_from.saturating_sub(15 * 60_000), |s| s * 1000);
    let margin = refresh_margin(Duration::from_millis(lifetime_from.saturating_sub(iat)));
    Some(Millis(exp.saturating_sub(u64::try_from(margin.as_millis()).unwrap_or(u64::MAX))))
}
