//! "Not as declared" (issue 64 point 4; docs/admin.md "Declarations"): a one-tap report from the match that refunds
//! the reporter's unit once per match and a few times a day; distinct counting reporters, with the automatic ban's
//! brigade defences, suspend the reported user's declaration in filtered matching until a moderator clears it, each
//! step with its statement of reasons, notification and audit row. The pure rules' tables are in
//! src/domain/declarations.rs.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Chat, Connection, Find};
use tanis_proto::{
    ClientFrame, ErrorCode, Gender, MatchId, MatchKind, PreferenceMode, ReportReason, Seeking, ServerFrame,
};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app_with};
use crate::interests::{found, still_waiting};
use crate::on_both_stores;
use crate::region::{find, premium, queued};
use crate::reporters::{past_minimum_age, report_with, trusted_reporters, verified_user};
use crate::twilio::{Twilio, spawn_with_sms};

on_both_stores!(
    a_not_as_declared_report_refunds_the_reporters_unit_once_and_the_match_cannot_be_claimed_too,
    only_a_premium_reporters_filtered_match_within_the_hour_refunds_to_the_balance_it_came_from,
    refunds_stop_at_the_days_allowance_and_the_reports_still_count,
    a_not_as_declared_report_carries_no_words_and_comes_only_from_the_match,
    enough_counting_reporters_suspend_a_declaration_until_a_moderator_clears_it,
    a_brigade_of_fresh_accounts_suspends_no_declaration,
    a_claim_and_a_report_of_one_match_sent_at_once_refund_it_once,
);

/// `reporter` and `reported` are matched (text); returns the reporter's socket and chat.
async fn matched(app: &TestApp, reporter: &TestUser, reported: &TestUser) -> (Connection, Chat, Connection) {
    matched_as(app, reporter, Find::new(MatchKind::Text), reported).await
}

/// `reporter`, asking with `find`, and `reported`, asking for anyone, are matched (text); returns the reporter's
/// socket and chat.
async fn matched_as(
    app: &TestApp,
    reporter: &TestUser,
    find: Find,
    reported: &TestUser,
) -> (Connection, Chat, Connection) {
    let (mut sr, mut st) = (app.socket(reporter).await, app.socket(reported).await);
    let (chat_r, chat_t) = tokio::join!(Chat::find_with(&mut sr, &find), Chat::find(&mut st, MatchKind::Text));
    chat_t.expect("the reported user is matched");
    (sr, chat_r.expect("the reporter is matched"), st)
}

/// A premium reporter who asks only for women, and a woman, matched; returns the reporter's socket and the match.
async fn filtered_match(app: &TestApp, reporter: &TestUser, woman: &TestUser) -> (Connection, MatchId) {
    let (socket, chat, _peer) = matched_as(app, reporter, women_only(), woman).await;
    (socket, chat.info.match_id)
}

/// The user's text units: (daily, bonus).
async fn text_units(app: &TestApp, user: &TestUser) -> (i64, i64) {
    let me: Value = app.get_me(&app.access_token(user).await).await.json().await.unwrap();
    (me["balances"]["daily_text"].as_i64().unwrap(), me["balances"]["bonus_text"].as_i64().unwrap())
}

/// Sends `frame` and reads its answer.
async fn answer(socket: &mut Connection, frame: &ClientFrame) -> ServerFrame {
    socket.send(frame).await.unwrap();
    socket.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await.unwrap()
}

/// Leaves the match and waits for the answer: a find sent before the leave is taken would be `already_in_match`.
async fn left(socket: &mut Connection, match_id: MatchId) {
    assert_eq!(answer(socket, &ClientFrame::MatchLeave { id: Some("nad".into()), match_id }).await, ok());
}

fn not_as_declared(match_id: MatchId) -> ClientFrame {
    ClientFrame::Report {
        id: Some("nad".into()),
        match_id,
        reason_code: ReportReason::NotAsDeclared,
        details: None,
        evidence: Vec::new(),
    }
}

fn ok() -> ServerFrame {
    ServerFrame::Ok { id: Some("nad".into()) }
}

async fn bonus_text(app: &TestApp, user: &TestUser) -> i64 {
    let me: Value = app.get_me(&app.access_token(user).await).await.json().await.unwrap();
    me["balances"]["bonus_text"].as_i64().unwrap()
}

async fn admin_view(app: &TestApp, moderator: &TestUser, user: &TestUser) -> Value {
    let (status, view) =
        app.get_json(&format!("/v1/admin/users/{}", user.id.get()), &app.access_token(moderator).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view["declaration"].clone()
}

async fn clearance(app: &TestApp, by: &TestUser, user: &TestUser) -> reqwest::Response {
    let path = format!("/v1/admin/users/{}/declaration/clearance", user.id.get());
    app.post(&path).bearer_auth(app.access_token(by).await).send().await.unwrap()
}

async fn declared(app: &TestApp, user: &TestUser, gender: &str) {
    let body = json!({ "gender": gender, "consent": true });
    let response = app.client.put(app.url("/v1/me/gender")).bearer_auth(&user.access).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn notifications(app: &TestApp, user: &TestUser) -> Vec<String> {
    let (_, list) = app.get_json("/v1/notifications", &app.access_token(user).await).await;
    let texts = list["notifications"].as_array().expect("a list").iter().map(|n| n["text"].as_str().unwrap());
    texts.map(str::to_owned).collect()
}

async fn export_of(app: &TestApp, user: &TestUser) -> Value {
    let (status, export) = app.get_json("/v1/me/export", &app.access_token(user).await).await;
    assert_eq!(status, StatusCode::OK);
    export
}

async fn a_not_as_declared_report_refunds_the_reporters_unit_once_and_the_match_cannot_be_claimed_too(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (ayse, burak) = (premium(&app, "ayse").await, app.user("burak").await);
    declared(&app, &burak, "woman").await;
    let before = text_units(&app, &ayse).await;
    let (mut socket, match_id) = filtered_match(&app, &ayse, &burak).await;
    assert_eq!(text_units(&app, &ayse).await, (before.0 - 1, before.1), "a daily unit paid for it");

    assert_eq!(answer(&mut socket, &not_as_declared(match_id)).await, ok());
    assert_eq!(text_units(&app, &ayse).await, before, "the unit spent on the match came back, to the daily balance");
    let told = notifications(&app, &ayse).await;
    assert!(told.iter().any(|n| n.contains("refunded") || n.contains("iade edildi")), "and she is told: {told:?}");

    assert_eq!(answer(&mut socket, &not_as_declared(match_id)).await, ok(), "a repeat is answered the same");
    assert_eq!(text_units(&app, &ayse).await, before, "but refunds nothing more");
    let claim =
        app.post("/v1/claims").bearer_auth(app.access_token(&ayse).await).json(&json!({ "match_id": match_id })).send();
    assert_error(claim.await.unwrap(), StatusCode::CONFLICT, "claim_exists").await;
    assert_eq!(text_units(&app, &ayse).await, before);

    // Hers to see in her export, by the handle she met; nothing of burak's declaration.
    let export = export_of(&app, &ayse).await;
    let reports = export["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "{export}");
    assert_eq!(
        (reports[0]["reason"].clone(), reports[0]["reported"].clone()),
        (json!("not_as_declared"), json!(burak.handle))
    );
    assert!(!export.to_string().contains("woman"), "{export}");
}

async fn refunds_stop_at_the_days_allowance_and_the_reports_still_count(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.trust.declaration_refunds_per_day = 1;
        c.quotas.free_text_daily = 40;
    })
    .await;
    let ayse = premium(&app, "ayse").await;
    let moderator = app.staff("denetci", "moderator").await;
    let mut others = Vec::new();
    for (i, refunded) in [(0, true), (1, false)] {
        let other = app.user(&format!("eda{i}")).await;
        declared(&app, &other, "woman").await;
        let (mut socket, match_id) = filtered_match(&app, &ayse, &other).await;
        let paid = text_units(&app, &ayse).await;
        assert_eq!(answer(&mut socket, &not_as_declared(match_id)).await, ok());
        let expected = if refunded { (paid.0 + 1, paid.1) } else { paid };
        assert_eq!(text_units(&app, &ayse).await, expected, "report {i}");
        left(&mut socket, match_id).await;
        others.push(other);
    }
    assert_eq!(admin_view(&app, &moderator, &others[1]).await["reporters_since_clearance"], 1, "counted all the same");

    // A day later the allowance is back.
    app.clock.advance(TimeDelta::hours(25));
    let third = app.user("eda2").await;
    declared(&app, &third, "woman").await;
    let (mut socket, match_id) = filtered_match(&app, &ayse, &third).await;
    let paid = text_units(&app, &ayse).await;
    assert_eq!(answer(&mut socket, &not_as_declared(match_id)).await, ok());
    assert_eq!(text_units(&app, &ayse).await, (paid.0 + 1, paid.1));
}

/// The review's finding (issue 77 point 6): any free user turned up to three units a day into bonus units that
/// never expire, each tap a counting report against someone. Now only what the filter failed is given back: a
/// premium reporter's match from her own find with `seeking`, reported within the hour after it opened
/// (`declarations::REFUND_WINDOW`), to the balance its unit came from. Every report still counts.
async fn only_a_premium_reporters_filtered_match_within_the_hour_refunds_to_the_balance_it_came_from(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        // A subscription tops the daily units up to premium's: three, to spend them all here.
        (c.quotas.free_text_daily, c.quotas.premium_text_daily) = (3, 3);
        (c.trust.limited_finds_per_minute, c.trust.limited_skips_per_minute) = (100, 100);
    })
    .await;
    let moderator = app.staff("denetci", "moderator").await;
    let mut women = Vec::new();
    for i in 0..4 {
        let user = app.user(&format!("nil{i}")).await;
        declared(&app, &user, "woman").await;
        women.push(user);
    }
    // A free user's plain match: the report counts, nothing comes back.
    let free = app.user("fatma").await;
    let (mut socket, chat, _peer) = matched(&app, &free, &women[0]).await;
    let paid = text_units(&app, &free).await;
    assert_eq!(answer(&mut socket, &not_as_declared(chat.info.match_id)).await, ok());
    assert_eq!(text_units(&app, &free).await, paid, "a free user's match is not refunded");
    assert_eq!(admin_view(&app, &moderator, &women[0]).await["reporters_since_clearance"], 1, "but it counts");

    // A premium user's plain find: nothing comes back either.
    let ayse = premium(&app, "ayse").await;
    let (mut socket, chat, _peer) = matched(&app, &ayse, &women[1]).await;
    let paid = text_units(&app, &ayse).await;
    assert_eq!(answer(&mut socket, &not_as_declared(chat.info.match_id)).await, ok());
    assert_eq!(text_units(&app, &ayse).await, paid, "no filter, nothing it failed");
    left(&mut socket, chat.info.match_id).await;

    // A match nobody answers, which she claims: a bonus unit, three hours on.
    let quiet = app.user("sessiz").await;
    let (mut socket, mut chat, _peer) = matched(&app, &ayse, &quiet).await;
    socket.send(&chat.message("merhaba?")).await.unwrap();
    let stored = socket.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. }));
    assert!(matches!(stored.await.unwrap(), ServerFrame::MsgAccepted { .. }));
    let token = app.access_token(&ayse).await;
    let claim = app.post("/v1/claims").bearer_auth(token).json(&json!({ "match_id": chat.info.match_id })).send();
    assert_eq!(claim.await.unwrap().status(), StatusCode::CREATED);
    left(&mut socket, chat.info.match_id).await;

    // Her filtered find, reported past the hour: nothing.
    let (mut socket, match_id) = filtered_match(&app, &ayse, &women[2]).await;
    app.clock.advance(TimeDelta::minutes(61));
    let paid = text_units(&app, &ayse).await;
    assert_eq!(paid, (0, 0), "her three daily units spent");
    assert_eq!(answer(&mut socket, &not_as_declared(match_id)).await, ok());
    assert_eq!(text_units(&app, &ayse).await, paid, "past the window");
    left(&mut socket, match_id).await;
    app.clock.advance(TimeDelta::hours(3));
    app.run_job(Job::Claims).await.unwrap();
    assert_eq!(text_units(&app, &ayse).await, (0, 1), "the claim gave a bonus unit");

    // With no daily unit left, the bonus unit pays for a filtered match; reported in time, it goes back there.
    let (mut socket, match_id) = filtered_match(&app, &ayse, &women[3]).await;
    assert_eq!(text_units(&app, &ayse).await, (0, 0));
    assert_eq!(answer(&mut socket, &not_as_declared(match_id)).await, ok());
    assert_eq!(text_units(&app, &ayse).await, (0, 1), "to the balance it came from");
    for woman in &women[1..] {
        assert_eq!(admin_view(&app, &moderator, woman).await["reporters_since_clearance"], 1, "every report counts");
    }
}

/// A claim (REST) and a "not as declared" report (the socket) of the same match, sent at the same moment, never
/// both refund it (issue 77 point 6: each checked for the other before either was stored, so both passed). Each
/// round is a new match: the reporter writes, nobody answers, and she claims and reports at once; after the claims
/// job, every match gave back exactly one unit, by whichever came first.
async fn a_claim_and_a_report_of_one_match_sent_at_once_refund_it_once(backend: Backend) {
    const ROUNDS: i64 = 12;
    let app = spawn_app_with(backend, |c| {
        c.trust.declaration_refunds_per_day = 100;
        c.quotas.free_text_daily = 40;
        // A new account's finds and skips a minute, and the messages a second: a dozen matches in a row here.
        (c.trust.limited_finds_per_minute, c.trust.limited_skips_per_minute) = (100, 100);
        (c.hub.messages_per_second, c.hub.message_burst) = (100, 100);
    })
    .await;
    // A premium reporter's filtered matches: the ones a report refunds (to the daily balance; a claim, to the bonus).
    let ayse = premium(&app, "ayse").await;
    let units = |(daily, bonus): (i64, i64)| daily + bonus;
    let before = units(text_units(&app, &ayse).await);
    let (mut claimed, mut reported) = (0, 0);
    for i in 0..ROUNDS {
        let other = app.user(&format!("nur{i}")).await;
        declared(&app, &other, "woman").await;
        let (mut socket, mut chat, _peer) = matched_as(&app, &ayse, women_only(), &other).await;
        socket.send(&chat.message("merhaba?")).await.unwrap();
        let stored = socket.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. }));
        let stored = stored.await.unwrap();
        assert!(matches!(stored, ServerFrame::MsgAccepted { .. }), "round {i}: {stored:?}");
        let match_id = chat.info.match_id;
        let token = app.access_token(&ayse).await;
        let claim = app.post("/v1/claims").bearer_auth(token).json(&json!({ "match_id": match_id })).send();
        let frame = not_as_declared(match_id);
        let (claim, report) = tokio::join!(claim, answer(&mut socket, &frame));
        assert_eq!(report, ok(), "round {i}");
        match claim.unwrap().status() {
            StatusCode::CREATED => claimed += 1,
            StatusCode::CONFLICT => reported += 1,
            other => panic!("round {i}: the claim was answered {other}"),
        }
        left(&mut socket, match_id).await;
        // The server's clock stands still until moved: a second a round refills the sender's rate limits.
        app.clock.advance(TimeDelta::seconds(1));
    }
    app.clock.advance(TimeDelta::hours(3));
    app.run_job(Job::Claims).await.unwrap();
    eprintln!("{claimed} claims filed first, {reported} reports refunded first");
    assert_eq!(units(text_units(&app, &ayse).await), before, "one unit back per match, never two");
}

async fn a_not_as_declared_report_carries_no_words_and_comes_only_from_the_match(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (ayse, burak, cem) = (app.user("ayse").await, app.user("burak").await, app.user("cem").await);
    let moderator = app.staff("denetci", "moderator").await;
    let (mut socket, chat, _peer) = matched(&app, &ayse, &burak).await;
    let before = bonus_text(&app, &ayse).await;
    let ClientFrame::Report { id, match_id, reason_code, .. } = not_as_declared(chat.info.match_id) else {
        unreachable!()
    };
    let worded = ClientFrame::Report { id, match_id, reason_code, details: Some("yalan".into()), evidence: Vec::new() };
    let ServerFrame::Error { code, .. } = answer(&mut socket, &worded).await else { panic!("refused") };
    assert_eq!(code, ErrorCode::InvalidField);

    let mut outsider = app.socket(&cem).await;
    let ServerFrame::Error { code, .. } = answer(&mut outsider, &not_as_declared(match_id)).await else {
        panic!("refused")
    };
    assert_eq!(code, ErrorCode::NotMatched);
    assert_eq!(bonus_text(&app, &ayse).await, before, "nothing refunded");
    assert_eq!(admin_view(&app, &moderator, &burak).await["reporters_since_clearance"], 0, "nothing stored");

    // A call report is not the door for it: the reason belongs to the match's one tap.
    let body = json!({ "match_id": match_id, "reason_code": "not_as_declared" });
    let call =
        app.post("/v1/reports/call").bearer_auth(app.access_token(&ayse).await).json(&body).send().await.unwrap();
    assert_error(call, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

fn women_only() -> Find {
    Find::new(MatchKind::Text).seeking(Seeking { genders: vec![Gender::Woman], mode: PreferenceMode::Only })
}

/// A seeker asking only for women waits, and `user`, asking for anyone, is paired with them.
async fn seeker_meets(app: &TestApp, seeker: &TestUser, user: &TestUser) {
    let mut waiting = queued(app, seeker, women_only()).await;
    let mut other = find(app, user, Find::new(MatchKind::Text)).await;
    let info = found(&mut other).await;
    assert_eq!(info.peer, seeker.handle);
    assert_eq!(found(&mut waiting).await.peer, user.handle);
    // Left, not just dropped: a dropped socket's match waits for it to come back.
    let leave = ClientFrame::MatchLeave { id: Some("nad".into()), match_id: info.match_id };
    assert_eq!(answer(&mut other, &leave).await, ok());
}

/// A server where three counting reporters suspend (quarantine out of the way: each reporter must meet her), with
/// nur, who declared herself a woman, and a moderator.
async fn reported_woman(backend: Backend) -> (TestApp, Twilio, TestUser, TestUser) {
    let (app, twilio) = spawn_with_sms(backend, |c| {
        c.quotas.free_text_daily = 40;
        c.sms.max_per_ip_per_hour = 1000;
        c.trust.declaration_report_threshold = 3;
        c.trust.quarantine_open_reports = 1000;
    })
    .await;
    let nur = app.user("nur").await;
    declared(&app, &nur, "woman").await;
    let moderator = app.staff("denetci", "moderator").await;
    (app, twilio, nur, moderator)
}

async fn enough_counting_reporters_suspend_a_declaration_until_a_moderator_clears_it(backend: Backend) {
    let (app, twilio, nur, moderator) = reported_woman(backend).await;
    let reporters = trusted_reporters(&app, &twilio, 3, "tanik").await;
    for reporter in &reporters[..2] {
        report_with(&app, reporter, &nur, ReportReason::NotAsDeclared, false).await;
    }
    let standing = admin_view(&app, &moderator, &nur).await;
    assert_eq!(
        (standing["reporters_since_clearance"].clone(), standing["suspended_at"].clone()),
        (json!(2), Value::Null)
    );
    let mert = premium(&app, "mert").await;
    seeker_meets(&app, &mert, &nur).await; // two of three: her declaration still counts

    report_with(&app, &reporters[2], &nur, ReportReason::NotAsDeclared, false).await;
    let standing = admin_view(&app, &moderator, &nur).await;
    assert!(standing["suspended_at"].is_string(), "three counting reporters suspend: {standing}");
    // A seeker of women who never met her waits longer, yet she goes to the next one asking for anyone (a recent
    // partner is not paired again, hence a new seeker): she is no longer what he asks for.
    let emre = premium(&app, "emre").await;
    let mut s_emre = queued(&app, &emre, women_only()).await;
    let mut s_nur = queued(&app, &nur, Find::new(MatchKind::Text)).await;
    let ali = app.user("ali").await;
    let mut s_ali = find(&app, &ali, Find::new(MatchKind::Text)).await;
    let info = found(&mut s_ali).await;
    assert_eq!(info.peer, nur.handle);
    assert_eq!(found(&mut s_nur).await.peer, ali.handle);
    still_waiting(&mut s_emre).await;
    let leave = ClientFrame::MatchLeave { id: Some("nad".into()), match_id: info.match_id };
    assert_eq!(answer(&mut s_ali, &leave).await, ok());

    // She is told, and sees why; the declaration is still hers to see. Nothing else is restricted.
    let me: Value = app.get_me(&app.access_token(&nur).await).await.json().await.unwrap();
    assert_eq!(
        (me["gender"].clone(), me["gender_suspended_at"].clone()),
        (json!("woman"), standing["suspended_at"].clone())
    );
    let told = notifications(&app, &nur).await;
    let suspended = |n: &String| n.contains("not used for matching by gender") || n.contains("eşleşmede kullanılmıyor");
    assert!(told.iter().any(suspended), "{told:?}");
    let export = export_of(&app, &nur).await;
    let statements = export["statements"].as_array().unwrap();
    let statement = statements.iter().find(|s| s["decision"] == "declaration_suspended").expect("a statement");
    assert!(statement["facts"].as_str().unwrap().contains("3 people"), "{statement}");
    let named = reporters.iter().any(|r| statement.to_string().contains(&r.handle));
    assert!(!named, "the statement names no reporter: {statement}");
    let (_, audit) =
        app.get_json("/v1/admin/audit?action=user.declaration_suspended", &app.access_token(&moderator).await).await;
    assert_eq!(audit["entries"][0]["target_id"], nur.id.get(), "{audit}");

    // Only staff clear it; a clearance is audited with its moderator, and it is used again.
    assert_error(clearance(&app, &nur, &nur).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(clearance(&app, &moderator, &nur).await.status(), StatusCode::NO_CONTENT);
    assert_error(clearance(&app, &moderator, &nur).await, StatusCode::CONFLICT, "not_suspended").await;
    let nobody =
        app.post("/v1/admin/users/999999/declaration/clearance").bearer_auth(app.access_token(&moderator).await).send();
    assert_error(nobody.await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let (_, audit) =
        app.get_json("/v1/admin/audit?action=user.declaration_cleared", &app.access_token(&moderator).await).await;
    assert_eq!(audit["entries"][0]["actor_id"], moderator.id.get(), "{audit}");
    let standing = admin_view(&app, &moderator, &nur).await;
    assert_eq!(
        (standing["reporters_since_clearance"].clone(), standing["suspended_at"].clone()),
        (json!(0), Value::Null)
    );
    seeker_meets(&app, &emre, &nur).await; // hers again
}

async fn a_brigade_of_fresh_accounts_suspends_no_declaration(backend: Backend) {
    let (app, twilio, nur, moderator) = reported_woman(backend).await;
    let mut brigade = Vec::new();
    for i in 0..4 {
        brigade.push(verified_user(&app, &twilio, &format!("tugay{i}")).await);
    }
    for reporter in &brigade[..3] {
        report_with(&app, reporter, &nur, ReportReason::NotAsDeclared, false).await;
    }
    assert_eq!(admin_view(&app, &moderator, &nur).await["suspended_at"], Value::Null, "minutes-old accounts count not");
    // Old enough later, they were still made within a day of each other: a burst, which suspends nothing.
    past_minimum_age(&app);
    report_with(&app, &brigade[3], &nur, ReportReason::NotAsDeclared, false).await;
    let standing = admin_view(&app, &moderator, &nur).await;
    assert_eq!(
        (standing["reporters_since_clearance"].clone(), standing["suspended_at"].clone()),
        (json!(4), Value::Null)
    );
}
