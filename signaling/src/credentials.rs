//! Short-lived TURN credentials in the "TURN REST API" scheme (draft-uberti-behave-turn-rest),
//! as implemented by coturn's `use-auth-secret` / `static-auth-secret`:
//!
//! ```text
//! username = "<expiry unix seconds>:<user ref>"
//! password = base64(HMAC-SHA1(shared secret, username))
//! ```
//!
//! The signalling server issues these per match; the TURN server (embedded, or an external
//! coturn sharing the secret) recomputes the password from the username alone, so no per-user
//! state is shared between the two and a credential stops working by itself at its expiry.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The longest `user_ref` kept; longer ones are truncated. STUN caps USERNAME at 513 bytes and
/// an opaque reference needs far less.
pub const MAX_USER_REF_LEN: usize = 64;

/// Credentials handed to a client for its `RTCIceServer` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    pub username: String,
    pub password: String,
    pub ttl_secs: u64,
    pub expires_at_unix: i64,
}

impl std::fmt::Debug for TurnCredentials {
    /// The password is a bearer secret until expiry: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("ttl_secs", &self.ttl_secs)
            .field("expires_at_unix", &self.expires_at_unix)
            .finish()
    }
}

/// Issues credentials valid for `ttl_secs` from `now_unix`.
///
/// `user_ref` ends up in the TURN username, which the TURN server logs and any on-path observer
/// of the (unencrypted) STUN traffic can read. It must therefore be an opaque reference minted
/// per issuance (e.g. a random token), never an account id, phone number or anything that links
/// the allocation to a person. It is sanitised rather than rejected so issuing cannot fail:
/// `:` (the field separator), whitespace, control and non-ASCII characters become `_`, and it is
/// truncated to [`MAX_USER_REF_LEN`]. Use the returned `username`, not the input.
pub fn issue(secret: &[u8], user_ref: &str, now_unix: i64, ttl_secs: u64) -> TurnCredentials {
    let expires_at_unix = now_unix.saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    let username = format!("{expires_at_unix}:{}", sanitize_user_ref(user_ref));
    let password = hmac_password(secret, &username);
    TurnCredentials { username, password, ttl_secs, expires_at_unix }
}

/// The password the holder of `username` must present at `now_unix`, or `None` when the
/// username is not `<expiry>:<ref>` with a numeric expiry, or has expired (expiry ≤ now).
pub fn password_for(secret: &[u8], username: &str, now_unix: i64) -> Option<String> {
    let (expiry, _user_ref) = username.split_once(':')?;
    let expiry: i64 = expiry.parse().ok()?;
    (expiry > now_unix).then(|| hmac_password(secret, username))
}

fn hmac_password(secret: &[u8], username: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn sanitize_user_ref(user_ref: &str) -> String {
    user_ref.chars().take(MAX_USER_REF_LEN).map(|c| if c.is_ascii_graphic() && c != ':' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with:
    // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
    //     b"tanis-test-secret",b"1700003600:r3f",hashlib.sha1).digest()).decode())'
    const SECRET: &[u8] = b"tanis-test-secret";
    const KNOWN_USERNAME: &str = "1700003600:r3f";
    const KNOWN_PASSWORD: &str = "MLzIkgNWuWZLOS91RLwH7ze0r+w=";

    #[test]
    fn issue_matches_coturn_rest_scheme() {
        let c = issue(SECRET, "r3f", 1_700_000_000, 3600);
        assert_eq!(c.username, KNOWN_USERNAME);
        assert_eq!(c.password, KNOWN_PASSWORD);
        assert_eq!(c.ttl_secs, 3600);
        assert_eq!(c.expires_at_unix, 1_700_003_600);
        // Second vector, same tool: exercises '-' and '_' surviving sanitisation.
        assert_eq!(issue(b"north", "Zq9-_x", 1_700_000_000, 100).password, "rNPmvG+/QKtZnsA45sdYI9ac0tc=");
    }

    #[test]
    fn password_for_accepts_until_expiry() {
        assert_eq!(password_for(SECRET, KNOWN_USERNAME, 1_700_000_000).as_deref(), Some(KNOWN_PASSWORD));
        assert_eq!(password_for(SECRET, KNOWN_USERNAME, 1_700_003_599).as_deref(), Some(KNOWN_PASSWORD));
        assert_eq!(password_for(SECRET, KNOWN_USERNAME, 1_700_003_600), None, "expiry == now is expired");
        assert_eq!(password_for(SECRET, KNOWN_USERNAME, 1_800_000_000), None);
    }

    #[test]
    fn password_for_rejects_malformed_usernames() {
        for username in ["", "r3f", "1700003600", "soon:r3f", ":r3f", "17000036OO:r3f", " 1700003600:r3f"] {
            assert_eq!(password_for(SECRET, username, 0), None, "{username:?}");
        }
        // A ref containing ':' is fine on the verifying side: only the first ':' separates.
        assert!(password_for(SECRET, "1700003600:a:b", 0).is_some());
    }

    #[test]
    fn password_depends_on_secret_and_whole_username() {
        let c = issue(SECRET, "r3f", 1_700_000_000, 3600);
        assert_ne!(password_for(b"other", &c.username, 0).unwrap(), c.password);
        assert_ne!(password_for(SECRET, "1700003601:r3f", 0).unwrap(), c.password);
        assert_ne!(password_for(SECRET, "1700003600:r3g", 0).unwrap(), c.password);
    }

    #[test]
    fn user_ref_is_sanitised() {
        let c = issue(SECRET, "a:b c\u{e9}\n", 10, 5);
        assert_eq!(c.username, "15:a_b_c__");
        assert_eq!(password_for(SECRET, &c.username, 10), Some(c.password));
        let long = issue(SECRET, &"x".repeat(500), 10, 5);
        assert_eq!(long.username.len(), "15:".len() + MAX_USER_REF_LEN);
        assert_eq!(issue(SECRET, "", 10, 5).username, "15:");
    }

    #[test]
    fn huge_ttl_saturates_instead_of_overflowing() {
        let c = issue(SECRET, "r", i64::MAX - 1, u64::MAX);
        assert_eq!(c.expires_at_unix, i64::MAX);
    }

    #[test]
    fn debug_redacts_password() {
        let c = issue(SECRET, "r3f", 1_700_000_000, 3600);
        assert!(!format!("{c:?}").contains(KNOWN_PASSWORD));
    }
}
