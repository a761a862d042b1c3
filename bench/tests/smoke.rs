//! Every scenario at a tiny size against an in-process server: each must produce a result with non-zero counts.
//! One test, one server, scenarios in sequence (as run.sh runs them), so the seeded users are shared safely.

use std::time::Duration;

use tanis::config::Config;
use tanis::startup::Application;
use tanis_bench::connections::{self, ConnectionsOptions};
use tanis_bench::echo::{self, EchoOptions};
use tanis_bench::login_storm::{self, LoginStormOptions};
use tanis_bench::matching::{self, MatchingOptions};
use tanis_bench::relay::{self, RelayOptions};
use tanis_bench::{Report, SEED_PASSWORD, SeededUser};

const SECRET: &str = "bench-smoke-test-jwt-secret-0123456789abc";

async fn spawn_server(dir: &std::path::Path) -> (String, String, Vec<SeededUser>) {
    let mut config = Config { listen: "127.0.0.1:0".parse().unwrap(), data_dir: dir.join("data"), ..Config::default() };
    config.auth.bcrypt_cost = 4;
    config.auth.jwt_secret = Some(SECRET.into());
    config.jobs.enabled = false;
    config.video.turn_listen = "127.0.0.1:0".parse().unwrap();
    config.hub.messages_per_second = 1_000_000;
    config.hub.message_burst = 1_000_000;
    config.matching.recent_partner_hours = 0;
    // The seeded 1,000,000 daily units only hold for "today" in the quota zone; another day resets them to 10.
    let today = chrono::Utc::now().with_timezone(&config.quotas.zone()).date_naive().to_string();
    let app = Application::build(config).await.expect("the server builds");
    let address = app.local_addr();
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    let now = chrono::Utc::now();
    let hash = bcrypt::hash(SEED_PASSWORD, 4).unwrap();
    let seeded = store.seed_users("bench", 24, &hash, &today, now).await.unwrap();
    let keys = tanis::auth::JwtKeys::new(SECRET.as_bytes(), chrono::TimeDelta::hours(1));
    let users =
        seeded.into_iter().map(|(id, phone)| SeededUser { id, phone, token: keys.issue(id, "user", now).0 }).collect();
    (format!("ws://{address}/v1/ws"), format!("http://{address}"), users)
}

fn check(report: &Report) {
    eprintln!("{}", report.markdown_row());
    assert!(report.ops > 0, "{} produced nothing: {}", report.scenario, serde_json::to_string(report).unwrap());
    assert!(report.latency.as_ref().is_some_and(|l| l.samples > 0), "{}", report.scenario);
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
            server_pid: Some(std::process::id()),
            hold: Duration::from_millis(200),
            concurrency: 2,
        },
    )
    .await
    .unwrap();
    check(&report);
    assert_eq!(report.ops, 4);
    assert_eq!(report.failures, 0);

    let relay_opts = RelayOptions { url: url.clone(), pairs: 2, in_flight: 4, duration: second };
    let report = relay::run(&users, &relay_opts).await.unwrap();
    check(&report);
    assert_eq!(report.failures, 0, "{}", serde_json::to_string(&report).unwrap());
    assert!(report.extra["decrypted_samples"].as_u64().unwrap() > 0, "the receivers decrypted nothing");

    // Each scenario gets users of its own: one scenario's leftovers (a queue entry, a match) never stall the next.
    let report =
        matching::run(&users[8..], &MatchingOptions { url: url.clone(), users: 4, duration: second }).await.unwrap();
    check(&report);

    let report = login_storm::run(&users[16..], &LoginStormOptions { relay: relay_opts.clone(), http, concurrency: 2 })
        .await
        .unwrap();
    check(&report);
    assert!(report.extra["relay_acked_storm"].as_u64().unwrap() > 0);

    let report = echo::run(&EchoOptions { pairs: 2, in_flight: 4, duration: second }).await.unwrap();
    check(&report);
}
