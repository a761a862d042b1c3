//! One user of the mix: its schedules, the match it is in, and what it measured. It reads every frame as an app
//! does; a request that goes wrong is counted by its error code and the user carries on (asks again), so one bad
//! answer never hides the rest of the run. Only a broken socket or a failed reconnect ends a user early.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tanis_client::{Chat, Connection, Find, Identity};
use tanis_proto::{ClientFrame, ErrorCode, MatchId, MatchInfo, MatchKind, Seq, ServerFrame};
use tokio::sync::Barrier;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::MixArgs;
use super::tally::Tally;
use crate::rng::SplitMix64;
use crate::{Progress, SeededUser, clock_us, payload_at, record_us, sent_at_us};

/// A message sent this long after its scheduled time counts as late (the generator fell behind).
const LATE_US: u64 = 5_000;
/// Ended matches kept to read their last messages (a skip races the peer's messages in flight).
const KEPT_TALKS: usize = 3;
/// A call's signalling as a browser's would look to the server: a small session description and one relay
/// candidate each way (the server strips non-relay ones, so this one reaches the peer). Nothing connects.
const SDP: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const CANDIDATE: &str = "candidate:1 1 udp 16777215 203.0.113.10 3478 typ relay raddr 0.0.0.0 rport 0";

/// Who the user is and how it behaves.
pub struct User {
    index: usize,
    token: String,
    url: String,
    /// The local address its sockets and requests come from.
    from: Option<IpAddr>,
    /// Events per second of its three schedules: message, skip, drop.
    rates: [f64; 3],
    /// Asks for video matches and signals a call in each (`--video-share`), else text.
    kind: MatchKind,
    rng: SplitMix64,
    /// `--survive-drops` and `--rematch-secs` (chaos).
    survive: bool,
    rematch: Duration,
}

impl User {
    pub fn new(index: usize, seeded: &SeededUser, url: String, from: Option<IpAddr>, args: &MixArgs) -> Self {
        let rates = [args.messages_per_min / 60.0, args.skips_per_min / 60.0, args.reconnects_per_min / 60.0];
        let rng = SplitMix64((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x00C0_FFEE);
        // Every (1/share)-th user, spread over the population (and so over the nodes and source addresses).
        let video = args.video_share > 0.0
            && (index as f64 * args.video_share).floor() != ((index + 1) as f64 * args.video_share).floor();
        let kind = if video { MatchKind::Video } else { MatchKind::Text };
        let (survive, rematch) = (args.survive_drops, Duration::from_secs(args.rematch_secs));
        Self { index, token: seeded.token.clone(), url, from, rates, kind, rng, survive, rematch }
    }

    /// The whole life: arrive at `arrive`, then the phases of the run (see `mix::run`). Always reaches every
    /// barrier, whatever fails, so one user's failure never stalls the run.
    pub async fn live(
        mut self,
        arrive: Instant,
        window: Duration,
        drain: Duration,
        phases: &[Arc<Barrier>; 4],
        progress: &Progress,
        sampled: Option<Arc<Mutex<Tally>>>,
    ) -> Tally {
        sleep_until(arrive).await;
        let mut tally = Tally::new();
        let setup = self.arrive().await;
        if let Err(e) = &setup {
            tally.connect_failures += 1;
            tally.fatal = Some(format!("user {} arriving: {e:#}", self.index));
        }
        phases[0].wait().await;
        phases[1].wait().await;
        let Ok(conn) = setup else {
            phases[2].wait().await;
            phases[3].wait().await;
            return tally;
        };
        let mut life = Life::new(conn, tally, self.kind, sampled);
        let lived = life.run(&mut self, window, drain, progress).await;
        if let Err(e) = &lived {
            progress.fail();
            life.tally.fatal = Some(format!("user {}: {e:#}", self.index));
            // A user gone for good shows in the interval it went in (the report counts it in `failed_users`).
            if let Some(window) = &life.window {
                *window.lock().expect("no user panics holding it").errors.entry("user_ended".into()).or_default() += 1;
            }
        }
        phases[2].wait().await;
        // Every user has drained (none is still in the queue from the window): each asks again at once.
        if lived.is_ok() && !self.rematch.is_zero() {
            life.rematch(self.rematch).await;
        }
        phases[3].wait().await;
        life.end().await;
        life.tally
    }

    /// Connects, leaves whatever match an earlier run left, and loads its profile over HTTP as an app does when it
    /// opens (through the same address, so the proxy spreads REST as it spreads sockets).
    async fn arrive(&self) -> anyhow::Result<Connection> {
        let (mut conn, hello) = self.connect().await?;
        crate::relay::leave_active(&mut conn, &hello).await?;
        let mut http = reqwest::Client::builder();
        if let Some(from) = self.from {
            http = http.local_address(from);
        }
        let me = http.build()?.get(format!("{}/v1/me", http_base(&self.url))).bearer_auth(&self.token).send().await?;
        anyhow::ensure!(me.status().is_success(), "GET /v1/me: {}", me.status());
        Ok(conn)
    }

    async fn connect(&self) -> anyhow::Result<(Connection, ServerFrame)> {
        let (mut conn, hello) = match self.from {
            // Version 1: mix acknowledges each message with its own msg.ack and counts one receipt per message.
            Some(from) => Connection::connect_from(&self.url, &self.token, from, 1).await?,
            None => Connection::connect(&self.url, &self.token).await?,
        };
        // The run's deadlines bound every wait; the client's own 10 s limit would end a quiet user.
        conn.wait = Duration::from_secs(3600);
        Ok((conn, hello))
    }

    /// The next event of schedule `which` after `now` (since the window's start); `None` for a rate of zero.
    fn after(&mut self, which: usize, now: Duration) -> Option<Duration> {
        let per_sec = self.rates[which];
        (per_sec > 0.0).then(|| now + self.rng.exponential(per_sec))
    }
}

/// A match this user is (or was) in.
struct Talk {
    chat: Chat,
    /// The peer's last message here: `resume` asks from it, and anything at or below it is a replay.
    last_peer_seq: Seq,
}

/// The user's state over the window.
struct Life {
    conn: Connection,
    talk: Option<Talk>,
    /// Recently ended matches, newest first, for their last messages.
    old: VecDeque<Talk>,
    /// A `match.find` in the queue: its key pair and when it was sent (`clock_us`).
    asking: Option<(Identity, u64)>,
    /// A skip's `match.leave` is on its way: the next find waits for its answer (`already_in_match` otherwise).
    leaving: bool,
    /// Sent, not yet answered, by request id (`<match>/<client_msg_id>`): scheduled time and the frame, to send
    /// again on a new socket.
    pending: HashMap<String, (u64, ClientFrame)>,
    /// Messages written, for their plaintext.
    written: u64,
    /// While false (the drain), nobody asks for a new match.
    open: bool,
    kind: MatchKind,
    /// The call this user offered and awaits the answer of: its match and when the offer went (`clock_us`).
    calling: Option<(MatchId, u64)>,
    tally: Tally,
    /// The current interval's tally, shared by every user, when the run is sampled (`--sample-csv`).
    window: Option<Arc<Mutex<Tally>>>,
}

impl Life {
    fn new(conn: Connection, tally: Tally, kind: MatchKind, window: Option<Arc<Mutex<Tally>>>) -> Self {
        Self {
            conn,
            talk: None,
            old: VecDeque::new(),
            asking: None,
            leaving: false,
            pending: HashMap::new(),
            written: 0,
            open: true,
            kind,
            calling: None,
            tally,
            window,
        }
    }

    /// Counts into the user's tally and, when the run is sampled, the current interval's too.
    fn count(&mut self, f: impl Fn(&mut Tally)) {
        f(&mut self.tally);
        if let Some(window) = &self.window {
            f(&mut window.lock().expect("no user panics holding it"));
        }
    }

    async fn run(
        &mut self,
        user: &mut User,
        window: Duration,
        drain: Duration,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let (start, start_us) = (Instant::now(), clock_us());
        let deadline = start + window;
        let mut next = [user.after(0, Duration::ZERO), user.after(1, Duration::ZERO), user.after(2, Duration::ZERO)];
        self.find().await?;
        loop {
            let due = next.iter().enumerate().filter_map(|(k, d)| d.map(|d| (k, d))).min_by_key(|&(_, d)| d);
            let Some((which, at)) = due.filter(|&(_, d)| d < window) else { break };
            tokio::select! {
                biased;
                () = sleep_until(start + at) => {
                    let scheduled_us = start_us + at.as_micros() as u64;
                    let done = match which {
                        0 => self.write(scheduled_us).await,
                        1 => self.skip().await,
                        _ => self.reconnect(user, scheduled_us).await,
                    };
                    self.survive(done, user).await?;
                    next[which] = user.after(which, at);
                }
                frame = self.conn.next() => {
                    let done = self.take_result(frame, progress).await;
                    self.survive(done, user).await?;
                }
            }
        }
        // Nothing more falls due in the window: read until it ends, then the last answers and a quiet second.
        while let Ok(frame) = timeout_at(deadline, self.conn.next()).await {
            let done = self.take_result(frame, progress).await;
            self.survive(done, user).await?;
        }
        self.open = false;
        let until = deadline + drain;
        loop {
            let quiet = Instant::now() + Duration::from_secs(1);
            let wait = if self.pending.is_empty() { quiet.min(until) } else { until };
            match timeout_at(wait, self.conn.next()).await {
                Ok(frame) => {
                    let done = self.take_result(frame, progress).await;
                    self.survive(done, user).await?;
                }
                Err(_) => {
                    self.tally.unacknowledged += self.pending.len() as u64;
                    return Ok(());
                }
            }
        }
    }

    async fn take_result(
        &mut self,
        frame: Result<ServerFrame, tanis_client::ClientError>,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        self.take(frame?, progress).await
    }

    /// `--survive-drops`: a failure on the socket (a node killed, nginx closing the socket, a write to a dead
    /// one) is followed by a new connection, retried every 0.2-0.7 s for up to a minute, as an app reconnects;
    /// `reconnect` resumes the match and sends the unacknowledged again. Without the flag the failure ends the user.
    async fn survive(&mut self, done: anyhow::Result<()>, user: &User) -> anyhow::Result<()> {
        let Err(e) = done else { return Ok(()) };
        if !user.survive {
            return Err(e);
        }
        let (broke_us, give_up) = (clock_us(), Instant::now() + Duration::from_secs(60));
        loop {
            // Spread over the users, so a killed node's sockets do not all come back in the same millisecond.
            let jitter = 200 + (user.index as u64 * 37 + clock_us() / 1000) % 500;
            tokio::time::sleep(Duration::from_millis(jitter)).await;
            match self.reconnect(user, broke_us).await {
                Ok(()) => break,
                Err(again) if Instant::now() >= give_up => {
                    return Err(again.context(format!("no new socket within a minute of: {e:#}")));
                }
                Err(_) => {}
            }
        }
        self.tally.drops_survived += 1;
        self.tally.worst_pause_us = self.tally.worst_pause_us.max(clock_us().saturating_sub(broke_us));
        Ok(())
    }

    /// `--rematch-secs`: leave the match (if any), ask again, and wait that long for `match.found`. A user not
    /// paired in time, or whose socket fails meanwhile, is counted in `rematch_missed`.
    async fn rematch(&mut self, bound: Duration) {
        let since = clock_us();
        let deadline = Instant::now() + bound;
        let paired = async {
            if let Some(talk) = self.talk.take() {
                let leave = ClientFrame::MatchLeave { id: Some("rematch".into()), match_id: talk.chat.info.match_id };
                self.conn.send(&leave).await?;
            }
            // The same key pair if a find is still queued (its entry may be there: `already_queued` then).
            if self.asking.is_none() {
                self.asking = Some((Identity::generate(), since));
            }
            self.send_find().await?;
            loop {
                if let ServerFrame::MatchFound { info, .. } = timeout_at(deadline, self.conn.next()).await?? {
                    let (identity, _) = self.asking.take().expect("asked above");
                    self.talk = Some(Talk { chat: Chat::established(identity, info)?, last_peer_seq: Seq(0) });
                    return anyhow::Ok(());
                }
            }
        };
        match paired.await {
            Ok(()) => record_us(&mut self.tally.rematch, clock_us().saturating_sub(since)),
            Err(e) => {
                self.tally.rematch_missed += 1;
                eprintln!("[mix] rematch missed: {e:#}");
            }
        }
    }

    async fn find(&mut self) -> anyhow::Result<()> {
        if !self.open || self.asking.is_some() || self.talk.is_some() || self.leaving {
            return Ok(());
        }
        self.asking = Some((Identity::generate(), clock_us()));
        self.tally.finds += 1;
        self.send_find().await
    }

    /// Sends the waiting find, with its key pair: again on a new socket, the same key pair, since its
    /// `match.found` may still come for the entry the old socket made (a new key pair would key that match wrong).
    async fn send_find(&mut self) -> anyhow::Result<()> {
        let Some((identity, _)) = &self.asking else { return Ok(()) };
        let frame = Find::new(self.kind).frame(Some("find".into()), identity.public_key_b64());
        Ok(self.conn.send(&frame).await?)
    }

    async fn write(&mut self, scheduled_us: u64) -> anyhow::Result<()> {
        if clock_us() > scheduled_us + LATE_US {
            self.tally.late += 1;
        }
        let Some(talk) = &mut self.talk else {
            self.tally.without_partner += 1;
            return Ok(());
        };
        self.written += 1;
        let mut frame = talk.chat.message(&payload_at(scheduled_us, self.written));
        let ClientFrame::MsgSend { id, match_id, client_msg_id, .. } = &mut frame else { unreachable!() };
        // The request id names the match too: client_msg_ids start again at m1 in every match.
        let key = format!("{match_id}/{client_msg_id}");
        *id = Some(key.clone());
        self.conn.send(&frame).await?;
        self.pending.insert(key, (scheduled_us, frame));
        self.tally.offered += 1;
        Ok(())
    }

    async fn skip(&mut self) -> anyhow::Result<()> {
        let Some(talk) = self.talk.take() else { return Ok(()) };
        let match_id = talk.chat.info.match_id;
        self.keep(talk);
        self.tally.skips += 1;
        self.leaving = true;
        self.conn.send(&ClientFrame::MatchLeave { id: Some("skip".into()), match_id }).await?;
        Ok(())
    }

    /// The socket drops (no close frame, as a lost network) and the app connects again at once: it resumes its
    /// match from the last message it has, sends again what was not acknowledged, and asks again if it was
    /// waiting (a queue entry goes with its socket).
    async fn reconnect(&mut self, user: &User, scheduled_us: u64) -> anyhow::Result<()> {
        let (conn, hello) = match user.connect().await {
            Ok(answer) => answer,
            Err(e) => {
                self.count(|t| t.connect_failures += 1);
                return Err(e.context("reconnecting"));
            }
        };
        self.conn = conn;
        let took = clock_us().saturating_sub(scheduled_us);
        self.count(|t| record_us(&mut t.reconnect, took));
        let ServerFrame::Hello { active_match, .. } = hello else { unreachable!("connect returns hello") };
        self.reconcile(active_match).await?;
        let frames: Vec<ClientFrame> = self.pending.values().map(|(_, f)| f.clone()).collect();
        for frame in &frames {
            self.conn.send(frame).await?;
        }
        self.tally.resends += frames.len() as u64;
        match self.asking {
            Some(_) => self.send_find().await,
            None => self.find().await,
        }
    }

    /// Takes the match the server has (a new socket's `hello`, or a `resync`) as this user's state.
    async fn reconcile(&mut self, active_match: Option<MatchInfo>) -> anyhow::Result<()> {
        let current = self.talk.as_ref().map(|t| t.chat.info.match_id);
        match active_match {
            Some(info) if Some(info.match_id) == current => self.resume(info.match_id, false).await?,
            Some(info) if self.asking.is_some() => {
                // Paired while away: `match.found` went to the dropped socket.
                let (identity, since) = self.asking.take().expect("checked");
                let took = clock_us().saturating_sub(since);
                self.count(|t| record_us(&mut t.found, took));
                let match_id = info.match_id;
                self.talk = Some(Talk { chat: Chat::established(identity, info)?, last_peer_seq: Seq(0) });
                self.resume(match_id, false).await?;
            }
            Some(info) => {
                // A skip whose answer was lost with the socket, or a match this user no longer holds: leave it.
                self.leaving = true;
                let frame = ClientFrame::MatchLeave { id: Some("skip".into()), match_id: info.match_id };
                self.conn.send(&frame).await?;
            }
            None => {
                self.leaving = false;
                if let Some(talk) = self.talk.take() {
                    // The peer ended it while this user was away: its last messages are still to be read.
                    self.tally.ended_by_peer += 1;
                    let match_id = talk.chat.info.match_id;
                    self.keep(talk);
                    self.resume(match_id, true).await?;
                }
            }
        }
        Ok(())
    }

    async fn resume(&mut self, match_id: MatchId, ended: bool) -> anyhow::Result<()> {
        let after_seq = self.talk_mut(match_id).map_or(Seq(0), |t| t.last_peer_seq);
        let id = Some(if ended { "resume-ended" } else { "resume" }.into());
        Ok(self.conn.send(&ClientFrame::Resume { id, match_id, after_seq }).await?)
    }

    fn keep(&mut self, talk: Talk) {
        self.old.push_front(talk);
        self.old.truncate(KEPT_TALKS);
    }

    fn talk_mut(&mut self, match_id: MatchId) -> Option<&mut Talk> {
        let current = self.talk.as_mut().filter(|t| t.chat.info.match_id == match_id);
        current.or_else(|| self.old.iter_mut().find(|t| t.chat.info.match_id == match_id))
    }

    async fn take(&mut self, frame: ServerFrame, progress: &Progress) -> anyhow::Result<()> {
        match frame {
            ServerFrame::MsgAccepted { match_id, client_msg_id, seq, .. } => {
                if let Some((scheduled, _)) = self.pending.remove(&format!("{match_id}/{client_msg_id}")) {
                    let took = clock_us().saturating_sub(scheduled);
                    self.count(|t| {
                        record_us(&mut t.accepted, took);
                        t.acked += 1;
                    });
                    self.tally.acked_seqs.push((match_id.get(), seq.get()));
                    progress.add(1);
                }
            }
            ServerFrame::Msg { mine: false, match_id, seq, .. } => {
                let now = clock_us();
                let read = match self.talk_mut(match_id) {
                    Some(talk) if seq <= talk.last_peer_seq => return Ok(()),
                    Some(talk) => {
                        talk.last_peer_seq = seq;
                        Some(talk.chat.read(&frame)?)
                    }
                    None => None,
                };
                match read {
                    Some(text) => {
                        let sent = sent_at_us(&text).ok_or_else(|| anyhow::anyhow!("no send time in {text:?}"))?;
                        self.count(|t| record_us(&mut t.peer, now.saturating_sub(sent)));
                    }
                    None => self.tally.unreadable += 1,
                }
                self.tally.received += 1;
                self.tally.received_seqs.push((match_id.get(), seq.get()));
                self.conn.send(&ClientFrame::MsgAck { id: None, match_id, seq }).await?;
                self.tally.receipts += 1;
            }
            ServerFrame::MsgDelivered { .. } => self.tally.delivered += 1,
            // Paired while the socket was being replaced: `hello` on the new one said so first, and the match's
            // `match.found` reached the new socket too.
            ServerFrame::MatchFound { info, .. }
                if self.talk.as_ref().is_some_and(|t| t.chat.info.match_id == info.match_id) => {}
            ServerFrame::MatchFound { info, .. } => match self.asking.take() {
                Some((identity, since)) => {
                    let took = clock_us().saturating_sub(since);
                    self.count(|t| record_us(&mut t.found, took));
                    self.call(&info).await?;
                    self.talk = Some(Talk { chat: Chat::established(identity, info)?, last_peer_seq: Seq(0) });
                }
                None => self.count_error("match_found_unasked", progress),
            },
            // The peer ended it (the echo of our own leave finds the match already put away).
            ServerFrame::MatchEnded { match_id, .. }
                if self.talk.as_ref().is_some_and(|t| t.chat.info.match_id == match_id) =>
            {
                let talk = self.talk.take().expect("checked");
                self.keep(talk);
                self.tally.ended_by_peer += 1;
                self.find().await?;
            }
            ServerFrame::Ok { id } if id.as_deref() == Some("skip") => {
                self.leaving = false;
                self.find().await?;
            }
            ServerFrame::Error { id, code, message, .. } => self.refused(id, code, &message, progress).await?,
            // The callee answers at once, as a browser whose user accepted the call.
            ServerFrame::RtcOffer { match_id, .. } => {
                self.conn.send(&ClientFrame::RtcAnswer { id: Some("rtc".into()), match_id, sdp: SDP.into() }).await?;
                self.conn.send(&ice(match_id)).await?;
            }
            ServerFrame::RtcAnswer { match_id, .. } => {
                if let Some((_, since)) = self.calling.take_if(|(m, _)| *m == match_id) {
                    let took = clock_us().saturating_sub(since);
                    self.count(|t| {
                        record_us(&mut t.signal, took);
                        t.answers += 1;
                    });
                    // What a connected call tells the server (it records the call as connected: a write).
                    let frame = ClientFrame::RtcConnected { id: Some("connected".into()), match_id };
                    self.conn.send(&frame).await?;
                }
            }
            // Frames may have been lost between nodes (Redis restarted or cut off): the match as the database has
            // it, resumed from the last message held; a find whose queue may be gone is sent again (docs/protocol.md).
            // The sends on this socket were not lost: their answers still come.
            ServerFrame::Resync { active_match } => {
                self.tally.resyncs += 1;
                self.reconcile(active_match).await?;
                match self.asking {
                    Some(_) => self.send_find().await?,
                    None => self.find().await?,
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An error frame, by the request it answers.
    async fn refused(
        &mut self,
        id: Option<String>,
        code: ErrorCode,
        message: &str,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let code_name = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(String::from));
        let code_name = code_name.unwrap_or_else(|| format!("{code:?}"));
        match id.as_deref() {
            Some(key) if self.pending.contains_key(key) => {
                self.pending.remove(key);
                if code == ErrorCode::NotInMatch {
                    self.tally.refused_match_over += 1;
                } else {
                    self.count_error(&code_name, progress);
                }
            }
            Some("resume-ended") => self.tally.resume_refused += 1,
            // A call's frame that crossed a skip: the match is over, as for a message.
            Some("rtc") if code == ErrorCode::NotInMatch => self.tally.refused_match_over += 1,
            // The peer skipped at the same moment: the match is over either way.
            Some("skip") => {
                if code != ErrorCode::NotInMatch {
                    self.count_error(&code_name, progress);
                }
                self.leaving = false;
                self.find().await?;
            }
            // The find sent again on a new socket found its entry still there: its place and key pair are kept.
            Some("find") if code == ErrorCode::AlreadyQueued && self.asking.is_some() => {}
            // It was paired before the find sent again arrived: `match.found` answered it.
            Some("find") if code == ErrorCode::AlreadyInMatch && self.talk.is_some() => {}
            Some("find") => {
                self.count_error(&code_name, progress);
                eprintln!("[mix] find refused: {code_name}: {message}");
                self.asking = None;
                // Asks again after a moment, as an app retries; the time is the user's, as a person's would be.
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.find().await?;
            }
            _ => self.count_error(&code_name, progress),
        }
        Ok(())
    }

    fn count_error(&mut self, code: &str, progress: &Progress) {
        progress.fail();
        self.count(|t| *t.errors.entry(code.to_owned()).or_default() += 1);
    }

    /// A video match's initiator starts the call: the offer and its relay candidate.
    async fn call(&mut self, info: &MatchInfo) -> anyhow::Result<()> {
        if info.kind != MatchKind::Video || !info.initiator {
            return Ok(());
        }
        let match_id = info.match_id;
        self.calling = Some((match_id, clock_us()));
        self.count(|t| t.offers += 1);
        self.conn.send(&ClientFrame::RtcOffer { id: Some("rtc".into()), match_id, sdp: SDP.into() }).await?;
        Ok(self.conn.send(&ice(match_id)).await?)
    }

    /// After the run: leave the match or the queue and wait for the answer, so the same users can start clean in
    /// the next scenario.
    async fn end(&mut self) {
        self.conn.wait = Duration::from_secs(5);
        let answered = |f: &ServerFrame| {
            matches!(f, ServerFrame::Ok { .. } | ServerFrame::MatchCancelled { .. } | ServerFrame::Error { .. })
        };
        if let Some(talk) = &self.talk {
            let leave = ClientFrame::MatchLeave { id: Some("end".into()), match_id: talk.chat.info.match_id };
            if self.conn.send(&leave).await.is_ok() {
                let _ = self.conn.next_where(answered).await;
            }
        }
        if self.asking.is_some() && self.conn.send(&ClientFrame::MatchCancel { id: Some("end".into()) }).await.is_ok() {
            let _ = self.conn.next_where(answered).await;
        }
    }
}

/// The one relay candidate each side trickles.
fn ice(match_id: MatchId) -> ClientFrame {
    ClientFrame::RtcIce {
        id: Some("rtc".into()),
        match_id,
        candidate: CANDIDATE.into(),
        sdp_mid: Some("0".into()),
        sdp_mline_index: Some(0),
    }
}

/// The server's REST base for a WebSocket URL (`ws://host:port/v1/ws` → `http://host:port`).
pub(super) fn http_base(ws: &str) -> String {
    ws.replacen("ws://", "http://", 1).replacen("wss://", "https://", 1).trim_end_matches("/v1/ws").to_owned()
}
