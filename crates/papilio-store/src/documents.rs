//! The document framework 单据 in storage: numbering, header and lines, push-down links,
//! transitions with approval rules and posting hooks, the document flow and the inbox.
//!
//! Every business document type registers a [`DocType`]. All types share the `documents` and
//! `document_lines` tables; what a type posts on approval lives in its [`PostingHooks`], which
//! run inside the approving transaction, so a document is approved and posted or neither.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use papilio_core::document::{self, DocAction, DocState, NumberFormat};
use papilio_core::value::{from_scaled, round_to, to_scaled};
use papilio_core::{DomainError, FieldError};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit;
use crate::db::{Conn, Db, TxFuture, new_id, now_text};
use crate::error::StoreError;
use crate::master::{Page, reference_exists};

/// A rule that sends a document to an approver instead of letting it through (price under the
/// floor, credit exceeded...). Rules run when the document is submitted.
pub trait ApprovalRule: Send + Sync {
    /// Stable code, also the message-catalogue key of the reason.
    fn code(&self) -> &'static str;
    /// The role whose holder must approve the exception.
    fn required_role(&self) -> &'static str;
    /// `Some(params)` when the document needs this approval; the params explain why. An
    /// `Err` refuses the transition outright (credit blocked rather than sent to approval).
    fn check<'c>(
        &'c self,
        conn: &'c mut Conn,
        doc: &'c Document,
    ) -> TxFuture<'c, Option<serde_json::Value>>;
    /// Whether reopening a closed document must pass this rule too: a reopened document goes
    /// straight back to approved, so a rule that objects then refuses the reopen.
    fn checks_reopen(&self) -> bool {
        false
    }
}

/// Fills in what a document type derives from its lines before they are stored: prices and
/// why, cost estimates, promised dates, what is inherited from a source line. Runs inside the
/// creating (or redrafting) transaction; an `Err` refuses the draft with nothing written.
pub trait DraftHook: Send + Sync {
    /// Completes or checks `draft`.
    fn prepare<'c>(
        &'c self,
        conn: &'c mut Conn,
        doc_type: &'c DocType,
        draft: &'c mut Draft,
    ) -> TxFuture<'c, ()>;
}

/// What approving a document type posts, and how a reverse approval undoes it.
pub trait PostingHooks: Send + Sync {
    /// Runs inside the approving transaction.
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()>;
    /// Runs inside the reverse-approving transaction.
    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()>;
    /// Runs inside the closing transaction (an order closed short releases what it held).
    fn on_close<'c>(&'c self, _conn: &'c mut Conn, _doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async { Ok(()) })
    }
    /// Runs inside the reopening transaction.
    fn on_reopen<'c>(&'c self, _conn: &'c mut Conn, _doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// A document type's declaration.
pub struct DocType {
    /// Stable code (`sales_order`), also the permission resource.
    pub code: &'static str,
    /// The business area it belongs to.
    pub area: &'static str,
    /// Its number series.
    pub number: NumberFormat,
    /// The master-data kind of its partner (`customer`, `supplier`), if it has one.
    pub partner: Option<&'static str>,
    /// Document types whose lines can be pushed down into this one.
    pub sources: &'static [&'static str],
    /// How far over the source's open quantity a push-down may go, in percent.
    pub over_tolerance_pct: Decimal,
    /// Approval rules, checked on submit and again when an approval is reversed.
    pub rules: Vec<Arc<dyn ApprovalRule>>,
    /// What approval posts.
    pub hooks: Option<Arc<dyn PostingHooks>>,
    /// Which of [`STOCK_LINE_FIELDS`] its lines use (empty for non-stock documents).
    pub stock_fields: &'static [&'static str],
    /// Which of [`TRADE_LINE_FIELDS`] its lines take as input.
    pub trade_fields: &'static [&'static str],
    /// Whether the header needs a reason code (`stock_reason`).
    pub needs_reason: bool,
    /// Whether pushing a line down consumes the source line's open quantity. A return does
    /// not: it links to the delivery it returns without using up what may still be invoiced.
    pub carries: bool,
    /// What is derived before lines are stored.
    pub prepare: Option<Arc<dyn DraftHook>>,
}

impl std::fmt::Debug for DocType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocType").field("code", &self.code).finish_non_exhaustive()
    }
}

/// The document types the program knows.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    types: Vec<Arc<DocType>>,
}

impl Registry {
    /// Adds a type.
    pub fn register(&mut self, doc_type: DocType) {
        self.types.push(Arc::new(doc_type));
    }

    /// The type called `code`.
    pub fn get(&self, code: &str) -> Option<&Arc<DocType>> {
        self.types.iter().find(|t| t.code == code)
    }

    /// Every type.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<DocType>> {
        self.types.iter()
    }
}

/// Who is acting, as storage needs to know it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user's id.
    pub user_id: i64,
    /// The user's role codes.
    pub roles: Vec<String>,
}

/// A stored document with its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Id.
    pub id: i64,
    /// Type code.
    pub doc_type: String,
    /// Number from the type's series.
    pub number: String,
    /// Where it stands.
    pub state: DocState,
    /// Optimistic-locking version.
    pub version: i64,
    /// Document date.
    pub doc_date: NaiveDate,
    /// Customer or supplier code.
    pub partner: Option<String>,
    /// Currency code.
    pub currency: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Reason code (miscellaneous receipts and issues).
    pub reason: Option<String>,
    /// Salesperson (employee code) of a sales document.
    pub salesperson: Option<String>,
    /// When payment is due (invoices).
    pub due_date: Option<NaiveDate>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Lines in order.
    pub lines: Vec<Line>,
}

impl Document {
    /// Sum of line amounts.
    pub fn total(&self) -> Decimal {
        self.lines.iter().filter_map(|l| l.amount).sum()
    }

    /// The document as a draft with the same header and lines, to be edited and saved again.
    pub fn to_draft(&self) -> Draft {
        Draft {
            doc_date: Some(self.doc_date),
            partner: self.partner.clone(),
            currency: self.currency.clone(),
            note: self.note.clone(),
            reason: self.reason.clone(),
            salesperson: self.salesperson.clone(),
            due_date: self.due_date,
            lines: self.lines.iter().map(DraftLine::from).collect(),
        }
    }
}

impl From<&Line> for DraftLine {
    fn from(l: &Line) -> Self {
        DraftLine {
            item: l.item.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            unit_price: l.unit_price,
            warehouse: l.warehouse.clone(),
            due_date: l.due_date,
            note: l.note.clone(),
            source_line_id: l.source_line_id,
            stock: l.stock.clone(),
            trade: l.trade.clone(),
        }
    }
}

/// A stored line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Id.
    pub id: i64,
    /// 1-based position.
    pub line_no: i64,
    /// Item code.
    pub item: Option<String>,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit code.
    pub unit: Option<String>,
    /// Price per unit.
    pub unit_price: Option<Decimal>,
    /// Quantity times price, rounded to the currency.
    pub amount: Option<Decimal>,
    /// Warehouse code.
    pub warehouse: Option<String>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// Free text.
    pub note: Option<String>,
    /// The line it was pushed down from.
    pub source_line_id: Option<i64>,
    /// How much of it has gone into downstream documents.
    pub carried_qty: Decimal,
    /// Where stock moves (stock documents only).
    pub stock: StockFields,
    /// Prices, promise and cost estimate (sales and purchasing documents).
    pub trade: TradeFields,
}

/// The line fields trade documents use: the list price and discount that led to the unit
/// price, the promised date, the expected unit cost, the explanation of all three, and for a
/// receipt or payment line the invoice it settles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeFields {
    /// List price per line unit, before discount.
    pub list_price: Option<Decimal>,
    /// Discount in percent (typed, or what the policy gave).
    pub discount_pct: Option<Decimal>,
    /// The date promised to the customer (or by the supplier).
    pub promised_date: Option<NaiveDate>,
    /// Expected unit cost per line unit (quotations and orders).
    pub est_unit_cost: Option<Decimal>,
    /// Where the expected cost comes from (`history`, `rollup`, `standard`).
    pub cost_basis: Option<String>,
    /// Why this price, promise and cost: what the pricing engine and the promise answered.
    pub explain: Option<serde_json::Value>,
    /// The invoice or credit note a receipt or payment line settles.
    pub settles: Option<i64>,
}

/// The line fields only stock documents use: bins, the target of a transfer, the lot, and the
/// book quantity a count froze.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockFields {
    /// Bin code in `warehouse`.
    pub bin: Option<String>,
    /// Target warehouse of a transfer.
    pub to_warehouse: Option<String>,
    /// Target bin of a transfer.
    pub to_bin: Option<String>,
    /// Lot number.
    pub lot: Option<String>,
    /// Expiry of a lot being received.
    pub lot_expiry: Option<NaiveDate>,
    /// Book quantity frozen by a count (then `quantity` is what was counted).
    pub book_qty: Option<Decimal>,
}

/// The trade line fields a document type may take as input (the rest of [`TradeFields`] is
/// derived when the draft is prepared).
pub const TRADE_LINE_FIELDS: [&str; 3] = ["discount_pct", "promised_date", "settles"];

/// The optional line fields a document type shows and accepts.
pub const STOCK_LINE_FIELDS: [&str; 6] =
    ["bin", "to_warehouse", "to_bin", "lot", "lot_expiry", "book_qty"];

impl Line {
    /// What is still open for push-down.
    pub fn open_qty(&self) -> Decimal {
        (self.quantity - self.carried_qty).max(Decimal::ZERO)
    }
}

/// Header and lines as entered, before numbering.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Document date.
    pub doc_date: Option<NaiveDate>,
    /// Partner code.
    pub partner: Option<String>,
    /// Currency code.
    pub currency: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Reason code (miscellaneous receipts and issues).
    pub reason: Option<String>,
    /// Salesperson (employee code).
    pub salesperson: Option<String>,
    /// When payment is due.
    pub due_date: Option<NaiveDate>,
    /// Lines.
    pub lines: Vec<DraftLine>,
}

/// A line as entered.
#[derive(Debug, Clone, Default)]
pub struct DraftLine {
    /// Item code.
    pub item: Option<String>,
    /// Quantity (must be positive).
    pub quantity: Decimal,
    /// Unit code.
    pub unit: Option<String>,
    /// Price per unit.
    pub unit_price: Option<Decimal>,
    /// Warehouse code.
    pub warehouse: Option<String>,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// Free text.
    pub note: Option<String>,
    /// Push down from this source line.
    pub source_line_id: Option<i64>,
    /// Stock fields (stock documents only).
    pub stock: StockFields,
    /// Trade fields (sales and purchasing documents).
    pub trade: TradeFields,
}

fn scaled(value: Decimal, field: &str) -> Result<i64, StoreError> {
    to_scaled(value).ok_or_else(|| DomainError::field(field, "field.too_many_decimals").into())
}

/// Checks what can be checked without the database.
fn check_draft(draft: &Draft, doc_type: &DocType) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if draft.doc_date.is_none() {
        errors.push(FieldError::new("doc_date", "field.required"));
    }
    if doc_type.partner.is_some() && draft.partner.is_none() {
        errors.push(FieldError::new("partner", "field.required"));
    }
    if doc_type.needs_reason && draft.reason.is_none() {
        errors.push(FieldError::new("reason", "field.required"));
    }
    if draft.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        errors.push(FieldError::new("note", "field.too_long").with("max", 2000));
    }
    if draft.lines.is_empty() {
        errors.push(FieldError::new("lines", "document.no_lines"));
    }
    if draft.lines.len() > 1000 {
        errors.push(FieldError::new("lines", "document.too_many_lines").with("max", 1000));
    }
    for (i, line) in draft.lines.iter().enumerate() {
        let at = |f: &str| format!("lines[{i}].{f}");
        // A count may find nothing on the shelf: its counted quantity may be zero.
        let counted = doc_type.stock_fields.contains(&"book_qty");
        if line.quantity < Decimal::ZERO || (line.quantity.is_zero() && !counted) {
            errors.push(FieldError::new(at("quantity"), "field.not_positive"));
        }
        if to_scaled(line.quantity).is_none() {
            errors.push(FieldError::new(at("quantity"), "field.too_many_decimals").with("max", 6));
        }
        if line.unit_price.is_some_and(|p| p < Decimal::ZERO) {
            errors.push(FieldError::new(at("unit_price"), "field.negative"));
        }
        if line.unit_price.is_some_and(|p| to_scaled(p).is_none()) {
            errors
                .push(FieldError::new(at("unit_price"), "field.too_many_decimals").with("max", 6));
        }
        if line.trade.discount_pct.is_some_and(|p| p < Decimal::ZERO || p > Decimal::ONE_HUNDRED) {
            errors.push(
                FieldError::new(at("discount_pct"), "field.out_of_range")
                    .with("min", 0)
                    .with("max", 100),
            );
        }
        if line.item.is_some() && line.unit.is_none() {
            errors.push(FieldError::new(at("unit"), "field.required"));
        }
        if line.note.as_ref().is_some_and(|n| n.chars().count() > 500) {
            errors.push(FieldError::new(at("note"), "field.too_long").with("max", 500));
        }
    }
    errors
}

async fn check_draft_references(
    conn: &mut Conn,
    draft: &Draft,
    doc_type: &DocType,
) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    if let (Some(kind), Some(code)) = (doc_type.partner, &draft.partner)
        && !reference_exists(conn, kind, code).await?
    {
        errors.push(FieldError::new("partner", "field.unknown_reference").with("value", code));
    }
    if let Some(code) = &draft.currency
        && !reference_exists(conn, "currency", code).await?
    {
        errors.push(FieldError::new("currency", "field.unknown_reference").with("value", code));
    }
    if let Some(code) = &draft.reason
        && !reference_exists(conn, "stock_reason", code).await?
    {
        errors.push(FieldError::new("reason", "field.unknown_reference").with("value", code));
    }
    if let Some(code) = &draft.salesperson
        && !reference_exists(conn, "employee", code).await?
    {
        errors.push(FieldError::new("salesperson", "field.unknown_reference").with("value", code));
    }
    for (i, line) in draft.lines.iter().enumerate() {
        for (field, kind, code) in [
            ("item", "item", &line.item),
            ("unit", "unit", &line.unit),
            ("warehouse", "warehouse", &line.warehouse),
            ("bin", "bin", &line.stock.bin),
            ("to_warehouse", "warehouse", &line.stock.to_warehouse),
            ("to_bin", "bin", &line.stock.to_bin),
        ] {
            if let Some(code) = code
                && !reference_exists(conn, kind, code).await?
            {
                errors.push(
                    FieldError::new(format!("lines[{i}].{field}"), "field.unknown_reference")
                        .with("value", code),
                );
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors).into()) }
}

async fn currency_decimals(conn: &mut Conn, currency: Option<&str>) -> Result<u32, StoreError> {
    let Some(code) = currency else { return Ok(2) };
    let row = sqlx::query("SELECT decimals FROM currencies WHERE code = $1")
        .bind(code.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64, _>("decimals"))
        .transpose()?
        .map_or(2, |d| u32::try_from(d).unwrap_or(2)))
}

/// Takes the next number of `doc_type`'s series for `date`, in the caller's transaction. The
/// counter row stays locked until commit, so concurrent documents wait for each other and no
/// number is used twice; a rollback gives the number back, so there are no gaps.
pub async fn next_number(
    conn: &mut Conn,
    doc_type: &DocType,
    date: NaiveDate,
) -> Result<String, StoreError> {
    let period = doc_type.number.period(date);
    let row = sqlx::query(
        "INSERT INTO number_series (doc_type, period, next_value) VALUES ($1, $2, 1) \
         ON CONFLICT (doc_type, period) DO UPDATE SET next_value = number_series.next_value + 1 \
         RETURNING next_value",
    )
    .bind(doc_type.code)
    .bind(period)
    .fetch_one(&mut *conn)
    .await?;
    Ok(doc_type.number.format(date, row.try_get("next_value")?))
}

/// Carries `qty` from source line `source_id` into a line of `target`, checking the source is
/// an approved document of an allowed type and that `qty` is open. The check and the update
/// are one conditional statement, so concurrent push-downs cannot both take the last of it.
async fn carry(
    conn: &mut Conn,
    target: &DocType,
    source_id: i64,
    qty: Decimal,
    unit: Option<&str>,
) -> Result<(), StoreError> {
    // Lock the source document first: a concurrent reverse approval of it then either waits
    // for this push-down (and sees its line) or has already moved it (and this one sees that).
    lock_document_of_line(conn, source_id).await?;
    let row = sqlx::query(
        "SELECT l.line_no, l.quantity, l.carried_qty, l.unit, d.doc_type, d.state, d.number \
         FROM document_lines l JOIN documents d ON d.id = l.document_id WHERE l.id = $1",
    )
    .bind(source_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("document_line", source_id))?;
    let source_type: String = row.try_get("doc_type")?;
    if !target.sources.contains(&source_type.as_str()) {
        return Err(DomainError::field("source_line_id", "document.source_type_not_allowed").into());
    }
    if row.try_get::<String, _>("state")? != DocState::Approved.code() {
        return Err(DomainError::field("source_line_id", "document.source_not_approved").into());
    }
    if row.try_get::<Option<String>, _>("unit")?.as_deref() != unit {
        return Err(DomainError::field("unit", "document.unit_differs_from_source").into());
    }
    let line_no: i64 = row.try_get("line_no")?;
    let ordered = from_scaled(row.try_get("quantity")?);
    let carried = from_scaled(row.try_get("carried_qty")?);
    document::check_carry(line_no, ordered, carried, qty, target.over_tolerance_pct)?;

    let allowed = ordered + ordered * target.over_tolerance_pct / Decimal::ONE_HUNDRED;
    let done = sqlx::query(
        "UPDATE document_lines SET carried_qty = carried_qty + $1 \
         WHERE id = $2 AND carried_qty + $1 <= $3",
    )
    .bind(scaled(qty, "quantity")?)
    .bind(source_id)
    .bind(scaled(round_to(allowed, 6), "quantity")?)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        // Someone carried from the same line between our read and our write.
        let now: i64 = sqlx::query("SELECT carried_qty FROM document_lines WHERE id = $1")
            .bind(source_id)
            .fetch_one(&mut *conn)
            .await?
            .try_get("carried_qty")?;
        document::check_carry(line_no, ordered, from_scaled(now), qty, target.over_tolerance_pct)?;
        return Err(StoreError::Busy);
    }
    Ok(())
}

/// Links to source line `source_id` without carrying: checks it is a line of an approved
/// document of an allowed type.
async fn check_source(conn: &mut Conn, target: &DocType, source_id: i64) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT d.doc_type, d.state FROM document_lines l \
         JOIN documents d ON d.id = l.document_id WHERE l.id = $1",
    )
    .bind(source_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("document_line", source_id))?;
    let source_type: String = row.try_get("doc_type")?;
    if !target.sources.contains(&source_type.as_str()) {
        return Err(DomainError::field("source_line_id", "document.source_type_not_allowed").into());
    }
    if row.try_get::<String, _>("state")? != DocState::Approved.code() {
        return Err(DomainError::field("source_line_id", "document.source_not_approved").into());
    }
    Ok(())
}

/// The draft after the type's [`DraftHook`], if it has one.
async fn prepared(conn: &mut Conn, doc_type: &DocType, draft: &Draft) -> Result<Draft, StoreError> {
    let mut draft = draft.clone();
    if let Some(hook) = &doc_type.prepare {
        hook.prepare(conn, doc_type, &mut draft).await?;
    }
    Ok(draft)
}

/// Takes the row lock of the document that line `line_id` belongs to, until commit. A no-op
/// update is the one portable way: SQLite has no `SELECT ... FOR UPDATE`, and its write
/// transactions are serial anyway.
async fn lock_document_of_line(conn: &mut Conn, line_id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE documents SET version = version \
         WHERE id = (SELECT document_id FROM document_lines WHERE id = $1)",
    )
    .bind(line_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes the row lock of document `id` until commit (see [`lock_document_of_line`]).
async fn lock_document(conn: &mut Conn, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE documents SET version = version WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Gives back what a document's lines carried from their sources (on cancel or redraft).
async fn release_carries(
    conn: &mut Conn,
    doc_type: &DocType,
    lines: &[Line],
) -> Result<(), StoreError> {
    if !doc_type.carries {
        return Ok(());
    }
    let mut linked: Vec<&Line> = lines.iter().filter(|l| l.source_line_id.is_some()).collect();
    linked.sort_by_key(|l| l.source_line_id);
    for line in linked {
        sqlx::query("UPDATE document_lines SET carried_qty = carried_qty - $1 WHERE id = $2")
            .bind(scaled(line.quantity, "quantity")?)
            .bind(line.source_line_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn insert_lines(
    conn: &mut Conn,
    doc_type: &DocType,
    doc_id: i64,
    draft: &Draft,
) -> Result<(), StoreError> {
    let decimals = currency_decimals(conn, draft.currency.as_deref()).await?;
    // Lock source lines in one fixed order (by id) so two push-downs cannot deadlock.
    let mut order: Vec<usize> = (0..draft.lines.len()).collect();
    order.sort_by_key(|&i| draft.lines.get(i).and_then(|l| l.source_line_id));
    for i in order {
        let Some(line) = draft.lines.get(i) else { continue };
        if let Some(source) = line.source_line_id {
            let linked = if doc_type.carries {
                carry(conn, doc_type, source, line.quantity, line.unit.as_deref()).await
            } else {
                check_source(conn, doc_type, source).await
            };
            linked.map_err(|e| match e {
                StoreError::Domain(DomainError::Invalid(errors)) => {
                    StoreError::Domain(DomainError::Invalid(
                        errors
                            .into_iter()
                            .map(|mut f| {
                                f.field = format!("lines[{i}].{}", f.field);
                                f
                            })
                            .collect(),
                    ))
                }
                other => other,
            })?;
        }
    }
    for (i, line) in draft.lines.iter().enumerate() {
        let amount = line.unit_price.map(|p| round_to(p * line.quantity, decimals));
        sqlx::query(
            "INSERT INTO document_lines (id, document_id, line_no, item, quantity, unit, \
             unit_price, amount, warehouse, due_date, note, source_line_id, carried_qty, \
             bin, to_warehouse, to_bin, lot, lot_expiry, book_qty, list_price, discount_pct, \
             promised_date, est_unit_cost, cost_basis, explain_json, settles) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
        )
        .bind(new_id())
        .bind(doc_id)
        .bind(i64::try_from(i + 1).unwrap_or(i64::MAX))
        .bind(line.item.clone())
        .bind(scaled(line.quantity, "quantity")?)
        .bind(line.unit.clone())
        .bind(line.unit_price.map(|p| scaled(p, "unit_price")).transpose()?)
        .bind(amount.map(|a| scaled(a, "amount")).transpose()?)
        .bind(line.warehouse.clone())
        .bind(line.due_date.map(|d| d.to_string()))
        .bind(line.note.clone())
        .bind(line.source_line_id)
        .bind(line.stock.bin.clone())
        .bind(line.stock.to_warehouse.clone())
        .bind(line.stock.to_bin.clone())
        .bind(line.stock.lot.clone())
        .bind(line.stock.lot_expiry.map(|d| d.to_string()))
        .bind(line.stock.book_qty.map(|q| scaled(q, "book_qty")).transpose()?)
        .bind(line.trade.list_price.map(|p| scaled(p, "list_price")).transpose()?)
        .bind(line.trade.discount_pct.map(|p| scaled(p, "discount_pct")).transpose()?)
        .bind(line.trade.promised_date.map(|d| d.to_string()))
        .bind(line.trade.est_unit_cost.map(|p| scaled(p, "est_unit_cost")).transpose()?)
        .bind(line.trade.cost_basis.clone())
        .bind(line.trade.explain.as_ref().map(serde_json::Value::to_string))
        .bind(line.trade.settles)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates a draft document with the next number of its series.
pub async fn create(
    db: &Db,
    doc_type: &DocType,
    draft: &Draft,
    actor: &Actor,
) -> Result<Document, StoreError> {
    let errors = check_draft(draft, doc_type);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    let id = db.write(|conn, _| Box::pin(create_in(conn, doc_type, draft, actor))).await?;
    tracing::debug!(document.id = id, document.r#type = doc_type.code, "document created");
    get(db, id).await
}

/// How far [`create_and_advance`] takes a new document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// Create and submit.
    Submit,
    /// Create, submit and approve when no approval request needs a role the actor lacks;
    /// otherwise stop at submitted, in the approvers' inboxes.
    Approve,
}

/// Creates a document and moves it on in the same transaction ("save and submit", "save and
/// approve"): one commit instead of three, with the same rules, hooks, history and audit as
/// the separate steps.
pub async fn create_and_advance(
    db: &Db,
    doc_type: &DocType,
    draft: &Draft,
    actor: &Actor,
    until: Advance,
) -> Result<Document, StoreError> {
    let errors = check_draft(draft, doc_type);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    let id = db
        .write(|conn, _| {
            Box::pin(async move {
                let id = create_in(conn, doc_type, draft, actor).await?;
                transition_in(conn, doc_type, id, 1, DocAction::Submit, actor, None).await?;
                if until == Advance::Approve {
                    let open = open_requests(conn, id).await?;
                    let can = open
                        .iter()
                        .all(|p| actor.roles.iter().any(|r| r == &p.role || r == "administrator"));
                    if can {
                        transition_in(conn, doc_type, id, 2, DocAction::Approve, actor, None)
                            .await?;
                    }
                }
                Ok(id)
            })
        })
        .await?;
    get(db, id).await
}

async fn create_in(
    conn: &mut Conn,
    doc_type: &DocType,
    draft: &Draft,
    actor: &Actor,
) -> Result<i64, StoreError> {
    let date = draft.doc_date.unwrap_or_default();
    let prepared = prepared(conn, doc_type, draft).await?;
    let draft = &prepared;
    check_draft_references(conn, draft, doc_type).await?;
    let id = new_id();
    let number = next_number(conn, doc_type, date).await?;
    let now = now_text();
    sqlx::query(
        "INSERT INTO documents (id, doc_type, number, state, version, doc_date, \
         partner, currency, note, created_by, created_at, updated_at, reason, \
         salesperson, due_date) \
         VALUES ($1, $2, $3, 'draft', 1, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(doc_type.code)
    .bind(number.clone())
    .bind(date.to_string())
    .bind(draft.partner.clone())
    .bind(draft.currency.clone())
    .bind(draft.note.clone())
    .bind(actor.user_id)
    .bind(now)
    .bind(draft.reason.clone())
    .bind(draft.salesperson.clone())
    .bind(draft.due_date.map(|d| d.to_string()))
    .execute(&mut *conn)
    .await?;
    insert_lines(conn, doc_type, id, draft).await?;
    let doc = load(conn, id).await?;
    audit::record(
        conn,
        "document",
        id,
        "create",
        Some(actor.user_id),
        None,
        Some(document_json(&doc)),
    )
    .await?;
    Ok(id)
}

/// Replaces header and lines of a draft that is still at `version`.
pub async fn update_draft(
    db: &Db,
    doc_type: &DocType,
    id: i64,
    version: i64,
    draft: &Draft,
    actor: &Actor,
) -> Result<Document, StoreError> {
    let errors = check_draft(draft, doc_type);
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    db.write(|conn, _| {
        Box::pin(async move {
            let before = load(conn, id).await?;
            if before.doc_type != doc_type.code {
                return Err(StoreError::not_found(doc_type.code, id));
            }
            if before.version != version {
                return Err(StoreError::Stale { entity: doc_type.code.into(), key: before.number });
            }
            if !before.state.editable() {
                return Err(DomainError::field("state", "document.not_editable").into());
            }
            // Give back what the old lines carried first, so the new lines can take it again.
            release_carries(conn, doc_type, &before.lines).await?;
            let prepared = prepared(conn, doc_type, draft).await?;
            let draft = &prepared;
            check_draft_references(conn, draft, doc_type).await?;
            let done = sqlx::query(
                "UPDATE documents SET doc_date = $1, partner = $2, currency = $3, note = $4, \
                 version = version + 1, updated_at = $5, reason = $8, salesperson = $9, \
                 due_date = $10 WHERE id = $6 AND version = $7",
            )
            .bind(draft.doc_date.unwrap_or(before.doc_date).to_string())
            .bind(draft.partner.clone())
            .bind(draft.currency.clone())
            .bind(draft.note.clone())
            .bind(now_text())
            .bind(id)
            .bind(version)
            .bind(draft.reason.clone())
            .bind(draft.salesperson.clone())
            .bind(draft.due_date.map(|d| d.to_string()))
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Stale { entity: doc_type.code.into(), key: before.number });
            }
            sqlx::query("DELETE FROM document_lines WHERE document_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            insert_lines(conn, doc_type, id, draft).await?;
            let after = load(conn, id).await?;
            audit::record(
                conn,
                "document",
                id,
                "update",
                Some(actor.user_id),
                Some(document_json(&before)),
                Some(document_json(&after)),
            )
            .await
        })
    })
    .await?;
    get(db, id).await
}

/// Why a transition needs someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    /// Rule code.
    pub rule: String,
    /// Role that must approve.
    pub role: String,
}

/// Moves document `id` (at `version`) by `action`: checks the transition table, runs approval
/// rules on submit (and on a reverse approval, which puts the document back in front of an
/// approver), requires the rules' roles on approve, refuses a reverse approval while
/// downstream documents use the document, gives back carried quantities on cancel, and runs
/// the type's posting hooks. Records who did it and when.
pub async fn transition(
    db: &Db,
    doc_type: &DocType,
    id: i64,
    version: i64,
    action: DocAction,
    actor: &Actor,
    comment: Option<&str>,
) -> Result<Document, StoreError> {
    db.write(|conn, _| {
        Box::pin(transition_in(conn, doc_type, id, version, action, actor, comment))
    })
    .await?;
    tracing::info!(
        document.id = id,
        document.r#type = doc_type.code,
        action = action.code(),
        "document moved"
    );
    get(db, id).await
}

async fn transition_in(
    conn: &mut Conn,
    doc_type: &DocType,
    id: i64,
    version: i64,
    action: DocAction,
    actor: &Actor,
    comment: Option<&str>,
) -> Result<(), StoreError> {
    let doc = load(conn, id).await?;
    if doc.doc_type != doc_type.code {
        return Err(StoreError::not_found(doc_type.code, id));
    }
    if doc.version != version {
        return Err(StoreError::Stale { entity: doc_type.code.into(), key: doc.number });
    }
    let to = document::transition(doc.state, action)?;
    match action {
        DocAction::Submit => raise_requests(conn, doc_type, &doc).await?,
        DocAction::Approve => {
            let open = open_requests(conn, id).await?;
            let missing: Vec<PendingApproval> = open
                .into_iter()
                .filter(|p| !actor.roles.iter().any(|r| r == &p.role || r == "administrator"))
                .collect();
            if let Some(first) = missing.first() {
                return Err(StoreError::Domain(DomainError::Invalid(vec![
                    FieldError::new("state", "document.approval_role_required")
                        .with("rule", &first.rule)
                        .with("role", &first.role),
                ])));
            }
            decide_requests(conn, id, "approved", actor.user_id).await?;
            if let Some(hooks) = &doc_type.hooks {
                hooks.on_approve(conn, &doc).await?;
            }
        }
        DocAction::Reject | DocAction::Recall => {
            let status = if action == DocAction::Reject { "rejected" } else { "withdrawn" };
            decide_requests(conn, id, status, actor.user_id).await?;
        }
        DocAction::Unapprove => {
            // Locked before counting, so a push-down running now is either counted
            // or finds the document no longer approved.
            lock_document(conn, id).await?;
            if downstream_count(conn, id).await? > 0 {
                return Err(StoreError::InUse { entity: doc_type.code.into(), key: doc.number });
            }
            if let Some(hooks) = &doc_type.hooks {
                hooks.on_unapprove(conn, &doc).await?;
            }
            // Back in submitted, the document waits for approval again, so the rules
            // speak again: approving it anew needs the roles a first approval needed.
            raise_requests(conn, doc_type, &doc).await?;
        }
        DocAction::Cancel => release_carries(conn, doc_type, &doc.lines).await?,
        DocAction::Close => {
            if let Some(hooks) = &doc_type.hooks {
                hooks.on_close(conn, &doc).await?;
            }
        }
        DocAction::Reopen => {
            for rule in doc_type.rules.iter().filter(|r| r.checks_reopen()) {
                if let Some(params) = rule.check(conn, &doc).await? {
                    return Err(StoreError::Domain(DomainError::Invalid(vec![
                        FieldError::new("state", "document.reopen_refused")
                            .with("rule", rule.code())
                            .with("why", params),
                    ])));
                }
            }
            if let Some(hooks) = &doc_type.hooks {
                hooks.on_reopen(conn, &doc).await?;
            }
        }
    }
    let done = sqlx::query(
        "UPDATE documents SET state = $1, version = version + 1, updated_at = $2 \
         WHERE id = $3 AND version = $4",
    )
    .bind(to.code())
    .bind(now_text())
    .bind(id)
    .bind(version)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Stale { entity: doc_type.code.into(), key: doc.number });
    }
    sqlx::query(
        "INSERT INTO document_transitions \
         (id, document_id, from_state, action, to_state, user_id, at, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(id)
    .bind(doc.state.code())
    .bind(action.code())
    .bind(to.code())
    .bind(actor.user_id)
    .bind(now_text())
    .bind(comment.map(str::to_owned))
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        "document",
        id,
        action.code(),
        Some(actor.user_id),
        Some(serde_json::json!({"state": doc.state.code()})),
        Some(serde_json::json!({"state": to.code()})),
    )
    .await
}

/// Runs the type's approval rules on `doc` and opens a request for each that objects.
async fn raise_requests(
    conn: &mut Conn,
    doc_type: &DocType,
    doc: &Document,
) -> Result<(), StoreError> {
    for rule in &doc_type.rules {
        if let Some(params) = rule.check(conn, doc).await? {
            sqlx::query(
                "INSERT INTO approval_requests (id, document_id, rule_code, params_json, \
                 required_role, status, created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6)",
            )
            .bind(new_id())
            .bind(doc.id)
            .bind(rule.code())
            .bind(params.to_string())
            .bind(rule.required_role())
            .bind(now_text())
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn open_requests(conn: &mut Conn, id: i64) -> Result<Vec<PendingApproval>, StoreError> {
    let rows = sqlx::query(
        "SELECT rule_code, required_role FROM approval_requests \
         WHERE document_id = $1 AND status = 'open'",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PendingApproval { rule: r.try_get("rule_code")?, role: r.try_get("required_role")? })
        })
        .collect()
}

async fn decide_requests(
    conn: &mut Conn,
    id: i64,
    status: &str,
    user_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE approval_requests SET status = $1, decided_by = $2, decided_at = $3 \
         WHERE document_id = $4 AND status = 'open'",
    )
    .bind(status.to_owned())
    .bind(user_id)
    .bind(now_text())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How many live (not cancelled) downstream lines use the lines of document `id`.
pub async fn downstream_count(conn: &mut Conn, id: i64) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM document_lines t JOIN documents td ON td.id = t.document_id \
         JOIN document_lines s ON s.id = t.source_line_id \
         WHERE s.document_id = $1 AND td.state <> 'cancelled'",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get("n")?)
}

fn document_json(doc: &Document) -> serde_json::Value {
    serde_json::json!({
        "number": doc.number,
        "state": doc.state.code(),
        "doc_date": doc.doc_date.to_string(),
        "partner": doc.partner,
        "currency": doc.currency,
        "note": doc.note,
        "lines": doc.lines.iter().map(|l| serde_json::json!({
            "line_no": l.line_no,
            "item": l.item,
            "quantity": l.quantity.to_string(),
            "unit": l.unit,
            "unit_price": l.unit_price.map(|p| p.to_string()),
            "source_line_id": l.source_line_id,
        })).collect::<Vec<_>>(),
    })
}

/// A line from a row of `document_lines` (any query selecting all its columns).
pub(crate) fn read_line_row(r: &AnyRow) -> Result<Line, StoreError> {
    read_line(r)
}

fn read_line(r: &AnyRow) -> Result<Line, StoreError> {
    let opt_dec = |col: &str| -> Result<Option<Decimal>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(col)?.map(from_scaled))
    };
    Ok(Line {
        id: r.try_get("id")?,
        line_no: r.try_get("line_no")?,
        item: r.try_get("item")?,
        quantity: from_scaled(r.try_get("quantity")?),
        unit: r.try_get("unit")?,
        unit_price: opt_dec("unit_price")?,
        amount: opt_dec("amount")?,
        warehouse: r.try_get("warehouse")?,
        due_date: r.try_get::<Option<String>, _>("due_date")?.and_then(|d| d.parse().ok()),
        note: r.try_get("note")?,
        source_line_id: r.try_get("source_line_id")?,
        carried_qty: from_scaled(r.try_get("carried_qty")?),
        stock: StockFields {
            bin: r.try_get("bin")?,
            to_warehouse: r.try_get("to_warehouse")?,
            to_bin: r.try_get("to_bin")?,
            lot: r.try_get("lot")?,
            lot_expiry: r.try_get::<Option<String>, _>("lot_expiry")?.and_then(|d| d.parse().ok()),
            book_qty: opt_dec("book_qty")?,
        },
        trade: TradeFields {
            list_price: opt_dec("list_price")?,
            discount_pct: opt_dec("discount_pct")?,
            promised_date: r
                .try_get::<Option<String>, _>("promised_date")?
                .and_then(|d| d.parse().ok()),
            est_unit_cost: opt_dec("est_unit_cost")?,
            cost_basis: r.try_get("cost_basis")?,
            explain: r
                .try_get::<Option<String>, _>("explain_json")?
                .and_then(|j| serde_json::from_str(&j).ok()),
            settles: r.try_get("settles")?,
        },
    })
}

const HEADER_COLUMNS: &str = "d.id, d.doc_type, d.number, d.state, d.version, d.doc_date, \
     d.partner, d.currency, d.note, d.reason, u.username AS created_by, d.created_at, \
     d.updated_at, d.salesperson, d.due_date";

fn read_header(r: &AnyRow) -> Result<Document, StoreError> {
    let state: String = r.try_get("state")?;
    let date: String = r.try_get("doc_date")?;
    Ok(Document {
        id: r.try_get("id")?,
        doc_type: r.try_get("doc_type")?,
        number: r.try_get("number")?,
        state: DocState::from_code(&state).ok_or_else(|| StoreError::Corrupt(state.clone()))?,
        version: r.try_get("version")?,
        doc_date: date.parse().map_err(|_| StoreError::Corrupt(date.clone()))?,
        partner: r.try_get("partner")?,
        currency: r.try_get("currency")?,
        note: r.try_get("note")?,
        reason: r.try_get("reason")?,
        salesperson: r.try_get("salesperson")?,
        due_date: r.try_get::<Option<String>, _>("due_date")?.and_then(|d| d.parse().ok()),
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        lines: Vec::new(),
    })
}

async fn load(conn: &mut Conn, id: i64) -> Result<Document, StoreError> {
    let sql = format!(
        "SELECT {HEADER_COLUMNS} FROM documents d JOIN users u ON u.id = d.created_by \
         WHERE d.id = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
    let mut doc = read_header(&row.ok_or_else(|| StoreError::not_found("document", id))?)?;
    let lines = sqlx::query("SELECT * FROM document_lines WHERE document_id = $1 ORDER BY line_no")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    doc.lines = lines.iter().map(read_line).collect::<Result<_, _>>()?;
    Ok(doc)
}

/// A document by id.
pub async fn get(db: &Db, id: i64) -> Result<Document, StoreError> {
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, id).await
}

/// A document line by id, with its document's id.
pub async fn line(db: &Db, line_id: i64) -> Result<(i64, Line), StoreError> {
    let row = sqlx::query("SELECT * FROM document_lines WHERE id = $1")
        .bind(line_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found("document_line", line_id))?;
    Ok((row.try_get("document_id")?, read_line(&row)?))
}

/// Where a pushed-down line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    /// The pushed-down line's id.
    pub line_id: i64,
    /// The source document's id.
    pub document_id: i64,
    /// Its type code.
    pub doc_type: String,
    /// Its number.
    pub number: String,
    /// The source line's position.
    pub line_no: i64,
}

/// The sources of the pushed-down lines of document `id`, in one query.
pub async fn sources_of(db: &Db, id: i64) -> Result<Vec<SourceRef>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id AS line_id, d.id AS document_id, d.doc_type, d.number, s.line_no \
         FROM document_lines t JOIN document_lines s ON s.id = t.source_line_id \
         JOIN documents d ON d.id = s.document_id WHERE t.document_id = $1 ORDER BY t.line_no",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SourceRef {
                line_id: r.try_get("line_id")?,
                document_id: r.try_get("document_id")?,
                doc_type: r.try_get("doc_type")?,
                number: r.try_get("number")?,
                line_no: r.try_get("line_no")?,
            })
        })
        .collect()
}

/// What a document list asks for.
#[derive(Debug, Clone, Default)]
pub struct DocQuery {
    /// Only this state.
    pub state: Option<DocState>,
    /// Text in the number or partner code.
    pub search: Option<String>,
    /// 1-based page.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

/// Documents of a type, newest first, without lines.
pub async fn list(db: &Db, doc_type: &str, q: &DocQuery) -> Result<Page<Document>, StoreError> {
    let mut filter = String::from("WHERE d.doc_type = $1");
    let mut binds = vec![doc_type.to_owned()];
    if let Some(state) = q.state {
        binds.push(state.code().to_owned());
        filter.push_str(&format!(" AND d.state = ${}", binds.len()));
    }
    if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        binds.push(format!("%{}%", search.to_lowercase()));
        let n = binds.len();
        filter.push_str(&format!(
            " AND (LOWER(d.number) LIKE ${n} OR LOWER(COALESCE(d.partner, '')) LIKE ${n})"
        ));
    }
    let per_page = q.per_page.clamp(1, 500);
    let page = q.page.max(1);
    let mut count =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM documents d {filter}")));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(db.pool()).await?.try_get("n")?;
    let sql = format!(
        "SELECT {HEADER_COLUMNS} FROM documents d JOIN users u ON u.id = d.created_by {filter} \
         ORDER BY d.doc_date DESC, d.id DESC LIMIT {per_page} OFFSET {}",
        (page - 1) * per_page
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let rows = query.fetch_all(db.pool()).await?;
    Ok(Page {
        rows: rows.iter().map(read_header).collect::<Result<_, _>>()?,
        total,
        page,
        per_page,
    })
}

/// One document in a flow view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowNode {
    /// Document id.
    pub id: i64,
    /// Type code.
    pub doc_type: String,
    /// Number.
    pub number: String,
    /// State code.
    pub state: String,
    /// Negative upstream, 0 the document itself, positive downstream.
    pub depth: i32,
}

async fn linked_documents(
    db: &Db,
    ids: &BTreeSet<i64>,
    upstream: bool,
) -> Result<BTreeSet<i64>, StoreError> {
    let sql = if upstream {
        "SELECT DISTINCT s.document_id AS doc FROM document_lines t \
         JOIN document_lines s ON s.id = t.source_line_id WHERE t.document_id = $1"
    } else {
        "SELECT DISTINCT t.document_id AS doc FROM document_lines t \
         JOIN document_lines s ON s.id = t.source_line_id WHERE s.document_id = $1"
    };
    let mut out = BTreeSet::new();
    for id in ids {
        for r in sqlx::query(sql).bind(*id).fetch_all(db.pool()).await? {
            out.insert(r.try_get::<i64, _>("doc")?);
        }
    }
    Ok(out)
}

/// The whole chain a document belongs to: every document upstream (its sources, theirs...)
/// and downstream (what was pushed down from it...), with the distance from it.
pub async fn flow(db: &Db, id: i64) -> Result<Vec<FlowNode>, StoreError> {
    let mut depth_of: HashMap<i64, i32> = HashMap::from([(id, 0)]);
    for upstream in [true, false] {
        let mut frontier = BTreeSet::from([id]);
        let mut depth: i32 = 0;
        while !frontier.is_empty() && depth.abs() < 32 {
            depth += if upstream { -1 } else { 1 };
            let next = linked_documents(db, &frontier, upstream).await?;
            frontier = next.into_iter().filter(|d| !depth_of.contains_key(d)).collect();
            for d in &frontier {
                depth_of.insert(*d, depth);
            }
        }
    }
    let mut nodes = Vec::new();
    for (doc_id, depth) in depth_of {
        let r = sqlx::query("SELECT id, doc_type, number, state FROM documents WHERE id = $1")
            .bind(doc_id)
            .fetch_one(db.pool())
            .await?;
        nodes.push(FlowNode {
            id: r.try_get("id")?,
            doc_type: r.try_get("doc_type")?,
            number: r.try_get("number")?,
            state: r.try_get("state")?,
            depth,
        });
    }
    nodes.sort_by(|a, b| (a.depth, &a.number).cmp(&(b.depth, &b.number)));
    Ok(nodes)
}

/// One approval request with its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// Rule code.
    pub rule: String,
    /// Why, as the rule explained it.
    pub params: serde_json::Value,
    /// Role that must approve.
    pub role: String,
    /// `open`, `approved`, `rejected`, `withdrawn`.
    pub status: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
}

/// The approval requests of a document, newest first.
pub async fn approval_requests(db: &Db, id: i64) -> Result<Vec<ApprovalRequest>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.rule_code, a.params_json, a.required_role, a.status, u.username, a.decided_at \
         FROM approval_requests a LEFT JOIN users u ON u.id = a.decided_by \
         WHERE a.document_id = $1 ORDER BY a.created_at DESC, a.id DESC",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let params: String = r.try_get("params_json")?;
            Ok(ApprovalRequest {
                rule: r.try_get("rule_code")?,
                params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
                role: r.try_get("required_role")?,
                status: r.try_get("status")?,
                decided_by: r.try_get("username")?,
                decided_at: r.try_get("decided_at")?,
            })
        })
        .collect()
}

/// One step of a document's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRecord {
    /// From state.
    pub from: String,
    /// Action.
    pub action: String,
    /// To state.
    pub to: String,
    /// Who.
    pub user: String,
    /// When.
    pub at: String,
    /// Their comment.
    pub comment: Option<String>,
}

/// A document's transitions, oldest first.
pub async fn history(db: &Db, id: i64) -> Result<Vec<TransitionRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.from_state, t.action, t.to_state, u.username, t.at, t.comment \
         FROM document_transitions t JOIN users u ON u.id = t.user_id \
         WHERE t.document_id = $1 ORDER BY t.at, t.id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TransitionRecord {
                from: r.try_get("from_state")?,
                action: r.try_get("action")?,
                to: r.try_get("to_state")?,
                user: r.try_get("username")?,
                at: r.try_get("at")?,
                comment: r.try_get("comment")?,
            })
        })
        .collect()
}

/// A submitted document waiting for approval, with the roles its open exceptions need.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    /// The document header.
    pub document: Document,
    /// Open approval requests.
    pub pending: Vec<PendingApproval>,
    /// The same open requests with the reasons their rules gave.
    pub requests: Vec<ApprovalRequest>,
}

/// Every submitted document (the 500 waiting longest) with its open approval requests; the
/// web layer filters by what the viewer may approve. Two queries, however many documents.
pub async fn submitted(db: &Db) -> Result<Vec<InboxEntry>, StoreError> {
    let sql = format!(
        "SELECT {HEADER_COLUMNS} FROM documents d JOIN users u ON u.id = d.created_by \
         WHERE d.state = 'submitted' ORDER BY d.updated_at, d.id LIMIT 500"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(db.pool()).await?;
    let open = sqlx::query(
        "SELECT a.document_id, a.rule_code, a.params_json, a.required_role, a.status \
         FROM approval_requests a JOIN documents d ON d.id = a.document_id \
         WHERE d.state = 'submitted' AND a.status = 'open' ORDER BY a.created_at, a.id",
    )
    .fetch_all(db.pool())
    .await?;
    let mut by_document: HashMap<i64, Vec<ApprovalRequest>> = HashMap::new();
    for r in &open {
        let params: String = r.try_get("params_json")?;
        by_document.entry(r.try_get("document_id")?).or_default().push(ApprovalRequest {
            rule: r.try_get("rule_code")?,
            params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
            role: r.try_get("required_role")?,
            status: r.try_get("status")?,
            decided_by: None,
            decided_at: None,
        });
    }
    rows.iter()
        .map(|r| {
            let document = read_header(r)?;
            let requests = by_document.remove(&document.id).unwrap_or_default();
            let pending = requests
                .iter()
                .map(|a| PendingApproval { rule: a.rule.clone(), role: a.role.clone() })
                .collect();
            Ok(InboxEntry { document, pending, requests })
        })
        .collect()
}
