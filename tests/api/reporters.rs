//! Reporters as the trust rules see them (docs/admin.md "Trust"), made through the product's doors: accounts
//! whose phones proved themselves with the code the SMS stand-in received, aged on the manual clock, reporting
//! over sockets that come through the proxy from a chosen address.

use chrono::TimeDelta;
use reqwest::StatusCode;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, MatchKind, ReportReason, ServerFrame};

use crate::helpers::{TestApp, TestUser};
use crate::twilio::Twilio;

/// A new account whose phone is verified with the code its registration sent.
pub(crate) async fn verified_user(app: &TestApp, twilio: &Twilio, alias: &str) -> TestUser {
    let user = app.user(alias).await;
    let code = twilio.code_to(&user.phone);
    let verified = crate::phone_codes::verify(app, &app.access_token(&user).await, &code).await;
    assert_eq!(verified.status(), StatusCode::OK, "{alias}'s phone is verified");
    user
}

/// `n` reporters who count: verified, their accounts made a day and an hour apart (so no three of them were
/// created within `trust.burst_created_within_hours`), and old enough when this returns.
pub(crate) async fn trusted_reporters(app: &TestApp, twilio: &Twilio, n: usize, tag: &str) -> Vec<TestUser> {
    let mut reporters = Vec::new();
    for i in 0..n {
        reporters.push(verified_user(app, twilio, &format!("{tag}{i}")).await);
        app.clock.advance(TimeDelta::hours(25));
    }
    past_minimum_age(app);
    reporters
}

/// Moves the clock past `trust.reporter_min_account_age_hours`.
pub(crate) fn past_minimum_age(app: &TestApp) {
    app.clock.advance(TimeDelta::hours(app.config.trust.reporter_min_account_age_hours.into()));
}

/// An address of the user's own /24 (`10.x.y.7`, from their id): no two users of a test share one.
pub(crate) fn own_range(user: &TestUser) -> String {
    let id = user.id.get();
    format!("10.{}.{}.7", id / 256 % 256, id % 256)
}

/// `user`'s socket as if through the proxy (which the tests' loopback plays) from `ip`.
pub(crate) async fn socket_from(app: &TestApp, user: &TestUser, ip: &str) -> Connection {
    let headers = [("x-forwarded-for", ip.to_owned())];
    let (socket, _hello) = Connection::connect_with_headers(&app.ws_url(), &app.access_token(user).await, &headers)
        .await
        .expect("the socket opens with hello");
    socket
}

/// `reporter`, connected from `ip`, is matched with `reported`, reports them (harassment, a bare claim) and leaves.
pub(crate) async fn report_from(app: &TestApp, reporter: &TestUser, reported: &TestUser, ip: &str) {
    report_from_with(app, reporter, reported, ip, ReportReason::Harassment, false).await;
}

/// [`report_from`] an address of the reporter's own range, for `reason`, revealing a franked message `reported`
/// sent when `reveal` (verified evidence, src/domain/evidence.rs).
pub(crate) async fn report_with(
    app: &TestApp,
    reporter: &TestUser,
    reported: &TestUser,
    reason: ReportReason,
    reveal: bool,
) {
    report_from_with(app, reporter, reported, &own_range(reporter), reason, reveal).await;
}

async fn report_from_with(
    app: &TestApp,
    reporter: &TestUser,
    reported: &TestUser,
    ip: &str,
    reason: ReportReason,
    reveal: bool,
) {
    let mut sr = socket_from(app, reporter, ip).await;
    let mut st = app.socket(reported).await;
    let (chat_r, chat_t) = tokio::join!(Chat::find(&mut sr, MatchKind::Text), Chat::find(&mut st, MatchKind::Text));
    let (mut chat_r, mut chat_t) = (chat_r.expect("the reporter is matched"), chat_t.unwrap());
    let seqs = if reveal {
        let text = format!("kaba söz {}", reporter.handle);
        crate::evidence::said((&mut sr, &mut chat_r), (&mut st, &mut chat_t), &[&text]).await
    } else {
        Vec::new()
    };
    sr.send(&chat_r.report(reason, None, &seqs).unwrap()).await.unwrap();
    assert_eq!(crate::evidence::answer(&mut sr).await, ServerFrame::Ok { id: Some("report".into()) });
    sr.send(&ClientFrame::MatchLeave { id: Some("left".into()), match_id: chat_r.info.match_id }).await.unwrap();
    assert_eq!(crate::evidence::answer(&mut sr).await, ServerFrame::Ok { id: Some("left".into()) });
}

/// Each of `reporters` reports `reported` from an address range of their own.
pub(crate) async fn all_report(app: &TestApp, reporters: &[TestUser], reported: &TestUser) {
    for reporter in reporters {
        report_from(app, reporter, reported, &own_range(reporter)).await;
    }
}

/// Whether the store has the user banned.
pub(crate) async fn is_banned(app: &TestApp, user: &TestUser) -> bool {
    app.store.user_by_id(user.id).await.unwrap().unwrap().is_banned
}
