//! Resetting a forgotten password with a code sent to the account's verified phone. The request answers the
//! same whether or not such an account exists (a code goes out only if one does, but the request is recorded
//! and limited either way), so the endpoint cannot be used to learn who has an account. Confirming replaces the
//! password and signs out every login of the account, in one transaction: whoever held a session, perhaps
//! the reason for the reset, loses it. A banned account may reset its password; the ban still applies at login.

use super::code_rules::{Limits, OneTimeCode};
use super::logins::login_ids;
use super::phone_codes::{CodeSent, CodeTarget};
use super::session::ClientInfo;
use super::{AccountError, Accounts};
use crate::auth::LoginId;
use crate::domain::CodePurpose;
use crate::domain::{Password, Phone, UserId};
use crate::notices::Locale;

impl Accounts {
    /// Sends a reset code to `phone` if it is an account's verified phone; answers alike if it is not.
    pub async fn request_password_reset(&self, phone: &Phone, client: &ClientInfo) -> Result<CodeSent, AccountError> {
        let user = self.store.user_by_phone(&self.phones.lookup(phone)).await?;
        let verified = user.as_ref().filter(|u| u.phone_verified_at.is_some());
        let target = CodeTarget {
            purpose: CodePurpose::Reset,
            user_id: user.as_ref().map(|u| u.id),
            phone,
            locale: verified.and_then(|u| Locale::parse(&u.locale)).unwrap_or_default(),
            send: verified.is_some(),
        };
        match self.send_code(target, client).await {
            // Answering 503 here would tell that the phone has an account; the failure is logged and counted, the
            // row marked failed (it holds no later request off), and the person asks again.
            Err(AccountError::SmsUnavailable) => {
                Ok(CodeSent::starting(self.clock.now(), &Limits::from(&self.sms_config)))
            }
            other => other,
        }
    }

    /// Replaces the password of the account with the verified `phone` when `code` is right, revoking every login
    /// of the account. Returns the account and the logins revoked (their sockets are the caller's to close).
    pub async fn confirm_password_reset(
        &self,
        phone: &Phone,
        code: &OneTimeCode,
        new: &Password,
    ) -> Result<(UserId, Vec<LoginId>), AccountError> {
        let lookup = self.phones.lookup(phone);
        // No account: the same answer as a code never asked for.
        let user = self.store.user_by_phone(&lookup).await?.ok_or(AccountError::CodeExpired)?;
        let row = self.check_code(user.id, CodePurpose::Reset, code, Some(&lookup)).await?;
        let hash = self.hasher.hash(new).await?;
        let revoked = self
            .store
            .redeem_password_reset_code(row.id, user.id, &hash, self.clock.now())
            .await?
            .ok_or(AccountError::CodeExpired)?;
        tracing::info!(user_id = user.id.get(), revoked = revoked.len(), "password reset; every session signed out");
        Ok((user.id, login_ids(&revoked)))
    }
}
