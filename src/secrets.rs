//! The secrets kept outside the database: the JWT signing secret, the TURN secret and the two phone keys
//! (src/phones). Configured explicitly in production; otherwise generated on first start and kept in
//! `data_dir`, readable by the owner only, so tokens survive restarts and sealed phone numbers stay readable.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const SECRET_FILE: &str = "jwt_secret";
const TURN_SECRET_FILE: &str = "turn_secret";
const PHONE_ENCRYPTION_KEY_FILE: &str = "phone_encryption_key";
const PHONE_INDEX_KEY_FILE: &str = "phone_index_key";

/// The files a data directory may hold secrets in (generated when not configured), as `tanis backup` copies them.
pub const GENERATED_FILES: [&str; 4] = [SECRET_FILE, TURN_SECRET_FILE, PHONE_ENCRYPTION_KEY_FILE, PHONE_INDEX_KEY_FILE];

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

/// The configured phone encryption secret (`phones.encryption_key`), or the one kept in the data directory.
pub fn phone_encryption_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    text_secret(configured, data_dir, PHONE_ENCRYPTION_KEY_FILE)
}

/// The configured blind-index secret (`phones.index_key`), or the one kept in the data directory.
pub fn phone_index_key(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    text_secret(configured, data_dir, PHONE_INDEX_KEY_FILE)
}

/// Like [`secret`], except that the file holds the secret as the text a configuration would (64 hex digits when
/// generated), and that text is the secret: so a generated key can be moved into the configuration as it is, as
/// `phones.previous_encryption_keys` when rotating away from it (docs/operations.md).
fn text_secret(configured: Option<&str>, data_dir: &Path, file: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(file);
    if !path.exists() {
        let secret: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
        publish(&path, secret.as_bytes())?;
    }
    check_owner_only(&path)?;
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let secret = text.trim();
    if secret.len() < 32 {
        bail!("{} holds fewer than 32 characters", path.display());
    }
    Ok(secret.as_bytes().to_vec())
}

fn secret(configured: Option<&str>, data_dir: &Path, file: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(file);
    if !path.exists() {
        let secret: [u8; 64] = rand::random();
        publish(&path, STANDARD.encode(secret).as_bytes())?;
    }
    read_secret(&path)
}

/// Creates `path` holding `contents`, owner-only, unless it exists. Written and synced under a temporary name
/// first and then linked into place, so a process starting at the same moment (`tanis serve` beside `tanis
/// worker`, both loading the phone keys) never reads a half-written file: one of them links first, and both
/// then read that one's secret.
fn publish(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("secret");
    let staging = path.with_file_name(format!(".{name}.{:016x}.new", rand::random::<u64>()));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staging)
        .with_context(|| format!("creating {}", staging.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    let linked = fs::hard_link(&staging, path);
    let _ = fs::remove_file(&staging);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new secret");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

fn check_owner_only(path: &Path) -> anyhow::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!("{} is readable by others (mode {:o}); run `chmod 600` on it", path.display(), mode & 0o777);
    }
    Ok(())
}

fn read_secret(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    check_owner_only(path)?;
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
    fn a_generated_phone_key_is_the_text_of_its_file_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let first = phone_encryption_key(None, dir.path()).unwrap();
        let path = dir.path().join(PHONE_ENCRYPTION_KEY_FILE);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(first, fs::read(&path).unwrap(), "the file's text is the secret, as configured text would be");
        assert_eq!(first.len(), 64);
        assert_eq!(phone_encryption_key(None, dir.path()).unwrap(), first);
        assert_ne!(phone_index_key(None, dir.path()).unwrap(), first, "the index key is a key of its own");
    }

    #[test]
    fn starts_at_the_same_moment_agree_on_one_generated_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..8).map(|_| s.spawn(|| phone_index_key(None, dir.path()).unwrap())).collect();
            starts.into_iter().map(|start| start.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|pair| pair[0] == pair[1]), "one key, read by every start");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [PHONE_INDEX_KEY_FILE], "no staging file is left behind");
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
