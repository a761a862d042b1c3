//! The core's test kit for the bindings' own tests: the conformance corpus (conformance/README.md) run against a
//! client the host drives. A Kotlin (or Swift, or Python) test implements [`TestSubject`] by calling its
//! [`TanisClient`](crate::TanisClient) through the generated binding, with its own storage adapter, and hands each
//! scenario's JSON to [`conformance_run`]: so the corpus checks the binding and the host's wiring, not only the core.
//! Small enough to ship in the library, as `@tanis/client/testing` ships in the npm package.

use std::sync::Arc;

use serde_json::Value;
use tanis_client::core::testkit::{self, Out, Subject};

use crate::{Action, ClientEvent, KeyValueStore};

/// An `app` step of a scenario, for the subject to call its client with.
#[derive(Debug, uniffi::Enum)]
pub enum AppCall {
    Find { kind: String },
    Send { text: String },
    Leave,
    HangUp,
    Report { reason: String, seqs: Vec<i64> },
}

/// What a call gave: the message's id for a send, the actions, or the refusal's code (`ClientError`'s message).
#[derive(Debug, uniffi::Record)]
pub struct CallResult {
    pub client_msg_id: Option<String>,
    pub actions: Vec<Action>,
    pub refused: Option<String>,
}

/// A client under test, implemented by the host's test (see the module's documentation).
#[uniffi::export(with_foreign)]
pub trait TestSubject: Send + Sync {
    fn start(&self, now_ms: u64) -> Vec<Action>;
    fn opened(&self, now_ms: u64) -> Vec<Action>;
    fn received(&self, frame: String, now_ms: u64) -> Vec<Action>;
    fn closed(&self, code: u16, now_ms: u64) -> Vec<Action>;
    fn response(&self, id: u64, status: u16, body: String, now_ms: u64) -> Vec<Action>;
    fn tick(&self, now_ms: u64) -> Vec<Action>;
    fn wake_at(&self) -> Option<u64>;
    fn call(&self, call: AppCall, now_ms: u64) -> CallResult;
    /// The app ends and starts again: a new client on the same stores.
    fn restart(&self);
    /// Before the start: signed in with this token pair, JSON ([`store_signed_in_session`]).
    fn store_session(&self, pair: String);
    /// Before the start: a find of `kind` is waiting with the key pair of `secret` ([`store_waiting_find`]).
    fn store_find(&self, kind: String, secret: String);
}

/// Runs one scenario of the corpus (its JSON) against `subject`: `None` when it passes, else the step that failed.
#[uniffi::export]
pub fn conformance_run(scenario: String, subject: Arc<dyn TestSubject>) -> Option<String> {
    testkit::run(&scenario, &mut Foreign(subject)).err()
}

/// Writes a signed-in session where the core keeps it, on the host's secret store (a [`TestSubject::store_session`]).
#[uniffi::export]
pub fn store_signed_in_session(secrets: Arc<dyn KeyValueStore>, pair: String) {
    testkit::store_session(&crate::Foreign(secrets), &pair);
}

/// Writes a waiting find where the core keeps it, on the host's stores (a [`TestSubject::store_find`]).
#[uniffi::export]
pub fn store_waiting_find(
    storage: Arc<dyn KeyValueStore>,
    secrets: Arc<dyn KeyValueStore>,
    kind: String,
    secret: String,
) {
    testkit::store_find(&crate::Foreign(storage), &crate::Foreign(secrets), &kind, &secret);
}

struct Foreign(Arc<dyn TestSubject>);

impl Subject for Foreign {
    fn start(&mut self, now: u64) -> Vec<Out> {
        outs(self.0.start(now))
    }

    fn opened(&mut self, now: u64) -> Vec<Out> {
        outs(self.0.opened(now))
    }

    fn received(&mut self, frame: &str, now: u64) -> Vec<Out> {
        outs(self.0.received(frame.to_owned(), now))
    }

    fn closed(&mut self, code: u16, now: u64) -> Vec<Out> {
        outs(self.0.closed(code, now))
    }

    fn response(&mut self, id: u64, status: u16, body: &str, now: u64) -> Vec<Out> {
        outs(self.0.response(id, status, body.to_owned(), now))
    }

    fn tick(&mut self, now: u64) -> Vec<Out> {
        outs(self.0.tick(now))
    }

    fn wake_at(&self) -> Option<u64> {
        self.0.wake_at()
    }

    fn app(&mut self, call: &Value, now: u64) -> Result<(Option<String>, Vec<Out>), String> {
        let text = |key: &str| call[key].as_str().map(str::to_owned).ok_or(format!("{call} needs {key}"));
        let call = match call["do"].as_str() {
            Some("find") => AppCall::Find { kind: text("kind")? },
            Some("send") => AppCall::Send { text: text("text")? },
            Some("leave") => AppCall::Leave,
            Some("hang_up") => AppCall::HangUp,
            Some("report") => AppCall::Report {
                reason: text("reason")?,
                seqs: serde_json::from_value(call["seqs"].clone()).map_err(|e| e.to_string())?,
            },
            other => return Err(format!("unknown app call {other:?}")),
        };
        let result = self.0.call(call, now);
        match result.refused {
            Some(refused) => Err(refused),
            None => Ok((result.client_msg_id, outs(result.actions))),
        }
    }

    fn restart(&mut self) {
        self.0.restart();
    }

    fn store_session(&mut self, pair: &str) {
        self.0.store_session(pair.to_owned());
    }

    fn store_find(&mut self, kind: &str, secret: &str) {
        self.0.store_find(kind.to_owned(), secret.to_owned());
    }
}

fn outs(actions: Vec<Action>) -> Vec<Out> {
    actions
        .into_iter()
        .map(|action| match action {
            Action::Send { frame } => Out::Frame(frame),
            Action::Connect { token } => Out::Connect(token),
            Action::Disconnect => Out::Disconnect,
            Action::Request { request: r } => {
                Out::Request(testkit::request_json(r.id, &r.method, &r.path, r.body.as_deref()))
            }
            Action::Notify { event } => Out::Event(counted(event)),
        })
        .collect()
}

/// The event as the corpus names it, from what crossed the binding (so a field the binding garbles shows): turned
/// back into the core's event, whose names `testkit::counted` owns.
fn counted(event: ClientEvent) -> Option<Value> {
    testkit::counted(&event.into())
}
