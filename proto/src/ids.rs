//! The ids that cross the protocol and the server's modules, each its own type so the compiler catches a
//! swapped sender, receiver or match. On the wire and in the database each is a bare integer (serde and, with
//! the `sqlx` feature, sqlx see through them); only SQL row mapping handles the bare `i64`.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
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
