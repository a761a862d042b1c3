//! Openings: the matchmaker's new matches as batch input, the rule that retries the pairs still payable when a
//! side cannot pay ([`Attempts`]), the statement that makes each side pay, and the same write on its own
//! ([`Store::create_matches`]).

use chrono::{DateTime, Utc};
use tanis_proto::MatchKind;

use super::Batch;
use crate::domain::UserId;
use crate::store::matches::CreatedMatch;
use crate::store::{Store, StoreError};

/// What creating a match needs: the pair (user1 initiates), the kind, each side's key, when each side asked, and
/// the times.
#[derive(Debug, Clone)]
pub struct NewMatch {
    pub user1_id: UserId,
    pub user2_id: UserId,
    pub kind: MatchKind,
    pub user1_public_key: String,
    pub user2_public_key: String,
    pub user1_asked: Asked,
    pub user2_asked: Asked,
    /// Whether each side's find asked with `seeking`: the opening marks the match for that side, for a refund if
    /// the peer was not as declared ([`crate::domain::declarations::refunds`]). Never the wish itself.
    pub user1_filtered: bool,
    pub user2_filtered: bool,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl NewMatch {
    /// Each side with when it asked.
    pub(super) fn sides(&self) -> [(UserId, Asked); 2] {
        [(self.user1_id, self.user1_asked), (self.user2_id, self.user2_asked)]
    }

    /// The sides whose find asked with `seeking`.
    pub(super) fn filtered_sides(&self) -> impl Iterator<Item = UserId> + '_ {
        [(self.user1_id, self.user1_filtered), (self.user2_id, self.user2_filtered)]
            .into_iter()
            .filter_map(|(user, filtered)| filtered.then_some(user))
    }
}

/// When a side asked for the match ([`crate::matching::Seeker`]): after how many matches of theirs (`after`, the
/// count their node knew), and by the asking node's wall clock (`at`). Both `None`: not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    pub after: Option<i64>,
    pub at: Option<DateTime<Utc>>,
}

/// A user's matches as the opening reads their row: how many were ever opened (`users.matches_opened`), and
/// when the latest was (`users.last_matched_at`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Matched {
    pub count: i64,
    pub at: Option<DateTime<Utc>>,
}

/// Why an opening refused a user; nothing of their pair was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No unit of the kind left, banned, or already in an active match.
    Unavailable,
    /// A match opened since they asked spent this request: it is a stale copy (adopted from a node that died or
    /// lost its settle after the commit), and they were told of that match.
    Spent,
    /// The pair has a block between them, made after the matchmaker read whom they may meet; this side (the
    /// second) is the one refused.
    Apart,
}

/// The user of a pair an opening refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub user: UserId,
    pub why: Refusal,
}

/// Whether a request was spent by a match of the user's: one opened since it was asked. By the count when the
/// request carries one: a logical order, which no skew between the nodes' clocks bends. A request a node of the
/// previous release queued carries only the asking node's wall clock, compared with the opening node's
/// (`last_matched_at`): right only while the two clocks are closer than a match's opening, ending and a new
/// request take (docs/operations.md, "Clocks"). Nothing known spends nothing.
pub(crate) fn spent(asked: Asked, matched: Matched) -> bool {
    match asked.after {
        Some(after) => matched.count > after,
        None => asked.at.zip(matched.at).is_some_and(|(asked, at)| at > asked),
    }
}

/// The pairs one pass of the matchmaker found, opened together in the group commit's batch ([`Batch`]): one
/// commit carries the matches opened, the matches ended and the messages of the moment.
#[derive(Debug, Clone)]
pub struct Opening {
    /// Every user appears at most once.
    pub matches: Vec<NewMatch>,
    /// The cluster matchmaker's fencing token (`None` on a single node): the opening first raises the fence to
    /// it, and writes nothing ([`Opened::Fenced`]) if a newer holder already has.
    pub epoch: Option<i64>,
    /// A node's own pairs in a cluster: the node's fence as it stood when it claimed them. The opening writes
    /// nothing ([`Opened::Fenced`]) once the fence was raised since: the elected matchmaker took the node's places
    /// over (docs/testing.md row 38).
    pub node: Option<NodeFence>,
}

/// A node's fence at a moment ([`crate::store::Store::node_fence`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFence {
    pub node: std::sync::Arc<str>,
    pub epoch: i64,
}

/// What an opening did.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// Per pair, in order: the match, or a user of the pair that cannot be matched now, and why; nothing of a
    /// refused pair was written.
    Pairs(Vec<Result<CreatedMatch, Refused>>),
    /// A newer matchmaker holds the fence: nothing was written.
    Fenced,
}

/// The users of `batch` an opening refuses before anyone pays: a stale copy of a request ([`Refusal::Spent`], by
/// each user's [`Matched`]), and the second side of a pair with a block between them ([`Refusal::Apart`]).
pub(crate) fn refusals(
    batch: &[&NewMatch],
    matched: impl Fn(UserId) -> Matched,
    blocked: impl Fn(UserId, UserId) -> bool,
) -> Vec<Refused> {
    let mut refused = Vec::new();
    for m in batch {
        let stale = m.sides().into_iter().find(|(user, asked)| spent(*asked, matched(*user)));
        if let Some((user, _)) = stale {
            refused.push(Refused { user, why: Refusal::Spent });
        } else if blocked(m.user1_id, m.user2_id) {
            refused.push(Refused { user: m.user2_id, why: Refusal::Apart });
        }
    }
    refused
}

/// One attempt at creating the pairs still pending, on PostgreSQL: all of them, or nothing (rolled back to the
/// opening's savepoint). SQLite reads who can pay before it writes, and needs no second attempt.
pub(super) enum Attempt {
    Created(Vec<CreatedMatch>),
    /// These users could not be matched.
    Unpaid(Vec<Refused>),
    Fenced,
}

/// An opening's attempts: a pair with a side that cannot pay makes the attempt roll back and the rest try again.
/// Refusals are rare (quota gone, banned, already matched), so the common case is one attempt.
pub(super) struct Attempts<'a> {
    opening: &'a Opening,
    results: Vec<Option<Result<CreatedMatch, Refused>>>,
    pending: Vec<usize>,
}

impl<'a> Attempts<'a> {
    pub(super) fn new(opening: &'a Opening) -> Self {
        let n = opening.matches.len();
        Attempts { opening, results: (0..n).map(|_| None).collect(), pending: (0..n).collect() }
    }

    /// The pairs the next attempt creates; empty when every pair is decided.
    pub(super) fn next(&self) -> Vec<&'a NewMatch> {
        self.pending.iter().map(|&i| &self.opening.matches[i]).collect()
    }

    /// The attempt created every pending pair, in order.
    pub(super) fn created(&mut self, attempt: Vec<CreatedMatch>) {
        for (i, created) in self.pending.drain(..).zip(attempt) {
            self.results[i] = Some(Ok(created));
        }
    }

    /// The pairs with a side in `refused` are refused, the rest try again (on PostgreSQL, after a rollback).
    pub(super) fn refuse(&mut self, refused: &[Refused]) {
        let (matches, results) = (&self.opening.matches, &mut self.results);
        self.pending.retain(|&i| {
            let new = &matches[i];
            let of = |user| refused.iter().find(|r| r.user == user);
            let Some(refusal) = of(new.user1_id).or_else(|| of(new.user2_id)) else { return true };
            results[i] = Some(Err(*refusal));
            false
        });
    }

    pub(super) fn finish(self) -> Opened {
        Opened::Pairs(self.results.into_iter().map(|r| r.expect("every pair decided")).collect())
    }
}

/// Why a match could not be created; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CreateMatchError {
    /// This user has no unit of the kind left, is banned, or already has an active match.
    #[error("user {0} cannot be matched now")]
    Unavailable(UserId),
    /// This user's request was spent on a match opened since they asked.
    #[error("user {0} was matched since asking")]
    Spent(UserId),
    /// The pair has a block between them; this is its second user.
    #[error("user {0} and the partner have a block between them")]
    Apart(UserId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Refused> for CreateMatchError {
    fn from(r: Refused) -> Self {
        match r.why {
            Refusal::Unavailable => CreateMatchError::Unavailable(r.user),
            Refusal::Spent => CreateMatchError::Spent(r.user),
            Refusal::Apart => CreateMatchError::Apart(r.user),
        }
    }
}

impl From<sqlx::Error> for CreateMatchError {
    fn from(e: sqlx::Error) -> Self {
        CreateMatchError::Store(e.into())
    }
}

/// Spends one unit of the kind from each listed user (the SET list after the callers' own assignment of
/// `last_matched_at`, and the statement ends with an open `id IN (`): a daily unit while there is one, else a
/// bonus unit. The WHERE clause skips a user with neither, a banned user, one
/// whose account waits for deletion, or one already in an active match, so a balance can never go negative
/// whatever runs concurrently. The two `NOT EXISTS` are separate so each probes its (user, status) index; an
/// `OR` of the columns made SQLite walk every active match instead.
macro_rules! spend_unit {
    ($daily:literal, $bonus:literal) => {
        concat!(
            $daily,
            " = CASE WHEN ",
            $daily,
            " > 0 THEN ",
            $daily,
            " - 1 ELSE ",
            $daily,
            " END, ",
            $bonus,
            " = CASE WHEN ",
            $daily,
            " > 0 THEN ",
            $bonus,
            " ELSE ",
            $bonus,
            " - 1 END WHERE ",
            $crate::store::batch::opening::can_spend!($daily, $bonus),
            " AND id IN ("
        )
    };
}

/// Whether the `users` row at hand can spend a unit of the kind ([`spend_unit`]'s condition).
macro_rules! can_spend {
    ($daily:literal, $bonus:literal) => {
        concat!(
            "is_banned = FALSE AND deleted_at IS NULL AND (",
            $daily,
            " > 0 OR ",
            $bonus,
            " > 0) AND NOT EXISTS (SELECT 1 FROM matches WHERE user1_id = users.id AND status = 'active') ",
            "AND NOT EXISTS (SELECT 1 FROM matches WHERE user2_id = users.id AND status = 'active')"
        )
    };
}
pub(super) use {can_spend, spend_unit};

impl Store {
    /// Creates a batch of active matches, each spending one unit from both sides, in ONE transaction: the
    /// group commit does this for the matchmaker ([`Opening`]); this is the same write on its own. For each pair
    /// either both sides paid and the match exists, or nothing of that pair was written and the error names a
    /// side that could not pay. Results come back in input order; every user appears at most once in a batch.
    ///
    /// `epoch` is the cluster matchmaker's fencing token (`None` on a single node): the transaction first
    /// raises the fence to it, and writes nothing ([`StoreError::Fenced`]) if a newer holder already has.
    pub async fn create_matches(
        &self,
        batch: &[NewMatch],
        epoch: Option<i64>,
    ) -> Result<Vec<Result<CreatedMatch, CreateMatchError>>, StoreError> {
        let Some(first) = batch.first() else { return Ok(Vec::new()) };
        let opening = Opening { matches: batch.to_vec(), epoch, node: None };
        let opens = std::slice::from_ref(&opening);
        let written = self.write_batch(Batch { opens, ..Batch::default() }, first.now).await?;
        match written.opens.into_iter().next().expect("one outcome per opening") {
            Opened::Pairs(pairs) => Ok(pairs.into_iter().map(|p| p.map_err(CreateMatchError::from)).collect()),
            Opened::Fenced => Err(StoreError::Fenced),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MatchId, MatchStatus};
    use crate::store::{MatchRow, MatchedUser};

    fn pair(user1_id: UserId, user2_id: UserId) -> NewMatch {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        NewMatch {
            user1_id,
            user2_id,
            kind: MatchKind::Text,
            user1_public_key: "k1".into(),
            user2_public_key: "k2".into(),
            user1_asked: Asked { after: Some(0), at: Some(now) },
            user2_asked: Asked { after: Some(0), at: Some(now) },
            user1_filtered: false,
            user2_filtered: false,
            now,
            expires_at: now,
        }
    }

    fn created(new: &NewMatch) -> CreatedMatch {
        let user = |id| MatchedUser {
            id,
            alias: "a".into(),
            tag: "0001".into(),
            daily_chat_balance: 0,
            daily_video_balance: 0,
            bonus_chat_balance: 0,
            bonus_video_balance: 0,
            interests: String::new(),
            languages: String::new(),
            locale: "tr".into(),
            matches_opened: 1,
        };
        let row = MatchRow {
            id: MatchId(new.user1_id.0 * 100),
            user1_id: new.user1_id,
            user2_id: new.user2_id,
            kind: new.kind,
            created_at: new.now,
            expired_at: new.expires_at,
            status: MatchStatus::Active,
            user1_public_key: new.user1_public_key.clone(),
            user2_public_key: new.user2_public_key.clone(),
        };
        CreatedMatch { row, user1: user(new.user1_id), user2: user(new.user2_id) }
    }

    #[test]
    fn a_pair_with_a_side_that_cannot_pay_is_refused_and_the_others_are_tried_again_in_order() {
        let pair = |a, b| pair(UserId(a), UserId(b));
        let opening = Opening { matches: vec![pair(1, 2), pair(3, 4), pair(5, 6)], epoch: None, node: None };
        let mut attempts = Attempts::new(&opening);
        assert_eq!(attempts.next().len(), 3);

        attempts.refuse(&[Refused { user: UserId(4), why: Refusal::Unavailable }]);
        let retried: Vec<(i64, i64)> = attempts.next().iter().map(|m| (m.user1_id.0, m.user2_id.0)).collect();
        assert_eq!(retried, vec![(1, 2), (5, 6)]);

        attempts.created(attempts.next().into_iter().map(created).collect());
        assert!(attempts.next().is_empty());
        let Opened::Pairs(pairs) = attempts.finish() else { panic!("pairs") };
        let outcome: Vec<Result<i64, i64>> =
            pairs.into_iter().map(|p| p.map(|c| c.row.id.0).map_err(|r| r.user.0)).collect();
        assert_eq!(outcome, vec![Ok(100), Err(4), Ok(500)]);
    }
}
