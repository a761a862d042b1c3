//! `/v1/contacts`: the people you kept in touch with (both proposed it during a match, `contact.propose`), and
//! ending a contact for both. The conversations themselves go over the socket (docs/protocol.md).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, AppPath, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::domain::{MatchId, handle};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_contacts)).routes(routes!(end_contact))
}

/// A contact: their handle and what a client needs to carry on the conversation. Nothing else of the person.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    /// The conversation: `msg.send`, `resume` and `msg.ack` take it; `DELETE /v1/contacts/{id}` ends it.
    #[schema(value_type = i64)]
    match_id: MatchId,
    /// The contact's current `alias#tag`.
    #[schema(example = "kediadam#9021")]
    peer: String,
    /// The contact's current X25519 public key for the conversation (base64).
    peer_public_key: String,
    /// Your own side's current X25519 public key for the conversation (base64): the one of your `match.find`, or
    /// the last one a session of yours published with `contact.key`. A device holding another key no longer reads
    /// the conversation: it was taken over (by `my_key_session_id`), as the `contact.key` with `mine: true` it
    /// missed while offline would have told it.
    my_public_key: String,
    /// The session (an id of `GET /v1/me/sessions`) that published `my_public_key` with `contact.key`, as that
    /// frame's `session_id`; null while it is still the key of the `match.find` (or when the token that published
    /// it named no session).
    my_key_session_id: Option<String>,
    /// Whether you were the match's initiator (the E2E key direction, docs/protocol.md section 9).
    initiator: bool,
    /// When you both agreed.
    since: DateTime<Utc>,
    /// The conversation's highest `seq` (0 before any message): `resume` from your own highest to catch up.
    #[schema(value_type = i64)]
    last_seq: crate::domain::Seq,
}

#[derive(Serialize, ToSchema)]
pub struct Contacts {
    /// Newest first.
    contacts: Vec<ContactView>,
}

/// Everyone you keep in touch with.
#[utoipa::path(get, path = "/v1/contacts", tag = "matching", security(("bearer" = [])),
    responses((status = 200, body = Contacts), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_contacts(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<Contacts>, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let rows = state.store.contacts_of(user.id).await.map_err(ApiError::internal)?;
    let contacts = rows
        .into_iter()
        .map(|c| ContactView {
            match_id: c.match_id,
            peer: handle(&c.peer_alias, &c.peer_tag),
            peer_public_key: c.peer_public_key,
            my_public_key: c.my_public_key,
            my_key_session_id: c.my_key_session_id,
            initiator: c.initiator,
            since: c.kept_at,
            last_seq: c.last_seq,
        })
        .collect();
    Ok(AppJson(Contacts { contacts }))
}

/// End a contact, for both of you: no more messages either way (both get `contact.ended`). What was stored stays
/// readable with `resume` until the retention deletes it.
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "matching", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the contact's match_id from GET /v1/contacts")),
    responses((status = 204), (status = 404, description = "not_found: no such contact of yours", body = ErrorBody)))]
async fn end_contact(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(match_id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    match state.hub.end_contact(user.id, MatchId(match_id)).await.map_err(ApiError::internal)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(ErrorCode::NotFound, "no such contact")),
    }
}
