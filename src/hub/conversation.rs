//! The frames of a conversation between two matched users (or two contacts, [`super::contacts`]): sending a
//! message, acknowledging one, resuming after a reconnect, typing, leaving, blocking, and after a match, claiming
//! a unit back (reporting the peer is [`super::report`]).
//! Messages are answered by the group commit's announcer, in order, only after their batch is durably stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis_proto::franking::COMMITMENT_LEN;
use tanis_proto::{ErrorCode, ServerFrame};

use super::context::Ctx;
use crate::domain::{EndCause, MatchId, Seq, UserId};
use crate::group_commit::Reply;
use crate::group_commit::announce::{ReceiptFrom, STORE_RETRY_AFTER_MS};
use crate::rate;
use crate::store::{MessageRow, NewMessage, Receipt};

/// Longest accepted `client_msg_id`.
const MAX_CLIENT_MSG_ID: usize = 64;
/// Longest base64 nonce (24 bytes for XChaCha20 is 32 characters).
const MAX_NONCE_B64: usize = 64;
/// Messages sent per `resume` page read from the store.
const RESUME_PAGE: i64 = 200;

/// A `msg.send`'s message, as the client sent it.
pub(super) struct Outgoing {
    pub(super) client_msg_id: String,
    pub(super) ciphertext: String,
    pub(super) nonce: String,
    pub(super) commitment: String,
}

/// `msg.send`: checked, then queued to the group commit, which answers once it is stored. `ack` (version 2): a
/// cumulative acknowledgement of this conversation riding on the send, written in the same batch and told to the
/// peer on the `msg` of this message. A send refused here (rate limited, a bad field, the match over) does not take
/// the acknowledgement down with it: it is queued on its own, as the `msg.ack` it stands for (one of a match that
/// is not the user's marks nothing).
pub(super) async fn send(ctx: &mut Ctx, id: Option<String>, match_id: MatchId, message: Outgoing, ack: Option<Seq>) {
    let ack = ack.map(|seq| (cumulative_receipt(ctx, match_id, seq), receipt_from(ctx, None)));
    match checked(ctx, id, match_id, message).await {
        Some((message, reply)) => ctx.hub.writer().submit(message, reply, ack).await,
        None => {
            if let Some((receipt, from)) = ack {
                ctx.hub.writer().submit_receipt(receipt, from).await;
            }
        }
    }
}

/// A `msg.send`'s message and how to answer it, once every check has passed and the socket has room for the
/// answer; `None` when it was refused (and answered) or the socket is closing.
async fn checked(
    ctx: &mut Ctx,
    id: Option<String>,
    match_id: MatchId,
    message: Outgoing,
) -> Option<(NewMessage, Reply)> {
    let Outgoing { client_msg_id, ciphertext, nonce, commitment } = message;
    let hub = ctx.hub.clone();
    let peer = match ctx.conversation_peer(match_id).await {
        Ok(Some(peer)) => peer,
        Ok(None) => return refused(ctx.error(id, ErrorCode::NotInMatch, "no such active match or contact")).await,
        Err(e) => return refused(ctx.internal_retry_after(id, e, STORE_RETRY_AFTER_MS)).await,
    };
    if client_msg_id.is_empty() || client_msg_id.len() > MAX_CLIENT_MSG_ID {
        let message = "client_msg_id must have 1 to 64 bytes";
        return refused(ctx.protocol_error(id, ErrorCode::InvalidField, message)).await;
    }
    // Decoded only to check it is base64 and measure it; the bytes are never interpreted.
    let Ok(bytes) = STANDARD.decode(&ciphertext) else {
        return refused(ctx.protocol_error(id, ErrorCode::InvalidBase64, "ciphertext is not base64")).await;
    };
    if bytes.len() > hub.settings().hub.max_message_bytes {
        let message = "ciphertext larger than max_message_bytes";
        return refused(ctx.protocol_error(id, ErrorCode::MessageTooLarge, message)).await;
    }
    if bytes.is_empty() || nonce.len() > MAX_NONCE_B64 || STANDARD.decode(&nonce).is_err() {
        let message = "ciphertext or nonce is empty or not base64";
        return refused(ctx.protocol_error(id, ErrorCode::InvalidBase64, message)).await;
    }
    // The franking commitment: opaque like the ciphertext, but bound to the message's metadata for reports.
    let Some(commitment) = decode_commitment(&commitment) else {
        let message = "commitment is not base64 of 32 bytes";
        return refused(ctx.protocol_error(id, ErrorCode::InvalidBase64, message)).await;
    };
    if let Err(wait) = hub.allow_message(ctx.user_id).await {
        // The wait rounds up, so the client's retry after it never finds the bucket still short of a token.
        let frame = ServerFrame::error(id, ErrorCode::RateLimited, "too many messages; slow down")
            .retry_after(rate::retry_after_ms(wait));
        return refused(ctx.reply(frame)).await;
    }
    // Waits while `max_in_flight` of this socket's messages are unanswered, then for room for the answer.
    let in_flight = ctx.in_flight.clone().acquire_owned().await.ok()?;
    let slot = ctx.socket.reserve().await?;
    let message = NewMessage {
        match_id,
        sender_id: ctx.user_id,
        receiver_id: peer.user_id,
        client_msg_id,
        content: ciphertext,
        nonce,
        commitment,
        device_info: ctx.device.clone(),
        connection_type: peer.kind,
    };
    Some((message, Reply::new(slot, in_flight, ctx.socket.id, id)))
}

/// Answers a refused send (the refusal's frame) and yields no message.
async fn refused<T>(answer: impl std::future::Future<Output = ()>) -> Option<T> {
    answer.await;
    None
}

/// The 32 bytes of a base64 franking commitment; `None` for anything else.
fn decode_commitment(text: &str) -> Option<[u8; COMMITMENT_LEN]> {
    // 32 bytes are 44 characters of padded base64: a longer text is refused before it is decoded.
    (text.len() == 44).then(|| STANDARD.decode(text).ok()?.try_into().ok()).flatten()
}

/// `msg.ack`: written in the group commit's next batch, and announced from there: a client acknowledging every message
/// keeps reading at full speed instead of waiting one commit per receipt. Version 1 acknowledges the message
/// `seq`; version 2 every message of the match up to `seq`.
pub(super) async fn ack(ctx: &Ctx, id: Option<String>, match_id: MatchId, seq: Seq) {
    let (receipt, from) = if ctx.v2() {
        (cumulative_receipt(ctx, match_id, seq), receipt_from(ctx, id))
    } else {
        (Receipt::one(match_id, seq, ctx.user_id), ReceiptFrom::one(ctx.socket.clone(), id))
    };
    ctx.hub.writer().submit_receipt(receipt, from).await;
}

/// Version 2's receipt of every message of the match up to `seq`, from where this socket's committed receipts
/// left off. A `seq` below that covers nothing new, and marks nothing, as a repeated ack.
fn cumulative_receipt(ctx: &Ctx, match_id: MatchId, seq: Seq) -> Receipt {
    Receipt { match_id, first: ctx.ack_floor.first(match_id), seq, receiver_id: ctx.user_id }
}

fn receipt_from(ctx: &Ctx, request_id: Option<String>) -> ReceiptFrom {
    ReceiptFrom { socket: ctx.socket.clone(), request_id, cumulative: true, floor: Some(ctx.ack_floor.clone()) }
}

/// `resume`: every message of the match after `after_seq`, page by page, then `resume.done`.
pub(super) async fn resume(ctx: &Ctx, id: Option<String>, match_id: MatchId, after_seq: Seq) {
    let store = ctx.hub.store().clone();
    match store.match_of_participant(match_id, ctx.user_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return ctx.error(id, ErrorCode::NotInMatch, "you were not in that match").await,
        Err(e) => return ctx.internal(id, e).await,
    }
    let mut last_seq = after_seq;
    let since = ctx.hub.now() - ctx.hub.settings().message_retention;
    loop {
        let page = match store.messages_after(match_id, last_seq, since, RESUME_PAGE).await {
            Ok(page) => page,
            Err(e) => return ctx.internal(id, e).await,
        };
        let full = page.len() as i64 == RESUME_PAGE;
        for m in page {
            last_seq = m.seq;
            ctx.reply(stored_msg(m, ctx.user_id)).await;
        }
        if !full {
            break;
        }
    }
    ctx.reply(ServerFrame::ResumeDone { id, match_id, last_seq }).await;
}

/// A stored message as `viewer` is sent it (with `resume`, or before an end its relay had not brought).
pub(in crate::hub) fn stored_msg(m: MessageRow, viewer: UserId) -> ServerFrame {
    ServerFrame::Msg {
        match_id: m.match_id,
        seq: m.seq,
        ciphertext: m.content,
        nonce: m.nonce,
        commitment: m.commitment.map(|c| STANDARD.encode(c)),
        sent_at: m.created_at,
        mine: m.sender_id == viewer,
        delivered: None,
    }
}

/// `typing`: passed to the peer, never stored. In a contact conversation the store is asked each time (no cached
/// answer): a contact who ended it or blocked must not see this user typing.
pub(super) async fn typing(ctx: &Ctx, id: Option<String>, match_id: MatchId) {
    let hub = &ctx.hub;
    let typing = ServerFrame::Typing { match_id };
    if let Some(active) = hub.active_match(ctx.user_id).filter(|a| a.match_id == match_id) {
        // Dropped where the peer was told the match's end (their node heard of it before this one).
        return hub.delivery().to_user_in_match(active.peer_id, match_id, &typing);
    }
    // A contact conversation goes on after its match's end.
    match hub.store().contact_of(match_id, ctx.user_id).await {
        Ok(Some(row)) => hub.delivery().to_user(row.peer_of(ctx.user_id).expect("a participant has a peer"), &typing),
        Ok(None) => ctx.error(id, ErrorCode::NotInMatch, "no such active match or contact").await,
        Err(e) => ctx.internal(id, e).await,
    }
}

/// `match.leave`: ends the match; the peer is told they were left.
pub(super) async fn leave(ctx: &Ctx, id: Option<String>, match_id: MatchId) {
    if skip_refused(ctx, &id, match_id).await {
        return;
    }
    match ctx.hub.end_match(ctx.user_id, match_id, EndCause::Left).await {
        Ok(true) => ctx.reply(ServerFrame::Ok { id }).await,
        Ok(false) => ctx.error(id, ErrorCode::NotInMatch, "no such active match").await,
        Err(e) => ctx.internal(id, e).await,
    }
}

/// Ending an active match (a leave, or a block of its peer) is a skip, which new and unverified accounts may do
/// only so often: a block must not be a way round the limit. Takes a skip token, or answers the request with the
/// refusal and returns true. A match that is not the user's active one ends nothing and spends nothing.
async fn skip_refused(ctx: &Ctx, id: &Option<String>, match_id: MatchId) -> bool {
    if !ctx.hub.active_match(ctx.user_id).is_some_and(|a| a.match_id == match_id) {
        return false;
    }
    match ctx.hub.allow_skip(ctx.user_id).await {
        Ok(None) => false,
        Ok(Some(per_minute)) => {
            let message = format!("new and unverified accounts may skip {per_minute} matches a minute; wait a little");
            ctx.error(id.clone(), ErrorCode::RateLimited, &message).await;
            true
        }
        Err(e) => {
            ctx.internal(id.clone(), e).await;
            true
        }
    }
}

/// `block`: the peer of that match is never matched with the user again, and the match ends if it is active. The
/// block of an active match spends a skip, and past the limit is refused before anything is stored; the block of
/// a past match ends nothing and spends nothing.
pub(super) async fn block(ctx: &Ctx, id: Option<String>, match_id: MatchId) {
    let hub = ctx.hub.clone();
    let row = match hub.store().match_of_participant(match_id, ctx.user_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return ctx.error(id, ErrorCode::NotInMatch, "you were not in that match").await,
        Err(e) => return ctx.internal(id, e).await,
    };
    if skip_refused(ctx, &id, match_id).await {
        return;
    }
    let peer = row.peer_of(ctx.user_id).expect("a participant has a peer");
    // The block and the end of any contact conversation between them are one transaction: never a block stored
    // with the contact left open.
    let contacts = match hub.store().block(ctx.user_id, peer, hub.now()).await {
        Ok(contacts) => contacts,
        Err(e) => return ctx.internal(id, e).await,
    };
    for user in [ctx.user_id, peer] {
        hub.delivery().standing_changed(user);
    }
    // A contact conversation between them closed (`contact.ended`, to both: as when either ends it).
    for contact in contacts {
        hub.tell_contact_ended(contact, &[ctx.user_id, peer]);
    }
    // The blocked side is told only that the peer left: a block is not revealed (`EndCause::told`). Should this
    // write fail, the block stands and the answer is `internal`: the same `block` again ends the match.
    if let Err(e) = hub.end_match(ctx.user_id, match_id, EndCause::Blocked).await {
        return ctx.internal(id, e).await;
    }
    ctx.reply(ServerFrame::Ok { id }).await;
}

/// `claim`: files a claim for a unit back (the claims job decides it).
pub(super) async fn claim(ctx: &Ctx, id: Option<String>, match_id: MatchId) {
    let hub = &ctx.hub;
    match crate::claims::file(hub.store(), ctx.user_id, match_id, hub.now()).await {
        Ok(_) => ctx.reply(ServerFrame::Ok { id }).await,
        Err(e @ crate::claims::FileError::NotMatched) => ctx.error(id, ErrorCode::NotMatched, &e.to_string()).await,
        Err(e @ crate::claims::FileError::Exists) => ctx.error(id, ErrorCode::ClaimExists, &e.to_string()).await,
        Err(crate::claims::FileError::Store(e)) => ctx.internal(id, e).await,
    }
}
