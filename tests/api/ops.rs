use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tanis::startup::Application;

use crate::helpers::{Backend, assert_error, eventually, fresh_database_url, new_phone, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    health_and_readiness_answer_and_readiness_follows_the_database,
    metrics_count_requests_and_can_require_a_token,
    the_openapi_document_lists_every_rest_endpoint_and_the_docs_ui_is_self_contained,
    cancelling_the_shutdown_token_stops_the_server_and_its_jobs_cleanly,
    job_health_reports_jobs_nobody_schedules_and_jobs_overdue_since_their_last_success_or_scheduling,
);

/// `/healthz/jobs` (this app runs no jobs itself, as a node beside `tanis worker` would not): a job that no
/// process ever scheduled is stalled; once scheduled it is healthy until its period and grace pass without a
/// success; a success restarts the count.
async fn job_health_reports_jobs_nobody_schedules_and_jobs_overdue_since_their_last_success_or_scheduling(
    backend: Backend,
) {
    use tanis_workers::schedule::Job;
    let app = spawn_app(backend).await;
    let health = || async { app.client.get(app.url("/healthz/jobs")).send().await.unwrap() };
    let stalled = |message: String| Job::ALL.iter().filter(|j| message.contains(j.name())).count();

    let message = assert_error(health().await, StatusCode::SERVICE_UNAVAILABLE, "jobs_stalled").await;
    assert_eq!(stalled(message), Job::ALL.len(), "nothing schedules the jobs");

    for job in Job::ALL {
        app.store.record_job_scheduled(job.name(), app.now()).await.unwrap();
    }
    let fresh = health().await;
    assert_eq!(fresh.status(), StatusCode::OK, "a fresh install is healthy until its jobs are due");
    let jobs: Value = fresh.json().await.unwrap();
    assert!(jobs.as_array().unwrap().iter().all(|j| j["scheduled_since"].is_string() && j["stalled"] == false));

    // Past the minutely jobs' period plus the grace, with no success: they stall, the daily reset does not.
    app.clock.advance(chrono::TimeDelta::seconds(60 + app.config.jobs.stall_grace_secs as i64 + 1));
    let message = assert_error(health().await, StatusCode::SERVICE_UNAVAILABLE, "jobs_stalled").await;
    assert!(message.contains("claims") && !message.contains("quota_reset"), "{message}");
    // A later scheduling does not hide the stall; successes end it.
    for job in Job::ALL {
        app.store.record_job_scheduled(job.name(), app.now()).await.unwrap();
    }
    assert_eq!(health().await.status(), StatusCode::SERVICE_UNAVAILABLE);
    for job in Job::ALL {
        app.store.record_job_run(job.name(), None, app.now()).await.unwrap();
    }
    assert_eq!(health().await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_unavailable_one_second_after_the_database_stops_answering() {
    // The database behind a proxy that, once told to, swallows every byte both ways: the network path of a
    // crashed host or a partition, where connections stay open and nothing answers.
    let dir = tempfile::tempdir().unwrap();
    let real = fresh_database_url(Backend::Postgres, dir.path()).await;
    let (blackhole, proxied) = black_hole_proxy(&real).await;
    let app = spawn_app_with(Backend::Postgres, |c| c.database_url = Some(proxied)).await;
    let readyz = app.client.get(app.url("/readyz"));
    assert_eq!(readyz.try_clone().unwrap().send().await.unwrap().status(), StatusCode::OK);

    blackhole.store(true, std::sync::atomic::Ordering::SeqCst);
    let asked = tokio::spawn(readyz.send());
    // The check waits on the database, which says nothing, and on the server's clock, which this test moves: the
    // bound is proven to the microsecond whatever the machine's load. Without it the request would wait for the
    // pool's 10 s acquire timeout, which a load balancer reads as a timeout, not as "take me out".
    eventually(Duration::from_secs(10), "readiness waits on the server's clock", || async {
        app.clock.sleepers() == 1
    })
    .await;
    app.clock.advance(chrono::TimeDelta::milliseconds(999));
    assert_eq!(app.clock.sleepers(), 1, "still waiting after 999 ms");
    app.clock.advance(chrono::TimeDelta::milliseconds(1));
    let answer = tokio::time::timeout(Duration::from_secs(10), asked).await.expect("answered once the second is up");
    assert_error(answer.unwrap().unwrap(), StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

/// A TCP proxy to the database of `url`; returns the switch that turns it into a black hole and the proxied URL.
async fn black_hole_proxy(url: &str) -> (std::sync::Arc<std::sync::atomic::AtomicBool>, String) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (scheme_host, rest) = url.rsplit_once(':').expect("host:port/db");
    let (port, db) = rest.split_once('/').expect("port/db");
    let upstream = format!("{}:{port}", scheme_host.rsplit_once('@').map_or(scheme_host, |(_, h)| h));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxied = format!("{scheme_host}:{}/{db}", listener.local_addr().unwrap().port());
    let blackhole = std::sync::Arc::new(AtomicBool::new(false));
    let hole = blackhole.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            type Half = (Box<dyn tokio::io::AsyncRead + Unpin + Send>, Box<dyn tokio::io::AsyncWrite + Unpin + Send>);
            let halves: [Half; 2] = [(Box::new(cr), Box::new(sw)), (Box::new(sr), Box::new(cw))];
            for (mut from, mut to) in halves {
                let hole = hole.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf).await {
                        if !hole.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    (blackhole, proxied)
}

async fn health_and_readiness_answer_and_readiness_follows_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let get = |path: &'static str| app.client.get(app.url(path)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);

    app.store.close().await;
    assert_error(get("/readyz").await.unwrap(), StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK, "the process is still up");
}

async fn metrics_count_requests_and_can_require_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register(&new_phone(), "kediadam").await;
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("tanis_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/v1/auth/register\""), "requests are labelled by route template");
    assert!(text.contains("tanis_registrations_total"));
    // The soak's gauges, read at scrape. SQLite's heap holds at least the open database's schema and caches (the
    // counter is the process's, so on PostgreSQL it is only present: other tests in a process may open SQLite).
    let gauge = |name: &str| {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
    };
    assert!(gauge("tanis_runtime_alive_tasks") > 0.0, "{text}");
    assert_eq!(gauge("tanis_group_commit_queue"), 0.0, "{text}");
    let sqlite_heap = gauge("tanis_sqlite_heap_bytes");
    assert!(sqlite_heap >= 0.0 && (backend == Backend::Postgres || sqlite_heap > 0.0), "{text}");

    let guarded = spawn_app_with(backend, |c| c.metrics_token = Some("scrape-token-1234".into())).await;
    let anonymous = guarded.client.get(guarded.url("/metrics")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let wrong = guarded.client.get(guarded.url("/metrics")).bearer_auth("scrape-token-1235").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scraper = guarded.client.get(guarded.url("/metrics")).bearer_auth("scrape-token-1234").send().await.unwrap();
    assert_eq!(scraper.status(), StatusCode::OK);
}

async fn the_openapi_document_lists_every_rest_endpoint_and_the_docs_ui_is_self_contained(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    // The whole REST surface, exactly: an endpoint added or removed must show up here and in the document.
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (path.clone(), m.clone())))
        .collect();
    documented.sort();
    let expected = [
        ("/healthz", "get"),
        ("/healthz/jobs", "get"),
        ("/metrics", "get"),
        ("/readyz", "get"),
        ("/v1/admin/ads", "get"),
        ("/v1/admin/ads", "post"),
        ("/v1/admin/ads/{id}", "patch"),
        ("/v1/admin/appeals", "get"),
        ("/v1/admin/appeals/{id}/decision", "post"),
        ("/v1/admin/audit", "get"),
        ("/v1/admin/broadcasts", "post"),
        ("/v1/admin/dashboard", "get"),
        ("/v1/admin/reports", "get"),
        ("/v1/admin/reports/{id}/resolve", "post"),
        ("/v1/admin/reports/{id}/snapshot", "get"),
        ("/v1/admin/statements", "get"),
        ("/v1/admin/transparency", "get"),
        ("/v1/admin/users", "get"),
        ("/v1/admin/users/{id}", "get"),
        ("/v1/admin/users/{id}/ban", "post"),
        ("/v1/admin/users/{id}/clearance", "post"),
        ("/v1/admin/users/{id}/declaration/clearance", "post"),
        ("/v1/admin/users/{id}/role", "put"),
        ("/v1/admin/users/{id}/subscription", "delete"),
        ("/v1/admin/users/{id}/subscription", "put"),
        ("/v1/admin/users/{id}/unban", "post"),
        ("/v1/ads/{id}/click", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/password-reset", "post"),
        ("/v1/auth/password-reset/confirm", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/register", "post"),
        ("/v1/ban/appeal", "post"),
        ("/v1/ban/deletion", "post"),
        ("/v1/ban/export", "post"),
        ("/v1/ban/status", "post"),
        ("/v1/billing/events", "post"),
        ("/v1/blocks", "get"),
        ("/v1/blocks/{id}", "delete"),
        ("/v1/claims", "get"),
        ("/v1/claims", "post"),
        ("/v1/contacts", "get"),
        ("/v1/contacts/{id}", "delete"),
        ("/v1/devices", "delete"),
        ("/v1/devices", "post"),
        ("/v1/interests", "get"),
        ("/v1/me", "delete"),
        ("/v1/me", "get"),
        ("/v1/me", "patch"),
        ("/v1/me/age-assurance", "post"),
        ("/v1/me/age-assurance/check", "post"),
        ("/v1/me/consent", "post"),
        ("/v1/me/export", "get"),
        ("/v1/me/gender", "delete"),
        ("/v1/me/gender", "put"),
        ("/v1/me/password", "post"),
        ("/v1/me/phone/change", "post"),
        ("/v1/me/phone/change/verify", "post"),
        ("/v1/me/phone/verification", "post"),
        ("/v1/me/phone/verify", "post"),
        ("/v1/me/sessions", "delete"),
        ("/v1/me/sessions", "get"),
        ("/v1/me/sessions/{id}", "delete"),
        ("/v1/notifications", "get"),
        ("/v1/notifications/read", "post"),
        ("/v1/reports/call", "post"),
        ("/v1/rtc/ice-servers", "get"),
        ("/v1/ws", "get"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect();
    assert_eq!(documented, expected);
    // And every documented operation is served: the router's own fallbacks (no such endpoint, wrong method)
    // never answer it.
    for (path, method) in &documented {
        let url = app.url(&path.replace("{id}", "1"));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.client.request(method.clone(), &url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no such endpoint"),
            "{method} {url}: {body}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for script in html.split("src=\"").skip(1) {
        assert!(!script.starts_with("http"), "docs UI loads nothing from outside: {script:.60}");
    }
    let bundle = app.client.get(app.url("/docs/swagger-ui-bundle.js")).send().await.unwrap();
    assert_eq!(bundle.status(), StatusCode::OK, "the UI's assets are served from the binary");
}

async fn cancelling_the_shutdown_token_stops_the_server_and_its_jobs_cleanly(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = tanis::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        database_url: Some(fresh_database_url(backend, dir.path()).await),
        ..Default::default()
    };
    config.auth.bcrypt_cost = 4;
    config.jobs.enabled = true;
    config.video.turn_listen = "127.0.0.1:0".parse().unwrap();
    crate::helpers::fill_shared_secrets(&mut config);
    let app = Application::build(config).await.unwrap();
    let address = format!("http://{}/healthz", app.local_addr());
    let store = app.store();
    let token = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    assert_eq!(reqwest::get(&address).await.unwrap().status(), StatusCode::OK);
    // The background jobs run inside serve: the start-up catch-up run of the daily reset is recorded in this
    // server's own database (an event of this run, not a process-wide counter another test could move).
    crate::helpers::eventually(Duration::from_secs(20), "the catch-up run at start-up", || async {
        crate::job_restarts::last_success(&store, tanis_workers::schedule::Job::QuotaReset).await.is_some()
    })
    .await;

    token.cancel();
    // `run_until_stopped` returns only after every job worker has finished and the store is closed.
    tokio::time::timeout(Duration::from_secs(10), server).await.expect("stops promptly").unwrap().unwrap();
    assert!(reqwest::get(&address).await.is_err(), "nothing listens any more");
}
