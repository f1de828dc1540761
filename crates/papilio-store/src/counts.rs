//! Physical counts 盘点: starting a count (freezing book quantities), entering what was counted,
//! the variance of one count, and count-variance analysis over time.
//!
//! A count is a `stock_count` document whose lines are every (item, warehouse, bin, lot)
//! balance in scope, with `book_qty` the balance when the count started and `quantity` what
//! was counted (the book quantity until someone enters another). Approval posts the
//! differences through the document's [`crate::stock::StockPosting`] hook.
//!
//! While a count is open (its document a draft or submitted), every (item, warehouse) it
//! covers is frozen: [`check_not_frozen`], called at the start of every stock posting, refuses
//! a posting of any other document that touches a frozen key, with `count.frozen` naming the
//! item, warehouse and count. Approving or cancelling the count releases the freeze (the
//! document's state decides; no row changes). The count's own approval passes, after checking
//! that its book quantities still equal the balances, so an edited `book_qty` cannot post a
//! made-up difference. A second count over a frozen key is refused when it starts.
//!
//! Reverse approvals of other documents are not checked (only posting calls the check); one
//! that changes a frozen balance makes the count's approval fail with `count.book_changed`.
//! Quantities of count lines are in the item's base unit. The design and its limits are in
//! `docs/design/inventory-counts.md`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use papilio_core::document::DocAction;
use papilio_core::inventory::abc_classes;
use papilio_core::value::from_scaled;
use papilio_core::{DomainError, FieldError};
use rust_decimal::Decimal;
use sqlx::Row;

use crate::db::{Conn, Db, now_text};
use crate::documents::{self, Actor, DocType, Document, Draft, DraftLine, StockFields};
use crate::error::StoreError;
use crate::stock::valuation_per_warehouse;

/// The document type of counts.
pub const COUNT_TYPE: &str = "stock_count";

/// Share of usage value that makes an item class A, in percent.
pub const ABC_A_PCT: Decimal = Decimal::from_parts(80, 0, 0, false, 0);

/// Share of usage value after A that makes an item class B, in percent.
pub const ABC_B_PCT: Decimal = Decimal::from_parts(15, 0, 0, false, 0);

/// Which balances of a warehouse a count covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountScope {
    /// Every balance of the warehouse.
    Warehouse,
    /// Only these bins ('' is "no bin").
    Bins(Vec<String>),
    /// Only items of this ABC class (`A`, `B` or `C`) by issue value over the last 12 months:
    /// a cycle count.
    Class(char),
}

impl CountScope {
    /// Stable code, as stored.
    pub fn code(&self) -> &'static str {
        match self {
            CountScope::Warehouse => "warehouse",
            CountScope::Bins(_) => "bins",
            CountScope::Class(_) => "abc",
        }
    }

    fn value(&self) -> String {
        match self {
            CountScope::Warehouse => String::new(),
            CountScope::Bins(bins) => bins.join(","),
            CountScope::Class(c) => c.to_string(),
        }
    }
}

/// What starting a count needs.
#[derive(Debug, Clone)]
pub struct CountRequest {
    /// Warehouse counted.
    pub warehouse: String,
    /// Which of its balances.
    pub scope: CountScope,
    /// Count date (the document date; ABC usage runs 12 months back from it).
    pub date: NaiveDate,
    /// Free text.
    pub note: Option<String>,
}

fn invalid(field: &str, rule: &str) -> FieldError {
    FieldError::new(field, rule)
}

/// Issue value per item over the 12 months up to `date`: every outgoing move except transfers
/// and counts.
pub async fn issue_values(db: &Db, date: NaiveDate) -> Result<Vec<(String, Decimal)>, StoreError> {
    let from = date - chrono::Duration::days(365);
    let rows = sqlx::query(
        "SELECT i.code AS item, CAST(COALESCE(SUM(CASE WHEN m.qty < 0 AND m.doc_type NOT IN \
         ('stock_transfer', 'stock_count') AND m.move_date > $1 AND m.move_date <= $2 \
         THEN -m.value ELSE 0 END), 0) AS BIGINT) AS used \
         FROM items i LEFT JOIN stock_moves m ON m.item = i.code GROUP BY i.code ORDER BY i.code",
    )
    .bind(from.to_string())
    .bind(date.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>("item")?, from_scaled(r.try_get("used")?))))
        .collect()
}

/// ABC class of every item by issue value over the 12 months up to `date`.
pub async fn item_classes(db: &Db, date: NaiveDate) -> Result<HashMap<String, char>, StoreError> {
    let usage = issue_values(db, date).await?;
    Ok(abc_classes(&usage, ABC_A_PCT, ABC_B_PCT).into_iter().collect())
}

/// One balance in a count's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BookLine {
    item: String,
    base_unit: String,
    bin: String,
    lot: String,
    qty: i64,
}

async fn book_lines(
    conn: &mut Conn,
    warehouse: &str,
    lock: bool,
) -> Result<Vec<BookLine>, StoreError> {
    if lock {
        // On PostgreSQL this waits for postings that already changed these rows and locks them
        // until commit; on SQLite the write transaction holds the database anyway.
        sqlx::query("UPDATE stock_balances SET qty = qty WHERE warehouse = $1")
            .bind(warehouse.to_owned())
            .execute(&mut *conn)
            .await?;
    }
    let rows = sqlx::query(
        "SELECT b.item, i.base_unit, b.bin, b.lot, b.qty FROM stock_balances b \
         JOIN items i ON i.code = b.item WHERE b.warehouse = $1 AND b.qty > 0 \
         ORDER BY b.bin, b.item, b.lot",
    )
    .bind(warehouse.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(BookLine {
                item: r.try_get("item")?,
                base_unit: r.try_get("base_unit")?,
                bin: r.try_get("bin")?,
                lot: r.try_get("lot")?,
                qty: r.try_get("qty")?,
            })
        })
        .collect()
}

fn in_scope(line: &BookLine, scope: &CountScope, classes: &HashMap<String, char>) -> bool {
    match scope {
        CountScope::Warehouse => true,
        CountScope::Bins(bins) => bins.contains(&line.bin),
        CountScope::Class(c) => classes.get(&line.item).copied().unwrap_or('C') == *c,
    }
}

async fn warehouse_exists(db: &Db, code: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT code FROM warehouses WHERE code = $1")
        .bind(code.to_owned())
        .fetch_optional(db.pool())
        .await?
        .is_some())
}

/// Starts a count: creates the `stock_count` draft with a line per balance in scope (book
/// quantity = counted quantity = the balance) and freezes its (item, warehouse) keys.
/// Refused when nothing is in scope, when another open count holds one of the keys, or when a
/// balance moved while the count was being set up (the draft is then cancelled).
pub async fn start(
    db: &Db,
    doc_type: &DocType,
    req: &CountRequest,
    actor: &Actor,
) -> Result<Document, StoreError> {
    if !warehouse_exists(db, &req.warehouse).await? {
        return Err(DomainError::Invalid(vec![
            invalid("warehouse", "field.unknown_reference").with("value", &req.warehouse),
        ])
        .into());
    }
    if let CountScope::Class(c) = req.scope
        && !matches!(c, 'A' | 'B' | 'C')
    {
        return Err(DomainError::field("class", "field.not_choice").into());
    }
    let classes = match req.scope {
        CountScope::Class(_) => item_classes(db, req.date).await?,
        _ => HashMap::new(),
    };
    let mut conn = db.pool().acquire().await?;
    let book: Vec<BookLine> = book_lines(&mut conn, &req.warehouse, false)
        .await?
        .into_iter()
        .filter(|l| in_scope(l, &req.scope, &classes))
        .collect();
    drop(conn);
    if book.is_empty() {
        return Err(DomainError::field("scope", "count.nothing_to_count").into());
    }
    let draft = Draft {
        doc_date: Some(req.date),
        note: req.note.clone(),
        lines: book
            .iter()
            .map(|l| {
                let qty = from_scaled(l.qty);
                DraftLine {
                    item: Some(l.item.clone()),
                    quantity: qty,
                    unit: Some(l.base_unit.clone()),
                    warehouse: Some(req.warehouse.clone()),
                    stock: StockFields {
                        bin: (!l.bin.is_empty()).then(|| l.bin.clone()),
                        lot: (!l.lot.is_empty()).then(|| l.lot.clone()),
                        book_qty: Some(qty),
                        ..StockFields::default()
                    },
                    ..DraftLine::default()
                }
            })
            .collect(),
        ..Draft::default()
    };
    let doc = documents::create(db, doc_type, &draft, actor).await?;
    match freeze(db, &doc, req, &book, &classes, actor).await {
        Ok(()) => {
            tracing::info!(
                document.id = doc.id,
                warehouse.id = %req.warehouse,
                lines = book.len(),
                "count started"
            );
            documents::get(db, doc.id).await
        }
        Err(e) => {
            let cancelled = documents::transition(
                db,
                doc_type,
                doc.id,
                doc.version,
                DocAction::Cancel,
                actor,
                Some("count could not freeze its balances"),
            )
            .await;
            if let Err(c) = cancelled {
                tracing::warn!(document.id = doc.id, error = %c, "unfrozen count draft left");
            }
            Err(e)
        }
    }
}

/// Records the freeze of `doc`, checking in the same transaction that no other open count
/// holds a key and that the balances still equal what the draft froze.
async fn freeze(
    db: &Db,
    doc: &Document,
    req: &CountRequest,
    book: &[BookLine],
    classes: &HashMap<String, char>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let keys: Vec<String> =
        book.iter().map(|l| l.item.clone()).collect::<HashSet<_>>().into_iter().collect();
    db.write(|conn, _| {
        let keys = keys.clone();
        Box::pin(async move {
            let mut keys = keys;
            keys.sort();
            for item in &keys {
                if let Some(other) = open_freeze(conn, item, &req.warehouse, None).await? {
                    return Err(DomainError::Invalid(vec![
                        invalid("scope", "count.already_frozen")
                            .with("item", item)
                            .with("warehouse", &req.warehouse)
                            .with("count", other),
                    ])
                    .into());
                }
                sqlx::query(
                    "INSERT INTO stock_count_freezes (document_id, item, warehouse) \
                     VALUES ($1, $2, $3)",
                )
                .bind(doc.id)
                .bind(item.clone())
                .bind(req.warehouse.clone())
                .execute(&mut *conn)
                .await?;
            }
            let now: Vec<BookLine> = book_lines(conn, &req.warehouse, true)
                .await?
                .into_iter()
                .filter(|l| in_scope(l, &req.scope, classes))
                .collect();
            if now != book {
                return Err(DomainError::field("scope", "count.moved_while_starting").into());
            }
            sqlx::query(
                "INSERT INTO stock_counts (document_id, warehouse, scope, scope_value, \
                 started_by, started_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(doc.id)
            .bind(req.warehouse.clone())
            .bind(req.scope.code())
            .bind(req.scope.value())
            .bind(actor.user_id)
            .bind(now_text())
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    })
    .await
}

/// The number of an open count (other than `except`) freezing (item, warehouse), if any.
async fn open_freeze(
    conn: &mut Conn,
    item: &str,
    warehouse: &str,
    except: Option<i64>,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query(
        "SELECT d.number FROM stock_count_freezes f JOIN documents d ON d.id = f.document_id \
         WHERE f.item = $1 AND f.warehouse = $2 AND d.state IN ('draft', 'submitted') \
         AND d.id <> $3 ORDER BY d.number",
    )
    .bind(item.to_owned())
    .bind(warehouse.to_owned())
    .bind(except.unwrap_or(0))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get::<String, _>("number")).transpose()?)
}

/// Refuses posting `doc` while an open count freezes an (item, warehouse) one of its lines
/// touches (a transfer's target warehouse too). A count's own approval passes once its lines
/// are checked against the balances it froze. Called at the start of every stock posting.
pub async fn check_not_frozen(conn: &mut Conn, doc: &Document) -> Result<(), StoreError> {
    let own = sqlx::query("SELECT document_id FROM stock_counts WHERE document_id = $1")
        .bind(doc.id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in doc.lines.iter().enumerate() {
        let Some(item) = &line.item else { continue };
        let targets = [line.warehouse.as_ref(), line.stock.to_warehouse.as_ref()];
        for warehouse in targets.into_iter().flatten() {
            if !seen.insert((item.clone(), warehouse.clone())) {
                continue;
            }
            let except = own.then_some(doc.id);
            if let Some(count) = open_freeze(conn, item, warehouse, except).await? {
                errors.push(
                    invalid(&format!("lines[{i}].item"), "count.frozen")
                        .with("item", item)
                        .with("warehouse", warehouse)
                        .with("count", count),
                );
            }
        }
    }
    if own && errors.is_empty() {
        check_own_lines(conn, doc, &mut errors).await?;
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors).into()) }
}

/// A started count's lines must stay on keys it froze, with the book quantities it froze.
async fn check_own_lines(
    conn: &mut Conn,
    doc: &Document,
    errors: &mut Vec<FieldError>,
) -> Result<(), StoreError> {
    for (i, line) in doc.lines.iter().enumerate() {
        let (Some(item), Some(warehouse)) = (&line.item, &line.warehouse) else { continue };
        let frozen = sqlx::query(
            "SELECT item FROM stock_count_freezes \
             WHERE document_id = $1 AND item = $2 AND warehouse = $3",
        )
        .bind(doc.id)
        .bind(item.clone())
        .bind(warehouse.clone())
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
        if !frozen {
            errors.push(
                invalid(&format!("lines[{i}].item"), "count.line_not_frozen")
                    .with("item", item)
                    .with("warehouse", warehouse),
            );
            continue;
        }
        let balance = sqlx::query(
            "SELECT qty FROM stock_balances \
             WHERE item = $1 AND warehouse = $2 AND bin = $3 AND lot = $4",
        )
        .bind(item.clone())
        .bind(warehouse.clone())
        .bind(line.stock.bin.clone().unwrap_or_default())
        .bind(line.stock.lot.clone().unwrap_or_default())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get::<i64, _>("qty"))
        .transpose()?
        .map_or(Decimal::ZERO, from_scaled);
        if line.stock.book_qty != Some(balance) {
            errors.push(
                invalid(&format!("lines[{i}].book_qty"), "count.book_changed")
                    .with("item", item)
                    .with("book", balance.normalize()),
            );
        }
    }
    Ok(())
}

/// One counted quantity to enter, by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountEntry {
    /// Row number (in a file) or position (in a request), for messages.
    pub row: usize,
    /// Item code.
    pub item: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Bin ('' for none).
    pub bin: String,
    /// Lot ('' for none).
    pub lot: String,
    /// Quantity counted, in the base unit.
    pub counted: Decimal,
}

/// Applies `entries` to the count `doc` and returns the new draft, or every entry whose key
/// is not a line of the count (field `rows[n].item`, rule `count.unknown_key`). Keys may be
/// entered for lines not yet counted; lines not named keep their quantity.
pub fn apply_entries(doc: &Document, entries: &[CountEntry]) -> Result<Draft, StoreError> {
    let mut counted: HashMap<(String, String, String, String), Decimal> = HashMap::new();
    let keys: HashSet<(String, String, String, String)> = doc.lines.iter().map(line_key).collect();
    let mut errors = Vec::new();
    for e in entries {
        let key = (e.item.clone(), e.warehouse.clone(), e.bin.clone(), e.lot.clone());
        if keys.contains(&key) {
            counted.insert(key, e.counted);
        } else {
            errors.push(
                invalid(&format!("rows[{}].item", e.row), "count.unknown_key")
                    .with("row", e.row)
                    .with("item", &e.item)
                    .with("warehouse", &e.warehouse)
                    .with("bin", &e.bin)
                    .with("lot", &e.lot),
            );
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    let mut draft = doc.to_draft();
    for (line, stored) in draft.lines.iter_mut().zip(&doc.lines) {
        if let Some(qty) = counted.get(&line_key(stored)) {
            line.quantity = *qty;
        }
    }
    Ok(draft)
}

fn line_key(l: &documents::Line) -> (String, String, String, String) {
    (
        l.item.clone().unwrap_or_default(),
        l.warehouse.clone().unwrap_or_default(),
        l.stock.bin.clone().unwrap_or_default(),
        l.stock.lot.clone().unwrap_or_default(),
    )
}

/// Enters counted quantities into the count draft `id` at `version`.
pub async fn enter(
    db: &Db,
    doc_type: &DocType,
    id: i64,
    version: i64,
    entries: &[CountEntry],
    actor: &Actor,
) -> Result<Document, StoreError> {
    let doc = documents::get(db, id).await?;
    if doc.doc_type != COUNT_TYPE {
        return Err(StoreError::not_found(COUNT_TYPE, id));
    }
    let draft = apply_entries(&doc, entries)?;
    documents::update_draft(db, doc_type, id, version, &draft, actor).await
}

/// A started count as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountSummary {
    /// Document id.
    pub id: i64,
    /// Document number.
    pub number: String,
    /// Document state code.
    pub state: String,
    /// Count date.
    pub date: String,
    /// Warehouse.
    pub warehouse: String,
    /// Scope code (`warehouse`, `bins`, `abc`).
    pub scope: String,
    /// Bins or class.
    pub scope_value: String,
    /// Who started it (user name).
    pub started_by: String,
    /// Number of lines.
    pub lines: i64,
}

/// Started counts, newest first (at most 500).
pub async fn list(db: &Db) -> Result<Vec<CountSummary>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.id, d.number, d.state, d.doc_date, c.warehouse, c.scope, c.scope_value, \
         u.username, (SELECT COUNT(*) FROM document_lines l WHERE l.document_id = d.id) AS n \
         FROM stock_counts c JOIN documents d ON d.id = c.document_id \
         JOIN users u ON u.id = c.started_by ORDER BY d.doc_date DESC, d.number DESC LIMIT 500",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CountSummary {
                id: r.try_get("id")?,
                number: r.try_get("number")?,
                state: r.try_get("state")?,
                date: r.try_get("doc_date")?,
                warehouse: r.try_get("warehouse")?,
                scope: r.try_get("scope")?,
                scope_value: r.try_get("scope_value")?,
                started_by: r.try_get("username")?,
                lines: r.try_get("n")?,
            })
        })
        .collect()
}

/// The count `id` (a started count) with its summary.
pub async fn get(db: &Db, id: i64) -> Result<(CountSummary, Document), StoreError> {
    let summary = list_one(db, id).await?;
    let doc = documents::get(db, id).await?;
    Ok((summary, doc))
}

async fn list_one(db: &Db, id: i64) -> Result<CountSummary, StoreError> {
    let r = sqlx::query(
        "SELECT d.id, d.number, d.state, d.doc_date, c.warehouse, c.scope, c.scope_value, \
         u.username, (SELECT COUNT(*) FROM document_lines l WHERE l.document_id = d.id) AS n \
         FROM stock_counts c JOIN documents d ON d.id = c.document_id \
         JOIN users u ON u.id = c.started_by WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found(COUNT_TYPE, id))?;
    Ok(CountSummary {
        id: r.try_get("id")?,
        number: r.try_get("number")?,
        state: r.try_get("state")?,
        date: r.try_get("doc_date")?,
        warehouse: r.try_get("warehouse")?,
        scope: r.try_get("scope")?,
        scope_value: r.try_get("scope_value")?,
        started_by: r.try_get("username")?,
        lines: r.try_get("n")?,
    })
}

/// What an item looks like on a count sheet and in the variance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemInfo {
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Category code ('' for none).
    pub category: String,
    /// Standard cost.
    pub standard_cost: Decimal,
}

async fn item_info(db: &Db, codes: &[String]) -> Result<HashMap<String, ItemInfo>, StoreError> {
    let mut out = HashMap::new();
    for code in codes.iter().collect::<HashSet<_>>() {
        let row = sqlx::query(
            "SELECT name_zh, name_en, category, standard_cost FROM items WHERE code = $1",
        )
        .bind(code.clone())
        .fetch_optional(db.pool())
        .await?;
        if let Some(r) = row {
            out.insert(
                code.clone(),
                ItemInfo {
                    name_zh: r.try_get("name_zh")?,
                    name_en: r.try_get::<Option<String>, _>("name_en")?.unwrap_or_default(),
                    category: r.try_get::<Option<String>, _>("category")?.unwrap_or_default(),
                    standard_cost: from_scaled(r.try_get("standard_cost")?),
                },
            );
        }
    }
    Ok(out)
}

/// Item names, categories and standard costs of `codes`.
pub async fn items(db: &Db, codes: &[String]) -> Result<HashMap<String, ItemInfo>, StoreError> {
    item_info(db, codes).await
}

/// The current average unit cost of `item` (in `warehouse` when values are kept per
/// warehouse), else its standard cost.
async fn unit_cost(
    db: &Db,
    item: &str,
    warehouse: &str,
    per_warehouse: bool,
    standard: Decimal,
) -> Result<Decimal, StoreError> {
    let scope = if per_warehouse { warehouse } else { "*" };
    let row = sqlx::query("SELECT qty, value FROM stock_values WHERE item = $1 AND scope = $2")
        .bind(item.to_owned())
        .bind(scope.to_owned())
        .fetch_optional(db.pool())
        .await?;
    if let Some(r) = row {
        let (qty, value) = (from_scaled(r.try_get("qty")?), from_scaled(r.try_get("value")?));
        if qty > Decimal::ZERO {
            return Ok(value / qty);
        }
    }
    Ok(standard)
}

/// One line of a count's variance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarianceLine {
    /// Document line id.
    pub line_id: i64,
    /// Item code.
    pub item: String,
    /// Warehouse.
    pub warehouse: String,
    /// Bin ('' for none).
    pub bin: String,
    /// Lot ('' for none).
    pub lot: String,
    /// Unit.
    pub unit: String,
    /// Book quantity frozen at the start.
    pub book: Decimal,
    /// Counted quantity.
    pub counted: Decimal,
    /// Counted − book.
    pub diff: Decimal,
    /// Unit cost the difference is valued at.
    pub unit_cost: Decimal,
    /// Value of the difference: as posted once approved, else at `unit_cost`.
    pub value: Decimal,
}

/// The variance of count document `doc`: per line and valued. Once approved the value is
/// what the posting moved; before, the difference at the item's current average (per
/// warehouse when values are kept so), else its standard cost.
pub async fn variance(db: &Db, doc: &Document) -> Result<Vec<VarianceLine>, StoreError> {
    let codes: Vec<String> = doc.lines.iter().filter_map(|l| l.item.clone()).collect();
    let info = item_info(db, &codes).await?;
    let mut conn = db.pool().acquire().await?;
    let per_warehouse = valuation_per_warehouse(&mut conn).await?;
    drop(conn);
    let posted = posted_values(db, doc.id).await?;
    let mut out = Vec::new();
    for l in &doc.lines {
        let (item, warehouse) = (l.item.clone().unwrap_or_default(), l.warehouse.clone());
        let warehouse = warehouse.unwrap_or_default();
        let book = l.stock.book_qty.unwrap_or_default();
        let diff = l.quantity - book;
        let standard = info.get(&item).map(|i| i.standard_cost).unwrap_or_default();
        let cost = unit_cost(db, &item, &warehouse, per_warehouse, standard).await?;
        let value = match posted.get(&l.id) {
            Some(v) => *v,
            None => papilio_core::value::round_to(diff * cost, 2),
        };
        out.push(VarianceLine {
            line_id: l.id,
            item,
            warehouse,
            bin: l.stock.bin.clone().unwrap_or_default(),
            lot: l.stock.lot.clone().unwrap_or_default(),
            unit: l.unit.clone().unwrap_or_default(),
            book,
            counted: l.quantity,
            diff,
            unit_cost: papilio_core::value::round_to(cost, 6),
            value,
        });
    }
    Ok(out)
}

/// Net posted value per line of document `id`.
async fn posted_values(db: &Db, id: i64) -> Result<HashMap<i64, Decimal>, StoreError> {
    let rows = sqlx::query(
        "SELECT line_id, CAST(SUM(value) AS BIGINT) AS value, COUNT(*) AS n FROM stock_moves \
         WHERE document_id = $1 GROUP BY line_id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        out.insert(r.try_get::<i64, _>("line_id")?, from_scaled(r.try_get("value")?));
    }
    Ok(out)
}

/// One group of the count-variance analysis.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VarianceGroup {
    /// The group's key (a bin, a class, a user name, a document type).
    pub key: String,
    /// Count lines in the group.
    pub lines: i64,
    /// Lines where counted differs from book.
    pub lines_off: i64,
    /// Net quantity difference.
    pub diff_qty: Decimal,
    /// Sum of absolute quantity differences.
    pub abs_qty: Decimal,
    /// Net value difference.
    pub diff_value: Decimal,
    /// Sum of absolute value differences.
    pub abs_value: Decimal,
}

impl VarianceGroup {
    fn add(&mut self, diff: Decimal, value: Decimal) {
        self.lines += 1;
        if !diff.is_zero() {
            self.lines_off += 1;
        }
        self.diff_qty += diff;
        self.abs_qty += diff.abs();
        self.diff_value += value;
        self.abs_value += value.abs();
    }
}

/// Count-variance analysis of approved counts dated in a period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VarianceAnalysis {
    /// Counts analysed.
    pub counts: i64,
    /// All lines together.
    pub total: VarianceGroup,
    /// By bin ('' for none).
    pub by_bin: Vec<VarianceGroup>,
    /// By ABC class at the count date (issue value over 12 months).
    pub by_class: Vec<VarianceGroup>,
    /// By item category ('' for none).
    pub by_category: Vec<VarianceGroup>,
    /// By clerk: who last entered quantities, else who started the count.
    pub by_clerk: Vec<VarianceGroup>,
    /// By document type of the moves on the line's (item, warehouse) since its previous
    /// count: a line counts once under each type that moved its key.
    pub by_move_type: Vec<VarianceGroup>,
}

/// A counted line of an approved count, as the analysis reads it.
#[derive(Debug, Clone)]
struct CountedLine {
    document_id: i64,
    date: NaiveDate,
    item: String,
    warehouse: String,
    bin: String,
    diff: Decimal,
    value: Decimal,
}

async fn approved_lines(db: &Db, to: NaiveDate) -> Result<Vec<CountedLine>, StoreError> {
    let rows = sqlx::query(
        "SELECT d.id, d.doc_date, l.id AS line_id, l.item, l.warehouse, l.bin, l.quantity, \
         l.book_qty, CAST(COALESCE((SELECT SUM(m.value) FROM stock_moves m \
         WHERE m.line_id = l.id), 0) AS BIGINT) AS value \
         FROM documents d JOIN document_lines l ON l.document_id = d.id \
         WHERE d.doc_type = 'stock_count' AND d.state IN ('approved', 'closed') \
         AND d.doc_date <= $1 ORDER BY d.doc_date, d.id, l.line_no",
    )
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let date: String = r.try_get("doc_date")?;
        let qty = from_scaled(r.try_get("quantity")?);
        let book = r.try_get::<Option<i64>, _>("book_qty")?.map_or(Decimal::ZERO, from_scaled);
        out.push(CountedLine {
            document_id: r.try_get("id")?,
            date: date.parse().map_err(|_| StoreError::Corrupt(date.clone()))?,
            item: r.try_get::<Option<String>, _>("item")?.unwrap_or_default(),
            warehouse: r.try_get::<Option<String>, _>("warehouse")?.unwrap_or_default(),
            bin: r.try_get::<Option<String>, _>("bin")?.unwrap_or_default(),
            diff: qty - book,
            value: from_scaled(r.try_get("value")?),
        });
    }
    Ok(out)
}

/// Who entered each count's quantities: the last user to update the document, else its
/// creator.
async fn clerks(db: &Db, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
    let mut out = HashMap::new();
    for id in ids {
        let row = sqlx::query(
            "SELECT u.username FROM audit_log a JOIN users u ON u.id = a.user_id \
             WHERE a.entity = 'document' AND a.entity_id = $1 AND a.action IN ('update', \
             'create') ORDER BY a.at DESC, a.id DESC",
        )
        .bind(*id)
        .fetch_optional(db.pool())
        .await?;
        if let Some(r) = row {
            out.insert(*id, r.try_get::<String, _>("username")?);
        }
    }
    Ok(out)
}

/// Non-count move dates per (item, warehouse) and document type, up to `to`.
async fn move_dates(
    db: &Db,
    to: NaiveDate,
) -> Result<HashMap<(String, String), Vec<(NaiveDate, String)>>, StoreError> {
    let rows = sqlx::query(
        "SELECT item, warehouse, doc_type, move_date FROM stock_moves \
         WHERE doc_type <> 'stock_count' AND move_date <= $1 \
         GROUP BY item, warehouse, doc_type, move_date",
    )
    .bind(to.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut out: HashMap<(String, String), Vec<(NaiveDate, String)>> = HashMap::new();
    for r in rows {
        let date: String = r.try_get("move_date")?;
        let date: NaiveDate = date.parse().map_err(|_| StoreError::Corrupt(date.clone()))?;
        out.entry((r.try_get("item")?, r.try_get("warehouse")?))
            .or_default()
            .push((date, r.try_get("doc_type")?));
    }
    Ok(out)
}

fn groups(map: BTreeMap<String, VarianceGroup>) -> Vec<VarianceGroup> {
    let mut v: Vec<VarianceGroup> =
        map.into_iter().map(|(key, g)| VarianceGroup { key, ..g }).collect();
    v.sort_by(|a, b| b.abs_value.cmp(&a.abs_value).then_with(|| a.key.cmp(&b.key)));
    v
}

/// Count-variance analysis of the counts approved and dated from `from` to `to`: differences
/// by bin, ABC class, item category, clerk and the document types that moved each line's
/// stock since its previous count (or since the beginning).
pub async fn analysis(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<VarianceAnalysis, StoreError> {
    let all = approved_lines(db, to).await?;
    let classes = item_classes(db, to).await?;
    let codes: Vec<String> = all.iter().map(|l| l.item.clone()).collect();
    let info = item_info(db, &codes).await?;
    let ids: Vec<i64> = all
        .iter()
        .filter(|l| l.date >= from)
        .map(|l| l.document_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let clerk = clerks(db, &ids).await?;
    let moves = move_dates(db, to).await?;

    let mut out =
        VarianceAnalysis { counts: i64::try_from(ids.len()).unwrap_or(0), ..Default::default() };
    let (mut bins, mut class, mut category, mut clerk_g, mut types) = (
        BTreeMap::<String, VarianceGroup>::new(),
        BTreeMap::<String, VarianceGroup>::new(),
        BTreeMap::<String, VarianceGroup>::new(),
        BTreeMap::<String, VarianceGroup>::new(),
        BTreeMap::<String, VarianceGroup>::new(),
    );
    // Per (item, warehouse): the last count seen, its date, and the count before it.
    let mut previous: HashMap<(String, String), (i64, NaiveDate, Option<NaiveDate>)> =
        HashMap::new();
    for l in &all {
        let key = (l.item.clone(), l.warehouse.clone());
        let since = match previous.get(&key).copied() {
            Some((doc, _, before)) if doc == l.document_id => before,
            Some((_, date, _)) => {
                previous.insert(key.clone(), (l.document_id, l.date, Some(date)));
                Some(date)
            }
            None => {
                previous.insert(key.clone(), (l.document_id, l.date, None));
                None
            }
        };
        if l.date < from {
            continue;
        }
        out.total.add(l.diff, l.value);
        bins.entry(l.bin.clone()).or_default().add(l.diff, l.value);
        let c = classes.get(&l.item).copied().unwrap_or('C').to_string();
        class.entry(c).or_default().add(l.diff, l.value);
        let cat = info.get(&l.item).map(|i| i.category.clone()).unwrap_or_default();
        category.entry(cat).or_default().add(l.diff, l.value);
        let who = clerk.get(&l.document_id).cloned().unwrap_or_default();
        clerk_g.entry(who).or_default().add(l.diff, l.value);
        let mut seen = HashSet::new();
        for (date, doc_type) in moves.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
            let after = since.is_none_or(|s| *date > s);
            if after && *date <= l.date && seen.insert(doc_type.clone()) {
                types.entry(doc_type.clone()).or_default().add(l.diff, l.value);
            }
        }
    }
    out.by_bin = groups(bins);
    out.by_class = groups(class);
    out.by_category = groups(category);
    out.by_clerk = groups(clerk_g);
    out.by_move_type = groups(types);
    Ok(out)
}
