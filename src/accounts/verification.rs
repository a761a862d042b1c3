//! Verifying the account's own phone with a code: one is sent when the account is created (a failure there
//! does not undo the registration: the person asks for another), and on request. The verified phone is what
//! password reset sends to and what a referral reward waits for.

use super::code_rules::OneTimeCode;
use super::phone_codes::{CodeSent, CodeTarget};
use super::session::ClientInfo;
use super::{AccountError, Accounts};
use crate::domain::CodePurpose;
use crate::domain::{Phone, UserId};
use crate::notices::Locale;
use crate::store::UserRow;

impl Accounts {
    /// Sends a new verification code to the user's phone (superseding any earlier one).
    pub async fn request_phone_verification(
        &self,
        user_id: UserId,
        client: &ClientInfo,
    ) -> Result<CodeSent, AccountError> {
        let user = self.current_user(user_id).await?;
        if user.phone_verified_at.is_some() {
            return Err(AccountError::PhoneAlreadyVerified);
        }
        let phone = self.current_phone(user.id).await?;
        self.send_code(verify_target(&user, &phone), client).await
    }

    /// Verifies the user's phone with the code sent to it; the account as it is now.
    pub async fn verify_phone(&self, user_id: UserId, code: &OneTimeCode) -> Result<UserRow, AccountError> {
        let user = self.current_user(user_id).await?;
        let row = self.check_code(user.id, CodePurpose::Verify, code, None).await?;
        // Refused if the code was used meanwhile, or the account's phone is no longer the one it went to.
        if !self.store.redeem_verification_code(row.id, user.id, &row.phone_index, self.clock.now()).await? {
            return Err(AccountError::CodeExpired);
        }
        tracing::info!(user_id = user.id.get(), "phone verified");
        self.current_user(user.id).await
    }

    /// Registration's code, once the account is committed. Whatever goes wrong is logged (without the phone)
    /// and counted, never returned: the account exists, and the person can ask for another code.
    pub(super) async fn send_registration_code(&self, user: &UserRow, phone: &Phone, client: &ClientInfo) {
        if let Err(e) = self.send_code(verify_target(user, phone), client).await {
            metrics::counter!("tanis_registration_codes_unsent_total").increment(1);
            tracing::warn!(user_id = user.id.get(), error = %e, "registration: no verification code was sent");
        }
    }
}

fn verify_target<'a>(user: &UserRow, phone: &'a Phone) -> CodeTarget<'a> {
    CodeTarget {
        purpose: CodePurpose::Verify,
        user_id: Some(user.id),
        phone,
        locale: Locale::parse(&user.locale).unwrap_or_default(),
        send: true,
    }
}
