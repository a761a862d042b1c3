//! Running a hot single-task loop on a thread of its own, for the SQLite store.
//!
//! The group commit runs a loop of short database statements, and the matchmaker waits on its commits. sqlx
//! runs SQLite statements on a connection thread that wakes the waiting task from outside the runtime; such a wake-up
//! lands in the runtime's global queue and waits behind hundreds of busy socket tasks every time, which
//! stretched each batch far beyond its database time (BENCHMARKS.md: +50 % relay throughput when moved).
//! On a thread with its own single-threaded runtime the loop runs as soon as its statement is done.
//!
//! PostgreSQL connections are sockets registered with the main runtime, whose wake-ups come from that
//! runtime's own I/O driver; and a connection opened from another runtime would die with it. So with
//! PostgreSQL these loops stay ordinary tasks.

use std::future::Future;

use crate::store::{BackendKind, Store};

/// A loop started by [`spawn_for_store`], to be joined at shutdown.
pub enum Running {
    Task(tokio::task::JoinHandle<()>),
    Thread(std::thread::JoinHandle<()>),
}

impl Running {
    /// Waits until the loop has returned (and, for a thread, the thread has exited).
    pub async fn join(self) {
        match self {
            Running::Task(task) => {
                let _ = task.await;
            }
            Running::Thread(thread) => {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
    }
}

/// Spawns `task` on a named thread when `store` is SQLite, else on the current runtime.
pub fn spawn_for_store<F>(store: &Store, name: &str, task: F) -> Running
where
    F: Future<Output = ()> + Send + 'static,
{
    if store.kind() != BackendKind::Sqlite {
        return Running::Task(tokio::spawn(task));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build the runtime of {name}: {e}"));
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(task))
        .unwrap_or_else(|e| panic!("cannot start the thread of {name}: {e}"));
    Running::Thread(thread)
}
