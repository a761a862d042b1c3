//! The core's test kit: runs a transcript of the conformance corpus (conformance/README.md) against a client,
//! whatever its language. The client is a [`Subject`]: the core itself (client/tests/conformance.rs), or the Kotlin and
//! Python bindings through `client/ffi` (the test program implements the subject by calling its `TanisClient`). The
//! TypeScript SDK's runner reads the same files (sdk/typescript/test/unit/conformance-runner.js).
//!
//! The kit plays the server and the stranger: it delivers the transcript's frames, answers the client's requests as
//! the transcript says, seals the stranger's messages and opens the client's, and compares every frame, event, socket
//! and request with what the transcript expects.

mod events;
mod pattern;
pub mod tokens;

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tanis_proto::{MatchId, Seq};

use crate::e2e::{Counters, E2eSession, Identity, Role, counter_of};
use crate::franking;
pub use events::counted;
use pattern::{Vars, matches, substitute};

/// The stranger's X25519 secret key: 32 bytes of 0x07 (conformance/README.md, "The peer").
pub const PEER_SECRET: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
/// The secret key of a scenario's `stored_find`: 32 bytes of 0x01.
pub const STORED_FIND_SECRET: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
/// How far `drop` and `backoff` move the clock, at most, waiting for the client.
const WAIT_LIMIT_MS: u64 = 60_000;

/// What a client under test asks for, as the kit reads it.
#[derive(Debug, Clone)]
pub enum Out {
    /// A text frame put on the socket.
    Frame(String),
    /// A new socket asked for, offering this access token.
    Connect(String),
    /// The socket closed by the client.
    Disconnect,
    /// An HTTP request ([`request_json`]).
    Request(Value),
    /// An event for the app, as conformance/README.md names it; `None` for an event the corpus does not count.
    Event(Option<Value>),
}

/// A client under test: the core's inputs, with the app's calls as the transcript writes them.
pub trait Subject {
    fn start(&mut self, now: u64) -> Vec<Out>;
    fn opened(&mut self, now: u64) -> Vec<Out>;
    fn received(&mut self, frame: &str, now: u64) -> Vec<Out>;
    fn closed(&mut self, code: u16, now: u64) -> Vec<Out>;
    fn response(&mut self, id: u64, status: u16, body: &str, now: u64) -> Vec<Out>;
    fn tick(&mut self, now: u64) -> Vec<Out>;
    fn wake_at(&self) -> Option<u64>;
    /// An `app` step's call (`{"do": "send", "text": ...}`): the `client_msg_id` of a message sent, and the outputs.
    ///
    /// # Errors
    /// The client refused the call: the refusal's code (`not_in_match`, `no_key`).
    fn app(&mut self, call: &Value, now: u64) -> Result<(Option<String>, Vec<Out>), String>;
    /// The app ends and starts again: a new client on the same storage (not yet started).
    fn restart(&mut self);
    /// Before the start: the app is signed in with this pair (as `POST /v1/auth/login` answers it, JSON), kept where
    /// the client keeps it ([`store_session`] for the core).
    fn store_session(&mut self, pair: &str);
    /// Before the start: a `match.find` of `kind` sent by an earlier run is waiting, its key pair's secret half
    /// `secret` (base64), kept where the client keeps a waiting find ([`store_find`] for the core).
    fn store_find(&mut self, kind: &str, secret: &str);
}

/// A signed-in session on the core's secret store.
pub fn store_session(secrets: &dyn super::Storage, pair: &str) {
    secrets.save(super::session::TOKENS, pair);
}

/// Where the core keeps a waiting find.
pub fn store_find(storage: &dyn super::Storage, secrets: &dyn super::Storage, kind: &str, secret: &str) {
    storage.save(super::FIND, &json!({ "kind": kind }).to_string());
    secrets.save(super::FIND_KEY, secret);
}

/// An HTTP request as the kit reads it: `{"id", "method", "path", "body"}`, the body parsed (null without one).
#[must_use]
pub fn request_json(id: u64, method: &str, path: &str, body: Option<&str>) -> Value {
    let body = body.and_then(|b| serde_json::from_str::<Value>(b).ok()).unwrap_or(Value::Null);
    json!({ "id": id, "method": method, "path": path, "body": body })
}

/// Runs the scenario `json` against `subject`.
///
/// # Errors
/// The step that failed and why.
pub fn run(json: &str, subject: &mut dyn Subject) -> Result<(), String> {
    let scenario: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut run = Run::new(subject);
    run.subject.store_session(&tokens::pair(1).to_string());
    if let Some(find) = scenario.get("stored_find") {
        run.subject.store_find(find["kind"].as_str().ok_or("stored_find names its kind")?, STORED_FIND_SECRET);
        let public = Identity::from_secret_b64(STORED_FIND_SECRET).expect("32 bytes").public_key_b64();
        run.vars.insert("$client_public".into(), Value::String(public));
        run.stored_find = true;
    }
    run.start();
    for (i, step) in scenario["steps"].as_array().ok_or("no steps")?.iter().enumerate() {
        run.step(step).map_err(|e| format!("step {} {step}: {e}", i + 1))?;
    }
    run.quiet().map_err(|e| format!("after the last step: {e}"))
}

/// The socket the client opened last.
#[derive(Default)]
struct Socket {
    token: Option<String>,
    open: bool,
    /// Opened by the client with no step taking it yet (`socket` takes it).
    untaken: u32,
}

struct Run<'a> {
    subject: &'a mut dyn Subject,
    now: u64,
    frames: VecDeque<Value>,
    events: VecDeque<Value>,
    vars: Vars,
    sealed: Vars,
    /// The stranger's session, once the client's key and the match are known; and what it opened, by ciphertext (a
    /// frame sent again is the same ciphertext, which the stranger's window refuses to open twice).
    peer: Option<(MatchId, E2eSession)>,
    opened: std::collections::HashMap<String, String>,
    /// The client's match as the frame naming it said (id, initiator): for another tab's `seal`.
    client_match: Option<(MatchId, bool)>,
    stored_find: bool,
    socket: Socket,
    /// Sockets asked for and not yet opened.
    connect_asked: bool,
    sockets: u32,
    /// Counted requests no step took, and the ids of those taken and not yet answered.
    requests: VecDeque<Value>,
    awaiting: VecDeque<u64>,
}

impl<'a> Run<'a> {
    fn new(subject: &'a mut dyn Subject) -> Self {
        let peer_public = Identity::from_secret_b64(PEER_SECRET).expect("32 bytes").public_key_b64();
        let mut vars = Vars::from([("$peer_public".to_owned(), Value::String(peer_public))]);
        tokens::bind(&mut vars);
        Run {
            subject,
            now: 0,
            frames: VecDeque::new(),
            events: VecDeque::new(),
            vars,
            sealed: Vars::new(),
            peer: None,
            opened: std::collections::HashMap::new(),
            client_match: None,
            stored_find: false,
            socket: Socket::default(),
            connect_asked: false,
            sockets: 0,
            requests: VecDeque::new(),
            awaiting: VecDeque::new(),
        }
    }

    /// Signed in (or started again): the socket asked for opens at once and is the current one.
    fn start(&mut self) {
        let out = self.subject.start(self.now);
        self.take(out);
        self.socket.untaken = 0;
    }

    fn take(&mut self, out: Vec<Out>) {
        for output in out {
            match output {
                Out::Frame(text) => {
                    let frame: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    if frame["type"] == "match.find" {
                        self.vars.insert("$client_public".into(), frame["public_key"].clone());
                    }
                    if frame["type"] != "ping" {
                        self.frames.push_back(frame);
                    }
                }
                Out::Connect(token) => {
                    self.socket.token = Some(token);
                    self.connect_asked = true;
                }
                Out::Disconnect => self.socket.open = false,
                Out::Request(request) => {
                    if request["path"].as_str().is_some_and(|p| p.starts_with("/v1/auth/")) {
                        self.requests.push_back(request);
                    }
                }
                Out::Event(Some(event)) => self.events.push_back(event),
                Out::Event(None) => {}
            }
        }
        // The runner's server takes every socket at once.
        if std::mem::take(&mut self.connect_asked) {
            self.sockets += 1;
            self.socket.open = true;
            self.socket.untaken += 1;
            let out = self.subject.opened(self.now);
            self.take(out);
        }
    }

    fn step(&mut self, step: &Value) -> Result<(), String> {
        let (kind, arg) = step.as_object().and_then(|o| o.iter().next()).ok_or("a step is an object of one key")?;
        match kind.as_str() {
            "server" => self.server(arg),
            "seal" => self.seal(arg),
            "app" => self.app(arg),
            "expect" => {
                let frame = self.frames.pop_front().ok_or_else(|| format!("no frame sent; expected {arg}"))?;
                self.expect(arg, &frame).map_err(|e| format!("{e}; the frame: {frame}"))
            }
            "event" => {
                let event = self.events.pop_front().ok_or_else(|| format!("no event; expected {arg}"))?;
                matches(arg, &event, &mut self.vars).map_err(|e| format!("{e}; the event: {event}"))
            }
            "request" => {
                let request = self.requests.pop_front().ok_or_else(|| format!("no request made; expected {arg}"))?;
                let compared = json!({"method": request["method"], "path": request["path"], "body": request["body"]});
                matches(arg, &compared, &mut self.vars).map_err(|e| format!("{e}; the request: {compared}"))?;
                self.awaiting.push_back(request["id"].as_u64().ok_or("a request has an id")?);
                Ok(())
            }
            "respond" => self.respond(arg),
            "socket" => self.socket_step(arg),
            "quiet" => self.quiet(),
            "advance_ms" => {
                self.advance(arg.as_u64().ok_or("advance_ms takes a number")?);
                Ok(())
            }
            "backoff" => self.backoff(),
            "drop" => self.drop_socket(arg),
            "close" => {
                let code = arg["code"].as_u64().and_then(|c| u16::try_from(c).ok()).ok_or("close needs code")?;
                self.socket.open = false;
                let out = self.subject.closed(code, self.now);
                self.take(out);
                Ok(())
            }
            "restart" => {
                self.socket.open = false;
                self.subject.restart();
                self.start();
                Ok(())
            }
            other => Err(format!("unknown step {other}")),
        }
    }

    fn server(&mut self, frame: &Value) -> Result<(), String> {
        let mut frame = substitute(frame, &self.vars)?;
        if frame["type"] == "msg"
            && let Some(label) = frame.get("sealed").and_then(Value::as_str).map(str::to_owned)
        {
            let sealed = self.sealed.get(&label).ok_or_else(|| format!("nothing sealed as {label}"))?.clone();
            let object = frame.as_object_mut().ok_or("a frame is an object")?;
            object.remove("sealed");
            object.extend(sealed.as_object().cloned().unwrap_or_default());
        }
        let info = match frame["type"].as_str() {
            Some("match.found") => Some(frame.clone()),
            Some("hello") => frame.get("active_match").filter(|m| m.is_object()).cloned(),
            _ => None,
        };
        if let Some(info) = info {
            self.know_match(&info)?;
        }
        let out = self.subject.received(&frame.to_string(), self.now);
        self.take(out);
        Ok(())
    }

    /// The stranger's side of the match `info` names, keyed with the client's find key (none while that is unknown:
    /// another device's match).
    fn know_match(&mut self, info: &Value) -> Result<(), String> {
        let match_id = MatchId(info["match_id"].as_i64().ok_or("a match names its match_id")?);
        self.client_match = Some((match_id, info["initiator"] == true));
        if self.peer.as_ref().is_some_and(|(id, _)| *id == match_id) {
            return Ok(());
        }
        let Some(client) = self.vars.get("$client_public").and_then(Value::as_str) else { return Ok(()) };
        let role = if info["initiator"] == true { Role::Responder } else { Role::Initiator };
        let identity = Identity::from_secret_b64(PEER_SECRET).expect("32 bytes");
        let session = E2eSession::establish(identity, client, match_id, role).map_err(|e| e.to_string())?;
        self.peer = Some((match_id, session));
        Ok(())
    }

    fn seal(&mut self, arg: &Value) -> Result<(), String> {
        let (payload, commitment) = franking::frank(arg["text"].as_str().ok_or("seal needs text")?);
        let sealed = if arg["mine"] == true {
            // Another client holding the client's key pair (a tab) seals in the client's direction.
            if !self.stored_find {
                return Err("a seal of mine needs stored_find".into());
            }
            let (match_id, initiator) = self.client_match.ok_or("seal of mine before the match is known")?;
            let counter = arg["counter"].as_u64().ok_or("a seal of mine names its counter")?;
            let identity = Identity::from_secret_b64(STORED_FIND_SECRET).expect("32 bytes");
            let peer = self.vars["$peer_public"].as_str().unwrap_or_default().to_owned();
            let role = if initiator { Role::Initiator } else { Role::Responder };
            let mut tab = E2eSession::establish(identity, &peer, match_id, role)
                .map_err(|e| e.to_string())?
                .with_counters(Counters { sent: counter.saturating_sub(1), ..Counters::default() });
            tab.seal(&payload)
        } else {
            let (_, session) = self.peer.as_mut().ok_or("seal before the stranger knows the match")?;
            session.seal(&payload)
        };
        let label = arg["as"].as_str().ok_or("seal needs as")?.to_owned();
        let key = &payload[..tanis_proto::franking::KEY_LEN];
        self.vars.insert(format!("${label}.franking_key"), Value::String(B64.encode(key)));
        self.sealed
            .insert(label, json!({"ciphertext": sealed.ciphertext, "nonce": sealed.nonce, "commitment": commitment}));
        Ok(())
    }

    fn app(&mut self, call: &Value) -> Result<(), String> {
        let result = self.subject.app(call, self.now);
        match (call.get("refused").and_then(Value::as_str), result) {
            (Some(code), Err(refused)) if refused == code => Ok(()),
            (Some(code), Err(refused)) => Err(format!("refused with {refused}, expected {code}")),
            (Some(code), Ok(_)) => Err(format!("the client took the call; expected it refused with {code}")),
            (None, Err(refused)) => Err(format!("the client refused the call: {refused}")),
            (None, Ok((id, out))) => {
                if let (Some(var), Some(id)) = (call.get("as").and_then(Value::as_str), id) {
                    self.vars.insert(var.to_owned(), Value::String(id));
                }
                self.take(out);
                Ok(())
            }
        }
    }

    /// Matches `pattern` against a frame the client sent; on a `msg.send`, `text` and `counter` are the stranger's
    /// reading of it.
    fn expect(&mut self, pattern: &Value, frame: &Value) -> Result<(), String> {
        let mut plain = pattern.as_object().ok_or("expect takes an object")?.clone();
        let text = plain.remove("text");
        let counter = plain.remove("counter");
        matches(&Value::Object(plain), frame, &mut self.vars)?;
        if let Some(counter) = counter {
            let got = counter_of(frame["nonce"].as_str().unwrap_or_default()).ok_or("no counter in the nonce")?;
            if Some(got) != counter.as_u64() {
                return Err(format!("counter {got}, expected {counter}"));
            }
        }
        if let Some(text) = text {
            let got = self.peer_reads(frame)?;
            if Some(got.as_str()) != text.as_str() {
                return Err(format!("the stranger reads {got:?}, expected {text}"));
            }
        }
        Ok(())
    }

    fn peer_reads(&mut self, frame: &Value) -> Result<String, String> {
        let ciphertext = frame["ciphertext"].as_str().ok_or("no ciphertext")?.to_owned();
        if let Some(text) = self.opened.get(&ciphertext) {
            return Ok(text.clone());
        }
        let (_, session) = self.peer.as_mut().ok_or("the stranger does not know the match")?;
        let bytes = session
            .open(&ciphertext, frame["nonce"].as_str().unwrap_or_default())
            .map_err(|e| format!("the stranger cannot open it: {e}"))?;
        // The seq only labels the reveal; the commitment is what is checked.
        let opened = franking::unfrank(Seq(1), &bytes, frame["commitment"].as_str())
            .map_err(|e| format!("its commitment does not open: {e}"))?;
        self.opened.insert(ciphertext, opened.text.clone());
        Ok(opened.text)
    }

    fn respond(&mut self, arg: &Value) -> Result<(), String> {
        let id = self.awaiting.pop_front().ok_or("no request taken waits for an answer")?;
        let (status, body) = if arg["network_error"] == true {
            (0, String::new())
        } else {
            let status = arg["status"].as_u64().and_then(|s| u16::try_from(s).ok()).ok_or("respond needs status")?;
            let body = match arg.get("body") {
                Some(body) => substitute(body, &self.vars)?.to_string(),
                None => String::new(),
            };
            (status, body)
        };
        let out = self.subject.response(id, status, &body, self.now);
        self.take(out);
        Ok(())
    }

    fn socket_step(&mut self, pattern: &Value) -> Result<(), String> {
        if self.socket.untaken > 1 {
            return Err(format!("{} sockets opened that no step took", self.socket.untaken));
        }
        self.socket.untaken = 0;
        if !self.socket.open {
            return Err("no socket is open".into());
        }
        let token = Value::String(self.socket.token.clone().unwrap_or_default());
        matches(pattern, &json!({ "token": token }), &mut self.vars)
    }

    fn quiet(&self) -> Result<(), String> {
        if self.socket.untaken > 0 {
            return Err("not quiet: a socket opened that no step took".into());
        }
        if let Some(request) = self.requests.front() {
            return Err(format!("not quiet: request {request}"));
        }
        match (self.frames.front(), self.events.front()) {
            (None, None) => Ok(()),
            (frame, event) => Err(format!("not quiet: frame {frame:?}, event {event:?}")),
        }
    }

    /// Moves the clock `ms`, running every wake-up that falls due on the way at its own time.
    fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        while let Some(at) = self.subject.wake_at().filter(|&at| at <= target && at >= self.now) {
            self.now = at;
            let out = self.subject.tick(self.now);
            self.take(out);
            if self.subject.wake_at() == Some(at) {
                break;
            }
        }
        self.now = target;
        let out = self.subject.tick(self.now);
        self.take(out);
    }

    /// Moves the clock, timer by timer, until `done` holds (at most [`WAIT_LIMIT_MS`]).
    fn wait_until(&mut self, what: &str, done: impl Fn(&Self) -> bool) -> Result<(), String> {
        let limit = self.now + WAIT_LIMIT_MS;
        while !done(self) {
            match self.subject.wake_at() {
                Some(at) if at <= limit => self.advance(at.saturating_sub(self.now)),
                _ => return Err(format!("no {what} within {WAIT_LIMIT_MS} ms")),
            }
        }
        Ok(())
    }

    fn backoff(&mut self) -> Result<(), String> {
        self.wait_until("new request", |run| !run.requests.is_empty())
    }

    fn drop_socket(&mut self, arg: &Value) -> Result<(), String> {
        let code = arg["code"].as_u64().and_then(|c| u16::try_from(c).ok()).ok_or("drop needs code")?;
        self.socket.open = false;
        let before = self.sockets;
        let out = self.subject.closed(code, self.now);
        self.take(out);
        self.wait_until("new socket", |run| run.sockets > before)?;
        self.socket.untaken = 0;
        Ok(())
    }
}
