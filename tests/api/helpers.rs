//! Spawning the app and talking to it: typed helpers so tests read as sentences.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use tanis::clock::ManualClock;
use tanis::config::Config;
use tanis::domain::{MatchId, Phone, UserId};
use tanis::phones::{PhoneLookup, PhoneSecrets, PhoneVault};
use tanis::startup::Application;
use tanis::store::{Asked, NewMatch, NewMessage, NewUser, Store};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "kedi-sever-42";
/// The billing webhook's shared secret in test servers.
pub const BILLING_SECRET: &str = "whsec-test-secret-of-at-least-32-characters";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests from `async fn <name>(backend: Backend)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::helpers::Backend::Postgres).await } )*
        }
    };
}

/// A fresh database for one test: a SQLite file in `dir`, or a new database on the test PostgreSQL.
pub async fn fresh_database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("tanis.db").display()),
        Backend::Postgres => {
            let admin = std::env::var("TANIS_TEST_POSTGRES_URL").expect(
                "TANIS_TEST_POSTGRES_URL is not set: run the suite with scripts/test, which starts a throwaway PostgreSQL",
            );
            let name = format!("tanis_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            let (base, _) = admin.rsplit_once('/').expect("the admin URL names a database");
            format!("{base}/{name}")
        }
    }
}

pub struct TestApp {
    pub backend: Backend,
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub config: Config,
    pub database_url: String,
    pub hub: tanis::hub::Hub,
    /// The server's phone keys (read from its configuration or data directory as any other process would).
    pub phones: PhoneVault,
    shutdown: CancellationToken,
    /// The running server: `run_until_stopped`, awaited by [`TestApp::stop`].
    server: std::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    _dir: TempDir,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    // Every frame a test's Connection sends or reads is checked against the AsyncAPI document.
    crate::frames::install();
    // Silent unless asked: `TEST_LOG=1 TANIS_LOG=debug scripts/test cargo nextest run …` shows the server's log.
    if std::env::var_os("TEST_LOG").is_some() {
        tanis::telemetry::init_logs(tanis::config::LogFormat::Text);
    }
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(backend, dir.path()).await;
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        database_url: Some(database_url.clone()),
        // The tests' clients are on loopback and play the proxy, naming the client in X-Forwarded-For.
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Config::default()
    };
    // The cheapest bcrypt cost: the tests are about rules, not about hashing speed.
    config.auth.bcrypt_cost = 4;
    config.billing.webhook_secret = Some(BILLING_SECRET.into());
    // Tests run jobs themselves, at the manual clock's time (tests/api/jobs.rs).
    config.jobs.enabled = false;
    // Every test server gets its own embedded TURN server on a free port.
    config.video.turn_listen = "127.0.0.1:0".parse().unwrap();
    // scripts/test runs the suite a second time with delivery through Redis; each server is then a cluster
    // of its own (its own namespace) unless a test joins several.
    if delivery_through_redis() {
        config.redis_url = Some(test_redis_url());
        config.cluster.namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
        // Every seeker goes to the elected matchmaker at once, as the single node's matchmaker would take them:
        // the tests that move the clock and wait for its sweep (`advance_and_sweep`) see one queue. Pairing on a
        // node first is tests/api/cluster_matching.rs's, on clusters of several nodes.
        config.cluster.local_pairing_ms = 0;
    }
    tweak(&mut config);
    // A node on PostgreSQL or Redis refuses generated secrets (it may share them with other nodes): the ones a
    // test did not choose are the test cluster's.
    if config.may_be_shared() {
        fill_shared_secrets(&mut config);
    }
    let clock = ManualClock::new(start_time());
    let app = Application::build_with_clock(config.clone(), clock.clone()).await.expect("the app builds");
    let address = format!("http://{}", app.local_addr());
    let store = app.store();
    let hub = app.hub();
    let phones = PhoneVault::load(&config.phones, &config.data_dir).expect("the server's phone keys");
    let shutdown = app.shutdown_token();
    let server = std::sync::Mutex::new(Some(tokio::spawn(app.run_until_stopped())));
    TestApp {
        server,
        backend,
        address,
        client: reqwest::Client::new(),
        store,
        clock,
        config,
        database_url,
        hub,
        phones,
        shutdown,
        _dir: dir,
    }
}

/// Nodes of one cluster: one PostgreSQL database, one Redis namespace, one signing secret, each node a server
/// of its own (listener, hub, TURN). The first node starts first (and so takes the matchmaker lease).
pub async fn spawn_cluster(nodes: usize) -> Vec<TestApp> {
    spawn_cluster_with(nodes, |_| {}).await
}

/// The same, with `tweak` applied to every node's configuration.
pub async fn spawn_cluster_with(nodes: usize, tweak: impl Fn(&mut Config)) -> Vec<TestApp> {
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let first = spawn_app_with(Backend::Postgres, |c| {
        cluster_config(c, &test_redis_url(), &namespace);
        tweak(c);
    })
    .await;
    let mut apps = vec![first];
    for _ in 1..nodes {
        let node = join_cluster(&apps[0], &tweak).await;
        apps.push(node);
    }
    apps
}

pub fn cluster_config(c: &mut Config, redis_url: &str, namespace: &str) {
    c.redis_url = Some(redis_url.to_owned());
    c.cluster.namespace = namespace.to_owned();
    c.cluster.local_pairing_ms = tanis::config::ClusterConfig::default().local_pairing_ms;
    shared_secrets(c);
}

/// The secrets every node of a test cluster shares: each node has a data directory of its own, so generated ones
/// would differ, and a node that may be shared refuses them (src/config/mod.rs).
pub fn shared_secrets(c: &mut Config) {
    c.auth.jwt_secret = Some("a-cluster-test-signing-secret-of-enough-length".into());
    c.video.turn_secret = Some("a-cluster-test-turn-secret-of-enough-length".into());
    cluster_phone_keys(c);
}

/// [`shared_secrets`] for each secret not configured yet.
pub fn fill_shared_secrets(c: &mut Config) {
    let mut shared = Config::default();
    shared_secrets(&mut shared);
    c.auth.jwt_secret = c.auth.jwt_secret.take().or(shared.auth.jwt_secret);
    c.video.turn_secret = c.video.turn_secret.take().or(shared.video.turn_secret);
    c.phones.encryption_key = c.phones.encryption_key.take().or(shared.phones.encryption_key);
    c.phones.index_key = c.phones.index_key.take().or(shared.phones.index_key);
}

/// The phone keys every node of a test cluster shares.
pub fn cluster_phone_keys(c: &mut Config) {
    c.phones.encryption_key = Some("a-cluster-test-phone-encryption-key-of-enough-length".into());
    c.phones.index_key = Some("a-cluster-test-phone-index-key-of-enough-length".into());
}

/// Another node of `first`'s cluster (same database, Redis, namespace and secret).
pub async fn join_cluster(first: &TestApp, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (url, redis, namespace) =
        (first.database_url.clone(), first.config.redis_url.clone().unwrap(), first.config.cluster.namespace.clone());
    let mut app = spawn_app_with(Backend::Postgres, |c| {
        cluster_config(c, &redis, &namespace);
        c.database_url = Some(url.clone());
        tweak(c);
    })
    .await;
    app.database_url = url;
    app
}

/// Whether this run delivers through Redis (`TANIS_TEST_DELIVERY=redis`, set by scripts/test's second pass).
pub fn delivery_through_redis() -> bool {
    std::env::var("TANIS_TEST_DELIVERY").is_ok_and(|d| d == "redis")
}

pub fn test_redis_url() -> String {
    std::env::var("TANIS_TEST_REDIS_URL")
        .expect("TANIS_TEST_REDIS_URL is not set: run the suite with scripts/test, which starts a throwaway Redis")
}

/// A connection to the Redis at `url`: one server, or a Redis Cluster (`redis+cluster://`, scripts/test's
/// third pass), as the nodes reach it.
pub async fn redis_at(url: &str) -> tanis::redis_link::Conn {
    let timeouts = tanis::redis_link::Timeouts {
        connect: std::time::Duration::from_secs(2),
        response: std::time::Duration::from_secs(5),
    };
    tanis::redis_link::Target::parse(url).unwrap().connect(timeouts).await.unwrap()
}

/// The name of the matchmaking key `name` (`lease`, `epoch`, `queue`…) of `namespace` on the Redis at `url`:
/// hash-tagged on a Redis Cluster.
pub fn matchmaking_key(url: &str, namespace: &str, name: &str) -> String {
    let prefix = tanis::redis_link::Target::parse(url).unwrap().same_shard(&format!("{namespace}:mm"));
    format!("{prefix}:{name}")
}

/// The throwaway coturn scripts/test starts: a TURN REST server (`use-auth-secret`) on loopback.
pub struct TestCoturn {
    /// `turn:127.0.0.1:<port>?transport=udp`
    pub url: String,
    /// Its `static-auth-secret`.
    pub secret: String,
    /// Its relay ports (`min-port..=max-port`), so a test can check that its relay candidates came from it.
    pub relay_ports: std::ops::RangeInclusive<u16>,
}

pub fn test_coturn() -> TestCoturn {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: run the suite with scripts/test, which starts a throwaway coturn")
        })
    };
    let ports = var("TANIS_TEST_COTURN_RELAY_PORTS");
    let (min, max) = ports.split_once('-').expect("TANIS_TEST_COTURN_RELAY_PORTS is MIN-MAX");
    TestCoturn {
        url: var("TANIS_TEST_COTURN_URL"),
        secret: var("TANIS_TEST_COTURN_SECRET"),
        relay_ports: min.parse().unwrap()..=max.parse().unwrap(),
    }
}

/// A fixed, unremarkable start for the manual clock.
pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T09:30:00Z").unwrap().with_timezone(&Utc)
}

/// A distinct valid Turkish mobile number per call.
pub fn new_phone() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1_000_000);
    format!("+90532{:07}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Stops the server as SIGTERM would and waits until `run_until_stopped` has returned (its store closed).
    pub async fn stop(&self) {
        self.shutdown.cancel();
        let server = self.server.lock().unwrap().take().expect("stopped once");
        tokio::time::timeout(std::time::Duration::from_secs(20), server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.post(path).json(body).send().await.unwrap()
    }

    pub async fn register_body(&self, body: &Value) -> Response {
        self.post_json("/v1/auth/register", body).await
    }

    /// Registers `phone` as `alias` and returns the session JSON; panics unless it is 201.
    pub async fn register(&self, phone: &str, alias: &str) -> Value {
        let response = self.register_body(&registration(phone, alias)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }

    pub async fn login(&self, phone: &str, password: &str) -> Response {
        self.post_json("/v1/auth/login", &json!({ "phone": phone, "password": password })).await
    }

    /// A login from a given client address (the test app trusts X-Forwarded-For).
    pub async fn login_from(&self, ip: &str, phone: &str, password: &str) -> Response {
        let body = json!({ "phone": phone, "password": password });
        self.post("/v1/auth/login").header("x-forwarded-for", ip).json(&body).send().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/v1/auth/refresh", &json!({ "refresh_token": refresh_token })).await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.post_json("/v1/auth/logout", &json!({ "refresh_token": refresh_token })).await
    }

    /// `GET path` as the holder of `access_token`: the status and the JSON body (panics unless the body is JSON).
    pub async fn get_json(&self, path: &str, access_token: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.url(path)).bearer_auth(access_token).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    pub async fn get_me(&self, access_token: &str) -> Response {
        self.client.get(self.url("/v1/me")).bearer_auth(access_token).send().await.unwrap()
    }

    pub async fn patch_me(&self, access_token: &str, body: &Value) -> Response {
        self.client.patch(self.url("/v1/me")).bearer_auth(access_token).json(body).send().await.unwrap()
    }

    /// Runs one SQL statement directly on the app's database (to arrange rare states or inspect rows).
    pub async fn execute(&self, sql: String) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// One integer from a query, e.g. a COUNT(*). The SQL is copied before the future starts, so a
    /// `&format!(…)` argument may be a temporary.
    pub fn count(&self, sql: impl Into<String>) -> impl std::future::Future<Output = i64> + '_ {
        let sql = AssertSqlSafe(sql.into());
        async move {
            match self.backend {
                Backend::Sqlite => {
                    let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.unwrap();
                    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
                }
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&self.database_url).await.unwrap();
                    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
                }
            }
        }
    }

    /// Runs one background job now, as its schedule would.
    pub async fn run_job(&self, job: tanis_workers::schedule::Job) -> Result<(), tanis_workers::JobError> {
        let clock: tanis::clock::SharedClock = self.clock.clone();
        let ctx = tanis::jobs::context(self.store.clone(), self.hub.clone(), clock, &self.config);
        job.run(&ctx).await
    }

    /// What `/metrics` shows now, read through the endpoint as a Prometheus server would.
    pub async fn scrape(&self) -> Scrape {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Scrape(response.text().await.unwrap())
    }

    /// Moves the test clock on by `by` and waits until the matchmaker has swept its queue at the new time, as it
    /// does every second of the server's clock: whoever that much waiting made compatible is paired (and told) by
    /// then, and whoever it did not is still waiting. Someone must be waiting: an idle matchmaker does not sweep.
    pub async fn advance_and_sweep(&self, by: chrono::TimeDelta) {
        self.clock.advance(by);
        let at = self.now();
        let swept = tokio::time::timeout(std::time::Duration::from_secs(20), self.hub.swept(at)).await;
        swept.unwrap_or_else(|_| panic!("the matchmaker swept its queue at {at}: not within 20 s"));
    }

    /// The app's current (manual) time.
    pub fn now(&self) -> DateTime<Utc> {
        tanis::clock::Clock::now(&*self.clock)
    }

    /// The user id behind a phone number.
    pub async fn user_id(&self, phone: &str) -> UserId {
        self.store.user_by_phone(&self.lookup(phone)).await.unwrap().expect("the user exists").id
    }

    /// What the server compares to find `phone` (any form a client may type).
    pub fn lookup(&self, phone: &str) -> PhoneLookup {
        self.phones.lookup(&Phone::parse(phone).expect("a valid phone number"))
    }
}

/// The login (session) an access token the server issued belongs to: its `sid` claim.
pub fn login_of(access_token: &str) -> tanis::auth::LoginId {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    tanis::auth::LoginId::parse(claims["sid"].as_str().expect("every token names its session")).unwrap()
}

/// A registered user as a test holds them: what their app keeps.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: UserId,
    pub handle: String,
    /// The access token their registration (or sign-in) returned; [`TestApp::access_token`] gets a fresh one.
    pub access: String,
    /// To sign in again (after a ban or a sign-out revoked the session), with [`PASSWORD`].
    pub phone: String,
    /// The session's refresh token as the app holds it. Every refresh rotates it (the old one is then a copy the
    /// server treats as stolen), so the clones of a user share it, and refreshing holds it.
    refresh: Arc<tokio::sync::Mutex<String>>,
}

impl TestUser {
    /// The user `session` (the body of a registration or sign-in) signed in.
    pub fn signed_in(id: UserId, phone: &str, session: &Value) -> Self {
        let (access, refresh) = tokens(session);
        TestUser {
            id,
            handle: session["user"]["handle"].as_str().expect("a session names its user").to_owned(),
            access,
            phone: phone.to_owned(),
            refresh: Arc::new(tokio::sync::Mutex::new(refresh)),
        }
    }

    /// The refresh token the app holds now (its latest rotation).
    pub async fn refresh_token(&self) -> String {
        self.refresh.lock().await.clone()
    }
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        format!("{}/v1/ws", self.address.replace("http://", "ws://"))
    }

    /// Registers a new user with this alias (and a Turkish phone number).
    pub async fn user(&self, alias: &str) -> TestUser {
        self.user_with_phone(&new_phone(), alias).await
    }

    /// Registers a new user with this phone number (a foreign one, say) and alias.
    pub async fn user_with_phone(&self, phone: &str, alias: &str) -> TestUser {
        let session = self.register(phone, alias).await;
        TestUser::signed_in(self.user_id(phone).await, phone, &session)
    }

    /// A fresh access token for the user at the test clock's current time (tests move time by days), as their
    /// app's silent refresh gets it: the session's refresh token rotated through `POST /v1/auth/refresh`. It
    /// carries the account's role as it is now, and a sign-out or a ban reaches it.
    pub async fn access_token(&self, user: &TestUser) -> String {
        let mut refresh = user.refresh.lock().await;
        let response = self.refresh(&refresh).await;
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, StatusCode::OK, "refreshing {}'s session: {body}", user.handle);
        let (access, rotated) = tokens(&body);
        *refresh = rotated;
        access
    }

    /// Signs the user in again, as a person does once their session was revoked (a ban, a sign-out): the access
    /// token of the new session, which their app refreshes from now on.
    pub async fn sign_in(&self, user: &TestUser) -> String {
        let response = self.login(&user.phone, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "signing {} in again", user.handle);
        let session: Value = response.json().await.unwrap();
        let (access, refresh) = tokens(&session);
        *user.refresh.lock().await = refresh;
        access
    }

    /// An access token for the user's first session signed with the server's own secret at the test clock's
    /// time, with the `user` role: what only a forger holding the secret could make, for tests of what the
    /// server still refuses then (a session that was signed out, an account that is gone).
    pub fn forged_token(&self, user: &TestUser) -> String {
        let secret = self.jwt_secret();
        let ttl = chrono::TimeDelta::seconds(self.config.auth.access_token_ttl_secs as i64);
        let login = login_of(&user.access);
        tanis::auth::JwtKeys::new(&secret, ttl).issue_for_login(user.id, tanis::domain::Role::User, login, self.now()).0
    }

    /// The server's token-signing secret (configured, or the one it generated into its data directory).
    pub fn jwt_secret(&self) -> Vec<u8> {
        use base64::Engine;
        match &self.config.auth.jwt_secret {
            Some(configured) => configured.as_bytes().to_vec(),
            None => {
                let encoded =
                    std::fs::read_to_string(self.config.data_dir.join("jwt_secret")).expect("the generated secret");
                base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap()
            }
        }
    }

    /// Opens a WebSocket as `user` and returns it with its `hello`.
    pub async fn connect(&self, user: &TestUser) -> (tanis_client::Connection, tanis_proto::ServerFrame) {
        let token = self.access_token(user).await;
        tanis_client::Connection::connect(&self.ws_url(), &token).await.expect("the socket opens with hello")
    }

    /// Matches `a` and `b` for `kind` on fresh sockets; returns each side's socket and chat.
    pub async fn pair(
        &self,
        a: &TestUser,
        b: &TestUser,
        kind: tanis_proto::MatchKind,
    ) -> (tanis_client::Connection, tanis_client::Chat, tanis_client::Connection, tanis_client::Chat) {
        let mut sa = self.socket(a).await;
        let mut sb = self.socket(b).await;
        let (chat_a, chat_b) =
            tokio::join!(tanis_client::Chat::find(&mut sa, kind), tanis_client::Chat::find(&mut sb, kind));
        (sa, chat_a.expect("a is matched"), sb, chat_b.expect("b is matched"))
    }

    /// Opens a WebSocket as `user`, discarding `hello`.
    pub async fn socket(&self, user: &TestUser) -> tanis_client::Connection {
        self.connect(user).await.0
    }

    /// Opens a WebSocket as `user` offering protocol `version` (1 or 2), discarding `hello`, which must say the
    /// server selected that version.
    pub async fn socket_version(&self, user: &TestUser, version: u32) -> tanis_client::Connection {
        let token = self.access_token(user).await;
        let (socket, hello) = tanis_client::Connection::connect_version(&self.ws_url(), &token, version)
            .await
            .expect("the socket opens with hello");
        let tanis_proto::ServerFrame::Hello { protocol, .. } = hello else { unreachable!("hello first") };
        assert_eq!(protocol, version, "the server selected the version offered");
        socket
    }

    /// [`TestApp::pair`] with `a` and `b` offering protocol versions `versions`.
    pub async fn pair_versions(
        &self,
        a: &TestUser,
        b: &TestUser,
        versions: (u32, u32),
    ) -> (tanis_client::Connection, tanis_client::Chat, tanis_client::Connection, tanis_client::Chat) {
        let kind = tanis_proto::MatchKind::Text;
        let mut sa = self.socket_version(a, versions.0).await;
        let mut sb = self.socket_version(b, versions.1).await;
        let (chat_a, chat_b) =
            tokio::join!(tanis_client::Chat::find(&mut sa, kind), tanis_client::Chat::find(&mut sb, kind));
        (sa, chat_a.expect("a is matched"), sb, chat_b.expect("b is matched"))
    }
}

/// One `/metrics` text. The recorder is the process's (telemetry::metrics_handle), so compare two scrapes of one
/// test rather than trusting absolute values.
pub struct Scrape(pub String);

impl Scrape {
    /// The value of one series, written as Prometheus does (`name{label="value"}`); 0 when it is absent, as a
    /// counter nothing has moved yet is.
    pub fn value(&self, series: &str) -> f64 {
        self.0.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }

    /// Whether the metric appears at all (its `# TYPE` line or any series).
    pub fn has(&self, name: &str) -> bool {
        self.0.lines().any(|line| {
            line.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{']))
                || line.strip_prefix("# TYPE ").is_some_and(|rest| rest.split(' ').next() == Some(name))
        })
    }
}

/// A plain `match.find` for a text match, with a fresh key: no nearby wish, no interests, anywhere.
pub fn text_find(id: Option<&str>) -> tanis_proto::ClientFrame {
    tanis_proto::ClientFrame::MatchFind {
        id: id.map(str::to_owned),
        kind: tanis_proto::MatchKind::Text,
        public_key: tanis_client::Identity::generate().public_key_b64(),
        nearby: false,
        interests: tanis_proto::InterestMatching::Off,
        region: tanis_proto::Region::Anywhere,
        seeking: None,
    }
}

/// A complete, valid registration body.
pub fn registration(phone: &str, alias: &str) -> Value {
    json!({ "phone": phone, "password": PASSWORD, "alias": alias, "accept_privacy_notice": true, "birth_year": 1995 })
}

/// Asserts the response is our error shape with this status and code; returns the message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "expected {code}");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    let keys: Vec<&String> = body["error"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["code", "message"], "the error shape has exactly code and message");
    body["error"]["message"].as_str().unwrap().to_owned()
}

/// Session JSON → (access token, refresh token).
pub fn tokens(session: &Value) -> (String, String) {
    let t = if session.get("tokens").is_some() { &session["tokens"] } else { session };
    (t["access_token"].as_str().unwrap().to_owned(), t["refresh_token"].as_str().unwrap().to_owned())
}

/// Polls `check` until it holds, for at most `limit`: the outcome of a run in another task or process.
/// Whether a session of `app`'s PostgreSQL database waits for a lock: a test holding a table or a row sees the
/// server's write reach it (and wait there) before it lets go.
pub async fn waiting_for_a_lock(app: &TestApp) -> bool {
    let sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    app.count(sql).await > 0
}

pub async fn eventually<F, Fut>(limit: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    let waited = tokio::time::timeout(limit, async {
        loop {
            tick.tick().await;
            if check().await {
                return;
            }
        }
    });
    waited.await.unwrap_or_else(|_| panic!("{what}: not within {limit:?}"));
}

/// Phone keys for store-level tests, which run no server to load them.
pub fn test_phones() -> PhoneVault {
    PhoneVault::new(&PhoneSecrets {
        encryption: b"store-level tests: a phone encryption key",
        previous_encryption: Vec::new(),
        index: b"store-level tests: a phone index key, too",
        previous_index: None,
    })
    .unwrap()
}

/// A user row to insert straight into the store (store-level tests: no registration, no bcrypt), its phone sealed
/// with [`test_phones`].
pub fn new_user(phone: &str, alias: &str, tag: &str, code: &str) -> NewUser {
    let phone = Phone::parse(phone).expect("a valid phone number");
    NewUser {
        phone: test_phones().seal(&phone),
        country: phone.country(),
        password_hash: "$2b$04$hash".into(),
        alias: alias.into(),
        alias_key: alias.to_lowercase(),
        tag: tag.into(),
        referral_code: code.into(),
        daily_chat_balance: 10,
        daily_video_balance: 3,
        privacy_notice_version: "2026-11-01".into(),
        birth_year: 1995,
        quota_day: "2026-11-21".into(),
        referrer: None,
        now: start_time(),
    }
}

/// A match to open straight in the store, made at `now` for the usual 24 h.
pub fn new_match(user1_id: UserId, user2_id: UserId, kind: tanis_proto::MatchKind, now: DateTime<Utc>) -> NewMatch {
    NewMatch {
        user1_id,
        user2_id,
        kind,
        user1_public_key: "a2V5MQ==".into(),
        user2_public_key: "a2V5Mg==".into(),
        user1_asked: Asked::default(),
        user2_asked: Asked::default(),
        user1_filtered: false,
        user2_filtered: false,
        now,
        expires_at: now + chrono::TimeDelta::hours(24),
    }
}

/// A franking commitment for frames whose ciphertext is not a real message (base64 of 32 zero bytes): the server
/// checks only its shape.
pub const STANDARD_COMMITMENT: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// A message to store straight in the store; its ciphertext names its `client_msg_id`.
pub fn new_message(match_id: MatchId, sender_id: UserId, receiver_id: UserId, client_msg_id: &str) -> NewMessage {
    NewMessage {
        match_id,
        sender_id,
        receiver_id,
        client_msg_id: client_msg_id.into(),
        content: format!("Y2lwaGVy{client_msg_id}"),
        nonce: "bm9uY2U=".into(),
        commitment: [7; 32],
        device_info: Some("tanis-client/test".into()),
        connection_type: tanis_proto::MatchKind::Text,
    }
}

/// Changing state through the product's doors, as the billing provider, a moderator or the operator would.
impl TestApp {
    /// A user given a staff role (`moderator`, `admin`) as `tanis set-role` gives it: the command is this same
    /// store call, and no API grants a first role.
    pub async fn staff(&self, alias: &str, role: &str) -> TestUser {
        let user = self.user(alias).await;
        assert!(
            self.store.set_role(user.id, role.parse().unwrap(), self.now()).await.unwrap(),
            "{alias} becomes {role}"
        );
        user
    }

    /// Premium until `ends_at`, as the billing provider starts it: a signed `subscription.started` event to the
    /// webhook.
    pub async fn subscribe(&self, user_id: UserId, ends_at: DateTime<Utc>) {
        let event = json!({
            "id": format!("evt_{}", uuid::Uuid::new_v4().simple()), "type": "subscription.started",
            "user_id": user_id, "plan": "premium_monthly", "ends_at": ends_at,
        });
        let response = self.billing_event(&event).await;
        assert_eq!(response.status(), StatusCode::OK, "the subscription starts");
    }

    /// Premium for 30 days, granted by `admin` as support does: `PUT /v1/admin/users/{id}/subscription`.
    pub async fn grant_premium(&self, admin: &TestUser, user_id: UserId) {
        let path = format!("/v1/admin/users/{user_id}/subscription");
        let grant = json!({ "plan": "premium_support", "days": 30 });
        let response =
            self.client.put(self.url(&path)).bearer_auth(self.access_token(admin).await).json(&grant).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT, "premium is granted");
    }

    /// Posts a billing event signed with the test servers' webhook secret at the app's current time.
    pub async fn billing_event(&self, event: &Value) -> Response {
        let raw = event.to_string();
        let signature = tanis::billing::sign(BILLING_SECRET.as_bytes(), self.now().timestamp(), raw.as_bytes());
        let request = self.post("/v1/billing/events").header("content-type", "application/json");
        request.header("tanis-signature", signature).body(raw).send().await.unwrap()
    }

    /// Bans the user until lifted, as a moderator does: `POST /v1/admin/users/{id}/ban` with `staff`'s token.
    pub async fn ban(&self, staff: &TestUser, user_id: UserId, reason: &str) {
        self.ban_with(staff, user_id, json!({ "reason": reason })).await;
    }

    /// Bans the user with this request body (`reason`, `note`, `duration_hours`).
    pub async fn ban_with(&self, staff: &TestUser, user_id: UserId, body: Value) {
        let path = format!("/v1/admin/users/{user_id}/ban");
        let response = self.post(&path).bearer_auth(self.access_token(staff).await).json(&body).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT, "the ban is made");
    }

    /// Lifts the user's ban as a moderator does: `POST /v1/admin/users/{id}/unban`.
    pub async fn unban(&self, staff: &TestUser, user_id: UserId) {
        let path = format!("/v1/admin/users/{user_id}/unban");
        let response = self.post(&path).bearer_auth(self.access_token(staff).await).send().await;
        assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT, "the ban is lifted");
    }
}

impl TestApp {
    /// The integers a query returns, e.g. ids, in its order.
    pub async fn integers(&self, sql: String) -> Vec<i64> {
        let sql = AssertSqlSafe(sql);
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url).await.unwrap();
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
            }
        }
    }
}

impl TestApp {
    /// `user` is matched with a new partner for `kind` (a unit spent, as any match spends one) and leaves;
    /// returns the match.
    pub async fn match_and_leave(&self, user: &TestUser, kind: tanis_proto::MatchKind) -> MatchId {
        let partner = self.user("eslesen").await;
        let (mut socket, chat, _partner_socket, _) = self.pair(user, &partner, kind).await;
        let match_id = chat.info.match_id;
        let leave = tanis_proto::ClientFrame::MatchLeave { id: Some("left".into()), match_id };
        socket.send(&leave).await.unwrap();
        let left = tanis_proto::ServerFrame::Ok { id: Some("left".into()) };
        socket.next_where(|f| *f == left).await.unwrap();
        match_id
    }
}

impl TestApp {
    /// `reporter` is matched with `reported`, reports them with the `report` frame and leaves, as a user makes a
    /// report. Returns the match.
    pub async fn matched_and_reported(
        &self,
        reporter: &TestUser,
        reported: &TestUser,
        reason_code: tanis_proto::ReportReason,
    ) -> MatchId {
        use tanis_proto::{ClientFrame, ServerFrame};
        let (mut socket, chat, _reported_socket, _) = self.pair(reporter, reported, tanis_proto::MatchKind::Text).await;
        let match_id = chat.info.match_id;
        for frame in [
            ClientFrame::Report {
                id: Some("report".into()),
                match_id,
                reason_code,
                details: None,
                evidence: Vec::new(),
            },
            ClientFrame::MatchLeave { id: Some("left".into()), match_id },
        ] {
            socket.send(&frame).await.unwrap();
            let answered = ServerFrame::Ok { id: frame.id().map(str::to_owned) };
            socket.next_where(|f| *f == answered).await.unwrap();
        }
        match_id
    }
}
