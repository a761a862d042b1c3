//! Accounts: who may register, log in, refresh and change their profile, and what that writes.
//! Handlers in `api` parse requests into domain types and call [`Accounts`]; this module decides.

mod consent;
mod logins;
mod password;
mod profile;
mod register;
mod session;
mod throttle;

use chrono::{DateTime, TimeDelta, Utc};

use crate::auth::{HashError, JwtKeys, PasswordHasher};
use crate::clock::SharedClock;
use crate::config::{AuthConfig, QuotaConfig};
use crate::phones::PhoneVault;
use crate::store::{Store, StoreError};

pub use logins::Login;
pub use profile::ProfileChange;
pub use register::Registration;
pub use session::{ClientInfo, IssuedTokens};

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
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the token has expired")]
    TokenExpired,
    /// Carries the revoked login, whose sockets the caller closes.
    #[error("the token was already used; every session of this login is now signed out")]
    TokenReused { user_id: i64, login: Option<crate::auth::LoginId> },
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("no such session of yours")]
    NoSuchSession,
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
        AccountError::Banned { reason: user.ban_reason.clone().unwrap_or_default(), ends_at: user.ban_ends_at }
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
    pub fn new(
        store: Store,
        hasher: PasswordHasher,
        jwt: JwtKeys,
        phones: PhoneVault,
        clock: SharedClock,
        auth: AuthConfig,
        quotas: QuotaConfig,
    ) -> Self {
        Self { store, hasher, jwt, phones, clock, auth, quotas }
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
}
