//! `[phones]`: the keys that seal phone numbers at rest and key their blind index. Each key has one role:
//! the checks below refuse a key reused across roles, which would weaken the index to the encryption key.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Phone numbers at rest (src/phones, docs/operations.md "Phone numbers"): the database holds them sealed
/// (XChaCha20-Poly1305) beside a blind index (HMAC-SHA256) that lookups and uniqueness use. Every key is a string
/// of at least 32 characters (e.g. `openssl rand -hex 32`), the same on every process of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PhonesConfig {
    /// Seals every phone number written from now on. Unset: generated once into `data_dir/phone_encryption_key`;
    /// required in production. Its id (derived from it) is written into everything it seals.
    pub encryption_key: Option<String>,
    /// Keys that sealed phone numbers before the current one: they still open them, never seal. Keep them until
    /// `tanis phones rotate-key` has resealed everything under `encryption_key`.
    pub previous_encryption_keys: Vec<String>,
    /// Keys the blind index. Unset: generated once into `data_dir/phone_index_key`; required in production.
    /// Changing it makes every stored index stale: move the old one to `previous_index_key` and run
    /// `tanis phones rotate-key`.
    pub index_key: Option<String>,
    /// The index key being replaced: lookups match its indexes too until `tanis phones rotate-key` has rebuilt
    /// them all under `index_key`.
    pub previous_index_key: Option<String>,
}

impl PhonesConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let short = |key: &Option<String>| key.as_ref().is_some_and(|k| k.len() < 32);
        if short(&self.encryption_key) {
            return Err(invalid("phones.encryption_key", "must be at least 32 characters"));
        }
        if short(&self.index_key) {
            return Err(invalid("phones.index_key", "must be at least 32 characters"));
        }
        if short(&self.previous_index_key) {
            return Err(invalid("phones.previous_index_key", "must be at least 32 characters"));
        }
        if self.previous_encryption_keys.iter().any(|k| k.len() < 32) {
            return Err(invalid("phones.previous_encryption_keys", "every key must be at least 32 characters"));
        }
        // One secret in two roles would make the index computable by whoever holds only the encryption key.
        if self.encryption_key.is_some() && self.encryption_key == self.index_key {
            return Err(invalid("phones.index_key", "must differ from phones.encryption_key"));
        }
        if self.previous_index_key.is_some() && self.previous_index_key == self.index_key {
            return Err(invalid("phones.previous_index_key", "is the same as phones.index_key: nothing to rotate"));
        }
        if self.encryption_key.as_ref().is_some_and(|k| self.previous_encryption_keys.contains(k)) {
            return Err(invalid("phones.previous_encryption_keys", "holds the current phones.encryption_key"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn phone_keys_are_long_and_each_used_in_one_role() {
        let mut config = Config::default();
        config.phones.encryption_key = Some("short".into());
        assert!(config.validate().unwrap_err().to_string().contains("phones.encryption_key"));
        config.phones.encryption_key = Some("k".repeat(40));
        config.phones.index_key = Some("k".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("must differ"));
        config.phones.index_key = Some("i".repeat(40));
        config.phones.previous_encryption_keys = vec!["k".repeat(40)];
        assert!(config.validate().unwrap_err().to_string().contains("phones.previous_encryption_keys"));
        config.phones.previous_encryption_keys = vec!["o".repeat(40)];
        config.phones.previous_index_key = Some("i".repeat(40));
        assert!(config.validate().unwrap_err().to_string().contains("phones.previous_index_key"));
        config.phones.previous_index_key = Some("p".repeat(40));
        config.validate().unwrap();
    }
}
