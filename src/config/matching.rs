//! `[matching]`: who may be paired and how the search widens while someone waits (recent partners, match
//! lifetime, the "nearby" radius, interests and languages).

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MatchingConfig {
    /// Two people matched within this many hours are not paired again.
    pub recent_partner_hours: u32,
    /// A match expires this long after it was made.
    pub match_ttl_hours: u32,
    /// "Nearby" starts with this radius…
    pub nearby_start_km: f64,
    /// …and doubles every this many seconds of waiting, until anyone qualifies.
    pub nearby_doubling_secs: u64,
    /// A `match.find` with `interests: "prefer"` waits this long for someone sharing an interest, then takes
    /// anyone.
    pub interest_fallback_secs: u64,
    /// A premium `match.find` whose `seeking` has `mode: "prefer"` waits this long for someone of a gender it
    /// asks for, then takes anyone who accepts it (`only` waits for ever).
    pub gender_fallback_secs: u64,
    /// Never pair two people who both chose their languages and share none. Off: languages are only named.
    pub require_common_language: bool,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        Self {
            recent_partner_hours: 24,
            match_ttl_hours: 24,
            nearby_start_km: 5.0,
            nearby_doubling_secs: 10,
            interest_fallback_secs: 10,
            gender_fallback_secs: 30,
            require_common_language: true,
        }
    }
}

impl MatchingConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.match_ttl_hours == 0 || self.nearby_start_km.is_nan() || self.nearby_start_km <= 0.0 {
            return Err(invalid("matching", "match_ttl_hours and nearby_start_km must be positive"));
        }
        Ok(())
    }
}
