//! Deletion requests and their undo: the rows that say an account waits for the purge (`users.deleted_at`,
//! `purge_after`), and the phones of purged banned accounts that may not register while their ban runs
//! (`banned_phones`). The purge itself is `purge`'s; whether a request is allowed is `accounts::deletion`'s.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::logins::revoke_other_logins;
use super::system_logs::insert_system_log;
use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, MatchId, UserId};
use crate::phones::PhoneLookup;

/// What a deletion request changed, for the caller to make live: the sockets of `revoked` close, the peer of
/// `ended` is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    /// When the purge may remove the account. A second request keeps the first one's date.
    pub purge_after: DateTime<Utc>,
    /// The logins (refresh-token families) signed out.
    pub revoked: Vec<String>,
    /// The active match ended by the request, as `(match id, peer id)`.
    pub ended: Option<(MatchId, UserId)>,
    /// The contact conversations closed by the request, as `(match id, peer id)`.
    pub contacts_ended: Vec<(MatchId, UserId)>,
}

/// Closes the user's contact conversations (as either side), returning each with its peer.
const END_CONTACTS: [&str; 2] = [
    "UPDATE matches SET kept_at = NULL, contact_ended_at = $2 WHERE user1_id = $1 AND kept_at IS NOT NULL \
     RETURNING id, user2_id",
    "UPDATE matches SET kept_at = NULL, contact_ended_at = $2 WHERE user2_id = $1 AND kept_at IS NOT NULL \
     RETURNING id, user1_id",
];

/// Ends the user's active match (as either side) inside a transaction, as the group commit ends one
/// (`completed` once a message was sent, else `cancelled`), and returns its peer. One statement per side, so
/// each reads its partial index of active matches.
const END_ACTIVE_MATCH: [&str; 2] = [
    "UPDATE matches SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs WHERE match_id = matches.id) \
     THEN 'completed' ELSE 'cancelled' END, ended_at = $2, end_reason = 'left' \
     WHERE user1_id = $1 AND status = 'active' RETURNING id, user2_id",
    "UPDATE matches SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs WHERE match_id = matches.id) \
     THEN 'completed' ELSE 'cancelled' END, ended_at = $2, end_reason = 'left' \
     WHERE user2_id = $1 AND status = 'active' RETURNING id, user1_id",
];

impl Store {
    /// Marks the account for deletion (kept until `purge_after`), signs out every login, ends the active
    /// match and closes the contact conversations, with the `account.deletion_requested` audit row naming `via`, in one transaction. A second request
    /// keeps the first one's dates. `None` when there is no such account.
    pub async fn request_deletion(
        &self,
        user_id: UserId,
        purge_after: DateTime<Utc>,
        via: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Deleted>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let purge_after: Option<DateTime<Utc>> = sqlx::query_scalar(
                "UPDATE users SET deleted_at = COALESCE(deleted_at, $2), purge_after = COALESCE(purge_after, $3) \
                 WHERE id = $1 AND purged_at IS NULL RETURNING purge_after",
            )
            .bind(user_id)
            .bind(now)
            .bind(purge_after)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(purge_after) = purge_after else { return Ok(None) };
            let revoked = revoke_other_logins!(tx, user_id, None, now).await?;
            let mut ended = None;
            for sql in END_ACTIVE_MATCH {
                let row: Option<(MatchId, UserId)> =
                    sqlx::query_as(sql).bind(user_id).bind(now).fetch_optional(&mut *tx).await?;
                ended = ended.or(row);
            }
            let mut contacts_ended = Vec::new();
            for sql in END_CONTACTS {
                let rows: Vec<(MatchId, UserId)> =
                    sqlx::query_as(sql).bind(user_id).bind(now).fetch_all(&mut *tx).await?;
                contacts_ended.extend(rows);
            }
            let details = json!({ "via": via, "purge_after": purge_after, "sessions_revoked": revoked.len() });
            insert_system_log!(&mut *tx, AuditAction::AccountDeletionRequested, Some(user_id), &details, now).await?;
            tx.commit().await?;
            Ok(Some(Deleted { purge_after, revoked, ended, contacts_ended }))
        })
    }

    /// Undoes a pending deletion, with the `account.deletion_cancelled` audit row. False when none was pending
    /// (or the account is gone: the purge won a race with this login).
    pub async fn cancel_deletion(&self, user_id: UserId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let cancelled = sqlx::query(
                "UPDATE users SET deleted_at = NULL, purge_after = NULL WHERE id = $1 AND deleted_at IS NOT NULL",
            )
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if cancelled == 0 {
                return Ok(false);
            }
            insert_system_log!(&mut *tx, AuditAction::AccountDeletionCancelled, Some(user_id), &json!({}), now).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The end of the ban a purged account left on this phone, if it still runs at `now`: `Some(None)` for a
    /// ban until lifted.
    pub async fn phone_ban(
        &self,
        phone: &PhoneLookup,
        now: DateTime<Utc>,
    ) -> Result<Option<Option<DateTime<Utc>>>, StoreError> {
        let query = select!(
            "SELECT ends_at FROM banned_phones WHERE phone_index IN ($1, $2) AND (ends_at IS NULL OR ends_at > $3)"
        );
        let [current, previous] = phone.indexes();
        let ends: Vec<Option<DateTime<Utc>>> =
            on_read_pool!(self, |pool| pool.scalars(query).bind(current).bind(previous).bind(now).all().await)?;
        // Under both index keys during a rotation: the longer ban wins, and one until lifted is the longest.
        Ok(ends.into_iter().reduce(|a, b| a.zip(b).map(|(a, b)| a.max(b))))
    }
}
