//! Every phone column at once, for the rewrites that walk all their rows: sealing what an older schema kept in
//! clear (migration 0014; `phone_codes` came later and never held plaintext), resealing under new keys, and the
//! rows the start-up check opens. The store never
//! holds a key: `phones::reseal` opens and seals, this reads and writes the bytes.

use super::{Backend, BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::phones::SealedPhone;

/// A column that holds a phone number (`referrals` holds two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneColumn {
    User,
    Inviter,
    Invited,
    LoginAttempt,
    /// Where a one-time code went (migration 0017).
    PhoneCode,
}

impl PhoneColumn {
    pub const ALL: [PhoneColumn; 5] = [
        PhoneColumn::User,
        PhoneColumn::Inviter,
        PhoneColumn::Invited,
        PhoneColumn::LoginAttempt,
        PhoneColumn::PhoneCode,
    ];

    /// How logs and errors name it.
    pub fn name(self) -> &'static str {
        match self {
            PhoneColumn::User => "users.phone",
            PhoneColumn::Inviter => "referrals.inviter_phone",
            PhoneColumn::Invited => "referrals.invited_phone",
            PhoneColumn::LoginAttempt => "login_attempts.phone",
            PhoneColumn::PhoneCode => "phone_codes.phone",
        }
    }

    fn statements(self) -> &'static Statements {
        match self {
            PhoneColumn::User => &USERS,
            PhoneColumn::Inviter => &INVITERS,
            PhoneColumn::Invited => &INVITEDS,
            PhoneColumn::LoginAttempt => &LOGIN_ATTEMPTS,
            PhoneColumn::PhoneCode => &PHONE_CODES,
        }
    }
}

/// One stored sealed phone as read back, before anything is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhone {
    pub id: i64,
    pub sealed: Vec<u8>,
    pub index: Vec<u8>,
}

/// A sealed phone to write over `old` (the bytes read): the write is skipped if the row changed since.
#[derive(Debug, Clone)]
pub struct Reseal {
    pub id: i64,
    pub old: Vec<u8>,
    pub new: SealedPhone,
}

struct Statements {
    /// `(id, plaintext)` of rows still in the legacy form, after an id, in id order; `None` for a column that was
    /// sealed from its start.
    legacy: Option<super::Select>,
    /// `(id, sealed, index)` of sealed rows, below an id, newest first.
    sealed: super::Select,
    /// `(id, sealed, index)` of the oldest and the newest sealed row.
    edges: super::Select,
    seal_legacy: Option<&'static str>,
    reseal: &'static str,
}

/// The statements of one column, from its table and its three column names. (Kept as written: formatted, each
/// statement would take a line per fragment.)
#[rustfmt::skip]
macro_rules! statements {
    ($table:literal, $legacy:literal, $sealed:literal, $index:literal) => {
        Statements {
            // Served by the partial index on the legacy column (0014): empty once everything is sealed.
            legacy: Some(select!(concat!(
                "SELECT id, ", $legacy, " FROM ", $table,
                " WHERE ", $legacy, " IS NOT NULL AND id > $1 ORDER BY id LIMIT $2"
            ))),
            sealed: select!(concat!(
                "SELECT id, ", $sealed, ", ", $index, " FROM ", $table,
                " WHERE ", $sealed, " IS NOT NULL AND id < $1 ORDER BY id DESC LIMIT $2"
            )),
            edges: select!(concat!(
                "SELECT id, ", $sealed, ", ", $index, " FROM ", $table, " WHERE id IN (",
                "(SELECT MIN(id) FROM ", $table, " WHERE ", $sealed, " IS NOT NULL), ",
                "(SELECT MAX(id) FROM ", $table, " WHERE ", $sealed, " IS NOT NULL)) ORDER BY id"
            )),
            // The plaintext goes in the same statement that writes its sealed form (the CHECK of 0014 wants
            // exactly one of them), and only if another process has not sealed the row meanwhile.
            seal_legacy: Some(concat!(
                "UPDATE ", $table, " SET ", $sealed, " = $2, ", $index, " = $3, ", $legacy, " = NULL",
                " WHERE id = $1 AND ", $legacy, " IS NOT NULL"
            )),
            ..statements!($table, $sealed, $index)
        }
    };
    // A column sealed from its start: nothing legacy to read or seal.
    ($table:literal, $sealed:literal, $index:literal) => {
        Statements {
            legacy: None,
            sealed: select!(concat!(
                "SELECT id, ", $sealed, ", ", $index, " FROM ", $table,
                " WHERE ", $sealed, " IS NOT NULL AND id < $1 ORDER BY id DESC LIMIT $2"
            )),
            edges: select!(concat!(
                "SELECT id, ", $sealed, ", ", $index, " FROM ", $table, " WHERE id IN (",
                "(SELECT MIN(id) FROM ", $table, " WHERE ", $sealed, " IS NOT NULL), ",
                "(SELECT MAX(id) FROM ", $table, " WHERE ", $sealed, " IS NOT NULL)) ORDER BY id"
            )),
            seal_legacy: None,
            reseal: concat!(
                "UPDATE ", $table, " SET ", $sealed, " = $2, ", $index, " = $3 WHERE id = $1 AND ", $sealed, " = $4"
            ),
        }
    };
}

static USERS: Statements = statements!("users", "legacy_phone_number", "phone_sealed", "phone_index");
static INVITERS: Statements =
    statements!("referrals", "legacy_inviter_phone", "inviter_phone_sealed", "inviter_phone_index");
static INVITEDS: Statements =
    statements!("referrals", "legacy_invited_phone", "invited_phone_sealed", "invited_phone_index");
static LOGIN_ATTEMPTS: Statements = statements!("login_attempts", "legacy_phone_number", "phone_sealed", "phone_index");
static PHONE_CODES: Statements = statements!("phone_codes", "phone_sealed", "phone_index");

impl Store {
    /// Up to `limit` rows of `column` still holding plaintext, with ids above `after`, in id order.
    pub async fn legacy_phones(
        &self,
        column: PhoneColumn,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let Some(query) = column.statements().legacy else { return Ok(Vec::new()) };
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(after).bind(limit).all().await)?)
    }

    /// Up to `limit` sealed rows of `column` with ids below `below`, newest first.
    pub async fn sealed_phones(
        &self,
        column: PhoneColumn,
        below: i64,
        limit: i64,
    ) -> Result<Vec<StoredPhone>, StoreError> {
        let query = column.statements().sealed;
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> =
            on_read_pool!(self, |pool| pool.rows(query).bind(below).bind(limit).all().await)?;
        Ok(rows.into_iter().map(|(id, sealed, index)| StoredPhone { id, sealed, index }).collect())
    }

    /// The oldest and the newest sealed row of `column` (one when they are the same, none when there is none).
    pub async fn edge_phones(&self, column: PhoneColumn) -> Result<Vec<StoredPhone>, StoreError> {
        let query = column.statements().edges;
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = on_read_pool!(self, |pool| pool.rows(query).all().await)?;
        Ok(rows.into_iter().map(|(id, sealed, index)| StoredPhone { id, sealed, index }).collect())
    }

    /// Writes the sealed form of legacy rows and clears their plaintext, in one transaction. Returns how many
    /// rows changed (a row another process sealed first is left alone).
    pub async fn seal_legacy_phones(
        &self,
        column: PhoneColumn,
        rows: &[(i64, SealedPhone)],
    ) -> Result<u64, StoreError> {
        let Some(statement) = column.statements().seal_legacy else { return Ok(0) };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut changed = 0;
            for (id, sealed) in rows {
                changed += sqlx::query(statement)
                    .bind(id)
                    .bind(sealed.ciphertext())
                    .bind(sealed.index().as_bytes())
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Replaces sealed rows (new key, new index), in one transaction. Returns how many rows changed.
    pub async fn reseal_phones(&self, column: PhoneColumn, rows: &[Reseal]) -> Result<u64, StoreError> {
        let statement = column.statements().reseal;
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut changed = 0;
            for row in rows {
                changed += sqlx::query(statement)
                    .bind(row.id)
                    .bind(row.new.ciphertext())
                    .bind(row.new.index().as_bytes())
                    .bind(&row.old)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from_write)?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// After plaintext phones were sealed: rewrites the database so the old row versions holding them are gone,
    /// not merely unreferenced. SQLite keeps a deleted value in free pages and the WAL until they are reused;
    /// PostgreSQL keeps old row versions until vacuumed, and plain VACUUM only marks their space free. Takes
    /// exclusive locks on the three tables while it runs (once, at the start that sealed them).
    pub async fn compact_after_sealing(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { write, .. } => {
                sqlx::query("VACUUM").execute(write).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(write).await?;
            }
            // Not in a transaction: VACUUM refuses to run inside one, so as a simple query of its own.
            Backend::Postgres { write, .. } => {
                sqlx::raw_sql("VACUUM FULL users, referrals, login_attempts").execute(write).await?;
            }
        }
        Ok(())
    }
}
