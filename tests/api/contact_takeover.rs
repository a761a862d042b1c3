//! No silent takeover of a contact conversation (issue 47, point 3): a key published by one session of a user
//! reaches the user's other devices (`contact.key` with `mine: true`, naming the session) and is listed with that
//! session in `GET /v1/me/sessions`; a key the contact had before, announced again, opens no old session with its
//! counters restarted. A device that was offline meanwhile learns it from `GET /v1/contacts`, which names its own
//! side's key and the session that published it (issue 59, point 3).

use reqwest::StatusCode;
use serde_json::Value;
use tanis_client::{ClientError, Connection, E2eError, Identity};
use tanis_proto::{ClientFrame, ServerFrame};

use crate::contacts::{answer, contacts, listed, next_of, say};
use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app, tokens};
use crate::on_both_stores;

on_both_stores!(
    a_key_one_session_publishes_reaches_the_owners_other_devices_and_is_listed_with_that_session,
    a_key_the_contact_had_before_announced_again_opens_no_old_session,
    a_device_offline_during_a_takeover_finds_the_new_key_and_its_session_in_the_contacts_list,
);

async fn sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let (status, sessions) = app.get_json("/v1/me/sessions", access).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(sessions).unwrap()
}

fn key_frame(match_id: tanis_proto::MatchId, public_key: &str) -> ClientFrame {
    ClientFrame::ContactKey { id: Some("key".into()), match_id, public_key: public_key.to_owned() }
}

async fn a_key_one_session_publishes_reaches_the_owners_other_devices_and_is_listed_with_that_session(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat_a, mut sb, _) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;

    // Someone signs in as b elsewhere (a stolen password, say) and takes the conversation over. b's own app keeps
    // its session (`app.sign_in` would move b's app to the new one).
    let response = app.login(&b.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (stolen, _) = tokens(&response.json::<Value>().await.unwrap());
    let (mut thief, _) = Connection::connect(&app.ws_url(), &stolen).await.unwrap();
    let thief_session = sessions(&app, &stolen).await.into_iter().find(|s| s["current"] == true).unwrap();
    let thief_session = thief_session["id"].as_str().unwrap().to_owned();
    let key = Identity::generate().public_key_b64();
    thief.send(&key_frame(match_id, &key)).await.unwrap();
    assert_eq!(thief.next().await.unwrap(), ServerFrame::Ok { id: Some("key".into()) }, "no copy to itself first");

    // The contact is told, as before; b's own device is told too, and by which session.
    let theirs = next_of(&mut sa, |f| matches!(f, ServerFrame::ContactKey { .. })).await;
    assert_eq!(
        theirs,
        ServerFrame::ContactKey {
            match_id,
            peer_public_key: Some(key.clone()),
            public_key: None,
            mine: false,
            session_id: None
        }
    );
    let mine = next_of(&mut sb, |f| matches!(f, ServerFrame::ContactKey { .. })).await;
    assert_eq!(
        mine,
        ServerFrame::ContactKey {
            match_id,
            peer_public_key: None,
            public_key: Some(key.clone()),
            mine: true,
            session_id: Some(thief_session.clone())
        }
    );

    // b, reviewing where they are signed in, sees which session took the conversation over, and only that.
    let listed = sessions(&app, &app.access_token(&b).await).await;
    let of = |id: &str| listed.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("{id} listed: {listed:?}"));
    let taken = of(&thief_session)["contact_keys"].as_array().unwrap().clone();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0]["match_id"], match_id.get());
    let published_at = taken[0]["published_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(published_at, app.now(), "on the server's clock");
    let fields: Vec<&String> = taken[0].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["match_id", "published_at"], "never the key itself");
    let own = listed.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(own["contact_keys"], serde_json::json!([]), "b's own session published nothing");
    // a's sessions say nothing of b's.
    for session in sessions(&app, &app.access_token(&a).await).await {
        assert_eq!(session["contact_keys"], serde_json::json!([]));
    }
    // And b's data export holds the record too (docs/privacy.md): the conversation and the time, never the key.
    let (status, export) = app.get_json("/v1/me/export", &app.access_token(&b).await).await;
    assert_eq!(status, StatusCode::OK);
    let expected = serde_json::json!([{"match_id": match_id.get(), "published_at": taken[0]["published_at"]}]);
    assert_eq!(export["contact_keys"], expected);
}

async fn a_key_the_contact_had_before_announced_again_opens_no_old_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;
    let old_key = chat_a.info.peer_public_key.clone();
    assert_eq!(say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "eski").await, "eski");

    // b moves to a new key; a follows, and reads under it.
    let rekey = chat_b.rekey().unwrap();
    sb.send(&rekey).await.unwrap();
    assert!(matches!(answer(&mut sb).await, ServerFrame::Ok { .. }));
    let Some(ServerFrame::ContactKey { peer_public_key: Some(new_key), .. }) =
        Some(next_of(&mut sa, |f| matches!(f, ServerFrame::ContactKey { .. })).await)
    else {
        unreachable!()
    };
    chat_a.peer_rekeyed(&new_key).unwrap();
    assert_eq!(say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "yeni").await, "yeni");

    // With b's token, someone collects b's first message (resume) and announces b's old key again.
    let mut thief = Connection::connect(&app.ws_url(), &app.sign_in(&b).await).await.unwrap().0;
    thief.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: tanis_proto::Seq(0) }).await.unwrap();
    let first = next_of(&mut thief, |f| matches!(f, ServerFrame::Msg { .. })).await;
    thief.send(&key_frame(match_id, &old_key)).await.unwrap();
    assert!(matches!(answer(&mut thief).await, ServerFrame::Ok { .. }));
    let announced = next_of(&mut sa, |f| matches!(f, ServerFrame::ContactKey { .. })).await;
    assert!(matches!(&announced, ServerFrame::ContactKey { peer_public_key: Some(k), .. } if *k == old_key));
    assert!(
        matches!(chat_a.peer_rekeyed(&old_key), Err(ClientError::E2e(E2eError::InvalidPublicKey))),
        "a key the contact had before is refused"
    );
    // b's own device saw it happen.
    let seen = next_of(&mut sb, |f| matches!(f, ServerFrame::ContactKey { .. })).await;
    assert!(matches!(seen, ServerFrame::ContactKey { mine: true, .. }), "{seen:?}");

    // The old message sent again is a new seq on the server, and it must not open as a new message.
    let ServerFrame::Msg { ciphertext, nonce, commitment, .. } = first else { unreachable!() };
    let replay = ClientFrame::MsgSend {
        id: Some("again".into()),
        match_id,
        client_msg_id: "again".into(),
        ciphertext,
        nonce,
        commitment: commitment.unwrap(),
        ack: None,
    };
    thief.send(&replay).await.unwrap();
    assert!(matches!(
        next_of(&mut thief, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await,
        ServerFrame::MsgAccepted { .. }
    ));
    let replayed = next_of(&mut sa, |f| matches!(f, ServerFrame::Msg { .. })).await;
    assert!(chat_a.read(&replayed).is_err(), "an old message opened again with fresh counters");
    // And the conversation goes on under b's real key.
    assert_eq!(say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "hâlâ ben").await, "hâlâ ben");
}

async fn a_device_offline_during_a_takeover_finds_the_new_key_and_its_session_in_the_contacts_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat_a, sb, _) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;

    // Before any takeover, b's side is on the key of b's `match.find`, published by no `contact.key`.
    let before = listed(&app, &b).await;
    assert_eq!(before[0]["my_public_key"], chat_a.info.peer_public_key.as_str(), "b's key, as a knows it");
    assert_eq!(before[0]["my_key_session_id"], Value::Null);

    // b's phone goes offline; b signs in on a second device, which takes the conversation over.
    drop(sb);
    let response = app.login(&b.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (second, _) = tokens(&response.json::<Value>().await.unwrap());
    let (mut tablet, _) = Connection::connect(&app.ws_url(), &second).await.unwrap();
    let tablet_session = sessions(&app, &second).await.into_iter().find(|s| s["current"] == true).unwrap();
    let tablet_session = tablet_session["id"].as_str().unwrap().to_owned();
    let key = Identity::generate().public_key_b64();
    tablet.send(&key_frame(match_id, &key)).await.unwrap();
    assert_eq!(answer(&mut tablet).await, ServerFrame::Ok { id: Some("key".into()) });
    let theirs = next_of(&mut sa, |f| matches!(f, ServerFrame::ContactKey { .. })).await;
    assert!(matches!(&theirs, ServerFrame::ContactKey { peer_public_key: Some(k), .. } if *k == key), "{theirs:?}");

    // Back, the phone (still its own session) missed the `contact.key`; the list tells it whose key and session
    // its side is on now, the session as the frame it missed would have named it.
    let after = listed(&app, &b).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["my_public_key"], key.as_str());
    assert_eq!(after[0]["my_key_session_id"], tablet_session.as_str());
    let own = sessions(&app, &app.access_token(&b).await).await;
    assert!(own.iter().any(|s| s["id"] == tablet_session && s["current"] == false), "another session: {own:?}");
    // a's side is untouched: still a's own key, published by no session.
    let for_a = listed(&app, &a).await;
    assert_eq!(for_a[0]["peer_public_key"], key.as_str());
    assert_eq!(for_a[0]["my_key_session_id"], Value::Null);
}
