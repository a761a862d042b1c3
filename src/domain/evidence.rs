//! A report's evidence under end-to-end encryption: the messages a reporter reveals (the text's exact bytes and
//! the franking key) are checked against what the server bound when each was sent — sender, receiver, match, seq, time and the sender's
//! commitment (docs/protocol.md, section 9, "Franking"). Pure: the hub reads the bound facts and stores what
//! passes; nothing of a report with one bad reveal is stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use tanis_proto::franking::{self, KEY_LEN};
use tanis_proto::{ErrorCode, Reveal};

use super::{Seq, UserId};

/// Most messages one report may reveal.
pub const MAX_REVEALS: usize = 20;

/// What the server bound when a message was sent (`message_logs`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Bound {
    pub seq: Seq,
    pub sender_id: UserId,
    pub receiver_id: UserId,
    pub sent_at: DateTime<Utc>,
    /// `None` for a message stored before franking.
    pub commitment: Option<Vec<u8>>,
}

/// A reveal that opened its commitment: what moderators are shown, marked verified. The text is exactly what the
/// sender committed to, a U+0000 or a leading U+FEFF included (the store keeps its bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub seq: Seq,
    pub sent_at: DateTime<Utc>,
    pub text: String,
}

/// A reveal whose format is right: its franking key and its text, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub key: [u8; KEY_LEN],
    pub text: String,
}

/// Why a reveal is refused; the whole report is then refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The franking key is not base64 of 32 bytes.
    BadKey,
    /// `text_utf8` is not base64.
    BadText,
    /// The text is longer than any message could be.
    TooLong,
    /// The text's bytes are not UTF-8: no client shows such a message, so none can be evidence.
    NotUtf8,
    /// The same message named twice, or already evidence of this reporter's report.
    Replayed,
    /// No such message from the reported user to the reporter in that match.
    NotTheirs,
    /// Stored before franking: nothing to verify against.
    Unfranked,
    /// The commitment does not open to this text under this key.
    Forged,
}

impl Refusal {
    pub fn code(self) -> ErrorCode {
        match self {
            Refusal::BadKey | Refusal::BadText => ErrorCode::InvalidBase64,
            Refusal::TooLong | Refusal::NotUtf8 => ErrorCode::InvalidField,
            Refusal::Replayed => ErrorCode::EvidenceReplayed,
            Refusal::NotTheirs => ErrorCode::EvidenceNotTheirs,
            Refusal::Unfranked => ErrorCode::EvidenceUnfranked,
            Refusal::Forged => ErrorCode::EvidenceForged,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::BadKey => "franking_key is not base64 of 32 bytes",
            Refusal::BadText => "text_utf8 is not base64",
            Refusal::TooLong => "text_utf8 is longer than a message can be",
            Refusal::NotUtf8 => "text_utf8 is not UTF-8",
            Refusal::Replayed => "this message is named twice or is already evidence of your report",
            Refusal::NotTheirs => "no such message from the reported user to you in that match",
            Refusal::Unfranked => "this message was stored without a commitment and cannot be verified",
            Refusal::Forged => "the text and key do not open the commitment bound when the message was sent",
        }
    }
}

/// A refused reveal: its index in `evidence`, and why.
pub type Refused = (usize, Refusal);

/// The checks that need no stored fact, each reveal in turn: no message named twice, a text that is base64 of at
/// most `max_text` bytes of UTF-8, a key that is base64 of 32 bytes. The keys and texts, decoded.
pub fn check_shape(reveals: &[Reveal], max_text: usize) -> Result<Vec<Shaped>, Refused> {
    let mut shaped = Vec::with_capacity(reveals.len());
    for (i, reveal) in reveals.iter().enumerate() {
        if reveals[..i].iter().any(|earlier| earlier.seq == reveal.seq) {
            return Err((i, Refusal::Replayed));
        }
        let text = text_of(&reveal.text_utf8, max_text).map_err(|refusal| (i, refusal))?;
        let key = (reveal.franking_key.len() == 44).then(|| STANDARD.decode(&reveal.franking_key).ok()).flatten();
        let key = key.and_then(|k| k.try_into().ok()).ok_or((i, Refusal::BadKey))?;
        shaped.push(Shaped { key, text });
    }
    Ok(shaped)
}

/// The text of `text_utf8`: base64 of at most `max_text` bytes, which must be UTF-8.
fn text_of(text_utf8: &str, max_text: usize) -> Result<String, Refusal> {
    // Longer than the base64 of any message's text: refused before anything is decoded.
    if text_utf8.len() > max_text.div_ceil(3) * 4 {
        return Err(Refusal::TooLong);
    }
    let bytes = STANDARD.decode(text_utf8).map_err(|_| Refusal::BadText)?;
    if bytes.len() > max_text {
        return Err(Refusal::TooLong);
    }
    String::from_utf8(bytes).map_err(|_| Refusal::NotUtf8)
}

/// Each reveal against the message bound under its seq: sent by `reported` to `reporter`, franked, and opening.
/// `shaped` is what [`check_shape`] made of `reveals`.
pub fn verify(
    reveals: &[Reveal],
    shaped: &[Shaped],
    bound: &[Bound],
    reporter: UserId,
    reported: UserId,
) -> Result<Vec<Verified>, Refused> {
    reveals
        .iter()
        .zip(shaped)
        .enumerate()
        .map(|(i, (reveal, Shaped { key, text }))| {
            let message = bound
                .iter()
                .find(|b| b.seq == reveal.seq && b.sender_id == reported && b.receiver_id == reporter)
                .ok_or((i, Refusal::NotTheirs))?;
            let commitment = message.commitment.as_deref().ok_or((i, Refusal::Unfranked))?;
            if !franking::opens(commitment, key, text.as_bytes()) {
                return Err((i, Refusal::Forged));
            }
            Ok(Verified { seq: message.seq, sent_at: message.sent_at, text: text.clone() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORTER: UserId = UserId(1);
    const REPORTED: UserId = UserId(2);
    const KEY: [u8; KEY_LEN] = [9; KEY_LEN];

    fn reveal(seq: i64, text: &str, key: &[u8]) -> Reveal {
        reveal_bytes(seq, text.as_bytes(), key)
    }

    fn reveal_bytes(seq: i64, text: &[u8], key: &[u8]) -> Reveal {
        Reveal { seq: Seq(seq), text_utf8: STANDARD.encode(text), franking_key: STANDARD.encode(key) }
    }

    fn bound(seq: i64, sender: UserId, receiver: UserId, text: Option<&str>) -> Bound {
        let commitment = text.map(|t| franking::commit(&KEY, t.as_bytes()).to_vec());
        Bound { seq: Seq(seq), sender_id: sender, receiver_id: receiver, sent_at: DateTime::UNIX_EPOCH, commitment }
    }

    type Outcome = Result<Vec<Seq>, Refused>;

    fn outcome(reveals: &[Reveal], stored: &[Bound]) -> Outcome {
        let shaped = check_shape(reveals, 100)?;
        Ok(verify(reveals, &shaped, stored, REPORTER, REPORTED)?.into_iter().map(|v| v.seq).collect())
    }

    #[test]
    fn each_reveal_is_verified_or_the_report_is_refused_naming_the_first_bad_one() {
        let stored = [
            bound(1, REPORTED, REPORTER, Some("sen kimsin")),
            bound(2, REPORTER, REPORTED, Some("merhaba")),
            bound(3, REPORTED, REPORTER, None),
            bound(4, REPORTED, REPORTER, Some("çirkin söz")),
        ];
        let cases: &[(&[Reveal], Outcome)] = &[
            (&[reveal(1, "sen kimsin", &KEY)], Ok(vec![Seq(1)])),
            (&[reveal(1, "sen kimsin", &KEY), reveal(4, "çirkin söz", &KEY)], Ok(vec![Seq(1), Seq(4)])),
            (&[reveal(1, "sen kimsin!", &KEY)], Err((0, Refusal::Forged))),
            (&[reveal(1, "sen kimsin", &[8; KEY_LEN])], Err((0, Refusal::Forged))),
            // The reporter's own message: not the reported user's to answer for.
            (&[reveal(2, "merhaba", &KEY)], Err((0, Refusal::NotTheirs))),
            (&[reveal(9, "yok", &KEY)], Err((0, Refusal::NotTheirs))),
            (&[reveal(3, "eski", &KEY)], Err((0, Refusal::Unfranked))),
            // A true reveal moved to another seq does not open that seq's commitment.
            (&[reveal(4, "sen kimsin", &KEY)], Err((0, Refusal::Forged))),
            (&[reveal(1, "sen kimsin", &KEY), reveal(1, "sen kimsin", &KEY)], Err((1, Refusal::Replayed))),
            (&[reveal(1, "sen kimsin", &KEY[..31])], Err((0, Refusal::BadKey))),
            (
                &[Reveal { seq: Seq(1), text_utf8: "eA==".into(), franking_key: "not base64!".into() }],
                Err((0, Refusal::BadKey)),
            ),
            (&[reveal(1, &"a".repeat(101), &KEY)], Err((0, Refusal::TooLong))),
            (
                &[Reveal { seq: Seq(1), text_utf8: "a".repeat(137), franking_key: STANDARD.encode(KEY) }],
                Err((0, Refusal::TooLong)),
            ),
            (
                &[Reveal { seq: Seq(1), text_utf8: "sen kimsin".into(), franking_key: STANDARD.encode(KEY) }],
                Err((0, Refusal::BadText)),
            ),
            (&[reveal_bytes(1, b"sen kimsin\xff", &KEY)], Err((0, Refusal::NotUtf8))),
            // Every format is checked before any reveal is verified: the second one's bad key comes first.
            (&[reveal(1, "sen kimsin!", &KEY), reveal(4, "çirkin söz", &KEY[..31])], Err((1, Refusal::BadKey))),
            (&[reveal(1, "sen kimsin", &KEY), reveal(2, "merhaba", &KEY)], Err((1, Refusal::NotTheirs))),
        ];
        for (reveals, expected) in cases {
            assert_eq!(&outcome(reveals, &stored), expected, "{reveals:?}");
        }
    }

    #[test]
    fn the_exact_bytes_committed_verify_whatever_they_hold_and_are_kept_as_they_were() {
        let max = 200;
        let texts = ["\u{feff}merhaba".to_owned(), "a\0b\0".to_owned(), "\u{1}".repeat(max), "\"".repeat(max)];
        for text in texts {
            let stored = [bound_bytes(1, text.as_bytes())];
            let reveals = [reveal(1, &text, &KEY)];
            let shaped = check_shape(&reveals, max).unwrap();
            let verified = verify(&reveals, &shaped, &stored, REPORTER, REPORTED).unwrap();
            assert_eq!(verified[0].text, text);
        }
        // What a decoder that drops the byte-order mark would reveal no longer opens the commitment.
        let stored = [bound_bytes(1, "\u{feff}merhaba".as_bytes())];
        let reveals = [reveal(1, "merhaba", &KEY)];
        let shaped = check_shape(&reveals, max).unwrap();
        assert_eq!(verify(&reveals, &shaped, &stored, REPORTER, REPORTED), Err((0, Refusal::Forged)));
        // One byte more than a message can hold is refused, whatever it is.
        assert_eq!(check_shape(&[reveal(1, &"\"".repeat(max + 1), &KEY)], max), Err((0, Refusal::TooLong)));
    }

    fn bound_bytes(seq: i64, text: &[u8]) -> Bound {
        let commitment = Some(franking::commit(&KEY, text).to_vec());
        Bound { seq: Seq(seq), sender_id: REPORTED, receiver_id: REPORTER, sent_at: DateTime::UNIX_EPOCH, commitment }
    }

    #[test]
    fn a_message_to_someone_else_is_not_evidence_for_the_reporter() {
        let stored = [bound(1, REPORTED, UserId(3), Some("sen kimsin"))];
        assert_eq!(outcome(&[reveal(1, "sen kimsin", &KEY)], &stored), Err((0, Refusal::NotTheirs)));
    }
}
