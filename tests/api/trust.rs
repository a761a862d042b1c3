//! Trust (docs/admin.md "Trust: who counts toward the automatic ban"): who counts toward the automatic ban, bursts
//! that go to a moderator instead, the limits on new and unverified accounts (a block of the active match is a
//! skip), and quarantine with the same burst filters. The pure rules' tables are in src/domain/trust_tests.rs.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::Chat;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ReportReason, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, text_find};
use crate::on_both_stores;
use crate::reporters::{
    all_report, is_banned, own_range, past_minimum_age, report_from, report_with, socket_from, trusted_reporters,
    verified_user,
};
use crate::twilio::{Twilio, spawn_with_sms};

on_both_stores!(
    a_report_brigade_of_fresh_accounts_bans_nobody,
    ten_trusted_reporters_ban,
    verified_evidence_bans_no_one_by_itself_ten_people_do_and_the_statement_counts_people,
    unverified_and_banned_reporters_do_not_count,
    reporters_created_close_together_send_the_user_to_review_not_a_ban,
    reporters_from_one_address_range_send_the_user_to_review,
    new_accounts_may_find_only_so_often,
    new_accounts_may_skip_only_so_often,
    a_block_that_ends_the_active_match_spends_a_skip,
    a_server_may_ask_for_a_verified_phone_before_matching,
    quarantined_users_are_paired_only_with_each_other,
    a_burst_of_reports_quarantines_no_one,
    a_report_that_quarantines_a_waiting_user_reaches_their_place_at_once,
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
    let (_, queue) = app.get_json("/v1/admin/reports?limit=100", &app.access_token(moderator).await).await;
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

async fn verified_evidence_bans_no_one_by_itself_ten_people_do_and_the_statement_counts_people(backend: Backend) {
    let (app, twilio) = server_without_quarantine(backend).await;
    let target = app.user("kanitlanan").await;
    let reporters = trusted_reporters(&app, &twilio, 10, "taniklar").await;
    // Any authentic message verifies ("merhaba" as well as an insult): evidence proves who wrote it, not that it
    // broke the rules, so four trusted reporters with verified evidence are four people, not a ban.
    for reporter in &reporters[..4] {
        report_with(&app, reporter, &target, ReportReason::Harassment, true).await;
    }
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "four people with evidence are not ten");
    for reporter in &reporters[4..9] {
        report_with(&app, reporter, &target, ReportReason::Harassment, false).await;
    }
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await, "nine people, four of them with evidence, are not ten");
    report_with(&app, &reporters[9], &target, ReportReason::Harassment, false).await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(is_banned(&app, &target).await, "ten people ban");

    let status = app.post_json("/v1/ban/status", &json!({ "phone": target.phone, "password": PASSWORD })).await;
    let statement = status.json::<Value>().await.unwrap()["statement"].clone();
    let facts = statement["facts"].as_str().unwrap();
    assert!(facts.contains("reported it (the threshold is 10 people)"), "{facts}");
    assert!(facts.contains("Reported by 10 people; 4 reports carried verified evidence"), "{facts}");
    assert!(!facts.contains("weigh"), "{facts}");
    assert_eq!(statement["automated_decision"], "fully");
    for reporter in &reporters {
        assert!(!facts.contains(&reporter.handle), "no reporter is named: {facts}");
    }
    assert!(!facts.contains("kaba söz"), "no revealed text is a fact: {facts}");
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

    // A clearance ends the review, and the reports before it no longer count: the job, free to decide again, finds
    // nothing to decide (neither a ban nor another review). Either half missing fails here.
    let cleared =
        app.post(&format!("/v1/admin/users/{}/clearance", target.id)).bearer_auth(app.access_token(&moderator).await);
    assert_eq!(cleared.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(review_of(&app, &moderator, &target).await.is_null(), "the clearance ends the review");
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &target).await);
    assert_eq!(app.count(asked).await, 1, "the cleared reports no longer count: no second review");
    assert!(review_of(&app, &moderator, &target).await.is_null());
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

/// Whether `frame` answers the request `want`. A find is answered by `match.queued` (or an error), always before
/// any `match.found`: whether it paired is for [`paired`] to tell.
fn answers(frame: &ServerFrame, want: &str) -> bool {
    match frame {
        ServerFrame::Ok { id }
        | ServerFrame::MatchQueued { id, .. }
        | ServerFrame::MatchCancelled { id }
        | ServerFrame::Error { id, .. } => id.as_deref() == Some(want),
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

/// Takes the user of `socket` out of the queue: true when they were still waiting there (`match.cancelled`), false
/// when they had been paired (`not_queued`). On one node the matchmaker handles a cancel after the find before it,
/// so right after a find this says whether the find paired; in a cluster the elected matchmaker may not have looked
/// yet, and only a later pairing (a `match.found`) can show that someone was left waiting.
async fn still_waiting(socket: &mut tanis_client::Connection) -> bool {
    match cancel(socket).await {
        ServerFrame::MatchCancelled { .. } => true,
        ServerFrame::Error { code: ErrorCode::NotQueued, .. } => false,
        other => panic!("{other:?}"),
    }
}

/// `user`'s only socket closed (and the server done with it: `others` sockets stay open), then a new one opened.
async fn reconnected(
    app: &TestApp,
    socket: tanis_client::Connection,
    user: &TestUser,
    others: usize,
) -> tanis_client::Connection {
    drop(socket);
    let gone = || async { app.hub.connections() == others };
    crate::helpers::eventually(std::time::Duration::from_secs(10), "the socket is gone", gone).await;
    app.socket(user).await
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
    let mut socket = reconnected(&app, socket, &fresh, 0).await;
    assert!(refused_with(&find(&mut socket, "f2").await, ErrorCode::RateLimited), "a new socket refills nothing");
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
    // Closing the app and opening it again refills nothing (before, the last socket to close dropped the bucket).
    let mut socket = reconnected(&app, socket, &fresh, 2).await;
    let refused = ask(&mut socket, leave(match_id), "leave").await;
    assert!(refused_with(&refused, ErrorCode::RateLimited), "a new socket: {refused:?}");
    let active = app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {match_id} AND status = 'active'")).await;
    assert_eq!(active, 1, "a refused skip leaves the match as it was");
    app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(ask(&mut socket, leave(match_id), "leave").await, left, "a minute later");
}

/// Whom `user` blocks, by handle, as `GET /v1/blocks` lists them.
async fn blocked_by(app: &TestApp, user: &TestUser) -> Vec<String> {
    let (_, listed) = app.get_json("/v1/blocks", &app.access_token(user).await).await;
    listed.as_array().unwrap().iter().map(|b| b["handle"].as_str().unwrap().to_owned()).collect()
}

async fn a_block_that_ends_the_active_match_spends_a_skip(backend: Backend) {
    let app = crate::helpers::spawn_app_with(backend, |c| c.trust.limited_skips_per_minute = 1).await;
    let fresh = app.user("engelleyen").await;
    let (first, second, third) = (app.user("birinci").await, app.user("ikinci").await, app.user("ucuncu").await);
    let block = |match_id| ClientFrame::Block { id: Some("block".into()), match_id };
    let leave = |match_id| ClientFrame::MatchLeave { id: Some("leave".into()), match_id };
    let (blocked, left) = (ServerFrame::Ok { id: Some("block".into()) }, ServerFrame::Ok { id: Some("leave".into()) });

    // The one skip of the minute goes on a leave.
    let (mut socket, chat, _first_socket, _) = app.pair(&fresh, &first, MatchKind::Text).await;
    let with_first = chat.info.match_id;
    assert_eq!(ask(&mut socket, leave(with_first), "leave").await, left);

    // A block of the active match would end it as a leave does: refused, nothing stored, the match as it was.
    let mut theirs = app.socket(&second).await;
    let (chat, _) = tokio::join!(Chat::find(&mut socket, MatchKind::Text), Chat::find(&mut theirs, MatchKind::Text));
    let with_second = chat.unwrap().info.match_id;
    let refused = ask(&mut socket, block(with_second), "block").await;
    assert!(refused_with(&refused, ErrorCode::RateLimited), "{refused:?}");
    assert!(blocked_by(&app, &fresh).await.is_empty(), "a refused block stores nothing");
    let active = format!("SELECT COUNT(*) FROM matches WHERE id = {with_second} AND status = 'active'");
    assert_eq!(app.count(active.clone()).await, 1, "a refused block leaves the match as it was");

    // Blocking the peer of a past match ends nothing and spends nothing: it is never refused for the limit.
    assert_eq!(ask(&mut socket, block(with_first), "block").await, blocked);
    assert_eq!(blocked_by(&app, &fresh).await, [first.handle.clone()]);

    // A minute later the block goes through, and spends the skip a leave would then need.
    app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(ask(&mut socket, block(with_second), "block").await, blocked);
    assert_eq!(app.count(active).await, 0, "the block ended the match");
    let mut third_socket = app.socket(&third).await;
    let (chat, _) =
        tokio::join!(Chat::find(&mut socket, MatchKind::Text), Chat::find(&mut third_socket, MatchKind::Text));
    let refused = ask(&mut socket, leave(chat.unwrap().info.match_id), "leave").await;
    assert!(refused_with(&refused, ErrorCode::RateLimited), "the block spent the minute's skip: {refused:?}");
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
    // `match.queued` answers every find before any pairing: that the clean user is not paired with the
    // quarantined one is what the cancel and the pairing below show.
    let mut clean_socket = app.socket(&clean).await;
    assert!(matches!(find(&mut clean_socket, "f2").await, ServerFrame::MatchQueued { .. }));
    assert!(still_waiting(&mut clean_socket).await, "a clean user is not paired with a quarantined one");
    assert!(matches!(find(&mut clean_socket, "f3").await, ServerFrame::MatchQueued { .. }));
    // The second quarantined user is paired with the first, who was still waiting: not given to the clean user.
    let mut second_socket = app.socket(&second).await;
    assert!(matches!(find(&mut second_socket, "f4").await, ServerFrame::MatchQueued { .. }));
    let found = second_socket.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
    let ServerFrame::MatchFound { info, .. } = found else { unreachable!() };
    assert_eq!(info.peer, first.handle, "two quarantined users meet");
    assert!(still_waiting(&mut clean_socket).await, "the clean user still waits");
}

async fn a_burst_of_reports_quarantines_no_one(backend: Backend) {
    let (app, twilio) = server(backend).await;
    let (by_range, by_age) = (app.user("ayni_agdan").await, app.user("ayni_gunden").await);
    // Three counting reporters behind one /24 report one user; three whose accounts were made within three hours
    // (verified, and old enough to count) report the other. Three open counting reports would quarantine either.
    let neighbours = trusted_reporters(&app, &twilio, 3, "komsu").await;
    for (i, reporter) in neighbours.iter().enumerate() {
        report_from(&app, reporter, &by_range, &format!("198.51.100.{}", i + 1)).await;
    }
    let mut twins = Vec::new();
    for i in 0..3 {
        twins.push(verified_user(&app, &twilio, &format!("ikiz{i}")).await);
        app.clock.advance(TimeDelta::hours(1));
    }
    past_minimum_age(&app);
    all_report(&app, &twins, &by_age).await;

    // Each still meets anyone: a clean user who asks after them is paired with them.
    for (reported, alias) in [(&by_range, "temiz1"), (&by_age, "temiz2")] {
        let clean = app.user(alias).await;
        let mut reported_socket = app.socket(reported).await;
        assert!(matches!(find(&mut reported_socket, "f1").await, ServerFrame::MatchQueued { .. }));
        let mut clean_socket = app.socket(&clean).await;
        assert!(matches!(find(&mut clean_socket, "f2").await, ServerFrame::MatchQueued { .. }));
        let found = reported_socket.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
        let ServerFrame::MatchFound { info, .. } = found else { unreachable!() };
        assert_eq!(info.peer, clean.handle, "{} is not quarantined by a burst", reported.handle);
    }
}

/// A report that quarantines a user who is already waiting reaches their place at once (src/matching/find/refresh.rs):
/// the next quarantined user who asks meets them. Before, their place kept the standing they asked with until they
/// asked again, so a clean user could be given them meanwhile and a quarantined one could not.
async fn a_report_that_quarantines_a_waiting_user_reaches_their_place_at_once(backend: Backend) {
    let (app, twilio) = server(backend).await;
    let (waiting, other) = (app.user("bekleyen").await, app.user("karantinada").await);
    let reporters = trusted_reporters(&app, &twilio, 6, "bildiren").await;
    all_report(&app, &reporters[..2], &waiting).await;
    all_report(&app, &reporters[3..], &other).await;
    // The third reporter meets them and leaves; they ask again, with two open reports: not quarantined yet.
    let last = &reporters[2];
    let mut sr = socket_from(&app, last, &own_range(last)).await;
    let mut sw = app.socket(&waiting).await;
    let (chat_r, chat_w) = tokio::join!(Chat::find(&mut sr, MatchKind::Text), Chat::find(&mut sw, MatchKind::Text));
    let (chat_r, match_id) = (chat_r.unwrap(), chat_w.unwrap().info.match_id);
    let leave = ClientFrame::MatchLeave { id: Some("left".into()), match_id };
    assert_eq!(ask(&mut sr, leave, "left").await, ServerFrame::Ok { id: Some("left".into()) });
    sw.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    assert!(matches!(find(&mut sw, "f1").await, ServerFrame::MatchQueued { .. }));

    // The third report, while they wait, quarantines them; then the other quarantined user asks, and they meet.
    let report = chat_r.report(ReportReason::Harassment, None, &[]).unwrap();
    assert_eq!(ask(&mut sr, report, "report").await, ServerFrame::Ok { id: Some("report".into()) });
    let mut so = app.socket(&other).await;
    assert!(matches!(find(&mut so, "f2").await, ServerFrame::MatchQueued { .. }));
    let found = so.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
    let ServerFrame::MatchFound { info, .. } = found else { unreachable!() };
    assert_eq!(info.peer, waiting.handle, "the two quarantined users meet");
}
