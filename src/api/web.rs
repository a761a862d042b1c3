//! The browser reference client (`web/`, docs/web-client.md), compiled into the binary and served at `/` (the
//! page) and `/app/<file>` (its modules and stylesheet), and the moderators' console (`web/admin/`) at `/admin/`, with the modules of the client SDK it is built on
//! (`sdk/typescript/src/`, plain ES modules with their vendored cryptography) at `/app/sdk/<path>`: the page
//! imports them relatively (`./sdk/crypto/e2e.js`), so the SDK the apps ship is the code the browser runs.
//! Nothing is read from disk or fetched from elsewhere at run time, and no build step stands between the
//! sources and the binary, so `tanis serve` alone is enough to try the product.
//!
//! These routes are not REST: they stay out of the OpenAPI document (schemathesis fuzzes only what it lists).
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this origin, network only
//! to this origin and its WebSocket, no frames, no inline code. End-to-end encryption in a page is only as good
//! as the code the page runs, so the page must not be able to run anyone else's.

use std::sync::OnceLock;

use axum::Router;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, AppPath, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/admin/", get(console)).route("/app/{*path}", get(file))
}

/// One file of `web/` or of the SDK, as served.
struct Asset {
    /// Under `/app/`: a path in `web/`, or `sdk/` and a path in `sdk/typescript/src/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

/// A file of the SDK's sources (`sdk/typescript/src/<path>`), served at `/app/sdk/<path>`.
macro_rules! sdk_asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: concat!("sdk/", $path),
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/typescript/src/", $path)),
        }
    };
}

/// Every file under `web/` but its Markdown notes, which are documentation (and not in the Docker build
/// context), and every SDK module the page imports, with the vendored code's licence. tests/api/web.rs fails
/// when a file of `web/` or of `sdk/typescript/src/crypto/` is missing here, or when a served module imports one
/// that is not served.
static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("icon.svg", SVG),
    asset!("app.js", JS),
    asset!("matches.js", JS),
    asset!("contacts.js", JS),
    asset!("api.js", JS),
    asset!("socket.js", JS),
    asset!("changes.js", JS),
    asset!("storage.js", JS),
    asset!("upgrade.js", JS),
    asset!("video.js", JS),
    asset!("i18n.js", JS),
    asset!("interests.js", JS),
    asset!("region.js", JS),
    asset!("age.js", JS),
    asset!("languages.js", JS),
    asset!("dom.js", JS),
    asset!("icons.js", JS),
    asset!("views/account.js", JS),
    asset!("views/auth.js", JS),
    asset!("views/ban.js", JS),
    asset!("views/call.js", JS),
    asset!("views/chat.js", JS),
    asset!("views/contact-chat.js", JS),
    asset!("views/contacts.js", JS),
    asset!("views/header.js", JS),
    asset!("views/keep.js", JS),
    asset!("views/lobby.js", JS),
    asset!("views/panel.js", JS),
    asset!("views/profile.js", JS),
    // The moderators' console (`web/admin/`, served at /admin/): plain modules of its own, its tokens the SDK's
    // api.js (below).
    asset!("admin/index.html", HTML),
    asset!("admin/console.css", CSS),
    asset!("admin/console.js", JS),
    asset!("admin/address.js", JS),
    asset!("admin/actions.js", JS),
    asset!("admin/api.js", JS),
    asset!("admin/appeals.js", JS),
    asset!("admin/audit.js", JS),
    asset!("admin/dom.js", JS),
    asset!("admin/i18n.js", JS),
    asset!("admin/reports.js", JS),
    asset!("admin/sent.js", JS),
    asset!("admin/statements.js", JS),
    asset!("admin/transparency.js", JS),
    asset!("admin/users.js", JS),
    asset!("admin/visible.js", JS),
    asset!("admin/dashboard.js", JS),
    asset!("admin/chart.js", JS),
    asset!("admin/figures.js", JS),
    asset!("admin/standing.js", JS),
    asset!("admin/calls.js", JS),
    // uPlot 1.6.32, the dashboard's charts (web/admin/vendor/README.md), with its MIT licence.
    asset!("admin/vendor/uPlot.esm.js", JS),
    asset!("admin/vendor/uPlot.min.css", CSS),
    asset!("admin/vendor/LICENSE", TEXT),
    sdk_asset!("client.js", JS),
    sdk_asset!("api.js", JS),
    sdk_asset!("conversation.js", JS),
    sdk_asset!("conversation/record.js", JS),
    sdk_asset!("conversation/keys.js", JS),
    sdk_asset!("conversation/inbox.js", JS),
    sdk_asset!("conversation/outbox.js", JS),
    sdk_asset!("conversation/acks.js", JS),
    sdk_asset!("conversations.js", JS),
    sdk_asset!("matching.js", JS),
    sdk_asset!("contacts.js", JS),
    sdk_asset!("routing.js", JS),
    sdk_asset!("push.js", JS),
    sdk_asset!("ordering.js", JS),
    sdk_asset!("storage.js", JS),
    sdk_asset!("connection.js", JS),
    sdk_asset!("policy.js", JS),
    sdk_asset!("errors.js", JS),
    sdk_asset!("emitter.js", JS),
    sdk_asset!("calls.js", JS),
    sdk_asset!("safety.js", JS),
    sdk_asset!("crypto/e2e.js", JS),
    sdk_asset!("crypto/franking.js", JS),
    sdk_asset!("crypto/encoding.js", JS),
    sdk_asset!("crypto/vendor/noble.js", JS),
    sdk_asset!("crypto/vendor/LICENSE", TEXT),
];

/// Strong validators, computed once: a revalidation (`Cache-Control: no-cache`) costs a 304 and no body.
fn etags() -> &'static [HeaderValue] {
    static ETAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
            })
            .collect()
    })
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// The moderators' console: a staff account signs in as anyone does, and the admin API checks the role.
async fn console(headers: HeaderMap) -> Response {
    serve("admin/index.html", &headers)
}

async fn file(AppPath(path): AppPath<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.path == path) else {
        return ApiError::new(ErrorCode::NotFound, "no such file").into_response();
    };
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = request
        .get(IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes().split(|b| *b == b',').any(|t| t.trim_ascii() == etag.as_bytes()));
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // The modules import each other by fixed names, so a cached copy must be revalidated to never mix versions.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(ETAG, etag.clone());
    headers.insert(CONTENT_SECURITY_POLICY, content_security_policy(request));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(self), geolocation=(self)"),
    );
    response
}

/// Only this origin: `'self'` for scripts, styles and media; for the network, `'self'` plus this host's
/// `ws:`/`wss:` (spelled out, since not every browser lets `'self'` match a WebSocket URL). The host comes from
/// the request — behind nginx, the name clients used — and is used only if it is a plain host[:port].
fn content_security_policy(request: &HeaderMap) -> HeaderValue {
    let host = request
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255)
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)));
    let connect = match host {
        Some(host) => format!("'self' ws://{host} wss://{host}"),
        None => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self' blob: mediastream:; \
         connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("the host was checked to be header-safe")
}
