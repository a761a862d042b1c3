//! The batch on PostgreSQL: the rules of [`super::rules`], with every statement's text fixed whatever the batch
//! size — keys and rows travel as arrays and are `unnest`ed. With an `OR` of one term per key and a `VALUES` row
//! per message, every batch was a new statement: PostgreSQL parsed and planned it again and set up one index scan
//! per key, which took a third of its CPU in the relay benchmark (perf, BENCHMARKS.md); a fixed text is prepared
//! once per connection and its plan reused. Openings take a savepoint each, so an attempt refused for a side
//! that cannot pay rolls back alone and the batch's messages stay.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use tanis_proto::MatchKind;

use super::opening::{
    Attempt, Attempts, Matched, NewMatch, NodeFence, Opened, Opening, Refusal, Refused, refusals, spend_unit,
};
use super::rules::{
    Earlier, Marked, answer_ends, answer_receipts, assign_seqs, distinct_ends, match_ids, open_last_seqs,
};
use super::{Batch, NewMessage, Receipt, WriteOutcome, Written};
use crate::domain::declarations::REFUND_WINDOW;
use crate::domain::{MatchId, MatchStatus, Seq, UserId};
use crate::store::FailPoints;
use crate::store::matches::{CreatedMatch, MatchRow, MatchedUser, match_columns, matched_user_columns};
use crate::store::partitions::{NamedDays, Table, ensure, is_missing_partition};

pub(super) async fn write_batch(
    pool: &PgPool,
    points: &FailPoints,
    days: &NamedDays,
    batch: Batch<'_>,
    now: DateTime<Utc>,
) -> Result<Written, sqlx::Error> {
    let named = !batch.messages.is_empty() && days.has(pool, now.date_naive()).await?;
    match write(pool, points, batch, now, named).await {
        // A time with no partition yet (made a week ahead at start-up and by every expiry run, so: a clock that
        // jumped, or the jobs not running for a week): make it, then write the batch again.
        Err(e) if is_missing_partition(&e) => {
            tracing::warn!(%now, "no message partition for this time: making it");
            ensure(pool, now).await?;
            write(pool, points, batch, now, named).await
        }
        written => written,
    }
}

/// `named`: today's content partition exists under today's name ([`NamedDays`]).
async fn write(
    pool: &PgPool,
    points: &FailPoints,
    batch: Batch<'_>,
    now: DateTime<Utc>,
    named: bool,
) -> Result<Written, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let receipts = batch.receipts;
    // With several nodes, two nodes' writers can write one match at once (its users' sockets are on different
    // nodes), and each would give its message the same next seq. Each first takes the rows of the matches it
    // touches, in id order (so two writers never wait on each other in a circle): the second waits for the
    // first's commit, and its statements below then see the first's messages. NO KEY: the foreign-key checks
    // of the rows inserted for the match are not blocked.
    let locked = match_ids(
        (batch.messages.iter().map(|m| m.match_id))
            .chain(receipts.iter().map(|r| r.match_id))
            .chain(batch.ends.iter().map(|e| e.match_id)),
    );
    // Each match's start bounds the month partitions its logs can be in (less a day, for other nodes' clocks).
    let born: HashMap<MatchId, DateTime<Utc>> =
        sqlx::query_as("SELECT id, created_at FROM matches WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&locked)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

    let (messages, fresh) = if batch.messages.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        assign_messages(&mut tx, batch.messages, &born, now, named).await?
    };
    let delivered = if receipts.is_empty() && fresh.is_empty() {
        Vec::new()
    } else {
        answer_receipts(receipts, mark_and_insert(&mut tx, receipts, &born, &fresh, now).await?)
    };
    let ends = if batch.ends.is_empty() {
        Vec::new()
    } else {
        let ends = distinct_ends(batch.ends);
        let ended: Vec<(MatchId, Seq)> = sqlx::query_as(
            "UPDATE matches m SET status = CASE WHEN EXISTS (SELECT 1 FROM message_logs l WHERE l.match_id = m.id \
               AND l.sent_at >= m.created_at - interval '1 day' AND l.sent_at < $1 + interval '1 day') \
               OR m.seq_floor > 0 \
             THEN 'completed' ELSE 'cancelled' END, ended_at = $1, end_reason = e.reason \
             FROM unnest($2::bigint[], $3::text[]) AS e(id, reason) \
             WHERE m.id = e.id AND m.status = 'active' \
             RETURNING m.id, (SELECT COALESCE(MAX(l.seq), m.seq_floor) FROM message_logs l WHERE l.match_id = m.id \
               AND l.sent_at >= m.created_at - interval '1 day' AND l.sent_at < $1 + interval '1 day')",
        )
        .bind(now)
        .bind(ends.iter().map(|e| e.0).collect::<Vec<_>>())
        .bind(ends.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        answer_ends(batch.ends, ended)
    };
    let mut opens = Vec::with_capacity(batch.opens.len());
    for opening in batch.opens {
        opens.push(open(&mut tx, points, opening).await?);
    }
    tx.commit().await?;
    Ok(Written { messages, receipts: delivered, ends, opens })
}

/// Where the batch's earlier copies can be: today's partition when it exists under today's name (`named`), the
/// oldest of the batch's matches was born today (`born`) and midnight is more than a minute away either side (a
/// node's clock may be a minute off); else the parent table, its partitions pruned by time.
fn lookup_table(now: DateTime<Utc>, born: Option<DateTime<Utc>>, named: bool) -> String {
    let day = now.date_naive();
    let start = day.and_time(chrono::NaiveTime::MIN).and_utc();
    let margin = chrono::TimeDelta::minutes(1);
    let inside = now - start > margin && start + chrono::TimeDelta::days(1) - now > margin;
    match born {
        Some(born) if named && inside && born > start + margin => Table::Messages.partition(day),
        _ => "messages".to_owned(),
    }
}

/// The messages' outcomes, in input order, and the messages to store with their seqs, read in one round trip.
/// A batch's round trips were most of its time at 5 000 msgs/s (BENCHMARKS.md, issue 79 point 3): this read and
/// [`mark_and_insert`] are two where there were five (the receipts' marking, the matches' state, the duplicate
/// lookup, one insert per table).
async fn assign_messages<'a>(
    tx: &mut Transaction<'_, Postgres>,
    batch: &'a [NewMessage],
    born: &HashMap<MatchId, DateTime<Utc>>,
    now: DateTime<Utc>,
    named: bool,
) -> Result<(Vec<WriteOutcome>, Vec<(&'a NewMessage, Seq)>), sqlx::Error> {
    let ids = match_ids(batch.iter().map(|m| m.match_id));
    let oldest = ids.iter().filter_map(|id| born.get(id)).min().copied();
    // Up to now (and a minute, for other nodes' clocks): the week of day partitions made ahead is pruned,
    // tomorrow's too (probing it cost each key as much as today's: pg_stat_statements, BENCHMARKS.md). When
    // every match of the batch was born today and midnight is over a minute away, every earlier copy is in
    // today's partition: it is read by its name, since the parent's Append, rescanned for every key, made the
    // lookup 2-3 times one table's (BENCHMARKS.md, issue 63 point 4).
    let table = lookup_table(now, oldest, named);
    // One statement, two kinds of row. A match's (its `status` set): its last seq, the logs' highest from the
    // match's start on (pruning the months before it), or, when the metadata retention took them all, the
    // highest it took (an open contact conversation). An earlier copy of a batch's message, by the duplicate key
    // (its `sender_id` set); one of a match that is not open is not looked at (`assign_seqs`).
    let rows: Vec<StateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id AS match_id, status, kept_at IS NOT NULL AS kept, \
           (SELECT COALESCE(MAX(seq), matches.seq_floor) FROM message_logs \
            WHERE match_id = matches.id AND sent_at >= matches.created_at - interval '1 day' \
              AND sent_at < $4 + interval '1 day') AS seq, \
           NULL::bigint AS sender_id, NULL::text AS client_msg_id, NULL::timestamptz AS sent_at \
         FROM matches WHERE id = ANY($5) \
         UNION ALL \
         SELECT m.match_id, NULL, NULL, m.seq, m.sender_id, m.client_msg_id, m.created_at \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(match_id, sender_id, client_msg_id) \
         JOIN {table} m ON m.match_id = k.match_id AND m.sender_id = k.sender_id \
           AND m.client_msg_id = k.client_msg_id AND m.created_at <= $4 + interval '1 minute'"
    )))
    .bind(batch.iter().map(|m| m.match_id).collect::<Vec<_>>())
    .bind(batch.iter().map(|m| m.sender_id).collect::<Vec<_>>())
    .bind(batch.iter().map(|m| m.client_msg_id.as_str()).collect::<Vec<_>>())
    .bind(now)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    let (mut matches, mut known) = (Vec::new(), Vec::new());
    for row in rows {
        match row {
            StateRow { match_id, status: Some(status), kept, seq, .. } => {
                matches.push((match_id, status, kept.unwrap_or(false), seq));
            }
            StateRow {
                match_id,
                sender_id: Some(sender_id),
                client_msg_id: Some(client_msg_id),
                seq,
                sent_at: Some(sent_at),
                ..
            } => {
                known.push(Earlier { match_id, sender_id, client_msg_id, seq, sent_at });
            }
            row => return Err(sqlx::Error::Decode(format!("a batch state row of neither kind: {row:?}").into())),
        }
    }
    let last_seq = open_last_seqs(matches);

    Ok(assign_seqs(batch, &last_seq, known, now))
}

/// The batch's writes to the message tables in one statement: each receipt's range marked delivered (what it
/// marked is returned), then the new messages, their content and their log. The marking's snapshot does not
/// see the messages this statement inserts, as when it ran first on its own: a range reaching a message of this
/// batch marks nothing (no receiver has been told of it yet).
async fn mark_and_insert(
    tx: &mut Transaction<'_, Postgres>,
    receipts: &[Receipt],
    born: &HashMap<MatchId, DateTime<Utc>>,
    fresh: &[(&NewMessage, Seq)],
    now: DateTime<Utc>,
) -> Result<Vec<Marked>, sqlx::Error> {
    // Each receipt's match's start, less a day (other nodes' clocks). A match that does not exist marks nothing:
    // any bound does.
    let since: Vec<DateTime<Utc>> =
        receipts.iter().map(|r| born.get(&r.match_id).map_or(now, |at| *at - TimeDelta::days(1))).collect();
    sqlx::query_as(
        // A receipt's range is one walk of the `(match_id, seq)` key from `first`, and the MAX one probe of its
        // end (EXPLAIN in BENCHMARKS.md, issue 50 point 5), in the month partitions from the match's start to now
        // only (a day either side, for other nodes' clocks): PostgreSQL prunes the others, the months made ahead
        // included, as it runs (issue 51). The match's start travels with the receipt (`since`): as a join
        // PostgreSQL kept the seq range out of the index condition and walked the whole match, as a subquery it
        // probed the match again for every row. Two receipts of the batch naming one message update it once, and
        // it is returned once, with one of them (`n`, the receipt's place in the batch). The messages' rows come
        // from one array each, for both tables.
        "WITH marked AS (UPDATE message_logs l SET delivered = TRUE, delivered_at = $1 \
             FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[]) \
                  WITH ORDINALITY AS r(match_id, first, seq, receiver_id, since, n) \
             WHERE l.match_id = r.match_id AND l.seq BETWEEN r.first AND r.seq AND l.receiver_id = r.receiver_id \
               AND l.delivered = FALSE AND l.sent_at >= r.since AND l.sent_at < $1 + interval '1 day' \
               AND r.seq <= (SELECT max(m.seq) FROM message_logs m WHERE m.match_id = r.match_id \
                 AND m.sent_at >= r.since AND m.sent_at < $1 + interval '1 day') \
             RETURNING r.n - 1 AS receipt, l.seq, l.sender_id), \
           t AS (SELECT * FROM unnest($7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], \
                 $12::text[], $13::text[], $14::text[], $15::text[], $16::bytea[]) \
               AS t(match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, device_info, \
                    connection_type, commitment)), \
           content AS (INSERT INTO messages \
               (match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, created_at) \
             SELECT match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, $1 FROM t), \
           logs AS (INSERT INTO message_logs \
               (sender_id, receiver_id, match_id, seq, sent_at, device_info, connection_type, commitment) \
             SELECT sender_id, receiver_id, match_id, seq, $1, device_info, connection_type, commitment FROM t) \
         SELECT receipt, seq, sender_id FROM marked",
    )
    .bind(now)
    .bind(receipts.iter().map(|r| r.match_id).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.first).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.seq).collect::<Vec<_>>())
    .bind(receipts.iter().map(|r| r.receiver_id).collect::<Vec<_>>())
    .bind(since)
    .bind(fresh.iter().map(|(m, _)| m.match_id).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.sender_id).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.receiver_id).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(_, seq)| *seq).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.client_msg_id.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.content.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.nonce.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.device_info.as_deref()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| m.connection_type.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|(m, _)| &m.commitment[..]).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await
}

/// A row of [`assign_messages`]' read: a match's state (`status` set) or an earlier copy (`sender_id` set).
#[derive(Debug, sqlx::FromRow)]
struct StateRow {
    match_id: MatchId,
    status: Option<MatchStatus>,
    kept: Option<bool>,
    seq: Seq,
    sender_id: Option<UserId>,
    client_msg_id: Option<String>,
    sent_at: Option<DateTime<Utc>>,
}

/// Opens one pass's matches under a savepoint of the batch's transaction.
async fn open(
    tx: &mut Transaction<'_, Postgres>,
    points: &FailPoints,
    opening: &Opening,
) -> Result<Opened, sqlx::Error> {
    let mut attempts = Attempts::new(opening);
    sqlx::query("SAVEPOINT opening").execute(&mut **tx).await?;
    loop {
        let pending = attempts.next();
        if pending.is_empty() {
            break;
        }
        match attempt(tx, points, &pending, opening).await? {
            Attempt::Created(created) => attempts.created(created),
            Attempt::Unpaid(unpaid) => {
                sqlx::query("ROLLBACK TO SAVEPOINT opening").execute(&mut **tx).await?;
                attempts.refuse(&unpaid);
            }
            Attempt::Fenced => {
                sqlx::query("ROLLBACK TO SAVEPOINT opening").execute(&mut **tx).await?;
                sqlx::query("RELEASE SAVEPOINT opening").execute(&mut **tx).await?;
                return Ok(Opened::Fenced);
            }
        }
    }
    sqlx::query("RELEASE SAVEPOINT opening").execute(&mut **tx).await?;
    Ok(attempts.finish())
}

async fn attempt(
    tx: &mut Transaction<'_, Postgres>,
    points: &FailPoints,
    batch: &[&NewMatch],
    opening: &Opening,
) -> Result<Attempt, sqlx::Error> {
    points.rendezvous("opening.before").await;
    let epoch = opening.epoch;
    if let Some(NodeFence { node, epoch }) = &opening.node {
        // Shared: a raise of the fence waits for this opening's commit, and an opening after a raise is refused.
        let stands: Option<i64> =
            sqlx::query_scalar("SELECT epoch FROM node_fences WHERE node = $1 AND epoch = $2 FOR SHARE")
                .bind(node.as_ref())
                .bind(epoch)
                .fetch_optional(&mut **tx)
                .await?;
        if stands.is_none() {
            points.rendezvous("opening.fenced").await;
            return Ok(Attempt::Fenced);
        }
    }
    if let Some(epoch) = epoch {
        // The row lock also orders two holders' transactions: the older one, waiting behind the newer,
        // then finds the fence above its epoch.
        let raised = sqlx::query("UPDATE matchmaker_fence SET epoch = $1 WHERE id = 1 AND epoch <= $1")
            .bind(epoch)
            .execute(&mut **tx)
            .await?;
        if raised.rows_affected() == 0 {
            return Ok(Attempt::Fenced);
        }
    }
    // One active match per user, whoever else decides at the same moment (another node pairing its own seekers,
    // the elected matchmaker, a holder cut off from Redis): every user's row is locked before the check below
    // reads their matches. Under READ COMMITTED the spending UPDATE alone would wait for a concurrent opening's
    // lock on the row, then re-check only that row, with its `NOT EXISTS` still reading the snapshot the statement
    // began with: the other match, committed meanwhile, unseen. Locked first, the UPDATE is a statement that
    // begins after that commit. In id order, so two openings sharing users never wait on each other in a circle.
    let mut everyone: Vec<UserId> = batch.iter().flat_map(|m| [m.user1_id, m.user2_id]).collect();
    everyone.sort_unstable();
    let locked: HashMap<UserId, Matched> = sqlx::query_as(
        "SELECT id, matches_opened, last_matched_at FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(&everyone)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|(id, count, at): (UserId, i64, Option<DateTime<Utc>>)| (id, Matched { count, at }))
    .collect();
    // A stale copy of a request, or a block made while the pair was being opened (read after the lock: a block
    // committed from here on is one the match's own end handles).
    let blocks: Vec<(UserId, UserId)> =
        sqlx::query_as("SELECT blocker_id, blocked_id FROM blocks WHERE blocker_id = ANY($1) AND blocked_id = ANY($1)")
            .bind(&everyone)
            .fetch_all(&mut **tx)
            .await?;
    let refused = refusals(
        batch,
        |user| locked.get(&user).copied().unwrap_or_default(),
        |a, b| blocks.contains(&(a, b)) || blocks.contains(&(b, a)),
    );
    if !refused.is_empty() {
        return Ok(Attempt::Unpaid(refused));
    }
    // The balance each side whose find asked with `seeking` pays from (their rows are locked): the one a refund
    // gives back to. Nothing is read for a batch with no such side, which is nearly every batch (`seeking` is premium).
    let mut from_bonus: HashMap<UserId, bool> = HashMap::new();
    for m in batch {
        let daily = match m.kind {
            MatchKind::Text => "SELECT daily_chat_balance <= 0 FROM users WHERE id = $1",
            MatchKind::Video => "SELECT daily_video_balance <= 0 FROM users WHERE id = $1",
        };
        for user in m.filtered_sides() {
            let bonus: bool = sqlx::query_scalar(daily).bind(user).fetch_one(&mut **tx).await?;
            from_bonus.insert(user, bonus);
        }
    }
    // By the wall clock, as requests of the previous release are stamped (`Seeker::asked_at`).
    let now = Utc::now();
    let mut paid: HashMap<UserId, MatchedUser> = HashMap::with_capacity(batch.len() * 2);
    for (kind, spend) in [
        (MatchKind::Text, spend_unit!("daily_chat_balance", "bonus_chat_balance")),
        (MatchKind::Video, spend_unit!("daily_video_balance", "bonus_video_balance")),
    ] {
        let users: Vec<UserId> =
            batch.iter().filter(|m| m.kind == kind).flat_map(|m| [m.user1_id, m.user2_id]).collect();
        if users.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::new("UPDATE users SET last_matched_at = ");
        q.push_bind(now).push(", matches_opened = matches_opened + 1, ").push(spend);
        let mut ids = q.separated(", ");
        for id in users {
            ids.push_bind(id);
        }
        q.push(concat!(") RETURNING ", matched_user_columns!()));
        let rows: Vec<MatchedUser> = q.build_query_as().fetch_all(&mut **tx).await?;
        paid.extend(rows.into_iter().map(|u| (u.id, u)));
    }
    let unpaid: Vec<Refused> = batch
        .iter()
        .flat_map(|m| [m.user1_id, m.user2_id])
        .filter(|u| !paid.contains_key(u))
        .map(|user| Refused { user, why: Refusal::Unavailable })
        .collect();
    if !unpaid.is_empty() {
        return Ok(Attempt::Unpaid(unpaid));
    }
    let mut q = QueryBuilder::new(
        "INSERT INTO matches (user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, \
         user2_public_key, matchmaker_epoch) ",
    );
    q.push_values(batch, |mut row, m| {
        row.push_bind(m.user1_id)
            .push_bind(m.user2_id)
            .push_bind(m.kind)
            .push_bind(m.now)
            .push_bind(m.expires_at)
            .push_bind("active")
            .push_bind(m.user1_public_key.as_str())
            .push_bind(m.user2_public_key.as_str())
            .push_bind(epoch);
    });
    q.push(concat!(" RETURNING ", match_columns!()));
    let rows: Vec<MatchRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    // A test holds an opening here, paid and written but not committed, while another decides on the same user.
    points.rendezvous("opening.written").await;
    // RETURNING order is not guaranteed: key the rows by their first user (unique within a batch).
    let mut by_user1: HashMap<UserId, MatchRow> = rows.into_iter().map(|r| (r.user1_id, r)).collect();
    // The refund marks of the filtered sides, for the refund window (`declarations::refunds`).
    for m in batch {
        let match_id = by_user1.get(&m.user1_id).expect("one inserted row per pair").id;
        for user in m.filtered_sides() {
            sqlx::query(
                "INSERT INTO refund_marks (match_id, user_id, paid_from_bonus, refundable_until) VALUES ($1, $2, $3, $4)",
            )
            .bind(match_id)
            .bind(user)
            .bind(from_bonus.get(&user).copied().unwrap_or(false))
            .bind(m.now + REFUND_WINDOW)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(Attempt::Created(
        batch
            .iter()
            .map(|m| {
                let row = by_user1.remove(&m.user1_id).expect("one inserted row per pair");
                let user1 = paid.remove(&m.user1_id).expect("paid");
                let user2 = paid.remove(&m.user2_id).expect("paid");
                CreatedMatch { row, user1, user2 }
            })
            .collect(),
    ))
}

#[cfg(test)]
mod lookup_tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_lookup_reads_todays_partition_only_when_no_copy_can_be_elsewhere() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0).unwrap();
        assert_eq!(lookup_table(at(12, 0), Some(at(9, 0)), true), "messages_d20261128", "born today, midday");
        assert_eq!(lookup_table(at(12, 0), Some(at(9, 0)), false), "messages", "today held under another name");
        let yesterday = Utc.with_ymd_and_hms(2026, 11, 27, 23, 0, 0).unwrap();
        assert_eq!(lookup_table(at(12, 0), Some(yesterday), true), "messages", "a match from yesterday");
        let midnight = lookup_table(at(12, 0), Some(at(0, 0)), true);
        assert_eq!(midnight, "messages", "born at midnight: a clock a minute behind");
        assert_eq!(lookup_table(at(0, 0), Some(at(0, 0)), true), "messages", "just after midnight");
        assert_eq!(lookup_table(at(23, 59), Some(at(9, 0)), true), "messages", "a minute before midnight");
        assert_eq!(lookup_table(at(12, 0), None, true), "messages");
    }
}
