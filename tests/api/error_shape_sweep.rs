//! Every answer has the JSON shape (docs/errors.md), also where an extractor or the router answers before any
//! handler: every operation of the OpenAPI document is sent bodies over the limit, broken and mistyped bodies,
//! malformed queries and paths, methods it does not take, and paths under it that do not exist. Each answer
//! must be our error shape with a code docs/errors.md documents, at the status documented for that code.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, RequestBuilder};
use serde_json::json;

use crate::api_document::{document, documented_codes, documented_error, not_of_its_type, operations};
use crate::helpers::{Backend, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(every_route_refuses_what_it_cannot_read_in_json_with_a_documented_code);

/// The body limit of the sweep's server: small, so a body over it is cheap to send.
const LIMIT: usize = 2048;
/// Routes with a body limit of their own, over `max_body_bytes`: a call report may carry a snapshot
/// (src/api/call_reports.rs, about 360 KiB).
const OWN_LIMITS: &[(&str, usize)] = &[("/v1/reports/call", 400 * 1024)];

/// The answers checked, and every one that was wrong (all of them are reported, not only the first).
struct Sweep {
    codes: BTreeMap<String, u16>,
    checked: usize,
    wrong: Vec<String>,
}

impl Sweep {
    /// `sent` must answer in our shape with a documented code; with `expected`, that status and code.
    async fn check(&mut self, what: String, sent: RequestBuilder, expected: Option<(u16, &str)>) {
        self.checked += 1;
        match documented_error(sent.send().await.unwrap(), &self.codes).await {
            Err(wrong) => self.wrong.push(format!("{what}: {wrong}")),
            Ok((status, code)) => {
                if let Some((want_status, want_code)) = expected.filter(|want| *want != (status, code.as_str())) {
                    self.wrong.push(format!("{what}: {status} {code}, not {want_status} {want_code}"));
                }
            }
        }
    }
}

async fn every_route_refuses_what_it_cannot_read_in_json_with_a_documented_code(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_body_bytes = LIMIT).await;
    // An admin passes every role check, so each refusal below is the request's own, not the role's.
    let admin = app.user("kaptan").await;
    app.store.set_role(admin.id, tanis::domain::Role::Admin, app.now()).await.unwrap();
    let doc = document(&app).await;
    let request = |method: &Method, path: &str| app.client.request(method.clone(), app.url(path));
    let as_admin = |method: &Method, path: &str| request(method, path).bearer_auth(&admin.access);
    let mut sweep = Sweep { codes: documented_codes(), checked: 0, wrong: Vec::new() };

    for op in operations(&doc) {
        let path = op.path_with("1");
        if op.body_schema().is_some() {
            let limit = OWN_LIMITS.iter().find(|(path, _)| *path == op.template).map_or(LIMIT, |(_, limit)| *limit);
            let oversize = format!("{{\"filler\":\"{}\"}}", "x".repeat(limit));
            let bodies = [
                ("a body over the limit", oversize.as_str(), "application/json", Some((413, "payload_too_large"))),
                ("broken JSON", "{\"phone\": ", "application/json", None),
                ("a body that is not JSON", "phone=1", "application/x-www-form-urlencoded", None),
                ("a JSON array", "[1, 2]", "application/json", None),
            ];
            for (what, body, content_type, expected) in bodies {
                let sent = as_admin(&op.method, &path).header(CONTENT_TYPE, content_type).body(body.to_owned());
                sweep.check(format!("{op} with {what}"), sent, expected).await;
            }
        } else {
            // An operation that reads no body ignores one; without a token it acts on nothing.
            let oversize = "x".repeat(2 * LIMIT);
            let sent = request(&op.method, &path).header(CONTENT_TYPE, "application/json").body(oversize);
            let response = sent.try_clone().unwrap().send().await.unwrap();
            if !response.status().is_success() {
                sweep.check(format!("{op} with a body it does not take"), sent, None).await;
            }
        }

        // Query parameters: not of their type, repeated, and one the operation does not take.
        let parameters = op.query_parameters();
        let mut queries: Vec<String> = parameters
            .iter()
            .flat_map(|(name, schema)| {
                let wrong = not_of_its_type(schema).map(|value| format!("{name}={value}"));
                wrong.into_iter().chain([format!("{name}=1&{name}=2")])
            })
            .collect();
        if !parameters.is_empty() {
            queries.push("unknown_parameter=1".into());
        }
        for query in queries {
            let sent = as_admin(&op.method, &format!("{path}?{query}"));
            sweep.check(format!("{op} with ?{query}"), sent, Some((400, "invalid_parameter"))).await;
        }

        // Path parameters that are not of their type, or not text at all.
        if op.template.contains('{') {
            for bad in ["abc", "%FF", "1.5", "99999999999999999999"] {
                let sent = as_admin(&op.method, &op.path_with(bad)).json(&json!({}));
                sweep.check(format!("{op} at {}", op.path_with(bad)), sent, Some((400, "invalid_parameter"))).await;
            }
        }

        // A path under it that does not exist (three segments: deeper than any template goes below another).
        let sent = as_admin(&op.method, &format!("{path}/no/such/route"));
        sweep.check(format!("{op} under /no/such/route"), sent, Some((404, "not_found"))).await;
    }

    // Methods a path does not take.
    let all = operations(&doc);
    for template in all.iter().map(|op| &op.template).collect::<BTreeSet<_>>() {
        let taken: Vec<&Method> = all.iter().filter(|op| &op.template == template).map(|op| &op.method).collect();
        let path = all.iter().find(|op| &op.template == template).unwrap().path_with("1");
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS] {
            if !taken.contains(&&method) {
                let sent = as_admin(&method, &path);
                sweep.check(format!("{method} {template}"), sent, Some((405, "method_not_allowed"))).await;
            }
        }
    }

    // Routes outside the document: the web client's files, the document's own UI, and nowhere at all.
    let outside = [
        (Method::GET, "/app/%FF", 400, "invalid_parameter"),
        (Method::GET, "/app/nowhere.js", 404, "not_found"),
        (Method::POST, "/", 405, "method_not_allowed"),
        (Method::GET, "/docs/nowhere.js", 404, "not_found"),
        (Method::GET, "/docs/%FF", 400, "invalid_parameter"),
        (Method::POST, "/openapi.json", 405, "method_not_allowed"),
        (Method::GET, "/nowhere", 404, "not_found"),
    ];
    for (method, path, status, code) in outside {
        sweep.check(format!("{method} {path}"), request(&method, path), Some((status, code))).await;
    }

    assert!(
        sweep.wrong.is_empty(),
        "{} of {} answers were wrong:\n{}",
        sweep.wrong.len(),
        sweep.checked,
        sweep.wrong.join("\n")
    );
    assert!(sweep.checked > 300, "the sweep reached the operations ({} answers checked)", sweep.checked);
}
