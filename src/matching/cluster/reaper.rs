//! The elected matchmaker's check for waiting users nobody can reach: their node died with them (its entries were
//! adopted), or their socket's close never reached Redis. Such a place waits until someone compatible asks, which
//! for a narrow wish may be hours, and it holds what the user declared and wished for (docs/privacy.md "Gender").
//!
//! Every half presence TTL it reads the places the matchmaker holds and asks presence about each user; one seen
//! without a socket anywhere at two checks in a row, with the same request, leaves the queue (`LEAVE` of that
//! request: the matchmaker reads it and forgets them). Two checks, so a phone switching networks, gone from presence
//! for a moment, keeps its place. A killed node's users look present until their presence lapses (one TTL), so a
//! place of a dead node goes within twice the presence TTL of the death, a lease later when the node held it.
//!
//! The decision ([`Reaper::decide`]) does no I/O: the task asks Redis, and the simulation of matching asks its
//! model of presence (src/matching/simulation/election.rs), both through it.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::ClusterQueue;
use crate::delivery::Cluster;
use crate::domain::UserId;
use crate::matching::Seeker;

pub(crate) struct Reaper {
    every: Duration,
    next: Instant,
    /// The requests (user, ask) seen without a socket at the last check.
    unreachable: HashSet<(UserId, String)>,
}

impl Reaper {
    pub(super) fn new(cluster: &Cluster) -> Self {
        Self::every(cluster.presence_ttl() / 2)
    }

    /// A reaper checking every `every`, the first time `every` from now.
    pub(crate) fn every(every: Duration) -> Self {
        Reaper { every, next: Instant::now() + every, unreachable: HashSet::new() }
    }

    /// Which of the places checked leave the queue now: each seen unreachable at the last check too, with the same
    /// request. `checked` holds every place the matchmaker holds, with whether presence knows a socket of its user
    /// (a place whose check failed counts as reachable); the unreachable rest are remembered for the next check.
    pub(crate) fn decide(&mut self, checked: impl IntoIterator<Item = (Seeker, bool)>) -> Vec<Seeker> {
        let (mut unreachable, mut leaving) = (HashSet::new(), Vec::new());
        for (seeker, reachable) in checked {
            if reachable {
                continue;
            }
            let request = (seeker.user_id(), seeker.ask.as_str().to_owned());
            if self.unreachable.contains(&request) {
                leaving.push(seeker);
            } else {
                unreachable.insert(request);
            }
        }
        self.unreachable = unreachable;
        leaving
    }

    /// A place [`Reaper::decide`] let go of that could not be taken out: it leaves at the next check it is
    /// still unreachable at.
    pub(crate) fn retry(&mut self, seeker: &Seeker) {
        self.unreachable.insert((seeker.user_id(), seeker.ask.as_str().to_owned()));
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
        let mut checked = Vec::with_capacity(waiting.len());
        for seeker in waiting {
            // Redis not answering says nothing of the user: they are taken for present.
            let reachable = cluster.reachable(seeker.user_id()).await.unwrap_or(true);
            checked.push((seeker, reachable));
        }
        let mut removed = 0;
        for seeker in self.decide(checked) {
            match queue.leave_request(&seeker).await {
                Ok(left) => removed += usize::from(left),
                Err(e) => {
                    tracing::warn!(error = %e, "taking an unreachable user out of the cluster queue");
                    self.retry(&seeker);
                }
            }
        }
        if removed > 0 {
            metrics::counter!("tanis_matching_unreachable_removed_total").increment(removed as u64);
        }
        removed
    }
}
