//! The core's events as the corpus names them (conformance/README.md, the events' table).

use serde_json::{Value, json};

/// An event of the core as the corpus names it; `None` for those it does not count.
#[must_use]
pub fn counted(event: &crate::core::Event) -> Option<Value> {
    use crate::core::Event as E;
    Some(match event {
        E::Matched { match_id, peer, initiator } => {
            json!({"type": "matched", "match_id": match_id, "peer": peer, "initiator": initiator})
        }
        E::Message { match_id, seq, text } => {
            json!({"type": "message", "match_id": match_id, "seq": seq, "text": text})
        }
        E::Unreadable { match_id, seq } => json!({"type": "unreadable", "match_id": match_id, "seq": seq}),
        E::OwnMessage { match_id, seq, text } => {
            json!({"type": "own_message", "match_id": match_id, "seq": seq, "text": text})
        }
        E::Sent { match_id, client_msg_id, seq } => {
            json!({"type": "sent", "match_id": match_id, "client_msg_id": client_msg_id, "seq": seq})
        }
        E::Failed { match_id, client_msg_id, code } => {
            json!({"type": "failed", "match_id": match_id, "client_msg_id": client_msg_id, "code": code})
        }
        E::Ended { match_id, reason } => json!({"type": "ended", "match_id": match_id, "reason": reason}),
        E::SignedOut { code } => json!({"type": "signed_out", "code": code}),
        E::Banned => json!({"type": "banned"}),
        E::MatchedElsewhere { match_id, peer } => {
            json!({"type": "matched_elsewhere", "match_id": match_id, "peer": peer})
        }
        E::ContactAdded { match_id, peer } => json!({"type": "contact_added", "match_id": match_id, "peer": peer}),
        E::TakenOver { match_id, session_id } => {
            json!({"type": "taken_over", "match_id": match_id, "session_id": session_id})
        }
        E::PeerHungUp { match_id } => json!({"type": "peer_hung_up", "match_id": match_id}),
        E::Hello { .. }
        | E::Refused { .. }
        | E::Closed { .. }
        | E::SignedIn { .. }
        | E::SignInFailed { .. }
        | E::Reported
        | E::CallSignal { .. } => return None,
    })
}
