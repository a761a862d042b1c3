//! The one conversation the core holds: its keys and counters, its outbox, the peer's messages a report can reveal,
//! and the record that keeps them across a restart. The record is written after every change and before the frame
//! a change produced is handed out, so a restarted app never seals with a counter it used, never opens a message
//! twice, and sends again exactly the frames that were not accepted (the server deduplicates by `client_msg_id`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tanis_proto::{ClientFrame, MatchId, MatchInfo, Reveal, Seq};

use super::inbox::Inbox;
use super::port::{Millis, Storage};
use crate::e2e::{Counters, E2eError, E2eSession, Identity, Role};
use crate::franking;
use crate::outbox::Outbox;

const RECORD: &str = "tanis.conversation";
const KEY: &str = "tanis.conversation.key";

/// What is stored of a conversation, the secret key apart (it goes to the secret store).
#[derive(Serialize, Deserialize)]
struct Record {
    info: MatchInfo,
    counters: Counters,
    last_seq: Seq,
    pending: Vec<ClientFrame>,
    reveals: Vec<Reveal>,
    #[serde(default)]
    taken_over: bool,
}

pub(crate) struct Conversation {
    pub(crate) info: MatchInfo,
    e2e: E2eSession,
    pub(crate) outbox: Outbox<Millis>,
    /// What arrived and waits to be handed on in seq order (not stored: a restart resumes after `last_seq`).
    pub(crate) inbox: Inbox,
    /// The highest seq of the match processed (ours and the peer's): a `resume` asks for what comes after it.
    pub(crate) last_seq: Seq,
    /// The peer's messages as a report reveals them, by seq.
    reveals: BTreeMap<Seq, Reveal>,
    /// Another session of the account took the contact over with its own key: nothing is read or sent here.
    pub(crate) taken_over: bool,
    /// The app hung this video match's call up (one `rtc.hangup`).
    pub(crate) hung_up: bool,
}

impl Conversation {
    /// The conversation of a match just found, keyed with the find's key pair.
    pub(crate) fn established(identity: Identity, info: MatchInfo, secrets: &dyn Storage) -> Result<Self, E2eError> {
        let role = if info.initiator { Role::Initiator } else { Role::Responder };
        secrets.save(KEY, &identity.secret_b64());
        let e2e = E2eSession::establish(identity, &info.peer_public_key, info.match_id, role)?;
        Ok(Self {
            info,
            e2e,
            outbox: Outbox::new(),
            inbox: Inbox::default(),
            last_seq: Seq(0),
            reveals: BTreeMap::new(),
            taken_over: false,
            hung_up: false,
        })
    }

    /// The conversation a previous run stored, if any (and if its key is still in the secret store).
    pub(crate) fn restored(storage: &dyn Storage, secrets: &dyn Storage) -> Option<Self> {
        let record: Record = serde_json::from_str(&storage.load(RECORD)?).ok()?;
        let identity = Identity::from_secret_b64(&secrets.load(KEY)?).ok()?;
        let role = if record.info.initiator { Role::Initiator } else { Role::Responder };
        let e2e = E2eSession::establish(identity, &record.info.peer_public_key, record.info.match_id, role)
            .ok()?
            .with_counters(record.counters);
        Some(Self {
            info: record.info,
            e2e,
            outbox: Outbox::restored(record.pending),
            inbox: Inbox::default(),
            last_seq: record.last_seq,
            reveals: record.reveals.into_iter().map(|r| (r.seq, r)).collect(),
            taken_over: record.taken_over,
            hung_up: false,
        })
    }

    pub(crate) fn save(&self, storage: &dyn Storage) {
        let record = Record {
            info: self.info.clone(),
            counters: self.e2e.counters(),
            last_seq: self.last_seq,
            pending: self.outbox.frames(),
            reveals: self.reveals.values().cloned().collect(),
            taken_over: self.taken_over,
        };
        storage.save(RECORD, &serde_json::to_string(&record).expect("a record serialises"));
    }

    /// Nothing of the conversation stays: the match ended.
    pub(crate) fn forget(storage: &dyn Storage, secrets: &dyn Storage) {
        storage.remove(RECORD);
        secrets.remove(KEY);
    }

    pub(crate) fn match_id(&self) -> MatchId {
        self.info.match_id
    }

    /// Seals `text`, franked, into a `msg.send` at the back of the outbox; returns its `client_msg_id`. The caller
    /// saves the record before anything is sent.
    pub(crate) fn write(&mut self, text: &str) -> String {
        let (payload, commitment) = franking::frank(text);
        let sealed = self.e2e.seal(&payload);
        let client_msg_id = format!("{:032x}", rand::random::<u128>());
        self.outbox.push(ClientFrame::MsgSend {
            id: Some(client_msg_id.clone()),
            match_id: self.info.match_id,
            client_msg_id: client_msg_id.clone(),
            ciphertext: sealed.ciphertext,
            nonce: sealed.nonce,
            commitment,
            ack: None,
        });
        client_msg_id
    }

    /// Opens a peer's message and checks its commitment; keeps it revealable. `None` when it does not open.
    pub(crate) fn read(&mut self, seq: Seq, ciphertext: &str, nonce: &str, commitment: Option<&str>) -> Option<String> {
        if self.taken_over {
            return None;
        }
        let bytes = self.e2e.open(ciphertext, nonce).ok()?;
        let opened = franking::unfrank(seq, &bytes, commitment).ok()?;
        self.reveals.insert(seq, opened.reveal);
        Some(opened.text)
    }

    /// Opens a copy of ours another client holding the key sealed (a tab), taking its counter; `None` when it does
    /// not open here.
    pub(crate) fn read_own(
        &mut self,
        seq: Seq,
        ciphertext: &str,
        nonce: &str,
        commitment: Option<&str>,
    ) -> Option<String> {
        if self.taken_over {
            return None;
        }
        let bytes = self.e2e.open_sent(ciphertext, nonce).ok()?;
        franking::unfrank(seq, &bytes, commitment).ok().map(|opened| opened.text)
    }

    /// Whether `key` (base64) is this device's public key in the conversation.
    pub(crate) fn is_own_key(&self, key: &str) -> bool {
        use base64::Engine as _;
        key == base64::engine::general_purpose::STANDARD.encode(self.e2e.own_public_key())
    }

    /// What a report reveals of the peer's messages `seqs`; `None` names a seq never read here.
    pub(crate) fn reveal(&self, seqs: &[Seq]) -> Result<Vec<Reveal>, Seq> {
        seqs.iter().map(|seq| self.reveals.get(seq).cloned().ok_or(*seq)).collect()
    }
}
