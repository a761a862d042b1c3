//! Video signalling: `rtc.*` frames are forwarded only between the two members of an active video match, within
//! size and rate limits, and — with `video.relay_only` (the default) — stripped of every non-relay ICE candidate
//! and every address that could reveal a peer's IP. The SDP therefore reaches the server unencrypted; message
//! content stays end-to-end encrypted (see docs/protocol.md, "Video").

use tanis_proto::{ErrorCode, MatchKind, RtcConfig, ServerFrame};
use tanis_signaling::privacy::{sanitize_candidate, sanitize_sdp};

use super::Hub;
use super::context::Ctx;
use crate::domain::{MatchId, UserId};

/// One signalling request.
pub(super) enum Signal {
    Offer(String),
    Answer(String),
    Ice { candidate: String, sdp_mid: Option<String>, sdp_mline_index: Option<u16> },
    Connected,
    Hangup,
}

impl Hub {
    /// ICE servers with fresh ephemeral credentials ([`VideoSettings::rtc_config`]).
    pub fn rtc_config(&self) -> RtcConfig {
        self.settings().video.rtc_config(self.now())
    }

    /// One reading of the embedded TURN server's counters, when it runs on this node.
    pub fn turn_stats(&self) -> Option<tanis_signaling::TurnStats> {
        self.settings().video.turn_counters.as_ref().map(|c| c.snapshot())
    }

    pub(super) async fn allow_signal(&self, user_id: UserId) -> bool {
        let c = &self.settings().video.config;
        self.limiters().signals.allow(user_id, c.signals_per_second.into(), c.signal_burst).await
    }
}

/// Forwards one signalling frame to the peer, after the checks and the privacy filter.
pub(super) async fn forward(ctx: &mut Ctx, id: Option<String>, match_id: MatchId, signal: Signal) {
    let hub = ctx.hub.clone();
    let Some(active) = hub.active_match(ctx.user_id).filter(|a| a.match_id == match_id && a.kind == MatchKind::Video)
    else {
        return ctx.error(id, ErrorCode::NotInMatch, "no such active video match").await;
    };
    let config = &hub.settings().video.config;
    let too_big = match &signal {
        Signal::Offer(sdp) | Signal::Answer(sdp) => sdp.len() > config.max_sdp_bytes,
        Signal::Ice { candidate, .. } => candidate.len() > config.max_candidate_bytes,
        Signal::Connected | Signal::Hangup => false,
    };
    if too_big {
        return ctx.protocol_error(id, ErrorCode::MessageTooLarge, "signalling payload over the limit").await;
    }
    if !hub.allow_signal(ctx.user_id).await {
        return ctx.error(id, ErrorCode::RateLimited, "too many signalling frames; slow down").await;
    }
    let relay_only = config.relay_only;
    let sdp = |sdp: String| {
        if !relay_only {
            return sdp;
        }
        let filtered = sanitize_sdp(&sdp);
        metrics::counter!("tanis_rtc_candidates_removed_total", "source" => "sdp").increment(filtered.removed as u64);
        filtered.sdp
    };
    let store = hub.store();
    let now = hub.now();
    let frame = match signal {
        Signal::Offer(offer) => ServerFrame::RtcOffer { match_id, sdp: sdp(offer) },
        Signal::Answer(answer) => ServerFrame::RtcAnswer { match_id, sdp: sdp(answer) },
        Signal::Ice { candidate, sdp_mid, sdp_mline_index } => {
            // An empty candidate means "end of candidates": it carries no address.
            let candidate = match (relay_only, candidate.trim().is_empty()) {
                (false, _) | (true, true) => candidate,
                (true, false) => match sanitize_candidate(&candidate) {
                    Some(relay) => relay,
                    None => {
                        metrics::counter!("tanis_rtc_candidates_removed_total", "source" => "trickle").increment(1);
                        return;
                    }
                },
            };
            ServerFrame::RtcIce { match_id, candidate, sdp_mid, sdp_mline_index }
        }
        Signal::Connected => {
            if let Err(e) = store.mark_call_connected(match_id, now).await {
                return ctx.internal(id, e).await;
            }
            metrics::counter!("tanis_rtc_calls_connected_total").increment(1);
            return ctx.reply(ServerFrame::Ok { id }).await;
        }
        Signal::Hangup => {
            if let Err(e) = store.mark_call_ended(match_id, now).await {
                return ctx.internal(id, e).await;
            }
            ServerFrame::RtcHangup { match_id }
        }
    };
    hub.delivery().to_user_in_match(active.peer_id, match_id, &frame);
}
