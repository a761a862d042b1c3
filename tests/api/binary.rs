//! The real `tanis` binary, as an operator runs it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::helpers::{Backend, fresh_database_url, new_phone, registration};
use crate::on_both_stores;

on_both_stores!(
    serve_runs_with_no_setup_keeps_phones_out_of_logs_and_stops_on_sigterm,
    worker_started_beside_serve_on_a_fresh_database_runs_the_jobs,
    one_crate_logged_at_debug_loses_no_line_of_the_others_inside_a_request,
);

/// The secrets configured for a process on PostgreSQL, which refuses generated ones (the in-process test nodes'
/// own: `helpers::shared_secrets`); on SQLite the process generates its own, as with no setup.
pub(crate) fn secrets_for(backend: Backend, command: &mut Command) -> &mut Command {
    if backend == Backend::Postgres {
        let config = shared_config();
        let secrets = [
            ("TANIS_AUTH__JWT_SECRET", config.auth.jwt_secret),
            ("TANIS_VIDEO__TURN_SECRET", config.video.turn_secret),
            ("TANIS_PHONES__ENCRYPTION_KEY", config.phones.encryption_key),
            ("TANIS_PHONES__INDEX_KEY", config.phones.index_key),
        ];
        for (key, value) in secrets {
            command.env(key, value.expect("helpers::shared_secrets sets every secret"));
        }
    }
    command
}

fn shared_config() -> tanis::config::Config {
    let mut config = tanis::config::Config::default();
    crate::helpers::shared_secrets(&mut config);
    config
}

pub(crate) fn tanis(dir: &Path) -> Command {
    command(Path::new(env!("CARGO_BIN_EXE_tanis")), dir)
}

/// `binary` (this build's `tanis`, or another release's) run in `dir` with nothing of the test's environment but
/// `PATH`, on free ports, with a cheap bcrypt cost; its log on stderr, killed with its handle.
pub(crate) fn command(binary: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TANIS_LISTEN", "127.0.0.1:0")
        .env("TANIS_VIDEO__TURN_LISTEN", "127.0.0.1:0")
        .env("TANIS_AUTH__BCRYPT_COST", "4")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Streams the child's log lines into a channel; reading continuously means the server never blocks
/// on a full pipe, and the channel closes when the process exits.
pub(crate) fn log_lines(child: &mut Child) -> UnboundedReceiver<String> {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Reads log lines until the listening line and returns the address it names.
pub(crate) async fn wait_until_listening(logs: &mut UnboundedReceiver<String>, seen: &mut Vec<String>) -> String {
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = logs.recv().await {
            seen.push(line.clone());
            if line.contains("tanis is listening")
                && let Some(rest) = line.split("address=").nth(1)
            {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("the server exited before listening: {seen:#?}");
    })
    .await
    .expect("the server starts listening")
}

/// `tanis serve` in `dir` on `backend`: with no setup on SQLite; on a fresh database and with its secrets on
/// PostgreSQL.
async fn serve(backend: Backend, dir: &Path) -> Command {
    let mut command = tanis(dir);
    command.arg("serve");
    if backend == Backend::Postgres {
        command.env("TANIS_DATABASE_URL", fresh_database_url(backend, dir).await);
    }
    secrets_for(backend, &mut command);
    command
}

/// An operator turning on one crate's debug lines (`info,tower_http=debug`: each request's span and timing) still
/// gets every info line, inside the request's span: the development SMS sender's code included. On PostgreSQL
/// sqlx asks the filter about its debug lines in the request's own task, which once made the filter drop the
/// next line there (src/telemetry.rs).
async fn one_crate_logged_at_debug_loses_no_line_of_the_others_inside_a_request(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = serve(backend, dir.path()).await;
    let mut child = command.env("TANIS_LOG", "info,tower_http=debug").spawn().unwrap();
    let mut logs = log_lines(&mut child);
    let mut log = Vec::new();
    let address = wait_until_listening(&mut logs, &mut log).await;

    let client = reqwest::Client::new();
    let register = client.post(format!("http://{address}/v1/auth/register"));
    let registered = register.json(&registration(&new_phone(), "kediadam")).send().await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);

    let in_the_request = "request{method=POST uri=/v1/auth/register";
    let code_line = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = logs.recv().await {
            log.push(line.clone());
            if line.contains("one-time code") {
                return line;
            }
        }
        panic!("the server exited before logging the code");
    })
    .await
    .unwrap_or_else(|_| panic!("no one-time code in the log:\n{}", log.join("\n")));
    assert!(code_line.contains(in_the_request), "the code's line is in the request's span: {code_line}");
    assert!(
        log.iter().any(|line| line.contains(in_the_request) && line.contains("started processing request")),
        "and tower_http's own debug line too: {log:#?}"
    );
}

async fn serve_runs_with_no_setup_keeps_phones_out_of_logs_and_stops_on_sigterm(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(backend, dir.path()).await.spawn().unwrap();
    let mut logs = log_lines(&mut child);
    let mut log = Vec::new();
    let address = wait_until_listening(&mut logs, &mut log).await;

    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{address}/readyz")).send().await.unwrap().status(), StatusCode::OK);
    let phone = new_phone();
    let registered =
        client.post(format!("http://{address}/v1/auth/register")).json(&registration(&phone, "kediadam")).send();
    assert_eq!(registered.await.unwrap().status(), StatusCode::CREATED);

    let data = dir.path().join("data");
    if backend == Backend::Sqlite {
        let secret_mode = std::fs::metadata(data.join("jwt_secret")).unwrap().permissions().mode();
        assert_eq!(secret_mode & 0o777, 0o600, "the generated secret is owner-only");
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(data.join("tanis.db").exists());
    } else {
        assert!(!data.exists(), "on PostgreSQL with its secrets configured, nothing is kept on the machine");
    }

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let Ok(status) = tokio::time::timeout(Duration::from_secs(15), child.wait()).await else {
        // Say what it was doing: the log up to now.
        child.kill().await.unwrap();
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(1), logs.recv()).await {
            log.push(line);
        }
        panic!("no exit within 15 s of SIGTERM; its log:\n{}", log.join("\n"));
    };
    let status = status.unwrap();
    assert!(status.success(), "{status}");

    while let Some(line) = logs.recv().await {
        log.push(line);
    }
    let all = log.join("\n");
    assert!(all.contains("data_dir="), "it says where its data lives: {all}");
    assert!(all.contains("stopped"), "{all}");
    assert!(!all.contains(&phone[3..]), "no phone number in the logs");
}

#[tokio::test]
async fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = tanis(dir.path()).arg("migrate").env("TANIS_DATA_DIR", "state").output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dir.path().join("state/tanis.db").exists());
}

#[tokio::test]
async fn production_mode_refuses_a_generated_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = tanis(dir.path()).arg("serve").env("TANIS_PRODUCTION", "true").output().await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.jwt_secret"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing is created before the configuration is accepted");
}

/// A node holds a descriptor per socket, so `tanis serve` raises its soft open-file limit to the hard one before
/// it starts, as nginx's `worker_rlimit_nofile` does (src/descriptors.rs): started under a soft limit of 256, it
/// runs under the hard one.
#[tokio::test]
async fn serve_raises_its_open_file_limit_to_the_hard_one() {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let soft = 256.min(hard);
    let dir = tempfile::tempdir().unwrap();
    let mut command = tanis(dir.path());
    command.arg("serve");
    // SAFETY: between fork and exec only `setrlimit`, a system call that allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
    }
    let mut child = command.spawn().unwrap();
    let mut logs = log_lines(&mut child);
    wait_until_listening(&mut logs, &mut Vec::new()).await;

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id().unwrap())).unwrap();
    let open_files = limits.lines().find(|line| line.starts_with("Max open files")).unwrap();
    let values: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    let as_text = |limit: u64| if limit == rlimit::INFINITY { "unlimited".to_owned() } else { limit.to_string() };
    assert_eq!(values, [as_text(hard), as_text(hard)], "soft and hard: {open_files}");
}

/// Two nodes on one PostgreSQL (or one Redis) would each generate their own secrets: half the users could not
/// sign in on the other node. So such a node refuses to start on a generated one, before creating anything.
#[tokio::test]
async fn a_node_that_may_join_a_cluster_refuses_to_start_on_generated_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let shared = [
        ("TANIS_DATABASE_URL", fresh_database_url(Backend::Postgres, dir.path()).await),
        ("TANIS_REDIS_URL", crate::helpers::test_redis_url()),
    ];
    for (key, value) in shared {
        let output = tanis(dir.path()).arg("serve").env(key, &value).output().await.unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("auth.jwt_secret")
                && stderr.contains("the same value (at least 32 characters) on every node"),
            "{key}: {stderr}"
        );
        assert!(!dir.path().join("data").exists(), "no secret was generated ({key})");
    }
    // Given every secret, the same node starts.
    let mut configured = tanis(dir.path());
    configured.arg("serve").env("TANIS_DATABASE_URL", fresh_database_url(Backend::Postgres, dir.path()).await);
    let mut server = secrets_for(Backend::Postgres, &mut configured).spawn().unwrap();
    let mut logs = log_lines(&mut server);
    wait_until_listening(&mut logs, &mut Vec::new()).await;
    server.kill().await.unwrap();
}

#[tokio::test]
async fn a_bad_configuration_value_is_refused_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = tanis(dir.path()).arg("serve").env("TANIS_AUTH__BCRYPT_COST", "twelve").output().await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.to_lowercase().contains("bcrypt_cost"), "{stderr}");
}

#[tokio::test]
async fn dev_seed_users_writes_working_tokens_and_is_refused_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let output = tanis(dir.path()).args(["dev", "seed-users", "3", "--out", "users.txt"]).output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines = std::fs::read_to_string(dir.path().join("users.txt")).unwrap();
    let first: Vec<&str> = lines.lines().next().unwrap().split(' ').collect();
    assert_eq!(lines.lines().count(), 3);

    // The token opens a socket on a server over the same data directory.
    let mut server = tanis(dir.path()).arg("serve").spawn().unwrap();
    let mut logs = log_lines(&mut server);
    let address = wait_until_listening(&mut logs, &mut Vec::new()).await;
    let (_, hello) = tanis_client::Connection::connect(&format!("ws://{address}/v1/ws"), first[2]).await.unwrap();
    assert!(matches!(hello, tanis_proto::ServerFrame::Hello { .. }));
    server.kill().await.unwrap();

    let refused = tanis(dir.path())
        .args(["dev", "seed-users", "3", "--out", "more.txt"])
        .env("TANIS_PRODUCTION", "true")
        .env("TANIS_AUTH__BCRYPT_COST", "10")
        .env("TANIS_AUTH__JWT_SECRET", "j".repeat(40))
        .env("TANIS_VIDEO__TURN_SECRET", "t".repeat(40))
        .env("TANIS_PHONES__ENCRYPTION_KEY", "e".repeat(40))
        .env("TANIS_PHONES__INDEX_KEY", "i".repeat(40))
        .env("TANIS_SMS__PROVIDER", "http")
        .env("TANIS_SMS__HTTP_URL", "https://sms.example/2010-04-01/Accounts/AC0123/Messages.json")
        .env("TANIS_SMS__ACCOUNT", "AC0123")
        .env("TANIS_SMS__TOKEN", "a-provider-token")
        .env("TANIS_SMS__FROM", "TANIS")
        .env("TANIS_METRICS_TOKEN", "m".repeat(40))
        .env("TANIS_AGE_ASSURANCE__WAIVER", "a test of the seed's own refusal")
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refused in production"));
    assert!(!dir.path().join("more.txt").exists());
}

/// `tanis serve` (jobs off) and `tanis worker` started at the same moment on one fresh database: both apply the
/// schema without tripping over each other, the worker's jobs run, and `set-role` makes a moderator whose ban
/// through the admin endpoint the worker's process can see.
async fn worker_started_beside_serve_on_a_fresh_database_runs_the_jobs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("shared.db").display()),
        Backend::Postgres => fresh_database_url(backend, dir.path()).await,
    };
    let start = |command: &str| {
        let mut process = tanis(dir.path());
        process.arg(command).env("TANIS_DATABASE_URL", &url).env("TANIS_JOBS__POLL_INTERVAL_MS", "100");
        secrets_for(backend, &mut process).env("TANIS_JOBS__ENABLED", "false").spawn().unwrap()
    };
    let (mut serve, mut worker) = (start("serve"), start("worker"));
    let (mut serve_logs, mut worker_logs) = (log_lines(&mut serve), log_lines(&mut worker));
    let address = wait_until_listening(&mut serve_logs, &mut Vec::new()).await;
    let client = reqwest::Client::new();

    // A run queued in the shared database is taken by the worker process (serve runs no jobs).
    let store = tanis::store::Store::connect(&url).await.unwrap();
    let storage = tanis_workers::schedule::Storage::new(store.job_storage(), "tanis", Duration::from_millis(100));
    storage.run_now(tanis_workers::schedule::Job::AutoBan, chrono::Utc::now()).await.unwrap();
    crate::helpers::eventually(Duration::from_secs(30), "the worker ran the queued auto-ban", || async {
        crate::job_restarts::last_success(&store, tanis_workers::schedule::Job::AutoBan).await.is_some()
    })
    .await;
    // serve reads the worker's records: every job is scheduled (so a fresh install is healthy, not 503) and the
    // queued auto-ban has succeeded.
    let health = client.get(format!("http://{address}/healthz/jobs")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let jobs: serde_json::Value = health.json().await.unwrap();
    let jobs = jobs.as_array().unwrap();
    assert!(jobs.iter().all(|j| j["scheduled_since"].is_string()), "serve sees the worker's jobs: {jobs:?}");
    let auto_ban = jobs.iter().find(|j| j["job"] == "auto_ban").unwrap();
    assert!(auto_ban["last_success_at"].is_string(), "serve sees the worker's run: {auto_ban}");
    assert!(worker.try_wait().unwrap().is_none(), "the worker is still running");

    // A moderator made by the command line bans through the admin endpoint.
    let (moderator_phone, target_phone) = (new_phone(), new_phone());
    let mut tokens = Vec::new();
    for (phone, alias) in [(&moderator_phone, "denetci"), (&target_phone, "hedef")] {
        let session: serde_json::Value = client
            .post(format!("http://{address}/v1/auth/register"))
            .json(&registration(phone, alias))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(session["tokens"]["access_token"].as_str().unwrap().to_owned());
    }
    let mut set_role = tanis(dir.path());
    set_role.args(["set-role", &moderator_phone, "moderator"]).env("TANIS_DATABASE_URL", &url);
    let set_role = secrets_for(backend, &mut set_role).output().await.unwrap();
    assert!(set_role.status.success(), "{}", String::from_utf8_lossy(&set_role.stderr));
    // The keys both processes share: generated by `serve` into the data directory on SQLite, configured on
    // PostgreSQL.
    let phones = match backend {
        Backend::Sqlite => Default::default(),
        Backend::Postgres => shared_config().phones,
    };
    let phones = tanis::phones::PhoneVault::load(&phones, &dir.path().join("data")).unwrap();
    let target_phone = tanis::domain::Phone::parse(&target_phone).unwrap();
    let target = store.user_by_phone(&phones.lookup(&target_phone)).await.unwrap().unwrap().id;
    let ban = client
        .post(format!("http://{address}/v1/admin/users/{target}/ban"))
        .bearer_auth(&tokens[0])
        .json(&serde_json::json!({ "reason": "spam" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ban.status(), StatusCode::NO_CONTENT);
    assert!(store.user_by_id(target).await.unwrap().unwrap().is_banned);

    for child in [&mut serve, &mut worker] {
        let pid = child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("exits").unwrap();
        assert!(status.success(), "{status}");
    }
    let mut log = Vec::new();
    while let Some(line) = worker_logs.recv().await {
        log.push(line);
    }
    let all = log.join("\n");
    assert!(!all.contains("WORKER_ALREADY_EXISTS") && !all.contains("UNIQUE constraint"), "{all}");
    store.close().await;
}
