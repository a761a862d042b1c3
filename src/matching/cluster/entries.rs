//! The forms of what the cluster's queue holds in Redis: the keys, an entry (`<socket>|<seeker>`, or
//! `<socket>|@<node>|<seeker>` while a node holds the user, `<socket>|!<node>|<seeker>` while it opens their pair),
//! and a record of the input stream, which carries the seeker bare. Plain functions over text: the scripts' calls
//! ([`super::scripts`]), the node's side of the queue ([`super::queue`]) and the simulation all read and write
//! these forms through here.

use serde::{Deserialize, Serialize};

use crate::domain::UserId;
use crate::matching::Seeker;
use crate::matching::engine::Order;
use crate::redis_link::Target;

/// One change to the queue, as the matchmaker reads it from the input stream. A seeker in a record is [`bare`]:
/// the declared gender and the wish live only in the queue's entry, which a delete erases (a stream entry is only
/// flagged by `XDEL`, its bytes stay until its node of the stream is freed), and the matchmaker reads them there.
/// A node of the previous release writes them in the record too; the matchmaker deletes those once read.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Input {
    Find(Box<Seeker>),
    /// The user's place was taken out: any of theirs, or (`socket_id`) only the one that socket made, so that a
    /// leave read late does not take a place a newer request made from another socket (the simulation's long
    /// search, docs/testing.md row 32). The previous release writes and reads it without the socket.
    Leave {
        user_id: UserId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        socket_id: Option<u64>,
    },
    /// A seeker another node held, already told `match.queued`. Read only by nodes of this version and later:
    /// a cluster that still has a node of the previous version runs with `cluster.local_pairing_ms = 0`.
    HandedOver(Box<Seeker>),
}

impl Input {
    /// The user whose place the record is about.
    pub(crate) fn user_id(&self) -> UserId {
        match self {
            Input::Find(seeker) | Input::HandedOver(seeker) => seeker.user_id(),
            Input::Leave { user_id, .. } => *user_id,
        }
    }

    /// What the elected matchmaker is to do with this record, read after it took the queue over. `entry` is asked
    /// for the user's entry as it is now, once for a find or a hand-over (and only then): a find is taken only while
    /// that entry is still the matchmaker's, since one read again after this matchmaker took over (it started from
    /// the queue itself), or after its user left or was paired, is stale; and an entry a node holds again (the
    /// user having left and asked anew) is not ours.
    ///
    /// The request itself is what is queued, not the entry: when two sockets of the user ask at once, the first's
    /// request made the entry and waits for its `match.queued` from here, while the second's took the entry over
    /// and was answered `already_queued` by its node. Queueing the entry twice answered the second socket twice and
    /// the first never; the second's own request, next in the stream, moves the place to its socket. The record
    /// is [`bare`]: the declared gender and the wish are the entry's.
    pub(crate) fn order(self, entry: impl FnOnce() -> Option<String>) -> Option<Order> {
        let held = || entry().as_deref().and_then(held_by_matchmaker);
        match self {
            Input::Find(mut asked) => {
                let entry = held()?;
                asked.candidate.gender = entry.candidate.gender;
                asked.candidate.seeking = entry.candidate.seeking;
                Some(Order::Find { seeker: asked, again: false })
            }
            Input::HandedOver(_) => held().map(|seeker| Order::TakeOver(Box::new(seeker))),
            Input::Leave { user_id, socket_id } => Some(Order::Cancel { user: user_id, socket: socket_id }),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(crate) queue: String,
    pub(crate) input: String,
    pub(crate) lease: String,
    pub(crate) epoch: String,
    pub(crate) alive: String,
    /// User → when a node claimed them ([`CLAIM`](super::scripts::places::CLAIM)): how a claim nobody will settle is told from one being opened.
    pub(crate) claimed: String,
    /// User → the request of their claim that a leave marked cancelled ([`LEAVE`](super::scripts::places::LEAVE)): its
    /// settle lets it go instead of holding it again.
    pub(crate) cancelled: String,
    /// Node → until when it announces that it understands gender wishes (this release's ACQUIRE).
    pub(crate) wishes: String,
}

impl Keys {
    /// The keys of `namespace`: on one shard of a Redis Cluster, since a script may touch any of them.
    pub(crate) fn new(namespace: &str, target: &Target) -> Self {
        let mm = target.same_shard(&format!("{namespace}:mm"));
        Self {
            queue: format!("{mm}:queue"),
            input: format!("{mm}:input"),
            lease: format!("{mm}:lease"),
            epoch: format!("{mm}:epoch"),
            alive: format!("{mm}:alive"),
            claimed: format!("{mm}:claimed"),
            cancelled: format!("{mm}:cancelled"),
            wishes: format!("{mm}:wishes"),
        }
    }
}

/// The forms a seeker takes in the queue, from one serialisation: the entry the matchmaker holds and the input
/// records a re-find writes (their JSON is what serde writes for [`Input`]; a test holds them to it).
pub(super) struct Forms {
    json: String,
}

impl Forms {
    pub(super) fn of(seeker: &Seeker) -> Self {
        Forms { json: serde_json::to_string(seeker).expect("serialises") }
    }

    pub(super) fn entry(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.json)
    }

    /// The record of a re-find: the seeker [`bare`].
    pub(super) fn find(seeker: &Seeker) -> String {
        record(&Input::Find(Box::new(bare(seeker))))
    }
}

/// The seeker as an input record carries it: without the declared gender and the wish (see [`Input`]).
pub(crate) fn bare(seeker: &Seeker) -> Seeker {
    let mut bare = seeker.clone();
    bare.candidate.gender = None;
    bare.candidate.seeking = None;
    bare
}

/// What a queue entry starts with: the socket that made it, so its closing removes only its own entry.
pub(crate) fn entry_prefix(socket_id: u64) -> String {
    format!("{socket_id}|")
}

/// An entry as the elected matchmaker holds it.
pub(crate) fn entry(seeker: &Seeker) -> String {
    format!("{}{}", entry_prefix(seeker.socket_id), serde_json::to_string(seeker).expect("serialises"))
}

/// The seeker of an entry the elected matchmaker holds; `None` for one a node holds (or unreadable).
pub(crate) fn held_by_matchmaker(entry: &str) -> Option<Seeker> {
    serde_json::from_str(entry.split_once('|')?.1).ok()
}

/// The prefix (`<socket>|@<node>|`) and seeker of an entry a node holds, not claimed; `None` otherwise.
pub(super) fn held_by_node(entry: &str) -> Option<(&str, Seeker)> {
    let (socket, rest) = entry.split_once('|')?;
    let (node, json) = rest.strip_prefix('@')?.split_once('|')?;
    let prefix = &entry[..socket.len() + node.len() + 3];
    Some((prefix, serde_json::from_str(json).ok()?))
}

pub(crate) fn record(input: &Input) -> String {
    serde_json::to_string(input).expect("serialises")
}

/// The seekers of the entries the elected matchmaker holds among `entries`, oldest first.
pub(crate) fn matchmakers_entries(entries: impl IntoIterator<Item = String>) -> Vec<Seeker> {
    let mut seekers: Vec<Seeker> = entries.into_iter().filter_map(|entry| held_by_matchmaker(&entry)).collect();
    seekers.sort_by_key(|s| s.candidate.queued_at);
    seekers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeker() -> Seeker {
        let entry = r#"{"candidate":{"user_id":7,"kind":"text","excluded":[],"nearby":null,
            "queued_at":"2026-11-24T10:00:00Z"},"session_id":9,"request_id":"f","public_key":"k"}"#;
        serde_json::from_str(entry).unwrap()
    }

    /// The scripts write the records a re-find makes from the seeker's JSON (`record` in [`super::scripts::places::RECORDS`], and
    /// [`Forms`]): they must read as serde writes them.
    #[test]
    fn the_records_a_re_find_writes_are_the_inputs_serde_writes() {
        let forms = Forms::of(&seeker());
        assert_eq!(Forms::find(&seeker()), record(&Input::Find(Box::new(seeker()))));
        assert!(
            super::super::scripts::places::RECORDS.contains(r#"return '{"' .. input .. '":' .. bare(seeker) .. '}'"#)
        );
        let json = serde_json::to_string(&seeker()).unwrap();
        assert_eq!(format!(r#"{{"HandedOver":{json}}}"#), record(&Input::HandedOver(Box::new(seeker()))));
        assert_eq!(forms.entry(&entry_prefix(9)), entry(&seeker()));
        let leave = Input::Leave { user_id: UserId(7), socket_id: Some(9) };
        assert_eq!(record(&leave), r#"{"Leave":{"user_id":7,"socket_id":9}}"#);
        assert!(
            super::super::scripts::places::RECORDS
                .contains(r#"return '{"Leave":{"user_id":' .. user .. ',"socket_id":' .. socket .. '}}'"#)
        );
    }
}
