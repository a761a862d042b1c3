//! The production shape with its real parts: nginx (with the shipped `nginx/tanis-*.conf`) in front of two
//! `tanis serve` processes on one PostgreSQL and one Redis. Clients only ever talk to nginx.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tanis::domain::{Seq, UserId};
use tanis_client::{Chat, ClientError, Connection, TokenIn};
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};
use tokio::process::{Child, Command};

use crate::binary::{log_lines, tanis, wait_until_listening};
use crate::helpers::{Backend, fresh_database_url, matchmaking_key, new_phone, redis_at, registration, test_redis_url};

const WITHIN: Duration = Duration::from_secs(10);
const SECRET: &str = "an-nginx-cluster-test-signing-secret";
const PHONE_ENCRYPTION_KEY: &str = "an-nginx-cluster-test-phone-encryption-key";
const PHONE_INDEX_KEY: &str = "an-nginx-cluster-test-phone-index-key";
const TURN_SECRET: &str = "an-nginx-cluster-test-turn-secret-of-enough-length";

/// One `tanis serve` process of the cluster.
pub(crate) struct Node {
    pub(crate) child: Child,
    pub(crate) address: String,
    /// Its name in Redis (presence, the matchmaker lease), from its start-up log.
    id: String,
}

async fn start_node(dir: &Path, database_url: &str, namespace: &str) -> Node {
    start_node_with(dir, database_url, namespace, &[]).await
}

/// A node with settings of the test's own on top (`TANIS_LISTEN` to start it again on its address).
pub(crate) async fn start_node_with(dir: &Path, database_url: &str, namespace: &str, env: &[(&str, &str)]) -> Node {
    let data = dir.join(format!("node-{}", uuid::Uuid::new_v4().simple()));
    let mut command = tanis(dir);
    command
        .arg("serve")
        .env("TANIS_DATABASE_URL", database_url)
        .env("TANIS_REDIS_URL", test_redis_url())
        .env("TANIS_CLUSTER__NAMESPACE", namespace)
        // Short, so a killed node's users stop looking present soon (the default is 30 s).
        .env("TANIS_CLUSTER__PRESENCE_TTL_SECS", "3")
        // The longest hold: a seeker of a node killed right after `match.queued` is still that node's own.
        .env("TANIS_CLUSTER__LOCAL_PAIRING_MS", "1000")
        .env("TANIS_AUTH__JWT_SECRET", SECRET)
        // Every node seals and finds phone numbers with the same keys (each has a data directory of its own).
        .env("TANIS_PHONES__ENCRYPTION_KEY", PHONE_ENCRYPTION_KEY)
        .env("TANIS_PHONES__INDEX_KEY", PHONE_INDEX_KEY)
        .env("TANIS_VIDEO__TURN_SECRET", TURN_SECRET)
        .env("TANIS_JOBS__ENABLED", "false")
        .env("TANIS_DATA_DIR", &data)
        .env("TANIS_TRUSTED_PROXIES", "[\"127.0.0.1/32\"]");
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    let mut logs = log_lines(&mut child);
    let mut seen = Vec::new();
    let address = wait_until_listening(&mut logs, &mut seen).await;
    let id = seen
        .iter()
        .find_map(|l| l.split("node=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("the node names itself when it joins: {seen:#?}"));
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move {
        while let Some(line) = logs.recv().await {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("{line}");
            }
        }
    });
    Node { child, address, id }
}

/// nginx, unprivileged, with the shipped snippets and an upstream of the given nodes. It stops with the test
/// (`Drop`), workers and all.
pub(crate) struct Nginx {
    /// The master, leader of a process group of its own that its workers share.
    master: Child,
    pub(crate) port: u16,
    /// nginx's error log: why it answered 502, for a failing test's message.
    error_log: PathBuf,
}

impl Drop for Nginx {
    /// A graceful stop (SIGQUIT): the master closes its listeners, tells its workers to finish their connections
    /// (at most `worker_shutdown_timeout`, set below) and exits after them. `kill_on_drop`'s SIGKILL reached the
    /// master alone and its workers lived on, listening. Should the master not be gone within its time, SIGKILL to
    /// the whole group, sent while it is not yet reaped, so that its group id cannot be someone else's.
    fn drop(&mut self) {
        let Some(pid) = self.master.id() else { return };
        let signal = |name: &str, target: &str| {
            let _ = std::process::Command::new("kill").args([name, "--", target]).status();
        };
        signal("-QUIT", &pid.to_string());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.master.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("-KILL", &format!("-{pid}"));
    }
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub(crate) async fn start_nginx(dir: &Path, nodes: &[&Node]) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let servers: String = nodes.iter().map(|n| format!("server {} max_fails=0;\n", n.address)).collect();
    let config = format!(
        "pid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nworker_shutdown_timeout 2s;\nevents {{}}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {p}/body;\nproxy_temp_path {p}/proxy;\n\
         include {http};\nupstream tanis {{\n{servers}}}\n\
         server {{\nlisten 127.0.0.1:{port};\ninclude {proxy};\n}}\n}}\n",
        p = prefix.display(),
        http = repo_file("nginx/tanis-http.conf").display(),
        proxy = repo_file("nginx/tanis-proxy.conf").display(),
    );
    std::fs::write(prefix.join("nginx.conf"), config).unwrap();
    let master = Command::new("nginx")
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("nginx runs (scripts/test installs it)");
    let nginx = Nginx { master, port, error_log: prefix.join("logs/error.log") };
    crate::helpers::eventually(WITHIN, "nginx listens", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    nginx
}

impl Nginx {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Registers a user through nginx; returns (user id, access token).
    pub(crate) async fn user(&self, alias: &str) -> (UserId, String) {
        self.register(&new_phone(), alias).await
    }

    /// Registers `phone` through nginx; returns (user id, access token).
    async fn register(&self, phone: &str, alias: &str) -> (UserId, String) {
        let response = reqwest::Client::new()
            .post(self.url("/v1/auth/register"))
            .json(&registration(phone, alias))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        if !status.is_success() {
            let log = std::fs::read_to_string(&self.error_log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "registration through nginx: {status} {body}\nnginx's error log, newest first:\n{}",
                tail.join("\n")
            );
        }
        let response: Value = serde_json::from_str(&body).unwrap();
        let token = response["tokens"]["access_token"].as_str().unwrap().to_owned();
        // The API never shows a user their id; the token's subject is it.
        use base64::Engine;
        let claims = token.split('.').nth(1).unwrap();
        let claims: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        (claims["sub"].as_str().unwrap().parse().unwrap(), token)
    }

    async fn socket(&self, token: &str) -> (Connection, ServerFrame) {
        let url = format!("ws://127.0.0.1:{}/v1/ws", self.port);
        tokio::time::timeout(WITHIN, Connection::connect(&url, token)).await.unwrap().unwrap()
    }

    /// Opens a socket with `token` and returns the close code it got instead of any frame.
    async fn refused_before_hello(&self, token: &str) -> Option<u16> {
        let url = format!("ws://127.0.0.1:{}/v1/ws", self.port);
        let mut socket = Connection::open(&url, Some(token), TokenIn::Header).await.unwrap();
        match socket.next().await {
            Err(ClientError::Closed { code, .. }) => code,
            other => panic!("the socket was not closed before any frame: {other:?}"),
        }
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    database_url: String,
    namespace: String,
    nodes: Vec<Node>,
    nginx: Nginx,
}

async fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(Backend::Postgres, dir.path()).await;
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let first = start_node(dir.path(), &database_url, &namespace).await;
    let second = start_node(dir.path(), &database_url, &namespace).await;
    let nginx = start_nginx(dir.path(), &[&first, &second]).await;
    Cluster { dir, database_url, namespace, nodes: vec![first, second], nginx }
}

impl Cluster {
    /// `tanis set-role PHONE ROLE` on the cluster's database: how an operator gives the first staff roles.
    async fn set_role(&self, phone: &str, role: &str) {
        let output = tanis(self.dir.path())
            .args(["set-role", phone, role])
            .env("TANIS_DATABASE_URL", &self.database_url)
            // A process on PostgreSQL is given every secret the nodes share.
            .env("TANIS_AUTH__JWT_SECRET", SECRET)
            .env("TANIS_PHONES__ENCRYPTION_KEY", PHONE_ENCRYPTION_KEY)
            .env("TANIS_PHONES__INDEX_KEY", PHONE_INDEX_KEY)
            .env("TANIS_VIDEO__TURN_SECRET", TURN_SECRET)
            .env("TANIS_DATA_DIR", self.dir.path().join("operator"))
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "set-role: {}", String::from_utf8_lossy(&output.stderr));
    }

    async fn redis(&self) -> tanis::redis_link::Conn {
        redis_at(&test_redis_url()).await
    }

    /// The nodes holding the user's sockets, as presence says.
    async fn nodes_of(&self, user_id: UserId) -> Vec<String> {
        let key = format!("{}:presence:{user_id}", self.namespace);
        redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).query_async(&mut self.redis().await).await.unwrap()
    }

    /// Opens sockets for two users that nginx put on different nodes (it balances round robin, and REST
    /// requests share the rotation, so a socket is reopened until it lands elsewhere).
    async fn sockets_on_both_nodes(&self, a: &(UserId, String), b: &(UserId, String)) -> (Connection, Connection) {
        let (sa, _) = self.nginx.socket(&a.1).await;
        let node_of_a = self.present(a.0).await;
        for _ in 0..6 {
            let (sb, _) = self.nginx.socket(&b.1).await;
            if self.present(b.0).await != node_of_a {
                return (sa, sb);
            }
            drop(sb);
            crate::helpers::eventually(WITHIN, "b's socket is gone", || async { self.nodes_of(b.0).await.is_empty() })
                .await;
        }
        panic!("nginx never put the two users on different nodes");
    }

    /// The one node holding the user's socket, once presence names it.
    async fn present(&self, user_id: UserId) -> String {
        crate::helpers::eventually(WITHIN, "presence names the user's node", || async {
            self.nodes_of(user_id).await.len() == 1
        })
        .await;
        self.nodes_of(user_id).await.remove(0)
    }

    /// SIGKILL: no shutdown, no lease handed over, sockets cut. Returns once the process is gone, so its
    /// listening socket is closed and nginx sees refused connections (not a half-dead node).
    async fn kill(&mut self, node_id: &str) {
        let node = self.nodes.iter_mut().find(|n| n.id == node_id).expect("a node of this cluster");
        node.child.start_kill().unwrap();
        tokio::time::timeout(WITHIN, node.child.wait()).await.expect("a killed node exits").unwrap();
    }
}

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

async fn send(socket: &mut Connection, chat: &mut Chat, text: &str) -> Seq {
    socket.send(&chat.message(text)).await.unwrap();
    match next_within(socket, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await {
        ServerFrame::MsgAccepted { seq, .. } => seq,
        other => panic!("not accepted: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_users_on_different_nodes_match_and_chat() {
    let cluster = start_cluster().await;
    let (a, b) = (cluster.nginx.user("kedi").await, cluster.nginx.user("kopek").await);
    let (mut sa, mut sb) = cluster.sockets_on_both_nodes(&a, &b).await;
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let seq = send(&mut sa, &mut chat_a, "nginx'in arkasından merhaba").await;
    let received = next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { .. })).await;
    assert!(matches!(received, ServerFrame::Msg { seq: s, .. } if s == seq));
    assert_eq!(chat_b.read(&received).unwrap(), "nginx'in arkasından merhaba");
    let match_id = chat_b.info.match_id;
    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq }).await.unwrap();
    assert_eq!(
        next_within(&mut sa, |f| matches!(f, ServerFrame::MsgDelivered { .. })).await,
        ServerFrame::MsgDelivered { match_id, seq, up_to: false }
    );
    drop(cluster.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_the_matchmakers_node_the_other_pairs_new_users_within_5_s() {
    let mut cluster = start_cluster().await;
    let lease = matchmaking_key(&test_redis_url(), &cluster.namespace, "lease");
    let holder: String = redis::cmd("GET").arg(&lease).query_async(&mut cluster.redis().await).await.unwrap();
    let holder = holder.split(':').next().unwrap().to_owned();
    cluster.kill(&holder).await;
    let killed = Instant::now();

    let (a, b) = (cluster.nginx.user("kedi").await, cluster.nginx.user("kopek").await);
    let (mut sa, _) = cluster.nginx.socket(&a.1).await;
    let (mut sb, _) = cluster.nginx.socket(&b.1).await;
    let paired = tokio::time::timeout_at((killed + Duration::from_secs(5)).into(), async {
        tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text))
    })
    .await
    .expect("paired within 5 s of the kill");
    assert_eq!(paired.0.unwrap().info.match_id, paired.1.unwrap().info.match_id);
    // The survivor paired its own two seekers itself; the cluster's queue (seekers of other nodes) is served
    // again once it holds the lease, within the same 5 s.
    let left = Duration::from_secs(5).saturating_sub(killed.elapsed());
    crate::helpers::eventually(left, "the survivor holds the lease within 5 s of the kill", || async {
        let held: Option<String> = redis::cmd("GET").arg(&lease).query_async(&mut cluster.redis().await).await.unwrap();
        held.is_some_and(|h| !h.starts_with(&holder))
    })
    .await;
}

/// A node killed while it held a seeker of its own, before handing them to the cluster: back through nginx on
/// the other node, the seeker asks again (a new wait, or "already waiting" until the dead node's share is taken
/// over) and is paired; nobody is left in a queue that no node serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_a_node_holding_a_seeker_they_ask_again_through_nginx_and_are_paired() {
    let mut cluster = start_cluster().await;
    let (a, b) = (cluster.nginx.user("kedi").await, cluster.nginx.user("kopek").await);
    let (mut sa, _) = cluster.nginx.socket(&a.1).await;
    sa.send(&crate::helpers::text_find(Some("f"))).await.unwrap();
    assert!(matches!(next_within(&mut sa, |_| true).await, ServerFrame::MatchQueued { .. }));
    let node_of_a = cluster.present(a.0).await;
    cluster.kill(&node_of_a).await;
    let killed = Instant::now();

    let (mut sa, _) = cluster.nginx.socket(&a.1).await;
    sa.send(&crate::helpers::text_find(Some("again"))).await.unwrap();
    let again = next_within(&mut sa, |_| true).await;
    let waits = |f: &ServerFrame| {
        matches!(f, ServerFrame::MatchQueued { .. })
            || matches!(f, ServerFrame::Error { code: tanis_proto::ErrorCode::AlreadyQueued, .. })
    };
    assert!(waits(&again), "{again:?}");
    let (mut sb, _) = cluster.nginx.socket(&b.1).await;
    sb.send(&crate::helpers::text_find(Some("f"))).await.unwrap();
    let found = |f: &ServerFrame| matches!(f, ServerFrame::MatchFound { .. });
    let (ServerFrame::MatchFound { info: of_a, .. }, ServerFrame::MatchFound { info: of_b, .. }) =
        tokio::join!(next_within(&mut sa, found), next_within(&mut sb, found))
    else {
        unreachable!()
    };
    assert_eq!(of_a.match_id, of_b.match_id, "a and b are paired with each other");
    // A figure for the issue's note (the bound is by construction: the lease, then one tick), not a check.
    eprintln!("paired {} ms after the kill; asking again was answered {again:?}", killed.elapsed().as_millis());
}

/// Issue 74: a user waiting on a node killed with SIGKILL, who never comes back, leaves the cluster's queue, and the
/// gender they declared leaves Redis with them: within twice the presence TTL (3 s here) and a lease of the kill
/// (src/matching/cluster/reaper.rs), not when someone compatible happens to ask.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_a_node_its_waiting_user_leaves_the_queue_and_their_gender_leaves_redis() {
    let mut cluster = start_cluster().await;
    let (user, token) = cluster.nginx.user("kadin").await;
    let response = reqwest::Client::new()
        .put(cluster.nginx.url("/v1/me/gender"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "gender": "woman", "consent": true }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let (mut socket, _) = cluster.nginx.socket(&token).await;
    socket.send(&crate::helpers::text_find(Some("f"))).await.unwrap();
    assert!(matches!(next_within(&mut socket, |_| true).await, ServerFrame::MatchQueued { .. }));
    let queue = matchmaking_key(&test_redis_url(), &cluster.namespace, "queue");
    let redis = cluster.redis().await;
    let entry = || {
        let (mut redis, queue) = (redis.clone(), queue.clone());
        async move {
            let entry: Option<String> =
                redis::cmd("HGET").arg(&queue).arg(user.get()).query_async(&mut redis).await.unwrap();
            entry
        }
    };
    assert!(entry().await.is_some_and(|e| e.contains(r#""gender":"woman""#)), "the place holds the declaration");

    let node = cluster.present(user).await;
    cluster.kill(&node).await;
    drop(socket);
    // Presence lapses within 3 s, a dead node's liveness within its lease (3 s), and the check needs two sightings
    // 1.5 s apart: 20 s leaves room for a slow machine without hiding a place that waits for a partner.
    crate::helpers::eventually(Duration::from_secs(20), "the unreachable user's place is gone", || async {
        entry().await.is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_a_node_its_clients_reconnect_through_nginx_and_resume_losing_nothing() {
    let mut cluster = start_cluster().await;
    let (a, b) = (cluster.nginx.user("kedi").await, cluster.nginx.user("kopek").await);
    let (mut sa, mut sb) = cluster.sockets_on_both_nodes(&a, &b).await;
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;

    let mut accepted = Vec::new();
    let mut received = BTreeMap::new();
    for text in ["bir", "iki", "üç"] {
        accepted.push(send(&mut sa, &mut chat_a, text).await);
        let frame = next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { .. })).await;
        let ServerFrame::Msg { seq, .. } = frame else { unreachable!() };
        received.insert(seq, chat_b.read(&frame).unwrap());
    }

    let node_of_b = cluster.present(b.0).await;
    cluster.kill(&node_of_b).await;
    // nginx drops the client's side without a close frame; still open after its wait would be a timeout.
    assert_eq!(sb.ended().await.expect("b's socket dies with its node"), None);
    for text in ["dört", "beş"] {
        accepted.push(send(&mut sa, &mut chat_a, text).await);
    }

    // b comes back through the same address; nginx skips the dead node.
    let (mut sb, hello) = cluster.nginx.socket(&b.1).await;
    let ServerFrame::Hello { active_match, .. } = hello else { panic!("{hello:?}") };
    assert_eq!(active_match.map(|m| m.match_id), Some(match_id), "hello names the match to resume");
    let after = *received.keys().max().unwrap();
    sb.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: after }).await.unwrap();
    loop {
        let frame =
            next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { .. } | ServerFrame::ResumeDone { .. })).await;
        let ServerFrame::Msg { seq, .. } = frame else { break };
        received.insert(seq, chat_b.read(&frame).unwrap());
    }
    assert_eq!(received.keys().copied().collect::<Vec<_>>(), accepted, "every acknowledged message reached b");
    assert_eq!(received.values().cloned().collect::<Vec<_>>(), ["bir", "iki", "üç", "dört", "beş"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_a_banned_users_new_sockets_are_refused_before_hello_whichever_node_takes_them() {
    let cluster = start_cluster().await;
    let moderator_phone = new_phone();
    let moderator = cluster.nginx.register(&moderator_phone, "bekci").await;
    cluster.set_role(&moderator_phone, "moderator").await;
    let target = cluster.nginx.user("hedef").await;

    let ban = reqwest::Client::new()
        .post(cluster.nginx.url(&format!("/v1/admin/users/{}/ban", target.0)))
        .bearer_auth(&moderator.1)
        .json(&serde_json::json!({ "reason": "spam" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ban.status(), reqwest::StatusCode::NO_CONTENT);

    // nginx hands new connections to the nodes in turn, so of consecutive sockets each node takes some: the one
    // that did not ban refuses them as the one that did, with 4003 before `hello` (the token predates the ban).
    for attempt in 0..4 {
        let code = cluster.nginx.refused_before_hello(&target.1).await;
        assert_eq!(code, Some(tanis_proto::CloseCode::Banned.code()), "attempt {attempt}");
    }
}
