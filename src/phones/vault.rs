//! The keys and the two stored forms of a phone number: sealed (to read it back) and blind-indexed (to find it).
//!
//! Sealed: `0x01 ‖ key id (4) ‖ nonce (24) ‖ XChaCha20-Poly1305(E.164) ‖ tag (16)`, the first five bytes also the
//! associated data, so neither the version nor the key id can be changed without the tag failing. The nonce is
//! random: 192 bits never repeat by chance, so one key may seal any number of phones.
//!
//! Blind index: HMAC-SHA256 of the E.164 text under the index key. The same number always gives the same 32
//! bytes, which is what a lookup and a unique constraint need; without the key nobody can compute them, so
//! the index cannot be reversed by trying every number of the (small) phone number space.
//!
//! One-time codes (src/accounts/codes.rs) are kept as HMAC-SHA256 over the phone's index and the code, under a
//! third key derived from the index secret: the code's row then holds nothing a copy of the database alone can
//! check a guess against, and a code is bound to the phone it was sent to. Changing the index key (a rotation)
//! therefore also ends every code issued before it, at most five minutes' worth.
//!
//! The sealing itself is a [`Ring`]: the current key and the previous ones, each derived from a configured secret
//! under a label naming its use. A call report's snapshot is sealed the same way by
//! [`crate::reports::SnapshotVault`], a ring of its own derived from the same encryption secrets under another
//! label: `0x02 ‖ key id (4) ‖ nonce (24) ‖ XChaCha20-Poly1305(image) ‖ tag (16)`. The version byte keeps either
//! form from ever opening as the other.
//!
//! A configured secret is not used as a key directly: each key is HMAC-SHA256(secret, label), one label per use,
//! so the secrets can be any string of 32 or more characters (like `auth.jwt_secret`), and the encryption secret
//! also names its key: the key id is the first four bytes of HMAC-SHA256(secret, "key id"). An id therefore
//! always belongs to one key: a wrong key is reported as an unknown id, never decrypted into garbage.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::Phone;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

const SEALING_LABEL: &[u8] = b"tanis phones v1: XChaCha20-Poly1305 key";
const KEY_ID_LABEL: &[u8] = b"tanis phones v1: key id";
const INDEX_LABEL: &[u8] = b"tanis phones v1: blind index key";
const CODE_LABEL: &[u8] = b"tanis phones v1: one-time code key";
/// Not about phones: the key reporters' address ranges are hashed under (src/domain/trust.rs). It is derived
/// from the index secret like the code key, under a label of its own, so no hash of one use can stand for another.
const NETWORK_LABEL: &[u8] = b"tanis trust v1: address range key";

/// Names the encryption key a phone was sealed with: four bytes derived from the key's secret, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The blind index of one phone number under one index key.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneIndex([u8; 32]);

impl PhoneIndex {
    /// An index as the store reads it back; `None` unless it is 32 bytes.
    pub fn from_stored(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The index is as identifying as the number within this database: it stays out of logs too.
impl fmt::Debug for PhoneIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneIndex(…)")
    }
}

/// What a lookup by phone compares: the index under the current key and, while an index key is being replaced,
/// under the previous one (the same index twice otherwise, so every lookup query has one shape:
/// `… IN ($1, $2)`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PhoneLookup([PhoneIndex; 2]);

impl PhoneLookup {
    pub fn indexes(&self) -> [&[u8]; 2] {
        [self.0[0].as_bytes(), self.0[1].as_bytes()]
    }

    /// Whether `index` is this phone's under either key.
    pub fn matches(&self, index: &PhoneIndex) -> bool {
        self.0.contains(index)
    }
}

/// A phone number as it is stored: the sealed bytes and the blind index under the current index key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedPhone {
    ciphertext: Vec<u8>,
    index: PhoneIndex,
}

impl SealedPhone {
    /// A pair as the store reads it back; `None` unless the index is 32 bytes.
    pub fn from_stored(ciphertext: Vec<u8>, index: &[u8]) -> Option<Self> {
        Some(Self { ciphertext, index: PhoneIndex::from_stored(index)? })
    }

    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    pub fn index(&self) -> &PhoneIndex {
        &self.index
    }
}

/// Why stored bytes did not open. None of these reveal anything of the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a sealed phone number (unknown format or version)")]
    Malformed,
    #[error("sealed under key {0}, which is not configured")]
    UnknownKey(KeyId),
    #[error("sealed under key {0}, but does not open under it: the row was altered")]
    Rejected(KeyId),
}

/// One encryption key: the cipher and the id written into everything it seals. The id is the secret's, whatever
/// the label: a key id names the same secret in every form sealed under it.
struct SealingKey {
    id: KeyId,
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    fn from_secret(secret: &[u8], label: &[u8]) -> Self {
        let id = derive(secret, KEY_ID_LABEL);
        Self {
            id: KeyId([id[0], id[1], id[2], id[3]]),
            cipher: XChaCha20Poly1305::new(&Key::from(derive(secret, label))),
        }
    }
}

/// Keys that seal one kind of thing, each derived from a configured encryption secret under that kind's `label`:
/// the current key seals everything new; the previous ones only open what was sealed before it.
pub struct Ring {
    version: u8,
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl Ring {
    /// The ring of `secrets`' encryption keys for the form `version`, under `label`.
    pub fn new(secrets: &PhoneSecrets<'_>, version: u8, label: &[u8]) -> Result<Self, KeyError> {
        let current = SealingKey::from_secret(secrets.encryption, label);
        let previous: Vec<SealingKey> =
            secrets.previous_encryption.iter().map(|s| SealingKey::from_secret(s, label)).collect();
        let mut ids = vec![current.id];
        for key in &previous {
            if ids.contains(&key.id) {
                return Err(KeyError::DuplicateKeyId(key.id));
            }
            ids.push(key.id);
        }
        Ok(Ring { version, current, previous })
    }

    /// Every configured key id, the current one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        std::iter::once(&self.current).chain(&self.previous).map(|k| k.id).collect()
    }

    /// `version ‖ key id ‖ nonce ‖ ciphertext ‖ tag` of `plain` under the current key, the first five bytes the
    /// associated data.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let key = &self.current;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
        out.push(self.version);
        out.extend_from_slice(&key.id.0);
        out.extend_from_slice(&nonce);
        let sealed = key
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: &out[..HEADER_LEN] })
            .expect("XChaCha20-Poly1305 seals anything this small");
        out.extend_from_slice(&sealed);
        out
    }

    /// What [`Ring::seal`] sealed, opened by the key it names.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || sealed[0] != self.version {
            return Err(OpenError::Malformed);
        }
        let id = KeyId([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or(OpenError::UnknownKey(id))?;
        let (header, rest) = sealed.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        key.cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: header })
            .map_err(|_| OpenError::Rejected(id))
    }
}

/// Seals, opens and indexes phone numbers. Cheap to clone; built from the configured (or generated) secrets by
/// [`PhoneVault::load`](super::PhoneVault::load) or, given the secrets, by [`PhoneVault::new`].
#[derive(Clone)]
pub struct PhoneVault(Arc<Keys>);

struct Keys {
    /// Seals phones; its previous keys only open what was sealed before the current key, until
    /// `tanis phones rotate-key` has resealed it.
    sealing: Ring,
    /// Prepared HMACs (the key already absorbed): cloning one is cheaper than keying a new one per phone.
    index: Hmac<Sha256>,
    previous_index: Option<Hmac<Sha256>>,
    /// Keys the HMAC one-time codes are stored as; derived from the current index secret.
    code: Hmac<Sha256>,
    /// Keys the hash of a reporter's address range; derived from the current index secret.
    network: Hmac<Sha256>,
}

/// The secrets a [`PhoneVault`] is made from.
pub struct PhoneSecrets<'a> {
    pub encryption: &'a [u8],
    pub previous_encryption: Vec<&'a [u8]>,
    pub index: &'a [u8],
    pub previous_index: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Two configured encryption secrets give the same key id (the same secret twice, or a 1 in 2^32 clash):
    /// a ciphertext could not say which key it needs.
    #[error("two encryption keys have the same key id {0}: remove the duplicate or generate another key")]
    DuplicateKeyId(KeyId),
}

impl PhoneVault {
    pub fn new(secrets: &PhoneSecrets<'_>) -> Result<Self, KeyError> {
        let sealing = Ring::new(secrets, VERSION, SEALING_LABEL)?;
        let index_hmac = |secret: &[u8]| {
            Hmac::<Sha256>::new_from_slice(&derive(secret, INDEX_LABEL)).expect("HMAC takes a key of any length")
        };
        let code = Hmac::<Sha256>::new_from_slice(&derive(secrets.index, CODE_LABEL)).expect("HMAC takes any key");
        let network =
            Hmac::<Sha256>::new_from_slice(&derive(secrets.index, NETWORK_LABEL)).expect("HMAC takes any key");
        Ok(Self(Arc::new(Keys {
            sealing,
            index: index_hmac(secrets.index),
            previous_index: secrets.previous_index.map(index_hmac),
            code,
            network,
        })))
    }

    /// The id of the key everything new is sealed with.
    pub fn key_id(&self) -> KeyId {
        self.0.sealing.current.id
    }

    /// Every configured key id, the current one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.0.sealing.key_ids()
    }

    /// The phone sealed under the current key, with its index under the current index key.
    pub fn seal(&self, phone: &Phone) -> SealedPhone {
        let ciphertext = self.0.sealing.seal(phone.as_str().as_bytes());
        SealedPhone { ciphertext, index: self.index(phone) }
    }

    /// Opens sealed bytes with whichever configured key they name.
    pub fn open(&self, sealed: &[u8]) -> Result<Phone, OpenError> {
        let id = sealed_key_id(sealed).ok_or(OpenError::Malformed)?;
        let plain = self.0.sealing.open(sealed)?;
        // Authenticated: these are bytes this vault's key sealed from a `Phone`.
        String::from_utf8(plain).map(Phone::from_stored).map_err(|_| OpenError::Rejected(id))
    }

    /// The blind index under the current index key.
    pub fn index(&self, phone: &Phone) -> PhoneIndex {
        index_with(&self.0.index, phone)
    }

    /// Whether `index` is `phone`'s under the current index key (not only under the previous one).
    pub fn is_current_index(&self, phone: &Phone, index: &PhoneIndex) -> bool {
        &self.index(phone) == index
    }

    /// How a one-time code sent to the phone of `index` is stored: HMAC-SHA256 over the index (32 bytes, so the
    /// concatenation is unambiguous) and the code.
    pub fn code_hash(&self, index: &PhoneIndex, code: &str) -> [u8; 32] {
        self.code_mac(index, code).finalize().into_bytes().into()
    }

    /// Whether `code` is the one stored as `stored` for the phone of `index`, compared in constant time.
    pub fn code_matches(&self, index: &PhoneIndex, code: &str, stored: &[u8]) -> bool {
        self.code_mac(index, code).verify_slice(stored).is_ok()
    }

    fn code_mac(&self, index: &PhoneIndex, code: &str) -> Hmac<Sha256> {
        let mut mac = self.0.code.clone();
        mac.update(index.as_bytes());
        mac.update(code.as_bytes());
        mac
    }

    /// A keyed hash of an address range (the bytes of [`crate::domain::trust::address_range`]): two reports
    /// from one range store the same hash, and nobody without the key can tell which range it is. Rotating the
    /// index key changes every hash, so reports before and after a rotation are not grouped together.
    pub fn network_hash(&self, range: &[u8]) -> Vec<u8> {
        let mut mac = self.0.network.clone();
        mac.update(range);
        mac.finalize().into_bytes().to_vec()
    }

    /// What to compare when looking a phone up: its index under the current and the previous index key.
    pub fn lookup(&self, phone: &Phone) -> PhoneLookup {
        let current = self.index(phone);
        let previous = self.0.previous_index.as_ref().map_or_else(|| current.clone(), |h| index_with(h, phone));
        PhoneLookup([current, previous])
    }
}

/// The key id written into sealed bytes, if they are in a format this version knows.
pub fn sealed_key_id(sealed: &[u8]) -> Option<KeyId> {
    if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
        return None;
    }
    Some(KeyId([sealed[1], sealed[2], sealed[3], sealed[4]]))
}

/// Never prints a key, only which ones are configured.
impl fmt::Debug for PhoneVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneVault")
            .field("key_ids", &self.key_ids())
            .field("index_rotation", &self.0.previous_index.is_some())
            .finish()
    }
}

fn derive(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn index_with(keyed: &Hmac<Sha256>, phone: &Phone) -> PhoneIndex {
    let mut mac = keyed.clone();
    mac.update(phone.as_str().as_bytes());
    PhoneIndex(mac.finalize().into_bytes().into())
}

#[cfg(test)]
#[path = "vault_tests.rs"]
mod tests;
