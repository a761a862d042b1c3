//! The process's open-file limit and the sockets it leaves room for. A node holds one descriptor per socket; past
//! the limit `accept` fails with `EMFILE`, and a connection waiting in the listener's queue then hangs until its
//! client gives up. In a reconnect storm through nginx (BENCHMARKS.md, issue 79 point 5) the surviving node reached
//! its 20 000 descriptors and hung every reconnect sent to it, for minutes. Within the limit, a full node answers at
//! once with 4013 `overloaded`, and the client backs off and comes back (to another node behind a balancer).

/// Raises the process's soft open-file limit to the hard one, as nginx's `worker_rlimit_nofile` does: once, as
/// `tanis serve` starts, before the node is built.
pub fn raise_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "cannot raise the open-file limit");
    }
}

/// The process's soft open-file limit, which a node's sockets must fit in. `None` when it cannot be read (no such
/// limit here): the node keeps `hub.max_connections` as configured.
pub fn limit() -> Option<u64> {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => Some(soft),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            None
        }
    }
}

/// `max_connections` lowered to what `limit` descriptors hold beside what is not a client's socket: the database
/// and Redis connections, the TURN relay's sockets, files, and the accepts that answer 4013 once the node is full.
/// A quarter of the limit is kept for them, at most 500 (at 19 000 sockets a node held under 100 others).
pub fn sockets_within(max_connections: usize, limit: u64) -> usize {
    let reserved = (limit / 4).min(500);
    let room = usize::try_from(limit - reserved).unwrap_or(usize::MAX);
    max_connections.min(room).max(1)
}

#[cfg(test)]
mod tests {
    use super::sockets_within;

    #[test]
    fn the_sockets_leave_room_for_the_nodes_other_descriptors() {
        assert_eq!(sockets_within(100_000, 20_000), 19_500, "this machine's hard limit");
        assert_eq!(sockets_within(100_000, 1_048_576), 100_000, "a production limit: the setting stands");
        assert_eq!(sockets_within(100_000, 1_024), 768, "a small limit keeps a quarter");
        assert_eq!(sockets_within(500, 20_000), 500, "a lower setting stands");
        assert_eq!(sockets_within(100_000, 0), 1);
    }
}
