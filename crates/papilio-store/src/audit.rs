//! The audit trail: who changed what, when, with the values before and after.

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

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
        "INSERT INTO audit_log (id, entity, entity_id, action, user_id, at, before_json, \
         after_json) \
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
        "SELECT a.id, a.entity, a.entity_id, a.action, u.username, a.at, a.before_json, \
         a.after_json \
         FROM audit_log a LEFT JOIN users u ON u.id = a.user_id \
         WHERE a.entity = $1 AND a.entity_id = $2 ORDER BY a.at, a.id",
    )
    .bind(entity.to_owned())
    .bind(entity_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(read_entry).collect()
}

fn read_entry(r: &AnyRow) -> Result<AuditEntry, StoreError> {
    let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = r.try_get(col)?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(e.to_string())))
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
}

/// What the global audit trail is narrowed to, and which page of it is wanted.
#[derive(Debug, Clone)]
pub struct AuditFilter {
    /// Only entries about this entity kind (`item`, `user`, `document`...).
    pub entity: Option<String>,
    /// Only entries about the row with this id.
    pub entity_id: Option<i64>,
    /// Only changes made by this user name (case-insensitive).
    pub user: Option<String>,
    /// Only entries on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Only entries on or before this day (UTC).
    pub to: Option<NaiveDate>,
    /// Page number, from 1.
    pub page: i64,
    /// Entries per page, 1 to 500.
    pub per_page: i64,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            entity: None,
            entity_id: None,
            user: None,
            from: None,
            to: None,
            page: 1,
            per_page: 50,
        }
    }
}

/// One page of the global audit trail, newest first.
#[derive(Debug, Clone)]
pub struct AuditList {
    /// The entries on this page.
    pub entries: Vec<AuditEntry>,
    /// Entries matching the filter in all.
    pub total: i64,
    /// This page's number.
    pub page: i64,
    /// Entries per page.
    pub per_page: i64,
}

/// A value bound to a numbered placeholder of a dynamic filter.
enum Bind {
    Text(String),
    Int(i64),
}

/// The audit trail across all entities, filtered and paged, newest first.
pub async fn list(db: &Db, filter: &AuditFilter) -> Result<AuditList, StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let mut add = |clause: &str, value: Bind| {
        binds.push(value);
        clauses.push(clause.replace("$?", &format!("${}", binds.len())));
    };
    if let Some(entity) = filter.entity.as_deref().filter(|e| !e.is_empty()) {
        add("a.entity = $?", Bind::Text(entity.to_owned()));
    }
    if let Some(id) = filter.entity_id {
        add("a.entity_id = $?", Bind::Int(id));
    }
    if let Some(user) = filter.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        add("LOWER(u.username) = $?", Bind::Text(user.to_lowercase()));
    }
    // Timestamps are fixed-width RFC 3339 text, so day bounds compare as text.
    if let Some(from) = filter.from {
        add("a.at >= $?", Bind::Text(from.to_string()));
    }
    if let Some(next_day) = filter.to.and_then(|d| d.succ_opt()) {
        add("a.at < $?", Bind::Text(next_day.to_string()));
    }
    let filter_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let from_sql = format!("FROM audit_log a LEFT JOIN users u ON u.id = a.user_id{filter_sql}");

    let count_sql = format!("SELECT COUNT(*) AS n {from_sql}");
    let mut count = sqlx::query(AssertSqlSafe(count_sql));
    for b in &binds {
        count = match b {
            Bind::Text(t) => count.bind(t.clone()),
            Bind::Int(i) => count.bind(*i),
        };
    }
    let total: i64 = count.fetch_one(db.pool()).await?.try_get("n")?;

    let per_page = filter.per_page.clamp(1, 500);
    let page = filter.page.max(1);
    let offset = (page - 1).saturating_mul(per_page);
    let rows_sql = format!(
        "SELECT a.id, a.entity, a.entity_id, a.action, u.username, a.at, a.before_json, \
         a.after_json {from_sql} ORDER BY a.at DESC, a.id DESC LIMIT {per_page} OFFSET {offset}"
    );
    let mut query = sqlx::query(AssertSqlSafe(rows_sql));
    for b in &binds {
        query = match b {
            Bind::Text(t) => query.bind(t.clone()),
            Bind::Int(i) => query.bind(*i),
        };
    }
    let rows = query.fetch_all(db.pool()).await?;
    let entries = rows.iter().map(read_entry).collect::<Result<Vec<_>, _>>()?;
    Ok(AuditList { entries, total, page, per_page })
}
