//! How this node takes part in the cluster's matching: its own connection to Redis, made through
//! [`crate::redis_link`], and matching's settings of `[cluster]`. Delivery carries none of them: it lends matching
//! only what is delivery's, the node's name and presence.

use std::time::Duration;

use redis::RedisResult;

use crate::redis_link::{Conn, Target, Timeouts};

#[derive(Clone)]
pub struct Link {
    pub(super) conn: Conn,
    pub(super) target: Target,
    pub(super) namespace: String,
    /// How long the elected matchmaker's lease lasts unless renewed (`cluster.matchmaker_lease_ms`).
    pub lease: Duration,
    /// How long this node pairs its own seekers before handing them to the cluster; zero: not at all
    /// (`cluster.local_pairing_ms`).
    pub local_pairing: Duration,
    /// How old a node's claim on a pair is when nobody will settle it: a Redis failover lost the settle
    /// (`cluster.claim_timeout_ms`).
    pub claim_timeout: Duration,
}

impl Link {
    /// Connects to the Redis of `url` (one server or a Redis Cluster), for the keys of `namespace`.
    pub async fn connect(
        url: &str,
        namespace: &str,
        lease: Duration,
        local_pairing: Duration,
        claim_timeout: Duration,
    ) -> RedisResult<Self> {
        let target = Target::parse(url).map_err(|why| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "redis_url", why.to_owned()))
        })?;
        let conn =
            target.connect(Timeouts { connect: Duration::from_secs(2), response: Duration::from_secs(2) }).await?;
        Ok(Link { conn, target, namespace: namespace.to_owned(), lease, local_pairing, claim_timeout })
    }
}
