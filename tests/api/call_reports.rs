//! Reports from a video call (docs/protocol.md "Video safety", docs/admin.md "Call reports and snapshots"): the
//! verdict and the opt-in snapshot reach moderators, the snapshot sealed at rest and every view of it audited; bad
//! input, strangers and floods are refused with their codes and store nothing; snapshots go with evidence
//! retention and with either account.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_proto::{ClientFrame, MatchId, MatchKind, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, assert_error, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    a_call_report_reaches_moderators_with_its_verdict_and_a_sealed_snapshot_shown_only_to_staff_and_audited,
    bad_call_reports_are_refused_with_their_codes_and_store_nothing_and_a_good_one_follows,
    a_flood_of_call_reports_is_refused_per_user_and_spares_everyone_else,
    a_snapshot_goes_with_evidence_retention_and_with_either_account,
);

/// A 1×1 PNG, as a phone's canvas would encode a (very small) frame.
pub(crate) const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    STANDARD.decode(PNG).unwrap()
}

/// A video match of `a` and `b`, which `a` then leaves: a past match can be reported, and both can match again.
async fn video_match(app: &TestApp, a: &TestUser, b: &TestUser) -> MatchId {
    ended_match(app, a, b, MatchKind::Video).await
}

async fn ended_match(app: &TestApp, a: &TestUser, b: &TestUser, kind: MatchKind) -> MatchId {
    let (mut sa, chat, mut sb, _) = app.pair(a, b, kind).await;
    let match_id = chat.info.match_id;
    sa.send(&ClientFrame::MatchLeave { id: Some("leave".into()), match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    sb.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    match_id
}

async fn file(app: &TestApp, reporter: &TestUser, body: &Value) -> reqwest::Response {
    app.post("/v1/reports/call").bearer_auth(app.access_token(reporter).await).json(body).send().await.unwrap()
}

fn with_snapshot(match_id: MatchId) -> Value {
    json!({
        "match_id": match_id, "reason_code": "nudity", "details": "0:40",
        "verdict": { "label": "Porn", "score": 0.93 },
        "snapshot": { "content_type": "image/png", "data": PNG },
    })
}

/// The open reports about `user` in the queue, as `staff` reads it.
async fn reports_about(app: &TestApp, staff: &TestUser, user: &TestUser) -> Vec<Value> {
    let (status, queue) = app.get_json("/v1/admin/reports?limit=100", &app.access_token(staff).await).await;
    assert_eq!(status, StatusCode::OK);
    let entry = queue["users"].as_array().unwrap().iter().find(|u| u["user_id"] == user.id.get()).cloned();
    entry.map(|u| u["reports"].as_array().unwrap().clone()).unwrap_or_default()
}

async fn snapshot(app: &TestApp, viewer: &TestUser, report_id: i64) -> reqwest::Response {
    let path = format!("/v1/admin/reports/{report_id}/snapshot");
    app.client.get(app.url(&path)).bearer_auth(app.access_token(viewer).await).send().await.unwrap()
}

async fn stored(app: &TestApp) -> (i64, i64) {
    (app.count("SELECT COUNT(*) FROM reports").await, app.count("SELECT COUNT(*) FROM report_calls").await)
}

async fn a_call_report_reaches_moderators_with_its_verdict_and_a_sealed_snapshot_shown_only_to_staff_and_audited(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let (viewer, streamer) = (app.user("izleyen").await, app.user("yayinci").await);
    let match_id = video_match(&app, &viewer, &streamer).await;

    assert_eq!(file(&app, &viewer, &with_snapshot(match_id)).await.status(), StatusCode::NO_CONTENT);

    let reports = reports_about(&app, &moderator, &streamer).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report["reason"], "nudity");
    assert_eq!(report["match_id"], match_id.0);
    assert_eq!(report["call"]["verdict"], json!({ "label": "Porn", "score": 0.93 }));
    assert_eq!(report["call"]["snapshot"], json!({ "content_type": "image/png", "bytes": png().len() }));
    assert_eq!(report["call"]["verifiable"], false, "never verifiable: the server does not see calls");
    assert_eq!(report["reporter_snapshot_reports"], json!({ "filed": 1, "dismissed": 0 }));

    // At rest it is sealed: the stored bytes are longer by the seal and do not hold the image.
    let sealed_len = app.count("SELECT CAST(LENGTH(snapshot_sealed) AS BIGINT) FROM report_calls").await;
    assert_eq!(sealed_len, png().len() as i64 + 45, "version, key id, nonce and tag around the image");
    let hex: String = png().iter().map(|b| format!("{b:02x}")).collect();
    let holding = match backend {
        Backend::Sqlite => format!("SELECT COUNT(*) FROM report_calls WHERE instr(snapshot_sealed, X'{hex}') > 0"),
        Backend::Postgres => {
            format!("SELECT COUNT(*) FROM report_calls WHERE position('\\x{hex}'::bytea in snapshot_sealed) > 0")
        }
    };
    assert_eq!(app.count(holding).await, 0, "no stored row holds the image's bytes");

    // A user (the reporter included) cannot see it; staff can, and each view is audited before it is shown.
    let report_id = report["id"].as_i64().unwrap();
    for outsider in [&viewer, &streamer] {
        assert_error(snapshot(&app, outsider, report_id).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let audited = "SELECT COUNT(*) FROM system_logs WHERE action = 'admin.snapshot_viewed'";
    assert_eq!(app.count(audited).await, 0);
    let seen = snapshot(&app, &moderator, report_id).await;
    assert_eq!(seen.status(), StatusCode::OK);
    assert_eq!(seen.headers()["content-type"], "image/png");
    assert_eq!(seen.headers()["cache-control"], "no-store");
    assert_eq!(seen.bytes().await.unwrap().to_vec(), png());
    let (status, trail) =
        app.get_json("/v1/admin/audit?action=admin.snapshot_viewed", &app.access_token(&moderator).await).await;
    assert_eq!(status, StatusCode::OK);
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{trail}");
    assert_eq!(entries[0]["actor_id"], moderator.id.get());
    assert_eq!(entries[0]["target_id"], streamer.id.get(), "about the reported user");
    assert_error(snapshot(&app, &moderator, report_id + 1000).await, StatusCode::NOT_FOUND, "not_found").await;

    // Without the box ticked, no snapshot: a report with only the verdict.
    let other = app.user("ikinci").await;
    let second = video_match(&app, &other, &streamer).await;
    let bare = json!({ "match_id": second, "reason_code": "nudity", "verdict": { "label": "Sexy", "score": 0.7 } });
    assert_eq!(file(&app, &other, &bare).await.status(), StatusCode::NO_CONTENT);
    let reports = reports_about(&app, &moderator, &streamer).await;
    let bare = reports.iter().find(|r| r["reporter_id"] == other.id.get()).unwrap();
    assert_eq!(bare["call"]["snapshot"], Value::Null);
    assert_eq!(bare["reporter_snapshot_reports"], json!({ "filed": 0, "dismissed": 0 }));
    assert_error(snapshot(&app, &moderator, bare["id"].as_i64().unwrap()).await, StatusCode::NOT_FOUND, "not_found")
        .await;
}

async fn bad_call_reports_are_refused_with_their_codes_and_store_nothing_and_a_good_one_follows(backend: Backend) {
    let app = spawn_app(backend).await;
    let (viewer, streamer, stranger) =
        (app.user("izleyen").await, app.user("yayinci").await, app.user("yabanci").await);
    let video = video_match(&app, &viewer, &streamer).await;
    let text = ended_match(&app, &viewer, &stranger, MatchKind::Text).await;
    let others = video_match(&app, &stranger, &app.user("ucuncu").await).await;

    let mut oversized = png();
    oversized.resize(256 * 1024 + 1, 0);
    let jpeg_declared_png = STANDARD.encode([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]);
    let svg = STANDARD.encode("<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>");
    let shot = |content_type: &str, data: &str| json!({ "content_type": content_type, "data": data });
    let report = |m: MatchId, snapshot: Value| json!({ "match_id": m, "reason_code": "nudity", "snapshot": snapshot });
    let refusals = [
        (
            report(video, shot("image/png", &STANDARD.encode(&oversized))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "snapshot_too_large",
        ),
        (report(video, shot("image/png", &jpeg_declared_png)), StatusCode::UNSUPPORTED_MEDIA_TYPE, "snapshot_type"),
        (report(video, shot("image/svg+xml", &svg)), StatusCode::UNSUPPORTED_MEDIA_TYPE, "snapshot_type"),
        (report(video, shot("image/jpeg", &svg)), StatusCode::UNSUPPORTED_MEDIA_TYPE, "snapshot_type"),
        (report(video, shot("image/png", "not base64!")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (report(text, shot("image/png", PNG)), StatusCode::UNPROCESSABLE_ENTITY, "not_video"),
        (report(others, shot("image/png", PNG)), StatusCode::NOT_FOUND, "not_matched"),
        (report(MatchId(999_999), json!(null)), StatusCode::NOT_FOUND, "not_matched"),
        (
            json!({ "match_id": video, "reason_code": "nudity", "verdict": { "label": "Porn", "score": 1.5 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            json!({ "match_id": video, "reason_code": "nudity", "verdict": { "label": "", "score": 0.5 } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (json!({ "match_id": video, "reason_code": "ugly" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (
            json!({ "match_id": video, "reason_code": "nudity", "details": "x".repeat(1001) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
    ];
    for (body, status, code) in refusals {
        let message = assert_error(file(&app, &viewer, &body).await, status, code).await;
        assert_eq!(stored(&app).await, (0, 0), "{code} ({message}) stored nothing");
    }
    // A body past the route's own limit never reaches the handler.
    let huge = report(video, shot("image/png", &"A".repeat(600 * 1024)));
    assert_error(file(&app, &viewer, &huge).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // No token, no report.
    let anonymous = app.post("/v1/reports/call").json(&with_snapshot(video)).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_eq!(stored(&app).await, (0, 0));

    // After every refusal, the same reporter's good report is taken.
    assert_eq!(file(&app, &viewer, &with_snapshot(video)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored(&app).await, (1, 1));
}

async fn a_flood_of_call_reports_is_refused_per_user_and_spares_everyone_else(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.quotas.free_video_daily = 10).await;
    let flooder = app.user("seli").await;
    let mut matches = Vec::new();
    for i in 0..6 {
        let peer = app.user(&format!("hedef{i}")).await;
        matches.push((video_match(&app, &flooder, &peer).await, peer));
    }
    for (match_id, _) in &matches[..5] {
        assert_eq!(file(&app, &flooder, &with_snapshot(*match_id)).await.status(), StatusCode::NO_CONTENT);
    }
    assert_error(
        file(&app, &flooder, &with_snapshot(matches[5].0)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(stored(&app).await, (5, 5), "the sixth stored nothing");

    // Someone else reporting the same moment is not held back by it.
    let (bystander, peer) = (app.user("masum").await, &matches[5].1);
    let theirs = video_match(&app, &bystander, peer).await;
    assert_eq!(file(&app, &bystander, &with_snapshot(theirs)).await.status(), StatusCode::NO_CONTENT);

    // Ten minutes on, the flooder may report again, up to 20 a day.
    app.clock.advance(TimeDelta::minutes(11));
    assert_eq!(file(&app, &flooder, &with_snapshot(matches[5].0)).await.status(), StatusCode::NO_CONTENT);
    let day_limit = "SELECT COUNT(*) FROM report_calls WHERE reporter_id = ".to_owned() + &flooder.id.get().to_string();
    let mut filed = app.count(day_limit.clone()).await;
    while filed < 20 {
        app.clock.advance(TimeDelta::minutes(11));
        let (match_id, _) = &matches[usize::try_from(filed).unwrap() % 6];
        assert_eq!(file(&app, &flooder, &with_snapshot(*match_id)).await.status(), StatusCode::NO_CONTENT);
        filed = app.count(day_limit.clone()).await;
    }
    app.clock.advance(TimeDelta::minutes(11));
    assert_error(
        file(&app, &flooder, &with_snapshot(matches[0].0)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_eq!(app.count(day_limit).await, 20);
}

async fn a_snapshot_goes_with_evidence_retention_and_with_either_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let (viewer, streamer) = (app.user("izleyen").await, app.user("yayinci").await);
    let match_id = video_match(&app, &viewer, &streamer).await;
    assert_eq!(file(&app, &viewer, &with_snapshot(match_id)).await.status(), StatusCode::NO_CONTENT);
    let report_id = reports_about(&app, &moderator, &streamer).await[0]["id"].as_i64().unwrap();

    // A day short of the retention, it is held; past it, the expiry job deletes it and keeps the verdict.
    let retention = TimeDelta::days(app.config.jobs.evidence_retention_days.into());
    app.clock.advance(retention - TimeDelta::days(1));
    app.run_job(Job::Expiry).await.unwrap();
    // So long away, both sign in again.
    app.sign_in(&moderator).await;
    app.sign_in(&viewer).await;
    assert_eq!(snapshot(&app, &moderator, report_id).await.status(), StatusCode::OK);
    app.clock.advance(TimeDelta::days(2));
    app.run_job(Job::Expiry).await.unwrap();
    assert_error(snapshot(&app, &moderator, report_id).await, StatusCode::NOT_FOUND, "not_found").await;
    let report = &reports_about(&app, &moderator, &streamer).await[0];
    assert_eq!(report["call"]["snapshot"], Value::Null);
    assert_eq!(report["call"]["verdict"]["label"], "Porn", "the verdict stays with the report");
    assert_eq!(app.count("SELECT COUNT(*) FROM report_calls WHERE snapshot_sealed IS NOT NULL").await, 0);

    // A fresh snapshot report about someone else; the reporter deletes their account and is purged: it goes.
    let other = app.user("baskasi").await;
    let second = video_match(&app, &viewer, &other).await;
    assert_eq!(file(&app, &viewer, &with_snapshot(second)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM report_calls").await, 2);
    let deletion = json!({ "password": PASSWORD });
    let asked = app.client.delete(app.url("/v1/me")).bearer_auth(app.access_token(&viewer).await).json(&deletion);
    assert_eq!(asked.send().await.unwrap().status(), StatusCode::ACCEPTED);
    app.clock.advance(TimeDelta::days(app.config.auth.deletion_grace_days.into()) + TimeDelta::minutes(1));
    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM report_calls").await, 0, "the purged reporter's call parts are gone");
}
