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

/// A received message whose commitment opened: its text (exactly as sent: a leading U+FEFF is text too), and what a
/// report reveals of it (the bytes committed to, base64).
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
    let shown = String::from_utf8(text.to_vec()).map_err(|_| E2eError::Franking)?;
    // The bytes that opened, never a re-encoding of what is shown: those are what the commitment is to.
    let reveal = Reveal { seq, text_utf8: B64.encode(text), franking_key: B64.encode(key) };
    Ok(Opened { text: shown, reveal })
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
        assert_eq!(B64.decode(&opened.reveal.text_utf8).unwrap(), b"merhaba");
    }

    /// The largest text a ciphertext of the hub's default `max_message_bytes` (16 KiB) carries: less the franking
    /// key and the AEAD tag.
    const MAX_TEXT: usize = 16 * 1024 - KEY_LEN - 16;

    #[test]
    fn every_text_that_is_shown_reveals_the_exact_bytes_that_were_committed() {
        let texts = ["\u{feff}merhaba".to_owned(), "a\0b".to_owned(), "\u{1}".repeat(5000), "\"".repeat(MAX_TEXT)];
        for text in texts {
            let (payload, commitment) = frank(&text);
            let opened = unfrank(Seq(1), &payload, Some(&commitment)).unwrap();
            assert_eq!(opened.text, text, "shown as sent");
            let revealed = B64.decode(&opened.reveal.text_utf8).unwrap();
            assert_eq!(revealed, text.as_bytes());
            let key = B64.decode(&opened.reveal.franking_key).unwrap();
            assert!(franking::opens(&B64.decode(&commitment).unwrap(), &key, &revealed), "the reveal opens");
            // Plain base64 in the frame: nothing for JSON to escape, so the reveal is as long as its base64.
            let json = serde_json::to_string(&opened.reveal).unwrap();
            assert!(json.len() < text.len().div_ceil(3) * 4 + 100, "{} bytes of JSON", json.len());
        }
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
