//! Login, token refresh with rotation and reuse detection, logout.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::throttle::{locked_until, seconds_until};
use super::{AccountError, Accounts};
use crate::auth::{JwtKeys, LoginId, RefreshToken};
use crate::domain::{AuditAction, LoginOutcome, Password, Phone, Role, UserId};
use crate::phones::PhoneLookup;
use crate::store::{LoginAttempt, NewRefreshToken, Rotation, Store, UserRow};

/// Where a request came from, as far as the server can tell.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// What `ip` holds when the address is not known (no connection info).
    pub const UNKNOWN_IP: &'static str = "unknown";

    /// The client's address, when known.
    pub fn known_ip(&self) -> Option<&str> {
        Some(self.ip.as_str()).filter(|ip| *ip != Self::UNKNOWN_IP)
    }
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub user: UserRow,
    pub tokens: IssuedTokens,
    /// The account had no country (made before migration 0021) and this sign-in's phone gave it one: what matching
    /// cached of the user must be read again.
    pub country_learnt: bool,
}

/// The pair of tokens a client receives on login, registration and refresh.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: RefreshToken,
    pub refresh_expires_at: DateTime<Utc>,
}

impl Accounts {
    pub async fn login(
        &self,
        phone: &Phone,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<SignedIn, AccountError> {
        let mut user = self.authenticate(phone, password, client).await?;
        if user.is_banned {
            return Err(AccountError::banned(&user));
        }
        // Signing in during a deletion's grace period undoes it (a banned account's sign-in cannot: see above).
        self.undo_deletion(&user).await?;
        self.store.touch_last_active(user.id, self.clock.now()).await?;
        // Phones are sealed, so an account made before countries were kept learns its own here, from the number it
        // signed in with (the account's, found by it).
        let country = phone.country().filter(|_| user.country().is_none());
        if let Some(country) = country {
            self.store.learn_country(user.id, country).await?;
            user.country = country.to_string();
        }
        let tokens = self.start_session(&user, client).await?;
        Ok(SignedIn { user, tokens, country_learnt: country.is_some() })
    }

    /// The banned account behind a phone number and password, checked like a login (throttled, recorded): what
    /// a banned user, whose tokens were all revoked, shows to see their ban and appeal it. `NotBanned` otherwise.
    pub async fn banned_account(
        &self,
        phone: &Phone,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<UserRow, AccountError> {
        let user = self.authenticate(phone, password, client).await?;
        if !user.is_banned {
            return Err(AccountError::NotBanned);
        }
        Ok(user)
    }

    /// Checks the password (throttled per phone and per address) and records the attempt: the account, banned or
    /// not.
    pub(super) async fn authenticate(
        &self,
        phone: &Phone,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<UserRow, AccountError> {
        let now = self.clock.now();
        let (sealed, lookup) = (self.phones.seal(phone), self.phones.lookup(phone));
        let record = |user_id: Option<UserId>, outcome: LoginOutcome| {
            metrics::counter!("tanis_login_attempts_total", "outcome" => outcome.as_str()).increment(1);
            LoginAttempt {
                phone: &sealed,
                user_id,
                ip: &client.ip,
                user_agent: client.user_agent.as_deref(),
                outcome,
                now,
            }
        };

        if let Some(until) = self.lockout(&lookup, &client.ip, now).await? {
            self.store.record_login_attempt(&record(None, LoginOutcome::Throttled)).await?;
            return Err(AccountError::Throttled { retry_after: until - now });
        }

        let user = self.store.user_by_phone(&lookup).await?;
        // Unknown phones are verified against a dummy hash: same cost, same answer as a wrong password.
        let verified = self.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
        let user = match user {
            Some(user) if verified => user,
            user => {
                self.store.record_login_attempt(&record(user.map(|u| u.id), LoginOutcome::BadCredentials)).await?;
                return Err(AccountError::InvalidCredentials);
            }
        };
        let outcome = if user.is_banned { LoginOutcome::Banned } else { LoginOutcome::Success };
        self.store.record_login_attempt(&record(Some(user.id), outcome)).await?;
        Ok(user)
    }

    /// Until when logins for this phone or from this address are refused, if they are.
    async fn lockout(
        &self,
        phone: &PhoneLookup,
        ip: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, AccountError> {
        let window = TimeDelta::seconds(self.auth.login_window_secs as i64);
        let since = now - window;
        let (phone_limit, ip_limit) = (self.auth.max_failures_per_phone, self.auth.max_failures_per_ip);
        let by_phone = self.store.recent_failures_for_phone(phone, since, phone_limit.into()).await?;
        let by_ip = self.store.recent_failures_for_ip(ip, since, ip_limit.into()).await?;
        Ok(locked_until(&by_phone, phone_limit, window).max(locked_until(&by_ip, ip_limit, window)))
    }

    /// Exchanges a refresh token for a new pair. A token presented a second time means it was copied:
    /// its whole family (every session descended from that login) is revoked.
    pub async fn refresh(&self, presented: RefreshToken, client: &ClientInfo) -> Result<IssuedTokens, AccountError> {
        let now = self.clock.now();
        let row = self.store.refresh_token_by_hash(&presented.hash()).await?.ok_or(AccountError::InvalidToken)?;
        if row.used_at.is_some() {
            return Err(self.reuse_detected(&row.family_id, row.user_id, now).await?);
        }
        if row.revoked_at.is_some() {
            return Err(AccountError::InvalidToken);
        }
        if row.expires_at <= now {
            return Err(AccountError::TokenExpired);
        }
        let user = self.store.user_by_id(row.user_id).await?.ok_or(AccountError::InvalidToken)?;
        if user.is_banned {
            return Err(AccountError::banned(&user));
        }
        let (token, new) = self.new_refresh_token(&user, row.family_id.clone(), client, now);
        match self.store.rotate_refresh_token(row.id, &new, now).await? {
            Rotation::Rotated => {
                // Every family this server made is a login id; anything else is no session of ours.
                let login = LoginId::parse(&row.family_id).ok_or(AccountError::InvalidToken)?;
                Ok(self.tokens_for(&user, login, token, new.expires_at, now))
            }
            Rotation::AlreadyConsumed => {
                // Revoked meanwhile (the login was signed out while this refresh was on its way) is not reuse.
                let again = self.store.refresh_token_by_hash(&presented.hash()).await?;
                if again.is_some_and(|again| again.used_at.is_none() && again.revoked_at.is_some()) {
                    return Err(AccountError::InvalidToken);
                }
                Err(self.reuse_detected(&row.family_id, row.user_id, now).await?)
            }
        }
    }

    /// Signs out the login the token belongs to (its whole family); returns whose login it was, so that its
    /// sockets can be closed.
    pub async fn logout(&self, presented: RefreshToken) -> Result<(UserId, Option<LoginId>), AccountError> {
        let now = self.clock.now();
        let row = self.store.refresh_token_by_hash(&presented.hash()).await?.ok_or(AccountError::InvalidToken)?;
        self.store.revoke_token_family(&row.family_id, now).await?;
        Ok((row.user_id, LoginId::parse(&row.family_id)))
    }

    async fn reuse_detected(
        &self,
        family_id: &str,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<AccountError, AccountError> {
        let revoked = self.store.revoke_token_family(family_id, now).await?;
        tracing::warn!(user_id = user_id.get(), revoked, "refresh token reuse: token family revoked");
        self.store
            .log_event(AuditAction::AuthRefreshTokenReused, Some(user_id), &json!({ "revoked": revoked }), now)
            .await?;
        metrics::counter!("tanis_refresh_token_reuse_total").increment(1);
        Ok(AccountError::TokenReused { user_id, login: LoginId::parse(family_id) })
    }

    /// Opens a new token family for a fresh login or registration.
    pub(super) async fn start_session(
        &self,
        user: &UserRow,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AccountError> {
        let now = self.clock.now();
        let login = LoginId::generate();
        let (token, new) = self.new_refresh_token(user, login.to_string(), client, now);
        self.store.start_login(&new, client.known_ip(), now).await?;
        Ok(self.tokens_for(user, login, token, new.expires_at, now))
    }

    fn new_refresh_token(
        &self,
        user: &UserRow,
        family_id: String,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> (RefreshToken, NewRefreshToken) {
        let token = RefreshToken::generate();
        let new = NewRefreshToken {
            user_id: user.id,
            family_id,
            token_hash: token.hash(),
            expires_at: now + TimeDelta::seconds(self.auth.refresh_token_ttl_secs as i64),
            user_agent: client.user_agent.clone(),
        };
        (token, new)
    }

    /// The pair for `login`; its access token names the login.
    fn tokens_for(
        &self,
        user: &UserRow,
        login: LoginId,
        refresh: RefreshToken,
        refresh_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> IssuedTokens {
        let (access_token, access_expires_at) = self.jwt.issue_for_login(user.id, user.role, login, now);
        IssuedTokens { access_token, access_expires_at, refresh_token: refresh, refresh_expires_at }
    }
}

impl AccountError {
    /// `Retry-After` seconds for a throttled attempt.
    pub fn retry_after_secs(&self, now: DateTime<Utc>) -> Option<u64> {
        match self {
            AccountError::Throttled { retry_after } | AccountError::TooManyCodes { retry_after } => {
                Some(seconds_until(now + *retry_after, now))
            }
            _ => None,
        }
    }
}

/// A session for an account made without signing in (`tanis dev seed-users` for the load generator, which
/// production refuses): a login row and its first refresh token, as signing in makes them, and an access token of
/// that login — never a token of no login, which the server refuses.
pub async fn seeded_session(
    store: &Store,
    jwt: &JwtKeys,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<String, crate::store::StoreError> {
    let login = LoginId::generate();
    let first = NewRefreshToken {
        user_id,
        family_id: login.to_string(),
        token_hash: RefreshToken::generate().hash(),
        expires_at: now + TimeDelta::days(30),
        user_agent: Some("tanis dev seed-users".into()),
    };
    store.start_login(&first, None, now).await?;
    Ok(jwt.issue_for_login(user_id, Role::User, login, now).0)
}
