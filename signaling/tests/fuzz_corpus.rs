//! The committed cargo-fuzz corpora of `sdp_filter` and `turn_server` (fuzz/corpus/<target>: the seeds and what
//! campaigns found worth keeping, minimised), replayed through each fuzz target's own property on every test run.

/// The filter under the name the shared property expects (the fuzz target compiles the same file as `privacy`).
mod privacy {
    pub use tanis_signaling::privacy::*;
}

#[path = "../../fuzz/checks/sdp_filter.rs"]
mod sdp_filter;

#[test]
fn every_input_of_the_sdp_filter_corpus_still_holds_the_property() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/sdp_filter");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("the committed corpus") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        sdp_filter::check(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "an empty corpus replays nothing: {dir}");
}

#[path = "../../fuzz/checks/turn_server.rs"]
mod turn_server;

#[test]
fn every_input_of_the_turn_server_corpus_still_holds_the_property() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/turn_server");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("the committed corpus") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        turn_server::check(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "an empty corpus replays nothing: {dir}");
}
