//! Child safety first, the interim measure (issue 77 point 2; docs/admin.md "Child safety first"): a report that a
//! child may be at risk, from a reporter the trust rules count, holds the reported user's video matching at once,
//! text going on, until a moderator has decided every such report about them, either way; each step with its
//! statement of reasons, notification and audit row. The trust rules' brigade defences apply: fresh accounts, and
//! accounts made together, hold no one. The pure rule's table is in src/domain/trust_tests.rs.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Connection, Find};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ReportReason, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser};
use crate::on_both_stores;
use crate::region::find;
use crate::reporters::{past_minimum_age, report_with, trusted_reporters, verified_user};
use crate::twilio::{Twilio, spawn_with_sms};

on_both_stores!(
    a_counting_reporters_child_safety_report_holds_video_until_a_moderator_decides_the_last,
    a_brigade_of_fresh_accounts_holds_no_ones_video,
);

/// A server where one report quarantines no one (so each reporter can still meet the reported user), with kerem,
/// who will be reported, and a moderator.
async fn reported(backend: Backend) -> (TestApp, Twilio, TestUser, TestUser) {
    let (app, twilio) = spawn_with_sms(backend, |c| {
        c.quotas.free_text_daily = 40;
        c.quotas.free_video_daily = 40;
        c.sms.max_per_ip_per_hour = 1000;
        c.trust.quarantine_open_reports = 1000;
    })
    .await;
    let kerem = app.user("kerem").await;
    let moderator = app.staff("denetci", "moderator").await;
    (app, twilio, kerem, moderator)
}

/// What `user`'s find of `kind` is answered with: queued (then cancelled, leaving nothing behind), or the refusal.
async fn find_answer(app: &TestApp, user: &TestUser, kind: MatchKind) -> Result<(), ErrorCode> {
    let mut socket: Connection = find(app, user, Find::new(kind)).await;
    match socket.next().await.unwrap() {
        ServerFrame::MatchQueued { .. } => {
            socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
            let cancelled = socket.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap();
            assert!(matches!(cancelled, ServerFrame::MatchCancelled { .. }), "{cancelled:?}");
            Ok(())
        }
        ServerFrame::Error { code, .. } => Err(code),
        other => panic!("a find is queued or refused, not {other:?}"),
    }
}

/// The ids of the open child-safety reports about `user`, as the moderator's queue lists them.
async fn child_safety_reports(app: &TestApp, moderator: &TestUser, user: &TestUser) -> Vec<i64> {
    let (status, page) = app.get_json("/v1/admin/reports", &app.access_token(moderator).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let lane = page["child_safety"].as_array().unwrap();
    let entry = lane.iter().find(|u| u["user_id"] == user.id.get());
    entry
        .map_or_else(Vec::new, |u| u["reports"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect())
}

async fn resolve(app: &TestApp, moderator: &TestUser, report_id: i64, resolution: &str) {
    let path = format!("/v1/admin/reports/{report_id}/resolve");
    let body = json!({ "resolution": resolution, "note": "incelendi" });
    let response = app.post(&path).bearer_auth(app.access_token(moderator).await).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// The decisions of `user`'s statements of reasons as their export shows them, in alphabetical order. A minute on
/// first: one export a minute.
async fn decisions(app: &TestApp, user: &TestUser) -> Vec<String> {
    app.clock.advance(TimeDelta::seconds(61));
    let (status, export) = app.get_json("/v1/me/export", &app.access_token(user).await).await;
    assert_eq!(status, StatusCode::OK);
    let statements = export["statements"].as_array().unwrap();
    let mut found: Vec<String> = statements.iter().map(|s| s["decision"].as_str().unwrap().to_owned()).collect();
    found.sort();
    found
}

async fn audit(app: &TestApp, moderator: &TestUser, action: &str) -> Vec<Value> {
    let (status, audit) =
        app.get_json(&format!("/v1/admin/audit?action={action}"), &app.access_token(moderator).await).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["entries"].as_array().unwrap().clone()
}

async fn notifications(app: &TestApp, user: &TestUser) -> Vec<String> {
    let (_, list) = app.get_json("/v1/notifications", &app.access_token(user).await).await;
    let texts = list["notifications"].as_array().expect("a list").iter().map(|n| n["text"].as_str().unwrap());
    texts.map(str::to_owned).collect()
}

async fn a_counting_reporters_child_safety_report_holds_video_until_a_moderator_decides_the_last(backend: Backend) {
    let (app, twilio, kerem, moderator) = reported(backend).await;
    let reporters = trusted_reporters(&app, &twilio, 3, "tanik").await;
    // A counting reporter's report of the standard lane holds nothing.
    report_with(&app, &reporters[0], &kerem, ReportReason::Harassment, false).await;
    assert_eq!(find_answer(&app, &kerem, MatchKind::Video).await, Ok(()));

    // One child-safety report from a reporter who counts: held at once, video only.
    report_with(&app, &reporters[1], &kerem, ReportReason::ChildSexualAbuse, false).await;
    assert_eq!(find_answer(&app, &kerem, MatchKind::Video).await, Err(ErrorCode::VideoHeld));
    assert_eq!(find_answer(&app, &kerem, MatchKind::Text).await, Ok(()), "text matching goes on");
    let told = notifications(&app, &kerem).await;
    assert!(told.iter().any(|n| n.contains("görüntülü eşleşme başlatamazsın")), "{told:?}");
    assert_eq!(decisions(&app, &kerem).await, ["video_held"]);
    let held = audit(&app, &moderator, "user.video_held").await;
    assert_eq!((held.len(), &held[0]["target_id"], &held[0]["actor_id"]), (1, &json!(kerem.id.get()), &Value::Null));

    // A second one; deciding the first keeps the hold, deciding the last ends it, whichever way.
    report_with(&app, &reporters[2], &kerem, ReportReason::Underage, false).await;
    let open = child_safety_reports(&app, &moderator, &kerem).await;
    assert_eq!(open.len(), 2, "{open:?}");
    assert_eq!(audit(&app, &moderator, "user.video_held").await.len(), 1, "held once");
    resolve(&app, &moderator, open[0], "actioned").await;
    assert_eq!(find_answer(&app, &kerem, MatchKind::Video).await, Err(ErrorCode::VideoHeld), "one still waits");
    resolve(&app, &moderator, open[1], "dismissed").await;
    assert_eq!(find_answer(&app, &kerem, MatchKind::Video).await, Ok(()), "the last decided: video again");
    assert_eq!(decisions(&app, &kerem).await, ["report_actioned", "video_held", "video_hold_lifted"]);
    let lifted = audit(&app, &moderator, "user.video_hold_lifted").await;
    assert_eq!((lifted.len(), &lifted[0]["actor_id"]), (1, &json!(moderator.id.get())), "{lifted:?}");
    let told = notifications(&app, &kerem).await;
    assert!(told.iter().any(|n| n.contains("yeniden görüntülü eşleşme")), "{told:?}");
}

async fn a_brigade_of_fresh_accounts_holds_no_ones_video(backend: Backend) {
    let (app, twilio, kerem, moderator) = reported(backend).await;
    let mut brigade = Vec::new();
    for i in 0..4 {
        brigade.push(verified_user(&app, &twilio, &format!("tugay{i}")).await);
    }
    for reporter in &brigade[..3] {
        report_with(&app, reporter, &kerem, ReportReason::ChildSexualAbuse, false).await;
    }
    assert_eq!(find_answer(&app, &kerem, MatchKind::Video).await, Ok(()), "minutes-old accounts count not");
    // Old enough later, they were still made within a day of each other: a burst, which holds no one.
    past_minimum_age(&app);
    report_with(&app, &brigade[3], &kerem, ReportReason::Underage, false).await;
    assert_eq!(find_answer(&app, &kerem, MatchKind::Video).await, Ok(()), "a burst counts not");
    assert_eq!(child_safety_reports(&app, &moderator, &kerem).await.len(), 4, "a moderator still sees them first");
    assert!(audit(&app, &moderator, "user.video_held").await.is_empty());
    assert_eq!(decisions(&app, &kerem).await, Vec::<String>::new());
}
