//! Sales 销售 in storage: the sales document types and what they do.
//!
//! - `sales_quotation` 报价单 and `sales_order` 销售订单 are priced when saved ([`SalesPrep`]):
//!   list price, discount and why, the expected unit cost and its basis, and (orders) a
//!   promised date from available to promise. Submitting an order runs the price controls,
//!   the salesperson's amount limit and credit control ([`CreditRule`]); approving it
//!   reserves stock, closing it releases what is left.
//! - `sales_delivery` 销售出库 is pushed down from order lines, inherits their prices, checks
//!   credit again, posts through the stock ledger and releases the reservation.
//! - `sales_return` 退货 links to delivery lines (without using up what may be invoiced) and
//!   puts stock back; `sales_credit_note` 红字发票 is pushed down from the return.
//! - `sales_invoice` 销售发票 is pushed down from delivery lines and opens a receivable;
//!   `customer_receipt` 收款 lines settle invoices (and credit notes) by amount.
//!
//! Amounts are in the document's currency, which defaults to the customer's; a credit limit
//! is in the customer's currency.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use papilio_core::document::{DatePart, NumberFormat};
use papilio_core::pricing::{
    self, DiscountBasis, DiscountPolicy, PriceEntry, PriceLevel, PriceRequest, Recurrence, Window,
};
use papilio_core::sales::{self as rules, CreditBreach, Exposure};
use papilio_core::value::{from_scaled, round_to, to_scaled};
use papilio_core::{DomainError, FieldError};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db::{Conn, Db, TxFuture};
use crate::documents::{
    ApprovalRule, DocType, Document, Draft, DraftHook, DraftLine, Line, PostingHooks,
};
use crate::error::StoreError;
use crate::stock::{self, Cost, Flow, StockPosting};
use crate::stock_views;

/// Company-wide sales settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesSettings {
    /// What credit control does when a limit is exceeded: `block` or `approve`.
    pub credit_action: String,
    /// An invoice overdue by more days than this blocks (or sends to approval) new orders.
    pub overdue_days: i64,
    /// Months of stock ledger history the cost estimate averages.
    pub cost_history_months: i64,
    /// Margin (percent) under which a quotation or order line is flagged.
    pub target_margin_pct: Decimal,
    /// Optimistic-locking version.
    pub version: i64,
}

/// The credit actions a company can choose.
pub const CREDIT_ACTIONS: &[&str] = &["approve", "block"];

async fn load_settings(conn: &mut Conn) -> Result<SalesSettings, StoreError> {
    let r = sqlx::query(
        "SELECT credit_action, overdue_days, cost_history_months, target_margin_pct, version \
         FROM sales_settings WHERE id = 1",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(SalesSettings {
        credit_action: r.try_get("credit_action")?,
        overdue_days: r.try_get("overdue_days")?,
        cost_history_months: r.try_get("cost_history_months")?,
        target_margin_pct: from_scaled(r.try_get("target_margin_pct")?),
        version: r.try_get("version")?,
    })
}

/// The sales settings.
pub async fn settings(db: &Db) -> Result<SalesSettings, StoreError> {
    let mut conn = db.pool().acquire().await?;
    load_settings(&mut conn).await
}

/// Saves the sales settings if they are still at `s.version`.
pub async fn save_settings(db: &Db, s: &SalesSettings) -> Result<SalesSettings, StoreError> {
    let mut errors = Vec::new();
    if !CREDIT_ACTIONS.contains(&s.credit_action.as_str()) {
        errors.push(
            FieldError::new("credit_action", "field.not_choice")
                .with("options", CREDIT_ACTIONS.join(", ")),
        );
    }
    if !(0..=3650).contains(&s.overdue_days) {
        errors.push(
            FieldError::new("overdue_days", "field.out_of_range").with("min", 0).with("max", 3650),
        );
    }
    if !(1..=60).contains(&s.cost_history_months) {
        errors.push(
            FieldError::new("cost_history_months", "field.out_of_range")
                .with("min", 1)
                .with("max", 60),
        );
    }
    if s.target_margin_pct < Decimal::ZERO || s.target_margin_pct >= Decimal::ONE_HUNDRED {
        errors.push(
            FieldError::new("target_margin_pct", "field.out_of_range")
                .with("min", 0)
                .with("max", 99),
        );
    }
    let margin = to_scaled(s.target_margin_pct);
    if margin.is_none() {
        errors.push(FieldError::new("target_margin_pct", "field.too_many_decimals"));
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors).into());
    }
    db.write(|conn, _| {
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE sales_settings SET credit_action = $1, overdue_days = $2, \
                 cost_history_months = $3, target_margin_pct = $4, version = version + 1 \
                 WHERE id = 1 AND version = $5",
            )
            .bind(s.credit_action.clone())
            .bind(s.overdue_days)
            .bind(s.cost_history_months)
            .bind(margin.unwrap_or_default())
            .bind(s.version)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Stale { entity: "sales_settings".into(), key: "1".into() });
            }
            Ok(())
        })
    })
    .await?;
    settings(db).await
}

fn number(prefix: &'static str) -> NumberFormat {
    NumberFormat { prefix, date_part: DatePart::YearMonth, width: 5 }
}

fn sales_type(code: &'static str, prefix: &'static str) -> DocType {
    DocType {
        code,
        area: "sales",
        number: number(prefix),
        partner: Some("customer"),
        sources: &[],
        over_tolerance_pct: Decimal::ZERO,
        rules: Vec::new(),
        hooks: None,
        stock_fields: &[],
        trade_fields: &[],
        needs_reason: false,
        carries: true,
        prepare: None,
    }
}

/// The sales document types, from quotation to receipt.
pub fn document_types() -> Vec<DocType> {
    let credit_order: Arc<dyn ApprovalRule> = Arc::new(CreditRule { at_delivery: false });
    let credit_delivery: Arc<dyn ApprovalRule> = Arc::new(CreditRule { at_delivery: true });
    vec![
        DocType {
            trade_fields: &["discount_pct", "promised_date"],
            prepare: Some(Arc::new(SalesPrep { promise: true })),
            ..sales_type("sales_quotation", "QT")
        },
        DocType {
            sources: &["sales_quotation"],
            rules: vec![Arc::new(PriceControlRule), Arc::new(AmountLimitRule), credit_order],
            hooks: Some(Arc::new(OrderHooks)),
            trade_fields: &["discount_pct", "promised_date"],
            prepare: Some(Arc::new(SalesPrep { promise: true })),
            ..sales_type("sales_order", "SO")
        },
        DocType {
            area: "inventory",
            sources: &["sales_order"],
            rules: vec![credit_delivery],
            hooks: Some(Arc::new(DeliveryHooks)),
            stock_fields: &["bin", "lot"],
            prepare: Some(Arc::new(InheritPrep { kind: Inherit::Delivery })),
            ..sales_type("sales_delivery", "SD")
        },
        DocType {
            area: "inventory",
            sources: &["sales_delivery"],
            hooks: Some(Arc::new(StockPosting { flow: Flow::In, cost: Cost::Average })),
            stock_fields: &["bin", "lot", "lot_expiry"],
            carries: false,
            prepare: Some(Arc::new(InheritPrep { kind: Inherit::Return })),
            ..sales_type("sales_return", "SR")
        },
        DocType {
            sources: &["sales_delivery"],
            hooks: Some(Arc::new(OpenItemHooks { negative: false })),
            prepare: Some(Arc::new(InheritPrep { kind: Inherit::Invoice })),
            ..sales_type("sales_invoice", "SI")
        },
        DocType {
            sources: &["sales_return"],
            hooks: Some(Arc::new(OpenItemHooks { negative: true })),
            prepare: Some(Arc::new(InheritPrep { kind: Inherit::Invoice })),
            ..sales_type("sales_credit_note", "CN")
        },
        DocType {
            hooks: Some(Arc::new(SettleHooks)),
            trade_fields: &["settles"],
            prepare: Some(Arc::new(ReceiptPrep)),
            ..sales_type("customer_receipt", "RC")
        },
    ]
}

// ---------------------------------------------------------------------------------------
// Facts read while preparing and checking

/// What sales needs to know of a customer.
#[derive(Debug, Clone, Default)]
pub struct CustomerFacts {
    /// Customer group.
    pub group: Option<String>,
    /// Currency.
    pub currency: String,
    /// Days of its payment term.
    pub payment_days: i64,
    /// Its credit limit, else its group's.
    pub credit_limit: Option<Decimal>,
    /// Its salesperson.
    pub salesperson: Option<String>,
    /// Its group's maximum discount.
    pub max_discount_pct: Option<Decimal>,
}

fn opt_scaled(r: &AnyRow, col: &str) -> Result<Option<Decimal>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(from_scaled))
}

/// The customer `code`, or `None`.
pub async fn customer_facts(
    conn: &mut Conn,
    code: &str,
) -> Result<Option<CustomerFacts>, StoreError> {
    let row = sqlx::query(
        "SELECT c.customer_group, c.currency, c.credit_limit, c.salesperson, \
         g.credit_limit AS group_limit, g.max_discount_pct, p.days \
         FROM customers c LEFT JOIN customer_groups g ON g.code = c.customer_group \
         LEFT JOIN payment_terms p ON p.code = c.payment_term WHERE c.code = $1",
    )
    .bind(code.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(CustomerFacts {
        group: r.try_get("customer_group")?,
        currency: r.try_get("currency")?,
        payment_days: r.try_get::<Option<i64>, _>("days")?.unwrap_or(0),
        credit_limit: opt_scaled(&r, "credit_limit")?.or(opt_scaled(&r, "group_limit")?),
        salesperson: r.try_get("salesperson")?,
        max_discount_pct: opt_scaled(&r, "max_discount_pct")?,
    }))
}

/// What sales needs to know of an item.
#[derive(Debug, Clone)]
struct ItemFacts {
    base_unit: String,
    category: Option<String>,
    floor_price: Option<Decimal>,
    max_order_qty: Option<Decimal>,
    standard_cost: Decimal,
    default_warehouse: Option<String>,
    lead_time_days: i64,
}

async fn item_facts(conn: &mut Conn, code: &str) -> Result<Option<ItemFacts>, StoreError> {
    let row = sqlx::query(
        "SELECT base_unit, category, floor_price, max_order_qty, standard_cost, \
         default_warehouse, lead_time_days FROM items WHERE code = $1",
    )
    .bind(code.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(ItemFacts {
            base_unit: r.try_get("base_unit")?,
            category: r.try_get("category")?,
            floor_price: opt_scaled(&r, "floor_price")?,
            max_order_qty: opt_scaled(&r, "max_order_qty")?,
            standard_cost: from_scaled(r.try_get("standard_cost")?),
            default_warehouse: r.try_get("default_warehouse")?,
            lead_time_days: r.try_get("lead_time_days")?,
        })
    })
    .transpose()
}

fn date_of(r: &AnyRow, col: &str) -> Result<Option<NaiveDate>, StoreError> {
    Ok(r.try_get::<Option<String>, _>(col)?.and_then(|d| d.parse().ok()))
}

/// The price entries of `item` in `currency` and every active discount policy.
async fn price_book(
    conn: &mut Conn,
    item: &str,
    currency: &str,
) -> Result<(Vec<PriceEntry>, Vec<DiscountPolicy>), StoreError> {
    let rows = sqlx::query(
        "SELECT code, item, currency, customer_group, customer, min_qty, price, valid_from, \
         valid_to, special, weekday, last_days FROM sales_prices \
         WHERE item = $1 AND currency = $2 AND active = 1",
    )
    .bind(item.to_owned())
    .bind(currency.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let level = match (
            r.try_get::<Option<String>, _>("customer")?,
            r.try_get::<Option<String>, _>("customer_group")?,
        ) {
            (Some(c), _) => PriceLevel::Customer(c),
            (None, Some(g)) => PriceLevel::Group(g),
            (None, None) => PriceLevel::Base,
        };
        let weekday = r.try_get::<Option<i64>, _>("weekday")?.and_then(|d| u32::try_from(d).ok());
        let last = r.try_get::<Option<i64>, _>("last_days")?.and_then(|d| u32::try_from(d).ok());
        entries.push(PriceEntry {
            code: r.try_get("code")?,
            item: r.try_get("item")?,
            currency: r.try_get("currency")?,
            level,
            min_qty: from_scaled(r.try_get("min_qty")?),
            price: from_scaled(r.try_get("price")?),
            window: Window { from: date_of(r, "valid_from")?, to: date_of(r, "valid_to")? },
            special: r.try_get::<i64, _>("special")? != 0,
            recurrence: weekday.map(Recurrence::Weekday).or(last.map(Recurrence::LastDaysOfMonth)),
        });
    }
    let rows = sqlx::query(
        "SELECT code, basis, customer_group, item_category, min_amount, currency, percent, \
         amount, valid_from, valid_to FROM discount_policies WHERE active = 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut policies = Vec::with_capacity(rows.len());
    for r in &rows {
        let basis: String = r.try_get("basis")?;
        let basis = match basis.as_str() {
            "customer_group" => DiscountBasis::CustomerGroup(
                r.try_get::<Option<String>, _>("customer_group")?.unwrap_or_default(),
            ),
            "item_category" => DiscountBasis::ItemCategory(
                r.try_get::<Option<String>, _>("item_category")?.unwrap_or_default(),
            ),
            _ => DiscountBasis::OrderAmount(opt_scaled(r, "min_amount")?.unwrap_or_default()),
        };
        policies.push(DiscountPolicy {
            code: r.try_get("code")?,
            basis,
            percent: opt_scaled(r, "percent")?,
            amount: opt_scaled(r, "amount")?,
            currency: r.try_get("currency")?,
            window: Window { from: date_of(r, "valid_from")?, to: date_of(r, "valid_to")? },
        });
    }
    Ok((entries, policies))
}

/// Quantity and value issued of `item` since `from` (sales deliveries, production and
/// miscellaneous issues; transfers and counts are not consumption).
async fn issued_since(
    conn: &mut Conn,
    item: &str,
    from: NaiveDate,
) -> Result<Option<(Decimal, Decimal)>, StoreError> {
    let r = sqlx::query(
        "SELECT CAST(COALESCE(SUM(-qty), 0) AS BIGINT) AS q, \
         CAST(COALESCE(SUM(-value), 0) AS BIGINT) AS v FROM stock_moves \
         WHERE item = $1 AND move_date >= $2 AND qty < 0 \
         AND doc_type IN ('sales_delivery', 'production_issue', 'misc_issue')",
    )
    .bind(item.to_owned())
    .bind(from.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let q = from_scaled(r.try_get("q")?);
    Ok((q > Decimal::ZERO).then(|| (q, from_scaled(r.try_get::<i64, _>("v").unwrap_or(0)))))
}

/// Approved, still open quantities due in (base units) for `item` in `warehouse`: purchase
/// and production orders, once those document types exist.
async fn scheduled_receipts(
    conn: &mut Conn,
    item: &str,
    warehouse: &str,
) -> Result<Vec<(NaiveDate, Decimal)>, StoreError> {
    let rows = sqlx::query(
        "SELECT l.due_date, l.promised_date, l.quantity, l.carried_qty, d.doc_date \
         FROM document_lines l JOIN documents d ON d.id = l.document_id \
         WHERE d.doc_type IN ('purchase_order', 'production_order', 'subcontract_order') \
         AND d.state = 'approved' AND l.item = $1 AND l.warehouse = $2 \
         AND l.carried_qty < l.quantity",
    )
    .bind(item.to_owned())
    .bind(warehouse.to_owned())
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let date = date_of(r, "promised_date")?
            .or(date_of(r, "due_date")?)
            .or(date_of(r, "doc_date")?)
            .unwrap_or_default();
        let open = from_scaled(r.try_get("quantity")?) - from_scaled(r.try_get("carried_qty")?);
        out.push((date, open));
    }
    Ok(out)
}

async fn reserved(conn: &mut Conn, item: &str, warehouse: &str) -> Result<Decimal, StoreError> {
    let r = sqlx::query("SELECT qty FROM stock_reserved WHERE item = $1 AND warehouse = $2")
        .bind(item.to_owned())
        .bind(warehouse.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(r.map(|r| r.try_get::<i64, _>("qty")).transpose()?.map_or(Decimal::ZERO, from_scaled))
}

fn at(i: usize, field: &str) -> String {
    format!("lines[{i}].{field}")
}

fn invalid(errors: Vec<FieldError>) -> Result<(), StoreError> {
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors).into()) }
}

fn dec_text(d: Decimal) -> String {
    d.normalize().to_string()
}

// ---------------------------------------------------------------------------------------
// Quotations and orders: price, cost and promise

/// Prices quotation and order lines, estimates their cost and (orders) promises a date.
#[derive(Debug, Clone, Copy)]
pub struct SalesPrep {
    /// Whether to propose a promised date.
    pub promise: bool,
}

struct PricedLine {
    factor: Decimal,
    facts: ItemFacts,
    qty_base: Decimal,
}

impl DraftHook for SalesPrep {
    fn prepare<'c>(
        &'c self,
        conn: &'c mut Conn,
        _doc_type: &'c DocType,
        draft: &'c mut Draft,
    ) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let Some(customer_code) = draft.partner.clone() else { return Ok(()) };
            let Some(customer) = customer_facts(conn, &customer_code).await? else {
                return invalid(vec![
                    FieldError::new("partner", "field.unknown_reference")
                        .with("value", &customer_code),
                ]);
            };
            let currency = draft.currency.get_or_insert_with(|| customer.currency.clone()).clone();
            if draft.salesperson.is_none() {
                draft.salesperson = customer.salesperson.clone();
            }
            let date = draft.doc_date.unwrap_or_default();
            let settings = load_settings(conn).await?;
            let mut errors = Vec::new();
            let mut facts: Vec<Option<PricedLine>> = Vec::with_capacity(draft.lines.len());
            for (i, line) in draft.lines.iter_mut().enumerate() {
                facts.push(None);
                let Some(item) = line.item.clone() else {
                    errors.push(FieldError::new(at(i, "item"), "field.required"));
                    continue;
                };
                let Some(f) = item_facts(conn, &item).await? else {
                    errors.push(
                        FieldError::new(at(i, "item"), "field.unknown_reference")
                            .with("value", &item),
                    );
                    continue;
                };
                let unit = line.unit.get_or_insert_with(|| f.base_unit.clone()).clone();
                let Some(factor) = stock::factor(conn, &item, &unit, &f.base_unit).await? else {
                    errors.push(
                        FieldError::new(at(i, "unit"), "stock.no_conversion")
                            .with("unit", &unit)
                            .with("base", &f.base_unit),
                    );
                    continue;
                };
                if line.warehouse.is_none() {
                    line.warehouse = f.default_warehouse.clone();
                }
                let qty_base = line.quantity * factor;
                if let Some(max) = f.max_order_qty
                    && qty_base > max
                {
                    errors.push(
                        FieldError::new(at(i, "quantity"), "sales.over_line_limit")
                            .with("item", &item)
                            .with("max", dec_text(max)),
                    );
                }
                if let Some(slot) = facts.last_mut() {
                    *slot = Some(PricedLine { factor, facts: f, qty_base });
                }
            }
            invalid(std::mem::take(&mut errors))?;

            // Lines pushed down from a quotation keep the quoted price.
            let mut inherited = vec![false; draft.lines.len()];
            for (i, line) in draft.lines.iter_mut().enumerate() {
                if let (Some(source), None) = (line.source_line_id, line.unit_price) {
                    let (number, src) = source_line(conn, source).await?;
                    line.unit_price = src.unit_price;
                    line.trade.list_price = src.trade.list_price;
                    line.trade.discount_pct = src.trade.discount_pct;
                    let mut explain = src.trade.explain.clone().unwrap_or_else(|| json!({}));
                    explain["price"]["from"] = json!(number);
                    line.trade.explain = Some(explain);
                    if let Some(flag) = inherited.get_mut(i) {
                        *flag = true;
                    }
                }
            }

            let mut books: HashMap<String, (Vec<PriceEntry>, Vec<DiscountPolicy>)> = HashMap::new();
            for line in &draft.lines {
                if let Some(item) = &line.item
                    && !books.contains_key(item)
                {
                    let book = price_book(conn, item, &currency).await?;
                    books.insert(item.clone(), book);
                }
            }
            let request = |line: &DraftLine, p: &PricedLine, order_amount: Decimal| PriceRequest {
                item: line.item.clone().unwrap_or_default(),
                category: p.facts.category.clone(),
                customer: customer_code.clone(),
                group: customer.group.clone(),
                currency: currency.clone(),
                qty: p.qty_base,
                date,
                order_amount,
                manual_discount_pct: None,
            };
            // The order amount at list prices, for order-amount discounts.
            let mut order_amount = Decimal::ZERO;
            for (line, p) in draft.lines.iter().zip(&facts) {
                let Some(p) = p else { continue };
                let book = books.get(line.item.as_deref().unwrap_or_default());
                if let Some((entries, _)) = book
                    && let Some(e) = pricing::pick_entry(entries, &request(line, p, Decimal::ZERO))
                {
                    order_amount += e.price * p.qty_base;
                }
            }
            let from = date
                .checked_sub_months(Months::new(
                    u32::try_from(settings.cost_history_months).unwrap_or(6),
                ))
                .unwrap_or(date);
            let mut promised_so_far: HashMap<(String, String), Decimal> = HashMap::new();
            for (i, (line, p)) in draft.lines.iter_mut().zip(&facts).enumerate() {
                let Some(p) = p else { continue };
                let item = line.item.clone().unwrap_or_default();
                let mut explain = line.trade.explain.take().unwrap_or_else(|| json!({}));
                if !inherited.get(i).copied().unwrap_or(false) {
                    let book = books.get(&item);
                    let auto = request(line, p, order_amount);
                    let mut answer = book.map(|(e, d)| pricing::price(e, d, &auto));
                    // A typed discount different from what the policies give is manual.
                    if let (Some((e, d)), Some(pct), None) =
                        (book, line.trade.discount_pct, line.unit_price)
                        && !matches!(&answer, Some(Ok(a)) if a.effective_discount_pct() == pct)
                    {
                        let manual = PriceRequest { manual_discount_pct: Some(pct), ..auto };
                        answer = Some(pricing::price(e, d, &manual));
                    }
                    match (answer, line.unit_price) {
                        (Some(Ok(a)), None) => {
                            line.unit_price =
                                Some(round_to(a.net_price * p.factor, pricing::PRICE_PLACES));
                            line.trade.list_price =
                                Some(round_to(a.list_price * p.factor, pricing::PRICE_PLACES));
                            line.trade.discount_pct = Some(a.effective_discount_pct());
                            explain["price"] = price_explain(&a);
                        }
                        (answer, Some(typed)) => {
                            let engine = match &answer {
                                Some(Ok(a)) => Some((
                                    round_to(a.list_price * p.factor, pricing::PRICE_PLACES),
                                    round_to(a.net_price * p.factor, pricing::PRICE_PLACES),
                                )),
                                _ => None,
                            };
                            line.trade.list_price = engine.map(|(list, _)| list);
                            line.trade.discount_pct = engine
                                .map(|(list, _)| list)
                                .filter(|l| *l > Decimal::ZERO)
                                .map(|l| round_to((l - typed) * Decimal::ONE_HUNDRED / l, 4));
                            // A typed price equal to the engine's is the engine's price (a
                            // saved order sent back unchanged keeps its reason).
                            explain["price"] = match (answer, engine) {
                                (Some(Ok(a)), Some((_, net))) if net == typed => price_explain(&a),
                                _ => json!({"manual": true}),
                            };
                        }
                        (_, None) => {
                            errors.push(
                                FieldError::new(at(i, "unit_price"), "sales.no_price")
                                    .with("item", &item)
                                    .with("currency", &currency),
                            );
                            continue;
                        }
                    }
                }
                // Expected cost and margin.
                let issued = issued_since(conn, &item, from).await?;
                let rollup = crate::engineering::rolled_up_cost(conn, &item).await?;
                let (cost, basis) = rules::expected_cost(issued, rollup, p.facts.standard_cost);
                let unit_cost = round_to(cost * p.factor, pricing::PRICE_PLACES);
                line.trade.est_unit_cost = Some(unit_cost);
                line.trade.cost_basis = Some(basis.code().to_owned());
                let net = line.unit_price.unwrap_or_default();
                let (_, pct) = rules::margin(net, unit_cost);
                explain["cost"] = json!({
                    "basis": basis.code(),
                    "months": settings.cost_history_months,
                    "issued_qty": issued.map(|(q, _)| dec_text(q)),
                });
                explain["margin_pct"] = json!(pct.map(dec_text));
                explain["under_target"] = json!(pct.is_none_or(|m| m < settings.target_margin_pct));
                // Delivery-date promise.
                if self.promise
                    && let Some(warehouse) = line.warehouse.clone()
                {
                    let key = (item.clone(), warehouse.clone());
                    let earlier = promised_so_far.get(&key).copied().unwrap_or_default();
                    let on_hand = stock_views::on_hand(conn, &item, &warehouse).await?;
                    let held = reserved(conn, &item, &warehouse).await?;
                    let receipts = scheduled_receipts(conn, &item, &warehouse).await?;
                    let lead = u64::try_from(p.facts.lead_time_days).unwrap_or(0);
                    let answer =
                        rules::promise(p.qty_base + earlier, on_hand, held, &receipts, date, lead);
                    promised_so_far.insert(key, earlier + p.qty_base);
                    if line.trade.promised_date.is_none() {
                        line.trade.promised_date = Some(answer.date);
                    }
                    explain["promise"] = json!({
                        "basis": answer.basis.code(),
                        "date": answer.date.to_string(),
                        "available": dec_text(answer.available_now),
                    });
                }
                line.trade.explain = Some(explain);
            }
            invalid(errors)
        })
    }
}

fn price_explain(a: &pricing::PriceAnswer) -> serde_json::Value {
    let (discount, policy) = match &a.discount {
        pricing::DiscountSource::None => ("none", None),
        pricing::DiscountSource::SpecialIsNet => ("special_is_net", None),
        pricing::DiscountSource::Policy(code) => ("policy", Some(code.clone())),
        pricing::DiscountSource::Manual => ("manual", None),
    };
    json!({
        "entry": a.price_entry,
        "level": a.level,
        "special": a.special,
        "list": dec_text(a.list_price),
        "discount": discount,
        "policy": policy,
        "pct": dec_text(a.discount_pct),
        "amount": dec_text(a.discount_amount),
        "net": dec_text(a.net_price),
    })
}

async fn source_line(conn: &mut Conn, line_id: i64) -> Result<(String, Line), StoreError> {
    let row = sqlx::query(
        "SELECT l.*, d.number AS doc_number, d.partner AS doc_partner FROM document_lines l \
         JOIN documents d ON d.id = l.document_id WHERE l.id = $1",
    )
    .bind(line_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("document_line", line_id))?;
    Ok((row.try_get("doc_number")?, crate::documents::read_line_row(&row)?))
}

async fn source_header(
    conn: &mut Conn,
    line_id: i64,
) -> Result<Option<(String, Option<String>, Option<String>, Option<String>)>, StoreError> {
    let row = sqlx::query(
        "SELECT d.number, d.partner, d.currency, d.salesperson FROM document_lines l \
         JOIN documents d ON d.id = l.document_id WHERE l.id = $1",
    )
    .bind(line_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("number")?,
            r.try_get("partner")?,
            r.try_get("currency")?,
            r.try_get("salesperson")?,
        ))
    })
    .transpose()
}

// ---------------------------------------------------------------------------------------
// Deliveries, returns, invoices and credit notes inherit from their source lines

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inherit {
    Delivery,
    Return,
    Invoice,
}

/// Copies prices (and item, unit, warehouse) from source lines, checks the partner is the
/// source's, and for returns that no more comes back than went out.
#[derive(Debug, Clone, Copy)]
struct InheritPrep {
    kind: Inherit,
}

impl DraftHook for InheritPrep {
    fn prepare<'c>(
        &'c self,
        conn: &'c mut Conn,
        _doc_type: &'c DocType,
        draft: &'c mut Draft,
    ) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for (i, line) in draft.lines.iter_mut().enumerate() {
                let Some(source) = line.source_line_id else { continue };
                let Some((number, partner, currency, salesperson)) =
                    source_header(conn, source).await?
                else {
                    errors.push(
                        FieldError::new(at(i, "source_line_id"), "field.unknown_reference")
                            .with("value", source),
                    );
                    continue;
                };
                if partner.is_some() && draft.partner.is_some() && partner != draft.partner {
                    errors.push(
                        FieldError::new("partner", "document.partner_differs_from_source")
                            .with("source", &number),
                    );
                    continue;
                }
                if draft.partner.is_none() {
                    draft.partner = partner;
                }
                if draft.currency.is_none() {
                    draft.currency = currency;
                }
                if draft.salesperson.is_none() {
                    draft.salesperson = salesperson;
                }
                let (_, src) = source_line(conn, source).await?;
                if line.item.is_none() {
                    line.item = src.item.clone();
                }
                if line.unit.is_none() {
                    line.unit = src.unit.clone();
                }
                if line.item != src.item {
                    errors
                        .push(FieldError::new(at(i, "item"), "document.item_differs_from_source"));
                    continue;
                }
                if line.warehouse.is_none() {
                    line.warehouse = src.warehouse.clone();
                }
                if line.unit_price.is_none() {
                    line.unit_price = src.unit_price;
                    line.trade.list_price = src.trade.list_price;
                    line.trade.discount_pct = src.trade.discount_pct;
                }
                if self.kind == Inherit::Return {
                    let back = returned_qty(conn, source).await?;
                    if back + line.quantity > src.quantity {
                        errors.push(
                            FieldError::new(at(i, "quantity"), "sales.return_exceeds")
                                .with("delivered", dec_text(src.quantity))
                                .with("returned", dec_text(back)),
                        );
                    }
                }
            }
            if self.kind == Inherit::Invoice
                && draft.due_date.is_none()
                && let Some(code) = draft.partner.clone()
                && let Some(c) = customer_facts(conn, &code).await?
            {
                let date = draft.doc_date.unwrap_or_default();
                draft.due_date = date.checked_add_days(chrono::Days::new(
                    u64::try_from(c.payment_days).unwrap_or(0),
                ));
            }
            if self.kind == Inherit::Delivery
                && draft.salesperson.is_none()
                && let Some(code) = draft.partner.clone()
                && let Some(c) = customer_facts(conn, &code).await?
            {
                draft.salesperson = c.salesperson;
            }
            invalid(errors)
        })
    }
}

/// What live returns have taken back of delivery line `line_id` so far.
async fn returned_qty(conn: &mut Conn, line_id: i64) -> Result<Decimal, StoreError> {
    let r = sqlx::query(
        "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) AS q FROM document_lines l \
         JOIN documents d ON d.id = l.document_id \
         WHERE l.source_line_id = $1 AND d.doc_type = 'sales_return' AND d.state <> 'cancelled'",
    )
    .bind(line_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(from_scaled(r.try_get("q")?))
}

/// Checks receipt lines: each settles an approved invoice or credit note of the customer, by
/// a positive amount in `unit_price` with quantity 1.
#[derive(Debug, Clone, Copy)]
struct ReceiptPrep;

impl DraftHook for ReceiptPrep {
    fn prepare<'c>(
        &'c self,
        conn: &'c mut Conn,
        _doc_type: &'c DocType,
        draft: &'c mut Draft,
    ) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let mut errors = Vec::new();
            for (i, line) in draft.lines.iter_mut().enumerate() {
                let Some(target) = line.trade.settles else {
                    errors.push(FieldError::new(at(i, "settles"), "field.required"));
                    continue;
                };
                if line.unit_price.is_none_or(|p| p <= Decimal::ZERO) {
                    errors.push(FieldError::new(at(i, "unit_price"), "field.not_positive"));
                }
                let row = sqlx::query(
                    "SELECT d.doc_type, d.state, d.partner, d.currency, o.open_amount \
                     FROM documents d LEFT JOIN open_items o ON o.document_id = d.id WHERE d.id = $1",
                )
                .bind(target)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(r) = row else {
                    errors.push(
                        FieldError::new(at(i, "settles"), "field.unknown_reference")
                            .with("value", target),
                    );
                    continue;
                };
                let kind: String = r.try_get("doc_type")?;
                let open: Option<i64> = r.try_get("open_amount")?;
                if !matches!(kind.as_str(), "sales_invoice" | "sales_credit_note") || open.is_none()
                {
                    errors.push(FieldError::new(at(i, "settles"), "sales.not_an_open_invoice"));
                    continue;
                }
                if r.try_get::<Option<String>, _>("partner")? != draft.partner {
                    errors
                        .push(FieldError::new(at(i, "settles"), "sales.invoice_of_other_customer"));
                    continue;
                }
                if draft.currency.is_none() {
                    draft.currency = r.try_get("currency")?;
                }
                let open = from_scaled(open.unwrap_or_default()).abs();
                if line.unit_price.is_some_and(|p| p > open) {
                    errors.push(
                        FieldError::new(at(i, "unit_price"), "sales.over_allocation")
                            .with("open", dec_text(open)),
                    );
                }
                line.quantity = Decimal::ONE;
            }
            invalid(errors)
        })
    }
}

// ---------------------------------------------------------------------------------------
// Approval rules

/// Net price under the item's floor, or a discount beyond the customer group's maximum.
#[derive(Debug, Clone, Copy)]
struct PriceControlRule;

impl ApprovalRule for PriceControlRule {
    fn code(&self) -> &'static str {
        "sales.price_control"
    }

    fn required_role(&self) -> &'static str {
        "sales_manager"
    }

    fn check<'c>(
        &'c self,
        conn: &'c mut Conn,
        doc: &'c Document,
    ) -> TxFuture<'c, Option<serde_json::Value>> {
        Box::pin(async move {
            let Some(code) = &doc.partner else { return Ok(None) };
            let max = customer_facts(conn, code).await?.and_then(|c| c.max_discount_pct);
            let mut found = Vec::new();
            for line in &doc.lines {
                let (Some(item), Some(unit), Some(price)) =
                    (&line.item, &line.unit, line.unit_price)
                else {
                    continue;
                };
                let Some(f) = item_facts(conn, item).await? else { continue };
                let Some(factor) = stock::factor(conn, item, unit, &f.base_unit).await? else {
                    continue;
                };
                if factor.is_zero() {
                    continue;
                }
                let per_base = |p: Decimal| round_to(p / factor, pricing::PRICE_PLACES);
                let list = line.trade.list_price.map(per_base);
                for c in pricing::controls(list, per_base(price), f.floor_price, max) {
                    found.push((line.line_no, item.clone(), c));
                }
            }
            let Some((line_no, item, first)) = found.first() else { return Ok(None) };
            let detail = match first {
                pricing::PriceControl::UnderFloor { floor, net } => json!({
                    "kind": "under_floor", "floor": dec_text(*floor), "net": dec_text(*net),
                }),
                pricing::PriceControl::OverMaxDiscount { max_pct, pct } => json!({
                    "kind": "over_max_discount", "max": dec_text(*max_pct), "pct": dec_text(*pct),
                }),
            };
            let mut params = json!({"line": line_no, "item": item, "count": found.len()});
            if let (Some(p), Some(d)) = (params.as_object_mut(), detail.as_object()) {
                p.extend(d.clone());
            }
            Ok(Some(params))
        })
    }
}

/// An order above its salesperson's amount limit.
#[derive(Debug, Clone, Copy)]
struct AmountLimitRule;

impl ApprovalRule for AmountLimitRule {
    fn code(&self) -> &'static str {
        "sales.amount_limit"
    }

    fn required_role(&self) -> &'static str {
        "sales_manager"
    }

    fn check<'c>(
        &'c self,
        conn: &'c mut Conn,
        doc: &'c Document,
    ) -> TxFuture<'c, Option<serde_json::Value>> {
        Box::pin(async move {
            let Some(person) = &doc.salesperson else { return Ok(None) };
            let row = sqlx::query("SELECT order_amount_limit FROM employees WHERE code = $1")
                .bind(person.clone())
                .fetch_optional(&mut *conn)
                .await?;
            let limit = row.map(|r| opt_scaled(&r, "order_amount_limit")).transpose()?.flatten();
            let total = doc.total();
            Ok(limit.filter(|l| total > *l).map(
                |l| json!({"salesperson": person, "total": dec_text(total), "limit": dec_text(l)}),
            ))
        })
    }
}

/// The exposure of `customer`: open receivables, approved orders not yet delivered, and
/// approved deliveries not yet invoiced, valued at their line prices.
pub async fn exposure(conn: &mut Conn, customer: &str) -> Result<Exposure, StoreError> {
    let r = sqlx::query(
        "SELECT CAST(COALESCE(SUM(open_amount), 0) AS BIGINT) AS v FROM open_items \
         WHERE side = 'receivable' AND partner = $1",
    )
    .bind(customer.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    let receivables = from_scaled(r.try_get("v")?);
    let open_value = |rows: Vec<AnyRow>| -> Result<Decimal, StoreError> {
        let mut sum = Decimal::ZERO;
        for r in &rows {
            let open = from_scaled(r.try_get("quantity")?) - from_scaled(r.try_get("carried_qty")?);
            let price = opt_scaled(r, "unit_price")?.unwrap_or_default();
            sum += (open.max(Decimal::ZERO) * price).round_dp(2);
        }
        Ok(sum)
    };
    let sql = "SELECT l.quantity, l.carried_qty, l.unit_price FROM document_lines l \
               JOIN documents d ON d.id = l.document_id \
               WHERE d.doc_type = $1 AND d.partner = $2 AND d.state = 'approved' \
               AND l.carried_qty < l.quantity";
    let orders = sqlx::query(sql)
        .bind("sales_order")
        .bind(customer.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    let undelivered = open_value(orders)?;
    let deliveries = sqlx::query(sql)
        .bind("sales_delivery")
        .bind(customer.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    let uninvoiced = open_value(deliveries)?;
    Ok(Exposure { receivables, undelivered, uninvoiced })
}

/// How many days the oldest unpaid invoice of `customer` is overdue as of `today`.
pub async fn oldest_overdue_days(
    conn: &mut Conn,
    customer: &str,
    today: NaiveDate,
) -> Result<Option<i64>, StoreError> {
    let r = sqlx::query(
        "SELECT MIN(due_date) AS due FROM open_items \
         WHERE side = 'receivable' AND partner = $1 AND open_amount > 0",
    )
    .bind(customer.to_owned())
    .fetch_one(&mut *conn)
    .await?;
    Ok(date_of(&r, "due")?.map(|due| (today - due).num_days()).filter(|d| *d > 0))
}

/// Credit control on an order, and again on a delivery, so that closing and reopening orders
/// cannot dodge it.
#[derive(Debug, Clone, Copy)]
struct CreditRule {
    at_delivery: bool,
}

impl ApprovalRule for CreditRule {
    fn code(&self) -> &'static str {
        "sales.credit"
    }

    fn required_role(&self) -> &'static str {
        "finance_manager"
    }

    fn checks_reopen(&self) -> bool {
        true
    }

    fn check<'c>(
        &'c self,
        conn: &'c mut Conn,
        doc: &'c Document,
    ) -> TxFuture<'c, Option<serde_json::Value>> {
        Box::pin(async move {
            let Some(code) = &doc.partner else { return Ok(None) };
            let Some(customer) = customer_facts(conn, code).await? else { return Ok(None) };
            let settings = load_settings(conn).await?;
            let mut exposure = exposure(conn, code).await?;
            // What the document adds: an order its total; a delivery its total too, since
            // the order lines it was pushed down from no longer count as undelivered and it
            // does not count as uninvoiced until it is approved.
            let adds = doc.total();
            if !self.at_delivery && doc.state == papilio_core::document::DocState::Approved {
                // A reverse approval re-checks an order that is itself in the exposure.
                exposure.undelivered = (exposure.undelivered - doc.total()).max(Decimal::ZERO);
            }
            let today = chrono::Utc::now().date_naive();
            let overdue = oldest_overdue_days(conn, code, today).await?;
            let breaches = rules::check_credit(
                customer.credit_limit,
                exposure,
                adds,
                overdue,
                settings.overdue_days,
            );
            let Some(first) = breaches.first() else { return Ok(None) };
            let params = match first {
                CreditBreach::OverLimit { limit, exposure, adds } => json!({
                    "kind": "over_limit",
                    "limit": dec_text(*limit),
                    "exposure": dec_text(*exposure),
                    "adds": dec_text(*adds),
                    "total": dec_text(*exposure + *adds),
                }),
                CreditBreach::Overdue { days, allowed } => json!({
                    "kind": "overdue", "days": days, "allowed": allowed,
                }),
            };
            // Blocking refuses a submit or a reopen; a reverse approval, which cannot be
            // refused for credit, sends the order back to an approver instead.
            if settings.credit_action == "block"
                && doc.state != papilio_core::document::DocState::Approved
            {
                let code = match first {
                    CreditBreach::OverLimit { .. } => "sales.credit_blocked_over_limit",
                    CreditBreach::Overdue { .. } => "sales.credit_blocked_overdue",
                };
                let mut e = FieldError::new("partner", code);
                if let Some(map) = params.as_object() {
                    for (k, v) in map {
                        e = e.with(k, v.as_str().map_or_else(|| v.to_string(), str::to_owned));
                    }
                }
                return Err(DomainError::Invalid(vec![e]).into());
            }
            Ok(Some(params))
        })
    }
}

// ---------------------------------------------------------------------------------------
// Posting hooks

async fn base_qty(conn: &mut Conn, line: &Line) -> Result<Option<(String, Decimal)>, StoreError> {
    let (Some(item), Some(unit)) = (&line.item, &line.unit) else { return Ok(None) };
    let Some(f) = item_facts(conn, item).await? else { return Ok(None) };
    let factor = stock::factor(conn, item, unit, &f.base_unit).await?.unwrap_or(Decimal::ONE);
    Ok(Some((item.clone(), line.quantity * factor)))
}

async fn line_reservation(
    conn: &mut Conn,
    line_id: i64,
) -> Result<Option<(String, String, Decimal)>, StoreError> {
    let r = sqlx::query("SELECT item, warehouse, qty FROM sales_reservations WHERE line_id = $1")
        .bind(line_id)
        .fetch_optional(&mut *conn)
        .await?;
    r.map(|r| Ok((r.try_get("item")?, r.try_get("warehouse")?, from_scaled(r.try_get("qty")?))))
        .transpose()
}

async fn set_line_reservation(
    conn: &mut Conn,
    line_id: i64,
    item: &str,
    warehouse: &str,
    qty: Decimal,
) -> Result<(), StoreError> {
    let q = to_scaled(round_to(qty, 6))
        .ok_or_else(|| DomainError::field("quantity", "field.out_of_range"))?;
    sqlx::query(
        "INSERT INTO sales_reservations (line_id, item, warehouse, qty) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (line_id) DO UPDATE SET qty = $4",
    )
    .bind(line_id)
    .bind(item.to_owned())
    .bind(warehouse.to_owned())
    .bind(q)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reserves what is open on each line, as far as stock allows (the rest waits for receipts).
async fn reserve_open(conn: &mut Conn, doc: &Document) -> Result<(), StoreError> {
    for line in &doc.lines {
        let Some(warehouse) = &line.warehouse else { continue };
        let Some((item, qty)) = base_qty(conn, line).await? else { continue };
        let open_share = if line.quantity.is_zero() {
            Decimal::ZERO
        } else {
            qty * (line.quantity - line.carried_qty).max(Decimal::ZERO) / line.quantity
        };
        let free = stock_views::on_hand(conn, &item, warehouse).await?
            - reserved(conn, &item, warehouse).await?;
        let take = round_to(open_share.min(free), 6);
        if take > Decimal::ZERO {
            stock_views::reserve(conn, &item, warehouse, take, false).await?;
            set_line_reservation(conn, line.id, &item, warehouse, take).await?;
        }
    }
    Ok(())
}

/// Releases everything the document's lines hold.
async fn release_all(conn: &mut Conn, doc: &Document) -> Result<(), StoreError> {
    for line in &doc.lines {
        if let Some((item, warehouse, qty)) = line_reservation(conn, line.id).await?
            && qty > Decimal::ZERO
        {
            stock_views::release(conn, &item, &warehouse, qty).await?;
            set_line_reservation(conn, line.id, &item, &warehouse, Decimal::ZERO).await?;
        }
    }
    Ok(())
}

/// Approving an order reserves; closing it or reversing its approval releases.
#[derive(Debug, Clone, Copy)]
struct OrderHooks;

impl PostingHooks for OrderHooks {
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(reserve_open(conn, doc))
    }

    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(release_all(conn, doc))
    }

    fn on_close<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(release_all(conn, doc))
    }

    fn on_reopen<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(reserve_open(conn, doc))
    }
}

/// A delivery posts stock out and releases what its order lines held for it.
#[derive(Debug, Clone, Copy)]
struct DeliveryHooks;

const DELIVERY_POSTING: StockPosting = StockPosting { flow: Flow::Out, cost: Cost::Average };

impl PostingHooks for DeliveryHooks {
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async move {
            // Release first: the stock posted out is the stock that was held for the order.
            for line in &doc.lines {
                let Some(source) = line.source_line_id else { continue };
                let Some((item, warehouse, held)) = line_reservation(conn, source).await? else {
                    continue;
                };
                let Some((_, qty)) = base_qty(conn, line).await? else { continue };
                let take = qty.min(held);
                if take > Decimal::ZERO {
                    stock_views::release(conn, &item, &warehouse, take).await?;
                    set_line_reservation(conn, source, &item, &warehouse, held - take).await?;
                }
            }
            stock::post(conn, doc, DELIVERY_POSTING).await
        })
    }

    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async move {
            stock::reverse(conn, doc).await?;
            for line in &doc.lines {
                let Some(source) = line.source_line_id else { continue };
                let Some((item, warehouse, held)) = line_reservation(conn, source).await? else {
                    continue;
                };
                let Some((_, qty)) = base_qty(conn, line).await? else { continue };
                stock_views::reserve(conn, &item, &warehouse, qty, true).await?;
                set_line_reservation(conn, source, &item, &warehouse, held + qty).await?;
            }
            Ok(())
        })
    }
}

/// An invoice opens a receivable; a credit note a negative one.
#[derive(Debug, Clone, Copy)]
struct OpenItemHooks {
    negative: bool,
}

impl PostingHooks for OpenItemHooks {
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let total = if self.negative { -doc.total() } else { doc.total() };
            let amount = to_scaled(total)
                .ok_or_else(|| DomainError::field("lines", "field.out_of_range"))?;
            sqlx::query(
                "INSERT INTO open_items (document_id, side, partner, currency, amount, open_amount, \
                 doc_date, due_date) VALUES ($1, 'receivable', $2, $3, $4, $4, $5, $6)",
            )
            .bind(doc.id)
            .bind(doc.partner.clone().unwrap_or_default())
            .bind(doc.currency.clone())
            .bind(amount)
            .bind(doc.doc_date.to_string())
            .bind(doc.due_date.unwrap_or(doc.doc_date).to_string())
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let done = sqlx::query(
                "DELETE FROM open_items WHERE document_id = $1 AND open_amount = amount",
            )
            .bind(doc.id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Err(DomainError::field("state", "sales.invoice_settled").into());
            }
            Ok(())
        })
    }
}

/// A receipt settles open items by its line amounts: an invoice's open amount goes down, a
/// credit note's (negative) goes up, never past zero.
#[derive(Debug, Clone, Copy)]
struct SettleHooks;

async fn settle(conn: &mut Conn, doc: &Document, sign: Decimal) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for (i, line) in doc.lines.iter().enumerate() {
        let (Some(target), Some(amount)) = (line.trade.settles, line.amount) else { continue };
        let a = to_scaled(amount * sign)
            .ok_or_else(|| DomainError::field("lines", "field.out_of_range"))?;
        // Invoices (amount > 0) go down towards zero; credit notes (amount < 0) go up to zero.
        let done = sqlx::query(
            "UPDATE open_items SET open_amount = CASE WHEN amount > 0 THEN open_amount - $1 \
             ELSE open_amount + $1 END WHERE document_id = $2 AND ( \
             (amount > 0 AND open_amount - $1 >= 0 AND open_amount - $1 <= amount) OR \
             (amount < 0 AND open_amount + $1 <= 0 AND open_amount + $1 >= amount))",
        )
        .bind(a)
        .bind(target)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != 1 {
            errors.push(
                FieldError::new(at(i, "unit_price"), "sales.over_allocation")
                    .with("document", target),
            );
        }
    }
    invalid(errors)
}

impl PostingHooks for SettleHooks {
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(settle(conn, doc, Decimal::ONE))
    }

    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(settle(conn, doc, Decimal::NEGATIVE_ONE))
    }
}

// ---------------------------------------------------------------------------------------
// Price simulation

/// One price entry or discount policy as the simulation saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Considered {
    /// Its code.
    pub code: String,
    /// `None` when it applied, else why not (`pricing::why_not` codes).
    pub skipped: Option<&'static str>,
    /// A short description (level and price, or basis and discount).
    pub detail: String,
}

/// What the price simulation answers.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// The answer, or why there is none.
    pub answer: Result<pricing::PriceAnswer, pricing::PriceError>,
    /// The request as priced (base-unit quantity, the customer's group and currency).
    pub request: PriceRequest,
    /// Every price entry of the item in the currency.
    pub entries: Vec<Considered>,
    /// Every active discount policy.
    pub policies: Vec<Considered>,
    /// The line amount in the currency.
    pub amount: Option<Decimal>,
    /// The price entries themselves, in the order of `entries`.
    pub price_entries: Vec<PriceEntry>,
    /// The discount policies themselves, in the order of `policies`.
    pub discount_policies: Vec<DiscountPolicy>,
}

/// What `customer` would pay for `qty` (base units) of `item` on `date`, and why.
pub async fn simulate(
    db: &Db,
    customer: &str,
    item: &str,
    qty: Decimal,
    date: NaiveDate,
) -> Result<Simulation, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let mut errors = Vec::new();
    let c = customer_facts(&mut conn, customer).await?;
    if c.is_none() {
        errors.push(FieldError::new("customer", "field.unknown_reference").with("value", customer));
    }
    let f = item_facts(&mut conn, item).await?;
    if f.is_none() {
        errors.push(FieldError::new("item", "field.unknown_reference").with("value", item));
    }
    if qty <= Decimal::ZERO {
        errors.push(FieldError::new("quantity", "field.not_positive"));
    }
    let (Some(c), Some(f)) = (c, f) else { return Err(DomainError::Invalid(errors).into()) };
    invalid(errors)?;
    let (entries, policies) = price_book(&mut conn, item, &c.currency).await?;
    let mut request = PriceRequest {
        item: item.to_owned(),
        category: f.category.clone(),
        customer: customer.to_owned(),
        group: c.group.clone(),
        currency: c.currency.clone(),
        qty,
        date,
        order_amount: Decimal::ZERO,
        manual_discount_pct: None,
    };
    request.order_amount =
        pricing::pick_entry(&entries, &request).map_or(Decimal::ZERO, |e| e.price * qty);
    let answer = pricing::price(&entries, &policies, &request);
    let decimals = currency_places(&mut conn, &c.currency).await?;
    let amount = answer.as_ref().ok().map(|a| pricing::line_amount(qty, a.net_price, decimals));
    let considered_entries = entries
        .iter()
        .map(|e| Considered {
            code: e.code.clone(),
            skipped: pricing::entry_skip_reason(e, &request),
            detail: format!(
                "{} {} ≥ {}: {}",
                e.level.code(),
                if e.special { "special" } else { "" },
                dec_text(e.min_qty),
                dec_text(e.price)
            ),
        })
        .collect();
    let considered_policies = policies
        .iter()
        .map(|p| Considered {
            code: p.code.clone(),
            skipped: pricing::policy_skip_reason(p, &request),
            detail: match (p.percent, p.amount) {
                (Some(pct), _) => format!("{} %", dec_text(pct)),
                (None, Some(a)) => format!("-{}", dec_text(a)),
                _ => String::new(),
            },
        })
        .collect();
    Ok(Simulation {
        answer,
        request,
        entries: considered_entries,
        policies: considered_policies,
        amount,
        price_entries: entries,
        discount_policies: policies,
    })
}

async fn currency_places(conn: &mut Conn, code: &str) -> Result<u32, StoreError> {
    let r = sqlx::query("SELECT decimals FROM currencies WHERE code = $1")
        .bind(code.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(r.map(|r| r.try_get::<i64, _>("decimals"))
        .transpose()?
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(2))
}

/// The exposure and limits of one customer, for the credit page.
#[derive(Debug, Clone)]
pub struct CreditStatus {
    /// Customer code.
    pub customer: String,
    /// Its limit (own, else group's).
    pub limit: Option<Decimal>,
    /// What it owes or will owe.
    pub exposure: Exposure,
    /// Days its oldest unpaid invoice is overdue.
    pub overdue_days: Option<i64>,
}

/// Credit status of every customer with a limit or an exposure.
pub async fn credit_overview(db: &Db, today: NaiveDate) -> Result<Vec<CreditStatus>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let codes: Vec<String> =
        sqlx::query("SELECT code FROM customers WHERE active = 1 ORDER BY code")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("code"))
            .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for code in codes {
        let Some(c) = customer_facts(&mut conn, &code).await? else { continue };
        let exposure = exposure(&mut conn, &code).await?;
        let overdue_days = oldest_overdue_days(&mut conn, &code, today).await?;
        if c.limit_or_exposure(&exposure) {
            out.push(CreditStatus {
                customer: code,
                limit: c.credit_limit,
                exposure,
                overdue_days,
            });
        }
    }
    Ok(out)
}

impl CustomerFacts {
    fn limit_or_exposure(&self, e: &Exposure) -> bool {
        self.credit_limit.is_some() || !e.total().is_zero()
    }
}

// ---------------------------------------------------------------------------------------
// What the sales pages look up

/// A receivable (an approved invoice or credit note) and what is still open of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInvoice {
    /// The invoice's or credit note's document id.
    pub document_id: i64,
    /// `sales_invoice` or `sales_credit_note`.
    pub doc_type: String,
    /// Its number.
    pub number: String,
    /// Its date.
    pub doc_date: Option<NaiveDate>,
    /// When it is due.
    pub due_date: Option<NaiveDate>,
    /// Its currency.
    pub currency: Option<String>,
    /// Its amount (negative for a credit note).
    pub amount: Decimal,
    /// What is still open (negative for a credit note, zero once settled).
    pub open_amount: Decimal,
}

fn open_invoice_row(r: &AnyRow) -> Result<OpenInvoice, StoreError> {
    Ok(OpenInvoice {
        document_id: r.try_get("document_id")?,
        doc_type: r.try_get("doc_type")?,
        number: r.try_get("number")?,
        doc_date: date_of(r, "doc_date")?,
        due_date: date_of(r, "due_date")?,
        currency: r.try_get("currency")?,
        amount: from_scaled(r.try_get("amount")?),
        open_amount: from_scaled(r.try_get("open_amount")?),
    })
}

/// The receivables of `customer` still open (invoices and credit notes), oldest due first:
/// what a receipt can settle.
pub async fn open_invoices(db: &Db, customer: &str) -> Result<Vec<OpenInvoice>, StoreError> {
    let rows = sqlx::query(
        "SELECT o.document_id, d.doc_type, d.number, o.doc_date, o.due_date, o.currency, \
         o.amount, o.open_amount FROM open_items o JOIN documents d ON d.id = o.document_id \
         WHERE o.side = 'receivable' AND o.partner = $1 AND o.open_amount <> 0 \
         ORDER BY o.due_date, d.number",
    )
    .bind(customer.to_owned())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(open_invoice_row).collect()
}

/// The receivable document `document_id` opened, settled or not; `None` when it opened none.
pub async fn open_item(db: &Db, document_id: i64) -> Result<Option<OpenInvoice>, StoreError> {
    let row = sqlx::query(
        "SELECT o.document_id, d.doc_type, d.number, o.doc_date, o.due_date, o.currency, \
         o.amount, o.open_amount FROM open_items o JOIN documents d ON d.id = o.document_id \
         WHERE o.document_id = $1 AND o.side = 'receivable'",
    )
    .bind(document_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(open_invoice_row).transpose()
}

/// How much live (not cancelled) documents of type `doc_type` link to each line of document
/// `source_id`, by source line id: what returns took back of a delivery, for instance, which
/// they do without carrying it.
pub async fn linked_quantities(
    db: &Db,
    doc_type: &str,
    source_id: i64,
) -> Result<HashMap<i64, Decimal>, StoreError> {
    let rows = sqlx::query(
        "SELECT l.source_line_id, CAST(SUM(l.quantity) AS BIGINT) AS q FROM document_lines l \
         JOIN documents d ON d.id = l.document_id JOIN document_lines s ON s.id = l.source_line_id \
         WHERE s.document_id = $1 AND d.doc_type = $2 AND d.state <> 'cancelled' \
         GROUP BY l.source_line_id",
    )
    .bind(source_id)
    .bind(doc_type.to_owned())
    .fetch_all(db.pool())
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        out.insert(r.try_get::<i64, _>("source_line_id")?, from_scaled(r.try_get("q")?));
    }
    Ok(out)
}
