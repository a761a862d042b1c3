//! The batch on SQLite: one transaction on the write connection, run from the group commit's own thread
//! through the connection's handle ([`crate::store::sqlite::raw`]), one short prepared statement per kind of row.
//!
//! Through sqlx each statement was a round trip to the connection's thread, so the batch was packed into JSON
//! arrays (one statement per kind, unpacked by `json_each`); the JSON functions, the round trips and the wake-ups
//! were a third of the SQLite thread's time. Here every row is bound and stepped in place: the same B-tree work,
//! without the packing. The calling thread blocks for the batch (its commit's fsync included), which is why the
//! group commit runs on a thread of its own with SQLite ([`crate::dedicated`]).
//!
//! Openings, likewise, are short prepared statements run per user and per match. Through sqlx their statements
//! were built for the batch's size (an `IN` list, a `VALUES` row per match), so SQLite parsed and planned them
//! anew for every batch, and each was a round trip to the connection's thread (perf, BENCHMARKS.md). With a
//! [`super::BatchWriter`] the statements stay prepared from one batch to the next.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::LockedSqliteHandle;
use tanis_proto::MatchKind;

use super::opening::{Attempts, Matched, NewMatch, Opened, Opening, Refusal, Refused, can_spend, refusals, spend_unit};
use super::rules::{Earlier, answer_ends, assign_seqs, distinct_ends, match_ids, open_last_seqs};
use super::{Batch, Delivered, MatchEnd, NewMessage, Receipt, WriteOutcome, Written};
use crate::domain::declarations::REFUND_WINDOW;
use crate::domain::{MatchId, MatchStatus, Seq, UserId};
use crate::store::matches::{CreatedMatch, MatchRow, MatchedUser, matched_user_columns};
use crate::store::sqlite::raw::{Db, Failure, Kept, Row, Stmt, Value, timestamp};

/// Writes `batch` in one transaction; with `kept`, its statements are prepared once and reused by later batches.
pub(super) async fn write_batch(
    pool: &SqlitePool,
    kept: Option<&mut Kept>,
    batch: Batch<'_>,
    now: DateTime<Utc>,
) -> Result<Written, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut handle = conn.lock_handle().await?;
    write_locked(&mut handle, kept, batch, now)
}

/// [`write_batch`] on a write connection the caller has locked.
pub(super) fn write_locked(
    handle: &mut LockedSqliteHandle<'_>,
    kept: Option<&mut Kept>,
    batch: Batch<'_>,
    now: DateTime<Utc>,
) -> Result<Written, sqlx::Error> {
    let db = match kept {
        Some(kept) => Db::keeping(handle, kept),
        None => Db::new(handle),
    };
    // Nothing of a failed batch stays: the group commit retries its halves (`group_commit::write_isolated`).
    // A batch is never refused as a whole (Infallible): only a failure rolls it back.
    let Ok(written) = db.transaction(|db| write(db, batch, now).map(Ok::<_, Infallible>))?;
    Ok(written)
}

/// Finalizes the statements `kept` holds, on the write connection they were prepared on.
pub(super) async fn finalize(pool: &SqlitePool, kept: &mut Kept) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut handle = conn.lock_handle().await?;
    kept.finalize(&Db::new(&mut handle));
    Ok(())
}

fn write(db: &Db<'_>, batch: Batch<'_>, now: DateTime<Utc>) -> Result<Written, sqlx::Error> {
    let now_text = timestamp(now);
    let receipts = mark_delivered(db, batch.receipts, &now_text)?;
    let messages = if batch.messages.is_empty() { Vec::new() } else { insert_messages(db, batch.messages, now)? };
    let ends = end_matches(db, batch.ends, &now_text)?;
    let opens = batch.opens.iter().map(|opening| open(db, opening)).collect::<Result<_, _>>()?;
    Ok(Written { messages, receipts, ends, opens })
}

/// Marks the messages of each receipt's range delivered, once: what it marked for the first time, `None` when
/// nothing (delivered already, a repeat within the batch included, not this receiver's, or a range reaching
/// beyond the match's last message).
fn mark_delivered(db: &Db<'_>, receipts: &[Receipt], now: &str) -> Result<Vec<Option<Delivered>>, Failure> {
    if receipts.is_empty() {
        return Ok(Vec::new());
    }
    // No RETURNING on SQLite's hot statements: it makes a statement keep a journal of its own and its rows an
    // ephemeral table, which cost more than reading the rows first (see `open`). Both statements walk the range
    // of the `(match_id, seq)` index from `first`, and the MAX is one probe of its end: a cumulative receipt
    // costs the messages it names, not the conversation's length.
    let mut undelivered = db.prepare(
        "SELECT seq, sender_id FROM message_rows \
         WHERE match_id = ?1 AND seq BETWEEN ?2 AND ?3 AND receiver_id = ?4 AND delivered = FALSE \
           AND ?3 <= (SELECT MAX(seq) FROM message_rows WHERE match_id = ?1) ORDER BY seq",
    )?;
    let mut mark = db.prepare(
        "UPDATE message_rows SET delivered = TRUE, delivered_at = ?1 \
         WHERE match_id = ?2 AND seq BETWEEN ?3 AND ?4 AND receiver_id = ?5 AND delivered = FALSE",
    )?;
    receipts
        .iter()
        .map(|r| {
            let (mut seqs, mut sender) = (Vec::new(), None);
            undelivered.each(&[r.match_id.into(), r.first.into(), r.seq.into(), r.receiver_id.into()], |row| {
                seqs.push(Seq(row.int(0)));
                sender = Some(UserId(row.int(1)));
            })?;
            let (Some(sender), Some(&first), Some(&last)) = (sender, seqs.first(), seqs.last()) else {
                return Ok(None);
            };
            mark.execute(&[now.into(), r.match_id.into(), first.into(), last.into(), r.receiver_id.into()])?;
            Ok(Some(Delivered { sender, seqs }))
        })
        .collect()
}

fn insert_messages(db: &Db<'_>, batch: &[NewMessage], now: DateTime<Utc>) -> Result<Vec<WriteOutcome>, sqlx::Error> {
    // The correlated MAX is one probe of the `(match_id, seq)` index per match (the index covers it).
    let mut state = db.prepare(
        "SELECT status, kept_at IS NOT NULL, (SELECT COALESCE(MAX(seq), matches.seq_floor) FROM message_rows WHERE match_id = ?1) \
         FROM matches WHERE id = ?1",
    )?;
    let mut rows = Vec::new();
    for id in match_ids(batch.iter().map(|m| m.match_id)) {
        state.each(&[id.into()], |row| rows.push((id, row.text(0), row.int(1) != 0, Seq(row.int(2)))))?;
    }
    let rows = rows.into_iter().map(|(id, status, kept, seq)| Ok((id, match_status(&status)?, kept, seq)));
    let last_seq = open_last_seqs(rows.collect::<Result<_, sqlx::Error>>()?);

    // Earlier copies of the batch's messages, by the duplicate key (an index of the rows that have content).
    let mut earlier = db.prepare(
        "SELECT seq, sent_at FROM message_rows \
         WHERE match_id = ?1 AND sender_id = ?2 AND client_msg_id = ?3 AND content IS NOT NULL",
    )?;
    let mut known = Vec::new();
    for m in batch.iter().filter(|m| last_seq.contains_key(&m.match_id)) {
        let mut found = None;
        earlier.each(&[m.match_id.into(), m.sender_id.into(), m.client_msg_id.as_str().into()], |row| {
            found = Some((Seq(row.int(0)), row.text(1)))
        })?;
        if let Some((seq, at)) = found {
            let at = DateTime::parse_from_rfc3339(&at).map_err(|e| sqlx::Error::Decode(e.into()))?.to_utc();
            known.push(Earlier {
                match_id: m.match_id,
                sender_id: m.sender_id,
                client_msg_id: m.client_msg_id.clone(),
                seq,
                sent_at: at,
            });
        }
    }

    let (outcomes, fresh) = assign_seqs(batch, &last_seq, known, now);
    if !fresh.is_empty() {
        let now = timestamp(now);
        // One row per message, its log's columns and its content (migrations/sqlite/0029).
        let mut message = db.prepare(
            "INSERT INTO message_rows (match_id, seq, sender_id, receiver_id, sent_at, device_info, connection_type, \
             commitment, client_msg_id, content, nonce) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for (m, seq) in &fresh {
            message.execute(&[
                m.match_id.into(),
                (*seq).into(),
                m.sender_id.into(),
                m.receiver_id.into(),
                now.as_str().into(),
                m.device_info.as_deref().into(),
                m.connection_type.as_str().into(),
                Value::Blob(&m.commitment),
                m.client_msg_id.as_str().into(),
                m.content.as_str().into(),
                m.nonce.as_str().into(),
            ])?;
        }
    }
    Ok(outcomes)
}

/// Ends each listed match that is still active, once: `completed` when a message was sent in it, else
/// `cancelled`.
fn end_matches(db: &Db<'_>, ends: &[MatchEnd], now: &str) -> Result<Vec<Option<Seq>>, Failure> {
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let mut end = db.prepare(
        "UPDATE matches SET status = CASE WHEN EXISTS (SELECT 1 FROM message_rows WHERE match_id = matches.id) \
         THEN 'completed' ELSE 'cancelled' END, ended_at = ?1, end_reason = ?2 \
         WHERE id = ?3 AND status = 'active'",
    )?;
    let mut last_seq = db.prepare(
        "SELECT (SELECT COALESCE(MAX(seq), matches.seq_floor) FROM message_rows WHERE match_id = ?1) \
         FROM matches WHERE id = ?1",
    )?;
    let mut ended = Vec::new();
    for (match_id, reason) in distinct_ends(ends) {
        end.execute(&[now.into(), reason.as_str().into(), match_id.into()])?;
        if db.changes() == 1 {
            last_seq.each(&[match_id.into()], |row| ended.push((match_id, Seq(row.int(0)))))?;
        }
    }
    Ok(answer_ends(ends, ended))
}

/// Opens one pass's matches inside the batch's transaction. Whether each side can pay is read first, so the
/// spends that follow all succeed and nothing has to be undone: no savepoint (PostgreSQL's opening rolls back to
/// one). A savepoint made SQLite copy every page the opening touched into a statement journal, and the spends'
/// `RETURNING` made each a statement with a journal and an ephemeral table of its own (perf, BENCHMARKS.md).
/// The batch holds the write lock throughout, so nothing changes between the read and the spends; if a spend
/// found otherwise, the batch fails whole and the group commit retries it in halves.
fn open(db: &Db<'_>, opening: &Opening) -> Result<Opened, Failure> {
    if let Some(epoch) = opening.epoch {
        db.prepare("UPDATE matchmaker_fence SET epoch = ?1 WHERE id = 1 AND epoch <= ?1")?.execute(&[epoch.into()])?;
        if db.changes() == 0 {
            return Ok(Opened::Fenced);
        }
    }
    if let Some(fence) = &opening.node {
        let mut stands = false;
        db.prepare("SELECT 1 FROM node_fences WHERE node = ?1 AND epoch = ?2")?
            .each(&[fence.node.as_ref().into(), fence.epoch.into()], |_| stands = true)?;
        if !stands {
            return Ok(Opened::Fenced);
        }
    }
    let mut attempts = Attempts::new(opening);
    let refused = refused(db, &attempts.next())?;
    if !refused.is_empty() {
        attempts.refuse(&refused);
    }
    let pending = attempts.next();
    if !pending.is_empty() {
        attempts.created(create(db, &pending, opening.epoch)?);
    }
    Ok(attempts.finish())
}

/// The statements of one kind of match: whether a user can pay for it now, and the spend.
struct Spend {
    kind: MatchKind,
    can_pay: &'static str,
    pay: &'static str,
}

const SPENDS: [Spend; 2] = [
    Spend {
        kind: MatchKind::Text,
        can_pay: concat!(
            "SELECT last_matched_at, matches_opened FROM users WHERE id = ?1 AND ",
            can_spend!("daily_chat_balance", "bonus_chat_balance")
        ),
        pay: concat!(
            "UPDATE users SET last_matched_at = ?2, matches_opened = matches_opened + 1, ",
            spend_unit!("daily_chat_balance", "bonus_chat_balance"),
            "?1)"
        ),
    },
    Spend {
        kind: MatchKind::Video,
        can_pay: concat!(
            "SELECT last_matched_at, matches_opened FROM users WHERE id = ?1 AND ",
            can_spend!("daily_video_balance", "bonus_video_balance")
        ),
        pay: concat!(
            "UPDATE users SET last_matched_at = ?2, matches_opened = matches_opened + 1, ",
            spend_unit!("daily_video_balance", "bonus_video_balance"),
            "?1)"
        ),
    },
];

impl Spend {
    /// Runs `statement` (one of this kind's) for each user of the pairs of this kind, if there is any.
    fn each_user(
        &self,
        db: &Db<'_>,
        pairs: &[&NewMatch],
        statement: &'static str,
        mut run: impl FnMut(&mut Stmt<'_>, UserId) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut users = pairs.iter().filter(|m| m.kind == self.kind).flat_map(|m| [m.user1_id, m.user2_id]).peekable();
        if users.peek().is_none() {
            return Ok(());
        }
        let mut stmt = db.prepare(statement)?;
        users.try_for_each(|id| run(&mut stmt, id))
    }
}

/// The users of `pairs` an opening refuses, read before anyone pays: who cannot pay for their match now (no unit
/// of the kind left, banned, deleting, or already in an active match), then among the other pairs [`refusals`]
/// (a stale copy of a request, a block between a pair). One read of each user: whether they can pay, and when
/// they were last matched.
fn refused(db: &Db<'_>, pairs: &[&NewMatch]) -> Result<Vec<Refused>, Failure> {
    let mut payable: HashMap<UserId, Matched> = HashMap::with_capacity(pairs.len() * 2);
    for spend in &SPENDS {
        spend.each_user(db, pairs, spend.can_pay, |can_pay, id| {
            can_pay.each(&[id.into()], |row| {
                let at = DateTime::parse_from_rfc3339(&row.text(0)).ok().map(|t| t.to_utc());
                payable.insert(id, Matched { count: row.int(1), at });
            })
        })?;
    }
    let mut refused: Vec<Refused> = pairs
        .iter()
        .flat_map(|m| [m.user1_id, m.user2_id])
        .filter(|user| !payable.contains_key(user))
        .map(|user| Refused { user, why: Refusal::Unavailable })
        .collect();
    let paying: Vec<&NewMatch> = pairs
        .iter()
        .filter(|m| payable.contains_key(&m.user1_id) && payable.contains_key(&m.user2_id))
        .copied()
        .collect();
    let mut blocks = HashSet::new();
    let mut block = db.prepare(
        "SELECT 1 FROM blocks WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)",
    )?;
    for m in &paying {
        block.each(&[m.user1_id.into(), m.user2_id.into()], |_| _ = blocks.insert((m.user1_id, m.user2_id)))?;
    }
    refused.extend(refusals(
        &paying,
        |user| payable.get(&user).copied().unwrap_or_default(),
        |a, b| blocks.contains(&(a, b)),
    ));
    Ok(refused)
}

/// Makes both sides of every pair pay and inserts the matches; every side was found able to pay. A side whose find
/// asked with `seeking` gets the match's refund mark ([`mark_filtered`]).
fn create(db: &Db<'_>, pairs: &[&NewMatch], epoch: Option<i64>) -> Result<Vec<CreatedMatch>, Failure> {
    let from_bonus = paying_from_bonus(db, pairs)?;
    let mut paid: HashMap<UserId, MatchedUser> = HashMap::with_capacity(pairs.len() * 2);
    // By the wall clock, as requests of the previous release are stamped (`Seeker::asked_at`).
    let now = timestamp(Utc::now());
    let mut read = db.prepare(concat!("SELECT ", matched_user_columns!(), " FROM users WHERE id = ?1"))?;
    for spend in &SPENDS {
        spend.each_user(db, pairs, spend.pay, |pay, id| {
            pay.execute(&[id.into(), now.as_str().into()])?;
            if db.changes() != 1 {
                return Err(Failure::internal(format!("user {id} could pay a moment ago, and now cannot")));
            }
            read.each(&[id.into()], |row| drop(paid.insert(id, matched_user(row))))
        })?;
    }
    let mut insert = db.prepare(
        "INSERT INTO matches (user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, \
             user2_public_key, matchmaker_epoch) VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?8)",
    )?;
    let mut created = Vec::with_capacity(pairs.len());
    for m in pairs {
        let (now, expires) = (timestamp(m.now), timestamp(m.expires_at));
        insert.execute(&[
            m.user1_id.into(),
            m.user2_id.into(),
            m.kind.as_str().into(),
            now.as_str().into(),
            expires.as_str().into(),
            m.user1_public_key.as_str().into(),
            m.user2_public_key.as_str().into(),
            epoch.into(),
        ])?;
        let id = MatchId(db.last_insert_rowid());
        mark_filtered(db, m, id, &from_bonus)?;
        let row = MatchRow {
            id,
            user1_id: m.user1_id,
            user2_id: m.user2_id,
            kind: m.kind,
            created_at: m.now,
            expired_at: m.expires_at,
            status: MatchStatus::Active,
            user1_public_key: m.user1_public_key.clone(),
            user2_public_key: m.user2_public_key.clone(),
        };
        let user1 = paid.remove(&m.user1_id).expect("paid");
        let user2 = paid.remove(&m.user2_id).expect("paid");
        created.push(CreatedMatch { row, user1, user2 });
    }
    Ok(created)
}

/// Whether each side of `pairs` whose find asked with `seeking` pays from their bonus balance (no daily unit of the
/// kind left), read before anyone pays: the balance a refund gives back to. Nothing is read for a batch with no
/// such side, which is nearly every batch (`seeking` is premium).
fn paying_from_bonus(db: &Db<'_>, pairs: &[&NewMatch]) -> Result<HashMap<UserId, bool>, Failure> {
    let mut from_bonus = HashMap::new();
    for m in pairs {
        let daily = match m.kind {
            MatchKind::Text => "SELECT daily_chat_balance FROM users WHERE id = ?1",
            MatchKind::Video => "SELECT daily_video_balance FROM users WHERE id = ?1",
        };
        for user in m.filtered_sides() {
            db.prepare(daily)?.each(&[user.into()], |row| _ = from_bonus.insert(user, row.int(0) <= 0))?;
        }
    }
    Ok(from_bonus)
}

/// Marks match `id` for each side of `m` whose find asked with `seeking`, for the refund window
/// ([`crate::domain::declarations::REFUND_WINDOW`]), with the balance they paid from.
fn mark_filtered(db: &Db<'_>, m: &NewMatch, id: MatchId, from_bonus: &HashMap<UserId, bool>) -> Result<(), Failure> {
    let until = timestamp(m.now + REFUND_WINDOW);
    for user in m.filtered_sides() {
        let bonus = i64::from(from_bonus.get(&user).copied().unwrap_or(false));
        db.prepare(
            "INSERT INTO refund_marks (match_id, user_id, paid_from_bonus, refundable_until) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(&[id.into(), user.into(), bonus.into(), until.as_str().into()])?;
    }
    Ok(())
}

/// A `matches.status` read through the raw handle; text naming no status fails the batch as sqlx's decoding
/// would.
fn match_status(text: &str) -> Result<MatchStatus, sqlx::Error> {
    MatchStatus::parse(text).ok_or_else(|| sqlx::Error::Decode(format!("unknown match status {text:?}").into()))
}

/// A row of [`matched_user_columns`].
fn matched_user(row: &Row<'_>) -> MatchedUser {
    let int = |i| row.int(i) as i32;
    MatchedUser {
        id: UserId(row.int(0)),
        alias: row.text(1),
        tag: row.text(2),
        daily_chat_balance: int(3),
        daily_video_balance: int(4),
        bonus_chat_balance: int(5),
        bonus_video_balance: int(6),
        interests: row.text(7),
        languages: row.text(8),
        locale: row.text(9),
        matches_opened: row.int(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EndCause;
    use crate::store::{Backend, Store};

    /// Statements prepared on the store's write connection, sqlx's own included.
    async fn on_write_connection(store: &Store) -> usize {
        let Backend::Sqlite { write, .. } = &store.backend else { unreachable!("a SQLite store") };
        let mut conn = write.acquire().await.unwrap();
        let mut handle = conn.lock_handle().await.unwrap();
        Db::new(&mut handle).statements()
    }

    #[tokio::test]
    async fn a_writer_prepares_its_statements_once_and_finalizes_them_when_closed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite:{}", dir.path().join("tanis.db").display())).await.unwrap();
        store.migrate().await.unwrap();
        let message = super::super::a_message();
        let receipts = [Receipt::one(MatchId(1), Seq(1), UserId(11))];
        let ends = [MatchEnd { match_id: MatchId(2), reason: EndCause::Left }];
        let messages = [message];
        let batch = Batch { messages: &messages, receipts: &receipts, ends: &ends, ..Batch::default() };
        let before = on_write_connection(&store).await;

        let mut writer = store.batch_writer();
        let first = writer.lease().await.write(batch, Utc::now()).await.unwrap();
        assert_eq!(
            (first.messages, first.receipts, first.ends),
            (vec![WriteOutcome::MatchNotActive], vec![None], vec![None])
        );
        writer.release();
        let kept = on_write_connection(&store).await;
        assert!(kept > before, "the batch's statements stay prepared: {before} -> {kept}");
        writer.lease().await.write(batch, Utc::now()).await.unwrap();
        writer.release();
        assert_eq!(on_write_connection(&store).await, kept, "the next batch prepares nothing new");

        writer.close().await;
        assert_eq!(on_write_connection(&store).await, before, "closing the writer finalizes what it kept");
        store.close().await;
    }
}
