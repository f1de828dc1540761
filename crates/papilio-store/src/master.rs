//! Master data rows of every [`EntityDef`]: create, read, list, update, deactivate, import.
//!
//! The SQL is assembled from the static entity definitions (table and column names never come
//! from input); values are always bound. References are checked before writing so that a
//! missing code is reported against its field, not as a raw constraint failure.

use std::collections::{BTreeMap, HashSet};

use papilio_core::schema::{EntityDef, FieldKind, Record, Value};
use papilio_core::value::{from_scaled, to_scaled};
use papilio_core::{DomainError, FieldError, entities};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::audit;
use crate::db::{Conn, Db, new_id, now_text};
use crate::error::StoreError;

/// A stored row: its id, version and values.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterRow {
    /// Surrogate id.
    pub id: i64,
    /// Optimistic-locking version.
    pub version: i64,
    /// Field values.
    pub values: Record,
}

/// Sort direction of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// What a list page asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Text matched, case-insensitively, against codes, names and references.
    pub search: Option<String>,
    /// Exact matches: field name to input text.
    pub filters: BTreeMap<String, String>,
    /// Field to sort by; the code (or id) when absent.
    pub sort: Option<String>,
    /// Sort direction.
    pub direction: Direction,
    /// 1-based page.
    pub page: i64,
    /// Rows per page (1 to 500).
    pub per_page: i64,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// Rows matching in all.
    pub total: i64,
    /// This page, 1-based.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

fn column_list(def: &EntityDef) -> String {
    let names: Vec<&str> = def.fields.iter().map(|f| f.name).collect();
    names.join(", ")
}

fn read_row(def: &EntityDef, row: &AnyRow) -> Result<MasterRow, StoreError> {
    let mut values = Record::new();
    for field in def.fields {
        let value = match field.kind {
            FieldKind::Decimal { .. } => row
                .try_get::<Option<i64>, _>(field.name)?
                .map_or(Value::Null, |v| Value::Dec(from_scaled(v))),
            FieldKind::Int { .. } => {
                row.try_get::<Option<i64>, _>(field.name)?.map_or(Value::Null, Value::Int)
            }
            FieldKind::Bool => {
                Value::Bool(row.try_get::<Option<i64>, _>(field.name)?.unwrap_or(0) != 0)
            }
            FieldKind::Date => match row.try_get::<Option<String>, _>(field.name)? {
                None => Value::Null,
                Some(text) => Value::Date(
                    text.parse()
                        .map_err(|_| StoreError::Corrupt(format!("{}: {text}", field.name)))?,
                ),
            },
            _ => row.try_get::<Option<String>, _>(field.name)?.map_or(Value::Null, Value::Text),
        };
        values.insert(field.name, value);
    }
    Ok(MasterRow { id: row.try_get("id")?, version: row.try_get("version")?, values })
}

/// Binds `value` of a field of `kind` to `query` with the column's SQL type, NULL included.
pub(crate) fn bind_value<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    kind: FieldKind,
    value: &Value,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>, StoreError> {
    let numeric =
        matches!(kind, FieldKind::Decimal { .. } | FieldKind::Int { .. } | FieldKind::Bool);
    Ok(match value {
        Value::Null if numeric => query.bind(None::<i64>),
        Value::Null => query.bind(None::<String>),
        Value::Text(s) => query.bind(s.clone()),
        Value::Int(i) => query.bind(*i),
        Value::Bool(b) => query.bind(i64::from(*b)),
        Value::Dec(d) => {
            let scaled =
                to_scaled(*d).ok_or_else(|| StoreError::Corrupt(format!("decimal {d}")))?;
            query.bind(scaled)
        }
        Value::Date(d) => query.bind(d.format("%Y-%m-%d").to_string()),
    })
}

/// The JSON-ish text of a record for the audit trail.
pub fn record_json(values: &Record) -> serde_json::Value {
    values
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Null => serde_json::Value::Null,
                other => serde_json::Value::String(other.to_input()),
            };
            ((*k).to_owned(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Checks that every reference in `values` names an existing row.
pub async fn check_references(
    conn: &mut Conn,
    def: &EntityDef,
    values: &Record,
) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for field in def.fields {
        let (FieldKind::Ref(target), Some(Value::Text(code))) =
            (field.kind, values.get(field.name))
        else {
            continue;
        };
        if !reference_exists(conn, target, code).await? {
            errors.push(FieldError::new(field.name, "field.unknown_reference").with("value", code));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors).into()) }
}

/// Whether a row of `kind` with natural key `code` exists.
pub async fn reference_exists(conn: &mut Conn, kind: &str, code: &str) -> Result<bool, StoreError> {
    let Some((table, column)) = entities::ref_target(kind) else {
        return Ok(false);
    };
    let sql = format!("SELECT 1 AS one FROM {table} WHERE {column} = $1");
    let found =
        sqlx::query(AssertSqlSafe(sql)).bind(code.to_owned()).fetch_optional(&mut *conn).await?;
    Ok(found.is_some())
}

/// Refuses `values` if another row already holds one of the entity's unique keys.
async fn check_unique(
    conn: &mut Conn,
    def: &EntityDef,
    values: &Record,
    except_id: Option<i64>,
) -> Result<(), StoreError> {
    let code_key: &[&str] = &["code"];
    let keys = def.has_code().then_some(code_key).into_iter().chain(def.unique.iter().copied());
    for key in keys {
        // A key left wholly empty identifies nothing (two employees without a user are not
        // duplicates); a partly empty one still does (two global conversions of one pair).
        if key.iter().all(|name| matches!(values.get(name), Some(Value::Null) | None)) {
            continue;
        }
        let mut sql = format!("SELECT id FROM {} WHERE ", def.table);
        let mut binds = Vec::new();
        for (i, name) in key.iter().enumerate() {
            if i > 0 {
                sql.push_str(" AND ");
            }
            match values.get(name) {
                Some(Value::Null) | None => sql.push_str(&format!("{name} IS NULL")),
                Some(v) => {
                    binds.push((*name, v.clone()));
                    sql.push_str(&format!("{name} = ${}", binds.len()));
                }
            }
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (name, value) in &binds {
            let kind = def.field(name).map_or(FieldKind::Text { max: 0 }, |f| f.kind);
            query = bind_value(query, kind, value)?;
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let taken = rows.iter().any(|r| r.try_get::<i64, _>("id").ok() != except_id);
        if taken {
            let fields = key.iter().map(|s| (*s).to_owned()).collect();
            return Err(StoreError::Duplicate { entity: def.kind.to_owned(), fields });
        }
    }
    Ok(())
}

/// Inserts a validated record and audits it. Returns the new row.
pub async fn insert(
    conn: &mut Conn,
    def: &EntityDef,
    values: &Record,
    user_id: i64,
) -> Result<MasterRow, StoreError> {
    check_references(conn, def, values).await?;
    check_unique(conn, def, values, None).await?;
    let id = insert_unchecked(conn, def, values).await?;
    audit::record(conn, def.kind, id, "create", Some(user_id), None, Some(record_json(values)))
        .await?;
    Ok(MasterRow { id, version: 1, values: values.clone() })
}

/// Inserts without reference or uniqueness pre-checks (the importer checks a whole file at
/// once); constraint violations still stop it.
pub async fn insert_unchecked(
    conn: &mut Conn,
    def: &EntityDef,
    values: &Record,
) -> Result<i64, StoreError> {
    let id = new_id();
    let now = now_text();
    let params: Vec<String> = (1..=def.fields.len() + 3).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} (id, created_at, updated_at, {}) VALUES ({})",
        def.table,
        column_list(def),
        params.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id).bind(now.clone()).bind(now);
    for field in def.fields {
        query = bind_value(query, field.kind, values.get(field.name).unwrap_or(&Value::Null))?;
    }
    query.execute(&mut *conn).await.map_err(|e| unique_as_duplicate(def, e.into()))?;
    Ok(id)
}

fn unique_as_duplicate(def: &EntityDef, e: StoreError) -> StoreError {
    if e.is_unique_violation() {
        let fields = if def.has_code() { vec!["code".to_owned()] } else { Vec::new() };
        StoreError::Duplicate { entity: def.kind.to_owned(), fields }
    } else {
        e
    }
}

/// Reads one row by id.
pub async fn get(conn: &mut Conn, def: &EntityDef, id: i64) -> Result<MasterRow, StoreError> {
    let sql = format!("SELECT id, version, {} FROM {} WHERE id = $1", column_list(def), def.table);
    let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
    let row = row.ok_or_else(|| StoreError::not_found(def.kind, id))?;
    read_row(def, &row)
}

/// Reads one row by its code.
pub async fn get_by_code(db: &Db, def: &EntityDef, code: &str) -> Result<MasterRow, StoreError> {
    let sql =
        format!("SELECT id, version, {} FROM {} WHERE code = $1", column_list(def), def.table);
    let row =
        sqlx::query(AssertSqlSafe(sql)).bind(code.to_uppercase()).fetch_optional(db.pool()).await?;
    let row = row.ok_or_else(|| StoreError::not_found(def.kind, code))?;
    read_row(def, &row)
}

/// Applies `changes` (some fields) to row `id` if it is still at `version`; audits before and
/// after. Codes never change.
pub async fn update(
    conn: &mut Conn,
    def: &EntityDef,
    id: i64,
    version: i64,
    changes: &Record,
    user_id: i64,
) -> Result<MasterRow, StoreError> {
    let before = get(conn, def, id).await?;
    if before.version != version {
        return Err(StoreError::Stale { entity: def.kind.to_owned(), key: id.to_string() });
    }
    if let (Some(new), Some(old)) = (changes.get("code"), before.values.get("code"))
        && new != old
    {
        return Err(DomainError::field("code", "field.immutable").into());
    }
    let mut after = before.values.clone();
    for (name, value) in changes {
        after.insert(name, value.clone());
    }
    if let Some(check) = def.check {
        let errors = check(&after);
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors).into());
        }
    }
    check_references(conn, def, changes).await?;
    check_unique(conn, def, &after, Some(id)).await?;

    let sets: Vec<String> =
        def.fields.iter().enumerate().map(|(i, f)| format!("{} = ${}", f.name, i + 4)).collect();
    let sql = format!(
        "UPDATE {} SET version = version + 1, updated_at = $1, {} WHERE id = $2 AND version = $3",
        def.table,
        sets.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now_text()).bind(id).bind(version);
    for field in def.fields {
        query = bind_value(query, field.kind, after.get(field.name).unwrap_or(&Value::Null))?;
    }
    let done = query.execute(&mut *conn).await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Stale { entity: def.kind.to_owned(), key: id.to_string() });
    }
    audit::record(
        conn,
        def.kind,
        id,
        "update",
        Some(user_id),
        Some(record_json(&before.values)),
        Some(record_json(&after)),
    )
    .await?;
    Ok(MasterRow { id, version: version + 1, values: after })
}

/// Deletes row `id` at `version`. Rows with an `active` flag are deactivated instead, since
/// documents may point at them; rows others still refer to are refused with `InUse`.
pub async fn delete(
    conn: &mut Conn,
    def: &EntityDef,
    id: i64,
    version: i64,
    user_id: i64,
) -> Result<(), StoreError> {
    if def.has_active() {
        let mut changes = Record::new();
        changes.insert("active", Value::Bool(false));
        update(conn, def, id, version, &changes, user_id).await?;
        return Ok(());
    }
    let before = get(conn, def, id).await?;
    if before.version != version {
        return Err(StoreError::Stale { entity: def.kind.to_owned(), key: id.to_string() });
    }
    let sql = format!("DELETE FROM {} WHERE id = $1 AND version = $2", def.table);
    let done = sqlx::query(AssertSqlSafe(sql)).bind(id).bind(version).execute(&mut *conn).await;
    match done {
        Err(e) => {
            let e = StoreError::from(e);
            if e.is_foreign_key_violation() {
                Err(StoreError::InUse { entity: def.kind.to_owned(), key: id.to_string() })
            } else {
                Err(e)
            }
        }
        Ok(_) => {
            audit::record(
                conn,
                def.kind,
                id,
                "delete",
                Some(user_id),
                Some(record_json(&before.values)),
                None,
            )
            .await?;
            Ok(())
        }
    }
}

/// Lists rows matching `q`, a page at a time.
pub async fn list(db: &Db, def: &EntityDef, q: &ListQuery) -> Result<Page<MasterRow>, StoreError> {
    let mut conditions = Vec::new();
    let mut binds: Vec<(FieldKind, Value)> = Vec::new();
    if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        binds.push((
            FieldKind::Text { max: 0 },
            Value::Text(format!("%{}%", search.to_lowercase())),
        ));
        let n = binds.len();
        let ors: Vec<String> =
            def.search_fields().map(|f| format!("LOWER({}) LIKE ${n}", f.name)).collect();
        conditions.push(format!("({})", ors.join(" OR ")));
    }
    for (name, raw) in &q.filters {
        let Some(field) = def.field(name) else {
            return Err(DomainError::field(name, "field.unknown").into());
        };
        let value = papilio_core::schema::parse_field(field, raw)
            .map_err(|e| StoreError::Domain(DomainError::Invalid(vec![e])))?;
        binds.push((field.kind, value));
        conditions.push(format!("{} = ${}", field.name, binds.len()));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };

    let sort = match q.sort.as_deref() {
        Some(name) => {
            def.field(name).ok_or_else(|| DomainError::field("sort", "field.unknown"))?.name
        }
        None if def.has_code() => "code",
        None => "id",
    };
    let direction = if q.direction == Direction::Desc { "DESC" } else { "ASC" };
    let per_page = q.per_page.clamp(1, 500);
    let page = q.page.max(1);

    let count_sql = format!("SELECT COUNT(*) AS n FROM {} {filter}", def.table);
    let mut count = sqlx::query(AssertSqlSafe(count_sql));
    for (kind, value) in &binds {
        count = bind_value(count, *kind, value)?;
    }
    let total: i64 = count.fetch_one(db.pool()).await?.try_get("n")?;

    let sql = format!(
        "SELECT id, version, {} FROM {} {filter} ORDER BY {sort} {direction}, id {direction} \
         LIMIT {per_page} OFFSET {}",
        column_list(def),
        def.table,
        (page - 1) * per_page
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (kind, value) in &binds {
        query = bind_value(query, *kind, value)?;
    }
    let rows = query.fetch_all(db.pool()).await?;
    let rows = rows.iter().map(|r| read_row(def, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Page { rows, total, page, per_page })
}

/// Every row of `def` in code (or id) order, for export.
pub async fn all(db: &Db, def: &EntityDef) -> Result<Vec<MasterRow>, StoreError> {
    let order = if def.has_code() { "code" } else { "id" };
    let sql =
        format!("SELECT id, version, {} FROM {} ORDER BY {order}", column_list(def), def.table);
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(db.pool()).await?;
    rows.iter().map(|r| read_row(def, r)).collect()
}

/// Every code of `kind` that exists, for checking a whole import file at once.
pub async fn existing_codes(conn: &mut Conn, kind: &str) -> Result<HashSet<String>, StoreError> {
    let Some((table, column)) = entities::ref_target(kind) else {
        return Ok(HashSet::new());
    };
    let sql = format!("SELECT {column} AS code FROM {table}");
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.try_get::<String, _>("code").map_err(StoreError::from)).collect()
}
