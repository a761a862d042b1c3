//! The server's first look at every WebSocket text frame: parsing a `ClientFrame` and the U+0000 scan. For any
//! input: no panic; a frame that parses serialises to JSON that parses back to the same frame; whenever a real
//! JSON decoder finds U+0000 in a string, `has_nul` found it too. (The converse need not hold: with a duplicate
//! key the decoder keeps the last value, and a NUL in an earlier one is still refused: the first campaign's
//! finding, kept in the corpus.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use tanis_proto::{ClientFrame, has_nul};

fn decoded_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(decoded_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || decoded_nul(v)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
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
});
