//! A report's evidence as the server decodes and verifies it (`tanis_proto::evidence`, which `src/hub/report.rs`
//! calls): the reveals of a `report` frame against stored messages the input chooses. The property is in
//! `checks/report_evidence.rs`, which the test command also runs over the committed corpus.
#![no_main]

#[path = "../checks/report_evidence.rs"]
mod report_evidence;

libfuzzer_sys::fuzz_target!(|data: &[u8]| report_evidence::check(data));
