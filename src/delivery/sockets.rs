//! This node's sockets: every open socket of every user connected here, and how to reach or close them.
//! Only [`super::Delivery`] and the hub's task that runs a socket use this directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use tanis_proto::{CloseCode, ServerFrame};

use super::outbound::{self, Frames, Outbound, Refused, Slot};
use super::{Event, Recipient};
use crate::auth::LoginId;
use crate::domain::{MatchId, Seq, UserId};
use crate::live::{ActiveMatch, Carry, EndNow, LiveUsers, Wanted};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A frame already serialised, shared by every socket it goes to.
pub type Encoded = Arc<str>;

/// How to close one socket, from anywhere: set the code, cancel the token; the socket's task stops reading, writes
/// what the code lets it and sends the close frame.
#[derive(Debug, Default)]
pub struct Closer {
    /// Cancelled when the socket ends: whatever waits on the socket from another task stops waiting.
    pub token: CancellationToken,
    code: OnceLock<CloseCode>,
    /// Set with the token, and read without its lock by the socket's own task ([`Closer::ended`]), which polls it at
    /// every turn of its loop: the token's check takes a lock, and its waiter took the lock of a list.
    ended: AtomicBool,
    /// The socket's own task, woken when another task ends the socket.
    task: AtomicWaker,
}

impl Closer {
    /// The first code wins: a socket closed for being banned is not re-labelled by a later cause.
    pub fn close(&self, code: CloseCode) {
        let _ = self.code.set(code);
        self.end();
    }

    /// Ends the socket with no code (or after [`Closer::close`] chose one).
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
        self.task.wake();
        self.token.cancel();
    }

    /// Whether the socket has ended (a close was decided, or its task ended it).
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Resolves once the socket is ended. For the socket's own task only: it keeps one waker.
    pub fn ended(&self) -> impl Future<Output = ()> + Unpin + '_ {
        std::future::poll_fn(move |cx| {
            if self.has_ended() {
                return Poll::Ready(());
            }
            self.task.register(cx.waker());
            // Ended between the check and the registration: that wake-up found no waker.
            if self.has_ended() { Poll::Ready(()) } else { Poll::Pending }
        })
    }

    /// The code chosen by [`Closer::close`]; `None` when the socket ended without one (the client left).
    pub fn chosen(&self) -> Option<CloseCode> {
        self.code.get().copied()
    }
}

/// One socket on this node, as everything that answers or closes it holds it.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    pub id: u64,
    /// The login whose access token opened the socket: signing it out closes the socket. `None` for a token
    /// that names no login (see `TokenFields::sid`).
    pub login: Option<LoginId>,
    /// Bounded: when a socket's queue is full the client is not reading, and it is closed (4008) rather
    /// than letting the server buffer without limit. Its messages stay stored for `resume`.
    pub tx: Outbound,
    pub closer: Arc<Closer>,
    /// The protocol version the handshake selected (1 or 2): a frame whose versions differ ([`Event::Frame`]'s
    /// `v1`) is rendered for it.
    pub protocol: u32,
}

impl SocketHandle {
    /// Answers on the socket's own queue, waiting for room: a burst of its own acknowledgements must not make
    /// a healthy client look like a slow consumer (that rule is for frames other users cause). Stops waiting
    /// when the socket closes.
    pub async fn answer(&self, frame: &ServerFrame) {
        if let Some(slot) = self.slot_now() {
            return slot.send(encode(frame));
        }
        tokio::select! {
            _ = self.tx.send(encode(frame)) => {}
            _ = self.closer.token.cancelled() => {}
        }
    }

    /// Reserves a slot in the socket's queue for an answer to come, waiting for room as [`SocketHandle::answer`]
    /// does; `None` once the socket is closing.
    pub async fn reserve(&self) -> Option<Slot> {
        if let Some(slot) = self.slot_now() {
            return Some(slot);
        }
        tokio::select! {
            slot = self.tx.reserve() => slot.ok(),
            _ = self.closer.token.cancelled() => None,
        }
    }

    /// Room in the socket's queue when there is some now and the socket has not ended: what `answer` and
    /// `reserve` take first, without making a waiter known to the close's token (under its lock) for a wait that
    /// most often does not happen.
    fn slot_now(&self) -> Option<Slot> {
        if self.closer.has_ended() {
            return None;
        }
        self.tx.try_reserve().ok()
    }

    /// Queues a frame without waiting; a full queue closes the socket as a slow consumer.
    pub fn offer(&self, frame: &Encoded) {
        match self.tx.try_send(frame.clone()) {
            Ok(()) => {}
            Err(Refused::Full) => {
                metrics::counter!("tanis_ws_slow_consumer_total").increment(1);
                self.closer.close(CloseCode::SlowConsumer);
            }
            Err(Refused::Closed) => {}
        }
    }
}

/// What this node holds for one connected user (their live state is [`LiveUsers`]'s).
#[derive(Debug, Default)]
struct Connected {
    sockets: Vec<SocketHandle>,
}

#[derive(Debug)]
pub struct Sockets {
    /// user id → that user's open sockets. The lock is held only to copy handles out, never across an await.
    users: Mutex<HashMap<UserId, Connected>>,
    next_id: AtomicU64,
    /// Users who may have missed frames, for the hub to resync.
    resync: Wanted,
    /// Users with an end held back for messages not carried yet, for the hub to read them from the store.
    catch_ups: Wanted,
    /// What this node holds of each connected user besides their sockets: their match, their cached standing.
    live: Arc<LiveUsers>,
    /// Users here whose match just ended, for the hub's ads; kept only once the hub asked for them.
    between: Mutex<Vec<UserId>>,
    between_wanted: Notify,
    between_on: std::sync::atomic::AtomicBool,
    /// Woken whenever a socket goes: [`Sockets::until_offline`] waits on it.
    left: Notify,
}

impl Default for Sockets {
    /// Sockets with live state of their own: tests, and a process that holds no socket (the worker).
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl Sockets {
    /// This node's sockets, keeping `live` (built by startup, and shared with the hub and matching) as events
    /// change it.
    pub fn new(live: Arc<LiveUsers>) -> Self {
        Self {
            users: Mutex::default(),
            // A random start makes socket ids unique across the cluster (2^32 sockets per node before two
            // nodes could meet), so a socket named in an event means the same socket on every node.
            next_id: AtomicU64::new(u64::from(rand::random::<u32>()) << 32),
            resync: Wanted::default(),
            catch_ups: Wanted::default(),
            live,
            between: Mutex::default(),
            between_wanted: Notify::new(),
            between_on: std::sync::atomic::AtomicBool::new(false),
            left: Notify::new(),
        }
    }
}

pub fn encode(frame: &ServerFrame) -> Encoded {
    frame.to_json().into()
}

/// An encoded frame without the receipt riding on it ([`super::without_receipt`]), for a version 1 socket.
pub(super) fn plain_of(frame: &Encoded) -> Encoded {
    match serde_json::from_str::<ServerFrame>(frame) {
        Ok(decoded) => encode(&super::without_receipt(&decoded)),
        // Every frame here was encoded by a node from a `ServerFrame`: unreadable would be a bug of ours.
        Err(e) => {
            tracing::error!(error = %e, "a frame for a version 1 socket could not be read back");
            frame.clone()
        }
    }
}

impl Sockets {
    /// Adds a socket for `user_id`; returns its handle, the receiving end of its outbound queue, and whether
    /// it is the user's first socket here.
    pub(super) fn register(
        &self,
        user_id: UserId,
        login: Option<LoginId>,
        protocol: u32,
        queue: usize,
    ) -> (SocketHandle, Frames, bool) {
        let (tx, rx) = outbound::queue(queue);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = SocketHandle { id, login, tx, closer: Arc::new(Closer::default()), protocol };
        let first = {
            let mut users = self.users.lock().expect("registry lock");
            let user = users.entry(user_id).or_default();
            user.sockets.push(handle.clone());
            let first = user.sockets.len() == 1;
            if first {
                // Under the registry's lock: a last socket going at the same moment cannot take the state away.
                self.live.arrive(user_id);
            }
            first
        };
        metrics::gauge!("tanis_ws_sessions").increment(1.0);
        (handle, rx, first)
    }

    /// Removes a socket; true when it was the user's last one here.
    pub(super) fn unregister(&self, user_id: UserId, socket_id: u64) -> bool {
        let mut users = self.users.lock().expect("registry lock");
        let mut last = false;
        if let Some(user) = users.get_mut(&user_id) {
            user.sockets.retain(|s| s.id != socket_id);
            if user.sockets.is_empty() {
                users.remove(&user_id);
                self.live.leave(user_id);
                last = true;
            }
        }
        metrics::gauge!("tanis_ws_sessions").decrement(1.0);
        drop(users);
        self.left.notify_waiters();
        last
    }

    /// Returns once the user has no socket here: what waits for a closed socket to be let go (a test, before it
    /// counts on the user being offline), without polling.
    pub async fn until_offline(&self, user_id: UserId) {
        loop {
            let left = self.left.notified();
            tokio::pin!(left);
            // Registered before the check, so a socket that goes in between still wakes it.
            left.as_mut().enable();
            if !self.is_connected(user_id) {
                return;
            }
            left.await;
        }
    }

    /// Closes every socket here with `code` (the node is shutting down).
    pub fn close_all(&self, code: CloseCode) {
        let users = self.users.lock().expect("registry lock");
        for socket in users.values().flat_map(|user| &user.sockets) {
            socket.closer.close(code);
        }
    }

    /// The closers of every socket here now (a drain closes them a few at a time).
    pub fn closers(&self) -> Vec<Arc<Closer>> {
        let users = self.users.lock().expect("registry lock");
        users.values().flat_map(|user| &user.sockets).map(|socket| socket.closer.clone()).collect()
    }

    /// Whether no socket is open here.
    pub fn is_empty(&self) -> bool {
        self.users.lock().expect("registry lock").is_empty()
    }

    /// Every user with a socket here.
    pub fn users(&self) -> Vec<UserId> {
        self.users.lock().expect("registry lock").keys().copied().collect()
    }

    /// Marks users (those connected here) for a resync and wakes whoever runs them.
    pub fn want_resync(&self, users: impl IntoIterator<Item = UserId>) {
        let connected = self.users.lock().expect("registry lock");
        self.resync.add(users.into_iter().filter(|u| connected.contains_key(u)));
    }

    /// Waits until some users want a resync, and takes them.
    pub async fn resyncs(&self) -> Vec<UserId> {
        self.resync.take().await
    }

    /// The live state of the users connected here.
    #[cfg(test)]
    pub(crate) fn live(&self) -> &Arc<LiveUsers> {
        &self.live
    }

    /// From now on, users whose match ends here are kept for [`Sockets::between_matches`].
    pub fn want_between_matches(&self) {
        self.between_on.store(true, Ordering::Relaxed);
    }

    /// Waits until some users here are between matches, and takes them, in the order their matches ended.
    pub async fn between_matches(&self) -> Vec<UserId> {
        loop {
            let taken = std::mem::take(&mut *self.between.lock().expect("between lock"));
            if !taken.is_empty() {
                return taken;
            }
            self.between_wanted.notified().await;
        }
    }

    /// Closes the user's sockets here that these logins opened, with 4001.
    pub fn sign_out_here(&self, user_id: UserId, logins: &[LoginId]) {
        for socket in self.sockets_of(user_id) {
            if socket.login.is_some_and(|login| logins.contains(&login)) {
                socket.closer.close(CloseCode::InvalidToken);
            }
        }
    }

    /// The logins of the user's sockets here (those that name one), each once.
    pub fn logins_of(&self, user_id: UserId) -> Vec<LoginId> {
        let mut logins: Vec<LoginId> = self.sockets_of(user_id).iter().filter_map(|s| s.login).collect();
        logins.sort_unstable_by_key(|l| l.as_uuid());
        logins.dedup();
        logins
    }

    fn sockets_of(&self, user_id: UserId) -> Vec<SocketHandle> {
        self.users.lock().expect("registry lock").get(&user_id).map(|u| u.sockets.clone()).unwrap_or_default()
    }

    /// The user's match, while they have a socket here.
    pub fn active_match(&self, user_id: UserId) -> Option<ActiveMatch> {
        self.live.active_match(user_id)
    }

    /// Carries out `event` for the sockets on this node; sockets of other nodes are not here to reach.
    pub(super) fn deliver(&self, event: &Event) {
        match event {
            Event::Resync { users } => self.want_resync(users.iter().copied()),
            Event::Frame { to, frame, v1, of_match, seq } => {
                let (user_id, wanted): (UserId, &dyn Fn(u64) -> bool) = match to {
                    Recipient::User(user_id) => (*user_id, &|_| true),
                    Recipient::UserExcept(except) => (except.user_id, &|id| id != except.socket_id),
                    Recipient::Socket(only) => (only.user_id, &|id| id == only.socket_id),
                };
                // Nothing of a match after its told end; a message counted, and sent once.
                let carry = of_match.and_then(|match_id| {
                    self.live.with(user_id, |live| match seq {
                        Some(seq) => live.carry(match_id, *seq),
                        None => Carry { deliver: !live.told_end_of(match_id), then_end: None },
                    })
                });
                if carry.as_ref().is_some_and(|c| !c.deliver) {
                    return;
                }
                // Offered under the lock: `offer` never waits, and no handles are copied out for every frame.
                let users = self.users.lock().expect("registry lock");
                // Rendered once, for the first version 1 socket that needs it.
                let mut plain = None;
                for socket in users.get(&user_id).iter().flat_map(|u| &u.sockets).filter(|s| wanted(s.id)) {
                    match v1 {
                        Some(v1) if socket.protocol < 2 => {
                            v1.before.iter().for_each(|f| socket.offer(f));
                            if v1.then_plain {
                                socket.offer(plain.get_or_insert_with(|| plain_of(frame)));
                            }
                        }
                        _ => socket.offer(frame),
                    }
                }
                drop(users);
                // The message completed a held end: it is told now, after it.
                if let Some(end) = carry.and_then(|c| c.then_end) {
                    self.tell_end(user_id, &end);
                }
            }
            Event::Kick { user_id, code } => {
                for socket in self.sockets_of(*user_id) {
                    socket.closer.close(*code);
                }
            }
            Event::SignedOut { user_id, logins } => self.sign_out_here(*user_id, logins),
            Event::MatchOpened { user_id, active, balances, matches_opened, frame } => {
                // An end still held back goes first (the user could not have asked for this match before it).
                let (held, ended) = self
                    .live
                    .with(*user_id, |live| (live.release_held(), live.opened(active, *balances, *matches_opened)))
                    .unwrap_or_default();
                if let Some(held) = held {
                    self.tell_end(*user_id, &held);
                }
                let sockets = self.sockets_of(*user_id);
                // An opening overtaken by its end: `match.found`, then its `match.ended` again, so the client
                // sees the match open and close in that order and is free to look again.
                for socket in &sockets {
                    socket.offer(frame);
                    if let Some(ended) = &ended {
                        socket.offer(ended);
                    }
                }
            }
            Event::StandingChanged { user_id } => self.live.standing_changed(*user_id),
            Event::MatchEnded { user_id, match_id, frame, kept: true, .. } => {
                if self.live.with(*user_id, |live| live.kept(*match_id)).is_some() {
                    self.sockets_of(*user_id).iter().for_each(|socket| socket.offer(frame));
                }
            }
            Event::MatchEnded { user_id, match_id, frame, last, kept: false } => {
                match self.live.with(*user_id, |live| live.end_after(*match_id, *last, frame)) {
                    Some(EndNow::Tell) => self.tell_end(*user_id, frame),
                    Some(EndNow::Held) => self.catch_ups.add([*user_id]),
                    Some(EndNow::Again) | None => {}
                }
            }
        }
    }

    /// `match.ended` to every socket of the user here.
    fn tell_end(&self, user_id: UserId, frame: &Encoded) {
        let sockets = self.sockets_of(user_id);
        for socket in &sockets {
            socket.offer(frame);
        }
        // After the frame: an ad the hub shows for it comes after `match.ended`.
        if !sockets.is_empty() && self.between_on.load(Ordering::Relaxed) {
            self.between.lock().expect("between lock").push(user_id);
            self.between_wanted.notify_one();
        }
    }

    /// Waits until some users here have an end held back for messages not carried yet, and takes them: the hub
    /// reads those messages from the store ([`Sockets::held_end`]) and then [`Sockets::release_end`].
    pub async fn catch_ups(&self) -> Vec<UserId> {
        self.catch_ups.take().await
    }

    /// The user's held end here: its match, and the seqs to read after `through` up to `last`.
    pub fn held_end(&self, user_id: UserId) -> Option<(MatchId, Seq, Seq)> {
        self.live.with(user_id, |live| live.held_end()).flatten()
    }

    /// Carries the messages of the user's held end of `match_id` that the store holds (`messages`, read after
    /// [`Sockets::held_end`]'s `through`): each one the relays have not brought yet goes to the sockets, and then
    /// the end, whatever is still missing.
    pub fn caught_up(&self, user_id: UserId, match_id: MatchId, messages: &[ServerFrame]) {
        for message in messages {
            self.deliver(&super::frame_event(Recipient::User(user_id), message));
        }
        self.release_end(user_id, match_id);
    }

    /// Tells the user's held end of `match_id` now, if it is still held.
    pub fn release_end(&self, user_id: UserId, match_id: MatchId) {
        if let Some(frame) = self.live.with(user_id, |live| live.release(match_id)).flatten() {
            self.tell_end(user_id, &frame);
        }
    }

    /// Whether `socket` is open on this node.
    pub fn holds(&self, socket: super::SocketRef) -> bool {
        let users = self.users.lock().expect("registry lock");
        users.get(&socket.user_id).is_some_and(|u| u.sockets.iter().any(|s| s.id == socket.socket_id))
    }

    /// `frame` to every socket of the user here of version 2, the frames `v1` makes to those of version 1: made
    /// under the registry's lock, so a socket registering meanwhile gets the frames of its own version.
    /// Nothing of `of_match` once its end was told here.
    pub(super) fn deliver_by_version(
        &self,
        user_id: UserId,
        frame: &Encoded,
        of_match: Option<MatchId>,
        v1: impl FnOnce() -> Box<[Encoded]>,
    ) {
        if of_match.is_some_and(|m| self.live.with(user_id, |live| live.told_end_of(m)) == Some(true)) {
            return;
        }
        let users = self.users.lock().expect("registry lock");
        let Some(user) = users.get(&user_id) else { return };
        let v1 = user.sockets.iter().any(|s| s.protocol < 2).then(v1);
        for socket in &user.sockets {
            match &v1 {
                Some(frames) if socket.protocol < 2 => frames.iter().for_each(|f| socket.offer(f)),
                _ => socket.offer(frame),
            }
        }
    }

    /// Whether the user has a socket here other than `socket`.
    pub fn has_other_socket(&self, socket: super::SocketRef) -> bool {
        let users = self.users.lock().expect("registry lock");
        users.get(&socket.user_id).is_some_and(|u| u.sockets.iter().any(|s| s.id != socket.socket_id))
    }

    pub fn is_connected(&self, user_id: UserId) -> bool {
        self.users.lock().expect("registry lock").contains_key(&user_id)
    }
}

#[cfg(test)]
#[path = "sockets_tests.rs"]
mod tests;
