//! What each client frame does. Replies to the asking socket go through [`Ctx::reply`]; frames for other
//! sockets go through delivery. Messages are answered by the relay's announcer, in order, only after their
//! batch is durably stored.

use std::collections::VecDeque;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use tanis_proto::{ClientFrame, CloseCode, EndReason, ErrorCode, ServerFrame};
use tokio::sync::Semaphore;

use super::Hub;
use super::call_report::{self, Figures};
use super::signal::{self, Signal};
use crate::delivery::SessionHandle;
use crate::group_commit::Reply;
use crate::group_commit::announce::ReceiptFrom;
use crate::store::{NewMessage, NewReport, Receipt};

/// The window over which protocol errors are counted: any 60 s (a sliding window on the hub's clock), so a burst
/// cannot hide by straddling the edge of a fixed one.
const ERROR_WINDOW: TimeDelta = TimeDelta::seconds(60);
/// Longest accepted `client_msg_id` and report `details`.
const MAX_CLIENT_MSG_ID: usize = 64;
const MAX_REPORT_DETAILS: usize = 1000;
/// Longest base64 nonce (24 bytes for XChaCha20 is 32 characters).
const MAX_NONCE_B64: usize = 64;
/// Messages sent per `resume` page read from the store.
const RESUME_PAGE: i64 = 200;

/// One socket's state while it reads.
pub(super) struct Ctx {
    pub(super) hub: Hub,
    pub(super) user_id: i64,
    session: SessionHandle,
    device: Option<String>,
    /// `max_in_flight` permits: one is held by every message not yet answered; with none left, this socket's
    /// reading pauses.
    in_flight: Arc<Semaphore>,
    /// When this socket's protocol errors of the last [`ERROR_WINDOW`] happened, oldest first. Never longer than
    /// `max_protocol_errors` + 1: the error that makes it longer than the limit closes the socket.
    errors: VecDeque<DateTime<Utc>>,
}

impl Ctx {
    pub(super) fn new(hub: Hub, user_id: i64, session: SessionHandle, device: Option<String>) -> Self {
        let in_flight = Arc::new(Semaphore::new(hub.inner.config.max_in_flight));
        Self { hub, user_id, session, device, in_flight, errors: VecDeque::new() }
    }

    /// Answers this socket, waiting for room in its queue (a big `resume` paces itself to the client).
    pub(super) async fn reply(&self, frame: ServerFrame) {
        self.session.answer(&frame).await;
    }

    pub(super) async fn error(&self, id: Option<String>, code: ErrorCode, message: &str) {
        self.reply(ServerFrame::error(id, code, message)).await;
    }

    /// An error caused by a broken client; too many in a minute close the socket.
    pub(super) async fn protocol_error(&mut self, id: Option<String>, code: ErrorCode, message: &str) {
        metrics::counter!("tanis_ws_protocol_errors_total").increment(1);
        self.error(id, code, message).await;
        let now = self.hub.now();
        while self.errors.front().is_some_and(|&at| now - at >= ERROR_WINDOW) {
            self.errors.pop_front();
        }
        self.errors.push_back(now);
        if self.errors.len() > self.hub.inner.config.max_protocol_errors as usize {
            self.session.closer.close(CloseCode::ProtocolAbuse);
        }
    }

    pub(super) async fn binary_frame(&mut self) {
        self.protocol_error(None, ErrorCode::BinaryNotSupported, "send JSON text frames").await;
    }

    pub(super) async fn internal(&self, id: Option<String>, e: impl std::fmt::Display) {
        tracing::error!(error = %e, user_id = self.user_id, "handling a frame");
        self.error(id, ErrorCode::Internal, "something failed; try again").await;
    }
}

/// Handles one text frame.
pub(super) async fn handle(ctx: &mut Ctx, text: &str) {
    if text.len() > ctx.hub.inner.config.max_frame_bytes {
        return ctx.protocol_error(None, ErrorCode::MessageTooLarge, "frame larger than max_frame_bytes").await;
    }
    let frame = match serde_json::from_str::<ClientFrame>(text) {
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
    let hub = ctx.hub.clone();
    let user = ctx.user_id;
    match frame {
        ClientFrame::Ping { id } => ctx.reply(ServerFrame::Pong { id }).await,
        ClientFrame::MatchFind { id, kind, public_key, nearby } => {
            if STANDARD.decode(&public_key).map(|k| k.len()) != Ok(32) {
                return ctx.protocol_error(id, ErrorCode::InvalidBase64, "public_key must be 32 bytes in base64").await;
            }
            if let Err(refusal) = hub.find(user, ctx.session.id, id, kind, public_key, nearby).await {
                ctx.reply(refusal.0).await;
            }
        }
        ClientFrame::MatchCancel { id } => match hub.matchmaker().cancel(user).await {
            true => ctx.reply(ServerFrame::MatchCancelled { id }).await,
            false => ctx.error(id, ErrorCode::NotQueued, "not waiting for a match").await,
        },
        ClientFrame::MatchLeave { id, match_id } => {
            match hub.end_match(user, match_id, EndReason::Left, EndReason::PeerLeft).await {
                Ok(true) => ctx.reply(ServerFrame::Ok { id }).await,
                Ok(false) => ctx.error(id, ErrorCode::NotInMatch, "no such active match").await,
                Err(e) => ctx.internal(id, e).await,
            }
        }
        ClientFrame::MsgSend { id, match_id, client_msg_id, ciphertext, nonce } => {
            send_message(ctx, id, match_id, client_msg_id, ciphertext, nonce).await
        }
        ClientFrame::MsgAck { id, match_id, seq } => {
            // Written in the relay's next batch, and announced from there: a client acknowledging every message
            // keeps reading at full speed instead of waiting one commit per receipt.
            let from = ReceiptFrom { session: ctx.session.clone(), request_id: id };
            hub.inner.writer.submit_receipt(Receipt { match_id, seq, receiver_id: user }, from).await;
        }
        ClientFrame::Resume { id, match_id, after_seq } => resume(ctx, id, match_id, after_seq).await,
        ClientFrame::Typing { id, match_id } => match hub.active_match(user).filter(|a| a.match_id == match_id) {
            Some(active) => hub.inner.delivery.to_user(active.peer_id, &ServerFrame::Typing { match_id }),
            None => ctx.error(id, ErrorCode::NotInMatch, "no such active match").await,
        },
        ClientFrame::Block { id, match_id } => block(ctx, id, match_id).await,
        ClientFrame::RtcOffer { id, match_id, sdp } => signal::relay(ctx, id, match_id, Signal::Offer(sdp)).await,
        ClientFrame::RtcAnswer { id, match_id, sdp } => signal::relay(ctx, id, match_id, Signal::Answer(sdp)).await,
        ClientFrame::RtcIce { id, match_id, candidate, sdp_mid, sdp_mline_index } => {
            signal::relay(ctx, id, match_id, Signal::Ice { candidate, sdp_mid, sdp_mline_index }).await
        }
        ClientFrame::RtcConnected { id, match_id } => signal::relay(ctx, id, match_id, Signal::Connected).await,
        ClientFrame::RtcHangup { id, match_id } => signal::relay(ctx, id, match_id, Signal::Hangup).await,
        ClientFrame::RtcStats { id, match_id, outcome, setup_ms, rtt_ms, packets_sent, packets_lost } => {
            let figures = Figures { outcome, setup_ms, rtt_ms, packets_sent, packets_lost };
            call_report::receive(ctx, id, match_id, figures).await
        }
        ClientFrame::Claim { id, match_id } => {
            match crate::claims::file(&hub.inner.store, user, match_id, hub.inner.clock.now()).await {
                Ok(_) => ctx.reply(ServerFrame::Ok { id }).await,
                Err(e @ crate::claims::FileError::NotMatched) => {
                    ctx.error(id, ErrorCode::NotMatched, &e.to_string()).await
                }
                Err(e @ crate::claims::FileError::Exists) => {
                    ctx.error(id, ErrorCode::ClaimExists, &e.to_string()).await
                }
                Err(crate::claims::FileError::Store(e)) => ctx.internal(id, e).await,
            }
        }
        ClientFrame::Report { id, match_id, reason_code, details } => {
            if details.as_ref().is_some_and(|d| d.chars().count() > MAX_REPORT_DETAILS) {
                return ctx.error(id, ErrorCode::InvalidField, "details are limited to 1000 characters").await;
            }
            let row = match hub.inner.store.match_of_participant(match_id, user).await {
                Ok(Some(row)) => row,
                Ok(None) => return ctx.error(id, ErrorCode::NotMatched, "you were not in that match").await,
                Err(e) => return ctx.internal(id, e).await,
            };
            let report = NewReport {
                reporter_id: user,
                reported_id: row.peer_of(user).expect("a participant has a peer"),
                match_id,
                reason: reason_code.as_str(),
                details: details.as_deref(),
                now: hub.inner.clock.now(),
            };
            match hub.inner.store.insert_report(&report).await {
                Ok(_) => ctx.reply(ServerFrame::Ok { id }).await,
                Err(e) => ctx.internal(id, e).await,
            }
        }
    }
}

async fn send_message(
    ctx: &mut Ctx,
    id: Option<String>,
    match_id: i64,
    client_msg_id: String,
    ciphertext: String,
    nonce: String,
) {
    let hub = ctx.hub.clone();
    let now = hub.inner.clock.now();
    let Some(active) = hub.active_match(ctx.user_id).filter(|a| a.match_id == match_id && now < a.expires_at) else {
        return ctx.error(id, ErrorCode::NotInMatch, "no such active match").await;
    };
    if client_msg_id.is_empty() || client_msg_id.len() > MAX_CLIENT_MSG_ID {
        return ctx.protocol_error(id, ErrorCode::InvalidField, "client_msg_id must have 1 to 64 bytes").await;
    }
    // Decoded only to check it is base64 and measure it; the bytes are never interpreted.
    let Ok(bytes) = STANDARD.decode(&ciphertext) else {
        return ctx.protocol_error(id, ErrorCode::InvalidBase64, "ciphertext is not base64").await;
    };
    if bytes.len() > hub.inner.config.max_message_bytes {
        return ctx.protocol_error(id, ErrorCode::MessageTooLarge, "ciphertext larger than max_message_bytes").await;
    }
    if bytes.is_empty() || nonce.len() > MAX_NONCE_B64 || STANDARD.decode(&nonce).is_err() {
        return ctx.protocol_error(id, ErrorCode::InvalidBase64, "ciphertext or nonce is empty or not base64").await;
    }
    if !hub.allow_message(ctx.user_id).await {
        return ctx.error(id, ErrorCode::RateLimited, "too many messages; slow down").await;
    }
    // Waits while `max_in_flight` of this socket's messages are unanswered, then for room for the answer.
    let Ok(in_flight) = ctx.in_flight.clone().acquire_owned().await else { return };
    let Some(slot) = ctx.session.reserve().await else { return };
    let message = NewMessage {
        match_id,
        sender_id: ctx.user_id,
        receiver_id: active.peer_id,
        client_msg_id,
        content: ciphertext,
        nonce,
        device_info: ctx.device.clone(),
        connection_type: active.kind.as_str(),
    };
    hub.inner.writer.submit(message, Reply::new(slot, in_flight, ctx.session.id, id)).await;
}

async fn resume(ctx: &mut Ctx, id: Option<String>, match_id: i64, after_seq: i64) {
    let store = ctx.hub.inner.store.clone();
    match store.match_of_participant(match_id, ctx.user_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return ctx.error(id, ErrorCode::NotInMatch, "you were not in that match").await,
        Err(e) => return ctx.internal(id, e).await,
    }
    let mut last_seq = after_seq;
    loop {
        let page = match store.messages_after(match_id, last_seq, RESUME_PAGE).await {
            Ok(page) => page,
            Err(e) => return ctx.internal(id, e).await,
        };
        let full = page.len() as i64 == RESUME_PAGE;
        for m in page {
            last_seq = m.seq;
            let mine = m.sender_id == ctx.user_id;
            let frame = ServerFrame::Msg {
                match_id,
                seq: m.seq,
                ciphertext: m.content,
                nonce: m.nonce,
                sent_at: m.created_at,
                mine,
            };
            ctx.reply(frame).await;
        }
        if !full {
            break;
        }
    }
    ctx.reply(ServerFrame::ResumeDone { id, match_id, last_seq }).await;
}

async fn block(ctx: &mut Ctx, id: Option<String>, match_id: i64) {
    let hub = ctx.hub.clone();
    let row = match hub.inner.store.match_of_participant(match_id, ctx.user_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return ctx.error(id, ErrorCode::NotInMatch, "you were not in that match").await,
        Err(e) => return ctx.internal(id, e).await,
    };
    let peer = row.peer_of(ctx.user_id).expect("a participant has a peer");
    if let Err(e) = hub.inner.store.insert_block(ctx.user_id, peer, hub.inner.clock.now()).await {
        return ctx.internal(id, e).await;
    }
    for user in [ctx.user_id, peer] {
        hub.inner.delivery.standing_changed(user);
    }
    // The blocked side is told only that the peer left: a block is not revealed.
    if let Err(e) = hub.end_match(ctx.user_id, match_id, EndReason::Blocked, EndReason::PeerLeft).await {
        return ctx.internal(id, e).await;
    }
    ctx.reply(ServerFrame::Ok { id }).await;
}
