//! The purge's store half (workers/src/purge.rs decides when): an account whose grace period is over is removed
//! in ONE transaction, so a crash leaves it either whole (the next run purges it) or gone.
//!
//! What goes: everything personal — sessions and tokens, login attempts and phone codes (by account and by the
//! phone's blind index), consents, age assurances, devices and their pushes, notifications, blocks both ways, ad
//! views, appeals, subscriptions, referrals naming them (their phones are in those rows), message content, and the
//! account row with its phone (and the phone's country), password hash, alias, tag, referral code, location and
//! birth year.
//!
//! What stays, for abuse statistics and the other side's records: matches, message logs, claims, reports filed
//! and received, bans, statements of reasons, the audit trail and billing events. They are re-keyed to a fresh
//! **tombstone** row (a new id, no phone, alias `deleted`, random tag, unusable password hash, `purged_at` set), one
//! per purged account, so the old id — which server logs and old tokens carry — leads nowhere, and no unique key
//! (one report per reporter and reported, one claim per match and user) can collide. Identifying leftovers in kept
//! rows are cleared: their side's public key in matches, the device description of messages they sent, the
//! franking commitments of their matches' messages (so nothing they wrote can be proven theirs any more), the free
//! text of reports they filed and the hash of the address range they filed them from, their id inside audit
//! details. Billing events keep no link to anyone.
//!
//! A purged account whose ban still runs leaves its phone's blind index and the ban's end in `banned_phones`, so
//! deleting is no way around a ban (`Store::phone_ban`); the purge job deletes those rows once the ban is over.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::system_logs::insert_system_log;
use super::{BackendKind, BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, Tag, UserId};

/// The matches the purged user took part in, as a subquery over the two per-side indexes.
macro_rules! their_matches {
    () => {
        "(SELECT id FROM matches WHERE user1_id = $1 UNION SELECT id FROM matches WHERE user2_id = $1)"
    };
}

/// The logs of the purged user's matches in `$table`, re-keyed (binding `$1` and `$2`, as [`REKEY`]): the sender's
/// device description goes, and every franking commitment: the purged user's messages can no longer be revealed
/// as evidence, and the peer's were theirs alone to reveal.
macro_rules! rekey_logs {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET device_info = CASE WHEN sender_id = $1 THEN NULL ELSE device_info END, commitment = NULL, ",
            "sender_id = CASE WHEN sender_id = $1 THEN $2 ELSE sender_id END, ",
            "receiver_id = CASE WHEN receiver_id = $1 THEN $2 ELSE receiver_id END WHERE match_id IN ",
            their_matches!()
        )
    };
}

/// What the purge does to the user's messages, by store: first their content goes (binding `$1`), then their logs
/// are re-keyed (`$1` and `$2`). On SQLite a message and its log are one row, of which `messages` and
/// `message_logs` are views (migrations/sqlite/0029): the content is cleared, the row stays as the log.
fn purge_messages(kind: BackendKind) -> [&'static str; 2] {
    match kind {
        BackendKind::Postgres => {
            [concat!("DELETE FROM messages WHERE match_id IN ", their_matches!()), rekey_logs!("message_logs")]
        }
        BackendKind::Sqlite => [
            concat!(
                "UPDATE message_rows SET client_msg_id = NULL, content = NULL, nonce = NULL ",
                "WHERE content IS NOT NULL AND match_id IN ",
                their_matches!()
            ),
            rekey_logs!("message_rows"),
        ],
    }
}

/// Statements binding only the purged id (`$1`): what goes, and billing events unlinked.
const REMOVE: &[&str] = &[
    // Revealed messages are theirs (the reported's words) or theirs to have revealed (the reporter's choice).
    "DELETE FROM report_evidence WHERE report_id IN (SELECT id FROM reports WHERE reporter_id = $1 OR reported_id = $1)",
    // A call report's verdict and snapshot: the snapshot is the reported's picture, taken by the reporter.
    "DELETE FROM report_calls WHERE report_id IN (SELECT id FROM reports WHERE reporter_id = $1 OR reported_id = $1)",
    "DELETE FROM push_outbox WHERE device_id IN (SELECT id FROM devices WHERE user_id = $1)",
    "DELETE FROM devices WHERE user_id = $1",
    "DELETE FROM contact_keys WHERE user_id = $1",
    // The provider's answer about their age, and its reference there.
    "DELETE FROM age_assurances WHERE user_id = $1",
    "DELETE FROM age_assurance_calls WHERE user_id = $1",
    "DELETE FROM logins WHERE user_id = $1",
    "DELETE FROM refund_marks WHERE user_id = $1",
    "DELETE FROM refresh_tokens WHERE user_id = $1",
    "DELETE FROM privacy_consents WHERE user_id = $1",
    "DELETE FROM notifications WHERE user_id = $1",
    "DELETE FROM blocks WHERE blocker_id = $1",
    "DELETE FROM blocks WHERE blocked_id = $1",
    "DELETE FROM ad_views WHERE user_id = $1",
    "DELETE FROM appeals WHERE user_id = $1",
    "DELETE FROM subscriptions WHERE user_id = $1",
    // Kept for the books (the provider holds the invoices), with no link to the person.
    "UPDATE billing_events SET user_id = NULL WHERE user_id = $1",
];

/// Statements binding the purged id (`$1`) and the phone's blind index (`$2`): rows that name the phone,
/// whichever account they were recorded for.
const REMOVE_BY_PHONE: &[&str] = &[
    "DELETE FROM login_attempts WHERE user_id = $1 OR phone_index = $2",
    "DELETE FROM phone_codes WHERE user_id = $1 OR phone_index = $2",
    "DELETE FROM referrals WHERE invited_id = $1 OR inviter_id = $1 OR invited_phone_index = $2 \
     OR inviter_phone_index = $2",
];

/// Statements binding the purged id (`$1`) and the tombstone's (`$2`): what stays, re-keyed. The match rows go
/// last: the statements before them find the user's matches through them.
const REKEY: &[&str] = &[
    concat!("UPDATE claims SET user_id = $2 WHERE user_id = $1 AND match_id IN ", their_matches!()),
    "UPDATE matches SET user1_id = $2, user1_public_key = '' WHERE user1_id = $1",
    "UPDATE matches SET user2_id = $2, user2_public_key = '' WHERE user2_id = $1",
    // What they wrote in a report is theirs; the reason code stays for the statistics.
    "UPDATE reports SET reporter_id = $2, details = NULL, reporter_network = NULL WHERE reporter_id = $1",
    "UPDATE reports SET reported_id = $2 WHERE reported_id = $1",
    "UPDATE reports SET resolved_by = $2 WHERE resolved_by = $1",
    "UPDATE bans SET user_id = $2 WHERE user_id = $1",
    "UPDATE bans SET banned_by = $2 WHERE banned_by = $1",
    "UPDATE bans SET lifted_by = $2 WHERE lifted_by = $1",
    "UPDATE appeals SET decided_by = $2 WHERE decided_by = $1",
    // Statements of reasons stay for the operator's transparency export (they name no one).
    "UPDATE statements SET user_id = $2 WHERE user_id = $1",
    "UPDATE system_logs SET user_id = $2 WHERE user_id = $1",
    "UPDATE system_logs SET actor_id = $2 WHERE actor_id = $1",
];

/// Keys under which audit details name an account (`{"by": {"moderator": 7}}`).
const ACCOUNT_KEYS: &[&str] = &["moderator", "user_id", "actor_id"];

/// An account due for the purge, as locked at the start of its transaction.
#[derive(Debug, sqlx::FromRow)]
struct Doomed {
    phone_index: Option<Vec<u8>>,
    is_banned: bool,
    ban_reason: Option<String>,
    banned_at: Option<DateTime<Utc>>,
    ban_ends_at: Option<DateTime<Utc>>,
    ban_cleared_at: Option<DateTime<Utc>>,
}

impl Doomed {
    /// The end of the ban that outlives the account (`Some(None)`: until lifted), if one still runs at `now`.
    fn running_ban(&self, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        (self.is_banned && self.ban_ends_at.is_none_or(|end| end > now)).then_some(self.ban_ends_at)
    }
}

/// What one purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// The ban still ran: the phone's blind index is kept in `banned_phones` until it ends.
    pub phone_ban_kept: bool,
}

impl Store {
    /// Accounts whose grace period is over at `now`, by id after `after`, at most `limit`.
    pub async fn accounts_to_purge(
        &self,
        now: DateTime<Utc>,
        after: UserId,
        limit: i64,
    ) -> Result<Vec<UserId>, StoreError> {
        let query = select!(
            "SELECT id FROM users WHERE purge_after IS NOT NULL AND purge_after <= $1 AND deleted_at IS NOT NULL \
             AND id > $2 ORDER BY id LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(now).bind(after).bind(limit).all().await)?)
    }

    /// Purges the account in one transaction (see the module doc). `None` when it is not due (any more): its
    /// deletion was undone by a login, or it is gone already — so a repeated or concurrent run changes nothing.
    pub async fn purge_account(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Option<Purged>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // A write first: it locks the row (PostgreSQL) against a login undoing the deletion meanwhile.
            let doomed: Option<Doomed> = sqlx::query_as(
                "UPDATE users SET purge_after = purge_after \
                 WHERE id = $1 AND deleted_at IS NOT NULL AND purge_after <= $2 \
                 RETURNING phone_index, is_banned, ban_reason, banned_at, ban_ends_at, ban_cleared_at",
            )
            .bind(user_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(doomed) = doomed else { return Ok(None) };
            let tombstone: UserId = sqlx::query_scalar(
                "INSERT INTO users (password_hash, alias, alias_key, tag, referral_code, created_at, last_active, \
                 daily_chat_balance, daily_video_balance, privacy_consent_at, privacy_notice_version, quota_reset_on, \
                 is_banned, ban_reason, banned_at, ban_ends_at, ban_cleared_at, purged_at) \
                 VALUES ('!', 'deleted', $1, $2, $3, $4, $4, 0, 0, $4, '', '9999-12-31', $5, $6, $7, $8, $9, $4) \
                 RETURNING id",
            )
            // A key and a code of their own per tombstone: `deleted` shares no tag space with real aliases, and
            // a lower-case code is never found by the referral lookup (which upper-cases what it is given).
            .bind(format!("deleted-{}", uuid::Uuid::new_v4().simple()))
            .bind(Tag::random().to_string())
            .bind(format!("deleted-{}", uuid::Uuid::new_v4().simple()))
            .bind(now)
            // The ban goes on as a record (its rows are re-keyed here), so the ban job lifts it when it ends.
            .bind(doomed.is_banned)
            .bind(&doomed.ban_reason)
            .bind(doomed.banned_at)
            .bind(doomed.ban_ends_at)
            .bind(doomed.ban_cleared_at)
            .fetch_one(&mut *tx)
            .await?;
            let phone_ban = doomed.running_ban(now).zip(doomed.phone_index.as_ref());
            if let Some((ends_at, index)) = phone_ban {
                // A phone purged twice keeps the longer ban; one until lifted is the longest.
                sqlx::query(
                    "INSERT INTO banned_phones (phone_index, ends_at) VALUES ($1, $2) ON CONFLICT (phone_index) DO \
                     UPDATE SET ends_at = CASE WHEN banned_phones.ends_at IS NULL OR excluded.ends_at IS NULL THEN NULL \
                     WHEN excluded.ends_at > banned_phones.ends_at THEN excluded.ends_at ELSE banned_phones.ends_at END",
                )
                .bind(index)
                .bind(ends_at)
                .execute(&mut *tx)
                .await?;
            }
            let [content, logs] = purge_messages(self.kind());
            sqlx::query(content).bind(user_id).execute(&mut *tx).await?;
            for sql in REMOVE {
                sqlx::query(*sql).bind(user_id).execute(&mut *tx).await?;
            }
            for sql in REMOVE_BY_PHONE {
                sqlx::query(*sql).bind(user_id).bind(&doomed.phone_index).execute(&mut *tx).await?;
            }
            sqlx::query(logs).bind(user_id).bind(tombstone).execute(&mut *tx).await?;
            for sql in REKEY {
                sqlx::query(*sql).bind(user_id).bind(tombstone).execute(&mut *tx).await?;
            }
            // Audit details that name the old id (a moderator's acts) now name the tombstone.
            let named: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, details FROM system_logs WHERE (user_id = $1 OR actor_id = $1) AND details LIKE $2",
            )
            .bind(tombstone)
            .bind(format!("%{user_id}%"))
            .fetch_all(&mut *tx)
            .await?;
            for (id, details) in named {
                if let Some(scrubbed) = rekeyed_details(&details, user_id, tombstone) {
                    sqlx::query("UPDATE system_logs SET details = $2 WHERE id = $1")
                        .bind(id)
                        .bind(scrubbed)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            self.fail_points.check("purge.before_delete")?;
            sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
            let purged = Purged { phone_ban_kept: phone_ban.is_some() };
            let details = json!({ "phone_ban_kept": purged.phone_ban_kept });
            insert_system_log!(&mut *tx, AuditAction::AccountPurged, Some(tombstone), &details, now).await?;
            tx.commit().await?;
            Ok(Some(purged))
        })
    }

    /// Deletes the kept phones of purged accounts whose ban has ended by `now`; returns how many.
    pub async fn forget_ended_phone_bans(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let query = "DELETE FROM banned_phones WHERE ends_at IS NOT NULL AND ends_at <= $1";
        Ok(on_write_pool!(self, |pool| sqlx::query(query).bind(now).execute(pool).await.map(|r| r.rows_affected()))?)
    }
}

/// `details` with every account reference to `old` (under [`ACCOUNT_KEYS`], at any depth) replaced by `new`;
/// `None` when it names none (or is not JSON).
fn rekeyed_details(details: &str, old: UserId, new: UserId) -> Option<String> {
    fn walk(value: &mut Value, old: i64, new: i64) -> bool {
        match value {
            Value::Object(map) => {
                let mut changed = false;
                for (key, inner) in map.iter_mut() {
                    if ACCOUNT_KEYS.contains(&key.as_str()) && inner.as_i64() == Some(old) {
                        *inner = Value::from(new);
                        changed = true;
                    } else {
                        changed |= walk(inner, old, new);
                    }
                }
                changed
            }
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| walk(item, old, new) | changed),
            _ => false,
        }
    }
    let mut value: Value = serde_json::from_str(details).ok()?;
    walk(&mut value, old.get(), new.get()).then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_account_keys_naming_the_old_id_are_rekeyed_at_any_depth() {
        let details = r#"{"ban_id":7,"by":{"moderator":7},"note":"7","list":[{"user_id":7},{"user_id":8}]}"#;
        let scrubbed: Value = serde_json::from_str(&rekeyed_details(details, UserId(7), UserId(99)).unwrap()).unwrap();
        assert_eq!(
            scrubbed,
            json!({"ban_id": 7, "by": {"moderator": 99}, "note": "7", "list": [{"user_id": 99}, {"user_id": 8}]})
        );
        assert_eq!(
            rekeyed_details(r#"{"ban_id":7}"#, UserId(7), UserId(99)),
            None,
            "an id of something else is left alone"
        );
        assert_eq!(rekeyed_details("not json", UserId(7), UserId(99)), None);
    }
}
