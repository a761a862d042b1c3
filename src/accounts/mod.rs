//! Accounts: who may register, log in, refresh, change their profile and delete the account (`deletion`: undone
//! by a login within the grace period), and what that writes.
//! Handlers in `api` parse requests into domain types and call [`Accounts`]; this module decides.
//! One-time codes by SMS (`code_rules`, `phone_codes`) verify the phone (`verification`), move the account to
//! another phone (`phone_change`) and reset a forgotten password (`reset`). [`export`] holds the rules of the
//! user's data export (its cooldown, its section bound, the masking of push tokens).

mod code_rules;
mod consent;
mod deletion;
pub mod export;
mod logins;
mod password;
mod phone_change;
mod phone_codes;
mod profile;
mod register;
mod reset;
mod session;
mod throttle;
mod verification;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::auth::{HashError, JwtKeys, PasswordHasher};
use crate::clock::SharedClock;
use crate::config::{AuthConfig, QuotaConfig, SmsConfig};
use crate::domain::UserId;
use crate::phones::PhoneVault;
use crate::sms::SmsSender;
use crate::store::{Store, StoreError};

pub use code_rules::OneTimeCode;
pub use consent::must_accept_notice;
pub use deletion::DeletionRequested;
pub use logins::{KeyPublished, Login};
pub use phone_codes::CodeSent;
pub use profile::ProfileChange;
pub use register::Registration;
pub use session::{ClientInfo, IssuedTokens, SignedIn, seeded_session};

/// The account service: everything it needs, cheap to share behind an `Arc`.
pub struct Accounts {
    store: Store,
    hasher: PasswordHasher,
    jwt: JwtKeys,
    /// Every phone is sealed and looked up through it: the store only ever sees ciphertext and blind indexes.
    phones: PhoneVault,
    clock: SharedClock,
    auth: AuthConfig,
    quotas: QuotaConfig,
    /// How one-time codes reach phones.
    sms: Arc<dyn SmsSender>,
    /// The resend limits (and the provider settings `sms` was made from).
    sms_config: SmsConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("you must accept the privacy notice")]
    ConsentRequired,
    #[error("the privacy notice is now version {current}; accept that version")]
    StaleNoticeVersion { current: String },
    #[error("the birth year must be a four-digit year, not in the future")]
    InvalidBirthYear,
    #[error("you must be at least {minimum} years old to use tanis")]
    Underage { minimum: u16 },
    #[error("the referral code does not exist")]
    InvalidReferralCode,
    #[error("latitude must be within ±90 and longitude within ±180")]
    InvalidLocation,
    #[error("this phone number is already registered")]
    PhoneTaken,
    #[error("every tag of this alias is taken; choose another alias")]
    AliasExhausted,
    #[error("wrong phone number or password")]
    InvalidCredentials,
    #[error("too many failed attempts; try again later")]
    Throttled { retry_after: TimeDelta },
    #[error("the account is banned ({reason}) {}", until_text(.ends_at))]
    Banned { reason: String, ends_at: Option<DateTime<Utc>> },
    #[error("the account is not banned")]
    NotBanned,
    /// Registration with the phone of a purged account whose ban still runs (`banned_phones`).
    #[error("this phone number belongs to a banned account that was deleted; it cannot register {}", until_text(.ends_at))]
    PhoneBanned { ends_at: Option<DateTime<Utc>> },
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    /// Carries the revoked login, whose sockets the caller closes.
    #[error("the token was already used; every session of this login is now signed out")]
    TokenReused { user_id: UserId, login: Option<crate::auth::LoginId> },
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no such session of yours")]
    NoSuchSession,
    #[error("your phone number is already verified")]
    PhoneAlreadyVerified,
    #[error("this is already your phone number")]
    SamePhone,
    #[error("too many codes were asked for this phone number or from this address; try again later")]
    TooManyCodes { retry_after: TimeDelta },
    #[error("the text message could not be sent; try again shortly")]
    SmsUnavailable,
    #[error("wrong code; {attempts_left} attempt(s) left")]
    WrongCode { attempts_left: u32 },
    #[error("the code has expired or was already used; ask for a new one")]
    CodeExpired,
    #[error("too many wrong codes: this code no longer works; ask for a new one")]
    TooManyCodeAttempts,
    /// A stored phone number that does not open (a key missing from the configuration, an altered row).
    #[error("the stored phone number does not open: {0}")]
    Phone(crate::phones::OpenError),
    #[error("the server is busy; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(HashError),
}

impl AccountError {
    /// The ban of `user` as an error (reason code and end).
    pub fn banned(user: &crate::store::UserRow) -> Self {
        let reason = user.ban_reason.map_or("", crate::domain::BanReason::as_str).to_owned();
        AccountError::Banned { reason, ends_at: user.ban_ends_at }
    }
}

fn until_text(ends_at: &Option<DateTime<Utc>>) -> String {
    match ends_at {
        Some(end) => format!("until {}", end.to_rfc3339()),
        None => "until lifted".into(),
    }
}

impl From<HashError> for AccountError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AccountError::Busy,
            other => AccountError::Hash(other),
        }
    }
}

impl Accounts {
    #[allow(clippy::too_many_arguments)] // one per part it is made of, each a different type
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        jwt: JwtKeys,
        phones: PhoneVault,
        clock: SharedClock,
        auth: AuthConfig,
        quotas: QuotaConfig,
        sms: Arc<dyn SmsSender>,
        sms_config: SmsConfig,
    ) -> Self {
        Self { store, hasher, jwt, phones, clock, auth, quotas, sms, sms_config }
    }

    /// The phone keys (the admin view opens a user's phone with them).
    pub fn phones(&self) -> &PhoneVault {
        &self.phones
    }

    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The server's clock, to wait on (see [`crate::clock::Clock::sleep`]).
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }
}
