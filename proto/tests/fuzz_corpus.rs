//! The committed cargo-fuzz corpora of `client_frame` and `report_evidence` (fuzz/corpus/<target>: the seeds and
//! what campaigns found worth keeping, minimised), replayed through each fuzz target's own property on every test
//! run: an input that once exercised a path keeps exercising it without the nightly toolchain or a campaign.

#[path = "../../fuzz/checks/client_frame.rs"]
mod client_frame;

#[test]
fn every_input_of_the_client_frame_corpus_still_holds_the_property() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/client_frame");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("the committed corpus") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        // A failing input names itself: the assertion's own message says what broke.
        eprintln!("replaying {}", path.display());
        client_frame::check(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "an empty corpus replays nothing: {dir}");
}

#[path = "../../fuzz/checks/report_evidence.rs"]
mod report_evidence;

#[test]
fn every_input_of_the_report_evidence_corpus_still_holds_the_property() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/report_evidence");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("the committed corpus") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        eprintln!("replaying {}", path.display());
        report_evidence::check(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "an empty corpus replays nothing: {dir}");
}
