//! The report queue as moderators work it (docs/admin.md "The report queue"): verified evidence moves a report
//! up, since it is what a moderator can decide on, and evidence that follows a decided report reopens it, audited,
//! with the decision standing until a moderator decides again.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_proto::{MatchKind, ReportReason, ServerFrame};
use tanis_workers::schedule::Job;

use crate::deletion::delete_me;
use crate::evidence::{answer, said};
use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, spawn_app};
use crate::on_both_stores;
use crate::reporters::{is_banned, report_with, trusted_reporters};
use crate::twilio::spawn_with_sms;

on_both_stores!(
    verified_evidence_puts_a_report_first_in_the_moderators_queue,
    evidence_for_a_decided_report_reopens_it_and_the_decision_stands_until_decided_again,
    the_queues_order_follows_evidence_retention_decisions_and_a_purged_account,
    reports_that_a_child_may_be_at_risk_head_the_first_page_in_a_lane_of_their_own,
);

/// A report that a child may be at risk goes ahead of every other (issue 77 point 2): in a lane of its own at the
/// head of the queue's first page, the one waiting longest first, with only those reports, whatever the rest of the
/// queue's order; the user is in their place among the others too. Later pages have no lane.
async fn reports_that_a_child_may_be_at_risk_head_the_first_page_in_a_lane_of_their_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let (spammer, first, second) = (app.user("spamci").await, app.user("ilk_kisi").await, app.user("ikinci").await);
    // The spammer has three reporters with evidence: first in the standard order.
    for name in ["r_bir", "r_iki", "r_uc"] {
        let reporter = app.user(name).await;
        report_with(&app, &reporter, &spammer, ReportReason::Spam, true).await;
    }
    let (one, two) = (app.user("r_dort").await, app.user("r_bes").await);
    report_with(&app, &one, &first, ReportReason::Underage, false).await;
    app.clock.advance(TimeDelta::minutes(5));
    report_with(&app, &two, &second, ReportReason::Underage, false).await;
    report_with(&app, &two, &first, ReportReason::Spam, false).await;

    let (status, page) = app.get_json("/v1/admin/reports?limit=1", &app.access_token(&moderator).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let lane = page["child_safety"].as_array().unwrap();
    let lane_users: Vec<i64> = lane.iter().map(|u| u["user_id"].as_i64().unwrap()).collect();
    assert_eq!(lane_users, [first.id.get(), second.id.get()], "the longest waiting first: {page}");
    let reasons: Vec<&str> =
        lane[0]["reports"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["underage"], "the lane holds the child-safety reports alone");
    assert_eq!(lane[0]["open_reports"], 2, "and counts all of the user's open reports");
    assert_eq!(page["users"][0]["user_id"], spammer.id.get(), "the rest keeps its order");

    let (_, next) = app.get_json("/v1/admin/reports?limit=1&offset=1", &app.access_token(&moderator).await).await;
    assert_eq!(next["child_safety"], json!([]), "the lane is the first page's");

    // Decided, a report leaves the lane.
    let decided = lane[0]["reports"][0]["id"].as_i64().unwrap();
    assert_eq!(resolve(&app, &moderator, decided, "actioned").await, StatusCode::NO_CONTENT);
    let (_, page) = app.get_json("/v1/admin/reports?limit=1", &app.access_token(&moderator).await).await;
    let lane_users: Vec<i64> =
        page["child_safety"].as_array().unwrap().iter().map(|u| u["user_id"].as_i64().unwrap()).collect();
    assert_eq!(lane_users, [second.id.get()]);
}

/// The report queue's users, as `moderator` reads it.
async fn queue(app: &TestApp, moderator: &TestUser) -> Vec<Value> {
    let (status, answer) = app.get_json("/v1/admin/reports?limit=100", &app.access_token(moderator).await).await;
    assert_eq!(status, StatusCode::OK);
    answer["users"].as_array().unwrap().clone()
}

/// The open reports about `user` in the queue (none when they are not in it).
async fn open_reports(app: &TestApp, moderator: &TestUser, user: &TestUser) -> Vec<Value> {
    let users = queue(app, moderator).await;
    let entry = users.into_iter().find(|u| u["user_id"] == user.id.get());
    entry.map(|u| u["reports"].as_array().unwrap().clone()).unwrap_or_default()
}

/// The queue as (user, distinct reporters, reports with evidence), in its order.
async fn order(app: &TestApp, moderator: &TestUser) -> Vec<(i64, i64, i64)> {
    let users = queue(app, moderator).await;
    users
        .iter()
        .map(|u| {
            (u["user_id"].as_i64().unwrap(), u["reporters"].as_i64().unwrap(), u["with_evidence"].as_i64().unwrap())
        })
        .collect()
}

async fn resolve(app: &TestApp, moderator: &TestUser, report_id: i64, resolution: &str) -> StatusCode {
    let path = format!("/v1/admin/reports/{report_id}/resolve");
    let body = json!({ "resolution": resolution, "note": "okundu" });
    app.post(&path).bearer_auth(app.access_token(moderator).await).json(&body).send().await.unwrap().status()
}

async fn verified_evidence_puts_a_report_first_in_the_moderators_queue(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let (crowded, proven) = (app.user("kalabalik").await, app.user("kanitli").await);
    let mut reporters = Vec::new();
    for i in 0..5 {
        reporters.push(app.user(&format!("bildiren{i}")).await);
    }
    // Three bare claims about one user; about the other a bare claim, then a report revealing what they wrote.
    for reporter in &reporters[..3] {
        report_with(&app, reporter, &crowded, ReportReason::Harassment, false).await;
    }
    report_with(&app, &reporters[3], &proven, ReportReason::Harassment, false).await;
    report_with(&app, &reporters[4], &proven, ReportReason::Harassment, true).await;

    assert_eq!(
        order(&app, &moderator).await,
        [(proven.id.get(), 2, 1), (crowded.id.get(), 3, 0)],
        "evidence first, then the most distinct reporters"
    );
    let users = queue(&app, &moderator).await;
    let reports = users[0]["reports"].as_array().unwrap();
    let by: Vec<i64> = reports.iter().map(|r| r["reporter_id"].as_i64().unwrap()).collect();
    assert_eq!(by, [reporters[4].id.get(), reporters[3].id.get()], "the report with evidence comes first");
    assert_eq!(reports[0]["evidence"][0]["verdict"], "verified");
    assert!(reports[0]["previous_resolution"].is_null(), "never decided");
}

async fn evidence_for_a_decided_report_reopens_it_and_the_decision_stands_until_decided_again(backend: Backend) {
    // One counting reporter bans: whether the reopened report counts is then whether the job bans.
    let (app, twilio) = spawn_with_sms(backend, |c| {
        c.jobs.report_threshold = 1;
        c.sms.max_per_ip_per_hour = 1000;
    })
    .await;
    let moderator = app.staff("denetci", "moderator").await;
    let reported = app.user("kaba").await;
    let reporter = trusted_reporters(&app, &twilio, 1, "sabirli").await.remove(0);
    let (mut sr, mut chat_r, mut st, mut chat_t) = app.pair(&reporter, &reported, MatchKind::Text).await;
    let seqs = said((&mut sr, &mut chat_r), (&mut st, &mut chat_t), &["merhaba", "defol"]).await;
    let ok = ServerFrame::Ok { id: Some("report".into()) };

    // A bare claim, dismissed: out of the queue, and it no longer counts.
    sr.send(&chat_r.report(ReportReason::Harassment, None, &[]).unwrap()).await.unwrap();
    assert_eq!(answer(&mut sr).await, ok);
    let report_id = open_reports(&app, &moderator, &reported).await[0]["id"].as_i64().unwrap();
    assert_eq!(resolve(&app, &moderator, report_id, "dismissed").await, StatusCode::NO_CONTENT);
    assert!(open_reports(&app, &moderator, &reported).await.is_empty());
    // Saying it again without evidence changes nothing.
    sr.send(&chat_r.report(ReportReason::Harassment, None, &[]).unwrap()).await.unwrap();
    assert_eq!(answer(&mut sr).await, ok);
    assert!(open_reports(&app, &moderator, &reported).await.is_empty(), "a bare repeat reopens nothing");

    // Evidence reopens it: the same report, back in the queue with the text and the decision it had.
    sr.send(&chat_r.report(ReportReason::Harassment, None, &seqs[1..]).unwrap()).await.unwrap();
    assert_eq!(answer(&mut sr).await, ok);
    let reports = open_reports(&app, &moderator, &reported).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["id"], report_id);
    assert_eq!(reports[0]["previous_resolution"], "dismissed");
    assert_eq!(reports[0]["evidence"][0]["text"], "defol");
    let audit = format!("/v1/admin/audit?action=report.reopened&target={}", reported.id);
    let (_, trail) = app.get_json(&audit, &app.access_token(&moderator).await).await;
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    let details = &entries[0]["details"];
    assert_eq!(
        (&details["report_id"], &details["previous_resolution"], &details["resolved_by"], &details["evidence"]),
        (&json!(report_id), &json!("dismissed"), &json!(moderator.id.get()), &json!(1)),
        "{trail}"
    );
    assert!(entries[0]["actor_id"].is_null(), "the reporter's evidence reopened it, not a moderator");

    // The dismissal stands until a moderator decides again: revealing a message cannot undo it.
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &reported).await, "a reopened dismissed report does not count");
    assert_eq!(resolve(&app, &moderator, report_id, "actioned").await, StatusCode::NO_CONTENT, "decided again");
    assert!(open_reports(&app, &moderator, &reported).await.is_empty());
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(is_banned(&app, &reported).await, "upheld, it counts");

    // More evidence for the upheld report reopens it too, named so.
    sr.send(&chat_r.report(ReportReason::Harassment, None, &seqs[..1]).unwrap()).await.unwrap();
    assert_eq!(answer(&mut sr).await, ok);
    let reports = open_reports(&app, &moderator, &reported).await;
    assert_eq!(reports[0]["previous_resolution"], "actioned");
    assert_eq!(reports[0]["evidence"].as_array().unwrap().len(), 2, "all of it, old and new");
}

/// The queue's order is kept as rows beside the reports (migration 0038), changed in the transaction of whatever
/// changes a user's open reports: not only a report filed or decided, but its evidence deleted by retention and
/// the reported account purged. Each of those must move the user in the queue as a grouping of the reports would.
async fn the_queues_order_follows_evidence_retention_decisions_and_a_purged_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("siralayan", "moderator").await;
    let (crowded, proven) = (app.user("cok_bildirilen").await, app.user("kanitla_bildirilen").await);
    let mut reporters = Vec::new();
    for i in 0..4 {
        reporters.push(app.user(&format!("sirali{i}")).await);
    }
    for reporter in &reporters[..3] {
        report_with(&app, reporter, &crowded, ReportReason::Harassment, false).await;
    }
    report_with(&app, &reporters[3], &proven, ReportReason::Harassment, true).await;
    let (c, p) = (crowded.id.get(), proven.id.get());
    assert_eq!(order(&app, &moderator).await, [(p, 1, 1), (c, 3, 0)], "evidence first");

    // A page holds each user's first reports, the oldest first here (none has evidence), and counts them all.
    let token = app.access_token(&moderator).await;
    let (status, page) = app.get_json("/v1/admin/reports?reports_per_user=2", &token).await;
    assert_eq!(status, StatusCode::OK);
    let entry = page["users"].as_array().unwrap().iter().find(|u| u["user_id"] == c).unwrap().clone();
    let by: Vec<i64> =
        entry["reports"].as_array().unwrap().iter().map(|r| r["reporter_id"].as_i64().unwrap()).collect();
    assert_eq!(by, [reporters[0].id.get(), reporters[1].id.get()], "{entry}");
    assert_eq!(entry["open_reports"], 3, "{entry}");
    for bad in ["reports_per_user=0", "reports_per_user=51"] {
        let (status, body) = app.get_json(&format!("/v1/admin/reports?{bad}"), &token).await;
        assert_eq!((status, &body["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_parameter")), "{bad}");
    }

    // Decisions take reports out one by one; the user stays while one is open, counted by what is open.
    let reports = open_reports(&app, &moderator, &crowded).await;
    for report in &reports[..2] {
        let id = report["id"].as_i64().unwrap();
        assert_eq!(resolve(&app, &moderator, id, "dismissed").await, StatusCode::NO_CONTENT);
    }
    assert_eq!(order(&app, &moderator).await, [(p, 1, 1), (c, 1, 0)]);

    // Retention deletes the evidence (the report stays): the user is counted without it.
    assert_eq!(delete_me(&app, &crowded.access, PASSWORD).await.status(), StatusCode::ACCEPTED);
    let retention = TimeDelta::days(app.config.jobs.evidence_retention_days.into());
    app.clock.advance(retention + TimeDelta::minutes(1));
    app.run_job(Job::Expiry).await.unwrap();
    app.sign_in(&moderator).await; // months later: a new session
    let after_retention = order(&app, &moderator).await;
    assert_eq!(after_retention.len(), 2, "{after_retention:?}");
    assert!(after_retention.contains(&(p, 1, 0)), "the evidence went with its retention: {after_retention:?}");

    // The reported account, deleted before, is purged (past its grace period): its reports stay for the record,
    // re-keyed to its tombstone, which takes its place in the queue with the same counts.
    app.run_job(Job::Purge).await.unwrap();
    let after_purge = order(&app, &moderator).await;
    assert_eq!(after_purge.len(), 2, "{after_purge:?}");
    assert!(after_purge.contains(&(p, 1, 0)), "{after_purge:?}");
    let tombstone = after_purge.iter().find(|(user, ..)| *user != p).unwrap();
    assert!(tombstone.0 != c && (tombstone.1, tombstone.2) == (1, 0), "re-keyed, not the purged id: {after_purge:?}");
}
