//! Openings: the matchmaker's new matches as batch input, the rule that retries the pairs still payable when a
//! side cannot pay ([`Attempts`]), the statement that makes each side pay, and the same write on its own
//! ([`Store::create_matches`]).

use chrono::{DateTime, Utc};
use tanis_proto::MatchKind;

use super::Batch;
use crate::domain::UserId;
use crate::store::matches::CreatedMatch;
use crate::store::{Store, StoreError};

/// What creating a match needs: the pair (user1 initiates), the kind, each side's key, and the times.
#[derive(Debug, Clone)]
pub struct NewMatch {
    pub user1_id: UserId,
    pub user2_id: UserId,
    pub kind: MatchKind,
    pub user1_public_key: String,
    pub user2_public_key: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
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
}

/// What an opening did.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// Per pair, in order: the match, or a user of the pair that cannot be matched now (no unit of the kind
    /// left, banned, or already in an active match); nothing of a refused pair was written.
    Pairs(Vec<Result<CreatedMatch, UserId>>),
    /// A newer matchmaker holds the fence: nothing was written.
    Fenced,
}

/// One attempt at creating the pairs still pending, on PostgreSQL: all of them, or nothing (rolled back to the
/// opening's savepoint). SQLite reads who can pay before it writes, and needs no second attempt.
pub(super) enum Attempt {
    Created(Vec<CreatedMatch>),
    /// These users could not pay.
    Unpaid(Vec<UserId>),
    Fenced,
}

/// An opening's attempts: a pair with a side that cannot pay makes the attempt roll back and the rest try again.
/// Refusals are rare (quota gone, banned, already matched), so the common case is one attempt.
pub(super) struct Attempts<'a> {
    opening: &'a Opening,
    results: Vec<Option<Result<CreatedMatch, UserId>>>,
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

    /// The attempt was rolled back: the pairs with a side in `unpaid` are refused, the rest try again.
    pub(super) fn refuse(&mut self, unpaid: &[UserId]) {
        let (matches, results) = (&self.opening.matches, &mut self.results);
        self.pending.retain(|&i| {
            let new = &matches[i];
            let Some(user) = [new.user1_id, new.user2_id].into_iter().find(|u| unpaid.contains(u)) else {
                return true;
            };
            results[i] = Some(Err(user));
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CreateMatchError {
    fn from(e: sqlx::Error) -> Self {
        CreateMatchError::Store(e.into())
    }
}

/// Spends one unit of the kind from each listed user (the statement ends with an open `id IN (`): a daily
/// unit while there is one, else a bonus unit. The WHERE clause skips a user with neither, a banned user, one
/// whose account waits for deletion, or one already in an active match, so a balance can never go negative
/// whatever runs concurrently. The two `NOT EXISTS` are separate so each probes its (user, status) index; an
/// `OR` of the columns made SQLite walk every active match instead.
macro_rules! spend_unit {
    ($daily:literal, $bonus:literal) => {
        concat!(
            "UPDATE users SET ",
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
        let opening = Opening { matches: batch.to_vec(), epoch };
        let opens = std::slice::from_ref(&opening);
        let written = self.write_batch(Batch { opens, ..Batch::default() }, first.now).await?;
        match written.opens.into_iter().next().expect("one outcome per opening") {
            Opened::Pairs(pairs) => Ok(pairs.into_iter().map(|p| p.map_err(CreateMatchError::Unavailable)).collect()),
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
        let opening = Opening { matches: vec![pair(1, 2), pair(3, 4), pair(5, 6)], epoch: None };
        let mut attempts = Attempts::new(&opening);
        assert_eq!(attempts.next().len(), 3);

        attempts.refuse(&[UserId(4)]);
        let retried: Vec<(i64, i64)> = attempts.next().iter().map(|m| (m.user1_id.0, m.user2_id.0)).collect();
        assert_eq!(retried, vec![(1, 2), (5, 6)]);

        attempts.created(attempts.next().into_iter().map(created).collect());
        assert!(attempts.next().is_empty());
        let Opened::Pairs(pairs) = attempts.finish() else { panic!("pairs") };
        let outcome: Vec<Result<i64, i64>> =
            pairs.into_iter().map(|p| p.map(|c| c.row.id.0).map_err(|u| u.0)).collect();
        assert_eq!(outcome, vec![Ok(100), Err(4), Ok(500)]);
    }
}
