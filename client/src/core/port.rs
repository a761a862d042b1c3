//! What the core and its host hand each other: the host's storage and secret store, the clock it passes in, and
//! what the core asks of it (frames to send, a socket to open, events for the app).

use std::collections::HashMap;
use std::ops::Add;
use std::sync::Mutex;
use std::time::Duration;

/// The host's clock: milliseconds since the Unix epoch (the app's wall clock; a test's fake one, starting at 0). The
/// core never reads a clock of its own, so a test moves time and nothing sleeps. Wall time, because tokens expire at
/// a time of day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Add<Duration> for Millis {
    type Output = Millis;

    fn add(self, rhs: Duration) -> Millis {
        Millis(self.0.saturating_add(u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// Key-value storage the host provides, written through: what the core saves is saved before the frame that
/// depends on it is handed out (a message's frame is stored before it is sent). On Android a file or
/// SharedPreferences, on iOS a file in the app's container; [`MemoryStorage`] in tests. The secret store is a second
/// implementation of the same trait: Android Keystore-backed EncryptedSharedPreferences, the iOS Keychain.
pub trait Storage: Send + Sync {
    fn load(&self, key: &str) -> Option<String>;
    fn save(&self, key: &str, value: &str);
    fn remove(&self, key: &str);
}

/// A [`Storage`] in memory: for tests, and for an app that wants nothing kept. Clones share nothing.
#[derive(Debug, Default)]
pub struct MemoryStorage(Mutex<HashMap<String, String>>);

impl Storage for MemoryStorage {
    fn load(&self, key: &str) -> Option<String> {
        self.0.lock().expect("not poisoned").get(key).cloned()
    }

    fn save(&self, key: &str, value: &str) {
        self.0.lock().expect("not poisoned").insert(key.to_owned(), value.to_owned());
    }

    fn remove(&self, key: &str) {
        self.0.lock().expect("not poisoned").remove(key);
    }
}

impl<S: Storage + ?Sized> Storage for std::sync::Arc<S> {
    fn load(&self, key: &str) -> Option<String> {
        (**self).load(key)
    }

    fn save(&self, key: &str, value: &str) {
        (**self).save(key, value);
    }

    fn remove(&self, key: &str) {
        (**self).remove(key);
    }
}

/// What the core asks of its host, in the order it must happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Put this text frame on the socket.
    Send(String),
    /// Open a socket (the first one, or again after the backoff) offering this access token (docs/protocol.md
    /// section 2: the `tanis.auth.<token>` subprotocol beside `tanis.v2`, or the Authorization header).
    Connect { token: String },
    /// Close the socket (signed out).
    Disconnect,
    /// Make this HTTP request to the server's REST API and hand the answer to `Core::response`.
    Request(Request),
    /// Tell the app.
    Event(Event),
}

/// An HTTP request for the host to make: `method` and `path` under the server's base URL, `body` JSON (`None`: no
/// body), `bearer` the access token for the Authorization header when the call needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    pub bearer: Option<String>,
}

/// What the app is told: the same events, with the same names, as the TypeScript SDK gives (conformance/README.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Signed in or registered; `handle` as the server answered.
    SignedIn {
        handle: Option<String>,
    },
    /// Signing in was refused (`invalid_credentials`, `account_banned`, ...), with the server's code.
    SignInFailed {
        code: String,
    },
    /// The session is over (a refresh refused, signed out elsewhere): sign in again.
    SignedOut {
        code: String,
    },
    /// The account is banned: the socket stays closed (REST sign-in says why and until when).
    Banned,
    /// The server greeted the socket: this is who the user appears as.
    Hello {
        handle: String,
    },
    Matched {
        match_id: i64,
        peer: String,
        initiator: bool,
    },
    /// A peer's message, opened and its franking checked.
    Message {
        match_id: i64,
        seq: i64,
        text: String,
    },
    /// A peer's message that does not open (forged, replayed, or sealed to a key this device does not hold).
    Unreadable {
        match_id: i64,
        seq: i64,
    },
    /// A copy of a message of this account that is no frame of this client's outbox: another client holding the
    /// key (a tab on the same storage) sealed it, and `text` is what it said; `None` when this device cannot open it
    /// (another device's, after a takeover).
    OwnMessage {
        match_id: i64,
        seq: i64,
        text: Option<String>,
    },
    /// A match another device of this account asked for (this one holds no key for it): shown, not readable here.
    MatchedElsewhere {
        match_id: i64,
        peer: String,
    },
    /// Both sides kept the match: it goes on as a contact.
    ContactAdded {
        match_id: i64,
        peer: String,
    },
    /// Another session of this account (`session_id`) took the contact over with a key of its own: this device
    /// reads and sends nothing more there.
    TakenOver {
        match_id: i64,
        session_id: Option<String>,
    },
    /// A signalling message of the stranger's WebRTC stack, for the app's (`Core::signal` answers it).
    CallSignal {
        match_id: i64,
        signal: super::call::Signal,
    },
    /// The peer hung the call of a video match up.
    PeerHungUp {
        match_id: i64,
    },
    /// One of ours, stored by the server as `seq`.
    Sent {
        match_id: i64,
        client_msg_id: String,
        seq: i64,
    },
    /// One of ours, refused for good with `code`.
    Failed {
        match_id: i64,
        client_msg_id: String,
        code: String,
    },
    Ended {
        match_id: i64,
        reason: String,
    },
    /// The server took a report, its evidence verified (a refusal is `Refused`: `evidence_forged`, ...).
    Reported,
    /// The server refused something the app asked for (a find, a leave, a report) with `code`.
    Refused {
        code: String,
    },
    /// The server closed the socket for a protocol error of this client (1002, 1007, 1009, 4004): no reconnect
    /// (the same frames would loop); the app may start again.
    Closed {
        code: u16,
    },
}
