//! `GET /asyncapi.json`: the WebSocket protocol as an AsyncAPI 3 document, beside `/openapi.json` for REST.
//!
//! Every schema in it is derived (schemars) from the serde types of `tanis-proto` that the server parses and
//! sends, so the document describes exactly the frames on the wire: one message per frame type, the error codes
//! of `error` frames, the close codes, the subprotocol and the two ways to present the access token. The test
//! suite checks every frame it sends and receives against these schemas (tests/api/frames.rs), a copy is committed
//! as docs/asyncapi.json (a test keeps the two equal) and scripts/test validates it with the AsyncAPI parser.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Map, Value, json};
use tanis_proto::schemars::generate::SchemaSettings;
use tanis_proto::{
    AUTH_SUBPROTOCOL_PREFIX, ClientFrame, CloseCode, ErrorCode, PROTOCOL_VERSION, PROTOCOL_VERSION_2, SUBPROTOCOL,
    SUBPROTOCOL_V2, ServerFrame,
};

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/asyncapi.json", get(serve))
}

async fn serve() -> impl IntoResponse {
    static BODY: OnceLock<String> = OnceLock::new();
    let body = BODY.get_or_init(|| serde_json::to_string_pretty(&document()).expect("the document serialises"));
    ([(CONTENT_TYPE, "application/json")], body.as_str())
}

/// Where the frames' schemas live in the document; schemars writes its `$ref`s against this path.
const SCHEMAS: &str = "/components/schemas";

/// The whole document. Deterministic: the same build always gives the same bytes.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft07()
        .with(|s| {
            s.definitions_path = SCHEMAS.into();
            s.meta_schema = None;
        })
        .into_generator();
    // Each call adds the type and everything it refers to under `SCHEMAS`.
    generator.subschema_for::<ClientFrame>();
    generator.subschema_for::<ServerFrame>();
    generator.subschema_for::<ErrorCode>();
    generator.subschema_for::<CloseCode>();
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();

    let client = messages(&schemas["ClientFrame"], "ClientFrame");
    let server = messages(&schemas["ServerFrame"], "ServerFrame");
    let mut channel_messages = Map::new();
    let mut component_messages = Map::new();
    for (name, message) in client.iter().chain(server.iter()) {
        // A frame type both sides use (`typing`, `rtc.offer`, `contact.key`…) is two messages, one per direction.
        channel_messages.insert(name.clone(), json!({"$ref": format!("#/components/messages/{name}")}));
        component_messages.insert(name.clone(), message.clone());
    }
    let refs = |list: &[(String, Value)]| -> Vec<Value> {
        list.iter().map(|(name, _)| json!({"$ref": format!("#/channels/socket/messages/{name}")})).collect()
    };

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "tanis WebSocket API",
            "version": PROTOCOL_VERSION_2.to_string(),
            "description": format!(
                "One WebSocket per client, JSON text frames tagged by `type`, protocol version \
                 {PROTOCOL_VERSION_2} negotiated with the subprotocol `{SUBPROTOCOL_V2}` (version \
                 {PROTOCOL_VERSION} with `{SUBPROTOCOL}` or none: fields marked \"version 2 only\" are then \
                 neither sent nor accepted). Client frames may carry an `id`, echoed by the \
                 answer. A client must ignore fields it does not know: within a version fields may be added, \
                 never changed. docs/protocol.md explains every frame with examples; error codes are \
                 `#/components/schemas/ErrorCode`, close codes `#/components/schemas/CloseCode`."
            ),
            "license": {"name": "AGPL-3.0-only"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "tanis": {
                "host": "localhost:8080",
                "protocol": "wss",
                "pathname": "/v1/ws",
                "description": "Any tanis node, or the load balancer in front of several (ws on a plain-HTTP \
                    development server).",
                "security": [
                    {"$ref": "#/components/securitySchemes/bearer"},
                    {"$ref": "#/components/securitySchemes/subprotocol"}
                ],
            }
        },
        "channels": {
            "socket": {
                "address": "/v1/ws",
                "title": "The client's socket",
                "description": format!(
                    "Offer the subprotocol `{SUBPROTOCOL_V2}` (or `{SUBPROTOCOL}`; the server selects the first of \
                     `{SUBPROTOCOL_V2}`, `{SUBPROTOCOL}` offered). The first frame is `hello`; a \
                     handshake without a valid token is accepted and then closed with 4001 (4002 when expired)."
                ),
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "headers": {
                            "type": "object",
                            "properties": {
                                "Sec-WebSocket-Protocol": {
                                    "type": "string",
                                    "description": format!(
                                        "`{SUBPROTOCOL_V2}, {SUBPROTOCOL}`, and for clients that cannot \
                                         set headers `{SUBPROTOCOL_V2}, {SUBPROTOCOL}, \
                                         {AUTH_SUBPROTOCOL_PREFIX}<access token>`"
                                    ),
                                },
                                "Authorization": {"type": "string", "description": "`Bearer <access token>`"},
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": {
            "receiveClientFrames": {
                "action": "receive",
                "channel": {"$ref": "#/channels/socket"},
                "summary": "Frames a client sends (the server receives).",
                "messages": refs(&client),
            },
            "sendServerFrames": {
                "action": "send",
                "channel": {"$ref": "#/channels/socket"},
                "summary": "Frames the server sends.",
                "messages": refs(&server),
            },
        },
        "components": {
            "schemas": schemas,
            "messages": component_messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access token of POST /v1/auth/login or /v1/auth/refresh, in \
                        `Authorization: Bearer …` (mobile clients). It wins when both ways are used.",
                },
                "subprotocol": {
                    "type": "httpApiKey",
                    "name": "Sec-WebSocket-Protocol",
                    "in": "header",
                    "description": format!(
                        "The access token as the subprotocol `{AUTH_SUBPROTOCOL_PREFIX}<token>` offered beside \
                         `{SUBPROTOCOL}` (browsers, which cannot set headers on a WebSocket)."
                    ),
                },
            },
        },
    })
}

/// One AsyncAPI message per variant of a frame enum (a `oneOf` of objects whose `type` is a constant), named by
/// its direction and that constant: `client.msg.send`, `server.msg`. Both sides use some types (`typing`).
fn messages(frames: &Value, which: &str) -> Vec<(String, Value)> {
    let variants = frames["oneOf"].as_array().unwrap_or_else(|| panic!("{which} is a oneOf of its frames"));
    variants
        .iter()
        .map(|variant| {
            let tag = variant["properties"]["type"]["const"]
                .as_str()
                .unwrap_or_else(|| panic!("every {which} names its type: {variant}"));
            let name = if which == "ServerFrame" { format!("server.{tag}") } else { format!("client.{tag}") };
            let summary = variant.get("description").and_then(Value::as_str).unwrap_or("").to_owned();
            let message = json!({
                "name": tag,
                "title": tag,
                "summary": summary.lines().next().unwrap_or(""),
                "description": summary,
                "contentType": "application/json",
                "payload": variant,
            });
            (name, message)
        })
        .collect()
}
