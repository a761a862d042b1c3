//! Values parsed once at the edge, and the rules that need nothing but them (who may hold or give a role, what
//! each side of an ended match is told, and [`trust`]: who counts toward the automatic ban, quarantine, the limits
//! of new accounts). Inner code takes these types and never re-checks strings.
//!
//! The closed vocabularies the database stores as text — a match's status and end, audit actions, notification
//! types, ban reason codes, appeal, claim and report states, sign-in outcomes, code purposes — are enums declared
//! with [`stored_text!`], one file per concept; the match kind is the protocol's [`tanis_proto::MatchKind`]; roles
//! are [`Role`].
//!
//! What people write and the limits on it — a moderator's note, a ban's duration, an appeal, an ad's title and
//! content, a broadcast — are newtypes too, one file per concept; each refusal's `Display` is the message the
//! client is told (src/api/error.rs adds the code).

mod ads;
pub mod age;
mod alias;
mod appeals;
mod audit;
mod bans;
mod broadcasts;
pub mod call_reports;
mod claims;
mod country;
pub mod declarations;
pub mod evidence;
mod interests;
mod languages;
mod locale;
mod logins;
mod matches;
mod notes;
mod notifications;
mod password;
mod phone;
mod phone_codes;
mod reports;
mod role;
mod standing;
mod statements;
pub mod trust;

pub use ads::{AdContent, AdTextError, AdTitle};
pub use age::{AssuranceStatus, RequiredFor};
pub use alias::{Alias, AliasError, HandleError, TAG_SPACE, Tag, TypedHandle, handle, lookup_key};
pub use appeals::{AppealText, AppealTextError};
pub use audit::AuditAction;
pub use bans::{AppealStatus, BanDuration, BanDurationError, BanReason};
pub use broadcasts::{BroadcastText, BroadcastTextError};
pub use claims::ClaimStatus;
pub use country::{Country, distance_km};
pub use interests::{Interests, InterestsError, MAX_INTERESTS, TOPICS, Topic};
pub use languages::{Languages, LanguagesError, MAX_LANGUAGES};
pub use locale::Locale;
pub use logins::LoginOutcome;
pub use matches::{EndCause, MatchStatus};
pub use notes::{ModeratorNote, NoteError};
pub use notifications::NotificationKind;
pub use password::{Password, PasswordError};
pub use phone::{Phone, PhoneError};
pub use phone_codes::CodePurpose;
pub use reports::{Lane, ReportResolution};
pub use role::{Role, RoleRefusal, UnknownRole};
pub use standing::Standing;
pub use statements::{
    Automation, Category, Decision, Facts, Source, category, facts, ground_of_report, ground_of_reports,
};
/// Ids are the protocol's: the server and the clients share one vocabulary of them.
pub use tanis_proto::{MatchId, Seq, UserId};

/// Declares an enum whose values are stored (and, where they are sent, serialised) as fixed text, each
/// variant's text written once: `Variant = "text"`. It gets `ALL` (every value, in declaration order),
/// `as_str`, `parse` (`None` for any other text), `Display`, serde as the text, and sqlx as the text on both
/// backends (a TEXT column decodes into it; text naming no value is a decoding error, which the store reports as
/// [`crate::store::StoreError::Database`], never a panic).
macro_rules! stored_text {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[sqlx(type_name = "text")]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] #[sqlx(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and sent) text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value `text` names; `None` for any other text.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
use stored_text;

/// The round trip every [`stored_text!`] enum must pass: each value parses back from its text and serialises
/// as it, the texts are exactly `allowed` (what the schema's CHECK or the docs allow), and none other parses.
#[cfg(test)]
fn assert_stored_as<T>(all: &[T], allowed: &[&str], as_str: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
where
    T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let texts: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
    assert_eq!(texts, allowed);
    for &value in all {
        let text = as_str(value);
        assert_eq!(parse(text), Some(value), "{text}");
        assert_eq!(serde_json::to_value(value).unwrap(), text);
        assert_eq!(serde_json::from_value::<T>(text.into()).unwrap(), value);
    }
    for unknown in ["", "unknown", " x"] {
        assert_eq!(parse(unknown), None, "{unknown:?}");
        assert!(serde_json::from_value::<T>(unknown.into()).is_err(), "{unknown:?}");
    }
    for text in allowed {
        assert_eq!(parse(&text.to_uppercase()), None, "{text}: the text is exact");
    }
}

/// The values the CHECK of `table.column` allows in a schema file: `column TEXT … CHECK (column IN ('a', 'b'))`.
#[cfg(test)]
fn allowed_by_check<'a>(schema: &'a str, table: &str, column: &str) -> Vec<&'a str> {
    let body = schema.split(&format!("CREATE TABLE {table} (")).nth(1).expect(table);
    let body = body.split("\n);").next().unwrap();
    let check = body.split(&format!("CHECK ({column} IN (")).nth(1).expect(column);
    check.split("))").next().unwrap().split(", ").map(|v| v.trim_matches('\'')).collect()
}

/// Both dialects' first schema, where the CHECKs on these columns are.
#[cfg(test)]
const SCHEMAS: [&str; 2] = [
    include_str!("../../migrations/sqlite/0001_schema.sql"),
    include_str!("../../migrations/postgres/0001_schema.sql"),
];
