//! Matching rules and quotas, over real sockets.

use chrono::TimeDelta;
use tanis_client::{Connection, Identity};
use tanis_proto::{ClientFrame, EndReason, ErrorCode, MatchId, MatchKind, ServerFrame};

use crate::helpers::{Backend, STANDARD_COMMITMENT, TestApp, TestUser, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    two_strangers_are_paired_with_each_others_handle_key_and_one_initiator,
    a_match_spends_one_unit_from_each_side_daily_before_bonus,
    an_exhausted_quota_is_refused_with_the_reset_time_and_nothing_is_queued,
    concurrent_finds_from_several_sockets_of_one_user_spend_one_unit_for_one_match,
    blocked_and_recent_partners_are_not_paired_and_the_oldest_compatible_waiter_is,
    leaving_the_queue_by_cancel_or_disconnect_means_not_being_paired,
    leaving_a_match_tells_the_peer_and_records_completed_or_cancelled,
    nearby_seekers_get_the_closest_partner_and_the_radius_widens_while_waiting,
    a_reconnecting_user_is_told_their_active_match_in_hello,
    the_reference_client_finds_again_past_the_end_of_its_previous_match,
    many_simultaneous_seekers_are_each_paired_once_and_charged_once,
    the_standing_cached_for_find_follows_the_store_both_ways,
    a_match_left_before_its_second_side_hears_it_open_is_shown_ended_and_frees_that_side,
);

fn find(kind: MatchKind, id: &str) -> ClientFrame {
    ClientFrame::MatchFind {
        id: Some(id.into()),
        kind,
        public_key: Identity::generate().public_key_b64(),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    }
}

/// Queues `user` for a text match on a new socket and waits for `match.queued`.
async fn queued(app: &TestApp, user: &TestUser) -> Connection {
    let mut socket = app.socket(user).await;
    socket.send(&find(MatchKind::Text, "q")).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    socket
}

async fn found(socket: &mut Connection) -> tanis_proto::MatchInfo {
    match socket.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap() {
        ServerFrame::MatchFound { info, .. } => info,
        other => panic!("expected match.found, got {other:?}"),
    }
}

async fn two_strangers_are_paired_with_each_others_handle_key_and_one_initiator(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (_sa, chat_a, _sb, chat_b) = app.pair(&a, &b, MatchKind::Text).await;

    assert_eq!(chat_a.info.match_id, chat_b.info.match_id);
    assert_eq!((chat_a.info.peer.as_str(), chat_b.info.peer.as_str()), (b.handle.as_str(), a.handle.as_str()));
    assert_ne!(chat_a.info.initiator, chat_b.info.initiator, "exactly one side initiates");
    assert_eq!(chat_a.info.expires_at, app.now() + TimeDelta::hours(24));
    assert_eq!(chat_a.e2e.safety_number(), chat_b.e2e.safety_number(), "both derive the same safety number");
    let stored = app.store.active_match_for(a.id).await.unwrap().unwrap();
    assert_eq!((stored.kind.as_str(), stored.status.as_str()), ("text", "active"));
}

/// `user` writes in a new match, leaves, and claims the unit back: nobody answered in two hours, so the claims
/// job refunds a bonus text unit. Moves the clock two hours on.
async fn earn_a_bonus_text_unit(app: &TestApp, user: &TestUser) {
    let partner = app.user("sessiz").await;
    let (mut socket, mut chat, _partner_socket, _) = app.pair(user, &partner, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    socket.send(&chat.message("orada mısın?")).await.unwrap();
    socket.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    socket.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    socket.next_where(|f| *f == ServerFrame::Ok { id: Some("l".into()) }).await.unwrap();
    socket.send(&ClientFrame::Claim { id: Some("c".into()), match_id }).await.unwrap();
    socket.next_where(|f| *f == ServerFrame::Ok { id: Some("c".into()) }).await.unwrap();
    app.clock.advance(TimeDelta::hours(2) + TimeDelta::seconds(1));
    app.run_job(tanis_workers::schedule::Job::Claims).await.unwrap();
}

async fn a_match_spends_one_unit_from_each_side_daily_before_bonus(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.quotas.free_text_daily = 3).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    // a's day so far: two matches nobody answered, each claimed back: one daily unit left and two bonus units.
    earn_a_bonus_text_unit(&app, &a).await;
    earn_a_bonus_text_unit(&app, &a).await;

    let mut sa = queued(&app, &a).await;
    let mut sb = queued(&app, &b).await;
    let ServerFrame::MatchFound { balances, info, .. } = sa.next().await.unwrap() else { panic!("match.found") };
    assert_eq!((balances.daily_text, balances.bonus_text), (0, 2), "the daily unit goes first");
    let ServerFrame::MatchFound { balances: theirs, .. } = sb.next().await.unwrap() else { panic!("match.found") };
    assert_eq!(theirs.daily_text, 2);

    sa.send(&ClientFrame::MatchLeave { id: None, match_id: info.match_id }).await.unwrap();
    // Just past the recent-partner window (24 h), not far past it.
    app.clock.advance(TimeDelta::hours(24) + TimeDelta::seconds(1));
    let c = app.user("kus").await;
    let _sc = queued(&app, &c).await;
    sa.send(&find(MatchKind::Text, "again")).await.unwrap();
    let ServerFrame::MatchFound { balances, .. } =
        sa.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap()
    else {
        unreachable!()
    };
    assert_eq!((balances.daily_text, balances.bonus_text), (0, 1), "then a bonus unit");
}

async fn an_exhausted_quota_is_refused_with_the_reset_time_and_nothing_is_queued(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.user("kedi").await;
    for _ in 0..app.config.quotas.free_video_daily {
        app.match_and_leave(&a, MatchKind::Video).await;
    }
    let mut socket = app.socket(&a).await;
    socket.send(&find(MatchKind::Video, "v")).await.unwrap();
    let ServerFrame::Error { id, code, resets_at, .. } = socket.next().await.unwrap() else { panic!("an error") };
    assert_eq!((id.as_deref(), code), (Some("v"), ErrorCode::QuotaExhausted));
    // The test clock is 09:30 UTC = 12:30 in Istanbul: units return at 21:00 UTC, Istanbul's midnight.
    assert_eq!(resets_at.unwrap().to_rfc3339(), "2026-11-21T21:00:00+00:00");
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotQueued, .. }));
    // Text units are separate and still there.
    socket.send(&find(MatchKind::Text, "t")).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
}

async fn concurrent_finds_from_several_sockets_of_one_user_spend_one_unit_for_one_match(backend: Backend) {
    // One unit a day: a second match would find none.
    let app = spawn_app_with(backend, |c| c.quotas.free_text_daily = 1).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let mut sockets = vec![app.socket(&a).await, app.socket(&a).await, app.socket(&a).await];
    let sends = sockets.iter_mut().enumerate().map(|(i, s)| async move {
        s.send(&find(MatchKind::Text, &format!("s{i}"))).await.unwrap();
    });
    futures_util::future::join_all(sends).await;
    // Each socket gets exactly one answer, and only its own: one was queued, the others were told.
    let (mut queued_answers, mut refused) = (0, 0);
    for socket in &mut sockets {
        match socket.next().await.unwrap() {
            ServerFrame::MatchQueued { .. } => queued_answers += 1,
            ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. } => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((queued_answers, refused), (1, 2));

    let mut sb = app.socket(&b).await;
    sb.send(&find(MatchKind::Text, "b")).await.unwrap();
    let info = found(&mut sb).await;
    assert_eq!(info.peer, a.handle);
    for socket in &mut sockets {
        // Every socket of the user sees the one match.
        assert_eq!(found(socket).await.match_id, info.match_id);
    }
    let user = app.store.user_by_id(a.id).await.unwrap().unwrap();
    assert_eq!((user.daily_chat_balance, user.bonus_chat_balance), (0, 0));
    assert_eq!(
        app.count(&format!("SELECT COUNT(*) FROM matches WHERE user1_id = {0} OR user2_id = {0}", a.id)).await,
        1
    );
}

async fn blocked_and_recent_partners_are_not_paired_and_the_oldest_compatible_waiter_is(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c, d) = (app.user("aa_a").await, app.user("bb_b").await, app.user("cc_c").await, app.user("dd_d").await);
    // a and b meet once; a blocks b. c and d meet once and leave (recent partners).
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&ClientFrame::Block { id: Some("blk".into()), match_id: chat.info.match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    let (mut sc, chat, _sd, _) = app.pair(&c, &d, MatchKind::Text).await;
    sc.send(&ClientFrame::MatchLeave { id: None, match_id: chat.info.match_id }).await.unwrap();
    sc.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    // No clock jump: both pairs are recent partners now, so the rules below are seen inside the 24 h window
    // (the window's boundary itself: tests/api/recent_partners.rs).

    // Queue in order a, b, c: b may not meet a (blocked), so b waits; c meets a, the oldest waiter.
    let mut qa = queued(&app, &a).await;
    let mut qb = queued(&app, &b).await;
    let mut qc = app.socket(&c).await;
    qc.send(&find(MatchKind::Text, "c")).await.unwrap();
    assert_eq!(found(&mut qc).await.peer, a.handle);
    assert_eq!(found(&mut qa).await.peer, c.handle);
    // d meets b, the only waiter left (d's recent partner c is taken anyway).
    let mut qd = app.socket(&d).await;
    qd.send(&find(MatchKind::Text, "d")).await.unwrap();
    assert_eq!(found(&mut qd).await.peer, b.handle);
    assert_eq!(found(&mut qb).await.peer, d.handle);
}

async fn leaving_the_queue_by_cancel_or_disconnect_means_not_being_paired(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let mut sa = queued(&app, &a).await;
    sa.send(&ClientFrame::MatchCancel { id: Some("x".into()) }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::MatchCancelled { id: Some("x".into()) });
    let sb = queued(&app, &b).await;
    drop(sb);
    // The server learns of the disconnect asynchronously: wait until it has (the socket's slot is released after
    // its queue entry's removal was handed to the matchmaker, which handles commands in order), or c could
    // still be paired with b's entry.
    crate::helpers::eventually(std::time::Duration::from_secs(10), "b's socket is closed", || async {
        app.hub.connections() == 1
    })
    .await;
    // c finds nobody: a cancelled and b disconnected. Then a asks again and meets c.
    let mut sc = queued(&app, &c).await;
    sa.send(&find(MatchKind::Text, "again")).await.unwrap();
    assert_eq!(found(&mut sa).await.peer, c.handle);
    assert_eq!(found(&mut sc).await.peer, a.handle);
    let b_row = app.store.user_by_id(b.id).await.unwrap().unwrap();
    assert_eq!(b_row.daily_chat_balance, 10, "b spent nothing");
}

async fn leaving_a_match_tells_the_peer_and_records_completed_or_cancelled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, _chat_a, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let silent = app.store.active_match_for(a.id).await.unwrap().unwrap().id;
    sa.send(&ClientFrame::MatchLeave { id: Some("bye".into()), match_id: silent }).await.unwrap();
    let ended = ServerFrame::MatchEnded { id: None, match_id: silent, reason: EndReason::PeerLeft };
    assert_eq!(sb.next().await.unwrap(), ended);
    assert_eq!(
        sa.next().await.unwrap(),
        ServerFrame::MatchEnded { id: None, match_id: silent, reason: EndReason::Left }
    );
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Ok { id: Some("bye".into()) });
    sa.send(&ClientFrame::MatchLeave { id: Some("again".into()), match_id: silent }).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotInMatch, .. }));

    // Just past the recent-partner window (24 h), not far past it.
    app.clock.advance(TimeDelta::hours(24) + TimeDelta::seconds(1));
    let (mut sa, mut chat_a, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&chat_a.message("merhaba")).await.unwrap();
    sb.next_where(|f| matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    sb.send(&ClientFrame::MatchLeave { id: None, match_id: chat_a.info.match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    let statuses = app.count(&format!(
        "SELECT COUNT(*) FROM matches WHERE (id = {silent} AND status = 'cancelled') OR (id = {} AND status = 'completed')",
        chat_a.info.match_id
    ))
    .await;
    assert_eq!(statuses, 2);
}

async fn nearby_seekers_get_the_closest_partner_and_the_radius_widens_while_waiting(backend: Backend) {
    let app = spawn_app(backend).await;
    // Each sets their location in their profile, as the app does.
    let place = async |user: &TestUser, (lat, lon): (f64, f64)| {
        let at = app.patch_me(&user.access, &serde_json::json!({ "location": { "lat": lat, "lon": lon } })).await;
        assert_eq!(at.status(), reqwest::StatusCode::OK);
    };
    let (ankara, istanbul, kadikoy, izmir) =
        (app.user("ankara").await, app.user("istanbul").await, app.user("kadikoy").await, app.user("izmir").await);
    place(&ankara, (39.9334, 32.8597)).await;
    place(&istanbul, (41.0082, 28.9784)).await;
    place(&kadikoy, (40.9901, 29.0290)).await;
    place(&izmir, (38.4237, 27.1428)).await;
    let near = |id: &str| ClientFrame::MatchFind {
        id: Some(id.into()),
        kind: MatchKind::Text,
        public_key: Identity::generate().public_key_b64(),
        nearby: true,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    };
    let mut s_ankara = app.socket(&ankara).await;
    s_ankara.send(&near("a")).await.unwrap();
    s_ankara.next().await.unwrap();
    let mut s_istanbul = app.socket(&istanbul).await;
    s_istanbul.send(&near("i")).await.unwrap();
    s_istanbul.next().await.unwrap();
    // Ankara waited longer, but Kadıköy (4.5 km) gets Istanbul, the closest.
    let mut s_kadikoy = app.socket(&kadikoy).await;
    s_kadikoy.send(&near("k")).await.unwrap();
    assert_eq!(found(&mut s_kadikoy).await.peer, istanbul.handle);
    // Izmir (~520 km from Ankara) is out of the 5 km start radius; after 10 minutes it covers anything.
    let mut s_izmir = app.socket(&izmir).await;
    s_izmir.send(&near("z")).await.unwrap();
    assert!(matches!(s_izmir.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    app.clock.advance(TimeDelta::minutes(10));
    assert_eq!(found(&mut s_izmir).await.peer, ankara.handle, "the periodic sweep pairs them");
}

async fn a_reconnecting_user_is_told_their_active_match_in_hello(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (sa, chat_a, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    drop(sa);
    let (_, hello) = app.connect(&a).await;
    let ServerFrame::Hello { active_match, balances, .. } = hello else { panic!("hello") };
    assert_eq!(active_match, Some(chat_a.info));
    assert_eq!(balances.daily_text, 9);
}

/// `match.ended` of the previous match can still be unread when the app asks for the next one (the peer left
/// a moment ago): `Chat::find` must wait past it for its own answer.
async fn the_reference_client_finds_again_past_the_end_of_its_previous_match(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let (mut sa, chat_a, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    sa.send(&ClientFrame::MatchLeave { id: Some("bye".into()), match_id: chat_a.info.match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    // b has not read its match.ended yet.
    let mut sc = app.socket(&c).await;
    let (found_b, found_c) = tokio::join!(
        tanis_client::Chat::find(&mut sb, MatchKind::Text),
        tanis_client::Chat::find(&mut sc, MatchKind::Text)
    );
    let (found_b, found_c) = (found_b.expect("b is matched again"), found_c.expect("c is matched"));
    assert_eq!(found_b.info.match_id, found_c.info.match_id);
    assert_ne!(found_b.info.match_id, chat_a.info.match_id);
}

/// Many finds arriving at once (which the matchmaker pairs in memory and opens in shared transactions): each
/// user ends up in exactly one match, with exactly one unit spent. That a batch opens its pairs together, and
/// that a refused pair charges nobody, is shown at the store in `store_batches`.
async fn many_simultaneous_seekers_are_each_paired_once_and_charged_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut users = Vec::new();
    for i in 0..24 {
        users.push(app.user(&format!("kisi{i}")).await);
    }
    let before = app.store.user_by_id(users[0].id).await.unwrap().unwrap().daily_chat_balance;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(app.socket(user).await);
    }
    let finds = sockets.iter_mut().map(|s| tanis_client::Chat::find(s, MatchKind::Text));
    let chats: Vec<_> = futures_util::future::join_all(finds).await.into_iter().map(|c| c.expect("matched")).collect();
    let mut by_match = std::collections::HashMap::<MatchId, usize>::new();
    for chat in &chats {
        *by_match.entry(chat.info.match_id).or_default() += 1;
    }
    assert_eq!(by_match.len(), 12, "twelve matches");
    assert!(by_match.values().all(|n| *n == 2), "two users in each: {by_match:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM matches WHERE status = 'active'").await, 12);
    for user in &users {
        let after = app.store.user_by_id(user.id).await.unwrap().unwrap().daily_chat_balance;
        assert_eq!(after, before - 1, "one unit spent by {}", user.handle);
    }
}

/// `match.find` answers from what the node cached of the user (balances, blocks, recent partners), never from a
/// stale copy: a refund made behind its back (a job in another process) is seen, and spending behind its back is
/// refused when the match is created.
async fn the_standing_cached_for_find_follows_the_store_both_ways(backend: Backend) {
    // One unit a day.
    let app = spawn_app_with(backend, |c| c.quotas.free_text_daily = 1).await;
    let (a, b, c, d) =
        (app.user("kedi").await, app.user("kopek").await, app.user("kus").await, app.user("atlas").await);
    let mut sa = queued(&app, &a).await;
    let _sb = queued(&app, &b).await;
    let info = found(&mut sa).await;
    // a writes, b never answers, a leaves and claims the unit back.
    let (match_id, ciphertext, nonce) = (info.match_id, "c2lmcmVsaQ==".into(), "bm9uY2U=".into());
    let commitment = STANDARD_COMMITMENT.into();
    let send = ClientFrame::MsgSend {
        id: None,
        match_id,
        client_msg_id: "m1".into(),
        ciphertext,
        nonce,
        commitment,
        ack: None,
    };
    sa.send(&send).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    sa.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    sa.next_where(|f| *f == ServerFrame::Ok { id: Some("l".into()) }).await.unwrap();
    sa.send(&ClientFrame::Claim { id: Some("claim".into()), match_id }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Ok { id: Some("claim".into()) });

    // The match spent the last unit: refused without queueing.
    sa.send(&find(MatchKind::Text, "empty")).await.unwrap();
    let refused = sa.next_where(|f| matches!(f, ServerFrame::Error { .. })).await.unwrap();
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::QuotaExhausted, .. }), "{refused:?}");

    // The refund lands in the store from elsewhere (the claims job, which `tanis worker` may run in another
    // process): the next find sees it.
    app.clock.advance(TimeDelta::hours(2) + TimeDelta::seconds(1));
    app.run_job(tanis_workers::schedule::Job::Claims).await.unwrap();
    let refund = sa.next().await.unwrap();
    assert!(matches!(refund, ServerFrame::Notification { .. }), "the refund is announced: {refund:?}");
    sa.send(&find(MatchKind::Text, "refunded")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    sa.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MatchCancelled { .. }));

    // The unit goes behind the cache's back: a is queued on its word, but the store refuses the pairing, tells
    // a why, and c keeps waiting for someone else. No door spends a unit without telling the node that caches
    // the balance, so the race this guards against (a spend the node has not heard of yet) is made in SQL.
    app.execute(format!("UPDATE users SET bonus_chat_balance = 0 WHERE id = {}", a.id)).await;
    sa.send(&find(MatchKind::Text, "stale")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    let mut sc = queued(&app, &c).await;
    let told = sa.next().await.unwrap();
    assert!(
        matches!(&told, ServerFrame::Error { code: ErrorCode::QuotaExhausted, id: Some(id), .. } if id == "stale"),
        "{told:?}"
    );
    let _sd = queued(&app, &d).await;
    assert_eq!(found(&mut sc).await.peer, d.handle, "c was put back in the queue");
    let user = app.store.user_by_id(a.id).await.unwrap().unwrap();
    assert_eq!((user.daily_chat_balance, user.bonus_chat_balance), (0, 0), "nothing went negative");
}

/// The two sides of an opening are told one after the other. Held between them, the first side (the initiator)
/// reads `match.found` and leaves before the second has heard of the match: the second then gets `match.found`
/// followed by its `match.ended`, and is free to look again (its node did not keep the ended match as its own,
/// which answered its next finds with `already_in_match`; the load generator hit it a few times a run).
async fn a_match_left_before_its_second_side_hears_it_open_is_shown_ended_and_frees_that_side(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let mut sa = queued(&app, &a).await;
    let mut held = app.store.fail_points.hold("announce.between_sides");
    let mut sb = app.socket(&b).await;
    sb.send(&find(MatchKind::Text, "f")).await.unwrap();
    held.reached().await;

    let ServerFrame::MatchFound { info, .. } =
        sa.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap()
    else {
        unreachable!()
    };
    assert!(info.initiator, "a waited first");
    sa.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id: info.match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    held.release();

    let found = sb.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
    assert!(matches!(found, ServerFrame::MatchFound { info: ref i, .. } if i.match_id == info.match_id), "{found:?}");
    let ended = sb.next().await.unwrap();
    assert_eq!(ended, ServerFrame::MatchEnded { id: None, match_id: info.match_id, reason: EndReason::PeerLeft });
    sb.send(&find(MatchKind::Text, "again")).await.unwrap();
    let answer = sb.next_where(|f| !matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    // With delivery through Redis the pair's claim may not be settled yet when b asks again: the find is written into
    // the claim and answered `already_queued` (the place is kept, docs/protocol.md §5). Either way b waits.
    let waits = |f: &ServerFrame| {
        matches!(f, ServerFrame::MatchQueued { .. } | ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. })
    };
    assert!(waits(&answer), "free to look again, not {answer:?}");
}
