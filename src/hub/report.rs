//! The socket's door to [`crate::reports`]: a `report` frame (a chat report with the messages revealed, or
//! `not_as_declared`) handed over as parsed, and answered `ok` or with the refusal's error.

use tanis_proto::{ErrorCode, ReportReason, Reveal, ServerFrame};

use super::context::Ctx;
use crate::domain::MatchId;
use crate::reports::{Filing, Refusal, Reporter};

pub(super) async fn file(
    ctx: &Ctx,
    id: Option<String>,
    match_id: MatchId,
    reason: ReportReason,
    details: Option<String>,
    reveals: Vec<Reveal>,
) {
    let filing = match reason {
        ReportReason::NotAsDeclared => Filing::NotAsDeclared { details, reveals },
        reason => Filing::Chat { reason, details, reveals },
    };
    let by = Reporter { user_id: ctx.user_id, match_id, network: ctx.network.as_deref() };
    let (code, message) = match ctx.hub.reports().file(by, filing).await {
        Ok(()) => return ctx.reply(ServerFrame::Ok { id }).await,
        Err(Refusal::Store(e)) => return ctx.internal(id, e).await,
        Err(refusal) => answer(refusal),
    };
    ctx.error(id, code, &message).await
}

/// The socket's words for a refusal.
fn answer(refusal: Refusal) -> (ErrorCode, String) {
    match refusal {
        Refusal::DetailsTooLong => (ErrorCode::InvalidField, "details are limited to 1000 characters".into()),
        Refusal::TooManyReveals => (ErrorCode::InvalidField, "evidence is limited to 20 messages".into()),
        Refusal::DeclaredTakesNothing => {
            (ErrorCode::InvalidField, "a not_as_declared report takes no details and no evidence".into())
        }
        Refusal::NotMatched => (ErrorCode::NotMatched, "you were not in that match".into()),
        Refusal::Evidence(index, refusal) => {
            (refusal.code(), format!("evidence[{index}]: {}; nothing was stored", refusal.message()))
        }
        Refusal::Replayed => {
            (ErrorCode::EvidenceReplayed, "a message is already evidence of your report; nothing was stored".into())
        }
        Refusal::Limited => (ErrorCode::RateLimited, "too many reports; try again later".into()),
        // Not a socket's: the call report's door alone takes a verdict or a snapshot.
        Refusal::DeclaredFromCall | Refusal::NotVideo | Refusal::Call(_) | Refusal::Store(_) => {
            unreachable!("a socket's report is a chat report")
        }
    }
}
