//! What must hold for any bytes the server reads as a WebSocket text frame: no panic; a frame that parses
//! serialises to JSON that parses back to the same frame; whenever a real JSON decoder finds U+0000 in a string,
//! `has_nul` found it too. (The converse need not hold: with a duplicate key the decoder keeps the last value, and
//! a NUL in an earlier one is still refused: the first campaign's finding, kept in the corpus.)
//!
//! Shared by the fuzz target (`fuzz_targets/client_frame.rs`) and the replay of the committed corpus in the test
//! command (`proto/tests/fuzz_corpus.rs`), so both check the same property.

use tanis_proto::{ClientFrame, has_nul};

fn decoded_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(decoded_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || decoded_nul(v)),
        _ => false,
    }
}

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let nul = has_nul(text);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        assert!(nul || !decoded_nul(&value), "has_nul missed a NUL the decoder sees in {text:?}");
    }
    if let Ok(frame) = serde_json::from_str::<ClientFrame>(text) {
        let _ = frame.id();
        let again = serde_json::to_string(&frame).expect("a parsed frame serialises");
        let back: ClientFrame = serde_json::from_str(&again).expect("a serialised frame parses");
        assert_eq!(back, frame);
    }
}
