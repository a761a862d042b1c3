//! What the relay counts, for operators (Prometheus) and for the leak checks of the tests.
//!
//! Plain relaxed atomics: the data path bumps them per batch of datagrams, and a reader only ever
//! wants a recent value, never a consistent cut across counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// A cheap, cloneable handle on the relay's counters; it outlives the server (reads after
/// [`super::EmbeddedTurn::close`] show the final values).
#[derive(Clone, Default)]
pub struct TurnCounters(Arc<Counters>);

#[derive(Default)]
pub(super) struct Counters {
    /// Allocations alive now; a `watch` (changed only by control requests and the reaper, never
    /// per datagram) so tests and shutdown can await "all freed" instead of polling.
    allocations_active: watch::Sender<u64>,
    pub(super) allocations_total: AtomicU64,
    pub(super) allocations_failed: AtomicU64,
    pub(super) permissions_total: AtomicU64,
    pub(super) channel_binds_total: AtomicU64,
    pub(super) packets_relayed: AtomicU64,
    pub(super) bytes_relayed: AtomicU64,
    pub(super) packets_dropped: AtomicU64,
}

/// One reading of [`TurnCounters`]. Every field but `allocations_active` only grows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Allocations alive now (each holds one relay socket).
    pub allocations_active: u64,
    /// Allocations created since start.
    pub allocations_total: u64,
    /// Allocate requests refused for capacity or a socket error (not for credentials).
    pub allocations_failed: u64,
    /// CreatePermission peers and ChannelBind requests granted since start.
    pub permissions_total: u64,
    pub channel_binds_total: u64,
    /// Datagrams and payload bytes relayed, both directions (client → peer and peer → client).
    pub packets_relayed: u64,
    pub bytes_relayed: u64,
    /// Datagrams the relay could not pass on: no permission or channel, a forbidden peer, a full
    /// stream client's queue, or a send error.
    pub packets_dropped: u64,
}

impl TurnCounters {
    pub fn snapshot(&self) -> TurnStats {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TurnStats {
            allocations_active: *c.allocations_active.borrow(),
            allocations_total: get(&c.allocations_total),
            allocations_failed: get(&c.allocations_failed),
            permissions_total: get(&c.permissions_total),
            channel_binds_total: get(&c.channel_binds_total),
            packets_relayed: get(&c.packets_relayed),
            bytes_relayed: get(&c.bytes_relayed),
            packets_dropped: get(&c.packets_dropped),
        }
    }

    /// Watches the number of live allocations.
    pub fn watch_allocations(&self) -> watch::Receiver<u64> {
        self.0.allocations_active.subscribe()
    }

    pub(super) fn get(&self) -> &Counters {
        &self.0
    }
}

impl Counters {
    pub(super) fn relayed(&self, packets: u64, bytes: u64) {
        if packets > 0 {
            self.packets_relayed.fetch_add(packets, Ordering::Relaxed);
            self.bytes_relayed.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub(super) fn dropped(&self, packets: u64) {
        if packets > 0 {
            self.packets_dropped.fetch_add(packets, Ordering::Relaxed);
        }
    }

    pub(super) fn allocated(&self) {
        self.allocations_active.send_modify(|n| *n += 1);
        self.allocations_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn freed(&self, n: u64) {
        if n > 0 {
            self.allocations_active.send_modify(|a| *a = a.saturating_sub(n));
        }
    }

    pub(super) fn allocation_failed(&self) {
        self.allocations_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn permitted(&self, peers: u64) {
        self.permissions_total.fetch_add(peers, Ordering::Relaxed);
    }

    pub(super) fn channel_bound(&self) {
        self.channel_binds_total.fetch_add(1, Ordering::Relaxed);
    }
}
