//! Reading a client's frame, the two frames of every message in one pass.
//!
//! [`ClientFrame`] is internally tagged (`"type"` names the variant), and serde reads such an enum in two passes:
//! the whole object into a tree of owned values (every string copied), then the variant out of that tree. A chat
//! sends `msg.send` and `msg.ack` for every message, and every client of this project (`tanis-client`, web/)
//! writes `"type"` first. So a frame that begins with one of those two tags is read in one pass into a struct of
//! the variant's fields; whatever that pass refuses is read again by the general parser, so every other frame and
//! every error reads exactly as before. (BENCHMARKS.md, issue 31, round 12.)

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::{ClientFrame, MatchId, Seq};

impl ClientFrame {
    /// Parses a frame as `serde_json::from_str::<ClientFrame>` does, with the same result for every input.
    pub fn from_json(text: &str) -> serde_json::Result<ClientFrame> {
        match one_pass(text) {
            Some(frame) => Ok(frame),
            None => serde_json::from_str(text),
        }
    }
}

/// The frame if it is a `msg.send` or `msg.ack` with its tag first and this pass accepts it.
fn one_pass(text: &str) -> Option<ClientFrame> {
    if text.starts_with(r#"{"type":"msg.send","#) {
        let MsgSend { _tag: _, id, match_id, client_msg_id, ciphertext, nonce, commitment, ack } =
            serde_json::from_str(text).ok()?;
        Some(ClientFrame::MsgSend { id, match_id, client_msg_id, ciphertext, nonce, commitment, ack })
    } else if text.starts_with(r#"{"type":"msg.ack","#) {
        let MsgAck { _tag: _, id, match_id, seq } = serde_json::from_str(text).ok()?;
        Some(ClientFrame::MsgAck { id, match_id, seq })
    } else {
        None
    }
}

// The variants' fields as `ClientFrame` declares them, and the tag, already checked by the prefix: a second
// `"type"` is a duplicate field here, and goes to the general parser, as any frame this pass refuses.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MsgSend {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    #[serde(default)]
    id: Option<String>,
    match_id: MatchId,
    client_msg_id: String,
    ciphertext: String,
    nonce: String,
    commitment: String,
    /// Version 2's piggybacked acknowledgement.
    #[serde(default)]
    ack: Option<Seq>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MsgAck {
    #[serde(rename = "type")]
    _tag: IgnoredAny,
    #[serde(default)]
    id: Option<String>,
    match_id: MatchId,
    seq: Seq,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input reads as the general parser reads it: the frame, or an error with the same message.
    fn same_as_serde(text: &str) {
        let general = serde_json::from_str::<ClientFrame>(text).map_err(|e| e.to_string());
        assert_eq!(ClientFrame::from_json(text).map_err(|e| e.to_string()), general, "{text}");
    }

    #[test]
    fn the_frames_of_every_message_are_read_in_one_pass_as_the_general_parser_reads_them() {
        let send = r#"{"type":"msg.send","id":"r1","match_id":7,"client_msg_id":"c-1","ciphertext":"q83v","nonce":"AAEC","commitment":"3q2+7w=="}"#;
        let ack = r#"{"type":"msg.ack","match_id":7,"seq":42}"#;
        assert!(one_pass(send).is_some() && one_pass(ack).is_some(), "both take the one pass");
        assert_eq!(
            one_pass(send),
            Some(ClientFrame::MsgSend {
                id: Some("r1".into()),
                match_id: MatchId(7),
                client_msg_id: "c-1".into(),
                ciphertext: "q83v".into(),
                nonce: "AAEC".into(),
                commitment: "3q2+7w==".into(),
                ack: None,
            })
        );
        // Version 2: the acknowledgement riding on a send takes the one pass too.
        let piggybacked = r#"{"type":"msg.send","match_id":7,"client_msg_id":"c-2","ciphertext":"q83v","nonce":"AAEC","commitment":"3q2+7w==","ack":41}"#;
        assert!(matches!(one_pass(piggybacked), Some(ClientFrame::MsgSend { ack: Some(Seq(41)), .. })));
        same_as_serde(piggybacked);
        for text in [
            send,
            ack,
            // What serde writes, whatever the field order after the tag, with escapes and a null id.
            &serde_json::to_string(&one_pass(send).unwrap()).unwrap(),
            r#"{"type":"msg.send","commitment":"x","nonce":"n","ciphertext":"c\u00e7\n\"","client_msg_id":"é","match_id":1,"id":null}"#,
            r#"{"type":"msg.ack","seq":1,"match_id":-3,"id":"a"}"#,
        ] {
            assert!(one_pass(text).is_some(), "{text}");
            same_as_serde(text);
        }
    }

    #[test]
    fn what_the_one_pass_refuses_or_does_not_take_reads_as_before() {
        for text in [
            // Refused by the one pass, then by the general parser with its own words.
            r#"{"type":"msg.send","match_id":7,"client_msg_id":"c","ciphertext":"q","nonce":"n"}"#,
            r#"{"type":"msg.send","match_id":7,"client_msg_id":"c","ciphertext":"q","nonce":"n","commitment":"x","extra":1}"#,
            r#"{"type":"msg.send","type":"msg.ack","match_id":7,"seq":1}"#,
            r#"{"type":"msg.ack","match_id":"7","seq":1}"#,
            r#"{"type":"msg.ack","match_id":7,"seq":1.5}"#,
            r#"{"type":"msg.send","match_id":7,"client_msg_id":"c","ciphertext":"q","nonce":"n","commitment":"x","ack":"1"}"#,
            r#"{"type":"msg.send","match_id":7,"client_msg_id":"c","ciphertext":"q","nonce":"n","commitment":"x","ack":1,"ack":2}"#,
            r#"{"type":"msg.ack","match_id":7,"seq":9223372036854775808}"#,
            r#"{"type":"msg.ack","match_id":7,"seq":1,"match_id":8}"#,
            r#"{"type":"msg.ack","match_id":7,"seq":1} trailing"#,
            r#"{"type":"msg.ack","match_id":7,"seq":1"#,
            // Not taken by the one pass at all: the tag later, spaces, another frame.
            r#"{"match_id":7,"type":"msg.ack","seq":1}"#,
            r#"{ "type": "msg.ack", "match_id": 7, "seq": 1 }"#,
            r#"{"type":"msg.acknowledge","match_id":7,"seq":1}"#,
            r#"{"type":"ping","id":"p"}"#,
            "not json",
        ] {
            same_as_serde(text);
        }
    }
}
