//! Values parsed once at the edge, and the rules that need nothing but them (who may hold or give a role). Inner
//! code takes these types and never re-checks strings.

mod alias;
mod password;
mod phone;
mod role;

pub use alias::{Alias, AliasError, TAG_SPACE, Tag, handle, lookup_key};
pub use password::{Password, PasswordError};
pub use phone::{Phone, PhoneError};
pub use role::{Role, RoleRefusal, UnknownRole};
/// Ids are the protocol's: the server and the clients share one vocabulary of them.
pub use tanis_proto::{MatchId, Seq, UserId};

/// The reason codes a ban may carry; the banned user is shown the code (docs/admin.md explains each).
/// `reports` is the automatic ban's.
pub const BAN_REASONS: [&str; 10] = [
    "spam",
    "harassment",
    "hate",
    "sexual_content",
    "underage",
    "scam",
    "impersonation",
    "violence",
    "reports",
    "other",
];
