//! The stock ledger 存货账: stock documents, posting, balances, valuation and checks.
//!
//! Nothing moves stock but the approval of a stock document: its [`StockPosting`] hook runs
//! inside the approving transaction, writes one `stock_moves` row per line (two for a
//! transfer) pointing at the document line that caused it, and changes `stock_balances`
//! (per item, warehouse, bin and lot) and `stock_values` (moving average per item, company-wide
//! or per warehouse) in the same transaction. A reverse approval posts the opposite moves;
//! moves are never updated or deleted. Where a warehouse forbids negative stock, an issue is
//! a conditional `UPDATE ... WHERE qty >= $n`, so racing clients cannot both take the last
//! unit. [`check_invariants`] verifies that balances and values equal the sums of the moves.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use papilio_core::document::{DatePart, NumberFormat};
use papilio_core::inventory::{VALUE_PLACES, Valuation};
use papilio_core::value::{from_scaled, round_to, to_scaled};
use papilio_core::{DomainError, FieldError};
use rust_decimal::Decimal;
use sqlx::Row;

use crate::db::{Conn, Db, TxFuture, new_id, now_text};
use crate::documents::{DocType, Document, PostingHooks};
use crate::error::StoreError;

/// Which way a stock document moves stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Into `warehouse`.
    In,
    /// Out of `warehouse`.
    Out,
    /// From `warehouse`/`bin` to `to_warehouse`/`to_bin`.
    Transfer,
    /// A count: `quantity` counted against the frozen `book_qty`; the difference moves.
    Count,
}

/// What a receipt is valued at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// The line's unit price (purchase receipts).
    LinePrice,
    /// The item's standard cost (production receipts until actual costing closes the month).
    Standard,
    /// The current moving average, else the standard cost (returns, found stock).
    Average,
}

/// The posting hook of one stock document type.
#[derive(Debug, Clone, Copy)]
pub struct StockPosting {
    /// Direction.
    pub flow: Flow,
    /// Cost of what comes in.
    pub cost: Cost,
}

impl PostingHooks for StockPosting {
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(post(conn, doc, *self))
    }

    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(reverse(conn, doc))
    }
}

fn stock_type(
    code: &'static str,
    prefix: &'static str,
    partner: Option<&'static str>,
    flow: Flow,
    cost: Cost,
    fields: &'static [&'static str],
    needs_reason: bool,
) -> DocType {
    DocType {
        code,
        area: "inventory",
        number: NumberFormat { prefix, date_part: DatePart::YearMonth, width: 5 },
        partner,
        sources: &[],
        over_tolerance_pct: Decimal::ZERO,
        rules: Vec::new(),
        hooks: Some(Arc::new(StockPosting { flow, cost })),
        stock_fields: fields,
        needs_reason,
        trade_fields: &[],
        carries: true,
        prepare: None,
    }
}

const BIN_LOT: &[&str] = &["bin", "lot", "lot_expiry"];
const BIN_LOT_OUT: &[&str] = &["bin", "lot"];

/// The stock document types: receipts, issues, transfers and counts. Sales deliveries and
/// returns post through this ledger too; they are declared with sales (`crate::sales`).
pub fn document_types() -> Vec<DocType> {
    vec![
        stock_type(
            "purchase_receipt",
            "PR",
            Some("supplier"),
            Flow::In,
            Cost::LinePrice,
            BIN_LOT,
            false,
        ),
        stock_type("production_issue", "MI", None, Flow::Out, Cost::Average, BIN_LOT_OUT, false),
        stock_type("production_return", "MR", None, Flow::In, Cost::Average, BIN_LOT, false),
        stock_type("production_receipt", "FG", None, Flow::In, Cost::Standard, BIN_LOT, false),
        stock_type(
            "stock_transfer",
            "TR",
            None,
            Flow::Transfer,
            Cost::Average,
            &["bin", "to_warehouse", "to_bin", "lot"],
            false,
        ),
        stock_type("misc_receipt", "OR", None, Flow::In, Cost::LinePrice, BIN_LOT, true),
        stock_type("misc_issue", "OI", None, Flow::Out, Cost::Average, BIN_LOT_OUT, true),
        stock_type(
            "stock_count",
            "SC",
            None,
            Flow::Count,
            Cost::Average,
            &["bin", "lot", "book_qty"],
            false,
        ),
    ]
}

fn scaled(value: Decimal, field: &str) -> Result<i64, StoreError> {
    to_scaled(round_to(value, VALUE_PLACES))
        .ok_or_else(|| DomainError::field(field, "field.out_of_range").into())
}

fn invalid(field: String, rule: &str) -> FieldError {
    FieldError::new(field, rule)
}

/// What posting needs to know of an item.
#[derive(Debug, Clone)]
struct ItemFacts {
    base_unit: String,
    lot_tracked: bool,
    standard_cost: Decimal,
}

async fn item_facts(conn: &mut Conn, code: &str) -> Result<Option<ItemFacts>, StoreError> {
    let row =
        sqlx::query("SELECT base_unit, lot_tracked, standard_cost FROM items WHERE code = $1")
            .bind(code.to_owned())
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|r| {
        Ok(ItemFacts {
            base_unit: r.try_get("base_unit")?,
            lot_tracked: r.try_get::<i64, _>("lot_tracked")? != 0,
            standard_cost: from_scaled(r.try_get("standard_cost")?),
        })
    })
    .transpose()
}

/// How many base units one `unit` of `item` is: 1 for the base unit, else an item-specific
/// conversion, else a global one, either way round.
pub(crate) async fn factor(
    conn: &mut Conn,
    item: &str,
    unit: &str,
    base: &str,
) -> Result<Option<Decimal>, StoreError> {
    if unit == base {
        return Ok(Some(Decimal::ONE));
    }
    let rows = sqlx::query(
        "SELECT item, from_unit, factor FROM unit_conversions \
         WHERE (item = $1 OR item IS NULL) \
         AND ((from_unit = $2 AND to_unit = $3) OR (from_unit = $3 AND to_unit = $2))",
    )
    .bind(item.to_owned())
    .bind(unit.to_owned())
    .bind(base.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    let mut best: Option<(bool, Decimal)> = None;
    for r in rows {
        let specific = r.try_get::<Option<String>, _>("item")?.is_some();
        let f = from_scaled(r.try_get("factor")?);
        let forward = r.try_get::<String, _>("from_unit")? == unit;
        let value = if forward {
            f
        } else if f.is_zero() {
            continue;
        } else {
            Decimal::ONE / f
        };
        if best.is_none_or(|(s, _)| specific && !s) {
            best = Some((specific, value));
        }
    }
    Ok(best.map(|(_, f)| f))
}

/// [`allows_negative`], asked once per warehouse and document.
async fn negative_allowed(
    conn: &mut Conn,
    known: &mut HashMap<String, bool>,
    warehouse: &str,
) -> Result<bool, StoreError> {
    if let Some(ok) = known.get(warehouse) {
        return Ok(*ok);
    }
    let ok = allows_negative(conn, warehouse).await?;
    known.insert(warehouse.to_owned(), ok);
    Ok(ok)
}

async fn allows_negative(conn: &mut Conn, warehouse: &str) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT allow_negative FROM warehouses WHERE code = $1")
        .bind(warehouse.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get::<i64, _>("allow_negative")).transpose()?.unwrap_or(0) != 0)
}

/// Whether values are kept per warehouse (`warehouse`) or company-wide (`company`).
pub async fn valuation_per_warehouse(conn: &mut Conn) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT valuation_scope FROM company WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get::<String, _>("valuation_scope")).transpose()?.as_deref()
        == Some("warehouse"))
}

/// One move about to be written.
#[derive(Debug, Clone)]
struct Planned {
    line_index: usize,
    line_id: i64,
    item: String,
    warehouse: String,
    bin: String,
    lot: String,
    /// Signed, in base units.
    qty: Decimal,
    /// For receipts: the unit cost; `None` means "at the current average".
    unit_cost: Option<Decimal>,
    standard_cost: Decimal,
    /// Expiry of a lot received.
    lot_expiry: Option<NaiveDate>,
}

async fn plan(
    conn: &mut Conn,
    doc: &Document,
    posting: StockPosting,
) -> Result<Vec<Planned>, StoreError> {
    let mut errors = Vec::new();
    if let Some(reason) = &doc.reason {
        let direction: Option<String> =
            sqlx::query("SELECT direction FROM stock_reasons WHERE code = $1")
                .bind(reason.clone())
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("direction"))
                .transpose()?;
        let fits = matches!(
            (posting.flow, direction.as_deref()),
            (_, Some("both")) | (Flow::In, Some("receipt")) | (Flow::Out, Some("issue"))
        );
        if !fits {
            errors.push(
                FieldError::new("reason", "stock.reason_wrong_direction").with("value", reason),
            );
        }
    }
    let mut out = Vec::new();
    for (i, line) in doc.lines.iter().enumerate() {
        let at = |f: &str| format!("lines[{i}].{f}");
        let Some(item_code) = &line.item else {
            errors.push(invalid(at("item"), "field.required"));
            continue;
        };
        let Some(warehouse) = &line.warehouse else {
            errors.push(invalid(at("warehouse"), "field.required"));
            continue;
        };
        let Some(item) = item_facts(conn, item_code).await? else {
            errors.push(invalid(at("item"), "field.unknown_reference").with("value", item_code));
            continue;
        };
        let unit = line.unit.clone().unwrap_or_else(|| item.base_unit.clone());
        let Some(f) = factor(conn, item_code, &unit, &item.base_unit).await? else {
            errors.push(
                invalid(at("unit"), "stock.no_conversion")
                    .with("unit", &unit)
                    .with("base", &item.base_unit),
            );
            continue;
        };
        let lot = line.stock.lot.clone().unwrap_or_default();
        if item.lot_tracked && lot.is_empty() {
            errors.push(invalid(at("lot"), "stock.lot_required").with("item", item_code));
            continue;
        }
        let qty = line.quantity * f;
        let receipt_cost = match posting.cost {
            Cost::LinePrice => match line.unit_price {
                Some(p) => Some(p / f),
                None => Some(item.standard_cost),
            },
            Cost::Standard => Some(item.standard_cost),
            Cost::Average => None,
        };
        let base = Planned {
            line_index: i,
            line_id: line.id,
            item: item_code.clone(),
            warehouse: warehouse.clone(),
            bin: line.stock.bin.clone().unwrap_or_default(),
            lot,
            qty,
            unit_cost: receipt_cost,
            standard_cost: item.standard_cost,
            lot_expiry: line.stock.lot_expiry,
        };
        match posting.flow {
            Flow::In => out.push(base),
            Flow::Out => out.push(Planned { qty: -qty, unit_cost: None, ..base }),
            Flow::Transfer => {
                let Some(to) = &line.stock.to_warehouse else {
                    errors.push(invalid(at("to_warehouse"), "field.required"));
                    continue;
                };
                let to_bin = line.stock.to_bin.clone().unwrap_or_default();
                if *to == base.warehouse && to_bin == base.bin {
                    errors.push(invalid(at("to_bin"), "stock.transfer_to_itself"));
                    continue;
                }
                out.push(Planned { qty: -qty, unit_cost: None, ..base.clone() });
                out.push(Planned {
                    warehouse: to.clone(),
                    bin: to_bin,
                    qty,
                    unit_cost: None,
                    ..base
                });
            }
            Flow::Count => {
                let Some(book) = line.stock.book_qty else {
                    errors.push(invalid(at("book_qty"), "field.required"));
                    continue;
                };
                let diff = line.quantity * f - book * f;
                if !diff.is_zero() {
                    out.push(Planned { qty: diff, unit_cost: None, ..base });
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(DomainError::Invalid(errors).into()) }
}

async fn valuation(conn: &mut Conn, item: &str, scope: &str) -> Result<Valuation, StoreError> {
    // Touch the row first so that on PostgreSQL it stays locked until commit.
    let row = sqlx::query(
        "INSERT INTO stock_values (item, scope, qty, value) VALUES ($1, $2, 0, 0) \
         ON CONFLICT (item, scope) DO UPDATE SET qty = stock_values.qty RETURNING qty, value",
    )
    .bind(item.to_owned())
    .bind(scope.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(Valuation {
        qty: from_scaled(row.try_get("qty")?),
        value: from_scaled(row.try_get("value")?),
    })
}

async fn save_valuation(
    conn: &mut Conn,
    item: &str,
    scope: &str,
    v: Valuation,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE stock_values SET qty = $1, value = $2 WHERE item = $3 AND scope = $4")
        .bind(scaled(v.qty, "quantity")?)
        .bind(scaled(v.value, "value")?)
        .bind(item.to_owned())
        .bind(scope.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Changes one balance by `qty` (signed). A decrease where negative stock is forbidden only
/// happens if enough is there; otherwise the answer names the item, warehouse and what is
/// available.
async fn change_balance(conn: &mut Conn, m: &Planned, negative_ok: bool) -> Result<(), StoreError> {
    let qty = m.qty;
    let q = scaled(qty, "quantity")?;
    if qty >= Decimal::ZERO || negative_ok {
        sqlx::query(
            "INSERT INTO stock_balances (item, warehouse, bin, lot, qty) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (item, warehouse, bin, lot) DO UPDATE SET qty = stock_balances.qty + $5",
        )
        .bind(m.item.clone())
        .bind(m.warehouse.clone())
        .bind(m.bin.clone())
        .bind(m.lot.clone())
        .bind(q)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    }
    let done = sqlx::query(
        "UPDATE stock_balances SET qty = qty + $1 \
         WHERE item = $2 AND warehouse = $3 AND bin = $4 AND lot = $5 AND qty + $1 >= 0",
    )
    .bind(q)
    .bind(m.item.clone())
    .bind(m.warehouse.clone())
    .bind(m.bin.clone())
    .bind(m.lot.clone())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let available = sqlx::query(
        "SELECT qty FROM stock_balances WHERE item = $1 AND warehouse = $2 AND bin = $3 AND lot = $4",
    )
    .bind(m.item.clone())
    .bind(m.warehouse.clone())
    .bind(m.bin.clone())
    .bind(m.lot.clone())
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get::<i64, _>("qty"))
    .transpose()?
    .map_or(Decimal::ZERO, from_scaled);
    let mut e = FieldError::new(format!("lines[{}].quantity", m.line_index), "stock.insufficient")
        .with("item", &m.item)
        .with("warehouse", &m.warehouse)
        .with("available", available.normalize())
        .with("requested", (-qty).normalize());
    if !m.bin.is_empty() {
        e = e.with("bin", &m.bin);
    }
    if !m.lot.is_empty() {
        e = e.with("lot", &m.lot);
    }
    Err(DomainError::Invalid(vec![e]).into())
}

async fn insert_move(
    conn: &mut Conn,
    doc: &Document,
    m: &Planned,
    unit_cost: Decimal,
    value: Decimal,
    reverses: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stock_moves (id, item, warehouse, bin, lot, qty, unit_cost, value, document_id, \
         line_id, doc_type, move_date, posted_at, reverses) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(new_id())
    .bind(m.item.clone())
    .bind(m.warehouse.clone())
    .bind(m.bin.clone())
    .bind(m.lot.clone())
    .bind(scaled(m.qty, "quantity")?)
    .bind(scaled(unit_cost, "unit_cost")?)
    .bind(scaled(value, "value")?)
    .bind(doc.id)
    .bind(m.line_id)
    .bind(doc.doc_type.clone())
    .bind(doc.doc_date.to_string())
    .bind(now_text())
    .bind(reverses)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn ensure_lot(conn: &mut Conn, m: &Planned, received: NaiveDate) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO lots (item, lot_no, received_date, expiry_date, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (item, lot_no) DO NOTHING",
    )
    .bind(m.item.clone())
    .bind(m.lot.clone())
    .bind(received.to_string())
    .bind(m.lot_expiry.map(|d| d.to_string()))
    .bind(now_text())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Posts `doc`'s lines: one move per line (two per transfer line), balances and values changed
/// in the caller's transaction. Issues go first, then receipts, each in (item, warehouse, bin,
/// lot) order, so concurrent postings lock rows in one order.
pub async fn post(
    conn: &mut Conn,
    doc: &Document,
    posting: StockPosting,
) -> Result<(), StoreError> {
    crate::counts::check_not_frozen(conn, doc).await?;
    let mut moves = plan(conn, doc, posting).await?;
    moves.sort_by(|a, b| {
        (a.qty >= Decimal::ZERO, &a.item, &a.warehouse, &a.bin, &a.lot).cmp(&(
            b.qty >= Decimal::ZERO,
            &b.item,
            &b.warehouse,
            &b.bin,
            &b.lot,
        ))
    });
    let per_warehouse = valuation_per_warehouse(conn).await?;
    let mut negative_ok: HashMap<String, bool> = HashMap::new();
    // What each transfer line took out, so the receiving side gets the same value.
    let mut transfer_cost: HashMap<i64, Decimal> = HashMap::new();
    for m in &moves {
        let scope = if per_warehouse { m.warehouse.clone() } else { "*".to_owned() };
        let current = valuation(conn, &m.item, &scope).await?;
        let (unit_cost, value, after) = if m.qty < Decimal::ZERO {
            let fallback =
                if current.qty > Decimal::ZERO { current.unit_cost() } else { m.standard_cost };
            let (taken, after) = current.issue(-m.qty, fallback);
            let unit = taken / -m.qty;
            transfer_cost.insert(m.line_id, unit);
            (unit, -taken, after)
        } else {
            let unit = match (m.unit_cost, transfer_cost.get(&m.line_id)) {
                (Some(c), _) => c,
                (None, Some(c)) if posting.flow == Flow::Transfer => *c,
                (None, _) if current.qty > Decimal::ZERO => current.unit_cost(),
                (None, _) => m.standard_cost,
            };
            let (value, after) = current.receive(m.qty, unit);
            (unit, value, after)
        };
        let ok = negative_allowed(conn, &mut negative_ok, &m.warehouse).await?;
        change_balance(conn, m, ok).await?;
        if m.qty > Decimal::ZERO && !m.lot.is_empty() {
            ensure_lot(conn, m, doc.doc_date).await?;
        }
        save_valuation(conn, &m.item, &scope, after).await?;
        insert_move(conn, doc, m, unit_cost, value, None).await?;
    }
    tracing::debug!(document.id = doc.id, moves = moves.len(), "stock posted");
    Ok(())
}

/// Reverses what `doc` posted: an opposite move for each of its moves not yet reversed, with
/// the same value, so balances and values return to where they were. Refused with the usual
/// message when a receipt's stock has already been issued where negative stock is forbidden.
pub async fn reverse(conn: &mut Conn, doc: &Document) -> Result<(), StoreError> {
    // Reversing moves a frozen key just as posting does (a count's own reversal is checked
    // against its book quantities by nothing: they no longer apply once it was approved).
    if doc.doc_type != "stock_count" {
        crate::counts::check_not_frozen(conn, doc).await?;
    }
    let rows = sqlx::query(
        "SELECT m.id, m.item, m.warehouse, m.bin, m.lot, m.qty, m.unit_cost, m.value, m.line_id \
         FROM stock_moves m WHERE m.document_id = $1 AND m.reverses IS NULL \
         AND NOT EXISTS (SELECT 1 FROM stock_moves r WHERE r.reverses = m.id) \
         ORDER BY m.item, m.warehouse, m.bin, m.lot, m.id",
    )
    .bind(doc.id)
    .fetch_all(&mut *conn)
    .await?;
    let per_warehouse = valuation_per_warehouse(conn).await?;
    let mut negative_ok: HashMap<String, bool> = HashMap::new();
    for r in rows {
        let line_id: i64 = r.try_get("line_id")?;
        let line_index = doc.lines.iter().position(|l| l.id == line_id).unwrap_or(0);
        let m = Planned {
            line_index,
            line_id,
            item: r.try_get("item")?,
            warehouse: r.try_get("warehouse")?,
            bin: r.try_get("bin")?,
            lot: r.try_get("lot")?,
            qty: -from_scaled(r.try_get("qty")?),
            unit_cost: None,
            standard_cost: Decimal::ZERO,
            lot_expiry: None,
        };
        let value = -from_scaled(r.try_get("value")?);
        let unit_cost = from_scaled(r.try_get("unit_cost")?);
        let scope = if per_warehouse { m.warehouse.clone() } else { "*".to_owned() };
        let current = valuation(conn, &m.item, &scope).await?;
        let ok = negative_allowed(conn, &mut negative_ok, &m.warehouse).await?;
        change_balance(conn, &m, ok).await?;
        let after = Valuation { qty: current.qty + m.qty, value: current.value + value };
        save_valuation(conn, &m.item, &scope, after).await?;
        insert_move(conn, doc, &m, unit_cost, value, Some(r.try_get("id")?)).await?;
    }
    tracing::debug!(document.id = doc.id, "stock posting reversed");
    Ok(())
}

/// One balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// Item code.
    pub item: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Bin code ('' for none).
    pub bin: String,
    /// Lot ('' for none).
    pub lot: String,
    /// Quantity in the base unit.
    pub qty: Decimal,
}

/// Which balances to read.
#[derive(Debug, Clone, Default)]
pub struct BalanceFilter {
    /// Only this item.
    pub item: Option<String>,
    /// Only this warehouse.
    pub warehouse: Option<String>,
    /// Leave out zero balances.
    pub nonzero: bool,
}

fn filter_sql(f: &BalanceFilter, binds: &mut Vec<String>, first: usize) -> String {
    let mut sql = String::new();
    if let Some(item) = &f.item {
        binds.push(item.clone());
        sql.push_str(&format!(" AND item = ${}", first + binds.len() - 1));
    }
    if let Some(wh) = &f.warehouse {
        binds.push(wh.clone());
        sql.push_str(&format!(" AND warehouse = ${}", first + binds.len() - 1));
    }
    sql
}

fn read_balance(r: &sqlx::any::AnyRow) -> Result<Balance, StoreError> {
    Ok(Balance {
        item: r.try_get("item")?,
        warehouse: r.try_get("warehouse")?,
        bin: r.try_get("bin")?,
        lot: r.try_get("lot")?,
        qty: from_scaled(r.try_get("qty")?),
    })
}

/// Balances now, from the maintained balance table.
pub async fn balances(db: &Db, f: &BalanceFilter) -> Result<Vec<Balance>, StoreError> {
    let mut binds = Vec::new();
    let filter = filter_sql(f, &mut binds, 1);
    let nonzero = if f.nonzero { " AND qty <> 0" } else { "" };
    let sql = format!(
        "SELECT item, warehouse, bin, lot, qty FROM stock_balances WHERE 1 = 1{filter}{nonzero} \
         ORDER BY item, warehouse, bin, lot"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    q.fetch_all(db.pool()).await?.iter().map(read_balance).collect()
}

/// Balances at the end of `date`, summed from the ledger.
pub async fn balances_as_of(
    db: &Db,
    date: NaiveDate,
    f: &BalanceFilter,
) -> Result<Vec<Balance>, StoreError> {
    let mut binds = vec![date.to_string()];
    let filter = filter_sql(f, &mut binds, 1);
    let having = if f.nonzero { " HAVING SUM(qty) <> 0" } else { "" };
    let sql = format!(
        "SELECT item, warehouse, bin, lot, CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS qty \
         FROM stock_moves WHERE move_date <= $1{filter} \
         GROUP BY item, warehouse, bin, lot{having} ORDER BY item, warehouse, bin, lot"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b);
    }
    q.fetch_all(db.pool()).await?.iter().map(read_balance).collect()
}

/// One line of a stock card 存货明细账.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLine {
    /// Posting date.
    pub date: NaiveDate,
    /// Document id.
    pub document_id: i64,
    /// Document type.
    pub doc_type: String,
    /// Document number.
    pub number: String,
    /// Warehouse.
    pub warehouse: String,
    /// Bin.
    pub bin: String,
    /// Lot.
    pub lot: String,
    /// Quantity in (positive) or out (negative).
    pub qty: Decimal,
    /// Value in or out.
    pub value: Decimal,
    /// Quantity after this move.
    pub balance_qty: Decimal,
    /// Value after this move.
    pub balance_value: Decimal,
}

/// Every move of `item` (optionally in one warehouse) from `from` to `to`, with the running
/// balance starting from the opening balance at `from`. Returns (opening qty, opening value,
/// lines).
pub async fn stock_card(
    db: &Db,
    item: &str,
    warehouse: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Decimal, Decimal, Vec<CardLine>), StoreError> {
    let opening_sql = format!(
        "SELECT CAST(COALESCE(SUM(m.qty), 0) AS BIGINT) AS qty, \
         CAST(COALESCE(SUM(m.value), 0) AS BIGINT) AS value \
         FROM stock_moves m WHERE m.item = $1 AND m.move_date < $2{}",
        if warehouse.is_some() { " AND m.warehouse = $3" } else { "" }
    );
    let mut q =
        sqlx::query(sqlx::AssertSqlSafe(opening_sql)).bind(item.to_owned()).bind(from.to_string());
    if let Some(wh) = warehouse {
        q = q.bind(wh.to_owned());
    }
    let row = q.fetch_one(db.pool()).await?;
    let mut qty = from_scaled(row.try_get("qty")?);
    let mut value = from_scaled(row.try_get("value")?);
    let (opening_qty, opening_value) = (qty, value);

    let sql = format!(
        "SELECT m.move_date, m.document_id, m.doc_type, d.number, m.warehouse, m.bin, m.lot, m.qty, m.value \
         FROM stock_moves m JOIN documents d ON d.id = m.document_id \
         WHERE m.item = $1 AND m.move_date >= $2 AND m.move_date <= $3{} \
         ORDER BY m.move_date, m.posted_at, m.id",
        if warehouse.is_some() { " AND m.warehouse = $4" } else { "" }
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(item.to_owned())
        .bind(from.to_string())
        .bind(to.to_string());
    if let Some(wh) = warehouse {
        q = q.bind(wh.to_owned());
    }
    let mut lines = Vec::new();
    for r in q.fetch_all(db.pool()).await? {
        let q_move = from_scaled(r.try_get("qty")?);
        let v_move = from_scaled(r.try_get("value")?);
        qty += q_move;
        value += v_move;
        let date: String = r.try_get("move_date")?;
        lines.push(CardLine {
            date: date.parse().map_err(|_| StoreError::Corrupt(date.clone()))?,
            document_id: r.try_get("document_id")?,
            doc_type: r.try_get("doc_type")?,
            number: r.try_get("number")?,
            warehouse: r.try_get("warehouse")?,
            bin: r.try_get("bin")?,
            lot: r.try_get("lot")?,
            qty: q_move,
            value: v_move,
            balance_qty: qty,
            balance_value: value,
        });
    }
    Ok((opening_qty, opening_value, lines))
}

/// Checks the ledger's invariants and returns every violation found (empty when all hold):
/// each balance equals the sum of its moves; each item's value equals the sum of its move
/// values; no balance is negative where the warehouse forbids it; every move points at a line
/// of its own document, which is approved or closed (or was, for reversed postings).
pub async fn check_invariants(db: &Db) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let rows = sqlx::query(
        "SELECT b.item, b.warehouse, b.bin, b.lot, b.qty, \
         CAST(COALESCE((SELECT SUM(m.qty) FROM stock_moves m WHERE m.item = b.item \
         AND m.warehouse = b.warehouse AND m.bin = b.bin AND m.lot = b.lot), 0) AS BIGINT) AS moved \
         FROM stock_balances b",
    )
    .fetch_all(db.pool())
    .await?;
    for r in &rows {
        let (qty, moved): (i64, i64) = (r.try_get("qty")?, r.try_get("moved")?);
        if qty != moved {
            problems.push(format!(
                "balance {}/{}/{}/{} is {} but its moves sum to {}",
                r.try_get::<String, _>("item")?,
                r.try_get::<String, _>("warehouse")?,
                r.try_get::<String, _>("bin")?,
                r.try_get::<String, _>("lot")?,
                from_scaled(qty),
                from_scaled(moved)
            ));
        }
    }
    let orphans: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM (SELECT item, warehouse, bin, lot FROM stock_moves \
         GROUP BY item, warehouse, bin, lot) k WHERE NOT EXISTS (SELECT 1 FROM stock_balances b \
         WHERE b.item = k.item AND b.warehouse = k.warehouse AND b.bin = k.bin AND b.lot = k.lot)",
    )
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if orphans > 0 {
        problems.push(format!("{orphans} ledger keys have moves but no balance row"));
    }
    let values = sqlx::query(
        "SELECT v.item, CAST(SUM(v.qty) AS BIGINT) AS qty, CAST(SUM(v.value) AS BIGINT) AS value, \
         CAST(COALESCE((SELECT SUM(m.qty) FROM stock_moves m WHERE m.item = v.item), 0) AS BIGINT) AS mq, \
         CAST(COALESCE((SELECT SUM(m.value) FROM stock_moves m WHERE m.item = v.item), 0) AS BIGINT) AS mv \
         FROM stock_values v GROUP BY v.item",
    )
    .fetch_all(db.pool())
    .await?;
    for r in &values {
        let (q, v, mq, mv): (i64, i64, i64, i64) =
            (r.try_get("qty")?, r.try_get("value")?, r.try_get("mq")?, r.try_get("mv")?);
        if q != mq || v != mv {
            problems.push(format!(
                "item {} is valued at {} for {} but its moves sum to {} for {}",
                r.try_get::<String, _>("item")?,
                from_scaled(v),
                from_scaled(q),
                from_scaled(mv),
                from_scaled(mq)
            ));
        }
    }
    let negative: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM stock_balances b JOIN warehouses w ON w.code = b.warehouse \
         WHERE b.qty < 0 AND w.allow_negative = 0",
    )
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if negative > 0 {
        problems.push(format!("{negative} balances are negative where the warehouse forbids it"));
    }
    let stray: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM stock_moves m JOIN document_lines l ON l.id = m.line_id \
         WHERE l.document_id <> m.document_id",
    )
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if stray > 0 {
        problems.push(format!("{stray} moves point at a line of another document"));
    }
    // A document that is not approved (or closed) must have had its posting reversed.
    let unposted: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM (SELECT m.line_id FROM stock_moves m \
         JOIN documents d ON d.id = m.document_id WHERE d.state NOT IN ('approved', 'closed') \
         GROUP BY m.line_id HAVING SUM(m.qty) <> 0 OR SUM(m.value) <> 0) k",
    )
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    if unposted > 0 {
        problems.push(format!("{unposted} lines of unapproved documents still hold stock"));
    }
    Ok(problems)
}

/// The lots of `item` with stock in `warehouse`, with their dates, for an issue suggestion.
pub async fn lots_in_stock(
    db: &Db,
    item: &str,
    warehouse: &str,
) -> Result<Vec<papilio_core::inventory::LotStock>, StoreError> {
    let rows = sqlx::query(
        "SELECT b.lot, CAST(SUM(b.qty) AS BIGINT) AS qty, l.received_date, l.expiry_date \
         FROM stock_balances b JOIN lots l ON l.item = b.item AND l.lot_no = b.lot \
         WHERE b.item = $1 AND b.warehouse = $2 AND b.lot <> '' \
         GROUP BY b.lot, l.received_date, l.expiry_date HAVING SUM(b.qty) > 0",
    )
    .bind(item.to_owned())
    .bind(warehouse.to_owned())
    .fetch_all(db.pool())
    .await?;
    let date = |text: String| text.parse::<NaiveDate>().map_err(|_| StoreError::Corrupt(text));
    rows.into_iter()
        .map(|r| {
            Ok(papilio_core::inventory::LotStock {
                lot: r.try_get("lot")?,
                available: from_scaled(r.try_get("qty")?),
                received: date(r.try_get("received_date")?)?,
                expiry: r.try_get::<Option<String>, _>("expiry_date")?.map(date).transpose()?,
            })
        })
        .collect()
}
