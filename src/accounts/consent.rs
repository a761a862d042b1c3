//! Accepting a new version of the privacy notice. Registration records the version it showed; when the operator
//! publishes another (`auth.privacy_notice_version`), matching refuses the user until they accept it here.

use super::{AccountError, Accounts};

impl Accounts {
    /// The current notice version.
    pub fn privacy_notice_version(&self) -> &str {
        &self.auth.privacy_notice_version
    }

    /// Records the user's acceptance of `version`, which must be the current one (a client showing an older
    /// text gets [`AccountError::StaleNoticeVersion`]). Accepting it again changes nothing.
    pub async fn accept_privacy_notice(&self, user_id: i64, version: &str) -> Result<(), AccountError> {
        let current = &self.auth.privacy_notice_version;
        if version != current {
            return Err(AccountError::StaleNoticeVersion { current: current.clone() });
        }
        self.store.accept_privacy_notice(user_id, version, self.clock.now()).await?;
        Ok(())
    }
}
