//! The client core (`tanis_client::core`) for Kotlin, Swift and Python, through bindings UniFFI generates from this
//! file (docs/sdk-native.md; the generated code is in client/ffi/bindings and checked up to date by the test command).
//!
//! One object, [`TanisClient`], with plain blocking calls: every input returns the [`Action`]s to take, in order.
//! No call is async and no callback but storage crosses the boundary, so the host's own threading (a Kotlin
//! coroutine, a Swift actor) decides where the core runs; the calls are serialised by a mutex, each short.

use std::sync::{Arc, Mutex};

use tanis_client::core::{self, Core, CoreError, Millis, Output, call};
use tanis_proto::MatchKind;

pub mod testkit;

uniffi::setup_scaffolding!();

/// A key-value store the app implements: a file or SharedPreferences for the record, Android Keystore-backed
/// EncryptedSharedPreferences or the iOS Keychain for secrets. Calls are short and may come from any thread.
#[uniffi::export(with_foreign)]
pub trait KeyValueStore: Send + Sync {
    fn load(&self, key: String) -> Option<String>;
    fn save(&self, key: String, value: String);
    fn remove(&self, key: String);
}

/// The core's view of a foreign store.
struct Foreign(Arc<dyn KeyValueStore>);

impl core::Storage for Foreign {
    fn load(&self, key: &str) -> Option<String> {
        self.0.load(key.to_owned())
    }

    fn save(&self, key: &str, value: &str) {
        self.0.save(key.to_owned(), value.to_owned());
    }

    fn remove(&self, key: &str) {
        self.0.remove(key.to_owned());
    }
}

/// What the host must do, in the order given.
#[derive(Debug, uniffi::Enum)]
pub enum Action {
    /// Put this text frame on the socket.
    Send { frame: String },
    /// Open the socket offering `token` (docs/protocol.md section 2: the `tanis.auth.<token>` subprotocol beside
    /// `tanis.v2`), then call `opened`; if it cannot be opened, `closed` with 1006.
    Connect { token: String },
    /// Close the socket (signed out).
    Disconnect,
    /// Make this HTTP request and hand the answer to `response`.
    Request { request: HttpRequest },
    /// Tell the app.
    Notify { event: ClientEvent },
}

/// An HTTP request of the REST API: `method` and `path` under the server's base URL, `body` JSON, `bearer` the
/// access token for the Authorization header when the call needs one.
#[derive(Debug, uniffi::Record)]
pub struct HttpRequest {
    pub id: u64,
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    pub bearer: Option<String>,
}

/// What the app is told (conformance/README.md names them for every SDK).
#[derive(Debug, uniffi::Enum)]
pub enum ClientEvent {
    SignedIn {
        handle: Option<String>,
    },
    SignInFailed {
        code: String,
    },
    SignedOut {
        code: String,
    },
    Banned,
    Hello {
        handle: String,
    },
    Matched {
        match_id: i64,
        peer: String,
        initiator: bool,
    },
    Message {
        match_id: i64,
        seq: i64,
        text: String,
    },
    Unreadable {
        match_id: i64,
        seq: i64,
    },
    OwnMessage {
        match_id: i64,
        seq: i64,
        text: Option<String>,
    },
    MatchedElsewhere {
        match_id: i64,
        peer: String,
    },
    ContactAdded {
        match_id: i64,
        peer: String,
    },
    TakenOver {
        match_id: i64,
        session_id: Option<String>,
    },
    PeerHungUp {
        match_id: i64,
    },
    /// A signalling message of the stranger's WebRTC stack, for the app's.
    CallSignal {
        match_id: i64,
        signal: CallSignal,
    },
    Sent {
        match_id: i64,
        client_msg_id: String,
        seq: i64,
    },
    Failed {
        match_id: i64,
        client_msg_id: String,
        code: String,
    },
    Ended {
        match_id: i64,
        reason: String,
    },
    Reported,
    Refused {
        code: String,
    },
    Closed {
        code: u16,
    },
}

/// One signalling message of a video match's call (docs/sdk-native.md): what the app's WebRTC stack gives to
/// `signal`, or takes from a `CallSignal` event.
#[derive(Debug, uniffi::Enum)]
pub enum CallSignal {
    Offer { sdp: String },
    Answer { sdp: String },
    Ice { candidate: String, sdp_mid: Option<String>, sdp_mline_index: Option<u16> },
}

impl From<CallSignal> for call::Signal {
    fn from(s: CallSignal) -> Self {
        match s {
            CallSignal::Offer { sdp } => call::Signal::Offer { sdp },
            CallSignal::Answer { sdp } => call::Signal::Answer { sdp },
            CallSignal::Ice { candidate, sdp_mid, sdp_mline_index } => {
                call::Signal::Ice { candidate, sdp_mid, sdp_mline_index }
            }
        }
    }
}

impl From<call::Signal> for CallSignal {
    fn from(s: call::Signal) -> Self {
        match s {
            call::Signal::Offer { sdp } => CallSignal::Offer { sdp },
            call::Signal::Answer { sdp } => CallSignal::Answer { sdp },
            call::Signal::Ice { candidate, sdp_mid, sdp_mline_index } => {
                CallSignal::Ice { candidate, sdp_mid, sdp_mline_index }
            }
        }
    }
}

/// What the WebRTC stack measured of a connected call, where it could (the report holds numbers only).
#[derive(Debug, uniffi::Record)]
pub struct CallMeasured {
    pub rtt_ms: Option<u64>,
    pub packets_sent: Option<u64>,
    pub packets_lost: Option<u64>,
}

/// Why a call of the app was refused. The message is the refusal's code, as every SDK names it (`not_in_match`,
/// `no_key`, ...): a Kotlin `ClientException`'s `message`, a Python `ClientError`'s text.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum ClientError {
    #[error("not_in_match")]
    NotInMatch,
    #[error("already_in_match")]
    AlreadyInMatch,
    #[error("unknown_message")]
    UnknownMessage,
    #[error("invalid_field")]
    InvalidArgument,
    #[error("signed_out")]
    SignedOut,
    #[error("no_key")]
    NoKey,
}

impl From<CoreError> for ClientError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotInMatch => ClientError::NotInMatch,
            CoreError::AlreadyInMatch => ClientError::AlreadyInMatch,
            CoreError::UnknownMessage(_) => ClientError::UnknownMessage,
            CoreError::UnknownReason(_) => ClientError::InvalidArgument,
            CoreError::SignedOut => ClientError::SignedOut,
            CoreError::NoKey => ClientError::NoKey,
        }
    }
}

/// A message written: its id (its `sent` or `failed` event names it) and what to do.
#[derive(Debug, uniffi::Record)]
pub struct Written {
    pub client_msg_id: String,
    pub actions: Vec<Action>,
}

/// One signed-in user's client. Times are the host's monotonic clock in milliseconds.
#[derive(uniffi::Object)]
pub struct TanisClient {
    core: Mutex<Core>,
}

#[uniffi::export]
impl TanisClient {
    /// A client on the app's stores, taking back what an earlier run kept there.
    #[uniffi::constructor]
    pub fn new(storage: Arc<dyn KeyValueStore>, secrets: Arc<dyn KeyValueStore>) -> Arc<Self> {
        Arc::new(Self { core: Mutex::new(Core::new(Box::new(Foreign(storage)), Box::new(Foreign(secrets)))) })
    }

    /// The app started: with a stored session the socket is asked for; without one nothing happens until
    /// `sign_in` or `register`.
    pub fn start(&self, now_ms: u64) -> Vec<Action> {
        actions(self.lock().start(Millis(now_ms)))
    }

    pub fn sign_in(&self, phone: String, password: String, now_ms: u64) -> Vec<Action> {
        actions(self.lock().sign_in(&phone, &password, Millis(now_ms)))
    }

    pub fn register(
        &self,
        phone: String,
        password: String,
        alias: String,
        birth_year: u16,
        accept_privacy_notice: bool,
        now_ms: u64,
    ) -> Vec<Action> {
        actions(self.lock().register(&phone, &password, &alias, birth_year, accept_privacy_notice, Millis(now_ms)))
    }

    pub fn sign_out(&self, now_ms: u64) -> Vec<Action> {
        actions(self.lock().sign_out(Millis(now_ms)))
    }

    /// The answer to an [`Action::Request`]: its HTTP status (0 when it never reached the server) and body.
    pub fn response(&self, id: u64, status: u16, body: String, now_ms: u64) -> Vec<Action> {
        actions(self.lock().response(id, status, &body, Millis(now_ms)))
    }

    /// The access token, for a REST call the core does not make itself.
    pub fn access_token(&self) -> Result<String, ClientError> {
        Ok(self.lock().access_token()?)
    }

    pub fn opened(&self, now_ms: u64) -> Vec<Action> {
        actions(self.lock().opened(Millis(now_ms)))
    }

    pub fn received(&self, frame: String, now_ms: u64) -> Vec<Action> {
        actions(self.lock().received(&frame, Millis(now_ms)))
    }

    pub fn closed(&self, code: u16, now_ms: u64) -> Vec<Action> {
        actions(self.lock().closed(code, Millis(now_ms)))
    }

    /// When to call [`TanisClient::tick`] next, if anything waits for the time.
    pub fn wake_at(&self) -> Option<u64> {
        self.lock().wake_at().map(|m| m.0)
    }

    pub fn tick(&self, now_ms: u64) -> Vec<Action> {
        actions(self.lock().tick(Millis(now_ms)))
    }

    /// Asks for a match: `kind` is `text` or `video`.
    pub fn find(&self, kind: String, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        let kind: MatchKind = serde_json::from_value(serde_json::Value::String(kind.clone()))
            .map_err(|_| ClientError::InvalidArgument)?;
        Ok(actions(self.lock().find(kind, Millis(now_ms))?))
    }

    pub fn send(&self, text: String, now_ms: u64) -> Result<Written, ClientError> {
        let (client_msg_id, out) = self.lock().send(&text, Millis(now_ms))?;
        Ok(Written { client_msg_id, actions: actions(out) })
    }

    pub fn leave(&self, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        Ok(actions(self.lock().leave(Millis(now_ms))?))
    }

    /// Sends a signalling message of the app's WebRTC stack to the stranger (the first offer starts the setup timer).
    pub fn signal(&self, signal: CallSignal, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        Ok(actions(self.lock().signal(signal.into(), Millis(now_ms))?))
    }

    /// The call connected: `rtc.connected` and the call's one report.
    pub fn call_connected(&self, measured: CallMeasured, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        let measured = call::Measured {
            rtt_ms: measured.rtt_ms,
            packets_sent: measured.packets_sent,
            packets_lost: measured.packets_lost,
        };
        Ok(actions(self.lock().call_connected(measured, Millis(now_ms))?))
    }

    /// The call failed (ICE failed, or the app gave up): the call's one report.
    pub fn call_failed(&self, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        Ok(actions(self.lock().call_failed(Millis(now_ms))?))
    }

    /// Hangs the video match's call up (one `rtc.hangup`).
    pub fn hang_up(&self, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        Ok(actions(self.lock().hang_up(Millis(now_ms))?))
    }

    /// Reports the peer for `reason` (docs/protocol.md, `report`), revealing their messages `seqs`.
    pub fn report(&self, reason: String, seqs: Vec<i64>, now_ms: u64) -> Result<Vec<Action>, ClientError> {
        Ok(actions(self.lock().report(&reason, &seqs, Millis(now_ms))?))
    }
}

impl TanisClient {
    fn lock(&self) -> std::sync::MutexGuard<'_, Core> {
        // A panic inside the core leaves nothing half-written that the next call could not read: go on.
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn actions(out: Vec<Output>) -> Vec<Action> {
    out.into_iter()
        .map(|output| match output {
            Output::Send(frame) => Action::Send { frame },
            Output::Connect { token } => Action::Connect { token },
            Output::Disconnect => Action::Disconnect,
            Output::Request(r) => Action::Request {
                request: HttpRequest { id: r.id, method: r.method, path: r.path, body: r.body, bearer: r.bearer },
            },
            Output::Event(event) => Action::Notify { event: event.into() },
        })
        .collect()
}

/// Back to the core's event: what a host's test (client/ffi/src/testkit.rs) hands the corpus's kit.
impl From<ClientEvent> for core::Event {
    fn from(event: ClientEvent) -> Self {
        use core::Event as E;
        match event {
            ClientEvent::SignedIn { handle } => E::SignedIn { handle },
            ClientEvent::SignInFailed { code } => E::SignInFailed { code },
            ClientEvent::SignedOut { code } => E::SignedOut { code },
            ClientEvent::Banned => E::Banned,
            ClientEvent::Hello { handle } => E::Hello { handle },
            ClientEvent::Matched { match_id, peer, initiator } => E::Matched { match_id, peer, initiator },
            ClientEvent::Message { match_id, seq, text } => E::Message { match_id, seq, text },
            ClientEvent::Unreadable { match_id, seq } => E::Unreadable { match_id, seq },
            ClientEvent::OwnMessage { match_id, seq, text } => E::OwnMessage { match_id, seq, text },
            ClientEvent::MatchedElsewhere { match_id, peer } => E::MatchedElsewhere { match_id, peer },
            ClientEvent::ContactAdded { match_id, peer } => E::ContactAdded { match_id, peer },
            ClientEvent::TakenOver { match_id, session_id } => E::TakenOver { match_id, session_id },
            ClientEvent::PeerHungUp { match_id } => E::PeerHungUp { match_id },
            ClientEvent::CallSignal { match_id, signal } => E::CallSignal { match_id, signal: signal.into() },
            ClientEvent::Sent { match_id, client_msg_id, seq } => E::Sent { match_id, client_msg_id, seq },
            ClientEvent::Failed { match_id, client_msg_id, code } => E::Failed { match_id, client_msg_id, code },
            ClientEvent::Ended { match_id, reason } => E::Ended { match_id, reason },
            ClientEvent::Reported => E::Reported,
            ClientEvent::Refused { code } => E::Refused { code },
            ClientEvent::Closed { code } => E::Closed { code },
        }
    }
}

impl From<core::Event> for ClientEvent {
    fn from(event: core::Event) -> Self {
        use core::Event as E;
        match event {
            E::SignedIn { handle } => ClientEvent::SignedIn { handle },
            E::SignInFailed { code } => ClientEvent::SignInFailed { code },
            E::SignedOut { code } => ClientEvent::SignedOut { code },
            E::Banned => ClientEvent::Banned,
            E::Hello { handle } => ClientEvent::Hello { handle },
            E::Matched { match_id, peer, initiator } => ClientEvent::Matched { match_id, peer, initiator },
            E::Message { match_id, seq, text } => ClientEvent::Message { match_id, seq, text },
            E::Unreadable { match_id, seq } => ClientEvent::Unreadable { match_id, seq },
            E::OwnMessage { match_id, seq, text } => ClientEvent::OwnMessage { match_id, seq, text },
            E::MatchedElsewhere { match_id, peer } => ClientEvent::MatchedElsewhere { match_id, peer },
            E::ContactAdded { match_id, peer } => ClientEvent::ContactAdded { match_id, peer },
            E::TakenOver { match_id, session_id } => ClientEvent::TakenOver { match_id, session_id },
            E::PeerHungUp { match_id } => ClientEvent::PeerHungUp { match_id },
            E::CallSignal { match_id, signal } => ClientEvent::CallSignal { match_id, signal: signal.into() },
            E::Sent { match_id, client_msg_id, seq } => ClientEvent::Sent { match_id, client_msg_id, seq },
            E::Failed { match_id, client_msg_id, code } => ClientEvent::Failed { match_id, client_msg_id, code },
            E::Ended { match_id, reason } => ClientEvent::Ended { match_id, reason },
            E::Reported => ClientEvent::Reported,
            E::Refused { code } => ClientEvent::Refused { code },
            E::Closed { code } => ClientEvent::Closed { code },
        }
    }
}
