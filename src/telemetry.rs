//! Logs and metrics. Logs go to stderr as text or JSON; the filter comes from `TANIS_LOG` (or
//! `RUST_LOG`), default `info`. Metrics are kept by one process-wide Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the log subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logs(format: LogFormat) {
    let filter = std::env::var("TANIS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The metrics recorder. The `metrics` facade has one global recorder per process, so every server
/// in the process (tests start many) shares this one.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then this handle just renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
