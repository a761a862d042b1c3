//! The group commit when the database fails under it — a write the database refuses, or PostgreSQL gone — as
//! docs/protocol.md promises: a message that was not stored is never acknowledged (`msg.accepted`) nor
//! delivered, its sender gets `internal` and may send it again; a pairing that was not stored tells both sides
//! `internal`, spends no unit and leaves both out of the queue; a block whose contact cannot be ended is not stored
//! either (one step or none, issue 47 point 5).
//!
//! No door of the product breaks its own database, so the failures are arranged beside it, for real: a trigger
//! makes the database itself refuse rows (what a constraint it cannot meet does), and PostgreSQL's own commands
//! drop the app's connections and refuse new ones (what a stopping or unreachable server does to its clients).

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection};
use tanis::domain::Seq;
use tanis_client::{Chat, Connection as Socket, Identity};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};

use crate::contacts::{contacts, listed};
use crate::helpers::{Backend, TestApp, TestUser, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_message_the_database_refuses_is_answered_internal_never_accepted_nor_delivered,
    a_pairing_the_database_refuses_tells_both_internal_spends_no_unit_and_queues_neither,
    a_block_whose_contact_the_database_cannot_end_is_not_stored_either,
);

/// Makes the database refuse every new row of `table` with an error of its own, until [`allow_inserts`].
async fn refuse_inserts(app: &TestApp, table: &str) {
    app.execute(match app.backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER test_refuse_{table} BEFORE INSERT ON {table} \
             BEGIN SELECT RAISE(ABORT, 'the test refuses new {table}'); END"
        ),
        Backend::Postgres => format!(
            "CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the test refuses new %', TG_TABLE_NAME; END $$; \
             CREATE TRIGGER test_refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION test_refuse()"
        ),
    })
    .await;
}

/// Makes the database refuse every change of `column` in `table`, until [`allow_updates`].
pub(crate) async fn refuse_updates(app: &TestApp, table: &str, column: &str) {
    app.execute(match app.backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER test_refuse_{table}_{column} BEFORE UPDATE OF {column} ON {table} \
             BEGIN SELECT RAISE(ABORT, 'the test refuses changes of {table}.{column}'); END"
        ),
        Backend::Postgres => format!(
            "CREATE OR REPLACE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the test refuses changes of %', TG_TABLE_NAME; END $$; \
             CREATE TRIGGER test_refuse_{table}_{column} BEFORE UPDATE OF {column} ON {table} FOR EACH ROW \
             EXECUTE FUNCTION test_refuse()"
        ),
    })
    .await;
}

pub(crate) async fn allow_updates(app: &TestApp, table: &str, column: &str) {
    app.execute(match app.backend {
        Backend::Sqlite => format!("DROP TRIGGER test_refuse_{table}_{column}"),
        Backend::Postgres => format!("DROP TRIGGER test_refuse_{table}_{column} ON {table}"),
    })
    .await;
}

async fn allow_inserts(app: &TestApp, table: &str) {
    app.execute(match app.backend {
        Backend::Sqlite => format!("DROP TRIGGER test_refuse_{table}"),
        Backend::Postgres => format!("DROP TRIGGER test_refuse_{table} ON {table}"),
    })
    .await;
}

/// The app's PostgreSQL database taken away as a stopping server takes itself away from its clients: every
/// connection the app holds is terminated and every new one refused, until [`Outage::end`].
pub(crate) struct Outage {
    admin: sqlx::PgConnection,
    database: String,
}

impl Outage {
    pub(crate) async fn begin(app: &TestApp) -> Outage {
        let admin_url = std::env::var("TANIS_TEST_POSTGRES_URL").expect("scripts/test sets TANIS_TEST_POSTGRES_URL");
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let database = app.database_url.rsplit_once('/').expect("a database name").1.to_owned();
        let sql = format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '{database}'"
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
        Outage { admin, database }
    }

    pub(crate) async fn end(mut self) {
        let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.database);
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut self.admin).await.unwrap();
    }
}

/// Sends one message that the database cannot store: the sender's answer is `internal` for that request, with a
/// pause before sending it again, and nothing else before it.
async fn sent_but_not_stored(socket: &mut Socket, frame: &ClientFrame) {
    socket.send(frame).await.unwrap();
    let answer = socket.next().await.unwrap();
    let ServerFrame::Error { id, code, retry_after_ms, .. } = &answer else { panic!("not an error but {answer:?}") };
    assert_eq!((id.as_deref(), *code), (frame.id(), ErrorCode::Internal), "{answer:?}");
    assert_eq!(*retry_after_ms, Some(1000), "{answer:?}");
}

/// Sends it again once the database stores again: accepted under `seq`, and the peer reads it (the first
/// frame the peer gets since the failure: nothing of the failed attempt reached them).
async fn sent_again_and_delivered(sa: &mut Socket, frame: &ClientFrame, sb: &mut Socket, chat_b: &mut Chat, seq: Seq) {
    sa.send(frame).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { seq: s, .. } if s == seq));
    let received = sb.next().await.unwrap();
    assert!(matches!(received, ServerFrame::Msg { seq: s, mine: false, .. } if s == seq), "{received:?}");
    assert_eq!(chat_b.read(&received).unwrap(), "saklanamayan");
}

async fn a_message_the_database_refuses_is_answered_internal_never_accepted_nor_delivered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let frame = chat_a.message("saklanamayan");

    // On SQLite a message is stored as one row of `message_rows`, of which `messages` is a view (migration 0029).
    let table = match backend {
        Backend::Sqlite => "message_rows",
        Backend::Postgres => "messages",
    };
    refuse_inserts(&app, table).await;
    sent_but_not_stored(&mut sa, &frame).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM message_logs").await, 0);

    // "Not stored; send again": the same frame, once the database takes it, is stored once and delivered once.
    allow_inserts(&app, table).await;
    sent_again_and_delivered(&mut sa, &frame, &mut sb, &mut chat_b, Seq(1)).await;
    sa.send(&chat_a.message("sonraki")).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::Msg { seq: Seq(2), .. }), "no second copy before it");
}

/// The same over a PostgreSQL outage: the writer finds its connections dead and cannot open new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_postgresql_is_down_is_answered_internal_never_accepted_nor_delivered() {
    let app = spawn_app(Backend::Postgres).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let frame = chat_a.message("saklanamayan");

    let outage = Outage::begin(&app).await;
    sent_but_not_stored(&mut sa, &frame).await;
    outage.end().await;

    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 0);
    sent_again_and_delivered(&mut sa, &frame, &mut sb, &mut chat_b, Seq(1)).await;
}

fn find(id: &str) -> ClientFrame {
    ClientFrame::MatchFind {
        id: Some(id.into()),
        kind: MatchKind::Text,
        public_key: Identity::generate().public_key_b64(),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    }
}

/// Today's text units as the user sees them.
async fn daily_text(app: &TestApp, user: &TestUser) -> u64 {
    let me: Value = app.get_me(&app.access_token(user).await).await.json().await.unwrap();
    me["balances"]["daily_text"].as_u64().unwrap()
}

/// `a` then `b` ask for a match that cannot be stored: each asking socket is queued, then told `internal`.
async fn pairing_fails(sa: &mut Socket, sb: &mut Socket) {
    sa.send(&find("fa")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    sb.send(&find("fb")).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    for (socket, asked) in [(sa, "fa"), (sb, "fb")] {
        let told = socket.next().await.unwrap();
        let ServerFrame::Error { id, code, .. } = &told else { panic!("not an error but {told:?}") };
        assert_eq!((id.as_deref(), *code), (Some(asked), ErrorCode::Internal), "{told:?}");
    }
}

/// Neither waits any longer: a cancel finds nothing to cancel.
async fn queued_neither(sa: &mut Socket, sb: &mut Socket) {
    for socket in [sa, sb] {
        socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
        let answer = socket.next().await.unwrap();
        assert!(matches!(answer, ServerFrame::Error { code: ErrorCode::NotQueued, .. }), "{answer:?}");
    }
}

async fn a_pairing_the_database_refuses_tells_both_internal_spends_no_unit_and_queues_neither(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let units = (daily_text(&app, &a).await, daily_text(&app, &b).await);
    let (mut sa, mut sb) = (app.socket(&a).await, app.socket(&b).await);

    refuse_inserts(&app, "matches").await;
    pairing_fails(&mut sa, &mut sb).await;
    queued_neither(&mut sa, &mut sb).await;
    assert_eq!((daily_text(&app, &a).await, daily_text(&app, &b).await), units, "no unit spent");
    assert_eq!(app.count("SELECT COUNT(*) FROM matches").await, 0);

    // Asking again once the database stores again pairs them, for one unit each.
    allow_inserts(&app, "matches").await;
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    assert_eq!(chat_a.unwrap().info.match_id, chat_b.unwrap().info.match_id);
    assert_eq!((daily_text(&app, &a).await, daily_text(&app, &b).await), (units.0 - 1, units.1 - 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_while_postgresql_is_down_tells_both_internal_spends_no_unit_and_queues_neither() {
    let app = spawn_app(Backend::Postgres).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let units = (daily_text(&app, &a).await, daily_text(&app, &b).await);
    let (mut sa, mut sb) = (app.socket(&a).await, app.socket(&b).await);
    // A first `match.find` reads the user's standing from the database (later ones answer from what it cached):
    // each asks and cancels while the database is there, so the outage meets the pairing, not the asking.
    for socket in [&mut sa, &mut sb] {
        socket.send(&find("f0")).await.unwrap();
        assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
        socket.send(&ClientFrame::MatchCancel { id: Some("c0".into()) }).await.unwrap();
        assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchCancelled { .. }));
    }
    let outage = Outage::begin(&app).await;
    pairing_fails(&mut sa, &mut sb).await;
    queued_neither(&mut sa, &mut sb).await;
    outage.end().await;

    assert_eq!((daily_text(&app, &a).await, daily_text(&app, &b).await), units, "no unit spent");
    assert_eq!(app.count("SELECT COUNT(*) FROM matches").await, 0);
    let status = app.get_me(&app.access_token(&a).await).await.status();
    assert_eq!(status, StatusCode::OK, "the app serves again once the database is back");
}

/// The people `user` blocked, as they see them (`GET /v1/blocks`).
async fn blocks_of(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let (status, blocks) = app.get_json("/v1/blocks", &app.access_token(user).await).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(blocks).unwrap()
}

/// A block ends the contact conversation it names in the same transaction: when the database cannot end the
/// contact, the block is not stored either — the blocker is told `internal`, nothing changed for either side — and
/// the same `block` once the database takes it does both.
async fn a_block_whose_contact_the_database_cannot_end_is_not_stored_either(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    let (mut sa, chat_a, mut sb, _chat_b) = contacts(&app, &a, &b).await;
    let match_id = chat_a.info.match_id;
    let block = ClientFrame::Block { id: Some("b".into()), match_id };

    refuse_updates(&app, "matches", "kept_at").await;
    sa.send(&block).await.unwrap();
    let answer = sa.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await.unwrap();
    assert!(matches!(answer, ServerFrame::Error { code: ErrorCode::Internal, .. }), "{answer:?}");
    assert!(blocks_of(&app, &a).await.is_empty(), "no block stored without its contact's end");
    assert_eq!(listed(&app, &a).await.len(), 1, "the contact is open for a");
    assert_eq!(listed(&app, &b).await.len(), 1, "and for b");

    allow_updates(&app, "matches", "kept_at").await;
    sa.send(&block).await.unwrap();
    for socket in [&mut sa, &mut sb] {
        let ended = socket.next_where(|f| matches!(f, ServerFrame::ContactEnded { .. })).await.unwrap();
        assert_eq!(ended, ServerFrame::ContactEnded { match_id }, "the contact ends for both, once");
    }
    let answer = sa.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await.unwrap();
    assert_eq!(answer, ServerFrame::Ok { id: Some("b".into()) });
    assert_eq!(blocks_of(&app, &a).await.len(), 1);
    assert!(listed(&app, &a).await.is_empty() && listed(&app, &b).await.is_empty());
}
