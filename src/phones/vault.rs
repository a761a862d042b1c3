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
//! Not about phones: a call report's snapshot (src/api/call_reports.rs) is sealed like a phone, under a key of its
//! own derived from the same encryption secret: `0x02 ‖ key id (4) ‖ nonce (24) ‖ XChaCha20-Poly1305(image) ‖
//! tag (16)`. The version byte keeps either form from ever opening as the other.
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
const SNAPSHOT_VERSION: u8 = 2;
const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

const SEALING_LABEL: &[u8] = b"tanis phones v1: XChaCha20-Poly1305 key";
const KEY_ID_LABEL: &[u8] = b"tanis phones v1: key id";
const SNAPSHOT_LABEL: &[u8] = b"tanis snapshots v1: XChaCha20-Poly1305 key";
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

/// One encryption key: the cipher and the id written into everything it seals.
struct SealingKey {
    id: KeyId,
    cipher: XChaCha20Poly1305,
    /// Seals call report snapshots: the same secret, another derived key.
    snapshots: XChaCha20Poly1305,
}

impl SealingKey {
    fn from_secret(secret: &[u8]) -> Self {
        let id = derive(secret, KEY_ID_LABEL);
        Self {
            id: KeyId([id[0], id[1], id[2], id[3]]),
            cipher: XChaCha20Poly1305::new(&Key::from(derive(secret, SEALING_LABEL))),
            snapshots: XChaCha20Poly1305::new(&Key::from(derive(secret, SNAPSHOT_LABEL))),
        }
    }
}

/// Seals, opens and indexes phone numbers. Cheap to clone; built from the configured (or generated) secrets by
/// [`PhoneVault::load`](super::PhoneVault::load) or, given the secrets, by [`PhoneVault::new`].
#[derive(Clone)]
pub struct PhoneVault(Arc<Keys>);

struct Keys {
    /// Seals everything new.
    current: SealingKey,
    /// Only open what was sealed before the current key, until `tanis phones rotate-key` has resealed it.
    previous: Vec<SealingKey>,
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
        let current = SealingKey::from_secret(secrets.encryption);
        let previous: Vec<SealingKey> =
            secrets.previous_encryption.iter().map(|s| SealingKey::from_secret(s)).collect();
        let mut ids = vec![current.id];
        for key in &previous {
            if ids.contains(&key.id) {
                return Err(KeyError::DuplicateKeyId(key.id));
            }
            ids.push(key.id);
        }
        let index_hmac = |secret: &[u8]| {
            Hmac::<Sha256>::new_from_slice(&derive(secret, INDEX_LABEL)).expect("HMAC takes a key of any length")
        };
        let code = Hmac::<Sha256>::new_from_slice(&derive(secrets.index, CODE_LABEL)).expect("HMAC takes any key");
        let network =
            Hmac::<Sha256>::new_from_slice(&derive(secrets.index, NETWORK_LABEL)).expect("HMAC takes any key");
        Ok(Self(Arc::new(Keys {
            current,
            previous,
            index: index_hmac(secrets.index),
            previous_index: secrets.previous_index.map(index_hmac),
            code,
            network,
        })))
    }

    /// The id of the key everything new is sealed with.
    pub fn key_id(&self) -> KeyId {
        self.0.current.id
    }

    /// Every configured key id, the current one first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        std::iter::once(&self.0.current).chain(&self.0.previous).map(|k| k.id).collect()
    }

    /// The phone sealed under the current key, with its index under the current index key.
    pub fn seal(&self, phone: &Phone) -> SealedPhone {
        let ciphertext = self.seal_as(VERSION, |k| &k.cipher, phone.as_str().as_bytes());
        SealedPhone { ciphertext, index: self.index(phone) }
    }

    /// Opens sealed bytes with whichever configured key they name.
    pub fn open(&self, sealed: &[u8]) -> Result<Phone, OpenError> {
        let id = sealed_key_id(sealed).ok_or(OpenError::Malformed)?;
        let plain = self.open_as(sealed, |k| &k.cipher)?;
        // Authenticated: these are bytes this vault's key sealed from a `Phone`.
        String::from_utf8(plain).map(Phone::from_stored).map_err(|_| OpenError::Rejected(id))
    }

    /// A call report's snapshot sealed under the current key (the module's comment has the format).
    pub fn seal_snapshot(&self, image: &[u8]) -> Vec<u8> {
        self.seal_as(SNAPSHOT_VERSION, |k| &k.snapshots, image)
    }

    /// Opens a sealed snapshot with whichever configured key it names.
    pub fn open_snapshot(&self, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.first() != Some(&SNAPSHOT_VERSION) {
            return Err(OpenError::Malformed);
        }
        self.open_as(sealed, |k| &k.snapshots)
    }

    /// `version ‖ key id ‖ nonce ‖ ciphertext ‖ tag` of `plain` under the current key's `cipher`, the first five
    /// bytes the associated data.
    fn seal_as(&self, version: u8, cipher: fn(&SealingKey) -> &XChaCha20Poly1305, plain: &[u8]) -> Vec<u8> {
        let key = &self.0.current;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
        out.push(version);
        out.extend_from_slice(&key.id.0);
        out.extend_from_slice(&nonce);
        let sealed = cipher(key)
            .encrypt(&XNonce::from(nonce), Payload { msg: plain, aad: &out[..HEADER_LEN] })
            .expect("XChaCha20-Poly1305 seals any phone number or snapshot");
        out.extend_from_slice(&sealed);
        out
    }

    /// What [`Self::seal_as`] sealed (its version checked by the caller), opened by the `cipher` of the key it
    /// names.
    fn open_as(&self, sealed: &[u8], cipher: fn(&SealingKey) -> &XChaCha20Poly1305) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let id = KeyId([sealed[1], sealed[2], sealed[3], sealed[4]]);
        let key = std::iter::once(&self.0.current)
            .chain(&self.0.previous)
            .find(|k| k.id == id)
            .ok_or(OpenError::UnknownKey(id))?;
        let (header, rest) = sealed.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        cipher(key)
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: header })
            .map_err(|_| OpenError::Rejected(id))
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
mod tests {
    use super::*;

    const ENCRYPTION: &[u8] = b"an encryption secret of at least 32 characters";
    const INDEX: &[u8] = b"an index secret of at least 32 characters, too";

    fn vault(encryption: &[u8], previous: Vec<&[u8]>, index: &[u8], previous_index: Option<&[u8]>) -> PhoneVault {
        PhoneVault::new(&PhoneSecrets { encryption, previous_encryption: previous, index, previous_index }).unwrap()
    }

    fn phone() -> Phone {
        Phone::parse("+905321234567").unwrap()
    }

    #[test]
    fn a_sealed_phone_opens_to_itself_and_holds_no_digit_of_it() {
        let v = vault(ENCRYPTION, vec![], INDEX, None);
        let sealed = v.seal(&phone());
        assert_eq!(v.open(sealed.ciphertext()).unwrap(), phone());
        let text = String::from_utf8_lossy(sealed.ciphertext());
        assert!(!text.contains("5321234567") && !text.contains("1234567"), "{text:?}");
        assert_eq!(sealed.ciphertext().len(), HEADER_LEN + NONCE_LEN + "+905321234567".len() + TAG_LEN);
        assert_eq!(sealed_key_id(sealed.ciphertext()), Some(v.key_id()));
    }

    #[test]
    fn a_sealed_snapshot_opens_under_its_key_only_and_never_as_a_phone() {
        let v = vault(ENCRYPTION, vec![], INDEX, None);
        let image = b"\x89PNG\r\n\x1a\n a picture";
        let sealed = v.seal_snapshot(image);
        assert_eq!(v.open_snapshot(&sealed).unwrap(), image);
        assert!(!sealed.windows(9).any(|w| w == b"a picture"), "sealed, not stored as is");
        assert_eq!(v.open(&sealed), Err(OpenError::Malformed), "a snapshot is no phone");
        assert_eq!(v.open_snapshot(v.seal(&phone()).ciphertext()), Err(OpenError::Malformed), "nor a phone a snapshot");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(v.open_snapshot(&altered), Err(OpenError::Rejected(v.key_id())));
        let rotated = vault(b"the next encryption secret of 32+ characters", vec![ENCRYPTION], INDEX, None);
        assert_eq!(rotated.open_snapshot(&sealed).unwrap(), image, "the previous key still opens it");
        let other = vault(b"the next encryption secret of 32+ characters", vec![], INDEX, None);
        assert_eq!(other.open_snapshot(&sealed), Err(OpenError::UnknownKey(v.key_id())));
    }

    #[test]
    fn sealing_twice_differs_but_the_index_is_the_same() {
        let v = vault(ENCRYPTION, vec![], INDEX, None);
        let (a, b) = (v.seal(&phone()), v.seal(&phone()));
        assert_ne!(a.ciphertext(), b.ciphertext(), "a fresh nonce each time");
        assert_eq!(a.index(), b.index());
        let other = Phone::parse("+905321234568").unwrap();
        assert_ne!(v.index(&other), *a.index());
    }

    #[test]
    fn the_index_depends_on_the_index_key_only() {
        let a = vault(ENCRYPTION, vec![], INDEX, None);
        let b = vault(b"another encryption secret, 32 characters long", vec![], INDEX, None);
        let c = vault(ENCRYPTION, vec![], b"another index secret of 32 characters or more", None);
        assert_eq!(a.index(&phone()), b.index(&phone()));
        assert_ne!(a.index(&phone()), c.index(&phone()));
    }

    #[test]
    fn a_key_that_is_not_configured_is_named_by_its_id() {
        let old = vault(ENCRYPTION, vec![], INDEX, None);
        let sealed = old.seal(&phone());
        let new = vault(b"the next encryption secret, 32 characters+", vec![], INDEX, None);
        assert_eq!(new.open(sealed.ciphertext()), Err(OpenError::UnknownKey(old.key_id())));
        let rotating = vault(b"the next encryption secret, 32 characters+", vec![ENCRYPTION], INDEX, None);
        assert_eq!(rotating.open(sealed.ciphertext()).unwrap(), phone());
        assert_ne!(sealed_key_id(rotating.seal(&phone()).ciphertext()), Some(old.key_id()), "new seals, new key");
    }

    #[test]
    fn altered_bytes_do_not_open() {
        let v = vault(ENCRYPTION, vec![], INDEX, None);
        let sealed = v.seal(&phone()).ciphertext().to_vec();
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(v.open(&flipped), Err(OpenError::Rejected(v.key_id())));
        let mut other_version = sealed.clone();
        other_version[0] = 2;
        assert_eq!(v.open(&other_version), Err(OpenError::Malformed));
        assert_eq!(v.open(&sealed[..20]), Err(OpenError::Malformed));
        assert_eq!(v.open(b"+905321234567"), Err(OpenError::Malformed), "plaintext is not a sealed phone");
    }

    #[test]
    fn during_an_index_rotation_lookups_match_both_indexes() {
        let old = vault(ENCRYPTION, vec![], INDEX, None);
        let new_index: &[u8] = b"the next index secret, at least 32 characters";
        let rotating = vault(ENCRYPTION, vec![], new_index, Some(INDEX));
        let lookup = rotating.lookup(&phone());
        assert!(lookup.matches(&old.index(&phone())), "rows not yet rebuilt are found");
        assert!(lookup.matches(&rotating.index(&phone())));
        assert!(!rotating.is_current_index(&phone(), &old.index(&phone())));
        let plain = old.lookup(&phone());
        assert_eq!(plain.indexes()[0], plain.indexes()[1], "without a rotation both are the current index");
    }

    #[test]
    fn the_same_secret_twice_is_refused() {
        let twice = PhoneVault::new(&PhoneSecrets {
            encryption: ENCRYPTION,
            previous_encryption: vec![ENCRYPTION],
            index: INDEX,
            previous_index: None,
        });
        assert!(matches!(twice, Err(KeyError::DuplicateKeyId(_))));
    }

    #[test]
    fn a_code_matches_only_its_own_phone_and_index_key() {
        let v = vault(ENCRYPTION, vec![], INDEX, None);
        let index = v.index(&phone());
        let stored = v.code_hash(&index, "123456");
        assert!(v.code_matches(&index, "123456", &stored));
        assert!(!v.code_matches(&index, "123457", &stored));
        let other = v.index(&Phone::parse("+905321234568").unwrap());
        assert!(!v.code_matches(&other, "123456", &stored), "bound to the phone it was sent to");
        let rotated = vault(ENCRYPTION, vec![], b"the next index secret, at least 32 characters", Some(INDEX));
        assert!(!rotated.code_matches(&index, "123456", &stored), "a new index key ends earlier codes");
        let reencrypted = vault(b"another encryption secret, 32 characters long", vec![ENCRYPTION], INDEX, None);
        assert!(reencrypted.code_matches(&index, "123456", &stored), "the encryption key plays no part");
        assert!(!v.code_matches(&index, "123456", &stored[..31]));
    }

    #[test]
    fn debug_output_names_key_ids_and_no_key() {
        let v = vault(ENCRYPTION, vec![], INDEX, None);
        let shown = format!("{v:?} {:?} {:?}", v.seal(&phone()).index(), v.lookup(&phone()));
        assert!(shown.contains(&v.key_id().to_string()), "{shown}");
        assert!(!shown.contains("secret") && !shown.contains("5321234567"), "{shown}");
    }
}
