//! Background jobs on both stores, at chosen instants of the manual clock: no test waits for real time.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis::domain::MatchId;
use tanis_proto::{ClientFrame, CloseCode, EndReason, ErrorCode, MatchKind, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, TestApp, TestUser, assert_error, registration, spawn_app, spawn_app_with};
use crate::on_both_stores;
use crate::twilio::Twilio;

on_both_stores!(
    a_text_claim_is_decided_just_after_two_hours_and_refunds_once,
    a_claim_whose_peer_replied_is_rejected_with_its_reason,
    claims_are_filed_once_by_participants_over_rest_and_websocket,
    a_crash_between_verdict_and_refund_rolls_back_and_the_retry_refunds_once,
    a_video_claim_is_approved_when_the_call_never_connected,
    the_tenth_distinct_reporter_bans_and_a_cleared_user_needs_ten_new_ones,
    a_referral_is_rewarded_once_the_invited_phone_is_verified_with_an_optional_inviter_reward,
    expired_matches_end_and_their_users_are_told,
    daily_balances_reset_at_istanbul_midnight_once_and_bonus_units_stay,
    premium_follows_active_subscriptions,
    a_failing_job_is_counted_and_the_server_keeps_serving,
    a_run_queued_in_the_database_is_taken_by_the_scheduled_worker,
    a_scheduled_run_that_fails_is_retried_by_its_worker_and_refunds_once,
);

/// The same, with the job queue in Redis (the store is SQLite; the queue backend is what is under test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_queued_in_redis_is_taken_by_the_scheduled_worker() {
    let url = std::env::var("TANIS_TEST_REDIS_URL").expect("TANIS_TEST_REDIS_URL: run the suite with scripts/test");
    queued_run_is_executed(Backend::Sqlite, Some(url)).await;
}

async fn a_run_queued_in_the_database_is_taken_by_the_scheduled_worker(backend: Backend) {
    queued_run_is_executed(backend, None).await;
}

/// A server with its scheduled workers polling every 100 ms, and a text claim that is due for approval: the
/// claimant wrote, the peer never answered, three hours passed.
async fn app_with_a_due_claim(backend: Backend, redis_url: Option<String>) -> (TestApp, TestUser) {
    let app = spawn_app_with(backend, |c| {
        c.jobs.enabled = true;
        c.jobs.queue_namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
        c.redis_url = redis_url;
        c.jobs.poll_interval_ms = 100;
    })
    .await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&chat.message("orada mısın?")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    post_claim(&app, &a, chat.info.match_id).await;
    app.clock.advance(TimeDelta::hours(3));
    (app, a)
}

/// Queues one claims run in the job storage and waits until the claim it decides is approved.
async fn queue_a_claims_run_and_wait_for_the_approval(app: &TestApp, claimant: &TestUser, what: &str) {
    let storage = tanis::jobs::storage(&app.store, &app.config).await.unwrap();
    storage.run_now(Job::Claims, app.now()).await.unwrap();
    // apalis polls its storage on an interval: wait for the event, bounded.
    crate::helpers::eventually(std::time::Duration::from_secs(20), what, || async {
        claims_of(app, claimant).await[0]["status"] == "approved"
    })
    .await;
}

/// Runs the server with its scheduled workers, queues one claims run in the job storage, and waits for the
/// worker to take it and decide a pending claim.
async fn queued_run_is_executed(backend: Backend, redis_url: Option<String>) {
    let (app, a) = app_with_a_due_claim(backend, redis_url).await;
    queue_a_claims_run_and_wait_for_the_approval(&app, &a, "the worker took the queued run").await;
    assert_eq!(bonus_text(&app, &a).await, 1);
}

/// The worker's retry layer runs a failed tick again: the first attempt crashes between verdict and refund,
/// the retry decides the claim and refunds exactly once, and the failure is on record.
async fn a_scheduled_run_that_fails_is_retried_by_its_worker_and_refunds_once(backend: Backend) {
    let (app, a) = app_with_a_due_claim(backend, None).await;
    app.store.fail_points.arm("claim.before_refund");
    queue_a_claims_run_and_wait_for_the_approval(&app, &a, "the retry decided the claim").await;
    assert_eq!(bonus_text(&app, &a).await, 1, "refunded once");
    let runs = app.store.job_runs().await.unwrap();
    let claims = runs.iter().find(|r| r.job == "claims").unwrap();
    assert!(claims.last_failure_at.is_some(), "the failed attempt is on record: {claims:?}");
    assert!(claims.last_error.as_deref().unwrap_or_default().contains("claim.before_refund"), "{claims:?}");
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn post_claim(app: &TestApp, user: &TestUser, match_id: MatchId) -> reqwest::Response {
    let token = app.access_token(user).await;
    app.client
        .post(app.url("/v1/claims"))
        .bearer_auth(token)
        .json(&json!({ "match_id": match_id }))
        .send()
        .await
        .unwrap()
}

async fn claims_of(app: &TestApp, user: &TestUser) -> Value {
    let token = app.access_token(user).await;
    app.get_json("/v1/claims", &token).await.1
}

async fn bonus_text(app: &TestApp, user: &TestUser) -> i32 {
    app.store.user_by_id(user.id).await.unwrap().unwrap().bonus_chat_balance
}

async fn a_text_claim_is_decided_just_after_two_hours_and_refunds_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&chat.message("merhaba?")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    let sent_at = app.now();
    assert_eq!(post_claim(&app, &a, chat.info.match_id).await.status(), StatusCode::CREATED);

    app.clock.set(sent_at + TimeDelta::hours(2));
    app.run_job(Job::Claims).await.unwrap();
    assert_eq!(claims_of(&app, &a).await[0]["status"], "pending", "exactly 2 h: the window is still open");

    app.clock.set(sent_at + TimeDelta::hours(2) + TimeDelta::seconds(1));
    app.run_job(Job::Claims).await.unwrap();
    app.run_job(Job::Claims).await.unwrap();
    let claim = &claims_of(&app, &a).await[0];
    assert_eq!(
        (claim["status"].as_str(), claim["reason"].as_str()),
        (Some("approved"), Some("no reply within 2 hours"))
    );
    assert_eq!(bonus_text(&app, &a).await, 1, "one refund, however often the job runs");
    let notified =
        app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {} AND type = 'claim'", a.id)).await;
    assert_eq!(notified, 1);
    // Online, the claimant is told at once, in their language (Turkish by default).
    let frame = sa.next_where(|f| matches!(f, ServerFrame::Notification { .. })).await.unwrap();
    let ServerFrame::Notification { notification } = frame else { unreachable!() };
    assert_eq!(notification.kind, "claim");
    assert_eq!(notification.text, "Talebin onaylandı: bir yazılı eşleşme hakkın iade edildi.");
}

async fn a_claim_whose_peer_replied_is_rejected_with_its_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&chat_a.message("merhaba")).await.unwrap();
    sb.next_where(|f| matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    app.clock.advance(TimeDelta::hours(2));
    sb.send(&chat_b.message("selam, geç kaldım")).await.unwrap();
    sb.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    post_claim(&app, &a, chat_a.info.match_id).await;
    app.clock.advance(TimeDelta::hours(1));
    app.run_job(Job::Claims).await.unwrap();
    let claim = &claims_of(&app, &a).await[0];
    assert_eq!(
        (claim["status"].as_str(), claim["reason"].as_str()),
        (Some("rejected"), Some("the other person replied"))
    );
    assert_eq!(bonus_text(&app, &a).await, 0);
}

async fn claims_are_filed_once_by_participants_over_rest_and_websocket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    assert_error(post_claim(&app, &c, match_id).await, StatusCode::NOT_FOUND, "not_matched").await;
    sa.send(&ClientFrame::Claim { id: Some("c1".into()), match_id }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Ok { id: Some("c1".into()) });
    assert_error(post_claim(&app, &a, match_id).await, StatusCode::CONFLICT, "claim_exists").await;
    sa.send(&ClientFrame::Claim { id: Some("c2".into()), match_id }).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::ClaimExists, .. }));
    assert_eq!(post_claim(&app, &b, match_id).await.status(), StatusCode::CREATED, "each participant may claim once");
    assert_eq!(app.count("SELECT COUNT(*) FROM claims").await, 2);
}

async fn a_crash_between_verdict_and_refund_rolls_back_and_the_retry_refunds_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&chat.message("kimse yok mu?")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    post_claim(&app, &a, chat.info.match_id).await;
    app.clock.advance(TimeDelta::hours(3));

    app.store.fail_points.arm("claim.before_refund");
    assert!(app.run_job(Job::Claims).await.is_err(), "the job dies after writing its verdict, before the refund");
    assert_eq!(claims_of(&app, &a).await[0]["status"], "pending", "the verdict rolled back with it");
    assert_eq!(bonus_text(&app, &a).await, 0);

    app.run_job(Job::Claims).await.unwrap();
    app.run_job(Job::Claims).await.unwrap();
    assert_eq!(claims_of(&app, &a).await[0]["status"], "approved");
    assert_eq!(bonus_text(&app, &a).await, 1);
}

async fn a_video_claim_is_approved_when_the_call_never_connected(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Video).await;
    let match_id = chat.info.match_id;
    post_claim(&app, &a, match_id).await;
    app.run_job(Job::Claims).await.unwrap();
    assert_eq!(claims_of(&app, &a).await[0]["status"], "pending", "the call may still connect");
    sa.send(&ClientFrame::MatchLeave { id: None, match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    app.run_job(Job::Claims).await.unwrap();
    assert_eq!(claims_of(&app, &a).await[0]["reason"], "the call never connected");
    let user = app.store.user_by_id(a.id).await.unwrap().unwrap();
    assert_eq!((user.daily_video_balance, user.bonus_video_balance), (2, 1), "refunded as a bonus video unit");
}

/// `n` reporters who count toward the automatic ban (verified phones, old enough, independent of each other:
/// tests/api/reporters.rs) are each matched with `target`, report them with the `report` frame and leave: the
/// path a reporter takes (the target spends a unit of theirs on each match). Moves the clock by days.
pub(crate) async fn reports_against(app: &TestApp, twilio: &Twilio, target: &TestUser, n: usize, tag: &str) {
    let reporters = crate::reporters::trusted_reporters(app, twilio, n, &format!("{tag}_")).await;
    crate::reporters::all_report(app, &reporters, target).await;
}

async fn the_tenth_distinct_reporter_bans_and_a_cleared_user_needs_ten_new_ones(backend: Backend) {
    // The target is matched twenty times in a day.
    let (app, twilio) = crate::twilio::spawn_with_sms(backend, |c| {
        c.quotas.free_text_daily = 20;
        crate::trust::no_quarantine(c);
    })
    .await;
    let mut target = app.user("hedef").await;
    let moderator = app.staff("denetci", "moderator").await;
    let mut socket = app.socket(&target).await;

    reports_against(&app, &twilio, &target, 9, "ilk").await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned, "9 reporters are not enough");
    reports_against(&app, &twilio, &target, 1, "onuncu").await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert_eq!(socket.closed().await, Some(CloseCode::Banned.code()), "exactly 10: banned and disconnected");
    let row = app.store.user_by_id(target.id).await.unwrap().unwrap();
    assert_eq!((row.is_banned, row.ban_reason.map(|r| r.as_str())), (true, Some("reports")));
    let logged = app.count(&format!(
        "SELECT COUNT(*) FROM system_logs WHERE action = 'user.banned' AND details LIKE '%auto_ban%' AND user_id = {}",
        target.id
    ));
    assert_eq!(logged.await, 1);
    let notified =
        app.count(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = {} AND type = 'system'", target.id));
    assert_eq!(notified.await, 1);

    // Non-moderators cannot lift it; a moderator can, and the old reports no longer count.
    let forbidden = app
        .client
        .post(app.url(&format!("/v1/admin/users/{}/unban", target.id)))
        .bearer_auth(app.access_token(&app.user("sade").await).await)
        .send();
    assert_error(forbidden.await.unwrap(), StatusCode::FORBIDDEN, "forbidden").await;
    let lifted = app
        .client
        .post(app.url(&format!("/v1/admin/users/{}/unban", target.id)))
        .bearer_auth(app.access_token(&moderator).await)
        .send();
    assert_eq!(lifted.await.unwrap().status(), StatusCode::NO_CONTENT);
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned, "not re-banned for old reports");
    // The ban signed every session out: the unbanned user signs in again, and is served.
    target.access = app.sign_in(&target).await;
    assert_eq!(app.get_me(&target.access).await.status(), StatusCode::OK);

    reports_against(&app, &twilio, &target, 9, "yeni").await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned);
    reports_against(&app, &twilio, &target, 1, "son").await;
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned, "ten new distinct reporters ban again");
}

async fn a_referral_is_rewarded_once_the_invited_phone_is_verified_with_an_optional_inviter_reward(backend: Backend) {
    let (app, twilio) = crate::twilio::spawn_with_sms(backend, |c| c.jobs.referral_inviter_bonus = 3).await;
    let inviter_phone = crate::helpers::new_phone();
    let inviter = app.register(&inviter_phone, "davetci").await;
    let invited_phone = crate::helpers::new_phone();
    let mut body = registration(&invited_phone, "davetli");
    body["referral_code"] = inviter["user"]["referral_code"].clone();
    let invited = app.register_body(&body).await;
    assert_eq!(invited.status(), StatusCode::CREATED);
    let invited_access = crate::helpers::tokens(&invited.json().await.unwrap()).0;
    let (inviter_id, invited_id) = (app.user_id(&inviter_phone).await, app.user_id(&invited_phone).await);
    let bonus = async |id| app.store.user_by_id(id).await.unwrap().unwrap().bonus_chat_balance;

    // An account with an unverified phone earns nothing, however long it waits (a made-up number would earn it).
    app.clock.advance(TimeDelta::minutes(10));
    app.run_job(Job::Referrals).await.unwrap();
    assert_eq!(bonus(invited_id).await, 0, "not confirmed yet");
    // The inviter's verified phone is not what counts.
    let inviter_access = crate::helpers::tokens(&inviter).0;
    assert_eq!(crate::phone_codes::request_verification(&app, &inviter_access).await.status(), StatusCode::ACCEPTED);
    let code = twilio.code_to(&inviter_phone);
    assert_eq!(crate::phone_codes::verify(&app, &inviter_access, &code).await.status(), StatusCode::OK);
    app.run_job(Job::Referrals).await.unwrap();
    assert_eq!(bonus(invited_id).await, 0, "still not confirmed");

    assert_eq!(crate::phone_codes::request_verification(&app, &invited_access).await.status(), StatusCode::ACCEPTED);
    let code = twilio.code_to(&invited_phone);
    assert_eq!(crate::phone_codes::verify(&app, &invited_access, &code).await.status(), StatusCode::OK);
    app.run_job(Job::Referrals).await.unwrap();
    app.run_job(Job::Referrals).await.unwrap();
    assert_eq!(bonus(invited_id).await, 10, "+10 once");
    assert_eq!(bonus(inviter_id).await, 3, "and the configured inviter reward");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM referrals WHERE reward_given = TRUE AND rewarded_at IS NOT NULL").await,
        1
    );
}

/// SQLite's expiry deletes content row by row; PostgreSQL's drops a day's partition (tests/api/partitions.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_older_than_24_hours_is_deleted_in_batches_and_logs_stay() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.hub.message_burst = 2000;
        c.hub.messages_per_second = 2000;
    })
    .await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    for _ in 0..1100 {
        sa.send(&chat.message("eski")).await.unwrap();
    }
    let mut accepted = 0;
    while accepted < 1100 {
        accepted += usize::from(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    }
    app.clock.advance(TimeDelta::hours(1));
    sa.send(&chat.message("yeni")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();

    app.clock.advance(TimeDelta::hours(23));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1101, "exactly 24 h old: kept");
    app.clock.advance(TimeDelta::microseconds(1));
    // Each batch commits on its own: the job, stopped before each delete, shows what the ones before committed.
    let mut next = Some(app.store.fail_points.hold("expiry.before_delete"));
    let watch = async {
        let mut before_each = Vec::new();
        for batch in 1..=3 {
            let mut held = next.take().expect("a hold for this delete");
            tokio::time::timeout(std::time::Duration::from_secs(10), held.reached()).await.unwrap_or_else(|_| {
                panic!("no delete number {batch}; counts before the earlier ones: {before_each:?}")
            });
            before_each.push(app.count("SELECT COUNT(*) FROM messages").await);
            // The third batch is short, which ends the job: nothing is held after it.
            if batch < 3 {
                next = Some(app.store.fail_points.hold("expiry.before_delete"));
            }
            held.release();
        }
        before_each
    };
    let (ran, before_each) = tokio::join!(app.run_job(Job::Expiry), watch);
    ran.unwrap();
    assert_eq!(before_each, [1101, 601, 101], "1100 deleted in transactions of 500, 500 and 100");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM message_logs").await, 1101, "the metadata stays");
}

async fn expired_matches_end_and_their_users_are_told(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    app.clock.advance(TimeDelta::hours(24) - TimeDelta::seconds(1));
    app.run_job(Job::Expiry).await.unwrap();
    assert!(app.store.active_match_for(a.id).await.unwrap().is_some());
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::Expiry).await.unwrap();
    let ended = ServerFrame::MatchEnded { id: None, match_id: chat.info.match_id, reason: EndReason::Expired };
    assert_eq!(sa.next().await.unwrap(), ended);
    assert_eq!(sb.next().await.unwrap(), ended);
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'expired'").await, 1);
    // Free to look for someone new.
    sa.send(&ClientFrame::MatchFind {
        id: None,
        kind: MatchKind::Text,
        public_key: tanis_client::Identity::generate().public_key_b64(),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    })
    .await
    .unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
}

async fn daily_balances_reset_at_istanbul_midnight_once_and_bonus_units_stay(backend: Backend) {
    let app = spawn_app(backend).await;
    let (free, premium) = (app.user("bedava").await, app.user("premium").await);
    // The free user's day: a text match, and a video match whose call never connected, claimed back as a bonus
    // video unit. The premium user subscribes, then spends a text unit.
    app.match_and_leave(&free, MatchKind::Text).await;
    let video = app.match_and_leave(&free, MatchKind::Video).await;
    assert_eq!(post_claim(&app, &free, video).await.status(), StatusCode::CREATED);
    app.run_job(Job::Claims).await.unwrap();
    app.subscribe(premium.id, app.now() + TimeDelta::days(30)).await;
    app.match_and_leave(&premium, MatchKind::Text).await;
    let balances = async |u: &TestUser| {
        let r = app.store.user_by_id(u.id).await.unwrap().unwrap();
        (r.daily_chat_balance, r.daily_video_balance, r.bonus_video_balance)
    };
    assert_eq!(balances(&free).await, (9, 2, 1));
    assert_eq!(balances(&premium).await, (49, 15, 0));

    // Registered at 12:30 in Istanbul; 23:59:59 there is 20:59:59 UTC: the same local day, no reset.
    app.clock.set(at("2026-11-21T20:59:59Z"));
    app.run_job(Job::QuotaReset).await.unwrap();
    assert_eq!(balances(&free).await, (9, 2, 1));
    app.clock.set(at("2026-11-21T21:00:00Z"));
    app.run_job(Job::QuotaReset).await.unwrap();
    assert_eq!(balances(&free).await, (10, 3, 1), "free amounts back, bonus untouched");
    assert_eq!(balances(&premium).await, (50, 15, 0), "premium amounts");
    // Spent after the reset, then a retried run the same night: nothing changes.
    app.match_and_leave(&free, MatchKind::Text).await;
    app.clock.set(at("2026-11-21T21:05:00Z"));
    app.run_job(Job::QuotaReset).await.unwrap();
    assert_eq!(balances(&free).await, (9, 3, 1));
}

async fn premium_follows_active_subscriptions(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("abone").await;
    app.subscribe(user.id, app.now() + TimeDelta::hours(1)).await;
    let premium = async || app.store.user_by_id(user.id).await.unwrap().unwrap().is_premium;
    app.run_job(Job::Subscriptions).await.unwrap();
    assert!(premium().await);
    app.clock.advance(TimeDelta::minutes(59));
    app.run_job(Job::Subscriptions).await.unwrap();
    assert!(premium().await);
    app.clock.advance(TimeDelta::minutes(1));
    app.run_job(Job::Subscriptions).await.unwrap();
    assert!(!premium().await);
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions WHERE is_active = FALSE").await, 1);
}

async fn a_failing_job_is_counted_and_the_server_keeps_serving(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&chat.message("?")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    post_claim(&app, &a, chat.info.match_id).await;
    app.clock.advance(TimeDelta::hours(3));
    app.store.fail_points.arm("claim.before_refund");
    assert!(app.run_job(Job::Claims).await.is_err());
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"tanis_jobs_total{job="claims",outcome="failed"}"#), "{metrics}");
}
