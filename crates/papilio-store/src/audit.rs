//! The audit trail: who changed what, when, with the values before and after.

use sqlx::Row;

use crate::db::{Conn, Db, new_id, now_text};
use crate::error::StoreError;

/// One audited change.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// `item`, `document`...
    pub entity: String,
    /// The changed row's id.
    pub entity_id: i64,
    /// `create`, `update`, `delete`, `submit`, `approve`...
    pub action: String,
    /// Who, when a user did it.
    pub user: Option<String>,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Values before, as JSON.
    pub before: Option<serde_json::Value>,
    /// Values after, as JSON.
    pub after: Option<serde_json::Value>,
}

/// Records a change, in the caller's transaction.
pub async fn record(
    conn: &mut Conn,
    entity: &str,
    entity_id: i64,
    action: &str,
    user_id: Option<i64>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, entity, entity_id, action, user_id, at, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(entity.to_owned())
    .bind(entity_id)
    .bind(action.to_owned())
    .bind(user_id)
    .bind(now_text())
    .bind(before.map(|v| v.to_string()))
    .bind(after.map(|v| v.to_string()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The trail of one row, oldest first.
pub async fn trail(db: &Db, entity: &str, entity_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.id, a.entity, a.entity_id, a.action, u.username, a.at, a.before_json, a.after_json \
         FROM audit_log a LEFT JOIN users u ON u.id = a.user_id \
         WHERE a.entity = $1 AND a.entity_id = $2 ORDER BY a.at, a.id",
    )
    .bind(entity.to_owned())
    .bind(entity_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
                let text: Option<String> = r.try_get(col)?;
                text.map(|t| {
                    serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .transpose()
            };
            Ok(AuditEntry {
                id: r.try_get("id")?,
                entity: r.try_get("entity")?,
                entity_id: r.try_get("entity_id")?,
                action: r.try_get("action")?,
                user: r.try_get("username")?,
                at: r.try_get("at")?,
                before: json("before_json")?,
                after: json("after_json")?,
            })
        })
        .collect()
}
