//! Registration: a new account with a fresh alias#tag, optionally invited by a referral code.

use std::collections::HashSet;
use std::future::Future;

use chrono::Datelike;
use rand::seq::IndexedRandom;

use super::session::{ClientInfo, IssuedTokens};
use super::{AccountError, Accounts};
use crate::domain::{Alias, Password, Phone, TAG_SPACE, Tag};
use crate::store::{NewUser, StoreError, UserRow};

/// Random tags tried before looking at which ones are free: with a sparse alias the first try wins,
/// with a crowded one the exact free set is cheaper than guessing.
const RANDOM_TAG_ATTEMPTS: usize = 5;
/// Conflicts tolerated while picking from the free set (other registrations racing for the same tags).
const FREE_TAG_ATTEMPTS: usize = 5;

/// Referral codes avoid look-alike characters (0/O, 1/I/L) so people can read them to each other.
const REFERRAL_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const REFERRAL_CODE_LEN: usize = 8;

/// A registration request whose fields are already parsed.
#[derive(Debug)]
pub struct Registration {
    pub phone: Phone,
    pub password: Password,
    pub alias: Alias,
    pub referral_code: Option<String>,
    pub accepted_privacy_notice: bool,
    /// Self-attested; checked against `auth.minimum_age`.
    pub birth_year: i32,
}

impl Accounts {
    /// Creates the account and signs it in. Nothing is stored unless every check passed.
    pub async fn register(
        &self,
        registration: Registration,
        client: &ClientInfo,
    ) -> Result<(UserRow, IssuedTokens), AccountError> {
        let Registration { phone, password, alias, referral_code, accepted_privacy_notice, birth_year } = registration;
        if !accepted_privacy_notice {
            return Err(AccountError::ConsentRequired);
        }
        self.check_age(birth_year)?;
        // Cheap refusals first, before spending a bcrypt hash on a request that cannot succeed.
        let lookup = self.phones.lookup(&phone);
        if self.store.phone_exists(&lookup).await? {
            return Err(AccountError::PhoneTaken);
        }
        // A banned account deleted by its owner does not free its phone while the ban runs.
        if let Some(ends_at) = self.store.phone_ban(&lookup, self.clock.now()).await? {
            return Err(AccountError::PhoneBanned { ends_at });
        }
        let referrer = match referral_code {
            None => None,
            Some(code) => {
                let code = code.trim().to_uppercase();
                let referrer = self.store.referrer_by_code(&code).await?.ok_or(AccountError::InvalidReferralCode)?;
                // Unreachable for a new phone, kept so the rule holds even if registration ever changes.
                if lookup.matches(referrer.phone.index()) {
                    return Err(AccountError::InvalidReferralCode);
                }
                Some(referrer)
            }
        };
        let password_hash = self.hasher.hash(&password).await?;
        let now = self.clock.now();
        let sealed = self.phones.seal(&phone);
        let country = phone.country();

        let user = self
            .with_free_tag(&alias, |tag| {
                let new = NewUser {
                    phone: sealed.clone(),
                    password_hash: password_hash.clone(),
                    alias: alias.as_str().to_owned(),
                    alias_key: alias.key(),
                    tag: tag.to_string(),
                    referral_code: new_referral_code(),
                    daily_chat_balance: self.quotas.free_text_daily as i32,
                    daily_video_balance: self.quotas.free_video_daily as i32,
                    privacy_notice_version: self.auth.privacy_notice_version.clone(),
                    birth_year,
                    country,
                    quota_day: now.with_timezone(&self.quotas.zone()).date_naive().to_string(),
                    referrer: referrer.clone(),
                    now,
                };
                let lookup = &lookup;
                async move {
                    match self.store.insert_user(&new).await {
                        // The phone may have been registered by a racing request since the check above.
                        Err(StoreError::Conflict) if self.store.phone_exists(lookup).await? => {
                            Err(AccountError::PhoneTaken)
                        }
                        other => Ok(other?),
                    }
                }
            })
            .await?;
        metrics::counter!("tanis_registrations_total").increment(1);
        let tokens = self.start_session(&user, client).await?;
        // After the commit, and never its undoing: a provider failure leaves the account, unverified.
        self.send_registration_code(&user, &phone, client).await;
        Ok((user, tokens))
    }

    /// The age gate. Only the year is asked, and it is the person's own statement (docs/privacy.md): the age
    /// counted is this year (in the quota time zone, Turkey's by default) minus the birth year, so someone who
    /// turns 18 later this year is let in from January 1st.
    fn check_age(&self, birth_year: i32) -> Result<(), AccountError> {
        let this_year = self.clock.now().with_timezone(&self.quotas.zone()).year();
        if !(1900..=this_year).contains(&birth_year) {
            return Err(AccountError::InvalidBirthYear);
        }
        let minimum = self.auth.minimum_age;
        if this_year - birth_year < i32::from(minimum) {
            return Err(AccountError::Underage { minimum });
        }
        Ok(())
    }

    /// Runs `attempt` with candidate tags for `alias` until one is not taken. `attempt` reports a taken
    /// alias#tag (or referral code) as `StoreError::Conflict`; any other error ends the search.
    pub(super) async fn with_free_tag<T, F, Fut>(&self, alias: &Alias, mut attempt: F) -> Result<T, AccountError>
    where
        F: FnMut(Tag) -> Fut,
        Fut: Future<Output = Result<T, AccountError>>,
    {
        for _ in 0..RANDOM_TAG_ATTEMPTS {
            match attempt(Tag::random()).await {
                Err(AccountError::Store(StoreError::Conflict)) => continue,
                other => return other,
            }
        }
        for _ in 0..FREE_TAG_ATTEMPTS {
            let taken: HashSet<u16> = self
                .store
                .tags_in_use(&alias.key())
                .await?
                .iter()
                .filter_map(|t| Tag::parse(t))
                .map(Tag::index)
                .collect();
            let free: Vec<u16> = (0..TAG_SPACE).filter(|n| !taken.contains(n)).collect();
            let Some(&index) = free.choose(&mut rand::rng()) else {
                return Err(AccountError::AliasExhausted);
            };
            match attempt(Tag::from_index(index).expect("index below TAG_SPACE")).await {
                Err(AccountError::Store(StoreError::Conflict)) => continue,
                other => return other,
            }
        }
        Err(AccountError::AliasExhausted)
    }
}

fn new_referral_code() -> String {
    let mut rng = rand::rng();
    (0..REFERRAL_CODE_LEN).map(|_| *REFERRAL_ALPHABET.choose(&mut rng).expect("non-empty alphabet") as char).collect()
}
