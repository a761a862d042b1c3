//! A match's acknowledged messages on their way to the receiver: the sender's each has the next `seq` and is
//! acknowledged once stored; delivery to the receiver may repeat and reorder them (a resume after a reconnect
//! sends again what a live push already did, two nodes' pushes race). The receiver keeps what it has by `seq`
//! and shows them in order. Tiny on purpose: it checks the rule the clients and `msg.resume` rely on (dedup
//! by seq, in order), not the relay's code, which its own tests cover.

use std::collections::{BTreeMap, BTreeSet};

/// One direction of one match.
#[derive(Debug, Default)]
struct Stream {
    /// Messages stored and acknowledged to the sender: seqs 1..=acked.
    acked: u64,
    /// Arrived out of order, waiting for the gap below them.
    early: BTreeSet<u64>,
    /// What the receiver showed, in order.
    shown: Vec<u64>,
}

pub(super) struct Messages {
    streams: BTreeMap<(usize, usize), Stream>,
    /// The receiver drops repeats and waits for gaps; [`super::Mutation::DeliveryWithoutDedup`] shows whatever
    /// arrives.
    dedup: bool,
}

impl Messages {
    pub(super) fn new(dedup: bool) -> Self {
        Messages { streams: BTreeMap::new(), dedup }
    }

    /// The sender `side` (0 or 1) of match `index` sends one: its seq, acknowledged.
    pub(super) fn send(&mut self, index: usize, side: usize) -> u64 {
        let stream = self.streams.entry((index, side)).or_default();
        stream.acked += 1;
        stream.acked
    }

    /// `seq` reaches the receiver; `Err` says how the receiver's view broke the rule.
    pub(super) fn arrive(&mut self, index: usize, side: usize, seq: u64) -> Result<(), String> {
        let stream = self.streams.entry((index, side)).or_default();
        if !self.dedup {
            stream.shown.push(seq);
        } else if seq > stream.shown.len() as u64 {
            stream.early.insert(seq);
            while stream.early.remove(&(stream.shown.len() as u64 + 1)) {
                stream.shown.push(stream.shown.len() as u64 + 1);
            }
        }
        let in_order = stream.shown.iter().enumerate().all(|(i, s)| *s == i as u64 + 1);
        match in_order {
            true => Ok(()),
            false => Err(format!("match #{index} side {side}: the receiver showed {:?}", stream.shown)),
        }
    }

    /// At rest every acknowledged message was shown: `Err` names the first stream short of it.
    pub(super) fn all_shown(&self) -> Result<(), String> {
        for ((index, side), stream) in &self.streams {
            if (stream.shown.len() as u64) < stream.acked {
                return Err(format!(
                    "match #{index} side {side}: {} acknowledged, the receiver showed {:?}",
                    stream.acked, stream.shown
                ));
            }
        }
        Ok(())
    }
}
