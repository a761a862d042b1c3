//! The relay batch on SQLite: one transaction on the write connection, run from the relay writer's own thread
//! through the connection's handle ([`super::sqlite_raw`]), one short prepared statement per kind of row.
//!
//! Through sqlx each statement was a round trip to the connection's thread, so the batch was packed into JSON
//! arrays (one statement per kind, unpacked by `json_each`); the JSON functions, the round trips and the wake-ups
//! were a third of the SQLite thread's time. Here every row is bound and stepped in place: the same B-tree work,
//! without the packing. The calling thread blocks for the batch (its commit's fsync included), which is why the
//! relay writer runs on a thread of its own with SQLite ([`crate::dedicated`]).

use std::convert::Infallible;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::messages::{
    Batch, MatchEnd, NewMessage, WriteOutcome, Written, active_last_seqs, answer_ends, assign_seqs, distinct_ends,
    match_ids,
};
use super::sqlite_raw::{Db, Failure, Value, timestamp};
use crate::store::Receipt;

pub(super) async fn write_batch(
    pool: &SqlitePool,
    batch: Batch<'_>,
    now: DateTime<Utc>,
) -> Result<Written, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut handle = conn.lock_handle().await?;
    // Nothing of a failed batch stays: the relay retries its halves (`relay::write_isolated`).
    // A batch is never refused as a whole (Infallible): only a failure rolls it back.
    let Ok(written) = Db::new(&mut handle).transaction(|db| write(db, batch, now).map(Ok::<_, Infallible>))?;
    Ok(written)
}

fn write(db: &Db<'_>, batch: Batch<'_>, now: DateTime<Utc>) -> Result<Written, sqlx::Error> {
    let now_text = timestamp(now);
    let receipts = mark_delivered(db, batch.receipts, &now_text)?;
    let messages = if batch.messages.is_empty() { Vec::new() } else { insert_messages(db, batch.messages, now)? };
    let ends = end_matches(db, batch.ends, &now_text)?;
    let opens = batch.opens.iter().map(|opening| super::matches_sqlite::open(db, opening)).collect::<Result<_, _>>()?;
    Ok(Written { messages, receipts, ends, opens })
}

/// Marks each receipt's message delivered, once: the sender the first time, `None` when it was delivered
/// already (a repeat within the batch included) or is not this receiver's.
fn mark_delivered(db: &Db<'_>, receipts: &[Receipt], now: &str) -> Result<Vec<Option<i64>>, Failure> {
    if receipts.is_empty() {
        return Ok(Vec::new());
    }
    let mut mark = db.prepare(
        "UPDATE message_logs SET delivered = TRUE, delivered_at = ?1 \
         WHERE match_id = ?2 AND seq = ?3 AND receiver_id = ?4 AND delivered = FALSE RETURNING sender_id",
    )?;
    receipts
        .iter()
        .map(|r| {
            let mut sender = None;
            mark.each(&[now.into(), r.match_id.into(), r.seq.into(), r.receiver_id.into()], |row| {
                sender = Some(row.int(0))
            })?;
            Ok(sender)
        })
        .collect()
}

fn insert_messages(db: &Db<'_>, batch: &[NewMessage], now: DateTime<Utc>) -> Result<Vec<WriteOutcome>, sqlx::Error> {
    // The correlated MAX is one probe of the clustered key per match.
    let mut state = db.prepare(
        "SELECT status, (SELECT COALESCE(MAX(seq), 0) FROM message_logs WHERE match_id = ?1) FROM matches WHERE id = ?1",
    )?;
    let mut rows = Vec::new();
    for id in match_ids(batch.iter().map(|m| m.match_id)) {
        state.each(&[id.into()], |row| rows.push((id, row.text(0), row.int(1))))?;
    }
    let last_seq = active_last_seqs(rows);

    // Earlier copies of the batch's messages, by the duplicate key.
    let mut earlier = db.prepare(
        "SELECT seq, created_at FROM messages WHERE match_id = ?1 AND sender_id = ?2 AND client_msg_id = ?3",
    )?;
    let mut known = Vec::new();
    for m in batch.iter().filter(|m| last_seq.contains_key(&m.match_id)) {
        let mut found = None;
        earlier.each(&[m.match_id.into(), m.sender_id.into(), m.client_msg_id.as_str().into()], |row| {
            found = Some((row.int(0), row.text(1)))
        })?;
        if let Some((seq, at)) = found {
            let at = DateTime::parse_from_rfc3339(&at).map_err(|e| sqlx::Error::Decode(e.into()))?.to_utc();
            known.push((m.match_id, m.sender_id, m.client_msg_id.clone(), seq, at));
        }
    }

    let (outcomes, fresh) = assign_seqs(batch, &last_seq, known, now);
    if !fresh.is_empty() {
        let now = timestamp(now);
        let mut message = db.prepare(
            "INSERT INTO messages (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut log = db.prepare(
            "INSERT INTO message_logs (match_id, seq, sender_id, receiver_id, sent_at, device_info, connection_type) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (m, seq) in &fresh {
            let ids: [Value<'_>; 4] = [m.match_id.into(), (*seq).into(), m.sender_id.into(), m.receiver_id.into()];
            let [a, b, c, d] = ids;
            message.execute(&[
                a,
                b,
                c,
                d,
                m.client_msg_id.as_str().into(),
                m.content.as_str().into(),
                m.nonce.as_str().into(),
                now.as_str().into(),
            ])?;
            log.execute(&[a, b, c, d, now.as_str().into(), m.device_info.as_deref().into(), m.connection_type.into()])?;
        }
    }
    Ok(outcomes)
}

/// Ends each listed match that is still active, once: `completed` when a message was sent in it, else
/// `cancelled`.
fn end_matches(db: &Db<'_>, ends: &[MatchEnd], now: &str) -> Result<Vec<bool>, Failure> {
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let mut end = db.prepare(
        "UPDATE matches SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs WHERE match_id = matches.id) \
         THEN 'completed' ELSE 'cancelled' END, ended_at = ?1, end_reason = ?2 \
         WHERE id = ?3 AND status = 'active' RETURNING id",
    )?;
    let mut ended = Vec::new();
    for (match_id, reason) in distinct_ends(ends) {
        end.each(&[now.into(), reason.into(), match_id.into()], |row| ended.push(row.int(0)))?;
    }
    Ok(answer_ends(ends, ended))
}
