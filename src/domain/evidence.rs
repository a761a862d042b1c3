//! A report's evidence under end-to-end encryption: the reveals of a report checked against what the server bound
//! when each message was sent. The code is in the protocol crate ([`tanis_proto::evidence`]), where the cargo-fuzz
//! target `report_evidence` runs it without building the server (docs/fuzzing.md); this is the server's name for it.

pub use tanis_proto::evidence::*;
