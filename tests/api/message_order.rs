//! Order under retries with the reference client (issue 59 point 1): what a client accepted into its outbox
//! ([`Outbox`]) reaches the peer readable, once, in the order it was written, whatever the server refuses for
//! now. Sent far past the per-user rate (`hub.message_burst`, then `hub.messages_per_second`), and on PostgreSQL
//! through an outage of the database (every connection terminated and new ones refused, as a restart does).
//! The sender waits only as the server says (`retry_after_ms`), on the server's manual clock; the peer reads with
//! the E2E receive window.

use std::time::{Duration, Instant};

use tanis_client::{Chat, Connection as Socket, Outbox, Refusal, counter_of};
use tanis_proto::{ErrorCode, MatchKind, ServerFrame};

use crate::database_failures::Outage;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(a_hundred_messages_sent_past_the_rate_limit_are_all_read_once_in_the_order_written);

/// What the sender met on the way.
#[derive(Default, Debug)]
struct Refusals {
    rate_limited: usize,
    internal: usize,
}

/// Puts `outbox` on `socket` as the server lets it: sends what is ready and reads the answers until the outbox is
/// empty or `stop` holds. Time is the server's manual clock: once every frame on the wire is answered and a refused
/// one waits for its retry hint, the clock (and the outbox's time with it) moves on by exactly that hint.
async fn drive(
    app: &TestApp,
    socket: &mut Socket,
    outbox: &mut Outbox,
    refusals: &mut Refusals,
    stop: impl Fn(&Refusals) -> bool,
) {
    let mut now = Instant::now();
    let mut on_wire = 0usize;
    while !outbox.is_empty() && !stop(refusals) {
        for frame in outbox.ready(now) {
            socket.send(&frame).await.unwrap();
            on_wire += 1;
        }
        // (An earlier call may have left answers on the wire: then this one reads them first.)
        if let Some(at) = outbox.retry_at().filter(|at| on_wire == 0 && *at > now) {
            app.clock.advance(chrono::TimeDelta::from_std(at - now).unwrap());
            now = at;
            continue;
        }
        match socket.next().await.unwrap() {
            ServerFrame::MsgAccepted { client_msg_id, .. } => {
                on_wire = on_wire.saturating_sub(1);
                outbox.accepted(&client_msg_id);
            }
            ServerFrame::Error { id: Some(id), code, retry_after_ms, .. } => {
                on_wire = on_wire.saturating_sub(1);
                match code {
                    ErrorCode::RateLimited => refusals.rate_limited += 1,
                    ErrorCode::Internal => refusals.internal += 1,
                    _ => {}
                }
                let refusal = outbox.refused(&id, code, retry_after_ms.map(Duration::from_millis), now);
                // Unknown: a second copy of a frame that was accepted meanwhile (it went again after a hold).
                assert!(!matches!(refusal, Refusal::Failed(_)), "{code:?} for {id} is final: {refusal:?}");
            }
            _ => {}
        }
    }
}

/// Reads `count` messages of the peer; returns their texts in the order the writer wrote them (by E2E counter),
/// each read exactly once.
async fn read_all(socket: &mut Socket, chat: &mut Chat, count: usize) -> Vec<String> {
    let mut read = Vec::new();
    while read.len() < count {
        let frame = socket.next().await.unwrap();
        let ServerFrame::Msg { nonce, mine: false, .. } = &frame else { continue };
        let counter = counter_of(nonce).expect("a nonce of the scheme");
        let text = chat.read(&frame).unwrap_or_else(|e| panic!("message {counter} unreadable: {e}"));
        read.push((counter, text));
    }
    read.sort_unstable();
    let counters: Vec<u64> = read.iter().map(|(c, _)| *c).collect();
    assert_eq!(counters, (1..=count as u64).collect::<Vec<_>>(), "each counter once");
    read.into_iter().map(|(_, text)| text).collect()
}

async fn a_hundred_messages_sent_past_the_rate_limit_are_all_read_once_in_the_order_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sirali").await, app.user("okuyan").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let written: Vec<String> = (1..=100).map(|i| format!("sıra {i}")).collect();
    let mut outbox = Outbox::new();
    for text in &written {
        outbox.push(chat_a.message(text));
    }

    let mut refusals = Refusals::default();
    let ((), read) = tokio::join!(
        drive(&app, &mut sa, &mut outbox, &mut refusals, |_| false),
        read_all(&mut sb, &mut chat_b, written.len())
    );
    assert!(refusals.rate_limited > 0, "the test went past the rate limit: {refusals:?}");
    assert_eq!(read, written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_through_a_postgresql_outage_are_all_read_once_in_the_order_written() {
    let app = spawn_app(Backend::Postgres).await;
    let (a, b) = (app.user("kesinti").await, app.user("bekleyen").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let written: Vec<String> = (1..=30).map(|i| format!("kesinti {i}")).collect();
    let mut outbox = Outbox::new();
    let mut refusals = Refusals::default();
    let reader = tokio::spawn(async move { read_all(&mut sb, &mut chat_b, 30).await });

    for text in &written[..5] {
        outbox.push(chat_a.message(text));
    }
    drive(&app, &mut sa, &mut outbox, &mut refusals, |_| false).await;
    // The database goes away; ten more are written and tried until the server answers `internal`.
    let outage = Outage::begin(&app).await;
    for text in &written[5..15] {
        outbox.push(chat_a.message(text));
    }
    drive(&app, &mut sa, &mut outbox, &mut refusals, |r| r.internal > 0).await;
    outage.end().await;
    // Back: the rest is written, and everything goes, in order.
    for text in &written[15..] {
        outbox.push(chat_a.message(text));
    }
    drive(&app, &mut sa, &mut outbox, &mut refusals, |_| false).await;
    assert!(refusals.internal > 0, "the outage was met: {refusals:?}");
    assert_eq!(reader.await.unwrap(), written);
}
