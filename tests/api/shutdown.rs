//! Stopping the server: the group commit drains its queue and the matchmaker stops before the store closes, and
//! every message a client saw accepted is on disk.

use std::collections::BTreeSet;

use tanis::store::Store;
use tanis_client::ClientError;
use tanis_proto::{MatchKind, Seq, ServerFrame};

use crate::helpers::{Backend, spawn_app};
use crate::on_both_stores;

on_both_stores!(stopping_the_server_mid_stream_keeps_every_accepted_message);

async fn stopping_the_server_mid_stream_keeps_every_accepted_message(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    // A burst within the rate limit's burst, not waited for: the stop lands while some are being written.
    for n in 0..25 {
        sa.send(&chat.message(&format!("mesaj {n}"))).await.unwrap();
    }
    let first = sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    let mut accepted = BTreeSet::new();
    if let ServerFrame::MsgAccepted { seq, .. } = first {
        accepted.insert(seq);
    }
    app.stop().await;
    loop {
        match sa.next().await {
            Ok(ServerFrame::MsgAccepted { seq, .. }) => {
                accepted.insert(seq);
            }
            Ok(_) => {}
            Err(ClientError::Closed { .. }) => break,
            Err(e) => panic!("the socket ends with a close, not {e}"),
        }
    }

    let store = Store::connect(&app.database_url).await.unwrap();
    let stored: BTreeSet<Seq> = store
        .messages_after(match_id, Seq(0), chrono::DateTime::UNIX_EPOCH, 100)
        .await
        .unwrap()
        .iter()
        .map(|m| m.seq)
        .collect();
    assert!(!accepted.is_empty());
    assert!(accepted.is_subset(&stored), "every accepted message is stored: accepted {accepted:?}, stored {stored:?}");
    store.close().await;
}
