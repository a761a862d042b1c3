//! `not_as_declared` (docs/privacy.md "Gender", docs/admin.md "Declarations"): one tap from a match, no words and
//! no evidence. It refunds the reporter's unit for the match (the rules: src/domain/declarations.rs) and counts the
//! reporter toward suspending the reported user's declaration in filtered matching, which the trust rules decide
//! here, at once, and the store applies with its statement of reasons.
//!
//! The door answers `ok` whether or not the peer declared anything, and whatever the report did: the reporter
//! learns nothing of the peer's declaration from it (a refund shows only in their own notifications and balance).

use super::{Refusal, Reporter, Reports, Settings};
use crate::domain::{UserId, declarations};
use crate::notices::Notice;
use crate::store::{DeclarationFiled, NewDeclarationReport, StoreError};

pub(super) async fn file(reports: &Reports, by: Reporter<'_>) -> Result<(), Refusal> {
    let (reported, row) = reports.peer(by).await?;
    let refund_notice = Notice::DeclarationRefund { kind: row.kind }.to_row();
    let report = NewDeclarationReport {
        reporter_id: by.user_id,
        reported_id: reported,
        match_id: by.match_id,
        kind: row.kind,
        network: by.network,
        policy: reports.settings.declarations,
        refund_notice: &refund_notice,
        now: reports.clock.now(),
    };
    if let DeclarationFiled::New { refunded } = reports.store.file_declaration_report(&report).await? {
        metrics::counter!("tanis_declaration_reports_total", "refunded" => refunded.to_string()).increment(1);
        if let Err(e) = judge(reports, reported).await {
            // The report is stored; the next one about them judges again.
            tracing::error!(error = %e, "judging a declaration failed");
        }
    }
    Ok(())
}

/// Suspends the user's declaration when the reports about them now reach the threshold, and has matching read
/// their standing again.
async fn judge(reports: &Reports, user: UserId) -> Result<(), StoreError> {
    let store = &reports.store;
    let found = store.declaration_reports_about(user).await?;
    let (now, Settings { trust, declarations: policy, .. }) = (reports.clock.now(), reports.settings);
    if !declarations::suspends(&found, now, &trust, &policy) {
        return Ok(());
    }
    let counted = crate::domain::trust::counted(&found, now, &trust).reporters;
    let notice = Notice::DeclarationSuspended {}.to_row();
    if store.suspend_declaration(user, (counted.into(), policy.threshold.into()), &notice, now).await? {
        tracing::info!(user_id = user.get(), "declaration suspended");
        reports.delivery.standing_changed(user);
    }
    Ok(())
}
