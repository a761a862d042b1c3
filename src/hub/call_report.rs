//! Call quality: each side's one `rtc.stats` report per video match, checked and turned into metrics for
//! operators (docs/operations.md, "Call quality"). The figures are never stored, only the mark that a side's
//! report was counted, so a retry or a second call in the same match cannot count twice. The frame holds numbers
//! and one enum: nothing in it can carry an address or an identifier.

use std::time::Duration;

use chrono::TimeDelta;
use tanis_proto::{CallOutcome, ErrorCode, MatchKind, ServerFrame};

use super::context::Ctx;
use crate::domain::MatchId;

/// How long after its match ended a report is still taken: a failed call is often reported after the peer,
/// tired of waiting, has already left the match.
const LATE_REPORT: TimeDelta = TimeDelta::minutes(2);
/// Longer setups are not believable: a client gives up well before (the web client after 30 s).
const MAX_SETUP_MS: i64 = 10 * 60 * 1000;
/// A round trip over a minute is a broken clock, not a slow relay.
const MAX_RTT_MS: i64 = 60 * 1000;
/// A billion packets is more than a day of video at any rate a phone sends.
const MAX_PACKETS: i64 = 1_000_000_000;

/// An `rtc.stats` frame's figures as they came off the wire.
pub(super) struct Figures {
    pub(super) outcome: CallOutcome,
    pub(super) setup_ms: i64,
    pub(super) rtt_ms: Option<i64>,
    pub(super) packets_sent: Option<i64>,
    pub(super) packets_lost: Option<i64>,
}

/// A report whose figures are all believable.
#[derive(Debug, PartialEq)]
pub(super) struct CallReport {
    outcome: CallOutcome,
    setup: Duration,
    rtt: Option<Duration>,
    /// Sent and lost, always together: a loss ratio needs both.
    packets: Option<(u64, u64)>,
}

impl CallReport {
    /// Checks every figure; the error names the first one out of range.
    pub(super) fn parse(f: &Figures) -> Result<Self, &'static str> {
        let ms = |v: i64| Duration::from_millis(v as u64);
        if !(0..=MAX_SETUP_MS).contains(&f.setup_ms) {
            return Err("setup_ms must be 0 to 600000");
        }
        if f.rtt_ms.is_some_and(|rtt| !(0..=MAX_RTT_MS).contains(&rtt)) {
            return Err("rtt_ms must be 0 to 60000");
        }
        let packets = match (f.packets_sent, f.packets_lost) {
            (None, None) => None,
            (Some(sent), Some(lost)) if (0..=MAX_PACKETS).contains(&sent) && (0..=sent).contains(&lost) => {
                Some((sent as u64, lost as u64))
            }
            (Some(_), Some(_)) => return Err("packets_sent must be 0 to 1e9 and packets_lost 0 to packets_sent"),
            _ => return Err("packets_sent and packets_lost come together"),
        };
        Ok(CallReport { outcome: f.outcome, setup: ms(f.setup_ms), rtt: f.rtt_ms.map(ms), packets })
    }

    /// Adds the report to the call-quality metrics. Time to connect is a connected call's only: a failure's
    /// setup time is how long the client waited, which says nothing about the relay.
    fn record(&self) {
        metrics::counter!("tanis_rtc_call_setups_total", "outcome" => self.outcome.as_str()).increment(1);
        if self.outcome == CallOutcome::Connected {
            metrics::histogram!("tanis_rtc_time_to_connect_seconds").record(self.setup.as_secs_f64());
        }
        if let Some(rtt) = self.rtt {
            metrics::histogram!("tanis_rtc_relay_rtt_seconds").record(rtt.as_secs_f64());
        }
        if let Some((sent, lost)) = self.packets {
            metrics::counter!("tanis_rtc_packets_sent_total").increment(sent);
            metrics::counter!("tanis_rtc_packets_lost_total").increment(lost);
        }
    }
}

/// Handles `rtc.stats`: the checks of the other `rtc.*` frames (membership, then the figures, then the signalling
/// rate), then counts the first report of this user for this match and answers `ok` to every accepted one.
pub(super) async fn receive(ctx: &mut Ctx, id: Option<String>, match_id: MatchId, figures: Figures) {
    let hub = ctx.hub.clone();
    let now = hub.now();
    let active = hub.active_match(ctx.user_id).is_some_and(|a| a.match_id == match_id && a.kind == MatchKind::Video);
    if !active {
        match hub.store().video_match_ended_since(match_id, ctx.user_id, now - LATE_REPORT).await {
            Ok(true) => {}
            Ok(false) => {
                return ctx.error(id, ErrorCode::NotInMatch, "no such video match, or it ended too long ago").await;
            }
            Err(e) => return ctx.internal(id, e).await,
        }
    }
    let report = match CallReport::parse(&figures) {
        Ok(report) => report,
        Err(why) => return ctx.protocol_error(id, ErrorCode::InvalidField, why).await,
    };
    if !hub.allow_signal(ctx.user_id).await {
        return ctx.error(id, ErrorCode::RateLimited, "too many signalling frames; slow down").await;
    }
    match hub.store().mark_call_reported(match_id, ctx.user_id, now).await {
        Ok(true) => report.record(),
        // A retry, or a report of a later call in the same match: answered all the same, counted once.
        Ok(false) => {}
        Err(e) => return ctx.internal(id, e).await,
    }
    ctx.reply(ServerFrame::Ok { id }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(setup_ms: i64, rtt_ms: Option<i64>, packets: Option<(i64, i64)>) -> Figures {
        Figures {
            outcome: CallOutcome::Connected,
            setup_ms,
            rtt_ms,
            packets_sent: packets.map(|p| p.0),
            packets_lost: packets.map(|p| p.1),
        }
    }

    #[test]
    fn believable_figures_are_taken_with_their_units() {
        let report = CallReport::parse(&figures(1500, Some(42), Some((1000, 7)))).unwrap();
        assert_eq!(report.setup, Duration::from_millis(1500));
        assert_eq!(report.rtt, Some(Duration::from_millis(42)));
        assert_eq!(report.packets, Some((1000, 7)));
        assert!(CallReport::parse(&figures(MAX_SETUP_MS, None, None)).is_ok(), "the bounds are inclusive");
        assert!(CallReport::parse(&figures(0, Some(0), Some((0, 0)))).is_ok());
    }

    #[test]
    fn negative_absurd_or_inconsistent_figures_are_refused() {
        for bad in [
            figures(-1, None, None),
            figures(MAX_SETUP_MS + 1, None, None),
            figures(10, Some(-5), None),
            figures(10, Some(MAX_RTT_MS + 1), None),
            figures(10, None, Some((10, 11))),
            figures(10, None, Some((-1, 0))),
            figures(10, None, Some((10, -1))),
            figures(10, None, Some((MAX_PACKETS + 1, 0))),
            Figures { packets_sent: Some(10), ..figures(10, None, None) },
            Figures { packets_lost: Some(0), ..figures(10, None, None) },
        ] {
            assert!(CallReport::parse(&bad).is_err(), "{:?}", (bad.setup_ms, bad.rtt_ms, bad.packets_sent));
        }
    }
}
