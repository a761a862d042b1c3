//! Filing a claim ("no reply within 2 hours: give me my unit back"). Deciding it is the claims job's work
//! (tanis-workers); this is the one rule both the REST endpoint and the WebSocket frame use to file one.

use chrono::{DateTime, Utc};

use crate::domain::{MatchId, UserId};
use crate::store::{OwnClaim, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("you were not in that match")]
    NotMatched,
    /// A claim is on file already, or a "not as declared" report refunded the match's unit.
    #[error("you already filed a claim for that match, or it was refunded")]
    Exists,
    #[error(transparent)]
    Store(StoreError),
}

/// Files `user_id`'s claim on `match_id`: only a participant, once per match.
pub async fn file(
    store: &Store,
    user_id: UserId,
    match_id: MatchId,
    now: DateTime<Utc>,
) -> Result<OwnClaim, FileError> {
    match store.match_of_participant(match_id, user_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(FileError::NotMatched),
        Err(e) => return Err(FileError::Store(e)),
    }
    match store.file_claim(match_id, user_id, now).await {
        Ok(claim) => {
            metrics::counter!("tanis_claims_filed_total").increment(1);
            Ok(claim)
        }
        Err(StoreError::Conflict) => Err(FileError::Exists),
        Err(e) => Err(FileError::Store(e)),
    }
}
