//! The relay-only privacy filter over SDP and trickled candidates. The property is in `checks/sdp_filter.rs`,
//! which the test command also runs over the committed corpus.
#![no_main]

// The filter is pure std: its source is compiled in directly, so this target links none of the TURN stack
// (webrtc-rs) that the rest of tanis-signaling needs (the `turn_server` target links it).
#[path = "../../signaling/src/privacy/mod.rs"]
#[allow(dead_code)]
mod privacy;

#[path = "../checks/sdp_filter.rs"]
mod sdp_filter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sdp_filter::check(data));
