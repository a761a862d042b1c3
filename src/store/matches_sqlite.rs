//! Opening a batch of matches on SQLite, in the relay writer's transaction on the write connection, through the
//! connection's handle ([`super::sqlite_raw`]): one short prepared statement per user and per match. Through sqlx the batch's statements were built for its size (an `IN` list, a `VALUES` row per
//! match), so SQLite parsed and planned them anew for every batch, and each was a round trip to the
//! connection's thread (perf, BENCHMARKS.md).

use std::collections::HashMap;

use super::matches::{
    Attempt, Attempts, CreatedMatch, MatchRow, MatchedUser, NewMatch, Opened, Opening, matched_user_columns, spend_unit,
};
use super::sqlite_raw::{Db, Failure, Row, timestamp};

/// Opens the matches inside the relay writer's transaction ([`super::messages_sqlite`]): a savepoint, so an
/// attempt refused for a side that cannot pay rolls back alone and the batch's messages stay.
pub(super) fn open(db: &Db<'_>, opening: &Opening) -> Result<Opened, Failure> {
    let mut attempts = Attempts::new(opening);
    db.exec(c"SAVEPOINT opening")?;
    loop {
        let pending = attempts.next();
        if pending.is_empty() {
            break;
        }
        match attempt(db, &pending, opening.epoch)? {
            Attempt::Created(created) => attempts.created(created),
            Attempt::Unpaid(unpaid) => {
                db.exec(c"ROLLBACK TO opening")?;
                attempts.refuse(&unpaid);
            }
            Attempt::Fenced => {
                db.exec(c"ROLLBACK TO opening")?;
                db.exec(c"RELEASE opening")?;
                return Ok(Opened::Fenced);
            }
        }
    }
    db.exec(c"RELEASE opening")?;
    Ok(attempts.finish())
}

fn attempt(db: &Db<'_>, batch: &[&NewMatch], epoch: Option<i64>) -> Result<Attempt, Failure> {
    if let Some(epoch) = epoch {
        db.prepare("UPDATE matchmaker_fence SET epoch = ?1 WHERE id = 1 AND epoch <= ?1")?.execute(&[epoch.into()])?;
        if db.changes() == 0 {
            return Ok(Attempt::Fenced);
        }
    }
    let mut paid: HashMap<i64, MatchedUser> = HashMap::with_capacity(batch.len() * 2);
    for (kind, spend) in [
        (
            "text",
            concat!(spend_unit!("daily_chat_balance", "bonus_chat_balance"), "?1) RETURNING ", matched_user_columns!()),
        ),
        (
            "video",
            concat!(
                spend_unit!("daily_video_balance", "bonus_video_balance"),
                "?1) RETURNING ",
                matched_user_columns!()
            ),
        ),
    ] {
        let mut users = batch.iter().filter(|m| m.kind == kind).flat_map(|m| [m.user1_id, m.user2_id]).peekable();
        if users.peek().is_none() {
            continue;
        }
        let mut spend = db.prepare(spend)?;
        for id in users {
            spend.each(&[id.into()], |row| drop(paid.insert(id, matched_user(row))))?;
        }
    }
    let unpaid: Vec<i64> =
        batch.iter().flat_map(|m| [m.user1_id, m.user2_id]).filter(|u| !paid.contains_key(u)).collect();
    if !unpaid.is_empty() {
        return Ok(Attempt::Unpaid(unpaid));
    }
    let mut insert = db.prepare(
        "INSERT INTO matches (user1_id, user2_id, type, created_at, expired_at, status, user1_public_key, \
             user2_public_key, matchmaker_epoch) VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7, ?8) RETURNING id",
    )?;
    let mut created = Vec::with_capacity(batch.len());
    for m in batch {
        let (now, expires) = (timestamp(m.now), timestamp(m.expires_at));
        let mut id = None;
        insert.each(
            &[
                m.user1_id.into(),
                m.user2_id.into(),
                m.kind.into(),
                now.as_str().into(),
                expires.as_str().into(),
                m.user1_public_key.as_str().into(),
                m.user2_public_key.as_str().into(),
                epoch.into(),
            ],
            |row| id = Some(row.int(0)),
        )?;
        let row = MatchRow {
            id: id.expect("INSERT … RETURNING returns the row"),
            user1_id: m.user1_id,
            user2_id: m.user2_id,
            kind: m.kind.to_owned(),
            created_at: m.now,
            expired_at: m.expires_at,
            status: "active".into(),
            user1_public_key: m.user1_public_key.clone(),
            user2_public_key: m.user2_public_key.clone(),
        };
        let user1 = paid.remove(&m.user1_id).expect("paid");
        let user2 = paid.remove(&m.user2_id).expect("paid");
        created.push(CreatedMatch { row, user1, user2 });
    }
    Ok(Attempt::Created(created))
}

/// A row of [`matched_user_columns`].
fn matched_user(row: &Row<'_>) -> MatchedUser {
    let int = |i| row.int(i) as i32;
    MatchedUser {
        id: row.int(0),
        alias: row.text(1),
        tag: row.text(2),
        daily_chat_balance: int(3),
        daily_video_balance: int(4),
        bonus_chat_balance: int(5),
        bonus_video_balance: int(6),
    }
}
