//! What crosses Redis between nodes, in the two forms nodes of two versions speak during a rolling upgrade.
//!
//! - **Single** (every version): one event per publish, the event's own JSON. `{ns}:everyone` carries only
//!   this form, and a node of the previous version gets every event this way.
//! - **Envelope** (version 2): every event of one dispatcher batch bound for one node, in one publish:
//!   `{"v":2,"events":[<event>,…]}`. One publish per batch per destination node on the sender, one parse per
//!   batch on the receiver, instead of one of each per event.
//!
//! A node says which form it reads by its name, which is both its presence member and its channel's suffix:
//! `v2.<hex>` reads envelopes, a bare `<hex>` (the previous version) does not. A sender looks the name up with
//! the user's presence anyway, so choosing the form costs nothing, and a node of either version can publish to
//! any other. Every node reads both forms.

use super::super::Event;

/// The envelope version this node writes and reads.
const VERSION: u32 = 2;
/// The name prefix of nodes that read envelopes.
const READS_ENVELOPES: &str = "v2.";

/// A new node's name: `v2.<hex>` when it reads envelopes (the default), or a bare `<hex>`, as the previous
/// version named itself (`cluster.batch_envelope = false`, which also makes it publish events one by one).
pub(super) fn node_name(batched: bool) -> String {
    let id = format!("{:016x}", rand::random::<u64>());
    if batched { format!("{READS_ENVELOPES}{id}") } else { id }
}

/// Whether the node of this name reads envelopes.
pub(super) fn reads_envelopes(node: &str) -> bool {
    node.starts_with(READS_ENVELOPES)
}

/// One envelope of events already serialised (each with `serde_json::to_string(&Event)`).
pub(super) fn envelope<'a>(events: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = format!(r#"{{"v":{VERSION},"events":["#);
    for (i, event) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(event);
    }
    out.push_str("]}");
    out
}

#[derive(serde::Deserialize)]
struct Envelope {
    v: u32,
    events: Vec<Event>,
}

/// What a node published to this one: an envelope's events, or the one event of the single form. A node that
/// does not read envelopes (`batched` false, behaving as the previous version) refuses them as that version did.
pub(super) fn decode(payload: &[u8], batched: bool) -> Result<Vec<Event>, String> {
    // An event's JSON starts with its variant's name (`{"Frame":…`), never with `{"v":`.
    if batched && payload.starts_with(br#"{"v":"#) {
        let envelope: Envelope = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if envelope.v != VERSION {
            return Err(format!("an envelope of version {} (this node reads {VERSION})", envelope.v));
        }
        Ok(envelope.events)
    } else {
        serde_json::from_slice::<Event>(payload).map(|event| vec![event]).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Recipient, SocketRef};
    use crate::domain::UserId;

    fn frame(user: i64, text: &str) -> Event {
        Event::Frame { to: Recipient::User(UserId(user)), frame: text.into(), v1: None, of_match: None, seq: None }
    }

    fn users(events: &[Event]) -> Vec<Option<UserId>> {
        events.iter().map(Event::user_id).collect()
    }

    #[test]
    fn an_envelope_carries_its_events_in_order() {
        let events = [frame(1, "{\"type\":\"typing\"}"), frame(2, "x"), Event::StandingChanged { user_id: UserId(3) }];
        let serialised: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        let payload = envelope(serialised.iter().map(String::as_str));
        assert!(payload.starts_with(r#"{"v":2,"events":[{"Frame""#), "{payload}");
        let decoded = decode(payload.as_bytes(), true).unwrap();
        assert_eq!(users(&decoded), [Some(UserId(1)), Some(UserId(2)), Some(UserId(3))]);
    }

    /// Exactly what a node of the previous version publishes: one event, its own JSON.
    #[test]
    fn a_single_event_of_the_previous_version_is_read() {
        let old = r#"{"Frame":{"to":{"Session":{"user_id":7,"session_id":9}},"frame":"{\"type\":\"typing\",\"match_id\":4}"}}"#;
        let decoded = decode(old.as_bytes(), true).unwrap();
        let [Event::Frame { to, frame, v1: None, .. }] = decoded.as_slice() else { panic!("{decoded:?}") };
        assert_eq!(*to, Recipient::Socket(SocketRef { user_id: UserId(7), socket_id: 9 }));
        assert_eq!(&**frame, r#"{"type":"typing","match_id":4}"#);
    }

    #[test]
    fn an_unknown_version_or_a_broken_payload_is_refused_not_half_read() {
        assert!(decode(br#"{"v":3,"events":[]}"#, true).unwrap_err().contains("version 3"));
        assert!(decode(br#"{"v":2,"events":[{"Frame":1}]}"#, true).is_err());
        assert!(decode(b"not json", true).is_err());
        // A node behaving as the previous version reads no envelope, as that version could not.
        assert!(decode(br#"{"v":2,"events":[]}"#, false).is_err());
    }

    #[test]
    fn names_say_which_nodes_read_envelopes() {
        assert!(reads_envelopes(&node_name(true)));
        let old = node_name(false);
        assert!(!reads_envelopes(&old) && old.len() == 16, "{old}");
    }
}
