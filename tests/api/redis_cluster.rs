//! Nodes on a real Redis Cluster of the test's own (three masters with a replica each, `redis-server
//! --cluster-enabled yes`), so that killing a master touches no other test: delivery between nodes goes over
//! sharded channels, and a master killed with -9 mid-conversation loses nothing acknowledged, keeps every socket
//! receiving (a publish lost in the failover costs a `resync` and a `resume`), and leaves the matchmaker's lease
//! and fence working on the promoted replica, even one that missed the epoch counter's last writes (its master
//! refused it the resync before dying). The rest of the cluster tests run on a cluster too, in scripts/test's
//! Redis Cluster pass.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tanis::domain::{MatchId, Seq, UserId};
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};

use crate::helpers::{TestApp, eventually, redis_at};
use crate::redis_outage::{reserve_port, two_nodes_on};

const WITHIN: Duration = Duration::from_secs(15);

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

/// One `redis-server` of the cluster.
struct Instance {
    port: u16,
    child: Option<Child>,
    _reserved: [File; 2],
}

/// Six Redis processes made into a cluster of three masters, each with a replica. A second's node timeout:
/// a killed master's replica takes over in about two seconds.
struct OwnCluster {
    instances: Vec<Instance>,
    _dir: tempfile::TempDir,
}

impl OwnCluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut instances = Vec::new();
        for _ in 0..6 {
            // Each instance listens on its port and talks to the others on a bus port: both reserved.
            let ((port, data), (bus, bus_lock)) = (reserve_port(), reserve_port());
            let (p, b) = (port.to_string(), bus.to_string());
            let child = Command::new("redis-server")
                .args(["--port", &p, "--cluster-port", &b, "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{p}.conf"), "--cluster-node-timeout", "1000"])
                .args(["--save", "", "--appendonly", "no", "--dbfilename", &format!("dump-{p}.rdb")])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server runs (scripts/test installs it)");
            instances.push(Instance { port, child: Some(child), _reserved: [data, bus_lock] });
        }
        let cluster = Self { instances, _dir: dir };
        for instance in &cluster.instances {
            let port = instance.port;
            eventually(WITHIN, "a cluster instance answers", || async move { cli(port, &["PING"]).trim() == "PONG" })
                .await;
        }
        let addresses: Vec<String> = cluster.instances.iter().map(|i| format!("127.0.0.1:{}", i.port)).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stdout));
        cluster.settled().await;
        cluster
    }

    /// `redis+cluster://` naming two of the masters' addresses: the nodes learn the rest from them.
    fn url(&self) -> String {
        let seeds: Vec<String> = self.instances.iter().take(2).map(|i| format!("127.0.0.1:{}", i.port)).collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// Waits until every live instance says the cluster is whole and every replica has its master's data.
    async fn settled(&self) {
        for instance in self.instances.iter().filter(|i| i.child.is_some()) {
            let port = instance.port;
            eventually(WITHIN, "the cluster is whole", || async move {
                cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
                    && (!cli(port, &["INFO", "replication"]).contains("role:slave")
                        || cli(port, &["INFO", "replication"]).contains("master_link_status:up"))
            })
            .await;
        }
    }

    fn live_port(&self) -> u16 {
        self.instances.iter().find(|i| i.child.is_some()).expect("a live instance").port
    }

    /// The port of the master serving `key`'s slot, as the live instances see it.
    fn master_of(&self, key: &str) -> u16 {
        self.serving(key).unwrap_or_else(|| panic!("no master serves {key}"))
    }

    /// The port of the live master serving `key`'s slot; `None` while a failover is under way.
    fn serving(&self, key: &str) -> Option<u16> {
        let slot: u16 = cli(self.live_port(), &["CLUSTER", "KEYSLOT", key]).trim().parse().unwrap();
        let nodes = cli(self.live_port(), &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((low, high)) => (low.parse().unwrap()..=high.parse().unwrap()).contains(&slot),
                None => range.parse::<u16>().is_ok_and(|s| s == slot),
            });
            if serves {
                return fields[1].split([':', '@']).nth(1).unwrap().parse().ok();
            }
        }
        None
    }

    /// Kills the master of `key`'s slot with SIGKILL; returns its port.
    fn kill_master_of(&mut self, key: &str) -> u16 {
        let port = self.master_of(key);
        let instance = self.instances.iter_mut().find(|i| i.port == port).unwrap();
        let mut child = instance.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        port
    }

    /// The port of `master`'s replica, as the master lists it.
    fn replica_of(&self, master: u16) -> u16 {
        let info = cli(master, &["INFO", "replication"]);
        let listed = info.lines().find_map(|line| line.strip_prefix("slave0:"));
        let port = listed.and_then(|fields| fields.split(',').find_map(|f| f.strip_prefix("port=")));
        port.and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{master} lists no replica: {info}"))
    }

    /// Cuts `master`'s replica off the master's writes, as a replica lagging behind its master is when the master
    /// dies: the master refuses the replication handshake's `PSYNC` and `SYNC` to its default user (`ACL SETUSER
    /// default -psync -sync`; the nodes never send either), then drops the replica's link (`CLIENT KILL TYPE
    /// replica`). The replica keeps its data as of the cut, retrying the handshake every second, and stays eligible
    /// for promotion for about `cluster-replica-validity-factor` (10) node timeouts. Returns the replica's port.
    async fn cut_off_replica_of(&self, master: u16) -> u16 {
        let replica = self.replica_of(master);
        // Everything written so far reaches the replica first (WAIT returns once it acknowledged it): it is cut
        // off from the writes after this, not from a sync still under way.
        assert_eq!(cli(master, &["WAIT", "1", "10000"]).trim(), "1", "the replica caught up");
        assert_eq!(cli(master, &["ACL", "SETUSER", "default", "-psync", "-sync"]).trim(), "OK");
        assert_eq!(cli(master, &["CLIENT", "KILL", "TYPE", "replica"]).trim(), "1");
        eventually(WITHIN, "the replica has lost its link to the master", || async move {
            cli(replica, &["INFO", "replication"]).contains("master_link_status:down")
        })
        .await;
        replica
    }

    /// Waits until a live instance serves `key`'s slot as master (the killed one's replica, promoted).
    async fn promoted(&self, key: &str, killed: u16) {
        eventually(WITHIN, "a replica takes over the killed master's slots", || async move {
            self.serving(key).is_some_and(|port| port != killed)
        })
        .await;
        self.settled().await;
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            if let Some(mut child) = instance.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// `redis-cli` against one instance, its output as text.
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `GET key` on a replica (`READONLY` first, or it redirects the read to its master).
fn read_on_replica(port: u16, key: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("READONLY\nGET {key}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_owned()
}

/// Two nodes of a cluster on `redis`, `tweak` applied to both.
async fn nodes_on(
    redis: &OwnCluster,
    namespace: &str,
    tweak: impl Fn(&mut tanis::config::Config),
) -> (TestApp, TestApp) {
    two_nodes_on(&redis.url(), namespace, tweak).await
}

/// The epoch of the elected matchmaker that made the match; `None` for a pair a node made of its own seekers.
async fn epoch_of(app: &TestApp, match_id: MatchId) -> Option<i64> {
    let sql = format!("SELECT matchmaker_epoch FROM matches WHERE id = {match_id} AND matchmaker_epoch IS NOT NULL");
    app.integers(sql).await.first().copied()
}

/// `text` from one side, accepted, and read by the other: live, or by a `resume` when the other's node tells it to
/// resync (a node that found its subscription on a dead shard makes it again, and the publishes meanwhile are gone).
async fn say((from, from_chat): (&mut Connection, &mut Chat), (to, to_chat): (&mut Connection, &mut Chat), text: &str) {
    from.send(&from_chat.message(text)).await.unwrap();
    let ServerFrame::MsgAccepted { seq, match_id, .. } =
        next_within(from, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await
    else {
        unreachable!()
    };
    let wanted = |f: &ServerFrame| {
        matches!(f, ServerFrame::Msg { seq: s, mine: false, .. } if *s == seq)
            || matches!(f, ServerFrame::Resync { .. })
    };
    loop {
        match next_within(to, wanted).await {
            ServerFrame::Resync { .. } => {
                let resume = ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: Seq(seq.0 - 1) };
                to.send(&resume).await.unwrap();
            }
            frame => return assert_eq!(to_chat.read(&frame).unwrap(), text),
        }
    }
}

/// The node holding the user's socket, as presence in the cluster says.
async fn node_of(redis: &OwnCluster, namespace: &str, user_id: UserId) -> String {
    let key = format!("{namespace}:presence:{user_id}");
    let mut conn = redis_at(&redis.url()).await;
    let nodes: Vec<String> = redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query_async(&mut conn).await.unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    nodes.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_a_redis_cluster_match_and_chat_over_sharded_channels() {
    let redis = OwnCluster::start().await;
    let (first, second) = nodes_on(&redis, "shard", |_| {}).await;
    let (a, b) = (first.user("kedi").await, second.user("kopek").await);
    let (mut sa, mut sb) = (first.socket(&a).await, second.socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    assert_eq!(chat_a.info.match_id, chat_b.info.match_id);
    say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "bir").await;
    say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "iki").await;

    // Each node listens on a sharded channel (on the shard of its name's slot), none on a plain one.
    let node_a = node_of(&redis, "shard", a.id).await;
    let node_b = node_of(&redis, "shard", b.id).await;
    for node in [node_a, node_b] {
        let channel = format!("shard:node:{node}");
        let master = redis.master_of(&channel);
        let sharded = cli(master, &["PUBSUB", "SHARDCHANNELS", "shard:*"]);
        assert!(sharded.lines().any(|c| c == channel), "{channel} on {master}: {sharded}");
    }
    for instance in &redis.instances {
        assert_eq!(cli(instance.port, &["PUBSUB", "CHANNELS", "shard:*"]).trim(), "", "no plain channel");
    }
    // The matchmaking keys share one slot (a script touches several of them at once).
    let slot = |key: &str| cli(redis.live_port(), &["CLUSTER", "KEYSLOT", key]);
    assert_eq!(slot("{shard:mm}:queue"), slot("{shard:mm}:lease"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_mid_conversation_loses_no_acknowledged_message_and_every_socket_keeps_receiving() {
    let mut redis = OwnCluster::start().await;
    let (first, second) = nodes_on(&redis, "failover", |_| {}).await;
    let (a, b) = (first.user("kedi").await, second.user("kopek").await);
    let (mut sa, mut sb) = (first.socket(&a).await, second.socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;
    // The master of b's node's channel: what a sends b is published there.
    let channel = format!("failover:node:{}", node_of(&redis, "failover", b.id).await);

    // a writes and b reads, one message at a time; the master goes after the fifth. b keeps frames by seq, as
    // protocol.md's client does, and resumes after the last one it holds without a gap when told to resync.
    let (mut accepted, mut frames) = (Vec::new(), BTreeMap::new());
    let (mut last_heard, mut pause, mut resyncs) = (Instant::now(), Duration::ZERO, 0);
    let mut killed = None;
    for i in 0..20 {
        if i == 5 {
            killed = Some(redis.kill_master_of(&channel));
        }
        sa.send(&chat_a.message(&format!("mesaj {i}"))).await.unwrap();
        let ServerFrame::MsgAccepted { seq, .. } =
            next_within(&mut sa, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await
        else {
            unreachable!()
        };
        accepted.push(seq);
        let wanted = |f: &ServerFrame| matches!(f, ServerFrame::Msg { .. } | ServerFrame::Resync { .. });
        while !frames.contains_key(&seq) {
            let frame = next_within(&mut sb, wanted).await;
            match frame {
                ServerFrame::Msg { seq: got, .. } => {
                    pause = pause.max(last_heard.elapsed());
                    last_heard = Instant::now();
                    frames.entry(got).or_insert(frame);
                }
                ServerFrame::Resync { active_match } => {
                    resyncs += 1;
                    assert_eq!(active_match.map(|m| m.match_id), Some(match_id));
                    let after = (1..).map(Seq).take_while(|s| frames.contains_key(s)).last().unwrap_or(Seq(0));
                    sb.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: after }).await.unwrap();
                }
                _ => unreachable!(),
            }
        }
    }
    let killed = killed.unwrap();
    redis.promoted(&channel, killed).await;
    let got: Vec<Seq> = frames.keys().copied().collect();
    assert_eq!(got, accepted, "every acknowledged message reached b");
    for (i, frame) in frames.values().enumerate() {
        assert_eq!(chat_b.read(frame).unwrap(), format!("mesaj {i}"));
    }
    eprintln!("delivery paused at most {pause:?} while master {killed} failed over ({resyncs} resyncs)");

    // Both sockets still receive live, both ways, on the promoted replica.
    say((&mut sa, &mut chat_a), (&mut sb, &mut chat_b), "sonra").await;
    say((&mut sb, &mut chat_b), (&mut sa, &mut chat_a), "evet").await;
}

/// The matchmaker's shard fails over to a replica that missed the last takeover (the epoch counter's last write):
/// the counter it brings is one below the database fence. The new holder must not run under that epoch again (the
/// store takes a batch at the fence itself), so the matches after the failover carry a higher one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matchmakers_shard_failing_over_to_a_replica_that_missed_the_last_takeover_never_reuses_its_epoch() {
    the_matchmakers_shard_fails_over_to_a_replica_behind_by(1).await;
}

/// The same failover, to a replica a thousand takeovers behind: the new holder raises the counter past the
/// database fence at once, instead of counting up to it a lease tick at a time (a thousand seconds without
/// anyone pairing seekers of different nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matchmakers_shard_failing_over_to_a_replica_far_behind_the_fence_raises_its_epoch_past_it() {
    the_matchmakers_shard_fails_over_to_a_replica_behind_by(1000).await;
}

/// Two nodes pairing as they do by default (each its own seekers first, the elected matchmaker those of both
/// nodes), on a Redis Cluster whose matchmaking shard's replica stops hearing its master, which then takes
/// `missed` takeovers more (the last one for real, a matched pair written under it: the database fence) and is
/// killed. Afterwards both kinds of pairing go on, every user is in one match and paid for it once, and the epoch
/// never goes back to one already written, whatever the promoted replica's counter says.
async fn the_matchmakers_shard_fails_over_to_a_replica_behind_by(missed: i64) {
    let mut redis = OwnCluster::start().await;
    let default_pairing = tanis::config::ClusterConfig::default().local_pairing_ms;
    let (first, second) = nodes_on(&redis, "lease", |c| c.cluster.local_pairing_ms = default_pairing).await;
    // Never matched: what everyone's balance was before paying for a match.
    let unmatched = first.user("bekleyen").await;
    let (mut users, mut before) = (Vec::new(), Vec::new());
    let local_pairs = async |users: &mut Vec<UserId>, tags: [&str; 2]| {
        for (node, tag) in [(&first, tags[0]), (&second, tags[1])] {
            let (match_id, pair) = paired(node, node, tag).await;
            assert_eq!(epoch_of(&first, match_id).await, None, "{tag}: paired on their node, not by the matchmaker");
            users.extend(pair);
        }
    };
    local_pairs(&mut users, ["bir", "iki"]).await;
    let (match_id, pair) = paired(&first, &second, "uc").await;
    before.push(epoch_of(&first, match_id).await.expect("a pair of two nodes is the elected matchmaker's"));
    users.extend(pair);

    // The lease, the epoch counter and the queue live on one shard. Its replica is cut off; the master goes on:
    // `missed - 1` takeovers stand in one INCRBY, the last one happens (the lease lapses, as when its holder is
    // paused past it, and a node takes it with the next epoch) and writes a pair: the database fence.
    let (lease, epoch) = (LEASE, "{lease:mm}:epoch");
    let master = redis.master_of(lease);
    let replica = redis.cut_off_replica_of(master).await;
    let counted: i64 = cli(master, &["GET", epoch]).trim().parse().unwrap();
    if missed > 1 {
        cli(master, &["INCRBY", epoch, &(missed - 1).to_string()]);
    }
    lapse_lease(master, counted + missed).await;
    let (match_id, pair) = paired(&first, &second, "dort").await;
    let fence = epoch_of(&first, match_id).await.expect("paired by the matchmaker that took the lease");
    assert_eq!(fence, counted + missed, "paired under the epoch of the last takeover");
    before.push(fence);
    users.extend(pair);
    // A replica that holds no counter at all is the farthest behind it can be (as a Redis restarted without
    // persistence): the test command met it twice, after the replica had acknowledged every earlier write, and it
    // was not traced. It is counted as 0, and the promotion must still raise the epoch past the fence.
    let promoted_counter: i64 = match read_on_replica(replica, epoch) {
        none if none.is_empty() => 0,
        counter => counter.parse().expect("the replica holds a counter, or none"),
    };
    assert!(fence - promoted_counter >= missed, "the replica is at least {missed} takeovers behind the fence");

    let killed = redis.kill_master_of(lease);
    redis.promoted(lease, killed).await;
    assert_eq!(redis.master_of(lease), replica);
    let promoted_at = Instant::now();
    let across = tokio::time::timeout(WITHIN, paired(&first, &second, "bes")).await.unwrap_or_else(|_| {
        panic!("no pair of two nodes within {WITHIN:?} of the promotion: the counter was not raised past the fence")
    });
    let (match_id, pair) = across;
    let after = epoch_of(&first, match_id).await.expect("a pair of two nodes is the elected matchmaker's");
    eprintln!("paired across nodes {:?} after the promotion, under epoch {after}", promoted_at.elapsed());
    users.extend(pair);
    local_pairs(&mut users, ["alti", "yedi"]).await;

    assert!(after > fence, "the epoch after the failover ({after}) is above every one written before ({before:?})");
    let highest = first.count("SELECT MAX(matchmaker_epoch) FROM matches").await;
    assert_eq!(highest, after);
    let stored_fence = first.count("SELECT epoch::bigint FROM matchmaker_fence WHERE id = 1").await;
    assert_eq!(stored_fence, highest, "the database fence is the highest epoch written");
    let balance = |user: UserId| {
        first.count(format!("SELECT (daily_chat_balance + bonus_chat_balance)::bigint FROM users WHERE id = {user}"))
    };
    let unpaid = balance(unmatched.id).await;
    for user in users {
        let matches =
            first.count(format!("SELECT COUNT(*) FROM matches WHERE user1_id = {user} OR user2_id = {user}")).await;
        assert_eq!(matches, 1, "user {user} is in one match");
        assert_eq!(balance(user).await, unpaid - 1, "user {user} paid for one match");
    }
}

/// The matchmaker's lease in the namespace `lease`, on one shard with its epoch counter, its queue and the nodes'
/// liveness (`{lease:mm}:…`).
const LEASE: &str = "{lease:mm}:lease";

/// The lease lapses, as when its holder is paused past it (deleted on `master`): waits until a node has taken
/// it under `epoch` and every node has renewed its liveness since, each tick looking at the lease, so that the
/// matchmaker of the epoch before has stopped and the next pair is the new holder's.
async fn lapse_lease(master: u16, epoch: i64) {
    cli(master, &["DEL", LEASE]);
    eventually(WITHIN, "a node takes the lease under the next epoch", || async move {
        cli(master, &["GET", LEASE]).trim().rsplit_once(':').is_some_and(|(_, e)| e == epoch.to_string())
    })
    .await;
    let time = cli(master, &["TIME"]);
    let mut time = time.lines().map(|n| n.trim().parse::<i64>().unwrap());
    let taken_at = time.next().unwrap() * 1000 + time.next().unwrap() / 1000;
    let lease_ms = tanis::config::ClusterConfig::default().matchmaker_lease_ms as i64;
    eventually(WITHIN, "every node ticks after the takeover", || async move {
        let alive = cli(master, &["ZRANGE", "{lease:mm}:alive", "0", "-1", "WITHSCORES"]);
        let scores: Vec<i64> = alive.lines().skip(1).step_by(2).map(|s| s.trim().parse().unwrap()).collect();
        scores.len() == 2 && scores.iter().all(|score| score - lease_ms > taken_at)
    })
    .await;
}

/// A text match between a new user on `x_node` and one on `y_node`, asking at once: the match, and who they are.
async fn paired(x_node: &TestApp, y_node: &TestApp, tag: &str) -> (MatchId, [UserId; 2]) {
    let (x, y) = (x_node.user(&format!("{tag}_x")).await, y_node.user(&format!("{tag}_y")).await);
    let (mut sx, mut sy) = (x_node.socket(&x).await, y_node.socket(&y).await);
    (sx.wait, sy.wait) = (WITHIN * 2, WITHIN * 2);
    let (cx, cy) = tokio::join!(Chat::find(&mut sx, MatchKind::Text), Chat::find(&mut sy, MatchKind::Text));
    let (cx, cy) = (cx.unwrap(), cy.unwrap());
    assert_eq!(cx.info.match_id, cy.info.match_id);
    (cx.info.match_id, [x.id, y.id])
}
