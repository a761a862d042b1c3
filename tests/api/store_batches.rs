//! The group-commit write: one transaction holding the group commit's messages, receipts and ends and the
//! matchmaker's openings. Every row of a batch must come out as if it had been written alone.

use tanis::domain::EndCause;
use tanis::store::{
    Asked, Batch, CreateMatchError, MatchEnd, NewMatch, NewMessage, Opened, Opening, Receipt, Refusal, Refused,
    WriteOutcome,
};
use tanis_proto::MatchKind;

use tanis::domain::{MatchId, Seq, UserId};

use crate::helpers::{Backend, TestApp, new_match, new_message, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_batch_opens_every_payable_pair_and_a_refused_pair_charges_nobody,
    a_batch_of_messages_numbers_each_match_and_answers_repeats_with_the_first_seq,
    a_message_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored,
    receipts_commit_in_the_message_batch_and_mark_each_message_once_for_its_receiver,
    a_cumulative_receipt_marks_its_range_for_its_receiver_once_and_nothing_beyond_the_last_message,
    ends_commit_in_the_message_batch_after_its_messages_and_end_a_match_once,
    openings_commit_in_the_message_batch_after_its_ends_and_a_refusal_rolls_back_only_its_opening,
    two_deciders_opening_a_match_for_one_user_at_once_open_one_and_charge_once,
    an_opening_refuses_a_request_a_match_spent_and_a_pair_a_block_parts_and_charges_neither,
);

fn relay_batch<'a>(messages: &'a [NewMessage], receipts: &'a [Receipt]) -> Batch<'a> {
    Batch { messages, receipts, ..Batch::default() }
}

/// The group commit's write of one batch, through a writer of its own (closed after, as the group commit closes its
/// writer before the store closes).
async fn write_isolated(app: &TestApp, batch: Batch<'_>) -> tanis::group_commit::Outcomes {
    let mut writer = app.store.batch_writer();
    let outcomes = tanis::group_commit::write_isolated(&mut writer.lease().await, batch, app.now()).await;
    writer.close().await;
    outcomes
}

fn pair(app: &TestApp, user1_id: UserId, user2_id: UserId, kind: MatchKind) -> NewMatch {
    new_match(user1_id, user2_id, kind, app.now())
}

async fn a_batch_opens_every_payable_pair_and_a_refused_pair_charges_nobody(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz", "ece", "fatih", "gul", "hakan"] {
        ids.push(app.user(alias).await.id);
    }
    // cem has nothing left to pay with; hakan is already in a match.
    app.execute(format!("UPDATE users SET daily_chat_balance = 0, bonus_chat_balance = 0 WHERE id = {}", ids[2])).await;
    let before: Vec<_> = {
        let mut users = Vec::new();
        for id in &ids {
            users.push(app.store.user_by_id(*id).await.unwrap().unwrap());
        }
        users
    };
    let batch = [
        pair(&app, ids[0], ids[1], MatchKind::Text),
        pair(&app, ids[2], ids[3], MatchKind::Text),
        pair(&app, ids[4], ids[5], MatchKind::Video),
        pair(&app, ids[6], ids[7], MatchKind::Text),
    ];
    let results = app.store.create_matches(&batch, None).await.unwrap();
    assert_eq!(results.len(), 4);

    let created = results[0].as_ref().expect("ayse and burak are matched");
    assert_eq!((created.row.user1_id, created.row.user2_id, created.row.kind.as_str()), (ids[0], ids[1], "text"));
    assert_eq!(created.user1.daily_chat_balance, before[0].daily_chat_balance - 1, "balances after paying");
    assert_eq!(created.user2.daily_chat_balance, before[1].daily_chat_balance - 1);
    let stored = app.store.match_of_participant(created.row.id, ids[0]).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&created.row), "the row handed back is the row stored");
    assert!(
        matches!(results[1], Err(CreateMatchError::Unavailable(id)) if id == ids[2]),
        "{:?}",
        results[1].as_ref().err()
    );
    let video = results[2].as_ref().expect("ece and fatih are matched");
    assert_eq!(video.row.kind.as_str(), "video");
    assert_eq!(video.user1.daily_video_balance, before[4].daily_video_balance - 1, "video spends video units");
    assert_eq!(video.user1.daily_chat_balance, before[4].daily_chat_balance);
    assert!(results[3].is_ok());

    // deniz was in the refused pair: not charged, and free to be matched.
    let deniz = app.store.user_by_id(ids[3]).await.unwrap().unwrap();
    assert_eq!(deniz.daily_chat_balance, before[3].daily_chat_balance);
    assert!(app.store.active_match_for(ids[3]).await.unwrap().is_none());
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'").await, 3);

    // The same users again: everyone matched above is now refused, and nothing new is written.
    let again = app.store.create_matches(&[pair(&app, ids[6], ids[3], MatchKind::Text)], None).await.unwrap();
    assert!(matches!(again[0], Err(CreateMatchError::Unavailable(id)) if id == ids[6]));
    let deniz_after = app.store.user_by_id(ids[3]).await.unwrap().unwrap();
    assert_eq!(deniz_after.daily_chat_balance, before[3].daily_chat_balance, "the payable side paid nothing");
    assert_eq!(app.count("SELECT COUNT(*) FROM matches").await, 3);
}

async fn a_batch_of_messages_numbers_each_match_and_answers_repeats_with_the_first_seq(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz", "ece", "fatih"] {
        ids.push(app.user(alias).await.id);
    }
    let batch = [
        pair(&app, ids[0], ids[1], MatchKind::Text),
        pair(&app, ids[2], ids[3], MatchKind::Text),
        pair(&app, ids[4], ids[5], MatchKind::Text),
    ];
    let matches: Vec<MatchId> =
        app.store.create_matches(&batch, None).await.unwrap().into_iter().map(|r| r.unwrap().row.id).collect();
    let (m1, m2, ended) = (matches[0], matches[1], matches[2]);
    app.store.end_match(ended, EndCause::Left, app.now()).await.unwrap();

    let first = app
        .store
        .insert_messages(&[new_message(m1, ids[0], ids[1], "a1"), new_message(m1, ids[1], ids[0], "b1")], app.now())
        .await
        .unwrap();
    let seq = |o: &WriteOutcome| match o {
        WriteOutcome::Stored { seq, .. } => ("stored", seq.get()),
        WriteOutcome::Duplicate { seq, .. } => ("duplicate", seq.get()),
        WriteOutcome::MatchNotActive => ("not_active", 0),
    };
    assert_eq!(first.iter().map(seq).collect::<Vec<_>>(), [("stored", 1), ("stored", 2)]);

    let second = app
        .store
        .insert_messages(
            &[
                new_message(m2, ids[2], ids[3], "c1"),
                new_message(m1, ids[0], ids[1], "a2"),
                new_message(m1, ids[0], ids[1], "a1"), // a retry of an earlier batch
                new_message(ended, ids[4], ids[5], "e1"),
                new_message(m1, ids[0], ids[1], "a2"), // a repeat inside this batch
                new_message(m1, ids[1], ids[0], "a2"), // same id, other sender: a different message
                new_message(m2, ids[3], ids[2], "d1"),
            ],
            app.now(),
        )
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(seq).collect::<Vec<_>>(),
        [
            ("stored", 1),
            ("stored", 3),
            ("duplicate", 1),
            ("not_active", 0),
            ("duplicate", 3),
            ("stored", 4),
            ("stored", 2),
        ]
    );
    // Exactly the stored ones are in both tables, nothing for the ended match.
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM messages WHERE match_id = {m1}")).await, 4);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {m1}")).await, 4);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {m2}")).await, 2);
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM messages WHERE match_id = {ended}")).await, 0);
    let resumed = app.store.messages_after(m1, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap();
    assert_eq!(resumed.iter().map(|m| m.seq.get()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(resumed[2].content, "Y2lwaGVya2", "seq 3 is a2's ciphertext");
}

/// Defence in depth behind the edge's refusals: whatever the next poison is, it must not fail other people's
/// messages that happened to share its transaction.
async fn a_message_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz"] {
        ids.push(app.user(alias).await.id);
    }
    let batch = [pair(&app, ids[0], ids[1], MatchKind::Text), pair(&app, ids[2], ids[3], MatchKind::Text)];
    let matches: Vec<MatchId> =
        app.store.create_matches(&batch, None).await.unwrap().into_iter().map(|r| r.unwrap().row.id).collect();
    let (m1, m2) = (matches[0], matches[1]);

    // Refused by either database: a message to its own sender (a CHECK). PostgreSQL also refuses a NUL.
    let mut poison = vec![(3, new_message(m1, ids[1], ids[1], "to-self"))];
    if backend == Backend::Postgres {
        poison.push((6, new_message(m2, ids[3], ids[2], "nul\u{0}")));
    }
    let mut messages: Vec<NewMessage> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                new_message(m1, ids[0], ids[1], &format!("a{i}"))
            } else {
                new_message(m2, ids[2], ids[3], &format!("c{i}"))
            }
        })
        .collect();
    for (at, m) in &poison {
        messages.insert(*at, m.clone());
    }
    let outcomes = write_isolated(&app, relay_batch(&messages, &[])).await.messages;

    assert_eq!(outcomes.len(), messages.len());
    let refused: Vec<usize> = outcomes.iter().enumerate().filter(|(_, o)| o.is_err()).map(|(i, _)| i).collect();
    let poisoned: Vec<usize> = poison.iter().map(|(at, _)| *at).collect();
    assert_eq!(refused, poisoned, "only the poison is refused");
    let seqs = |match_id: MatchId| {
        messages
            .iter()
            .zip(&outcomes)
            .filter(|(m, _)| m.match_id == match_id)
            .filter_map(|(_, o)| match o {
                Ok(WriteOutcome::Stored { seq, .. }) => Some(seq.get()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(m1), [1, 2, 3, 4], "every other message stored, numbered without a gap");
    assert_eq!(seqs(m2), [1, 2, 3, 4]);
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 8);
    assert_eq!(app.count("SELECT COUNT(*) FROM message_logs").await, 8);
}

async fn receipts_commit_in_the_message_batch_and_mark_each_message_once_for_its_receiver(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("ayse").await.id, app.user("burak").await.id);
    let m =
        app.store.create_matches(&[pair(&app, a, b, MatchKind::Text)], None).await.unwrap()[0].as_ref().unwrap().row.id;
    app.store.insert_messages(&[new_message(m, a, b, "a1"), new_message(m, a, b, "a2")], app.now()).await.unwrap();

    let receipt = |seq, receiver_id| Receipt::one(m, Seq(seq), receiver_id);
    // With a new message in the same transaction: b acknowledges 1 (twice) and 2, a tries to acknowledge 2
    // (not a's to acknowledge), and 9 does not exist.
    let receipts = [receipt(1, b), receipt(1, b), receipt(2, a), receipt(2, b), receipt(9, b)];
    let written = write_isolated(&app, relay_batch(&[new_message(m, b, a, "b1")], &receipts)).await;
    let (stored, delivered) = (written.messages, written.receipts);
    assert!(matches!(stored[..], [Ok(WriteOutcome::Stored { seq: Seq(3), .. })]), "{stored:?}");
    let delivered: Vec<Option<UserId>> = delivered.into_iter().map(|d| d.unwrap().map(|d| d.sender)).collect();
    // Which of the two copies of b's receipt for 1 marks it is the database's choice (PostgreSQL's follows its
    // plan): one does, once.
    let first = if delivered[0].is_some() { [Some(a), None] } else { [None, Some(a)] };
    assert_eq!(delivered, [first[0], first[1], None, Some(a), None], "the sender, once, for the right receiver");
    let marked = app.count(format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {m} AND delivered = TRUE"));
    assert_eq!(marked.await, 2);

    // Acknowledged again in a later batch: nothing new.
    let again = write_isolated(&app, relay_batch(&[], &[receipt(1, b)])).await.receipts;
    assert_eq!(again.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [None]);
}

async fn a_cumulative_receipt_marks_its_range_for_its_receiver_once_and_nothing_beyond_the_last_message(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("ayse").await.id, app.user("burak").await.id);
    let m =
        app.store.create_matches(&[pair(&app, a, b, MatchKind::Text)], None).await.unwrap()[0].as_ref().unwrap().row.id;
    // 1, 2 and 4 are a's to b; 3 is b's to a.
    let sent = [
        new_message(m, a, b, "a1"),
        new_message(m, a, b, "a2"),
        new_message(m, b, a, "b1"),
        new_message(m, a, b, "a3"),
    ];
    app.store.insert_messages(&sent, app.now()).await.unwrap();
    let range = |first, seq, receiver_id| Receipt { match_id: m, first: Seq(first), seq: Seq(seq), receiver_id };
    let marked = |outcomes: tanis::group_commit::Outcomes| -> Vec<Option<(UserId, Vec<i64>)>> {
        let seqs = |d: tanis::store::Delivered| (d.sender, d.seqs.into_iter().map(|s| s.0).collect());
        outcomes.receipts.into_iter().map(|r| r.unwrap().map(seqs)).collect()
    };

    // Beyond the last message: nothing, not even what it would cover. b up to 2; a's range holds none of a's
    // messages but 3, b's.
    let receipts = [range(1, 5, b), range(1, 2, b), range(1, 4, a)];
    let written = marked(write_isolated(&app, relay_batch(&[], &receipts)).await);
    assert_eq!(written, [None, Some((a, vec![1, 2])), Some((b, vec![3]))]);
    // Up to 4, from 1: just what is left, 4.
    let written = marked(write_isolated(&app, relay_batch(&[], &[range(1, 4, b)])).await);
    assert_eq!(written, [Some((a, vec![4]))]);
    let delivered = format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {m} AND delivered = TRUE");
    assert_eq!(app.count(delivered.clone()).await, 4);

    // Again, from anywhere: nothing new.
    assert_eq!(marked(write_isolated(&app, relay_batch(&[], &[range(1, 4, b)])).await), [None]);
    // Two receipts of one batch covering the same messages (two sockets of b): each message marked and answered
    // once, by one of them.
    app.store.insert_messages(&[new_message(m, a, b, "a4"), new_message(m, a, b, "a5")], app.now()).await.unwrap();
    let written = marked(write_isolated(&app, relay_batch(&[], &[range(1, 6, b), range(5, 6, b)])).await);
    let mut seqs: Vec<i64> = written
        .into_iter()
        .flatten()
        .flat_map(|(sender, seqs)| {
            assert_eq!(sender, a);
            seqs
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [5, 6]);
    assert_eq!(app.count(delivered).await, 6);
}

async fn ends_commit_in_the_message_batch_after_its_messages_and_end_a_match_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz"] {
        ids.push(app.user(alias).await.id);
    }
    let created = app
        .store
        .create_matches(
            &[pair(&app, ids[0], ids[1], MatchKind::Text), pair(&app, ids[2], ids[3], MatchKind::Text)],
            None,
        )
        .await
        .unwrap();
    let (talked, silent) = (created[0].as_ref().unwrap().row.id, created[1].as_ref().unwrap().row.id);
    // Both sides of `talked` leave in the same batch as its last message; `silent` is left twice over two batches.
    let ends = [
        MatchEnd { match_id: talked, reason: EndCause::Left },
        MatchEnd { match_id: silent, reason: EndCause::Blocked },
        MatchEnd { match_id: talked, reason: EndCause::Expired },
    ];
    let messages = [new_message(talked, ids[0], ids[1], "bye")];
    let written = write_isolated(&app, Batch { messages: &messages, ends: &ends, ..Batch::default() }).await;
    assert!(
        matches!(written.messages[..], [Ok(WriteOutcome::Stored { seq: Seq(1), .. })]),
        "the message before the end is stored"
    );
    assert_eq!(
        written.ends.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [Some(Seq(1)), Some(Seq(0)), None],
        "each match ends once, with its last seq as the end saw it: the batch's message before it counts"
    );
    let again = [MatchEnd { match_id: silent, reason: EndCause::Left }];
    let written = write_isolated(&app, Batch { ends: &again, ..Batch::default() }).await;
    assert_eq!(written.ends.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [None], "already ended");

    let row = |id: MatchId| format!("SELECT COUNT(*) FROM matches WHERE id = {id} AND ended_at IS NOT NULL AND ");
    assert_eq!(
        app.count(row(talked) + "status = 'completed' AND end_reason = 'left'").await,
        1,
        "the first end's reason"
    );
    assert_eq!(app.count(row(silent) + "status = 'cancelled' AND end_reason = 'blocked'").await, 1);
    // A message after the end finds the match closed.
    let late = write_isolated(&app, relay_batch(&[new_message(talked, ids[1], ids[0], "late")], &[])).await;
    assert!(matches!(late.messages[..], [Ok(WriteOutcome::MatchNotActive)]));
}

async fn openings_commit_in_the_message_batch_after_its_ends_and_a_refusal_rolls_back_only_its_opening(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz", "ece"] {
        ids.push(app.user(alias).await.id);
    }
    let old = app.store.create_matches(&[pair(&app, ids[0], ids[1], MatchKind::Text)], None).await.unwrap()[0]
        .as_ref()
        .unwrap()
        .row
        .id;
    // ece cannot pay: her pair's attempt is rolled back, which must not take the batch's message or end with it.
    app.execute(format!("UPDATE users SET daily_chat_balance = 0, bonus_chat_balance = 0 WHERE id = {}", ids[4])).await;
    let deniz_before = app.store.user_by_id(ids[3]).await.unwrap().unwrap().daily_chat_balance;

    // ayse says goodbye, leaves, and is matched with cem: payable only because the end comes first.
    let messages = [new_message(old, ids[0], ids[1], "bye")];
    let ends = [MatchEnd { match_id: old, reason: EndCause::Left }];
    let opens = [Opening {
        matches: vec![pair(&app, ids[0], ids[2], MatchKind::Text), pair(&app, ids[3], ids[4], MatchKind::Text)],
        epoch: None,
        node: None,
    }];
    let batch = Batch { messages: &messages, ends: &ends, opens: &opens, ..Batch::default() };
    let written = write_isolated(&app, batch).await;
    assert!(matches!(written.messages[..], [Ok(WriteOutcome::Stored { seq: Seq(1), .. })]), "{:?}", written.messages);
    assert!(matches!(written.ends[..], [Ok(Some(Seq(1)))]), "{:?}", written.ends);
    let Ok(Opened::Pairs(pairs)) = &written.opens[0] else { panic!("{:?}", written.opens) };
    let new = pairs[0].as_ref().expect("ayse and cem are matched");
    assert_eq!((new.row.user1_id, new.row.user2_id), (ids[0], ids[2]));
    assert_eq!(pairs[1], Err(Refused { user: ids[4], why: Refusal::Unavailable }), "ece could not pay");

    let deniz = app.store.user_by_id(ids[3]).await.unwrap().unwrap();
    assert_eq!(deniz.daily_chat_balance, deniz_before, "the refused pair's other side paid nothing");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1, "the message survived the rollback");
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {old} AND status = 'completed'")).await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'").await, 1);

    // A deposed cluster matchmaker's opening writes nothing, and the message beside it is stored all the same.
    app.execute("UPDATE matchmaker_fence SET epoch = 5 WHERE id = 1".into()).await;
    let messages = [new_message(new.row.id, ids[2], ids[0], "hi")];
    let opens = [Opening { matches: vec![pair(&app, ids[3], ids[1], MatchKind::Text)], epoch: Some(4), node: None }];
    let batch = Batch { messages: &messages, opens: &opens, ..Batch::default() };
    let written = write_isolated(&app, batch).await;
    assert!(matches!(written.opens[..], [Ok(Opened::Fenced)]), "{:?}", written.opens);
    assert!(matches!(written.messages[..], [Ok(WriteOutcome::Stored { seq: Seq(1), .. })]));
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'").await, 1, "nothing opened");
    assert_eq!(app.count("SELECT COUNT(*) FROM matchmaker_fence WHERE epoch = 5").await, 1, "the fence stays");

    // A node's own pair, claimed under its fence: once the elected matchmaker raised it (taking the node's places
    // over), the opening writes nothing; under the fence as it stands now, it opens (docs/testing.md row 38).
    let node = "dugum-1";
    let claimed_at = app.store.node_fence(node).await.unwrap();
    app.store.raise_node_fences(&[node.to_owned()]).await.unwrap();
    let fence = |epoch| Some(tanis::store::NodeFence { node: node.into(), epoch });
    let opens =
        [Opening { matches: vec![pair(&app, ids[3], ids[1], MatchKind::Text)], epoch: None, node: fence(claimed_at) }];
    let written = write_isolated(&app, Batch { opens: &opens, ..Batch::default() }).await;
    assert!(matches!(written.opens[..], [Ok(Opened::Fenced)]), "{:?}", written.opens);
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'").await, 1, "nothing opened");
    let now = app.store.node_fence(node).await.unwrap();
    assert_eq!(now, claimed_at + 1);
    let opens = [Opening { matches: vec![pair(&app, ids[3], ids[1], MatchKind::Text)], epoch: None, node: fence(now) }];
    let written = write_isolated(&app, Batch { opens: &opens, ..Batch::default() }).await;
    assert!(matches!(&written.opens[..], [Ok(Opened::Pairs(p))] if p[0].is_ok()), "{:?}", written.opens);
}

/// Two deciders open a match for one user at the same moment (a node pairing its own seekers, and the elected
/// matchmaker holding the user since that node was cut off from Redis): the database itself lets one through, and
/// charges the user once. On PostgreSQL the first opening is held after it paid and wrote its match, uncommitted,
/// until the second is seen waiting for it; then the first commits. (On SQLite one writer at a time decides.)
async fn two_deciders_opening_a_match_for_one_user_at_once_open_one_and_charge_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (both, x, y) = (app.user("ikisinde").await.id, app.user("ilki").await.id, app.user("ikincisi").await.id);
    let store = &app.store;
    let balance = |id: UserId| async move { store.user_by_id(id).await.unwrap().unwrap().daily_chat_balance };
    let before = [balance(both).await, balance(x).await, balance(y).await];
    let decide = |partner: UserId, epoch: Option<i64>| {
        let (store, batch) = (app.store.clone(), [pair(&app, both, partner, MatchKind::Text)]);
        tokio::spawn(async move { store.create_matches(&batch, epoch).await.unwrap().remove(0) })
    };
    let within = std::time::Duration::from_secs(10);
    let (first, second) = match backend {
        Backend::Sqlite => (decide(x, None), decide(y, Some(1))),
        Backend::Postgres => {
            let mut held = app.store.fail_points.hold("opening.written");
            let first = decide(x, None);
            tokio::time::timeout(within, held.reached()).await.expect("the first opening wrote its match");
            let second = decide(y, Some(1));
            let waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                           AND datname = current_database()";
            crate::helpers::eventually(within, "the second opening waits for the first", || async {
                app.count(waiting).await >= 1
            })
            .await;
            held.release();
            (first, second)
        }
    };
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    let opened: Vec<UserId> = [(&first, x), (&second, y)]
        .into_iter()
        .filter_map(|(result, partner)| result.as_ref().ok().map(|_| partner))
        .collect();
    assert_eq!(opened.len(), 1, "one of the two openings went through: {first:?} / {second:?}");
    let refused = if opened[0] == x { &second } else { &first };
    assert!(matches!(refused, Err(CreateMatchError::Unavailable(id)) if *id == both), "{refused:?}");
    let matches =
        format!("SELECT COUNT(*) FROM matches WHERE status = 'active' AND (user1_id = {both} OR user2_id = {both})");
    assert_eq!(app.count(matches).await, 1, "in one active match");
    assert_eq!(balance(both).await, before[0] - 1, "charged once");
    let (left_out, was) = if opened[0] == x { (y, before[2]) } else { (x, before[1]) };
    assert_eq!(balance(left_out).await, was, "the refused pair's other side paid nothing");
}

/// Issue 60's simulation found two pairs the opening let through (`OpeningAllowsSpentFind`,
/// `OpeningIgnoresBlocks`): a stale copy of a request that a match opened since already spent (adopted from a node
/// that died between its commit and its settle), and a pair with a block made while the matchmaker was opening it.
/// Both are refused, with their reason, and charge nobody; a request asked after the match goes through.
async fn an_opening_refuses_a_request_a_match_spent_and_a_pair_a_block_parts_and_charges_neither(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz", "ece"] {
        ids.push(app.user(alias).await.id);
    }
    let (ayse, burak, cem, deniz, ece) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let asked_before = chrono::Utc::now();
    let first = app.store.create_matches(&[pair(&app, ayse, burak, MatchKind::Text)], None).await.unwrap();
    let match_id = first[0].as_ref().expect("ayse and burak meet").row.id;
    app.store.end_match(match_id, tanis::domain::EndCause::Left, app.now()).await.unwrap();
    app.store.block(deniz, ece, app.now()).await.unwrap();
    let balances = || async {
        let mut all = Vec::new();
        for id in [ayse, cem, deniz, ece] {
            all.push(app.store.user_by_id(id).await.unwrap().unwrap().daily_chat_balance);
        }
        all
    };
    let before = balances().await;

    // As a node of the previous release stamps a request: by its wall clock alone.
    let by_clock = Asked { after: None, at: Some(asked_before) };
    let stale = NewMatch { user1_asked: by_clock, ..pair(&app, ayse, cem, MatchKind::Text) };
    let results = app.store.create_matches(&[stale, pair(&app, deniz, ece, MatchKind::Text)], None).await.unwrap();
    assert!(matches!(results[0], Err(CreateMatchError::Spent(id)) if id == ayse), "{:?}", results[0].as_ref().err());
    assert!(matches!(results[1], Err(CreateMatchError::Apart(id)) if id == ece), "{:?}", results[1].as_ref().err());
    assert_eq!(balances().await, before, "a refused pair charges nobody");
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'").await, 0);

    // Asked after that match: a new request, matched.
    let by_clock = Asked { after: None, at: Some(chrono::Utc::now()) };
    let fresh = NewMatch { user1_asked: by_clock, ..pair(&app, ayse, cem, MatchKind::Text) };
    let results = app.store.create_matches(&[fresh], None).await.unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0].as_ref().err());
}
