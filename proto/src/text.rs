//! Text that a store cannot hold. PostgreSQL's `text` refuses U+0000 (SQLite stores it), so a string holding it
//! must be refused where it enters, for both stores alike: otherwise one client's NUL fails a whole batch of
//! other people's messages on PostgreSQL. It is the only such character: every other Unicode scalar value fits
//! both, lone surrogates cannot be decoded into a Rust `String` (serde_json refuses them), and header values
//! cannot carry control characters at all (HTTP parsing refuses them).

/// Whether a JSON document contains a string (value or key) that decodes to U+0000.
///
/// JSON can only spell that character as the escape `\u0000` (a raw control character inside a string is
/// invalid JSON), so this scans for the escape instead of decoding: one pass over backslashes, cheap enough for
/// every frame. An escaped backslash followed by `u0000` (`\\u0000`, the six characters `\u0000`) is not a NUL.
/// On text that is not valid JSON the answer does not matter: the parser refuses it anyway. With a duplicate key
/// a decoder keeps only the last value, yet a NUL in an earlier one still counts: refusing is the safe side.
pub fn has_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'\\') {
        let at = i + offset;
        if bytes.get(at + 1) == Some(&b'u') && bytes.get(at + 2..at + 6) == Some(b"0000") {
            return true;
        }
        // Skip the escaped character too, so the second backslash of `\\` never starts an escape.
        i = at + 2;
        if i >= bytes.len() {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::has_nul;

    fn decoded_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(decoded_nul),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || decoded_nul(v)),
            _ => false,
        }
    }

    #[test]
    fn finds_the_nul_escape_in_values_and_keys_and_nothing_else() {
        for (json, nul) in [
            (r#"{"a":"b"}"#, false),
            (r#"{"a":"\u0000"}"#, true),
            (r#"{"a":"x\u0000y"}"#, true),
            (r#"{"\u0000":1}"#, true),
            (r#"{"a":["ok","\u0000"]}"#, true),
            (r#"{"a":"\\u0000"}"#, false),
            (r#"{"a":"\\\u0000"}"#, true),
            (r#"{"a":"\\\\u0000"}"#, false),
            (r#"{"a":"\u00001"}"#, true),
            (r#"{"a":"\u0001"}"#, false),
            (r#"{"a":"\u1000"}"#, false),
            (r#"{"a":"\"\u0000"}"#, true),
            (r#"{"a":"\\"}"#, false),
            ("\\", false),
            ("\\u000", false),
            // A duplicate key: the decoder keeps the last value, the scan still refuses the earlier NUL. Erring
            // on the refusing side is the point (found by the fuzzer, fuzz/corpus/client_frame).
            (r#"{"a":"\u0000","a":"x"}"#, true),
        ] {
            assert_eq!(has_nul(json), nul, "{json}");
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
                assert!(nul || !decoded_nul(&value), "never misses what a real decoder finds: {json}");
            }
        }
    }
}
