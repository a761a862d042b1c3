//! Who held SQLite's one write connection too long.
//!
//! Every writer of a SQLite store shares one connection (`on_write_pool!`): a holder that keeps it for seconds
//! stalls every sign-up, report and background job behind it, and sqlx's own warning names only the waiters
//! ("time to acquire exceeded slow threshold"). The pool's hooks note the span that took the connection and
//! when; a holder that gives it back after [`HOLD_WARNING`] is logged inside that span, with how long it held it.
//! The span names the holder only where the log's filter enables it (`TANIS_LOG`: the jobs' spans at `info` for
//! `tanis_workers`, the requests' at `debug` for `tower_http`); otherwise the warning still says how long.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnectionMetadata;
use sqlx::sqlite::SqlitePoolOptions;

/// A hold this long is worth an operator's attention: the group commit keeps the connection for at most
/// 10 ms at a time (`group_commit::LEASE_TIME`), a writer's transaction for well under that.
pub(super) const HOLD_WARNING: Duration = Duration::from_secs(2);

/// The write connection's current holder, shared by the pool's two hooks.
#[derive(Clone)]
pub(super) struct WriteHolds {
    holder: Arc<Mutex<Option<Holder>>>,
    /// A hold this long or longer is logged.
    warning: Duration,
}

struct Holder {
    since: Instant,
    span: tracing::Span,
}

impl WriteHolds {
    pub(super) fn new(warning: Duration) -> Self {
        WriteHolds { holder: Arc::default(), warning }
    }

    /// Installs the hooks on the write pool's options.
    pub(super) fn hook(&self, options: SqlitePoolOptions) -> SqlitePoolOptions {
        let (taken, given_back) = (self.clone(), self.clone());
        options
            .before_acquire(move |_, _: PoolConnectionMetadata| {
                // Runs in the acquiring task, so the current span is the holder's.
                taken.taken(tracing::Span::current());
                Box::pin(async { Ok(true) })
            })
            .after_release(move |_, _: PoolConnectionMetadata| {
                given_back.given_back();
                Box::pin(async { Ok(true) })
            })
    }

    fn taken(&self, span: tracing::Span) {
        *self.holder.lock().unwrap_or_else(|e| e.into_inner()) = Some(Holder { since: Instant::now(), span });
    }

    /// Logs the holder if it held the connection too long.
    fn given_back(&self) {
        let Some(holder) = self.holder.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let held = holder.since.elapsed();
        if held >= self.warning {
            tracing::warn!(
                parent: &holder.span,
                held_ms = held.as_millis() as u64,
                "SQLite's write connection was held long; every other writer waited for it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// What the test's subscriber wrote.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Takes the one connection inside a span named for its holder, gives it back outside that span, and
    /// returns what was logged once the pool has it back.
    async fn hold_and_give_back(warning: Duration) -> String {
        let written = Written::default();
        let sink = written.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            // Warnings, and this test's span (a span the filter disables leaves no trace in the warning).
            .with_env_filter("warn,tanis::store::sqlite::write_hold=info")
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let holds = WriteHolds::new(warning);
        let pool = holds.hook(SqlitePoolOptions::new().max_connections(1)).connect("sqlite::memory:").await.unwrap();
        let conn = {
            let _job = tracing::info_span!("job", worker = "content-purge").entered();
            pool.acquire().await.unwrap()
        };
        drop(conn);
        // The pool gives the connection back (and runs its hook) before this second acquire can have it.
        drop(pool.acquire().await.unwrap());
        pool.close().await;
        String::from_utf8(written.0.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test]
    async fn a_long_hold_is_logged_in_the_span_that_took_the_connection() {
        let logged = hold_and_give_back(Duration::ZERO).await;
        assert!(logged.contains("write connection was held long"), "{logged}");
        assert!(logged.contains("job{worker=\"content-purge\"}"), "{logged}");
        assert!(logged.contains("held_ms="), "{logged}");
    }

    #[tokio::test]
    async fn a_short_hold_is_not_logged() {
        let logged = hold_and_give_back(Duration::from_secs(3600)).await;
        assert_eq!(logged, "");
    }
}
