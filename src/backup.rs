//! `tanis backup <destination>`: a consistent copy of a running server's SQLite database and of the keys generated
//! beside it in the data directory, into a new directory that is itself a data directory: restoring is pointing
//! `data_dir` at (a copy of) it and starting tanis (docs/operations.md, "Backups"). Sealed phone numbers and
//! call-report snapshots open only with the phone keys they were sealed under, and sessions verify only with the
//! JWT secret, so a database copied without them is a database of unreadable rows and signed-out users.
//!
//! Secrets that are configured (in tanis.toml or `TANIS_*`) rather than generated are not in the data directory:
//! the command names them, for the operator to keep with the backup as they keep the configuration.
//!
//! PostgreSQL has its own tools for this (base backups and WAL archiving): the command refuses and says where the
//! procedure is.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

use crate::config::Config;

/// What a backup holds besides the database.
#[derive(Debug)]
pub struct Copied {
    /// The generated key files copied from the data directory.
    pub keys: Vec<&'static str>,
    /// The configured secrets, which the backup does not hold: keep them with it.
    pub configured: Vec<&'static str>,
}

/// Copies the database and the generated keys into `destination`, a directory that must not exist or be empty.
pub async fn backup(config: &Config, destination: &Path) -> anyhow::Result<Copied> {
    let url = config.effective_database_url();
    if !url.starts_with("sqlite:") {
        bail!(
            "tanis backup copies a SQLite database; on PostgreSQL take base backups with WAL archiving \
             (docs/operations.md, \"Backups\")"
        );
    }
    if destination.exists() && fs::read_dir(destination)?.next().is_some() {
        bail!("{} is not empty: a backup goes into a new directory", destination.display());
    }
    crate::secrets::ensure_data_dir(destination)?;
    // It holds keys: owner-only, as a data directory is, even when it was made beforehand.
    fs::set_permissions(destination, fs::Permissions::from_mode(0o700))?;
    crate::store::copy_sqlite_into(&url, &destination.join("tanis.db"))
        .await
        .with_context(|| format!("copying the database into {}", destination.display()))?;
    let mut keys = Vec::new();
    for name in crate::secrets::GENERATED_FILES {
        let from = config.data_dir.join(name);
        if from.exists() {
            copy_owner_only(&from, &destination.join(name))?;
            keys.push(name);
        }
    }
    fs::File::open(destination).and_then(|dir| dir.sync_all())?;
    Ok(Copied { keys, configured: configured(config) })
}

/// A key file copied as it is kept: readable by the owner only, synced.
fn copy_owner_only(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The secrets the configuration sets, by their keys.
fn configured(config: &Config) -> Vec<&'static str> {
    let set = [
        ("auth.jwt_secret", config.auth.jwt_secret.is_some()),
        ("video.turn_secret", config.video.turn_secret.is_some()),
        ("phones.encryption_key", config.phones.encryption_key.is_some()),
        ("phones.previous_encryption_keys", !config.phones.previous_encryption_keys.is_empty()),
        ("phones.index_key", config.phones.index_key.is_some()),
        ("phones.previous_index_key", config.phones.previous_index_key.is_some()),
    ];
    set.into_iter().filter(|(_, set)| *set).map(|(key, _)| key).collect()
}
