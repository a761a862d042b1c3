//! Who is connected: every open socket of every user on this node, and how to reach or close them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tanis_proto::{CloseCode, ServerFrame};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A frame already serialised, shared by every socket it goes to.
pub type Encoded = Arc<str>;

/// How to close one socket, from anywhere: set the code, cancel the token; the socket's writer sends the
/// close frame and its reader stops.
#[derive(Debug, Default)]
pub struct Closer {
    pub token: CancellationToken,
    code: OnceLock<CloseCode>,
}

impl Closer {
    /// The first code wins: a socket closed for being banned is not re-labelled by a later cause.
    pub fn close(&self, code: CloseCode) {
        let _ = self.code.set(code);
        self.token.cancel();
    }

    /// The code chosen by [`Closer::close`]; `None` when the socket ended without one (the client left).
    pub fn chosen(&self) -> Option<CloseCode> {
        self.code.get().copied()
    }
}

#[derive(Debug, Clone)]
pub struct SessionHandle {
    pub id: u64,
    /// Bounded: when a socket's queue is full the client is not reading, and it is closed (4008) rather
    /// than letting the server buffer without limit. Its messages stay stored for `resume`.
    pub tx: mpsc::Sender<Encoded>,
    pub closer: Arc<Closer>,
}

impl SessionHandle {
    /// Queues a frame without waiting; a full queue closes the socket as a slow consumer.
    pub fn offer(&self, frame: &Encoded) {
        match self.tx.try_send(frame.clone()) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("tanis_ws_slow_consumer_total").increment(1);
                self.closer.close(CloseCode::SlowConsumer);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

#[derive(Debug, Default)]
pub struct Registry {
    /// user id → that user's open sockets. The lock is held only to copy handles out, never across an await.
    users: Mutex<HashMap<i64, Vec<SessionHandle>>>,
    next_id: AtomicU64,
}

pub fn encode(frame: &ServerFrame) -> Encoded {
    frame.to_json().into()
}

impl Registry {
    /// Adds a socket for `user_id`; returns its handle and the receiving end of its outbound queue.
    pub fn register(&self, user_id: i64, queue: usize) -> (SessionHandle, mpsc::Receiver<Encoded>) {
        let (tx, rx) = mpsc::channel(queue);
        let handle =
            SessionHandle { id: self.next_id.fetch_add(1, Ordering::Relaxed), tx, closer: Arc::new(Closer::default()) };
        self.users.lock().expect("registry lock").entry(user_id).or_default().push(handle.clone());
        metrics::gauge!("tanis_ws_sessions").increment(1.0);
        (handle, rx)
    }

    pub fn unregister(&self, user_id: i64, session_id: u64) {
        let mut users = self.users.lock().expect("registry lock");
        if let Some(sessions) = users.get_mut(&user_id) {
            sessions.retain(|s| s.id != session_id);
            if sessions.is_empty() {
                users.remove(&user_id);
            }
        }
        metrics::gauge!("tanis_ws_sessions").decrement(1.0);
    }

    fn sessions_of(&self, user_id: i64) -> Vec<SessionHandle> {
        self.users.lock().expect("registry lock").get(&user_id).cloned().unwrap_or_default()
    }

    /// Sends to every socket of the user.
    pub fn send_to_user(&self, user_id: i64, frame: &ServerFrame) {
        let encoded = encode(frame);
        for session in self.sessions_of(user_id) {
            session.offer(&encoded);
        }
    }

    /// Sends to one socket of the user (the answer to that socket's request).
    pub fn send_to_session(&self, user_id: i64, session_id: u64, frame: &ServerFrame) {
        if let Some(session) = self.sessions_of(user_id).into_iter().find(|s| s.id == session_id) {
            session.offer(&encode(frame));
        }
    }

    /// Sends to every socket of the user but one (the one that caused it, which gets its own answer).
    pub fn send_to_user_except(&self, user_id: i64, except: u64, frame: &ServerFrame) {
        let encoded = encode(frame);
        for session in self.sessions_of(user_id).into_iter().filter(|s| s.id != except) {
            session.offer(&encoded);
        }
    }

    /// Closes every socket of the user with `code`.
    pub fn close_user(&self, user_id: i64, code: CloseCode) {
        for session in self.sessions_of(user_id) {
            session.closer.close(code);
        }
    }

    pub fn is_connected(&self, user_id: i64) -> bool {
        self.users.lock().expect("registry lock").contains_key(&user_id)
    }
}
