//! Call reports' snapshots at rest. A snapshot is the one picture of a stranger tanis may hold, attached only when
//! the reporter chose to: it is sealed before it is stored, and only a moderator's audited view opens it
//! (`GET /v1/admin/reports/{id}/snapshot`).
//!
//! Its keys are derived from the configured encryption secrets (`phones.encryption_key` and the previous ones), under
//! a label of their own: `0x02 ‖ key id (4) ‖ nonce (24) ‖ XChaCha20-Poly1305(image) ‖ tag (16)`, sealed and opened
//! by a [`Ring`] as phones are (src/phones/vault.rs has the format), so a rotation of the secrets covers both
//! and a snapshot never opens as a phone, nor a phone as a snapshot.

use std::path::Path;
use std::sync::Arc;

use crate::config::PhonesConfig;
use crate::phones::{self, KeyError, OpenError, PhoneSecrets, Ring};

const VERSION: u8 = 2;
const LABEL: &[u8] = b"tanis snapshots v1: XChaCha20-Poly1305 key";

/// Seals and opens call reports' snapshots. Cheap to clone.
#[derive(Clone)]
pub struct SnapshotVault(Arc<Ring>);

impl SnapshotVault {
    pub fn new(secrets: &PhoneSecrets<'_>) -> Result<Self, KeyError> {
        Ok(SnapshotVault(Arc::new(Ring::new(secrets, VERSION, LABEL)?)))
    }

    /// The vault of a configuration's encryption secrets (generated into `data_dir` on first start).
    pub fn load(config: &PhonesConfig, data_dir: &Path) -> anyhow::Result<Self> {
        phones::with_secrets(config, data_dir, SnapshotVault::new)
    }

    /// A snapshot sealed under the current key.
    pub fn seal(&self, image: &[u8]) -> Vec<u8> {
        self.0.seal(image)
    }

    /// A sealed snapshot opened with whichever configured key it names.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.0.open(sealed)
    }
}

/// Never prints a key.
impl std::fmt::Debug for SnapshotVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotVault").field("key_ids", &self.0.key_ids()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Phone;
    use crate::phones::PhoneVault;

    const ENCRYPTION: &[u8] = b"an encryption secret of at least 32 characters";
    const NEXT: &[u8] = b"the next encryption secret of 32+ characters";
    const INDEX: &[u8] = b"an index secret of at least 32 characters, too";

    fn secrets<'a>(encryption: &'a [u8], previous: Vec<&'a [u8]>) -> PhoneSecrets<'a> {
        PhoneSecrets { encryption, previous_encryption: previous, index: INDEX, previous_index: None }
    }

    #[test]
    fn a_sealed_snapshot_opens_under_its_key_only_and_never_as_a_phone() {
        let (v, phones) = (
            SnapshotVault::new(&secrets(ENCRYPTION, vec![])).unwrap(),
            PhoneVault::new(&secrets(ENCRYPTION, vec![])).unwrap(),
        );
        let image = b"\x89PNG\r\n\x1a\n a picture";
        let sealed = v.seal(image);
        assert_eq!(v.open(&sealed).unwrap(), image);
        assert!(!sealed.windows(9).any(|w| w == b"a picture"), "sealed, not stored as is");
        assert_eq!(phones.open(&sealed), Err(OpenError::Malformed), "a snapshot is no phone");
        let phone = phones.seal(&Phone::parse("+905321234567").unwrap());
        assert_eq!(v.open(phone.ciphertext()), Err(OpenError::Malformed), "nor a phone a snapshot");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(v.open(&altered), Err(OpenError::Rejected(phones.key_id())));
        let rotated = SnapshotVault::new(&secrets(NEXT, vec![ENCRYPTION])).unwrap();
        assert_eq!(rotated.open(&sealed).unwrap(), image, "the previous key still opens it");
        let other = SnapshotVault::new(&secrets(NEXT, vec![])).unwrap();
        assert_eq!(other.open(&sealed), Err(OpenError::UnknownKey(phones.key_id())));
    }
}
