//! The REST surface. Each area exposes a `router()`; [`router`] merges them, adds the OpenAPI
//! document and its UI, and gives unknown routes and methods our JSON error shape.
//!
//! Handler modules never import each other: what two of them share is a module with no routes of its own
//! (`me`, `credentials`, `one_time_codes`, `statements`, `pages`, `extract`, `error`; `admin::audit_entry`), a
//! domain type, or the service layer. The rules on a request's words and ranges are domain types
//! ([`crate::domain`]), parsed here at the edge; `error` gives each of their refusals its code.

mod accounts;
mod admin;
mod ads;
mod age_assurance;
pub mod asyncapi;
mod ban;
mod billing;
mod blocks;
mod call_reports;
mod claims;
mod consent;
mod contacts;
mod credentials;
mod deletion;
mod devices;
mod drain;
pub mod error;
mod export;
mod extract;
mod gender;
mod interests;
mod me;
mod notifications;
mod one_time_codes;
mod openapi;
mod ops;
mod pages;
mod password_reset;
mod phone;
mod rtc;
mod sessions;
mod statements;
mod web;
mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::accounts::Accounts;
use crate::config::Config;
use crate::hub::Hub;
use crate::store::Store;
use error::{ApiError, ErrorCode};
use openapi::{BearerAuth, CommonErrors};

pub use extract::AuthUser;

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub accounts: Arc<Accounts>,
    pub store: Store,
    pub hub: Hub,
    pub config: Arc<Config>,
    pub metrics: PrometheusHandle,
    /// Age assurance through the configured provider (none: the endpoints say it is not offered).
    pub age: Arc<crate::age::AgeAssurance>,
}

impl AppState {
    /// The daily units of a premium user: (text, video).
    pub fn premium_units(&self) -> crate::store::PremiumUnits {
        let q = &self.config.quotas;
        let units = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        (units(q.premium_text_daily), units(q.premium_video_daily))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "tanis", description = "Anonymous text and video matching chat server: REST endpoints. \
        The WebSocket protocol is described in docs/protocol.md."),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The complete HTTP application.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_millis(state.config.request_timeout_ms);
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::router())
        .merge(sessions::router())
        .merge(phone::router())
        .merge(password_reset::router())
        .merge(deletion::router())
        .merge(blocks::router())
        .merge(contacts::router())
        .merge(claims::router())
        .merge(call_reports::router())
        .merge(consent::router())
        .merge(gender::router())
        .merge(age_assurance::router())
        .merge(export::router())
        .merge(admin::router())
        .merge(ban::router())
        .merge(ads::router())
        .merge(devices::router())
        .merge(billing::router())
        .merge(notifications::router())
        .merge(rtc::router())
        .merge(interests::router())
        .merge(ops::router())
        .merge(ws::router())
        .split_for_parts();
    // After the merge: the common error answers go on every operation of every router.
    CommonErrors.modify(&mut openapi);
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(web::router())
        .merge(asyncapi::router())
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this endpoint does not take that method")
        })
        .layer(middleware::from_fn(error::json_errors))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::map_request(drain::on_drop))
        .layer(middleware::from_fn(record_request))
        // A 5xx answer is a warning here, not an error: an internal failure logs its cause at ERROR where it
        // happens (`ApiError::internal`), and a 503 is what a draining node or a down database is meant to answer
        // (a rolling update would otherwise page someone for every readiness probe it fails on purpose).
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::WARN)))
        // A request that has not finished in time is answered 408 so shutdown never waits on a stuck client.
        .layer(middleware::from_fn(move |request, next| within(timeout, request, next)))
        .with_state(state)
}

/// Answers `408 request_timeout` in our error shape when the request (reading its body included) takes longer
/// than `timeout`; tower-http's timeout layer answers with an empty body.
async fn within(timeout: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::RequestTimeout, "the request did not complete in time").into_response(),
    }
}

/// Counts requests and their latency by route template (never by raw path: ids would explode the labels).
async fn record_request(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("tanis_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("tanis_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
