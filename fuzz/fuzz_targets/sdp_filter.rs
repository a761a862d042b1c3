//! The relay-only privacy filter over SDP and trickled candidates. For any input: no panic; what
//! `sanitize_sdp` returns has no line `relay_only_violations` would flag (the server asserts exactly this before
//! forwarding); sanitising twice changes nothing more; a candidate that `sanitize_candidate` lets through is a
//! relay candidate, and sanitising it again changes nothing.
#![no_main]

// The filter is pure std: its source is compiled in directly, which keeps the TURN stack (webrtc-rs) that the
// rest of tanis-signaling needs out of the instrumented build.
#[path = "../../signaling/src/privacy.rs"]
#[allow(dead_code)]
mod privacy;

use libfuzzer_sys::fuzz_target;
use privacy::{CandidateType, candidate_type, relay_only_violations, sanitize_candidate, sanitize_sdp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let filtered = sanitize_sdp(text);
    let violations = relay_only_violations(&filtered.sdp);
    assert!(violations.is_empty(), "sanitised SDP still leaks {violations:?}\ninput: {text:?}");
    let twice = sanitize_sdp(&filtered.sdp);
    assert_eq!(twice.sdp, filtered.sdp, "sanitising is idempotent");
    assert_eq!(twice.removed, 0);
    if let Some(clean) = sanitize_candidate(text) {
        assert_eq!(candidate_type(text), Some(CandidateType::Relay));
        assert_eq!(candidate_type(&clean), Some(CandidateType::Relay));
        assert_eq!(sanitize_candidate(&clean).as_deref(), Some(clean.as_str()), "idempotent on {text:?}");
    }
});
