//! `GET /v1/ws`: the WebSocket handshake. The API authenticates it, with an extractor as for REST; the hub
//! runs the socket ([`crate::hub::Hub::accept`]).

use std::convert::Infallible;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL, USER_AGENT};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tanis_proto::{AUTH_SUBPROTOCOL_PREFIX, CloseCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::accounts::ClientInfo;
use crate::auth::TokenError;
use crate::domain::UserId;
use crate::domain::trust::address_range;
use crate::hub::{SocketAuth, SocketClient};

/// Longest device description kept from the User-Agent for message_logs.
const MAX_DEVICE_INFO: usize = 128;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade))
}

/// Who a WebSocket handshake is from: the user (and login) its access token names, or the close code the socket
/// gets before any other frame (4001 missing or forged, 4002 expired). Whether the login is still live is the
/// hub's to check, once the socket is registered (`Hub::accept`). The token comes in `Authorization: Bearer …`
/// (mobile) or, for browsers, as the subprotocol `tanis.auth.<token>` offered beside `tanis.v1`; the header
/// wins when both are sent.
pub struct SocketUser(pub Result<SocketAuth, CloseCode>);

impl FromRequestParts<AppState> for SocketUser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let from_header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let from_protocol = || {
            parts
                .headers
                .get_all(SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .find_map(|p| p.trim().strip_prefix(AUTH_SUBPROTOCOL_PREFIX))
                .map(str::to_owned)
        };
        let user = match from_header.or_else(from_protocol) {
            None => Err(CloseCode::InvalidToken),
            Some(token) => match state.accounts.jwt().verify(token.trim(), state.accounts.now()) {
                Ok(fields) => fields
                    .sub
                    .parse::<UserId>()
                    .map(|user_id| SocketAuth { user_id, login: fields.login() })
                    .map_err(|_| CloseCode::InvalidToken),
                Err(TokenError::Expired) => Err(CloseCode::TokenExpired),
                Err(TokenError::Invalid) => Err(CloseCode::InvalidToken),
            },
        };
        Ok(Self(user))
    }
}

/// `GET /v1/ws`: the WebSocket.
#[utoipa::path(get, path = "/v1/ws", tag = "websocket",
    description = "Upgrades to the WebSocket protocol described in docs/protocol.md. A missing, forged or expired \
                   token, or one of a signed-out session, is answered by closing with 4001 or 4002 before any other \
                   frame. A node that is stopping (a rolling update) answers 503 before the upgrade: connect again, \
                   and a load balancer takes the socket to another node.",
    responses((status = 101, description = "switching protocols"),
        (status = 426, description = "upgrade_required: not a WebSocket handshake", body = ErrorBody),
        (status = 503, description = "unavailable: this node is stopping", body = ErrorBody)))]
async fn upgrade(
    State(state): State<AppState>,
    SocketUser(user): SocketUser,
    client: ClientInfo,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // A draining node refuses before the upgrade, with a status a proxy can act on: nginx passes the handshake to
    // another node (`proxy_next_upstream http_503`), where a close after the upgrade would reach the client.
    if state.hub.is_draining() {
        return ApiError::new(ErrorCode::Unavailable, "this node is stopping; connect again").into_response();
    }
    // A plain HTTP request to the socket's address gets our error shape, not axum's text/plain.
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return ApiError::new(ErrorCode::UpgradeRequired, e.body_text()).into_response(),
    };
    let device =
        headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| ua.chars().take(MAX_DEVICE_INFO).collect());
    // Only the hash of the address's range is kept (with each report the socket makes), never the address.
    let network = client
        .known_ip()
        .and_then(|ip| ip.parse().ok())
        .map(|ip| state.accounts.phones().network_hash(&address_range(ip)));
    state.hub.accept(ws, user, SocketClient { device, network })
}
