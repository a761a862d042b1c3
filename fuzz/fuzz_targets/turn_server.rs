//! The embedded TURN server's handling of what anyone on the internet may send it: UDP datagrams, TCP stream
//! chunks (its framing and reassembly), ChannelData, and datagrams from peers to its relay sockets, with its state
//! (allocations, permissions, channels, nonces, the clock) carried across each input's events. The input format
//! and the property are in `checks/turn_server.rs`, which the test command also runs over the committed corpus.
#![no_main]

#[path = "../checks/turn_server.rs"]
mod turn_server;

libfuzzer_sys::fuzz_target!(|data: &[u8]| turn_server::check(data));
