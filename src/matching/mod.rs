//! Matching: one task owns the queue of people waiting for a stranger and pairs them by the rules in
//! [`rules`]. It never touches sockets or the database itself: it asks a [`Pairing`] ([`find`]'s opener) to open a
//! match and to tell people where they stand, so the queue logic stays small and testable. Who may ask for a match
//! at all is [`admission`]'s rule, which [`find`] applies before it hands a seeker over: [`find`] is the door a
//! `match.find` comes in by, from the hub, and leaves by as `match.found`, through delivery.

pub mod admission;
pub mod cluster;
pub mod engine;
pub mod find;
mod queue;
pub mod rules;
#[cfg(test)]
pub(crate) mod simulation;
pub mod sweeps;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, Sleep};
use crate::domain::UserId;
use crate::store::Store;
use engine::Engine;
pub use queue::{Queue, Queued};
use rules::{Candidate, Policy};
pub use sweeps::Sweeps;

/// Someone asking for a match, with everything the pairing needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Seeker {
    pub candidate: Candidate,
    /// The socket that asked; leaving the queue when it disconnects. Named `session_id` in the cluster queue's
    /// entries, as before the rename: nodes of two versions share the queue during a rolling upgrade.
    #[serde(rename = "session_id")]
    pub socket_id: u64,
    /// The client's request id, echoed in the answer.
    pub request_id: Option<String>,
    /// This match's X25519 public key (base64), handed to the partner.
    pub public_key: String,
    /// How many matches of the user's had opened when they sent this request, as their node knew
    /// ([`crate::domain::Standing::matches_opened`]): a match opened since spent it, and the store refuses a copy
    /// of it from then on (one adopted from a node that died between its commit and its settle). A count, so no
    /// skew between the asking node's clock and the opening node's matters. `None` in an entry a node of the
    /// previous release wrote: [`Seeker::asked_at`] decides then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_after: Option<i64>,
    /// When the user sent this request, by the asking node's wall clock: what the previous release judged a stale
    /// copy by (against the opening node's wall clock), kept for its nodes during a rolling update. The wall
    /// clock, not the server's clock: this orders events, and tests freeze the server's clock. `None` in an entry
    /// a node of the release before that wrote.
    #[serde(default)]
    pub asked_at: Option<DateTime<Utc>>,
    /// Which of the user's requests this is: the queue's scripts act on the entry a request made, not on a newer
    /// one the user sent since from the same socket ([`cluster`]'s queue). Last, so that the scripts find it at
    /// the end of an entry.
    #[serde(default)]
    pub ask: Ask,
}

impl Seeker {
    /// A new request of the user, sent now, after `asked_after` matches of theirs.
    pub fn new(
        candidate: Candidate,
        socket_id: u64,
        request_id: Option<String>,
        public_key: String,
        asked_after: i64,
    ) -> Self {
        let (asked_after, asked_at, ask) = (Some(asked_after), Some(Utc::now()), Ask::random());
        Seeker { candidate, socket_id, request_id, public_key, asked_after, asked_at, ask }
    }

    /// When this request was asked, as the opening judges a stale copy by.
    pub fn asked(&self) -> crate::store::Asked {
        crate::store::Asked { after: self.asked_after, at: self.asked_at }
    }

    pub fn user_id(&self) -> UserId {
        self.candidate.user_id
    }
}

/// One request among a user's: 16 random hex digits (empty in an entry a node of the previous version wrote,
/// which the scripts take for any request of its socket).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Ask(String);

impl Ask {
    /// A new request's: random. (`Ask::default()` is the empty one of the previous release's entries.)
    pub fn random() -> Self {
        Ask(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The simulation's requests: numbered, so that a seed runs the same every time.
    #[cfg(test)]
    pub(crate) fn numbered(n: u64) -> Self {
        Ask(format!("{n:016x}"))
    }
}

/// What the matchmaker needs from the rest of the server.
pub trait Pairing: Send + Sync + 'static {
    /// Tells the seeker it is now waiting (`true`) or was already waiting (`false`).
    fn queued(&self, seeker: &Seeker, newly: bool);
    /// Opens a match for each pair (the first of a pair waited longer) and tells both sides; all the pairs one
    /// pass of the queue found are opened together, so they can share one commit. Returns one result per pair,
    /// in order: on failure, the users of that pair that cannot be matched now (at least one; they were told
    /// why); the other goes back into the queue.
    fn open(&self, pairs: &[(Seeker, Seeker)]) -> impl Future<Output = Vec<Result<(), Vec<UserId>>>> + Send;
    /// A request a match this matchmaker opened served (sent while its pair was being opened, from another device
    /// or again): it takes no place, and the entry it made in the cluster's queue goes.
    fn served(&self, _seeker: Seeker) {}
    /// Hands seekers this matchmaker held long enough to the cluster's queue ([`cluster::local`]); returns those it
    /// could not hand over now, to be held again.
    fn hand_over(&self, seekers: Vec<Seeker>) -> impl Future<Output = Vec<Seeker>> + Send {
        std::future::ready(seekers)
    }
}

/// What the task's channel carries: an order for the engine, and whom to answer once it is taken.
struct Command {
    order: engine::Order,
    reply: Reply,
}

enum Reply {
    None,
    /// A refresh's sender waits until the engine has it ([`Matchmaker::refresh`]).
    Taken(tokio::sync::oneshot::Sender<()>),
    /// A cancel's sender learns whether the user was waiting.
    Left(tokio::sync::oneshot::Sender<bool>),
}

/// What a waiting user's place learns when their standing changes while they wait: the rest of their request
/// stands.
#[derive(Debug, Clone)]
pub struct Fresh {
    pub excluded: HashSet<UserId>,
    pub quarantined: bool,
    /// The declared gender as its owner consents to its use now: a withdrawal (`DELETE /v1/me/gender`) or a
    /// suspension reaches a waiting find, and its place no longer holds what was withdrawn.
    pub gender: Option<tanis_proto::Gender>,
}

impl Fresh {
    /// What a place of `candidate` already knows (a newer request of the same user read it afresh).
    pub(crate) fn of(candidate: &Candidate) -> Self {
        Fresh { excluded: candidate.excluded.clone(), quarantined: candidate.quarantined, gender: candidate.gender }
    }

    /// What a refresh does to a waiting place, in a matchmaker's memory or in the cluster's queue: whom it excludes
    /// only grows, since a refresh read before the user's newer request (which read its standing afresh: a partner
    /// just met) may be taken after it (docs/testing.md row 34); an unblock, or a recent partner's exclusion that
    /// lapsed, reaches the place when they next ask. Quarantine and the gender are as read.
    pub(crate) fn refresh(&self, candidate: &mut Candidate) {
        candidate.excluded.extend(self.excluded.iter().copied());
        candidate.quarantined = self.quarantined;
        candidate.gender = self.gender;
    }

    pub(crate) fn apply(&self, candidate: &mut Candidate) {
        candidate.excluded.clone_from(&self.excluded);
        candidate.quarantined = self.quarantined;
        candidate.gender = self.gender;
    }
}

/// A handle to the matchmaker task.
#[derive(Clone)]
pub struct Matchmaker {
    /// Bounded; a full queue makes `find` wait, which slows the asking sockets rather than growing memory.
    tx: mpsc::Sender<Command>,
}

/// How often the queue is swept: waiting nearby-seekers are re-examined as their radius grows, interest-seekers as
/// their fallback wait ends. On the server's clock: a test's manual clock sweeps when the test moves it.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Most commands taken from the channel per pass (and so, at most half as many matches per commit).
const BATCH: usize = 512;

impl Matchmaker {
    /// Starts the matchmaker task (on its own thread with SQLite, see [`crate::dedicated`]).
    pub fn spawn<P: Pairing>(
        pairing: Arc<P>,
        store: &Store,
        clock: SharedClock,
        policy: Policy,
        sweeps: Sweeps,
        shutdown: CancellationToken,
    ) -> (Self, crate::dedicated::Running) {
        let (tx, rx) = mpsc::channel(1024);
        let task = Task::new(pairing, clock, policy, sweeps, None);
        let running = crate::dedicated::spawn_for_store(store, "tanis-matchmaker", task.run(rx, shutdown));
        (Self { tx }, running)
    }

    /// Starts a node's matchmaker in a cluster ([`cluster::local`]): it pairs the node's own seekers and hands
    /// each it could not pair within `hand_over_after` to the cluster ([`Pairing::hand_over`]).
    pub fn spawn_local_first<P: Pairing>(
        pairing: Arc<P>,
        clock: SharedClock,
        policy: Policy,
        hand_over_after: Duration,
        shutdown: CancellationToken,
    ) -> (Self, crate::dedicated::Running) {
        let (tx, rx) = mpsc::channel(1024);
        let task = Task::new(pairing, clock, policy, Sweeps::default(), Some(hand_over_after));
        (Self { tx }, crate::dedicated::Running::Task(tokio::spawn(task.run(rx, shutdown))))
    }

    /// Starts a matchmaker whose queue begins with `queue` (oldest first): the cluster's elected matchmaker,
    /// taking over the queue kept in Redis. It runs on the runtime (a cluster's store is PostgreSQL).
    pub fn spawn_seeded<P: Pairing>(
        pairing: Arc<P>,
        queue: Vec<Seeker>,
        clock: SharedClock,
        policy: Policy,
        sweeps: Sweeps,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let task = Task::new(pairing, clock, policy, sweeps, None);
        tokio::spawn(task.run_seeded(queue, rx, shutdown));
        Self { tx }
    }

    /// Changes whom the user may meet if they wait here; they may be paired at once. Returns once the matchmaker
    /// has taken it, so that whatever it hands over to the cluster's queue from then on carries it: a refresh of
    /// the place in Redis made before could be overwritten by a hand-over from the matchmaker's older memory
    /// (docs/testing.md, row 28).
    pub async fn refresh(&self, user_id: UserId, fresh: Fresh) {
        let (taken, answer) = tokio::sync::oneshot::channel();
        let order = engine::Order::Refresh { user: user_id, fresh: Box::new(fresh) };
        if self.tx.send(Command { order, reply: Reply::Taken(taken) }).await.is_ok() {
            let _ = answer.await;
        }
    }

    /// Removes the user from the queue without an answer.
    pub async fn forget(&self, user_id: UserId) {
        self.send(engine::Order::Cancel { user: user_id, socket: None }).await
    }

    /// Sends an order nobody waits on: what the elected matchmaker reads from the cluster's input stream.
    pub(crate) async fn send(&self, order: engine::Order) {
        let _ = self.tx.send(Command { order, reply: Reply::None }).await;
    }

    pub async fn find(&self, seeker: Seeker) {
        self.send(engine::Order::Find { seeker: Box::new(seeker), again: false }).await
    }

    /// A find sent again by a user the cluster's queue says this node holds already ([`cluster::local`]).
    pub async fn find_again(&self, seeker: Seeker) {
        self.send(engine::Order::Find { seeker: Box::new(seeker), again: true }).await
    }

    /// Queues a seeker that was told `match.queued` already (by the node that held it first).
    pub async fn take_over(&self, seeker: Seeker) {
        self.send(engine::Order::TakeOver(Box::new(seeker))).await
    }

    /// Removes the user from the queue; true when they were waiting.
    pub async fn cancel(&self, user_id: UserId) -> bool {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let order = engine::Order::Cancel { user: user_id, socket: None };
        let _ = self.tx.send(Command { order, reply: Reply::Left(reply) }).await;
        answer.await.unwrap_or(false)
    }

    /// Removes the user's entry if this socket made it (the socket is closing).
    pub async fn socket_closed(&self, user_id: UserId, socket_id: u64) {
        self.send(engine::Order::Cancel { user: user_id, socket: Some(socket_id) }).await
    }
}

struct Task<P> {
    pairing: Arc<P>,
    clock: SharedClock,
    /// The queue and every decision about it, without I/O ([`engine`]): what the simulation drives too.
    engine: Engine,
    /// Told the clock time of every sweep once its pairs are opened.
    sweeps: Sweeps,
    /// When the next sweep is due, while anyone waits: an idle matchmaker waits on nothing (and a test's manual
    /// clock counts no sleeper of it).
    next_sweep: Option<Sleep>,
    /// The origin of the engine's monotonic clock (how long a node holds a seeker is a latency, not the server's
    /// time).
    started: tokio::time::Instant,
}

impl<P: Pairing> Task<P> {
    fn new(
        pairing: Arc<P>,
        clock: SharedClock,
        policy: Policy,
        sweeps: Sweeps,
        hand_over_after: Option<Duration>,
    ) -> Self {
        let engine = Engine::new(policy, hand_over_after);
        Self { pairing, clock, engine, sweeps, next_sweep: None, started: tokio::time::Instant::now() }
    }

    /// The engine's monotonic clock now.
    fn held(&self) -> Duration {
        self.started.elapsed()
    }

    /// Pairs the inherited queue as if each had just asked, oldest first, then runs.
    async fn run_seeded(mut self, seeded: Vec<Seeker>, rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut pairs = Vec::new();
        for seeker in seeded {
            self.engine.place(seeker, &mut pairs, self.clock.now());
        }
        // Whoever waits is swept (a nearby radius grows, a fallback ends) without waiting for a command.
        self.arm_if_waiting();
        self.open(pairs).await;
        self.run(rx, shutdown).await
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut commands = Vec::with_capacity(BATCH);
        loop {
            if self.engine.queue().is_empty() && self.next_sweep.take().is_some() {
                // Nobody waits: the queue is as swept as it can be at this time (whoever waits for a sweep sees it).
                self.sweeps.done(self.clock.now());
            }
            let mut pairs = Vec::new();
            let mut swept = None;
            let hand_over_at = self.engine.next_hand_over().map(|after| self.started + after);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                received = rx.recv_many(&mut commands, BATCH) => {
                    if received == 0 {
                        break;
                    }
                    // Everything that arrived while the last batch was being opened is paired in memory first,
                    // then opened together: one commit for many matches.
                    for command in commands.drain(..) {
                        self.take(command, &mut pairs);
                    }
                },
                () = due(&mut self.next_sweep) => {
                    let now = self.clock.now();
                    // Nobody else can become compatible by waiting: nothing to re-examine.
                    if self.engine.relaxes() {
                        self.engine.sweep(&mut pairs, now);
                    }
                    swept = Some(now);
                    self.next_sweep = Some(self.clock.sleep(SWEEP_EVERY));
                },
                () = until(hand_over_at) => self.hand_over().await,
            }
            self.open(pairs).await;
            if let Some(at) = swept {
                self.sweeps.done(at);
            }
            self.export_queue();
        }
    }

    /// One command of the channel, decided by the engine, then answered.
    fn take(&mut self, Command { order, reply }: Command, pairs: &mut engine::Pairs) {
        // The time it arrived, read before the answer: a test that moves its clock once told `match.queued` must
        // not have the newcomer placed at the later time (its fallback already over), which would pair it with no
        // sweep at that time for the test to see. The sweep is armed before the answer too, so that move wakes it.
        let now = self.clock.now();
        let held = self.held();
        let Task { pairing, clock, next_sweep, engine, .. } = self;
        let mut tell = |seeker: &Seeker, newly: bool| {
            arm_sweep(next_sweep, clock);
            pairing.queued(seeker, newly);
        };
        let taken = engine.take(order, pairs, now, held, &mut tell);
        match (reply, taken) {
            (Reply::Left(answer), engine::Taken::Cancelled(left)) => _ = answer.send(left),
            (Reply::Taken(taken), _) => _ = taken.send(()),
            (_, engine::Taken::Served(seeker)) => pairing.served(*seeker),
            _ => {}
        }
        self.arm_if_waiting();
    }

    /// `tanis_matching_queue`: who waits here after each turn of the loop (a soak watches it stay flat). A cluster
    /// node may run two matchmakers, the one holding its own seekers first (`local`) and, when elected, the
    /// cluster's (`cluster`, as a single node's): the label keeps them apart.
    fn export_queue(&self) {
        let role = if self.engine.is_local() { "local" } else { "cluster" };
        metrics::gauge!("tanis_matching_queue", "matchmaker" => role).set(self.engine.queue().len() as f64);
    }

    /// Hands every seeker held long enough to the cluster; those it could not hand over are held again.
    async fn hand_over(&mut self) {
        let leaving = self.engine.due(self.held());
        if leaving.is_empty() {
            return;
        }
        let kept = self.pairing.hand_over(leaving).await;
        for seeker in kept {
            self.engine.hold_again(seeker, self.held());
        }
        self.arm_if_waiting();
    }

    /// Someone waits: a sweep is due (unless one is under way).
    fn arm_if_waiting(&mut self) {
        if !self.engine.queue().is_empty() {
            arm_sweep(&mut self.next_sweep, &self.clock);
        }
    }

    /// Opens the pairs; the engine places whoever was not dropped again, which may form new pairs: repeated until
    /// every pair opened or nobody is left to pair.
    async fn open(&mut self, mut pairs: engine::Pairs) {
        while !pairs.is_empty() {
            let results = self.pairing.open(&pairs).await;
            pairs = self.engine.reopen(pairs, results, self.clock.now());
            self.arm_if_waiting();
        }
    }
}

/// Starts the wait for the next sweep unless one is under way.
fn arm_sweep(next_sweep: &mut Option<Sleep>, clock: &SharedClock) {
    if next_sweep.is_none() {
        *next_sweep = Some(clock.sleep(SWEEP_EVERY));
    }
}

/// Waits until `at`; never, when there is no `at`.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits for the armed sweep; never, when none is armed.
async fn due(next_sweep: &mut Option<Sleep>) {
    match next_sweep {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "matchmaker_tests.rs"]
mod tests;
