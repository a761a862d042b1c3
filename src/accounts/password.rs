//! Changing the password of a signed-in user. The current password is checked exactly like a login's (the same
//! throttle per phone and per address, recorded in `login_attempts`), so this is no way around the login's
//! limit on guesses. A change signs out every other login: whoever else knew the old password loses the access
//! it gave them, while the device that asked stays signed in.

use super::logins::login_ids;
use super::session::ClientInfo;
use super::{AccountError, Accounts};
use crate::auth::LoginId;
use crate::domain::{Password, Phone, UserId};

impl Accounts {
    /// Replaces the user's password with `new` when `current` is right; every login but `keep` is revoked in
    /// the same transaction. Returns the logins revoked (their sockets are the caller's to close).
    pub async fn change_password(
        &self,
        user_id: UserId,
        keep: Option<LoginId>,
        current: &Password,
        new: &Password,
        client: &ClientInfo,
    ) -> Result<Vec<LoginId>, AccountError> {
        let user = self.current_user(user_id).await?;
        let phone = self.phone_of(user.id).await?;
        match self.authenticate(&phone, current, client).await {
            Ok(checked) if checked.id == user.id => {}
            Ok(_) | Err(AccountError::InvalidCredentials) => return Err(AccountError::WrongPassword),
            Err(other) => return Err(other),
        }
        let hash = self.hasher.hash(new).await?;
        let keep = keep.map(|k| k.to_string());
        let revoked = self.store.change_password(user.id, &hash, keep.as_deref(), self.clock.now()).await?;
        tracing::info!(user_id = user_id.get(), revoked = revoked.len(), "password changed; other sessions signed out");
        Ok(login_ids(&revoked))
    }

    /// The user's phone number, opened in memory only: the login throttle and the attempt record are keyed by it,
    /// as for a login that presents it.
    pub(super) async fn phone_of(&self, user_id: UserId) -> Result<Phone, AccountError> {
        let sealed = self.store.sealed_phone(user_id).await?.ok_or(AccountError::InvalidToken)?;
        self.phones.open(&sealed).map_err(AccountError::Phone)
    }
}
