//! Changing the account's phone number: the current password is checked exactly like a login's (the same
//! throttle, recorded in `login_attempts`), then a code goes to the NEW phone; the number changes only when that
//! code comes back, so nobody moves an account to a phone they do not hold. The new phone is verified by it. A
//! phone that a banned, purged account left behind is refused while its ban runs.

use super::code_rules::OneTimeCode;
use super::phone_codes::{CodeSent, CodeTarget};
use super::session::ClientInfo;
use super::{AccountError, Accounts};
use crate::domain::CodePurpose;
use crate::domain::{Password, Phone, UserId};
use crate::notices::Locale;
use crate::phones::SealedPhone;
use crate::store::{StoreError, UserRow};

impl Accounts {
    /// Sends a code to `new_phone` for moving the account there, once `password` is right. The password comes
    /// first, so that a stolen access token cannot probe which numbers have an account.
    pub async fn request_phone_change(
        &self,
        user_id: UserId,
        new_phone: &Phone,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<CodeSent, AccountError> {
        let user = self.current_user(user_id).await?;
        let current = self.current_phone(user.id).await?;
        match self.authenticate(&current, password, client).await {
            Ok(checked) if checked.id == user.id => {}
            Ok(_) | Err(AccountError::InvalidCredentials) => return Err(AccountError::WrongPassword),
            Err(other) => return Err(other),
        }
        if *new_phone == current {
            return Err(AccountError::SamePhone);
        }
        let lookup = self.phones.lookup(new_phone);
        if self.store.phone_exists(&lookup).await? {
            return Err(AccountError::PhoneTaken);
        }
        // A purged account's running ban stays with its phone: moving another account there would evade it, as
        // registering it again would (`banned_phones`, checked by registration too).
        if let Some(ends_at) = self.store.phone_ban(&lookup, self.clock.now()).await? {
            return Err(AccountError::PhoneBanned { ends_at });
        }
        let target = CodeTarget {
            purpose: CodePurpose::Change,
            user_id: Some(user.id),
            phone: new_phone,
            locale: Locale::parse(&user.locale).unwrap_or_default(),
            send: true,
        };
        self.send_code(target, client).await
    }

    /// Moves the account to the phone the newest change code went to, verified, and to that phone's country; the
    /// account as it is now.
    pub async fn confirm_phone_change(&self, user_id: UserId, code: &OneTimeCode) -> Result<UserRow, AccountError> {
        let user = self.current_user(user_id).await?;
        let row = self.check_code(user.id, CodePurpose::Change, code, None).await?;
        // As sealed when the code was asked for (resealed by a key rotation since, if one ran).
        let phone =
            SealedPhone::from_stored(row.phone_sealed.clone(), &row.phone_index).ok_or(AccountError::CodeExpired)?;
        // The country follows the number (matching's `"region": "country"` reads it). A phone that cannot be opened
        // (a key the start-up check would have missed) leaves it unknown rather than the old number's.
        let country = self.phones.open(&row.phone_sealed).ok().and_then(|p| p.country());
        match self.store.redeem_phone_change_code(row.id, user.id, &phone, country, self.clock.now()).await {
            Ok(true) => {}
            Ok(false) => return Err(AccountError::CodeExpired),
            // Another account registered (or moved to) the number after the code was sent.
            Err(StoreError::Conflict) => return Err(AccountError::PhoneTaken),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user_id = user.id.get(), "phone number changed");
        self.current_user(user.id).await
    }
}
