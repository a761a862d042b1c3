//! `[ads]`: how often free users see an ad between matches. Every value is usable, so there is nothing to check.

use serde::{Deserialize, Serialize};

/// Ads between matches for free users (docs/admin.md).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdsConfig {
    /// Show ads at all.
    pub enabled: bool,
    /// At most one ad per user in this many seconds (counted on the node holding their socket).
    pub min_interval_secs: u64,
    /// How often a node reads the active ads again (at once on the node where an admin changed them).
    pub refresh_secs: u64,
}

impl Default for AdsConfig {
    fn default() -> Self {
        Self { enabled: true, min_interval_secs: 600, refresh_secs: 30 }
    }
}
