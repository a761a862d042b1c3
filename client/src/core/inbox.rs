//! A conversation's inbox: every stored message handed on exactly once, in `seq` order (docs/protocol.md section 8),
//! as the TypeScript SDK's inbox does (sdk/typescript/src/conversation/inbox.js; the conformance corpus holds both to
//! it). Frames wait by `seq` (a duplicate lands on the same key) and leave only contiguously from the highest seq
//! processed; the seq of a message of ours the server accepted is stepped over. During a `resume` everything waits
//! for its `resume.done`; a gap that live frames leave open for [`GAP_WAIT`] is filled with a `resume`.

use std::collections::BTreeMap;
use std::time::Duration;

use tanis_proto::Seq;

use super::port::Millis;

/// A gap in `seq` that live frames have not closed after this long is filled with `resume`.
pub const GAP_WAIT: Duration = Duration::from_millis(1_500);

/// What waits at a seq.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A peer's message, sealed.
    Theirs { ciphertext: String, nonce: String, commitment: Option<String> },
    /// A copy of one of ours (a `resume` replays them), known by its nonce's counter; or another tab's.
    Mine { ciphertext: String, nonce: String, commitment: Option<String> },
    /// One of ours the server accepted as this seq: nothing to hand on, only to step over.
    Accepted,
}

#[derive(Debug, Default)]
pub(crate) struct Inbox {
    waiting: BTreeMap<Seq, Entry>,
    /// The id of the `resume` in flight.
    resume_id: Option<String>,
    /// When the gap left open must be filled with a `resume`.
    gap_at: Option<Millis>,
}

impl Inbox {
    /// Whether a `resume` is in flight: live frames wait, and nothing of the outbox leaves.
    pub(crate) fn resuming(&self) -> bool {
        self.resume_id.is_some()
    }

    /// A `resume` with this id went out.
    pub(crate) fn resumed(&mut self, id: String) {
        self.gap_at = None;
        self.resume_id = Some(id);
    }

    /// The socket closed: a `resume` in flight will never be answered.
    pub(crate) fn disconnected(&mut self) {
        self.resume_id = None;
    }

    pub(crate) fn gap_at(&self) -> Option<Millis> {
        self.gap_at.filter(|_| !self.resuming())
    }

    /// A `msg` at `seq`, live or replayed; the entries to hand on now, in order.
    pub(crate) fn add(&mut self, seq: Seq, entry: Entry, highest: &mut Seq, now: Millis) -> Vec<(Seq, Entry)> {
        if seq > *highest {
            self.waiting.entry(seq).or_insert(entry);
        }
        if self.resuming() { Vec::new() } else { self.walk(highest, now) }
    }

    /// One of ours accepted as `seq`: stepped over by the walk.
    pub(crate) fn accepted(&mut self, seq: Seq, highest: &mut Seq, now: Millis) -> Vec<(Seq, Entry)> {
        self.add(seq, Entry::Accepted, highest, now)
    }

    /// `resume.done`: everything stored up to `last_seq` has arrived, if it answers our `resume` (`None` if not).
    pub(crate) fn done(
        &mut self,
        id: Option<&str>,
        last_seq: Seq,
        highest: &mut Seq,
        now: Millis,
    ) -> Option<Vec<(Seq, Entry)>> {
        if self.resume_id.is_none() || id != self.resume_id.as_deref() {
            return None;
        }
        self.resume_id = None;
        let later = self.waiting.split_off(&Seq(last_seq.0 + 1));
        let mut out: Vec<(Seq, Entry)> =
            std::mem::replace(&mut self.waiting, later).into_iter().filter(|(seq, _)| seq > highest).collect();
        *highest = (*highest).max(last_seq);
        out.extend(self.walk(highest, now));
        Some(out)
    }

    /// The `resume` was refused: what waits is walked as far as it goes.
    pub(crate) fn refused(&mut self, id: Option<&str>, highest: &mut Seq, now: Millis) -> Option<Vec<(Seq, Entry)>> {
        if self.resume_id.is_none() || id != self.resume_id.as_deref() {
            return None;
        }
        self.resume_id = None;
        Some(self.walk(highest, now))
    }

    /// Hands on what waits contiguously after `highest`; a gap left behind is filled by `resume` after [`GAP_WAIT`].
    fn walk(&mut self, highest: &mut Seq, now: Millis) -> Vec<(Seq, Entry)> {
        let mut out = Vec::new();
        while let Some(entry) = self.waiting.remove(&Seq(highest.0 + 1)) {
            *highest = Seq(highest.0 + 1);
            out.push((*highest, entry));
        }
        self.gap_at = (!self.waiting.is_empty()).then(|| now + GAP_WAIT);
        out
    }
}
