//! What a video match is given: ICE servers with fresh TURN credentials, from the TURN secret and URLs the node
//! was started with. `match.found` of a video match carries them, and `rtc.config` renews them.

use chrono::{DateTime, Utc};
use rand::Rng;
use tanis_proto::{IceServer, RtcConfig, VideoSafety};
use tanis_signaling::credentials;

use crate::config::VideoConfig;
use crate::domain::UserId;
use crate::domain::trust::{self, Rules};
use crate::store::Store;

/// What the node needs to hand out ICE servers.
#[derive(Clone)]
pub struct VideoSettings {
    pub config: VideoConfig,
    /// The TURN REST secret shared with the TURN server(s).
    pub turn_secret: Vec<u8>,
    /// Every TURN URL clients are given (the embedded server's, then configured external ones).
    pub turn_urls: Vec<String>,
    /// The embedded TURN server's counters, exported at `/metrics`; `None` when it does not run (an external
    /// coturn exports its own).
    pub turn_counters: Option<tanis_signaling::TurnCounters>,
}

impl VideoSettings {
    /// ICE servers with fresh ephemeral credentials. The username carries an opaque random reference, never
    /// the account id or phone (TURN servers log usernames).
    pub fn rtc_config(&self, now: DateTime<Utc>) -> RtcConfig {
        let user_ref: String =
            (0..16).map(|_| char::from(b"0123456789abcdef"[rand::rng().random_range(0..16)])).collect();
        let now = now.timestamp();
        let creds = credentials::issue(&self.turn_secret, &user_ref, now, self.config.credential_ttl_secs);
        let ice_servers = vec![IceServer {
            urls: self.turn_urls.clone(),
            username: Some(creds.username),
            credential: Some(creds.password),
        }];
        let policy = if self.config.relay_only { "relay" } else { "all" };
        RtcConfig { ice_servers, ice_transport_policy: policy.into(), ttl_secs: self.config.credential_ttl_secs }
    }

    /// The video safety policy a viewer is given for the stranger `peer` (docs/protocol.md, "Video safety"):
    /// the longer blur when [`trust::caution`] says so, or when the stranger's facts cannot be read.
    pub async fn safety(&self, store: &Store, peer: UserId, now: DateTime<Utc>, rules: &Rules) -> VideoSafety {
        let caution = match store.caution_facts(peer).await {
            Ok(Some((account, review))) => trust::caution(&account, review, now, rules),
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(error = %e, "reading a stranger's standing for video safety; blurring with caution");
                true
            }
        };
        let blur_secs = if caution { self.config.caution_blur_secs } else { self.config.blur_secs };
        VideoSafety { blur_secs, caution }
    }
}
