//! Deleting one's account (KVKK's right to erasure; issue 15, point 5). The owner asks with their password —
//! signed in (`DELETE /v1/me`), or with phone and password while banned (`POST /v1/ban/deletion`), since a ban
//! leaves no tokens — and the password is checked exactly like a password change's (the login throttle, a
//! recorded attempt). At once every login is signed out and the active match ended; the rows wait for the purge
//! (`store::purge`, workers/src/purge.rs) for `auth.deletion_grace_days`, during which signing in undoes the
//! request (`login`). A banned account's sign-in is refused, so it cannot undo: its ban outlives it instead
//! (`banned_phones`, checked by registration).
//!
//! Making it live (sockets closed, the peer told, the queue left) is the caller's part, once this has committed.

use chrono::{DateTime, TimeDelta, Utc};

use super::logins::login_ids;
use super::session::ClientInfo;
use super::{AccountError, Accounts};
use crate::auth::LoginId;
use crate::domain::{MatchId, Password, Phone, UserId};
use crate::store::UserRow;

/// A committed deletion request, for the caller to make live.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletionRequested {
    pub user_id: UserId,
    /// When the purge may remove the account; a login before then undoes the request.
    pub purge_after: DateTime<Utc>,
    /// Every login it signed out (their sockets close with 4001).
    pub revoked: Vec<LoginId>,
    /// The active match it ended, as `(match id, peer id)`: the peer is told.
    pub ended: Option<(MatchId, UserId)>,
    /// The contact conversations it closed, as `(match id, peer id)`: each peer is told.
    pub contacts_ended: Vec<(MatchId, UserId)>,
}

/// How a deletion was asked for, as the audit row names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// `DELETE /v1/me`, signed in.
    SignedIn,
    /// `POST /v1/ban/deletion`, banned.
    Banned,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::SignedIn => "me",
            Via::Banned => "ban",
        }
    }
}

impl Accounts {
    /// Deletes the signed-in user's account when `password` is theirs (`WrongPassword` otherwise, counted like a
    /// failed login).
    pub async fn request_deletion(
        &self,
        user_id: UserId,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<DeletionRequested, AccountError> {
        let user = self.current_user(user_id).await?;
        let phone = self.phone_of(user.id).await?;
        match self.authenticate(&phone, password, client).await {
            Ok(checked) if checked.id == user.id => {}
            Ok(_) | Err(AccountError::InvalidCredentials) => return Err(AccountError::WrongPassword),
            Err(other) => return Err(other),
        }
        self.delete(user.id, Via::SignedIn).await
    }

    /// Deletes the banned account behind a phone number and password, checked like a login (`NotBanned` for an
    /// account that is not banned: that one signs in and deletes with `request_deletion`).
    pub async fn request_banned_deletion(
        &self,
        phone: &Phone,
        password: &Password,
        client: &ClientInfo,
    ) -> Result<DeletionRequested, AccountError> {
        let user = self.banned_account(phone, password, client).await?;
        self.delete(user.id, Via::Banned).await
    }

    async fn delete(&self, user_id: UserId, via: Via) -> Result<DeletionRequested, AccountError> {
        let now = self.clock.now();
        let purge_after = now + TimeDelta::days(self.auth.deletion_grace_days.into());
        let deleted = self
            .store
            .request_deletion(user_id, purge_after, via.as_str(), now)
            .await?
            .ok_or(AccountError::InvalidToken)?;
        tracing::info!(user_id = user_id.get(), via = via.as_str(), "account deletion requested");
        metrics::counter!("tanis_account_deletions_requested_total", "via" => via.as_str()).increment(1);
        Ok(DeletionRequested {
            user_id,
            purge_after: deleted.purge_after,
            revoked: login_ids(&deleted.revoked),
            ended: deleted.ended,
            contacts_ended: deleted.contacts_ended,
        })
    }

    /// A sign-in's part: a deletion waiting for the purge is undone, and the sign-in goes on as any other. The
    /// purge may have removed the account since the password was checked: then there is nobody to sign in.
    pub(super) async fn undo_deletion(&self, user: &UserRow) -> Result<(), AccountError> {
        if user.deleted_at.is_none() {
            return Ok(());
        }
        if !self.store.cancel_deletion(user.id, self.clock.now()).await?
            && self.store.user_by_id(user.id).await?.is_none()
        {
            return Err(AccountError::InvalidCredentials);
        }
        tracing::info!(user_id = user.id.get(), "account deletion undone by a sign-in");
        metrics::counter!("tanis_account_deletions_undone_total").increment(1);
        Ok(())
    }
}
