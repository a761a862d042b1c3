//! Matches: creation with the quota spend in the same transaction, lookups, and ending.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_pool};

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

/// Spends one unit of the kind: a daily unit while there is one, else a bonus unit. The WHERE clause makes
/// it a no-op (0 rows) for a user with neither, a banned user, or one already in an active match, so a
/// balance can never go negative whatever runs concurrently.
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
            "WHERE id = $1 AND is_banned = FALSE AND (",
            $daily,
            " > 0 OR ",
            $bonus,
            " > 0) AND NOT EXISTS (SELECT 1 FROM matches WHERE status = 'active' AND (user1_id = $1 OR user2_id = $1))"
        )
    };
}

impl Store {
    /// Creates an active match and spends one unit from each side, atomically: either both sides paid and
    /// the match exists, or nothing changed and the error names the side that could not pay.
    pub async fn create_match(&self, new: &NewMatch<'_>) -> Result<MatchRow, CreateMatchError> {
        let spend = match new.kind {
            "video" => spend_unit!("daily_video_balance", "bonus_video_balance"),
            _ => spend_unit!("daily_chat_balance", "bonus_chat_balance"),
        };
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for user in [new.user1_id, new.user2_id] {
                if sqlx::query(spend).bind(user).execute(&mut *tx).await?.rows_affected() == 0 {
                    return Err(CreateMatchError::Unavailable(user));
                }
            }
            let row: MatchRow = sqlx::query_as(concat!(
                "INSERT INTO matches (user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, ",
                "user2_public_key) VALUES ($1, $2, $3, $4, $5, 'active', $6, $7) RETURNING ",
                match_columns!()
            ))
            .bind(new.user1_id)
            .bind(new.user2_id)
            .bind(new.kind)
            .bind(new.now)
            .bind(new.expires_at)
            .bind(new.user1_public_key)
            .bind(new.user2_public_key)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    /// The user's active match, if any.
    pub async fn active_match_for(&self, user_id: i64) -> Result<Option<MatchRow>, StoreError> {
        let query = concat!(
            "SELECT ",
            match_columns!(),
            " FROM matches WHERE status = 'active' AND (user1_id = $1 OR user2_id = $1) ORDER BY id DESC LIMIT 1"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(query).bind(user_id).fetch_optional(pool).await)?)
    }

    /// A match `user_id` took part in (whatever its status); `None` for anyone else.
    pub async fn match_of_participant(&self, match_id: i64, user_id: i64) -> Result<Option<MatchRow>, StoreError> {
        let query =
            concat!("SELECT ", match_columns!(), " FROM matches WHERE id = $1 AND (user1_id = $2 OR user2_id = $2)");
        Ok(on_pool!(self, |pool| sqlx::query_as(query).bind(match_id).bind(user_id).fetch_optional(pool).await)?)
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
        Ok(on_pool!(self, |pool| sqlx::query_as(query)
            .bind(match_id)
            .bind(now)
            .bind(reason)
            .fetch_optional(pool)
            .await)?)
    }

    /// Records the first time a video call of the match connected (the video claim rule reads it).
    pub async fn mark_call_connected(&self, match_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE matches SET call_connected_at = $2 WHERE id = $1 AND call_connected_at IS NULL";
        on_pool!(self, |pool| sqlx::query(query).bind(match_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Records when the match's call ended (the latest hang-up).
    pub async fn mark_call_ended(&self, match_id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE matches SET call_ended_at = $2 WHERE id = $1";
        on_pool!(self, |pool| sqlx::query(query).bind(match_id).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// When the match's call connected, if it did.
    pub async fn call_connected_at(&self, match_id: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = "SELECT call_connected_at FROM matches WHERE id = $1";
        let at: Option<Option<DateTime<Utc>>> =
            on_pool!(self, |pool| sqlx::query_scalar(query).bind(match_id).fetch_optional(pool).await)?;
        Ok(at.flatten())
    }

    /// Everyone this user must not be paired with: blocked either way, or matched since `since`.
    pub async fn excluded_partners(&self, user_id: i64, since: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let query = "SELECT blocked_id FROM blocks WHERE blocker_id = $1 \
                     UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1 \
                     UNION SELECT user2_id FROM matches WHERE user1_id = $1 AND created_at >= $2 \
                     UNION SELECT user1_id FROM matches WHERE user2_id = $1 AND created_at >= $2";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(query).bind(user_id).bind(since).fetch_all(pool).await)?)
    }
}
