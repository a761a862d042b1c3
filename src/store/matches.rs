//! Matches: creation with the quota spend in the same transaction, lookups, and ending.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_read_pool, on_write_pool, select};

/// A `matches` row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MatchRow {
    pub id: i64,
    pub user1_id: i64,
    pub user2_id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub expired_at: DateTime<Utc>,
    pub status: String,
    pub user1_public_key: String,
    pub user2_public_key: String,
}

impl MatchRow {
    /// The other participant, if `user_id` is one of the two.
    pub fn peer_of(&self, user_id: i64) -> Option<i64> {
        match user_id {
            id if id == self.user1_id => Some(self.user2_id),
            id if id == self.user2_id => Some(self.user1_id),
            _ => None,
        }
    }

    /// The public key `user_id`'s peer sent for this match.
    pub fn peer_public_key(&self, user_id: i64) -> &str {
        if user_id == self.user1_id { &self.user2_public_key } else { &self.user1_public_key }
    }
}

macro_rules! match_columns {
    () => {
        "id, user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, user2_public_key"
    };
}

/// What creating a match needs: the pair (user1 initiates), the kind, each side's key, and the times.
#[derive(Debug, Clone)]
pub struct NewMatch {
    pub user1_id: i64,
    pub user2_id: i64,
    /// `text` or `video`.
    pub kind: &'static str,
    pub user1_public_key: String,
    pub user2_public_key: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The pairs one pass of the matchmaker found, opened together in the relay writer's batch ([`super::Batch`]):
/// one commit carries the matches opened, the matches ended and the messages of the moment.
#[derive(Debug, Clone)]
pub struct Opening {
    /// Every user appears at most once.
    pub matches: Vec<NewMatch>,
    /// The cluster matchmaker's fencing token (`None` on a single node): the opening first raises the fence to
    /// it, and writes nothing ([`Opened::Fenced`]) if a newer holder already has.
    pub epoch: Option<i64>,
}

/// What an opening did.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// Per pair, in order: the match, or a user of the pair that cannot be matched now (no unit of the kind
    /// left, banned, or already in an active match); nothing of a refused pair was written.
    Pairs(Vec<Result<CreatedMatch, i64>>),
    /// A newer matchmaker holds the fence: nothing was written.
    Fenced,
}

/// One attempt at creating the pairs still pending: all of them, or nothing (rolled back to the opening's
/// savepoint).
pub(super) enum Attempt {
    Created(Vec<CreatedMatch>),
    /// These users could not pay.
    Unpaid(Vec<i64>),
    Fenced,
}

/// An opening's attempts: a pair with a side that cannot pay makes the attempt roll back and the rest try again.
/// Refusals are rare (quota gone, banned, already matched), so the common case is one attempt.
pub(super) struct Attempts<'a> {
    opening: &'a Opening,
    results: Vec<Option<Result<CreatedMatch, i64>>>,
    pending: Vec<usize>,
}

impl<'a> Attempts<'a> {
    pub(super) fn new(opening: &'a Opening) -> Self {
        let n = opening.matches.len();
        Attempts { opening, results: (0..n).map(|_| None).collect(), pending: (0..n).collect() }
    }

    /// The pairs the next attempt creates; empty when every pair is decided.
    pub(super) fn next(&self) -> Vec<&'a NewMatch> {
        self.pending.iter().map(|&i| &self.opening.matches[i]).collect()
    }

    /// The attempt created every pending pair, in order.
    pub(super) fn created(&mut self, attempt: Vec<CreatedMatch>) {
        for (i, created) in self.pending.drain(..).zip(attempt) {
            self.results[i] = Some(Ok(created));
        }
    }

    /// The attempt was rolled back: the pairs with a side in `unpaid` are refused, the rest try again.
    pub(super) fn refuse(&mut self, unpaid: &[i64]) {
        let (matches, results) = (&self.opening.matches, &mut self.results);
        self.pending.retain(|&i| {
            let new = &matches[i];
            let Some(user) = [new.user1_id, new.user2_id].into_iter().find(|u| unpaid.contains(u)) else {
                return true;
            };
            results[i] = Some(Err(user));
            false
        });
    }

    pub(super) fn finish(self) -> Opened {
        Opened::Pairs(self.results.into_iter().map(|r| r.expect("every pair decided")).collect())
    }
}

/// Why a match could not be created; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CreateMatchError {
    /// This user has no unit of the kind left, is banned, or already has an active match.
    #[error("user {0} cannot be matched now")]
    Unavailable(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CreateMatchError {
    fn from(e: sqlx::Error) -> Self {
        CreateMatchError::Store(e.into())
    }
}

/// Spends one unit of the kind from each listed user (the statement ends with an open `id IN (`): a daily
/// unit while there is one, else a bonus unit. The WHERE clause skips a user with neither, a banned user, one
/// whose account waits for deletion, or one already in an active match, so a balance can never go negative
/// whatever runs concurrently. The two `NOT EXISTS` are separate so each probes its (user, status) index; an
/// `OR` of the columns made SQLite walk every active match instead.
macro_rules! spend_unit {
    ($daily:literal, $bonus:literal) => {
        concat!(
            "UPDATE users SET ",
            $daily,
            " = CASE WHEN ",
            $daily,
            " > 0 THEN ",
            $daily,
            " - 1 ELSE ",
            $daily,
            " END, ",
            $bonus,
            " = CASE WHEN ",
            $daily,
            " > 0 THEN ",
            $bonus,
            " ELSE ",
            $bonus,
            " - 1 END ",
            "WHERE is_banned = FALSE AND deleted_at IS NULL AND (",
            $daily,
            " > 0 OR ",
            $bonus,
            " > 0) AND NOT EXISTS (SELECT 1 FROM matches WHERE user1_id = users.id AND status = 'active') ",
            "AND NOT EXISTS (SELECT 1 FROM matches WHERE user2_id = users.id AND status = 'active') AND id IN ("
        )
    };
}

/// A matched user as the match's announcement needs them: the handle shown to the peer and the balances after
/// paying. Nothing else of the account (no phone, no password hash) travels with a match.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MatchedUser {
    pub id: i64,
    pub alias: String,
    pub tag: String,
    pub daily_chat_balance: i32,
    pub daily_video_balance: i32,
    pub bonus_chat_balance: i32,
    pub bonus_video_balance: i32,
}

/// The columns of [`MatchedUser`], in its field order.
macro_rules! matched_user_columns {
    () => {
        "id, alias, tag, daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance"
    };
}
pub(super) use {match_columns, matched_user_columns, spend_unit};

/// A match the store created, with both users as they are after paying for it (for their balances).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedMatch {
    pub row: MatchRow,
    pub user1: MatchedUser,
    pub user2: MatchedUser,
}

impl Store {
    /// Creates a batch of active matches, each spending one unit from both sides, in ONE transaction: the
    /// relay writer does this for the matchmaker ([`Opening`]); this is the same write on its own. For each pair
    /// either both sides paid and the match exists, or nothing of that pair was written and the error names a
    /// side that could not pay. Results come back in input order; every user appears at most once in a batch.
    ///
    /// `epoch` is the cluster matchmaker's fencing token (`None` on a single node): the transaction first
    /// raises the fence to it, and writes nothing ([`StoreError::Fenced`]) if a newer holder already has.
    pub async fn create_matches(
        &self,
        batch: &[NewMatch],
        epoch: Option<i64>,
    ) -> Result<Vec<Result<CreatedMatch, CreateMatchError>>, StoreError> {
        let Some(first) = batch.first() else { return Ok(Vec::new()) };
        let opening = Opening { matches: batch.to_vec(), epoch };
        let opens = std::slice::from_ref(&opening);
        let written = self.write_batch(super::Batch { opens, ..super::Batch::default() }, first.now).await?;
        match written.opens.into_iter().next().expect("one outcome per opening") {
            Opened::Pairs(pairs) => Ok(pairs.into_iter().map(|p| p.map_err(CreateMatchError::Unavailable)).collect()),
            Opened::Fenced => Err(StoreError::Fenced),
        }
    }

    /// The user's active match, if any. Each side of the pair is looked up on its own (user, status)
    /// index: with `user1_id = $1 OR user2_id = $1` SQLite walked every active match of the node instead.
    pub async fn active_match_for(&self, user_id: i64) -> Result<Option<MatchRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            match_columns!(),
            " FROM matches WHERE id = (SELECT MAX(id) FROM (SELECT id FROM matches WHERE user1_id = $1 AND ",
            "status = 'active' UNION ALL SELECT id FROM matches WHERE user2_id = $1 AND status = 'active') AS mine)"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).optional().await)?)
    }

    /// A match `user_id` took part in (whatever its status); `None` for anyone else.
    pub async fn match_of_participant(&self, match_id: i64, user_id: i64) -> Result<Option<MatchRow>, StoreError> {
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
        match_id: i64,
        reason: &str,
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
            .bind(reason)
            .fetch_optional(pool)
            .await)?)
    }

    /// Records the first time a video call of the match connected (the video claim rule reads it).
    pub async fn mark_call_connected(&self, match_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE matches SET call_connected_at = $2 WHERE id = $1 AND call_connected_at IS NULL";
        on_write_pool!(self, |pool| sqlx::query(query).bind(match_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records when the match's call ended (the latest hang-up).
    pub async fn mark_call_ended(&self, match_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE matches SET call_ended_at = $2 WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query).bind(match_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether `user_id` was in the video match `match_id` and it ended at or after `since`: a failed call's
    /// `rtc.stats` may arrive just after the match ended (the peer gave up and left first).
    pub async fn video_match_ended_since(
        &self,
        match_id: i64,
        user_id: i64,
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
        match_id: i64,
        user_id: i64,
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
    pub async fn call_connected_at(&self, match_id: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
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

    /// Everyone this user blocked or was blocked by: never paired.
    pub async fn blocked_either_way(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        let query = select!(
            "SELECT blocked_id FROM blocks WHERE blocker_id = $1 UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1"
        );
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(user_id).all().await)?)
    }

    /// Everyone this user was matched with since `since`, with the latest time they met.
    pub async fn partners_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError> {
        let query = select!(
            "SELECT partner, MAX(created_at) FROM (\
               SELECT user2_id AS partner, created_at FROM matches WHERE user1_id = $1 AND created_at >= $2 \
               UNION ALL SELECT user1_id, created_at FROM matches WHERE user2_id = $1 AND created_at >= $2) AS met \
             GROUP BY partner"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(since).all().await)?)
    }
}
