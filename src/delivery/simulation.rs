//! A deterministic simulation of the end of a match between nodes (issue 75): production [`Sockets`] on three
//! nodes, and the rules of [`crate::live::Live`] under them, driven through every interleaving a seed picks of two
//! users' sends, typing, leaves, sockets connecting mid-match, the relays between the nodes (each in order, as one node's dispatcher publishes, but
//! at its own pace) and the nodes' catch-ups. What is modelled: the store (a seq per message, an end that reads the
//! last one and refuses later sends), the relays, and where each user's sockets are. Every frame a socket receives
//! is checked, as it arrives, against the promises of docs/protocol.md §5 (`match.ended`):
//!
//! 1. `OneEnd`: one `match.ended` per socket;
//! 2. `NothingAfterEnd`: no `msg`, `typing` or `msg.delivered` of the match after it;
//! 3. `MessagesBeforeEnd`: every message stored before the end that the socket is owed (the peer's, and its user's
//!    own sent from another socket) before it;
//! 4. `Once`: no message twice;
//! 5. `Told`: once every relay and catch-up has run, every socket was told the end.
//!
//! `TANIS_DELIVERY_SEED=<n>` replays one seed and prints its frames; `TANIS_DELIVERY_SEEDS=<n>` runs that many.

use std::collections::VecDeque;

use futures_util::FutureExt;
use tanis_proto::{Balances, EndReason, MatchInfo, MatchKind, ServerFrame};

use super::{Event, Frames, Recipient, SocketRef, Sockets, encode, frame_event};
use crate::domain::{MatchId, Seq, UserId};
use crate::live::{ActiveMatch, MUTATION, Mutation};
use crate::rng::Rng;

const NODES: usize = 3;
const MATCH: MatchId = MatchId(40);
const STEPS: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invariant {
    OneEnd,
    NothingAfterEnd,
    MessagesBeforeEnd,
    Once,
    Told,
}

/// One socket of the simulation, and what it received.
struct Socket {
    node: usize,
    user: usize,
    id: u64,
    /// The match's last seq when it connected: it gets the messages up to here with `resume`, not live.
    floor: i64,
    frames: Frames,
    /// Seqs received as `msg`, in order.
    messages: Vec<Seq>,
    ended: bool,
}

struct World {
    rng: Rng,
    nodes: Vec<Sockets>,
    sockets: Vec<Socket>,
    /// `relays[from][to]`: events one node published for another, not yet read there.
    relays: Vec<Vec<VecDeque<Event>>>,
    /// The store: each message's sender and the socket it was sent from, by seq (from 1).
    stored: Vec<(usize, u64)>,
    /// The match's last seq when its end was stored.
    ended: Option<Seq>,
    log: Vec<String>,
}

fn user(index: usize) -> UserId {
    UserId(index as i64 + 1)
}

fn active(index: usize) -> ActiveMatch {
    let expires_at = chrono::DateTime::UNIX_EPOCH;
    let info = MatchInfo {
        match_id: MATCH,
        kind: MatchKind::Text,
        peer: "yabanci#0001".into(),
        peer_public_key: String::new(),
        initiator: index == 0,
        expires_at,
        shared_interests: Vec::new(),
        shared_languages: Vec::new(),
        video_safety: None,
    };
    ActiveMatch { match_id: MATCH, peer_id: user(1 - index), kind: info.kind, opened_at: expires_at, expires_at, info }
}

fn message(seq: Seq, mine: bool) -> ServerFrame {
    let (ciphertext, nonce) = ("c2lmcmU=".into(), "bm9uY2U=".into());
    let sent_at = chrono::DateTime::UNIX_EPOCH;
    ServerFrame::Msg { match_id: MATCH, seq, ciphertext, nonce, commitment: None, sent_at, mine, delivered: None }
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let nodes: Vec<Sockets> = (0..NODES).map(|_| Sockets::default()).collect();
        let mut sockets = Vec::new();
        for index in 0..2 {
            for _ in 0..rng.between(1, 2) {
                let node = rng.below(NODES as u64) as usize;
                let (handle, frames, _) = nodes[node].register(user(index), None, 2, 4096);
                let socket =
                    Socket { node, user: index, id: handle.id, floor: 0, frames, messages: Vec::new(), ended: false };
                sockets.push(socket);
            }
        }
        let relays = vec![vec![VecDeque::new(); NODES]; NODES];
        let world = World { rng, nodes, sockets, relays, stored: Vec::new(), ended: None, log: Vec::new() };
        // Opened before anything else happens: every node holding a socket knows the match.
        for index in 0..2 {
            for node in world.nodes_of(index) {
                let (active, frame) = (Box::new(active(index)), "{\"type\":\"match.found\"}".into());
                let balances = Balances { daily_text: 1, daily_video: 1, bonus_text: 0, bonus_video: 0 };
                world.nodes[node].deliver(&Event::MatchOpened {
                    user_id: user(index),
                    active,
                    balances,
                    matches_opened: None,
                    frame,
                });
            }
        }
        world
    }

    fn nodes_of(&self, index: usize) -> Vec<usize> {
        let mut nodes: Vec<usize> = self.sockets.iter().filter(|s| s.user == index).map(|s| s.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// As [`super::Delivery::deliver`] with Redis: carried out here at once, and published to the other nodes
    /// holding the user's sockets.
    fn emit(&mut self, origin: usize, event: Event) {
        self.nodes[origin].deliver(&event);
        let index = (event.user_id().expect("an event for a user").0 - 1) as usize;
        for node in self.nodes_of(index).into_iter().filter(|&n| n != origin) {
            self.relays[origin][node].push_back(event.clone());
        }
    }

    /// A socket connects mid-match (a reconnect, a second device): registered, then, on a node that held no socket
    /// of the user, the match loaded with its last seq, as `Hub::load_active` does.
    fn connect(&mut self) {
        if self.ended.is_some() {
            return;
        }
        let (index, node) = (self.rng.below(2) as usize, self.rng.below(NODES as u64) as usize);
        let new_here = !self.nodes_of(index).contains(&node);
        let (handle, frames, _) = self.nodes[node].register(user(index), None, 2, 4096);
        let floor = self.stored.len() as i64;
        if new_here {
            self.nodes[node].live().remember_match(user(index), &active(index));
            self.nodes[node].live().with(user(index), |live| live.count_from(MATCH, Seq(floor)));
        }
        let s = self.sockets.len();
        self.log.push(format!("socket {s} of user {index} connects to node {node} after msg {floor}"));
        self.sockets.push(Socket {
            node,
            user: index,
            id: handle.id,
            floor,
            frames,
            messages: Vec::new(),
            ended: false,
        });
    }

    fn send(&mut self, socket: usize) {
        let (node, index, id) = (self.sockets[socket].node, self.sockets[socket].user, self.sockets[socket].id);
        if self.ended.is_some() {
            return self.log.push(format!("socket {socket}: a send refused, the match is over"));
        }
        self.stored.push((index, id));
        let seq = Seq(self.stored.len() as i64);
        self.log.push(format!("socket {socket} (node {node}): msg {}", seq.0));
        // As the announcer: to the peer, then the sender's other sockets.
        self.emit(node, frame_event(Recipient::User(user(1 - index)), &message(seq, false)));
        let except = Recipient::UserExcept(SocketRef { user_id: user(index), socket_id: id });
        self.emit(node, frame_event(except, &message(seq, true)));
    }

    fn typing(&mut self, socket: usize) {
        let (node, index) = (self.sockets[socket].node, self.sockets[socket].user);
        // The node sends it while it takes the match for the user's current one (`conversation::typing`).
        if self.nodes[node].active_match(user(index)).is_none() {
            return;
        }
        self.log.push(format!("socket {socket} (node {node}): typing"));
        let frame = encode(&ServerFrame::Typing { match_id: MATCH });
        let to = Recipient::User(user(1 - index));
        self.emit(node, Event::Frame { to, frame, v1: None, of_match: Some(MATCH), seq: None });
    }

    fn leave(&mut self, socket: usize) {
        let (node, index) = (self.sockets[socket].node, self.sockets[socket].user);
        if self.ended.is_some() {
            return;
        }
        let last = Seq(self.stored.len() as i64);
        self.ended = Some(last);
        self.log.push(format!("socket {socket} (node {node}): leaves after msg {}", last.0));
        for (told, reason) in [(index, EndReason::Left), (1 - index, EndReason::PeerLeft)] {
            let frame = encode(&ServerFrame::MatchEnded { id: None, match_id: MATCH, reason });
            let event =
                Event::MatchEnded { user_id: user(told), match_id: MATCH, frame, last: Some(last), kept: false };
            self.emit(node, event);
        }
        // As `Hub::end_match`: the leaver's own end is caught up before the answer.
        self.catch_up(node, index);
    }

    /// As `Hub::catch_up`, the store read from the model.
    fn catch_up(&mut self, node: usize, index: usize) {
        let Some((match_id, through, last)) = self.nodes[node].held_end(user(index)) else { return };
        self.log.push(format!("node {node}: catches user {index} up from {} to {}", through.0, last.0));
        let messages: Vec<ServerFrame> =
            (through.0 + 1..=last.0).map(|seq| message(Seq(seq), self.stored[seq as usize - 1].0 == index)).collect();
        self.nodes[node].caught_up(user(index), match_id, &messages);
    }

    /// One node reads one event another published for it.
    fn relay(&mut self) -> bool {
        let waiting: Vec<(usize, usize)> = (0..NODES)
            .flat_map(|from| (0..NODES).map(move |to| (from, to)))
            .filter(|&(from, to)| !self.relays[from][to].is_empty())
            .collect();
        let Some((from, to)) = self.rng.pick(&waiting) else { return false };
        let event = self.relays[from][to].pop_front().expect("not empty");
        self.log.push(format!("relay {from} -> {to}: {}", describe(&event)));
        self.nodes[to].deliver(&event);
        true
    }

    /// One node's catch-up loop takes its users.
    fn catch_ups(&mut self, node: usize) -> bool {
        let users = self.nodes[node].catch_ups().now_or_never().unwrap_or_default();
        for taken in &users {
            self.catch_up(node, (taken.0 - 1) as usize);
        }
        !users.is_empty()
    }

    /// Reads what every socket received since the last look, checking each frame.
    fn check(&mut self) -> Result<(), (Invariant, String)> {
        for s in 0..self.sockets.len() {
            while let Some(frame) = self.sockets[s].frames.try_recv() {
                self.log.push(format!("  socket {s} <- {frame}"));
                self.receive(s, &frame)?;
            }
        }
        Ok(())
    }

    fn receive(&mut self, s: usize, frame: &str) -> Result<(), (Invariant, String)> {
        let value: serde_json::Value = serde_json::from_str(frame).expect("a frame");
        let kind = value["type"].as_str().unwrap_or_default().to_owned();
        let socket = &self.sockets[s];
        let of_match = value["match_id"].as_i64() == Some(MATCH.0);
        if kind == "match.ended" {
            if socket.ended {
                return Err((Invariant::OneEnd, format!("socket {s} told the end twice")));
            }
            let last = self.ended.expect("told an end that was stored");
            let mut owed = (socket.floor + 1..=last.0).filter(|&seq| {
                let (sender, from) = self.stored[seq as usize - 1];
                sender != socket.user || from != socket.id
            });
            if let Some(missing) = owed.find(|seq| !socket.messages.contains(&Seq(*seq))) {
                return Err((Invariant::MessagesBeforeEnd, format!("socket {s} told the end before msg {missing}")));
            }
            self.sockets[s].ended = true;
        } else if of_match && ["msg", "typing", "msg.delivered"].contains(&kind.as_str()) {
            if socket.ended {
                return Err((Invariant::NothingAfterEnd, format!("socket {s} got {kind} after the end")));
            }
            if kind == "msg" {
                let seq = Seq(value["seq"].as_i64().expect("a seq"));
                if socket.messages.contains(&seq) {
                    return Err((Invariant::Once, format!("socket {s} got msg {} twice", seq.0)));
                }
                self.sockets[s].messages.push(seq);
            }
        }
        Ok(())
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Frame { to, seq, .. } => format!("frame {seq:?} to {to:?}"),
        Event::MatchEnded { user_id, last, .. } => format!("end to user {} after {last:?}", user_id.0),
        _ => "another event".into(),
    }
}

/// One run: the seed's steps, then every relay and catch-up until none is left. The first broken promise, with the
/// run's log.
fn run(seed: u64) -> Result<(), String> {
    let mut world = World::new(seed);
    let fail = |world: &World, (invariant, detail): (Invariant, String)| {
        Err(format!("seed {seed}: {invariant:?}: {detail}\n{}", world.log.join("\n")))
    };
    for _ in 0..STEPS {
        let socket = world.rng.below(world.sockets.len() as u64) as usize;
        match world.rng.below(100) {
            0..30 => world.send(socket),
            30..40 => world.typing(socket),
            40..45 => world.leave(socket),
            45..48 => world.connect(),
            48..90 => {
                world.relay();
            }
            _ => {
                let node = world.rng.below(NODES as u64) as usize;
                world.catch_ups(node);
            }
        }
        if let Err(broken) = world.check() {
            return fail(&world, broken);
        }
    }
    let socket = world.rng.below(world.sockets.len() as u64) as usize;
    world.leave(socket);
    loop {
        let moved = world.relay() | (0..NODES).fold(false, |moved, node| world.catch_ups(node) | moved);
        if let Err(broken) = world.check() {
            return fail(&world, broken);
        }
        if !moved {
            break;
        }
    }
    match world.sockets.iter().position(|s| !s.ended) {
        Some(s) => fail(&world, (Invariant::Told, format!("socket {s} never told the end"))),
        None => Ok(()),
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

/// Runs `seeds` seeds from 0 under `mutation`; the first failure.
fn search(seeds: u64, mutation: Option<Mutation>) -> Option<String> {
    MUTATION.with(|m| m.set(mutation));
    let found = (0..seeds).find_map(|seed| run(seed).err());
    MUTATION.with(|m| m.set(None));
    found
}

#[test]
fn no_seed_breaks_a_promise_of_the_end_of_a_match() {
    if let Some(seed) = env_number("TANIS_DELIVERY_SEED") {
        let world = run(seed);
        return assert!(world.is_ok(), "{}", world.unwrap_err());
    }
    let seeds = env_number("TANIS_DELIVERY_SEEDS").unwrap_or(2000);
    if let Some(failure) = search(seeds, None) {
        panic!("{failure}");
    }
}

/// Each mutation is caught by the invariant it breaks, within the seeds the test runs.
fn caught(mutation: Mutation, expected: Invariant) {
    let failure = search(2000, Some(mutation)).unwrap_or_else(|| panic!("{mutation:?}: no seed broke a promise"));
    eprintln!("{mutation:?}: {}", failure.lines().next().unwrap_or_default());
    let named = format!(": {expected:?}: ");
    assert!(
        failure.lines().next().is_some_and(|l| l.contains(&named)),
        "{mutation:?} broke another promise:\n{failure}"
    );
}

#[test]
fn an_end_told_at_once_overtakes_a_message_stored_before_it() {
    caught(Mutation::EndNotHeld, Invariant::MessagesBeforeEnd);
}

#[test]
fn a_message_delivered_after_its_matchs_end_is_caught() {
    caught(Mutation::MessageAfterEnd, Invariant::NothingAfterEnd);
}

#[test]
fn a_message_both_relayed_and_caught_up_is_sent_once() {
    caught(Mutation::CopySentAgain, Invariant::Once);
}
