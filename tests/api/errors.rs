use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, assert_error, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    malformed_requests_get_our_error_shape_and_store_nothing,
    every_operation_documents_the_errors_its_shape_can_cause,
    an_integer_with_a_zero_fraction_is_an_integer_and_a_fraction_is_refused,
    every_route_answers_a_malformed_path_parameter_in_our_error_shape,
    a_plain_request_to_the_websocket_gets_our_error_shape,
    a_stalled_body_gets_a_408_in_our_error_shape,
    a_body_far_over_the_limit_gets_its_413_not_a_broken_pipe,
    a_refused_body_is_read_on_only_so_far,
    a_control_character_in_a_header_gets_the_bare_400_the_docs_describe,
);

async fn malformed_requests_get_our_error_shape_and_store_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_body_bytes = 2048).await;
    let register = || app.post("/v1/auth/register");

    let broken = register().header(CONTENT_TYPE, "application/json").body("{\"phone\": ").send().await.unwrap();
    assert_error(broken, StatusCode::BAD_REQUEST, "malformed_json").await;

    let form =
        register().header(CONTENT_TYPE, "application/x-www-form-urlencoded").body("phone=1").send().await.unwrap();
    assert_error(form, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

    let huge = format!("{{\"phone\": \"{}\"}}", "5".repeat(4096));
    let oversize = register().header(CONTENT_TYPE, "application/json").body(huge).send().await.unwrap();
    assert_error(oversize, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let array = register().header(CONTENT_TYPE, "application/json").body("[]").send().await.unwrap();
    assert_error(array, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    // serde would fill a struct of options from an array: the API takes objects only.
    let user = app.user("kediadam").await;
    let tuple = app.patch_me(&user.access, &serde_json::json!([null, null])).await;
    assert_error(tuple, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;

    let nowhere = app.client.get(app.url("/v1/nowhere")).send().await.unwrap();
    assert_error(nowhere, StatusCode::NOT_FOUND, "not_found").await;

    let wrong_method = app.client.get(app.url("/v1/auth/login")).send().await.unwrap();
    assert_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1, "only the user made for the tuple case");
}

/// Walks the OpenAPI document: every operation with a path parameter, given values that are not its type.
async fn every_route_answers_a_malformed_path_parameter_in_our_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    // An admin: the role check comes before the path is read, and admins pass it on every route.
    let moderator = app.user("kaptan").await;
    app.store.set_role(moderator.id, tanis::domain::Role::Admin, app.now()).await.unwrap();
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut walked = 0;
    for (template, operations) in doc["paths"].as_object().unwrap() {
        if !template.contains('{') {
            continue;
        }
        for (method, operation) in operations.as_object().unwrap() {
            assert!(operation["responses"]["400"].is_object(), "{method} {template} documents its 400");
            for bad in ["abc", "1.5", "99999999999999999999", "%00", "-", "1e3"] {
                let path = template.split('/').map(|s| if s.starts_with('{') { bad } else { s }).collect::<Vec<_>>();
                let url = app.url(&path.join("/"));
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let response = app
                    .client
                    .request(method.clone(), &url)
                    .bearer_auth(&moderator.access)
                    .json(&serde_json::json!({ "reason": "x" }))
                    .send()
                    .await
                    .unwrap();
                let json = response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("application/json");
                assert!(json, "{method} {url} answers JSON");
                assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
            }
            walked += 1;
        }
    }
    assert!(walked >= 3, "the document lists the routes that take an id ({walked} walked)");
}

async fn a_plain_request_to_the_websocket_gets_our_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let plain = app.client.get(app.url("/v1/ws")).send().await.unwrap();
    assert_error(plain, StatusCode::UPGRADE_REQUIRED, "upgrade_required").await;
}

/// A client that announces a body and stops sending it is answered, in our shape, once the request timeout passes.
async fn a_stalled_body_gets_a_408_in_our_error_shape(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.request_timeout_ms = 300).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"phone\":"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_string(&mut answer));
    read.await.expect("answered, not left hanging").unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
}

/// The server refuses a body once it passes the limit, and reads the rest before it lets the connection go: a
/// client still writing would otherwise fail with a broken pipe and never see the answer (src/api/drain.rs). Here
/// the client reads the refusal first, then sends the rest and its next request on the same connection.
async fn a_body_far_over_the_limit_gets_its_413_not_a_broken_pipe(backend: Backend) {
    const BODY: usize = 1024 * 1024;
    let app = spawn_app(backend).await;
    let (mut tcp, address) = registration_declaring(&app, BODY).await;
    let body = vec![b' '; BODY];
    // Past the limit (64 KiB): the refusal comes before the rest is sent.
    tcp.write_all(&body[..128 * 1024]).await.unwrap();
    let refusal = read_answer(&mut tcp).await;
    assert!(refusal.starts_with("HTTP/1.1 413"), "{refusal}");
    assert!(refusal.contains(r#""code":"payload_too_large""#), "{refusal}");

    tcp.write_all(&body[128 * 1024..]).await.expect("the rest is read, not refused");
    tcp.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).await.unwrap();
    let next = read_answer(&mut tcp).await;
    assert!(next.starts_with("HTTP/1.1 200"), "the connection serves the next request: {next}");
}

/// A connection that has sent a registration's head declaring a body of `length` bytes, and the server's address.
async fn registration_declaring(app: &crate::helpers::TestApp, length: usize) -> (tokio::net::TcpStream, String) {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/auth/register HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    (tcp, address)
}

/// One HTTP/1.1 answer with a `content-length`, read off the connection.
async fn read_answer(tcp: &mut tokio::net::TcpStream) -> String {
    let mut read = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&read).into_owned();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .expect("a content-length");
            if rest.len() >= length {
                return text;
            }
        }
        let n = tcp.read(&mut buffer).await.expect("the answer, not a broken connection");
        assert!(n > 0, "the connection closed before the answer was whole: {text}");
        read.extend_from_slice(&buffer[..n]);
    }
}

/// What is read of a refused body is bounded: a client that never stops sending is cut off.
async fn a_refused_body_is_read_on_only_so_far(backend: Backend) {
    const DECLARED: usize = 256 * 1024 * 1024;
    let app = spawn_app(backend).await;
    let (mut tcp, _) = registration_declaring(&app, DECLARED).await;
    let chunk = vec![b'5'; 64 * 1024];
    let mut written = 0;
    let until_cut_off = async {
        while written < DECLARED && tcp.write_all(&chunk).await.is_ok() {
            written += chunk.len();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), until_cut_off).await.expect("cut off, not read on");
    // The limit (64 KiB), what is drained (2 MiB) and the two sockets' buffers: far less than what was declared.
    assert!(written < DECLARED / 8, "the server read {written} bytes of a refused body");
}

/// What an operation takes decides errors the server gives before any handler logic: the document lists them.
async fn every_operation_documents_the_errors_its_shape_can_cause(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let listed = |status: &str| operation["responses"][status]["content"]["application/json"].is_object();
            let mut expected = vec!["408", "500"];
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if operation["security"].as_array().is_some_and(|s| !s.is_empty()) {
                expected.push("401");
            }
            for status in expected {
                assert!(listed(status), "{method} {path} lists {status} with the error body");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} operations");
}

/// JSON Schema counts `999.0` as an integer, so the server must too; `999.5` is not one.
async fn an_integer_with_a_zero_fraction_is_an_integer_and_a_fraction_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kediadam").await;
    let claim = |id: Value| {
        app.client
            .post(app.url("/v1/claims"))
            .bearer_auth(&user.access)
            .json(&serde_json::json!({ "match_id": id }))
            .send()
    };
    let whole = claim(serde_json::json!(999.0)).await.unwrap();
    assert_error(whole, StatusCode::NOT_FOUND, "not_matched").await;
    let fraction = claim(serde_json::json!(999.5)).await.unwrap();
    assert_error(fraction, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

/// Below the router: hyper refuses a header value with a control character before anything of ours runs, with a
/// 400 that has no body. docs/errors.md says so.
async fn a_control_character_in_a_header_gets_the_bare_400_the_docs_describe(backend: Backend) {
    let app = spawn_app(backend).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let answer = |user_agent: &'static str| {
        let address = address.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
            let head = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nUser-Agent: {user_agent}\r\n\r\n");
            tcp.write_all(head.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut answer));
            read.await.expect("answered and closed, not left hanging").unwrap();
            String::from_utf8(answer).unwrap()
        }
    };
    for bad in ["kedi\u{1}app/1.0", "kedi\u{7f}app/1.0"] {
        let answer = answer(bad).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{bad:?}: {answer}");
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
        assert_eq!(body, "", "no body for {bad:?}: {answer}");
    }
    // A tab is allowed in a header's value: the request reaches the router.
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head =
        format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nUser-Agent: kedi\tapp\r\nConnection: close\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut ok = String::new();
    tcp.read_to_string(&mut ok).await.unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md")).unwrap();
    let docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        docs.contains("a control character other than a tab in any header's value")
            && docs.contains("`400` with no body"),
        "docs/errors.md describes the bare 400"
    );
}
