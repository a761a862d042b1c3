//! What must hold for a report's evidence, decoded and verified exactly as the server does it (`src/hub/report.rs`:
//! the frame parsed as a `ClientFrame`, at most `MAX_REVEALS` reveals, then `tanis_proto::evidence::check_shape`
//! and `verify`, the server's own functions) against stored messages this check makes up per reveal:
//!
//! - no panic;
//! - the shape check accepts exactly the reveals that are all well formed (no seq twice; `text_utf8` base64 of at
//!   most `max_text` bytes of UTF-8; `franking_key` base64 of 32 bytes: judged here with the base64 decoder alone),
//!   and hands back exactly the decoded key and text; refused, it names the first reveal that is not, for one of
//!   that reveal's defects: malformed input is never accepted;
//! - verification accepts exactly when every reveal names a message the reported user sent the reporter, inside
//!   the window, from an account not purged, with a commitment that opens to the decoded text under the decoded
//!   key, opening cross-checked with `franking::opens` and with HMAC-SHA256 computed here; what it accepts is that
//!   text; refused, it names the first reveal that fails, for the reason that comes first for it.
//!
//! The input: a byte choosing `max_text`, a count `n` (at most 32) and `n` bytes choosing what is stored for each
//! reveal (`stored`, below), then the frame's JSON (a `report` frame; a bare array of reveals is read too).
//!
//! Shared by the fuzz target (`fuzz_targets/report_evidence.rs`) and the replay of the committed corpus in the test
//! command (`proto/tests/fuzz_corpus.rs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tanis_proto::evidence::{self, Bound, MAX_REVEALS, Parties, Refusal};
use tanis_proto::{ClientFrame, Reveal, UserId, franking};

const REPORTER: UserId = UserId(1);
const REPORTED: UserId = UserId(2);
/// The default `hub.max_message_bytes` is 16 KiB; the others probe the bounds.
const MAX_TEXT: [usize; 8] = [0, 1, 2, 3, 4, 16, 100, 16 * 1024];

fn window_start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).expect("a valid time")
}

/// A reveal's key and text as the base64 decoder alone reads them, or what is wrong with it.
struct Judged {
    key: Option<[u8; 32]>,
    /// The text's bytes when they are base64; `text_ok` when they are also short enough and UTF-8.
    text: Option<Vec<u8>>,
    text_ok: bool,
}

fn judge(reveal: &Reveal, max_text: usize) -> Judged {
    let key = STANDARD.decode(&reveal.franking_key).ok().and_then(|k| <[u8; 32]>::try_from(k).ok());
    let text = STANDARD.decode(&reveal.text_utf8).ok();
    let text_ok = text.as_ref().is_some_and(|t| t.len() <= max_text && std::str::from_utf8(t).is_ok());
    Judged { key, text, text_ok }
}

fn hmac_sha256(key: &[u8], text: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(text);
    mac.finalize().into_bytes().to_vec()
}

/// What the server finds stored under reveal `i`'s seq, chosen by `mode`: bits 0–2 the message (0 franked with
/// this very text and key; 1 that commitment with bit `mode >> 5` of its first byte flipped; 2 unfranked; 3
/// nothing; 4 sent the other way; 5 sent before the window; 6 its sender purged; 7 a commitment cut to 31 bytes);
/// bit 3 another message under the same seq first, from someone else; bit 4 sent at the window's very start.
fn stored(reveal: &Reveal, judged: &Judged, mode: u8, out: &mut Vec<Bound>) {
    let key = judged.key.unwrap_or([0; 32]);
    let text = judged.text.clone().unwrap_or_else(|| reveal.text_utf8.clone().into_bytes());
    let commitment = franking::commit(&key, &text).to_vec();
    let sent_at = if mode & 0x10 != 0 { window_start() } else { window_start() + TimeDelta::seconds(60) };
    let base = Bound {
        seq: reveal.seq,
        sender_id: REPORTED,
        receiver_id: REPORTER,
        sent_at,
        commitment: Some(commitment.clone()),
        sender_purged: false,
    };
    if mode & 8 != 0 {
        out.push(Bound { sender_id: UserId(3), ..base.clone() });
    }
    let bound = match mode & 7 {
        0 => base,
        1 => {
            let mut flipped = commitment;
            flipped[0] ^= 1 << (mode >> 5);
            Bound { commitment: Some(flipped), ..base }
        }
        2 => Bound { commitment: None, ..base },
        3 => return,
        4 => Bound { sender_id: REPORTER, receiver_id: REPORTED, ..base },
        5 => Bound { sent_at: window_start() - TimeDelta::seconds(1), ..base },
        6 => Bound { sender_purged: true, ..base },
        _ => Bound { commitment: Some(commitment[..31].to_vec()), ..base },
    };
    out.push(bound);
}

pub fn check(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let max_text = MAX_TEXT[usize::from(pick) % MAX_TEXT.len()];
    let Some((&n, rest)) = rest.split_first() else { return };
    let n = usize::from(n).min(32).min(rest.len());
    let (modes, json) = rest.split_at(n);
    let Ok(text) = std::str::from_utf8(json) else { return };
    let reveals = match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Report { evidence, .. }) => evidence,
        Ok(_) => return,
        Err(_) => match serde_json::from_str::<Vec<Reveal>>(text) {
            Ok(reveals) => reveals,
            Err(_) => return,
        },
    };
    // The hub refuses more reveals than this before looking at any.
    if reveals.len() > MAX_REVEALS {
        return;
    }
    let judged: Vec<Judged> = reveals.iter().map(|r| judge(r, max_text)).collect();
    let duplicate = |i: usize| reveals[..i].iter().any(|r| r.seq == reveals[i].seq);
    let malformed = |i: usize| duplicate(i) || judged[i].key.is_none() || !judged[i].text_ok;

    let shaped = match evidence::check_shape(&reveals, max_text) {
        Ok(shaped) => shaped,
        Err((i, refusal)) => {
            let first = (0..reveals.len()).find(|&j| malformed(j));
            assert_eq!(Some(i), first, "refused reveal {i} ({refusal:?}), the first malformed is {first:?}");
            let j = &judged[i];
            let fits = match refusal {
                Refusal::Replayed => duplicate(i),
                Refusal::BadKey => j.key.is_none(),
                // Too long is judged on the base64 first, so an undecodable long text is too long.
                Refusal::TooLong => !j.text_ok && j.text.as_ref().is_none_or(|t| t.len() > max_text),
                Refusal::BadText => j.text.is_none(),
                Refusal::NotUtf8 => j.text.as_ref().is_some_and(|t| std::str::from_utf8(t).is_err()),
                _ => false,
            };
            assert!(fits, "reveal {i} refused as {refusal:?}: {:?}", reveals[i]);
            return;
        }
    };
    assert!((0..reveals.len()).all(|i| !malformed(i)), "a malformed reveal passed the shape check: {reveals:?}");
    assert_eq!(shaped.len(), reveals.len());
    for (s, j) in shaped.iter().zip(&judged) {
        assert_eq!(Some(s.key), j.key, "the key is what the base64 says");
        assert_eq!(Some(s.text.as_bytes()), j.text.as_deref(), "the text is exactly the revealed bytes");
    }

    let mut bound = Vec::new();
    for (i, (reveal, j)) in reveals.iter().zip(&judged).enumerate() {
        stored(reveal, j, modes.get(i).copied().unwrap_or(0), &mut bound);
    }
    let parties = Parties { reporter: REPORTER, reported: REPORTED, window_start: window_start() };
    // Reveal by reveal, the first reason it fails, or `None` when it verifies: the rules of the protocol.
    let expected: Vec<Option<Refusal>> = reveals
        .iter()
        .zip(&shaped)
        .map(|(reveal, s)| {
            let Some(message) =
                bound.iter().find(|b| b.seq == reveal.seq && b.sender_id == REPORTED && b.receiver_id == REPORTER)
            else {
                return Some(Refusal::NotTheirs);
            };
            if message.sent_at < window_start() {
                return Some(Refusal::Expired);
            }
            if message.sender_purged {
                return Some(Refusal::SenderDeleted);
            }
            let Some(commitment) = &message.commitment else { return Some(Refusal::Unfranked) };
            let opens = franking::opens(commitment, &s.key, s.text.as_bytes());
            assert_eq!(opens, *commitment == hmac_sha256(&s.key, s.text.as_bytes()), "franking::opens is HMAC-SHA256");
            (!opens).then_some(Refusal::Forged)
        })
        .collect();
    match evidence::verify(&reveals, &shaped, &bound, parties) {
        Ok(verified) => {
            assert!(expected.iter().all(Option::is_none), "accepted, but {expected:?}: {reveals:?}");
            assert_eq!(verified.len(), reveals.len());
            for ((v, reveal), s) in verified.iter().zip(&reveals).zip(&shaped) {
                assert_eq!(v.seq, reveal.seq);
                assert_eq!(v.text, s.text, "what is kept is the revealed text");
                let message = bound.iter().find(|b| b.seq == v.seq && b.sender_id == REPORTED).unwrap();
                assert_eq!(v.sent_at, message.sent_at);
                assert_eq!(message.commitment.as_deref(), Some(&hmac_sha256(&s.key, v.text.as_bytes())[..]));
            }
        }
        Err((i, refusal)) => {
            let first = expected.iter().position(Option::is_some);
            assert_eq!(Some(i), first, "refused reveal {i} ({refusal:?}); expected {expected:?}");
            assert_eq!(Some(refusal), expected[i], "reveal {i}");
        }
    }
}
