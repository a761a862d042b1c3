//! A deterministic simulation of the cluster's matching (issue 60, point 3): three nodes, Redis, the database
//! and up to 14 users, under node deaths and restarts, Redis failovers, nodes cut off from Redis, stalled
//! steps, late and repeated deliveries, with the invariants of [`invariants`] checked after every step. Test
//! code only.
//!
//! Why our own scheduler rather than turmoil: the production code talks to Redis through Lua scripts and to a
//! real database, neither of which turmoil can run, fail over or pause mid-script. What can break is in how those
//! scripts, the openings and the nodes' tasks interleave, so the scheduler interleaves exactly that, running the
//! code that runs wherever it can: the queue's and the election's production scripts, their very text, keys and
//! arguments, in an embedded Lua over an emulated keyspace ([`redis`], [`lua`], [`keyspace`]), each script one
//! atomic step; the matchmaker's decisions in production's own engine ([`crate::matching::engine`]), given the
//! same orders (`engine::Order`) as production's task and the elected matchmaker's read of the input stream
//! (`entries::Input::order`, as `feed` calls it), with [`matchmaker`] holding only its channel and opening; the
//! openings' settle and removal decided by production's `cluster::local::settling`, `cluster::settled` and
//! `cluster::matched`; the real pure rules ([`crate::matching::rules::compatible`],
//! `pick_partner`, `Policy`) for who may meet. Modelled: the openings as steps with the database's snapshot between
//! them and its refusal rules ([`store`], [`opening`]), the hub's and the election's glue as steps ([`node`],
//! [`election`]). No I/O and no async: a seed (about a thousand steps) takes some 20 ms in a debug build, so a test
//! run explores thousands of interleavings that a test against real Redis would meet once a month.
//!
//! The simulation found defects in the scripts (issue 60, while they were still written again beside the Lua, and
//! issue 74, once it ran them) and in the matchmaker's task; each is fixed in production, and a [`Mutation`] puts
//! the old behaviour back (its doc says what breaks, its test which invariant sees it): in the engine under
//! `#[cfg(test)]`, in the scripts as a patch to their production text ([`lua::PATCHES`], each checked to still
//! find its text), in the model's store as a rule taken out. Each has a test of its own besides, playing the
//! interleaving found:
//! - the matchmaker's decisions: `PartnerPutBackUnplaced`, `TakeOverKeepsStaleCopy`, `NewerRequestLeftOutOfPair`
//!   (src/matching/engine.rs);
//! - the opening refuses a seeker whose request a match already paid for (`OpeningAllowsSpentFind`: the user's
//!   count of matches opened against the count the request carries, `Seeker::asked_after`), and a pair with a
//!   block between them (`OpeningIgnoresBlocks`): src/store/batch/opening.rs, tested in tests/api/store_batches.rs;
//! - the scripts (src/matching/cluster/scripts/, tested against a real Redis in queue_tests.rs): the matchmaker
//!   removes only the entries its paired requests made (`RemoveWhateverTheEntry`), a node's hold of that request
//!   included (found by running the script; since the elected matchmaker claims its pairs, a claim refuses such a
//!   pair, and queue_tests.rs alone keeps the removal), and nothing of the live pairs after a fenced
//!   opening (`FencedOpeningRemovesEntries`); a request sent while the user's pair is claimed outlives the claim
//!   (`ClaimIgnoresReask`); a node's clean-ups and FORWARD find an entry by request, not by socket
//!   (`ForgetBySocketNotRequest`); no record of the input stream carries a gender or a wish
//!   (`RecordsCarryTheWish`).
//!
//! The other mutations break a TARGET rule on purpose (`OpeningWithoutRowLock`, `HoldLeavesOtherHoldersEntry`,
//! `SettleForgetsLostClaim`, `NoStaleClaimTakeover`, `NoBlockReachesQueue`, `DeliveryWithoutDedup`).
//!
//! Modelled loosely: presence is the truth (a user is online when their app is connected), where the production
//! code reads it from Redis; `match.queued`, `match.found` and errors reach the app at once (an error answers
//! the request it names; a refusal for units or an active match answers whatever the user waits with); the
//! elected matchmaker's XREAD and HMGET are one step; sweeps are left out (no modelled wish relaxes with
//! waiting: no `nearby`, no `prefer`); the elected matchmaker's check for unreachable users is left out; the
//! database never fails, only stalls; every node reads one clock; the stream is trimmed as soon as every
//! matchmaker read it; messages are a model of the receiver's rule, not the relay. Known leftovers the
//! invariants forgive are listed at [`users::User::leftover_at`].
//!
//! Layout: [`crate::rng`] (the seed), [`world`] (the clock, the timeline) and [`faults`], [`users`], [`node`]
//! with its [`opening`]s and its part in the [`election`], [`matchmaker`] (the engine as a task drives it), [`redis`]
//! (the production scripts on [`keyspace`] through [`lua`]), [`store`], [`messages`], [`invariants`], and the
//! tests in `tests`.
//!
//! Running it:
//! - `cargo test -p tanis --lib matching::simulation` runs 2 000 seeds (`TANIS_SIM_SEEDS` sets how many), and
//!   each mutation until its invariant fires; `TANIS_SIM_SEEDS=100000 cargo test -p tanis --lib
//!   matching::simulation --release` for a longer search (`TANIS_SIM_ALL=1` lists every failing seed instead of
//!   stopping at the first).
//! - A failing seed panics with the seed, the step, the invariant and the command that replays it:
//!   `TANIS_SIM_SEED=<n> cargo test -p tanis --lib matching::simulation` runs that one seed and prints every
//!   step (add `-- --nocapture` to see the trace of a seed that passes); `TANIS_SIM_MUTATION=<name>` runs the
//!   seeds (or the one replayed) under a mutation.

mod election;
mod faults;
mod invariants;
mod keyspace;
mod lua;
mod matchmaker;
mod messages;
mod node;
mod opening;
mod redis;
mod store;
mod tests;
mod users;
mod world;

use std::collections::BTreeMap;

use crate::rng::Rng;
use invariants::Violation;
use matchmaker::Role;
use messages::Messages;
use node::Node;
use opening::Retry;
use redis::{NodeId, Redis};
use store::Store;
use users::User;
use world::Config;

use crate::domain::UserId;
use crate::matching::rules::Policy;

/// What happens at a moment of the simulated clock; [`world`] schedules them on one timeline.
#[derive(Debug)]
enum Event {
    UserAct(u32),
    Fault(u32),
    QuietEnd,
    Tick(NodeId, u32),
    Work(NodeId, u32, Role),
    HandOver(NodeId, u32),
    Feed(NodeId, u32, u64),
    /// The elected matchmaker's check for unreachable users (node, incarnation, serial).
    Reap(NodeId, u32, u64),
    Retry(NodeId, u32, Retry),
    SocketClosed(NodeId, u32, UserId, u64),
    BlockSeen(NodeId, u32, UserId, UserId),
    /// The user's standing changed (their declared gender withdrawn): their node refreshes their place.
    StandingSeen(NodeId, u32, UserId),
    /// The node's matchmaker took that refresh: the node rewrites the place in Redis.
    RefreshTaken(NodeId, u32, UserId, Box<crate::matching::Fresh>),
    Deliver(usize, usize, u64),
    Heal(NodeId, u32),
    Restart(NodeId),
}

/// Everything the simulation holds: the cluster's nodes, Redis and the store, the users, the timeline; its
/// scheduler is [`world`]'s, the parts' steps are their files'.
struct World {
    pub(super) cfg: Config,
    pub(super) mutation: Option<Mutation>,
    pub(super) policy: Policy,
    pub(super) rng: Rng,
    pub(super) now: u64,
    pub(super) step: usize,
    active_steps: usize,
    /// Users' actions and faults are paused; bumped so that a paused chain of them is not resumed twice.
    pub(super) quiet: bool,
    generation: u32,
    pub(super) redis: Redis,
    pub(super) store: Store,
    pub(super) nodes: Vec<Node>,
    pub(super) users: Vec<User>,
    pub(super) messages: Messages,
    events: BTreeMap<(u64, u64), Event>,
    pub(super) next_socket: u64,
    /// Elected matchmakers started so far: each one's [`Role::Elected`] name.
    pub(super) serials: u64,
    /// When each request (user, request id) was sent, and from which node.
    pub(super) asked: BTreeMap<(UserId, Option<String>), (u64, usize)>,
    /// How far each node's wall clock is off, in milliseconds (either way, up to [`MAX_SKEW_MS`]).
    pub(super) skews: Vec<i64>,
    /// Sides of matches opened for a user who no longer waited, by why they stopped.
    pub(super) unwanted: BTreeMap<&'static str, usize>,
    /// A violation found while handling the step (a message shown twice), reported after it.
    pub(super) found: Option<Violation>,
    pub(super) trace: Option<Vec<String>>,
}

/// A rule of the model broken on purpose (or put back as it was), to show an invariant catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mutation {
    /// The opening checks "no active match" on its statement's snapshot, without locking the users' rows first
    /// (READ COMMITTED): a match committed meanwhile is not seen.
    OpeningWithoutRowLock,
    /// The old HOLD: a user held by another live node asking again is answered "already waiting", and the entry
    /// keeps naming the old node and socket.
    HoldLeavesOtherHoldersEntry,
    /// The old SETTLE: a matched user whose claim a failover lost keeps their hold (entry) after the match.
    SettleForgetsLostClaim,
    /// Claims never go stale: only a node's death frees its claimed users.
    NoStaleClaimTakeover,
    /// A block reaches neither the queued candidates nor the opening.
    NoBlockReachesQueue,
    /// The receiver shows whatever arrives, repeats and all, in arrival order.
    DeliveryWithoutDedup,
    /// The TARGET opening without the refusal of a spent find: a seeker whose find already paid for a match (a
    /// copy adopted from a node that died between its commit and its settle) is matched again.
    OpeningAllowsSpentFind,
    /// The TARGET with the block reaching the matchmakers' memory only: a pair already being opened when the
    /// block is made is opened anyway.
    OpeningIgnoresBlocks,
    /// The TARGET's removal of settled users as written (an HDEL): a find sent while its user's earlier request
    /// was being opened loses the entry it made.
    RemoveWhateverTheEntry,
    /// The TARGET's JOIN and HOLD as specified, leaving a fresh claim as it is when its user asks again (from
    /// another socket, or the same one): if the opening then fails for the partner the old request is held again
    /// (and its socket's close takes it away), if it refuses the user the new request is deleted with the claim.
    ClaimIgnoresReask,
    /// `Task::open` as it was: when the seeker of a pair is refused, the partner goes back to its place without
    /// looking at who arrived meanwhile, and nobody compatible with it is tried until someone new arrives (the
    /// sweep only runs for seekers whose wishes relax with waiting).
    PartnerPutBackUnplaced,
    /// A node finds its user's entry by socket, as the code and the TARGET did, not by request, when it acts for a
    /// request it holds: `let_go` of a seeker told to ask again after a claim Redis did not take, SETTLE deleting
    /// a hold whose claim a failover lost, and FORWARD handing over a seeker. It deletes (or overwrites with the
    /// older one) the request the user sent again from that socket meanwhile.
    ForgetBySocketNotRequest,
    /// `Task::take_over` as it was: a seeker handed over while the matchmaker still queues an older copy of them (a
    /// cancel that arrived in the batch that paired them, their pair then failing) is ignored, and the older
    /// request is what gets paired.
    TakeOverKeepsStaleCopy,
    /// `Task::find` as it was: a request sent again while the older one is paired in the same batch is answered
    /// "already waiting", and the pair opened is the older request's.
    NewerRequestLeftOutOfPair,
    /// `Epoch::open` as it was: the seekers of an opening the fence refused are removed from the queue with the
    /// settled ones, though a newer matchmaker holds them (and pairs them from memory, their entries gone).
    FencedOpeningRemovesEntries,
    /// The records of the input stream as they were before issue 74: the seeker whole, declared gender and wish
    /// included (the scripts' `bare` taken out).
    RecordsCarryTheWish,
    /// The opening judges a stale copy of a request by the wall clocks alone, as before issue 74 (the asking
    /// node's against the opening node's, skewed): a new request is refused as spent, or a spent copy pays again.
    SpentByWallClocks,
    /// The elected matchmaker's check for unreachable users taken out: a place whose user's node died, or whose
    /// socket's close never reached Redis, waits (with its wish) until someone compatible asks.
    NoReaper,
    /// A socket's close that Redis did not take is logged and forgotten, as before issue 74: the entry it made
    /// stays, with the wish, until the user asks again or is paired.
    LeaveNotRetried,
    /// A refresh of a place that Redis did not take is logged and forgotten, as before issue 74: a gender withdrawn
    /// while Redis was away stays in the place until the user asks again.
    RefreshNotRetried,
    /// `Finder::refresh_place` as it was: the place in Redis is rewritten without waiting for the node's matchmaker
    /// to take the change, so a hand-over from its older memory puts the withdrawn gender back (row 28).
    RefreshBeforeTaken,
    /// `Engine::refresh` as it was: a withdrawal reaching the matchmaker in the batch that paired its user is
    /// ignored; the pair opens on the withdrawn gender, or, should it fail, the user waits again with it.
    RefreshSkipsPairedUser,
    /// SETTLE and REMOVE as they were: a match takes away only the entry of the request it opened on, and a find
    /// the user sent again (from another device) while that pair was being opened keeps its place after the match
    /// opened, holding what the user was when they asked (a gender withdrawn during the match; row 31).
    MatchServesOnlyItsRequest,
    /// The engine as it was: a request that a match it opened served, read after the opening, is placed again.
    ServedRequestPlaced,
    /// `Engine::cancel` as it was: a cancel in the batch that paired its user leaves the pair to be opened, and
    /// should the opening fail for the partner, the cancelled request waits again.
    CancelSkipsPairedUser,
    /// SETTLE as it was: a leave that a claim refused (a socket's close, a cancel) leaves nothing behind, and an
    /// opening that fails for the partner holds the request again, for nobody (row 35).
    CancelKeepsHeldEntry,
    /// `Epoch::open` as it was: the elected matchmaker opens its pairs without claiming them, so a cancel during the
    /// opening deletes the entry, is answered `match.cancelled`, and the match opens all the same (row 17).
    ElectedOpensUnclaimed,
}

impl Mutation {
    pub(super) const ALL: [Mutation; 27] = [
        Mutation::OpeningWithoutRowLock,
        Mutation::HoldLeavesOtherHoldersEntry,
        Mutation::SettleForgetsLostClaim,
        Mutation::NoStaleClaimTakeover,
        Mutation::NoBlockReachesQueue,
        Mutation::DeliveryWithoutDedup,
        Mutation::OpeningAllowsSpentFind,
        Mutation::OpeningIgnoresBlocks,
        Mutation::RemoveWhateverTheEntry,
        Mutation::ClaimIgnoresReask,
        Mutation::PartnerPutBackUnplaced,
        Mutation::ForgetBySocketNotRequest,
        Mutation::TakeOverKeepsStaleCopy,
        Mutation::NewerRequestLeftOutOfPair,
        Mutation::FencedOpeningRemovesEntries,
        Mutation::RecordsCarryTheWish,
        Mutation::SpentByWallClocks,
        Mutation::NoReaper,
        Mutation::LeaveNotRetried,
        Mutation::RefreshNotRetried,
        Mutation::RefreshBeforeTaken,
        Mutation::RefreshSkipsPairedUser,
        Mutation::MatchServesOnlyItsRequest,
        Mutation::ServedRequestPlaced,
        Mutation::CancelSkipsPairedUser,
        Mutation::CancelKeepsHeldEntry,
        Mutation::ElectedOpensUnclaimed,
    ];

    /// The mutation `name` names (as printed in a replay command).
    pub(super) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| format!("{m:?}") == name)
    }
}
