//! One Redis, or a Redis Cluster, behind one connection type.
//!
//! `redis_url` names one server (`redis://host:port`, `rediss://` with TLS) or a cluster by some of its nodes
//! (`redis+cluster://host:port,host:port`, `rediss+cluster://`): the client learns every shard and its slots from
//! any node it reaches, and follows failovers and resharding on its own. On a cluster:
//! - a script's keys share one hash tag (the matchmaking keys are `{<namespace>:mm}:…`, each job queue
//!   `{<namespace>.<job>}:…`), so each script runs on one shard;
//! - node-to-node delivery uses sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`, Redis 7): each node's channel lives on
//!   the shard of its slot, so publishes spread over the shards instead of every shard carrying every message;
//! - a pipeline whose commands fall on several slots is sent as concurrent single commands ([`Conn`]), each to
//!   its shard; commands on one slot keep their order.

use std::time::Duration;

use futures_util::FutureExt;
use redis::aio::{AsyncPushSender, ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, ProtocolVersion, RedisFuture, RedisResult, Value};

/// Where Redis is: one server, or a cluster by its seed nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `redis://…` or `rediss://…`.
    Single(String),
    /// One `redis://` (or `rediss://`) URL per seed node, credentials and options repeated on each.
    Cluster(Vec<String>),
}

impl Target {
    /// Reads `redis_url`; the error says what is wrong with it.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        for (scheme, node_scheme) in [("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")] {
            let Some(rest) = url.strip_prefix(scheme) else { continue };
            let (rest, query) = rest.split_once('?').map_or((rest, None), |(r, q)| (r, Some(q)));
            let (auth, hosts) = rest.rsplit_once('@').map_or(("", rest), |(a, h)| (a, h));
            let hosts = hosts.trim_end_matches('/');
            let nodes: Vec<String> = hosts
                .split(',')
                .map(|host| {
                    let auth = if auth.is_empty() { String::new() } else { format!("{auth}@") };
                    let query = query.map(|q| format!("/?{q}")).unwrap_or_default();
                    format!("{node_scheme}{auth}{}{query}", host.trim())
                })
                .collect();
            if hosts.is_empty() || hosts.split(',').any(|h| h.trim().is_empty() || h.contains('/')) {
                return Err("a cluster URL lists its seed nodes as host:port,host:port");
            }
            return Ok(Target::Cluster(nodes));
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            Ok(Target::Single(url.to_owned()))
        } else {
            Err("must start with redis://, rediss://, redis+cluster:// or rediss+cluster://")
        }
    }

    /// Whether this is a cluster, where delivery uses sharded pub/sub and script keys are hash-tagged.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    /// The publish command of this target's pub/sub: `SPUBLISH` on a cluster, `PUBLISH` on one server.
    pub fn publish_command(&self) -> &'static str {
        if self.is_cluster() { "SPUBLISH" } else { "PUBLISH" }
    }

    /// A key prefix whose keys land on one shard of a cluster: `{prefix}` there, `prefix` on one server (where
    /// the keys keep the names earlier versions used, so a rolling upgrade shares them).
    pub fn same_shard(&self, prefix: &str) -> String {
        if self.is_cluster() { format!("{{{prefix}}}") } else { prefix.to_owned() }
    }

    /// A connection for commands; `timeouts` bound how long one command waits for a server.
    pub async fn connect(&self, timeouts: Timeouts) -> RedisResult<Conn> {
        match self {
            Target::Single(url) => {
                let client = redis::Client::open(with_resp3(url))?;
                Ok(Conn::Single(client.get_connection_manager_with_config(timeouts.single()).await?))
            }
            Target::Cluster(nodes) => Ok(Conn::Cluster(timeouts.cluster(nodes).build()?.get_async_connection().await?)),
        }
    }

    /// A connection subscribed to `channels` (sharded on a cluster), whose messages and link changes go to
    /// `pushes`; it subscribes again by itself after a reconnection or a failover.
    pub async fn subscribe(
        &self,
        channels: &[String],
        timeouts: Timeouts,
        pushes: impl AsyncPushSender,
    ) -> RedisResult<Conn> {
        match self {
            Target::Single(url) => {
                let client = redis::Client::open(with_resp3(url))?;
                let config = timeouts.single().set_push_sender(pushes).set_automatic_resubscription();
                let mut conn = client.get_connection_manager_with_config(config).await?;
                conn.subscribe(channels).await?;
                Ok(Conn::Single(conn))
            }
            Target::Cluster(nodes) => {
                let mut conn = timeouts.cluster(nodes).push_sender(pushes).build()?.get_async_connection().await?;
                // One at a time: an `SSUBSCRIBE`'s channels must share a slot.
                for channel in channels {
                    conn.ssubscribe(channel).await?;
                }
                Ok(Conn::Cluster(conn))
            }
        }
    }
}

/// How long a connection waits to connect and for an answer.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
}

impl Timeouts {
    fn single(self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect))
            .set_response_timeout(Some(self.response))
            .set_max_delay(Duration::from_secs(1))
    }

    fn cluster(self, nodes: &[String]) -> ClusterClientBuilder {
        ClusterClientBuilder::new(nodes.to_vec())
            .use_protocol(ProtocolVersion::RESP3)
            .connection_timeout(self.connect)
            .response_timeout(self.response)
            // A failover takes the cluster's node timeout and an election (about two seconds with a one-second
            // node timeout): a few retries, backing off to a second, ride it out instead of failing at once.
            .retries(6)
            .min_retry_wait(50)
            .max_retry_wait(1000)
    }
}

/// Pub/sub pushes need RESP3; the URL may say so already.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// A connection to one server (reconnecting by itself) or to a cluster (following its topology).
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Conn::Single(_) => "Conn::Single",
            Conn::Cluster(_) => "Conn::Cluster",
        })
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            // A plain pipeline (not MULTI/EXEC, which Redis Cluster allows on one slot only and the cluster
            // client sends whole): each command goes to its own shard, all at once. They are sent in order, and
            // one shard's connection answers in order, so commands on one key or channel keep theirs.
            Conn::Cluster(conn) if offset == 0 && count == pipeline.len() => {
                let conn = conn.clone();
                async move {
                    let sends = pipeline.cmd_iter().map(|cmd| {
                        let mut conn = conn.clone();
                        async move { conn.req_packed_command(cmd).await }
                    });
                    futures_util::future::try_join_all(sends).await
                }
                .boxed()
            }
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_url_names_each_seed_node_with_the_credentials_and_options_of_the_whole() {
        assert_eq!(
            Target::parse("redis+cluster://:sifre@10.0.0.1:7000,10.0.0.2:7001/?protocol=resp3"),
            Ok(Target::Cluster(vec![
                "redis://:sifre@10.0.0.1:7000/?protocol=resp3".into(),
                "redis://:sifre@10.0.0.2:7001/?protocol=resp3".into(),
            ]))
        );
        assert_eq!(Target::parse("rediss+cluster://a:1"), Ok(Target::Cluster(vec!["rediss://a:1".into()])));
        assert_eq!(Target::parse("redis://h:6379/"), Ok(Target::Single("redis://h:6379/".into())));
    }

    #[test]
    fn a_cluster_url_without_nodes_or_another_scheme_is_refused() {
        for url in ["redis+cluster://", "redis+cluster://a:1,,b:2", "redis+cluster://a:1/0,b:2", "http://a:1"] {
            assert!(Target::parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn keys_that_share_a_script_share_a_hash_tag_only_on_a_cluster() {
        let cluster = Target::Cluster(vec!["redis://a:1".into()]);
        assert_eq!(cluster.same_shard("tanis:mm"), "{tanis:mm}");
        assert_eq!(Target::Single("redis://a:1".into()).same_shard("tanis:mm"), "tanis:mm");
    }
}
