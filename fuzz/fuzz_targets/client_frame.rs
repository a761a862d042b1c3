//! The server's first look at every WebSocket text frame: parsing a `ClientFrame` and the U+0000 scan. The
//! property is in `checks/client_frame.rs`, which the test command also runs over the committed corpus.
#![no_main]

#[path = "../checks/client_frame.rs"]
mod client_frame;

libfuzzer_sys::fuzz_target!(|data: &[u8]| client_frame::check(data));
