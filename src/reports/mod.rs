//! Reports, from a parsed request to their stored rows and what they change, as `matching::find` owns a find.
//! Three doors take one: the socket's `report` frame (a chat report, with the messages the reporter chose to
//! reveal), the same frame with `not_as_declared` ([`declared`]), and `POST /v1/reports/call` (a report made from a
//! video call, with the viewer's classifier verdict and, only if they chose, one snapshot). The doors parse and
//! answer, each in its own words for the same [`Refusal`]; everything between is here:
//!
//! 1. the request's bounds (details, how many reveals, a verdict, a snapshot's type and size);
//! 2. the match: the reporter was in it, and for a call report it was a video match;
//! 3. the evidence: each reveal verified against what the server bound when the message was sent
//!    ([`crate::domain::evidence`]); one that does not verify refuses the whole report;
//! 4. the rows, in one transaction ([`crate::store::Store::insert_report`]): a snapshot sealed first
//!    ([`SnapshotVault`]); nothing is stored on any refusal;
//! 5. the trust effects: one more open report may quarantine the reported user, so matching reads their standing
//!    again ([`crate::delivery::Delivery::standing_changed`]); a child-safety report from a reporter who counts
//!    holds their video matching at once ([`trust::holds_video`]); the automatic ban is the jobs' (tanis-workers).

mod declared;
mod snapshots;

use chrono::TimeDelta;
use tanis_proto::{MatchKind, ReportReason, Reveal};

pub use snapshots::SnapshotVault;

use crate::clock::SharedClock;
use crate::delivery::Delivery;
use crate::domain::call_reports;
use crate::domain::evidence::{self, MAX_DETAILS, MAX_REVEALS, Parties};
use crate::domain::{Lane, MatchId, UserId, trust};
use crate::notices::Notice;
use crate::store::{CallLimits, Filed, MatchRow, NewCall, NewReport, SealedSnapshot, Store, StoreError};

/// Call reports one user may file: a burst, and a day's worth (a flood of them is itself a signal, and each may
/// carry a quarter of a megabyte).
const CALL_LIMITS: CallLimits = CallLimits { per_ten_minutes: 5, per_day: 20 };

/// What reports are decided by, from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long after it was sent a message can be revealed in a report (`jobs.report_window_days`).
    pub window: TimeDelta,
    /// The longest ciphertext a message may have (`hub.max_message_bytes`): no revealed text is longer.
    pub max_message_bytes: usize,
    /// Who counts toward the automatic ban and quarantine (`[trust]`).
    pub trust: crate::domain::trust::Rules,
    /// What a "not as declared" report refunds, and when the reports suspend a declaration (`[trust]`).
    pub declarations: crate::domain::declarations::Policy,
}

/// Takes reports. Cheap to clone.
#[derive(Clone)]
pub struct Reports {
    store: Store,
    delivery: Delivery,
    clock: SharedClock,
    snapshots: SnapshotVault,
    settings: Settings,
}

/// Who reports which match, and from where: the keyed hash of the reporter's address range
/// ([`crate::domain::trust::address_range`]), when their address is known.
#[derive(Debug, Clone, Copy)]
pub struct Reporter<'a> {
    pub user_id: UserId,
    pub match_id: MatchId,
    pub network: Option<&'a [u8]>,
}

/// A report as its door parsed it.
pub enum Filing {
    /// The socket's `report` (any reason but `not_as_declared`), with the messages revealed.
    Chat { reason: ReportReason, details: Option<String>, reveals: Vec<Reveal> },
    /// The socket's `report` with `not_as_declared`: one tap, no words and no evidence.
    NotAsDeclared { details: Option<String>, reveals: Vec<Reveal> },
    /// `POST /v1/reports/call`: the snapshot decoded, not yet checked.
    Call { reason: ReportReason, details: Option<String>, verdict: Option<(String, f64)>, snapshot: Option<Snapshot> },
}

/// A call report's snapshot as it came: the type it declares and its bytes.
pub struct Snapshot {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Why a report was refused; nothing of it was stored.
#[derive(Debug)]
pub enum Refusal {
    /// The details are over [`MAX_DETAILS`] characters.
    DetailsTooLong,
    /// More than [`MAX_REVEALS`] messages revealed.
    TooManyReveals,
    /// A `not_as_declared` report with details or evidence.
    DeclaredTakesNothing,
    /// `not_as_declared` by the call report's door: it is the match's, by socket.
    DeclaredFromCall,
    /// The reporter was not in that match.
    NotMatched,
    /// A call report of a match that is not a video match.
    NotVideo,
    /// The snapshot or the verdict is out of bounds.
    Call(call_reports::Refusal),
    /// The reveal at this place of the evidence did not verify.
    Evidence(usize, evidence::Refusal),
    /// A revealed message is already evidence of the reporter's report.
    Replayed,
    /// A call report beyond the reporter's limits.
    Limited,
    /// The store failed; the door answers `internal`.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

impl Reports {
    pub fn new(
        store: Store,
        delivery: Delivery,
        clock: SharedClock,
        snapshots: SnapshotVault,
        settings: Settings,
    ) -> Self {
        Reports { store, delivery, clock, snapshots, settings }
    }

    /// How long after it was sent a message can be revealed in a report.
    pub fn window(&self) -> TimeDelta {
        self.settings.window
    }

    /// The vault the snapshots were sealed with, to open one for a moderator.
    pub fn snapshots(&self) -> &SnapshotVault {
        &self.snapshots
    }

    /// Takes a report: stores it, with its verified evidence or its call part, and has matching read the reported
    /// user's standing again when it counts anew. A repeat about the same user counts once (its evidence is added).
    pub async fn file(&self, by: Reporter<'_>, filing: Filing) -> Result<(), Refusal> {
        match filing {
            Filing::Chat { reason, details, reveals } => self.chat(by, reason, details, reveals).await,
            Filing::NotAsDeclared { details, reveals } => {
                if details.is_some() || !reveals.is_empty() {
                    return Err(Refusal::DeclaredTakesNothing);
                }
                declared::file(self, by).await
            }
            Filing::Call { reason, details, verdict, snapshot } => {
                self.call(by, reason, details, verdict, snapshot).await
            }
        }
    }

    async fn chat(
        &self,
        by: Reporter<'_>,
        reason: ReportReason,
        details: Option<String>,
        reveals: Vec<Reveal>,
    ) -> Result<(), Refusal> {
        check_details(details.as_deref())?;
        if reveals.len() > MAX_REVEALS {
            return Err(Refusal::TooManyReveals);
        }
        let reported = self.peer(by).await?.0;
        // No message's text is longer than its ciphertext, which the hub limits.
        let shaped = evidence::check_shape(&reveals, self.settings.max_message_bytes)
            .map_err(|(index, refusal)| Refusal::Evidence(index, refusal))?;
        let seqs: Vec<_> = reveals.iter().map(|r| r.seq).collect();
        let bound = self.store.bound_messages(by.match_id, &seqs).await?;
        let now = self.clock.now();
        let parties = Parties { reporter: by.user_id, reported, window_start: now - self.settings.window };
        let verified = evidence::verify(&reveals, &shaped, &bound, parties)
            .map_err(|(index, refusal)| Refusal::Evidence(index, refusal))?;
        let report = NewReport {
            reporter_id: by.user_id,
            reported_id: reported,
            match_id: by.match_id,
            reason: reason.as_str(),
            details: details.as_deref(),
            evidence: &verified,
            network: by.network,
            call: None,
            now,
        };
        self.store(reported, &report).await
    }

    async fn call(
        &self,
        by: Reporter<'_>,
        reason: ReportReason,
        details: Option<String>,
        verdict: Option<(String, f64)>,
        snapshot: Option<Snapshot>,
    ) -> Result<(), Refusal> {
        if reason == ReportReason::NotAsDeclared {
            return Err(Refusal::DeclaredFromCall);
        }
        check_details(details.as_deref())?;
        if let Some((label, score)) = &verdict {
            call_reports::check_verdict(label, *score).map_err(Refusal::Call)?;
        }
        // The rule refuses one over the cap, as well as one that is not an image of its declared type.
        let image = match &snapshot {
            None => None,
            Some(s) => {
                Some((call_reports::check_snapshot(&s.content_type, &s.bytes).map_err(Refusal::Call)?, &s.bytes))
            }
        };
        let (reported, row) = self.peer(by).await?;
        if row.kind != MatchKind::Video {
            return Err(Refusal::NotVideo);
        }
        let sealed = image.map(|(content_type, bytes)| (content_type, self.snapshots.seal(bytes), bytes.len()));
        let report = NewReport {
            reporter_id: by.user_id,
            reported_id: reported,
            match_id: by.match_id,
            reason: reason.as_str(),
            details: details.as_deref(),
            evidence: &[],
            network: by.network,
            call: Some(NewCall {
                verdict: verdict.as_ref().map(|(label, score)| (label.as_str(), *score)),
                snapshot: sealed.as_ref().map(|(content_type, sealed, bytes)| SealedSnapshot {
                    content_type,
                    sealed,
                    bytes: i32::try_from(*bytes).expect("under the cap"),
                }),
                limits: CALL_LIMITS,
            }),
            now: self.clock.now(),
        };
        self.store(reported, &report).await
    }

    /// The reported user: the reporter's peer in the match, and the match.
    async fn peer(&self, by: Reporter<'_>) -> Result<(UserId, MatchRow), Refusal> {
        let row = self.store.match_of_participant(by.match_id, by.user_id).await?.ok_or(Refusal::NotMatched)?;
        Ok((row.peer_of(by.user_id).expect("a participant has a peer"), row))
    }

    async fn store(&self, reported: UserId, report: &NewReport<'_>) -> Result<(), Refusal> {
        match self.store.insert_report(report).await? {
            Filed::New | Filed::Reopened => {
                if Lane::of(report.reason) == Lane::ChildSafety
                    && let Err(e) = self.hold_video(reported).await
                {
                    // The report is stored and waits first in the queue; the next one about them judges again.
                    tracing::error!(error = %e, "holding a reported user's video failed");
                }
                // One more open report may quarantine them: matching reads their standing again.
                self.delivery.standing_changed(reported);
                Ok(())
            }
            Filed::Repeat => Ok(()),
            Filed::Limited => Err(Refusal::Limited),
            Filed::Replayed => Err(Refusal::Replayed),
        }
    }

    /// Holds the user's video matching when their reports now say so ([`trust::holds_video`]): at once, on one
    /// child-safety report from a reporter the trust rules count, until a moderator decides.
    async fn hold_video(&self, user: UserId) -> Result<(), StoreError> {
        let reports = self.store.trust_reports(user).await?;
        if !trust::holds_video(&reports, self.clock.now(), &self.settings.trust) {
            return Ok(());
        }
        let notice = Notice::VideoHeld {}.to_row();
        if self.store.hold_video(user, &notice, self.clock.now()).await? {
            metrics::counter!("tanis_video_holds_total").increment(1);
            tracing::info!(user_id = user.get(), "video matching held on a child-safety report");
        }
        Ok(())
    }
}

fn check_details(details: Option<&str>) -> Result<(), Refusal> {
    match details.is_some_and(|d| d.chars().count() > MAX_DETAILS) {
        true => Err(Refusal::DetailsTooLong),
        false => Ok(()),
    }
}
