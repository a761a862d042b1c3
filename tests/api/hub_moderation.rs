//! Blocking, reporting, typing and bans over the hub.

use chrono::TimeDelta;
use reqwest::StatusCode;
use tanis_client::ClientError;
use tanis_proto::{ClientFrame, CloseCode, EndReason, ErrorCode, MatchKind, ReportReason, ServerFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    blocking_ends_the_match_at_once_and_the_block_can_be_listed_and_lifted,
    a_report_needs_a_shared_match_and_counts_once_per_reporter,
    typing_reaches_the_peer_only_while_the_match_is_active,
    a_ban_closes_every_socket_of_the_user_and_ends_their_match,
    every_error_frame_queued_before_a_protocol_abuse_close_arrives_before_it,
    a_live_ban_by_a_moderator_delivers_match_ended_before_the_4003_close,
    a_moderator_ban_and_its_audit_row_commit_together_or_not_at_all,
);

async fn blocking_ends_the_match_at_once_and_the_block_can_be_listed_and_lifted(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    sa.send(&ClientFrame::Block { id: Some("b".into()), match_id }).await.unwrap();
    assert_eq!(sb.next().await.unwrap(), ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::PeerLeft });
    assert_eq!(sa.next().await.unwrap(), ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::Blocked });
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Ok { id: Some("b".into()) });

    let (_, blocks) = app.get_json("/v1/blocks", &a.access).await;
    assert_eq!(blocks[0]["handle"], b.handle.as_str());
    let (_, theirs) = app.get_json("/v1/blocks", &b.access).await;
    assert_eq!(theirs, serde_json::json!([]), "the blocked side does not see the block");
    let id = blocks[0]["id"].as_i64().unwrap();
    // Past the recent-partner window, the block alone keeps them apart, whichever of them the node cached.
    app.clock.advance(TimeDelta::hours(24) + TimeDelta::seconds(1));
    let find = |id: &str| ClientFrame::MatchFind {
        id: Some(id.into()),
        kind: MatchKind::Text,
        public_key: tanis_client::Identity::generate().public_key_b64(),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    };
    for (socket, id) in [(&mut sa, "a"), (&mut sb, "b")] {
        socket.send(&find(id)).await.unwrap();
        assert!(matches!(
            socket.next_where(|f| !matches!(f, ServerFrame::Ok { .. })).await.unwrap(),
            ServerFrame::MatchQueued { .. }
        ));
    }
    for socket in [&mut sa, &mut sb] {
        socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
        let cancelled = socket.next().await.unwrap();
        assert!(matches!(cancelled, ServerFrame::MatchCancelled { .. }), "never paired while blocked: {cancelled:?}");
    }
    // A day later: fresh access tokens.
    let (a_access, b_access) = (app.access_token(&a).await, app.access_token(&b).await);
    let foreign = app.client.delete(app.url(&format!("/v1/blocks/{id}"))).bearer_auth(&b_access).send().await.unwrap();
    assert_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    let lifted = app.client.delete(app.url(&format!("/v1/blocks/{id}"))).bearer_auth(&a_access).send().await.unwrap();
    assert_eq!(lifted.status(), StatusCode::NO_CONTENT);

    // Lifted, they can meet again: the standing both cached with the block is gone.
    let (_, again, _, _) = app.pair(&a, &b, MatchKind::Text).await;
    assert_eq!(again.info.peer, b.handle);
}

async fn a_report_needs_a_shared_match_and_counts_once_per_reporter(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    let report = |id: &str| ClientFrame::Report {
        id: Some(id.into()),
        match_id,
        reason_code: ReportReason::Harassment,
        details: Some("kaba".into()),
        evidence: Vec::new(),
    };
    let mut outsider = app.socket(&c).await;
    outsider.send(&report("x")).await.unwrap();
    assert!(matches!(outsider.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotMatched, .. }));

    sa.send(&report("r1")).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Ok { id: Some("r1".into()) });
    sa.send(&report("r2")).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Ok { id: Some("r2".into()) });
    let long = ClientFrame::Report {
        id: Some("r3".into()),
        match_id,
        reason_code: ReportReason::Other,
        details: Some("x".repeat(1001)),
        evidence: Vec::new(),
    };
    sa.send(&long).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::InvalidField, .. }));

    let rows = app.count(&format!(
        "SELECT COUNT(*) FROM reports WHERE reporter_id = {} AND reported_id = {} AND reason = 'harassment' AND match_id = {match_id}",
        a.id, b.id
    ))
    .await;
    assert_eq!(rows, 1);
}

async fn typing_reaches_the_peer_only_while_the_match_is_active(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    sa.send(&ClientFrame::Typing { id: None, match_id }).await.unwrap();
    assert_eq!(sb.next().await.unwrap(), ServerFrame::Typing { match_id });
    sb.send(&ClientFrame::MatchLeave { id: None, match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    sa.send(&ClientFrame::Typing { id: Some("t".into()), match_id }).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotInMatch, .. }));
}

async fn a_ban_closes_every_socket_of_the_user_and_ends_their_match(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let mut tablet = app.socket(&a).await;
    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, a.id, "spam").await;
    assert_eq!(sa.closed().await, Some(CloseCode::Banned.code()));
    assert_eq!(tablet.closed().await, Some(CloseCode::Banned.code()));
    let ended = ServerFrame::MatchEnded { id: None, match_id: chat.info.match_id, reason: EndReason::Banned };
    assert_eq!(sb.next().await.unwrap(), ended);
}

async fn every_error_frame_queued_before_a_protocol_abuse_close_arrives_before_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let limit = app.config.hub.max_protocol_errors as usize;
    let user = app.user("kediadam").await;
    let mut socket = app.socket(&user).await;
    // Back to back, without reading: the last one crosses the limit while the others are still queued.
    for n in 0..=limit {
        socket.send_raw(Message::Text(format!(r#"{{"type":"no.such","id":"e{n}"}}"#).into())).await.unwrap();
    }
    for n in 0..=limit {
        match socket.next().await {
            Ok(ServerFrame::Error { id, code: ErrorCode::InvalidFrame, .. }) => {
                assert_eq!(id, Some(format!("e{n}")), "in order")
            }
            other => panic!("error frame {n} of {} before the close, got {other:?}", limit + 1),
        }
    }
    assert!(matches!(socket.next().await, Err(ClientError::Closed { code: Some(4004), .. })));
}

async fn a_live_ban_by_a_moderator_delivers_match_ended_before_the_4003_close(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, moderator) = (app.user("kedi").await, app.user("kopek").await, app.user("denetci").await);
    app.store.set_role(moderator.id, tanis::domain::Role::Moderator, app.now()).await.unwrap();
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let banned = app
        .client
        .post(app.url(&format!("/v1/admin/users/{}/ban", a.id)))
        .bearer_auth(app.access_token(&moderator).await)
        .json(&serde_json::json!({ "reason": "spam" }))
        .send()
        .await
        .unwrap();
    assert_eq!(banned.status(), StatusCode::NO_CONTENT);
    let ended = ServerFrame::MatchEnded { id: None, match_id: chat.info.match_id, reason: EndReason::Banned };
    assert_eq!(sa.next().await.unwrap(), ended, "the banned user is told their match ended before the close");
    assert!(matches!(sa.next().await, Err(ClientError::Closed { code: Some(4003), .. })));
    assert_eq!(sb.next().await.unwrap(), ended);
}

async fn a_moderator_ban_and_its_audit_row_commit_together_or_not_at_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let (target, moderator) = (app.user("hedef").await, app.user("denetci").await);
    app.store.set_role(moderator.id, tanis::domain::Role::Moderator, app.now()).await.unwrap();
    let ban = || {
        app.client
            .post(app.url(&format!("/v1/admin/users/{}/ban", target.id)))
            .bearer_auth(&moderator.access)
            .json(&serde_json::json!({ "reason": "spam" }))
            .send()
    };
    let audit = || {
        app.count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'user.banned' AND user_id = {} \
             AND details LIKE '%\"moderator\":{}%'",
            target.id, moderator.id
        ))
    };

    // A crash between the ban and its audit row: neither is there.
    app.store.fail_points.arm("ban.before_audit");
    assert_error(ban().await.unwrap(), StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert!(!app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned, "no ban without its audit row");
    assert_eq!(audit().await, 0);

    assert_eq!(ban().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned);
    assert_eq!(audit().await, 1, "one audit row naming the moderator");
}
