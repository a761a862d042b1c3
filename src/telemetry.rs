//! Logs and metrics. Logs go to stderr as text or JSON; the filter comes from `TANIS_LOG` (or
//! `RUST_LOG`), default `info`. Metrics are kept by one process-wide Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Crates that log what passes through them — WebSocket frames (ciphertext, report details a user typed),
/// request and response bytes (phone numbers, passwords, tokens), TLS records, STUN/TURN packets (addresses) — at
/// debug or trace level, and the most verbose level each may log at whatever `TANIS_LOG` says. Found by running
/// the server at `TANIS_LOG=trace` (tests/api/log_secrets.rs `logs_at_trace_level_…`) and reading each crate's
/// logging: tungstenite logs every received message at trace; hyper and h2 log bytes and headers.
const CAPPED_TARGETS: &[(&str, Level)] = &[
    ("tungstenite", Level::DEBUG),
    ("tokio_tungstenite", Level::DEBUG),
    ("hyper", Level::INFO),
    ("hyper_util", Level::INFO),
    ("h2", Level::INFO),
    ("reqwest", Level::INFO),
    ("rustls", Level::INFO),
    ("sqlx", Level::INFO),
    ("webrtc", Level::INFO),
    ("turn", Level::INFO),
    ("stun", Level::INFO),
    ("webrtc_util", Level::INFO),
    ("apalis_redis", Level::INFO),
    ("redis", Level::INFO),
];

/// The caps of [`CAPPED_TARGETS`] as a filter that every event must pass besides the user's own.
fn payload_caps() -> Caps {
    Caps(
        CAPPED_TARGETS
            .iter()
            .fold(Targets::new().with_default(Level::TRACE), |t, (target, level)| t.with_target(*target, *level)),
    )
}

/// The caps as a global filter that leaves the most verbose level to the user's filter. As a layer of its own,
/// `Targets` would say its most verbose level is trace (its default, for every target it does not cap), and the
/// subscriber's is the most verbose of its layers': `log` records would then all be built and handed to tracing,
/// which refuses them one by one (tungstenite logs through `log` at trace: 2.7 % of the relay's samples).
struct Caps(Targets);

impl<S: Subscriber> Layer<S> for Caps {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        Layer::<S>::register_callsite(&self.0, metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        Layer::<S>::enabled(&self.0, metadata, ctx)
    }
}

/// Installs the log subscriber. Safe to call more than once (later calls do nothing). The user's filter
/// (`TANIS_LOG`, or `RUST_LOG`, default `info`) chooses what is logged, within [`CAPPED_TARGETS`].
///
/// Both filters are global (layers of their own), not filters of the output layer: with a per-layer filter, a
/// crate asking `tracing::enabled!` for a level the filter refuses, without logging after (sqlx does, for each
/// statement, in the task that runs it: on PostgreSQL the request's), left the refusal noted on the thread, and the
/// next span or event there was dropped with it — the request's span and the SMS sender's line, as soon as
/// `TANIS_LOG` let any target log at debug (`info,tower_http=debug`).
pub fn init_logs(format: LogFormat) {
    let filter = std::env::var("TANIS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr);
    let filtered = tracing_subscriber::registry().with(filter).with(payload_caps());
    let _ = match format {
        LogFormat::Text => filtered.with(layer).try_init(),
        LogFormat::Json => filtered.with(layer.json()).try_init(),
    };
}

/// Histograms exported with buckets rather than as summaries, so an alert can take a percentile over every node
/// (`histogram_quantile` over summed buckets; per-node quantiles cannot be combined). The bounds bracket what
/// docs/operations.md ("Call quality") alerts on: 5 s to connect, 300 ms of round trip through the relay; and the
/// report lanes' waits for a moderator (docs/admin.md, "Child safety first"): 15 minutes for a child-safety
/// report, 24 hours for the rest.
const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    ("tanis_rtc_time_to_connect_seconds", &[0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0]),
    ("tanis_rtc_relay_rtt_seconds", &[0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0]),
    (
        "tanis_report_decision_seconds",
        &[60.0, 300.0, 900.0, 1800.0, 3600.0, 4.0 * 3600.0, 12.0 * 3600.0, 86_400.0, 3.0 * 86_400.0, 7.0 * 86_400.0],
    ),
];

/// The metrics recorder. The `metrics` facade has one global recorder per process, so every server
/// in the process (tests start many) shares this one.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = HISTOGRAM_BUCKETS
                .iter()
                .fold(PrometheusBuilder::new(), |builder, (name, buckets)| {
                    builder
                        .set_buckets_for_metric(Matcher::Full((*name).into()), buckets)
                        .expect("buckets are not empty")
                })
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then this handle just renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
