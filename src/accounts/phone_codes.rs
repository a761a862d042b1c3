//! Sending and checking one-time codes, for the three flows that use them (`verification`, `phone_change`,
//! `reset`). A request is recorded whatever becomes of it (sent, refused by the limits, not sent for want of an
//! account), with the client's address and user agent; a code is made only when it will be sent, stored only as
//! an HMAC (`PhoneVault::code_hash`), and handed to the SMS provider after its row is committed, so that a code
//! in a person's hands always has a row. A guess spends one of the code's attempts before it is compared, in one
//! atomic statement, so concurrent guesses cannot exceed the limit.

use chrono::{DateTime, Utc};

use super::code_rules::{self, Limits, Match, OneTimeCode, Verdict};
use super::session::ClientInfo;
use super::{AccountError, Accounts};
use crate::domain::CodePurpose;
use crate::domain::{Phone, UserId};
use crate::notices::Locale;
use crate::phones::{PhoneIndex, PhoneLookup};
use crate::sms::CodeSms;
use crate::store::{CodeRow, NewCodeRequest, Recorded};

/// Where a code is to go.
pub(super) struct CodeTarget<'a> {
    pub purpose: CodePurpose,
    pub user_id: Option<UserId>,
    pub phone: &'a Phone,
    pub locale: Locale,
    /// False: record the request but make and send no code (a reset for a phone without a verified account).
    pub send: bool,
}

/// What the client is told of a request that was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSent {
    /// The code stops working then.
    pub expires_at: DateTime<Utc>,
    /// Another code may be asked for from then on.
    pub resend_after: DateTime<Utc>,
}

impl CodeSent {
    /// The answer to a request at `now`.
    pub(super) fn starting(now: DateTime<Utc>, limits: &Limits) -> Self {
        Self { expires_at: now + code_rules::lifetime(), resend_after: now + limits.min_interval }
    }
}

impl Accounts {
    /// Records the request under the resend limits and, unless refused, sends a fresh code. A provider failure
    /// marks the row failed (that code can never be used) and is [`AccountError::SmsUnavailable`].
    pub(super) async fn send_code(
        &self,
        target: CodeTarget<'_>,
        client: &ClientInfo,
    ) -> Result<CodeSent, AccountError> {
        let now = self.clock.now();
        let purpose = target.purpose.as_str();
        let (sealed, lookup) = (self.phones.seal(target.phone), self.phones.lookup(target.phone));
        let code = target.send.then(OneTimeCode::generate);
        let limits = Limits::from(&self.sms_config);
        let sent = CodeSent::starting(now, &limits);
        let request = NewCodeRequest {
            purpose: target.purpose,
            user_id: target.user_id,
            phone: &sealed,
            lookup: &lookup,
            code_hash: code.as_ref().map(|c| self.phones.code_hash(sealed.index(), c.as_str())),
            expires_at: sent.expires_at,
            ip: &client.ip,
            user_agent: client.user_agent.as_deref(),
            now,
        };
        let counted = (i64::from(limits.per_phone_per_hour), i64::from(limits.per_ip_per_hour));
        let recorded = self
            .store
            .record_code_request(&request, now - code_rules::limit_window(), counted, |recent| {
                code_rules::refused_until(recent, &limits, now)
            })
            .await?;
        let id = match recorded {
            Recorded::Refused { until } => {
                metrics::counter!("tanis_sms_codes_total", "purpose" => purpose, "outcome" => "refused").increment(1);
                return Err(AccountError::TooManyCodes { retry_after: until - now });
            }
            Recorded::Accepted { id } => id,
        };
        let Some(code) = code else {
            metrics::counter!("tanis_sms_codes_total", "purpose" => purpose, "outcome" => "not_sent").increment(1);
            return Ok(sent);
        };
        let sms = CodeSms {
            to: target.phone,
            code: code.as_str(),
            locale: target.locale,
            valid_minutes: code_rules::VALID_MINUTES,
            user_id: target.user_id,
            purpose,
        };
        if let Err(e) = self.sms.send(&sms).await {
            metrics::counter!("tanis_sms_codes_total", "purpose" => purpose, "outcome" => "failed").increment(1);
            tracing::warn!(user_id = target.user_id.map(UserId::get), purpose, code_id = id, error = %e, "the one-time code was not sent");
            self.store.code_send_failed(id).await?;
            return Err(AccountError::SmsUnavailable);
        }
        metrics::counter!("tanis_sms_codes_total", "purpose" => purpose, "outcome" => "sent").increment(1);
        Ok(sent)
    }

    /// Checks `code` against the user's newest code of `purpose` (for a reset, only codes sent to `phone`) and
    /// spends a guess on it. The row of the right code, still to be used (`Store::redeem_*`, which refuses it if it
    /// was used or expired meanwhile).
    pub(super) async fn check_code(
        &self,
        user_id: UserId,
        purpose: CodePurpose,
        code: &OneTimeCode,
        phone: Option<&PhoneLookup>,
    ) -> Result<CodeRow, AccountError> {
        let now = self.clock.now();
        let mut rows = self.store.latest_codes(user_id, purpose, code_rules::RECENT_CODES).await?;
        if let Some(phone) = phone {
            rows.retain(|row| PhoneIndex::from_stored(&row.phone_index).is_some_and(|i| phone.matches(&i)));
        }
        let is_code = |row: &CodeRow| {
            PhoneIndex::from_stored(&row.phone_index)
                .is_some_and(|index| self.phones.code_matches(&index, code.as_str(), &row.code_hash))
        };
        let matched = match rows.iter().position(is_code) {
            Some(0) => Match::Newest,
            Some(_) => Match::Older,
            None => Match::None,
        };
        let newest = rows.into_iter().next();
        let verdict = code_rules::judge(newest.as_ref(), matched, now);
        let outcome = match verdict {
            Verdict::Expired => Err(AccountError::CodeExpired),
            Verdict::Exhausted => Err(AccountError::TooManyCodeAttempts),
            Verdict::Right | Verdict::Wrong => {
                let row = newest.expect("a verdict on a guess has a code");
                match self.store.spend_code_attempt(row.id, code_rules::MAX_ATTEMPTS).await? {
                    None => Err(AccountError::TooManyCodeAttempts),
                    Some(_) if verdict == Verdict::Right => Ok(row),
                    Some(spent) => match code_rules::attempts_left(spent) {
                        0 => Err(AccountError::TooManyCodeAttempts),
                        attempts_left => Err(AccountError::WrongCode { attempts_left }),
                    },
                }
            }
        };
        let result = match &outcome {
            Ok(_) => "right",
            Err(AccountError::WrongCode { .. }) => "wrong",
            Err(AccountError::TooManyCodeAttempts) => "exhausted",
            Err(_) => "expired",
        };
        metrics::counter!("tanis_sms_code_checks_total", "purpose" => purpose.as_str(), "result" => result)
            .increment(1);
        outcome
    }

    /// The user's phone number, opened in memory only, to send it a code.
    pub(super) async fn current_phone(&self, user_id: UserId) -> Result<Phone, AccountError> {
        let sealed = self.store.sealed_phone(user_id).await?.ok_or(AccountError::InvalidToken)?;
        self.phones.open(&sealed).map_err(AccountError::Phone)
    }
}
