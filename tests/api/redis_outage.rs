//! Redis going away under a cluster, with a Redis of the test's own (started here, so killing it touches no
//! other test): no acknowledged message is lost across a restart, rate limits still hold on each node while
//! it is down, and whoever waited for a match is told to `resync` and find again (docs/operations.md, "When a
//! part fails"; docs/protocol.md, `resync`).

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, Seq, ServerFrame};

use crate::helpers::{Backend, TestApp, cluster_phone_keys, eventually, join_cluster, spawn_app_with};

const WITHIN: Duration = Duration::from_secs(10);
/// Counted by each node as it loses its subscription to Redis.
const LINK_LOSSES: &str = "tanis_delivery_link_losses_total";

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

/// A Redis of the test's own, restarted on the port it was started on (the nodes are configured with it).
///
/// The port must stay free while Redis is down. One from `bind(0)` would not: it lies in the kernel's
/// ephemeral range, from which any socket opened meanwhile — another test's server on port 0, or any outgoing
/// connection of this very test — may take it, and Redis could not come back. So the port is one below that
/// range, which the kernel never hands out by itself, and a lock file beside the other reservations keeps the
/// other tests of this suite (several processes run at once) off it for as long as this one owns it.
pub(crate) struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The reservation of `port`: an exclusive lock, released when the test ends (or dies).
    _reserved: File,
}

impl OwnRedis {
    pub(crate) async fn start() -> Self {
        let (port, reserved) = reserve_port();
        let mut redis = Self { port, dir: tempfile::tempdir().unwrap(), child: None, _reserved: reserved };
        redis.run().await;
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts Redis (again) on its port, and waits until it answers.
    async fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/test installs it)");
        self.child = Some(child);
        let url = self.url();
        eventually(WITHIN, "redis answers", || {
            let url = url.clone();
            async move {
                match redis::Client::open(url).unwrap().get_multiplexed_async_connection().await {
                    Ok(mut c) => redis::cmd("PING").query_async::<String>(&mut c).await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port below the kernel's ephemeral range that nothing listens on, locked for this test (see
/// [`OwnRedis`]).
pub(crate) fn reserve_port() -> (u16, File) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    // Below 20000 too: scripts/test's fallback without python3 picks its servers' ports from 20000 up.
    let ports = 10_000..ephemeral_low.min(20_000);
    let locks = std::env::temp_dir().join("tanis-test-redis-ports");
    std::fs::create_dir_all(&locks).unwrap();
    for _ in 0..200 {
        let port = rand::random_range(ports.clone());
        if let Some(reserved) = try_reserve(&locks, port) {
            return (port, reserved);
        }
    }
    panic!("no free port in {ports:?} for a test Redis");
}

/// The lock files stay behind (empty, one per port ever used): removing one while another test may have it
/// open would let two tests lock two different files of the same name.
fn try_reserve(locks: &Path, port: u16) -> Option<File> {
    let lock = File::create(locks.join(format!("{port}.lock"))).ok()?;
    lock.try_lock().ok()?;
    // Reserved among the tests; free on the machine too?
    std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(lock)
}

/// Two nodes of a cluster on `own` Redis, `tweak` applied to both.
async fn cluster_on(own: &OwnRedis, tweak: impl Fn(&mut tanis::config::Config)) -> (TestApp, TestApp) {
    two_nodes_on(&own.url(), "outage", tweak).await
}

/// Two nodes of a cluster on the Redis at `url` under `namespace`, `tweak` applied to both.
pub(crate) async fn two_nodes_on(
    url: &str,
    namespace: &str,
    tweak: impl Fn(&mut tanis::config::Config),
) -> (TestApp, TestApp) {
    let first = spawn_app_with(Backend::Postgres, |c| {
        c.redis_url = Some(url.to_owned());
        c.cluster.namespace = namespace.into();
        c.auth.jwt_secret = Some("a-cluster-test-signing-secret-of-enough-length".into());
        cluster_phone_keys(c);
        tweak(c);
    })
    .await;
    let second = join_cluster(&first, &tweak).await;
    (first, second)
}

/// Sends a message and returns its answer: `msg.accepted` or an error.
async fn send(socket: &mut Connection, chat: &mut Chat, text: &str) -> ServerFrame {
    socket.send(&chat.message(text)).await.unwrap();
    next_within(socket, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await
}

fn accepted(answer: &ServerFrame) -> bool {
    matches!(answer, ServerFrame::MsgAccepted { .. })
}

fn rate_limited(answer: &ServerFrame) -> bool {
    matches!(answer, ServerFrame::Error { code: ErrorCode::RateLimited, .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_conversation_loses_no_acknowledged_message_and_delivery_resumes() {
    let mut own = OwnRedis::start().await;
    let (first, second) = cluster_on(&own, |_| {}).await;
    let (a, b) = (first.user("kedi").await, second.user("kopek").await);
    let (mut sa, mut sb) = (first.socket(&a).await, second.socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;

    let mut accepted = Vec::new();
    let seq_of = |answer: ServerFrame| match answer {
        ServerFrame::MsgAccepted { seq, .. } => seq,
        other => panic!("not accepted: {other:?}"),
    };
    accepted.push(seq_of(send(&mut sa, &mut chat_a, "önce").await));
    own.kill();
    // Acknowledged while Redis is down: stored, but the doorbell to node 1 is gone.
    for text in ["sırasında 1", "sırasında 2", "sırasında 3"] {
        accepted.push(seq_of(send(&mut sa, &mut chat_a, text).await));
    }
    own.run().await;

    // Node 1 is back on Redis and tells b to resync; b resumes from what it holds. As protocol.md's client
    // algorithm (and the SDK's conversation.js) does: frames are kept by seq and decrypted in seq order once
    // `resume.done` came, and the resume starts after the last seq held without a gap. A publish lost while Redis
    // was down can be followed by later ones that got through once it was back (the Redis client sends its queued
    // commands on reconnect), so b may hold 1, 3 and 4 before the resync.
    let mut frames = std::collections::BTreeMap::new();
    let wanted = |f: &ServerFrame| matches!(f, ServerFrame::Resync { .. } | ServerFrame::Msg { .. });
    let mut frame = next_within(&mut sb, wanted).await;
    while let ServerFrame::Msg { seq, .. } = frame {
        frames.insert(seq, frame);
        frame = next_within(&mut sb, wanted).await;
    }
    let ServerFrame::Resync { active_match } = frame else { unreachable!() };
    assert_eq!(active_match.map(|m| m.match_id), Some(match_id));
    let after = (1..).map(Seq).take_while(|seq| frames.contains_key(seq)).last().unwrap_or(Seq(0));
    sb.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: after }).await.unwrap();
    loop {
        let frame =
            next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { .. } | ServerFrame::ResumeDone { .. })).await;
        if matches!(frame, ServerFrame::ResumeDone { .. }) {
            break;
        }
        let ServerFrame::Msg { seq, .. } = frame else { unreachable!() };
        frames.entry(seq).or_insert(frame);
    }
    let mut received = std::collections::BTreeMap::new();
    for (seq, frame) in &frames {
        received.insert(*seq, chat_b.read(frame).unwrap());
    }
    let got: Vec<Seq> = received.keys().copied().collect();
    assert_eq!(got, accepted, "every acknowledged message reached b");

    // And live delivery works again without restarting a node (frames already resumed may still arrive live
    // meanwhile: a client keeps the highest seq it holds and skips those).
    let seq = seq_of(send(&mut sa, &mut chat_a, "sonra").await);
    let live = next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { seq: s, .. } if *s == seq)).await;
    assert_eq!(chat_b.read(&live).unwrap(), "sonra");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_each_node_still_limits_a_users_messages_with_its_own_bucket() {
    let mut own = OwnRedis::start().await;
    // A burst of two, then one a second of each node's clock (which stands still until the test moves it).
    let (first, second) = cluster_on(&own, |c| (c.hub.messages_per_second, c.hub.message_burst) = (1, 2)).await;
    let (a, b) = (first.user("kedi").await, first.user("kopek").await);
    let (mut sa, mut chat_a, _sb, _) = first.pair(&a, &b, MatchKind::Text).await;
    let mut elsewhere = second.socket(&a).await;

    let losses = LINK_LOSSES;
    let before = first.scrape().await.value(losses);
    own.kill();
    // Both nodes (one process, one metrics registry) have noticed.
    eventually(WITHIN, "both nodes lost their link", || async { first.scrape().await.value(losses) >= before + 2.0 })
        .await;

    // One bound for all nine sends, far above what they take: were the shared bucket still tried first, each
    // would wait out the reconnection to the dead Redis (about 5 s), and the users' messages with it.
    tokio::time::timeout(WITHIN, async {
        // Each node limits with its own bucket: a user with sockets on two nodes gets the burst on each.
        for socket in [&mut sa, &mut elsewhere] {
            let answers = [send(socket, &mut chat_a, "1").await, send(socket, &mut chat_a, "2").await];
            assert!(answers.iter().all(accepted), "{answers:?}");
            let over = send(socket, &mut chat_a, "3").await;
            assert!(rate_limited(&over), "the burst is spent on this node: {over:?}");
        }
        // And refills at the node's own clock: a second on node 0 gives one token there, none on node 1.
        first.clock.advance(chrono::TimeDelta::seconds(1));
        assert!(accepted(&send(&mut sa, &mut chat_a, "4").await));
        assert!(rate_limited(&send(&mut sa, &mut chat_a, "5").await));
        assert!(rate_limited(&send(&mut elsewhere, &mut chat_a, "6").await));
    })
    .await
    .expect("messages are answered at once while Redis is down");
    let stored = first.count(format!("SELECT COUNT(*) FROM messages WHERE sender_id = {}", a.id)).await;
    assert_eq!(stored, 5, "the refused messages were not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_waiting_for_a_match_when_redis_restarts_are_told_to_resync_and_are_matched_after_finding_again() {
    let mut own = OwnRedis::start().await;
    let (first, second) = cluster_on(&own, |_| {}).await;
    // One waiter on each node (the matchmaker runs on one of them): different kinds, so they wait.
    let (x, y) = (first.user("bekleyen_x").await, second.user("bekleyen_y").await);
    let (mut sx, mut sy) = (first.socket(&x).await, second.socket(&y).await);
    for (socket, kind) in [(&mut sx, MatchKind::Text), (&mut sy, MatchKind::Video)] {
        Chat::ask(socket, kind).await.unwrap();
        next_within(socket, |f| matches!(f, ServerFrame::MatchQueued { .. })).await;
    }

    // The restart loses the queue with everything else in Redis.
    own.kill();
    own.run().await;

    for socket in [&mut sx, &mut sy] {
        let resync = next_within(socket, |f| matches!(f, ServerFrame::Resync { .. })).await;
        assert_eq!(resync, ServerFrame::Resync { active_match: None }, "no match, so find again");
    }
    // Finding again queues them afresh (docs/protocol.md: "the cluster's queue may have been lost"), and a
    // newcomer of each kind is matched with them.
    let (x2, y2) = (second.user("yeni_x").await, first.user("yeni_y").await);
    let (mut sx2, mut sy2) = (second.socket(&x2).await, first.socket(&y2).await);
    let (found_x, found_x2, found_y, found_y2) = tokio::join!(
        Chat::find(&mut sx, MatchKind::Text),
        Chat::find(&mut sx2, MatchKind::Text),
        Chat::find(&mut sy, MatchKind::Video),
        Chat::find(&mut sy2, MatchKind::Video),
    );
    assert_eq!(found_x.unwrap().info.peer, x2.handle);
    assert_eq!(found_x2.unwrap().info.peer, x.handle);
    assert_eq!(found_y.unwrap().info.peer, y2.handle);
    assert_eq!(found_y2.unwrap().info.peer, y.handle);
}
