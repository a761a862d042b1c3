//! The token pairs of the corpus (conformance/README.md, "Tokens"): JWTs as tanis issues them, built the same way by
//! every runner, so a client that reads `exp` refreshes at the times the scenarios pin.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};

/// Access token `n` (1, 2, 3), living 15 minutes and expiring at `900 · n` seconds.
#[must_use]
pub fn access(n: u64) -> String {
    let exp = 900 * n;
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let fields = format!(
        r#"{{"sub":"1","role":"user","iat":{},"exp":{exp},"jti":"access-{n}","sid":"00000000-0000-4000-8000-000000000001"}}"#,
        exp - 900
    );
    format!("{}.{}.{}", B64URL.encode(header), B64URL.encode(fields), "A".repeat(43))
}

#[must_use]
pub fn refresh(n: u64) -> String {
    format!("refresh-{n}")
}

/// Pair `n` as `POST /v1/auth/login` or `/refresh` answers it.
#[must_use]
pub fn pair(n: u64) -> Value {
    let expires = chrono::DateTime::from_timestamp(i64::try_from(900 * n).expect("small"), 0).expect("in range");
    json!({
        "access_token": access(n),
        "access_token_expires_at": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "refresh_token": refresh(n),
        "refresh_token_expires_at": "1970-01-31T00:00:00Z",
        "token_type": "Bearer",
    })
}

/// The variables bound from the start: `$access`, `$refresh`, `$access2`, ...
pub fn bind(vars: &mut std::collections::HashMap<String, Value>) {
    for n in 1..=3 {
        let suffix = if n == 1 { String::new() } else { n.to_string() };
        vars.insert(format!("$access{suffix}"), Value::String(access(n)));
        vars.insert(format!("$refresh{suffix}"), Value::String(refresh(n)));
    }
}
