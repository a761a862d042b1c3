//! Push notifications to users with no open socket: a new message (never its content, "new message from
//! kediadam#9021" at most, one waiting push per match), a claim verdict or referral reward, a ban. Each becomes a
//! row per device in `push_outbox`, rendered in the device's language; the push job sends them through FCM
//! ([`fcm`]) and retries, honouring `Retry-After`; a token FCM no longer knows removes its device.

pub mod fcm;
mod notifications;
mod notifier;

use std::collections::BTreeMap;

use crate::domain::{MatchId, NotificationKind};
use crate::notices::Locale;
use crate::store::QueuedPush;
pub use fcm::{FcmClient, PushMessage, SendOutcome, ServiceAccount};
pub use notifications::queue_pushes;
pub use notifier::Notifier;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::PushConfig;

/// The FCM client the configuration asks for; `None` when push is not configured.
pub fn client(config: &PushConfig) -> anyhow::Result<Option<Arc<FcmClient>>> {
    let Some(path) = &config.fcm_service_account_file else { return Ok(None) };
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let account: ServiceAccount = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a service account key: {e}", path.display()))?;
    let client = FcmClient::new(account, &config.fcm_base_url, config.fcm_token_uri.as_deref())?;
    Ok(Some(Arc::new(client)))
}

/// The push job's way to send: the client, on the server's clock (its token cache follows it).
pub fn sender(client: Arc<FcmClient>, clock: SharedClock) -> tanis_workers::push::SendPush {
    use tanis_workers::push::Sent;
    Arc::new(move |token: String, payload: String| {
        let (client, now) = (client.clone(), clock.now());
        Box::pin(async move {
            let Ok(message) = serde_json::from_str::<PushMessage>(&payload) else {
                tracing::error!("a queued push that is not a push message; dropped");
                return Sent::Delivered;
            };
            match client.send(&token, &message, now).await {
                SendOutcome::Sent => Sent::Delivered,
                SendOutcome::Gone => Sent::Gone,
                SendOutcome::Retry { after, why } => {
                    tracing::warn!(why, "push to be retried");
                    Sent::Retry { after }
                }
            }
        })
    })
}

/// What a push is about.
#[derive(Debug, Clone, PartialEq)]
pub enum PushKind {
    /// A message in match `match_id` from `from` (their `alias#tag`).
    Message { match_id: MatchId, from: String },
    /// A stored notification, with its text in both languages.
    Notification { id: i64, kind: NotificationKind, tr: String, en: String },
}

impl PushKind {
    /// Pushes with the same key replace one another while waiting (and on the device).
    pub fn collapse_key(&self) -> Option<String> {
        match self {
            PushKind::Message { match_id, .. } => Some(format!("match-{match_id}")),
            PushKind::Notification { .. } => None,
        }
    }

    pub fn render(&self, locale: Locale) -> PushMessage {
        let en = locale == Locale::En;
        let (body, data) = match self {
            PushKind::Message { match_id, from } => (
                if en { format!("New message from {from}") } else { format!("{from} sana yazdı") },
                BTreeMap::from([
                    ("type".to_owned(), "message".to_owned()),
                    ("match_id".to_owned(), match_id.to_string()),
                ]),
            ),
            PushKind::Notification { id, kind, tr, en: english } => (
                if en { english.clone() } else { tr.clone() },
                BTreeMap::from([
                    ("type".to_owned(), kind.as_str().to_owned()),
                    ("notification_id".to_owned(), id.to_string()),
                ]),
            ),
        };
        PushMessage { title: "tanis".into(), body, collapse_key: self.collapse_key(), data }
    }
}

/// A push as the outbox stores it: rendered in each language the devices may read, as the JSON the push job sends.
impl From<&PushKind> for QueuedPush {
    fn from(push: &PushKind) -> Self {
        let payload = |locale: Locale| -> String {
            let message: PushMessage = push.render(locale);
            serde_json::to_string(&message).expect("push messages serialise")
        };
        QueuedPush { tr: payload(Locale::Tr), en: payload(Locale::En), collapse_key: push.collapse_key() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_push_names_the_sender_never_the_content_and_collapses_per_match() {
        let push = PushKind::Message { match_id: MatchId(42), from: "kediadam#9021".into() };
        let en = push.render(Locale::En);
        assert_eq!(en.body, "New message from kediadam#9021");
        assert_eq!(push.render(Locale::Tr).body, "kediadam#9021 sana yazdı");
        assert_eq!(en.collapse_key.as_deref(), Some("match-42"));
        assert_eq!(en.data.get("match_id").map(String::as_str), Some("42"));
    }
}
