//! The conformance corpus (conformance/README.md) run against the client core: every scenario of
//! conformance/scenarios, the same files the TypeScript SDK's runner and the Kotlin binding read. A scenario that
//! fails is named with the step it failed at; none is skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tanis_client::core::testkit::{self, Out, Subject};
use tanis_client::core::{Core, MemoryStorage, Millis, Output};
use tanis_proto::MatchKind;

/// The core on storage that outlives it (a `restart` makes a new core on the same storage).
struct CoreSubject {
    storage: Arc<MemoryStorage>,
    secrets: Arc<MemoryStorage>,
    core: Core,
}

impl CoreSubject {
    fn new() -> Self {
        let storage = Arc::new(MemoryStorage::default());
        let secrets = Arc::new(MemoryStorage::default());
        let core = Core::new(Box::new(storage.clone()), Box::new(secrets.clone()));
        Self { storage, secrets, core }
    }
}

fn outs(out: Vec<Output>) -> Vec<Out> {
    out.into_iter()
        .map(|o| match o {
            Output::Send(frame) => Out::Frame(frame),
            Output::Connect { token } => Out::Connect(token),
            Output::Disconnect => Out::Disconnect,
            Output::Request(r) => Out::Request(testkit::request_json(r.id, &r.method, &r.path, r.body.as_deref())),
            Output::Event(event) => Out::Event(testkit::counted(&event)),
        })
        .collect()
}

impl Subject for CoreSubject {
    fn start(&mut self, now: u64) -> Vec<Out> {
        outs(self.core.start(Millis(now)))
    }

    fn opened(&mut self, now: u64) -> Vec<Out> {
        outs(self.core.opened(Millis(now)))
    }

    fn received(&mut self, frame: &str, now: u64) -> Vec<Out> {
        outs(self.core.received(frame, Millis(now)))
    }

    fn closed(&mut self, code: u16, now: u64) -> Vec<Out> {
        outs(self.core.closed(code, Millis(now)))
    }

    fn response(&mut self, id: u64, status: u16, body: &str, now: u64) -> Vec<Out> {
        outs(self.core.response(id, status, body, Millis(now)))
    }

    fn tick(&mut self, now: u64) -> Vec<Out> {
        outs(self.core.tick(Millis(now)))
    }

    fn wake_at(&self) -> Option<u64> {
        self.core.wake_at().map(|m| m.0)
    }

    fn app(&mut self, call: &Value, now: u64) -> Result<(Option<String>, Vec<Out>), String> {
        let now = Millis(now);
        let error = |e: tanis_client::core::CoreError| e.code().to_owned();
        Ok(match call["do"].as_str() {
            Some("find") => {
                let kind: MatchKind = serde_json::from_value(call["kind"].clone()).map_err(|e| e.to_string())?;
                (None, outs(self.core.find(kind, now).map_err(error)?))
            }
            Some("send") => {
                let (id, out) = self.core.send(call["text"].as_str().ok_or("send needs text")?, now).map_err(error)?;
                (Some(id), outs(out))
            }
            Some("leave") => (None, outs(self.core.leave(now).map_err(error)?)),
            Some("hang_up") => (None, outs(self.core.hang_up(now).map_err(error)?)),
            Some("report") => {
                let seqs: Vec<i64> = serde_json::from_value(call["seqs"].clone()).map_err(|e| e.to_string())?;
                let reason = call["reason"].as_str().ok_or("report needs reason")?;
                (None, outs(self.core.report(reason, &seqs, now).map_err(error)?))
            }
            other => return Err(format!("unknown app call {other:?}")),
        })
    }

    fn restart(&mut self) {
        self.core = Core::new(Box::new(self.storage.clone()), Box::new(self.secrets.clone()));
    }

    fn store_session(&mut self, pair: &str) {
        testkit::store_session(&*self.secrets, pair);
        self.restart();
    }

    fn store_find(&mut self, kind: &str, secret: &str) {
        testkit::store_find(&*self.storage, &*self.secrets, kind, secret);
        self.core = Core::new(Box::new(self.storage.clone()), Box::new(self.secrets.clone()));
    }
}

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_core_passes_every_scenario_of_the_corpus() {
    let files = scenarios();
    assert!(files.len() >= 48, "the corpus has {} scenarios", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let json = std::fs::read_to_string(path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            testkit::run(&json, &mut CoreSubject::new()).err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} scenarios failed:\n{}", failures.len(), files.len(), failures.join("\n"));
}

/// conformance/vectors/e2e.json with this crate's crypto: the public keys, and the initiator's sealed message opened by
/// the responder's session (so the HKDF info, the keys and the associated data are byte for byte the corpus's: any
/// difference fails the AEAD) with the committed bytes and franking key it names.
#[test]
fn the_core_derives_and_opens_the_corpus_vectors() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use tanis_client::{E2eSession, Identity, Role};
    use tanis_proto::{MatchId, Seq};

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/vectors/e2e.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let secret = |side: &str| B64.encode(hex(v[side]["secret_key_hex"].as_str().unwrap()));
    let initiator = Identity::from_secret_b64(&secret("initiator")).unwrap();
    let responder = Identity::from_secret_b64(&secret("responder")).unwrap();
    assert_eq!(initiator.public_key_b64(), v["initiator"]["public_key_b64"]);
    assert_eq!(responder.public_key_b64(), v["responder"]["public_key_b64"]);
    let info = hex(v["info_i2r_hex"].as_str().unwrap());
    assert_eq!(info.len(), 85, "docs/protocol.md section 9 step 3");

    let match_id = MatchId(v["match_id"].as_i64().unwrap());
    let initiator_public = initiator.public_key_b64();
    let mut reader = E2eSession::establish(responder, &initiator_public, match_id, Role::Responder).unwrap();
    let message = &v["message"];
    let opened = reader.open(message["ciphertext"].as_str().unwrap(), message["nonce"].as_str().unwrap()).unwrap();
    assert_eq!(opened, hex(message["plaintext_hex"].as_str().unwrap()));
    let franked = tanis_client::franking::unfrank(Seq(1), &opened, message["commitment"].as_str()).unwrap();
    assert_eq!(franked.text, message["text"]);
    assert_eq!(B64.decode(&franked.reveal.franking_key).unwrap(), hex(message["franking_key_hex"].as_str().unwrap()));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
