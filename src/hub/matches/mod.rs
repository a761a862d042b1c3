//! Matches, from the hub's side: a `match.find` parsed and handed to matching ([`crate::matching::find`]), which
//! admits, queues, pairs and opens it and answers; `match.cancel`; ending a match ([`end`]); telling users who may
//! have missed frames their match as stored ([`resync`]). Leaving and blocking are conversation frames that end a
//! match through [`end`]; banning is [`crate::moderation`]'s.

mod end;
mod resync;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis_proto::{ClientFrame, ErrorCode, ServerFrame};

use crate::domain::UserId;
use crate::domain::trust;
use crate::hub::Hub;
use crate::hub::context::Ctx;
use crate::matching::find::{Request, account_of};
use crate::matching::rules::GenderWish;
use crate::store::StoreError;

/// `match.find`: the public key checked, then matching's.
pub(in crate::hub) async fn find(ctx: &mut Ctx, frame: ClientFrame) {
    let ClientFrame::MatchFind { id, kind, public_key, nearby, interests, region, seeking } = frame else {
        unreachable!("dispatched as match.find")
    };
    if STANDARD.decode(&public_key).map(|k| k.len()) != Ok(32) {
        return ctx.protocol_error(id, ErrorCode::InvalidBase64, "public_key must be 32 bytes in base64").await;
    }
    let seeking = match seeking.as_ref().map(GenderWish::parse) {
        None => None,
        Some(Some(wish)) => Some(wish),
        Some(None) => {
            let message = "seeking.genders must name one to three distinct genders";
            return ctx.error(id, ErrorCode::InvalidField, message).await;
        }
    };
    let request = Request { id, kind, public_key, nearby, interests, region, seeking };
    if let Err(refusal) = ctx.hub.finder().find(ctx.user_id, ctx.socket.id, request).await {
        ctx.reply(refusal).await;
    }
}

/// `match.cancel`: out of the queue, if the user waits there.
pub(in crate::hub) async fn cancel(ctx: &Ctx, id: Option<String>) {
    match ctx.hub.finder().cancel(ctx.user_id).await {
        true => ctx.reply(ServerFrame::MatchCancelled { id }).await,
        false => ctx.error(id, ErrorCode::NotQueued, "not waiting for a match").await,
    }
}

impl Hub {
    /// Takes a skip token when the user is held to the limits of new and unverified accounts; `Some(limit)` when
    /// none is left. Reads the account only when matching's cached standing is gone.
    pub(in crate::hub) async fn allow_skip(&self, user_id: UserId) -> Result<Option<u32>, StoreError> {
        let cached = self.live().with_standing(user_id, |s| s.account);
        let account = match cached {
            Some(account) => account,
            None => match self.store().user_by_id(user_id).await? {
                Some(user) => account_of(&user),
                None => return Ok(None),
            },
        };
        let Some(per_minute) = trust::limits(&account, self.now(), &self.settings().trust).skips_per_minute else {
            return Ok(None);
        };
        let allowed = self.limiters().skips.allow(user_id, per_minute as f64 / 60.0, per_minute).await;
        Ok((!allowed).then_some(per_minute))
    }
}
