//! Accepting a new version of the privacy notice. Registration records the version it showed; when the operator
//! publishes another (`auth.privacy_notice_version`), matching refuses the user until they accept it here.

use super::{AccountError, Accounts};
use crate::domain::UserId;

/// Whether a user who last accepted the notice version `accepted` must accept `current` (and is refused by
/// matching until then). Any other version is due, older or not: the operator's current one is the only one.
pub fn must_accept_notice(accepted: &str, current: &str) -> bool {
    accepted != current
}

impl Accounts {
    /// The current notice version.
    pub fn privacy_notice_version(&self) -> &str {
        &self.auth.privacy_notice_version
    }

    /// Records the user's acceptance of `version`, which must be the current one (a client showing an older
    /// text gets [`AccountError::StaleNoticeVersion`]). Accepting it again changes nothing.
    pub async fn accept_privacy_notice(&self, user_id: UserId, version: &str) -> Result<(), AccountError> {
        let current = &self.auth.privacy_notice_version;
        if version != current {
            return Err(AccountError::StaleNoticeVersion { current: current.clone() });
        }
        self.store.accept_privacy_notice(user_id, version, self.clock.now()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_version_but_the_current_one_must_be_accepted() {
        assert!(!must_accept_notice("2026-11-01", "2026-11-01"));
        assert!(must_accept_notice("2026-01-01", "2026-11-01"));
        assert!(must_accept_notice("2027-01-01", "2026-11-01"), "not only older ones");
    }
}
