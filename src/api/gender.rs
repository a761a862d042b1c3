//! `PUT` and `DELETE /v1/me/gender`: the gender a user declares for matching, with its own consent (issue 64,
//! docs/privacy.md "Gender"). The declaration is never shown to anyone else; premium finds that ask for genders
//! (`match.find`'s `seeking`) are matched against it while the consent stands. Withdrawing deletes it.

use axum::extract::State;
use serde::Deserialize;
use tanis_proto::Gender;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use super::me::Me;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(declare, withdraw))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenderRequest {
    /// `woman`, `man` or `non_binary`. Not saying is declaring none: `DELETE /v1/me/gender`.
    #[schema(schema_with = genders)]
    gender: Gender,
    /// Must be `true`: the user agrees that this declaration is used to match them with people who ask for it
    /// (`consent_required` otherwise, left out included: a consent never given is not a malformed request). A
    /// consent of its own, separate from the privacy notice's.
    #[schema(schema_with = only_true, required = true)]
    #[serde(default)]
    consent: bool,
}

/// The schema of `gender`: one of [`Gender::ALL`].
fn genders() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Gender::ALL.map(Gender::as_str)))
        .examples(["woman"])
        .build()
}

/// The schema of `consent`: a boolean that can only be `true` (`false` is read, and refused).
fn only_true() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .description(Some("Must be true (`consent_required` otherwise)."))
        .build()
}

/// Declare your gender for matching, consenting to its use there. It replaces an earlier declaration.
#[utoipa::path(put, path = "/v1/me/gender", tag = "account", security(("bearer" = [])), request_body = GenderRequest,
    responses((status = 200, body = Me), (status = 422, description = "consent_required", body = ErrorBody)))]
async fn declare(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<GenderRequest>,
) -> Result<AppJson<Me>, ApiError> {
    if !req.consent {
        let message = "a declared gender is used in matching only with consent: send consent: true";
        return Err(ApiError::new(ErrorCode::ConsentRequired, message));
    }
    state.accounts.declare_gender(user.id, Some(req.gender)).await.map_err(|e| state.api_error(e))?;
    answer(&state, user).await
}

/// Withdraw the consent: the declaration is deleted, and finds that ask for a gender no longer meet you.
#[utoipa::path(delete, path = "/v1/me/gender", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn withdraw(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<Me>, ApiError> {
    state.accounts.declare_gender(user.id, None).await.map_err(|e| state.api_error(e))?;
    answer(&state, user).await
}

async fn answer(state: &AppState, user: AuthUser) -> Result<AppJson<Me>, ApiError> {
    // Matching caches the declaration beside the user's sockets: read it again at the next find.
    state.hub.standing_changed(user.id);
    let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    Ok(AppJson(Me::from(&row).with_plan(state, row.id).await?.with_notice(state.accounts.privacy_notice_version())))
}
