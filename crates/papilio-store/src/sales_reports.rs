//! Sales reports: order execution tracking 订单执行跟踪, receivables ageing 应收账龄, gross
//! margin 毛利分析, and targets against actual sales 销售目标. Read-only; every figure comes
//! from posted documents (approved or closed), the open items and the stock ledger.
//!
//! Each report is a handful of set-based queries (never one per line) whose rows are joined
//! and summed here, in Rust, with exact decimals: products of two scaled columns would
//! overflow in SQL, and division is never done there. The pure rules (margin, ageing bucket,
//! attainment) come from [`papilio_core::sales`].
//!
//! Amounts in another currency than the company's base currency are converted with the
//! latest exchange rate on or before the date that matters (`exchange_rates.rate` is base
//! units per one unit of the currency); a document without such a rate is left out of the
//! base-currency figures and counted as unconverted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use papilio_core::sales::{self as rules, AGEING_BUCKETS};
use papilio_core::value::{from_scaled, round_to};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::db::{Conn, Db};
use crate::error::StoreError;

/// The states of a document that has been posted: approved, or approved and then closed.
const POSTED: &str = "('approved', 'closed')";

/// Decimal places of the derived amounts (shares of payments, backlog values).
const MONEY_PLACES: u32 = 2;

/// The number of receivables ageing buckets.
pub const BUCKETS: usize = AGEING_BUCKETS.len();

// ---------------------------------------------------------------------------------------
// Shared helpers

/// A link to one document: enough to show its number and open it at `/d/{doc_type}/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DocRef {
    /// Document date (first, so a sorted list runs in date order).
    pub date: NaiveDate,
    /// Document number.
    pub number: String,
    /// Document type code.
    pub doc_type: String,
    /// Document id.
    pub id: i64,
}

/// A query's `AND ...` conditions with their values, numbered `$first..` in order.
#[derive(Debug, Clone)]
struct Filter {
    sql: String,
    binds: Vec<String>,
    first: usize,
}

impl Filter {
    fn starting_at(first: usize) -> Filter {
        Filter { sql: String::new(), binds: Vec::new(), first }
    }

    /// Adds `AND {column} {op} $n` when `value` is given.
    fn and(&mut self, column: &str, op: &str, value: Option<String>) {
        if let Some(v) = value {
            let n = self.first + self.binds.len();
            self.sql.push_str(&format!(" AND {column} {op} ${n}"));
            self.binds.push(v);
        }
    }
}

fn query_with(
    sql: String,
    binds: &[String],
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(b.clone());
    }
    q
}

fn date(r: &AnyRow, column: &str) -> Result<NaiveDate, StoreError> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|_| StoreError::Corrupt(format!("{column}: {text}")))
}

fn opt_date(r: &AnyRow, column: &str) -> Result<Option<NaiveDate>, StoreError> {
    Ok(r.try_get::<Option<String>, _>(column)?.and_then(|t| t.parse().ok()))
}

fn scaled(r: &AnyRow, column: &str) -> Result<Decimal, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(column)?.map_or(Decimal::ZERO, from_scaled))
}

fn text(r: &AnyRow, column: &str) -> Result<String, StoreError> {
    Ok(r.try_get::<Option<String>, _>(column)?.unwrap_or_default())
}

/// `value × num ÷ den`, rounded to money; zero when `den` is zero.
fn share(value: Decimal, num: Decimal, den: Decimal) -> Decimal {
    if den.is_zero() { Decimal::ZERO } else { round_to(value * num / den, MONEY_PLACES) }
}

/// The company's base currency and its decimal places.
async fn base_currency(conn: &mut Conn) -> Result<(String, u32), StoreError> {
    let r = sqlx::query(
        "SELECT c.base_currency, cur.decimals FROM company c \
         LEFT JOIN currencies cur ON cur.code = c.base_currency WHERE c.id = 1",
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("company", 1))?;
    let places = r
        .try_get::<Option<i64>, _>("decimals")?
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(MONEY_PLACES);
    Ok((r.try_get("base_currency")?, places))
}

/// Exchange rates per currency, oldest first, for converting into the base currency.
#[derive(Debug, Clone, Default)]
struct Rates {
    base: String,
    places: u32,
    by_currency: HashMap<String, Vec<(NaiveDate, Decimal)>>,
}

impl Rates {
    /// Every rate dated on or before `until`.
    async fn load(conn: &mut Conn, until: NaiveDate) -> Result<Rates, StoreError> {
        let (base, places) = base_currency(conn).await?;
        let rows = sqlx::query(
            "SELECT currency, rate_date, rate FROM exchange_rates WHERE rate_date <= $1 \
             ORDER BY currency, rate_date",
        )
        .bind(until.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut by_currency: HashMap<String, Vec<(NaiveDate, Decimal)>> = HashMap::new();
        for r in &rows {
            by_currency
                .entry(r.try_get("currency")?)
                .or_default()
                .push((date(r, "rate_date")?, from_scaled(r.try_get("rate")?)));
        }
        Ok(Rates { base, places, by_currency })
    }

    /// `amount` in `currency` on `on`, in the base currency; `None` without a rate.
    fn to_base(&self, amount: Decimal, currency: Option<&str>, on: NaiveDate) -> Option<Decimal> {
        let Some(currency) = currency.filter(|c| !c.is_empty() && *c != self.base) else {
            return Some(amount);
        };
        let rates = self.by_currency.get(currency)?;
        let at = rates.partition_point(|(d, _)| *d <= on);
        let (_, rate) = rates.get(at.checked_sub(1)?)?;
        Some(round_to(amount * *rate, self.places))
    }
}

// ---------------------------------------------------------------------------------------
// Order execution tracking

/// Where a sales order line stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineStatus {
    /// Something is still to deliver, and its date has not passed.
    Open,
    /// Something is still to deliver after its promised (else requested) date.
    Late,
    /// Everything delivered; not all of it invoiced.
    Delivered,
    /// Delivered and invoiced; not all of it paid.
    Invoiced,
    /// Delivered, invoiced and paid.
    Paid,
    /// Closed with nothing (left) delivered or invoiced.
    Closed,
}

impl LineStatus {
    /// Every status, in the order a line moves through them.
    pub const ALL: [LineStatus; 6] = [
        LineStatus::Open,
        LineStatus::Late,
        LineStatus::Delivered,
        LineStatus::Invoiced,
        LineStatus::Paid,
        LineStatus::Closed,
    ];

    /// Stable code for the API and the message catalogue.
    pub fn code(self) -> &'static str {
        match self {
            LineStatus::Open => "open",
            LineStatus::Late => "late",
            LineStatus::Delivered => "delivered",
            LineStatus::Invoiced => "invoiced",
            LineStatus::Paid => "paid",
            LineStatus::Closed => "closed",
        }
    }

    /// The status with code `code`.
    pub fn from_code(code: &str) -> Option<LineStatus> {
        LineStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether a line in this status passes a filter on `wanted` (`open` includes `late`).
    pub fn matches(self, wanted: LineStatus) -> bool {
        self == wanted || (wanted == LineStatus::Open && self == LineStatus::Late)
    }
}

/// Which sales order lines the execution report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionFilter {
    /// Only this customer.
    pub customer: Option<String>,
    /// Only orders of this salesperson (employee code).
    pub salesperson: Option<String>,
    /// Only this item.
    pub item: Option<String>,
    /// Only this order number.
    pub order: Option<String>,
    /// Orders dated on or after.
    pub from: Option<NaiveDate>,
    /// Orders dated on or before.
    pub to: Option<NaiveDate>,
    /// Only lines in this status (`Open` includes `Late`); `None` for all.
    pub status: Option<LineStatus>,
    /// The day lateness is judged on.
    pub as_of: NaiveDate,
}

impl ExecutionFilter {
    /// Every posted order line, judged on `as_of`.
    pub fn all(as_of: NaiveDate) -> ExecutionFilter {
        ExecutionFilter {
            customer: None,
            salesperson: None,
            item: None,
            order: None,
            from: None,
            to: None,
            status: None,
            as_of,
        }
    }

    /// The order-line conditions on `documents d` and `document_lines l`, from `$1`.
    fn conditions(&self) -> Filter {
        let mut f = Filter::starting_at(1);
        f.and("d.partner", "=", self.customer.clone());
        f.and("d.salesperson", "=", self.salesperson.clone());
        f.and("l.item", "=", self.item.clone());
        f.and("d.number", "=", self.order.clone());
        f.and("d.doc_date", ">=", self.from.map(|d| d.to_string()));
        f.and("d.doc_date", "<=", self.to.map(|d| d.to_string()));
        if matches!(self.status, Some(LineStatus::Open | LineStatus::Late)) {
            // Only lines with something still to deliver: spares reading the history.
            f.sql.push_str(&format!(
                " AND d.state = 'approved' AND l.quantity > (SELECT \
                 CAST(COALESCE(SUM(sx.quantity), 0) AS BIGINT) FROM document_lines sx \
                 JOIN documents sxd ON sxd.id = sx.document_id WHERE sx.source_line_id = l.id \
                 AND sxd.doc_type = 'sales_delivery' AND sxd.state IN {POSTED})"
            ));
        }
        f
    }
}

/// One approved or closed sales order line followed through delivery, return, invoice,
/// credit note and receipt. Quantities are in the order line's unit; amounts in the order's
/// currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionLine {
    /// The order.
    pub order: DocRef,
    /// Whether the order is closed (nothing more will be delivered from it).
    pub order_closed: bool,
    /// The order line's id.
    pub line_id: i64,
    /// Its line number.
    pub line_no: i64,
    /// The quotation the line came from, if any.
    pub quotation: Option<DocRef>,
    /// Customer code.
    pub customer: String,
    /// Customer name in Chinese.
    pub customer_zh: String,
    /// Customer name in English.
    pub customer_en: String,
    /// Salesperson (employee code).
    pub salesperson: Option<String>,
    /// Salesperson's name.
    pub salesperson_name: Option<String>,
    /// The order's currency.
    pub currency: Option<String>,
    /// Item code.
    pub item: String,
    /// Item name in Chinese.
    pub item_zh: String,
    /// Item name in English.
    pub item_en: String,
    /// The line's unit.
    pub unit: String,
    /// Quantity ordered.
    pub ordered: Decimal,
    /// Net unit price.
    pub unit_price: Decimal,
    /// Line amount.
    pub amount: Decimal,
    /// Quantity on approved deliveries from this line.
    pub shipped: Decimal,
    /// Quantity on approved returns of those deliveries.
    pub returned: Decimal,
    /// Shipped less returned.
    pub delivered: Decimal,
    /// Quantity on approved invoices of those deliveries.
    pub invoiced_qty: Decimal,
    /// Their amount.
    pub invoiced_amount: Decimal,
    /// Quantity on approved credit notes of those returns.
    pub credited_qty: Decimal,
    /// Their amount (positive).
    pub credited_amount: Decimal,
    /// What has been paid: each invoice line's share of its invoice's settled amount, less
    /// each credit-note line's share of its credit note's settled amount.
    pub paid_amount: Decimal,
    /// The promised delivery date.
    pub promised_date: Option<NaiveDate>,
    /// The requested date (the line's due date, else the order's).
    pub requested_date: Option<NaiveDate>,
    /// Still to deliver: ordered less shipped (zero once the order is closed).
    pub backlog_qty: Decimal,
    /// Its value at the line's price.
    pub backlog_value: Decimal,
    /// Days past the promised (else requested) date with something still to deliver.
    pub days_late: Option<i64>,
    /// Where it stands.
    pub status: LineStatus,
    /// Approved deliveries from the line.
    pub deliveries: Vec<DocRef>,
    /// Approved returns of those deliveries.
    pub returns: Vec<DocRef>,
    /// Approved invoices of those deliveries.
    pub invoices: Vec<DocRef>,
    /// Approved credit notes of those returns.
    pub credit_notes: Vec<DocRef>,
    /// Approved receipts settling those invoices or credit notes.
    pub receipts: Vec<DocRef>,
}

impl ExecutionLine {
    /// Invoiced less credited quantity.
    pub fn net_invoiced_qty(&self) -> Decimal {
        self.invoiced_qty - self.credited_qty
    }

    /// Invoiced less credited amount.
    pub fn net_invoiced_amount(&self) -> Decimal {
        self.invoiced_amount - self.credited_amount
    }

    /// Net invoiced amount not yet paid.
    pub fn unpaid(&self) -> Decimal {
        self.net_invoiced_amount() - self.paid_amount
    }

    fn judge(&mut self, as_of: NaiveDate) {
        self.delivered = self.shipped - self.returned;
        self.backlog_qty = if self.order_closed {
            Decimal::ZERO
        } else {
            (self.ordered - self.shipped).max(Decimal::ZERO)
        };
        self.backlog_value = round_to(self.backlog_qty * self.unit_price, MONEY_PLACES);
        let due = self.promised_date.or(self.requested_date);
        self.days_late = due
            .map(|d| (as_of - d).num_days())
            .filter(|days| *days > 0 && self.backlog_qty > Decimal::ZERO);
        self.status = if self.backlog_qty > Decimal::ZERO {
            if self.days_late.is_some() { LineStatus::Late } else { LineStatus::Open }
        } else if self.delivered <= Decimal::ZERO && self.net_invoiced_qty() <= Decimal::ZERO {
            LineStatus::Closed
        } else if self.net_invoiced_qty() < self.delivered {
            LineStatus::Delivered
        } else if self.paid_amount < self.net_invoiced_amount() {
            LineStatus::Invoiced
        } else {
            LineStatus::Paid
        };
    }
}

/// One approved line pushed down from a report line, with its document.
struct Child {
    line_id: i64,
    source: i64,
    qty: Decimal,
    amount: Decimal,
    doc: DocRef,
    /// The document's open item: (amount, open amount).
    open_item: Option<(Decimal, Decimal)>,
}

/// Approved lines of `doc_type` whose source line is in `sources` (a subquery using the
/// order filter's parameters).
async fn children(
    conn: &mut Conn,
    doc_type: &'static str,
    sources: &str,
    binds: &[String],
) -> Result<Vec<Child>, StoreError> {
    let sql = format!(
        "SELECT x.id, x.source_line_id, x.quantity, x.amount, xd.id AS doc_id, xd.doc_type, \
         xd.number, xd.doc_date, o.amount AS oi_amount, o.open_amount AS oi_open \
         FROM document_lines x JOIN documents xd ON xd.id = x.document_id \
         LEFT JOIN open_items o ON o.document_id = xd.id \
         WHERE xd.doc_type = '{doc_type}' AND xd.state IN {POSTED} \
         AND x.source_line_id IN ({sources}) ORDER BY xd.doc_date, xd.number, x.line_no"
    );
    let rows = query_with(sql, binds).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            let open_item = match r.try_get::<Option<i64>, _>("oi_amount")? {
                Some(a) => Some((from_scaled(a), scaled(r, "oi_open")?)),
                None => None,
            };
            Ok(Child {
                line_id: r.try_get("id")?,
                source: r.try_get::<Option<i64>, _>("source_line_id")?.unwrap_or_default(),
                qty: scaled(r, "quantity")?,
                amount: scaled(r, "amount")?,
                doc: DocRef {
                    id: r.try_get("doc_id")?,
                    doc_type: r.try_get("doc_type")?,
                    number: r.try_get("number")?,
                    date: date(r, "doc_date")?,
                },
                open_item,
            })
        })
        .collect()
}

fn push_ref(list: &mut Vec<DocRef>, doc: &DocRef) {
    if !list.iter().any(|d| d.id == doc.id) {
        list.push(doc.clone());
    }
}

/// Every approved or closed sales order line the filter selects, followed through the
/// document flow, oldest order first. Six queries whatever the number of lines.
pub async fn execution(db: &Db, f: &ExecutionFilter) -> Result<Vec<ExecutionLine>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let cond = f.conditions();
    let binds = cond.binds.clone();
    let orders = format!(
        "SELECT l.id FROM document_lines l JOIN documents d ON d.id = l.document_id \
         WHERE d.doc_type = 'sales_order' AND d.state IN {POSTED}{}",
        cond.sql
    );
    let deliveries = format!(
        "SELECT x2.id FROM document_lines x2 JOIN documents xd2 ON xd2.id = x2.document_id \
         WHERE xd2.doc_type = 'sales_delivery' AND xd2.state IN {POSTED} \
         AND x2.source_line_id IN ({orders})"
    );
    let returns = format!(
        "SELECT x3.id FROM document_lines x3 JOIN documents xd3 ON xd3.id = x3.document_id \
         WHERE xd3.doc_type = 'sales_return' AND xd3.state IN {POSTED} \
         AND x3.source_line_id IN ({deliveries})"
    );

    // 1. The order lines.
    let sql = format!(
        "SELECT l.id, l.line_no, l.item, l.unit, l.quantity, l.unit_price, l.amount, \
         l.promised_date, l.due_date, d.id AS doc_id, d.number, d.doc_date, d.state, \
         d.partner, d.salesperson, d.currency, d.due_date AS doc_due, \
         c.name_zh AS customer_zh, c.name_en AS customer_en, i.name_zh AS item_zh, \
         i.name_en AS item_en, e.name AS salesperson_name, \
         q.id AS quote_id, q.number AS quote_number, q.doc_date AS quote_date \
         FROM document_lines l JOIN documents d ON d.id = l.document_id \
         LEFT JOIN customers c ON c.code = d.partner \
         LEFT JOIN items i ON i.code = l.item \
         LEFT JOIN employees e ON e.code = d.salesperson \
         LEFT JOIN document_lines ql ON ql.id = l.source_line_id \
         LEFT JOIN documents q ON q.id = ql.document_id AND q.doc_type = 'sales_quotation' \
         WHERE d.doc_type = 'sales_order' AND d.state IN {POSTED}{} \
         ORDER BY d.doc_date, d.number, l.line_no",
        cond.sql
    );
    let rows = query_with(sql, &binds).fetch_all(&mut *conn).await?;
    let mut lines = Vec::with_capacity(rows.len());
    for r in &rows {
        let quotation = match r.try_get::<Option<i64>, _>("quote_id")? {
            Some(id) => Some(DocRef {
                id,
                doc_type: "sales_quotation".to_owned(),
                number: text(r, "quote_number")?,
                date: date(r, "quote_date")?,
            }),
            None => None,
        };
        lines.push(ExecutionLine {
            order: DocRef {
                id: r.try_get("doc_id")?,
                doc_type: "sales_order".to_owned(),
                number: r.try_get("number")?,
                date: date(r, "doc_date")?,
            },
            order_closed: r.try_get::<String, _>("state")? == "closed",
            line_id: r.try_get("id")?,
            line_no: r.try_get("line_no")?,
            quotation,
            customer: text(r, "partner")?,
            customer_zh: text(r, "customer_zh")?,
            customer_en: text(r, "customer_en")?,
            salesperson: r.try_get("salesperson")?,
            salesperson_name: r.try_get("salesperson_name")?,
            currency: r.try_get("currency")?,
            item: text(r, "item")?,
            item_zh: text(r, "item_zh")?,
            item_en: text(r, "item_en")?,
            unit: text(r, "unit")?,
            ordered: scaled(r, "quantity")?,
            unit_price: scaled(r, "unit_price")?,
            amount: scaled(r, "amount")?,
            shipped: Decimal::ZERO,
            returned: Decimal::ZERO,
            delivered: Decimal::ZERO,
            invoiced_qty: Decimal::ZERO,
            invoiced_amount: Decimal::ZERO,
            credited_qty: Decimal::ZERO,
            credited_amount: Decimal::ZERO,
            paid_amount: Decimal::ZERO,
            promised_date: opt_date(r, "promised_date")?,
            requested_date: opt_date(r, "due_date")?.or(opt_date(r, "doc_due")?),
            backlog_qty: Decimal::ZERO,
            backlog_value: Decimal::ZERO,
            days_late: None,
            status: LineStatus::Open,
            deliveries: Vec::new(),
            returns: Vec::new(),
            invoices: Vec::new(),
            credit_notes: Vec::new(),
            receipts: Vec::new(),
        });
    }
    let index: HashMap<i64, usize> =
        lines.iter().enumerate().map(|(i, l)| (l.line_id, i)).collect();

    // 2.–5. Deliveries, returns, invoices and credit notes, each mapped back to its order line.
    let mut order_of: HashMap<i64, usize> = HashMap::new();
    for c in children(&mut conn, "sales_delivery", &orders, &binds).await? {
        let Some(&i) = index.get(&c.source) else { continue };
        order_of.insert(c.line_id, i);
        if let Some(l) = lines.get_mut(i) {
            l.shipped += c.qty;
            push_ref(&mut l.deliveries, &c.doc);
        }
    }
    let mut return_of: HashMap<i64, usize> = HashMap::new();
    for c in children(&mut conn, "sales_return", &deliveries, &binds).await? {
        let Some(&i) = order_of.get(&c.source) else { continue };
        return_of.insert(c.line_id, i);
        if let Some(l) = lines.get_mut(i) {
            l.returned += c.qty;
            push_ref(&mut l.returns, &c.doc);
        }
    }
    let mut settled_docs: HashMap<i64, BTreeSet<usize>> = HashMap::new();
    for c in children(&mut conn, "sales_invoice", &deliveries, &binds).await? {
        let Some(&i) = order_of.get(&c.source) else { continue };
        settled_docs.entry(c.doc.id).or_default().insert(i);
        if let Some(l) = lines.get_mut(i) {
            l.invoiced_qty += c.qty;
            l.invoiced_amount += c.amount;
            if let Some((total, open)) = c.open_item {
                l.paid_amount += share(c.amount, total - open, total);
            }
            push_ref(&mut l.invoices, &c.doc);
        }
    }
    for c in children(&mut conn, "sales_credit_note", &returns, &binds).await? {
        let Some(&i) = return_of.get(&c.source) else { continue };
        settled_docs.entry(c.doc.id).or_default().insert(i);
        if let Some(l) = lines.get_mut(i) {
            l.credited_qty += c.qty;
            l.credited_amount += c.amount;
            if let Some((total, open)) = c.open_item {
                // Negative amounts: the settled share of a credit note.
                l.paid_amount -= share(c.amount, total - open, total);
            }
            push_ref(&mut l.credit_notes, &c.doc);
        }
    }

    // 6. Receipts settling those invoices and credit notes.
    let sql = format!(
        "SELECT DISTINCT x.settles, xd.id AS doc_id, xd.number, xd.doc_date \
         FROM document_lines x JOIN documents xd ON xd.id = x.document_id \
         WHERE xd.doc_type = 'customer_receipt' AND xd.state IN {POSTED} \
         AND x.settles IN (SELECT y.document_id FROM document_lines y \
         WHERE y.source_line_id IN ({deliveries}) OR y.source_line_id IN ({returns}))"
    );
    for r in query_with(sql, &binds).fetch_all(&mut *conn).await? {
        let settles: Option<i64> = r.try_get("settles")?;
        let Some(targets) = settles.and_then(|s| settled_docs.get(&s)) else { continue };
        let doc = DocRef {
            id: r.try_get("doc_id")?,
            doc_type: "customer_receipt".to_owned(),
            number: r.try_get("number")?,
            date: date(&r, "doc_date")?,
        };
        for &i in targets {
            if let Some(l) = lines.get_mut(i) {
                push_ref(&mut l.receipts, &doc);
            }
        }
    }

    for l in &mut lines {
        l.judge(f.as_of);
        l.receipts.sort();
    }
    if let Some(wanted) = f.status {
        lines.retain(|l| l.status.matches(wanted));
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------------------
// Receivables ageing

/// Which receivables the ageing report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeingFilter {
    /// Only this customer.
    pub customer: Option<String>,
    /// Only invoices and credit notes of this salesperson.
    pub salesperson: Option<String>,
    /// The day overdue days are counted to.
    pub as_of: NaiveDate,
}

/// One invoice or credit note not fully settled. Amounts in its currency; credit notes
/// negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenItem {
    /// The invoice or credit note.
    pub document: DocRef,
    /// Customer code.
    pub customer: String,
    /// Salesperson.
    pub salesperson: Option<String>,
    /// Currency.
    pub currency: String,
    /// Original amount.
    pub amount: Decimal,
    /// Still open.
    pub open_amount: Decimal,
    /// Due date.
    pub due_date: NaiveDate,
    /// Days overdue on the report date (zero or less: not yet due).
    pub days_overdue: i64,
    /// Index into [`AGEING_BUCKETS`].
    pub bucket: usize,
}

/// The open receivables of one customer in one currency, by age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeingRow {
    /// Customer code.
    pub customer: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Currency.
    pub currency: String,
    /// Open amount per bucket of [`AGEING_BUCKETS`].
    pub buckets: [Decimal; BUCKETS],
    /// Their sum.
    pub total: Decimal,
    /// The buckets in the base currency at the latest rate on or before the report date;
    /// `None` without a rate.
    pub base_buckets: Option<[Decimal; BUCKETS]>,
    /// Open items in it.
    pub items: usize,
}

/// Receivables by customer and age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeingReport {
    /// The report date.
    pub as_of: NaiveDate,
    /// The company's base currency.
    pub base_currency: String,
    /// One row per customer and currency, by customer code.
    pub rows: Vec<AgeingRow>,
    /// Bucket totals per currency.
    pub totals: Vec<(String, [Decimal; BUCKETS])>,
    /// Every open item, by customer then due date.
    pub items: Vec<OpenItem>,
    /// Customer rows left out of the base-currency figures for want of a rate.
    pub unconverted: usize,
}

/// Open receivables (invoices less credit notes, as they stand now) aged by due date on
/// `f.as_of` into the buckets of [`AGEING_BUCKETS`].
pub async fn receivables_ageing(db: &Db, f: &AgeingFilter) -> Result<AgeingReport, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let rates = Rates::load(&mut conn, f.as_of).await?;
    let mut cond = Filter::starting_at(1);
    cond.and("o.partner", "=", f.customer.clone());
    cond.and("d.salesperson", "=", f.salesperson.clone());
    let sql = format!(
        "SELECT o.document_id, o.partner, o.currency, o.amount, o.open_amount, o.due_date, \
         d.doc_type, d.number, d.doc_date, d.salesperson, c.name_zh, c.name_en \
         FROM open_items o JOIN documents d ON d.id = o.document_id \
         LEFT JOIN customers c ON c.code = o.partner \
         WHERE o.side = 'receivable' AND o.open_amount <> 0{} \
         ORDER BY o.partner, o.due_date, d.number",
        cond.sql
    );
    let rows = query_with(sql, &cond.binds).fetch_all(&mut *conn).await?;

    let mut items = Vec::with_capacity(rows.len());
    let mut groups: BTreeMap<(String, String), AgeingRow> = BTreeMap::new();
    let mut totals: BTreeMap<String, [Decimal; BUCKETS]> = BTreeMap::new();
    for r in &rows {
        let customer = text(r, "partner")?;
        let currency =
            r.try_get::<Option<String>, _>("currency")?.unwrap_or_else(|| rates.base.clone());
        let due_date = date(r, "due_date")?;
        let bucket = rules::ageing_bucket(due_date, f.as_of).min(BUCKETS - 1);
        let open_amount = scaled(r, "open_amount")?;
        let row = groups.entry((customer.clone(), currency.clone())).or_insert_with(|| AgeingRow {
            customer: customer.clone(),
            name_zh: String::new(),
            name_en: String::new(),
            currency: currency.clone(),
            buckets: [Decimal::ZERO; BUCKETS],
            total: Decimal::ZERO,
            base_buckets: None,
            items: 0,
        });
        row.name_zh = text(r, "name_zh")?;
        row.name_en = text(r, "name_en")?;
        if let Some(b) = row.buckets.get_mut(bucket) {
            *b += open_amount;
        }
        row.total += open_amount;
        row.items += 1;
        if let Some(b) = totals.entry(currency.clone()).or_default().get_mut(bucket) {
            *b += open_amount;
        }
        items.push(OpenItem {
            document: DocRef {
                id: r.try_get("document_id")?,
                doc_type: r.try_get("doc_type")?,
                number: r.try_get("number")?,
                date: date(r, "doc_date")?,
            },
            customer,
            salesperson: r.try_get("salesperson")?,
            currency,
            amount: scaled(r, "amount")?,
            open_amount,
            due_date,
            days_overdue: (f.as_of - due_date).num_days(),
            bucket,
        });
    }

    let mut unconverted = 0;
    let mut out = Vec::with_capacity(groups.len());
    for (_, mut row) in groups {
        let mut base = [Decimal::ZERO; BUCKETS];
        let mut ok = true;
        for (slot, amount) in base.iter_mut().zip(row.buckets) {
            match rates.to_base(amount, Some(&row.currency), f.as_of) {
                Some(v) => *slot = v,
                None => ok = false,
            }
        }
        if ok {
            row.base_buckets = Some(base);
        } else {
            unconverted += 1;
        }
        out.push(row);
    }
    Ok(AgeingReport {
        as_of: f.as_of,
        base_currency: rates.base,
        rows: out,
        totals: totals.into_iter().collect(),
        items,
        unconverted,
    })
}

// ---------------------------------------------------------------------------------------
// Gross margin

/// What the margin report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarginBy {
    /// The sales order the delivery came from.
    Order,
    /// The customer.
    Customer,
    /// The item.
    Item,
    /// The salesperson.
    Salesperson,
    /// The month of the delivery or return.
    Month,
}

impl MarginBy {
    /// Every grouping.
    pub const ALL: [MarginBy; 5] = [
        MarginBy::Order,
        MarginBy::Customer,
        MarginBy::Item,
        MarginBy::Salesperson,
        MarginBy::Month,
    ];

    /// Stable code for the API and the message catalogue.
    pub fn code(self) -> &'static str {
        match self {
            MarginBy::Order => "order",
            MarginBy::Customer => "customer",
            MarginBy::Item => "item",
            MarginBy::Salesperson => "salesperson",
            MarginBy::Month => "month",
        }
    }

    /// The grouping with code `code`.
    pub fn from_code(code: &str) -> Option<MarginBy> {
        MarginBy::ALL.into_iter().find(|b| b.code() == code)
    }
}

/// Which deliveries and returns the margin report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginFilter {
    /// Dated on or after.
    pub from: NaiveDate,
    /// Dated on or before.
    pub to: NaiveDate,
    /// Only this customer.
    pub customer: Option<String>,
    /// Only this salesperson.
    pub salesperson: Option<String>,
    /// Only this item.
    pub item: Option<String>,
}

/// Revenue, cost and margin of one group, in the base currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginRow {
    /// Order number, customer, item or employee code, or `YYYY-MM`; '' when there is none
    /// (a delivery without an order, an order without a salesperson).
    pub key: String,
    /// The order's id (grouped by order).
    pub doc_id: Option<i64>,
    /// Name in Chinese (customer, item, employee; the customer of an order).
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Quantity delivered less returned, in base units (from the stock ledger).
    pub qty: Decimal,
    /// Revenue: delivery line amounts less return line amounts.
    pub revenue: Decimal,
    /// Cost: the stock ledger value of what was delivered, less what came back.
    pub cost: Decimal,
}

impl MarginRow {
    fn new(key: String) -> MarginRow {
        MarginRow {
            key,
            doc_id: None,
            name_zh: String::new(),
            name_en: String::new(),
            qty: Decimal::ZERO,
            revenue: Decimal::ZERO,
            cost: Decimal::ZERO,
        }
    }

    fn add(&mut self, line: &MarginLine) {
        self.qty += line.qty;
        self.revenue += line.revenue;
        self.cost += line.cost;
    }

    /// Revenue less cost.
    pub fn margin(&self) -> Decimal {
        rules::margin(self.revenue, self.cost).0
    }

    /// Margin in percent of revenue (none without revenue).
    pub fn margin_pct(&self) -> Option<Decimal> {
        rules::margin(self.revenue, self.cost).1
    }
}

/// Gross margin from the cost of what was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginReport {
    /// The grouping of `rows`.
    pub by: MarginBy,
    /// The base currency all figures are in.
    pub base_currency: String,
    /// One row per group, the largest revenue first (months in calendar order).
    pub rows: Vec<MarginRow>,
    /// One row per month, in order (the trend).
    pub months: Vec<MarginRow>,
    /// Everything.
    pub total: MarginRow,
    /// Deliveries and returns left out for want of an exchange rate.
    pub unconverted: usize,
}

/// One delivery or return line as the margin counts it.
struct MarginLine {
    order: Option<(i64, String)>,
    customer: (String, String, String),
    item: (String, String, String),
    salesperson: (String, String),
    month: String,
    qty: Decimal,
    revenue: Decimal,
    cost: Decimal,
}

/// Gross margin of approved deliveries less approved returns dated in the period: revenue
/// is the line amount (converted into the base currency at the document date), cost is what
/// the stock ledger took out for the line (−Σ move values; a return's moves put cost back).
pub async fn margin(db: &Db, f: &MarginFilter, by: MarginBy) -> Result<MarginReport, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let rates = Rates::load(&mut conn, f.to).await?;
    let mut cond = Filter::starting_at(3);
    cond.and("d.partner", "=", f.customer.clone());
    cond.and("d.salesperson", "=", f.salesperson.clone());
    cond.and("l.item", "=", f.item.clone());
    let sql = format!(
        "SELECT l.id, l.item, l.amount, d.id AS doc_id, d.doc_type, d.doc_date, d.partner, \
         d.salesperson, d.currency, c.name_zh AS customer_zh, c.name_en AS customer_en, \
         i.name_zh AS item_zh, i.name_en AS item_en, e.name AS salesperson_name, \
         o1.id AS o1_id, o1.doc_type AS o1_type, o1.number AS o1_number, \
         o2.id AS o2_id, o2.doc_type AS o2_type, o2.number AS o2_number, \
         (SELECT CAST(COALESCE(SUM(m.value), 0) AS BIGINT) FROM stock_moves m \
          WHERE m.line_id = l.id) AS move_value, \
         (SELECT CAST(COALESCE(SUM(m.qty), 0) AS BIGINT) FROM stock_moves m \
          WHERE m.line_id = l.id) AS move_qty \
         FROM document_lines l JOIN documents d ON d.id = l.document_id \
         LEFT JOIN customers c ON c.code = d.partner \
         LEFT JOIN items i ON i.code = l.item \
         LEFT JOIN employees e ON e.code = d.salesperson \
         LEFT JOIN document_lines s1 ON s1.id = l.source_line_id \
         LEFT JOIN documents o1 ON o1.id = s1.document_id \
         LEFT JOIN document_lines s2 ON s2.id = s1.source_line_id \
         LEFT JOIN documents o2 ON o2.id = s2.document_id \
         WHERE d.doc_type IN ('sales_delivery', 'sales_return') AND d.state IN {POSTED} \
         AND d.doc_date >= $1 AND d.doc_date <= $2{} \
         ORDER BY d.doc_date, d.number, l.line_no",
        cond.sql
    );
    let mut binds = vec![f.from.to_string(), f.to.to_string()];
    binds.extend(cond.binds);
    let rows = query_with(sql, &binds).fetch_all(&mut *conn).await?;

    let mut lines = Vec::with_capacity(rows.len());
    let mut unconverted: HashSet<i64> = HashSet::new();
    for r in &rows {
        let doc_type: String = r.try_get("doc_type")?;
        let is_return = doc_type == "sales_return";
        let doc_date = date(r, "doc_date")?;
        let currency: Option<String> = r.try_get("currency")?;
        let amount = scaled(r, "amount")?;
        let Some(amount) = rates.to_base(amount, currency.as_deref(), doc_date) else {
            unconverted.insert(r.try_get("doc_id")?);
            continue;
        };
        let prefix = if is_return { "o2" } else { "o1" };
        let order = match r.try_get::<Option<i64>, _>(format!("{prefix}_id").as_str())? {
            Some(id) if text(r, &format!("{prefix}_type"))? == "sales_order" => {
                Some((id, text(r, &format!("{prefix}_number"))?))
            }
            _ => None,
        };
        lines.push(MarginLine {
            order,
            customer: (text(r, "partner")?, text(r, "customer_zh")?, text(r, "customer_en")?),
            item: (text(r, "item")?, text(r, "item_zh")?, text(r, "item_en")?),
            salesperson: (text(r, "salesperson")?, text(r, "salesperson_name")?),
            month: format!("{:04}-{:02}", doc_date.year(), doc_date.month()),
            qty: -scaled(r, "move_qty")?,
            revenue: if is_return { -amount } else { amount },
            cost: -scaled(r, "move_value")?,
        });
    }

    let group = |by: MarginBy| -> Vec<MarginRow> {
        let mut groups: BTreeMap<String, MarginRow> = BTreeMap::new();
        for line in &lines {
            let (key, id, zh, en) = match by {
                MarginBy::Order => {
                    let (id, number) =
                        line.order.clone().map_or((None, String::new()), |(i, n)| (Some(i), n));
                    (number, id, line.customer.1.clone(), line.customer.2.clone())
                }
                MarginBy::Customer => named(&line.customer),
                MarginBy::Item => named(&line.item),
                MarginBy::Salesperson => (
                    line.salesperson.0.clone(),
                    None,
                    line.salesperson.1.clone(),
                    line.salesperson.1.clone(),
                ),
                MarginBy::Month => (line.month.clone(), None, String::new(), String::new()),
            };
            let row = groups.entry(key.clone()).or_insert_with(|| MarginRow::new(key));
            row.doc_id = row.doc_id.or(id);
            row.name_zh = zh;
            row.name_en = en;
            row.add(line);
        }
        groups.into_values().collect()
    };
    let mut rows = group(by);
    if by != MarginBy::Month {
        rows.sort_by(|a, b| b.revenue.cmp(&a.revenue).then_with(|| a.key.cmp(&b.key)));
    }
    let months = group(MarginBy::Month);
    let mut total = MarginRow::new(String::new());
    for line in &lines {
        total.add(line);
    }
    Ok(MarginReport {
        by,
        base_currency: rates.base,
        rows,
        months,
        total,
        unconverted: unconverted.len(),
    })
}

/// A (code, Chinese name, English name) triple as a group key without a document.
fn named((code, zh, en): &(String, String, String)) -> (String, Option<i64>, String, String) {
    (code.clone(), None, zh.clone(), en.clone())
}

// ---------------------------------------------------------------------------------------
// Targets and attainment

/// Targets and actual sales of one salesperson, one team or the whole company over the
/// twelve months of a year, in the base currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    /// Employee or department code; '' for sales without a salesperson (or a salesperson
    /// without a department).
    pub key: String,
    /// Employee name, or department name in Chinese.
    pub name_zh: String,
    /// Employee name, or department name in English.
    pub name_en: String,
    /// The employee's department (salesperson rows).
    pub team: Option<String>,
    /// Target per month, January first.
    pub target: [Decimal; 12],
    /// Invoiced less credited per month.
    pub actual: [Decimal; 12],
}

impl TargetRow {
    fn new(key: &str, name_zh: &str, name_en: &str, team: Option<String>) -> TargetRow {
        TargetRow {
            key: key.to_owned(),
            name_zh: name_zh.to_owned(),
            name_en: name_en.to_owned(),
            team,
            target: [Decimal::ZERO; 12],
            actual: [Decimal::ZERO; 12],
        }
    }

    fn add(&mut self, other: &TargetRow) {
        for (a, b) in self.target.iter_mut().zip(other.target) {
            *a += b;
        }
        for (a, b) in self.actual.iter_mut().zip(other.actual) {
            *a += b;
        }
    }

    /// Attainment per month in percent (none without a target).
    pub fn attainment(&self) -> [Option<Decimal>; 12] {
        let mut out = [None; 12];
        for (slot, (a, t)) in out.iter_mut().zip(self.actual.iter().zip(&self.target)) {
            *slot = rules::attainment(*a, *t);
        }
        out
    }

    /// The year's target.
    pub fn target_total(&self) -> Decimal {
        self.target.iter().sum()
    }

    /// The year's actual.
    pub fn actual_total(&self) -> Decimal {
        self.actual.iter().sum()
    }

    /// The year's attainment in percent.
    pub fn total_attainment(&self) -> Option<Decimal> {
        rules::attainment(self.actual_total(), self.target_total())
    }
}

/// Sales targets against actual sales for one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsReport {
    /// The year.
    pub year: i32,
    /// The base currency all figures are in.
    pub base_currency: String,
    /// Per salesperson, by code; '' (first) holds the sales without a salesperson.
    pub salespeople: Vec<TargetRow>,
    /// Per team (the salesperson's department), by code.
    pub teams: Vec<TargetRow>,
    /// The monthly sales plan: all targets against all actual sales.
    pub plan: TargetRow,
    /// Invoices and credit notes left out for want of an exchange rate.
    pub unconverted: usize,
}

/// The row of salesperson `code`, made on first use.
fn row_of<'a>(
    rows: &'a mut BTreeMap<String, TargetRow>,
    people: &HashMap<String, (String, Option<String>)>,
    code: &str,
) -> &'a mut TargetRow {
    rows.entry(code.to_owned()).or_insert_with(|| {
        let (name, team) = people.get(code).cloned().unwrap_or_default();
        TargetRow::new(code, &name, &name, team)
    })
}

/// Targets per salesperson, team and month of `year` against actual sales: approved
/// invoices less approved credit notes by the document's salesperson and month, converted
/// into the base currency at the document date.
pub async fn targets(db: &Db, year: i32) -> Result<TargetsReport, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let (Some(first), Some(last)) =
        (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31))
    else {
        return Err(papilio_core::DomainError::field("year", "field.out_of_range").into());
    };
    let rates = Rates::load(&mut conn, last).await?;

    let employees = sqlx::query(
        "SELECT e.code, e.name, e.department, dp.name_zh, dp.name_en FROM employees e \
         LEFT JOIN departments dp ON dp.code = e.department",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut people: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut departments: HashMap<String, (String, String)> = HashMap::new();
    for r in &employees {
        let department: Option<String> = r.try_get("department")?;
        if let Some(d) = &department {
            departments.insert(d.clone(), (text(r, "name_zh")?, text(r, "name_en")?));
        }
        people.insert(r.try_get("code")?, (r.try_get("name")?, department));
    }
    let mut rows: BTreeMap<String, TargetRow> = BTreeMap::new();

    let targets =
        sqlx::query("SELECT salesperson, month, amount FROM sales_targets WHERE year = $1")
            .bind(i64::from(year))
            .fetch_all(&mut *conn)
            .await?;
    for r in &targets {
        let code: String = r.try_get("salesperson")?;
        let month = usize::try_from(r.try_get::<i64, _>("month")?).unwrap_or(0);
        let amount = scaled(r, "amount")?;
        if let Some(slot) =
            month.checked_sub(1).and_then(|m| row_of(&mut rows, &people, &code).target.get_mut(m))
        {
            *slot += amount;
        }
    }

    let docs = sqlx::query(AssertSqlSafe(format!(
        "SELECT d.id, d.doc_type, d.doc_date, d.salesperson, d.currency, \
         CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS total \
         FROM documents d JOIN document_lines l ON l.document_id = d.id \
         WHERE d.doc_type IN ('sales_invoice', 'sales_credit_note') AND d.state IN {POSTED} \
         AND d.doc_date >= $1 AND d.doc_date <= $2 \
         GROUP BY d.id, d.doc_type, d.doc_date, d.salesperson, d.currency"
    )))
    .bind(first.to_string())
    .bind(last.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut unconverted = 0;
    for r in &docs {
        let doc_date = date(r, "doc_date")?;
        let currency: Option<String> = r.try_get("currency")?;
        let Some(total) = rates.to_base(scaled(r, "total")?, currency.as_deref(), doc_date) else {
            unconverted += 1;
            continue;
        };
        let signed =
            if r.try_get::<String, _>("doc_type")? == "sales_credit_note" { -total } else { total };
        let code = text(r, "salesperson")?;
        let month = usize::try_from(doc_date.month0()).unwrap_or(0);
        if let Some(slot) = row_of(&mut rows, &people, &code).actual.get_mut(month) {
            *slot += signed;
        }
    }

    let salespeople: Vec<TargetRow> = rows.into_values().collect();
    let mut teams: BTreeMap<String, TargetRow> = BTreeMap::new();
    let mut plan = TargetRow::new("", "", "", None);
    for p in &salespeople {
        let team = p.team.clone().unwrap_or_default();
        let (zh, en) = departments.get(&team).cloned().unwrap_or_default();
        teams.entry(team.clone()).or_insert_with(|| TargetRow::new(&team, &zh, &en, None)).add(p);
        plan.add(p);
    }
    Ok(TargetsReport {
        year,
        base_currency: rates.base,
        salespeople,
        teams: teams.into_values().collect(),
        plan,
        unconverted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn conversion_takes_the_latest_rate_on_or_before_the_date() {
        let mut rates = Rates { base: "CNY".into(), places: 2, ..Rates::default() };
        rates
            .by_currency
            .insert("USD".into(), vec![(d(2026, 10, 1), dec("7")), (d(2026, 11, 1), dec("7.1"))]);
        assert_eq!(rates.to_base(dec("10"), Some("CNY"), d(2026, 1, 1)), Some(dec("10")));
        assert_eq!(rates.to_base(dec("10"), None, d(2026, 1, 1)), Some(dec("10")));
        assert_eq!(rates.to_base(dec("10"), Some("USD"), d(2026, 9, 30)), None);
        assert_eq!(rates.to_base(dec("10"), Some("USD"), d(2026, 10, 31)), Some(dec("70")));
        assert_eq!(rates.to_base(dec("10"), Some("USD"), d(2026, 11, 1)), Some(dec("71")));
        assert_eq!(rates.to_base(dec("0.333"), Some("USD"), d(2026, 12, 1)), Some(dec("2.36")));
        assert_eq!(rates.to_base(dec("10"), Some("EUR"), d(2026, 12, 1)), None);
    }

    fn line() -> ExecutionLine {
        let doc = DocRef {
            id: 1,
            doc_type: "sales_order".into(),
            number: "SO1".into(),
            date: d(2026, 11, 1),
        };
        ExecutionLine {
            order: doc,
            order_closed: false,
            line_id: 1,
            line_no: 1,
            quotation: None,
            customer: "C".into(),
            customer_zh: String::new(),
            customer_en: String::new(),
            salesperson: None,
            salesperson_name: None,
            currency: None,
            item: "I".into(),
            item_zh: String::new(),
            item_en: String::new(),
            unit: "PCS".into(),
            ordered: dec("20"),
            unit_price: dec("180.5"),
            amount: dec("3610"),
            shipped: Decimal::ZERO,
            returned: Decimal::ZERO,
            delivered: Decimal::ZERO,
            invoiced_qty: Decimal::ZERO,
            invoiced_amount: Decimal::ZERO,
            credited_qty: Decimal::ZERO,
            credited_amount: Decimal::ZERO,
            paid_amount: Decimal::ZERO,
            promised_date: Some(d(2026, 11, 10)),
            requested_date: None,
            backlog_qty: Decimal::ZERO,
            backlog_value: Decimal::ZERO,
            days_late: None,
            status: LineStatus::Open,
            deliveries: Vec::new(),
            returns: Vec::new(),
            invoices: Vec::new(),
            credit_notes: Vec::new(),
            receipts: Vec::new(),
        }
    }

    #[test]
    fn a_line_moves_from_open_to_paid() {
        let mut l = line();
        l.judge(d(2026, 11, 10));
        assert_eq!((l.status, l.backlog_value, l.days_late), (LineStatus::Open, dec("3610"), None));
        l.shipped = dec("12");
        l.judge(d(2026, 11, 13));
        assert_eq!((l.status, l.backlog_qty, l.days_late), (LineStatus::Late, dec("8"), Some(3)));
        assert!(l.status.matches(LineStatus::Open));
        l.shipped = dec("20");
        l.returned = dec("2");
        l.judge(d(2026, 11, 13));
        assert_eq!(
            (l.status, l.delivered, l.backlog_qty),
            (LineStatus::Delivered, dec("18"), dec("0"))
        );
        l.invoiced_qty = dec("20");
        l.invoiced_amount = dec("3610");
        l.credited_qty = dec("2");
        l.credited_amount = dec("361");
        l.judge(d(2026, 11, 13));
        assert_eq!(l.status, LineStatus::Invoiced);
        l.paid_amount = dec("3249");
        l.judge(d(2026, 11, 13));
        assert_eq!(l.status, LineStatus::Paid);
        // A closed order with nothing delivered has no backlog and is simply closed.
        let mut c = line();
        c.order_closed = true;
        c.judge(d(2026, 12, 1));
        assert_eq!((c.status, c.backlog_qty, c.days_late), (LineStatus::Closed, dec("0"), None));
    }

    #[test]
    fn shares_round_to_money_and_survive_a_zero_total() {
        assert_eq!(share(dec("2166"), dec("1000"), dec("3610")), dec("600"));
        assert_eq!(share(dec("100"), dec("1"), dec("3")), dec("33.33"));
        assert_eq!(share(dec("100"), dec("1"), dec("0")), dec("0"));
    }
}
