//! Claims: "my match got no reply; give me my unit back". The verdict is a pure function over message
//! metadata; the job applies it exactly once.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tanis_proto::{MatchId, UserId};

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

/// How long the peer has to answer (text) or the call to connect (video).
pub const WINDOW: TimeDelta = TimeDelta::hours(2);
/// Claims decided per run; the rest wait for the next minute.
const BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Video,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Video => "video",
        }
    }
}

/// What the store knows about one pending claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimFacts {
    pub claim_id: i64,
    pub claimant_id: UserId,
    pub match_id: MatchId,
    pub kind: Kind,
    pub match_created_at: DateTime<Utc>,
    pub match_active: bool,
    /// Video: when the call connected, if it ever did.
    pub call_connected_at: Option<DateTime<Utc>>,
    /// The claimant's first message in the match.
    pub claimant_first_sent: Option<DateTime<Utc>>,
    /// The peer's first message in the match.
    pub peer_first_sent: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The window has not passed yet: decide later.
    Wait,
    Approved(&'static str),
    Rejected(&'static str),
}

/// The claim rule.
/// - text: approved when the claimant sent at least one message and the peer sent none within 2 hours of the
///   claimant's first message (a peer message at exactly +2 h still counts as a reply); decided once those
///   2 hours have passed.
/// - video: approved when the call never connected; decided once the match is over or 2 hours old.
pub fn verdict(f: &ClaimFacts, now: DateTime<Utc>) -> Verdict {
    match f.kind {
        Kind::Text => {
            let Some(first) = f.claimant_first_sent else {
                return Verdict::Rejected("you sent no message in this match");
            };
            if f.peer_first_sent.is_some_and(|peer| peer <= first + WINDOW) {
                return Verdict::Rejected("the other person replied");
            }
            if now <= first + WINDOW {
                return Verdict::Wait;
            }
            Verdict::Approved("no reply within 2 hours")
        }
        Kind::Video => {
            if f.call_connected_at.is_some() {
                return Verdict::Rejected("the call connected");
            }
            if f.match_active && now <= f.match_created_at + WINDOW {
                return Verdict::Wait;
            }
            Verdict::Approved("the call never connected")
        }
    }
}

/// A verdict to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub claim_id: i64,
    pub claimant_id: UserId,
    pub match_id: MatchId,
    pub kind: Kind,
    pub approved: bool,
    pub reason: &'static str,
}

/// Decides every pending claim whose window has passed.
pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let (mut approved, mut rejected) = (0, 0);
    for facts in ctx.store.pending_claims(BATCH).await? {
        let (ok, reason) = match verdict(&facts, now) {
            Verdict::Wait => continue,
            Verdict::Approved(reason) => (true, reason),
            Verdict::Rejected(reason) => (false, reason),
        };
        let decision = Decision {
            claim_id: facts.claim_id,
            claimant_id: facts.claimant_id,
            match_id: facts.match_id,
            kind: facts.kind,
            approved: ok,
            reason,
        };
        if ctx.store.decide_claim(&decision, now).await? {
            if ok {
                approved += 1;
                // The refund's notification, live to the claimant if they are online.
                ctx.live.notified(&[decision.claimant_id], now).await?;
            } else {
                rejected += 1;
            }
        }
    }
    if approved + rejected > 0 {
        ctx.store.log(JobAction::ClaimsRun, None, json!({ "approved": approved, "rejected": rejected }), now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn text(claimant_first: Option<i64>, peer_first: Option<i64>) -> ClaimFacts {
        ClaimFacts {
            claim_id: 1,
            claimant_id: UserId(1),
            match_id: MatchId(1),
            kind: Kind::Text,
            match_created_at: t(0),
            match_active: true,
            call_connected_at: None,
            claimant_first_sent: claimant_first.map(t),
            peer_first_sent: peer_first.map(t),
        }
    }

    #[test]
    fn a_text_claim_waits_exactly_two_hours_then_is_approved_without_a_reply() {
        let facts = text(Some(10), None);
        assert_eq!(verdict(&facts, t(130)), Verdict::Wait, "exactly 2 h after the first message");
        assert_eq!(verdict(&facts, t(130) + TimeDelta::microseconds(1)), Verdict::Approved("no reply within 2 hours"));
    }

    #[test]
    fn a_reply_within_the_window_even_at_its_last_instant_rejects_the_claim() {
        assert_eq!(verdict(&text(Some(10), Some(130)), t(200)), Verdict::Rejected("the other person replied"));
        assert_eq!(verdict(&text(Some(10), Some(5)), t(200)), Verdict::Rejected("the other person replied"));
        assert_eq!(verdict(&text(Some(10), Some(131)), t(200)), Verdict::Approved("no reply within 2 hours"));
    }

    #[test]
    fn a_claimant_who_never_wrote_is_rejected() {
        assert_eq!(verdict(&text(None, None), t(500)), Verdict::Rejected("you sent no message in this match"));
    }

    #[test]
    fn a_video_claim_is_approved_only_when_the_call_never_connected() {
        let mut facts = ClaimFacts { kind: Kind::Video, ..text(None, None) };
        assert_eq!(verdict(&facts, t(60)), Verdict::Wait, "the call may still connect");
        facts.match_active = false;
        assert_eq!(verdict(&facts, t(60)), Verdict::Approved("the call never connected"));
        facts.call_connected_at = Some(t(1));
        assert_eq!(verdict(&facts, t(60)), Verdict::Rejected("the call connected"));
    }
}
