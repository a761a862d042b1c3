//! Roles: what an account may do on the admin side, and the rules about giving them and about banning staff.
//! Parsed at the edge (a request body, the command line, an access token, a `users` row) and stored and sent as
//! the same lowercase text: `user`, `moderator`, `admin`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::UserId;

/// An account's role. The database's `CHECK` on `users.role` allows exactly these three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

/// Text that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be user, moderator or admin")]
pub struct UnknownRole;

/// Why a role change or a ban is refused by the rules on roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoleRefusal {
    /// Otherwise the last admin could lock everyone out of the admin side.
    #[error("admins cannot demote themselves")]
    SelfDemotion,
    /// A moderator could otherwise lock an admin (or every other moderator) out, and staff could ban themselves.
    /// An admin takes the role away first (`PUT …/role`, audited), then bans.
    #[error("staff accounts are not banned: an admin demotes them first")]
    StaffNotBannable,
}

impl Role {
    /// Every role, in the order the command line lists them.
    pub const ALL: [Role; 3] = [Role::User, Role::Moderator, Role::Admin];

    pub fn parse(text: &str) -> Result<Self, UnknownRole> {
        match text {
            "user" => Ok(Role::User),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole),
        }
    }

    /// The stored and wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    /// Moderators and admins: the admin side is theirs.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Moderator | Role::Admin)
    }

    /// Admins also see phone numbers (each view audited), set roles, and manage ads, broadcasts and subscriptions.
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// Whether the admin `admin` may give this role to the account `to`. Every role may be given, by an admin
    /// only (the caller has checked that), except that an admin keeps their own.
    pub fn may_be_given(self, admin: UserId, to: UserId) -> Result<(), RoleRefusal> {
        if to == admin && self != Role::Admin {
            return Err(RoleRefusal::SelfDemotion);
        }
        Ok(())
    }

    /// Whether an account with this role may be banned: plain users only.
    pub fn bannable(self) -> Result<(), RoleRefusal> {
        match self {
            Role::User => Ok(()),
            Role::Moderator | Role::Admin => Err(RoleRefusal::StaffNotBannable),
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, UnknownRole> {
        Role::parse(text)
    }
}

/// How a `users` row's text becomes a role (`#[sqlx(try_from = "String")]`).
impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(text: String) -> Result<Self, UnknownRole> {
        Role::parse(&text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_reads_and_writes_as_the_same_lowercase_text() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
            assert_eq!(serde_json::from_value::<Role>(role.as_str().into()).unwrap(), role);
        }
        for unknown in ["", "Admin", "root", " user"] {
            assert_eq!(Role::parse(unknown), Err(UnknownRole), "{unknown:?}");
        }
    }

    #[test]
    fn moderators_and_admins_are_staff_and_only_admins_are_admins() {
        assert_eq!(Role::ALL.map(Role::is_staff), [false, true, true]);
        assert_eq!(Role::ALL.map(Role::is_admin), [false, false, true]);
    }

    #[test]
    fn an_admin_gives_any_role_to_others_but_cannot_demote_themselves() {
        for role in Role::ALL {
            assert_eq!(role.may_be_given(UserId(1), UserId(2)), Ok(()), "{role}");
        }
        assert_eq!(Role::Admin.may_be_given(UserId(1), UserId(1)), Ok(()), "keeping one's own role");
        assert_eq!(Role::Moderator.may_be_given(UserId(1), UserId(1)), Err(RoleRefusal::SelfDemotion));
        assert_eq!(Role::User.may_be_given(UserId(1), UserId(1)), Err(RoleRefusal::SelfDemotion));
    }

    #[test]
    fn only_plain_users_are_bannable() {
        assert_eq!(Role::User.bannable(), Ok(()));
        assert_eq!(Role::Moderator.bannable(), Err(RoleRefusal::StaffNotBannable));
        assert_eq!(Role::Admin.bannable(), Err(RoleRefusal::StaffNotBannable));
    }
}
