//! Building and running the server: one place that wires config, store, accounts and HTTP together,
//! and one shutdown token every long-running part stops on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::serve::ListenerExt as _;
use chrono::TimeDelta;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::api::{self, AppState};
use crate::auth::{JwtKeys, PasswordHasher};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::delivery::Delivery;
use crate::hub::{self, Hub};
use crate::live::LiveUsers;
use crate::phones::PhoneVault;
use crate::reports::{self, Reports, SnapshotVault};
use crate::store::Store;
use crate::video::VideoSettings;
use crate::{jobs, secrets, telemetry};
use tanis_signaling::turn_server::{EmbeddedTurn, TurnServerConfig, TurnTls};

/// A built server, bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    hub: Hub,
    /// The background jobs, when they run in this process.
    workers: Option<JoinHandle<()>>,
    /// The embedded TURN server, unless an external one is used.
    turn: Option<EmbeddedTurn>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the time source chosen by the caller (tests pass a manual clock).
    pub async fn build_with_clock(mut config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        config.validate()?;
        if let Some(limit) = crate::descriptors::limit() {
            let sockets = crate::descriptors::sockets_within(config.hub.max_connections, limit);
            if sockets < config.hub.max_connections {
                tracing::warn!(
                    max_connections = config.hub.max_connections,
                    open_files = limit,
                    sockets,
                    "hub.max_connections lowered to fit the open-file limit (raise LimitNOFILE: docs/scaling.md)"
                );
                config.hub.max_connections = sockets;
            }
        }
        // Before anything that records a metric starts: the recorder is process-wide, and counts made before
        // it is installed are lost (the jobs' start-up runs were, when the recorder came last).
        let metrics = telemetry::metrics_handle();
        if config.database_url.is_none() || config.auth.jwt_secret.is_none() || config.video.turn_secret.is_none() {
            secrets::ensure_data_dir(&config.data_dir)?;
        }
        let phones = PhoneVault::load(&config.phones, &config.data_dir)?;
        let store = open_store(&config, Some(&phones)).await?;
        // Today's message partitions and the ones ahead (PostgreSQL), by the clock this server runs on; a start
        // that cannot make them stops here rather than refuse every message.
        store.ensure_partitions(clock.now()).await.context("making the message tables' partitions")?;
        let secret = secrets::jwt_secret(config.auth.jwt_secret.as_deref(), &config.data_dir)?;
        let auth = &config.auth;
        let hasher = PasswordHasher::new(
            auth.bcrypt_cost,
            auth.bcrypt_concurrency,
            Duration::from_millis(auth.bcrypt_queue_timeout_ms),
        )?;
        let jwt = JwtKeys::new(&secret, TimeDelta::seconds(auth.access_token_ttl_secs as i64));
        let accounts = Arc::new(Accounts::new(
            store.clone(),
            hasher,
            jwt,
            phones,
            clock.clone(),
            config.auth.clone(),
            config.quotas.clone(),
            crate::sms::sender(&config.sms)?,
            config.sms.clone(),
        ));
        let listener = listen(config.listen).with_context(|| format!("binding {}", config.listen))?;
        let shutdown = CancellationToken::new();
        let clock_for_jobs = clock.clone();
        let clock_for_age = clock.clone();
        let http = listener.local_addr().context("the listener's address")?;
        let (turn, video) = start_video(&config, http, clock.clone()).await?;
        let live = Arc::new(LiveUsers::default());
        let delivery = delivery(&config, live.clone(), shutdown.clone()).await?;
        let trust = crate::moderation::trust_rules(&config.trust, config.jobs.report_threshold);
        let reports = Reports::new(
            store.clone(),
            delivery.clone(),
            clock.clone(),
            SnapshotVault::load(&config.phones, &config.data_dir)?,
            reports::Settings {
                window: TimeDelta::days(config.jobs.report_window_days.into()),
                max_message_bytes: config.hub.max_message_bytes,
                trust,
                declarations: crate::moderation::declaration_policy(&config.trust),
            },
        );
        let services = hub::Services { store: store.clone(), delivery: delivery.clone(), live, clock, reports };
        let settings = hub::Settings {
            hub: config.hub.clone(),
            matching: crate::matching::find::Settings {
                matching: config.matching.clone(),
                quotas: config.quotas.clone(),
                privacy_notice_version: config.auth.privacy_notice_version.clone(),
                trust,
                video: video.clone(),
                age_required_for: config.age_assurance.required_for,
                age_threshold: config.age_assurance.threshold,
                cluster: matching_link(&config).await?,
            },
            video,
            ads: config.ads.clone(),
            trust,
            message_retention: TimeDelta::hours(config.jobs.message_retention_hours.into()),
        };
        let hub = Hub::start(services, settings, shutdown.clone());
        if let Some(client) = crate::push::client(&config.push)? {
            hub.set_push(client);
        }
        let workers = match config.jobs.enabled {
            false => None,
            true => {
                let storage = jobs::storage(&store, &config).await.map_err(|e| anyhow::anyhow!("job storage: {e}"))?;
                let ctx = jobs::context(store.clone(), hub.clone(), clock_for_jobs, &config);
                Some(tokio::spawn(run_workers(ctx, storage, shutdown.clone())))
            }
        };
        let age = Arc::new(crate::age::AgeAssurance::new(&config.age_assurance, store.clone(), clock_for_age)?);
        let state =
            AppState { accounts, store: store.clone(), hub: hub.clone(), config: Arc::new(config), metrics, age };
        Ok(Self { listener, router: api::router(state), store, hub, workers, turn, shutdown })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The WebSocket hub (for operations such as bans that act on live sockets).
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Cancelling this token stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the server as a rolling update does: drains it ([`Hub::drain`]), then cancels the shutdown token.
    pub fn stopper(&self) -> Stopper {
        Stopper { hub: self.hub.clone(), shutdown: self.shutdown.clone() }
    }

    /// Serves until the shutdown token is cancelled, lets in-flight requests finish, then closes the store.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self { listener, router, store, hub, workers, turn, shutdown } = self;
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        // Frames are small and latency matters: without TCP_NODELAY a reply written right after another small
        // write waits for the peer's delayed ACK (~40 ms on Linux), which was every p90 of the first benchmark.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        axum::serve(listener, service).with_graceful_shutdown(shutdown.clone().cancelled_owned()).await?;
        // The jobs stop on the same token; a running job gets WORKERS_STOP to finish before the database closes.
        // Past that (a run stuck in a retry backoff), the process stops anyway: every job is idempotent and its
        // queued run is taken again after the restart.
        shutdown.cancel();
        if let Some(workers) = workers
            && tokio::time::timeout(WORKERS_STOP, workers).await.is_err()
        {
            tracing::warn!(?WORKERS_STOP, "background jobs still running at shutdown; stopping without them");
        }
        if let Some(turn) = turn {
            turn.close().await;
        }
        // The group commit drains its queue and the matchmaker stops; both use the store until then.
        hub.join().await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long a stopping server waits for running background jobs.
const WORKERS_STOP: Duration = Duration::from_secs(8);

/// How this process reaches users: its own sockets only, or every node's through Redis when `redis_url` is set.
/// `live` is the users' live state, which delivery keeps as events arrive (a process without sockets, the worker,
/// hands it a fresh one).
pub async fn delivery(config: &Config, live: Arc<LiveUsers>, shutdown: CancellationToken) -> anyhow::Result<Delivery> {
    let Some(url) = &config.redis_url else { return Ok(Delivery::local(live)) };
    let link = crate::delivery::Link {
        url: url.clone(),
        namespace: config.cluster.namespace.clone(),
        presence_ttl: Duration::from_secs(config.cluster.presence_ttl_secs),
        batch_envelope: config.cluster.batch_envelope,
    };
    Delivery::redis(&link, live, shutdown).await.context("joining the cluster through Redis")
}

/// Matching's own link to Redis when `redis_url` is set, with its `[cluster]` settings.
async fn matching_link(config: &Config) -> anyhow::Result<Option<crate::matching::cluster::Link>> {
    let Some(url) = &config.redis_url else { return Ok(None) };
    let c = &config.cluster;
    let link = crate::matching::cluster::Link::connect(
        url,
        &c.namespace,
        Duration::from_millis(c.matchmaker_lease_ms),
        Duration::from_millis(c.local_pairing_ms),
        Duration::from_millis(c.claim_timeout_ms),
    );
    Ok(Some(link.await.context("connecting matching to Redis")?))
}

/// Starts the embedded TURN server when enabled and works out the ICE servers clients are given. `http` is the
/// HTTP/WebSocket listener's address, which the relay refuses as a peer.
async fn start_video(
    config: &Config,
    http: SocketAddr,
    clock: SharedClock,
) -> anyhow::Result<(Option<EmbeddedTurn>, VideoSettings)> {
    let v = &config.video;
    let secret = secrets::turn_secret(v.turn_secret.as_deref(), &config.data_dir)?;
    let mut urls = Vec::new();
    let turn = if v.turn_enabled {
        let tls = match &v.turn_tls_listen {
            Some(listen) => Some(TurnTls {
                listen: *listen,
                certificate_chain_pem: read_pem(v.turn_tls_certificate.as_deref(), "video.turn_tls_certificate")?,
                private_key_pem: read_pem(v.turn_tls_private_key.as_deref(), "video.turn_tls_private_key")?,
            }),
            None => None,
        };
        let turn = EmbeddedTurn::start(TurnServerConfig {
            listen: v.turn_listen,
            tcp_listen: v.turn_tcp.then_some(v.turn_listen),
            tls,
            relay_ip: v.turn_public_ip,
            relay_ports: v.turn_relay_ports.map(|(min, max)| min..=max),
            realm: v.turn_realm.clone(),
            secret: secret.clone(),
            // In production TURN must not become a way into the server's own network.
            refuse_private_peers: config.production,
            // Nor a way into the server itself, in any mode: its own listeners are never peers.
            own_listeners: vec![http],
            max_allocations: v.turn_max_allocations,
            clock: Arc::new(move || clock.now().timestamp()),
        })
        .await
        .map_err(|e| anyhow::anyhow!("starting the embedded TURN server on {}: {e}", v.turn_listen))?;
        urls.extend(embedded_turn_urls(v, &turn));
        tracing::info!(address = %turn.local_addr(), tcp = ?turn.tcp_addr(), tls = ?turn.tls_addr(), "embedded TURN server listening");
        Some(turn)
    } else {
        None
    };
    urls.extend(v.turn_urls.iter().cloned());
    let turn_counters = turn.as_ref().map(|t| t.counters());
    Ok((turn, VideoSettings { config: v.clone(), turn_secret: secret, turn_urls: urls, turn_counters }))
}

/// The embedded server's URLs, UDP first: clients try them in order, and UDP is what a call wants.
fn embedded_turn_urls(v: &crate::config::VideoConfig, turn: &EmbeddedTurn) -> Vec<String> {
    let host = match v.turn_public_ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let mut urls = vec![format!("turn:{host}:{}?transport=udp", turn.local_addr().port())];
    if let Some(tcp) = turn.tcp_addr() {
        urls.push(format!("turn:{host}:{}?transport=tcp", tcp.port()));
    }
    if let Some(tls) = turn.tls_addr() {
        let name = v.turn_tls_name.clone().unwrap_or(host);
        urls.push(format!("turns:{name}:{}?transport=tcp", tls.port()));
    }
    urls
}

fn read_pem(path: Option<&std::path::Path>, key: &str) -> anyhow::Result<Vec<u8>> {
    let path = path.with_context(|| format!("{key} is not set"))?;
    std::fs::read(path).with_context(|| format!("reading {key} ({})", path.display()))
}

/// Runs the background jobs until `shutdown`; a failure is logged, never propagated into the server.
pub async fn run_workers<L: tanis_workers::LiveEffects>(
    ctx: tanis_workers::Context<jobs::JobsStore, L>,
    storage: tanis_workers::schedule::Storage,
    shutdown: CancellationToken,
) {
    if let Err(e) = tanis_workers::schedule::run(ctx, storage, shutdown).await {
        tracing::error!(error = %e, "background jobs stopped");
    }
}

/// Connects to the configured database and applies its migrations. With `phones` (every process but the worker,
/// which reads no number), checks that they are the keys its phone numbers were sealed with (a wrong key stops
/// the start here, naming the key), and seals whatever phone numbers an older version kept in clear.
pub async fn open_store(config: &Config, phones: Option<&PhoneVault>) -> anyhow::Result<Store> {
    if config.database_url.is_none() {
        secrets::ensure_data_dir(&config.data_dir)?;
    }
    let url = config.effective_database_url();
    let store = Store::connect(&url).await.with_context(|| format!("opening database {}", redact(&url)))?;
    let store = store.with_citations(crate::statements::citations(&config.moderation));
    store.migrate().await.context("applying migrations")?;
    if let Some(phones) = phones {
        crate::reseal::check(&store, phones).await.context("the phone keys do not fit this database")?;
        crate::reseal::seal_legacy(&store, phones).await.context("sealing the phone numbers kept in clear")?;
    }
    Ok(store)
}

/// How a serving node stops: the drain, then the shutdown.
pub struct Stopper {
    hub: Hub,
    shutdown: CancellationToken,
}

impl Stopper {
    /// Drains the node (new sockets refused, open ones closed with 4010 over `hub.drain_ms`), then shuts it down.
    pub async fn drain_then_stop(self) {
        self.hub.drain().await;
        self.shutdown.cancel();
    }
}

/// A serving node's signals: the first SIGTERM or Ctrl-C drains it, then stops it (what Kubernetes and systemd send
/// in a rolling update); a second one during the drain stops it at once.
pub async fn stop_on_signal(stopper: Stopper) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let mut signal = async move || {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    };
    let first = signal().await;
    tracing::info!(signal = first, "stopping: draining first");
    let shutdown = stopper.shutdown.clone();
    tokio::select! {
        () = stopper.drain_then_stop() => {}
        again = signal() => {
            tracing::info!(signal = again, "a second signal: stopping without finishing the drain");
            shutdown.cancel();
        }
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM (`tanis worker`, which has no sockets to drain).
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
    }
    token.cancel();
}

/// A database URL fit for logs: the password replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The length of the listener's queue of connections not yet accepted. A node that comes back while thousands of
/// phones reconnect takes hundreds of handshakes in its first moments: at the 128 that `TcpListener::bind` asks for,
/// the kernel dropped the SYNs beyond it, and each of those phones waited a second or more for its retry
/// (BENCHMARKS.md, issue 79 point 5). The kernel caps it at `net.core.somaxconn` (docs/scaling.md).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` as `TcpListener::bind` does (address reuse, for a restart while old connections linger), with a
/// queue of [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_never_reach_logs() {
        assert_eq!(super::redact("postgres://tanis:hunter2@db:5432/tanis"), "postgres://tanis:***@db:5432/tanis");
        assert_eq!(super::redact("sqlite://data/tanis.db"), "sqlite://data/tanis.db");
    }
}
