//! What must hold for any bytes read as an SDP or a trickled candidate by the relay-only privacy filter: no panic;
//! what `sanitize_sdp` returns has no line `relay_only_violations` would flag (the server asserts exactly this
//! before forwarding); sanitising twice changes nothing more; a candidate that `sanitize_candidate` lets through is
//! a relay candidate, and sanitising it again changes nothing.
//!
//! Shared by the fuzz target (`fuzz_targets/sdp_filter.rs`) and the replay of the committed corpus in the test
//! command (`signaling/tests/fuzz_corpus.rs`); each includes the filter as its own `privacy` module.

use super::privacy::{CandidateType, candidate_type, relay_only_violations, sanitize_candidate, sanitize_sdp};

pub fn check(data: &[u8]) {
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
}
