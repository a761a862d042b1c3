//! Phone numbers at rest. The phone number is the one thing tanis holds that leads to a person, so no table
//! holds it in clear: every phone column (users, referrals, login_attempts, phone_codes) is a pair of a sealed
//! form, which only the encryption key opens (for an admin's audited view, or to send a code), and a blind index,
//! which only the index key computes (for login, registration's uniqueness, throttling). See `vault` for both
//! formats, and for the key one-time codes are stored under.
//!
//! The keys live outside the database, like the JWT secret: configured (`phones.*`, required in production) or
//! generated into the data directory. Sealed bytes carry their key's id, so several keys can be configured
//! while one replaces another and `tanis phones rotate-key` ([`crate::reseal::rotate`]) reseals the rows; the
//! previous index key is looked up alongside the current one while the indexes are rebuilt. docs/operations.md has
//! the steps.
//!
//! This module owns the keys and the formats; the store reads and writes the bytes and never sees a key, and
//! [`crate::reseal`], above both, walks the rows through them.

mod vault;

use std::path::Path;

use anyhow::Context;

pub use vault::{
    KeyError, KeyId, OpenError, PhoneIndex, PhoneLookup, PhoneSecrets, PhoneVault, Ring, SealedPhone, sealed_key_id,
};

use crate::config::PhonesConfig;
use crate::secrets;

impl PhoneVault {
    /// The vault of a configuration: its keys, or the ones kept in `data_dir` (generated on first start).
    pub fn load(config: &PhonesConfig, data_dir: &Path) -> anyhow::Result<Self> {
        with_secrets(config, data_dir, PhoneVault::new)
    }
}

/// Makes what `make` makes of a configuration's secrets, or of the ones kept in `data_dir` (generated on first
/// start): the phone vault, and the call reports' snapshot vault, which seals under the same encryption secrets.
pub fn with_secrets<T>(
    config: &PhonesConfig,
    data_dir: &Path,
    make: impl FnOnce(&PhoneSecrets<'_>) -> Result<T, KeyError>,
) -> anyhow::Result<T> {
    if config.encryption_key.is_none() || config.index_key.is_none() {
        secrets::ensure_data_dir(data_dir)?;
    }
    let encryption = secrets::phone_encryption_key(config.encryption_key.as_deref(), data_dir)?;
    let index = secrets::phone_index_key(config.index_key.as_deref(), data_dir)?;
    make(&PhoneSecrets {
        encryption: &encryption,
        previous_encryption: config.previous_encryption_keys.iter().map(|k| k.as_bytes()).collect(),
        index: &index,
        previous_index: config.previous_index_key.as_deref().map(str::as_bytes),
    })
    .context("phones.previous_encryption_keys")
}
