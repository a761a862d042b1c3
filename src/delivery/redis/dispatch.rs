//! The one task that writes this node's events and presence to Redis, in the order they were made.
//!
//! A batch (up to [`BATCH`] items, whatever has queued since the last one) costs two round trips however
//! many events it holds: the first writes this node's presence changes and reads where each addressed user's
//! sockets are (one `ZRANGEBYSCORE` per user); the second publishes, once per destination node, an envelope
//! of every event bound for it ([`super::wire`]). A node of the previous version gets its events one by one,
//! as it expects. No script runs: every command touches one key, so on a Redis Cluster each goes to its own
//! shard ([`super::conn`]), and the publishes are sharded (`SPUBLISH`).
//!
//! With `cluster.batch_envelope = false` the node behaves as the previous version did: one script per event
//! that looks the presence up and publishes the event alone ([`ROUTE`]), one round trip per batch.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use tokio::sync::mpsc;

use super::super::Event;
use super::{Cluster, Conn, Outgoing, OutgoingBox, now_ms, wire};
use crate::domain::UserId;

/// Most events sent in one batch.
const BATCH: usize = 256;

/// The previous version's routing, kept for `cluster.batch_envelope = false`: publishes `ARGV[3]` to every node
/// of the user's presence (`KEYS[1]`) whose entry has not expired (`ARGV[1]`, ms), except this node (`ARGV[2]`),
/// which has delivered it already.
const ROUTE: &str = r"
local nodes = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
for _, node in ipairs(nodes) do
  if node ~= ARGV[2] then redis.call('PUBLISH', ARGV[4] .. node, ARGV[3]) end
end
return #nodes
";

/// Loads the previous version's script when this node routes that way (a restarted Redis forgets it; the
/// dispatcher loads it again then).
pub(super) async fn prepare(cluster: &Cluster) -> redis::RedisResult<()> {
    if !cluster.batched {
        Script::new(ROUTE).prepare_invoke().load_async(&mut cluster.conn.clone()).await?;
    }
    Ok(())
}

/// One event of a batch, serialised once however many nodes it goes to.
enum Routed {
    /// To every node (a resync, a sign-out).
    Everyone(String),
    /// To the nodes of the user's presence.
    User(UserId, String),
}

pub(super) async fn dispatch(cluster: Arc<Cluster>, mut outgoing: mpsc::Receiver<OutgoingBox>, ttl: Duration) {
    let route = Script::new(ROUTE);
    let mut batch = Vec::with_capacity(BATCH);
    let mut conn = cluster.conn.clone();
    while outgoing.recv_many(&mut batch, BATCH).await > 0 {
        let now = now_ms();
        // Users whose events were dropped while the outbox was full: they resync everywhere.
        let overflowed: Vec<UserId> = cluster.overflowed.lock().expect("overflow lock").drain().collect();
        if !overflowed.is_empty() {
            metrics::counter!("tanis_resync_causes_total", "cause" => "outbox_full").increment(1);
            cluster.sockets.want_resync(overflowed.iter().copied());
            batch.push(OutgoingBox(Outgoing::Event(Event::Resync { users: overflowed })));
        }
        let mut users = HashSet::new();
        let relaying = cluster.relay.read().await;
        let sent = if cluster.batched {
            send_batched(&cluster, &mut conn, batch.drain(..), now, ttl, &mut users).await
        } else {
            send_singly(&cluster, &mut conn, &route, batch.drain(..), now, ttl, &mut users).await
        };
        drop(relaying);
        if let Err(e) = sent {
            metrics::counter!("tanis_delivery_publish_failures_total").increment(1);
            tracing::warn!(error = %e, users = users.len(), "publishing to other nodes failed; those users will resync");
            metrics::counter!("tanis_resync_causes_total", "cause" => "publish_failed").increment(1);
            // Their frames on other nodes may be lost: once Redis answers again, those nodes are told to resync
            // them (they are resynced here too, which is harmless).
            cluster.sockets.want_resync(users.iter().copied());
            cluster.enqueue(Outgoing::Event(Event::Resync { users: users.into_iter().collect() }));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Adds this node's presence change to `pipe`.
fn presence(cluster: &Cluster, pipe: &mut redis::Pipeline, user_id: UserId, here: bool, now: u64, ttl: Duration) {
    let key = cluster.keys.presence(user_id);
    if here {
        pipe.zadd(&key, &cluster.node, now + ttl.as_millis() as u64).ignore();
        pipe.pexpire(&key, (ttl.as_millis() * 2) as i64).ignore();
    } else {
        pipe.zrem(key, &cluster.node).ignore();
    }
}

/// Sorts one item of a batch: presence changes go into `pipe`, events into `routed`. `users` collects whom the
/// events concern (they resync if the batch fails).
fn sort(
    cluster: &Cluster,
    item: Outgoing,
    pipe: &mut redis::Pipeline,
    routed: &mut Vec<Routed>,
    users: &mut HashSet<UserId>,
    now: u64,
    ttl: Duration,
) {
    let event = match item {
        Outgoing::Presence { user_id, here } => return presence(cluster, pipe, user_id, here, now, ttl),
        Outgoing::Event(event) => event,
    };
    let payload = serde_json::to_string(&event).expect("events serialise");
    match event {
        // Its users resync again if this broadcast fails too (the dispatcher sends their resync once Redis answers).
        Event::Resync { users: wanted } => {
            users.extend(wanted);
            routed.push(Routed::Everyone(payload));
        }
        // To every node (see `Event::SignedOut`); if the publish fails, the user resyncs everywhere and the
        // resync closes what the store says is signed out.
        Event::SignedOut { user_id, .. } => {
            users.insert(user_id);
            routed.push(Routed::Everyone(payload));
        }
        event => {
            let Some(user_id) = event.user_id() else { return };
            users.insert(user_id);
            routed.push(Routed::User(user_id, payload));
        }
    }
}

/// Version 2: presence written and read in one round trip, then one publish per destination node.
async fn send_batched(
    cluster: &Cluster,
    conn: &mut Conn,
    items: impl Iterator<Item = OutgoingBox>,
    now: u64,
    ttl: Duration,
    users: &mut HashSet<UserId>,
) -> redis::RedisResult<()> {
    let mut first = redis::pipe();
    let mut routed = Vec::new();
    for OutgoingBox(item) in items {
        sort(cluster, item, &mut first, &mut routed, users, now, ttl);
    }
    // Where each addressed user is: one lookup per user, however many events they have in the batch.
    let mut looked_up: HashMap<UserId, usize> = HashMap::new();
    for item in &routed {
        if let Routed::User(user_id, _) = item {
            let next = looked_up.len();
            looked_up.entry(*user_id).or_insert_with(|| {
                first.cmd("ZRANGEBYSCORE").arg(cluster.keys.presence(*user_id)).arg(now).arg("+inf");
                next
            });
        }
    }
    let nodes: Vec<Vec<String>> = if first.is_empty() { Vec::new() } else { first.query_async(conn).await? };

    let mut second = redis::pipe();
    let nodes_of = |user_id: &UserId| nodes[looked_up[user_id]].as_slice();
    for (to, payload) in publishes(&routed, nodes_of, &cluster.node) {
        let channel = to.map_or_else(|| cluster.keys.everyone(), |node| cluster.keys.node(node));
        second.cmd(cluster.target.publish_command()).arg(channel).arg(payload.as_ref()).ignore();
    }
    if second.is_empty() {
        return Ok(());
    }
    second.query_async(conn).await
}

/// What a batch publishes, in order: `(Some(node), payload)` to one node, `(None, payload)` to every node.
/// The events bound for a node that reads envelopes go in one envelope, flushed before anything sent to every
/// node, so each node hears its events and the broadcasts in the order they were made; a node of the previous
/// version gets each event alone. `me` (this node) is skipped: it carried the events out already.
fn publishes<'a>(
    routed: &'a [Routed],
    nodes_of: impl Fn(&UserId) -> &'a [String],
    me: &str,
) -> Vec<(Option<&'a str>, Cow<'a, str>)> {
    let mut out = Vec::new();
    let mut envelopes: Vec<(&'a str, Vec<&'a str>)> = Vec::new();
    let flush = |out: &mut Vec<_>, envelopes: &mut Vec<(&'a str, Vec<&'a str>)>| {
        for (node, events) in envelopes.drain(..) {
            metrics::histogram!("tanis_delivery_envelope_events").record(events.len() as f64);
            out.push((Some(node), Cow::Owned(wire::envelope(events))));
        }
    };
    for item in routed {
        match item {
            Routed::Everyone(payload) => {
                flush(&mut out, &mut envelopes);
                out.push((None, Cow::Borrowed(payload.as_str())));
            }
            Routed::User(user_id, payload) => {
                for node in nodes_of(user_id).iter().filter(|n| *n != me) {
                    if !wire::reads_envelopes(node) {
                        out.push((Some(node.as_str()), Cow::Borrowed(payload.as_str())));
                    } else if let Some((_, events)) = envelopes.iter_mut().find(|(n, _)| n == node) {
                        events.push(payload);
                    } else {
                        envelopes.push((node, vec![payload]));
                    }
                }
            }
        }
    }
    flush(&mut out, &mut envelopes);
    out
}

/// The previous version: one script per event, in one round trip.
async fn send_singly(
    cluster: &Cluster,
    conn: &mut Conn,
    route: &Script,
    items: impl Iterator<Item = OutgoingBox>,
    now: u64,
    ttl: Duration,
    users: &mut HashSet<UserId>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    let mut routed = Vec::new();
    for OutgoingBox(item) in items {
        // Presence changes and events stay in one order: each event is added as it is sorted.
        sort(cluster, item, &mut pipe, &mut routed, users, now, ttl);
        match routed.pop() {
            Some(Routed::Everyone(payload)) => {
                pipe.publish(cluster.keys.everyone(), payload).ignore();
            }
            Some(Routed::User(user_id, payload)) => {
                pipe.cmd("EVALSHA")
                    .arg(route.get_hash())
                    .arg(1)
                    .arg(cluster.keys.presence(user_id))
                    .arg(now)
                    .arg(&cluster.node)
                    .arg(payload)
                    .arg(cluster.keys.node_prefix())
                    .ignore();
            }
            None => {}
        }
    }
    let sent = pipe.query_async(conn).await;
    if sent.as_ref().is_err_and(|e: &redis::RedisError| e.code() == Some("NOSCRIPT")) {
        // Redis restarted and forgot the script: load it and send the batch again.
        route.prepare_invoke().load_async(conn).await?;
        return pipe.query_async(conn).await;
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, payload: &str) -> Routed {
        Routed::User(UserId(id), payload.to_owned())
    }

    #[test]
    fn a_batch_sends_one_envelope_per_new_node_single_events_to_old_ones_and_broadcasts_in_order() {
        let (me, new, other_new, old) = ("v2.me".to_owned(), "v2.a".to_owned(), "v2.b".to_owned(), "c".to_owned());
        let presence: HashMap<UserId, Vec<String>> = [
            (UserId(1), vec![me.clone(), new.clone()]),
            (UserId(2), vec![new.clone(), old.clone()]),
            (UserId(3), vec![me.clone()]),
            (UserId(4), vec![other_new.clone()]),
        ]
        .into();
        let routed = [
            user(1, "e1"),
            user(2, "e2"),
            user(3, "e3"),
            user(1, "e4"),
            Routed::Everyone("all".into()),
            user(4, "e5"),
            user(2, "e6"),
        ];
        let sent = publishes(&routed, |u| presence[u].as_slice(), &me);
        let sent: Vec<(Option<&str>, &str)> = sent.iter().map(|(to, p)| (*to, p.as_ref())).collect();
        let envelope = |events: &[&str]| wire::envelope(events.iter().copied());
        let (before, after) = (envelope(&["e1", "e2", "e4"]), envelope(&["e6"]));
        let to_b = envelope(&["e5"]);
        assert_eq!(
            sent,
            [
                (Some("c"), "e2"),
                (Some("v2.a"), before.as_str()),
                (None, "all"),
                (Some("c"), "e6"),
                (Some("v2.b"), to_b.as_str()),
                (Some("v2.a"), after.as_str()),
            ]
        );
    }

    #[test]
    fn events_for_users_only_here_publish_nothing() {
        let here = vec!["v2.me".to_owned()];
        let routed = [user(1, "e1"), user(1, "e2")];
        assert!(publishes(&routed, |_| here.as_slice(), "v2.me").is_empty());
    }
}
