//! The OpenAPI document (`GET /openapi.json`) as tests walk it, so a sweep over "every operation" cannot miss one
//! added later: its operations, a valid example body for one, and the error codes docs/errors.md documents.

use std::collections::BTreeMap;

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response};
use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

/// One operation of the document.
pub struct Operation {
    pub method: Method,
    /// As the document spells it: `/v1/admin/users/{id}/ban`.
    pub template: String,
    pub spec: Value,
}

impl Operation {
    /// The path with every parameter set to `value`.
    pub fn path_with(&self, value: &str) -> String {
        self.template.split('/').map(|s| if s.starts_with('{') { value } else { s }).collect::<Vec<_>>().join("/")
    }

    /// The schema of its JSON body, if it takes one.
    pub fn body_schema(&self) -> Option<&Value> {
        self.spec.get("requestBody").map(|b| &b["content"]["application/json"]["schema"])
    }

    /// Its query parameters: each name with its schema.
    pub fn query_parameters(&self) -> Vec<(String, Value)> {
        let parameters = self.spec["parameters"].as_array().into_iter().flatten();
        let query = parameters.filter(|p| p["in"] == "query");
        query.map(|p| (p["name"].as_str().unwrap().to_owned(), p["schema"].clone())).collect()
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.template)
    }
}

pub async fn document(app: &TestApp) -> Value {
    app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap()
}

/// Every operation, in the document's order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let mut all = Vec::new();
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, spec) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            all.push(Operation { method, template: template.clone(), spec: spec.clone() });
        }
    }
    all
}

/// A body `schema` accepts, with every optional field present and one item in every array, so that it reaches
/// as deep as the schema goes. Strings take the schema's example, first enum value or pattern alternative.
pub fn example(doc: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return example(doc, &doc["components"]["schemas"][name]);
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema[combinator].as_array().and_then(|all| {
            // An optional field is `oneOf: [null, T]`: take T.
            all.iter().find(|s| s["type"] != "null")
        }) {
            return example(doc, first);
        }
    }
    if let Some(example) = schema.get("example").filter(|e| !e.is_null()) {
        return example.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.iter().find(|v| !v.is_null())) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").and_then(Value::as_str).unwrap_or("null"),
        kind => kind.as_str().unwrap_or(if schema.get("properties").is_some() { "object" } else { "null" }),
    };
    match kind {
        "object" => {
            let properties = schema["properties"].as_object().into_iter().flatten();
            Value::Object(properties.map(|(name, s)| (name.clone(), example(doc, s))).collect::<Map<_, _>>())
        }
        "array" => json!([example(doc, &schema["items"])]),
        "string" => json!(example_string(schema)),
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(1).max(1)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(1.0).max(1.0)),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

fn example_string(schema: &Value) -> String {
    if schema["format"] == "date-time" {
        return "2026-12-01T00:00:00Z".into();
    }
    // `^(a|b|c)$`: the first alternative.
    if let Some(pattern) = schema["pattern"].as_str()
        && let Some(inner) = pattern.strip_prefix("^(").and_then(|p| p.strip_suffix(")$"))
    {
        return inner.split('|').next().unwrap().to_owned();
    }
    let minimum = schema["minLength"].as_u64().unwrap_or(1) as usize;
    "ornek".repeat(minimum.div_ceil(5))
}

/// A value the parameter's schema does not allow, written for a query string; `None` for free text.
pub fn not_of_its_type(schema: &Value) -> Option<&'static str> {
    if schema["type"] == "integer" {
        Some("abc")
    } else if schema["format"] == "date-time" {
        Some("yesterday")
    } else if schema.get("pattern").is_some() {
        // Not UTF-8 at all: decoded, two replacement characters, which no pattern of the document allows.
        Some("%FF%FE")
    } else {
        None
    }
}

/// docs/errors.md's table: each documented code with its HTTP status.
pub fn documented_codes() -> BTreeMap<String, u16> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    let codes: BTreeMap<String, u16> = text
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).skip(1);
            let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((code.to_owned(), cells.next()?.parse().ok()?))
        })
        .collect();
    assert!(codes.len() >= 40 && codes["not_found"] == 404, "docs/errors.md's table was read: {codes:?}");
    codes
}

/// Whether `response` is an error in our shape (JSON, exactly `code` and `message`) with a code docs/errors.md
/// documents, at the status documented for it: its status and code, or what is wrong.
pub async fn documented_error(response: Response, codes: &BTreeMap<String, u16>) -> Result<(u16, String), String> {
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    if status < 400 {
        return Err(format!("not an error: {status} {text}"));
    }
    if !content_type.as_deref().is_some_and(|t| t.starts_with("application/json")) {
        return Err(format!("not JSON: {status} {content_type:?} {text:?}"));
    }
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    let keys: Vec<&String> = body["error"].as_object().map(|e| e.keys().collect()).unwrap_or_default();
    if keys != ["code", "message"] {
        return Err(format!("not our error shape: {text}"));
    }
    let code = body["error"]["code"].as_str().unwrap().to_owned();
    match codes.get(&code) {
        None => Err(format!("{code} is not in docs/errors.md")),
        Some(documented) if *documented != status => {
            Err(format!("{code} at {status}; docs/errors.md says {documented}"))
        }
        Some(_) => Ok((status, code)),
    }
}
