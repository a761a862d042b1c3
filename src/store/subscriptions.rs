//! Subscriptions: started, renewed, cancelled or ended by the billing webhook or an admin. `is_premium` follows
//! in the same transaction, and becoming premium tops today's balances up to the premium amounts at once.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::system_logs::insert_system_log;
use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, UserId};

/// What happens to the user's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanChange<'a> {
    /// Start or renew: the active subscription runs on `plan` until `ends_at` (a new one when none is active).
    Run { plan: &'a str, ends_at: DateTime<Utc> },
    /// No renewal: premium until the end already paid for.
    Cancel,
    /// Premium ends now.
    End,
}

/// The units a premium day gives: (text, video).
pub type PremiumUnits = (i32, i32);

/// Who or what changed a subscription, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub enum PlanSource<'a> {
    /// The billing webhook, with the provider's event id and type.
    Billing {
        event_id: &'a str,
        event: &'a str,
    },
    Admin(UserId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanOutcome {
    /// Applied; whether the user is premium now.
    Applied {
        premium: bool,
    },
    /// This billing event was applied before: nothing changed.
    Duplicate,
    NoSuchUser,
    /// Cancel or end without an active subscription.
    NoSubscription,
}

/// The user's running subscription, as they see it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PlanRow {
    pub plan_name: String,
    pub end_date: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Applies `change` to the user's subscription, records where it came from (a billing event's id is kept,
    /// so the same event never applies twice) and makes `is_premium` follow, in one transaction.
    pub async fn change_plan(
        &self,
        user_id: UserId,
        change: PlanChange<'_>,
        source: PlanSource<'_>,
        premium_units: PremiumUnits,
        now: DateTime<Utc>,
    ) -> Result<PlanOutcome, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if let PlanSource::Billing { event_id, event } = source {
                let fresh: Option<String> = sqlx::query_scalar(
                    "INSERT INTO billing_events (provider_event, type, user_id, received_at) VALUES ($1, $2, NULL, $3) \
                     ON CONFLICT (provider_event) DO NOTHING RETURNING provider_event",
                )
                .bind(event_id)
                .bind(event)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if fresh.is_none() {
                    return Ok(PlanOutcome::Duplicate);
                }
            }
            let was_premium: Option<bool> = sqlx::query_scalar("SELECT is_premium FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            // Dropped with the transaction: an event for nobody is not remembered, and a retry is refused again.
            let Some(was_premium) = was_premium else { return Ok(PlanOutcome::NoSuchUser) };
            let touched = match change {
                PlanChange::Run { plan, ends_at } => {
                    let renewed = sqlx::query(
                        "UPDATE subscriptions SET plan_name = $2, end_date = $3, cancelled_at = NULL \
                         WHERE user_id = $1 AND is_active = TRUE",
                    )
                    .bind(user_id)
                    .bind(plan)
                    .bind(ends_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if renewed == 0 {
                        sqlx::query(
                            "INSERT INTO subscriptions (user_id, plan_name, start_date, end_date, is_active) \
                             VALUES ($1, $2, $3, $4, TRUE)",
                        )
                        .bind(user_id)
                        .bind(plan)
                        .bind(now)
                        .bind(ends_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    1
                }
                PlanChange::Cancel => {
                    sqlx::query("UPDATE subscriptions SET cancelled_at = $2 WHERE user_id = $1 AND is_active = TRUE")
                        .bind(user_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                }
                PlanChange::End => sqlx::query(
                    "UPDATE subscriptions SET is_active = FALSE, end_date = $2 WHERE user_id = $1 AND is_active = TRUE",
                )
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
            };
            if touched == 0 {
                return Ok(PlanOutcome::NoSubscription);
            }
            let premium: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = $1 AND is_active = TRUE \
                 AND start_date <= $2 AND end_date > $2)",
            )
            .bind(user_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("UPDATE users SET is_premium = $2 WHERE id = $1")
                .bind(user_id)
                .bind(premium)
                .execute(&mut *tx)
                .await?;
            if premium && !was_premium {
                // Upgraded: today's balance becomes the premium amount now, not at midnight.
                sqlx::query(
                    "UPDATE users SET \
                     daily_chat_balance = CASE WHEN daily_chat_balance < $2 THEN $2 ELSE daily_chat_balance END, \
                     daily_video_balance = CASE WHEN daily_video_balance < $3 THEN $3 ELSE daily_video_balance END \
                     WHERE id = $1",
                )
                .bind(user_id)
                .bind(premium_units.0)
                .bind(premium_units.1)
                .execute(&mut *tx)
                .await?;
            }
            let (plan, ends_at) = match change {
                PlanChange::Run { plan, ends_at } => (Some(plan), Some(ends_at)),
                _ => (None, None),
            };
            let change_name = match change {
                PlanChange::Run { .. } => "run",
                PlanChange::Cancel => "cancel",
                PlanChange::End => "end",
            };
            match source {
                PlanSource::Billing { event_id, event } => {
                    sqlx::query("UPDATE billing_events SET user_id = $2 WHERE provider_event = $1")
                        .bind(event_id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    let details = json!({ "event_id": event_id, "event": event, "plan": plan, "ends_at": ends_at, "premium": premium });
                    insert_system_log!(&mut *tx, AuditAction::SubscriptionBilling, Some(user_id), &details, now)
                        .await?;
                }
                PlanSource::Admin(admin) => {
                    let details =
                        json!({ "change": change_name, "plan": plan, "ends_at": ends_at, "premium": premium });
                    insert_system_log!(
                        &mut *tx,
                        AuditAction::SubscriptionChanged,
                        Some(user_id),
                        &details,
                        now,
                        actor = Some(admin)
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(PlanOutcome::Applied { premium })
        })
    }

    /// The user's running subscription, if any.
    pub async fn current_plan(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Option<PlanRow>, StoreError> {
        let query = select!(
            "SELECT plan_name, end_date, cancelled_at FROM subscriptions \
             WHERE user_id = $1 AND is_active = TRUE AND start_date <= $2 AND end_date > $2 ORDER BY end_date DESC LIMIT 1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(now).optional().await)?)
    }
}
