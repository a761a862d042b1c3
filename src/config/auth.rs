//! `[auth]`: access and refresh tokens, password hashing and the limits on failed logins, and what registration
//! asks of a person (the privacy notice they accept, the minimum age, the grace before a deleted account goes).

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 signing secret for access tokens. Unset: generated once into `data_dir/jwt_secret`.
    pub jwt_secret: Option<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// bcrypt work factor (4–31); every step doubles the cost of a login.
    pub bcrypt_cost: u32,
    /// How many bcrypt computations may run at once; the rest wait, so a login storm cannot take every core.
    pub bcrypt_concurrency: usize,
    /// How long a login waits for a bcrypt slot before the server answers `server_busy`.
    pub bcrypt_queue_timeout_ms: u64,
    /// The window in which failed logins are counted.
    pub login_window_secs: u64,
    /// Failed logins for one phone number within the window before further attempts get 429.
    pub max_failures_per_phone: u32,
    /// Failed logins from one IP address within the window before further attempts get 429.
    pub max_failures_per_ip: u32,
    /// The current privacy notice version. A registering user consents to it; when it changes, everyone must
    /// accept the new version (`POST /v1/me/consent`) before they can be matched again.
    pub privacy_notice_version: String,
    /// Registration refuses a birth year that makes the person younger than this (self-attested, by year:
    /// this year minus the birth year).
    pub minimum_age: u16,
    /// Days between a deletion request and the purge of the account; signing in before then undoes it. 0 purges
    /// at the purge job's next run.
    pub deletion_grace_days: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            bcrypt_cost: 12,
            // Half the cores: a login storm then leaves the other half to the sockets (BENCHMARKS.md, login-storm).
            bcrypt_concurrency: std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            bcrypt_queue_timeout_ms: 10_000,
            login_window_secs: 15 * 60,
            max_failures_per_phone: 5,
            max_failures_per_ip: 50,
            privacy_notice_version: "2026-11-01".into(),
            minimum_age: 18,
            deletion_grace_days: 30,
        }
    }
}

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(4..=31).contains(&self.bcrypt_cost) {
            return Err(invalid("auth.bcrypt_cost", "must be between 4 and 31"));
        }
        if self.bcrypt_concurrency == 0 {
            return Err(invalid("auth.bcrypt_concurrency", "must be at least 1"));
        }
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 24 * 3600 {
            return Err(invalid("auth.access_token_ttl_secs", "must be between 1 and 86400"));
        }
        if !(13..=120).contains(&self.minimum_age) {
            return Err(invalid("auth.minimum_age", "must be between 13 and 120"));
        }
        if self.deletion_grace_days > 3650 {
            return Err(invalid("auth.deletion_grace_days", "must be at most 3650"));
        }
        if self.privacy_notice_version.trim().is_empty() || self.privacy_notice_version.len() > 64 {
            return Err(invalid("auth.privacy_notice_version", "must be 1 to 64 characters"));
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(invalid("auth.refresh_token_ttl_secs", "must not be shorter than the access token's"));
        }
        if self.login_window_secs == 0 || self.max_failures_per_phone == 0 || self.max_failures_per_ip == 0 {
            return Err(invalid("auth.login_window_secs", "the login window and failure limits must be positive"));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.len() < 32
        {
            return Err(invalid("auth.jwt_secret", "must be at least 32 characters"));
        }
        Ok(())
    }
}
