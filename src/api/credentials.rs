//! [`Credentials`]: how a banned user, who has no session (a ban signs every one out), proves who they are on
//! `/v1/ban/*` — phone number and password, checked like a login (the same throttle, the same answer for a wrong
//! password or an unknown phone). Not a handler: `ban` and `export` share it from here.

use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::accounts::ClientInfo;
use crate::domain::{Password, Phone};
use crate::store::UserRow;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[schema(example = "+905551234567", min_length = 1, max_length = 32)]
    pub(super) phone: String,
    #[schema(max_length = 72)]
    pub(super) password: String,
}

/// The banned user behind a phone number and password, checked like a login.
pub(super) async fn banned_user(
    state: &AppState,
    client: &ClientInfo,
    phone: &str,
    password: String,
) -> Result<UserRow, ApiError> {
    let phone = Phone::parse(phone)?;
    let password = Password::for_login(password)
        .map_err(|_| ApiError::new(ErrorCode::InvalidCredentials, "wrong phone number or password"))?;
    state.accounts.banned_account(&phone, &password, client).await.map_err(|e| state.api_error(e))
}
