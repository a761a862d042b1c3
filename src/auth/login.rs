//! The id of one sign-in: a login and all its refresh-token rotations (the token family). Users see their
//! logins as "sessions" (`/v1/me/sessions`); access tokens name theirs in the `sid` field, so a revoked login's
//! access tokens and sockets can be refused and closed before the tokens expire.
//!
//! Not to be confused with a socket (`delivery::SocketRef`): one login may hold several sockets, and a socket
//! belongs to the login whose access token opened it.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A login's id: a random UUID, stored as its hyphenated text (`refresh_tokens.family_id`, `logins.family_id`).
/// `Copy` and 16 bytes: every open socket remembers one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LoginId(Uuid);

impl LoginId {
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// A login id as a client or a token names it; `None` when it is not a UUID.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(Self)
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// The stored and signed form: lower-case hyphenated, as `Uuid::to_string` has always written family ids.
impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_id_round_trips_through_its_text_and_nothing_else_parses() {
        let id = LoginId::generate();
        assert_eq!(LoginId::parse(&id.to_string()), Some(id));
        assert_eq!(LoginId::parse(&id.to_string().to_uppercase()), Some(id), "UUIDs compare by value");
        assert_eq!(id.to_string(), id.to_string().to_lowercase());
        for bad in ["", "fam", "not-a-uuid", "00000000-0000-0000-0000-00000000000g"] {
            assert_eq!(LoginId::parse(bad), None, "{bad}");
        }
    }
}
