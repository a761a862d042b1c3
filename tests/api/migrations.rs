//! Upgrades: data written under an older schema comes through the newer migrations whole. Each test builds the
//! older schema with the migrations up to a version, writes through it, then lets `Store::migrate` finish.

use std::path::Path;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use tanis::domain::evidence::Verified;
use tanis::domain::{MatchId, Seq, UserId};
use tanis::store::{Batch, Filed, NewReport, Receipt, Store, WriteOutcome};

use crate::helpers::{Backend, fresh_database_url, new_message, new_user, start_time};
use crate::on_both_stores;

on_both_stores!(
    messages_and_their_logs_survive_the_move_to_keys_by_match_and_seq,
    bans_written_as_user_flags_become_ban_records_with_reason_codes,
    logins_made_before_sessions_were_recorded_become_sessions_from_their_tokens,
    the_account_table_rebuilt_for_deletion_keeps_every_row_pointing_at_it_and_never_reuses_an_id,
    franked_messages_come_through_whole_when_their_tables_lose_their_foreign_keys,
    messages_of_interleaved_matches_come_through_whole_when_stored_by_arrival,
    a_message_and_its_log_come_through_whole_as_one_row,
    franked_messages_keep_their_commitments_through_0032_until_the_report_window_is_over,
    evidence_stored_as_text_comes_through_as_its_bytes_and_a_nul_can_follow,
);

/// Runs one statement on the database at `url` as it stands (no store: its queries follow the newest schema) and
/// returns the `RETURNING` id.
pub(crate) async fn old_id(backend: Backend, url: &str, sql: &str) -> i64 {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut conn).await.unwrap()
        }
    }
}

/// Runs one statement on the database at `url` as it stands.
async fn old_execute(backend: Backend, url: &str, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.unwrap();
        }
    }
}

/// A message and its log as the schemas from 0029 to 0033 store them (SQLite: one row; PostgreSQL: a row in each
/// table), the time as sqlx writes it.
async fn old_message(
    backend: Backend,
    url: &str,
    (message, seq): (&tanis::store::NewMessage, i64),
    sent_at: chrono::DateTime<chrono::Utc>,
) {
    let hex: String = message.commitment.iter().map(|b| format!("{b:02x}")).collect();
    let at = sent_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    let (m, from, to, key) = (message.match_id, message.sender_id, message.receiver_id, &message.client_msg_id);
    let (content, nonce) = (&message.content, &message.nonce);
    let rows = match backend {
        Backend::Sqlite => vec![format!(
            "INSERT INTO message_rows (match_id, seq, sender_id, receiver_id, sent_at, connection_type, commitment, \
             client_msg_id, content, nonce) VALUES ({m}, {seq}, {from}, {to}, '{at}', 'text', X'{hex}', '{key}', \
             '{content}', '{nonce}')"
        )],
        Backend::Postgres => vec![
            format!(
                "INSERT INTO messages (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at) \
                 VALUES ({m}, {seq}, {from}, {to}, '{key}', '{content}', '{nonce}', '{at}')"
            ),
            format!(
                "INSERT INTO message_logs (match_id, seq, sender_id, receiver_id, sent_at, connection_type, commitment) \
                 VALUES ({m}, {seq}, {from}, {to}, '{at}', 'text', '\\x{hex}'::bytea)"
            ),
        ],
    };
    for sql in rows {
        old_execute(backend, url, &sql).await;
    }
}

/// A user as the schema before 0010 stores them.
pub(crate) async fn old_user(backend: Backend, url: &str, phone: &str, alias: &str) -> UserId {
    let sql = format!(
        "INSERT INTO users (phone_number, password_hash, alias, alias_key, tag, referral_code, created_at, last_active, \
         daily_chat_balance, daily_video_balance, privacy_consent_at, privacy_notice_version) \
         VALUES ('{phone}', 'x', '{alias}', '{alias}', '1234', 'code{alias}', '2026-11-21T10:00:00Z', \
         '2026-11-21T10:00:00Z', 10, 3, '2026-11-21T10:00:00Z', '2026-11-01') RETURNING id"
    );
    UserId(old_id(backend, url, &sql).await)
}

/// An active text match between `a` and `b`, written with the columns every schema has had.
async fn old_match(backend: Backend, url: &str, a: UserId, b: UserId) -> MatchId {
    let sql = format!(
        "INSERT INTO matches (user1_id, user2_id, type, created_at, expired_at, status) \
         VALUES ({a}, {b}, 'text', '2026-11-21T10:00:00Z', '2026-11-22T10:00:00Z', 'active') RETURNING id"
    );
    MatchId(old_id(backend, url, &sql).await)
}

/// A user as the schemas from 0021 on store them, with made-up phone bytes (`store.insert_user` reads back today's
/// columns, which an older schema lacks).
async fn user_before_now(backend: Backend, url: &str, alias: &str, tag: &str, code: &str) -> UserId {
    let hex: String = alias.bytes().map(|b| format!("{b:02x}")).collect();
    let blob = match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    };
    let key = alias.to_lowercase();
    let sql = format!(
        "INSERT INTO users (phone_sealed, password_hash, alias, alias_key, tag, referral_code, created_at, \
         last_active, daily_chat_balance, daily_video_balance, privacy_consent_at, privacy_notice_version, \
         quota_reset_on, birth_year, phone_index, country) VALUES ({blob}, 'x', '{alias}', '{key}', '{tag}', \
         '{code}', '2026-11-21T09:30:00Z', '2026-11-21T09:30:00Z', 10, 3, '2026-11-21T09:30:00Z', '2026-11-01', \
         '2026-11-21', 1995, {blob}, 'TR') RETURNING id"
    );
    UserId(old_id(backend, url, &sql).await)
}

/// Applies our migrations up to `version` (inclusive) to the database at `url`.
pub(crate) async fn migrate_up_to(backend: Backend, url: &str, version: i64) {
    let dir = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut old = Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).await.unwrap();
    old.migrations = old.migrations.iter().filter(|m| m.version <= version).cloned().collect::<Vec<_>>().into();
    match backend {
        Backend::Sqlite => old.run(&mut sqlx::SqliteConnection::connect(url).await.unwrap()).await.unwrap(),
        Backend::Postgres => old.run(&mut sqlx::PgConnection::connect(url).await.unwrap()).await.unwrap(),
    }
}

async fn messages_and_their_logs_survive_the_move_to_keys_by_match_and_seq(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    // Connecting creates the SQLite file; the schema is the one before 0007 (surrogate ids, rowid tables).
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 6).await;
    let (a, b) = (
        old_user(backend, &url, "+905551110001", "ayse").await,
        old_user(backend, &url, "+905551110002", "burak").await,
    );
    let now = start_time();
    let m = old_match(backend, &url, a, b).await;
    let sent = [new_message(m, a, b, "a1"), new_message(m, b, a, "b1"), new_message(m, a, b, "a2")];
    // Written as the code of that schema wrote them (today's batch reads columns added since): a row in each table,
    // the time as sqlx writes it on SQLite.
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    for (message, seq) in sent.iter().zip(1..) {
        let (sender, receiver, key) = (message.sender_id, message.receiver_id, &message.client_msg_id);
        let rows = [
            format!(
                "INSERT INTO messages (match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, created_at) \
                 VALUES ({m}, {sender}, {receiver}, {seq}, '{key}', '{}', '{}', '{at}') RETURNING id",
                message.content, message.nonce
            ),
            format!(
                "INSERT INTO message_logs (sender_id, receiver_id, match_id, seq, sent_at, connection_type) \
                 VALUES ({sender}, {receiver}, {m}, {seq}, '{at}', 'text') RETURNING id"
            ),
        ];
        for sql in rows {
            old_id(backend, &url, &sql).await;
        }
    }

    store.migrate().await.unwrap();

    let rows = store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap();
    let kept: Vec<(Seq, UserId, String)> = rows.iter().map(|r| (r.seq, r.sender_id, r.content.clone())).collect();
    let expected: Vec<(Seq, UserId, String)> =
        sent.iter().zip(1..).map(|(m, seq)| (Seq(seq), m.sender_id, m.content.clone())).collect();
    assert_eq!(kept, expected, "every message, its seq, sender and ciphertext");
    // The keys work on the moved rows: a repeat gets its old seq, a new message the next one (the last seq is read
    // from the moved logs).
    let again = store.insert_messages(&[new_message(m, a, b, "a1"), new_message(m, b, a, "b2")], now).await.unwrap();
    assert!(
        matches!(again[..], [WriteOutcome::Duplicate { seq: Seq(1), .. }, WriteOutcome::Stored { seq: Seq(4), .. }]),
        "{again:?}"
    );
    let cutoff = now + chrono::TimeDelta::days(2);
    match backend {
        Backend::Sqlite => {
            let purged = store.delete_messages_before(now + chrono::TimeDelta::seconds(1), 2).await.unwrap();
            assert_eq!(purged, 2, "the purge deletes by the new key, oldest first");
            assert_eq!(store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap().len(), 2);
        }
        Backend::Postgres => {
            // The converted table is the partition of every time before the day after its newest row.
            let rotated = store.rotate_partitions(cutoff, cutoff, chrono::DateTime::UNIX_EPOCH).await.unwrap();
            assert_eq!(rotated.content, ["messages_before_d20261122"], "the converted table goes whole");
            assert!(store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap().is_empty());
        }
    }
}

async fn bans_written_as_user_flags_become_ban_records_with_reason_codes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 9).await;
    let auto = old_user(backend, &url, "+905551110003", "otomatik").await;
    let manual = old_user(backend, &url, "+905551110004", "elle").await;
    let free = old_user(backend, &url, "+905551110005", "serbest").await;
    for (id, reason) in [(auto, "reported by too many people"), (manual, "spam links everywhere")] {
        let sql = format!(
            "UPDATE users SET is_banned = TRUE, ban_reason = '{reason}', banned_at = '2026-11-21T11:00:00Z' \
             WHERE id = {id} RETURNING id"
        );
        old_id(backend, &url, &sql).await;
    }

    store.migrate().await.unwrap();

    for (id, code, note) in
        [(auto, "reports", "reported by too many people"), (manual, "other", "spam links everywhere")]
    {
        let user = store.user_by_id(id).await.unwrap().unwrap();
        assert_eq!((user.is_banned, user.ban_reason.map(|r| r.as_str()), user.ban_ends_at), (true, Some(code), None));
        let bans = store.bans_of(id).await.unwrap();
        assert_eq!(bans.len(), 1, "one record per ban held");
        assert_eq!(
            (bans[0].reason_code.as_str(), bans[0].note.as_deref()),
            (code, Some(note)),
            "the old text kept as the note"
        );
        assert_eq!(bans[0].lifted_at, None);
    }
    assert!(store.bans_of(free).await.unwrap().is_empty());
    assert_eq!(store.user_by_id(free).await.unwrap().unwrap().locale, "tr", "the default language");
    // The moved ban is lifted like any other.
    let unbanned = tanis::notices::Notice::Unbanned {}.to_row();
    assert!(
        store
            .unban_user(manual, tanis::store::Lift::Unbanned { moderator: None }, &unbanned, start_time())
            .await
            .unwrap()
    );
    assert_eq!(store.bans_of(manual).await.unwrap()[0].lift_reason.as_deref(), Some("unbanned"));
}

async fn logins_made_before_sessions_were_recorded_become_sessions_from_their_tokens(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 13).await;
    let user = old_user(backend, &url, "+905551110006", "eskigiris").await;
    let (live, signed_out) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let token = |family: uuid::Uuid, hash: u8, created: &str, expires: &str, used: &str, revoked: &str, ua: &str| {
        let hash = match backend {
            Backend::Sqlite => format!("X'{hash:02x}'"),
            Backend::Postgres => format!("'\\x{hash:02x}'::bytea"),
        };
        format!(
            "INSERT INTO refresh_tokens (user_id, family_id, token_hash, created_at, expires_at, used_at, revoked_at, \
             user_agent) VALUES ({user}, '{family}', {hash}, '{created}', '{expires}', {used}, {revoked}, '{ua}') \
             RETURNING id"
        )
    };
    // Signed in at 10:00 from a phone and refreshed at 10:20 (from an updated app); another login, signed out.
    for sql in [
        token(live, 1, "2026-11-21T10:00:00Z", "2026-12-21T10:00:00Z", "'2026-11-21T10:20:00Z'", "NULL", "tanis/3.0"),
        token(live, 2, "2026-11-21T10:20:00Z", "2026-12-21T10:20:00Z", "NULL", "NULL", "tanis/3.1"),
        token(signed_out, 3, "2026-11-21T10:05:00Z", "2026-12-21T10:05:00Z", "NULL", "'2026-11-21T10:30:00Z'", "web"),
    ] {
        old_id(backend, &url, &sql).await;
    }

    store.migrate().await.unwrap();

    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
    let listed = store.live_logins(user, at("2026-11-21T11:00:00Z")).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let login = &listed[0];
    assert_eq!(login.family_id, live.to_string());
    assert_eq!((login.created_at, login.last_used_at), (at("2026-11-21T10:00:00Z"), at("2026-11-21T10:20:00Z")));
    assert_eq!(login.expires_at, at("2026-12-21T10:20:00Z"));
    assert_eq!((login.user_agent.as_deref(), login.ip.as_deref()), (Some("tanis/3.0"), None), "the sign-in's device");
    assert!(store.login_is_live(user, &live.to_string()).await.unwrap());
    assert!(!store.login_is_live(user, &signed_out.to_string()).await.unwrap(), "signed out stays signed out");
}

/// Migration 0018 rebuilds `users` on SQLite (a CHECK cannot change in place): with foreign keys off, as 0014 did,
/// so that no match, ban or message of an account is cascaded away, and with the id counter carried over, so that
/// the id of a deleted account is never handed out again.
async fn the_account_table_rebuilt_for_deletion_keeps_every_row_pointing_at_it_and_never_reuses_an_id(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 13).await;
    let a = old_user(backend, &url, "+905551110007", "yeniden").await;
    let b = old_user(backend, &url, "+905551110008", "kurulan").await;
    let gone = old_user(backend, &url, "+905551110009", "silinen").await;
    old_id(backend, &url, &format!("DELETE FROM users WHERE id = {gone} RETURNING id")).await;
    let m = old_match(backend, &url, a, b).await;

    store.migrate().await.unwrap();

    assert_eq!(store.active_match_for(a).await.unwrap().map(|row| row.id), Some(m), "the match survives");
    let user = store.user_by_id(b).await.unwrap().expect("the account survives");
    assert_eq!((user.alias.as_str(), user.deleted_at), ("kurulan", None));
    let next = store.insert_user(&new_user("+905551110010", "sonraki", "0001", "SONRAKI1")).await.unwrap();
    assert!(next.id > gone, "the deleted account's id {gone} is not handed out again ({})", next.id);
    if backend == Backend::Sqlite {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let broken: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(&mut conn).await.unwrap();
        assert_eq!(broken, Vec::<(String,)>::new(), "every reference still finds its row");
    }
}

/// 0027 drops the two message tables' foreign keys (SQLite rebuilds both): rows written just before it, franked,
/// come through whole, and the tables' own keys work on them.
async fn franked_messages_come_through_whole_when_their_tables_lose_their_foreign_keys(backend: Backend) {
    message_rows_come_through_a_rebuild_of_their_tables(backend, 26).await;
}

/// 0028 stores the message tables by arrival (SQLite rebuilds both, copying rows oldest first; PostgreSQL's heap
/// already was): rows of two matches, written interleaved and partly delivered, come through whole.
async fn messages_of_interleaved_matches_come_through_whole_when_stored_by_arrival(backend: Backend) {
    message_rows_come_through_a_rebuild_of_their_tables(backend, 27).await;
}

/// 0029 keeps a message and its log in one row on SQLite (`messages` and `message_logs` become views of it; nothing
/// changes on PostgreSQL): rows of both tables, and a log whose content had expired, come through whole.
async fn a_message_and_its_log_come_through_whole_as_one_row(backend: Backend) {
    message_rows_come_through_a_rebuild_of_their_tables(backend, 28).await;
}

/// A fresh database migrated up to 0029, its directory (kept alive by the caller), its store, two users and a match
/// of theirs written as 0029 wrote it.
async fn at_0029_with_a_match(backend: Backend) -> (tempfile::TempDir, String, Store, UserId, UserId, MatchId) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 29).await;
    let a = user_before_now(backend, &url, "ayse", "0031", "AYSE0031").await;
    let b = user_before_now(backend, &url, "burak", "0032", "BURAK032").await;
    let m = old_match(backend, &url, a, b).await;
    (dir, url, store, a, b, m)
}

/// 0032 indexes the messages whose franking commitment is still kept, for the expiry that clears it once the report
/// window is over: messages written before it keep their commitments through it, and the expiry's statement then
/// clears only those sent before the window, once.
async fn franked_messages_keep_their_commitments_through_0032_until_the_report_window_is_over(backend: Backend) {
    let (_dir, store_url, store, a, b, m) = at_0029_with_a_match(backend).await;
    let now = start_time();
    let window_start = now - chrono::TimeDelta::days(30);
    let mut recent = new_message(m, b, a, "b1");
    recent.commitment = [9; 32];
    let (url, first) = (store_url, new_message(m, a, b, "a1"));
    old_message(backend, &url, (&first, 1), window_start - chrono::TimeDelta::seconds(1)).await;
    old_message(backend, &url, (&recent, 2), window_start).await;

    store.migrate().await.unwrap();

    let commitments = async || -> Vec<Option<Vec<u8>>> {
        let bound = store.bound_messages(m, &[Seq(1), Seq(2)]).await.unwrap();
        bound.into_iter().map(|r| r.commitment).collect()
    };
    assert_eq!(commitments().await, vec![Some(vec![7; 32]), Some(vec![9; 32])], "both come through");
    assert_eq!(store.clear_commitments_before(window_start, 500).await.unwrap(), 1);
    assert_eq!(commitments().await, vec![None, Some(vec![9; 32])], "only the one sent before the window");
    assert_eq!(store.clear_commitments_before(window_start, 500).await.unwrap(), 0, "and only once");
    assert_eq!(
        store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap().len(),
        2,
        "the content is another matter"
    );
}

/// Writes, at schema `version` (26 to 28: two message tables with today's columns), two matches' messages
/// interleaved over two batches (one franked differently, one delivered) and a log whose content expired, migrates
/// to the newest schema, then reads them back and writes on through the tables' keys.
async fn message_rows_come_through_a_rebuild_of_their_tables(backend: Backend, version: i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, version).await;
    let a = user_before_now(backend, &url, "ayse", "0021", "AYSE0021").await;
    let b = user_before_now(backend, &url, "burak", "0022", "BURAK022").await;
    let c = user_before_now(backend, &url, "cemre", "0023", "CEMRE023").await;
    let (m, n, o) = (
        old_match(backend, &url, a, b).await,
        old_match(backend, &url, c, a).await,
        old_match(backend, &url, b, c).await,
    );
    let now = start_time();
    let later = now + chrono::Duration::seconds(1);
    let mut sent = [new_message(m, a, b, "a1"), new_message(n, c, a, "c1"), new_message(m, b, a, "b1")];
    sent[2].commitment = [9; 32];
    // Written as that schema's batch wrote them (today's SQLite batch writes 0029's one row): a row in each table,
    // in the order they arrived; the first one delivered a second later.
    let hex = |bytes: &[u8; 32]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
    let blob = |bytes: &[u8; 32]| match backend {
        Backend::Sqlite => format!("X'{}'", hex(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex(bytes)),
    };
    for (message, seq, sent_at) in [(&sent[0], 1, now), (&sent[1], 1, now), (&sent[2], 2, later)] {
        let (match_id, sender, receiver, key) =
            (message.match_id, message.sender_id, message.receiver_id, &message.client_msg_id);
        let delivered = if seq == 1 && match_id == m { format!("TRUE, '{}'", at(later)) } else { "FALSE, NULL".into() };
        old_execute(
            backend,
            &url,
            &format!(
                "INSERT INTO messages (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at) \
                 VALUES ({match_id}, {seq}, {sender}, {receiver}, '{key}', '{}', '{}', '{}')",
                message.content,
                message.nonce,
                at(sent_at)
            ),
        )
        .await;
        old_execute(
            backend,
            &url,
            &format!(
                "INSERT INTO message_logs (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, \
                 device_info, connection_type, commitment) VALUES ({match_id}, {seq}, {sender}, {receiver}, '{}', \
                 {delivered}, 'tanis-client/test', 'text', {})",
                at(sent_at),
                blob(&message.commitment)
            ),
        )
        .await;
    }
    // A log whose message's content the expiry deleted.
    old_execute(
        backend,
        &url,
        &format!(
            "INSERT INTO message_logs (match_id, seq, sender_id, receiver_id, sent_at, connection_type, commitment) \
             VALUES ({o}, 1, {b}, {c}, '{}', 'text', {})",
            at(now - chrono::Duration::days(2)),
            blob(&[5; 32])
        ),
    )
    .await;
    let delivered = Receipt::one(m, Seq(1), b);

    store.migrate().await.unwrap();

    if backend == Backend::Sqlite {
        // One row per message (0029), stored by arrival (0028): a rowid table, so that a batch's rows share their
        // pages (BENCHMARKS.md); the two names the queries read are views of it.
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let layout: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT name, type, wr FROM pragma_table_list \
             WHERE name IN ('messages', 'message_logs', 'message_rows') ORDER BY name",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let expected = [("message_logs", "view"), ("message_rows", "table"), ("messages", "view")];
        assert_eq!(layout, expected.map(|(name, kind)| (name.to_owned(), kind.to_owned(), false)));
    }
    let read = |rows: Vec<tanis::store::MessageRow>| -> Vec<(Seq, UserId, String)> {
        rows.into_iter().map(|r| (r.seq, r.sender_id, r.content)).collect()
    };
    assert_eq!(
        read(store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap()),
        vec![(Seq(1), a, sent[0].content.clone()), (Seq(2), b, sent[2].content.clone())]
    );
    assert_eq!(
        read(store.messages_after(n, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap()),
        vec![(Seq(1), c, sent[1].content.clone())]
    );
    let bound = store.bound_messages(m, &[Seq(1), Seq(2)]).await.unwrap();
    let bound: Vec<(UserId, UserId, Option<Vec<u8>>)> =
        bound.into_iter().map(|r| (r.sender_id, r.receiver_id, r.commitment)).collect();
    assert_eq!(
        bound,
        vec![(a, b, Some(vec![7; 32])), (b, a, Some(vec![9; 32]))],
        "who sent to whom, and the commitments"
    );
    let expired = store.bound_messages(o, &[Seq(1)]).await.unwrap();
    assert_eq!(expired.len(), 1, "the log of an expired message stays");
    assert_eq!((expired[0].sender_id, expired[0].commitment.clone()), (b, Some(vec![5; 32])));
    assert!(
        store.messages_after(o, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap().is_empty(),
        "and its content stays gone"
    );
    let receipts = [delivered, Receipt::one(m, Seq(2), a)];
    let again = [new_message(m, b, a, "b1"), new_message(m, a, b, "a2"), new_message(n, a, c, "a1")];
    let written = store.write_batch(Batch { messages: &again, receipts: &receipts, ..Batch::default() }, later).await;
    let written = written.unwrap();
    let senders: Vec<Option<UserId>> = written.receipts.into_iter().map(|d| d.map(|d| d.sender)).collect();
    assert_eq!(senders, vec![None, Some(b)], "the delivered one stays delivered, the other is marked once");
    assert!(
        matches!(
            written.messages[..],
            [
                WriteOutcome::Duplicate { seq: Seq(2), .. },
                WriteOutcome::Stored { seq: Seq(3), .. },
                WriteOutcome::Stored { seq: Seq(2), .. }
            ]
        ),
        "{:?}",
        written.messages
    );
}

/// 0030 keeps a report's evidence as the bytes the sender committed to (PostgreSQL's text cannot hold a U+0000):
/// evidence written as text under 0029 comes through as its UTF-8, and a text with a NUL can be stored after it.
async fn evidence_stored_as_text_comes_through_as_its_bytes_and_a_nul_can_follow(backend: Backend) {
    let (_dir, url, store, a, b, m) = at_0029_with_a_match(backend).await;
    let at = "2026-11-21T10:00:00Z";
    let report = old_id(
        backend,
        &url,
        &format!(
            "INSERT INTO reports (reporter_id, reported_id, match_id, reason, created_at) \
             VALUES ({a}, {b}, {m}, 'harassment', '{at}') RETURNING id"
        ),
    )
    .await;
    let old_text = "\u{feff}sen kimsin ki ğüşıöç ✓";
    old_execute(
        backend,
        &url,
        &format!(
            "INSERT INTO report_evidence (report_id, match_id, seq, sent_at, plaintext, verdict, verified_at) \
             VALUES ({report}, {m}, 1, '{at}', '{old_text}', 'verified', '{at}')"
        ),
    )
    .await;

    store.migrate().await.unwrap();

    let kept = store.evidence_of(&[report]).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].plaintext, old_text.as_bytes(), "the text's UTF-8, a leading U+FEFF included");
    let nul = Verified { seq: Seq(2), sent_at: start_time(), text: "önce\0sonra".into() };
    let filed = NewReport {
        reporter_id: a,
        reported_id: b,
        match_id: m,
        reason: "harassment",
        details: None,
        evidence: std::slice::from_ref(&nul),
        network: None,
        call: None,
        now: start_time(),
    };
    assert!(matches!(store.insert_report(&filed).await.unwrap(), Filed::Repeat), "evidence added to the report");
    let kept = store.evidence_of(&[report]).await.unwrap();
    assert_eq!(
        kept.iter().map(|e| e.plaintext.clone()).collect::<Vec<_>>(),
        [old_text.as_bytes().to_vec(), "önce\0sonra".as_bytes().to_vec()]
    );
}

/// The partitions of `parent` by name.
async fn partition_names(url: &str, parent: &str) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(parent)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// 0034 partitions PostgreSQL's message tables in place: each old table becomes the partition of every time before
/// the day (month) after its newest row, the reads and writes answer as before, new days get partitions of their
/// own, and the old tables go whole once their bound passes the retentions, the conversation keeping its seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_tables_written_before_0034_become_partitions_in_place_and_answer_the_same() {
    let backend = Backend::Postgres;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 33).await;
    let a = user_before_now(backend, &url, "eski", "0041", "ESKI0041").await;
    let b = user_before_now(backend, &url, "yeni", "0042", "YENI0042").await;
    let m = old_match(backend, &url, a, b).await;
    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let mut sent = [new_message(m, a, b, "bir"), new_message(m, a, b, "kasim"), new_message(m, a, b, "franked")];
    sent[2].commitment = [3; 32];
    for (seq, (message, time)) in
        sent.iter().zip(["2026-11-21T10:01:00Z", "2026-11-21T10:02:00Z", "2026-11-21T10:05:00Z"]).enumerate()
    {
        old_message(backend, &url, (message, seq as i64 + 1), at(time)).await;
    }

    store.migrate().await.unwrap();

    assert_eq!(partition_names(&url, "messages").await, ["messages_before_d20261122"]);
    assert_eq!(partition_names(&url, "message_logs").await, ["message_logs_before_m202612"]);
    let contents: Vec<(Seq, String)> = (store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await)
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.content))
        .collect();
    let expected: Vec<(Seq, String)> = sent.iter().zip(1..).map(|(m, seq)| (Seq(seq), m.content.clone())).collect();
    assert_eq!(contents, expected);
    let bound = store.bound_messages(m, &[Seq(3)]).await.unwrap();
    assert_eq!(bound[0].commitment, Some(vec![3; 32]));

    // The next day: a repeat is found in the converted table, a new message gets the next seq in a day partition
    // of its own (made by the write that needed it), and a receipt marks the old rows.
    let next_day = at("2026-11-22T10:00:00Z");
    let messages = [new_message(m, a, b, "kasim"), new_message(m, b, a, "ertesi gun")];
    let receipts = [Receipt { match_id: m, first: Seq(1), seq: Seq(3), receiver_id: b }];
    let written = store.write_batch(Batch { messages: &messages, receipts: &receipts, ..Batch::default() }, next_day);
    let written = written.await.unwrap();
    assert!(
        matches!(
            written.messages[..],
            [WriteOutcome::Duplicate { seq: Seq(2), .. }, WriteOutcome::Stored { seq: Seq(4), .. }]
        ),
        "{:?}",
        written.messages
    );
    let marked = written.receipts[0].as_ref().map(|d| d.seqs.clone());
    assert_eq!(marked, Some(vec![Seq(1), Seq(2), Seq(3)]));
    assert!(partition_names(&url, "messages").await.contains(&"messages_d20261122".to_owned()));

    // Content: the converted table goes once every row in it has passed the retention; the new day waits.
    let rotated = store.rotate_partitions(next_day, at("2026-11-22T12:00:00Z"), chrono::DateTime::UNIX_EPOCH).await;
    assert_eq!(rotated.unwrap().content, ["messages_before_d20261122"]);
    let left = store.messages_after(m, Seq(0), chrono::DateTime::UNIX_EPOCH, 10).await.unwrap();
    assert_eq!(left.iter().map(|r| r.seq).collect::<Vec<_>>(), [Seq(4)]);

    // Metadata: the converted table holds every log (the new one too: its month is before its bound), and goes
    // with the metadata retention; the conversation, still open, goes on from seq 4.
    let later = at("2027-01-15T10:00:00Z");
    let rotated = store.rotate_partitions(later, later, at("2027-01-01T00:00:00Z")).await.unwrap();
    // December's partition went too: made ahead when the first message of 22 November was written, its every
    // possible log is older than the cutoff.
    assert_eq!(rotated.logs, ["message_logs_before_m202612", "message_logs_m202612"]);
    assert!(store.bound_messages(m, &[Seq(1), Seq(4)]).await.unwrap().is_empty(), "the logs went with it");
    let again = store.insert_messages(&[new_message(m, a, b, "ocak")], later).await.unwrap();
    assert!(matches!(again[..], [WriteOutcome::Stored { seq: Seq(5), .. }]), "{again:?}");
}
