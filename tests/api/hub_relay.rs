//! The end-to-end encrypted relay: durable acknowledgement, delivery, idempotency, order, resume, limits.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis::domain::Seq;
use tanis_proto::{ClientFrame, CloseCode, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{Backend, STANDARD_COMMITMENT, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    a_message_is_acknowledged_after_it_is_stored_delivered_decrypted_and_marked_delivered,
    a_repeated_client_msg_id_is_acknowledged_again_but_stored_once,
    seq_increases_strictly_across_both_senders,
    messages_outside_your_match_too_large_or_too_fast_are_refused,
    a_message_past_the_rate_limit_is_told_how_long_to_wait_and_is_accepted_after_that_wait,
    a_dropped_receiver_resumes_and_loses_nothing_acknowledged,
    the_server_never_holds_the_plaintext,
    a_receiver_that_does_not_read_is_disconnected_and_resumes_later,
    the_senders_other_sockets_see_its_messages_as_mine,
);

fn is_msg(f: &ServerFrame) -> bool {
    matches!(f, ServerFrame::Msg { .. })
}

async fn a_message_is_acknowledged_after_it_is_stored_delivered_decrypted_and_marked_delivered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;

    sa.send(&chat_a.message("merhaba yabancı")).await.unwrap();
    let accepted = sa.next().await.unwrap();
    assert_eq!(
        accepted,
        ServerFrame::MsgAccepted { id: Some("m1".into()), match_id, client_msg_id: "m1".into(), seq: Seq(1) }
    );
    // Acknowledged means stored: the row is there the moment the sender hears about it.
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM messages WHERE match_id = {match_id} AND seq = 1")).await, 1);

    let received = sb.next().await.unwrap();
    assert!(matches!(&received, ServerFrame::Msg { seq: Seq(1), mine: false, .. }));
    assert_eq!(chat_b.read(&received).unwrap(), "merhaba yabancı");

    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(1) }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::MsgDelivered { match_id, seq: Seq(1), up_to: false });
    let logged = app
        .count(&format!(
            "SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id} AND seq = 1 AND sender_id = {} \
             AND receiver_id = {} AND delivered = TRUE AND connection_type = 'text' AND device_info IS NOT NULL",
            a.id, b.id
        ))
        .await;
    assert_eq!(logged, 1);
}

async fn a_repeated_client_msg_id_is_acknowledged_again_but_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let frame = chat_a.message("bir kez");
    sa.send(&frame).await.unwrap();
    sa.send(&frame).await.unwrap();
    let first = sa.next().await.unwrap();
    let second = sa.next().await.unwrap();
    assert_eq!(first, second, "the retry gets the same seq");
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::Msg { seq: Seq(1), .. }));
    sa.send(&chat_a.message("iki")).await.unwrap();
    assert!(
        matches!(sb.next().await.unwrap(), ServerFrame::Msg { seq: Seq(2), .. }),
        "no duplicate was delivered before it"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 2);
}

async fn seq_increases_strictly_across_both_senders(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.message_burst = 100).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    for i in 0..10 {
        sa.send(&chat_a.message(&format!("a{i}"))).await.unwrap();
        sb.send(&chat_b.message(&format!("b{i}"))).await.unwrap();
    }
    let mut seqs = Vec::new();
    for socket in [&mut sa, &mut sb] {
        let mut accepted = 0;
        let mut received = 0;
        while accepted < 10 || received < 10 {
            match socket.next().await.unwrap() {
                ServerFrame::MsgAccepted { seq, .. } => {
                    accepted += 1;
                    seqs.push(seq);
                }
                ServerFrame::Msg { .. } => received += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    seqs.sort();
    assert_eq!(seqs, (1..=20).map(Seq).collect::<Vec<_>>(), "every seq once, no gaps");
}

async fn messages_outside_your_match_too_large_or_too_fast_are_refused(backend: Backend) {
    // A burst of two, then one a second of the server's clock: the test's clock stands still until it moves it.
    let app = spawn_app_with(backend, |c| {
        c.hub.messages_per_second = 1;
        c.hub.message_burst = 2;
    })
    .await;
    let (a, b, c) = (app.user("kedi").await, app.user("kopek").await, app.user("kus").await);
    let (mut sa, mut chat_a, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;

    let mut intruder = app.socket(&c).await;
    intruder.send(&chat_a.message("araya girmek")).await.unwrap();
    assert!(matches!(intruder.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotInMatch, .. }));

    let huge = ClientFrame::MsgSend {
        id: Some("big".into()),
        match_id,
        client_msg_id: "big".into(),
        ciphertext: STANDARD.encode(vec![7u8; 16 * 1024 + 1]),
        nonce: STANDARD.encode([0u8; 24]),
        commitment: STANDARD_COMMITMENT.into(),
        ack: None,
    };
    sa.send(&huge).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::MessageTooLarge, .. }));

    for _ in 0..2 {
        sa.send(&chat_a.message("hızlı")).await.unwrap();
        assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    }
    sa.send(&chat_a.message("çok hızlı")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::RateLimited, .. }));
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 2);

    // A second later one token is back, and only one.
    app.clock.advance(chrono::TimeDelta::seconds(1));
    sa.send(&chat_a.message("bir saniye sonra")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    sa.send(&chat_a.message("yine çok hızlı")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::RateLimited, .. }));
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 3);
}

/// The `retry_after_ms` of a `rate_limited` answer, asserting that is what the answer is.
fn rate_limited_for(answer: ServerFrame) -> u64 {
    match answer {
        ServerFrame::Error { code: ErrorCode::RateLimited, retry_after_ms: Some(ms), .. } => ms,
        other => panic!("rate_limited with a retry hint, not {other:?}"),
    }
}

async fn a_message_past_the_rate_limit_is_told_how_long_to_wait_and_is_accepted_after_that_wait(backend: Backend) {
    // A burst of two, then one a second of the server's clock, which stands still until the test moves it.
    let app = spawn_app_with(backend, |c| {
        c.hub.messages_per_second = 1;
        c.hub.message_burst = 2;
    })
    .await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    for text in ["bir", "iki"] {
        sa.send(&chat_a.message(text)).await.unwrap();
        assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    }

    // The burst is spent: the next token is a whole second away, and the refusal says so.
    let third = chat_a.message("üç");
    sa.send(&third).await.unwrap();
    assert_eq!(rate_limited_for(sa.next().await.unwrap()), 1000);

    // Sent again a millisecond early, it is refused again, told the little that is left (rounded up).
    app.clock.advance(chrono::TimeDelta::milliseconds(999));
    sa.send(&third).await.unwrap();
    let left = rate_limited_for(sa.next().await.unwrap());
    assert!((1..=2).contains(&left), "one millisecond, rounded up: {left}");

    // Waiting as told is enough: the same message is accepted, and the peer reads it.
    app.clock.advance(chrono::TimeDelta::milliseconds(left as i64));
    sa.send(&third).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { seq: Seq(3), .. }));
    let mut read = Vec::new();
    for _ in 0..3 {
        read.push(chat_b.read(&sb.next_where(is_msg).await.unwrap()).unwrap());
    }
    assert_eq!(read, ["bir", "iki", "üç"]);
}

async fn a_dropped_receiver_resumes_and_loses_nothing_acknowledged(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.message_burst = 100).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;

    for i in 0..30 {
        sa.send(&chat_a.message(&format!("mesaj {i}"))).await.unwrap();
    }
    // The receiver reads a few, then its connection drops mid-stream.
    let mut last_seen = Seq(0);
    for _ in 0..5 {
        let frame = sb.next_where(is_msg).await.unwrap();
        chat_b.read(&frame).unwrap();
        if let ServerFrame::Msg { seq, .. } = frame {
            last_seen = seq;
        }
    }
    drop(sb);
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 30 {
        if let ServerFrame::MsgAccepted { seq, .. } = sa.next().await.unwrap() {
            acknowledged.push(seq);
        }
    }

    let (mut sb, hello) = app.connect(&b).await;
    assert!(matches!(hello, ServerFrame::Hello { active_match: Some(_), .. }));
    sb.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: last_seen }).await.unwrap();
    let mut texts = Vec::new();
    loop {
        match sb.next().await.unwrap() {
            frame @ ServerFrame::Msg { .. } => texts.push(chat_b.read(&frame).unwrap()),
            ServerFrame::ResumeDone { last_seq, .. } => {
                assert_eq!(last_seq, Seq(30));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<String> = (5..30).map(|i| format!("mesaj {i}")).collect();
    assert_eq!(texts, expected, "every acknowledged message after the last seen, in order");
    assert_eq!(acknowledged, (1..=30).map(Seq).collect::<Vec<_>>());
}

/// Nothing the server stores holds a message's plaintext: every table of the database, and on disk the SQLite
/// files or PostgreSQL's write-ahead log. A control proves the scan can see: text a user typed where the server
/// does keep it (report details) IS found by the same scan. And what is stored is exactly the ciphertext the
/// client sent, not something the server derived from it.
async fn the_server_never_holds_the_plaintext(backend: Backend) {
    let app = spawn_app(backend).await;
    let wal_from = crate::phones::wal_position(backend, &app.database_url).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let marker = "GIZLI-ISARET-7f3a9c-plaintext-marker";
    let sent = chat_a.message(marker);
    sa.send(&sent).await.unwrap();
    let frame = sb.next_where(is_msg).await.unwrap();
    assert_eq!(chat_b.read(&frame).unwrap(), marker, "the peer reads it");
    sb.send(&chat_b.message(marker)).await.unwrap();
    sa.next_where(is_msg).await.unwrap();
    let control = "KONTROL-ISARETI-51c2-report-details";
    let report = ClientFrame::Report {
        id: Some("r".into()),
        match_id: chat_a.info.match_id,
        reason_code: tanis_proto::ReportReason::Other,
        details: Some(control.into()),
        evidence: Vec::new(),
    };
    sb.send(&report).await.unwrap();
    sb.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();

    let ClientFrame::MsgSend { ciphertext, .. } = &sent else { unreachable!() };
    let stored = app.store.messages_after(chat_a.info.match_id, Seq(0), chrono::DateTime::UNIX_EPOCH, 1).await.unwrap();
    assert_eq!(&stored[0].content, ciphertext, "the server stores the client's ciphertext as sent");

    let encoded = STANDARD.encode(marker);
    let found = |haystack: &[u8], needle: &str| memchr::memmem::find(haystack, needle.as_bytes()).is_some();
    match backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://").to_owned();
            let mut everything = Vec::new();
            for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
                if std::path::Path::new(&file).exists() {
                    everything.extend(std::fs::read(&file).unwrap_or_else(|e| panic!("reading {file}: {e}")));
                }
            }
            assert!(found(&everything, control), "the scan sees stored text (control)");
            assert!(!found(&everything, marker) && !found(&everything, &encoded), "plaintext in {path}*");
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut pg = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            let tables: Vec<(String, String)> = sqlx::query_as(
                "SELECT table_schema::text, table_name::text FROM information_schema.tables \
                 WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(&mut pg)
            .await
            .unwrap();
            assert!(tables.len() > 10, "every table: {tables:?}");
            let hits = |needle: String| {
                let tables = tables.clone();
                let app = &app;
                async move {
                    let mut hits = Vec::new();
                    for (schema, table) in &tables {
                        let sql = format!("SELECT COUNT(*) FROM {schema}.{table} t WHERE t::text LIKE '%{needle}%'");
                        if app.count(sql).await > 0 {
                            hits.push(format!("{schema}.{table}"));
                        }
                    }
                    hits
                }
            };
            assert_eq!(hits(control.into()).await, ["public.reports"], "the scan sees stored text (control)");
            assert!(hits(marker.into()).await.is_empty() && hits(encoded.clone()).await.is_empty());
            // On disk too: the write-ahead log holds every row ever written, deleted or not.
            let wal = crate::phones::postgres_wal(&app.database_url, &wal_from).await;
            assert!(found(&wal, control), "the WAL scan sees stored text (control)");
            assert!(!found(&wal, marker) && !found(&wal, &encoded), "plaintext in the WAL");
        }
    }
}

async fn a_receiver_that_does_not_read_is_disconnected_and_resumes_later(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.hub.outbound_queue = 32;
        c.hub.max_in_flight = 16;
        c.hub.message_burst = 10_000;
        c.hub.messages_per_second = 10_000;
    })
    .await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;
    // 12 KiB messages: loopback buffers hold a few MB, so a few hundred fill them and then the queue.
    let filler = "x".repeat(12 * 1024);
    let mut acknowledged = 0;
    for _ in 0..1200 {
        if let Err(e) = sa.send(&chat_a.message(&filler)).await {
            panic!("the sender was disconnected ({e}), close code {:?}", sa.closed().await);
        }
        // Keep reading the sender's acknowledgements so only the receiver falls behind.
        while let Ok(Ok(frame)) = tokio::time::timeout(std::time::Duration::ZERO, sa.next()).await {
            acknowledged += usize::from(matches!(frame, ServerFrame::MsgAccepted { .. }));
        }
    }
    while acknowledged < 1200 {
        acknowledged += usize::from(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    }
    // 4008 is decided while the receiver's buffers are full, so its close frame waits behind them; the receiver
    // reads only once the sender is done, and if that is over 2 s later the server has dropped the connection
    // instead (docs/protocol.md, a close is bounded to 2 s). Either way it is disconnected.
    let code = sb.closed().await;
    assert!(code.is_none() || code == Some(CloseCode::SlowConsumer.code()), "4008 or dropped, got {code:?}");
    crate::helpers::eventually(std::time::Duration::from_secs(10), "the receiver's socket is let go", || async {
        app.hub.connections() == 1
    })
    .await;
    let stored = app.count(&format!("SELECT COUNT(*) FROM messages WHERE match_id = {match_id}")).await;
    assert_eq!(stored, 1200, "everything stays stored for resume");
    let mut again = app.socket(&b).await;
    again.send(&ClientFrame::Resume { id: None, match_id, after_seq: Seq(1190) }).await.unwrap();
    let done = again.next_where(|f| matches!(f, ServerFrame::ResumeDone { .. })).await.unwrap();
    assert!(matches!(done, ServerFrame::ResumeDone { last_seq: Seq(1200), .. }));
}

async fn the_senders_other_sockets_see_its_messages_as_mine(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let mut tablet = app.socket(&a).await;
    sa.send(&chat_a.message("iki cihaz")).await.unwrap();
    assert!(matches!(tablet.next_where(is_msg).await.unwrap(), ServerFrame::Msg { mine: true, seq: Seq(1), .. }));
}
