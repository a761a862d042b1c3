//! The operator's transparency report (issue 77 point 5; docs/admin.md "Transparency report"): a period's notices by
//! reason and lane, decisions by moderators and by the automatic ban, the time to decision and appeals with their
//! reversals, as JSON and CSV, for admins only, counted from what happened through the product's doors.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_proto::{ClientFrame, MatchKind, ReportReason};

use crate::evidence::answer;
use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(a_periods_notices_decisions_times_and_appeals_are_counted_for_admins_as_json_and_csv);

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

async fn transparency(app: &TestApp, who: &TestUser, query: &str) -> reqwest::Response {
    let url = app.url(&format!("/v1/admin/transparency{query}"));
    app.client.get(url).bearer_auth(app.access_token(who).await).send().await.unwrap()
}

async fn report(app: &TestApp, reporter: &TestUser, reported: &TestUser, reason: ReportReason) {
    let (mut socket, chat, _peer, _) = app.pair(reporter, reported, MatchKind::Text).await;
    let frame = ClientFrame::Report {
        id: Some("r".into()),
        match_id: chat.info.match_id,
        reason_code: reason,
        details: None,
        evidence: Vec::new(),
    };
    socket.send(&frame).await.unwrap();
    assert!(matches!(answer(&mut socket).await, tanis_proto::ServerFrame::Ok { .. }));
}

async fn a_periods_notices_decisions_times_and_appeals_are_counted_for_admins_as_json_and_csv(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, moderator) = (app.staff("ofis", "admin").await, app.staff("denetci", "moderator").await);
    let (a, b, c, d) =
        (app.user("a_kisi").await, app.user("b_kisi").await, app.user("c_kisi").await, app.user("d_kisi").await);
    let first = app.now();

    // Two notices: one that a child may be at risk, decided ten minutes later; one of spam, left open.
    report(&app, &a, &b, ReportReason::Underage).await;
    report(&app, &c, &d, ReportReason::Spam).await;
    let (_, queue) = app.get_json("/v1/admin/reports", &app.access_token(&moderator).await).await;
    let underage = queue["users"].as_array().unwrap().iter().flat_map(|u| u["reports"].as_array().unwrap().clone());
    let underage = underage.into_iter().find(|r| r["reason"] == "underage").unwrap()["id"].as_i64().unwrap();
    app.clock.advance(TimeDelta::minutes(10));
    let resolve = json!({ "resolution": "actioned", "note": "bakıldı" });
    let resolved = app.post(&format!("/v1/admin/reports/{underage}/resolve"));
    assert_eq!(
        resolved.bearer_auth(app.access_token(&moderator).await).json(&resolve).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );

    // A moderator's ban, appealed and reversed.
    app.ban(&moderator, d.id, "spam").await;
    let appeal = json!({ "phone": d.phone, "password": crate::helpers::PASSWORD, "text": "yanlışlık" });
    assert_eq!(app.post_json("/v1/ban/appeal", &appeal).await.status(), StatusCode::CREATED);
    let (_, appeals) = app.get_json("/v1/admin/appeals", &app.access_token(&moderator).await).await;
    let appeal_id = appeals["appeals"][0]["id"].as_i64().unwrap();
    let decision = json!({ "decision": "accept", "note": "haklısınız" });
    let decided =
        app.post(&format!("/v1/admin/appeals/{appeal_id}/decision")).bearer_auth(app.access_token(&moderator).await);
    assert_eq!(decided.json(&decision).send().await.unwrap().status(), StatusCode::NO_CONTENT);

    let period = format!("?from={}&to={}", day(first), day(app.now()));
    let answered = transparency(&app, &admin, &period).await;
    assert_eq!(answered.status(), StatusCode::OK);
    let counted: Value = answered.json().await.unwrap();
    assert_eq!(
        counted["notices"],
        json!({ "total": 2, "by_reason": { "spam": 1, "underage": 1 }, "by_lane": { "child_safety": 1, "standard": 1 } })
    );
    assert_eq!(
        counted["decisions"],
        json!({ "by_moderators": { "actioned": 1 }, "moderator_bans": 1, "automated_bans": 0, "automated_reviews": 0 })
    );
    let times = &counted["time_to_decision"];
    assert_eq!(
        (times["decided"].clone(), times["median_secs"].clone(), times["p90_secs"].clone()),
        (json!(1), json!(600.0), json!(600.0))
    );
    assert_eq!(times["by_lane"]["child_safety"], json!({ "decided": 1, "median_secs": 600.0, "p90_secs": 600.0 }));
    assert_eq!(times["by_lane"]["standard"], json!({ "decided": 0, "median_secs": null, "p90_secs": null }));
    assert_eq!(counted["appeals"], json!({ "filed": 1, "decided": 1, "reversed": 1 }));
    assert!(
        !counted.to_string().contains("a_kisi") && !counted.to_string().contains(&d.phone),
        "no one is named: {counted}"
    );

    // The same as CSV rows.
    let csv = transparency(&app, &admin, &format!("{period}&format=csv")).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "section,key,value");
    for row in [
        "notices,total,2",
        "notices_by_lane,child_safety,1",
        "decisions_by_moderators,actioned,1",
        "time_to_decision,median_secs,600",
        "appeals,reversed,1",
    ] {
        assert!(rows.contains(&row), "{row} in {csv}");
    }

    // A period before any of it counts nothing.
    let before = day(first - TimeDelta::days(10));
    let empty: Value = transparency(&app, &admin, &format!("?from={before}&to={before}")).await.json().await.unwrap();
    assert_eq!(empty["notices"]["total"], 0);
    assert_eq!(empty["time_to_decision"]["median_secs"], Value::Null);

    // Admins only; a bad period or format is refused.
    for who in [&moderator, &a] {
        assert_error(transparency(&app, who, &period).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let today = day(app.now());
    for bad in [
        format!("?from={today}&to={before}"),
        format!("?from={before}&to={}", day(app.now() + TimeDelta::days(400))),
        "?from=2026-13-01&to=2026-12-01".to_owned(),
        format!("{period}&format=xml"),
        format!("{period}&lane=child_safety"),
        "".to_owned(),
    ] {
        assert_eq!(transparency(&app, &admin, &bad).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}
