//! What the server says: each frame's effect on the conversation, the waiting find and the app (the inbox and the
//! outbox keep the order; this module decides what a frame means).

use std::time::Duration;

use tanis_proto::{ClientFrame, ErrorCode, MatchId, MatchKind, PROTOCOL_VERSION_2, Seq, ServerFrame};

use super::call::Signal;
use super::conversation::Conversation;
use super::inbox::Entry;
use super::port::{Event, Millis, Output};
use super::{Core, Socket, reason_code};
use crate::e2e::counter_of;
use crate::outbox::Refusal;

impl Core {
    pub(super) fn handle(&mut self, frame: ServerFrame, now: Millis) {
        match frame {
            ServerFrame::Hello { protocol, handle, active_match, .. } => {
                self.socket = Socket::Open { greeted: true };
                self.attempts = 0;
                self.fresh_token = false;
                self.protocol = protocol;
                self.out.push(Output::Event(Event::Hello { handle }));
                self.greeted_with(active_match, now);
            }
            ServerFrame::MatchFound { info, .. } => match self.find.take() {
                Some(find) => {
                    self.forget_find();
                    self.establish(find.identity, info);
                }
                None => self.elsewhere(info.match_id, info.peer),
            },
            ServerFrame::ResumeDone { id, match_id, last_seq } => {
                let Some(conversation) = self.conversation.as_mut().filter(|c| c.match_id() == match_id) else {
                    return;
                };
                let Some(entries) = conversation.inbox.done(id.as_deref(), last_seq, &mut conversation.last_seq, now)
                else {
                    return;
                };
                self.process(entries, now);
                // Caught up: the outbox leaves, and what was owed while offline is owed again from now.
                self.flush(now);
                self.acks.owed_again(now);
            }
            ServerFrame::Msg { match_id, seq, ciphertext, nonce, commitment, mine, .. } => {
                let Some(conversation) = self.conversation.as_mut().filter(|c| c.match_id() == match_id) else {
                    return;
                };
                let entry = if mine {
                    Entry::Mine { ciphertext, nonce, commitment }
                } else {
                    Entry::Theirs { ciphertext, nonce, commitment }
                };
                let entries = conversation.inbox.add(seq, entry, &mut conversation.last_seq, now);
                self.process(entries, now);
            }
            ServerFrame::MsgAccepted { match_id, client_msg_id, seq, .. } => {
                let Some(conversation) = self.conversation.as_mut().filter(|c| c.match_id() == match_id) else {
                    return;
                };
                if conversation.outbox.accepted(&client_msg_id) {
                    self.out.push(Output::Event(Event::Sent { match_id: match_id.0, client_msg_id, seq: seq.0 }));
                }
                let entries = conversation.inbox.accepted(seq, &mut conversation.last_seq, now);
                self.process(entries, now);
                self.flush(now);
            }
            ServerFrame::MatchEnded { match_id, reason, .. } => {
                if self.conversation.as_ref().is_some_and(|c| c.match_id() == match_id) {
                    self.end(reason_code(&reason));
                } else if self.elsewhere == Some(match_id) {
                    self.elsewhere = None;
                    self.out.push(Output::Event(Event::Ended { match_id: match_id.0, reason: reason_code(&reason) }));
                }
            }
            ServerFrame::RtcOffer { match_id, sdp } if self.holds(match_id, Some(MatchKind::Video)) => {
                self.call.offered(now);
                self.signalled(match_id, Signal::Offer { sdp });
            }
            ServerFrame::RtcAnswer { match_id, sdp } if self.holds(match_id, Some(MatchKind::Video)) => {
                self.signalled(match_id, Signal::Answer { sdp });
            }
            ServerFrame::RtcIce { match_id, candidate, sdp_mid, sdp_mline_index }
                if self.holds(match_id, Some(MatchKind::Video)) =>
            {
                self.signalled(match_id, Signal::Ice { candidate, sdp_mid, sdp_mline_index });
            }
            ServerFrame::RtcHangup { match_id } if self.holds(match_id, Some(MatchKind::Video)) => {
                self.out.push(Output::Event(Event::PeerHungUp { match_id: match_id.0 }));
            }
            ServerFrame::ContactAdded { contact } if self.holds(contact.match_id, None) => {
                let (match_id, peer) = (contact.match_id.0, contact.peer);
                self.out.push(Output::Event(Event::ContactAdded { match_id, peer }));
            }
            ServerFrame::ContactKey { match_id, public_key: Some(key), mine: true, session_id, .. } => {
                let Some(conversation) = self.conversation.as_mut().filter(|c| c.match_id() == match_id) else {
                    return;
                };
                // Our own key named again is no takeover; another is, once.
                if !conversation.is_own_key(&key) && !conversation.taken_over {
                    conversation.taken_over = true;
                    conversation.save(&*self.storage);
                    self.out.push(Output::Event(Event::TakenOver { match_id: match_id.0, session_id }));
                }
            }
            ServerFrame::Ok { id: Some(id) } if self.reports.contains(&id) => {
                self.reports.retain(|r| *r != id);
                self.out.push(Output::Event(Event::Reported));
            }
            ServerFrame::Error { id, code, retry_after_ms, .. } => {
                if let Some(id) = &id {
                    self.reports.retain(|r| r != id);
                }
                self.refused(id, code, retry_after_ms, now);
            }
            _ => {}
        }
    }

    /// After `hello`: the conversation this device holds goes on (resumed after its last seq), a match found while
    /// the app was away is keyed with the find's stored key pair, and a conversation the server no longer has ended.
    fn greeted_with(&mut self, active: Option<tanis_proto::MatchInfo>, now: Millis) {
        self.elsewhere = None;
        match (active, self.conversation.as_ref().map(Conversation::match_id)) {
            (Some(info), Some(held)) if info.match_id == held => {
                if !self.announced {
                    self.announced = true;
                    let (peer, initiator) = (info.peer, info.initiator);
                    self.out.push(Output::Event(Event::Matched { match_id: held.0, peer, initiator }));
                }
            }
            (Some(info), _) => {
                if self.conversation.is_some() {
                    self.end("gone".into());
                }
                let Some(find) = self.find.take() else {
                    self.elsewhere(info.match_id, info.peer);
                    return;
                };
                self.forget_find();
                self.establish(find.identity, info);
            }
            (None, Some(_)) => {
                self.end("gone".into());
                return;
            }
            (None, None) => {
                self.ask();
                return;
            }
        }
        self.resume();
        self.flush(now);
    }

    /// Hands on what the inbox let through, in seq order: a peer's message opened (or unreadable) and owed an
    /// acknowledgement, a copy of ours settling its outbox frame.
    fn process(&mut self, entries: Vec<(Seq, Entry)>, now: Millis) {
        let Some(conversation) = self.conversation.as_mut() else { return };
        let match_id = conversation.match_id();
        if entries.is_empty() {
            return;
        }
        for (seq, entry) in entries {
            match entry {
                Entry::Theirs { ciphertext, nonce, commitment } => {
                    let event = match conversation.read(seq, &ciphertext, &nonce, commitment.as_deref()) {
                        Some(text) => Event::Message { match_id: match_id.0, seq: seq.0, text },
                        None => Event::Unreadable { match_id: match_id.0, seq: seq.0 },
                    };
                    self.out.push(Output::Event(event));
                    if self.protocol >= PROTOCOL_VERSION_2 {
                        self.acks.received(match_id, seq, now);
                    } else {
                        self.out.push(Output::Send(
                            serde_json::to_string(&ClientFrame::MsgAck { id: None, match_id, seq })
                                .expect("serialises"),
                        ));
                    }
                }
                // Our own message, replayed: it was stored, so it counts as accepted (found by its counter: the copy
                // names no client_msg_id). One not in the outbox was sealed by another client holding the key (a
                // tab), or by another device: told, not acknowledged, and its counter never sealed with here.
                Entry::Mine { ciphertext, nonce, commitment } => {
                    let accepted = counter_of(&nonce).and_then(|counter| conversation.outbox.accepted_counter(counter));
                    let event = match accepted {
                        Some(client_msg_id) => Event::Sent { match_id: match_id.0, client_msg_id, seq: seq.0 },
                        None => Event::OwnMessage {
                            match_id: match_id.0,
                            seq: seq.0,
                            text: conversation.read_own(seq, &ciphertext, &nonce, commitment.as_deref()),
                        },
                    };
                    self.out.push(Output::Event(event));
                }
                Entry::Accepted => {}
            }
        }
        conversation.save(&*self.storage);
    }

    fn refused(&mut self, id: Option<String>, code: ErrorCode, retry_after_ms: Option<u64>, now: Millis) {
        // Our `resume` refused: what waits is walked as far as it goes; the next gap or connection asks again.
        if let Some(conversation) = self.conversation.as_mut()
            && let Some(entries) = conversation.inbox.refused(id.as_deref(), &mut conversation.last_seq, now)
        {
            self.process(entries, now);
            self.flush(now);
            return;
        }
        let code_name = serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let pending = id.as_deref().and_then(|id| self.conversation.as_ref()?.outbox.answered_by(id));
        let (Some(client_msg_id), Some(conversation)) = (pending, self.conversation.as_mut()) else {
            // A find asked again after a reconnect whose place was kept: nothing to tell.
            if code != ErrorCode::AlreadyQueued {
                self.out.push(Output::Event(Event::Refused { code: code_name }));
            }
            return;
        };
        let retry_after = retry_after_ms.map(Duration::from_millis);
        if let Refusal::Failed(_) = conversation.outbox.refused(&client_msg_id, code, retry_after, now) {
            conversation.save(&*self.storage);
            let match_id = conversation.match_id().0;
            self.out.push(Output::Event(Event::Failed { match_id, client_msg_id, code: code_name }));
            self.flush(now);
        }
    }

    fn signalled(&mut self, match_id: MatchId, signal: Signal) {
        self.out.push(Output::Event(Event::CallSignal { match_id: match_id.0, signal }));
    }

    /// Whether this device holds the conversation of `match_id` (of `kind`, when named).
    fn holds(&self, match_id: MatchId, kind: Option<MatchKind>) -> bool {
        self.conversation.as_ref().is_some_and(|c| c.match_id() == match_id && kind.is_none_or(|k| c.info.kind == k))
    }

    /// A match another device of this account asked for: told (after every `hello` naming it), never read here.
    fn elsewhere(&mut self, match_id: MatchId, peer: String) {
        self.elsewhere = Some(match_id);
        self.out.push(Output::Event(Event::MatchedElsewhere { match_id: match_id.0, peer }));
    }
}
