//! Asking for a match (`match.find`) and taking the question back (`match.cancel`). A find is decided by
//! [`admission::admit`] (consent, units, region, a verified phone, the limits of new and unverified accounts,
//! quarantine: docs/admin.md "Trust") on the user's standing; this file only gathers it (cached beside the sockets,
//! or read from the store), answers a refusal with its error code, counts the finds of limited accounts, and hands
//! the find to the matchmaker, which answers `match.queued` or pairs at once.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use tanis_proto::{ErrorCode, InterestMatching, MatchKind, Region, ServerFrame};

use crate::accounts::must_accept_notice;
use crate::domain::trust::{self, Account};
use crate::domain::{Country, Interests, Languages, UserId};
use crate::hub::Hub;
use crate::hub::context::Ctx;
use crate::matching::admission::{self, Admitted, Applicant, Row, Wish};
use crate::matching::rules::{Candidate, MAX_RADIUS_KM, RegionRefusal};
use crate::matching::standing::Standing;
use crate::matching::{Pairing, Queued, Seeker};
use crate::quota;
use crate::store::{StoreError, UserRow};

/// What the matchmaker is handed of the user besides the admission, from the cached standing or the store.
struct Known {
    excluded: HashSet<UserId>,
    interests: Interests,
    languages: Languages,
    country: Option<Country>,
    location: Option<(f64, f64)>,
}

impl Known {
    fn of(s: &mut Standing, since: DateTime<Utc>) -> Self {
        Known {
            excluded: s.excluded(since),
            interests: s.interests,
            languages: s.languages,
            country: s.country,
            location: s.location,
        }
    }

    /// The queue entry of an admitted find.
    fn candidate(self, user_id: UserId, wish: &Wish, admitted: &Admitted, now: DateTime<Utc>) -> Candidate {
        Candidate {
            user_id,
            kind: wish.kind,
            excluded: self.excluded,
            nearby: admitted.nearby,
            queued_at: now,
            interests: self.interests,
            interest_matching: wish.interests,
            languages: self.languages,
            region: wish.region,
            country: self.country,
            location: self.location,
            quarantined: admitted.quarantined,
        }
    }
}

/// What the trust limits are decided on. A banned user never gets this far (the find refuses them first).
fn account_of(user: &UserRow) -> Account {
    Account { created_at: user.created_at, phone_verified: user.phone_verified_at.is_some(), banned: false }
}

/// A `match.find` that could not be queued: the `error` answering it.
struct Refused(ServerFrame);

fn refuse(id: &Option<String>, code: ErrorCode, message: &str) -> Refused {
    Refused(ServerFrame::error(id.clone(), code, message))
}

/// The `error` answering what admission refused; `notice_version` is the privacy notice to accept.
fn answer(id: &Option<String>, refusal: admission::Refusal, notice_version: &str) -> Refused {
    match refusal {
        admission::Refusal::Banned => refuse(id, ErrorCode::Banned, "the account is banned"),
        admission::Refusal::ConsentRequired => {
            let message = format!("accept privacy notice version {notice_version} first");
            refuse(id, ErrorCode::ConsentRequired, &message)
        }
        admission::Refusal::QuotaExhausted { resets_at } => {
            let mut frame =
                ServerFrame::error(id.clone(), ErrorCode::QuotaExhausted, "no matches of this kind left today");
            if let ServerFrame::Error { resets_at: at, .. } = &mut frame {
                *at = Some(resets_at);
            }
            Refused(frame)
        }
        admission::Refusal::Region(refusal) => refuse_region(id, refusal),
        admission::Refusal::PhoneUnverified => {
            refuse(id, ErrorCode::PhoneUnverified, "verify your phone number before matching")
        }
    }
}

/// The `error` answering a region the find may not ask for.
fn refuse_region(id: &Option<String>, refusal: RegionRefusal) -> Refused {
    match refusal {
        RegionRefusal::RadiusOutOfRange => {
            refuse(id, ErrorCode::InvalidField, &format!("radius_km must be 1 to {MAX_RADIUS_KM}"))
        }
        RegionRefusal::PremiumRequired => {
            refuse(id, ErrorCode::PremiumRequired, "restricting a find to a region is for premium accounts")
        }
        RegionRefusal::LocationRequired => {
            refuse(id, ErrorCode::LocationRequired, "set a location in your profile to find within a radius")
        }
        RegionRefusal::CountryUnknown => {
            refuse(id, ErrorCode::InvalidField, "your country is not known yet: sign in again with your phone number")
        }
    }
}

/// `match.find`: the public key checked, then the find.
pub(in crate::hub) async fn find(
    ctx: &mut Ctx,
    id: Option<String>,
    kind: MatchKind,
    public_key: String,
    nearby: bool,
    interests: InterestMatching,
    region: Region,
) {
    if STANDARD.decode(&public_key).map(|k| k.len()) != Ok(32) {
        return ctx.protocol_error(id, ErrorCode::InvalidBase64, "public_key must be 32 bytes in base64").await;
    }
    let wish = Wish { kind, nearby, interests, region };
    if let Err(refusal) = ctx.hub.seek(ctx.user_id, ctx.socket.id, id, wish, public_key).await {
        ctx.reply(refusal.0).await;
    }
}

/// `match.cancel`: out of the queue, if the user waits there.
pub(in crate::hub) async fn cancel(ctx: &Ctx, id: Option<String>) {
    match ctx.hub.matchmaker().cancel(ctx.user_id).await {
        true => ctx.reply(ServerFrame::MatchCancelled { id }).await,
        false => ctx.error(id, ErrorCode::NotQueued, "not waiting for a match").await,
    }
}

impl Hub {
    /// Admits a `match.find` (its key already validated) and hands it to the matchmaker, which answers
    /// `match.queued` (or pairs at once).
    async fn seek(
        &self,
        user_id: UserId,
        socket_id: u64,
        id: Option<String>,
        wish: Wish,
        public_key: String,
    ) -> Result<(), Refused> {
        if self.active_match(user_id).is_some() {
            return Err(refuse(&id, ErrorCode::AlreadyInMatch, "leave your current match first"));
        }
        let now = self.now();
        let (admitted, known) = self.admit_find(user_id, &id, &wish, now).await?;
        if let Some(per_minute) = admitted.finds_per_minute
            && !self.limiters().finds.allow(user_id, per_minute as f64 / 60.0, per_minute).await
        {
            let message =
                format!("new and unverified accounts may look for {per_minute} matches a minute; wait a little");
            return Err(refuse(&id, ErrorCode::RateLimited, &message));
        }
        let candidate = known.candidate(user_id, &wish, &admitted, now);
        let seeker = Seeker { candidate, socket_id, request_id: id.clone(), public_key };
        match self.matchmaker().find(seeker).await {
            // Newly queued in the cluster, the elected matchmaker answers (see `matching::cluster`).
            Ok(Queued::Answered | Queued::Newly) => {}
            Ok(Queued::Already(seeker)) => Pairing::queued(self, &seeker, false),
            Ok(Queued::Opening(seeker)) => {
                Pairing::queued(self, &seeker, false);
                self.ask_again_if_unmatched(seeker, wish);
            }
            Err(e) => {
                tracing::error!(error = %e, "queueing in the cluster");
                return Err(refuse(&id, ErrorCode::Internal, "try again"));
            }
        }
        Ok(())
    }

    /// A find that met a node opening the user's match: `match.found` follows, unless that node lost its claim's
    /// settle (a Redis failover), which then looks like a match being opened until `cluster.claim_timeout_ms`.
    /// Once that passed, if the user is still connected here and has no match, the find is asked again: it takes
    /// the stale claim over. Its answer (`match.queued`, or a refusal) goes to the same socket.
    fn ask_again_if_unmatched(&self, seeker: Seeker, wish: Wish) {
        let Some(after) = self.delivery().cluster().map(|c| c.claim_timeout()) else { return };
        let hub = self.clone();
        let again: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            tokio::select! {
                _ = hub.loops().shutdown.cancelled() => return,
                _ = tokio::time::sleep(after + after / 10) => {}
            }
            let user_id = seeker.user_id();
            if !hub.sockets().is_connected(user_id) || hub.active_match(user_id).is_some() {
                return;
            }
            let Seeker { socket_id, request_id, public_key, .. } = seeker;
            if let Err(refused) = hub.seek(user_id, socket_id, request_id, wish, public_key).await {
                let to = crate::delivery::SocketRef { user_id, socket_id };
                hub.delivery().to_socket(to, &refused.0);
            }
        });
        tokio::spawn(again);
    }

    /// Admits a find by [`admission::admit`], on the standing cached beside the user's sockets or read from the
    /// store (and then cached); with what the matchmaker is handed of them, or the `error` answering a refusal.
    async fn admit_find(
        &self,
        user_id: UserId,
        id: &Option<String>,
        wish: &Wish,
        now: DateTime<Utc>,
    ) -> Result<(Admitted, Known), Refused> {
        let refused = |refusal| answer(id, refusal, &self.settings().privacy_notice_version);
        let since = now - TimeDelta::hours(self.settings().matching.recent_partner_hours.into());
        let (rules, sockets) = (self.admission(), self.sockets());
        // The hot path reads nothing: the standing cached beside the user's sockets answers, unless it refuses for
        // consent or units (it may have missed the notice accepted, a refund or the daily reset), they ask for
        // nearby partners (the location is read fresh) or restrict the find to a region (premium, country and
        // location are read fresh: a subscription that just ended ends the restriction). The store re-checks all
        // of it when the match is created.
        if !wish.reads_fresh() {
            let cached = sockets.with_standing(user_id, |s| {
                let verdict = admission::admit(&Applicant { standing: s, row: None }, wish, now, rules);
                (!verdict.is_err_and(|r| r.may_be_stale())).then(|| (verdict, Known::of(s, since)))
            });
            if let Some(Some((verdict, known))) = cached {
                return verdict.map(|admitted| (admitted, known)).map_err(refused);
            }
        }
        // Taken before reading: an event that changes the standing meanwhile makes this copy stale.
        let version = sockets.standing_version(user_id);
        let (user, mut standing) = self
            .load_standing(user_id, since)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "match.find");
                refuse(id, ErrorCode::Internal, "try again")
            })?
            .ok_or_else(|| refuse(id, ErrorCode::Banned, "no account"))?;
        let row = Row { banned: user.is_banned, premium: user.is_premium };
        let verdict = admission::admit(&Applicant { standing: &standing, row: Some(row) }, wish, now, rules);
        if verdict == Err(admission::Refusal::Banned) {
            // A banned user's standing is not kept.
            return Err(refused(admission::Refusal::Banned));
        }
        let known = Known::of(&mut standing, since);
        sockets.set_standing(user_id, standing, version);
        verdict.map(|admitted| (admitted, known)).map_err(refused)
    }

    /// Reads the user and what matching needs to know of them from the store; `None` when there is no such user.
    pub(super) async fn load_standing(
        &self,
        user_id: UserId,
        since: DateTime<Utc>,
    ) -> Result<Option<(UserRow, Standing)>, StoreError> {
        let store = self.store();
        let Some(user) = store.user_by_id(user_id).await? else { return Ok(None) };
        let blocked = store.blocked_either_way(user_id).await?.into_iter().collect();
        let partners = store.partners_since(user_id, since).await?.into_iter().collect();
        let consented = !must_accept_notice(&user.privacy_notice_version, &self.settings().privacy_notice_version);
        let (interests, languages) = (user.interests(), user.chosen_languages());
        let (country, location) = (user.country(), user.location_lat.zip(user.location_lon));
        let balances = quota::balances(&user);
        let account = account_of(&user);
        let reports = store.trust_reports(user_id).await?;
        let quarantined = trust::quarantined(&reports, self.now(), &self.settings().trust);
        let standing = Standing {
            balances,
            blocked,
            partners,
            consented,
            interests,
            languages,
            country,
            location,
            account,
            quarantined,
        };
        Ok(Some((user, standing)))
    }

    /// Takes a skip token when the user is held to the limits of new and unverified accounts; `Some(limit)` when
    /// none is left. Reads the account only when matching's cached standing is gone.
    pub(in crate::hub) async fn allow_skip(&self, user_id: UserId) -> Result<Option<u32>, StoreError> {
        let cached = self.sockets().with_standing(user_id, |s| s.account);
        let account = match cached {
            Some(account) => account,
            None => match self.store().user_by_id(user_id).await? {
                Some(user) => account_of(&user),
                None => return Ok(None),
            },
        };
        let Some(per_minute) = trust::limits(&account, self.now(), &self.settings().trust).skips_per_minute else {
            return Ok(None);
        };
        let allowed = self.limiters().skips.allow(user_id, per_minute as f64 / 60.0, per_minute).await;
        Ok((!allowed).then_some(per_minute))
    }
}
