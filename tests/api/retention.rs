//! Nothing kept longer than it serves (issue 47, point 4): a message's franking commitment, which with the
//! receiver's saved key proves who wrote it, is kept only while the message can be reported — the report window,
//! `jobs.report_window_days` — and the expiry job clears it then; a purged account's messages can no longer be
//! revealed as evidence, and the purge clears their commitments. Reveals past either get `evidence_expired`.

use chrono::TimeDelta;
use reqwest::StatusCode;
use tanis_proto::{ErrorCode, MatchKind, ReportReason, ServerFrame};
use tanis_workers::schedule::Job;

use crate::deletion::{account, delete_me};
use crate::evidence::{answer, said};
use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    a_message_can_be_revealed_until_the_report_window_closes_and_then_its_commitment_is_cleared,
    a_purged_senders_messages_can_no_longer_be_revealed_and_their_commitments_are_gone,
    a_failed_partition_rotation_never_keeps_commitments_evidence_or_matches_from_expiring,
);

/// Messages of `match_id` whose commitment the server still holds. No door shows the column (it is what the
/// expiry clears), so this reads it, as the plaintext scans read what must not be there.
async fn commitments_kept(app: &TestApp, match_id: i64) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id} AND commitment IS NOT NULL")).await
}

fn refused_as(frame: &ServerFrame, code: ErrorCode) {
    match frame {
        ServerFrame::Error { code: got, message, .. } => {
            assert_eq!(*got, code, "{frame:?}");
            assert!(message.contains("evidence[0]") && message.contains("nothing was stored"), "{message}");
        }
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

async fn a_message_can_be_revealed_until_the_report_window_closes_and_then_its_commitment_is_cleared(backend: Backend) {
    let app = spawn_app(backend).await;
    let window = TimeDelta::days(app.config.jobs.report_window_days.into());
    assert_eq!(window, TimeDelta::days(30), "the documented default");
    let (a, b) = (app.user("hatirlayan").await, app.user("unutulan").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["ilk söz", "son söz"]).await;
    let match_id = chat_a.info.match_id.get();
    assert_eq!(commitments_kept(&app, match_id).await, 2);

    // A minute before the window closes (the content long gone), the first still verifies, and the expiry keeps it.
    app.clock.advance(window - TimeDelta::minutes(1));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0, "the content went after 24 h");
    assert_eq!(commitments_kept(&app, match_id).await, 2, "the commitments stay for the window");
    sa.send(&chat_a.report(ReportReason::Harassment, None, &seqs[..1]).unwrap()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }), "revealed within the window");

    // Past it, the second is refused at once — before the expiry has cleared anything — and nothing is stored.
    app.clock.advance(TimeDelta::minutes(2));
    sa.send(&chat_a.report(ReportReason::Harassment, None, &seqs[1..]).unwrap()).await.unwrap();
    refused_as(&answer(&mut sa).await, ErrorCode::EvidenceExpired);
    assert_eq!(app.count("SELECT COUNT(*) FROM report_evidence").await, 1, "only the reveal made in time");

    // The expiry then clears both commitments; the logs stay (the claims job and the statistics read them), and
    // the refusal stays the same.
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(commitments_kept(&app, match_id).await, 0, "nothing left that proves who wrote what");
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id}")).await, 2);
    sa.send(&chat_a.report(ReportReason::Harassment, None, &seqs[1..]).unwrap()).await.unwrap();
    refused_as(&answer(&mut sa).await, ErrorCode::EvidenceExpired);
    assert_eq!(app.count("SELECT COUNT(*) FROM report_evidence").await, 1);
}

async fn a_purged_senders_messages_can_no_longer_be_revealed_and_their_commitments_are_gone(backend: Backend) {
    // A day's grace, well inside the report window: only the purge stands between the reveal and its verification.
    let app = spawn_app_with(backend, |c| c.auth.deletion_grace_days = 1).await;
    let (a, b) = (account(&app, "sakli_tutan").await, account(&app, "giden").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a.user, &b.user, MatchKind::Text).await;
    let theirs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["silinecek söz"]).await;
    // a's own message to b: only b could ever have revealed it.
    said((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), &["cevap"]).await;
    let match_id = chat_a.info.match_id.get();
    assert_eq!(commitments_kept(&app, match_id).await, 2);
    drop(sb);

    assert_eq!(delete_me(&app, &b.user.access, PASSWORD).await.status(), StatusCode::ACCEPTED);
    app.clock.advance(TimeDelta::days(1) + TimeDelta::minutes(1));
    app.run_job(Job::Purge).await.unwrap();

    // The match is still a's to report (its other side is now the tombstone), but not with b's words.
    sa.send(&chat_a.report(ReportReason::Harassment, None, &theirs).unwrap()).await.unwrap();
    refused_as(&answer(&mut sa).await, ErrorCode::EvidenceExpired);
    assert_eq!(app.count("SELECT COUNT(*) FROM report_evidence").await, 0);
    assert_eq!(commitments_kept(&app, match_id).await, 0, "the purge cleared every commitment of the match");
    // A bare report is still taken.
    sa.send(&chat_a.report(ReportReason::Harassment, None, &[]).unwrap()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
}

async fn a_failed_partition_rotation_never_keeps_commitments_evidence_or_matches_from_expiring(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("donmayan").await, app.user("akan").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let seqs = said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["unutulmali"]).await;
    sa.send(&chat_a.report(ReportReason::Harassment, None, &seqs).unwrap()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    let (c, d) = (app.user("bitmeyen").await, app.user("bitecek").await);
    let _open = app.pair(&c, &d, MatchKind::Text).await;
    let commitments = || app.count("SELECT COUNT(*) FROM message_logs WHERE commitment IS NOT NULL");
    let evidence = || app.count("SELECT COUNT(*) FROM report_evidence");
    let active = || app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'");
    assert_eq!((commitments().await, evidence().await), (1, 1));
    assert!(active().await >= 1);
    let failures = "tanis_expiry_step_failures_total{step=\"rotate_partitions\"}";
    let before = app.scrape().await.value(failures);

    // Past the evidence's retention (and so the report window and every match's end), the rotation fails.
    app.clock.advance(TimeDelta::days(91));
    app.store.fail_points.arm("rotate.before");
    let failed = app.run_job(Job::Expiry).await.expect_err("the rotation failed");
    assert!(failed.to_string().contains("rotate_partitions"), "{failed}");
    assert_eq!(commitments().await, 0, "cleared all the same");
    assert_eq!(evidence().await, 0, "deleted all the same");
    assert_eq!(active().await, 0, "expired all the same");
    assert_eq!(app.scrape().await.value(failures) - before, 1.0, "counted, for an alert");
    // Recorded as the job's failure, which `/healthz/jobs` reports (and calls a stall once no run succeeds).
    let expiry = || async {
        let runs = app.store.job_runs().await.unwrap();
        runs.into_iter().find(|r| r.job == "expiry").expect("the run was recorded")
    };
    let run = expiry().await;
    assert_eq!(run.failures_in_row, 1);
    assert!(run.last_error.as_deref().is_some_and(|e| e.contains("rotate_partitions")), "{:?}", run.last_error);

    // The next run is the retry.
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(expiry().await.failures_in_row, 0);
    assert_eq!(app.scrape().await.value(failures) - before, 1.0, "nothing more failed");
}
