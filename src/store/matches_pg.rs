//! Opening matches on PostgreSQL, inside the relay writer's transaction ([`super::messages_pg`]): a savepoint
//! per opening, so an attempt refused for a side that cannot pay rolls back alone and the batch's messages stay.

use std::collections::HashMap;

use sqlx::{Postgres, QueryBuilder, Transaction};

use super::matches::{
    Attempt, Attempts, CreatedMatch, MatchRow, MatchedUser, NewMatch, Opened, Opening, match_columns,
    matched_user_columns, spend_unit,
};

pub(super) async fn open(tx: &mut Transaction<'_, Postgres>, opening: &Opening) -> Result<Opened, sqlx::Error> {
    let mut attempts = Attempts::new(opening);
    sqlx::query("SAVEPOINT opening").execute(&mut **tx).await?;
    loop {
        let pending = attempts.next();
        if pending.is_empty() {
            break;
        }
        match attempt(tx, &pending, opening.epoch).await? {
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
    batch: &[&NewMatch],
    epoch: Option<i64>,
) -> Result<Attempt, sqlx::Error> {
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
    let mut paid: HashMap<i64, MatchedUser> = HashMap::with_capacity(batch.len() * 2);
    for (kind, spend) in [
        ("text", spend_unit!("daily_chat_balance", "bonus_chat_balance")),
        ("video", spend_unit!("daily_video_balance", "bonus_video_balance")),
    ] {
        let users: Vec<i64> = batch.iter().filter(|m| m.kind == kind).flat_map(|m| [m.user1_id, m.user2_id]).collect();
        if users.is_empty() {
            continue;
        }
        let mut q = QueryBuilder::new(spend);
        let mut ids = q.separated(", ");
        for id in users {
            ids.push_bind(id);
        }
        q.push(concat!(") RETURNING ", matched_user_columns!()));
        let rows: Vec<MatchedUser> = q.build_query_as().fetch_all(&mut **tx).await?;
        paid.extend(rows.into_iter().map(|u| (u.id, u)));
    }
    let unpaid: Vec<i64> =
        batch.iter().flat_map(|m| [m.user1_id, m.user2_id]).filter(|u| !paid.contains_key(u)).collect();
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
    // RETURNING order is not guaranteed: key the rows by their first user (unique within a batch).
    let mut by_user1: HashMap<i64, MatchRow> = rows.into_iter().map(|r| (r.user1_id, r)).collect();
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
