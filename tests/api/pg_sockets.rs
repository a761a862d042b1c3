//! The store's PostgreSQL connections over TCP have Nagle's algorithm off (the vendored sqlx-core patch,
//! Cargo.toml `[patch.crates-io]`): without it each small protocol message waits for the server's delayed ACK.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::helpers::{Backend, fresh_database_url};

#[tokio::test]
async fn postgres_connections_over_tcp_send_without_delay() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(Backend::Postgres, dir.path()).await;
    let port: u16 = url.rsplit_once(':').unwrap().1.split('/').next().unwrap().parse().unwrap();
    let store = tanis::store::Store::connect(&url).await.unwrap();
    store.ping().await.unwrap();

    // This test process is the client: find its sockets connected to the database's port.
    let mut checked = 0;
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let Ok(fd) = entry.unwrap().file_name().to_string_lossy().parse::<i32>() else { continue };
        if !std::fs::read_link(format!("/proc/self/fd/{fd}")).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        {
            continue;
        }
        // SAFETY: the descriptor was just listed as open and is only borrowed for two getsockopt calls while the
        // store (which owns it) is alive; nothing here closes it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&borrowed);
        let to_database = socket.peer_addr().ok().and_then(|a| a.as_socket()).is_some_and(|a| a.port() == port);
        if to_database {
            assert!(socket.tcp_nodelay().unwrap(), "fd {} to the database has TCP_NODELAY off", borrowed.as_raw_fd());
            checked += 1;
        }
    }
    assert!(checked > 0, "found the store's connection to port {port}");
}
