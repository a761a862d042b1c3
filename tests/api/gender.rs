//! Whom you want to meet (issue 64, points 1 to 3): a gender declared with its own consent, shown to its owner and
//! their export only and deleted on withdrawal; a premium `match.find` asking for genders, binding both sides,
//! `only` or `prefer`; free accounts and bad wishes refused; and the wish itself never stored: not in the database,
//! not in Redis once the match is made (logs at trace level: tests/api/log_secrets.rs).

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Connection, Find, Identity};
use tanis_proto::{ClientFrame, ErrorCode, Gender, MatchKind, PreferenceMode, Seeking, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser, eventually, spawn_app, spawn_cluster};
use crate::interests::{found, still_waiting};
use crate::on_both_stores;
use crate::region::{find, premium, queued};

on_both_stores!(
    a_declared_gender_needs_its_consent_is_its_owners_alone_and_goes_on_withdrawal,
    a_premium_seeker_meets_only_a_gender_asked_for_who_accepts_them,
    the_undeclared_and_the_withdrawn_are_met_only_by_those_asking_for_anyone,
    prefer_falls_back_to_anyone_who_accepts_after_the_wait_and_only_never_does,
    a_free_account_or_a_bad_wish_is_refused_and_nothing_is_queued,
    a_wish_leaves_no_trace_in_the_database,
    a_gender_withdrawn_while_waiting_is_no_longer_met,
);

const WITHIN: Duration = Duration::from_secs(10);

async fn declare(app: &TestApp, user: &TestUser, gender: &str) -> reqwest::Response {
    let body = json!({ "gender": gender, "consent": true });
    app.client.put(app.url("/v1/me/gender")).bearer_auth(&user.access).json(&body).send().await.unwrap()
}

async fn declared(app: &TestApp, user: &TestUser, gender: &str) {
    let response = declare(app, user, gender).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn withdraw(app: &TestApp, user: &TestUser) -> Value {
    let response = app.client.delete(app.url("/v1/me/gender")).bearer_auth(&user.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    app.get_me(&user.access).await.json().await.unwrap()
}

async fn export(app: &TestApp, user: &TestUser) -> Value {
    let response = app.client.get(app.url("/v1/me/export")).bearer_auth(&user.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn seeking(genders: &[Gender], mode: PreferenceMode) -> Find {
    Find::new(MatchKind::Text).seeking(Seeking { genders: genders.to_vec(), mode })
}

fn only(genders: &[Gender]) -> Find {
    seeking(genders, PreferenceMode::Only)
}

fn anyone() -> Find {
    Find::new(MatchKind::Text)
}

/// The `error` answering the find just sent, and proof that nothing was queued.
async fn refused(socket: &mut Connection) -> ErrorCode {
    let ServerFrame::Error { code, .. } = socket.next().await.unwrap() else { panic!("an error") };
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    let answer = socket.next().await.unwrap();
    assert!(matches!(answer, ServerFrame::Error { code: ErrorCode::NotQueued, .. }), "nothing queued: {answer:?}");
    code
}

async fn a_declared_gender_needs_its_consent_is_its_owners_alone_and_goes_on_withdrawal(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ayse, burak) = (app.user("ayse").await, app.user("burak").await);
    // A consent refused and a consent left out get the same documented answer (issue 77 point 6).
    for unconsented in [json!({ "gender": "woman", "consent": false }), json!({ "gender": "woman" })] {
        let response =
            app.client.put(app.url("/v1/me/gender")).bearer_auth(&ayse.access).json(&unconsented).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{unconsented}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "consent_required", "{unconsented}");
    }
    let unknown = declare(&app, &ayse, "kedi").await;
    assert!(unknown.status().is_client_error(), "an unknown gender: {}", unknown.status());
    assert_eq!(me(&app, &ayse).await["gender"], Value::Null, "nothing stored by the refusals");

    declared(&app, &ayse, "woman").await;
    let mine = me(&app, &ayse).await;
    assert_eq!(mine["gender"], "woman");
    assert!(mine["gender_consent_at"].is_string(), "{mine}");
    let exported = export(&app, &ayse).await;
    assert_eq!(exported["profile"]["gender"], "woman");
    assert_eq!(exported["profile"]["gender_consent_at"], mine["gender_consent_at"]);

    // Her partner is told nothing of it: not in `match.found`, whatever either asked.
    let mut s_ayse = queued(&app, &ayse, anyone()).await;
    let mut s_burak = find(&app, &burak, anyone()).await;
    let told = s_burak.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
    assert!(!serde_json::to_string(&told).unwrap().contains("woman"), "{told:?}");
    found(&mut s_ayse).await;

    let after = withdraw(&app, &ayse).await;
    assert_eq!((after["gender"].clone(), after["gender_consent_at"].clone()), (Value::Null, Value::Null));
    app.clock.advance(TimeDelta::seconds(61));
    let exported = export(&app, &ayse).await;
    assert_eq!(exported["profile"]["gender"], Value::Null, "deleted, not kept aside");
}

/// Three premium users who each ask for what none of the others is, or is not accepted by them, wait side by
/// side for hours; women who ask for anyone then take the two whose wishes they meet.
async fn a_premium_seeker_meets_only_a_gender_asked_for_who_accepts_them(backend: Backend) {
    use Gender::*;
    let app = spawn_app(backend).await;
    let (mert, nur, can) = (premium(&app, "mert").await, premium(&app, "nur").await, premium(&app, "can").await);
    let (ece, ela) = (app.user("ece").await, app.user("ela").await);
    for (user, gender) in [(&mert, "man"), (&nur, "woman"), (&can, "man"), (&ece, "woman"), (&ela, "woman")] {
        declared(&app, user, gender).await;
    }
    // A man asking for men; a woman asking for women; then a man asking for women, who accepts her and is
    // accepted by him, but is not what either of them asks for.
    let mut s_mert = queued(&app, &mert, only(&[Man])).await;
    let mut s_nur = queued(&app, &nur, only(&[Woman])).await;
    let mut s_can = queued(&app, &can, only(&[Woman])).await;
    app.advance_and_sweep(TimeDelta::hours(3)).await;

    // A woman asking for anyone: the longest waiting who accepts her is the one asking for women.
    let mut s_ece = find(&app, &ece, anyone()).await;
    assert_eq!(found(&mut s_ece).await.peer, nur.handle);
    assert_eq!(found(&mut s_nur).await.peer, ece.handle);
    let mut s_ela = find(&app, &ela, anyone()).await;
    assert_eq!(found(&mut s_ela).await.peer, can.handle, "not the man asking for men, who waited longer");
    assert_eq!(found(&mut s_can).await.peer, ela.handle);
    still_waiting(&mut s_mert).await;
}

async fn the_undeclared_and_the_withdrawn_are_met_only_by_those_asking_for_anyone(backend: Backend) {
    use Gender::*;
    let app = spawn_app(backend).await;
    let (veli, deniz) = (premium(&app, "veli").await, premium(&app, "deniz").await);
    let (sessiz, geri, fatma) = (app.user("sessiz").await, app.user("geri").await, app.user("fatma").await);
    declared(&app, &veli, "man").await;
    declared(&app, &geri, "woman").await;
    withdraw(&app, &geri).await;
    declared(&app, &deniz, "woman").await;
    // The two who wait share no language, so they wait side by side.
    for (user, language) in [(&sessiz, "de"), (&geri, "tr"), (&fatma, "de")] {
        let response = app.patch_me(&user.access, &json!({ "languages": [language] })).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    // One who never declared and one who withdrew wait; a man asking for anyone who declared is not given them.
    let mut s_sessiz = queued(&app, &sessiz, anyone()).await;
    let mut s_geri = queued(&app, &geri, anyone()).await;
    let mut s_veli = find(&app, &veli, only(&[Woman, Man, NonBinary])).await;
    assert!(matches!(s_veli.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    // …but a woman asking for men is.
    let mut s_deniz = find(&app, &deniz, only(&[Man])).await;
    assert_eq!(found(&mut s_deniz).await.peer, veli.handle);
    assert_eq!(found(&mut s_veli).await.peer, deniz.handle);
    // Someone asking for anyone meets them.
    let mut s_fatma = find(&app, &fatma, anyone()).await;
    assert_eq!(found(&mut s_fatma).await.peer, sessiz.handle);
    assert_eq!(found(&mut s_sessiz).await.peer, fatma.handle);
    still_waiting(&mut s_geri).await;
}

/// Issue 74: withdrawing the consent reaches a find already waiting. The find sent again on the same socket (answered
/// `already_queued`) is the test's proof that the matchmaker has taken in what the account says now.
async fn a_gender_withdrawn_while_waiting_is_no_longer_met(backend: Backend) {
    let app = spawn_app(backend).await;
    let (veli, geri) = (premium(&app, "veli").await, app.user("geri").await);
    declared(&app, &geri, "woman").await;
    let mut s_geri = queued(&app, &geri, anyone()).await;
    withdraw(&app, &geri).await;
    s_geri.send(&anyone().frame(Some("again".into()), Identity::generate().public_key_b64())).await.unwrap();
    let answer = s_geri.next().await.unwrap();
    assert!(matches!(answer, ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }), "{answer:?}");

    let mut s_veli = find(&app, &veli, only(&[Gender::Woman])).await;
    assert!(matches!(s_veli.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "not met as a woman");
    still_waiting(&mut s_geri).await;
}

async fn prefer_falls_back_to_anyone_who_accepts_after_the_wait_and_only_never_does(backend: Backend) {
    use Gender::*;
    let app = spawn_app(backend).await;
    let (umut, selin) = (premium(&app, "umut").await, premium(&app, "selin").await);
    let kaan = app.user("kaan").await;
    declared(&app, &umut, "man").await;
    declared(&app, &selin, "woman").await;
    declared(&app, &kaan, "man").await;

    let mut s_kaan = queued(&app, &kaan, anyone()).await;
    let mut s_selin = queued(&app, &selin, only(&[Woman])).await;
    let mut s_umut = queued(&app, &umut, seeking(&[Woman], PreferenceMode::Prefer)).await;
    // 29 s: he still waits for a woman (the one waiting asks for women only).
    app.advance_and_sweep(TimeDelta::seconds(29)).await;
    let fallback = tanis::config::MatchingConfig::default().gender_fallback_secs;
    assert_eq!(fallback, 30);
    // 30 s: anyone who accepts him; the woman asking only for women never does.
    app.advance_and_sweep(TimeDelta::seconds(1)).await;
    assert_eq!(found(&mut s_umut).await.peer, kaan.handle);
    assert_eq!(found(&mut s_kaan).await.peer, umut.handle);
    app.advance_and_sweep(TimeDelta::hours(3)).await;
    still_waiting(&mut s_selin).await;
}

async fn a_free_account_or_a_bad_wish_is_refused_and_nothing_is_queued(backend: Backend) {
    use Gender::*;
    let app = spawn_app(backend).await;
    let free = app.user("bedava").await;
    let mut socket = find(&app, &free, only(&[Woman])).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::PremiumRequired);

    let paying = premium(&app, "odeyen").await;
    for wish in [only(&[]), only(&[Woman, Woman])] {
        let mut socket = find(&app, &paying, wish).await;
        assert_eq!(refused(&mut socket).await, ErrorCode::InvalidField);
    }
    // One refused user's wish never holds up another's plain find.
    let (a, b) = (app.user("birinci").await, app.user("ikinci").await);
    let mut s_a = queued(&app, &a, anyone()).await;
    let mut s_b = find(&app, &b, anyone()).await;
    assert_eq!(found(&mut s_b).await.peer, a.handle);
    found(&mut s_a).await;
}

/// Every text of every row of every table, with the table's name.
async fn every_text(app: &TestApp, backend: Backend) -> Vec<(String, String)> {
    use sqlx::{Column, Connection as _, Row};
    let url = &app.database_url;
    let mut texts = Vec::new();
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for table in tables {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                for row in rows {
                    for column in row.columns() {
                        if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column.ordinal()) {
                            texts.push((table.clone(), text));
                        }
                    }
                }
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for table in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM \"{table}\" t")))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                texts.extend(rows.into_iter().map(|row| (table.clone(), row)));
            }
        }
    }
    texts
}

/// A wish for genders nobody declared (non-binary) beside one for women: once the match is made, no table holds
/// the wish, in any row, under any name.
async fn a_wish_leaves_no_trace_in_the_database(backend: Backend) {
    use Gender::*;
    let app = spawn_app(backend).await;
    let (seeker, woman) = (premium(&app, "arayan").await, app.user("kadin").await);
    declared(&app, &woman, "woman").await;
    let mut s_woman = queued(&app, &woman, anyone()).await;
    let mut s_seeker = find(&app, &seeker, only(&[NonBinary, Woman])).await;
    assert_eq!(found(&mut s_seeker).await.peer, woman.handle);
    found(&mut s_woman).await;
    let leaks: Vec<_> = every_text(&app, backend)
        .await
        .into_iter()
        .filter(|(_, text)| text.contains("non_binary") || text.contains("seeking"))
        .collect();
    assert!(leaks.is_empty(), "the wish is stored: {leaks:?}");
}

/// Across two nodes of a cluster: the wish binds a seeker on one node and a waiter on the other, and once the
/// match is made nothing under the cluster's Redis namespace holds it (the queue's entries go with the match,
/// the matchmaker's input records as it reads them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_a_wish_binds_and_leaves_redis_with_the_match() {
    use Gender::*;
    let nodes = spawn_cluster(2).await;
    let (seeker, man, woman) =
        (premium(&nodes[0], "arayan").await, nodes[1].user("erkek").await, nodes[1].user("kadin").await);
    declared(&nodes[1], &man, "man").await;
    declared(&nodes[1], &woman, "woman").await;
    // The two on node 1 share no language: its own matchmaker, which pairs its users first, never pairs them.
    for (user, language) in [(&man, "de"), (&woman, "tr")] {
        let response = nodes[1].patch_me(&user.access, &json!({ "languages": [language] })).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let mut s_man = queued(&nodes[1], &man, anyone()).await;
    let mut s_seeker = queued(&nodes[0], &seeker, only(&[NonBinary, Woman])).await;
    let mut s_woman = nodes[1].socket(&woman).await;
    s_woman.send(&anyone().frame(Some("f".into()), Identity::generate().public_key_b64())).await.unwrap();
    let within = |socket| tokio::time::timeout(WITHIN, found(socket));
    assert_eq!(within(&mut s_woman).await.expect("in time").peer, seeker.handle);
    assert_eq!(within(&mut s_seeker).await.expect("in time").peer, woman.handle);

    let namespace = nodes[0].config.cluster.namespace.clone();
    let mut redis = crate::helpers::redis_at(&crate::helpers::test_redis_url()).await;
    eventually(WITHIN, "no key of the namespace holds the wish", || {
        let (mut redis, namespace) = (redis.clone(), namespace.clone());
        async move { redis_texts(&mut redis, &namespace).await.iter().all(|t| !t.contains("seeking")) }
    })
    .await;
    still_waiting(&mut s_man).await;
    let texts = redis_texts(&mut redis, &namespace).await;
    assert!(texts.iter().all(|t| !t.contains("non_binary")), "{texts:?}");
}

/// Every value under `namespace`'s keys, whatever their type.
async fn redis_texts(redis: &mut tanis::redis_link::Conn, namespace: &str) -> Vec<String> {
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("*{namespace}*")).query_async(redis).await.unwrap();
    let mut texts = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(redis).await.unwrap();
        let read = match kind.as_str() {
            "string" => redis::cmd("GET").arg(&key).query_async::<Vec<String>>(redis).await,
            // A map on a RESP3 connection: read as pairs (read as a list, it failed and read as nothing).
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async::<Vec<(String, String)>>(redis)
                .await
                .map(|pairs| pairs.into_iter().flat_map(|(field, value)| [field, value]).collect()),
            "list" => redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query_async(redis).await,
            "set" => redis::cmd("SMEMBERS").arg(&key).query_async(redis).await,
            "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query_async(redis).await,
            "stream" => redis::cmd("XRANGE")
                .arg(&key)
                .arg("-")
                .arg("+")
                .query_async::<Vec<(String, Vec<String>)>>(redis)
                .await
                .map(|entries| entries.into_iter().flat_map(|(_, fields)| fields).collect()),
            _ => Ok(Vec::new()),
        };
        texts.extend(read.unwrap_or_else(|e| panic!("reading {key} ({kind}): {e}")));
    }
    texts
}

/// Issue 74: in a cluster, a gender withdrawn while its owner waits leaves Redis with the withdrawal: the place is
/// rewritten wherever it is held (and no record of the input stream ever carried it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_a_gender_withdrawn_while_waiting_leaves_redis() {
    let nodes = spawn_cluster(2).await;
    let geri = nodes[1].user("geri").await;
    declared(&nodes[1], &geri, "woman").await;
    let mut s_geri = queued(&nodes[1], &geri, anyone()).await;
    let namespace = nodes[0].config.cluster.namespace.clone();
    let redis = crate::helpers::redis_at(&crate::helpers::test_redis_url()).await;
    let holds = |text: &'static str| {
        let (mut redis, namespace) = (redis.clone(), namespace.clone());
        async move { redis_texts(&mut redis, &namespace).await.iter().any(|t| t.contains(text)) }
    };
    eventually(WITHIN, "the place holds the declaration", || holds(r#""gender":"woman""#)).await;
    withdraw(&nodes[1], &geri).await;
    eventually(WITHIN, "no key of the namespace holds the withdrawn gender", || async { !holds(r#""gender""#).await })
        .await;
    assert!(holds(r#""user_id""#).await, "the place itself stays");
    still_waiting(&mut s_geri).await;
}

/// Issue 74 point 4: during a rolling update, a node of the previous release (alive in the cluster, never among
/// the nodes that announce they understand gender wishes) would pair without the wish. A find asking `only` is
/// refused `seeking_unavailable`, a `prefer` one is queued as a plain find, until the previous release is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_rolling_update_an_only_wish_is_refused_and_a_prefer_wish_waits_plain() {
    use Gender::*;
    let nodes = spawn_cluster(2).await;
    let seeker = premium(&nodes[0], "arayan").await;
    let namespace = nodes[0].config.cluster.namespace.clone();
    let url = crate::helpers::test_redis_url();
    let (alive, queue) = (
        crate::helpers::matchmaking_key(&url, &namespace, "alive"),
        crate::helpers::matchmaking_key(&url, &namespace, "queue"),
    );
    let mut redis = crate::helpers::redis_at(&url).await;
    // The previous release's node renews its liveness with its ticks, as this one does; far ahead here.
    let _: i64 = redis::cmd("ZADD").arg(&alive).arg(1e13).arg("v2.previous").query_async(&mut redis).await.unwrap();
    let mut socket = nodes[0].socket(&seeker).await;
    let key = Identity::generate().public_key_b64();
    // Each node learns it at its next tick of the election (a third of the lease): a find queued before then is
    // cancelled, and a find is sent again at most every quarter second (new accounts may send 20 a minute).
    let mut every = tokio::time::interval(Duration::from_millis(250));
    let mut answer_to = async |find: Find, socket: &mut Connection| {
        every.tick().await;
        socket.send(&find.frame(Some("f".into()), key.clone())).await.unwrap();
        socket.next().await.unwrap()
    };
    let refused = tokio::time::timeout(WITHIN, async {
        loop {
            match answer_to(only(&[Woman]), &mut socket).await {
                ServerFrame::Error { code: ErrorCode::SeekingUnavailable, .. } => return,
                ServerFrame::MatchQueued { .. } => {
                    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
                    socket.next().await.unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
    });
    refused.await.expect("`only` refused while a node of the previous release is alive");
    let queued = answer_to(seeking(&[NonBinary], PreferenceMode::Prefer), &mut socket).await;
    assert!(matches!(queued, ServerFrame::MatchQueued { .. }), "{queued:?}");
    let entry: Option<String> =
        redis::cmd("HGET").arg(&queue).arg(seeker.id.get()).query_async(&mut redis).await.unwrap();
    assert!(entry.as_deref().is_some_and(|e| !e.contains("seeking")), "queued without the wish: {entry:?}");
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    socket.next().await.unwrap();

    // The previous release is gone: `only` is queued with its wish.
    let _: i64 = redis::cmd("ZREM").arg(&alive).arg("v2.previous").query_async(&mut redis).await.unwrap();
    let accepted = tokio::time::timeout(WITHIN, async {
        loop {
            match answer_to(only(&[Woman]), &mut socket).await {
                ServerFrame::Error { code: ErrorCode::SeekingUnavailable, .. } => continue,
                ServerFrame::MatchQueued { .. } => return,
                other => panic!("{other:?}"),
            }
        }
    });
    accepted.await.expect("`only` queued once every node understands it");
    let entry: Option<String> =
        redis::cmd("HGET").arg(&queue).arg(seeker.id.get()).query_async(&mut redis).await.unwrap();
    assert!(entry.as_deref().is_some_and(|e| e.contains("seeking")), "queued with the wish: {entry:?}");
}
