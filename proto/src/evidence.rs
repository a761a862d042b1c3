//! A report's evidence under end-to-end encryption: the messages a reporter reveals (the text's exact bytes and
//! the franking key) are checked against what the server bound when each was sent — sender, receiver, match, seq, time and the sender's
//! commitment (docs/protocol.md, section 9, "Franking"). Pure: the hub reads the bound facts and stores what
//! passes; nothing of a report with one bad reveal is stored. A commitment serves only within the report window
//! (`jobs.report_window_days`) and while its sender's account exists: past either, the message is no longer
//! evidence, whether or not the expiry or the purge has cleared the commitment yet.
//!
//! This is the server's code (`src/hub/report.rs` calls it through `tanis::domain::evidence`, a re-export); it lives
//! in the protocol crate so that the cargo-fuzz target `report_evidence` (fuzz/, docs/fuzzing.md) runs exactly it
//! without building the server.

use crate::franking::{self, KEY_LEN};
use crate::{ErrorCode, Reveal, Seq, UserId};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

/// Most messages one report may reveal.
pub const MAX_REVEALS: usize = 20;

/// Longest accepted report `details`, in characters.
pub const MAX_DETAILS: usize = 1000;

/// The largest `report` frame a client can need to send: [`MAX_REVEALS`] reveals of messages of
/// `max_message_bytes` each (the committed bytes in base64) with `details` of [`MAX_DETAILS`] characters, every one
/// escaped as a JSON encoder may (a character outside the BMP as two `\uXXXX`, 12 bytes). A report may be this
/// large although every other frame is held to `hub.max_frame_bytes` (docs/protocol.md, "Limits").
pub fn max_report_frame_bytes(max_message_bytes: usize) -> usize {
    // `{"seq":-9223372036854775808,"…":"` + `","franking_key":"` + 44 + `"},`, with room for the field's name.
    const PER_REVEAL: usize = 160;
    // The type, the id, the match, the reason and the keys around them.
    const ENVELOPE: usize = 1024;
    let base64 = max_message_bytes.div_ceil(3) * 4;
    MAX_REVEALS * (base64 + PER_REVEAL) + MAX_DETAILS * 12 + ENVELOPE
}

/// What the server bound when a message was sent (`message_logs`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Bound {
    pub seq: Seq,
    pub sender_id: UserId,
    pub receiver_id: UserId,
    pub sent_at: DateTime<Utc>,
    /// `None` for a message stored before franking, or whose commitment was cleared (out of the report window,
    /// or its sender's account purged).
    pub commitment: Option<Vec<u8>>,
    /// The sender's account was purged: the message is the tombstone's (`store::purge`).
    pub sender_purged: bool,
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
    /// Sent before the report window opened: its commitment is no longer kept.
    Expired,
    /// Its sender's account was deleted (purged): its commitment went with it.
    SenderDeleted,
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
            Refusal::Expired | Refusal::SenderDeleted => ErrorCode::EvidenceExpired,
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
            Refusal::Expired => "this message is older than the report window and can no longer be verified",
            Refusal::SenderDeleted => "this message's sender deleted their account; it can no longer be verified",
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

/// Who reports whom, and from when on messages can still be revealed.
#[derive(Debug, Clone, Copy)]
pub struct Parties {
    pub reporter: UserId,
    pub reported: UserId,
    /// The start of the report window: a message sent before it is no longer evidence.
    pub window_start: DateTime<Utc>,
}

/// Each reveal against the message bound under its seq: sent by the reported user to the reporter, within the
/// report window by an account that still exists, franked, and opening.
/// `shaped` is what [`check_shape`] made of `reveals`.
pub fn verify(
    reveals: &[Reveal],
    shaped: &[Shaped],
    bound: &[Bound],
    parties: Parties,
) -> Result<Vec<Verified>, Refused> {
    let Parties { reporter, reported, window_start } = parties;
    reveals
        .iter()
        .zip(shaped)
        .enumerate()
        .map(|(i, (reveal, Shaped { key, text }))| {
            let message = bound
                .iter()
                .find(|b| b.seq == reveal.seq && b.sender_id == reported && b.receiver_id == reporter)
                .ok_or((i, Refusal::NotTheirs))?;
            if message.sent_at < window_start {
                return Err((i, Refusal::Expired));
            }
            if message.sender_purged {
                return Err((i, Refusal::SenderDeleted));
            }
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

    /// The report window opens at this time in these tests; messages are sent at it unless a case says otherwise.
    const WINDOW_START: DateTime<Utc> = DateTime::UNIX_EPOCH;
    const PARTIES: Parties = Parties { reporter: REPORTER, reported: REPORTED, window_start: WINDOW_START };

    fn bound(seq: i64, sender: UserId, receiver: UserId, text: Option<&str>) -> Bound {
        let commitment = text.map(|t| franking::commit(&KEY, t.as_bytes()).to_vec());
        Bound {
            seq: Seq(seq),
            sender_id: sender,
            receiver_id: receiver,
            sent_at: WINDOW_START,
            commitment,
            sender_purged: false,
        }
    }

    type Outcome = Result<Vec<Seq>, Refused>;

    fn outcome(reveals: &[Reveal], stored: &[Bound]) -> Outcome {
        let shaped = check_shape(reveals, 100)?;
        Ok(verify(reveals, &shaped, stored, PARTIES)?.into_iter().map(|v| v.seq).collect())
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
    fn a_message_sent_before_the_window_or_by_a_deleted_account_is_no_longer_evidence() {
        let stored = [
            bound(1, REPORTED, REPORTER, Some("dün")),
            Bound {
                sent_at: WINDOW_START - chrono::TimeDelta::seconds(1),
                ..bound(2, REPORTED, REPORTER, Some("eski"))
            },
            Bound { sender_purged: true, ..bound(3, REPORTED, REPORTER, Some("silinen")) },
            // Cleared by the expiry: out of the window all the same, not "stored before franking".
            Bound { sent_at: WINDOW_START - chrono::TimeDelta::days(1), ..bound(4, REPORTED, REPORTER, None) },
        ];
        assert_eq!(outcome(&[reveal(1, "dün", &KEY)], &stored), Ok(vec![Seq(1)]), "sent as the window opens");
        assert_eq!(outcome(&[reveal(2, "eski", &KEY)], &stored), Err((0, Refusal::Expired)));
        assert_eq!(outcome(&[reveal(3, "silinen", &KEY)], &stored), Err((0, Refusal::SenderDeleted)));
        assert_eq!(outcome(&[reveal(4, "eski", &KEY)], &stored), Err((0, Refusal::Expired)));
        assert_eq!(Refusal::SenderDeleted.code(), ErrorCode::EvidenceExpired);
    }

    #[test]
    fn a_message_to_someone_else_is_not_evidence_for_the_reporter() {
        let stored = [bound(1, REPORTED, UserId(3), Some("sen kimsin"))];
        assert_eq!(outcome(&[reveal(1, "sen kimsin", &KEY)], &stored), Err((0, Refusal::NotTheirs)));
    }
}
