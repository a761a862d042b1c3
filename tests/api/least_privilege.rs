//! The processes of a production deployment, each given only what it needs (deploy/kubernetes/, docker-compose.yml;
//! docs/operations.md, "Threat model"), on a Redis of the test's own that takes TLS only and wants a password.
//! The migration gets the database and the phone keys; the worker the database and Redis; the nodes everything,
//! and they refuse to start without a metrics token or with a Redis URL that carries no password.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use tanis_client::{Chat, Connection};
use tanis_proto::{MatchKind, ServerFrame};
use tokio::process::{Child, Command};

use crate::binary::{log_lines, tanis, wait_until_listening};
use crate::helpers::{Backend, eventually, fresh_database_url, new_phone, registration};
use crate::redis_outage::reserve_port;

const WITHIN: Duration = Duration::from_secs(30);
const REDIS_PASSWORD: &str = "a0e4c81f9b2d7356a0e4c81f9b2d7356";
const METRICS_TOKEN: &str = "5d1c9e7a3b8f2046d1c9e7a3b8f20465";

/// `redis-server` with its plain port off: TLS on a reserved port, a certificate for 127.0.0.1 signed by a CA made
/// here, and `requirepass`.
struct TlsRedis {
    port: u16,
    dir: tempfile::TempDir,
    /// Killed with the test (`kill_on_drop`).
    _child: Child,
    _reserved: std::fs::File,
}

impl TlsRedis {
    async fn start() -> Self {
        let (port, reserved) = reserve_port();
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tanis test CA"],
            ]
            .concat(),
        );
        openssl(
            &[&["req"][..], &ec, &["-keyout", "redis.key", "-out", "redis.csr", "-subj", "/CN=127.0.0.1"]].concat(),
        );
        std::fs::write(dir.path().join("san.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "redis.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-out",
            "redis.pem",
        ]);
        let child = Command::new("redis-server")
            .args(["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--tls-cert-file", "redis.pem", "--tls-key-file", "redis.key", "--tls-ca-cert-file", "ca.pem"])
            .args(["--tls-auth-clients", "no", "--requirepass", REDIS_PASSWORD, "--save", "", "--appendonly", "no"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs (scripts/test installs it)");
        let redis = Self { port, dir, _child: child, _reserved: reserved };
        eventually(WITHIN, "the TLS Redis answers", || async { redis.cli(&["PING"]).await == "PONG" }).await;
        redis
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `redis-cli` over TLS with the password; its output, trimmed.
    async fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["--tls", "--cacert", "ca.pem", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .env("REDISCLI_AUTH", REDIS_PASSWORD)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn url(&self, password: Option<&str>) -> String {
        match password {
            Some(password) => format!("rediss://:{password}@127.0.0.1:{}/", self.port),
            None => format!("rediss://127.0.0.1:{}/", self.port),
        }
    }
}

/// A production process of `command` on `database_url`, the CA in `SSL_CERT_FILE` (how a private CA is given),
/// with only `env` on top.
fn production(dir: &Path, command: &str, database_url: &str, ca: &Path, env: &[(&str, &str)]) -> Command {
    let mut process = tanis(dir);
    process
        .arg(command)
        .env("TANIS_PRODUCTION", "true")
        .env("TANIS_DATABASE_URL", database_url)
        .env("TANIS_DATA_DIR", dir.join(format!("{command}-{}", uuid::Uuid::new_v4().simple())))
        .env("SSL_CERT_FILE", ca)
        .envs(env.iter().copied());
    process
}

const PHONE_KEYS: [(&str, &str); 2] = [
    ("TANIS_PHONES__ENCRYPTION_KEY", "a-least-privilege-test-phone-encryption-key"),
    ("TANIS_PHONES__INDEX_KEY", "a-least-privilege-test-phone-index-key"),
];

/// Why these nodes offer video without an assured age: production refuses a node that says nothing.
const WAIVER: &str = "a least-privilege test: no video is offered to anyone";

/// Everything a node needs but the metrics token and Redis: the secrets, an https SMS provider (never called
/// here), bcrypt at production's least cost, and no TURN relay (production hands out public addresses only).
fn node_settings() -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("TANIS_AUTH__JWT_SECRET", "a-least-privilege-test-signing-secret"),
        ("TANIS_VIDEO__TURN_SECRET", "a-least-privilege-test-turn-secret-of-length"),
        ("TANIS_VIDEO__TURN_ENABLED", "false"),
        ("TANIS_AUTH__BCRYPT_COST", "10"),
        ("TANIS_SMS__PROVIDER", "http"),
        ("TANIS_SMS__HTTP_URL", "https://127.0.0.1:9/2010-04-01/Accounts/AC0123/Messages.json"),
        ("TANIS_SMS__ACCOUNT", "AC0123"),
        ("TANIS_SMS__TOKEN", "a-provider-token"),
        ("TANIS_SMS__FROM", "TANIS"),
        ("TANIS_JOBS__ENABLED", "false"),
        ("TANIS_CLUSTER__NAMESPACE", "least-privilege"),
        ("TANIS_AGE_ASSURANCE__WAIVER", WAIVER),
    ];
    env.extend(PHONE_KEYS);
    env
}

/// Runs `process` to its end; (exit code, stderr).
async fn refusal(mut process: Command) -> (Option<i32>, String) {
    let out = process.output().await.unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

async fn register(client: &reqwest::Client, address: &str) -> String {
    let response = client
        .post(format!("http://{address}/v1/auth/register"))
        .json(&registration(&new_phone(), "gizli"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "registration in production");
    let body: serde_json::Value = response.json().await.unwrap();
    body["tokens"]["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_process_runs_in_production_with_only_its_own_secrets_over_a_tls_redis_with_a_password() {
    let redis = TlsRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database = fresh_database_url(Backend::Postgres, dir.path()).await;
    let (ca, authenticated) = (redis.ca(), redis.url(Some(REDIS_PASSWORD)));

    // The migration: the database and the phone keys, nothing else (no Redis, token, TURN or SMS secret).
    let (code, stderr) = refusal(production(dir.path(), "migrate", &database, &ca, &PHONE_KEYS)).await;
    assert_eq!(code, Some(0), "{stderr}");

    // A node refuses to start without the metrics token, or on a Redis URL without a password, naming the key.
    let mut settings = node_settings();
    settings.push(("TANIS_REDIS_URL", &authenticated));
    let (code, stderr) = refusal(production(dir.path(), "serve", &database, &ca, &settings)).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("metrics_token"), "{stderr}");
    let unauthenticated = redis.url(None);
    let mut settings = node_settings();
    settings.extend([("TANIS_METRICS_TOKEN", METRICS_TOKEN), ("TANIS_REDIS_URL", &unauthenticated)]);
    let (code, stderr) = refusal(production(dir.path(), "serve", &database, &ca, &settings)).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("redis_url") && stderr.contains("password"), "{stderr}");
    // Nor with video to strangers and neither an assured age asked for it nor a waiver saying why not (issue 77).
    let mut settings = node_settings();
    settings.retain(|(key, _)| *key != "TANIS_AGE_ASSURANCE__WAIVER");
    settings.extend([("TANIS_METRICS_TOKEN", METRICS_TOKEN), ("TANIS_REDIS_URL", &authenticated)]);
    let (code, stderr) = refusal(production(dir.path(), "serve", &database, &ca, &settings)).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("age_assurance.required_for") && stderr.contains("waiver"), "{stderr}");

    // Two nodes with everything, over TLS with the password.
    let mut settings = node_settings();
    settings.extend([("TANIS_METRICS_TOKEN", METRICS_TOKEN), ("TANIS_REDIS_URL", &authenticated)]);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let mut child = production(dir.path(), "serve", &database, &ca, &settings).spawn().unwrap();
        let mut logs = log_lines(&mut child);
        let mut seen = Vec::new();
        let address = wait_until_listening(&mut logs, &mut seen).await;
        assert!(seen.iter().any(|l| l.contains("WARN") && l.contains(WAIVER)), "the waiver, at start: {seen:#?}");
        tokio::spawn(async move { while logs.recv().await.is_some() {} });
        nodes.push((child, address));
    }
    let client = reqwest::Client::new();
    let metrics = format!("http://{}/metrics", nodes[0].1);
    assert_eq!(client.get(&metrics).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let scraped = client.get(&metrics).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);

    // The worker: the database and Redis only (no phone keys, token, TURN, SMS or metrics secret). The nodes
    // read its jobs from the database.
    let worker_env = [("TANIS_REDIS_URL", authenticated.as_str()), ("TANIS_JOBS__ENABLED", "true")];
    let mut worker = production(dir.path(), "worker", &database, &ca, &worker_env).spawn().unwrap();
    let mut worker_logs = log_lines(&mut worker);
    tokio::spawn(async move { while worker_logs.recv().await.is_some() {} });
    let health = format!("http://{}/healthz/jobs", nodes[1].1);
    eventually(WITHIN, "the worker schedules every job", || async {
        let response = client.get(&health).send().await.unwrap();
        let jobs: serde_json::Value = response.json().await.unwrap_or_default();
        jobs.as_array().is_some_and(|jobs| !jobs.is_empty() && jobs.iter().all(|j| j["scheduled_since"].is_string()))
    })
    .await;
    assert!(worker.try_wait().unwrap().is_none(), "the worker runs on what it was given");

    // Two people, one on each node, are matched and talk: across the nodes through the TLS Redis.
    let (a, b) = (register(&client, &nodes[0].1).await, register(&client, &nodes[1].1).await);
    let connect = |address: &str, token: String| {
        let url = format!("ws://{address}/v1/ws");
        async move { tokio::time::timeout(WITHIN, Connection::connect(&url, &token)).await.unwrap().unwrap().0 }
    };
    let (mut sa, mut sb) = (connect(&nodes[0].1, a).await, connect(&nodes[1].1, b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    sa.send(&chat_a.message("tls üstünden merhaba")).await.unwrap();
    let received = tokio::time::timeout(WITHIN, sb.next_where(|f| matches!(f, ServerFrame::Msg { .. })))
        .await
        .expect("the message crosses the nodes")
        .unwrap();
    assert_eq!(chat_b.read(&received).unwrap(), "tls üstünden merhaba");
    // And Redis holds what the nodes wrote under their namespace: they are in it, not beside it.
    assert_ne!(redis.cli(&["--scan", "--pattern", "*least-privilege*"]).await, "");
}
