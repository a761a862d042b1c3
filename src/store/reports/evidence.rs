//! Reports' verified evidence: what the server bound when messages were sent (read to verify a reveal, and the
//! commitments cleared once the report window is over), the revealed messages that passed (stored with their
//! report, [`Store::insert_report`]), shown to moderators, and deleted with the report's retention. No export
//! reads this table.

use chrono::{DateTime, Utc};

use crate::domain::evidence::Bound;
use crate::domain::{MatchId, Seq};
use crate::store::{Backend, BackendKind, Store, StoreError, id_list, on_read_pool, on_write_pool, select};

/// A verified message as moderators see it, under its report.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EvidenceRow {
    pub report_id: i64,
    pub match_id: MatchId,
    pub seq: Seq,
    pub sent_at: DateTime<Utc>,
    /// The text's UTF-8, as the sender committed to it (verified UTF-8 when it was stored).
    pub plaintext: Vec<u8>,
    pub verified_at: DateTime<Utc>,
}

impl Store {
    /// The bound metadata of the messages `seqs` of `match_id` that exist (at most [`MAX_REVEALS`] lookups by the
    /// `(match_id, seq)` key).
    ///
    /// [`MAX_REVEALS`]: crate::domain::evidence::MAX_REVEALS
    pub async fn bound_messages(&self, match_id: MatchId, seqs: &[Seq]) -> Result<Vec<Bound>, StoreError> {
        // A purged sender's messages are the tombstone's (store::purge): `purged_at` marks it.
        let query = select!(
            "SELECT l.seq, l.sender_id, l.receiver_id, l.sent_at, l.commitment, \
             COALESCE((SELECT u.purged_at IS NOT NULL FROM users u WHERE u.id = l.sender_id), FALSE) AS sender_purged \
             FROM message_logs l WHERE l.match_id = $1 AND l.seq = $2"
        );
        let mut bound = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            let row: Option<Bound> =
                on_read_pool!(self, |pool| pool.rows(query).bind(match_id).bind(seq).optional().await)?;
            bound.extend(row);
        }
        Ok(bound)
    }

    /// The verified evidence of the reports `report_ids`, by report and seq.
    pub async fn evidence_of(&self, report_ids: &[i64]) -> Result<Vec<EvidenceRow>, StoreError> {
        // One statement whatever the number of reports (a page of the report queue can hold thousands): the ids
        // go as one parameter, an array on PostgreSQL and a JSON array on SQLite.
        let rows = match &self.backend {
            Backend::Postgres { read, .. } => {
                let query = select!(
                    "SELECT report_id, match_id, seq, sent_at, plaintext, verified_at FROM report_evidence \
                     WHERE report_id = ANY($1) ORDER BY report_id, match_id, seq"
                );
                read.rows(query).bind(report_ids).all().await?
            }
            Backend::Sqlite { read, .. } => {
                let query = select!(
                    "SELECT report_id, match_id, seq, sent_at, plaintext, verified_at FROM report_evidence \
                     WHERE report_id IN (SELECT value FROM json_each($1)) ORDER BY report_id, match_id, seq"
                );
                read.rows(query).bind(id_list(report_ids)).all().await?
            }
        };
        Ok(rows)
    }

    /// Clears the franking commitment of at most `limit` messages sent before `cutoff` (the start of the report
    /// window), oldest first, through the partial index of the messages that still have one (migration 0032);
    /// how many. The rest of the log stays.
    pub async fn clear_commitments_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let query = match self.kind() {
            BackendKind::Postgres => {
                "UPDATE message_logs SET commitment = NULL WHERE (match_id, seq) IN (SELECT match_id, seq \
                 FROM message_logs WHERE commitment IS NOT NULL AND sent_at < $1 ORDER BY sent_at LIMIT $2)"
            }
            // `message_logs` is a view of `message_rows` on SQLite (migrations/sqlite/0029); the commitment is a
            // column of its own, outside the CHECK that ties the content's three columns together.
            BackendKind::Sqlite => {
                "UPDATE message_rows SET commitment = NULL WHERE rowid IN (SELECT rowid FROM message_rows \
                 WHERE commitment IS NOT NULL AND sent_at < $1 ORDER BY sent_at LIMIT $2)"
            }
        };
        Ok(on_write_pool!(self, |pool| sqlx::query(query)
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Deletes evidence verified before `cutoff` (the report's retention), at most `limit` rows; how many.
    pub async fn delete_evidence_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let query = "DELETE FROM report_evidence WHERE id IN \
                     (SELECT id FROM report_evidence WHERE verified_at < $1 ORDER BY id LIMIT $2)";
        Ok(on_write_pool!(self, |pool| sqlx::query(query)
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
