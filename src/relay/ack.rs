//! The relay's acknowledgement half: each socket's messages are answered in the order they were sent, once
//! their batch is durable, and only then delivered to the receiver. Nothing is acknowledged that a crash could
//! lose, and nothing reaches the receiver that the sender was not told is stored.

use tanis_proto::{ErrorCode, ServerFrame};
use tokio::sync::{mpsc, oneshot};

use super::WriteResult;
use crate::delivery::{Delivery, SessionHandle, SessionRef};
use crate::push::Notifier;
use crate::store::WriteOutcome;

/// A message whose durable write is pending, remembered so it can be acknowledged and delivered.
pub struct Pending {
    pub done: oneshot::Receiver<WriteResult>,
    pub request_id: Option<String>,
    pub client_msg_id: String,
    pub match_id: i64,
    pub peer_id: i64,
    pub ciphertext: String,
    pub nonce: String,
}

/// Answers this socket's messages in the order they were sent, each once its write is durable.
pub async fn acknowledge(
    delivery: Delivery,
    notifier: Notifier,
    user_id: i64,
    session: SessionHandle,
    mut queue: mpsc::Receiver<Box<Pending>>,
) {
    while let Some(p) = queue.recv().await {
        let accepted = |seq| ServerFrame::MsgAccepted {
            id: p.request_id.clone(),
            match_id: p.match_id,
            client_msg_id: p.client_msg_id.clone(),
            seq,
        };
        match p.done.await {
            Ok(Ok(WriteOutcome::Stored { seq, sent_at })) => {
                session.answer(&accepted(seq)).await;
                let msg = |mine| ServerFrame::Msg {
                    match_id: p.match_id,
                    seq,
                    ciphertext: p.ciphertext.clone(),
                    nonce: p.nonce.clone(),
                    sent_at,
                    mine,
                };
                delivery.to_user(p.peer_id, &msg(false));
                // A receiver with no socket here may be offline everywhere: the notifier decides, off this path.
                if notifier.enabled() && !delivery.sockets().is_connected(p.peer_id) {
                    notifier.message(p.peer_id, p.match_id, user_id);
                }
                delivery.to_user_except(SessionRef { user_id, session_id: session.id }, &msg(true));
                metrics::counter!("tanis_messages_total").increment(1);
            }
            // Stored before: acknowledge again, deliver nothing new.
            Ok(Ok(WriteOutcome::Duplicate { seq, .. })) => session.answer(&accepted(seq)).await,
            Ok(Ok(WriteOutcome::MatchNotActive)) => {
                session.answer(&ServerFrame::error(p.request_id, ErrorCode::NotInMatch, "the match has ended")).await
            }
            Ok(Err(_)) | Err(_) => {
                session.answer(&ServerFrame::error(p.request_id, ErrorCode::Internal, "not stored; send again")).await
            }
        }
    }
}
