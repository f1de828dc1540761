//! Idempotency keys: a POST sent twice with the same `Idempotency-Key` runs once.
//!
//! The first request claims the key (a row with no answer yet); when it finishes, its answer
//! is stored and every replay gets that answer. A replay that arrives while the first is still
//! running is told so rather than run a second time.

use sqlx::Row;

use crate::db::{Db, now_text};
use crate::error::StoreError;

/// What a key lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new and now claimed by the caller, who must [`finish`] it.
    Claimed,
    /// The key was used for another method or path.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
    /// The stored answer: status, content type, body.
    Done(u16, String, String),
}

/// Claims `key` for this user and request, or returns what happened to it before.
pub async fn claim(
    db: &Db,
    user_id: i64,
    key: &str,
    method: &str,
    path: &str,
) -> Result<Claim, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, method, path, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(user_id)
    .bind(key.to_owned())
    .bind(method.to_owned())
    .bind(path.to_owned())
    .bind(now_text())
    .execute(db.pool())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Claimed);
    }
    let row = sqlx::query(
        "SELECT method, path, status, content_type, body FROM idempotency_keys \
         WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key.to_owned())
    .fetch_one(db.pool())
    .await?;
    let (m, p): (String, String) = (row.try_get("method")?, row.try_get("path")?);
    if m != method || p != path {
        return Ok(Claim::Mismatch);
    }
    let status: Option<i64> = row.try_get("status")?;
    Ok(match status {
        None => Claim::InProgress,
        Some(s) => Claim::Done(
            u16::try_from(s).unwrap_or(500),
            row.try_get::<Option<String>, _>("content_type")?.unwrap_or_default(),
            row.try_get::<Option<String>, _>("body")?.unwrap_or_default(),
        ),
    })
}

/// Stores the answer to a claimed key.
pub async fn finish(
    db: &Db,
    user_id: i64,
    key: &str,
    status: u16,
    content_type: &str,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, content_type = $2, body = $3 \
         WHERE user_id = $4 AND idem_key = $5",
    )
    .bind(i64::from(status))
    .bind(content_type.to_owned())
    .bind(body.to_owned())
    .bind(user_id)
    .bind(key.to_owned())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Releases a claim whose request failed before answering, so the client may try again.
pub async fn release(db: &Db, user_id: i64, key: &str) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND status IS NULL",
    )
    .bind(user_id)
    .bind(key.to_owned())
    .execute(db.pool())
    .await?;
    Ok(())
}
