//! Reporting how a video call went (`rtc.stats`, docs/protocol.md section 11): a stopwatch started when the
//! offer/answer exchange starts, and one report built from what the WebRTC stack measured, when the call connects
//! or when it fails, whichever comes first. The report holds numbers only: no address, no identifier.

use std::time::{Duration, Instant};

use tanis_proto::{CallOutcome, ClientFrame, MatchId};

/// What the WebRTC stack measured, where it could.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    /// The selected candidate pair's current round-trip time: through the relay, on a relay-only call.
    pub rtt: Option<Duration>,
    /// RTP packets this side sent, and how many of them the peer reported lost (remote-inbound RTCP).
    pub packets: Option<Packets>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packets {
    pub sent: u64,
    pub lost: u64,
}

/// One match's call setup: timed from [`CallReporter::start`], reported once.
#[derive(Debug)]
pub struct CallReporter {
    match_id: MatchId,
    started: Instant,
    reported: bool,
}

impl CallReporter {
    /// Starts the clock: call it when this side sends its offer or receives the peer's.
    pub fn start(match_id: MatchId) -> Self {
        CallReporter { match_id, started: Instant::now(), reported: false }
    }

    /// The `rtc.stats` frame for `outcome`, the first time only (the server counts one report per side and
    /// match; a later one would be answered `ok` and ignored).
    pub fn report(&mut self, outcome: CallOutcome, measured: Measured) -> Option<ClientFrame> {
        if std::mem::replace(&mut self.reported, true) {
            return None;
        }
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        // RTCP's cumulative loss can run ahead of what this side counted as sent; the server refuses lost > sent.
        let packets = measured.packets.map(|p| (count(p.sent), count(p.lost.min(p.sent))));
        Some(ClientFrame::RtcStats {
            id: Some(format!("stats-{}", self.match_id)),
            match_id: self.match_id,
            outcome,
            setup_ms: ms(self.started.elapsed()),
            rtt_ms: measured.rtt.map(ms),
            packets_sent: packets.map(|p| p.0),
            packets_lost: packets.map(|p| p.1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_reported_once_with_its_figures_in_milliseconds() {
        let mut call = CallReporter::start(MatchId(7));
        let measured =
            Measured { rtt: Some(Duration::from_micros(42_600)), packets: Some(Packets { sent: 100, lost: 150 }) };
        let Some(ClientFrame::RtcStats { match_id, outcome, setup_ms, rtt_ms, packets_sent, packets_lost, .. }) =
            call.report(CallOutcome::Connected, measured)
        else {
            panic!("the first report is made");
        };
        assert_eq!((match_id, outcome), (MatchId(7), CallOutcome::Connected));
        assert!((0..1000).contains(&setup_ms));
        assert_eq!((rtt_ms, packets_sent, packets_lost), (Some(42), Some(100), Some(100)));
        assert_eq!(call.report(CallOutcome::Failed, Measured::default()), None, "once per call");
    }
}
