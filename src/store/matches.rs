//! Matches: the rows, their lookups, and the writes made outside the group commit (ending one on its own, the
//! call's marks). Opening matches is the batch's ([`super::batch`]), which uses the rows and columns here.

use chrono::{DateTime, Utc};
use tanis_proto::MatchKind;

use super::{Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{EndCause, Interests, Languages, MatchId, MatchStatus, Seq, UserId};

/// A `matches` row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MatchRow {
    pub id: MatchId,
    pub user1_id: UserId,
    pub user2_id: UserId,
    #[sqlx(rename = "type")]
    pub kind: MatchKind,
    pub created_at: DateTime<Utc>,
    pub expired_at: DateTime<Utc>,
    pub status: MatchStatus,
    pub user1_public_key: String,
    pub user2_public_key: String,
}

impl MatchRow {
    /// The other participant, if `user_id` is one of the two.
    pub fn peer_of(&self, user_id: UserId) -> Option<UserId> {
        match user_id {
            id if id == self.user1_id => Some(self.user2_id),
            id if id == self.user2_id => Some(self.user1_id),
            _ => None,
        }
    }

    /// The public key `user_id`'s peer sent for this match.
    pub fn peer_public_key(&self, user_id: UserId) -> &str {
        if user_id == self.user1_id { &self.user2_public_key } else { &self.user1_public_key }
    }
}

macro_rules! match_columns {
    () => {
        "id, user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, user2_public_key"
    };
}

/// A matched user as the match's announcement needs them: the handle shown to the peer, the balances after
/// paying, and the interests and languages the two are told they share. Nothing else of the account (no phone,
/// no password hash) travels with a match.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MatchedUser {
    pub id: UserId,
    pub alias: String,
    pub tag: String,
    pub daily_chat_balance: i32,
    pub daily_video_balance: i32,
    pub bonus_chat_balance: i32,
    pub bonus_video_balance: i32,
    /// The profile as stored, for what `match.found` says the two share ([`crate::store::UserRow`]'s columns).
    pub interests: String,
    pub languages: String,
    pub locale: String,
    /// Their count of matches opened, this one included.
    pub matches_opened: i64,
}

impl MatchedUser {
    /// The topics the profile lists and the languages spoken (the notification language until chosen).
    pub fn profile(&self) -> (Interests, Languages) {
        (Interests::from_stored(&self.interests), Languages::from_stored(&self.languages, &self.locale))
    }
}

/// The columns of [`MatchedUser`], in its field order.
macro_rules! matched_user_columns {
    () => {
        "id, alias, tag, daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance, interests, \
         languages, locale, matches_opened"
    };
}
pub(super) use {match_columns, matched_user_columns};

/// A match the store created, with both users as they are after paying for it (for their balances).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedMatch {
    pub row: MatchRow,
    pub user1: MatchedUser,
    pub user2: MatchedUser,
}

impl Store {
    /// The user's active match, if any. Each side of the pair is looked up on its own (user, status)
    /// index: with `user1_id = $1 OR user2_id = $1` SQLite walked every active match of the node instead.
    pub async fn active_match_for(&self, user_id: UserId) -> Result<Option<MatchRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            match_columns!(),
            " FROM matches WHERE id = (SELECT MAX(id) FROM (SELECT id FROM matches WHERE user1_id = $1 AND ",
            "status = 'active' UNION ALL SELECT id FROM matches WHERE user2_id = $1 AND status = 'active') AS mine)"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).optional().await)?)
    }

    /// The seq of a match's last message (its floor when no log is left, 0 when it has none): where a node that
    /// loads the match starts counting the messages it carries to its user's sockets.
    pub async fn last_seq(&self, match_id: MatchId) -> Result<Seq, StoreError> {
        let query = select!(
            "SELECT COALESCE((SELECT MAX(seq) FROM message_logs WHERE match_id = $1), \
             (SELECT seq_floor FROM matches WHERE id = $1), 0)"
        );
        let last: i64 = on_read_pool!(self, |pool| pool.scalars(query).bind(match_id).one().await)?;
        Ok(Seq(last))
    }

    /// A match `user_id` took part in (whatever its status); `None` for anyone else.
    pub async fn match_of_participant(
        &self,
        match_id: MatchId,
        user_id: UserId,
    ) -> Result<Option<MatchRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            match_columns!(),
            " FROM matches WHERE id = $1 AND (user1_id = $2 OR user2_id = $2)"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(match_id).bind(user_id).optional().await)?)
    }

    /// Ends an active match: `completed` when any message was exchanged, else `cancelled`. Returns the row as
    /// it was when this call ended it; `None` when it was not active (someone else ended it first).
    pub async fn end_match(
        &self,
        match_id: MatchId,
        cause: EndCause,
        now: DateTime<Utc>,
    ) -> Result<Option<MatchRow>, StoreError> {
        let query = concat!(
            "UPDATE matches SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs WHERE match_id = $1) ",
            "THEN 'completed' ELSE 'cancelled' END, ended_at = $2, end_reason = $3 ",
            "WHERE id = $1 AND status = 'active' RETURNING ",
            match_columns!()
        );
        Ok(on_write_pool!(self, |pool| sqlx::query_as(query)
            .bind(match_id)
            .bind(now)
            .bind(cause)
            .fetch_optional(pool)
            .await)?)
    }

    /// Records the first time a video call of the match connected (the video claim rule reads it).
    pub async fn mark_call_connected(&self, match_id: MatchId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE matches SET call_connected_at = $2 WHERE id = $1 AND call_connected_at IS NULL";
        on_write_pool!(self, |pool| sqlx::query(query).bind(match_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records when the match's call ended (the latest hang-up).
    pub async fn mark_call_ended(&self, match_id: MatchId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE matches SET call_ended_at = $2 WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query).bind(match_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether `user_id` was in the video match `match_id` and it ended at or after `since`: a failed call's
    /// `rtc.stats` may arrive just after the match ended (the peer gave up and left first).
    pub async fn video_match_ended_since(
        &self,
        match_id: MatchId,
        user_id: UserId,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let query = select!(
            "SELECT COUNT(*) FROM matches WHERE id = $1 AND (user1_id = $2 OR user2_id = $2) AND type = 'video' \
             AND ended_at >= $3"
        );
        let found: i64 =
            on_read_pool!(self, |pool| pool.scalars(query).bind(match_id).bind(user_id).bind(since).one().await)?;
        Ok(found > 0)
    }

    /// Marks `user_id`'s call report for the match as counted, in one statement so two nodes cannot both count
    /// it; false when it already was.
    pub async fn mark_call_reported(
        &self,
        match_id: MatchId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let query = concat!(
            "UPDATE matches SET ",
            "user1_call_report_at = CASE WHEN user1_id = $2 THEN $3 ELSE user1_call_report_at END, ",
            "user2_call_report_at = CASE WHEN user2_id = $2 THEN $3 ELSE user2_call_report_at END ",
            "WHERE id = $1 AND ((user1_id = $2 AND user1_call_report_at IS NULL) ",
            "OR (user2_id = $2 AND user2_call_report_at IS NULL))"
        );
        let marked = on_write_pool!(self, |pool| sqlx::query(query)
            .bind(match_id)
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        Ok(marked == 1)
    }

    /// When the match's call connected, if it did.
    pub async fn call_connected_at(&self, match_id: MatchId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = select!("SELECT call_connected_at FROM matches WHERE id = $1");
        let at: Option<Option<DateTime<Utc>>> =
            on_read_pool!(self, |pool| pool.scalars(query).bind(match_id).optional().await)?;
        Ok(at.flatten())
    }

    /// The highest matchmaker epoch that has written matches (the fence).
    pub async fn matchmaker_fence(&self) -> Result<i64, StoreError> {
        let query = select!("SELECT epoch FROM matchmaker_fence WHERE id = 1");
        Ok(on_read_pool!(self, |pool| pool.scalars(query).one().await)?)
    }

    /// The epoch of `node`'s fence, its row made at 0 the first time: what the node's openings of the pairs it claims
    /// from now on carry ([`crate::store::Opening::node`]; docs/testing.md row 38).
    pub async fn node_fence(&self, node: &str) -> Result<i64, StoreError> {
        let made = "INSERT INTO node_fences (node) VALUES ($1) ON CONFLICT (node) DO NOTHING";
        on_write_pool!(self, |pool| sqlx::query(made).bind(node).execute(pool).await.map(|_| ()))?;
        let read = "SELECT epoch FROM node_fences WHERE node = $1";
        Ok(on_write_pool!(self, |pool| sqlx::query_scalar(read).bind(node).fetch_one(pool).await)?)
    }

    /// Raises the fence of each node: an opening of a pair one of them claimed before is refused from now on. Waits
    /// for an opening of theirs under way (it holds its fence's row), which then commits first.
    pub async fn raise_node_fences(&self, nodes: &[String]) -> Result<(), StoreError> {
        let raise = "INSERT INTO node_fences (node, epoch) VALUES ($1, 1) \
                     ON CONFLICT (node) DO UPDATE SET epoch = node_fences.epoch + 1";
        for node in nodes {
            on_write_pool!(self, |pool| sqlx::query(raise).bind(node).execute(pool).await.map(|_| ()))?;
        }
        Ok(())
    }

    /// Everyone this user blocked or was blocked by: never paired.
    pub async fn blocked_either_way(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError> {
        let query = select!(
            "SELECT blocked_id FROM blocks WHERE blocker_id = $1 UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1"
        );
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(user_id).all().await)?)
    }

    /// Everyone this user was matched with since `since`, with the latest time they met.
    pub async fn partners_since(
        &self,
        user_id: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<(UserId, DateTime<Utc>)>, StoreError> {
        let query = select!(
            "SELECT partner, MAX(created_at) FROM (\
               SELECT user2_id AS partner, created_at FROM matches WHERE user1_id = $1 AND created_at >= $2 \
               UNION ALL SELECT user1_id, created_at FROM matches WHERE user2_id = $1 AND created_at >= $2) AS met \
             GROUP BY partner"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(since).all().await)?)
    }
}
