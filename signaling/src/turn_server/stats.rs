//! What the relay counts, for operators (Prometheus) and for the leak checks of the tests.
//!
//! Plain relaxed atomics: the data path bumps them per batch of datagrams, and a reader only ever
//! wants a recent value, never a consistent cut across counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A cheap, cloneable handle on the relay's counters; it outlives the server (reads after
/// [`super::EmbeddedTurn::close`] show the final values).
#[derive(Clone, Default)]
pub struct TurnCounters(Arc<Counters>);

#[derive(Default)]
pub(super) struct Counters {
    pub(super) allocations_active: AtomicU64,
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
            allocations_active: get(&c.allocations_active),
            allocations_total: get(&c.allocations_total),
            allocations_failed: get(&c.allocations_failed),
            permissions_total: get(&c.permissions_total),
            channel_binds_total: get(&c.channel_binds_total),
            packets_relayed: get(&c.packets_relayed),
            bytes_relayed: get(&c.bytes_relayed),
            packets_dropped: get(&c.packets_dropped),
        }
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

    pub(super) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
