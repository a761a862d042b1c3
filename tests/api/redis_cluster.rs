//! Nodes on a real Redis Cluster of the test's own (three masters with a replica each, `redis-server
//! --cluster-enabled yes`), so that killing a master touches no other test: delivery between nodes goes over
//! sharded channels, and a master killed with -9 mid-conversation loses nothing acknowledged, keeps every socket
//! receiving (a publish lost in the failover costs a `resync` and a `resume`), and leaves the matchmaker's lease
//! and fence working on the promoted replica. The rest of the cluster tests run on a cluster too, in scripts/test's
//! Redis Cluster pass.

use std::collections::BTreeMap;
use std::fs::File;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tanis::domain::Seq;
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

/// Two nodes of a cluster on `redis`, `tweak` applied to both.
async fn nodes_on(
    redis: &OwnCluster,
    namespace: &str,
    tweak: impl Fn(&mut tanis::config::Config),
) -> (TestApp, TestApp) {
    two_nodes_on(&redis.url(), namespace, tweak).await
}

/// The epoch of the matchmaker that made the match.
async fn epoch_of(app: &TestApp, match_id: tanis::domain::MatchId) -> i64 {
    app.count(format!("SELECT matchmaker_epoch FROM matches WHERE id = {match_id}")).await
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
async fn node_of(redis: &OwnCluster, namespace: &str, user_id: tanis::domain::UserId) -> String {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matchmakers_shard_failing_over_keeps_its_lease_working_and_its_fence_from_going_back() {
    let mut redis = OwnCluster::start().await;
    // Every seeker goes to the elected matchmaker, whose lease, epoch and queue live on the `{lease:mm}` shard.
    let (first, second) = nodes_on(&redis, "lease", |c| c.cluster.local_pairing_ms = 0).await;
    let pair = |tag: &'static str| {
        let (first, second) = (&first, &second);
        async move {
            let (x, y) = (first.user(&format!("{tag}_x")).await, second.user(&format!("{tag}_y")).await);
            let (mut sx, mut sy) = (first.socket(&x).await, second.socket(&y).await);
            (sx.wait, sy.wait) = (WITHIN * 2, WITHIN * 2);
            let (cx, cy) = tokio::join!(Chat::find(&mut sx, MatchKind::Text), Chat::find(&mut sy, MatchKind::Text));
            let (cx, cy) = (cx.unwrap(), cy.unwrap());
            assert_eq!(cx.info.match_id, cy.info.match_id);
            (cx.info.match_id, [x.id, y.id])
        }
    };
    let (match_id, once) = pair("once").await;
    let mut users = once.to_vec();
    let before = epoch_of(&first, match_id).await;

    let lease = "{lease:mm}:lease";
    let killed = redis.kill_master_of(lease);
    let started = Instant::now();
    redis.promoted(lease, killed).await;
    // Whoever holds the lease on the promoted replica pairs again, never under an epoch below the fence.
    let (match_id, later) = pair("sonra").await;
    let after = epoch_of(&first, match_id).await;
    eprintln!("paired again {:?} after the matchmaker's master was killed", started.elapsed());
    assert!(after >= before, "the fence never goes back ({after} >= {before})");
    users.extend(later);
    for user in users {
        let spent =
            first.count(format!("SELECT COUNT(*) FROM matches WHERE user1_id = {user} OR user2_id = {user}")).await;
        assert_eq!(spent, 1, "user {user} was matched once");
    }
}
