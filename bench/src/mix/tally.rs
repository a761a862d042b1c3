//! What one user of the mix counted, and the sum over users that the report is made of.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::histogram;

/// Everything one user counted; summed over the users for the report.
pub struct Tally {
    /// Scheduled send → `msg.accepted`.
    pub accepted: Histogram<u64>,
    /// The peer's scheduled send → its `msg` here.
    pub peer: Histogram<u64>,
    /// `match.find` sent → `match.found`.
    pub found: Histogram<u64>,
    /// A drop (scheduled) → the new socket's `hello`.
    pub reconnect: Histogram<u64>,
    /// A call's `rtc.offer` sent → the peer's `rtc.answer` here (`--video-share`).
    pub signal: Histogram<u64>,
    /// `POST /v1/auth/login` → its answer (`--logins-per-min`).
    pub login: Histogram<u64>,
    /// Messages sent (due while the user had a partner).
    pub offered: u64,
    /// Messages that fell due while the user had no partner (queued or leaving): not sent, as a person waiting
    /// for a partner does not type.
    pub without_partner: u64,
    pub acked: u64,
    pub received: u64,
    pub receipts: u64,
    pub delivered: u64,
    /// Sent messages with no answer at the end of the drain: failures.
    pub unacknowledged: u64,
    /// Sends refused because the match had just ended (the peer skipped first): the race every chat app has.
    pub refused_match_over: u64,
    /// Peer messages of a match this user no longer had the keys of (counted as received all the same).
    pub unreadable: u64,
    pub finds: u64,
    pub skips: u64,
    pub ended_by_peer: u64,
    /// Sends repeated on a new socket (same `client_msg_id`) because the old one dropped before the answer.
    pub resends: u64,
    pub connect_failures: u64,
    /// Offers sent (one per video match, by its initiator) and answers that came back.
    pub offers: u64,
    pub answers: u64,
    /// Logins answered 200.
    pub logins: u64,
    /// `resume` of a match that had ended meanwhile, refused: expected, not a failure.
    pub resume_refused: u64,
    /// Every other error frame, by code: failures.
    pub errors: BTreeMap<String, u64>,
    pub late: u64,
    /// `resync` frames (frames lost between nodes: Redis restarted or cut off).
    pub resyncs: u64,
    /// Chaos (`--survive-drops`): sockets that broke under the user and were replaced.
    pub drops_survived: u64,
    /// The longest of those: the break seen → the new socket's `hello`, retries included.
    pub worst_pause_us: u64,
    /// Every `msg.accepted` as (match, seq), for `--acked-out`.
    pub acked_seqs: Vec<(i64, i64)>,
    /// Every peer's message read live as (match, seq), for `--received-out`: its difference from `acked_seqs`
    /// names the messages `not_received` counts.
    pub received_seqs: Vec<(i64, i64)>,
    /// `--rematch-secs`: the new find → `match.found`, and the users not paired in time.
    pub rematch: Histogram<u64>,
    pub rematch_missed: u64,
    /// What ended this user early, if anything.
    pub fatal: Option<String>,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            accepted: histogram(),
            peer: histogram(),
            found: histogram(),
            reconnect: histogram(),
            signal: histogram(),
            login: histogram(),
            offered: 0,
            without_partner: 0,
            acked: 0,
            received: 0,
            receipts: 0,
            delivered: 0,
            unacknowledged: 0,
            refused_match_over: 0,
            unreadable: 0,
            finds: 0,
            skips: 0,
            ended_by_peer: 0,
            resends: 0,
            connect_failures: 0,
            offers: 0,
            answers: 0,
            logins: 0,
            resume_refused: 0,
            errors: BTreeMap::new(),
            late: 0,
            resyncs: 0,
            drops_survived: 0,
            worst_pause_us: 0,
            acked_seqs: Vec::new(),
            received_seqs: Vec::new(),
            rematch: histogram(),
            rematch_missed: 0,
            fatal: None,
        }
    }

    pub fn add(&mut self, o: &Tally) -> anyhow::Result<()> {
        self.accepted.add(&o.accepted)?;
        self.peer.add(&o.peer)?;
        self.found.add(&o.found)?;
        self.reconnect.add(&o.reconnect)?;
        self.signal.add(&o.signal)?;
        self.login.add(&o.login)?;
        self.rematch.add(&o.rematch)?;
        self.acked_seqs.extend_from_slice(&o.acked_seqs);
        self.received_seqs.extend_from_slice(&o.received_seqs);
        self.worst_pause_us = self.worst_pause_us.max(o.worst_pause_us);
        for (mine, theirs) in [
            (&mut self.offered, o.offered),
            (&mut self.without_partner, o.without_partner),
            (&mut self.acked, o.acked),
            (&mut self.received, o.received),
            (&mut self.receipts, o.receipts),
            (&mut self.delivered, o.delivered),
            (&mut self.unacknowledged, o.unacknowledged),
            (&mut self.refused_match_over, o.refused_match_over),
            (&mut self.unreadable, o.unreadable),
            (&mut self.finds, o.finds),
            (&mut self.skips, o.skips),
            (&mut self.ended_by_peer, o.ended_by_peer),
            (&mut self.resends, o.resends),
            (&mut self.connect_failures, o.connect_failures),
            (&mut self.offers, o.offers),
            (&mut self.answers, o.answers),
            (&mut self.logins, o.logins),
            (&mut self.resume_refused, o.resume_refused),
            (&mut self.late, o.late),
            (&mut self.resyncs, o.resyncs),
            (&mut self.drops_survived, o.drops_survived),
            (&mut self.rematch_missed, o.rematch_missed),
        ] {
            *mine += theirs;
        }
        for (code, n) in &o.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        Ok(())
    }

    /// Accepted messages that no peer received: lost to a live client. Summed over all users, each message's
    /// acceptance and its receipt are both counted once.
    pub fn not_received(&self) -> u64 {
        self.acked.saturating_sub(self.received)
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}
