//! What a signed-in user reads and changes about themselves.

use super::{AccountError, Accounts};
use crate::domain::{Alias, Interests, Languages, UserId};
use crate::store::{StoreError, UserRow};

/// A change to the profile; `None` fields stay as they are.
#[derive(Debug, Default)]
pub struct ProfileChange {
    pub alias: Option<Alias>,
    /// `Some(None)` clears the location.
    pub location: Option<Option<(f64, f64)>>,
    /// The language of notifications.
    pub locale: Option<crate::notices::Locale>,
    /// The topics to list (replacing the old ones); validated where they were parsed.
    pub interests: Option<Interests>,
    /// The languages spoken (replacing the old ones).
    pub languages: Option<Languages>,
}

impl Accounts {
    /// The account behind a verified access token. Banned accounts are refused everywhere, and so are accounts
    /// waiting for the purge (their logins are signed out; this also stops a token that names no login).
    pub async fn current_user(&self, user_id: UserId) -> Result<UserRow, AccountError> {
        let user = self.store.user_by_id(user_id).await?.ok_or(AccountError::InvalidToken)?;
        if user.is_banned {
            return Err(AccountError::banned(&user));
        }
        if user.deleted_at.is_some() {
            return Err(AccountError::InvalidToken);
        }
        Ok(user)
    }

    pub async fn update_profile(&self, user_id: UserId, change: ProfileChange) -> Result<UserRow, AccountError> {
        let user = self.current_user(user_id).await?;
        let now = self.clock.now();
        if let Some(Some((lat, lon))) = change.location
            && !(lat.is_finite() && lon.is_finite() && (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
        {
            return Err(AccountError::InvalidLocation);
        }
        if let Some(alias) = change.alias
            && alias.as_str() != user.alias
        {
            // A new alias gets a new tag: alias#tag must stay unique, and the old tag may be taken there.
            let alias = &alias;
            self.with_free_tag(alias, |tag| async move {
                match self.store.update_alias(user.id, alias.as_str(), &alias.key(), &tag.to_string(), now).await {
                    Err(StoreError::Conflict) => Err(AccountError::Store(StoreError::Conflict)),
                    other => Ok(other?),
                }
            })
            .await?;
        }
        if let Some(location) = change.location {
            self.store.update_location(user.id, location, now).await?;
        }
        if let Some(locale) = change.locale {
            self.store.set_locale(user.id, locale).await?;
        }
        if let Some(interests) = change.interests {
            self.store.set_interests(user.id, interests).await?;
        }
        if let Some(languages) = change.languages {
            self.store.set_languages(user.id, languages).await?;
        }
        self.current_user(user.id).await
    }

    /// Declares the gender matching may use, consented to now; `None` withdraws the consent and deletes it.
    pub async fn declare_gender(
        &self,
        user_id: UserId,
        gender: Option<tanis_proto::Gender>,
    ) -> Result<(), AccountError> {
        let user = self.current_user(user_id).await?;
        let now = self.clock.now();
        self.store.set_gender(user.id, gender.map(|g| (g, now))).await?;
        Ok(())
    }
}
