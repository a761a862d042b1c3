//! `[cluster]`: how nodes share work through Redis (read only with `redis_url`): the key prefix, how long a
//! node's claim to a socket lives, the matchmaker's lease, and how long a node pairs its own seekers.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// How nodes share work through Redis (only with `redis_url`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Prefix of every Redis key and channel: several clusters (or test runs) can share one Redis.
    pub namespace: String,
    /// A node's claim that a user's socket is on it lives this long unless renewed (every third of it while
    /// the socket lives): a node killed with -9 stops receiving that user's frames after at most this.
    pub presence_ttl_secs: u64,
    /// The matchmaker's lease: renewed every third of it; when its holder dies another node takes over
    /// within about this plus one renewal period.
    pub matchmaker_lease_ms: u64,
    /// Send the events of one batch bound for one node in one publish (an envelope, read by nodes of this
    /// version and later). `false` makes the node publish events one by one and name itself as the previous
    /// version did: only for checking that the two versions work side by side, as in a rolling upgrade.
    pub batch_envelope: bool,
    /// How long a node tries to pair its own seekers with each other before handing them to the cluster's
    /// elected matchmaker, which pairs seekers of different nodes. 0 hands every seeker over at once (as the
    /// previous version did: set it while a node of that version still runs, it cannot read handed-over seekers).
    pub local_pairing_ms: u64,
    /// How old a node's claim on a pair of its seekers is when nobody will settle it: an opening takes one
    /// commit, so a claim this old had its settle lost (a Redis failover drops the last writes). It is then
    /// taken over: by its user asking again, or deleted by the elected matchmaker.
    pub claim_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            namespace: "tanis".into(),
            presence_ttl_secs: 30,
            matchmaker_lease_ms: 3000,
            batch_envelope: true,
            local_pairing_ms: 200,
            claim_timeout_ms: 60_000,
        }
    }
}

impl ClusterConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let namespace_ok = |ch: char| ch.is_ascii_alphanumeric() || "-_.".contains(ch);
        if self.namespace.is_empty() || !self.namespace.chars().all(namespace_ok) {
            return Err(invalid("cluster.namespace", "must be non-empty ASCII letters, digits, '-', '_' or '.'"));
        }
        if self.presence_ttl_secs < 3 {
            return Err(invalid("cluster.presence_ttl_secs", "must be at least 3"));
        }
        if !(300..=60_000).contains(&self.matchmaker_lease_ms) {
            return Err(invalid("cluster.matchmaker_lease_ms", "must be between 300 and 60000"));
        }
        if self.local_pairing_ms > 1000 {
            return Err(invalid("cluster.local_pairing_ms", "must be at most 1000"));
        }
        if !(1000..=600_000).contains(&self.claim_timeout_ms) {
            return Err(invalid("cluster.claim_timeout_ms", "must be between 1000 and 600000"));
        }
        Ok(())
    }
}
