//! The AsyncAPI document (`GET /asyncapi.json`) as the suite's contract: every frame any test sends or receives
//! through `tanis_client::Connection` is checked against the document's schemas ([`install`], called for every
//! test app), so a frame the document does not describe fails the test that saw it. The committed copy,
//! docs/asyncapi.json, is the served document (the SDK's types are generated from it).

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{Value, json};
use tanis_client::Direction;
use tanis_proto::{ClientFrame, CloseCode, ErrorCode, ServerFrame};

use crate::helpers::{Backend, spawn_app};

/// The committed copy, relative to the repository.
const COMMITTED: &str = "docs/asyncapi.json";

/// Makes every `Connection` of this test process check its frames. Idempotent.
pub fn install() {
    tanis_client::observe_frames(check);
}

struct Contract {
    client: Validator,
    server: Validator,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let document = tanis::api::asyncapi::document();
        Contract { client: validator(&document, "ClientFrame"), server: validator(&document, "ServerFrame") }
    })
}

/// A validator for one of the document's schemas, its `$ref`s resolved inside the document.
fn validator(document: &Value, schema: &str) -> Validator {
    let root = json!({
        "$ref": format!("#/components/schemas/{schema}"),
        "components": document["components"],
    });
    jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("the document's {schema} is a valid schema: {e}"))
}

/// Panics, naming each violation, when `text` is not a frame the document describes for its direction. Tests that
/// read a raw socket call it themselves.
pub fn check(direction: Direction, text: &str) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        panic!("{direction:?} a frame that is not JSON: {text}");
    };
    let contract = contract();
    let validator = match direction {
        Direction::Sent => &contract.client,
        Direction::Received => &contract.server,
    };
    let errors: Vec<String> = validator.iter_errors(&frame).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{direction:?} a frame the AsyncAPI document does not describe: {text}\n{errors:#?}");
}

fn described(direction: Direction, frame: Value) -> bool {
    std::panic::catch_unwind(|| check(direction, &frame.to_string())).is_ok()
}

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = reqwest::get(app.url("/asyncapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&served).unwrap(), tanis::api::asyncapi::document());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    if std::env::var_os("ASYNCAPI_WRITE").is_some() {
        std::fs::write(&path, format!("{served}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == format!("{served}\n"),
        "{COMMITTED} differs from GET /asyncapi.json: regenerate it with \
         `ASYNCAPI_WRITE=1 cargo nextest run --test api -E 'test(the_served_document_is_the_committed_one)'`, then \
         regenerate the SDK's types (sdk/typescript: npm run gen-types)"
    );
}

#[test]
fn every_frame_type_is_a_message_of_the_socket_channel() {
    let document = tanis::api::asyncapi::document();
    let messages = document["channels"]["socket"]["messages"].as_object().unwrap();
    let schemas = &document["components"]["schemas"];
    for (enum_name, prefix) in [("ClientFrame", "client."), ("ServerFrame", "server.")] {
        let variants = schemas[enum_name]["oneOf"].as_array().unwrap();
        let tags: Vec<&str> = variants.iter().map(|v| v["properties"]["type"]["const"].as_str().unwrap()).collect();
        for tag in &tags {
            assert!(messages.contains_key(&format!("{prefix}{tag}")), "{prefix}{tag} is a message");
        }
        let operation = if prefix == "client." { "receiveClientFrames" } else { "sendServerFrames" };
        assert_eq!(document["operations"][operation]["messages"].as_array().unwrap().len(), tags.len());
    }
    assert_eq!(messages.len(), document["components"]["messages"].as_object().unwrap().len());
    // Tags taken from the serde output of real frames, so a renamed variant cannot hide.
    let ping = serde_json::to_value(ClientFrame::Ping { id: None }).unwrap();
    assert!(messages.contains_key(&format!("client.{}", ping["type"].as_str().unwrap())));
    let error = serde_json::to_value(ServerFrame::error(None, ErrorCode::RateLimited, "slow down")).unwrap();
    assert!(messages.contains_key(&format!("server.{}", error["type"].as_str().unwrap())));
}

#[test]
fn the_error_codes_and_close_codes_are_the_documented_ones() {
    let document = tanis::api::asyncapi::document();
    // The document's error codes are the enum's (schemars derives them); each must parse back as an ErrorCode
    // and be a row of docs/protocol.md's table (section 6), and each row must be in the document.
    let schema = &document["components"]["schemas"]["ErrorCode"];
    let mut in_document: Vec<String> = schema["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["enum"].as_array().cloned().unwrap_or_else(|| vec![v["const"].clone()]))
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    in_document.sort();
    for code in &in_document {
        serde_json::from_value::<ErrorCode>(Value::String(code.clone())).unwrap();
    }
    let protocol = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md")).unwrap();
    let table = protocol.split("## 6. Error codes").nth(1).unwrap().split("\n## ").next().unwrap();
    let mut in_table: Vec<String> =
        table.lines().filter_map(|l| l.strip_prefix("| `")).map(|l| l.split('`').next().unwrap().to_owned()).collect();
    in_table.sort();
    assert_eq!(in_document, in_table, "the document's error codes are docs/protocol.md's");

    let close = document["components"]["schemas"]["CloseCode"]["oneOf"].as_array().unwrap();
    let numbers: Vec<u64> = close.iter().map(|c| c["const"].as_u64().unwrap()).collect();
    assert_eq!(numbers, CloseCode::ALL.map(|c| u64::from(c.code())));
    for (code, listed) in CloseCode::ALL.iter().zip(close) {
        assert_eq!(listed["title"], code.reason());
        let row = format!("| {} | `{}` |", code.code(), code.reason());
        assert!(protocol.contains(&row), "docs/protocol.md section 3 has {row}");
    }
}

#[test]
fn a_frame_the_document_does_not_describe_fails_the_check() {
    // Described: what the server and clients really send.
    assert!(described(Direction::Sent, json!({"type": "ping", "id": "r1"})));
    assert!(described(Direction::Sent, json!({"type": "match.find", "kind": "text", "public_key": "AAAA"})));
    let found = json!({"type": "match.find", "kind": "video", "public_key": "AAAA", "region": {"radius_km": 50}});
    assert!(described(Direction::Sent, found));
    let error = ServerFrame::error(Some("r3".into()), ErrorCode::QuotaExhausted, "no units left").to_json();
    assert!(described(Direction::Received, serde_json::from_str(&error).unwrap()));
    // Not described: an unknown type, an unknown or missing field, a wrong type, a server frame sent by a client.
    for (direction, frame) in [
        (Direction::Sent, json!({"type": "nope"})),
        (Direction::Sent, json!({"type": "ping", "extra": 1})),
        (Direction::Sent, json!({"type": "msg.ack", "match_id": 1})),
        (Direction::Sent, json!({"type": "msg.ack", "match_id": "1", "seq": 2})),
        (Direction::Sent, json!({"type": "hello"})),
        (Direction::Received, json!({"type": "pong", "id": null, "surprise": true})),
        (Direction::Received, json!({"type": "error", "id": null, "code": "no_such_code", "message": "x"})),
        (Direction::Received, json!({"type": "msg.delivered", "match_id": 1})),
    ] {
        assert!(!described(direction, frame.clone()), "{direction:?} {frame} is refused");
    }
}
