//! Bulk master-data work for imports: which codes and keys already exist, and multi-row
//! inserts.
//!
//! An importer checks a whole file against the database with a handful of set queries rather
//! than one query per row, then writes it with `INSERT ... VALUES (...), (...)` statements of
//! many rows. Every statement stays under [`binds_per_statement`] parameters, far below both
//! SQLite's limit (32766) and PostgreSQL's (65535).

use std::collections::HashSet;

use papilio_core::entities;
use papilio_core::schema::{EntityDef, FieldKind, Record, Value};
use papilio_core::value::from_scaled;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::db::{Backend, Conn, new_id, now_text};
use crate::error::StoreError;

/// Most rows one `INSERT` carries.
pub const MAX_ROWS_PER_INSERT: usize = 1_000;

/// Most bind parameters one statement carries on `backend`.
///
/// SQLite finds each numbered parameter (`$7`) by a linear search of the statement's
/// parameter list, so binding costs the square of the count: 22,000 parameters took 1.4 s
/// where 44 statements of 500 took 25 ms. PostgreSQL has no such cost, and fewer, larger
/// statements save round trips.
pub fn binds_per_statement(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 500,
        Backend::Postgres => 30_000,
    }
}

/// A unique key's values: `None` for an empty field, else the value as input text.
pub type KeyValues = Vec<Option<String>>;

/// The values of `key` in `values`, as [`KeyValues`].
pub fn key_values(values: &Record, key: &[&str]) -> KeyValues {
    key.iter()
        .map(|name| match values.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.to_input()),
        })
        .collect()
}

/// Which of `codes` name an existing row of `kind` (its natural key: `code`, or `username`
/// for users).
pub async fn existing_codes_among(
    conn: &mut Conn,
    backend: Backend,
    kind: &str,
    codes: &[String],
) -> Result<HashSet<String>, StoreError> {
    let mut found = HashSet::new();
    let Some((table, column)) = entities::ref_target(kind) else {
        return Ok(found);
    };
    for chunk in codes.chunks(binds_per_statement(backend)) {
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {column} AS code FROM {table} WHERE {column} IN ({})",
            params.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for code in chunk {
            query = query.bind(code.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.insert(row.try_get::<String, _>("code")?);
        }
    }
    Ok(found)
}

/// Every value of the unique key `key` of `def` that the table holds.
pub async fn existing_keys(
    conn: &mut Conn,
    def: &EntityDef,
    key: &[&str],
) -> Result<HashSet<KeyValues>, StoreError> {
    let mut kinds = Vec::new();
    for name in key {
        let field = def.field(name).ok_or_else(|| {
            StoreError::Corrupt(format!("{}: unique key names unknown field {name}", def.kind))
        })?;
        kinds.push((field.name, field.kind));
    }
    let columns: Vec<&str> = kinds.iter().map(|(name, _)| *name).collect();
    let sql = format!("SELECT {} FROM {}", columns.join(", "), def.table);
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            kinds
                .iter()
                .map(|(name, kind)| read_text(row, name, *kind))
                .collect::<Result<KeyValues, _>>()
        })
        .collect()
}

/// A column as the input text of its value (`None` for NULL), matching [`key_values`].
fn read_text(row: &AnyRow, name: &str, kind: FieldKind) -> Result<Option<String>, StoreError> {
    Ok(match kind {
        FieldKind::Decimal { .. } => {
            row.try_get::<Option<i64>, _>(name)?.map(|v| Value::Dec(from_scaled(v)).to_input())
        }
        FieldKind::Int { .. } => row.try_get::<Option<i64>, _>(name)?.map(|v| v.to_string()),
        FieldKind::Bool => {
            Some(Value::Bool(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0) != 0).to_input())
        }
        _ => row.try_get::<Option<String>, _>(name)?,
    })
}

/// How many rows one insert statement of `def` carries on `backend`.
pub fn rows_per_insert(def: &EntityDef, backend: Backend) -> usize {
    // One shared timestamp parameter, then the id and every field per row.
    let per_row = def.fields.len() + 1;
    (binds_per_statement(backend).saturating_sub(1) / per_row).clamp(1, MAX_ROWS_PER_INSERT)
}

/// Inserts validated `records` in their order, without reference or uniqueness pre-checks
/// (the caller checked the whole set), in statements of [`rows_per_insert`] rows. Calls
/// `progress` with the rows written so far after each statement. Returns the new ids.
///
/// Constraint violations still stop it: a unique key taken meanwhile answers
/// [`StoreError::Duplicate`].
pub async fn insert_records(
    conn: &mut Conn,
    backend: Backend,
    def: &EntityDef,
    records: &[&Record],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<i64>, StoreError> {
    let columns: Vec<&str> = def.fields.iter().map(|f| f.name).collect();
    let head = format!(
        "INSERT INTO {} (id, created_at, updated_at, {}) VALUES ",
        def.table,
        columns.join(", ")
    );
    let now = now_text();
    let mut ids = Vec::with_capacity(records.len());
    let mut done = 0;
    for chunk in records.chunks(rows_per_insert(def, backend)) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * (columns.len() * 8 + 16));
        sql.push_str(&head);
        let mut n = 1;
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push_str(&format!("(${n}, $1, $1"));
            for _ in &columns {
                n += 1;
                sql.push_str(&format!(", ${n}"));
            }
            sql.push(')');
        }

        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now.clone());
        for record in chunk {
            let id = new_id();
            ids.push(id);
            query = query.bind(id);
            for field in def.fields {
                query = crate::master::bind_value(
                    query,
                    field.kind,
                    record.get(field.name).unwrap_or(&Value::Null),
                )?;
            }
        }
        query.execute(&mut *conn).await.map_err(|e| {
            let e = StoreError::from(e);
            if e.is_unique_violation() {
                let fields = if def.has_code() { vec!["code".to_owned()] } else { Vec::new() };
                StoreError::Duplicate { entity: def.kind.to_owned(), fields }
            } else {
                e
            }
        })?;
        done += chunk.len();
        progress(done);
    }
    Ok(ids)
}
