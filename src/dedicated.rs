//! Running a hot single-task loop on a thread of its own, for the SQLite store.
//!
//! The group commit runs a loop of short database statements, and the matchmaker waits on its commits. sqlx
//! runs SQLite statements on a connection thread that wakes the waiting task from outside the runtime; such a wake-up
//! lands in the runtime's global queue and waits behind hundreds of busy socket tasks every time, which
//! stretched each batch far beyond its database time (BENCHMARKS.md: +50 % relay throughput when moved).
//! On a thread with its own single-threaded runtime the loop runs as soon as its statement is done.
//!
//! PostgreSQL connections are sockets registered with the I/O driver of the runtime that opened them, and die with
//! it. A loop that moves to a thread of its own on PostgreSQL therefore opens its own connections there
//! ([`crate::store::Store::for_batches`]): the group commit does, since each of its batch's statements is a
//! round trip whose answer, on the main runtime, waited behind the busy socket tasks too (BENCHMARKS.md, issue 79
//! point 3). The matchmaker stays an ordinary task on PostgreSQL.

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
    spawn_thread(name, move || task)
}

/// Spawns the future `make` returns on a named thread with a single-threaded runtime of its own; `make` runs on
/// that thread, inside the runtime, so what it opens (a pool's connections) belongs to it.
pub fn spawn_thread<M, F>(name: &str, make: M) -> Running
where
    M: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()> + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build the runtime of {name}: {e}"));
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || runtime.block_on(async move { make().await }))
        .unwrap_or_else(|e| panic!("cannot start the thread of {name}: {e}"));
    Running::Thread(thread)
}
