//! docs/errors.md promises `invalid_text` for U+0000 — which PostgreSQL's text cannot store — in any string of
//! any JSON body, at any depth or in a key, refused before anything is read from it, on both stores alike. Every
//! operation of the OpenAPI document that takes a body is sent a valid example body with one NUL put in it, one
//! place at a time: inside every string, in place of every other value, as a key of every object and an item of
//! every array, and in an object nested under every object. Nothing of any of it may be stored.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Row};

use crate::api_document::{Operation, document, example, operations};
use crate::helpers::{BILLING_SECRET, Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(a_nul_anywhere_in_any_body_is_refused_with_invalid_text_and_nothing_is_stored);

const NUL: &str = "\u{0}";

async fn a_nul_anywhere_in_any_body_is_refused_with_invalid_text_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    // An admin passes every role check: what is refused below is refused for the NUL alone.
    let admin = app.user("kaptan").await;
    app.store.set_role(admin.id, tanis::domain::Role::Admin, app.now()).await.unwrap();
    // Operations on a user (ban, role…) act on another one, not on the admin who sends them.
    let target = app.user("hedef").await.id.to_string();
    let doc = document(&app).await;
    let with_body: Vec<(Operation, Value)> = operations(&doc)
        .into_iter()
        .filter_map(|op| op.body_schema().map(|schema| example(&doc, schema)).map(|body| (op, body)))
        .collect();
    assert!(with_body.len() >= 25, "the document lists the operations that take a body ({})", with_body.len());

    let stored = snapshot(&app).await;
    let (mut sent, mut deepest, mut wrong) = (0, 0, Vec::new());
    for (op, body) in &with_body {
        assert!(body.is_object(), "{op}: the example is an object: {body}");
        for (place, poisoned) in poisoned(body) {
            let response = send(&app, op, &target, &admin.access, &poisoned).await;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or_default();
            if (status, answer["error"]["code"].as_str()) != (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")) {
                wrong.push(format!("{op} with a NUL at {place}: {poisoned} answered {status} {answer}"));
            }
            deepest = deepest.max(place.matches('/').count());
            sent += 1;
        }
    }
    assert!(wrong.is_empty(), "{} of {sent} were not refused as invalid_text:\n{}", wrong.len(), wrong.join("\n"));
    assert!(deepest >= 3, "NULs went deep into nested objects and arrays (deepest: {deepest})");
    assert!(sent >= 4 * with_body.len(), "{sent} poisoned bodies");
    assert!(snapshot(&app).await == stored, "nothing of the poisoned bodies was stored");

    // The examples are bodies of the right shape: sent as they are, none is refused for its shape, so the NUL
    // alone made the difference above. (Their effects do not matter any more; each gets a fresh sign-in, as one
    // of them may sign the admin out.)
    for (op, body) in &with_body {
        let token = app.sign_in(&admin).await;
        let response = send(&app, op, &target, &token, body).await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or_default();
        let code = answer["error"]["code"].as_str().unwrap_or_default();
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        let refused_for_its_shape = matches!(code, "malformed_json" | "invalid_text" | "unsupported_media_type")
            || (code == "invalid_request" && message.contains("deserialize"));
        assert!(!refused_for_its_shape, "{op}: the example {body} is a body of its shape, but: {status} {answer}");
    }
    assert!(snapshot(&app).await != stored, "the snapshot sees what the examples stored (an account, a ban…)");
}

/// Sends `body` to `op` (every path parameter `id`) as its client would: with the token, or signed like the
/// billing provider.
async fn send(app: &TestApp, op: &Operation, id: &str, token: &str, body: &Value) -> reqwest::Response {
    let raw = serde_json::to_string(body).unwrap();
    let url = app.url(&op.path_with(id));
    let request = app.client.request(op.method.clone(), url).header(CONTENT_TYPE, "application/json");
    let request = if op.template == "/v1/billing/events" {
        let signature = tanis::billing::sign(BILLING_SECRET.as_bytes(), app.now().timestamp(), raw.as_bytes());
        request.header("tanis-signature", signature)
    } else {
        request.bearer_auth(token)
    };
    request.body(raw).send().await.unwrap()
}

/// `body` with one NUL each, and where it is (a JSON pointer; `+` marks a key or item added there).
fn poisoned(body: &Value) -> Vec<(String, Value)> {
    let mut variants = Vec::new();
    poison_at(body, "", &mut |place, value| {
        let mut copy = body.clone();
        *copy.pointer_mut(place).unwrap() = value;
        variants.push((place.to_owned(), copy));
    });
    variants.extend(additions(body, ""));
    variants
}

/// Every place in `value` replaced by a NUL-bearing value: strings keep their text around the NUL.
fn poison_at(value: &Value, place: &str, replace: &mut dyn FnMut(&str, Value)) {
    match value {
        Value::String(text) => {
            let half = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
            replace(place, json!(format!("{}{NUL}{}", &text[..half], &text[half..])));
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                poison_at(field, &format!("{place}/{}", name.replace('~', "~0").replace('/', "~1")), replace);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                poison_at(item, &format!("{place}/{index}"), replace);
            }
        }
        _ => replace(place, json!(NUL)),
    }
}

/// For every object of `body`: a key holding a NUL, and a nested object and array with a NUL deep inside; for
/// every array: an item that is a NUL string.
fn additions(body: &Value, place: &str) -> Vec<(String, Value)> {
    let mut variants = Vec::new();
    let target = body.pointer(place).unwrap_or(body);
    match target {
        Value::Object(fields) => {
            let added = [
                (format!("key{NUL}"), json!(1), format!("{place}/+key")),
                (
                    "nested".into(),
                    json!({ "deeper": [{ "deepest": NUL }] }),
                    format!("{place}/+nested/deeper/0/deepest"),
                ),
            ];
            for (key, value, at) in added {
                let mut copy = body.clone();
                copy.pointer_mut(place).unwrap().as_object_mut().unwrap().insert(key, value);
                variants.push((at, copy));
            }
            for name in fields.keys() {
                variants.extend(additions(body, &format!("{place}/{}", name.replace('~', "~0").replace('/', "~1"))));
            }
        }
        Value::Array(items) => {
            let mut copy = body.clone();
            copy.pointer_mut(place).unwrap().as_array_mut().unwrap().push(json!(NUL));
            variants.push((format!("{place}/+"), copy));
            for index in 0..items.len() {
                variants.extend(additions(body, &format!("{place}/{index}")));
            }
        }
        _ => {}
    }
    variants
}

/// Everything the database holds, table by table, as text: two snapshots are equal when nothing was stored,
/// changed or deleted in between.
async fn snapshot(app: &TestApp) -> Vec<(String, Vec<String>)> {
    let mut tables = Vec::new();
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            let names: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for name in names {
                let columns = sqlx::query(AssertSqlSafe(format!("PRAGMA table_info(\"{name}\")")))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                let quoted: Vec<String> =
                    columns.iter().map(|c| format!("quote(\"{}\")", c.get::<String, _>("name"))).collect();
                let sql = format!("SELECT {} AS row FROM \"{name}\" ORDER BY 1", quoted.join(" || '|' || "));
                tables.push((name, sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap()));
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables \
                 WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for name in names {
                let sql = format!("SELECT t::text FROM {name} t ORDER BY 1");
                tables.push((name, sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap()));
            }
        }
    }
    tables
}
