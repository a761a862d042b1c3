//! Notifications delivered live: a `notification` frame to every socket of the user, on whichever node, in the
//! user's language, or queued as pushes ([`crate::push::queue_pushes`]) when they have none. The stored row is the
//! record; the frame only saves the app a `GET /v1/notifications`.

use chrono::{DateTime, Utc};
use tanis_proto::{Notification, ServerFrame};

use crate::delivery::Delivery;
use crate::domain::UserId;
use crate::notices::{Locale, Notice};
use crate::push::queue_pushes;
use crate::store::{NotificationRow, Reached, Store, StoreError};

fn frame(row: &NotificationRow, locale: Locale) -> ServerFrame {
    ServerFrame::Notification {
        notification: Notification {
            id: row.id,
            kind: row.kind.as_str().to_owned(),
            text: row.text(locale),
            created_at: row.created_at,
        },
    }
}

/// Delivers each user's unread notifications created at or after `since` (what a job run that started then
/// created); users without a socket anywhere get them as pushes when `push` is on, and read them later anyway.
pub async fn push_since(
    store: &Store,
    delivery: &Delivery,
    users: &[UserId],
    since: DateTime<Utc>,
    push: bool,
) -> Result<(), StoreError> {
    for &user_id in users {
        let rows = store.unread_since(user_id, since).await?;
        if rows.is_empty() {
            continue;
        }
        if push && !delivery.is_online(user_id).await {
            queue_pushes(store, user_id, since).await?;
            continue;
        }
        let Some(user) = store.user_by_id(user_id).await? else { continue };
        let locale = Locale::parse(&user.locale).unwrap_or_default();
        for row in &rows {
            delivery.to_user(user_id, &frame(row, locale));
        }
    }
    Ok(())
}

/// Delivers a broadcast's notifications: one text per language, rendered once. One delivery per user reached:
/// with Redis, one publish each, whether or not they are online (docs/admin.md).
pub fn push_broadcast(delivery: &Delivery, notice: &Notice, created_at: DateTime<Utc>, reached: &[Reached]) {
    let (tr, en) = (notice.render(Locale::Tr), notice.render(Locale::En));
    for r in reached {
        let text = if r.locale == Locale::En { en.clone() } else { tr.clone() };
        let notification = Notification { id: r.id, kind: notice.kind().as_str().to_owned(), text, created_at };
        delivery.to_user(r.user_id, &ServerFrame::Notification { notification });
    }
}
