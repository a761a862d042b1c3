//! Contacts: two people who both proposed, during their match, to keep in touch. The match row records the
//! proposals (`user1_keep_at`, `user2_keep_at`) and, once both are in, `kept_at`: the match has ended as a match
//! and its conversation stays open for the two (messages keep the match's seqs; the batch accepts them while
//! `kept_at` is set). Ending the contact, by either side, a block or an account deletion, clears `kept_at`.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{EndCause, MatchId, Seq, UserId};
use crate::store::matches::{MatchRow, match_columns};

/// What a proposal to keep in touch did.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    /// Not an active match of this user's, or the two are blocked either way: nothing was recorded.
    Refused,
    /// Recorded (or already recorded): the peer has not proposed yet.
    Proposed { peer: UserId },
    /// The peer had proposed too: the match is now the two's contact conversation.
    Kept(MatchRow),
}

/// One of a user's contacts, as `GET /v1/contacts` lists it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContactRow {
    pub match_id: MatchId,
    pub peer_id: UserId,
    pub peer_alias: String,
    pub peer_tag: String,
    pub peer_public_key: String,
    /// This user's own current key for the conversation: the one of their `match.find`, or the last `contact.key`.
    pub my_public_key: String,
    /// The session (`logins.family_id`) whose `contact.key` published `my_public_key`; `None` while it is still the
    /// key of the `match.find` (or when the token that published it named no session).
    pub my_key_session_id: Option<String>,
    /// Whether this user was the match's initiator (user1): the E2E key direction.
    pub initiator: bool,
    pub kept_at: DateTime<Utc>,
    /// The conversation's highest seq (0 before any message).
    pub last_seq: Seq,
}

impl Store {
    /// Records `user_id`'s proposal to keep in touch in their active match `match_id`; when the peer had proposed
    /// too, ends the match as a match (`end_reason` kept) and opens it as the two's contact conversation.
    pub async fn propose_keep(
        &self,
        match_id: MatchId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Keep, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let proposed: Option<(UserId, UserId)> = sqlx::query_as(
                "UPDATE matches SET \
                   user1_keep_at = CASE WHEN user1_id = $2 THEN COALESCE(user1_keep_at, $3) ELSE user1_keep_at END, \
                   user2_keep_at = CASE WHEN user2_id = $2 THEN COALESCE(user2_keep_at, $3) ELSE user2_keep_at END \
                 WHERE id = $1 AND status = 'active' AND (user1_id = $2 OR user2_id = $2) \
                   AND NOT EXISTS (SELECT 1 FROM blocks WHERE (blocker_id = matches.user1_id AND blocked_id = \
                   matches.user2_id) OR (blocker_id = matches.user2_id AND blocked_id = matches.user1_id)) \
                 RETURNING user1_id, user2_id",
            )
            .bind(match_id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user1, user2)) = proposed else { return Ok(Keep::Refused) };
            let kept: Option<MatchRow> = sqlx::query_as(concat!(
                "UPDATE matches SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs WHERE match_id = $1) ",
                "THEN 'completed' ELSE 'cancelled' END, ended_at = $2, end_reason = $3, kept_at = $2 ",
                "WHERE id = $1 AND user1_keep_at IS NOT NULL AND user2_keep_at IS NOT NULL RETURNING ",
                match_columns!()
            ))
            .bind(match_id)
            .bind(now)
            .bind(EndCause::Kept)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(match kept {
                Some(row) => Keep::Kept(row),
                None => Keep::Proposed { peer: if user1 == user_id { user2 } else { user1 } },
            })
        })
    }

    /// `user_id`'s open contact conversation `match_id`, if it is one.
    pub async fn contact_of(&self, match_id: MatchId, user_id: UserId) -> Result<Option<MatchRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            match_columns!(),
            " FROM matches WHERE id = $1 AND (user1_id = $2 OR user2_id = $2) AND kept_at IS NOT NULL"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(match_id).bind(user_id).optional().await)?)
    }

    /// Every open contact conversation of `user_id`, the newest first. Each side on its own partial index. The last
    /// seq is the floor the metadata retention left when it took every log. The session of the user's own key is
    /// that of their last `contact.key` row of the conversation: written with the key, in one transaction
    /// ([`Store::set_contact_key`]), and ordered by id, as the manual clock of a test may stamp two alike.
    pub async fn contacts_of(&self, user_id: UserId) -> Result<Vec<ContactRow>, StoreError> {
        let query = select!(
            "SELECT m.id AS match_id, u.id AS peer_id, u.alias AS peer_alias, u.tag AS peer_tag, \
               CASE WHEN m.user1_id = $1 THEN m.user2_public_key ELSE m.user1_public_key END AS peer_public_key, \
               CASE WHEN m.user1_id = $1 THEN m.user1_public_key ELSE m.user2_public_key END AS my_public_key, \
               (SELECT k.family_id FROM contact_keys k WHERE k.user_id = $1 AND k.match_id = m.id \
                ORDER BY k.id DESC LIMIT 1) AS my_key_session_id, \
               m.user1_id = $1 AS initiator, m.kept_at, \
               (SELECT COALESCE(MAX(seq), m.seq_floor) FROM message_logs WHERE match_id = m.id) AS last_seq \
             FROM (SELECT id FROM matches WHERE user1_id = $1 AND kept_at IS NOT NULL \
                   UNION ALL SELECT id FROM matches WHERE user2_id = $1 AND kept_at IS NOT NULL) AS mine \
             JOIN matches m ON m.id = mine.id \
             JOIN users u ON u.id = CASE WHEN m.user1_id = $1 THEN m.user2_id ELSE m.user1_id END \
             ORDER BY m.kept_at DESC, m.id DESC"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).all().await)?)
    }

    /// Ends `user_id`'s contact conversation `match_id` for both; returns the peer, `None` when it was not an open
    /// contact of theirs.
    pub async fn end_contact(
        &self,
        match_id: MatchId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let query = "UPDATE matches SET kept_at = NULL, contact_ended_at = $3 \
                     WHERE id = $1 AND (user1_id = $2 OR user2_id = $2) AND kept_at IS NOT NULL \
                     RETURNING CASE WHEN user1_id = $2 THEN user2_id ELSE user1_id END";
        Ok(on_write_pool!(self, |pool| sqlx::query_scalar(query)
            .bind(match_id)
            .bind(user_id)
            .bind(now)
            .fetch_optional(pool)
            .await)?)
    }

    /// Replaces `user_id`'s public key in their contact conversation `match_id` (a new device, or a reinstall) and
    /// records that the session `login` published it (`contact_keys`, for `GET /v1/me/sessions`), in one
    /// transaction; returns the peer, `None` (nothing recorded) when it is not an open contact of theirs.
    pub async fn set_contact_key(
        &self,
        match_id: MatchId,
        user_id: UserId,
        public_key: &str,
        login: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let peer: Option<UserId> = sqlx::query_scalar(
                "UPDATE matches SET \
                   user1_public_key = CASE WHEN user1_id = $2 THEN $3 ELSE user1_public_key END, \
                   user2_public_key = CASE WHEN user2_id = $2 THEN $3 ELSE user2_public_key END \
                 WHERE id = $1 AND (user1_id = $2 OR user2_id = $2) AND kept_at IS NOT NULL \
                 RETURNING CASE WHEN user1_id = $2 THEN user2_id ELSE user1_id END",
            )
            .bind(match_id)
            .bind(user_id)
            .bind(public_key)
            .fetch_optional(&mut *tx)
            .await?;
            if peer.is_some() {
                sqlx::query(
                    "INSERT INTO contact_keys (user_id, family_id, match_id, published_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(user_id)
                .bind(login)
                .bind(match_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(peer)
        })
    }

    /// The user's contact key changes made by their sessions, newest first (at most [`MAX_KEY_CHANGES`]): each
    /// with the session (login) that published it.
    pub async fn contact_key_changes(&self, user_id: UserId) -> Result<Vec<ContactKeyChange>, StoreError> {
        let query = select!(
            "SELECT family_id, match_id, published_at FROM contact_keys \
             WHERE user_id = $1 AND family_id IS NOT NULL ORDER BY published_at DESC, id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(MAX_KEY_CHANGES).all().await)?)
    }
}

/// Most key changes read for the sessions' list: far more than a person makes by hand.
pub const MAX_KEY_CHANGES: i64 = 500;

/// A `contact.key` one of the user's sessions published.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContactKeyChange {
    /// The session (`logins.family_id`).
    pub family_id: String,
    pub match_id: MatchId,
    pub published_at: DateTime<Utc>,
}
