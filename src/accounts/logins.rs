//! A user's logins (their signed-in devices, "sessions" to them): listing them and signing them out. What is
//! revoked here is refused at once: refresh tokens by their rows, access tokens by the login they name. Closing
//! the revoked logins' sockets is the caller's part (`Hub::signed_out`), once this has committed.

use chrono::{DateTime, Utc};

use super::{AccountError, Accounts};
use crate::auth::LoginId;
use crate::domain::{MatchId, UserId};
use crate::store::{ContactKeyChange, LoginRow};

/// Most contact keys listed per session, the newest: enough to see that a session took conversations over.
const KEYS_PER_LOGIN: usize = 20;

/// A contact conversation a session took over (`contact.key`): which one, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPublished {
    pub match_id: MatchId,
    pub at: DateTime<Utc>,
}

/// One live login, as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub id: LoginId,
    /// The sign-in.
    pub created_at: DateTime<Utc>,
    /// The sign-in or its latest token refresh.
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed again.
    pub expires_at: DateTime<Utc>,
    /// The User-Agent at sign-in.
    pub user_agent: Option<String>,
    /// The client's address at sign-in; `None` for logins made before addresses were recorded.
    pub ip: Option<String>,
    /// The login of the access token that asked.
    pub current: bool,
    /// The contact conversations it took over, newest first (at most [`KEYS_PER_LOGIN`]).
    pub contact_keys: Vec<KeyPublished>,
}

impl Accounts {
    /// The user's live logins, most recently used first; `current` is the asking token's.
    pub async fn logins(&self, user_id: UserId, current: Option<LoginId>) -> Result<Vec<Login>, AccountError> {
        self.current_user(user_id).await?;
        let rows = self.store.live_logins(user_id, self.clock.now()).await?;
        let changes = self.store.contact_key_changes(user_id).await?;
        let mut logins: Vec<Login> = rows.into_iter().filter_map(|row| login(row, current)).collect();
        for ContactKeyChange { family_id, match_id, published_at } in changes {
            let of_login = logins.iter_mut().find(|l| LoginId::parse(&family_id) == Some(l.id));
            if let Some(l) = of_login.filter(|l| l.contact_keys.len() < KEYS_PER_LOGIN) {
                l.contact_keys.push(KeyPublished { match_id, at: published_at });
            }
        }
        Ok(logins)
    }

    /// Signs out one of the user's logins. Someone else's login, or one signed out already, is
    /// [`AccountError::NoSuchSession`], the same answer as an id that never existed.
    pub async fn revoke_login(&self, user_id: UserId, login: LoginId) -> Result<(), AccountError> {
        self.current_user(user_id).await?;
        match self.store.revoke_login(user_id, &login.to_string(), self.clock.now()).await? {
            true => Ok(()),
            false => Err(AccountError::NoSuchSession),
        }
    }

    /// Signs out every login of the user but `keep` (the asking one); returns those signed out.
    pub async fn revoke_other_logins(
        &self,
        user_id: UserId,
        keep: Option<LoginId>,
    ) -> Result<Vec<LoginId>, AccountError> {
        self.current_user(user_id).await?;
        let keep = keep.map(|k| k.to_string());
        let revoked = self.store.revoke_other_logins(user_id, keep.as_deref(), self.clock.now()).await?;
        Ok(login_ids(&revoked))
    }
}

fn login(row: LoginRow, current: Option<LoginId>) -> Option<Login> {
    // Every family this server makes is a UUID; anything else cannot be named by a token or a client.
    let id = LoginId::parse(&row.family_id)?;
    Some(Login {
        id,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        expires_at: row.expires_at,
        user_agent: row.user_agent,
        ip: row.ip,
        current: current == Some(id),
        contact_keys: Vec::new(),
    })
}

/// The family ids the store revoked, as login ids.
pub(super) fn login_ids(family_ids: &[String]) -> Vec<LoginId> {
    family_ids.iter().filter_map(|f| LoginId::parse(f)).collect()
}
