//! A match's life as stored: its status (`matches.status`) and why it ended (`matches.end_reason`), and what
//! each side is told when it ends. Its kind is the protocol's [`tanis_proto::MatchKind`].

use tanis_proto::EndReason;

use super::stored_text;

stored_text! {
    /// Where a match is in its life: `matches.status`, whose CHECK allows exactly these four. Only `active`
    /// matches carry messages; the other three are final.
    pub enum MatchStatus {
        Active = "active",
        /// Its time ran out (the expiry job).
        Expired = "expired",
        /// Ended before any message was sent in it.
        Cancelled = "cancelled",
        /// Ended after at least one message.
        Completed = "completed",
    }
}

stored_text! {
    /// Why a match ended, as stored (`matches.end_reason`, NULL while it is active): one cause per match. Not
    /// the protocol's [`EndReason`], which is what each side is told (see [`EndCause::told`]): the side that was
    /// left and the side that was blocked are both told `peer_left`.
    pub enum EndCause {
        /// A participant left (`match.leave`), or deleted their account.
        Left = "left",
        /// A participant blocked the other.
        Blocked = "blocked",
        /// Its time ran out.
        Expired = "expired",
        /// A participant was banned.
        Banned = "banned",
        /// Both proposed to keep in touch: the match's conversation goes on as theirs (`matches.kept_at`).
        Kept = "kept",
    }
}

impl EndCause {
    /// What the two sides are told: `(the side whose act or ban ended it, the other)`. A block is not revealed to
    /// the blocked side: they are told the peer left. An expiry ends it for both alike. A kept match is not told
    /// as an end: both get `contact.added` instead (the pair below is never sent).
    pub fn told(self) -> (EndReason, EndReason) {
        match self {
            EndCause::Left => (EndReason::Left, EndReason::PeerLeft),
            EndCause::Blocked => (EndReason::Blocked, EndReason::PeerLeft),
            EndCause::Expired => (EndReason::Expired, EndReason::Expired),
            EndCause::Banned => (EndReason::Banned, EndReason::Banned),
            EndCause::Kept => (EndReason::Left, EndReason::PeerLeft),
        }
    }
}

#[cfg(test)]
mod tests {
    use tanis_proto::MatchKind;

    use super::*;
    use crate::domain::{SCHEMAS, allowed_by_check, assert_stored_as};

    #[test]
    fn a_match_status_is_stored_as_the_text_the_schema_allows() {
        for schema in SCHEMAS {
            let allowed = allowed_by_check(schema, "matches", "status");
            assert_stored_as(MatchStatus::ALL, &allowed, MatchStatus::as_str, MatchStatus::parse);
        }
        assert_eq!(MatchStatus::ALL.len(), 4);
    }

    #[test]
    fn a_match_kind_is_stored_as_the_text_the_schema_allows() {
        for schema in SCHEMAS {
            for (table, column) in [("matches", "type"), ("message_logs", "connection_type")] {
                let allowed = allowed_by_check(schema, table, column);
                assert_eq!(MatchKind::ALL.map(MatchKind::as_str), allowed.as_slice(), "{table}.{column}");
                assert!(allowed.iter().all(|text| MatchKind::parse(text).is_some()));
            }
        }
    }

    #[test]
    fn an_end_cause_is_stored_as_left_blocked_expired_banned_or_kept() {
        let allowed = ["left", "blocked", "expired", "banned", "kept"];
        assert_stored_as(EndCause::ALL, &allowed, EndCause::as_str, EndCause::parse);
    }

    #[test]
    fn the_blocked_side_is_told_only_that_the_peer_left_and_an_expiry_or_a_ban_is_told_to_both() {
        assert_eq!(EndCause::Left.told(), (EndReason::Left, EndReason::PeerLeft));
        assert_eq!(EndCause::Blocked.told(), (EndReason::Blocked, EndReason::PeerLeft));
        assert_eq!(EndCause::Expired.told(), (EndReason::Expired, EndReason::Expired));
        assert_eq!(EndCause::Banned.told(), (EndReason::Banned, EndReason::Banned));
    }
}
