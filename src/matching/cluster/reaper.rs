//! The elected matchmaker's check for waiting users nobody can reach: their node died with them (its entries were
//! adopted), or their socket's close never reached Redis. Such a place waits until someone compatible asks, which
//! for a narrow wish may be hours, and it holds what the user declared and wished for (docs/privacy.md "Gender").
//!
//! Every half presence TTL it reads the places the matchmaker holds and asks presence about each user; one seen
//! without a socket anywhere at two checks in a row, with the same request, leaves the queue (`LEAVE` of that
//! request: the matchmaker reads it and forgets them). Two checks, so a phone switching networks, gone from presence
//! for a moment, keeps its place. A killed node's users look present until their presence lapses (one TTL), so a
//! place of a dead node goes within twice the presence TTL of the death, a lease later when the node held it.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::ClusterQueue;
use crate::delivery::Cluster;
use crate::domain::UserId;

pub(super) struct Reaper {
    every: Duration,
    next: Instant,
    /// The requests (user, ask) seen without a socket at the last check.
    unreachable: HashSet<(UserId, String)>,
}

impl Reaper {
    pub(super) fn new(cluster: &Cluster) -> Self {
        let every = cluster.presence_ttl() / 2;
        Reaper { every, next: Instant::now() + every, unreachable: HashSet::new() }
    }

    /// Checks the queue when a check is due; how many places it took out.
    pub(super) async fn tick(&mut self, queue: &ClusterQueue, cluster: &Cluster) -> usize {
        if Instant::now() < self.next {
            return 0;
        }
        self.next = Instant::now() + self.every;
        let waiting = match queue.entries().await {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::warn!(error = %e, "reading the cluster queue for unreachable users");
                return 0;
            }
        };
        let mut unreachable = HashSet::new();
        let mut removed = 0;
        for seeker in waiting {
            // Redis not answering says nothing of the user: they are taken for present.
            if cluster.reachable(seeker.user_id()).await.unwrap_or(true) {
                continue;
            }
            let request = (seeker.user_id(), seeker.ask.as_str().to_owned());
            if !self.unreachable.contains(&request) {
                unreachable.insert(request);
                continue;
            }
            match queue.leave_request(&seeker).await {
                Ok(left) => removed += usize::from(left),
                Err(e) => {
                    tracing::warn!(error = %e, "taking an unreachable user out of the cluster queue");
                    unreachable.insert(request);
                }
            }
        }
        self.unreachable = unreachable;
        if removed > 0 {
            metrics::counter!("tanis_matching_unreachable_removed_total").increment(removed as u64);
        }
        removed
    }
}
