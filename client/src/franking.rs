//! Franking on the client (docs/protocol.md, section 9, "Franking"; the primitive is [`tanis_proto::franking`]):
//! every message sealed with a fresh franking key inside, its commitment beside the ciphertext; every message
//! received checked against its commitment before it is shown, and kept revealable for a report.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tanis_proto::franking::{self, COMMITMENT_LEN, KEY_LEN};
use tanis_proto::{Reveal, Seq};

use crate::e2e::E2eError;

/// What to seal (key ‖ text) and the commitment to send beside it (base64).
#[must_use]
pub fn frank(text: &str) -> (Vec<u8>, String) {
    let key: [u8; KEY_LEN] = rand::random();
    let commitment = franking::commit(&key, text.as_bytes());
    (franking::payload(&key, text.as_bytes()), B64.encode(commitment))
}

/// A received message whose commitment opened: its text, and what a report reveals of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub text: String,
    pub reveal: Reveal,
}

/// Checks an opened payload against the commitment the server relayed with it.
///
/// # Errors
/// [`E2eError::Franking`] when there is no commitment, it is malformed, the payload holds no key, the commitment
/// does not open to the text under that key, or the text is not UTF-8. Such a message is never shown.
pub fn unfrank(seq: Seq, payload: &[u8], commitment_b64: Option<&str>) -> Result<Opened, E2eError> {
    let commitment: [u8; COMMITMENT_LEN] =
        commitment_b64.and_then(|c| B64.decode(c).ok()).and_then(|c| c.try_into().ok()).ok_or(E2eError::Franking)?;
    let (key, text) = franking::split(payload).ok_or(E2eError::Franking)?;
    if !franking::opens(&commitment, key, text) {
        return Err(E2eError::Franking);
    }
    let text = String::from_utf8(text.to_vec()).map_err(|_| E2eError::Franking)?;
    let reveal = Reveal { seq, text: text.clone(), franking_key: B64.encode(key) };
    Ok(Opened { text, reveal })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_franked_message_opens_and_reveals_what_was_sent() {
        let (payload, commitment) = frank("merhaba");
        let opened = unfrank(Seq(3), &payload, Some(&commitment)).unwrap();
        assert_eq!(opened.text, "merhaba");
        assert_eq!(opened.reveal.seq, Seq(3));
        let key = B64.decode(&opened.reveal.franking_key).unwrap();
        assert_eq!(&key[..], &payload[..KEY_LEN], "the key sealed inside is the one revealed");
    }

    #[test]
    fn a_message_whose_commitment_does_not_open_is_refused() {
        let (payload, commitment) = frank("merhaba");
        let (_, other) = frank("merhaba");
        assert_eq!(unfrank(Seq(1), &payload, Some(&other)), Err(E2eError::Franking), "another key's commitment");
        assert_eq!(unfrank(Seq(1), &payload, None), Err(E2eError::Franking), "no commitment");
        assert_eq!(unfrank(Seq(1), &payload, Some("AAAA")), Err(E2eError::Franking), "a short commitment");
        let mut altered = payload.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(unfrank(Seq(1), &altered, Some(&commitment)), Err(E2eError::Franking), "an altered text");
        assert_eq!(unfrank(Seq(1), &payload[..KEY_LEN - 1], Some(&commitment)), Err(E2eError::Franking));
    }
}
