//! Protocol version 2 (issue 50, point 5): cumulative acknowledgements and coalesced receipts. A `msg.ack` up to
//! `seq` marks every message of the match addressed to the receiver up to it delivered; a `msg.send` may carry
//! the acknowledgement (`ack`), whose receipt then rides on the `msg` that tells the peer of the new message
//! (`delivered`); version 1 sockets of the same users keep getting one `msg.delivered` per message. What is
//! acknowledged is stored first, as before: a receipt the database refuses is never announced.
//!
//! "Nothing else arrived" is shown without waiting: the announcer tells batches in commit order, so a message the
//! acknowledging side sends after its own earlier message was accepted is in a later batch, and whatever the
//! earlier batches told a socket reaches it before that message ([`until_barrier`]).

use tanis::domain::{MatchId, Seq};
use tanis_client::{ACK_DELAY, Acks, Chat, Connection};
use tanis_proto::{ClientFrame, ErrorCode, ServerFrame};

use crate::database_failures::{allow_updates, refuse_updates};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_cumulative_ack_marks_every_message_up_to_it_delivered_and_the_sender_hears_it_once,
    an_ack_riding_on_a_send_is_told_on_the_peers_msg_and_costs_no_frame_of_its_own,
    a_version_1_sender_hears_a_cumulative_ack_as_one_receipt_per_message,
    a_version_1_receiver_acknowledges_one_message_and_a_version_2_sender_hears_just_that_one,
    each_socket_of_the_sender_hears_the_receipt_as_its_version_promises,
    an_ack_beyond_the_last_message_or_of_another_pairs_match_marks_nothing,
    at_one_in_flight_a_message_costs_three_frames_in_version_2_and_five_in_version_1,
    a_receipt_the_database_refuses_is_never_announced,
    version_1_refuses_an_ack_on_a_send_as_the_unknown_field_it_was,
    an_ack_riding_on_a_refused_send_is_stored_and_told_all_the_same,
);

/// Every frame `socket` gets up to the `msg` with `seq` (which is left out).
async fn until_msg(socket: &mut Connection, seq: Seq) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    loop {
        match socket.next().await.unwrap() {
            ServerFrame::Msg { seq: s, .. } if s == seq => return frames,
            frame => frames.push(frame),
        }
    }
}

/// The acknowledging side sends two messages, each once the one before is accepted: the second is in a batch
/// after every batch holding what that side sent before. Returns the second's seq: the peer reads up to it
/// ([`until_barrier`]).
async fn barrier(socket: &mut Connection, chat: &mut Chat) -> Seq {
    let mut last = Seq(0);
    for text in ["engel", "engel"] {
        socket.send(&chat.message(text)).await.unwrap();
        last = match socket.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap() {
            ServerFrame::MsgAccepted { seq, .. } => seq,
            _ => unreachable!(),
        };
    }
    last
}

/// What the peer got before the barrier's second message, the barrier's own messages left out.
async fn until_barrier(socket: &mut Connection, last: Seq) -> Vec<ServerFrame> {
    let first = Seq(last.0 - 1);
    until_msg(socket, last)
        .await
        .into_iter()
        .filter(|f| !matches!(f, ServerFrame::Msg { seq, .. } if *seq == first))
        .collect()
}

/// `chat`'s next message with an acknowledgement up to `seq` riding on it.
fn with_ack(chat: &mut Chat, text: &str, seq: Seq) -> ClientFrame {
    let mut frame = chat.message(text);
    if let ClientFrame::MsgSend { ack, .. } = &mut frame {
        *ack = Some(seq);
    }
    frame
}

/// Sends `count` messages from `socket`, each accepted before the next, and returns their seqs.
async fn send_accepted(socket: &mut Connection, chat: &mut Chat, count: usize) -> Vec<Seq> {
    let mut seqs = Vec::new();
    for n in 0..count {
        socket.send(&chat.message(&format!("mesaj {n}"))).await.unwrap();
        match socket.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap() {
            ServerFrame::MsgAccepted { seq, .. } => seqs.push(seq),
            _ => unreachable!(),
        }
    }
    seqs
}

async fn receive(socket: &mut Connection, count: usize) {
    for _ in 0..count {
        socket.next_where(|f| matches!(f, ServerFrame::Msg { mine: false, .. })).await.unwrap();
    }
}

fn delivered(match_id: MatchId, seq: i64, up_to: bool) -> ServerFrame {
    ServerFrame::MsgDelivered { match_id, seq: Seq(seq), up_to }
}

async fn delivered_count(app: &TestApp, match_id: MatchId) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id} AND delivered = TRUE")).await
}

async fn a_cumulative_ack_marks_every_message_up_to_it_delivered_and_the_sender_hears_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 2)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 3).await;
    receive(&mut sb, 3).await;

    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(3) }).await.unwrap();
    let last = barrier(&mut sb, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![delivered(match_id, 3, true)], "one receipt for three");
    assert_eq!(delivered_count(&app, match_id).await, 3);

    // A new socket of the receiver (after a reconnect) starts from nothing: acknowledging again marks nothing
    // and tells nothing; acknowledging further marks just what is new.
    drop(sb);
    let mut again = app.socket_version(&b, 2).await;
    again.send(&ClientFrame::Resume { id: None, match_id, after_seq: Seq(0) }).await.unwrap();
    again.next_where(|f| matches!(f, ServerFrame::ResumeDone { .. })).await.unwrap();
    again.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(3) }).await.unwrap();
    send_accepted(&mut sa, &mut chat_a, 2).await;
    receive(&mut again, 2).await;
    again.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(7) }).await.unwrap();
    let last = barrier(&mut again, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![delivered(match_id, 7, true)]);
    // The barrier's own messages (4, 5) are A's to acknowledge: B's messages stay undelivered.
    assert_eq!(delivered_count(&app, match_id).await, 5);
}

async fn an_ack_riding_on_a_send_is_told_on_the_peers_msg_and_costs_no_frame_of_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 2)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 2).await;
    receive(&mut sb, 2).await;

    sb.send(&with_ack(&mut chat_b, "cevap", Seq(2))).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::MsgAccepted { seq: Seq(3), .. }));
    let reply = sa.next().await.unwrap();
    assert!(matches!(reply, ServerFrame::Msg { seq: Seq(3), delivered: Some(Seq(2)), mine: false, .. }), "{reply:?}");
    assert_eq!(chat_a.read(&reply).unwrap(), "cevap");
    assert_eq!(delivered_count(&app, match_id).await, 2);
    let last = barrier(&mut sb, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![], "no msg.delivered besides");
}

async fn a_version_1_sender_hears_a_cumulative_ack_as_one_receipt_per_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (1, 2)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 3).await;
    receive(&mut sb, 3).await;

    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(3) }).await.unwrap();
    let last = barrier(&mut sb, &mut chat_b).await;
    let one_by_one = vec![delivered(match_id, 1, false), delivered(match_id, 2, false), delivered(match_id, 3, false)];
    assert_eq!(until_barrier(&mut sa, last).await, one_by_one);

    // Riding on a send: the receipts first, then the message, as version 1 has them.
    send_accepted(&mut sa, &mut chat_a, 1).await;
    receive(&mut sb, 1).await;
    sb.send(&with_ack(&mut chat_b, "cevap", Seq(6))).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::MsgAccepted { seq: Seq(7), .. }));
    assert_eq!(sa.next().await.unwrap(), delivered(match_id, 6, false));
    let reply = sa.next().await.unwrap();
    assert!(matches!(reply, ServerFrame::Msg { seq: Seq(7), delivered: None, .. }), "{reply:?}");
}

async fn a_version_1_receiver_acknowledges_one_message_and_a_version_2_sender_hears_just_that_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 1)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 3).await;
    receive(&mut sb, 3).await;

    // Version 1's msg.ack names one message, whatever came before it: the receipt says just that one.
    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(2) }).await.unwrap();
    let last = barrier(&mut sb, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![delivered(match_id, 2, false)]);
    assert_eq!(delivered_count(&app, match_id).await, 1);
}

async fn each_socket_of_the_sender_hears_the_receipt_as_its_version_promises(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 2)).await;
    let match_id = chat_a.info.match_id;
    let (mut tablet_v1, mut phone_v2) = (app.socket_version(&a, 1).await, app.socket_version(&a, 2).await);
    send_accepted(&mut sa, &mut chat_a, 2).await;
    receive(&mut sb, 2).await;

    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(2) }).await.unwrap();
    let last = barrier(&mut sb, &mut chat_b).await;
    let copies = |frames: Vec<ServerFrame>| -> Vec<ServerFrame> {
        // The other sockets also got A's own two messages (`mine`).
        frames.into_iter().filter(|f| !matches!(f, ServerFrame::Msg { mine: true, .. })).collect()
    };
    assert_eq!(until_barrier(&mut sa, last).await, vec![delivered(match_id, 2, true)]);
    assert_eq!(copies(until_barrier(&mut phone_v2, last).await), vec![delivered(match_id, 2, true)]);
    let one_by_one = vec![delivered(match_id, 1, false), delivered(match_id, 2, false)];
    assert_eq!(copies(until_barrier(&mut tablet_v1, last).await), one_by_one);
}

async fn an_ack_beyond_the_last_message_or_of_another_pairs_match_marks_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (c, d) = (app.user("tilki").await, app.user("kurt").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 2)).await;
    let (mut sc, mut chat_c, _sd, _) = app.pair_versions(&c, &d, (2, 2)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 2).await;
    receive(&mut sb, 2).await;

    // As a version 1 ack of a message that does not exist: no error, nothing marked, nothing told.
    sb.send(&ClientFrame::MsgAck { id: Some("ileri".into()), match_id, seq: Seq(5) }).await.unwrap();
    // An outsider acknowledging another pair's match: the same silence, and nothing of theirs marked.
    sc.send(&ClientFrame::MsgAck { id: Some("yabanci".into()), match_id, seq: Seq(2) }).await.unwrap();
    // Nor can an outsider's send carry it: the ack is of the send's own match, which is not theirs.
    sc.send(&with_ack(&mut chat_c, "sizinki", Seq(2))).await.unwrap();
    let mut wrong = with_ack(&mut chat_c, "sizinki", Seq(2));
    if let ClientFrame::MsgSend { match_id: m, id, .. } = &mut wrong {
        (*m, *id) = (match_id, Some("baska".into()));
    }
    sc.send(&wrong).await.unwrap();
    let refused = sc.next_where(|f| matches!(f, ServerFrame::Error { .. })).await.unwrap();
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::NotInMatch, .. }), "{refused:?}");

    let last = barrier(&mut sb, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![], "nothing marked, nothing told");
    assert_eq!(delivered_count(&app, match_id).await, 0);
}

/// One side of the scripted exchange: its socket, chat, what it owes and the frames it sent and received.
struct Scripted {
    socket: Connection,
    chat: Chat,
    acks: Option<Acks>,
    frames: usize,
}

impl Scripted {
    async fn send(&mut self, text: &str) {
        let mut frame = self.chat.message(text);
        if let Some(acks) = &mut self.acks {
            acks.ride(&mut frame);
        }
        self.socket.send(&frame).await.unwrap();
        self.frames += 1;
    }

    async fn next(&mut self) -> ServerFrame {
        let frame = self.socket.next().await.unwrap();
        self.frames += 1;
        frame
    }

    /// Reads the peer's message and acknowledges it as its version does: at once in version 1, through [`Acks`]
    /// (at a time the test gives it) in version 2.
    async fn read(&mut self, now: std::time::Instant) -> ServerFrame {
        let frame = self.next().await;
        let ServerFrame::Msg { match_id, seq, mine: false, .. } = frame else {
            panic!("not the peer's msg: {frame:?}")
        };
        match &mut self.acks {
            Some(acks) => acks.received(match_id, seq, now),
            None => {
                self.socket.send(&ClientFrame::MsgAck { id: None, match_id, seq }).await.unwrap();
                self.frames += 1;
            }
        }
        frame
    }
}

async fn at_one_in_flight_a_message_costs_three_frames_in_version_2_and_five_in_version_1(backend: Backend) {
    const MESSAGES: usize = 10;
    for version in [2, 1] {
        let app = spawn_app(backend).await;
        let (a, b) = (app.user("kedi").await, app.user("kopek").await);
        let (sa, chat_a, sb, chat_b) = app.pair_versions(&a, &b, (version, version)).await;
        let match_id = chat_a.info.match_id;
        let acks = || (version == 2).then(Acks::new);
        let mut sides = [
            Scripted { socket: sa, chat: chat_a, acks: acks(), frames: 0 },
            Scripted { socket: sb, chat: chat_b, acks: acks(), frames: 0 },
        ];
        // Time as the test tells it: replies come well within the acknowledgement delay.
        let start = std::time::Instant::now();
        let mut receipts_heard = 0;
        // A chat: the sides take turns, one message in flight, each answering the one it read.
        for n in 0..MESSAGES {
            let from = n % 2;
            sides[from].send(&format!("tur {n}")).await;
            let [s0, s1] = &mut sides;
            let (sender, receiver) = if from == 0 { (s0, s1) } else { (s1, s0) };
            // The sender: its acceptance, then (version 1) the receipt of the message it answered.
            assert!(matches!(sender.next().await, ServerFrame::MsgAccepted { .. }));
            let read = receiver.read(start).await;
            if let ServerFrame::Msg { delivered: Some(_), .. } = read {
                receipts_heard += 1;
            }
            if version == 1 {
                assert!(matches!(sender.next().await, ServerFrame::MsgDelivered { up_to: false, .. }));
                receipts_heard += 1;
            }
        }
        // The last message has no answer to ride on: once the delay has passed it is acknowledged on its own.
        if version == 2 {
            let (last_sender, last_reader) = if (MESSAGES - 1).is_multiple_of(2) { (0, 1) } else { (1, 0) };
            let reader = &mut sides[last_reader];
            let due = reader.acks.as_mut().unwrap().take_due(start + ACK_DELAY);
            assert_eq!(due.len(), 1, "one standalone msg.ack");
            reader.socket.send(&due[0]).await.unwrap();
            reader.frames += 1;
            let sender = &mut sides[last_sender];
            assert!(matches!(sender.next().await, ServerFrame::MsgDelivered { up_to: true, .. }));
            receipts_heard += 1;
        }
        for side in &mut sides {
            side.socket.send(&ClientFrame::Ping { id: Some("son".into()) }).await.unwrap();
            assert!(matches!(side.socket.next().await.unwrap(), ServerFrame::Pong { .. }), "no frame left over");
        }
        let frames = sides[0].frames + sides[1].frames;
        // Receipts unchanged: every message is marked delivered, and its sender was told.
        assert_eq!(delivered_count(&app, match_id).await, MESSAGES as i64, "version {version}");
        let (expected_frames, expected_receipts) =
            if version == 2 { (3 * MESSAGES + 2, MESSAGES) } else { (5 * MESSAGES, MESSAGES) };
        assert_eq!(frames, expected_frames, "version {version}: frames for {MESSAGES} messages");
        // In version 2 each receipt but the last rode on a `msg` and covered one message each.
        assert_eq!(receipts_heard, if version == 2 { MESSAGES - 1 + 1 } else { expected_receipts });
        app.stop().await;
    }
}

async fn a_receipt_the_database_refuses_is_never_announced(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 2)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 2).await;
    receive(&mut sb, 2).await;
    let table = match backend {
        Backend::Sqlite => "message_rows",
        Backend::Postgres => "message_logs",
    };

    refuse_updates(&app, table, "delivered").await;
    sb.send(&ClientFrame::MsgAck { id: Some("ack".into()), match_id, seq: Seq(2) }).await.unwrap();
    let refused = sb.next().await.unwrap();
    assert!(matches!(&refused, ServerFrame::Error { code: ErrorCode::Internal, id: Some(id), .. } if id == "ack"));
    // Riding on a send: the batch of the two is refused and retried in halves (the group commit isolates what
    // the database refuses), so the message is stored, accepted and delivered without the receipt, and the
    // refused receipt is told as a `msg.ack`'s failure is: `internal`.
    sb.send(&with_ack(&mut chat_b, "cevap", Seq(2))).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::MsgAccepted { seq: Seq(3), .. }));
    let told = sb.next().await.unwrap();
    assert!(matches!(&told, ServerFrame::Error { code: ErrorCode::Internal, id: None, .. }), "{told:?}");
    let reply = sa.next().await.unwrap();
    assert!(matches!(reply, ServerFrame::Msg { seq: Seq(3), delivered: None, .. }), "{reply:?}");
    allow_updates(&app, table, "delivered").await;
    assert_eq!(delivered_count(&app, match_id).await, 0);

    // Stored once the database takes it, and only then told.
    let last = barrier(&mut sb, &mut chat_b).await;
    let before = until_barrier(&mut sa, last).await;
    assert!(before.is_empty(), "a refused receipt is never announced: {before:?}");
    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(2) }).await.unwrap();
    let last = barrier(&mut sb, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![delivered(match_id, 2, true)]);
    assert_eq!(delivered_count(&app, match_id).await, 2);
}

async fn version_1_refuses_an_ack_on_a_send_as_the_unknown_field_it_was(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, _sb, _) = app.pair_versions(&a, &b, (1, 1)).await;
    sa.send(&with_ack(&mut chat_a, "eski", Seq(1))).await.unwrap();
    let refused = sa.next().await.unwrap();
    assert!(matches!(&refused, ServerFrame::Error { code: ErrorCode::InvalidFrame, id: Some(id), .. } if id == "m1"));
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
}

async fn an_ack_riding_on_a_refused_send_is_stored_and_told_all_the_same(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair_versions(&a, &b, (2, 2)).await;
    let match_id = chat_a.info.match_id;
    send_accepted(&mut sa, &mut chat_a, 2).await;
    receive(&mut sb, 2).await;

    // A send refused before it is queued (here a bad client_msg_id; a rate limit or the match's end alike): the
    // message is not stored, the acknowledgement it carried is.
    let mut bad = with_ack(&mut chat_b, "bozuk", Seq(2));
    if let ClientFrame::MsgSend { client_msg_id, .. } = &mut bad {
        client_msg_id.clear();
    }
    sb.send(&bad).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::InvalidField, .. }));
    let last = barrier(&mut sb, &mut chat_b).await;
    assert_eq!(until_barrier(&mut sa, last).await, vec![delivered(match_id, 2, true)]);
    assert_eq!(delivered_count(&app, match_id).await, 2);
}
