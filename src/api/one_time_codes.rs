//! One-time codes sent by SMS, as the API takes and answers them: the six digits a person typed, and the answer
//! that one is on its way. Not a handler: `phone` (verifying and changing the phone) and `password_reset` share
//! it from here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCode};
use crate::accounts::{CodeSent, OneTimeCode};

/// A code is on its way (or, for a password reset, would be if the phone has a verified account).
#[derive(Serialize, ToSchema)]
pub struct CodeRequested {
    /// The code stops working then (5 minutes).
    expires_at: DateTime<Utc>,
    /// Another code may be asked for from then on (`too_many_codes` before).
    resend_after: DateTime<Utc>,
}

impl From<CodeSent> for CodeRequested {
    fn from(sent: CodeSent) -> Self {
        Self { expires_at: sent.expires_at, resend_after: sent.resend_after }
    }
}

/// The code a person typed: six digits (`invalid_request` otherwise, and no guess is spent).
pub(super) fn parse_code(code: &str) -> Result<OneTimeCode, ApiError> {
    OneTimeCode::parse(code).ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "the code is 6 digits"))
}
