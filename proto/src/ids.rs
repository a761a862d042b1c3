//! The ids that cross the protocol and the server's modules, each its own type so the compiler catches a
//! swapped sender, receiver or match. On the wire and in the database each is a bare integer (serde and, with
//! the `sqlx` feature, sqlx see through them); only SQL row mapping handles the bare `i64`.
//!
//! Passing one id where another is expected does not compile:
//!
//! ```compile_fail
//! use tanis_proto::{MatchId, UserId};
//! fn leave(match_id: MatchId) -> MatchId { match_id }
//! leave(UserId(7));
//! ```
//!
//! nor does using a bare integer as an id by accident:
//!
//! ```compile_fail
//! use tanis_proto::UserId;
//! fn ban(user_id: UserId) -> UserId { user_id }
//! ban(7);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The bare integer, for SQL, metrics labels and arithmetic the type does not offer.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> $name {
                $name(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    };
}

id!(
    /// An account (`users.id`). Strangers never see it: they know each other as alias#tag.
    UserId
);
id!(
    /// A match between two users (`matches.id`); every conversation frame names one.
    MatchId
);
id!(
    /// A message's place in its match, 1, 2, 3, … with no gap (`messages.seq`): the order both sides see and
    /// what `resume` and `msg.ack` point at.
    Seq
);

impl Seq {
    /// The seq after this one.
    pub const fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_bare_integer_on_the_wire() {
        assert_eq!(serde_json::to_string(&UserId(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<MatchId>("42").unwrap(), MatchId(42));
        assert_eq!(serde_json::to_string(&[Seq(1), Seq(2)]).unwrap(), "[1,2]");
        assert!(serde_json::from_str::<Seq>("\"1\"").is_err(), "a string is not an id");
    }

    #[test]
    fn ids_print_and_parse_as_integers_and_seqs_count_up() {
        assert_eq!(UserId(9021).to_string(), "9021");
        assert_eq!("9021".parse::<UserId>(), Ok(UserId(9021)));
        assert!("9021x".parse::<UserId>().is_err());
        assert_eq!(Seq(4).next(), Seq(5));
    }
}
