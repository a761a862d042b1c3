//! Message tables by time (issue 51 point 2): on PostgreSQL content in a partition per day and metadata in a
//! partition per month, made ahead and dropped whole by the expiry (src/store/partitions.rs); on both stores the
//! metadata's own retention, and a contact conversation that outlives its logs going on from its seq.

use chrono::TimeDelta;
use tanis_proto::{ClientFrame, MatchKind, Seq, ServerFrame};
use tanis_workers::schedule::Job;

use crate::contacts::{contacts, listed, next_of, say};
use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(a_contact_silent_longer_than_the_metadata_retention_goes_on_from_its_seq);

/// How many partitions of `parent` are named `like` (a LIKE pattern).
async fn partitions(app: &TestApp, parent: &str, like: &str) -> i64 {
    app.count(format!(
        "SELECT COUNT(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = '{parent}'::regclass AND c.relname LIKE '{like}'"
    ))
    .await
}

/// The seqs `resume` from the start of the match gives back.
async fn resumed(socket: &mut tanis_client::Connection, match_id: tanis_proto::MatchId) -> Vec<i64> {
    socket.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: Seq(0) }).await.unwrap();
    let mut seqs = Vec::new();
    loop {
        match next_of(socket, |f| matches!(f, ServerFrame::Msg { .. } | ServerFrame::ResumeDone { .. })).await {
            ServerFrame::Msg { seq, .. } => seqs.push(seq.get()),
            _ => return seqs,
        }
    }
}

async fn a_contact_silent_longer_than_the_metadata_retention_goes_on_from_its_seq(backend: Backend) {
    // The shortest metadata retention there may be: the report window's 30 days.
    let app = spawn_app_with(backend, |c| c.jobs.message_log_retention_days = c.jobs.report_window_days).await;
    let (a, b) = (app.user("sabirli").await, app.user("sessiz").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = contacts(&app, &a, &b).await;
    for text in ["bir", "iki", "üç"] {
        assert_eq!(say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), text).await, text);
    }
    let logs = || app.count("SELECT COUNT(*) FROM message_logs");
    assert_eq!(logs().await, 3);

    // Two months on, past the retention of the month those logs were written in.
    app.clock.advance(TimeDelta::days(62));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(logs().await, 0, "the metadata went with its retention");
    // Their sessions lapsed meanwhile: they sign in again, as people do.
    app.sign_in(&a).await;
    app.sign_in(&b).await;
    assert_eq!(listed(&app, &a).await[0]["last_seq"], 3, "the list still says where the conversation is");
    assert_eq!(say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "dört").await, "dört");
    assert_eq!(
        listed(&app, &b).await[0]["last_seq"],
        4,
        "the next message follows the last one, not 1 again (which both clients have seen)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_goes_a_day_at_a_time_once_the_days_newest_message_is_past_the_retention_and_is_never_served_after_it()
{
    let app = spawn_app(Backend::Postgres).await;
    // Start-up made today's partitions and the ones ahead: a week of days and this month with two more.
    assert_eq!(partitions(&app, "messages", "messages_d2026112_").await, 8, "21 to 28 November");
    assert_eq!(partitions(&app, "message_logs", "message_logs_m20261_").await, 2);
    assert_eq!(partitions(&app, "message_logs", "message_logs_m202701").await, 1);

    let (a, b) = (app.user("dun").await, app.user("bugun").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;
    // The clock starts at 09:30 on the 21st.
    say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "yirmi birinde").await;
    app.clock.advance(TimeDelta::minutes(14 * 60 + 30));
    say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "yirmi ikisinde").await;
    assert_eq!(resumed(&mut sb, match_id).await, [1, 2]);

    // 24 h after the first message: not served any more, though its day's partition is still there.
    app.clock.advance(TimeDelta::minutes(9 * 60 + 30) + TimeDelta::microseconds(1));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(resumed(&mut sb, match_id).await, [2]);
    assert_eq!(partitions(&app, "messages", "messages_d20261121").await, 1);

    // Midnight of the 23rd: every message the 21st could hold is 24 h old, and the day goes whole.
    app.clock.advance(TimeDelta::minutes(14 * 60 + 30) - TimeDelta::microseconds(2));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(partitions(&app, "messages", "messages_d20261121").await, 1, "a microsecond early: kept");
    app.clock.advance(TimeDelta::microseconds(1));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(partitions(&app, "messages", "messages_d20261121").await, 0, "dropped");
    assert_eq!(partitions(&app, "messages", "messages_d20261122").await, 1, "the next day waits for its own");
    assert_eq!(partitions(&app, "messages", "messages_d20261130").await, 1, "and the days ahead were made");
    assert_eq!(resumed(&mut sb, match_id).await, [2]);
    assert_eq!(app.count("SELECT COUNT(*) FROM message_logs").await, 2, "the metadata stays");
    let dropped = app
        .count(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'job.expiry' \
             AND details LIKE '%\"content_partitions_dropped\":[\"messages_d20261121\"]%'",
        )
        .await;
    assert_eq!(dropped, 1, "the run says what it dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_at_a_time_no_partition_was_made_for_is_stored() {
    let app = spawn_app(Backend::Postgres).await;
    // Forty days on and no expiry run since start-up: nothing made the partitions of that day or month.
    app.clock.advance(TimeDelta::days(40));
    assert_eq!(partitions(&app, "messages", "messages_d20261231").await, 0);
    let (a, b) = (app.user("gecikmis").await, app.user("saat").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    assert_eq!(say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "geldi mi?").await, "geldi mi?");
    assert_eq!(partitions(&app, "messages", "messages_d20261231").await, 1, "made by the write that needed it");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1);
}
