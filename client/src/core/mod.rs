//! The client core: everything a tanis app needs between its socket and its screens, without I/O of its own, so
//! that one implementation serves every platform (Kotlin and Swift through the generated bindings of
//! `client/ffi`, docs/sdk-native.md) and runs the conformance corpus (conformance/) on a fake clock.
//!
//! The host owns the socket and the clock. It calls [`Core::start`], opens a socket when asked
//! ([`Output::Connect`]), and tells the core what happens: [`Core::opened`], every text frame
//! ([`Core::received`]), [`Core::closed`], and the time at [`Core::wake_at`] ([`Core::tick`]). The app's calls
//! ([`Core::find`], [`Core::send`], [`Core::leave`], [`Core::report`]) and every input return what to do, in order:
//! frames to send, a socket to open, events for the app. Nothing blocks and nothing is async, so the bindings carry
//! no runtime and no future across the language boundary (the trap matrix-rust-sdk and Element X hit on Kotlin).
//!
//! The guarantees are the TypeScript SDK's, checked by the same transcripts: a message is stored before it is sent
//! and sent again unchanged until accepted, in order (a refusal for now holds what follows; no more than
//! [`SEND_AHEAD`](crate::SEND_AHEAD) counters ahead); the receive window and the counters survive a restart; a
//! conversation resumes after the last seq processed; acknowledgements ride on sends or leave after
//! [`ACK_DELAY`](crate::ACK_DELAY).

pub mod call;
mod conversation;
mod inbox;
mod link;
pub mod policy;
pub mod port;
mod receive;
mod session;
#[cfg(feature = "testkit")]
pub mod testkit;

use tanis_proto::{ClientFrame, InterestMatching, MatchKind, Region, ReportReason, Seq, ServerFrame};

use crate::acks::Acks;
use crate::e2e::Identity;
use conversation::Conversation;
pub use port::{Event, MemoryStorage, Millis, Output, Request, Storage};
use session::Session;

const FIND: &str = "tanis.find";
const FIND_KEY: &str = "tanis.find.key";

/// Why the core refused an app's call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("not in a match")]
    NotInMatch,
    #[error("already in a match")]
    AlreadyInMatch,
    #[error("no message {0} of the peer was read here")]
    UnknownMessage(i64),
    #[error("not a report reason: {0}")]
    UnknownReason(String),
    #[error("not signed in")]
    SignedOut,
    #[error("this device holds no key for the conversation (taken over by another session)")]
    NoKey,
}

impl CoreError {
    /// The code the SDKs give this refusal (conformance/README.md, `app` steps with `refused`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::NotInMatch => "not_in_match",
            CoreError::AlreadyInMatch => "already_in_match",
            CoreError::UnknownMessage(_) => "unknown_message",
            CoreError::UnknownReason(_) => "invalid_field",
            CoreError::SignedOut => "signed_out",
            CoreError::NoKey => "no_key",
        }
    }
}

enum Socket {
    /// No socket; a new one is asked for at `reconnect_at` (none: after a refresh, or the app must act: sign in).
    Closed { reconnect_at: Option<Millis> },
    /// Asked for, not yet open.
    Opening,
    /// Open; frames other than `hello`'s answer wait for it.
    Open { greeted: bool },
}

/// A find waiting for its match: its key pair must survive a restart, or the match found meanwhile is unreadable; and
/// it is asked for again after a reconnect (the queue's place went with the old socket; if it did not, the server
/// answers `already_queued`).
struct Find {
    identity: Identity,
    kind: MatchKind,
}

pub struct Core {
    storage: Box<dyn Storage>,
    secrets: Box<dyn Storage>,
    out: Vec<Output>,
    session: Session,
    socket: Socket,
    /// A socket is wanted once the refresh in flight succeeds (a 4001/4002 close, a start with an expired token).
    connect_after_refresh: bool,
    /// Banned, or closed for a protocol error: nothing reconnects until the app signs in again.
    halted: bool,
    /// The socket asked for was opened with a token just refreshed, and has not been greeted yet.
    fresh_token: bool,
    /// Failed connection attempts since the last `hello`.
    attempts: u32,
    protocol: u32,
    find: Option<Find>,
    conversation: Option<Conversation>,
    /// The app was told of the conversation this run holds (`matched`): a conversation restored from storage is
    /// announced again at the first `hello` that names it, for the app to put it back on screen.
    announced: bool,
    acks: Acks<Millis>,
    next_request: u64,
    /// The video match's call: its setup timer and report.
    call: call::Call,
    /// A match another device of this account asked for, which this one holds no key for.
    elsewhere: Option<tanis_proto::MatchId>,
    /// The ids of `report` frames not yet answered: their `ok` is the server's word that the evidence verified.
    reports: Vec<String>,
}

impl Core {
    /// A core on the host's storage and secret store, taking back what a previous run stored there.
    pub fn new(storage: Box<dyn Storage>, secrets: Box<dyn Storage>) -> Self {
        let conversation = Conversation::restored(&*storage, &*secrets);
        let find = storage.load(FIND).and_then(|record| {
            let kind = serde_json::from_str::<serde_json::Value>(&record).ok()?["kind"].clone();
            let identity = Identity::from_secret_b64(&secrets.load(FIND_KEY)?).ok()?;
            Some(Find { identity, kind: serde_json::from_value(kind).ok()? })
        });
        let session = Session::restored(&*secrets);
        Self {
            storage,
            secrets,
            out: Vec::new(),
            session,
            socket: Socket::Closed { reconnect_at: None },
            connect_after_refresh: false,
            halted: false,
            fresh_token: false,
            attempts: 0,
            protocol: 1,
            find,
            conversation,
            announced: false,
            acks: Acks::new(),
            next_request: 1,
            reports: Vec::new(),
            elsewhere: None,
            call: call::Call::default(),
        }
    }

    /// When [`Core::tick`] must be called next, if anything waits for the time.
    #[must_use]
    pub fn wake_at(&self) -> Option<Millis> {
        let reconnect = match self.socket {
            Socket::Closed { reconnect_at } => reconnect_at,
            _ => None,
        };
        // Offline, a retry or an acknowledgement waits for the socket, not for the time.
        let greeted = self.greeted();
        let retry = self.conversation.as_ref().and_then(|c| c.outbox.retry_at()).filter(|_| greeted);
        let ack = self.acks.due().filter(|_| greeted);
        let gap = self.conversation.as_ref().and_then(|c| c.inbox.gap_at()).filter(|_| greeted);
        [reconnect, retry, ack, gap, self.session.refresh_at()].into_iter().flatten().min()
    }

    /// Runs what fell due at `now`: a token's refresh, a reconnect, a refused message's retry, a standalone
    /// acknowledgement, a gap's `resume`.
    pub fn tick(&mut self, now: Millis) -> Vec<Output> {
        if self.session.refresh_at().is_some_and(|at| at <= now) {
            self.refresh();
        }
        if let Socket::Closed { reconnect_at: Some(at) } = self.socket
            && at <= now
        {
            self.connect();
        }
        if self.greeted() {
            for frame in self.acks.take_due(now) {
                self.send_frame(&frame);
            }
            if self.conversation.as_ref().and_then(|c| c.inbox.gap_at()).is_some_and(|at| at <= now) {
                self.resume();
            }
            self.flush(now);
        }
        self.take()
    }

    /// A text frame from the server.
    pub fn received(&mut self, text: &str, now: Millis) -> Vec<Output> {
        // A frame this version does not know (a newer server's) is skipped, as docs/protocol.md asks.
        if let Ok(frame) = serde_json::from_str::<ServerFrame>(text) {
            self.handle(frame, now);
        }
        self.take()
    }

    /// Asks for a match of `kind` with a fresh key pair, kept (secret half in the secret store) until it is found.
    ///
    /// # Errors
    /// [`CoreError::AlreadyInMatch`] while a conversation goes on.
    pub fn find(&mut self, kind: MatchKind, _now: Millis) -> Result<Vec<Output>, CoreError> {
        if self.conversation.is_some() {
            return Err(CoreError::AlreadyInMatch);
        }
        // Banned: the socket stays closed, and a find would be sent to no one and kept for nothing.
        if self.halted {
            return Ok(self.take());
        }
        let identity = Identity::generate();
        self.secrets.save(FIND_KEY, &identity.secret_b64());
        self.storage.save(FIND, &serde_json::json!({ "kind": kind }).to_string());
        self.find = Some(Find { identity, kind });
        self.ask();
        Ok(self.take())
    }

    /// Sends the waiting find's `match.find`.
    fn ask(&mut self) {
        let Some(find) = &self.find else { return };
        let (kind, public_key) = (find.kind, find.identity.public_key_b64());
        let frame = ClientFrame::MatchFind {
            id: Some(self.request_id()),
            kind,
            public_key,
            nearby: false,
            interests: InterestMatching::default(),
            region: Region::default(),
            seeking: None,
        };
        self.send_frame(&frame);
    }

    /// Seals `text` into the conversation's outbox, stores it, and sends it when the order allows; returns its
    /// `client_msg_id` (the `sent` or `failed` event names it) and what to do.
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`].
    pub fn send(&mut self, text: &str, now: Millis) -> Result<(String, Vec<Output>), CoreError> {
        let conversation = self.conversation.as_mut().ok_or(CoreError::NotInMatch)?;
        if conversation.taken_over {
            return Err(CoreError::NoKey);
        }
        let client_msg_id = conversation.write(text);
        conversation.save(&*self.storage);
        self.flush(now);
        Ok((client_msg_id, self.take()))
    }

    /// Leaves the conversation; it ends with the server's `match.ended`.
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`].
    pub fn leave(&mut self, _now: Millis) -> Result<Vec<Output>, CoreError> {
        let match_id = self.conversation.as_ref().ok_or(CoreError::NotInMatch)?.match_id();
        let frame = ClientFrame::MatchLeave { id: Some(self.request_id()), match_id };
        self.send_frame(&frame);
        Ok(self.take())
    }

    /// Hangs the call of the video match up: one `rtc.hangup` (a call that never connected sends no `rtc.stats`).
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`] without a video match.
    pub fn hang_up(&mut self, _now: Millis) -> Result<Vec<Output>, CoreError> {
        let conversation =
            self.conversation.as_mut().filter(|c| c.info.kind == MatchKind::Video).ok_or(CoreError::NotInMatch)?;
        if !std::mem::replace(&mut conversation.hung_up, true) {
            let match_id = conversation.match_id();
            let frame = ClientFrame::RtcHangup { id: Some(self.request_id()), match_id };
            self.send_frame(&frame);
        }
        Ok(self.take())
    }

    /// Reports the peer for `reason` (a code of docs/protocol.md, `report`), revealing their messages `seqs` so the
    /// server can verify what they said.
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`], [`CoreError::UnknownReason`], [`CoreError::UnknownMessage`].
    pub fn report(&mut self, reason: &str, seqs: &[i64], _now: Millis) -> Result<Vec<Output>, CoreError> {
        let conversation = self.conversation.as_ref().ok_or(CoreError::NotInMatch)?;
        let reason_code: ReportReason = serde_json::from_value(serde_json::Value::String(reason.to_owned()))
            .map_err(|_| CoreError::UnknownReason(reason.to_owned()))?;
        let seqs: Vec<Seq> = seqs.iter().map(|&s| Seq(s)).collect();
        let evidence = conversation.reveal(&seqs).map_err(|seq| CoreError::UnknownMessage(seq.0))?;
        let match_id = conversation.match_id();
        let id = self.request_id();
        self.reports.push(id.clone());
        let frame = ClientFrame::Report { id: Some(id), match_id, reason_code, details: None, evidence };
        self.send_frame(&frame);
        Ok(self.take())
    }

    /// Asks for everything stored after the last seq processed; live frames wait for its `resume.done`.
    fn resume(&mut self) {
        let id = self.request_id();
        let Some(conversation) = self.conversation.as_mut() else { return };
        let frame = ClientFrame::Resume {
            id: Some(id.clone()),
            match_id: conversation.match_id(),
            after_seq: conversation.last_seq,
        };
        conversation.inbox.resumed(id);
        self.send_frame(&frame);
    }

    fn establish(&mut self, identity: Identity, info: tanis_proto::MatchInfo) {
        let (match_id, peer, initiator) = (info.match_id.0, info.peer.clone(), info.initiator);
        match Conversation::established(identity, info, &*self.secrets) {
            Ok(conversation) => {
                conversation.save(&*self.storage);
                self.conversation = Some(conversation);
                self.call = call::Call::default();
                self.announced = true;
                self.out.push(Output::Event(Event::Matched { match_id, peer, initiator }));
            }
            // A key the protocol refuses (docs/protocol.md section 9 step 2): do not chat; leave.
            Err(_) => {
                let frame =
                    ClientFrame::MatchLeave { id: Some(self.request_id()), match_id: tanis_proto::MatchId(match_id) };
                self.send_frame(&frame);
            }
        }
    }

    /// Puts on the wire what the outbox lets go now, the acknowledgement owed riding on the first.
    fn flush(&mut self, now: Millis) {
        if !self.greeted() {
            return;
        }
        let Some(conversation) = self.conversation.as_mut().filter(|c| !c.inbox.resuming()) else { return };
        let frames = conversation.outbox.ready(now);
        for mut frame in frames {
            self.acks.ride(&mut frame);
            self.send_frame(&frame);
        }
    }

    /// Signed out: nothing of the user's conversation or waiting find stays on this device.
    fn end_locally(&mut self) {
        if self.conversation.take().is_some() {
            Conversation::forget(&*self.storage, &*self.secrets);
        }
        self.find = None;
        self.forget_find();
        self.acks = Acks::new();
        self.announced = false;
    }

    fn end(&mut self, reason: String) {
        if let Some(conversation) = self.conversation.take() {
            Conversation::forget(&*self.storage, &*self.secrets);
            self.out.push(Output::Event(Event::Ended { match_id: conversation.match_id().0, reason }));
        }
    }

    fn forget_find(&mut self) {
        self.storage.remove(FIND);
        self.secrets.remove(FIND_KEY);
    }

    fn greeted(&self) -> bool {
        matches!(self.socket, Socket::Open { greeted: true })
    }

    fn send_frame(&mut self, frame: &ClientFrame) {
        self.out.push(Output::Send(serde_json::to_string(frame).expect("client frames serialise")));
    }

    fn request_id(&mut self) -> String {
        let id = format!("r{}", self.next_request);
        self.next_request += 1;
        id
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }
}

fn reason_code(reason: &tanis_proto::EndReason) -> String {
    serde_json::to_value(reason).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
