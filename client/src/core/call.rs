//! A video match's call, signalling only: the app's WebRTC stack (Android's libwebrtc, iOS's WebRTC framework) makes
//! the offer, the answer and the candidates, and the core carries them to the stranger and back (docs/protocol.md
//! section 11). The server filters what could reveal an address (the relay-only policy), so the app must use the
//! `rtc` configuration of `match.found` (ICE servers, `relay` transport) as it is. The core times the setup from the
//! first offer sent or received, and reports it once (`rtc.stats`, numbers only) when the call connects or fails.

use tanis_proto::{CallOutcome, ClientFrame, MatchKind};

use super::port::{Millis, Output};
use super::{Core, CoreError};

/// One signalling message of a call, as the app's WebRTC stack gives it or takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Offer { sdp: String },
    Answer { sdp: String },
    Ice { candidate: String, sdp_mid: Option<String>, sdp_mline_index: Option<u16> },
}

/// What the stack measured of a connected call, where it could.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    pub rtt_ms: Option<u64>,
    pub packets_sent: Option<u64>,
    pub packets_lost: Option<u64>,
}

/// The call of the current video match.
#[derive(Debug, Default)]
pub(crate) struct Call {
    /// When the offer/answer exchange began (the first offer sent or received).
    started: Option<Millis>,
    reported: bool,
}

impl Call {
    /// An offer begins a call's setup (a new one after a hang-up, too).
    pub(crate) fn offered(&mut self, now: Millis) {
        if self.started.is_none() || self.reported {
            *self = Call { started: Some(now), reported: false };
        }
    }
}

impl Core {
    /// Sends a signalling message of the app's WebRTC stack to the stranger.
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`] without a video match.
    pub fn signal(&mut self, signal: Signal, now: Millis) -> Result<Vec<Output>, CoreError> {
        let match_id = self.video_match()?;
        let id = Some(self.request_id());
        let frame = match signal {
            Signal::Offer { sdp } => {
                self.call.offered(now);
                ClientFrame::RtcOffer { id, match_id, sdp }
            }
            Signal::Answer { sdp } => ClientFrame::RtcAnswer { id, match_id, sdp },
            Signal::Ice { candidate, sdp_mid, sdp_mline_index } => {
                ClientFrame::RtcIce { id, match_id, candidate, sdp_mid, sdp_mline_index }
            }
        };
        self.send_frame(&frame);
        Ok(self.take())
    }

    /// The call connected (the peer connection reached `connected`): `rtc.connected`, then its one report.
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`] without a video match.
    pub fn call_connected(&mut self, measured: Measured, now: Millis) -> Result<Vec<Output>, CoreError> {
        let match_id = self.video_match()?;
        let frame = ClientFrame::RtcConnected { id: Some(self.request_id()), match_id };
        self.send_frame(&frame);
        self.call_report(CallOutcome::Connected, measured, now);
        Ok(self.take())
    }

    /// The call failed (ICE failed, or the app gave up waiting): its one report.
    ///
    /// # Errors
    /// [`CoreError::NotInMatch`] without a video match.
    pub fn call_failed(&mut self, now: Millis) -> Result<Vec<Output>, CoreError> {
        self.video_match()?;
        self.call_report(CallOutcome::Failed, Measured::default(), now);
        Ok(self.take())
    }

    /// `rtc.stats`, once per call, for a call whose setup began (a call that never got an offer reports nothing).
    fn call_report(&mut self, outcome: CallOutcome, measured: Measured, now: Millis) {
        let Some(started) = self.call.started.filter(|_| !self.call.reported) else { return };
        self.call.reported = true;
        let Ok(match_id) = self.video_match() else { return };
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        // RTCP's cumulative loss can run ahead of what this side counted as sent; the server refuses lost > sent.
        let lost = match (measured.packets_sent, measured.packets_lost) {
            (Some(sent), Some(lost)) => Some(lost.min(sent)),
            (_, lost) => lost,
        };
        let frame = ClientFrame::RtcStats {
            id: Some(self.request_id()),
            match_id,
            outcome,
            setup_ms: count(now.0.saturating_sub(started.0)),
            rtt_ms: measured.rtt_ms.map(count),
            packets_sent: measured.packets_sent.map(count),
            packets_lost: lost.map(count),
        };
        self.send_frame(&frame);
    }

    fn video_match(&self) -> Result<tanis_proto::MatchId, CoreError> {
        self.conversation
            .as_ref()
            .filter(|c| c.info.kind == MatchKind::Video)
            .map(super::conversation::Conversation::match_id)
            .ok_or(CoreError::NotInMatch)
    }
}
