//! The batch's pure rules, shared by both dialects: which matches a batch locks, which seq each message gets,
//! and how the rows a statement touched answer each item in input order. No I/O: the dialect files gather rows
//! and apply these.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{Delivered, MatchEnd, NewMessage, Receipt, WriteOutcome};
use crate::domain::{EndCause, MatchId, MatchStatus, Seq, UserId};

/// A message a receipt marked delivered, as the marking statement returns it: `receipt` is the index of the
/// receipt in the batch that marked it (one of them, when several of the batch cover it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Marked {
    pub receipt: i64,
    pub seq: Seq,
    pub sender_id: UserId,
}

/// A message stored before this batch, as the duplicate lookup returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Ends answered in input order from the matches the batch ended, each with its last seq: only the first end of a
/// match, with that seq.
pub(super) fn answer_ends(ends: &[MatchEnd], ended: Vec<(MatchId, Seq)>) -> Vec<Option<Seq>> {
    let mut ended: HashMap<MatchId, Seq> = ended.into_iter().collect();
    ends.iter().map(|e| ended.remove(&e.match_id)).collect()
}

/// Receipts answered in input order with the messages each marked (ascending): a message is marked by one
/// receipt of the batch only, however many cover it (which one is the store's choice: on PostgreSQL, its plan's),
/// and a receipt that marked none gets nothing.
pub(super) fn answer_receipts(receipts: &[Receipt], marked: Vec<Marked>) -> Vec<Option<Delivered>> {
    let mut answers: Vec<Option<Delivered>> = vec![None; receipts.len()];
    for m in marked {
        let Some(answer) = usize::try_from(m.receipt).ok().and_then(|i| answers.get_mut(i)) else { continue };
        answer.get_or_insert_with(|| Delivered { sender: m.sender_id, seqs: Vec::new() }).seqs.push(m.seq);
    }
    for answer in answers.iter_mut().flatten() {
        answer.seqs.sort_unstable();
    }
    answers
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
    fn only_the_first_end_of_a_match_the_batch_ended_is_answered_with_its_last_seq() {
        let ends = [end(M1, EndCause::Left), end(M2, EndCause::Left), end(M1, EndCause::Blocked)];
        assert_eq!(answer_ends(&ends, vec![(M1, Seq(4))]), vec![Some(Seq(4)), None, None]);
    }

    #[test]
    fn each_receipt_is_answered_with_the_seqs_it_marked_in_order_and_one_that_marked_none_with_nothing() {
        let (match_id, b) = (MatchId(7), UserId(20));
        let range = |first, seq| Receipt { match_id, first: Seq(first), seq: Seq(seq), receiver_id: b };
        let receipts = [range(1, 3), Receipt::one(match_id, Seq(2), UserId(30)), range(1, 5)];
        let mark = |receipt, seq| Marked { receipt, seq: Seq(seq), sender_id: UserId(10) };
        let answered = answer_receipts(&receipts, vec![mark(2, 5), mark(0, 3), mark(0, 1), mark(2, 4), mark(9, 9)]);
        let seqs = |s: &[i64]| Some(Delivered { sender: UserId(10), seqs: s.iter().map(|&s| Seq(s)).collect() });
        assert_eq!(answered, vec![seqs(&[1, 3]), None, seqs(&[4, 5])]);
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
