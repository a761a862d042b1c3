use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use crate::helpers::{Backend, assert_error, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(malformed_requests_get_our_error_shape_and_store_nothing);

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

    let nowhere = app.client.get(app.url("/v1/nowhere")).send().await.unwrap();
    assert_error(nowhere, StatusCode::NOT_FOUND, "not_found").await;

    let wrong_method = app.client.get(app.url("/v1/auth/login")).send().await.unwrap();
    assert_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}
