//! Showing ads between matches: after a `match.ended`, a free user whose last ad here is older than
//! `ads.min_interval_secs` gets one `ad` frame, picked among the active ads whose `target_group` includes them.
//! The node holding the user's socket does it, from a queue the delivery fills; nothing of this runs on the
//! message path, and with no active ads nothing is read at all.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::seq::IndexedRandom;
use tanis_proto::{AdFrame, ServerFrame};

use super::Hub;
use crate::ads::Target;
use crate::domain::UserId;
use crate::store::{AdRow, StoreError};

/// The active ads as last read, with their parsed targets.
#[derive(Default)]
pub(super) struct AdCache {
    ads: Vec<(AdRow, Target)>,
    loaded_at: Option<DateTime<Utc>>,
}

impl Hub {
    /// Runs until shutdown: takes the users whose match just ended here and shows each an ad when due.
    pub(super) async fn ads_loop(self) {
        let shutdown = self.loops().shutdown.clone();
        let mut cache = AdCache::default();
        let mut last_shown: HashMap<UserId, DateTime<Utc>> = HashMap::new();
        loop {
            let users = tokio::select! {
                _ = shutdown.cancelled() => return,
                users = self.sockets().between_matches() => users,
            };
            for user_id in users {
                if let Err(e) = self.maybe_show_ad(user_id, &mut cache, &mut last_shown).await {
                    tracing::warn!(error = %e, user_id = user_id.get(), "showing an ad");
                }
            }
        }
    }

    async fn maybe_show_ad(
        &self,
        user_id: UserId,
        cache: &mut AdCache,
        last_shown: &mut HashMap<UserId, DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let interval = TimeDelta::seconds(i64::try_from(self.settings().ads.min_interval_secs).unwrap_or(i64::MAX));
        if last_shown.get(&user_id).is_some_and(|at| now - *at < interval) {
            return Ok(());
        }
        let refresh = TimeDelta::seconds(i64::try_from(self.settings().ads.refresh_secs).unwrap_or(i64::MAX));
        let changed = self.loops().ads_changed.swap(false, std::sync::atomic::Ordering::Relaxed);
        if changed || cache.loaded_at.is_none_or(|at| now - at >= refresh) {
            let rows = self.store().active_ads().await?;
            cache.ads = rows.into_iter().filter_map(|ad| Target::parse(&ad.target_group).map(|t| (ad, t))).collect();
            cache.loaded_at = Some(now);
        }
        if cache.ads.is_empty() {
            return Ok(());
        }
        let Some(user) = self.store().user_by_id(user_id).await? else { return Ok(()) };
        // Premium users never see ads; a banned user's sockets are closing.
        if user.is_premium || user.is_banned {
            return Ok(());
        }
        let location = user.location_lat.zip(user.location_lon);
        let fitting: Vec<&AdRow> =
            cache.ads.iter().filter(|(_, t)| t.includes(user.created_at, location, now)).map(|(ad, _)| ad).collect();
        let Some(ad) = fitting.choose(&mut rand::rng()) else { return Ok(()) };
        self.store().record_ad_view(ad.id, user_id, now).await?;
        let frame = ServerFrame::Ad { ad: AdFrame { id: ad.id, title: ad.title.clone(), content: ad.content.clone() } };
        self.delivery().to_user_here(user_id, &frame);
        last_shown.insert(user_id, now);
        // Bounded: forget those whose interval has passed anyway.
        if last_shown.len() > 100_000 {
            last_shown.retain(|_, at| now - *at < interval);
        }
        metrics::counter!("tanis_ads_shown_total").increment(1);
        Ok(())
    }

    /// An admin changed the ads: this node reads them again before the next one it shows (other nodes within
    /// `ads.refresh_secs`).
    pub fn ads_changed(&self) {
        self.loops().ads_changed.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
