//! The batch's pure rules, shared by both dialects: which matches a batch locks, which seq each message gets,
//! and how the rows a statement touched answer each item in input order. No I/O: the dialect files gather rows
//! and apply these.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{MatchEnd, NewMessage, Receipt, WriteOutcome};
use crate::domain::{EndCause, MatchStatus};

/// Match ids, each once, in id order (the order row locks are taken in).
pub(super) fn match_ids(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each match once, with the reason of its first end: two ends of one match in a batch (both users leaving
/// at once) end it once.
pub(super) fn distinct_ends(ends: &[MatchEnd]) -> Vec<(i64, EndCause)> {
    let mut seen = HashSet::new();
    ends.iter().filter(|e| seen.insert(e.match_id)).map(|e| (e.match_id, e.reason)).collect()
}

/// Ends answered in input order from the ids of the matches the batch ended: only the first end of a match.
pub(super) fn answer_ends(ends: &[MatchEnd], ended: Vec<i64>) -> Vec<bool> {
    let mut ended: HashSet<i64> = ended.into_iter().collect();
    ends.iter().map(|e| ended.remove(&e.match_id)).collect()
}

/// Receipts answered in input order from the rows marked `(match, seq, receiver, sender)`: another user's
/// receipt for the same message gets nothing, and a receipt repeated within the batch marks once and answers
/// once.
pub(super) fn answer_receipts(receipts: &[Receipt], marked: Vec<(i64, i64, i64, i64)>) -> Vec<Option<i64>> {
    let mut marked: HashMap<(i64, i64, i64), i64> = marked.into_iter().map(|(m, s, to, by)| ((m, s, to), by)).collect();
    receipts.iter().map(|r| marked.remove(&(r.match_id, r.seq, r.receiver_id))).collect()
}

/// The last seq of each active match, from rows `(id, status, last seq)`.
pub(super) fn active_last_seqs(rows: Vec<(i64, MatchStatus, i64)>) -> HashMap<i64, i64> {
    rows.into_iter().filter(|(_, status, _)| *status == MatchStatus::Active).map(|(id, _, seq)| (id, seq)).collect()
}

/// Outcomes in input order and the messages to insert with their seqs. `known` holds earlier copies
/// `(match, sender, client_msg_id, seq, sent_at)`; in-batch repeats get the seq their first copy got.
pub(super) fn assign_seqs<'a>(
    batch: &'a [NewMessage],
    last_seq: &HashMap<i64, i64>,
    known: Vec<(i64, i64, String, i64, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> (Vec<WriteOutcome>, Vec<(&'a NewMessage, i64)>) {
    let mut known: HashMap<(i64, i64, String), (i64, DateTime<Utc>)> =
        known.into_iter().map(|(m, s, c, seq, at)| ((m, s, c), (seq, at))).collect();
    let mut next_seq: HashMap<i64, i64> = last_seq.iter().map(|(m, s)| (*m, s + 1)).collect();
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
        *seq += 1;
    }
    (outcomes, fresh)
}

#[cfg(test)]
mod tests {
    use tanis_proto::MatchKind;

    use super::*;

    fn message(match_id: i64, sender_id: i64, client_msg_id: &str) -> NewMessage {
        NewMessage {
            match_id,
            sender_id,
            receiver_id: sender_id + 1,
            client_msg_id: client_msg_id.into(),
            content: "Y2lwaGVy".into(),
            nonce: "bm9uY2U=".into(),
            device_info: None,
            connection_type: MatchKind::Text,
        }
    }

    fn end(match_id: i64, reason: EndCause) -> MatchEnd {
        MatchEnd { match_id, reason }
    }

    #[test]
    fn match_ids_are_each_listed_once_in_id_order() {
        assert_eq!(match_ids([3, 1, 3, 2, 1]), vec![1, 2, 3]);
    }

    #[test]
    fn a_match_ended_twice_in_a_batch_ends_once_with_the_first_reason() {
        let ends = [end(1, EndCause::Left), end(2, EndCause::Blocked), end(1, EndCause::Blocked)];
        assert_eq!(distinct_ends(&ends), vec![(1, EndCause::Left), (2, EndCause::Blocked)]);
    }

    #[test]
    fn only_the_first_end_of_a_match_the_batch_ended_is_answered_true() {
        let ends = [end(1, EndCause::Left), end(2, EndCause::Left), end(1, EndCause::Blocked)];
        assert_eq!(answer_ends(&ends, vec![1]), vec![true, false, false]);
    }

    #[test]
    fn a_receipt_is_answered_with_the_sender_once_and_only_for_its_receiver() {
        let receipt = |receiver_id| Receipt { match_id: 7, seq: 3, receiver_id };
        let receipts = [receipt(20), receipt(30), receipt(20)];
        assert_eq!(answer_receipts(&receipts, vec![(7, 3, 20, 10)]), vec![Some(10), None, None]);
    }

    #[test]
    fn only_active_matches_have_a_last_seq() {
        let rows = vec![(1, MatchStatus::Active, 5), (2, MatchStatus::Completed, 3), (3, MatchStatus::Active, 0)];
        assert_eq!(active_last_seqs(rows), HashMap::from([(1, 5), (3, 0)]));
    }

    #[test]
    fn seqs_follow_the_last_of_each_match_and_repeats_get_the_seq_of_their_first_copy() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let earlier = DateTime::from_timestamp(999_000, 0).unwrap();
        let batch = [
            message(1, 10, "a"),
            message(2, 10, "b"),
            message(1, 11, "a"),
            message(9, 10, "c"),
            message(1, 10, "a"),
            message(1, 10, "old"),
        ];
        let last_seq = HashMap::from([(1, 5), (2, 0)]);
        let known = vec![(1, 10, "old".to_owned(), 4, earlier)];

        let (outcomes, fresh) = assign_seqs(&batch, &last_seq, known, now);

        assert_eq!(
            outcomes,
            vec![
                WriteOutcome::Stored { seq: 6, sent_at: now },
                WriteOutcome::Stored { seq: 1, sent_at: now },
                WriteOutcome::Stored { seq: 7, sent_at: now },
                WriteOutcome::MatchNotActive,
                WriteOutcome::Duplicate { seq: 6, sent_at: now },
                WriteOutcome::Duplicate { seq: 4, sent_at: earlier },
            ]
        );
        let fresh: Vec<(i64, i64, &str, i64)> =
            fresh.iter().map(|(m, seq)| (m.match_id, m.sender_id, m.client_msg_id.as_str(), *seq)).collect();
        assert_eq!(fresh, vec![(1, 10, "a", 6), (2, 10, "b", 1), (1, 11, "a", 7)]);
    }
}
