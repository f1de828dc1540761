//! Bulk seeding of a large stock ledger for benchmarks (W4): items, a handful of seed
//! documents, and many `stock_moves` rows written with multi-row `INSERT`s, together with the
//! `stock_balances` and `stock_values` rows they sum to.
//!
//! This bypasses posting on purpose: a million moves through approval would take hours, and
//! the benchmark measures reading the ledger, not writing it. The result still satisfies
//! [`crate::stock::check_invariants`]: every move points at a line of its own (approved)
//! document, balances and values equal the sums of the moves, and no key goes negative, since
//! each key's moves are generated as a running balance that issues only what it holds.

use chrono::{Days, NaiveDate};
use papilio_core::entities;
use papilio_core::schema::{self, RawInput, Record};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{AssertSqlSafe, Row};

use crate::bulk::{binds_per_statement, insert_records};
use crate::db::{Conn, Db, new_id, now_text};
use crate::error::StoreError;

const SCALE: i64 = 1_000_000;
/// Moves written per transaction.
const ROWS_PER_TX: usize = 50_000;
/// Seed documents the moves point at.
const SEED_DOCS: usize = 8;

/// What ledger to generate.
#[derive(Debug, Clone)]
pub struct LedgerSpec {
    /// Moves to write.
    pub rows: u64,
    /// Items to create (codes `W4-000001`...) and spread the moves over.
    pub items: u32,
    /// Warehouses (existing codes) each item moves in.
    pub warehouses: Vec<String>,
    /// First move date.
    pub from: NaiveDate,
    /// Days the moves spread over.
    pub days: u32,
    /// Seed of the quantities.
    pub seed: u64,
    /// User recorded as author of the seed documents.
    pub user_id: i64,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSeeded {
    /// Item codes created.
    pub items: Vec<String>,
    /// Moves written.
    pub moves: u64,
    /// Balance rows written.
    pub balances: u64,
    /// Last move date.
    pub to: NaiveDate,
}

/// A (item index, warehouse or scope) key with its (qty, value) sums.
type Summed<'a> = ((usize, &'a str), (i64, i64));

/// One move before it is written: key index, signed whole quantity, unit cost (scaled), date.
struct Move {
    key: usize,
    qty: i64,
    cost: i64,
    date: NaiveDate,
}

/// Seeds the ledger described by `spec`; `progress` hears the moves written so far.
pub async fn seed_ledger(
    db: &Db,
    spec: &LedgerSpec,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<LedgerSeeded, StoreError> {
    let items: Vec<String> = (1..=spec.items).map(|n| format!("W4-{n:06}")).collect();
    let costs: Vec<i64> = {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        items.iter().map(|_| rng.random_range(1..50_000) * 100).collect()
    };
    let keys: Vec<(usize, &str)> = (0..items.len())
        .flat_map(|i| spec.warehouses.iter().map(move |w| (i, w.as_str())))
        .collect();
    if keys.is_empty() {
        return Err(StoreError::Corrupt("a ledger seed needs items and warehouses".into()));
    }
    let (docs, per_warehouse) = create_items_and_documents(db, spec, &items, &costs).await?;

    // Moves, key after key, each key a running balance that never goes below zero.
    let n_keys = u64::try_from(keys.len()).unwrap_or(1);
    let mut rng = StdRng::seed_from_u64(spec.seed.wrapping_add(1));
    let mut sums = vec![(0i64, 0i64); keys.len()];
    let mut buffer: Vec<Move> = Vec::with_capacity(ROWS_PER_TX);
    let mut written = 0u64;
    let mut last = spec.from;
    for (k, (item, _)) in keys.iter().enumerate() {
        let k64 = u64::try_from(k).unwrap_or(0);
        let count = spec.rows / n_keys + u64::from(k64 < spec.rows % n_keys);
        let mut balance = 0i64;
        for j in 0..count {
            let offset = j * u64::from(spec.days.max(1)) / count.max(1);
            let date = spec.from.checked_add_days(Days::new(offset)).unwrap_or(spec.from);
            last = last.max(date);
            let qty = if balance > 0 && rng.random_range(0..3) != 0 {
                -rng.random_range(1..=balance.min(60))
            } else {
                rng.random_range(10..=200)
            };
            balance += qty;
            let cost = costs.get(*item).copied().unwrap_or(SCALE);
            buffer.push(Move { key: k, qty, cost, date });
            if buffer.len() >= ROWS_PER_TX {
                written += write_moves(db, &buffer, &keys, &items, &docs, &mut sums).await?;
                buffer.clear();
                progress(written);
            }
        }
    }
    written += write_moves(db, &buffer, &keys, &items, &docs, &mut sums).await?;
    progress(written);

    let balances = write_balances(db, &keys, &items, &sums, per_warehouse).await?;
    tracing::info!(moves = written, balances, "stock ledger seeded");
    Ok(LedgerSeeded { items, moves: written, balances, to: last })
}

/// The items, and [`SEED_DOCS`] approved documents of one line each; returns (document id,
/// line id) pairs and whether values are kept per warehouse.
async fn create_items_and_documents(
    db: &Db,
    spec: &LedgerSpec,
    items: &[String],
    costs: &[i64],
) -> Result<(Vec<(i64, i64)>, bool), StoreError> {
    let mut records: Vec<Record> = Vec::with_capacity(items.len());
    for (code, cost) in items.iter().zip(costs) {
        let mut input = RawInput::new();
        for (k, v) in [
            ("code", code.clone()),
            ("name_zh", format!("基准物料{code}")),
            ("name_en", format!("Bench item {code}")),
            ("item_type", "purchased".into()),
            ("base_unit", "PCS".into()),
            ("standard_cost", papilio_core::value::from_scaled(*cost).to_string()),
        ] {
            input.insert(k.to_owned(), v);
        }
        let record = schema::validate(&entities::ITEM, &input, false).map_err(|errors| {
            StoreError::Corrupt(format!("bench item {code}: {} invalid fields", errors.len()))
        })?;
        records.push(record);
    }
    let refs: Vec<&Record> = records.iter().collect();
    let refs = &refs;
    let backend = db.backend();
    db.write(|conn, _| {
        Box::pin(async move {
            insert_records(conn, backend, &entities::ITEM, refs, &|_| {}).await?;
            let per_warehouse = crate::stock::valuation_per_warehouse(conn).await?;
            let mut docs = Vec::with_capacity(SEED_DOCS);
            let now = now_text();
            for n in 0..SEED_DOCS {
                let (doc, line) = (new_id(), new_id());
                sqlx::query(
                    "INSERT INTO documents (id, doc_type, number, state, version, doc_date, \
                     note, created_by, created_at, updated_at) \
                     VALUES ($1, 'stock_count', $2, 'approved', 2, $3, $4, $5, $6, $6)",
                )
                .bind(doc)
                .bind(format!("SEED-{}-{n:02}", spec.seed))
                .bind(spec.from.to_string())
                .bind("bench ledger seed".to_owned())
                .bind(spec.user_id)
                .bind(now.clone())
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO document_lines (id, document_id, line_no, item, quantity, \
                     carried_qty) VALUES ($1, $2, 1, NULL, 0, 0)",
                )
                .bind(line)
                .bind(doc)
                .execute(&mut *conn)
                .await?;
                docs.push((doc, line));
            }
            Ok((docs, per_warehouse))
        })
    })
    .await
}

/// Writes `moves` in one transaction, in statements of as many rows as the backend takes,
/// and adds them to `sums` (qty, value per key); returns how many.
async fn write_moves(
    db: &Db,
    moves: &[Move],
    keys: &[(usize, &str)],
    items: &[String],
    docs: &[(i64, i64)],
    sums: &mut [(i64, i64)],
) -> Result<u64, StoreError> {
    if moves.is_empty() {
        return Ok(0);
    }
    // Two shared parameters (doc type, posted at), nine per row.
    let per_stmt = (binds_per_statement(db.backend()) - 2) / 9;
    let posted = now_text();
    let posted = &posted;
    db.write(|conn, _| {
        Box::pin(async move {
            for chunk in moves.chunks(per_stmt.max(1)) {
                insert_chunk(conn, chunk, keys, items, docs, posted).await?;
            }
            Ok(())
        })
    })
    .await?;
    for m in moves {
        if let Some(s) = sums.get_mut(m.key) {
            s.0 += m.qty;
            s.1 += m.qty * m.cost;
        }
    }
    Ok(u64::try_from(moves.len()).unwrap_or(0))
}

async fn insert_chunk(
    conn: &mut Conn,
    chunk: &[Move],
    keys: &[(usize, &str)],
    items: &[String],
    docs: &[(i64, i64)],
    posted: &str,
) -> Result<(), StoreError> {
    let mut sql = String::from(
        "INSERT INTO stock_moves (id, item, warehouse, bin, lot, qty, unit_cost, value, \
         document_id, line_id, doc_type, move_date, posted_at) VALUES ",
    );
    let mut n = 2;
    for i in 0..chunk.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        let p = |k: usize| format!("${}", n + k);
        sql.push_str(&format!(
            "({}, {}, {}, '', '', {}, {}, {}, {}, {}, $1, {}, $2)",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            p(6),
            p(7),
            p(8),
            p(9)
        ));
        n += 9;
    }
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind("stock_count").bind(posted.to_owned());
    for m in chunk {
        let (item, warehouse) = keys.get(m.key).copied().unwrap_or((0, ""));
        let (doc, line) = docs.get(m.key % docs.len().max(1)).copied().unwrap_or((0, 0));
        q = q
            .bind(new_id())
            .bind(items.get(item).cloned().unwrap_or_default())
            .bind(warehouse.to_owned())
            .bind(m.qty * SCALE)
            .bind(m.cost)
            .bind(m.qty * m.cost)
            .bind(doc)
            .bind(line)
            .bind(m.date.to_string());
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The balance of every key and the value of every item (or item and warehouse).
async fn write_balances(
    db: &Db,
    keys: &[(usize, &str)],
    items: &[String],
    sums: &[(i64, i64)],
    per_warehouse: bool,
) -> Result<u64, StoreError> {
    let mut values: std::collections::BTreeMap<(usize, &str), (i64, i64)> =
        std::collections::BTreeMap::new();
    for ((item, wh), (qty, value)) in keys.iter().zip(sums) {
        let scope = if per_warehouse { *wh } else { "*" };
        let v = values.entry((*item, scope)).or_default();
        v.0 += qty * SCALE;
        v.1 += value;
    }
    let values: Vec<Summed> = values.into_iter().collect();
    let values = &values;
    let per_stmt = binds_per_statement(db.backend()) / 4;
    db.write(|conn, _| {
        Box::pin(async move {
            let rows: Vec<Summed> = keys.iter().copied().zip(sums.iter().copied()).collect();
            for chunk in rows.chunks(per_stmt.max(1)) {
                let mut sql = String::from(
                    "INSERT INTO stock_balances (item, warehouse, bin, lot, qty) VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = i * 3;
                    let sep = if i > 0 { ", " } else { "" };
                    sql.push_str(&format!("{sep}(${}, ${}, '', '', ${})", b + 1, b + 2, b + 3));
                }
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for ((item, wh), (qty, _)) in chunk {
                    q = q
                        .bind(items.get(*item).cloned().unwrap_or_default())
                        .bind((*wh).to_owned())
                        .bind(qty * SCALE);
                }
                q.execute(&mut *conn).await?;
            }
            for chunk in values.chunks(per_stmt.max(1)) {
                let mut sql =
                    String::from("INSERT INTO stock_values (item, scope, qty, value) VALUES ");
                for i in 0..chunk.len() {
                    let b = i * 4;
                    let sep = if i > 0 { ", " } else { "" };
                    sql.push_str(&format!("{sep}(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
                }
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for ((item, scope), (qty, value)) in chunk {
                    q = q
                        .bind(items.get(*item).cloned().unwrap_or_default())
                        .bind((*scope).to_owned())
                        .bind(*qty)
                        .bind(*value);
                }
                q.execute(&mut *conn).await?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(u64::try_from(keys.len()).unwrap_or(0))
}

/// How many moves the ledger holds.
pub async fn move_count(db: &Db) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM stock_moves").fetch_one(db.pool()).await?;
    Ok(row.try_get("n")?)
}
