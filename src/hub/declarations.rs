//! `report` with `not_as_declared` (docs/privacy.md "Gender", docs/admin.md "Declarations"): one tap from a match,
//! no words and no evidence. It refunds the reporter's unit for the match (the rules: src/domain/declarations.rs)
//! and counts the reporter toward suspending the reported user's declaration in filtered matching, which the trust
//! rules decide here, at once, and the store applies with its statement of reasons.
//!
//! The answer is `ok` whether or not the peer declared anything, and whatever the report did: the reporter learns
//! nothing of the peer's declaration from it (a refund shows only in their own notifications and balance).

use tanis_proto::{ErrorCode, Reveal, ServerFrame};

use super::Hub;
use super::context::Ctx;
use crate::domain::declarations;
use crate::domain::{MatchId, UserId};
use crate::notices::Notice;
use crate::store::{DeclarationFiled, NewDeclarationReport};

pub(super) async fn file(
    ctx: &Ctx,
    id: Option<String>,
    match_id: MatchId,
    details: Option<String>,
    reveals: Vec<Reveal>,
) {
    if details.is_some() || !reveals.is_empty() {
        let message = "a not_as_declared report takes no details and no evidence";
        return ctx.error(id, ErrorCode::InvalidField, message).await;
    }
    let (hub, user) = (&ctx.hub, ctx.user_id);
    let store = hub.store();
    let row = match store.match_of_participant(match_id, user).await {
        Ok(Some(row)) => row,
        Ok(None) => return ctx.error(id, ErrorCode::NotMatched, "you were not in that match").await,
        Err(e) => return ctx.internal(id, e).await,
    };
    let reported = row.peer_of(user).expect("a participant has a peer");
    let now = hub.now();
    let refund_notice = Notice::DeclarationRefund { kind: row.kind }.to_row();
    let report = NewDeclarationReport {
        reporter_id: user,
        reported_id: reported,
        match_id,
        kind: row.kind,
        network: ctx.network.as_deref(),
        policy: hub.settings().declarations,
        refund_notice: &refund_notice,
        now,
    };
    match store.file_declaration_report(&report).await {
        Ok(DeclarationFiled::New { refunded }) => {
            metrics::counter!("tanis_declaration_reports_total", "refunded" => refunded.to_string()).increment(1);
            if let Err(e) = judge(hub, reported).await {
                // The report is stored; the next one about them judges again.
                tracing::error!(error = %e, "judging a declaration failed");
            }
            ctx.reply(ServerFrame::Ok { id }).await
        }
        Ok(DeclarationFiled::Repeat) => ctx.reply(ServerFrame::Ok { id }).await,
        Err(e) => ctx.internal(id, e).await,
    }
}

/// Suspends the user's declaration when the reports about them now reach the threshold, and has matching read
/// their standing again.
async fn judge(hub: &Hub, user: UserId) -> Result<(), crate::store::StoreError> {
    let store = hub.store();
    let reports = store.declaration_reports_about(user).await?;
    let (now, settings) = (hub.now(), hub.settings());
    let (rules, policy) = (settings.trust, settings.declarations);
    if !declarations::suspends(&reports, now, &rules, &policy) {
        return Ok(());
    }
    let counted = crate::domain::trust::counted(&reports, now, &rules).reporters;
    let notice = Notice::DeclarationSuspended {}.to_row();
    if store.suspend_declaration(user, (counted.into(), policy.threshold.into()), &notice, now).await? {
        tracing::info!(user_id = user.get(), "declaration suspended");
        hub.standing_changed(user);
    }
    Ok(())
}
