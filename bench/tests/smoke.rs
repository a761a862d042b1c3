//! Every scenario at a tiny size against an in-process server: each must produce a result with non-zero counts.
//! One test, one server, scenarios in sequence (as run.sh runs them), so the seeded users are shared safely; a
//! second test runs relay and matching across two nodes of a cluster.

use std::sync::Arc;
use std::time::Duration;

use tanis::config::Config;
use tanis::startup::Application;
use tanis::store::Store;
use tanis_bench::connections::{self, ConnectionsOptions};
use tanis_bench::cpu::CpuWatch;
use tanis_bench::echo::{self, EchoOptions};
use tanis_bench::hold::{self, HoldArgs, HoldOptions, Restart};
use tanis_bench::login_storm::{self, LoginStormOptions};
use tanis_bench::matching::{self, MatchingOptions};
use tanis_bench::mix::{self, MixArgs, MixOptions};
use tanis_bench::open_loop::{self, OpenLoopOptions};
use tanis_bench::relay::{self, RelayOptions};
use tanis_bench::turn_churn::{self, TurnChurnOptions};
use tanis_bench::{Report, SEED_PASSWORD, SeededUser};

const SECRET: &str = "bench-smoke-test-jwt-secret-0123456789abc";

/// The benchmark limits of run.sh, at the cheapest bcrypt cost.
fn bench_config(data_dir: std::path::PathBuf) -> Config {
    let mut config = Config { listen: "127.0.0.1:0".parse().unwrap(), data_dir, ..Config::default() };
    config.auth.bcrypt_cost = 4;
    config.auth.jwt_secret = Some(SECRET.into());
    // Shared by the nodes of the cluster test, each with a data directory of its own.
    config.phones.encryption_key = Some("bench-smoke-test-phone-encryption-key-0123".into());
    config.phones.index_key = Some("bench-smoke-test-phone-index-key-0123456789".into());
    config.video.turn_secret = Some("bench-smoke-test-turn-secret-0123456789abc".into());
    config.jobs.enabled = false;
    config.video.turn_listen = "127.0.0.1:0".parse().unwrap();
    config.hub.messages_per_second = 1_000_000;
    config.hub.message_burst = 1_000_000;
    config.matching.recent_partner_hours = 0;
    // The load generator's accounts are new and unverified: no trust limits on their finds and skips.
    config.trust.limited_finds_per_minute = 1_000_000;
    config.trust.limited_skips_per_minute = 1_000_000;
    config
}

/// Starts a server in this process; returns its WebSocket URL, HTTP URL and store.
async fn start(config: Config) -> (String, String, Store) {
    let app = Application::build(config).await.expect("the server builds");
    let address = app.local_addr();
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    (format!("ws://{address}/v1/ws"), format!("http://{address}"), store)
}

/// What `tanis dev seed-users` does: 24 users with a shared password and tokens signed with SECRET.
async fn seed(store: &Store, config: &Config) -> Vec<SeededUser> {
    // The seeded 1,000,000 daily units only hold for "today" in the quota zone; another day resets them to 10.
    let today = chrono::Utc::now().with_timezone(&config.quotas.zone()).date_naive().to_string();
    let now = chrono::Utc::now();
    let hash = bcrypt::hash(SEED_PASSWORD, 4).unwrap();
    let vault = tanis::phones::PhoneVault::load(&config.phones, &config.data_dir).unwrap();
    let phones: Vec<String> = (0..24).map(tanis::store::seed_phone).collect();
    let sealed: Vec<_> =
        phones.iter().map(|p| vault.seal(&tanis::domain::Phone::parse(p).expect("a valid seed phone"))).collect();
    let version = &config.auth.privacy_notice_version;
    let ids = store.seed_users("bench", &sealed, &hash, version, &today, now).await.unwrap();
    let keys = tanis::auth::JwtKeys::new(SECRET.as_bytes(), chrono::TimeDelta::hours(1));
    let mut users = Vec::new();
    for (id, phone) in ids.into_iter().zip(phones) {
        let token = tanis::accounts::seeded_session(store, &keys, id, now).await.unwrap();
        users.push(SeededUser { id, phone, token });
    }
    users
}

async fn spawn_server(dir: &std::path::Path) -> (String, String, Vec<SeededUser>) {
    let config = bench_config(dir.join("data"));
    let (url, http, store) = start(config.clone()).await;
    (url, http, seed(&store, &config).await)
}

fn check(report: &Report) {
    eprintln!("{}", report.markdown_row());
    assert!(report.ops > 0, "{} produced nothing: {}", report.scenario, serde_json::to_string(report).unwrap());
    assert!(report.latency.as_ref().is_some_and(|l| l.samples > 0), "{}", report.scenario);
}

/// The server runs in this process, so its CPU is this process's (the load generator's included).
fn this_process(db_processes: &[&str]) -> CpuWatch {
    CpuWatch { server_pids: vec![std::process::id()], db_processes: db_processes.iter().map(|&n| n.into()).collect() }
}

/// A CPU figure in `extra` that is a non-negative number.
fn cpu_figure(report: &Report, name: &str) -> f64 {
    let value = report.extra[name].as_f64();
    assert!(value.is_some_and(|v| v >= 0.0), "{name} in {}", serde_json::to_string(report).unwrap());
    value.unwrap()
}

/// The relay's receivers behaved like clients: every message the peer had accepted arrived, was decrypted and timed,
/// and acknowledged; some receipts came back as `msg.delivered`; the server's CPU was read.
fn check_relay(report: &Report) {
    check(report);
    let json = serde_json::to_string(report).unwrap();
    let count = |name: &str| report.extra[name].as_u64().unwrap_or_else(|| panic!("{name} in {json}"));
    assert_eq!(report.failures, 0, "{json}");
    assert_eq!(count("received"), report.ops, "every accepted message reached the peer: {json}");
    assert_eq!(count("not_received"), 0, "{json}");
    assert_eq!(report.extra["peer_latency"]["samples"].as_u64(), Some(report.ops), "{json}");
    assert!(report.extra["peer_latency"]["p99_us"].as_u64().is_some_and(|p| p > 0), "{json}");
    if count("protocol") == 1 {
        assert_eq!(count("receipts"), report.ops, "every received message was acknowledged: {json}");
        assert!(count("delivered") > 0, "no msg.delivered came back: {json}");
    } else {
        // Version 2: acknowledgements ride on sends or go cumulatively, receipts on the peer's messages.
        assert!(count("receipts") + count("piggybacked_acks") > 0, "nothing was acknowledged: {json}");
        assert!(count("receipts") < report.ops, "not one msg.ack per message: {json}");
        assert!(count("delivered") + count("delivered_riding") > 0, "no receipt came back: {json}");
    }
    assert!(cpu_figure(report, "server_cpu_secs") > 0.0, "{json}");
    assert!(cpu_figure(report, "cpu_s_per_1000_msgs") > 0.0, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_runs_at_a_tiny_size() {
    let dir = tempfile::tempdir().unwrap();
    let (url, http, users) = spawn_server(dir.path()).await;
    let second = Duration::from_secs(1);

    let report = connections::run(
        &users,
        &ConnectionsOptions {
            url: url.clone(),
            count: 4,
            cpu: this_process(&[]),
            hold: Duration::from_millis(200),
            concurrency: 2,
        },
    )
    .await
    .unwrap();
    check(&report);
    assert_eq!(report.ops, 4);
    assert_eq!(report.failures, 0);
    cpu_figure(&report, "cpu_ms_per_socket");
    assert!(report.extra["db_cpu_secs"].is_null(), "no database processes were asked for");

    // Version 1 (`--protocol 1`, for an A/B against a server before version 2), then version 2, the default.
    let relay_opts = RelayOptions {
        urls: vec![url.clone()],
        pairs: 2,
        in_flight: 4,
        duration: second,
        cpu: this_process(&[]),
        protocol: 1,
    };
    check_relay(&relay::run(&users, &relay_opts).await.unwrap());
    let relay_opts = RelayOptions { protocol: 2, ..relay_opts };
    let report = relay::run(&users, &relay_opts).await.unwrap();
    check_relay(&report);

    // Each scenario gets users of its own: one scenario's leftovers (a queue entry, a match) never stall the next.
    let profiles = matching::Profiles::default();
    let opts =
        MatchingOptions { urls: vec![url.clone()], users: 4, duration: second, cpu: this_process(&[]), profiles };
    let report = matching::run(&users[8..], &opts).await.unwrap();
    check(&report);
    cpu_figure(&report, "cpu_ms_per_match");
    // With profiles (issue 29), set through PATCH /v1/me: everyone shares the three topics and the one language,
    // so finds that prefer interests still pair within the second.
    let profiles = matching::Profiles::parse(Some("3/3"), Some("1/1"), "prefer").unwrap();
    let report = matching::run(&users[12..], &MatchingOptions { profiles, ..opts }).await.unwrap();
    check(&report);
    assert_eq!(
        (report.params["interests"].as_str(), report.params["interest_matching"].as_str()),
        (Some("3/3"), Some("prefer"))
    );

    let report = login_storm::run(&users[16..], &LoginStormOptions { relay: relay_opts.clone(), http, concurrency: 2 })
        .await
        .unwrap();
    check(&report);
    assert!(report.extra["relay_acked_storm"].as_u64().unwrap() > 0);
    cpu_figure(&report, "cpu_ms_per_login");
    cpu_figure(&report, "relay_cpu_s_per_1000_msgs_alone");

    // Open loop (issue 31): 100 messages a second offered for a second, whatever the answers do; every one
    // accepted, delivered and timed from its scheduled send.
    let opts = OpenLoopOptions {
        urls: vec![url.clone()],
        pairs: 2,
        rate: 100.0,
        duration: second,
        cpu: this_process(&[]),
        protocol: 2,
    };
    let report = open_loop::run(&users[20..], &opts).await.unwrap();
    check(&report);
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(report.failures, 0, "{json}");
    assert_eq!(report.extra["offered"].as_u64(), Some(report.ops), "every offered message was accepted: {json}");
    assert_eq!(report.extra["received"].as_u64(), Some(report.ops), "and reached the peer: {json}");
    assert!(report.extra["peer_latency"]["p99_us"].as_u64().is_some_and(|p| p > 0), "{json}");
    cpu_figure(&report, "cpu_s_per_1000_msgs");

    let report = echo::run(&EchoOptions { pairs: 2, in_flight: 4, duration: second }).await.unwrap();
    check(&report);
}

/// The traffic-like mix at a tiny size, on one node: users arrive, match, chat, skip and reconnect within two
/// seconds; every accepted message reaches its peer, nothing fails, and the node's own figures come from its
/// /metrics (messages and matches it handled, the sockets it held).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mix_matches_chats_skips_and_reconnects_on_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let (url, http, users) = spawn_server(dir.path()).await;
    let args = MixArgs {
        users_count: 8,
        arrivals_per_sec: 200.0,
        idle_secs: 1,
        duration_secs: 2,
        // Fast schedules, so two seconds see every kind of event.
        messages_per_min: 600.0,
        skips_per_min: 60.0,
        reconnects_per_min: 30.0,
        // Clients from 127.0.0.2 … .5, as through a proxy.
        source_addresses: 4,
        node_metrics: vec![format!("{http}/metrics")],
        redis_pid: None,
        proxy_processes: vec![],
        db_name: None,
        // The soak's additions stay off but its samples (bench/soak.sh turns them on), taken every second here.
        video_share: 0.0,
        logins_per_min: 0.0,
        sample_csv: Some(dir.path().join("samples.csv")),
        sample_secs: 1,
        // bench/chaos.sh's flags, off: a broken socket fails the run here.
        survive_drops: false,
        rematch_secs: 0,
        // Its lists of messages: the acknowledged ones and those a peer read, one `match seq` a line.
        acked_out: Some(dir.path().join("acked.tsv")),
        received_out: Some(dir.path().join("received.tsv")),
    };
    let report = mix::run(&users, &MixOptions { urls: vec![url], args, cpu: this_process(&[]) }).await.unwrap();
    check(&report);
    let json = serde_json::to_string(&report).unwrap();
    let count = |name: &str| report.extra[name].as_u64().unwrap_or_else(|| panic!("{name} in {json}"));
    assert_eq!(report.failures, 0, "{json}");
    assert_eq!(count("received"), report.ops, "every accepted message reached its peer: {json}");
    assert_eq!(count("receipts"), count("received"), "and was acknowledged: {json}");
    // The lists name the same messages, each once: the one `bench/chaos.sh` diffs to name any not received.
    let listed = |name: &str| {
        let mut lines: Vec<String> =
            std::fs::read_to_string(dir.path().join(name)).unwrap().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let acked = listed("acked.tsv");
    assert_eq!(acked.len() as u64, report.ops, "{json}");
    assert!(acked.windows(2).all(|w| w[0] != w[1]), "no message twice: {acked:?}");
    assert_eq!(listed("received.tsv"), acked, "{json}");
    // A row per second for the node, with its gauges from /metrics: SQLite's heap holds this server's caches.
    let samples = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    let mut rows = samples.lines().map(|l| l.split(',').collect::<Vec<_>>());
    let header = rows.next().unwrap();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap_or_else(|| panic!("{name}: {samples}"));
    let (heap, sessions) = (column("sqlite_heap_mib"), column("sessions"));
    let rows: Vec<_> = rows.collect();
    assert!(!rows.is_empty(), "{samples}");
    for row in &rows {
        assert!(row[heap].parse::<f64>().is_ok_and(|mib| mib > 0.0), "{samples}");
        assert!(row[sessions].parse::<f64>().is_ok(), "{samples}");
    }
    assert!(count("found") > 0 && count("skips") > 0 && count("reconnects") > 0, "every kind of event: {json}");
    assert!(report.extra["found_latency"]["p99_us"].as_u64().is_some_and(|p| p > 0), "{json}");
    let node = &report.extra["parts"]["nodes"][0];
    // The metrics recorder is one per process: other tests' servers here add to the same counters.
    assert!(node["messages"].as_f64().is_some_and(|m| m >= report.ops as f64), "{json}");
    assert!(node["matches"].as_f64().is_some_and(|m| m > 0.0), "{json}");
    assert!(node["cpu_secs"].as_f64().is_some_and(|c| c > 0.0), "{json}");
    assert!(report.extra["units"]["node_cpu_ms_per_message"].is_number(), "{json}");
}

/// `hold`'s sizes for the smoke tests: 20 sockets over 127.0.0.2 … .5, a 2 s window A; no storm, no processes.
fn hold_args(keepalive_secs: u64, pairs: usize) -> HoldArgs {
    HoldArgs {
        sockets: 20,
        per_source: 5,
        first_source: 0,
        concurrency: 8,
        keepalive_secs,
        hold_secs: 2,
        pairs,
        duration_secs: 1,
        restart_cmd: None,
        pid_file: None,
        storm_timeout_secs: 30,
        after_storm_secs: Some(2),
        sync_dir: None,
        process_index: 0,
        processes: 1,
    }
}

/// 20 held sockets sending the protocol's `ping` every second: every one of them has its `pong`s, none is missing
/// or dropped, and two pairs of other users relay beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hold_keeps_every_socket_answered_beside_a_relay() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _, users) = spawn_server(dir.path()).await;
    let opts = HoldOptions { urls: vec![url], cpu: this_process(&[]), args: hold_args(1, 2), restart: None };
    let report = hold::run(&users, &opts).await.unwrap();
    check(&report);
    let json = serde_json::to_string(&report).unwrap();
    let count = |name: &str| report.extra[name].as_u64().unwrap_or_else(|| panic!("{name} in {json}"));
    assert_eq!((report.ops, report.failures), (20, 0), "{json}");
    assert!(count("hold_pongs") >= 20, "{json}");
    assert_eq!(count("hold_ponged_sockets"), 20, "every socket had its pong: {json}");
    assert_eq!(count("hold_pongs_missing") + count("beside_pongs_missing"), 0, "{json}");
    assert_eq!(count("hold_dropped") + count("beside_dropped"), 0, "{json}");
    assert!(count("relay_msgs") > 0, "{json}");
    assert!(report.extra["relay_p99_ms"].as_f64().is_some_and(|p| p > 0.0), "{json}");
    assert!(report.extra["kib_per_socket"].is_number(), "{json}");
    assert!(report.extra["cpu_ms_per_sec_per_1000_sockets"].as_f64().is_some_and(|c| c >= 0.0), "{json}");
}

/// 20 held sockets with no application `ping`, on a node that pings every 200 ms and closes a socket silent for a
/// second (4009): only WebSocket Pongs keep them, so none dropping in 2 s shows the Pongs reach the server. Then the
/// node is stopped and built again on the same port and data (in process, standing in for kill -9 and a restart):
/// every socket comes back with the SDK's backoff, and stays up on its new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_sockets_answer_the_servers_pings_and_come_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = bench_config(dir.path().join("data"));
    config.hub.heartbeat_interval_ms = 200;
    config.hub.heartbeat_timeout_ms = 1000;
    let app = Application::build(config.clone()).await.unwrap();
    // The restarted node listens where this one does.
    config.listen = app.local_addr();
    let url = format!("ws://{}/v1/ws", app.local_addr());
    let users = seed(&app.store(), &config).await;
    let running =
        Arc::new(tokio::sync::Mutex::new(Some((app.shutdown_token(), tokio::spawn(app.run_until_stopped())))));
    let restart: Restart = Arc::new(move || {
        let (running, config) = (running.clone(), config.clone());
        Box::pin(async move {
            let (shutdown, serving) = running.lock().await.take().expect("a running node");
            shutdown.cancel();
            serving.await??;
            let app = Application::build(config).await?;
            *running.lock().await = Some((app.shutdown_token(), tokio::spawn(app.run_until_stopped())));
            Ok("restarted in process".into())
        })
    });
    let opts = HoldOptions { urls: vec![url], cpu: this_process(&[]), args: hold_args(0, 0), restart: Some(restart) };
    let report = hold::run(&users, &opts).await.unwrap();
    eprintln!("{}", report.markdown_row());
    let json = serde_json::to_string(&report).unwrap();
    let count = |name: &str| report.extra[name].as_u64().unwrap_or_else(|| panic!("{name} in {json}"));
    assert_eq!((report.ops, report.failures), (20, 0), "{json}");
    assert_eq!(count("hold_pings"), 0, "no application pings: {json}");
    assert!(count("hold_server_pings") >= 20 * 5, "{json}");
    assert_eq!(count("hold_dropped"), 0, "the Pongs kept every socket: {json}");
    // The stop closes every socket (1001); each one comes back.
    assert_eq!((count("storm_ended"), count("storm_back"), count("storm_never_back")), (20, 20, 0), "{json}");
    assert!(count("storm_attempts") >= 20, "{json}");
    assert!(report.extra["storm_last_back_secs"].as_f64().is_some_and(|s| s > 0.0), "{json}");
    assert_eq!(report.extra["storm"]["ended_codes"]["1001"], 20, "{json}");
    assert_eq!(count("after_storm_dropped"), 0, "{json}");
    assert!(
        report.extra["storm"]["after_window"]["counts"]["server_pings"].as_u64().is_some_and(|p| p >= 20),
        "{json}"
    );
}

/// A few short calls through the embedded TURN relay (the one `tanis serve` starts), with this process as the
/// server: every call relays both ways, every allocation is freed on request, and the descriptors of both sides
/// (server and clients live here) come back to where they started.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn turn_churn_frees_every_allocation_of_the_embedded_relay() {
    let secret = "bench-smoke-test-turn-secret";
    let turn = tanis_signaling::EmbeddedTurn::start(tanis_signaling::TurnServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tcp_listen: None,
        tls: None,
        relay_ip: [127, 0, 0, 1].into(),
        relay_ports: None,
        realm: "tanis".into(),
        secret: secret.as_bytes().to_vec(),
        // Every peer is on loopback, as in `tanis serve` outside production.
        refuse_private_peers: false,
        own_listeners: Vec::new(),
        max_allocations: 1000,
        clock: tanis_signaling::system_clock(),
    })
    .await
    .unwrap();
    let opts = TurnChurnOptions {
        turn: turn.local_addr(),
        secret: secret.into(),
        realm: "tanis".into(),
        label: "embedded".into(),
        calls: 6,
        rate: 20.0,
        concurrency: 6,
        hold: Duration::from_millis(300),
        packet_interval: Duration::from_millis(50),
        settle: Duration::from_secs(10),
        source_addresses: 4,
        cpu: this_process(&[]),
    };
    let report = turn_churn::run(&opts).await.unwrap();
    check(&report);
    let json = serde_json::to_string(&report).unwrap();
    let count = |name: &str| report.extra[name].as_u64().unwrap_or_else(|| panic!("{name} in {json}"));
    assert_eq!(report.failures, 0, "{json}");
    assert_eq!(report.ops, 12, "two allocations per call: {json}");
    assert_eq!(report.latency.as_ref().unwrap().samples, 12, "one first packet per direction: {json}");
    assert_eq!(count("frees_confirmed"), 12, "{json}");
    assert!(count("permissions") >= 12, "{json}");
    assert_eq!(count("hold_packets_received"), count("hold_packets_sent"), "{json}");
    assert!(report.extra["settled_secs"].is_number(), "descriptors never came back: {json}");
    cpu_figure(&report, "cpu_ms_per_allocation");
    turn.close().await;
}

/// relay and matching over two nodes of one cluster (one PostgreSQL database, one Redis), as `NODES=2 run.sh`
/// runs them. Needs scripts/test's throwaway servers (and its `psql`); skipped without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_and_matching_run_across_two_nodes() {
    let (Ok(admin), Ok(redis)) = (std::env::var("TANIS_TEST_POSTGRES_URL"), std::env::var("TANIS_TEST_REDIS_URL"))
    else {
        eprintln!("skipped: TANIS_TEST_POSTGRES_URL / TANIS_TEST_REDIS_URL unset (run under scripts/test)");
        return;
    };
    // The nodes share a fresh database; the bench has no PostgreSQL client of its own, psql creates it.
    let name = format!("tanis_bench_smoke_{}_{}", std::process::id(), chrono::Utc::now().timestamp_micros());
    let created = std::process::Command::new("psql")
        .args([admin.as_str(), "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(created.success(), "CREATE DATABASE {name}");
    let database_url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let mut urls = Vec::new();
    let mut first = None;
    for node in 0..2 {
        let mut config = bench_config(dir.path().join(format!("node-{node}")));
        config.database_url = Some(database_url.clone());
        config.redis_url = Some(redis.clone());
        config.cluster.namespace = name.clone();
        let (url, _, store) = start(config.clone()).await;
        urls.push(url);
        first.get_or_insert((store, config));
    }
    let (store, config) = first.unwrap();
    let users = seed(&store, &config).await;
    let second = Duration::from_secs(1);

    // Both nodes are this process; the database's CPU is every `postgres` process (scripts/test's and any other).
    let cpu = this_process(&["postgres"]);
    let opts =
        RelayOptions { urls: urls.clone(), pairs: 2, in_flight: 4, duration: second, cpu: cpu.clone(), protocol: 2 };
    let report = relay::run(&users, &opts).await.unwrap();
    eprintln!("{}", report.markdown_row());
    // Pairing checked that both sides of each pair got the same match, one side on each node.
    assert_eq!(report.extra["cross_node_pairs"], 2, "every pair is split across the two nodes");
    assert_eq!(report.params["nodes"], 2);
    // Every message got through: both nodes' group commits store into the same matches (store::write_batch
    // locks the match rows, so they take turns for its seqs); receipts and msg.delivered cross the nodes too.
    check_relay(&report);
    cpu_figure(&report, "db_cpu_secs");

    let opts = MatchingOptions { urls, users: 4, duration: second, cpu, profiles: Default::default() };
    let report = matching::run(&users[8..], &opts).await.unwrap();
    check(&report);
    cpu_figure(&report, "cpu_ms_per_match");
    assert_eq!(report.params["nodes"], 2);
}
