//! Which function handles each client frame: a frame is checked for size and parsed here, then handed to its one
//! handler, and nothing else happens here. Replies to the asking socket go through [`Ctx::reply`]; frames for
//! other sockets go through delivery.

use tanis_proto::{ClientFrame, ErrorCode};

use super::call_report::{self, Figures};
use super::context::Ctx;
use super::signal::{self, Signal};
use super::{contacts, conversation, matches, report};

/// Handles one text frame.
pub(super) async fn handle(ctx: &mut Ctx, text: &str) {
    let parsed = ClientFrame::from_json(text);
    // Only a `report` may be larger than max_frame_bytes: 20 revealed messages need more (its own limit is the
    // socket's hard limit, `HubConfig::hard_frame_bytes`, which tungstenite enforces before the frame is read).
    // Told by parsing it whole, not by peeking at its text: the type is whatever the parser reads, whatever the
    // order of the keys, and a frame the parser refuses is simply too large.
    let report = matches!(parsed, Ok(ClientFrame::Report { .. }));
    if text.len() > ctx.hub.settings().hub.max_frame_bytes && !report {
        return ctx.protocol_error(None, ErrorCode::MessageTooLarge, "frame larger than max_frame_bytes").await;
    }
    let frame = match parsed {
        // Refused before anything of it is applied, whatever field holds it (tanis_proto::has_nul).
        Ok(frame) if tanis_proto::has_nul(text) => {
            let id = frame.id().map(str::to_owned);
            return ctx.protocol_error(id, ErrorCode::InvalidText, "a string holds U+0000, which is not stored").await;
        }
        Ok(frame) => frame,
        Err(e) => {
            // Echo the request id when the frame is JSON at all, so the client knows which request failed.
            let (code, id) = match serde_json::from_str::<serde_json::Value>(text) {
                Err(_) => (ErrorCode::MalformedJson, None),
                Ok(value) => (ErrorCode::InvalidFrame, value.get("id").and_then(|v| v.as_str()).map(str::to_owned)),
            };
            return ctx.protocol_error(id, code, &e.to_string()).await;
        }
    };
    match frame {
        ClientFrame::Ping { id } => ctx.pong(id).await,
        find @ ClientFrame::MatchFind { .. } => matches::find(ctx, find).await,
        ClientFrame::MatchCancel { id } => matches::cancel(ctx, id).await,
        ClientFrame::MatchLeave { id, match_id } => conversation::leave(ctx, id, match_id).await,
        // Version 1 knows no `ack` on a send: refused as the unknown field it was there before version 2.
        ClientFrame::MsgSend { id, ack: Some(_), .. } if !ctx.v2() => {
            let message = "unknown field `ack` (a cumulative acknowledgement needs protocol version 2, tanis.v2)";
            ctx.protocol_error(id, ErrorCode::InvalidFrame, message).await
        }
        ClientFrame::MsgSend { id, match_id, client_msg_id, ciphertext, nonce, commitment, ack } => {
            let message = conversation::Outgoing { client_msg_id, ciphertext, nonce, commitment };
            conversation::send(ctx, id, match_id, message, ack).await
        }
        ClientFrame::MsgAck { id, match_id, seq } => conversation::ack(ctx, id, match_id, seq).await,
        ClientFrame::Resume { id, match_id, after_seq } => conversation::resume(ctx, id, match_id, after_seq).await,
        ClientFrame::Typing { id, match_id } => conversation::typing(ctx, id, match_id).await,
        ClientFrame::Block { id, match_id } => conversation::block(ctx, id, match_id).await,
        ClientFrame::RtcOffer { id, match_id, sdp } => signal::forward(ctx, id, match_id, Signal::Offer(sdp)).await,
        ClientFrame::RtcAnswer { id, match_id, sdp } => signal::forward(ctx, id, match_id, Signal::Answer(sdp)).await,
        ClientFrame::RtcIce { id, match_id, candidate, sdp_mid, sdp_mline_index } => {
            signal::forward(ctx, id, match_id, Signal::Ice { candidate, sdp_mid, sdp_mline_index }).await
        }
        ClientFrame::RtcConnected { id, match_id } => signal::forward(ctx, id, match_id, Signal::Connected).await,
        ClientFrame::RtcHangup { id, match_id } => signal::forward(ctx, id, match_id, Signal::Hangup).await,
        ClientFrame::RtcStats { id, match_id, outcome, setup_ms, rtt_ms, packets_sent, packets_lost } => {
            call_report::receive(ctx, id, match_id, Figures { outcome, setup_ms, rtt_ms, packets_sent, packets_lost })
                .await
        }
        ClientFrame::Claim { id, match_id } => conversation::claim(ctx, id, match_id).await,
        ClientFrame::ContactPropose { id, match_id } => contacts::propose(ctx, id, match_id).await,
        ClientFrame::ContactKey { id, match_id, public_key } => {
            contacts::publish_key(ctx, id, match_id, public_key).await
        }
        ClientFrame::Report { id, match_id, reason_code, details, evidence } => {
            report::file(ctx, id, match_id, reason_code, details, evidence).await
        }
    }
}
