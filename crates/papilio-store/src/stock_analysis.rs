//! What the stock analyses read from the ledger 呆滞料/库龄/周转: last issue dates, receipt
//! layers, holdings and issue values, as plain rows.
//!
//! Every figure is summed from `stock_moves`, so an analysis "as of" a past date sees the stock
//! as it stood then. The arithmetic (ageing buckets, idleness, turnover) is done by the pure
//! rules in [`papilio_core::inventory`]; these queries only select and sum.
//!
//! An issue is a negative move of one of [`ISSUE_TYPES`] that has not been reversed. A receipt
//! layer is any positive move that is neither a reversal nor reversed: purchases, production
//! receipts and returns, found stock, and the receiving side of a transfer (stock moved to
//! another warehouse starts ageing there on the day it arrived).

use chrono::NaiveDate;
use papilio_core::value::from_scaled;
use rust_decimal::Decimal;
use sqlx::Row;

use crate::db::Db;
use crate::error::StoreError;

/// Document types whose negative moves consume stock (issues to production, deliveries to
/// customers, other issues). Transfers and count differences are not consumption.
pub const ISSUE_TYPES: &[&str] = &["production_issue", "sales_delivery", "misc_issue"];

/// When stock of an item last left a warehouse through an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastIssue {
    /// Item code.
    pub item: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Date of the latest issue on or before the analysis date.
    pub date: NaiveDate,
}

/// What came into a warehouse on one day: one FIFO layer for ageing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLayer {
    /// Item code.
    pub item: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Receipt date.
    pub date: NaiveDate,
    /// Quantity received that day, in the base unit.
    pub qty: Decimal,
}

/// An item's stock in one warehouse at the end of a day, with what describes the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Item code.
    pub item: String,
    /// Item name in Chinese.
    pub name_zh: String,
    /// Item name in English.
    pub name_en: String,
    /// Item category code ('' for none).
    pub category: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Quantity on hand, in the base unit.
    pub qty: Decimal,
    /// Its value (the sum of the move values into and out of this warehouse).
    pub value: Decimal,
}

/// An item's stock value over all warehouses at the end of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemValue {
    /// Item code.
    pub item: String,
    /// Item name in Chinese.
    pub name_zh: String,
    /// Item name in English.
    pub name_en: String,
    /// Item category code ('' for none).
    pub category: String,
    /// The value (stock value at a date, or issue value over a period).
    pub value: Decimal,
}

/// A category code with its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryName {
    /// Category code.
    pub code: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
}

/// `$first, $first+1, ...` for the issue types, which the caller binds in order.
fn issue_type_params(first: usize) -> String {
    (0..ISSUE_TYPES.len()).map(|i| format!("${}", first + i)).collect::<Vec<_>>().join(", ")
}

fn date(r: &sqlx::any::AnyRow, column: &str) -> Result<NaiveDate, StoreError> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column}: {text}")))
}

/// The latest unreversed issue per item and warehouse on or before `as_of`, optionally in
/// one warehouse.
pub async fn last_issues(
    db: &Db,
    as_of: NaiveDate,
    warehouse: Option<&str>,
) -> Result<Vec<LastIssue>, StoreError> {
    let types = issue_type_params(2);
    let wh = warehouse
        .map_or(String::new(), |_| format!(" AND m.warehouse = ${}", 2 + ISSUE_TYPES.len()));
    let sql = format!(
        "SELECT m.item, m.warehouse, MAX(m.move_date) AS last_date FROM stock_moves m \
         WHERE m.qty < 0 AND m.move_date <= $1 AND m.doc_type IN ({types}) \
         AND m.reverses IS NULL \
         AND NOT EXISTS (SELECT 1 FROM stock_moves r WHERE r.reverses = m.id){wh} \
         GROUP BY m.item, m.warehouse ORDER BY m.item, m.warehouse"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(as_of.to_string());
    for t in ISSUE_TYPES {
        q = q.bind((*t).to_owned());
    }
    if let Some(w) = warehouse {
        q = q.bind(w.to_owned());
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(LastIssue {
                item: r.try_get("item")?,
                warehouse: r.try_get("warehouse")?,
                date: date(r, "last_date")?,
            })
        })
        .collect()
}

/// Receipt layers per item, warehouse and day on or before `as_of`, oldest first, optionally
/// in one warehouse.
pub async fn receipt_layers(
    db: &Db,
    as_of: NaiveDate,
    warehouse: Option<&str>,
) -> Result<Vec<ReceiptLayer>, StoreError> {
    let wh = if warehouse.is_some() { " AND m.warehouse = $2" } else { "" };
    let sql = format!(
        "SELECT m.item, m.warehouse, m.move_date, CAST(COALESCE(SUM(m.qty), 0) AS BIGINT) AS qty \
         FROM stock_moves m WHERE m.qty > 0 AND m.move_date <= $1 AND m.reverses IS NULL \
         AND NOT EXISTS (SELECT 1 FROM stock_moves r WHERE r.reverses = m.id){wh} \
         GROUP BY m.item, m.warehouse, m.move_date ORDER BY m.item, m.warehouse, m.move_date"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(as_of.to_string());
    if let Some(w) = warehouse {
        q = q.bind(w.to_owned());
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(ReceiptLayer {
                item: r.try_get("item")?,
                warehouse: r.try_get("warehouse")?,
                date: date(r, "move_date")?,
                qty: from_scaled(r.try_get("qty")?),
            })
        })
        .collect()
}

/// Stock per item and warehouse at the end of `as_of` (non-zero quantities only), optionally
/// in one warehouse, with the item's names and category.
pub async fn holdings_as_of(
    db: &Db,
    as_of: NaiveDate,
    warehouse: Option<&str>,
) -> Result<Vec<Holding>, StoreError> {
    let wh = if warehouse.is_some() { " AND m.warehouse = $2" } else { "" };
    let sql = format!(
        "SELECT m.item, i.name_zh, i.name_en, COALESCE(i.category, '') AS category, m.warehouse, \
         CAST(COALESCE(SUM(m.qty), 0) AS BIGINT) AS qty, \
         CAST(COALESCE(SUM(m.value), 0) AS BIGINT) AS value \
         FROM stock_moves m JOIN items i ON i.code = m.item WHERE m.move_date <= $1{wh} \
         GROUP BY m.item, i.name_zh, i.name_en, i.category, m.warehouse \
         HAVING SUM(m.qty) <> 0 ORDER BY m.item, m.warehouse"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(as_of.to_string());
    if let Some(w) = warehouse {
        q = q.bind(w.to_owned());
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(Holding {
                item: r.try_get("item")?,
                name_zh: r.try_get("name_zh")?,
                name_en: r.try_get("name_en")?,
                category: r.try_get("category")?,
                warehouse: r.try_get("warehouse")?,
                qty: from_scaled(r.try_get("qty")?),
                value: from_scaled(r.try_get("value")?),
            })
        })
        .collect()
}

fn read_item_value(r: &sqlx::any::AnyRow) -> Result<ItemValue, StoreError> {
    Ok(ItemValue {
        item: r.try_get("item")?,
        name_zh: r.try_get("name_zh")?,
        name_en: r.try_get("name_en")?,
        category: r.try_get("category")?,
        value: from_scaled(r.try_get("value")?),
    })
}

/// Stock value per item over all warehouses at the end of `date` (items that ever moved).
pub async fn item_values_as_of(db: &Db, date: NaiveDate) -> Result<Vec<ItemValue>, StoreError> {
    sqlx::query(
        "SELECT m.item, i.name_zh, i.name_en, COALESCE(i.category, '') AS category, \
         CAST(COALESCE(SUM(m.value), 0) AS BIGINT) AS value \
         FROM stock_moves m JOIN items i ON i.code = m.item WHERE m.move_date <= $1 \
         GROUP BY m.item, i.name_zh, i.name_en, i.category ORDER BY m.item",
    )
    .bind(date.to_string())
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(read_item_value)
    .collect()
}

/// The value issued per item from `from` to `to` (both included), net of reversed issues, as
/// a positive amount.
pub async fn issue_values(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ItemValue>, StoreError> {
    let types = issue_type_params(3);
    // Reversal moves carry the issue's document type with the opposite sign, so the plain
    // sum is already net of reversals. The sign is turned in Rust, not in SQL.
    let sql = format!(
        "SELECT m.item, i.name_zh, i.name_en, COALESCE(i.category, '') AS category, \
         CAST(COALESCE(SUM(m.value), 0) AS BIGINT) AS value \
         FROM stock_moves m JOIN items i ON i.code = m.item \
         WHERE m.move_date >= $1 AND m.move_date <= $2 AND m.doc_type IN ({types}) \
         GROUP BY m.item, i.name_zh, i.name_en, i.category ORDER BY m.item"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from.to_string()).bind(to.to_string());
    for t in ISSUE_TYPES {
        q = q.bind((*t).to_owned());
    }
    q.fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            let v = read_item_value(r)?;
            Ok(ItemValue { value: -v.value, ..v })
        })
        .collect()
}

/// Every item category with its names.
pub async fn category_names(db: &Db) -> Result<Vec<CategoryName>, StoreError> {
    sqlx::query("SELECT code, name_zh, name_en FROM item_categories ORDER BY code")
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(CategoryName {
                code: r.try_get("code")?,
                name_zh: r.try_get("name_zh")?,
                name_en: r.try_get("name_en")?,
            })
        })
        .collect()
}
