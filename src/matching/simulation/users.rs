//! The users: each connects to a node, asks for a text match (some insisting on shared interests, which the
//! cluster's queue ranks; some in quarantine), sends it again, cancels, disconnects and reconnects elsewhere
//! (asking again, as the app does), ends a match, blocks someone they met, and sends messages. Each also
//! carries what the invariants need to know of them: whether they believe they wait, whether their last find
//! is still unspent, and the exemptions a failover earns them.

use std::collections::HashSet;

use tanis_proto::{InterestMatching, MatchKind, Region};

use super::Mutation;
use super::matchmaker::at;
use super::redis::NodeId;
use super::{Event, World};
use crate::domain::{Interests, Languages, UserId};
use crate::matching::rules::Candidate;
use crate::matching::{Ask, Seeker};
use crate::rng::Rng;

pub(super) struct User {
    pub(super) id: UserId,
    /// The node and socket the app is connected with.
    pub(super) at: Option<(NodeId, u64)>,
    /// Asked and not answered by a match, an error or its own cancel: the app shows "waiting".
    pub(super) waiting: bool,
    /// Why they stopped waiting last (for the tally of matches opened for users who no longer waited).
    pub(super) stopped: &'static str,
    /// The last find's number (its request id).
    pub(super) ask: u64,
    /// The last find has not paid for a match yet: a match opened without one charges for nothing asked.
    pub(super) unspent_ask: bool,
    /// Asks with `interests: only`: ranked in the cluster's queue rather than held by a node.
    ranks: bool,
    quarantined: bool,
    /// The gender declared for matching, if any.
    gender: Option<tanis_proto::Gender>,
    /// Whom their finds ask for by declared gender (`only`), if anyone in particular: ranked in the cluster's
    /// queue, and what must never reach a record of its input stream.
    wish: Option<crate::matching::rules::GenderWish>,
    interests: Interests,
    /// The candidate of the last find: what the pair it makes must satisfy.
    pub(super) candidate: Option<Candidate>,
    /// Whom any find since their last match excluded: the queue may hold any of those finds' candidates (a find
    /// sent again keeps its place, and the candidate it was placed with).
    pub(super) excluded_since_match: HashSet<UserId>,
    /// A failover rolled their entry back (or away) since their last find reached Redis: what the queue owed
    /// them was lost with it, so "held somewhere" and "paired in time" are not checked until they ask again.
    pub(super) exempt: bool,
    /// When an entry of theirs last became a known leftover, one the queue may hold after they stopped waiting,
    /// until they ask again: a failover changed it; their node died with it, or in the middle of opening their
    /// pair; the elected matchmaker adopted it; a socket's close or a cancel did not reach Redis. Besides, the elected
    /// matchmaker's entries of users who no longer wait are only dropped when paired (the opening refuses the
    /// spent request, presence the absent user), so the invariants look at nodes' entries only.
    pub(super) leftover_at: Option<u64>,
    /// When their last find reached Redis.
    pub(super) reached_at: u64,
    /// When their last socket went (closed, or its node died): presence knows them for a TTL more.
    pub(super) gone_at: Option<u64>,
    /// When they withdrew their declared gender (`DELETE /v1/me/gender`), if they did.
    pub(super) withdrawn_at: Option<u64>,
    /// When a refresh of their place last did not take (Redis away, the place claimed): the node tries again.
    pub(super) refresh_failed_at: Option<u64>,
    /// Their requests whose cancel was answered `match.cancelled`: no match may be opened on one (invariant 10).
    pub(super) cancelled: HashSet<String>,
    /// Their last request when a Redis failover last changed their entry: the claim of that request or an earlier one
    /// may be lost, and with it a cancel's refusal (invariant 10 forgives those).
    pub(super) failed_over_ask: u64,
}

impl User {
    pub(super) fn stop_waiting(&mut self, why: &'static str) {
        if self.waiting {
            self.waiting = false;
            self.stopped = why;
        }
    }

    /// The gender they declared for matching and consent to now.
    pub(super) fn gender(&self) -> Option<tanis_proto::Gender> {
        self.gender
    }

    /// Whether an entry of theirs may be a leftover of something that happened after `since`.
    pub(super) fn may_linger(&self, since: u64) -> bool {
        self.leftover_at.is_some_and(|at| at > since)
    }
}

impl User {
    pub(super) fn new(id: UserId, rng: &mut Rng) -> Self {
        const TOPICS: [&str; 3] = ["music", "movies", "books"];
        let mut topics = vec![TOPICS[rng.below(3) as usize]];
        if rng.percent(40) {
            topics.push(TOPICS[rng.below(3) as usize]);
        }
        User {
            id,
            at: None,
            waiting: false,
            stopped: "never asked",
            ask: 0,
            unspent_ask: false,
            ranks: rng.percent(20),
            quarantined: rng.percent(15),
            gender: rng.percent(70).then(|| tanis_proto::Gender::ALL[rng.below(3) as usize]),
            wish: rng.percent(15).then(|| {
                let genders = vec![tanis_proto::Gender::ALL[rng.below(3) as usize]];
                let seeking = tanis_proto::Seeking { genders, mode: tanis_proto::PreferenceMode::Only };
                crate::matching::rules::GenderWish::parse(&seeking).expect("one gender")
            }),
            interests: Interests::parse(&topics).expect("known topics"),
            candidate: None,
            excluded_since_match: HashSet::new(),
            exempt: false,
            leftover_at: None,
            reached_at: 0,
            gone_at: None,
            withdrawn_at: None,
            refresh_failed_at: None,
            cancelled: HashSet::new(),
            failed_over_ask: 0,
        }
    }
}

impl World {
    pub(super) fn online(&self, user: UserId) -> bool {
        self.users[(user.0 - 1) as usize].at.is_some()
    }

    /// Everyone blocked either way, everyone met within the recent-partner window.
    fn excluded(&self, id: UserId) -> HashSet<UserId> {
        let since = self.now.saturating_sub(self.cfg.recent_ms);
        let mut excluded: HashSet<UserId> = self.store.partners_since(id, since).collect();
        excluded.extend(self.store.blocks.iter().filter_map(|(a, b, _)| match (*a == id, *b == id) {
            (true, _) => Some(*b),
            (_, true) => Some(*a),
            _ => None,
        }));
        excluded
    }

    /// What the user's standing says now, as `Finder::refresh_place` reads it, with the exclusions of their last
    /// find kept: the invariants judge a place by them (production's refresh drops a partner met longer ago than
    /// the recent-partner window, which the model leaves out).
    pub(super) fn fresh(&self, id: UserId) -> crate::matching::Fresh {
        let me = &self.users[(id.0 - 1) as usize];
        let mut excluded = self.excluded(id);
        excluded.extend(me.candidate.iter().flat_map(|c| c.excluded.iter().copied()));
        crate::matching::Fresh { excluded, quarantined: me.quarantined, gender: me.gender }
    }

    /// A new find's seeker: everyone blocked either way, everyone met within the recent-partner window.
    pub(super) fn seeker(&mut self, id: UserId, socket: u64) -> Seeker {
        let excluded = self.excluded(id);
        let now = self.now;
        let user = self.user(id);
        let candidate = Candidate {
            user_id: id,
            kind: MatchKind::Text,
            excluded,
            nearby: None,
            queued_at: at(now),
            interests: user.interests,
            interest_matching: if user.ranks { InterestMatching::Only } else { InterestMatching::Off },
            languages: Languages::default(),
            region: Region::Anywhere,
            country: None,
            location: None,
            quarantined: user.quarantined,
            gender: user.gender,
            seeking: user.wish,
        };
        user.ask += 1;
        user.waiting = true;
        user.unspent_ask = true;
        user.excluded_since_match.extend(candidate.excluded.iter().copied());
        user.candidate = Some(candidate.clone());
        let request_id = Some(user.ask.to_string());
        let ask = Ask::numbered(user.ask);
        let node = self.user(id).at.map_or(0, |(node, _)| node);
        self.asked.insert((id, request_id.clone()), (now, node));
        // The count as the store holds it now: a node reads the standing fresh, or kept it current with every
        // match opened (`Standing::opened`).
        let asked_after = Some(self.store.matched(id, u64::MAX).count);
        let public_key = String::new();
        Seeker { candidate, socket_id: socket, request_id, public_key, asked_after, asked_at: None, ask }
    }

    /// One user does one thing their state allows.
    pub(super) fn user_act(&mut self) {
        let id = UserId(self.rng.below(self.users.len() as u64) as i64 + 1);
        let user = self.user(id);
        let (online, waiting) = (user.at.is_some(), user.waiting);
        let roll = self.rng.below(100);
        if !online {
            if roll < 60 {
                self.connect(id);
            }
            return;
        }
        match (self.store.active_match(id), waiting) {
            (Some(index), _) => match roll {
                0..40 => self.send(index, id),
                40..65 => {
                    self.store.end(index);
                    self.note(|| format!("u{id} ends match #{index}"));
                }
                65..72 => self.block(id),
                72..82 => self.disconnect(id),
                82..92 => self.reconnect(id),
                _ => self.find(id),
            },
            (None, true) => match roll {
                0..15 => self.find(id),
                15..28 => self.cancel(id),
                28..40 => self.disconnect(id),
                40..60 => self.reconnect(id),
                60..70 => self.block(id),
                70..73 if self.withdrawals() => self.withdraw(id),
                _ => {}
            },
            (None, false) => match roll {
                0..55 => self.find(id),
                55..65 => self.disconnect(id),
                65..75 => self.reconnect(id),
                75..85 => self.block(id),
                _ => {}
            },
        }
    }

    /// Opens a socket on a node that is up; a waiting app asks again at once.
    fn connect(&mut self, id: UserId) {
        let up: Vec<NodeId> = (0..self.nodes.len()).filter(|n| self.nodes[*n].up).collect();
        let Some(node) = self.rng.pick(&up) else { return };
        self.next_socket += 1;
        let socket = self.next_socket;
        self.user(id).at = Some((node, socket));
        self.note(|| format!("u{id} connects to n{node} (socket {socket})"));
        if self.user(id).waiting {
            self.find(id);
        }
    }

    /// The socket drops; its node hears of it a little later (maybe twice). Now and then the app was closed: it
    /// no longer waits, and does not ask again when it comes back.
    fn disconnect(&mut self, id: UserId) {
        let Some((node, socket)) = self.user(id).at.take() else { return };
        let now = self.now;
        self.user(id).gone_at = Some(now);
        if self.rng.percent(30) {
            self.user(id).stop_waiting("closed the app");
        }
        let inc = self.nodes[node].incarnation;
        self.after(0, 400, Event::SocketClosed(node, inc, id, socket));
        if self.rng.percent(10) {
            self.after(0, 800, Event::SocketClosed(node, inc, id, socket));
        }
        self.note(|| format!("u{id} disconnects from n{node} (socket {socket})"));
    }

    /// The app moves to another socket (a network change), likely on another node, before the old one's close is
    /// seen.
    fn reconnect(&mut self, id: UserId) {
        self.disconnect(id);
        self.connect(id);
    }

    /// Blocks someone they were matched with; ends that match if it is the active one. The block reaches every
    /// node's matchmakers (late, maybe twice) and the opening's statement.
    fn block(&mut self, id: UserId) {
        let met: Vec<usize> = (0..self.store.matches.len()).filter(|i| self.store.matches[*i].has(id)).collect();
        let Some(index) = self.rng.pick(&met) else { return };
        let other = *self.store.matches[index].users.iter().find(|u| **u != id).expect("two users");
        self.store.block(id, other, self.now);
        if self.store.matches[index].active() {
            self.store.end(index);
        }
        self.note(|| format!("u{id} blocks u{other} (match #{index})"));
        if self.mutation == Some(Mutation::NoBlockReachesQueue) {
            return;
        }
        for node in 0..self.nodes.len() {
            if self.nodes[node].up {
                let inc = self.nodes[node].incarnation;
                self.after(0, 300, Event::BlockSeen(node, inc, id, other));
                if self.rng.percent(15) {
                    self.after(0, 600, Event::BlockSeen(node, inc, id, other));
                }
            }
        }
    }

    /// Whether users withdraw their declared gender while waiting: yes, unless `TANIS_SIM_WITHDRAWALS=0`, which
    /// replays a seed recorded before they were modelled (docs/testing.md; a mutation that needs them has them).
    fn withdrawals(&self) -> bool {
        matches!(
            self.mutation,
            Some(
                Mutation::RefreshNotRetried
                    | Mutation::RefreshBeforeTaken
                    | Mutation::RefreshSkipsPairedUser
                    | Mutation::MatchServesOnlyItsRequest
                    | Mutation::ServedRequestPlaced
            )
        ) || std::env::var_os("TANIS_SIM_WITHDRAWALS").is_none_or(|v| v != "0")
    }

    /// Withdraws the declared gender while waiting: the node holding their socket hears of it (delivery's
    /// `StandingChanged`, late, maybe twice) and refreshes their place.
    fn withdraw(&mut self, id: UserId) {
        let Some((node, _)) = self.user(id).at else { return };
        if self.user(id).gender.take().is_none() {
            return;
        }
        let now = self.now;
        self.user(id).withdrawn_at = Some(now);
        self.note(|| format!("u{id} withdraws their declared gender"));
        let inc = self.nodes[node].incarnation;
        self.after(0, 300, Event::StandingSeen(node, inc, id));
        if self.rng.percent(15) {
            self.after(0, 600, Event::StandingSeen(node, inc, id));
        }
    }

    /// A message in the user's active match: acknowledged, then delivered late, maybe twice.
    fn send(&mut self, index: usize, id: UserId) {
        let side = usize::from(self.store.matches[index].users[0] != id);
        let seq = self.messages.send(index, side);
        self.after(1, 300, Event::Deliver(index, side, seq));
        if self.rng.percent(20) {
            self.after(1, 600, Event::Deliver(index, side, seq));
        }
    }
}
