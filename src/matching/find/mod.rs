//! Matching's door: a `match.find` taken from its parsed frame to `match.found`. The hub hands over the request
//! and sends back the refusal this returns, if any; everything between is here:
//!
//! - [`admit`]: the user's standing (consent, units, trust, blocks, region, languages, interests), cached in their
//!   live state or read from the store, and [`admission::admit`] on it; a refusal's `error`;
//! - `mod.rs`: the rate limit of limited accounts, the queue ([`Queue`]: this node's matchmaker, the cluster's,
//!   or both);
//! - [`open`]: the matchmaker's pairs opened through the group commit, `match.found` to both sides through
//!   delivery;
//! - [`refresh`]: a waiting user's place told of a block or report at once.
//!
//! The matchmaker ([`super::Matchmaker`]) never reaches up for any of it: it is handed this module's opener.

mod admit;
mod open;
mod refresh;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tanis_proto::{ErrorCode, InterestMatching, MatchKind, Region, ServerFrame};
use tokio_util::sync::CancellationToken;

use super::admission::{self, Wish};
use super::rules::{GenderWish, Policy};
use super::{Matchmaker, Queue, Queued, Seeker, Sweeps, cluster};
use crate::clock::SharedClock;
use crate::config::{MatchingConfig, QuotaConfig};
use crate::dedicated::Running;
use crate::delivery::{Delivery, SocketRef};
use crate::domain::UserId;
use crate::group_commit::Committer;
use crate::live::LiveUsers;
use crate::rate;
use crate::store::Store;
use crate::video::VideoSettings;

pub use admit::account_of;
use admit::refuse;
use open::MatchOpener;

/// What a find is decided and opened by, from the server's configuration.
#[derive(Clone)]
pub struct Settings {
    pub matching: MatchingConfig,
    pub quotas: QuotaConfig,
    /// The privacy notice version a user must have accepted to be matched (`auth.privacy_notice_version`).
    pub privacy_notice_version: String,
    /// The limits on new and unverified accounts, and who waits in quarantine (`[trust]`).
    pub trust: crate::domain::trust::Rules,
    /// The ICE servers a video match is given in `match.found`.
    pub video: VideoSettings,
    /// What a find needs an assured age for, and the age (`age_assurance.required_for`, `threshold`).
    pub age_required_for: crate::domain::RequiredFor,
    pub age_threshold: u8,
    /// In a cluster (`redis_url` set, and delivery through Redis too): matching's own link to Redis and its
    /// `[cluster]` settings.
    pub cluster: Option<cluster::Link>,
}

/// What matching works through: the store it reads standings from, the live state of the users connected here
/// (their match, their cached standing), the group commit that writes matches, delivery that tells users, the
/// server's clock.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub live: Arc<LiveUsers>,
    pub writer: Committer,
    pub delivery: Delivery,
    pub clock: SharedClock,
}

/// A `match.find` as the hub parsed it (its public key checked).
pub struct Request {
    /// The client's request id, echoed in the answer.
    pub id: Option<String>,
    pub kind: MatchKind,
    pub public_key: String,
    pub nearby: bool,
    pub interests: InterestMatching,
    pub region: Region,
    /// Checked by the hub (`invalid_field` for none or a repeated gender).
    pub seeking: Option<GenderWish>,
}

/// This node's matching: cheap to clone.
#[derive(Clone)]
pub struct Finder {
    inner: Arc<Inner>,
}

struct Inner {
    services: Services,
    settings: Arc<Settings>,
    /// What a find is admitted by, built once (the quota zone parsed once, not per find).
    admission: admission::Rules,
    queue: Queue,
    /// `match.find` buckets of new and unverified accounts (`[trust]`).
    finds: rate::Limiter,
    /// When this node's matchmaker last swept its queue.
    sweeps: Sweeps,
    /// In a cluster, whether every node understands a gender wish (a rolling update may be under way).
    wishes: Option<cluster::Wishes>,
    shutdown: CancellationToken,
}

impl Finder {
    /// Starts this node's matching: its matchmaker (one node), or its part of the cluster's (the election, and
    /// with `cluster.local_pairing_ms` a matchmaker of its own seekers first), and the loop that keeps waiting
    /// users' places current. The tasks to join before the store closes are returned; all stop with `shutdown`.
    pub fn start(services: Services, settings: Settings, shutdown: CancellationToken) -> (Self, Vec<Running>) {
        let m = &settings.matching;
        let policy = Policy {
            start_km: m.nearby_start_km,
            doubling_secs: m.nearby_doubling_secs,
            interest_fallback_secs: m.interest_fallback_secs,
            gender_fallback_secs: m.gender_fallback_secs,
            common_language: m.require_common_language,
        };
        let admission = admission::Rules {
            trust: settings.trust,
            reset_zone: settings.quotas.zone(),
            age_required_for: settings.age_required_for,
        };
        // Matching across nodes needs delivery across them too: startup makes both of `redis_url`.
        let joined = services.delivery.cluster().cloned().zip(settings.cluster.clone());
        let settings = Arc::new(settings);
        let opener = Arc::new(MatchOpener::new(services.clone(), settings.clone()));
        let (clock, sweeps) = (services.clock.clone(), Sweeps::default());
        let mut running = Vec::new();
        let wishes = joined.as_ref().map(|_| cluster::Wishes::default());
        let queue = match joined {
            None => {
                let (matchmaker, task) =
                    Matchmaker::spawn(opener, &services.store, clock, policy, sweeps.clone(), shutdown.clone());
                running.push(task);
                Queue::Local(matchmaker)
            }
            Some((cluster, link)) => {
                let (shared, hold) = (cluster::ClusterQueue::new(&link, cluster.node()), link.local_pairing);
                let election = cluster::elect(
                    opener.clone(),
                    cluster.clone(),
                    clock.clone(),
                    policy,
                    sweeps.clone(),
                    link,
                    wishes.clone().expect("a cluster's"),
                    shutdown.clone(),
                );
                running.push(Running::Task(tokio::spawn(election)));
                match hold {
                    zero if zero.is_zero() => Queue::Cluster(shared),
                    hold => {
                        let pairing = Arc::new(cluster::local::LocalFirst::new(opener, shared.clone()));
                        let (here, task) =
                            Matchmaker::spawn_local_first(pairing, clock, policy, hold, shutdown.clone());
                        running.push(task);
                        Queue::LocalFirst { here, cluster: shared }
                    }
                }
            }
        };
        let finds = rate::Limiter::of_node(services.delivery.cluster(), &services.clock, "finds");
        let inner = Inner { services, settings, admission, queue, finds, sweeps, wishes, shutdown };
        let finder = Finder { inner: Arc::new(inner) };
        tokio::spawn(finder.clone().standing_loop());
        (finder, running)
    }

    /// Admits a `match.find` and hands it to the queue, which answers `match.queued` (or pairs at once); the
    /// `error` to answer the asking socket with when it is refused.
    pub async fn find(&self, user_id: UserId, socket_id: u64, request: Request) -> Result<(), ServerFrame> {
        let Request { id, kind, public_key, nearby, interests, region, seeking } = request;
        let wish = Wish { kind, nearby, interests, region, seeking };
        self.seek(user_id, socket_id, id, wish, public_key).await
    }

    async fn seek(
        &self,
        user_id: UserId,
        socket_id: u64,
        id: Option<String>,
        mut wish: Wish,
        public_key: String,
    ) -> Result<(), ServerFrame> {
        if self.live().active_match(user_id).is_some() {
            return Err(refuse(&id, ErrorCode::AlreadyInMatch, "leave your current match first"));
        }
        let now = self.inner.services.clock.now();
        let (admitted, known) = self.admit(user_id, &id, &wish, now).await?;
        if let Some(per_minute) = admitted.finds_per_minute
            && !self.inner.finds.allow(user_id, per_minute as f64 / 60.0, per_minute).await
        {
            let message =
                format!("new and unverified accounts may look for {per_minute} matches a minute; wait a little");
            return Err(refuse(&id, ErrorCode::RateLimited, &message));
        }
        // A node of the previous release, or its matchmaker, would pair without the wish: `only` waits until the
        // update is over, `prefer` is queued as a plain find (it falls back to anyone anyway).
        if let Some(seeking) = wish.seeking
            && self.inner.wishes.as_ref().is_some_and(|w| !w.understood())
        {
            if !seeking.prefers() {
                let message =
                    "a node of this service does not know `seeking` yet (an update is under way): find again later";
                return Err(refuse(&id, ErrorCode::SeekingUnavailable, message));
            }
            wish.seeking = None;
        }
        let asked_after = known.matches_opened;
        let candidate = known.candidate(user_id, &wish, &admitted, now);
        let seeker = Seeker::new(candidate, socket_id, id.clone(), public_key, asked_after);
        match self.inner.queue.find(seeker).await {
            // Newly queued in the cluster, the elected matchmaker answers (see `matching::cluster`).
            Ok(Queued::Answered | Queued::Newly) => {}
            Ok(Queued::Already(seeker)) => self.already_queued(&seeker),
            Ok(Queued::Opening(seeker)) => {
                self.already_queued(&seeker);
                self.ask_again_if_unmatched(seeker, wish);
            }
            Err(e) => {
                tracing::error!(error = %e, "queueing in the cluster");
                return Err(refuse(&id, ErrorCode::Internal, "try again"));
            }
        }
        Ok(())
    }

    fn already_queued(&self, seeker: &Seeker) {
        MatchOpener::tell_queued(self.delivery(), seeker, false);
    }

    /// A find that met a node opening the user's match: `match.found` follows, unless that node lost its claim's
    /// settle (a Redis failover), which then looks like a match being opened until `cluster.claim_timeout_ms`.
    /// Once that passed, if the user is still connected here and has no match, the find is asked again: it takes
    /// the stale claim over. Its answer (`match.queued`, or a refusal) goes to the same socket.
    fn ask_again_if_unmatched(&self, seeker: Seeker, wish: Wish) {
        let Some(after) = self.inner.settings.cluster.as_ref().map(|link| link.claim_timeout) else { return };
        let finder = self.clone();
        let again: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            tokio::select! {
                _ = finder.inner.shutdown.cancelled() => return,
                _ = tokio::time::sleep(after + after / 10) => {}
            }
            let user_id = seeker.user_id();
            let live = finder.live();
            if !live.is_connected(user_id) || live.active_match(user_id).is_some() {
                return;
            }
            let Seeker { socket_id, request_id, public_key, .. } = seeker;
            if let Err(refused) = finder.seek(user_id, socket_id, request_id, wish, public_key).await {
                finder.delivery().to_socket(SocketRef { user_id, socket_id }, &refused);
            }
        });
        tokio::spawn(again);
    }

    /// `match.cancel`, and a user leaving for good (a deletion): out of the queue; true when they were waiting.
    pub async fn cancel(&self, user_id: UserId) -> bool {
        self.inner.queue.cancel(user_id).await
    }

    /// A socket closed (delivery let it go): the user's place goes if that socket made it, and their finds
    /// bucket with their last socket here.
    pub async fn socket_closed(&self, user_id: UserId, socket_id: u64) {
        self.inner.queue.socket_closed(user_id, socket_id).await;
        if !self.live().is_connected(user_id) {
            self.inner.finds.forget(user_id);
        }
    }

    /// Where this node's seekers wait (a ban takes the user out of it).
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// Waits until this node's matchmaker has swept its queue at `at` or later on the server's clock (in a
    /// cluster, while this node is the elected one): whoever waiting had made compatible by then is paired. For
    /// tests, which move a manual clock and then wait for the sweep.
    pub async fn swept(&self, at: DateTime<Utc>) {
        self.inner.sweeps.reached(at).await;
    }

    fn delivery(&self) -> &Delivery {
        &self.inner.services.delivery
    }

    fn live(&self) -> &LiveUsers {
        &self.inner.services.live
    }
}
