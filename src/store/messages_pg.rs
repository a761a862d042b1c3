//! The relay's batch write on PostgreSQL: the rules of [`super::messages`], with every statement's text fixed
//! whatever the batch size — keys and rows travel as arrays and are `unnest`ed. With an `OR` of one term per
//! key and a `VALUES` row per message, every batch was a new statement: PostgreSQL parsed and planned it again
//! and set up one index scan per key, which took a third of its CPU in the relay (perf, BENCHMARKS.md); a
//! fixed text is prepared once per connection and its plan reused.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use sqlx::{Postgres, Transaction};

use super::messages::{
    Batch, NewMessage, WriteOutcome, Written, active_last_seqs, answer_ends, answer_receipts, assign_seqs,
    distinct_ends, match_ids,
};

pub(super) async fn write_batch(pool: &PgPool, batch: Batch<'_>, now: DateTime<Utc>) -> Result<Written, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let receipts = batch.receipts;
    // With several nodes, two relay writers can write one match at once (its users' sockets are on different
    // nodes), and each would give its message the same next seq. Each first takes the rows of the matches it
    // touches, in id order (so two writers never wait on each other in a circle): the second waits for the
    // first's commit, and its statements below then see the first's messages. NO KEY: the foreign-key checks
    // of the rows inserted for the match are not blocked.
    let locked = match_ids(
        (batch.messages.iter().map(|m| m.match_id))
            .chain(receipts.iter().map(|r| r.match_id))
            .chain(batch.ends.iter().map(|e| e.match_id)),
    );
    sqlx::query("SELECT id FROM matches WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(&locked)
        .fetch_all(&mut *tx)
        .await?;

    let delivered = if receipts.is_empty() {
        Vec::new()
    } else {
        let marked = sqlx::query_as(
            "UPDATE message_logs l SET delivered = TRUE, delivered_at = $1 \
             FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS r(match_id, seq, receiver_id) \
             WHERE l.match_id = r.match_id AND l.seq = r.seq AND l.receiver_id = r.receiver_id \
               AND l.delivered = FALSE \
             RETURNING l.match_id, l.seq, l.receiver_id, l.sender_id",
        )
        .bind(now)
        .bind(receipts.iter().map(|r| r.match_id).collect::<Vec<_>>())
        .bind(receipts.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(receipts.iter().map(|r| r.receiver_id).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        answer_receipts(receipts, marked)
    };
    let messages =
        if batch.messages.is_empty() { Vec::new() } else { insert_messages(&mut tx, batch.messages, now).await? };
    let ends = if batch.ends.is_empty() {
        Vec::new()
    } else {
        let ends = distinct_ends(batch.ends);
        let ended = sqlx::query_scalar(
            "UPDATE matches m SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs l WHERE l.match_id = m.id) \
             THEN 'completed' ELSE 'cancelled' END, ended_at = $1, end_reason = e.reason \
             FROM unnest($2::bigint[], $3::text[]) AS e(id, reason) \
             WHERE m.id = e.id AND m.status = 'active' RETURNING m.id",
        )
        .bind(now)
        .bind(ends.iter().map(|e| e.0).collect::<Vec<_>>())
        .bind(ends.iter().map(|e| e.1).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        answer_ends(batch.ends, ended)
    };
    let mut opens = Vec::with_capacity(batch.opens.len());
    for opening in batch.opens {
        opens.push(super::matches_pg::open(&mut tx, opening).await?);
    }
    tx.commit().await?;
    Ok(Written { messages, receipts: delivered, ends, opens })
}

/// The messages part of the batch: outcomes in input order.
async fn insert_messages(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[NewMessage],
    now: DateTime<Utc>,
) -> Result<Vec<WriteOutcome>, sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT id, status, (SELECT COALESCE(MAX(seq), 0) FROM message_logs WHERE match_id = matches.id) \
         FROM matches WHERE id = ANY($1)",
    )
    .bind(match_ids(batch.iter().map(|m| m.match_id)))
    .fetch_all(&mut **tx)
    .await?;
    let last_seq = active_last_seqs(rows);

    let live: Vec<&NewMessage> = batch.iter().filter(|m| last_seq.contains_key(&m.match_id)).collect();
    let known = if live.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT m.match_id, m.sender_id, m.client_msg_id, m.seq, m.created_at \
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(match_id, sender_id, client_msg_id) \
             JOIN messages m ON m.match_id = k.match_id AND m.sender_id = k.sender_id \
               AND m.client_msg_id = k.client_msg_id",
        )
        .bind(live.iter().map(|m| m.match_id).collect::<Vec<_>>())
        .bind(live.iter().map(|m| m.sender_id).collect::<Vec<_>>())
        .bind(live.iter().map(|m| m.client_msg_id.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?
    };

    let (outcomes, fresh) = assign_seqs(batch, &last_seq, known, now);
    if !fresh.is_empty() {
        let column = |f: fn(&NewMessage) -> i64| fresh.iter().map(|(m, _)| f(m)).collect::<Vec<i64>>();
        let (match_id, sender_id, receiver_id) =
            (column(|m| m.match_id), column(|m| m.sender_id), column(|m| m.receiver_id));
        let seq: Vec<i64> = fresh.iter().map(|(_, seq)| *seq).collect();
        sqlx::query(
            "INSERT INTO messages (match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, created_at) \
             SELECT match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, $8 \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[]) \
               AS t(match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce)",
        )
        .bind(&match_id)
        .bind(&sender_id)
        .bind(&receiver_id)
        .bind(&seq)
        .bind(fresh.iter().map(|(m, _)| m.client_msg_id.as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|(m, _)| m.content.as_str()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|(m, _)| m.nonce.as_str()).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO message_logs (sender_id, receiver_id, match_id, seq, sent_at, device_info, connection_type) \
             SELECT sender_id, receiver_id, match_id, seq, $7, device_info, connection_type \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[]) \
               AS t(sender_id, receiver_id, match_id, seq, device_info, connection_type)",
        )
        .bind(&sender_id)
        .bind(&receiver_id)
        .bind(&match_id)
        .bind(&seq)
        .bind(fresh.iter().map(|(m, _)| m.device_info.as_deref()).collect::<Vec<_>>())
        .bind(fresh.iter().map(|(m, _)| m.connection_type).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(outcomes)
}
