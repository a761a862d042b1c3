//! Matches: creation with the quota spend in the same transaction, lookups, and ending.

use chrono::{DateTime, Utc};

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::{Backend, BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};

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
pub struct NewMatch<'a> {
    pub user1_id: i64,
    pub user2_id: i64,
    /// `text` or `video`.
    pub kind: &'a str,
    pub user1_public_key: &'a str,
    pub user2_public_key: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
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
/// unit while there is one, else a bonus unit. The WHERE clause skips a user with neither, a banned user, or
/// one already in an active match, so a balance can never go negative whatever runs concurrently. The two
/// `NOT EXISTS` are separate so each probes its (user, status) index; an `OR` of the columns made SQLite walk
/// every active match instead.
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
            "WHERE is_banned = FALSE AND (",
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
pub(super) use {matched_user_columns, spend_unit};

/// A match the store created, with both users as they are after paying for it (for their balances).
#[derive(Debug, Clone)]
pub struct CreatedMatch {
    pub row: MatchRow,
    pub user1: MatchedUser,
    pub user2: MatchedUser,
}

impl Store {
    /// Creates a batch of active matches, each spending one unit from both sides, in ONE transaction: the
    /// matchmaker opens every pair it found in one pass with one commit. For each pair either both sides paid
    /// and the match exists, or nothing of that pair was written and the error names a side that could not
    /// pay. Results come back in input order; every user appears at most once in a batch.
    ///
    /// `epoch` is the cluster matchmaker's fencing token (`None` on a single node): the transaction first
    /// raises the fence to it, and writes nothing ([`StoreError::Fenced`]) if a newer holder already has.
    pub async fn create_matches(
        &self,
        batch: &[NewMatch<'_>],
        epoch: Option<i64>,
    ) -> Result<Vec<Result<CreatedMatch, CreateMatchError>>, StoreError> {
        let mut results: Vec<Option<Result<CreatedMatch, CreateMatchError>>> = batch.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        // A pair with a side that cannot pay makes the whole attempt roll back and the rest try again: refusals
        // are rare (quota gone, banned, already matched), so the common case is one round.
        while !pending.is_empty() {
            let attempt: Vec<&NewMatch> = pending.iter().map(|&i| &batch[i]).collect();
            match self.try_create_matches(&attempt, epoch).await? {
                Ok(created) => {
                    for (i, m) in pending.iter().zip(created) {
                        results[*i] = Some(Ok(m));
                    }
                    break;
                }
                Err(unpaid) => pending.retain(|&i| {
                    let new = &batch[i];
                    let Some(user) = [new.user1_id, new.user2_id].into_iter().find(|u| unpaid.contains(u)) else {
                        return true;
                    };
                    results[i] = Some(Err(CreateMatchError::Unavailable(user)));
                    false
                }),
            }
        }
        Ok(results.into_iter().map(|r| r.expect("every pair decided")).collect())
    }

    /// One attempt: `Ok` with the created matches in order, or `Err` with the users that could not pay
    /// (and nothing written).
    async fn try_create_matches(
        &self,
        batch: &[&NewMatch<'_>],
        epoch: Option<i64>,
    ) -> Result<Result<Vec<CreatedMatch>, Vec<i64>>, StoreError> {
        let pool = match &self.backend {
            Backend::Sqlite { write, .. } => {
                return super::matches_sqlite::try_create_matches(write, batch, epoch).await;
            }
            Backend::Postgres { write, .. } => write,
        };
        let mut tx = pool.begin_write().await?;
        if let Some(epoch) = epoch {
            // The row lock also orders two holders' transactions: the older one, waiting behind the newer,
            // then finds the fence above its epoch.
            let raised = sqlx::query("UPDATE matchmaker_fence SET epoch = $1 WHERE id = 1 AND epoch <= $1")
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
            if raised.rows_affected() == 0 {
                tx.rollback().await?;
                return Err(StoreError::Fenced);
            }
        }
        let mut paid: HashMap<i64, MatchedUser> = HashMap::with_capacity(batch.len() * 2);
        for (kind, spend) in [
            ("text", spend_unit!("daily_chat_balance", "bonus_chat_balance")),
            ("video", spend_unit!("daily_video_balance", "bonus_video_balance")),
        ] {
            let users: Vec<i64> =
                batch.iter().filter(|m| m.kind == kind).flat_map(|m| [m.user1_id, m.user2_id]).collect();
            if users.is_empty() {
                continue;
            }
            let mut q = QueryBuilder::new(spend);
            let mut ids = q.separated(", ");
            for id in users {
                ids.push_bind(id);
            }
            q.push(concat!(") RETURNING ", matched_user_columns!()));
            let rows: Vec<MatchedUser> = q.build_query_as().fetch_all(&mut *tx).await?;
            paid.extend(rows.into_iter().map(|u| (u.id, u)));
        }
        let unpaid: Vec<i64> =
            batch.iter().flat_map(|m| [m.user1_id, m.user2_id]).filter(|u| !paid.contains_key(u)).collect();
        if !unpaid.is_empty() {
            tx.rollback().await?;
            return Ok(Err(unpaid));
        }
        let mut q = QueryBuilder::new(
            "INSERT INTO matches (user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, \
             user2_public_key, matchmaker_epoch) ",
        );
        q.push_values(batch, |mut row, m| {
            row.push_bind(m.user1_id)
                .push_bind(m.user2_id)
                .push_bind(m.kind)
                .push_bind(m.now)
                .push_bind(m.expires_at)
                .push_bind("active")
                .push_bind(m.user1_public_key)
                .push_bind(m.user2_public_key)
                .push_bind(epoch);
        });
        q.push(concat!(" RETURNING ", match_columns!()));
        let rows: Vec<MatchRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        // RETURNING order is not guaranteed: key the rows by their first user (unique within a batch).
        let mut by_user1: HashMap<i64, MatchRow> = rows.into_iter().map(|r| (r.user1_id, r)).collect();
        Ok(Ok(batch
            .iter()
            .map(|m| {
                let row = by_user1.remove(&m.user1_id).expect("one inserted row per pair");
                let user1 = paid.remove(&m.user1_id).expect("paid");
                let user2 = paid.remove(&m.user2_id).expect("paid");
                CreatedMatch { row, user1, user2 }
            })
            .collect()))
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
