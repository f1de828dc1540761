//! What the warehouse manager reads from the stock ledger 即时库存与预警: stock on hand with
//! item facts (now or as of a date), item values, reservations, the items whose planning
//! levels an alert rule must look at, and default bins with put-away suggestions.
//!
//! Reservations (`stock_reserved`) are kept per item and warehouse in the item's base unit.
//! [`reserve`] and [`release`] take a caller's connection so that a sales order or a
//! production order can reserve inside its own approving transaction. A reservation row is
//! touched first with an upsert, which keeps it locked until commit: two transactions
//! reserving the same item and warehouse run one after the other, so the "enough available"
//! check cannot be raced.

use std::collections::HashMap;

use chrono::NaiveDate;
use papilio_core::DomainError;
use papilio_core::FieldError;
use papilio_core::value::{from_scaled, to_scaled};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit;
use crate::db::{Conn, Db, now_text};
use crate::error::StoreError;

/// Which stock to read.
#[derive(Debug, Clone, Default)]
pub struct StockQuery {
    /// Only this item.
    pub item: Option<String>,
    /// Only this warehouse.
    pub warehouse: Option<String>,
    /// Only items of this category.
    pub category: Option<String>,
    /// Leave out zero quantities.
    pub nonzero: bool,
    /// At the end of this date, from the ledger; `None` reads the balances kept now.
    pub as_of: Option<NaiveDate>,
}

/// Stock of one item in one warehouse, bin and lot, with the item's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    /// Item code.
    pub item: String,
    /// Item name in Chinese.
    pub name_zh: String,
    /// Item name in English.
    pub name_en: String,
    /// Item category, if any.
    pub category: Option<String>,
    /// The item's base unit.
    pub unit: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Bin ('' for none).
    pub bin: String,
    /// Lot ('' for none).
    pub lot: String,
    /// Quantity in the base unit.
    pub qty: Decimal,
}

/// Numbers `$n` placeholders while a filter is built, keeping the values in order.
struct Binds {
    values: Vec<String>,
}

impl Binds {
    fn push(&mut self, value: &str) -> String {
        self.values.push(value.to_owned());
        format!("${}", self.values.len())
    }
}

fn text(r: &AnyRow, column: &str) -> Result<String, StoreError> {
    Ok(r.try_get(column)?)
}

fn scaled_column(r: &AnyRow, column: &str) -> Result<Decimal, StoreError> {
    Ok(from_scaled(r.try_get(column)?))
}

fn stock_row(r: &AnyRow) -> Result<StockRow, StoreError> {
    Ok(StockRow {
        item: text(r, "item")?,
        name_zh: text(r, "name_zh")?,
        name_en: text(r, "name_en")?,
        category: r.try_get("category")?,
        unit: text(r, "base_unit")?,
        warehouse: text(r, "warehouse")?,
        bin: text(r, "bin")?,
        lot: text(r, "lot")?,
        qty: scaled_column(r, "qty")?,
    })
}

/// Stock on hand per item, warehouse, bin and lot: now from `stock_balances`, or at the end
/// of `q.as_of` summed from the ledger; ordered by item, warehouse, bin and lot.
pub async fn stock_rows(db: &Db, q: &StockQuery) -> Result<Vec<StockRow>, StoreError> {
    let mut binds = Binds { values: Vec::new() };
    let source = if let Some(date) = q.as_of {
        let d = binds.push(&date.to_string());
        format!(
            "(SELECT item, warehouse, bin, lot, CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS qty \
             FROM stock_moves WHERE move_date <= {d} GROUP BY item, warehouse, bin, lot)"
        )
    } else {
        "stock_balances".to_owned()
    };
    let mut filter = String::new();
    if let Some(item) = &q.item {
        filter.push_str(&format!(" AND s.item = {}", binds.push(item)));
    }
    if let Some(warehouse) = &q.warehouse {
        filter.push_str(&format!(" AND s.warehouse = {}", binds.push(warehouse)));
    }
    if let Some(category) = &q.category {
        filter.push_str(&format!(" AND i.category = {}", binds.push(category)));
    }
    if q.nonzero {
        filter.push_str(" AND s.qty <> 0");
    }
    let sql = format!(
        "SELECT s.item, s.warehouse, s.bin, s.lot, s.qty, i.name_zh, i.name_en, i.category, \
         i.base_unit FROM {source} s JOIN items i ON i.code = s.item WHERE 1 = 1{filter} \
         ORDER BY s.item, s.warehouse, s.bin, s.lot"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in binds.values {
        query = query.bind(v);
    }
    query.fetch_all(db.pool()).await?.iter().map(stock_row).collect()
}

/// Quantity and value of one item's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemValue {
    /// Quantity valued.
    pub qty: Decimal,
    /// Its value in the base currency.
    pub value: Decimal,
}

/// Value per item: now from `stock_values` (summed over valuation scopes), or at the end of
/// `as_of` from the ledger. Only `item` when given.
pub async fn item_values(
    db: &Db,
    item: Option<&str>,
    as_of: Option<NaiveDate>,
) -> Result<HashMap<String, ItemValue>, StoreError> {
    let mut binds = Binds { values: Vec::new() };
    let sql = if let Some(date) = as_of {
        let d = binds.push(&date.to_string());
        let only = item.map(|i| format!(" AND item = {}", binds.push(i))).unwrap_or_default();
        format!(
            "SELECT item, CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS qty, \
             CAST(COALESCE(SUM(value), 0) AS BIGINT) AS value FROM stock_moves \
             WHERE move_date <= {d}{only} GROUP BY item"
        )
    } else {
        let only = item.map(|i| format!(" AND item = {}", binds.push(i))).unwrap_or_default();
        format!(
            "SELECT item, CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS qty, \
             CAST(COALESCE(SUM(value), 0) AS BIGINT) AS value FROM stock_values \
             WHERE 1 = 1{only} GROUP BY item"
        )
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in binds.values {
        query = query.bind(v);
    }
    let mut out = HashMap::new();
    for r in query.fetch_all(db.pool()).await? {
        let v = ItemValue { qty: scaled_column(&r, "qty")?, value: scaled_column(&r, "value")? };
        out.insert(text(&r, "item")?, v);
    }
    Ok(out)
}

/// Stock reserved for an item in a warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Item code.
    pub item: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Quantity reserved, in the base unit.
    pub qty: Decimal,
}

/// Reservations, optionally of one item and one warehouse, leaving out zero rows.
pub async fn reservations(
    db: &Db,
    item: Option<&str>,
    warehouse: Option<&str>,
) -> Result<Vec<Reservation>, StoreError> {
    let mut binds = Binds { values: Vec::new() };
    let mut filter = String::new();
    if let Some(i) = item {
        filter.push_str(&format!(" AND item = {}", binds.push(i)));
    }
    if let Some(w) = warehouse {
        filter.push_str(&format!(" AND warehouse = {}", binds.push(w)));
    }
    let sql = format!(
        "SELECT item, warehouse, qty FROM stock_reserved WHERE qty <> 0{filter} \
         ORDER BY item, warehouse"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in binds.values {
        query = query.bind(v);
    }
    let mut out = Vec::new();
    for r in query.fetch_all(db.pool()).await? {
        out.push(Reservation {
            item: text(&r, "item")?,
            warehouse: text(&r, "warehouse")?,
            qty: scaled_column(&r, "qty")?,
        });
    }
    Ok(out)
}

fn scaled(value: Decimal, field: &str) -> Result<i64, StoreError> {
    to_scaled(value).ok_or_else(|| DomainError::field(field, "field.out_of_range").into())
}

/// Locks the reservation row of `item` in `warehouse` (creating it at zero) and answers what
/// it holds.
async fn lock_reservation(conn: &mut Conn, item: &str, warehouse: &str) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO stock_reserved (item, warehouse, qty) VALUES ($1, $2, 0) \
         ON CONFLICT (item, warehouse) DO UPDATE SET qty = stock_reserved.qty RETURNING qty",
    )
    .bind(item.to_owned())
    .bind(warehouse.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("qty")?)
}

/// On hand of `item` in `warehouse` (all bins and lots), in the caller's transaction.
pub async fn on_hand(conn: &mut Conn, item: &str, warehouse: &str) -> Result<Decimal, StoreError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(qty), 0) AS BIGINT) AS qty FROM stock_balances \
         WHERE item = $1 AND warehouse = $2",
    )
    .bind(item.to_owned())
    .bind(warehouse.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    scaled_column(&row, "qty")
}

/// Reserves `qty` (base unit, positive) of `item` in `warehouse` inside the caller's
/// transaction and answers the new reserved total. Unless `allow_short`, it is refused with
/// `stock.not_available` (naming item, warehouse, what is available and what was asked)
/// when on hand minus what is already reserved does not cover it.
pub async fn reserve(
    conn: &mut Conn,
    item: &str,
    warehouse: &str,
    qty: Decimal,
    allow_short: bool,
) -> Result<Decimal, StoreError> {
    if qty <= Decimal::ZERO {
        return Err(DomainError::field("quantity", "field.not_positive").into());
    }
    let held = from_scaled(lock_reservation(conn, item, warehouse).await?);
    if !allow_short {
        let available = on_hand(conn, item, warehouse).await? - held;
        if available < qty {
            let e = FieldError::new("quantity", "stock.not_available")
                .with("item", item)
                .with("warehouse", warehouse)
                .with("available", available.max(Decimal::ZERO).normalize())
                .with("requested", qty.normalize());
            return Err(DomainError::Invalid(vec![e]).into());
        }
    }
    let total = held + qty;
    set_reserved(conn, item, warehouse, total).await?;
    Ok(total)
}

/// Releases `qty` (base unit, positive) of what is reserved for `item` in `warehouse`, inside
/// the caller's transaction, and answers what stays reserved. Releasing more than is
/// reserved is refused with `stock.release_exceeds`: it would hide a caller's mistake.
pub async fn release(
    conn: &mut Conn,
    item: &str,
    warehouse: &str,
    qty: Decimal,
) -> Result<Decimal, StoreError> {
    if qty <= Decimal::ZERO {
        return Err(DomainError::field("quantity", "field.not_positive").into());
    }
    let held = from_scaled(lock_reservation(conn, item, warehouse).await?);
    if qty > held {
        let e = FieldError::new("quantity", "stock.release_exceeds")
            .with("item", item)
            .with("warehouse", warehouse)
            .with("reserved", held.normalize())
            .with("requested", qty.normalize());
        return Err(DomainError::Invalid(vec![e]).into());
    }
    let total = held - qty;
    set_reserved(conn, item, warehouse, total).await?;
    Ok(total)
}

async fn set_reserved(
    conn: &mut Conn,
    item: &str,
    warehouse: &str,
    total: Decimal,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE stock_reserved SET qty = $1 WHERE item = $2 AND warehouse = $3")
        .bind(scaled(total, "quantity")?)
        .bind(item.to_owned())
        .bind(warehouse.to_owned())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An item with planning levels set, and its stock over all warehouses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelRow {
    /// Item code.
    pub item: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Base unit.
    pub unit: String,
    /// Safety stock (zero: not set).
    pub safety_stock: Decimal,
    /// Reorder point (zero: not set).
    pub reorder_point: Decimal,
    /// Maximum stock, if set.
    pub max_stock: Option<Decimal>,
    /// On hand over all warehouses.
    pub on_hand: Decimal,
    /// Reserved over all warehouses.
    pub reserved: Decimal,
}

/// Active items with a safety stock, reorder point or maximum set, with their stock summed
/// over warehouses, ordered by item code.
pub async fn items_with_levels(db: &Db) -> Result<Vec<LevelRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT i.code, i.name_zh, i.name_en, i.base_unit, i.safety_stock, i.reorder_point, \
         i.max_stock, \
         CAST(COALESCE((SELECT SUM(b.qty) FROM stock_balances b WHERE b.item = i.code), 0) \
         AS BIGINT) AS on_hand, \
         CAST(COALESCE((SELECT SUM(r.qty) FROM stock_reserved r WHERE r.item = i.code), 0) \
         AS BIGINT) AS reserved \
         FROM items i WHERE i.active = 1 \
         AND (i.safety_stock > 0 OR i.reorder_point > 0 OR i.max_stock IS NOT NULL) \
         ORDER BY i.code",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(LevelRow {
            item: text(r, "code")?,
            name_zh: text(r, "name_zh")?,
            name_en: text(r, "name_en")?,
            unit: text(r, "base_unit")?,
            safety_stock: scaled_column(r, "safety_stock")?,
            reorder_point: scaled_column(r, "reorder_point")?,
            max_stock: r.try_get::<Option<i64>, _>("max_stock")?.map(from_scaled),
            on_hand: scaled_column(r, "on_hand")?,
            reserved: scaled_column(r, "reserved")?,
        });
    }
    Ok(out)
}

/// An item's names and base unit, if it exists.
pub async fn item_names(
    db: &Db,
    item: &str,
) -> Result<Option<(String, String, String)>, StoreError> {
    let row = sqlx::query("SELECT name_zh, name_en, base_unit FROM items WHERE code = $1")
        .bind(item.to_owned())
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((text(&r, "name_zh")?, text(&r, "name_en")?, text(&r, "base_unit")?)))
        .transpose()
}

/// The bin an item is put away to in a warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultBin {
    /// Item code.
    pub item: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Bin code.
    pub bin: String,
}

/// The default bins, optionally of one item, ordered by item and warehouse.
pub async fn default_bins(db: &Db, item: Option<&str>) -> Result<Vec<DefaultBin>, StoreError> {
    let mut binds = Binds { values: Vec::new() };
    let only = item.map(|i| format!(" WHERE item = {}", binds.push(i))).unwrap_or_default();
    let sql = format!("SELECT item, warehouse, bin FROM item_bins{only} ORDER BY item, warehouse");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in binds.values {
        query = query.bind(v);
    }
    let mut out = Vec::new();
    for r in query.fetch_all(db.pool()).await? {
        out.push(DefaultBin {
            item: text(&r, "item")?,
            warehouse: text(&r, "warehouse")?,
            bin: text(&r, "bin")?,
        });
    }
    Ok(out)
}

/// Sets (or with an empty `bin`, clears) the default bin of `item` in `warehouse`, with an
/// audit row. The item and warehouse must exist and the bin must belong to the warehouse.
pub async fn set_default_bin(
    db: &Db,
    item: &str,
    warehouse: &str,
    bin: &str,
    user_id: Option<i64>,
) -> Result<(), StoreError> {
    let (item, warehouse, bin) = (item.to_owned(), warehouse.to_owned(), bin.to_owned());
    db.write(|conn, _| {
        let (item, warehouse, bin) = (item.clone(), warehouse.clone(), bin.clone());
        Box::pin(async move {
            let mut errors = Vec::new();
            let item_id: Option<i64> = sqlx::query("SELECT id FROM items WHERE code = $1")
                .bind(item.clone())
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("id"))
                .transpose()?;
            if item_id.is_none() {
                errors
                    .push(FieldError::new("item", "field.unknown_reference").with("value", &item));
            }
            let known_warehouse = sqlx::query("SELECT code FROM warehouses WHERE code = $1")
                .bind(warehouse.clone())
                .fetch_optional(&mut *conn)
                .await?;
            if known_warehouse.is_none() {
                errors.push(
                    FieldError::new("warehouse", "field.unknown_reference")
                        .with("value", &warehouse),
                );
            }
            if !bin.is_empty() {
                let in_warehouse =
                    sqlx::query("SELECT code FROM bins WHERE code = $1 AND warehouse = $2")
                        .bind(bin.clone())
                        .bind(warehouse.clone())
                        .fetch_optional(&mut *conn)
                        .await?;
                if in_warehouse.is_none() {
                    errors.push(
                        FieldError::new("bin", "stock.bin_not_in_warehouse")
                            .with("bin", &bin)
                            .with("warehouse", &warehouse),
                    );
                }
            }
            if !errors.is_empty() {
                return Err(DomainError::Invalid(errors).into());
            }
            let before: Option<String> =
                sqlx::query("SELECT bin FROM item_bins WHERE item = $1 AND warehouse = $2")
                    .bind(item.clone())
                    .bind(warehouse.clone())
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get("bin"))
                    .transpose()?;
            if bin.is_empty() {
                sqlx::query("DELETE FROM item_bins WHERE item = $1 AND warehouse = $2")
                    .bind(item.clone())
                    .bind(warehouse.clone())
                    .execute(&mut *conn)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO item_bins (item, warehouse, bin, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (item, warehouse) \
                     DO UPDATE SET bin = $3, updated_at = $4",
                )
                .bind(item.clone())
                .bind(warehouse.clone())
                .bind(bin.clone())
                .bind(now_text())
                .execute(&mut *conn)
                .await?;
            }
            let state = |b: &str| serde_json::json!({"warehouse": warehouse, "default_bin": b});
            audit::record(
                conn,
                "item",
                item_id.unwrap_or_default(),
                "default_bin",
                user_id,
                before.as_deref().map(state),
                (!bin.is_empty()).then(|| state(&bin)),
            )
            .await?;
            Ok(())
        })
    })
    .await
}

/// Where to put away each (item, warehouse) pair: its default bin, else the bin of that
/// warehouse holding most of the item now. Pairs with neither are left out.
pub async fn putaway_suggestions(
    db: &Db,
    pairs: &[(String, String)],
) -> Result<HashMap<(String, String), String>, StoreError> {
    let mut out = HashMap::new();
    for (item, warehouse) in pairs {
        if out.contains_key(&(item.clone(), warehouse.clone())) {
            continue;
        }
        let default = sqlx::query("SELECT bin FROM item_bins WHERE item = $1 AND warehouse = $2")
            .bind(item.clone())
            .bind(warehouse.clone())
            .fetch_optional(db.pool())
            .await?
            .map(|r| text(&r, "bin"))
            .transpose()?;
        let bin = match default {
            Some(b) => Some(b),
            None => sqlx::query(
                "SELECT bin, CAST(SUM(qty) AS BIGINT) AS qty FROM stock_balances \
                 WHERE item = $1 AND warehouse = $2 AND bin <> '' GROUP BY bin \
                 HAVING SUM(qty) > 0 ORDER BY qty DESC, bin LIMIT 1",
            )
            .bind(item.clone())
            .bind(warehouse.clone())
            .fetch_optional(db.pool())
            .await?
            .map(|r| text(&r, "bin"))
            .transpose()?,
        };
        if let Some(b) = bin {
            out.insert((item.clone(), warehouse.clone()), b);
        }
    }
    Ok(out)
}
