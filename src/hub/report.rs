//! `report`: a report of the peer of one of the user's matches, for moderators, with the messages the reporter
//! chose to reveal. Each reveal is verified against what the server bound when the message was sent
//! ([`crate::domain::evidence`]); one that does not verify refuses the whole report, and nothing is stored.

use tanis_proto::{ErrorCode, ReportReason, Reveal, ServerFrame};

use super::context::Ctx;
use crate::domain::MatchId;
use crate::domain::evidence::{self, MAX_DETAILS, MAX_REVEALS, Parties, Refused};
use crate::store::{Filed, NewReport};

pub(super) async fn file(
    ctx: &Ctx,
    id: Option<String>,
    match_id: MatchId,
    reason_code: ReportReason,
    details: Option<String>,
    reveals: Vec<Reveal>,
) {
    let (hub, user) = (&ctx.hub, ctx.user_id);
    let store = hub.store();
    if details.as_ref().is_some_and(|d| d.chars().count() > MAX_DETAILS) {
        return ctx.error(id, ErrorCode::InvalidField, "details are limited to 1000 characters").await;
    }
    if reveals.len() > MAX_REVEALS {
        return ctx.error(id, ErrorCode::InvalidField, "evidence is limited to 20 messages").await;
    }
    let row = match store.match_of_participant(match_id, user).await {
        Ok(Some(row)) => row,
        Ok(None) => return ctx.error(id, ErrorCode::NotMatched, "you were not in that match").await,
        Err(e) => return ctx.internal(id, e).await,
    };
    let reported = row.peer_of(user).expect("a participant has a peer");
    // No message's text is longer than its ciphertext, which the hub limits.
    let shaped = match evidence::check_shape(&reveals, hub.settings().hub.max_message_bytes) {
        Ok(shaped) => shaped,
        Err(refused) => return refuse(ctx, id, refused).await,
    };
    let seqs: Vec<_> = reveals.iter().map(|r| r.seq).collect();
    let bound = match store.bound_messages(match_id, &seqs).await {
        Ok(bound) => bound,
        Err(e) => return ctx.internal(id, e).await,
    };
    let now = hub.now();
    let parties = Parties { reporter: user, reported, window_start: now - hub.settings().report_window };
    let verified = match evidence::verify(&reveals, &shaped, &bound, parties) {
        Ok(verified) => verified,
        Err(refused) => return refuse(ctx, id, refused).await,
    };
    let report = NewReport {
        reporter_id: user,
        reported_id: reported,
        match_id,
        reason: reason_code.as_str(),
        details: details.as_deref(),
        evidence: &verified,
        network: ctx.network.as_deref(),
        call: None,
        now,
    };
    match store.insert_report(&report).await {
        Ok(Filed::New | Filed::Reopened) => {
            // One more open report may quarantine them: matching reads their standing again.
            hub.standing_changed(reported);
            ctx.reply(ServerFrame::Ok { id }).await
        }
        Ok(Filed::Repeat) => ctx.reply(ServerFrame::Ok { id }).await,
        // Only call reports are limited this way (POST /v1/reports/call).
        Ok(Filed::Limited) => ctx.error(id, ErrorCode::RateLimited, "too many reports; try again later").await,
        Ok(Filed::Replayed) => {
            let code = ErrorCode::EvidenceReplayed;
            ctx.error(id, code, "a message is already evidence of your report; nothing was stored").await
        }
        Err(e) => ctx.internal(id, e).await,
    }
}

/// The refusal of a report for one reveal, naming it by its place in `evidence`.
async fn refuse(ctx: &Ctx, id: Option<String>, (index, refusal): Refused) {
    ctx.error(id, refusal.code(), &format!("evidence[{index}]: {}; nothing was stored", refusal.message())).await
}
