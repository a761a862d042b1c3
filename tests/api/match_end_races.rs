//! The end of a match when both sides press "next" at the same moment (docs/protocol.md §5, `match.leave` and
//! `match.ended`): one end, one `match.ended` per socket, the end stored first deciding who is told `left`.
//!
//! The race is forced, not hoped for: a transaction holds the match's row, so the first leave's end waits in the
//! database while the second leave passes the same checks and queues its own end behind it.

use std::time::Duration;

use sqlx::Connection as _;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, EndReason, MatchId, MatchKind, ServerFrame};

use crate::helpers::{Backend, eventually, spawn_app};

const WITHIN: Duration = Duration::from_secs(10);

fn leave(match_id: MatchId) -> ClientFrame {
    ClientFrame::MatchLeave { id: Some("leave".into()), match_id }
}

/// The frames `socket` receives up to the answer to its leave, then up to a ping's answer: every frame either
/// end told this socket is queued before the later of the two leaves' answers, and a socket's frames keep their
/// order, so once both sides have their answer, a ping flushes the rest.
async fn up_to_answer(socket: &mut Connection) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    loop {
        let frame = tokio::time::timeout(WITHIN, socket.next()).await.expect("answered").expect("a frame");
        let answered =
            matches!(&frame, ServerFrame::Ok { id } | ServerFrame::Error { id, .. } if id.as_deref() == Some("leave"));
        frames.push(frame);
        if answered {
            return frames;
        }
    }
}

async fn up_to_pong(socket: &mut Connection) -> Vec<ServerFrame> {
    socket.send(&ClientFrame::Ping { id: Some("flush".into()) }).await.unwrap();
    let mut frames = Vec::new();
    loop {
        let frame = tokio::time::timeout(WITHIN, socket.next()).await.expect("pong").expect("a frame");
        if matches!(&frame, ServerFrame::Pong { id } if id.as_deref() == Some("flush")) {
            return frames;
        }
        frames.push(frame);
    }
}

fn ends(frames: &[ServerFrame]) -> Vec<EndReason> {
    frames
        .iter()
        .filter_map(|f| if let ServerFrame::MatchEnded { reason, .. } = f { Some(*reason) } else { None })
        .collect()
}

/// Both leave at once, both leaves past the check of the active match before either end is stored: the first
/// stored is told `left` and its peer `peer_left`, one `match.ended` each. Before, both ends told both sides:
/// each socket got `left` and `peer_left`, in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_leaving_at_once_tells_each_socket_one_end() {
    let app = spawn_app(Backend::Postgres).await;
    let (first, second) = (app.user("ilkbasan").await, app.user("sonrabasan").await);
    let (mut a, chat, mut b, _) = app.pair(&first, &second, MatchKind::Text).await;
    let match_id = chat.info.match_id;

    let mut holder = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM matches WHERE id = $1 FOR UPDATE").bind(match_id.0).execute(&mut *held).await.unwrap();
    a.send(&leave(match_id)).await.unwrap();
    eventually(WITHIN, "a's end waits for the row", || crate::helpers::waiting_for_a_lock(&app)).await;
    b.send(&leave(match_id)).await.unwrap();
    eventually(WITHIN, "b's end is queued behind it", || async { app.hub.commit_queue() > 0 }).await;
    held.rollback().await.unwrap();

    let (mut seen_a, mut seen_b) = tokio::join!(up_to_answer(&mut a), up_to_answer(&mut b));
    seen_a.extend(up_to_pong(&mut a).await);
    seen_b.extend(up_to_pong(&mut b).await);
    assert_eq!(ends(&seen_a), [EndReason::Left], "a's end was stored first: {seen_a:?}");
    assert_eq!(ends(&seen_b), [EndReason::PeerLeft], "b is told once, that a left: {seen_b:?}");
    assert!(seen_b.contains(&ServerFrame::Ok { id: Some("leave".into()) }), "b's leave is answered ok: {seen_b:?}");
}

/// A message stored before the end reaches the peer before its `match.ended`, when the two are on different nodes
/// (docs/protocol.md §5). A's node holds its relay to the other nodes (as one that is behind): A's message is
/// accepted, then B, on the other node, leaves. B's node reads the message it has not been relayed from the store
/// and tells it before the end, and the relay's late copy is not sent again. Before, B was told `match.ended` at
/// once and got the message after it, once the relay caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stored_before_the_end_reaches_the_peer_on_another_node_before_the_end() {
    let nodes = crate::helpers::spawn_cluster_with(2, |_| {}).await;
    let (first, second) = (nodes[0].user("soncuyazan").await, nodes[1].user("erkengiden").await);
    let (mut a, mut b) = (nodes[0].socket(&first).await, nodes[1].socket(&second).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut a, MatchKind::Text), Chat::find(&mut b, MatchKind::Text));
    let (mut chat_a, _chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;

    let held = nodes[0].hub.delivery().cluster().expect("a cluster").hold_relay().await;
    a.send(&chat_a.message("son söz")).await.unwrap();
    let accepted = tokio::time::timeout(WITHIN, a.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })))
        .await
        .expect("accepted in time")
        .unwrap();
    let ServerFrame::MsgAccepted { seq, .. } = accepted else { unreachable!() };
    b.send(&leave(match_id)).await.unwrap();
    let mut seen_b = up_to_answer(&mut b).await;
    drop(held);
    // A mark relayed by A's node after the held message: once B has it, the relay's copy has reached B's node.
    // (Only to order the test's reads: no client can send it.)
    let mark = ServerFrame::Pong { id: Some("relayed".into()) };
    nodes[0].hub.delivery().to_user(second.id, &mark);
    loop {
        let frame = tokio::time::timeout(WITHIN, b.next()).await.expect("the mark in time").unwrap();
        if frame == mark {
            break;
        }
        seen_b.push(frame);
    }
    let told_a = tokio::time::timeout(WITHIN, a.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })));
    let told_a = told_a.await.expect("a is told in time").unwrap();
    assert!(matches!(told_a, ServerFrame::MatchEnded { reason: EndReason::PeerLeft, .. }), "{told_a:?}");

    let at = |wanted: &dyn Fn(&ServerFrame) -> bool| seen_b.iter().position(wanted);
    let message = at(&|f| matches!(f, ServerFrame::Msg { seq: s, .. } if *s == seq)).expect("b gets the message");
    let end = at(&|f| matches!(f, ServerFrame::MatchEnded { .. })).expect("b is told the end");
    assert!(message < end, "the message before the end: {seen_b:?}");
    assert_eq!(ends(&seen_b), [EndReason::Left], "{seen_b:?}");
    let copies = seen_b.iter().filter(|f| matches!(f, ServerFrame::Msg { .. })).count();
    assert_eq!(copies, 1, "the relay's late copy is not sent again: {seen_b:?}");
}
