//! Where a node puts the seekers its sockets send: its own matchmaker (one node), the cluster's queue in Redis,
//! or first its own matchmaker and then the cluster's queue ([`super::cluster::local`]).

use super::{Fresh, Matchmaker, Seeker, cluster};
use crate::domain::UserId;

/// Where this node's seekers wait: its own matchmaker, or the cluster's queue in Redis (paired by the elected
/// node's matchmaker, [`cluster`]), or first this node's matchmaker and then the cluster's queue.
#[derive(Clone)]
pub enum Queue {
    Local(Matchmaker),
    Cluster(cluster::ClusterQueue),
    /// Held by this node's matchmaker, which hands whoever it could not pair to the cluster's queue.
    LocalFirst {
        here: Matchmaker,
        cluster: cluster::ClusterQueue,
    },
}

/// What became of a seeker handed to [`Queue::find`].
pub enum Queued {
    /// A matchmaker of this node has them, and answers (`match.queued`, `already_queued`, or a match).
    Answered,
    /// Newly in the cluster's queue: the elected matchmaker answers `match.queued` when it reads them.
    Newly,
    /// They waited already; the place is the asking socket's now. The caller answers `already_queued`.
    Already(Seeker),
    /// Their match is being opened by a node (the caller answers `already_queued`; `match.found` follows), or that
    /// node lost the claim's settle, which goes stale after `cluster.claim_timeout_ms`: the caller asks again then.
    Opening(Seeker),
}

impl Queue {
    /// Queues the seeker, or finds them waiting already (see [`Queued`]).
    pub async fn find(&self, seeker: Seeker) -> redis::RedisResult<Queued> {
        let held = match self {
            Queue::Local(matchmaker) => {
                matchmaker.find(seeker).await;
                return Ok(Queued::Answered);
            }
            Queue::Cluster(queue) => queue.find(&seeker).await?,
            // One who ranks partners is shown the whole cluster's waiters at once.
            Queue::LocalFirst { cluster, .. } if seeker.candidate.ranks_partners() => cluster.find(&seeker).await?,
            // Held here once the cluster's queue says the user waits nowhere else, or waits here already (sent
            // again); this matchmaker answers.
            Queue::LocalFirst { here, cluster } => match cluster.hold(&seeker).await? {
                cluster::Hold::New => {
                    here.find(seeker).await;
                    return Ok(Queued::Answered);
                }
                cluster::Hold::Again => {
                    here.find_again(seeker).await;
                    return Ok(Queued::Answered);
                }
                other => other,
            },
        };
        Ok(match held {
            cluster::Hold::New => Queued::Newly,
            cluster::Hold::Opening => Queued::Opening(seeker),
            cluster::Hold::Again | cluster::Hold::Elsewhere => Queued::Already(seeker),
        })
    }

    /// Changes whom the user may meet if they wait (a block or a report since they asked), and the gender they
    /// consent to, wherever they wait; false when Redis did not take it, or the place is being opened (the caller
    /// tries again later).
    pub async fn refresh(&self, user_id: UserId, fresh: Fresh) -> bool {
        let cluster = match self {
            Queue::Local(here) => {
                here.refresh(user_id, fresh).await;
                return true;
            }
            Queue::Cluster(cluster) => cluster,
            // Redis is rewritten once this node's matchmaker has the change: a hand-over from its memory before
            // then would put back what the rewrite took out.
            Queue::LocalFirst { here, cluster } => {
                here.refresh(user_id, fresh.clone()).await;
                cluster
            }
        };
        match cluster.refresh(user_id, &fresh).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "refreshing a place in the cluster queue; retrying");
                false
            }
        }
    }

    /// Removes the user from the queue; true when they were waiting.
    pub async fn cancel(&self, user_id: UserId) -> bool {
        match self {
            Queue::Local(matchmaker) => matchmaker.cancel(user_id).await,
            Queue::Cluster(queue) => queue.leave(user_id, None).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "leaving the cluster queue");
                false
            }),
            // Another node may hold the user: it finds them gone from the queue when it claims or hands over. A place
            // being opened (claimed) stays, and is let go of if the opening fails for the partner (`LEAVE` marks
            // it cancelled).
            Queue::LocalFirst { here, cluster } => {
                let left = cluster.leave(user_id, None).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "leaving the cluster queue");
                    false
                });
                here.forget(user_id).await;
                left
            }
        }
    }

    /// Removes the user's entry if this socket made it (the socket is closing).
    pub async fn socket_closed(&self, user_id: UserId, socket_id: u64) {
        let cluster = match self {
            Queue::Local(matchmaker) => return matchmaker.socket_closed(user_id, socket_id).await,
            Queue::Cluster(cluster) => cluster,
            Queue::LocalFirst { here, cluster } => {
                here.socket_closed(user_id, socket_id).await;
                cluster
            }
        };
        if let Err(e) = cluster.leave(user_id, Some(socket_id)).await {
            // Left behind, the entry would hold the user's wish until someone compatible asked: tried again until
            // Redis takes it (only the entry this socket made: a later find keeps its place).
            tracing::warn!(error = %e, "leaving the cluster queue; retrying");
            tokio::spawn(leave_later(cluster.clone(), user_id, socket_id));
        }
    }
}

/// [`Queue::socket_closed`]'s leave once Redis answers again: every half second at first, then every 5 s, for as
/// long as a node's tasks live (a node that dies meanwhile leaves the place to the elected matchmaker's check for
/// unreachable users, [`cluster`]'s reaper).
async fn leave_later(cluster: cluster::ClusterQueue, user_id: UserId, socket_id: u64) {
    let mut pause = std::time::Duration::from_millis(500);
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
        if cluster.leave(user_id, Some(socket_id)).await.is_ok() {
            return;
        }
    }
}
