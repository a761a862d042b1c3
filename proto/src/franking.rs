//! Message franking: how a report can prove what someone sent under end-to-end encryption
//! (docs/protocol.md, section 9, "Franking").
//!
//! The sender draws a fresh 32-byte franking key for every message, seals `key ‖ text` (so only the receiver
//! learns the key) and sends beside the ciphertext the commitment `HMAC-SHA256(key, text)`. The server stores the
//! commitment with the message's metadata (sender, receiver, match, seq, time), which outlives the content. The
//! receiving client opens the ciphertext and refuses the message unless the commitment opens to the text with the
//! key it found inside. To report it, the receiver reveals text and key; the server recomputes the HMAC and
//! compares it with what it bound at send time.
//!
//! Why a MAC and not the AEAD's own tag: XChaCha20-Poly1305 is not committing — one ciphertext can be made to
//! open to two different messages under two keys ("invisible salamanders"). HMAC-SHA256 is collision resistant
//! in its key and message together, so nobody (sender, receiver or server) can find a second (key, text) pair
//! for a commitment: a reveal is either the message that was sent or refused. Under a random key the commitment
//! tells the server nothing about the text.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of a franking key, and of a commitment.
pub const KEY_LEN: usize = 32;
pub const COMMITMENT_LEN: usize = 32;

/// The commitment to `text` under `key`.
pub fn commit(key: &[u8; KEY_LEN], text: &[u8]) -> [u8; COMMITMENT_LEN] {
    mac(key, text).finalize().into_bytes().into()
}

/// Whether `commitment` opens to `text` under `key` (compared in constant time).
pub fn opens(commitment: &[u8], key: &[u8], text: &[u8]) -> bool {
    key.len() == KEY_LEN && mac(key, text).verify_slice(commitment).is_ok()
}

/// What the sender seals: the key, then the text.
pub fn payload(key: &[u8; KEY_LEN], text: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(KEY_LEN + text.len());
    payload.extend_from_slice(key);
    payload.extend_from_slice(text);
    payload
}

/// The key and the text of an opened payload; `None` when it is too short to hold a key.
pub fn split(payload: &[u8]) -> Option<(&[u8; KEY_LEN], &[u8])> {
    let (key, text) = payload.split_first_chunk::<KEY_LEN>()?;
    Some((key, text))
}

fn mac(key: &[u8], text: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(text);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_test_vector_holds() {
        // docs/protocol.md, section 9, "Franking".
        let commitment = commit(&[0x01; KEY_LEN], "merhaba".as_bytes());
        let hex: String = commitment.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, VECTOR);
    }

    #[test]
    fn a_commitment_opens_to_its_own_text_and_key_only() {
        let key = [7u8; KEY_LEN];
        let commitment = commit(&key, b"selam");
        assert!(opens(&commitment, &key, b"selam"));
        assert!(!opens(&commitment, &key, b"selam!"), "an altered text");
        assert!(!opens(&commitment, &[8u8; KEY_LEN], b"selam"), "another key");
        assert!(!opens(&commitment, &key[..31], b"selam"), "a short key");
        assert!(!opens(&commitment[..31], &key, b"selam"), "a short commitment");
    }

    #[test]
    fn a_payload_splits_into_its_key_and_text() {
        let key = [3u8; KEY_LEN];
        let sealed = payload(&key, "günaydın".as_bytes());
        assert_eq!(split(&sealed), Some((&key, "günaydın".as_bytes())));
        assert_eq!(split(&key), Some((&key, &b""[..])), "an empty text");
        assert_eq!(split(&key[..31]), None);
    }

    const VECTOR: &str = "01e2e7732f2f3d16770777c53e0ef421b3abb3d3213ff3e02de671c032875e5e";
}
