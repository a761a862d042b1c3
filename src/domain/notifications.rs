//! Notification types: the specification's four kinds of notification.

use super::stored_text;

stored_text! {
    /// A notification's type (`notifications.type`, whose CHECK allows exactly these four), sent as the `type`
    /// of a notification in the API, the `notification` frame and a push. The server writes `system` and `claim`
    /// ([`crate::notices::Notice::kind`]); `match` and `ad` are the specification's, unused so far.
    pub enum NotificationKind {
        System = "system",
        Match = "match",
        Claim = "claim",
        Ad = "ad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SCHEMAS, allowed_by_check, assert_stored_as};

    #[test]
    fn a_notification_kind_is_stored_as_the_text_the_schema_allows() {
        for schema in SCHEMAS {
            let allowed = allowed_by_check(schema, "notifications", "type");
            assert_stored_as(NotificationKind::ALL, &allowed, NotificationKind::as_str, NotificationKind::parse);
        }
        assert_eq!(NotificationKind::ALL.len(), 4);
    }
}
