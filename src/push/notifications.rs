//! Notifications as pushes: the stored notifications of a user who is not there to see them live (offline, or
//! their sockets closing for a ban) queued for each of their devices, in both languages.

use chrono::{DateTime, Utc};

use super::PushKind;
use crate::domain::UserId;
use crate::notices::Locale;
use crate::store::{Store, StoreError};

/// Queues pushes for the user's unread notifications created at or after `since`, in both languages (each device
/// gets its own).
pub async fn queue_pushes(store: &Store, user_id: UserId, since: DateTime<Utc>) -> Result<(), StoreError> {
    for row in store.unread_since(user_id, since).await? {
        let push =
            PushKind::Notification { id: row.id, kind: row.kind, tr: row.text(Locale::Tr), en: row.text(Locale::En) };
        store.enqueue_push(user_id, &push, row.created_at).await?;
    }
    Ok(())
}
