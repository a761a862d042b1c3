//! Long-term credentials (RFC 5389 §10.2) over TURN REST usernames, with stateless nonces.
//!
//! The password is recomputed from the username ([`credentials::password_for`]), so the relay
//! keeps no per-user state. Nonces are stateless too: `<expiry hex>-<MAC>` under a key drawn at
//! start, so an unauthenticated flood of requests costs the server no memory (turn 0.17 kept
//! every nonce it ever issued in a map).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use stun::integrity::MessageIntegrity;

use super::Clock;
use crate::credentials;

/// How long a nonce stays valid; a client with an older one gets 438 Stale Nonce and retries.
const NONCE_LIFETIME_SECS: i64 = 3600;

pub(super) struct Auth {
    secret: Vec<u8>,
    pub(super) realm: String,
    clock: Clock,
    nonce_key: [u8; 32],
}

/// Why a request's credentials were not accepted.
pub(super) enum Refusal {
    /// No or stale nonce: answer 401/438 with a fresh nonce and the realm.
    NeedNonce { stale: bool },
    /// Malformed, expired or wrong credentials: 401 without detail.
    Unauthorized,
}

impl Auth {
    pub(super) fn new(secret: Vec<u8>, realm: String, clock: Clock) -> Self {
        Auth { secret, realm, clock, nonce_key: rand::random() }
    }

    pub(super) fn now(&self) -> i64 {
        (self.clock)()
    }

    pub(super) fn nonce(&self) -> String {
        let expiry = self.now().saturating_add(NONCE_LIFETIME_SECS);
        format!("{expiry:x}-{}", self.nonce_mac(expiry))
    }

    fn nonce_mac(&self, expiry: i64) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.nonce_key).expect("HMAC takes any key length");
        mac.update(&expiry.to_be_bytes());
        mac.finalize().into_bytes().iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    fn nonce_is_fresh(&self, nonce: &str) -> Result<(), Refusal> {
        let Some((expiry, mac)) = nonce.split_once('-') else { return Err(Refusal::NeedNonce { stale: false }) };
        let Ok(expiry) = i64::from_str_radix(expiry, 16) else { return Err(Refusal::NeedNonce { stale: false }) };
        // Not secret-dependent timing worth hiding: a forged nonce only earns a fresh one.
        if mac != self.nonce_mac(expiry) {
            return Err(Refusal::NeedNonce { stale: false });
        }
        if expiry <= self.now() {
            return Err(Refusal::NeedNonce { stale: true });
        }
        Ok(())
    }

    /// The MESSAGE-INTEGRITY key for `username` if its nonce is ours and fresh and the username
    /// is an unexpired TURN REST username. The caller then checks the message's integrity.
    pub(super) fn key(&self, username: &str, nonce: &str) -> Result<MessageIntegrity, Refusal> {
        self.nonce_is_fresh(nonce)?;
        match credentials::password_for(&self.secret, username, self.now()) {
            // Keyed on our realm, not the client's: a client echoing another realm fails the check.
            Some(password) => {
                Ok(MessageIntegrity::new_long_term_integrity(username.to_owned(), self.realm.clone(), password))
            }
            None => {
                // The username is an expiry plus an opaque ref (see credentials::issue): safe to log.
                tracing::info!(username, "TURN request refused: malformed or expired credentials");
                Err(Refusal::Unauthorized)
            }
        }
    }
}
