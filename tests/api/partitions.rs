//! Message tables by time (issue 51 point 2): on PostgreSQL content in a partition per day and metadata in a
//! partition per month, made ahead and dropped whole by the expiry (src/store/partitions.rs); on both stores the
//! metadata's own retention, and a contact conversation that outlives its logs going on from its seq.

use chrono::TimeDelta;
use sqlx::Connection;
use tanis_proto::{ClientFrame, MatchKind, ReportReason, Seq, ServerFrame};
use tanis_workers::schedule::Job;

use crate::contacts::{contacts, listed, next_of, say};
use crate::evidence::{answer, said};
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

/// A table of the test's database by name: 1 when it exists (a partition or not), 0 when it does not.
async fn table_exists(app: &TestApp, name: &str) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM pg_class WHERE relname = '{name}' AND relkind = 'r'")).await
}

const ROTATION_FAILURES: &str = "tanis_expiry_step_failures_total{step=\"rotate_partitions\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_held_up_by_a_lock_fails_alone_the_other_steps_run_and_the_next_run_finishes_it() {
    let app = spawn_app(Backend::Postgres).await;
    let (a, b) = (app.user("kilitli").await, app.user("bekleyen").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["kanit"]).await;
    sa.send(&chat_a.report(ReportReason::Harassment, None, &seqs).unwrap()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }), "revealed as evidence");
    let (c, d) = (app.user("suresi").await, app.user("dolan").await);
    let _open = app.pair(&c, &d, MatchKind::Text).await;
    let commitments = || app.count("SELECT COUNT(*) FROM message_logs WHERE commitment IS NOT NULL");
    let evidence = || app.count("SELECT COUNT(*) FROM report_evidence");
    let active = || app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'");
    assert_eq!((commitments().await, evidence().await), (1, 1));
    assert!(active().await >= 1);
    let before = app.scrape().await.value(ROTATION_FAILURES);

    // Past the evidence's 90 days, and so past the report window and every match's end; the 21st's partition is due.
    app.clock.advance(TimeDelta::days(91));
    // Someone reads the messages in a transaction that does not end: the rotation cannot finish its detach, which
    // waits for every transaction that might still see the partition, nor make the days ahead.
    let mut reader = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    let mut held = reader.begin().await.unwrap();
    sqlx::query("LOCK TABLE messages IN ACCESS SHARE MODE").execute(&mut *held).await.unwrap();

    let failed = app.run_job(Job::Expiry).await.expect_err("the rotation could not have its locks");
    assert!(failed.to_string().contains("rotate_partitions"), "the run names the failed step: {failed}");
    assert_eq!(commitments().await, 0, "the commitments past the report window were cleared all the same");
    assert_eq!(evidence().await, 0, "the evidence past its retention was deleted all the same");
    assert_eq!(active().await, 0, "the matches past their end expired all the same");
    assert_eq!(table_exists(&app, "messages_d20261121").await, 1, "the day is still there, to go next time");
    assert_eq!(app.scrape().await.value(ROTATION_FAILURES) - before, 1.0, "counted, for an alert");
    let recorded = app
        .count(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'job.expiry' \
             AND details LIKE '%\"failed_steps\":[\"rotate_partitions\"]%'",
        )
        .await;
    assert_eq!(recorded, 1, "the run's record says which step failed");

    // The reader is done: the next run finishes the detach it started and drops the day.
    held.commit().await.unwrap();
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(table_exists(&app, "messages_d20261121").await, 0, "dropped, not merely detached");
    assert_eq!(partitions(&app, "messages", "messages_d2027022_").await, 8, "and the days ahead were made");
    assert_eq!(app.scrape().await.value(ROTATION_FAILURES) - before, 1.0, "nothing more failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_detached_but_not_dropped_is_dropped_by_the_next_run() {
    let app = spawn_app(Backend::Postgres).await;
    app.clock.advance(TimeDelta::days(2));
    // A run that stopped between its detach and its drop (a crash, a lost connection).
    let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::raw_sql("ALTER TABLE messages DETACH PARTITION messages_d20261121").execute(&mut conn).await.unwrap();
    assert_eq!(partitions(&app, "messages", "messages_d20261121").await, 0);
    assert_eq!(table_exists(&app, "messages_d20261121").await, 1);
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(table_exists(&app, "messages_d20261121").await, 0, "what the stopped run left is gone");
    assert_eq!(table_exists(&app, "messages_d20261122").await, 1, "and nothing else");
}
