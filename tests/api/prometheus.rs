//! deploy/prometheus/ against a real node (issue 77 point 3): every metric an alert rule or a Grafana panel names is
//! one the node exports, once it has done what the metric counts: a text match with messages, a video call that
//! connected with its figures and one that failed, a child-safety report decided by a moderator and another still
//! open. promtool checks the rules themselves (scripts/test).

use std::collections::BTreeSet;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;
use tanis_proto::{CallOutcome, ClientFrame, MatchKind, ReportReason};

use crate::evidence::{answer, said};
use crate::helpers::{Backend, spawn_app};

/// The metric names a PromQL text names: each `tanis_…` word.
fn named(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tanis_") {
        let word: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[at + word.len()..];
        names.insert(word);
    }
    names
}

fn underage(match_id: tanis_proto::MatchId) -> ClientFrame {
    ClientFrame::Report {
        id: Some("r".into()),
        match_id,
        reason_code: ReportReason::Underage,
        details: Some("looks twelve".into()),
        evidence: Vec::new(),
    }
}

#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_name_is_one_a_node_exports() {
    let app = spawn_app(Backend::Sqlite).await;
    let moderator = app.staff("denetci", "moderator").await;
    let (a, b, c, d) =
        (app.user("ayla").await, app.user("baran").await, app.user("cansu").await, app.user("deniz").await);

    // A text match with messages, and a child-safety report from it that a moderator decides.
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    said((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), &["merhaba", "kaç yaşındasın"]).await;
    sa.send(&underage(chat_a.info.match_id)).await.unwrap();
    answer(&mut sa).await;
    let (_, queue) = app.get_json("/v1/admin/reports", &app.access_token(&moderator).await).await;
    let report_id = queue["users"][0]["reports"][0]["id"].as_i64().unwrap();
    let resolve = json!({ "resolution": "actioned", "note": "bakıldı" });
    let path = format!("/v1/admin/reports/{report_id}/resolve");
    let resolved = app.post(&path).bearer_auth(app.access_token(&moderator).await).json(&resolve).send().await.unwrap();
    assert_eq!(resolved.status(), StatusCode::NO_CONTENT);

    // A video call that connects, as one side reports it with its figures, and fails, as the other does (each
    // side's first report counts); a second child-safety report stays open.
    let (mut sc, chat_c, mut sd, _) = app.pair(&c, &d, MatchKind::Video).await;
    sc.send(&ClientFrame::RtcConnected { id: Some("c".into()), match_id: chat_c.info.match_id }).await.unwrap();
    answer(&mut sc).await;
    for (socket, outcome, rtt_ms) in [(&mut sc, CallOutcome::Connected, Some(40)), (&mut sd, CallOutcome::Failed, None)]
    {
        let stats = ClientFrame::RtcStats {
            id: Some("s".into()),
            match_id: chat_c.info.match_id,
            outcome,
            setup_ms: 1_200,
            rtt_ms,
            packets_sent: Some(1_000),
            packets_lost: Some(3),
        };
        socket.send(&stats).await.unwrap();
        answer(socket).await;
    }
    sc.send(&underage(chat_c.info.match_id)).await.unwrap();
    answer(&mut sc).await;

    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next().map(str::to_owned))
        .collect();
    for file in ["deploy/prometheus/alerts.yml", "deploy/prometheus/grafana-dashboard.json"] {
        let body = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        if file.ends_with(".json") {
            let dashboard: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 6), "{file}: its panels");
        }
        let names = named(&body);
        assert!(names.len() >= 5, "{file}: {names:?}");
        let missing: Vec<&String> = names.difference(&exported).collect();
        assert!(missing.is_empty(), "{file} names metrics the node does not export: {missing:?}");
    }
    // The lanes' figures are the database's: the one report still open waits in the child-safety lane.
    assert!(text.lines().any(|l| l == r#"tanis_reports_open{lane="child_safety"} 1"#), "{text}");
}
