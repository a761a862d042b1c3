//! Rewriting stored phones, row by row: sealing what an older schema kept in clear, the check that the
//! configured keys fit the rows before anything is served or sealed, and resealing under new keys
//! (`tanis phones rotate-key`). Every pass walks a column by id, a batch per transaction, and only ever
//! writes a row whose bytes are still those it read, so it is safe beside running servers and safe to repeat.
//! It stands above both rooms it joins: [`crate::phones`] (the keys and formats) and [`crate::store`] (the rows).

use crate::domain::Phone;
use crate::store::{PhoneColumn, Reseal, Store, StoreError, StoredPhone};

use crate::phones::{OpenError, PhoneIndex, PhoneVault, SealedPhone, sealed_key_id};

/// Rows read and written per transaction: small enough that a server beside the rewrite waits a few
/// milliseconds at most for SQLite's write lock.
const BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{column} row {id}: {source}; configured phone key ids: {configured}. Configure the key it was sealed with, \
         as phones.encryption_key or, while `tanis phones rotate-key` reseals, in phones.previous_encryption_keys"
    )]
    Unopenable { column: &'static str, id: i64, source: OpenError, configured: String },
    #[error(
        "{column} row {id}: phones.index_key is not the key this database's blind indexes were made with, so no \
         account could be found by its phone number. Configure the index key it was built with (or, while \
         `tanis phones rotate-key` rebuilds the indexes, keep it as phones.previous_index_key)"
    )]
    WrongIndexKey { column: &'static str, id: i64 },
}

/// Refuses keys that do not fit this database: opens the oldest and the newest sealed row of every phone column
/// and checks their blind index. Rows are sealed in id order and [`rotate`] walks down from the newest, so rows
/// under a key that is no longer configured include the oldest one: whether the rotation never ran or stopped
/// halfway. Run before anything is sealed, so a wrong key stops the start instead of mixing its rows in.
pub async fn check(store: &Store, vault: &PhoneVault) -> Result<(), ResealError> {
    for column in PhoneColumn::ALL {
        for row in store.edge_phones(column).await? {
            let phone = open(vault, column, &row)?;
            let index = PhoneIndex::from_stored(&row.index);
            if !index.is_some_and(|index| vault.lookup(&phone).matches(&index)) {
                return Err(ResealError::WrongIndexKey { column: column.name(), id: row.id });
            }
        }
    }
    Ok(())
}

/// Seals every phone an older schema kept in clear (migration 0014) under the current keys, then has the store
/// rewrite itself so the plaintext is gone from its files too. Once: afterwards there is nothing to seal, and
/// this is one indexed query per column. Returns how many phones were sealed.
pub async fn seal_legacy(store: &Store, vault: &PhoneVault) -> Result<u64, StoreError> {
    let mut sealed = 0;
    for column in PhoneColumn::ALL {
        let mut after = 0;
        loop {
            let rows = store.legacy_phones(column, after, BATCH).await?;
            let Some(&(last, _)) = rows.last() else { break };
            let batch: Vec<(i64, SealedPhone)> = rows
                .into_iter()
                // Written by an older tanis from a parsed `Phone`; parsed again only to be sure the index is of
                // the normalised number (what a login looks up), kept as stored if it is not a number at all.
                .map(|(id, plain)| {
                    (id, vault.seal(&Phone::parse(&plain).unwrap_or_else(|_| Phone::from_stored(plain))))
                })
                .collect();
            sealed += store.seal_legacy_phones(column, &batch).await?;
            after = last;
        }
    }
    if sealed > 0 {
        store.compact_after_sealing().await?;
        tracing::info!(sealed, key_id = %vault.key_id(), "sealed the phone numbers an older version kept in clear");
    }
    Ok(sealed)
}

/// What a rotation did to one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub column: PhoneColumn,
    /// Sealed rows read.
    pub examined: u64,
    /// Rows rewritten: sealed under a key other than the current one, or indexed under another index key.
    pub resealed: u64,
}

/// Reseals every phone not sealed under the current encryption key or not indexed under the current index key
/// (`tanis phones rotate-key`). The old keys must still be configured as previous keys, so the rows can be
/// opened; once this has run, they can go.
pub async fn rotate(store: &Store, vault: &PhoneVault) -> Result<Vec<Resealed>, ResealError> {
    let mut report = Vec::new();
    for column in PhoneColumn::ALL {
        let (mut examined, mut resealed, mut below) = (0, 0, i64::MAX);
        loop {
            // Newest first: see `check`.
            let rows = store.sealed_phones(column, below, BATCH).await?;
            let Some(last) = rows.last().map(|r| r.id) else { break };
            examined += rows.len() as u64;
            let mut stale = Vec::new();
            for row in rows {
                let phone = open(vault, column, &row)?;
                let current_key = sealed_key_id(&row.sealed) == Some(vault.key_id());
                let current_index =
                    PhoneIndex::from_stored(&row.index).is_some_and(|index| vault.is_current_index(&phone, &index));
                if !(current_key && current_index) {
                    stale.push(Reseal { id: row.id, new: vault.seal(&phone), old: row.sealed });
                }
            }
            if !stale.is_empty() {
                resealed += store.reseal_phones(column, &stale).await?;
            }
            below = last;
        }
        report.push(Resealed { column, examined, resealed });
    }
    Ok(report)
}

fn open(vault: &PhoneVault, column: PhoneColumn, row: &StoredPhone) -> Result<Phone, ResealError> {
    vault.open(&row.sealed).map_err(|source| ResealError::Unopenable {
        column: column.name(),
        id: row.id,
        source,
        configured: vault.key_ids().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
    })
}
