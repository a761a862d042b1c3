//! The core's test kit: runs a transcript of the conformance corpus (conformance/README.md) against a client,
//! whatever its language. The client is a [`Subject`]: the core itself (client/tests/conformance.rs), or the Kotlin
//! binding through `client/ffi/testkit` (the Kotlin program implements the subject by calling its `TanisClient`). The
//! TypeScript SDK's runner reads the same files (sdk/typescript/test/unit/conformance.test.js).
//!
//! The kit plays the server and the peer: it delivers the transcript's frames, seals the peer's messages, opens the
//! client's, and compares every frame the client sends and every event it gives with what the transcript expects.

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tanis_proto::{MatchId, Seq};

use crate::e2e::{E2eSession, Identity, Role, counter_of};
use crate::franking;

/// The peer's X25519 secret key: 32 bytes of 0x07 (conformance/README.md, "The peer").
pub const PEER_SECRET: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
/// The secret key of a scenario's `stored_find`: 32 bytes of 0x01.
pub const STORED_FIND_SECRET: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
/// How far `drop` moves the clock, at most, waiting for the client to open a new socket.
const RECONNECT_LIMIT_MS: u64 = 60_000;

/// What a client under test asks for, as the kit reads it.
#[derive(Debug, Clone)]
pub enum Out {
    /// A text frame put on the socket.
    Frame(String),
    /// A new socket asked for, offering this access token.
    Connect(String),
    /// The socket closed by the client.
    Disconnect,
    /// An HTTP request: `{"id", "method", "path", "body"}` (the body parsed).
    Request(Value),
    /// An event for the app, as conformance/README.md names it (`{"type": "message", ...}`); `None` for an event the
    /// corpus does not count.
    Event(Option<Value>),
}

/// A client under test: the core's inputs, with the app's calls as the transcript writes them.
pub trait Subject {
    fn start(&mut self, now: u64) -> Vec<Out>;
    fn opened(&mut self, now: u64) -> Vec<Out>;
    fn received(&mut self, frame: &str, now: u64) -> Vec<Out>;
    fn closed(&mut self, code: u16, now: u64) -> Vec<Out>;
    fn tick(&mut self, now: u64) -> Vec<Out>;
    fn wake_at(&self) -> Option<u64>;
    /// An `app` step's call (`{"do": "send", "text": ...}`): the `client_msg_id` of a message sent, and the outputs.
    ///
    /// # Errors
    /// The client refused the call.
    fn app(&mut self, call: &Value, now: u64) -> Result<(Option<String>, Vec<Out>), String>;
    /// The app ends and starts again: a new client on the same storage (not yet started).
    fn restart(&mut self);
    /// Before the start: the app is signed in with this token pair, kept where the client keeps it ([`store_session`]
    /// for the core).
    fn store_session(&mut self, access: &str, refresh: &str);
    /// Before the start: a `match.find` of `kind` sent by an earlier run is waiting, its key pair's secret half
    /// `secret` (base64), kept where the client keeps a waiting find ([`store_find`] for the core).
    fn store_find(&mut self, kind: &str, secret: &str);
}

/// The token pair every scenario starts signed in with (conformance/README.md).
pub const ACCESS: &str = "access-1";
pub const REFRESH: &str = "refresh-1";

/// An HTTP request as the kit reads it.
#[must_use]
pub fn request_json(id: u64, method: &str, path: &str, body: Option<&str>) -> Value {
    let body = body.and_then(|b| serde_json::from_str::<Value>(b).ok()).unwrap_or(Value::Null);
    json!({ "id": id, "method": method, "path": path, "body": body })
}

/// A signed-in session on the core's secret store: the token pair a scenario starts with.
pub fn store_session(secrets: &dyn super::Storage, access: &str, refresh: &str) {
    let tokens = json!({ "access_token": access, "refresh_token": refresh });
    secrets.save(super::session::TOKENS, &tokens.to_string());
}

/// Where the core keeps a waiting find: what [`Subject::store_find`] writes for a subject built on the core.
pub fn store_find(storage: &dyn super::Storage, secrets: &dyn super::Storage, kind: &str, secret: &str) {
    storage.save(super::FIND, &json!({ "kind": kind }).to_string());
    secrets.save(super::FIND_KEY, secret);
}

/// Runs the scenario `json` against `subject`.
///
/// # Errors
/// The step that failed and why.
pub fn run(json: &str, subject: &mut dyn Subject) -> Result<(), String> {
    let scenario: Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut run = Run::new(subject);
    run.subject.store_session(ACCESS, REFRESH);
    if let Some(find) = scenario.get("stored_find") {
        run.subject.store_find(find["kind"].as_str().ok_or("stored_find names its kind")?, STORED_FIND_SECRET);
        let public = Identity::from_secret_b64(STORED_FIND_SECRET).expect("32 bytes").public_key_b64();
        run.vars.insert("$client_public".into(), Value::String(public));
    }
    run.start();
    for (i, step) in scenario["steps"].as_array().ok_or("no steps")?.iter().enumerate() {
        run.step(step).map_err(|e| format!("step {} {step}: {e}", i + 1))?;
    }
    run.quiet().map_err(|e| format!("after the last step: {e}"))
}

struct Run<'a> {
    subject: &'a mut dyn Subject,
    now: u64,
    frames: VecDeque<Value>,
    events: VecDeque<Value>,
    vars: HashMap<String, Value>,
    sealed: HashMap<String, Value>,
    /// The peer's session, once the client's key and the match are known; and what it opened, by ciphertext (a
    /// frame sent again is the same ciphertext, which the peer's window refuses to open twice).
    peer: Option<(MatchId, E2eSession)>,
    opened: HashMap<String, String>,
    connect_asked: bool,
    /// Sockets opened so far: a `drop` waits for the next.
    sockets: u32,
    /// The access token the latest socket was asked for with.
    socket_token: Option<String>,
    /// HTTP requests made and not yet answered, oldest first.
    requests: VecDeque<Value>,
}

impl<'a> Run<'a> {
    fn new(subject: &'a mut dyn Subject) -> Self {
        let peer_public = Identity::from_secret_b64(PEER_SECRET).expect("32 bytes").public_key_b64();
        Run {
            subject,
            now: 0,
            frames: VecDeque::new(),
            events: VecDeque::new(),
            vars: HashMap::from([("$peer_public".to_owned(), Value::String(peer_public))]),
            sealed: HashMap::new(),
            peer: None,
            opened: HashMap::new(),
            connect_asked: false,
            sockets: 0,
            socket_token: None,
            requests: VecDeque::new(),
        }
    }

    /// Signed in (or started again): the first socket is asked for and opens at once.
    fn start(&mut self) {
        let out = self.subject.start(self.now);
        self.take(out);
        self.open_if_asked();
    }

    fn open_if_asked(&mut self) {
        if std::mem::take(&mut self.connect_asked) {
            self.sockets += 1;
            let out = self.subject.opened(self.now);
            self.take(out);
        }
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
                    self.connect_asked = true;
                    self.socket_token = Some(token);
                }
                Out::Disconnect => {}
                Out::Request(request) => self.requests.push_back(request),
                Out::Event(Some(event)) => self.events.push_back(event),
                Out::Event(None) => {}
            }
        }
    }

    fn step(&mut self, step: &Value) -> Result<(), String> {
        let (kind, arg) = step.as_object().and_then(|o| o.iter().next()).ok_or("a step is an object of one key")?;
        match kind.as_str() {
            "server" => self.server(arg),
            "seal" => self.seal(arg),
            "app" => {
                let (id, out) = self.subject.app(arg, self.now)?;
                if let (Some(var), Some(id)) = (arg.get("as").and_then(Value::as_str), id) {
                    self.vars.insert(var.to_owned(), Value::String(id));
                }
                self.take(out);
                Ok(())
            }
            "expect" => {
                let frame = self.frames.pop_front().ok_or_else(|| format!("no frame sent; expected {arg}"))?;
                self.expect(arg, &frame).map_err(|e| format!("{e}; the frame: {frame}"))
            }
            "event" => {
                let event = self.events.pop_front().ok_or_else(|| format!("no event; expected {arg}"))?;
                matches(arg, &event, &mut self.vars).map_err(|e| format!("{e}; the event: {event}"))
            }
            "quiet" => self.quiet(),
            "advance_ms" => {
                self.advance(arg.as_u64().ok_or("advance_ms takes a number")?);
                Ok(())
            }
            "drop" => self.drop_socket(arg),
            "restart" => {
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

    /// The peer's side of the match `info` names, keyed with the client's find key.
    fn know_match(&mut self, info: &Value) -> Result<(), String> {
        let match_id = MatchId(info["match_id"].as_i64().ok_or("a match names its match_id")?);
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
        let (_, session) = self.peer.as_mut().ok_or("seal before the peer knows the match")?;
        let (payload, commitment) = franking::frank(arg["text"].as_str().ok_or("seal needs text")?);
        let sealed = session.seal(&payload);
        let label = arg["as"].as_str().ok_or("seal needs as")?.to_owned();
        let key = &payload[..tanis_proto::franking::KEY_LEN];
        self.vars.insert(format!("${label}.franking_key"), Value::String(B64.encode(key)));
        self.sealed
            .insert(label, json!({"ciphertext": sealed.ciphertext, "nonce": sealed.nonce, "commitment": commitment}));
        Ok(())
    }

    /// Matches `pattern` against a frame the client sent; on a `msg.send`, `text` and `counter` are the peer's
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
                return Err(format!("the peer reads {got:?}, expected {text}"));
            }
        }
        Ok(())
    }

    fn peer_reads(&mut self, frame: &Value) -> Result<String, String> {
        let ciphertext = frame["ciphertext"].as_str().ok_or("no ciphertext")?.to_owned();
        if let Some(text) = self.opened.get(&ciphertext) {
            return Ok(text.clone());
        }
        let (_, session) = self.peer.as_mut().ok_or("the peer does not know the match")?;
        let bytes = session
            .open(&ciphertext, frame["nonce"].as_str().unwrap_or_default())
            .map_err(|e| format!("the peer cannot open it: {e}"))?;
        // The seq only labels the reveal; the commitment is what is checked.
        let opened = franking::unfrank(Seq(1), &bytes, frame["commitment"].as_str())
            .map_err(|e| format!("its commitment does not open: {e}"))?;
        self.opened.insert(ciphertext, opened.text.clone());
        Ok(opened.text)
    }

    fn quiet(&self) -> Result<(), String> {
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
            self.open_if_asked();
            if self.subject.wake_at() == Some(at) {
                break;
            }
        }
        self.now = target;
        let out = self.subject.tick(self.now);
        self.take(out);
        self.open_if_asked();
    }

    fn drop_socket(&mut self, arg: &Value) -> Result<(), String> {
        let code = arg["code"].as_u64().and_then(|c| u16::try_from(c).ok()).ok_or("drop needs code")?;
        let out = self.subject.closed(code, self.now);
        self.take(out);
        let limit = self.now + RECONNECT_LIMIT_MS;
        let before = self.sockets;
        self.open_if_asked();
        while self.sockets == before {
            match self.subject.wake_at() {
                Some(at) if at <= limit => self.advance(at.saturating_sub(self.now)),
                _ => return Err(format!("no new socket within {RECONNECT_LIMIT_MS} ms of the drop")),
            }
        }
        Ok(())
    }
}

fn substitute(value: &Value, vars: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) if s.starts_with('$') => vars.get(s).cloned().ok_or_else(|| format!("{s} is unbound"))?,
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute(v, vars)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Every key of `pattern` is in `actual` with an equal value (`null` also matching a key left out); nested objects
/// and arrays compared whole; a `$name` string binds or must equal its binding.
fn matches(pattern: &Value, actual: &Value, vars: &mut HashMap<String, Value>) -> Result<(), String> {
    let (Value::Object(pattern), Value::Object(actual)) = (pattern, actual) else {
        return Err("expected an object".into());
    };
    for (key, want) in pattern {
        let got = match actual.get(key) {
            Some(got) => got,
            None if want.is_null() => continue,
            None => return Err(format!("no {key}")),
        };
        equal(want, got, vars).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}

fn equal(want: &Value, got: &Value, vars: &mut HashMap<String, Value>) -> Result<(), String> {
    match (want, got) {
        (Value::String(name), _) if name.starts_with('$') => match vars.get(name) {
            Some(bound) if bound == got => Ok(()),
            Some(bound) => Err(format!("{got}, but {name} is {bound}")),
            None => {
                vars.insert(name.clone(), got.clone());
                Ok(())
            }
        },
        (Value::Object(w), Value::Object(g)) if w.len() == g.len() => {
            w.iter().try_for_each(|(k, v)| equal(v, g.get(k).ok_or_else(|| format!("no {k}"))?, vars))
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            w.iter().zip(g).try_for_each(|(w, g)| equal(w, g, vars))
        }
        _ if want == got => Ok(()),
        _ => Err(format!("{got}, expected {want}")),
    }
}

/// An event of the core as the corpus names it; `None` for those it does not count.
#[must_use]
pub fn counted(event: &super::Event) -> Option<Value> {
    use super::Event as E;
    Some(match event {
        E::Matched { match_id, peer, initiator } => {
            json!({"type": "matched", "match_id": match_id, "peer": peer, "initiator": initiator})
        }
        E::Message { match_id, seq, text } => {
            json!({"type": "message", "match_id": match_id, "seq": seq, "text": text})
        }
        E::Unreadable { match_id, seq } => json!({"type": "unreadable", "match_id": match_id, "seq": seq}),
        E::Sent { match_id, client_msg_id, seq } => {
            json!({"type": "sent", "match_id": match_id, "client_msg_id": client_msg_id, "seq": seq})
        }
        E::Failed { match_id, client_msg_id, code } => {
            json!({"type": "failed", "match_id": match_id, "client_msg_id": client_msg_id, "code": code})
        }
        E::Ended { match_id, reason } => json!({"type": "ended", "match_id": match_id, "reason": reason}),
        E::SignedOut { code } => json!({"type": "signed_out", "code": code}),
        E::Banned => json!({"type": "banned"}),
        E::Hello { .. }
        | E::Refused { .. }
        | E::Closed { .. }
        | E::SignedIn { .. }
        | E::SignInFailed { .. }
        | E::Reported => {
            return None;
        }
    })
}
