//! Trust (docs/admin.md "Trust: who counts toward the automatic ban"): who counts toward the automatic ban, bursts
//! that go to a moderator instead, the limits on new and unverified accounts, and quarantine. The pure rules'
//! tables are in src/moderation/trust_tests.rs (the weight of verified evidence among them).

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::Chat;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, TestApp, TestUser, text_find};
use crate::on_both_stores;
use crate::reporters::{all_report, is_banned, past_minimum_age, report_from, trusted_reporters, verified_user};
use crate::twilio::{Twilio, spawn_with_sms};

on_both_stores!(
    a_report_brigade_of_fresh_accounts_bans_nobody,
    ten_trusted_reporters_ban,
    unverified_and_banned_reporters_do_not_count,
    reporters_created_close_together_send_the_user_to_review_not_a_ban,
    reporters_from_one_address_range_send_the_user_to_review,
    new_accounts_may_find_only_so_often,
    new_accounts_may_skip_only_so_often,
    a_server_may_ask_for_a_verified_phone_before_matching,
    quarantined_users_are_paired_only_with_each_other,
);

/// A server with the SMS stand-in, where the reported user can be matched many times a day and one test address
/// may ask for many codes.
async fn server(backend: Backend) -> (TestApp, Twilio) {
    spawn_with_sms(backend, |c| {
        c.quotas.free_text_daily = 40;
        c.sms.max_per_ip_per_hour = 1000;
    })
    .await
}

/// [`server`] where quarantine never starts: these tests are about the automatic ban, whose reporters must each
/// meet the reported user, which quarantine (three open reports) would stop.
pub(crate) async fn server_without_quarantine(backend: Backend) -> (TestApp, Twilio) {
    spawn_with_sms(backend, |c| {
        c.quotas.free_text_daily = 40;
        c.sms.max_per_ip_per_hour = 1000;
        no_quarantine(c);
    })
    .await
}

/// Quarantine out of the way of a test about the automatic ban (see [`server_without_quarantine`]).
pub(crate) fn no_quarantine(c: &mut tanis::config::Config) {
    c.trust.quarantine_open_reports = 1000;
}

async fn review_of(app: &TestApp, moderator: &TestUser, user: &TestUser) -> Value {
    let url = app.url("/v1/admin/reports?limit=100");
    let queue: Value =
        app.client.get(url).bearer_auth(app.access_token(moderator).await).send().await.unwrap().json().await.unwrap();
    let entry = queue["users"].as_array().unwrap().iter().find(|u| u["user_id"] == user.id.get()).cloned();
    entry.expect("the user is in the report queue")["review"].clone()
}

async fn a_report_brigade_of_fresh_accounts_bans_nobody(backend: Backend) {
    let (app, twilio) = server_without_quarantine(backend).await;
    let target = app.user("hedef").await;
    let mut brigade = Vec::new();
    for i in 0..10 {
        brigade.push(verified_user(&app, &twilio, &format!("tugay{i}")).await);
    }
    all_report(&app, &brigade, &target).await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "verified, but made minutes ago: none of them counts");

    // Once old enough they count, but they were all made within a day: a moderator looks first.
    past_minimum_age(&app);
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "a burst goes to review, never to a ban");
    let moderator = app.staff("denetci", "moderator").await;
    assert_eq!(review_of(&app, &moderator, &target).await, "burst_created");
}

async fn ten_trusted_reporters_ban(backend: Backend) {
    let (app, twilio) = server_without_quarantine(backend).await;
    let target = app.user("hedef").await;
    let reporters = trusted_reporters(&app, &twilio, 10, "guvenilir").await;
    all_report(&app, &reporters[..9], &target).await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "nine are not enough");
    all_report(&app, &reporters[9..], &target).await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(is_banned(&app, &target).await, "ten verified, old, independent reporters ban");
}

async fn unverified_and_banned_reporters_do_not_count(backend: Backend) {
    let (app, twilio) = server_without_quarantine(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let target = app.user("hedef").await;
    let unverified = app.user("dogrulanmamis").await;
    app.clock.advance(TimeDelta::hours(25));
    let reporters = trusted_reporters(&app, &twilio, 9, "guvenilir").await;
    all_report(&app, &reporters, &target).await;
    all_report(&app, std::slice::from_ref(&unverified), &target).await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "an old account without a verified phone does not count");

    // A tenth trusted reporter reports, then is banned themselves before the job runs.
    let tenth = trusted_reporters(&app, &twilio, 1, "onuncu").await;
    all_report(&app, &tenth, &target).await;
    app.ban(&moderator, tenth[0].id, "spam").await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "a banned reporter does not count");
    app.unban(&moderator, tenth[0].id).await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(is_banned(&app, &target).await, "unbanned, the tenth counts again");
}

async fn reporters_created_close_together_send_the_user_to_review_not_a_ban(backend: Backend) {
    let (app, twilio) = server_without_quarantine(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let target = app.user("hedef").await;
    let mut reporters = Vec::new();
    for i in 0..10 {
        reporters.push(verified_user(&app, &twilio, &format!("ayni_gun{i}")).await);
        app.clock.advance(TimeDelta::hours(1));
    }
    past_minimum_age(&app);
    all_report(&app, &reporters, &target).await;
    app.run_job(Job::AutoBan).await.unwrap();
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await);
    assert_eq!(review_of(&app, &moderator, &target).await, "burst_created");
    let asked = format!(
        "SELECT COUNT(*) FROM system_logs WHERE action = 'user.review_requested' AND user_id = {} AND actor_id IS NULL",
        target.id
    );
    assert_eq!(app.count(asked.clone()).await, 1, "asked once, by the job, while the review is open");

    // A clearance ends the review (and the reports before it no longer count).
    let cleared =
        app.post(&format!("/v1/admin/users/{}/clearance", target.id)).bearer_auth(app.access_token(&moderator).await);
    assert_eq!(cleared.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await);
    assert_eq!(app.count(asked).await, 1);
}

async fn reporters_from_one_address_range_send_the_user_to_review(backend: Backend) {
    let (app, twilio) = server_without_quarantine(backend).await;
    let moderator = app.staff("denetci", "moderator").await;
    let target = app.user("hedef").await;
    let reporters = trusted_reporters(&app, &twilio, 10, "ayni_ag").await;
    for (i, reporter) in reporters.iter().enumerate() {
        report_from(&app, reporter, &target, &format!("203.0.113.{}", i + 1)).await;
    }
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "ten reporters behind one /24");
    assert_eq!(review_of(&app, &moderator, &target).await, "burst_network");
    let stored = app.count("SELECT COUNT(DISTINCT reporter_network) FROM reports").await;
    assert_eq!(stored, 1, "one hash for the range, whatever the host");

    // Resolving one of the reports ends the review; the job looks again and, the burst being still there, asks
    // again rather than banning.
    let report = app.integers("SELECT id FROM reports ORDER BY id LIMIT 1".into()).await[0];
    let resolve =
        app.post(&format!("/v1/admin/reports/{report}/resolve")).bearer_auth(app.access_token(&moderator).await);
    let resolved = resolve.json(&json!({ "resolution": "actioned", "note": "aynı ağdan on şikâyet" })).send().await;
    assert_eq!(resolved.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(review_of(&app, &moderator, &target).await.is_null(), "a resolved report ends the review");
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await);
    assert_eq!(review_of(&app, &moderator, &target).await, "burst_network");
}

/// Whether `frame` answers the request `want` (a `match.found` answers any find).
fn answers(frame: &ServerFrame, want: &str) -> bool {
    match frame {
        ServerFrame::Ok { id }
        | ServerFrame::MatchQueued { id, .. }
        | ServerFrame::MatchCancelled { id }
        | ServerFrame::Error { id, .. } => id.as_deref() == Some(want),
        ServerFrame::MatchFound { .. } => want.starts_with('f'),
        _ => false,
    }
}

/// Sends `frame` and returns its answer.
async fn ask(socket: &mut tanis_client::Connection, frame: ClientFrame, id: &str) -> ServerFrame {
    socket.send(&frame).await.unwrap();
    socket.next_where(|f| answers(f, id)).await.unwrap()
}

/// Sends a plain text find (`id` starts with `f`) and returns the answer.
async fn find(socket: &mut tanis_client::Connection, id: &str) -> ServerFrame {
    ask(socket, text_find(Some(id)), id).await
}

async fn cancel(socket: &mut tanis_client::Connection) -> ServerFrame {
    ask(socket, ClientFrame::MatchCancel { id: Some("cancel".into()) }, "cancel").await
}

fn refused_with(frame: &ServerFrame, code: ErrorCode) -> bool {
    matches!(frame, ServerFrame::Error { code: c, .. } if *c == code)
}

async fn new_accounts_may_find_only_so_often(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |c| c.trust.limited_finds_per_minute = 2).await;
    let fresh = app.user("yeni").await;
    let mut socket = app.socket(&fresh).await;
    for n in 0..2 {
        assert!(matches!(find(&mut socket, &format!("f{n}")).await, ServerFrame::MatchQueued { .. }));
        assert!(matches!(cancel(&mut socket).await, ServerFrame::MatchCancelled { .. }));
    }
    assert!(refused_with(&find(&mut socket, "f2").await, ErrorCode::RateLimited), "the third within a minute");
    app.clock.advance(TimeDelta::seconds(30));
    assert!(matches!(find(&mut socket, "f3").await, ServerFrame::MatchQueued { .. }), "two a minute: one per 30 s");
    assert!(matches!(cancel(&mut socket).await, ServerFrame::MatchCancelled { .. }));

    // A verified account past trust.new_account_hours is not held to it.
    let settled = verified_user(&app, &twilio, "eski").await;
    app.clock.advance(TimeDelta::hours(25));
    let mut theirs = app.socket(&settled).await;
    for n in 0..4 {
        assert!(matches!(find(&mut theirs, &format!("f{n}")).await, ServerFrame::MatchQueued { .. }), "find {n}");
        assert!(matches!(cancel(&mut theirs).await, ServerFrame::MatchCancelled { .. }));
    }
}

async fn new_accounts_may_skip_only_so_often(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| c.trust.limited_skips_per_minute = 1).await;
    let fresh = app.user("atlayan").await;
    let leave = |match_id| ClientFrame::MatchLeave { id: Some("leave".into()), match_id };
    let left = ServerFrame::Ok { id: Some("leave".into()) };
    let (mut socket, chat, _first, _) = app.pair(&fresh, &app.user("birinci").await, MatchKind::Text).await;
    assert_eq!(ask(&mut socket, leave(chat.info.match_id), "leave").await, left);

    let second = app.user("ikinci").await;
    let mut theirs = app.socket(&second).await;
    let (chat, _) = tokio::join!(Chat::find(&mut socket, MatchKind::Text), Chat::find(&mut theirs, MatchKind::Text));
    let match_id = chat.unwrap().info.match_id;
    let refused = ask(&mut socket, leave(match_id), "leave").await;
    assert!(refused_with(&refused, ErrorCode::RateLimited), "{refused:?}");
    let active = app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {match_id} AND status = 'active'")).await;
    assert_eq!(active, 1, "a refused skip leaves the match as it was");
    app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(ask(&mut socket, leave(match_id), "leave").await, left, "a minute later");
}

async fn a_server_may_ask_for_a_verified_phone_before_matching(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |c| c.trust.match_requires_verified_phone = true).await;
    let user = app.user("dogrulayan").await;
    let mut socket = app.socket(&user).await;
    assert!(refused_with(&find(&mut socket, "f1").await, ErrorCode::PhoneUnverified));
    let code = twilio.code_to(&user.phone);
    let verified = crate::phone_codes::verify(&app, &app.access_token(&user).await, &code).await;
    assert_eq!(verified.status(), StatusCode::OK);
    // The same socket: verifying dropped the standing matching had cached.
    assert!(matches!(find(&mut socket, "f2").await, ServerFrame::MatchQueued { .. }));
}

async fn quarantined_users_are_paired_only_with_each_other(backend: Backend) {
    let (app, twilio) = server(backend).await;
    let (first, second, clean) = (app.user("karantina1").await, app.user("karantina2").await, app.user("temiz").await);
    let reporters = trusted_reporters(&app, &twilio, 6, "bildiren").await;
    all_report(&app, &reporters[..3], &first).await;
    all_report(&app, &reporters[3..], &second).await;

    let mut first_socket = app.socket(&first).await;
    assert!(matches!(find(&mut first_socket, "f1").await, ServerFrame::MatchQueued { .. }));
    let mut clean_socket = app.socket(&clean).await;
    assert!(matches!(find(&mut clean_socket, "f2").await, ServerFrame::MatchQueued { .. }), "not paired with them");
    let mut second_socket = app.socket(&second).await;
    second_socket.send(&text_find(Some("f3"))).await.unwrap();
    let found = second_socket.next_where(|f| matches!(f, ServerFrame::MatchFound { .. } | ServerFrame::Error { .. }));
    let found = found.await.unwrap();
    let ServerFrame::MatchFound { info, .. } = found else { panic!("{found:?}") };
    assert_eq!(info.peer, first.handle, "two quarantined users meet");
    let still = cancel(&mut clean_socket).await;
    assert_eq!(still, ServerFrame::MatchCancelled { id: Some("cancel".into()) }, "the clean user still waits");
}
