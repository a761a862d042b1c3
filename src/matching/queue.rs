//! Where a node puts the seekers its sockets send: its own matchmaker (one node), the cluster's queue in Redis,
//! or first its own matchmaker and then the cluster's queue ([`super::cluster::local`]).

use super::{Matchmaker, Seeker, cluster};
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

impl Queue {
    /// Queues the seeker. Locally the matchmaker answers through [`Pairing::queued`]; in a cluster this
    /// returns whether they were newly queued, for the caller to answer.
    pub async fn find(&self, seeker: Seeker) -> redis::RedisResult<Option<(Seeker, bool)>> {
        match self {
            Queue::Local(matchmaker) => {
                matchmaker.find(seeker).await;
                Ok(None)
            }
            Queue::Cluster(queue) => {
                let newly = queue.find(&seeker).await?;
                Ok(Some((seeker, newly)))
            }
            // One who ranks partners is shown the whole cluster's waiters at once.
            Queue::LocalFirst { cluster, .. } if seeker.candidate.ranks_partners() => {
                let newly = cluster.find(&seeker).await?;
                Ok(Some((seeker, newly)))
            }
            // Held here once the cluster's queue says the user waits nowhere else, or waits here already (sent
            // again); this matchmaker answers.
            Queue::LocalFirst { here, cluster } => match cluster.hold(&seeker).await? {
                cluster::Hold::New => {
                    here.find(seeker).await;
                    Ok(None)
                }
                cluster::Hold::Again => {
                    here.find_again(seeker).await;
                    Ok(None)
                }
                cluster::Hold::Elsewhere => Ok(Some((seeker, false))),
            },
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
            // Another node may hold the user: it finds them gone from the queue when it claims or hands over.
            Queue::LocalFirst { here, cluster } => {
                here.forget(user_id).await;
                cluster.leave(user_id, None).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "leaving the cluster queue");
                    false
                })
            }
        }
    }

    /// Removes the user's entry if this socket made it (the socket is closing).
    pub async fn socket_closed(&self, user_id: UserId, socket_id: u64) {
        match self {
            Queue::Local(matchmaker) => matchmaker.socket_closed(user_id, socket_id).await,
            Queue::Cluster(queue) => {
                if let Err(e) = queue.leave(user_id, Some(socket_id)).await {
                    // The elected matchmaker drops seekers whose sockets are gone when it pairs them.
                    tracing::warn!(error = %e, "leaving the cluster queue");
                }
            }
            Queue::LocalFirst { here, cluster } => {
                here.socket_closed(user_id, socket_id).await;
                if let Err(e) = cluster.leave(user_id, Some(socket_id)).await {
                    tracing::warn!(error = %e, "leaving the cluster queue");
                }
            }
        }
    }
}
