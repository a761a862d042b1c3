//! PostgreSQL's message tables by time (migrations/postgres/0034): content (`messages`) in a partition per UTC
//! day, its metadata (`message_logs`) in a partition per UTC month. This module makes the partitions ahead of the
//! rows that need them and drops the ones every row of which has passed its retention (detached concurrently, then
//! dropped, so the relay's reads and writes never queue behind it): dropping a partition takes milliseconds and
//! leaves nothing for VACUUM, where deleting a day's rows one by one took the expiry minutes and
//! left the table bloated (BENCHMARKS.md, issue 51).
//!
//! A partition's name says what it holds: `messages_d20261126` the day 2026-11-26, `message_logs_m202611` the
//! month of November 2026, and `messages_before_d20261126` / `message_logs_before_m202611` everything before that
//! day or month (a table that 0034 converted in place). Which ones exist, which are missing and which may go is a
//! pure reading of those names ([`Plan`]); SQLite keeps its one table and deletes rows (`store::jobs`).

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use sqlx::{PgConnection, PgPool};

use super::{Backend, Store, StoreError};

/// Days of content partitions made ahead of today, so that a job that does not run for a week loses nothing.
pub const DAYS_AHEAD: u32 = 7;
/// Months of metadata partitions made ahead of this one.
pub const MONTHS_AHEAD: u32 = 2;

/// Our advisory lock for making and dropping partitions: "tanis_pa", so two nodes never race to create one.
const LOCK_KEY: i64 = 0x7461_6e69_735f_7061;

/// One of the two partitioned tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Content, a partition per day.
    Messages,
    /// Metadata, a partition per month.
    Logs,
}

impl Table {
    fn parent(self) -> &'static str {
        match self {
            Table::Messages => "messages",
            Table::Logs => "message_logs",
        }
    }

    /// The start of the period holding `day`.
    fn period_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Table::Messages => day,
            Table::Logs => day.with_day(1).expect("every month has a first day"),
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Table::Messages => start + TimeDelta::days(1),
            Table::Logs => start + Months::new(1),
        }
    }

    fn suffix(self, start: NaiveDate) -> String {
        match self {
            Table::Messages => start.format("d%Y%m%d").to_string(),
            Table::Logs => start.format("m%Y%m").to_string(),
        }
    }

    fn parse(self, suffix: &str) -> Option<NaiveDate> {
        match self {
            Table::Messages => NaiveDate::parse_from_str(suffix.strip_prefix('d')?, "%Y%m%d").ok(),
            Table::Logs => NaiveDate::parse_from_str(&format!("{}01", suffix.strip_prefix('m')?), "%Y%m%d").ok(),
        }
    }

    /// The name of the partition for the period starting at `start`.
    pub fn partition(self, start: NaiveDate) -> String {
        format!("{}_{}", self.parent(), self.suffix(start))
    }
}

/// A partition as its name describes it: the times from `from` (none: from the beginning) up to `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    pub from: Option<NaiveDate>,
    pub until: NaiveDate,
}

impl Partition {
    /// Reads a partition of `table` from its name; `None` for a name this module did not give.
    pub fn read(table: Table, name: &str) -> Option<Partition> {
        let rest = name.strip_prefix(table.parent())?.strip_prefix('_')?;
        let (from, until) = match rest.strip_prefix("before_") {
            Some(bound) => (None, table.parse(bound)?),
            None => {
                let start = table.parse(rest)?;
                (Some(start), table.next(start))
            }
        };
        Some(Partition { name: name.to_owned(), from, until })
    }
}

/// What to do with one table's partitions at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Periods to create, by their start: from the one holding `now` to the last one ahead, skipping any that a
    /// partition covers already.
    pub create: Vec<NaiveDate>,
    /// Partitions whose every row is older than the cutoff.
    pub drop: Vec<Partition>,
}

/// Plans one table: `existing` are its partitions, `cutoff` the retention's (rows before it may go; `None` keeps
/// everything).
pub fn plan(table: Table, existing: &[Partition], now: DateTime<Utc>, cutoff: Option<DateTime<Utc>>) -> Plan {
    let covered =
        |start: NaiveDate| existing.iter().any(|p| p.from.is_none_or(|from| from <= start) && start < p.until);
    let today = now.date_naive();
    let last = match table {
        Table::Messages => today + TimeDelta::days(DAYS_AHEAD.into()),
        Table::Logs => today + Months::new(MONTHS_AHEAD),
    };
    let mut create = Vec::new();
    let mut start = table.period_of(today);
    while start <= last {
        if !covered(start) {
            create.push(start);
        }
        start = table.next(start);
    }
    let drop = match cutoff {
        Some(cutoff) => existing.iter().filter(|p| midnight(p.until) <= cutoff).cloned().collect(),
        None => Vec::new(),
    };
    Plan { create, drop }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// What one round of [`Store::rotate_partitions`] dropped, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub content: Vec<String>,
    pub logs: Vec<String>,
}

impl Store {
    /// Makes the partitions from `now`'s day (month) to the ones ahead; nothing on SQLite. Runs at start-up, in
    /// every expiry run and when a write finds no partition for its time (a clock moved ahead).
    pub async fn ensure_partitions(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let Backend::Postgres { write, .. } = &self.backend {
            ensure(write, now).await?;
        }
        Ok(())
    }

    /// [`Store::ensure_partitions`], then, whether or not that succeeded, drops content partitions whose every
    /// message was sent before `content_cutoff` and metadata partitions whose every log is older than `log_cutoff`,
    /// detaching each concurrently first so that the relay never waits (see `drop_expired`). Before a metadata
    /// partition goes, every conversation still open with logs in it keeps their highest seq in
    /// `matches.seq_floor`, so its next message does not start again from 1. Nothing on SQLite.
    pub async fn rotate_partitions(
        &self,
        now: DateTime<Utc>,
        content_cutoff: DateTime<Utc>,
        log_cutoff: DateTime<Utc>,
    ) -> Result<Rotated, StoreError> {
        // A rotation that fails on either store: the expiry's other steps run all the same (tests/api/retention.rs).
        self.fail_points.check("rotate.before")?;
        match &self.backend {
            Backend::Postgres { write, .. } => Ok(rotate(write, now, content_cutoff, log_cutoff).await?),
            Backend::Sqlite { .. } => Ok(Rotated::default()),
        }
    }
}

/// Whether `err` is PostgreSQL refusing a row for which no partition exists.
pub(crate) fn is_missing_partition(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if db.code().as_deref() == Some("23514") && db.message().starts_with("no partition of relation"))
}

/// Whether a day's content partition exists under that day's name, asked once per day and store: the batch's
/// repeat lookup reads today's by its name. A day can be held under another name: 0034 converts the old table into
/// `messages_before_d…` up to the day after its newest row, so on the day of the upgrade today's rows are there
/// and no `messages_d…` of today is ever made ([`plan`] sees the day covered). A `false` stays for the day: the
/// lookup then reads the parent, as it did before it named the partition.
#[derive(Debug, Default)]
pub(crate) struct NamedDays(std::sync::Mutex<Option<(NaiveDate, bool)>>);

impl NamedDays {
    pub(crate) async fn has(&self, pool: &PgPool, day: NaiveDate) -> Result<bool, sqlx::Error> {
        if let Some((known, named)) = *self.0.lock().expect("never poisoned: no panic while held")
            && known == day
        {
            return Ok(named);
        }
        let named: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(Table::Messages.partition(day))
            .fetch_one(pool)
            .await?;
        *self.0.lock().expect("never poisoned: no panic while held") = Some((day, named));
        Ok(named)
    }
}

/// Makes the missing partitions, in one transaction under our advisory lock (a second node waits here and then
/// finds them made). `CREATE TABLE … PARTITION OF` locks the parent table, and every write of the relay queues
/// behind a lock that waits: it gives up after half a second instead. The days ahead are made a week early, so a
/// try that gives up loses nothing; the next expiry run tries again.
pub(crate) async fn ensure(pool: &PgPool, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(LOCK_KEY).execute(&mut *tx).await?;
    sqlx::query("SET LOCAL lock_timeout = '500ms'").execute(&mut *tx).await?;
    for table in [Table::Messages, Table::Logs] {
        let existing = partitions(&mut tx, table).await?;
        for start in plan(table, &existing, now, None).create {
            create(&mut tx, table, start).await?;
        }
    }
    tx.commit().await
}

/// [`ensure`], then drops the partitions past their cutoff without ever holding the relay up: making the days
/// ahead and dropping the days past are separate tries, so that a failure to make one never keeps the other
/// from going (and the other way round); each is tried again by the next run.
async fn rotate(
    pool: &PgPool,
    now: DateTime<Utc>,
    content_cutoff: DateTime<Utc>,
    log_cutoff: DateTime<Utc>,
) -> Result<Rotated, sqlx::Error> {
    let made = ensure(pool, now).await;
    // Its own connection, closed after: the lock timeout and the advisory lock are the session's, and must not go
    // back to the pool with it (closing releases both, whatever failed in between).
    let mut conn = pool.acquire().await?;
    conn.close_on_drop();
    let dropped = drop_expired(&mut conn, now, content_cutoff, log_cutoff).await;
    drop(conn);
    let rotated = dropped?;
    made?;
    Ok(rotated)
}

/// Drops the partitions whose every row is past its cutoff, each in three steps none of which blocks the relay:
/// `DETACH PARTITION … CONCURRENTLY` (it takes only a SHARE UPDATE EXCLUSIVE lock on the parent, which reads and
/// writes do not conflict with, then waits for the transactions that might still see the partition), then
/// `DROP TABLE` of what is no longer part of the parent. Every wait gives up after the lock timeout, and what a
/// try left behind is finished by the next: a partition left "pending detach" by a wait that gave up (PostgreSQL
/// allows one per parent) is finalized first, and a table detached but not dropped (a crash between the two) is
/// dropped. `DETACH … CONCURRENTLY` cannot run in a transaction, hence the session lock.
async fn drop_expired(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    content_cutoff: DateTime<Utc>,
    log_cutoff: DateTime<Utc>,
) -> Result<Rotated, sqlx::Error> {
    sqlx::raw_sql("SET lock_timeout = '500ms'").execute(&mut *conn).await?;
    // One node rotates at a time; another gives up after the lock timeout and tries again next run.
    sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK_KEY).execute(&mut *conn).await?;
    let mut rotated = Rotated::default();
    for (table, cutoff) in [(Table::Messages, content_cutoff), (Table::Logs, log_cutoff)] {
        let pending = pending_detach(conn, table).await?;
        let mut doomed: Vec<(Partition, bool)> = plan(table, &partitions(conn, table).await?, now, Some(cutoff))
            .drop
            .into_iter()
            .map(|p| (p, true))
            .collect();
        // The one pending detach first: no other detach starts while it is there.
        doomed.sort_by_key(|(p, _)| !pending.contains(&p.name));
        doomed.extend(
            detached(conn, table).await?.into_iter().filter(|p| midnight(p.until) <= cutoff).map(|p| (p, false)),
        );
        for (partition, attached) in doomed {
            if table == Table::Logs {
                keep_seq_floors(conn, &partition.name).await?;
            }
            if attached {
                let how = if pending.contains(&partition.name) { "FINALIZE" } else { "CONCURRENTLY" };
                let sql = format!("ALTER TABLE {} DETACH PARTITION {} {how}", table.parent(), partition.name);
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TABLE {}", partition.name))).execute(&mut *conn).await?;
            tracing::info!(partition = %partition.name, "dropped a partition past its retention");
            match table {
                Table::Messages => rotated.content.push(partition.name),
                Table::Logs => rotated.logs.push(partition.name),
            }
        }
    }
    Ok(rotated)
}

/// The partitions of `table` a `DETACH … CONCURRENTLY` left pending (a wait that gave up).
async fn pending_detach(conn: &mut PgConnection, table: Table) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = $1::regclass AND i.inhdetachpending",
    )
    .bind(table.parent())
    .fetch_all(conn)
    .await
}

/// Tables named as partitions of `table` that are no longer attached to it: detached, not yet dropped.
async fn detached(conn: &mut PgConnection, table: Table) -> Result<Vec<Partition>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_class p ON p.oid = $1::regclass \
         WHERE c.relnamespace = p.relnamespace AND c.relkind = 'r' AND NOT c.relispartition \
           AND c.relname LIKE $2",
    )
    .bind(table.parent())
    .bind(format!("{}\\_%", table.parent()))
    .fetch_all(conn)
    .await?;
    Ok(names.iter().filter_map(|name| Partition::read(table, name)).collect())
}

async fn partitions(conn: &mut PgConnection, table: Table) -> Result<Vec<Partition>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = $1::regclass",
    )
    .bind(table.parent())
    .fetch_all(&mut *conn)
    .await?;
    Ok(names.iter().filter_map(|name| Partition::read(table, name)).collect())
}

async fn create(conn: &mut PgConnection, table: Table, start: NaiveDate) -> Result<(), sqlx::Error> {
    // Receipts update a log in place a few milliseconds after its insert: room on its page keeps that update HOT
    // (0026's fillfactor, per partition now).
    let storage = match table {
        Table::Messages => "",
        Table::Logs => " WITH (fillfactor = 80)",
    };
    let sql = format!(
        "CREATE TABLE {name} PARTITION OF {parent} FOR VALUES FROM ('{from} 00:00:00+00') TO ('{until} 00:00:00+00'){storage}",
        name = table.partition(start),
        parent = table.parent(),
        from = start,
        until = table.next(start),
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(())
}

/// Raises `seq_floor` of every open conversation (an active match or a kept contact) with logs in `partition` to
/// the highest seq it holds there. Open conversations are few (matches end within a day; contacts are what is
/// left), and each is one probe of the partition's `(match_id, seq)` index.
async fn keep_seq_floors(conn: &mut PgConnection, partition: &str) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE matches m SET seq_floor = f.seq FROM \
           (SELECT o.id, (SELECT seq FROM {partition} WHERE match_id = o.id ORDER BY seq DESC LIMIT 1) AS seq \
            FROM matches o WHERE o.status = 'active' OR o.kept_at IS NOT NULL) f \
         WHERE m.id = f.id AND f.seq > m.seq_floor"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
#[path = "partitions_tests.rs"]
mod tests;
