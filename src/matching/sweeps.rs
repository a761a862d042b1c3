//! Who can tell that the matchmaker swept its queue, and at which time: the sweep runs on the server's clock,
//! so a test that moves a manual clock waits for the sweep at the new time instead of for real time.

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The clock time of the matchmaker's latest pass over its queue, shared by every matchmaker a node runs (a
/// cluster node runs one each time it is elected).
#[derive(Debug, Clone)]
pub struct Sweeps(watch::Sender<Option<DateTime<Utc>>>);

impl Default for Sweeps {
    fn default() -> Self {
        Self(watch::Sender::new(None))
    }
}

impl Sweeps {
    /// A pass at `at` is over: whoever waiting made compatible was paired (and told).
    pub(super) fn done(&self, at: DateTime<Utc>) {
        self.0.send_replace(Some(at));
    }

    /// Waits until a pass at `at` or later is over.
    pub async fn reached(&self, at: DateTime<Utc>) {
        let mut passes = self.0.subscribe();
        // The sender lives as long as this handle: the wait ends only by reaching `at`.
        let _ = passes.wait_for(|latest| latest.is_some_and(|latest| latest >= at)).await;
    }
}
