//! The batch's pure rules, shared by both dialects: which matches a batch locks, which seq each message gets,
//! and how the rows a statement touched answer each item in input order. No I/O: the dialect files gather rows
//! and apply these.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{MatchEnd, NewMessage, Receipt, WriteOutcome};
use crate::domain::{EndCause, MatchId, MatchStatus, Seq, UserId};

/// A message a receipt marked delivered, as the marking statement returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Marked {
    pub match_id: MatchId,
    pub seq: Seq,
    pub receiver_id: UserId,
    pub sender_id: UserId,
}

/// A message stored before this batch, as the duplicate lookup returns it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Earlier {
    pub match_id: MatchId,
    pub sender_id: UserId,
    pub client_msg_id: String,
    pub seq: Seq,
    pub sent_at: DateTime<Utc>,
}

/// Match ids, each once, in id order (the order row locks are taken in).
pub(super) fn match_ids(ids: impl IntoIterator<Item = MatchId>) -> Vec<MatchId> {
    let mut ids: Vec<MatchId> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each match once, with the reason of its first end: two ends of one match in a batch (both users leaving
/// at once) end it once.
pub(super) fn distinct_ends(ends: &[MatchEnd]) -> Vec<(MatchId, EndCause)> {
    let mut seen = HashSet::new();
    ends.iter().filter(|e| seen.insert(e.match_id)).map(|e| (e.match_id, e.reason)).collect()
}

/// Ends answered in input order from the ids of the matches the batch ended: only the first end of a match.
pub(super) fn answer_ends(ends: &[MatchEnd], ended: Vec<MatchId>) -> Vec<bool> {
    let mut ended: HashSet<MatchId> = ended.into_iter().collect();
    ends.iter().map(|e| ended.remove(&e.match_id)).collect()
}

/// Receipts answered in input order with the sender of the message each marked: another user's receipt for
/// the same message gets nothing, and a receipt repeated within the batch marks once and answers once.
pub(super) fn answer_receipts(receipts: &[Receipt], marked: Vec<Marked>) -> Vec<Option<UserId>> {
    let mut marked: HashMap<(MatchId, Seq, UserId), UserId> =
        marked.into_iter().map(|m| ((m.match_id, m.seq, m.receiver_id), m.sender_id)).collect();
    receipts.iter().map(|r| marked.remove(&(r.match_id, r.seq, r.receiver_id))).collect()
}

/// The last seq of each open conversation, from rows `(id, status, kept, last seq)`: a match's conversation is open
/// while the match is active, and after it while its two people keep in touch (`kept`).
pub(super) fn open_last_seqs(rows: Vec<(MatchId, MatchStatus, bool, Seq)>) -> HashMap<MatchId, Seq> {
    rows.into_iter()
        .filter(|(_, status, kept, _)| *status == MatchStatus::Active || *kept)
        .map(|(id, _, _, seq)| (id, seq))
        .collect()
}

/// Outcomes in input order and the messages to insert with their seqs. `known` holds earlier copies; in-batch
/// repeats get the seq their first copy got.
pub(super) fn assign_seqs<'a>(
    batch: &'a [NewMessage],
    last_seq: &HashMap<MatchId, Seq>,
    known: Vec<Earlier>,
    now: DateTime<Utc>,
) -> (Vec<WriteOutcome>, Vec<(&'a NewMessage, Seq)>) {
    let mut known: HashMap<(MatchId, UserId, String), (Seq, DateTime<Utc>)> =
        known.into_iter().map(|e| ((e.match_id, e.sender_id, e.client_msg_id), (e.seq, e.sent_at))).collect();
    let mut next_seq: HashMap<MatchId, Seq> = last_seq.iter().map(|(m, s)| (*m, s.next())).collect();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut fresh = Vec::with_capacity(batch.len());
    for m in batch {
        let Some(seq) = next_seq.get_mut(&m.match_id) else {
            outcomes.push(WriteOutcome::MatchNotActive);
            continue;
        };
        let key = (m.match_id, m.sender_id, m.client_msg_id.clone());
        if let Some((seq, sent_at)) = known.get(&key) {
            outcomes.push(WriteOutcome::Duplicate { seq: *seq, sent_at: *sent_at });
            continue;
        }
        known.insert(key, (*seq, now));
        fresh.push((m, *seq));
        outcomes.push(WriteOutcome::Stored { seq: *seq, sent_at: now });
        *seq = seq.next();
    }
    (outcomes, fresh)
}

#[cfg(test)]
mod tests {
    use tanis_proto::MatchKind;

    use super::*;

    const M1: MatchId = MatchId(1);
    const M2: MatchId = MatchId(2);
    const U10: UserId = UserId(10);

    fn message(match_id: MatchId, sender_id: UserId, client_msg_id: &str) -> NewMessage {
        NewMessage {
            match_id,
            sender_id,
            receiver_id: UserId(sender_id.0 + 1),
            client_msg_id: client_msg_id.into(),
            content: "Y2lwaGVy".into(),
            nonce: "bm9uY2U=".into(),
            commitment: [0; 32],
            device_info: None,
            connection_type: MatchKind::Text,
        }
    }

    fn end(match_id: MatchId, reason: EndCause) -> MatchEnd {
        MatchEnd { match_id, reason }
    }

    #[test]
    fn match_ids_are_each_listed_once_in_id_order() {
        assert_eq!(match_ids([3, 1, 3, 2, 1].map(MatchId)), vec![1, 2, 3].into_iter().map(MatchId).collect::<Vec<_>>());
    }

    #[test]
    fn a_match_ended_twice_in_a_batch_ends_once_with_the_first_reason() {
        let ends = [end(M1, EndCause::Left), end(M2, EndCause::Blocked), end(M1, EndCause::Blocked)];
        assert_eq!(distinct_ends(&ends), vec![(M1, EndCause::Left), (M2, EndCause::Blocked)]);
    }

    #[test]
    fn only_the_first_end_of_a_match_the_batch_ended_is_answered_true() {
        let ends = [end(M1, EndCause::Left), end(M2, EndCause::Left), end(M1, EndCause::Blocked)];
        assert_eq!(answer_ends(&ends, vec![M1]), vec![true, false, false]);
    }

    #[test]
    fn a_receipt_is_answered_with_the_sender_once_and_only_for_its_receiver() {
        let (match_id, seq) = (MatchId(7), Seq(3));
        let receipt = |receiver_id| Receipt { match_id, seq, receiver_id: UserId(receiver_id) };
        let receipts = [receipt(20), receipt(30), receipt(20)];
        let marked = Marked { match_id, seq, receiver_id: UserId(20), sender_id: UserId(10) };
        assert_eq!(answer_receipts(&receipts, vec![marked]), vec![Some(UserId(10)), None, None]);
    }

    #[test]
    fn only_active_or_kept_matches_have_a_last_seq() {
        let row = |id, status, kept, seq| (MatchId(id), status, kept, Seq(seq));
        let rows = vec![
            row(1, MatchStatus::Active, false, 5),
            row(2, MatchStatus::Completed, false, 3),
            row(3, MatchStatus::Active, false, 0),
            row(4, MatchStatus::Completed, true, 8),
            row(5, MatchStatus::Cancelled, true, 0),
        ];
        let open = HashMap::from([(M1, Seq(5)), (MatchId(3), Seq(0)), (MatchId(4), Seq(8)), (MatchId(5), Seq(0))]);
        assert_eq!(open_last_seqs(rows), open);
    }

    #[test]
    fn seqs_follow_the_last_of_each_match_and_repeats_get_the_seq_of_their_first_copy() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let earlier = DateTime::from_timestamp(999_000, 0).unwrap();
        let batch = [
            message(M1, U10, "a"),
            message(M2, U10, "b"),
            message(M1, UserId(11), "a"),
            message(MatchId(9), U10, "c"),
            message(M1, U10, "a"),
            message(M1, U10, "old"),
        ];
        let last_seq = HashMap::from([(M1, Seq(5)), (M2, Seq(0))]);
        let known =
            vec![Earlier { match_id: M1, sender_id: U10, client_msg_id: "old".into(), seq: Seq(4), sent_at: earlier }];

        let (outcomes, fresh) = assign_seqs(&batch, &last_seq, known, now);

        assert_eq!(
            outcomes,
            vec![
                WriteOutcome::Stored { seq: Seq(6), sent_at: now },
                WriteOutcome::Stored { seq: Seq(1), sent_at: now },
                WriteOutcome::Stored { seq: Seq(7), sent_at: now },
                WriteOutcome::MatchNotActive,
                WriteOutcome::Duplicate { seq: Seq(6), sent_at: now },
                WriteOutcome::Duplicate { seq: Seq(4), sent_at: earlier },
            ]
        );
        let fresh: Vec<(i64, i64, &str, i64)> =
            fresh.iter().map(|(m, seq)| (m.match_id.0, m.sender_id.0, m.client_msg_id.as_str(), seq.0)).collect();
        assert_eq!(fresh, vec![(1, 10, "a", 6), (2, 10, "b", 1), (1, 11, "a", 7)]);
    }
}
