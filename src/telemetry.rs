//! Logs and metrics. Logs go to stderr as text or JSON; the filter comes from `TANIS_LOG` (or
//! `RUST_LOG`), default `info`. Metrics are kept by one process-wide Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
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
fn payload_caps() -> Targets {
    CAPPED_TARGETS
        .iter()
        .fold(Targets::new().with_default(Level::TRACE), |t, (target, level)| t.with_target(*target, *level))
}

/// Installs the log subscriber. Safe to call more than once (later calls do nothing). The user's filter
/// (`TANIS_LOG`, or `RUST_LOG`, default `info`) chooses what is logged, within [`CAPPED_TARGETS`].
pub fn init_logs(format: LogFormat) {
    let filter = std::env::var("TANIS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr);
    let filter = filter.and(payload_caps());
    let _ = match format {
        LogFormat::Text => tracing_subscriber::registry().with(layer.with_filter(filter)).try_init(),
        LogFormat::Json => tracing_subscriber::registry().with(layer.json().with_filter(filter)).try_init(),
    };
}

/// Histograms exported with buckets rather than as summaries, so an alert can take a percentile over every node
/// (`histogram_quantile` over summed buckets; per-node quantiles cannot be combined). The bounds bracket what
/// docs/operations.md ("Call quality") alerts on: 5 s to connect, 300 ms of round trip through the relay.
const CALL_QUALITY_BUCKETS: &[(&str, &[f64])] = &[
    ("tanis_rtc_time_to_connect_seconds", &[0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0]),
    ("tanis_rtc_relay_rtt_seconds", &[0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0]),
];

/// The metrics recorder. The `metrics` facade has one global recorder per process, so every server
/// in the process (tests start many) shares this one.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = CALL_QUALITY_BUCKETS
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
