//! `/v1/admin/*`: what moderators and admins do. Every endpoint needs the `moderator` or `admin` role, re-read
//! from the database on each request (a demoted moderator's token stops working at once), and every action is
//! in the audit trail with its actor.
//!
//! - [`users`]: look a user up (by id or `alias#tag`), ban (reason code, note, optional duration), unban, clear
//!   their reports; admins set roles.
//! - [`declarations`]: clear a declared gender that "not as declared" reports suspended.
//! - [`reports`]: the report queue, and resolving a report.
//! - [`appeals`]: appeals against bans, accepted or rejected.
//! - [`broadcasts`]: admins' notifications to everyone or a group.
//! - [`ads`]: admins manage ads and see their impressions and clicks.
//! - [`subscriptions`]: admins grant or end premium.
//! - [`audit`]: browse the audit trail.
//! - [`statements`]: admins export the statements of reasons as JSON Lines (the DSA Transparency Database's
//!   fields).

mod ads;
mod appeals;
mod audit;
mod audit_entry;
mod broadcasts;
mod dashboard;
mod declarations;
mod reports;
mod snapshots;
mod standing;
mod statements;
mod subscriptions;
mod transparency;
mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::AuthUser;
use crate::domain::UserId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(users::ban))
        .routes(routes!(users::unban))
        .routes(routes!(users::view))
        .routes(routes!(users::lookup))
        .routes(routes!(users::set_role))
        .routes(routes!(users::clear_reports))
        .routes(routes!(declarations::clear))
        .routes(routes!(reports::queue))
        .routes(routes!(reports::resolve))
        .routes(routes!(snapshots::view))
        .routes(routes!(appeals::list))
        .routes(routes!(appeals::decide))
        .routes(routes!(broadcasts::send))
        .routes(routes!(ads::list, ads::create))
        .routes(routes!(ads::update))
        .routes(routes!(subscriptions::grant, subscriptions::end))
        .routes(routes!(audit::browse))
        .routes(routes!(dashboard::dashboard))
        .routes(routes!(statements::export))
        .routes(routes!(transparency::report))
}

/// Who is acting on the admin side: an extractor, and the first one of every admin handler, so the role is
/// decided (401, then 403) before the handler's path, query or body is read — non-staff learn nothing of an admin
/// operation's parameters from its errors.
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    pub id: UserId,
    /// Admins also see phone numbers (each view audited) and manage moderators.
    pub admin: bool,
}

/// The acting admin's id: like [`Staff`], and 403 for moderators too.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub UserId);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
        if !row.role.is_staff() {
            return Err(ApiError::new(ErrorCode::Forbidden, "this needs the moderator role"));
        }
        Ok(Staff { id: row.id, admin: row.role.is_admin() })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let staff = Staff::from_request_parts(parts, state).await?;
        if !staff.admin {
            return Err(ApiError::new(ErrorCode::Forbidden, "this needs the admin role"));
        }
        Ok(Admin(staff.id))
    }
}
