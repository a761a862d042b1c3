//! The daily reset: at midnight in the configured zone daily balances return to the free or premium amounts;
//! bonus units stay. Each user records the local day of their last reset, so running twice is harmless.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    pub free_text: i32,
    pub free_video: i32,
    pub premium_text: i32,
    pub premium_video: i32,
}

/// The local calendar day in `zone` at `now`: the key of a daily reset.
pub fn local_day(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let day = local_day(now, ctx.settings.timezone);
    let reset = ctx.store.reset_daily_quotas(day, &ctx.settings.quota_amounts).await?;
    if reset > 0 {
        ctx.store.log(JobAction::QuotaReset, None, json!({ "day": day.to_string(), "users": reset }), now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_istanbul_day_turns_at_21_utc() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let zone = chrono_tz::Europe::Istanbul;
        assert_eq!(local_day(at("2026-11-21T20:59:59Z"), zone).to_string(), "2026-11-21");
        assert_eq!(local_day(at("2026-11-21T21:00:00Z"), zone).to_string(), "2026-11-22");
    }
}
