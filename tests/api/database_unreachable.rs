//! A send while PostgreSQL cannot be reached (issue 74 point 3): the server between the app and its database is
//! taken away for real, by a TCP relay the test puts in front of the test PostgreSQL and then cuts, as a network
//! partition or a stopped database server does. Whichever way it goes, refusing connections or no longer
//! answering on the ones open, every send is answered `internal` with `retry_after_ms` within the bound
//! docs/protocol.md documents (two batches of at most `PG_WRITE_TIMEOUT` each), never left hanging; and once the
//! database is back, the same messages sent again are stored once each, in order, and delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tanis::domain::Seq;
use tanis::store::PG_WRITE_TIMEOUT;
use tanis_client::Connection as Socket;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{Backend, spawn_app_with};

/// How the relay treats the app's connections to PostgreSQL.
const OPEN: u8 = 0;
/// New connections are refused and open ones closed: what a stopped server's host answers.
const REFUSING: u8 = 1;
/// Nothing is forwarded either way, and nothing is closed: what a partition looks like from the app.
const SILENT: u8 = 2;

/// A TCP relay in front of the test PostgreSQL.
struct Relay {
    port: u16,
    state: Arc<AtomicU8>,
    changed: watch::Sender<u8>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(AtomicU8::new(OPEN));
        let (changed, _) = watch::channel(OPEN);
        let (st, ch) = (state.clone(), changed.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                match st.load(Ordering::SeqCst) {
                    REFUSING => drop(client.shutdown().await),
                    // Held open, never answered, until the relay opens again (then closed: a fresh start).
                    SILENT => {
                        let mut watch = ch.subscribe();
                        tokio::spawn(async move {
                            let _ = watch.wait_for(|s| *s == OPEN).await.is_ok();
                            drop(client);
                        });
                    }
                    _ => {
                        let target = target.clone();
                        let mut watch = ch.subscribe();
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(&target).await else { return };
                            let (mut cr, mut cw) = client.split();
                            let (mut sr, mut sw) = server.split();
                            let forward = async {
                                tokio::select! {
                                    _ = tokio::io::copy(&mut cr, &mut sw) => {}
                                    _ = tokio::io::copy(&mut sr, &mut cw) => {}
                                }
                            };
                            // Refusing: closed at once. Silent: stalled (not read, not closed) until open again.
                            let silent = tokio::select! {
                                _ = forward => false,
                                cut = watch.wait_for(|s| *s != OPEN) => cut.is_ok_and(|s| *s == SILENT),
                            };
                            if silent {
                                let _ = watch.wait_for(|s| *s == OPEN).await.is_ok();
                            }
                        });
                    }
                }
            }
        });
        Relay { port, state, changed }
    }

    fn set(&self, to: u8) {
        self.state.store(to, Ordering::SeqCst);
        self.changed.send_replace(to);
    }
}

/// A send the database cannot store: answered `internal` with a pause, before `bound`.
async fn answered_internal_within(socket: &mut Socket, frame: &ClientFrame, bound: Duration) {
    socket.send(frame).await.unwrap();
    let answer = tokio::time::timeout(bound, socket.next()).await.expect("answered within the bound").unwrap();
    let ServerFrame::Error { id, code, retry_after_ms, .. } = &answer else { panic!("not an error but {answer:?}") };
    assert_eq!((id.as_deref(), *code), (frame.id(), ErrorCode::Internal), "{answer:?}");
    assert!(retry_after_ms.is_some(), "{answer:?}");
}

async fn sends_while_postgresql_is_away_are_answered_within_the_bound(how: u8) {
    let admin = std::env::var("TANIS_TEST_POSTGRES_URL").expect("scripts/test sets TANIS_TEST_POSTGRES_URL");
    let target = admin.split('@').next_back().unwrap().split('/').next().unwrap().to_owned();
    let relay = Relay::start(target.clone()).await;
    let port = relay.port;
    let app = spawn_app_with(Backend::Postgres, |c| {
        let url = c.database_url.clone().unwrap();
        c.database_url = Some(url.replace(&target, &format!("127.0.0.1:{port}")));
    })
    .await;
    // Two batches (docs/protocol.md), and a second for a busy machine to get round to answering.
    let bound = 2 * PG_WRITE_TIMEOUT + Duration::from_secs(1);
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;

    relay.set(how);
    // Three in a row: the second and the third are not made to wait behind the first one's wait.
    let frames: Vec<ClientFrame> = (0..3).map(|i| chat_a.message(&format!("ulasamayan {i}"))).collect();
    for frame in &frames {
        answered_internal_within(&mut sa, frame, bound).await;
    }
    relay.set(OPEN);

    // Sent again once the database answers: each stored once, in order, and delivered once.
    for (i, frame) in frames.iter().enumerate() {
        let mut accepted = None;
        // The pool may first hand out a connection the cut closed: that send is answered `internal` again.
        for _ in 0..5 {
            sa.send(frame).await.unwrap();
            match sa.next().await.unwrap() {
                ServerFrame::MsgAccepted { seq, .. } => {
                    accepted = Some(seq);
                    break;
                }
                ServerFrame::Error { code: ErrorCode::Internal, .. } => continue,
                other => panic!("accepted or internal, not {other:?}"),
            }
        }
        assert_eq!(accepted, Some(Seq(i as i64 + 1)), "stored once, in order");
        let received = sb.next_where(|f| matches!(f, ServerFrame::Msg { .. })).await.unwrap();
        assert_eq!(chat_b.read(&received).unwrap(), format!("ulasamayan {i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_while_postgresql_refuses_connections_are_answered_internal_within_the_bound() {
    sends_while_postgresql_is_away_are_answered_within_the_bound(REFUSING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_while_postgresql_no_longer_answers_are_answered_internal_within_the_bound() {
    sends_while_postgresql_is_away_are_answered_within_the_bound(SILENT).await;
}
