//! Statements of reasons (docs/admin.md "Statements of reasons"): every moderation decision writes exactly one,
//! in its own transaction; the user it concerns sees it (ban status, export); admins export them all as JSON
//! Lines with the DSA Transparency Database's fields and no personal data.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_proto::ReportReason;
use tanis_workers::schedule::Job;

use crate::helpers::{PASSWORD, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_temporary_ban_and_its_expiry_each_carry_one_statement_the_user_sees,
    the_automatic_ban_states_its_reporters_and_their_verified_evidence,
    a_ban_its_lifting_and_appeals_against_bare_reports_each_carry_one_statement,
    a_report_resolution_concerns_the_reported_user_when_actioned_and_the_reporter_when_dismissed,
    admins_export_the_statements_as_json_lines_without_personal_data,
    a_ban_whose_statement_cannot_be_written_does_not_happen,
    the_export_command_writes_the_same_lines_as_the_api_and_is_audited,
);

/// The statements concerning `user`, oldest first, as `decision` texts.
async fn decisions_of(app: &TestApp, user: &TestUser) -> Vec<String> {
    let rows = app.store.statements_of(user.id, 100).await.unwrap();
    rows.into_iter().rev().map(|s| s.decision.as_str().to_owned()).collect()
}

async fn ban_status(app: &TestApp, user: &TestUser) -> Value {
    let answer = app.post_json("/v1/ban/status", &json!({ "phone": user.phone, "password": PASSWORD })).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

/// The user's own data export (signed in afresh: a ban signed every session out).
async fn exported_statements(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let login = app.post_json("/v1/auth/login", &json!({ "phone": user.phone, "password": PASSWORD })).await;
    let login: Value = login.json().await.unwrap();
    let access = login["tokens"]["access_token"].as_str().expect("signed in").to_owned();
    let (_, export) = app.get_json("/v1/me/export", &access).await;
    export["statements"].as_array().unwrap().clone()
}

async fn statements_export(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    let url = app.url(&format!("/v1/admin/statements{query}"));
    app.client.get(url).bearer_auth(token).send().await.unwrap()
}

async fn a_temporary_ban_and_its_expiry_each_carry_one_statement_the_user_sees(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let (target, reporter) = (app.user("gecici").await, app.user("sikayetci").await);
    app.matched_and_reported(&reporter, &target, ReportReason::Harassment).await;
    let note = "özel not: ekran görüntüsü var";
    app.ban_with(&moderator, target.id, json!({ "reason": "harassment", "note": note, "duration_hours": 24 })).await;
    let ends_at = app.now() + TimeDelta::hours(24);

    let status = ban_status(&app, &target).await;
    let statement = &status["statement"];
    assert_eq!(statement["decision"], "temporary_ban");
    assert_eq!(
        (statement["ground"]["key"].as_str(), statement["ground"]["clause"].as_str()),
        (Some("harassment"), Some("4.2"))
    );
    assert_eq!(statement["ground"]["url"], "https://tanis.example/terms#clause-4.2");
    assert_eq!(statement["category"], "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH");
    assert_eq!(
        (statement["automated_detection"].as_bool(), statement["automated_decision"].as_str()),
        (Some(false), Some("not"))
    );
    assert_eq!(statement["source"], "notice", "a report brought it");
    let facts = statement["facts"].as_str().unwrap();
    assert!(facts.contains("Reported by 1 person; none of the reports carried verified evidence"), "{facts}");
    assert!(!facts.contains("özel not") && !facts.contains(&reporter.handle), "no note, no reporter: {facts}");
    let statement_end = statement["ends_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(statement_end, ends_at);
    assert!(statement["redress"].as_str().unwrap().contains("appeal"), "how to appeal");

    app.clock.advance(TimeDelta::hours(24));
    app.run_job(Job::AutoBan).await.unwrap();
    assert_eq!(decisions_of(&app, &target).await, ["temporary_ban", "ban_lifted"]);
    let lifted = &app.store.statements_of(target.id, 1).await.unwrap()[0];
    assert_eq!(lifted.automated_decision.as_str(), "fully", "the job lifted it");
    assert!(lifted.redress.is_none(), "nothing left to contest");

    let exported = exported_statements(&app, &target).await;
    let kinds: Vec<&str> = exported.iter().map(|s| s["decision"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ban_lifted", "temporary_ban"], "newest first");
    assert!(decisions_of(&app, &reporter).await.is_empty(), "the reporter's notice is not decided yet");
}

async fn the_automatic_ban_states_its_reporters_and_their_verified_evidence(backend: crate::helpers::Backend) {
    let (app, twilio) = crate::twilio::spawn_with_sms(backend, |c| {
        c.jobs.report_threshold = 2;
        c.sms.max_per_ip_per_hour = 1000;
    })
    .await;
    let target = app.user("coksikayet").await;
    // Two trusted reporters, each counting once: one reveals a franked message, one makes a bare claim.
    let reporters = crate::reporters::trusted_reporters(&app, &twilio, 2, "raporcu").await;
    for (reporter, reveal) in reporters.iter().zip([true, false]) {
        crate::reporters::report_with(&app, reporter, &target, ReportReason::Nudity, reveal).await;
    }
    app.run_job(Job::AutoBan).await.unwrap();
    let statement = ban_status(&app, &target).await["statement"].clone();
    assert_eq!(statement["decision"], "ban");
    assert_eq!(
        (statement["automated_decision"].as_str(), statement["source"].as_str()),
        (Some("fully"), Some("notice"))
    );
    assert_eq!(statement["automated_detection"], false, "people reported; nothing detected it automatically");
    assert_eq!(
        (statement["ground"]["key"].as_str(), statement["ground"]["clause"].as_str()),
        (Some("reports"), Some("5.1"))
    );
    assert_eq!(statement["category"], "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT", "what the reports named");
    let facts = statement["facts"].as_str().unwrap();
    assert!(
        facts.contains("(the threshold is 2 people)")
            && facts.contains("Reported by 2 people; 1 report carried verified evidence"),
        "{facts}"
    );
    assert!(facts.contains("Most reports named sexual content"), "{facts}");
    for reporter in &reporters {
        assert!(!facts.contains(&reporter.handle), "{facts}");
    }
    assert_eq!(decisions_of(&app, &target).await, ["ban"], "exactly one");
}

async fn a_ban_its_lifting_and_appeals_against_bare_reports_each_carry_one_statement(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let (lifted, rejected, accepted) =
        (app.user("kaldirilan").await, app.user("reddedilen").await, app.user("kabul").await);

    app.ban(&moderator, lifted.id, "spam").await;
    let statement = ban_status(&app, &lifted).await["statement"].clone();
    assert_eq!((statement["decision"].as_str(), statement["source"].as_str()), (Some("ban"), Some("voluntary")));
    assert!(statement["ends_at"].is_null());
    app.unban(&moderator, lifted.id).await;
    assert_eq!(decisions_of(&app, &lifted).await, ["ban", "ban_lifted"]);
    let lift = &app.store.statements_of(lifted.id, 1).await.unwrap()[0];
    assert_eq!((lift.automated_decision.as_str(), lift.ground_key.as_str()), ("not", "spam"));

    // Appeals against bans on bare reports (no verified evidence).
    let mut appeals = Vec::new();
    for user in [&rejected, &accepted] {
        let reporter = app.user(&format!("sikayet{}", user.id)).await;
        app.matched_and_reported(&reporter, user, ReportReason::Scam).await;
        app.ban(&moderator, user.id, "scam").await;
        let filed = app
            .post_json("/v1/ban/appeal", &json!({ "phone": user.phone, "password": PASSWORD, "text": "yapmadım" }))
            .await;
        assert_eq!(filed.status(), StatusCode::CREATED);
        appeals.push(app.count(format!("SELECT id FROM appeals WHERE user_id = {}", user.id)).await);
    }
    let token = app.access_token(&moderator).await;
    for (appeal, decision) in appeals.iter().zip(["reject", "accept"]) {
        let path = format!("/v1/admin/appeals/{appeal}/decision");
        let body = json!({ "decision": decision, "note": "incelendi" });
        let answer = app.client.post(app.url(&path)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(decisions_of(&app, &rejected).await, ["ban", "appeal_rejected"]);
    assert_eq!(decisions_of(&app, &accepted).await, ["ban", "appeal_accepted"], "the acceptance is the lift");
    let status = ban_status(&app, &rejected).await;
    let facts = status["statement"]["facts"].as_str().unwrap();
    assert!(facts.contains("none of the reports carried verified evidence"), "{facts}");
    let rejection = &app.store.statements_of(rejected.id, 1).await.unwrap()[0];
    assert!(rejection.redress.as_deref().unwrap().contains("final within the service"), "none further");
    assert!(!rejection.facts.contains("incelendi"), "the moderator's note is not a fact");
    let acceptance = &app.store.statements_of(accepted.id, 1).await.unwrap()[0];
    assert!(acceptance.facts.contains("the ban was lifted"), "{}", acceptance.facts);
    assert_eq!(acceptance.appeal_id, Some(appeals[1]));
}

async fn a_report_resolution_concerns_the_reported_user_when_actioned_and_the_reporter_when_dismissed(
    backend: crate::helpers::Backend,
) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let reported = app.user("hedef").await;
    let (dismissed_by, actioned_by) = (app.user("haksiz").await, app.user("hakli").await);
    app.matched_and_reported(&dismissed_by, &reported, ReportReason::Spam).await;
    app.matched_and_reported(&actioned_by, &reported, ReportReason::Hate).await;
    let report_of = |reporter: &TestUser| {
        app.count(format!(
            "SELECT id FROM reports WHERE reporter_id = {} AND reported_id = {}",
            reporter.id, reported.id
        ))
    };
    let token = app.access_token(&moderator).await;
    for (reporter, resolution) in [(&dismissed_by, "dismissed"), (&actioned_by, "actioned")] {
        let path = format!("/v1/admin/reports/{}/resolve", report_of(reporter).await);
        let body = json!({ "resolution": resolution, "note": "bakıldı" });
        let answer = app.client.post(app.url(&path)).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(decisions_of(&app, &dismissed_by).await, ["report_dismissed"], "the outcome of their notice");
    assert_eq!(decisions_of(&app, &reported).await, ["report_actioned"], "a dismissed report is not theirs to see");
    assert!(decisions_of(&app, &actioned_by).await.is_empty());

    let exported = exported_statements(&app, &dismissed_by).await;
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0]["ground"]["key"], "spam");
    let facts = exported[0]["facts"].as_str().unwrap();
    assert!(facts.contains("dismissed") && !facts.contains(&reported.handle), "{facts}");
    let actioned = &exported_statements(&app, &reported).await[0];
    assert_eq!(actioned["category"], "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH");
    assert!(!actioned["facts"].as_str().unwrap().contains(&actioned_by.handle));
}

async fn admins_export_the_statements_as_json_lines_without_personal_data(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("kaptan", "admin").await;
    let moderator = app.staff("bekci", "moderator").await;
    let (target, reporter) = (app.user("yasakli").await, app.user("bildiren").await);
    app.matched_and_reported(&reporter, &target, ReportReason::Harassment).await;
    app.ban_with(&moderator, target.id, json!({ "reason": "harassment", "duration_hours": 48 })).await;
    app.unban(&moderator, target.id).await;
    let today = app.now().format("%Y-%m-%d").to_string();
    let range = format!("?from={today}&to={today}");

    let user = statements_export(&app, &app.access_token(&reporter).await, &range).await;
    assert_error(user, StatusCode::FORBIDDEN, "forbidden").await;
    let moderators = statements_export(&app, &app.access_token(&moderator).await, &range).await;
    assert_error(moderators, StatusCode::FORBIDDEN, "forbidden").await;
    let answer = statements_export(&app, &app.access_token(&admin).await, &range).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/x-ndjson");
    let body = answer.text().await.unwrap();
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(lines.len(), 2, "the ban and its lifting");
    let ban = &lines[0];
    assert_eq!(ban["decision_account"], "DECISION_ACCOUNT_SUSPENDED");
    assert_eq!(ban["decision_ground"], "DECISION_GROUND_INCOMPATIBLE_CONTENT");
    assert_eq!(ban["decision_ground_reference_url"], "https://tanis.example/terms#clause-4.2");
    assert_eq!(
        (ban["automated_detection"].as_str(), ban["automated_decision"].as_str()),
        (Some("No"), Some("AUTOMATED_DECISION_NOT_AUTOMATED"))
    );
    assert_eq!(
        (ban["source_type"].as_str(), ban["category"].as_str()),
        (Some("SOURCE_ARTICLE_16"), Some("STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"))
    );
    assert_eq!(ban["application_date"], today);
    let end = (app.now() + TimeDelta::hours(48)).format("%Y-%m-%d").to_string();
    assert_eq!(ban["end_date_account_restriction"], end);
    assert_eq!(ban["territorial_scope"], json!(["EEA"]));
    assert!(lines[1]["decision_account"].is_null(), "a lifting restricts nothing");
    for line in &lines {
        for field in [
            "puid",
            "decision_ground",
            "decision_ground_reference_url",
            "content_type",
            "category",
            "content_date",
            "application_date",
            "decision_facts",
            "source_type",
            "automated_detection",
            "automated_decision",
            "territorial_scope",
            "platform_name",
        ] {
            assert!(!line[field].is_null(), "{field} in {line}");
        }
        assert!(line["puid"].as_str().unwrap().starts_with("tanis-statement-"));
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| !k.contains("user") && !k.ends_with("_id")), "{keys:?}");
    }
    for personal in [&target.handle, &target.phone, &reporter.handle, &reporter.phone, &moderator.handle] {
        assert!(!body.contains(personal.as_str()), "{personal} leaked");
    }
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'statements.exported' AND actor_id = {}",
            admin.id
        ))
        .await;
    assert_eq!(audited, 1, "the export is audited");

    // An empty range is an empty answer; bad ranges are refused with a documented code, and not audited.
    let tomorrow = (app.now() + TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    let empty =
        statements_export(&app, &app.access_token(&admin).await, &format!("?from={tomorrow}&to={tomorrow}")).await;
    assert_eq!(empty.text().await.unwrap(), "");
    for bad in [
        format!("?from={tomorrow}&to={today}"),
        "?from=2026-02-30&to=2026-03-01".to_owned(),
        format!("?from=dün&to={today}"),
        format!("?to={today}"),
        "?from=2020-01-01&to=2026-01-01".to_owned(),
        format!("?from={today}&to={today}&user=1"),
    ] {
        let refused = statements_export(&app, &app.access_token(&admin).await, &bad).await;
        assert_error(refused, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
    let audited = app.count("SELECT COUNT(*) FROM system_logs WHERE action = 'statements.exported'").await;
    assert_eq!(audited, 2);
}

async fn a_ban_whose_statement_cannot_be_written_does_not_happen(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let target = app.user("hedef").await;
    app.store.fail_points.arm("ban.before_statement");
    let path = format!("/v1/admin/users/{}/ban", target.id);
    let body = json!({ "reason": "spam" });
    let token = app.access_token(&moderator).await;
    let refused = app.client.post(app.url(&path)).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_error(refused, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert!(!app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned, "no ban without its statement");
    assert_eq!(app.count("SELECT COUNT(*) FROM bans").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM statements").await, 0);

    app.ban(&moderator, target.id, "spam").await;
    // Every decision has its statement: bans, lifts, resolved reports, decided appeals.
    let orphans = app
        .count(
            "SELECT COUNT(*) FROM bans b WHERE NOT EXISTS \
             (SELECT 1 FROM statements s WHERE s.ban_id = b.id AND s.decision IN ('ban', 'temporary_ban'))",
        )
        .await;
    assert_eq!(orphans, 0);
}

/// `tanis statements export`, as an operator runs it beside the servers: the API's lines on standard output.
async fn the_export_command_writes_the_same_lines_as_the_api_and_is_audited(backend: crate::helpers::Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("kaptan", "admin").await;
    let target = app.user("yasakli").await;
    app.ban(&admin, target.id, "violence").await;
    let today = app.now().format("%Y-%m-%d").to_string();
    // The test server's data directory (its generated secrets) is `data` under this one, the binary's default.
    let dir = app.config.data_dir.parent().unwrap();
    let run = |from: &str, to: &str| {
        let mut command = crate::binary::tanis(dir);
        // The server's own secrets: generated in its data directory, or (on PostgreSQL, or with Redis in the
        // delivery pass) configured, which a process sharing its database must be given too.
        let c = &app.config;
        let secrets = [
            ("TANIS_AUTH__JWT_SECRET", &c.auth.jwt_secret),
            ("TANIS_VIDEO__TURN_SECRET", &c.video.turn_secret),
            ("TANIS_PHONES__ENCRYPTION_KEY", &c.phones.encryption_key),
            ("TANIS_PHONES__INDEX_KEY", &c.phones.index_key),
        ];
        for (key, value) in secrets {
            if let Some(value) = value {
                command.env(key, value);
            }
        }
        command.env("TANIS_DATABASE_URL", &app.database_url).stdout(std::process::Stdio::piped());
        command.args(["statements", "export", "--from", from, "--to", to]);
        command
    };
    let output = run(&today, &today).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = String::from_utf8(output.stdout).unwrap();
    let line: Value = serde_json::from_str(written.trim_end()).unwrap();
    assert_eq!(
        (line["decision"].as_str(), line["category"].as_str()),
        (Some("ban"), Some("STATEMENT_CATEGORY_VIOLENCE"))
    );
    let served = statements_export(&app, &app.access_token(&admin).await, &format!("?from={today}&to={today}")).await;
    assert_eq!(served.text().await.unwrap(), written, "the same lines through either door");
    let by_command =
        app.count("SELECT COUNT(*) FROM system_logs WHERE action = 'statements.exported' AND actor_id IS NULL").await;
    assert_eq!(by_command, 1, "the command's export is audited");

    let tomorrow = (app.now() + TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    let refused = run(&tomorrow, &today).output().await.unwrap();
    assert!(!refused.status.success() && refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--from"), "the error names the argument");
}
