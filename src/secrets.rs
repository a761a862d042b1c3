//! The JWT signing secret. Configured explicitly in production; otherwise generated on first start
//! and kept in `data_dir/jwt_secret`, readable by the owner only, so tokens survive restarts.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const SECRET_FILE: &str = "jwt_secret";
const TURN_SECRET_FILE: &str = "turn_secret";

/// Creates the data directory (owner-only) when missing.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The configured JWT signing secret, or the one kept in the data directory (generated when absent).
pub fn jwt_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    secret(configured, data_dir, SECRET_FILE)
}

/// The configured TURN REST secret, or the one kept in the data directory (generated when absent).
pub fn turn_secret(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    secret(configured, data_dir, TURN_SECRET_FILE)
}

fn secret(configured: Option<&str>, data_dir: &Path, file: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(file);
    if path.exists() {
        return read_secret(&path);
    }
    let secret: [u8; 64] = rand::random();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(STANDARD.encode(secret).as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "generated a new secret");
    Ok(secret.to_vec())
}

fn read_secret(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!("{} is readable by others (mode {:o}); run `chmod 600` on it", path.display(), mode & 0o777);
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret = STANDARD.decode(text.trim()).with_context(|| format!("{} is not base64", path.display()))?;
    if secret.len() < 32 {
        bail!("{} holds fewer than 32 bytes", path.display());
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_owner_only_and_stable_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = jwt_secret(None, dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(jwt_secret(None, dir.path()).unwrap(), first);
        assert_eq!(first.len(), 64);
    }

    #[test]
    fn a_secret_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        jwt_secret(None, dir.path()).unwrap();
        fs::set_permissions(dir.path().join(SECRET_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let err = jwt_secret(None, dir.path()).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_configured_secret_wins_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            jwt_secret(Some("configured-secret-configured-secret"), dir.path()).unwrap(),
            b"configured-secret-configured-secret"
        );
        assert!(!dir.path().join(SECRET_FILE).exists());
    }
}
