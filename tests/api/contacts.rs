//! Keeping in touch (issue 29, point 4): both sides of a match propose it, and the match's conversation outlives
//! the match as the two's contact conversation: it does not expire, a message to an offline contact waits for the
//! reconnect, either side ends it for both, a block ends it, and a new device takes it over by publishing a key.
//! Contacts are listed over REST with their handle only. Refusals: a proposal outside a match of one's own or after
//! a block, a message or a key to a contact that was ended.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::Value;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, Contact, ErrorCode, MatchKind, ServerFrame};
use tanis_workers::schedule::Job;

use crate::deletion::{account, delete_me};
use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, assert_error, spawn_app, text_find};
use crate::on_both_stores;

on_both_stores!(
    two_who_both_propose_become_contacts_and_their_conversation_outlives_the_match,
    a_message_to_an_offline_contact_is_there_at_the_reconnect,
    either_side_ends_a_contact_for_both_and_a_message_to_an_ended_contact_is_refused,
    a_proposal_outside_ones_own_match_or_after_a_block_is_refused,
    a_block_ends_the_contact_for_both_and_typing_stops_reaching_the_blocker,
    a_new_device_takes_the_conversation_over_by_publishing_a_key,
    deleting_the_account_ends_its_contacts,
    a_message_to_an_offline_contact_is_pushed_without_its_content,
);

/// The next frame that is not `ok`-noise of this kind: an answer or an event of interest.
pub(crate) async fn next_of(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    socket.next_where(wanted).await.unwrap()
}

/// `event` within 10 s: what a test waits on instead of polling.
async fn within(what: &str, event: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(10), event)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within 10 s"));
}

pub(crate) async fn answer(socket: &mut Connection) -> ServerFrame {
    next_of(socket, |f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await
}

fn assert_code(frame: &ServerFrame, code: ErrorCode) {
    match frame {
        ServerFrame::Error { code: got, .. } => assert_eq!(*got, code, "{frame:?}"),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

async fn added(socket: &mut Connection) -> Contact {
    match next_of(socket, |f| matches!(f, ServerFrame::ContactAdded { .. })).await {
        ServerFrame::ContactAdded { contact } => contact,
        _ => unreachable!(),
    }
}

/// `a` and `b` matched, then both proposed: returns their sockets and chats, the match now their contact.
pub(crate) async fn contacts(app: &TestApp, a: &TestUser, b: &TestUser) -> (Connection, Chat, Connection, Chat) {
    let (mut sa, chat_a, mut sb, chat_b) = app.pair(a, b, MatchKind::Text).await;
    sa.send(&chat_a.propose_keep()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    let proposed = next_of(&mut sb, |f| matches!(f, ServerFrame::ContactProposed { .. })).await;
    assert_eq!(proposed, ServerFrame::ContactProposed { match_id: chat_a.info.match_id });
    sb.send(&chat_b.propose_keep()).await.unwrap();
    let (contact_a, contact_b) = (added(&mut sa).await, added(&mut sb).await);
    assert!(matches!(answer(&mut sb).await, ServerFrame::Ok { .. }));
    assert_eq!((contact_a.match_id, contact_b.match_id), (chat_a.info.match_id, chat_a.info.match_id));
    assert_eq!((contact_a.peer.as_str(), contact_b.peer.as_str()), (b.handle.as_str(), a.handle.as_str()));
    assert_eq!(contact_a.initiator, chat_a.info.initiator);
    assert_eq!(contact_a.peer_public_key, chat_a.info.peer_public_key);
    (sa, chat_a, sb, chat_b)
}

pub(crate) async fn listed(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let (status, body) = app.get_json("/v1/contacts", &app.access_token(user).await).await;
    assert_eq!(status, StatusCode::OK);
    body["contacts"].as_array().unwrap().clone()
}

async fn end(app: &TestApp, user: &TestUser, match_id: tanis_proto::MatchId) -> reqwest::Response {
    let url = app.url(&format!("/v1/contacts/{match_id}"));
    app.client.delete(url).bearer_auth(app.access_token(user).await).send().await.unwrap()
}

/// Sends `text` from one side and returns what the other side read.
pub(crate) async fn say(from: (&mut Connection, &mut Chat), to: (&mut Connection, &mut Chat), text: &str) -> String {
    from.0.send(&from.1.message(text)).await.unwrap();
    assert!(matches!(
        next_of(from.0, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await,
        ServerFrame::MsgAccepted { .. }
    ));
    let frame = next_of(to.0, |f| matches!(f, ServerFrame::Msg { .. })).await;
    to.1.read(&frame).unwrap()
}

async fn two_who_both_propose_become_contacts_and_their_conversation_outlives_the_match(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = contacts(&app, &a, &b).await;

    // Listed for both, with the handle and nothing else of the person.
    let for_a = listed(&app, &a).await;
    assert_eq!(for_a.len(), 1);
    let keys: Vec<&String> = for_a[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["initiator", "last_seq", "match_id", "my_key_session_id", "my_public_key", "peer", "peer_public_key", "since"]
    );
    assert_eq!(for_a[0]["peer"], b.handle.as_str());
    assert_eq!(listed(&app, &b).await[0]["peer"], a.handle.as_str());

    // No longer the active match: a reconnect says none, and both may look for someone new.
    let (_, hello) = app.connect(&a).await;
    assert!(matches!(hello, ServerFrame::Hello { active_match: None, .. }), "{hello:?}");
    sa.send(&text_find(Some("f"))).await.unwrap();
    assert!(matches!(next_of(&mut sa, |_| true).await, ServerFrame::MatchQueued { .. }));
    sa.send(&ClientFrame::MatchCancel { id: None }).await.unwrap();

    // Past the match's expiry and the expiry job, the conversation goes on, its seqs continuing.
    app.clock.advance(TimeDelta::days(3));
    app.run_job(Job::Expiry).await.unwrap();
    assert_eq!(say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "hâlâ burada mısın?").await, "hâlâ burada mısın?");
    assert_eq!(say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "evet").await, "evet");
    assert_eq!(listed(&app, &a).await[0]["last_seq"], 2);
}

async fn a_message_to_an_offline_contact_is_there_at_the_reconnect(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, sb, mut chat_b) = contacts(&app, &a, &b).await;
    drop(sb);
    sa.send(&chat_a.message("sen yokken")).await.unwrap();
    let accepted = next_of(&mut sa, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await;
    let ServerFrame::MsgAccepted { seq, match_id, .. } = accepted else { unreachable!() };

    let mut sb = app.socket(&b).await;
    let contact = listed(&app, &b).await.remove(0);
    assert_eq!(contact["last_seq"], seq.get(), "the list says there is something to catch up on");
    sb.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: tanis_proto::Seq(0) }).await.unwrap();
    let frame = next_of(&mut sb, |f| matches!(f, ServerFrame::Msg { .. })).await;
    assert_eq!(chat_b.read(&frame).unwrap(), "sen yokken");
    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq }).await.unwrap();
    assert_eq!(
        next_of(&mut sa, |f| matches!(f, ServerFrame::MsgDelivered { .. })).await,
        ServerFrame::MsgDelivered { match_id, seq, up_to: false }
    );
}

async fn a_message_to_an_offline_contact_is_pushed_without_its_content(backend: Backend) {
    let (app, google) = crate::push::spawn(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let registered = crate::push::register_device(&app, &b, "tok-b_1:x", "en").await;
    assert_eq!(registered.status(), StatusCode::NO_CONTENT);
    let (mut sa, mut chat_a, sb, _) = contacts(&app, &a, &b).await;
    drop(sb);
    within("b's socket is let go", app.hub.until_offline(b.id)).await;
    // A day later, long after the match would have expired.
    app.clock.advance(TimeDelta::days(1));
    sa.send(&chat_a.message("gizli bir şey")).await.unwrap();
    next_of(&mut sa, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await;
    within("the notifier considered the message", app.hub.until_pushes_considered(1)).await;
    assert_eq!(crate::push::outbox(&app).await, 1, "a push is queued");
    app.run_job(Job::Push).await.unwrap();
    let sends = google.lock().unwrap().sends.clone();
    assert_eq!(sends.len(), 1);
    let m = &sends[0]["message"];
    assert_eq!(m["notification"]["body"], format!("New message from {}", a.handle));
    assert_eq!(m["data"]["match_id"], chat_a.info.match_id.to_string());
    assert!(!sends[0].to_string().contains("gizli"), "never the content");
}

async fn either_side_ends_a_contact_for_both_and_a_message_to_an_ended_contact_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let (mut sa, mut chat_a, mut sb, _) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;

    // Someone else's contact is not theirs to end.
    assert_error(end(&app, &c, match_id).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(end(&app, &b, match_id).await.status(), StatusCode::NO_CONTENT);
    for socket in [&mut sa, &mut sb] {
        let ended = next_of(socket, |f| matches!(f, ServerFrame::ContactEnded { .. })).await;
        assert_eq!(ended, ServerFrame::ContactEnded { match_id });
    }
    assert!(listed(&app, &a).await.is_empty() && listed(&app, &b).await.is_empty());
    assert_error(end(&app, &a, match_id).await, StatusCode::NOT_FOUND, "not_found").await;
    // The export keeps the story: proposed, kept, ended.
    let (_, doc) = app.get_json("/v1/me/export", &app.access_token(&a).await).await;
    let exported = &doc["matches"][0];
    assert_eq!((exported["id"].as_i64(), exported["end_reason"].as_str()), (Some(match_id.get()), Some("kept")));
    for at in ["keep_proposed_at", "kept_at", "contact_ended_at"] {
        assert!(exported[at].is_string(), "{at}: {exported}");
    }

    sa.send(&chat_a.message("orada mısın?")).await.unwrap();
    let refused = next_of(&mut sa, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await;
    assert_code(&refused, ErrorCode::NotInMatch);
    sa.send(&ClientFrame::Typing { id: Some("t".into()), match_id }).await.unwrap();
    assert_code(&answer(&mut sa).await, ErrorCode::NotInMatch);
}

async fn a_proposal_outside_ones_own_match_or_after_a_block_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c, d) =
        (app.user("kedi").await, app.user("kopek").await, app.user("kus").await, app.user("atcik").await);
    let (mut sa, chat_a, mut sb, chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let (mut sc, _, _sd, chat_d) = app.pair(&c, &d, MatchKind::Text).await;

    // A match that is not one's own, and one that does not exist.
    sc.send(&chat_a.propose_keep()).await.unwrap();
    assert_code(&answer(&mut sc).await, ErrorCode::NotInMatch);
    sa.send(&ClientFrame::ContactPropose { id: None, match_id: tanis_proto::MatchId(999_999) }).await.unwrap();
    assert_code(&answer(&mut sa).await, ErrorCode::NotInMatch);
    sa.send(&chat_d.propose_keep()).await.unwrap();
    assert_code(&answer(&mut sa).await, ErrorCode::NotInMatch);

    // Proposing twice is one proposal; after a block there is nothing to keep, and no contact is made.
    sa.send(&chat_a.propose_keep()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    sa.send(&chat_a.propose_keep()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    sa.send(&ClientFrame::Block { id: None, match_id: chat_a.info.match_id }).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    sb.send(&chat_b.propose_keep()).await.unwrap();
    assert_code(&answer(&mut sb).await, ErrorCode::NotInMatch);
    assert!(listed(&app, &a).await.is_empty() && listed(&app, &b).await.is_empty());

    // Nor after the match ended by leaving.
    let cd = chat_d.info.match_id;
    sc.send(&ClientFrame::MatchLeave { id: None, match_id: cd }).await.unwrap();
    assert!(matches!(answer(&mut sc).await, ServerFrame::Ok { .. }));
    sc.send(&ClientFrame::ContactPropose { id: None, match_id: cd }).await.unwrap();
    assert_code(&answer(&mut sc).await, ErrorCode::NotInMatch);
}

async fn a_block_ends_the_contact_for_both_and_typing_stops_reaching_the_blocker(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;
    // Typing reaches a contact.
    sa.send(&ClientFrame::Typing { id: None, match_id }).await.unwrap();
    assert_eq!(next_of(&mut sb, |f| matches!(f, ServerFrame::Typing { .. })).await, ServerFrame::Typing { match_id });
    assert_eq!(say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "merhaba").await, "merhaba");

    sb.send(&ClientFrame::Block { id: Some("b".into()), match_id }).await.unwrap();
    for socket in [&mut sa, &mut sb] {
        let ended = next_of(socket, |f| matches!(f, ServerFrame::ContactEnded { .. })).await;
        assert_eq!(ended, ServerFrame::ContactEnded { match_id });
    }
    assert!(matches!(answer(&mut sb).await, ServerFrame::Ok { .. }));
    assert!(listed(&app, &a).await.is_empty());
    sa.send(&ClientFrame::Typing { id: Some("t".into()), match_id }).await.unwrap();
    assert_code(&answer(&mut sa).await, ErrorCode::NotInMatch);
    // The socket that sent in the contact before still cannot: the store refuses what the socket remembered.
    sa.send(&chat_a.message("neden?")).await.unwrap();
    let refused = next_of(&mut sa, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await;
    assert_code(&refused, ErrorCode::NotInMatch);
}

async fn a_new_device_takes_the_conversation_over_by_publishing_a_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;
    let before = chat_b.e2e.safety_number();

    // b's new device: a fresh key pair for the conversation.
    let key = chat_b.rekey().unwrap();
    let ClientFrame::ContactKey { public_key, .. } = &key else { unreachable!() };
    let public_key = public_key.clone();
    sb.send(&key).await.unwrap();
    assert!(matches!(answer(&mut sb).await, ServerFrame::Ok { .. }));
    let told = next_of(&mut sa, |f| matches!(f, ServerFrame::ContactKey { .. })).await;
    let theirs = ServerFrame::ContactKey {
        match_id,
        peer_public_key: Some(public_key.clone()),
        public_key: None,
        mine: false,
        session_id: None,
    };
    assert_eq!(told, theirs);
    assert_eq!(listed(&app, &a).await[0]["peer_public_key"], public_key.as_str());
    chat_a.peer_rekeyed(&public_key).unwrap();
    assert_eq!(chat_a.e2e.safety_number(), chat_b.e2e.safety_number());
    assert_ne!(chat_b.e2e.safety_number(), before, "a new key is a new safety number");
    assert_eq!(say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "yeni telefon?").await, "yeni telefon?");
    assert_eq!(say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "evet").await, "evet");

    // Bad keys, and a key for a conversation that is not one's contact.
    let bad = ClientFrame::ContactKey { id: None, match_id, public_key: "AAAA".into() };
    sb.send(&bad).await.unwrap();
    assert_code(&answer(&mut sb).await, ErrorCode::InvalidBase64);
    let mut sc = app.socket(&c).await;
    sc.send(&ClientFrame::ContactKey { id: None, match_id, public_key }).await.unwrap();
    assert_code(&answer(&mut sc).await, ErrorCode::NotInMatch);
    assert_eq!(end(&app, &a, match_id).await.status(), StatusCode::NO_CONTENT);
    sb.send(&chat_b.rekey().unwrap()).await.unwrap();
    assert_code(&answer(&mut sb).await, ErrorCode::NotInMatch);
}

async fn deleting_the_account_ends_its_contacts(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.user("kedi").await;
    let b = account(&app, "kopek").await.user;
    let (mut sa, chat_a, _sb, _) = contacts(&app, &a, &b).await;
    let response = delete_me(&app, &b.access, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let ended = next_of(&mut sa, |f| matches!(f, ServerFrame::ContactEnded { .. })).await;
    assert_eq!(ended, ServerFrame::ContactEnded { match_id: chat_a.info.match_id });
    assert!(listed(&app, &a).await.is_empty());
}

/// Two people on two nodes (PostgreSQL + Redis): the proposal, the contact and its end reach the other node, and
/// messages between them go on after the match, however the sockets are spread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_a_contact_is_made_used_and_ended() {
    let nodes = crate::helpers::spawn_cluster(2).await;
    let (a, b) = (nodes[0].user("kedi").await, nodes[1].user("kopek").await);
    let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;
    sa.send(&chat_a.propose_keep()).await.unwrap();
    assert!(matches!(answer(&mut sa).await, ServerFrame::Ok { .. }));
    assert_eq!(
        next_of(&mut sb, |f| matches!(f, ServerFrame::ContactProposed { .. })).await,
        ServerFrame::ContactProposed { match_id }
    );
    sb.send(&chat_b.propose_keep()).await.unwrap();
    assert_eq!(added(&mut sa).await.peer, b.handle);
    assert_eq!(added(&mut sb).await.peer, a.handle);
    // A second socket of b's, on the other node, is a device of b's like any.
    let mut sb2 = nodes[0].socket(&b).await;
    assert_eq!(say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "diğer düğüm").await, "diğer düğüm");
    let copy = next_of(&mut sb2, |f| matches!(f, ServerFrame::Msg { .. })).await;
    assert!(matches!(copy, ServerFrame::Msg { mine: false, .. }));
    assert_eq!(end(&nodes[1], &b, match_id).await.status(), StatusCode::NO_CONTENT);
    for socket in [&mut sa, &mut sb, &mut sb2] {
        let ended = next_of(socket, |f| matches!(f, ServerFrame::ContactEnded { .. })).await;
        assert_eq!(ended, ServerFrame::ContactEnded { match_id });
    }
}
