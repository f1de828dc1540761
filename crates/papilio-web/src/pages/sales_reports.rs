//! The sales report pages: order execution tracking 订单执行跟踪 at `/sales/execution` (with a
//! CSV export), receivables ageing 应收账龄 at `/sales/receivables`, gross margin 毛利分析 at
//! `/sales/margin` and targets against actual sales 销售目标 at `/sales/targets`.
//!
//! The figures come from [`papilio_store::sales_reports`] through the query parsers of
//! [`crate::api::sales_reports`], so a page and the API always agree. Charts are drawn by the
//! embedded Apache ECharts: the server writes each chart's option as JSON into the page and a
//! few lines of inline script hand it to `echarts.init` with ECharts' own Chinese or English
//! locale. Every page needs `read` on the sales report resource.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use papilio_core::access::Action;
use papilio_core::sales::AGEING_BUCKETS;
use papilio_core::value::round_to;
use papilio_store::sales_reports::{
    self as store, DocRef, ExecutionLine, LineStatus, MarginBy, MarginRow, TargetRow,
};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::sales::{AREA, REPORT_RESOURCE};
use crate::api::sales_reports::{self as report, STATUS_CHOICES};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::{chrome, render};
use crate::views::Chrome;

/// Order lines shown on the execution page; the API and the CSV export answer all of them.
const TABLE_ROWS: usize = 500;
/// Groups drawn in the margin bar chart (the largest revenue first).
const CHART_GROUPS: usize = 20;
/// The execution page shows open lines unless asked otherwise.
const PAGE_STATUS: &str = "open";

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sales/execution", get(execution_page))
        .route("/sales/execution.csv", get(execution_csv))
        .route("/sales/receivables", get(receivables_page))
        .route("/sales/margin", get(margin_page))
        .route("/sales/targets", get(targets_page))
}

// ---------------------------------------------------------------------------------------
// Formatting

/// An amount to two places with thousands separators: `-12,345.60`.
fn money(d: Decimal) -> String {
    let text = plain_money(d);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped}.{frac}")
}

/// An amount to two places without separators, for CSV: `-12345.60`.
fn plain_money(d: Decimal) -> String {
    format!("{:.2}", round_to(d, 2))
}

fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

fn pct(d: Option<Decimal>) -> String {
    d.map_or_else(|| "–".to_owned(), |p| format!("{}%", p.normalize()))
}

/// A decimal for a chart only: the one place a float is acceptable.
fn float(d: Decimal) -> f64 {
    round_to(d, 2).to_f64().unwrap_or(0.0)
}

/// JSON that may sit inside `<script>`: `<`, `>` and `&` only occur in strings, where their
/// `\u` escapes mean the same.
fn script_json(v: &Json) -> String {
    v.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn name(locale: &str, zh: &str, en: &str) -> String {
    let n = if locale == "en" && !en.is_empty() { en } else { zh };
    n.to_owned()
}

fn labelled(code: &str, name: &str) -> String {
    if name.is_empty() || name == code { code.to_owned() } else { format!("{code} {name}") }
}

fn chart_locale(locale: &str) -> &'static str {
    if locale == "en" { "EN" } else { "ZH" }
}

fn opt_date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// Short month names, January first.
fn month_labels(locale: &str) -> Vec<String> {
    const EN: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    (1..=12)
        .map(|m| {
            if locale == "en" {
                EN.get(m - 1).copied().unwrap_or_default().to_owned()
            } else {
                format!("{m}月")
            }
        })
        .collect()
}

/// The translated status of an execution line.
fn status_label(locale: &str, code: &str) -> String {
    i18n::tr(locale, &format!("sales_report.state.{code}"))
}

fn bucket_labels(locale: &str) -> Vec<String> {
    AGEING_BUCKETS.iter().map(|b| i18n::tr(locale, &format!("sales_report.age.{b}"))).collect()
}

/// A link to a document.
#[derive(Debug, Clone)]
pub struct DocLink {
    /// `/d/{type}/{id}`.
    pub href: String,
    /// Its number.
    pub number: String,
}

fn link(d: &DocRef) -> DocLink {
    DocLink { href: format!("/d/{}/{}", d.doc_type, d.id), number: d.number.clone() }
}

// ---------------------------------------------------------------------------------------
// Order execution

/// One order line on the execution page, formatted.
#[derive(Debug, Clone)]
pub struct ExecRow {
    /// Whether it is late (highlighted).
    pub late: bool,
    /// Status code (CSS class).
    pub status: String,
    /// Status, translated.
    pub status_label: String,
    /// The order.
    pub order: DocLink,
    /// Order date.
    pub order_date: String,
    /// Line number.
    pub line_no: i64,
    /// Customer code and name.
    pub customer: String,
    /// Salesperson code and name.
    pub salesperson: String,
    /// Item code and name.
    pub item: String,
    /// Unit.
    pub unit: String,
    /// Currency of the amounts.
    pub currency: String,
    /// Quantities: ordered, shipped, returned, delivered (net), invoiced (net).
    pub ordered: String,
    /// Shipped.
    pub shipped: String,
    /// Returned.
    pub returned: String,
    /// Whether anything came back.
    pub has_returned: bool,
    /// Delivered net of returns.
    pub delivered: String,
    /// Invoiced net of credit notes.
    pub invoiced: String,
    /// Invoiced amount net of credit notes.
    pub invoiced_amount: String,
    /// Paid amount.
    pub paid: String,
    /// Unpaid amount.
    pub unpaid: String,
    /// Whether something invoiced is unpaid.
    pub has_unpaid: bool,
    /// Promised date.
    pub promised: String,
    /// Requested date.
    pub requested: String,
    /// Days late ('' when not late).
    pub days_late: String,
    /// Backlog quantity.
    pub backlog_qty: String,
    /// Backlog value.
    pub backlog_value: String,
    /// Whether something is still to deliver.
    pub has_backlog: bool,
    /// The document flow: (label, documents), steps with documents only.
    pub flow: Vec<(String, Vec<DocLink>)>,
}

/// The execution page.
#[derive(Template)]
#[template(path = "sales_report_execution.html")]
pub struct ExecutionPage {
    /// Chrome.
    pub c: Chrome,
    /// Filter values as typed.
    pub customer: String,
    /// Salesperson filter.
    pub salesperson: String,
    /// Item filter.
    pub item: String,
    /// Order number filter.
    pub order: String,
    /// Orders from.
    pub from: String,
    /// Orders to.
    pub to: String,
    /// Lateness judged on.
    pub as_of: String,
    /// Status choices: (code, label, selected).
    pub statuses: Vec<(String, String, bool)>,
    /// Rows shown.
    pub rows: Vec<ExecRow>,
    /// Rows in all.
    pub total_rows: usize,
    /// Late rows in all.
    pub late_count: usize,
    /// Backlog value per currency.
    pub backlog: Vec<(String, String)>,
    /// Whether the user may export (shows the CSV link).
    pub can_export: bool,
    /// The query string of this page, for the export link.
    pub query: String,
}

fn exec_row(locale: &str, l: &ExecutionLine) -> ExecRow {
    let mut flow = Vec::new();
    let steps: [(&str, Vec<DocRef>); 6] = [
        ("sales_quotation", l.quotation.iter().cloned().collect()),
        ("sales_delivery", l.deliveries.clone()),
        ("sales_return", l.returns.clone()),
        ("sales_invoice", l.invoices.clone()),
        ("sales_credit_note", l.credit_notes.clone()),
        ("customer_receipt", l.receipts.clone()),
    ];
    for (kind, docs) in steps {
        if !docs.is_empty() {
            flow.push((i18n::entity_label(locale, kind), docs.iter().map(link).collect()));
        }
    }
    let code = l.status.code();
    ExecRow {
        late: l.status == LineStatus::Late,
        status: code.to_owned(),
        status_label: status_label(locale, code),
        order: link(&l.order),
        order_date: l.order.date.to_string(),
        line_no: l.line_no,
        customer: labelled(&l.customer, &name(locale, &l.customer_zh, &l.customer_en)),
        salesperson: l
            .salesperson
            .as_deref()
            .map(|s| labelled(s, l.salesperson_name.as_deref().unwrap_or_default()))
            .unwrap_or_default(),
        item: labelled(&l.item, &name(locale, &l.item_zh, &l.item_en)),
        unit: l.unit.clone(),
        currency: l.currency.clone().unwrap_or_default(),
        ordered: qty(l.ordered),
        shipped: qty(l.shipped),
        returned: qty(l.returned),
        has_returned: !l.returned.is_zero(),
        delivered: qty(l.delivered),
        invoiced: qty(l.net_invoiced_qty()),
        invoiced_amount: money(l.net_invoiced_amount()),
        paid: money(l.paid_amount),
        unpaid: money(l.unpaid()),
        has_unpaid: l.unpaid() > Decimal::ZERO,
        promised: opt_date(l.promised_date),
        requested: opt_date(l.requested_date),
        days_late: l.days_late.map(|d| d.to_string()).unwrap_or_default(),
        backlog_qty: qty(l.backlog_qty),
        backlog_value: money(l.backlog_value),
        has_backlog: l.backlog_qty > Decimal::ZERO,
        flow,
    }
}

async fn execution_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let f = report::execution_filter(&pairs, report::today(), PAGE_STATUS)?;
    let lines = store::execution(&state.db, &f).await?;

    let selected = f.status.map_or("all", LineStatus::code);
    let statuses = STATUS_CHOICES
        .iter()
        .map(|s| {
            let label = if *s == "all" {
                i18n::tr(&locale, "sales_report.all")
            } else {
                status_label(&locale, s)
            };
            ((*s).to_owned(), label, *s == selected)
        })
        .collect();
    let backlog = report::backlog_by_currency(&lines)
        .into_iter()
        .map(|(currency, value)| (currency, money(value)))
        .collect();
    let c = chrome(&state, &user, &i18n::tr(&locale, "sales.nav.execution"));
    render(&ExecutionPage {
        customer: f.customer.clone().unwrap_or_default(),
        salesperson: f.salesperson.clone().unwrap_or_default(),
        item: f.item.clone().unwrap_or_default(),
        order: f.order.clone().unwrap_or_default(),
        from: opt_date(f.from),
        to: opt_date(f.to),
        as_of: f.as_of.to_string(),
        statuses,
        rows: lines.iter().take(TABLE_ROWS).map(|l| exec_row(&locale, l)).collect(),
        total_rows: lines.len(),
        late_count: lines.iter().filter(|l| l.status == LineStatus::Late).count(),
        backlog,
        can_export: user.can(REPORT_RESOURCE, AREA, Action::Export),
        query: serde_urlencoded::to_string(&pairs).unwrap_or_default(),
        c,
    })
}

/// The execution lines as CSV (UTF-8 with a byte-order mark, so Excel shows Chinese), every
/// line, with the page's filters. Needs `export` on the sales reports.
async fn execution_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Export)?;
    let locale = user.user.locale.clone();
    let f = report::execution_filter(&pairs, report::today(), PAGE_STATUS)?;
    let lines = store::execution(&state.db, &f).await?;

    let failed = |e: csv::Error| AppError::Internal(format!("csv export: {e}"));
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let columns = [
        "order",
        "order_date",
        "line",
        "customer",
        "salesperson",
        "item",
        "unit",
        "ordered",
        "shipped",
        "returned",
        "delivered",
        "invoiced",
        "currency",
        "invoiced_amount",
        "paid",
        "unpaid",
        "promised",
        "requested",
        "days_late",
        "backlog_qty",
        "backlog_value",
        "status",
    ];
    let header: Vec<String> =
        columns.iter().map(|c| i18n::tr(&locale, &format!("sales_report.{c}"))).collect();
    w.write_record(&header).map_err(failed)?;
    for l in &lines {
        let r = exec_row(&locale, l);
        w.write_record([
            r.order.number,
            r.order_date,
            r.line_no.to_string(),
            r.customer,
            r.salesperson,
            r.item,
            r.unit,
            r.ordered,
            r.shipped,
            r.returned,
            r.delivered,
            r.invoiced,
            r.currency,
            plain_money(l.net_invoiced_amount()),
            plain_money(l.paid_amount),
            plain_money(l.unpaid()),
            r.promised,
            r.requested,
            r.days_late,
            r.backlog_qty,
            plain_money(l.backlog_value),
            r.status_label,
        ])
        .map_err(failed)?;
    }
    let bytes = w.into_inner().map_err(|e| AppError::Internal(format!("csv export: {e}")))?;
    let file = format!("order-execution-{}.csv", f.as_of);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        bytes,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------
// Receivables ageing

/// One customer and currency on the ageing page.
#[derive(Debug, Clone)]
pub struct AgeRow {
    /// Customer code.
    pub code: String,
    /// Customer code and name.
    pub customer: String,
    /// Currency.
    pub currency: String,
    /// Open amount per bucket, and whether it is overdue money (highlighted).
    pub cells: Vec<(String, bool)>,
    /// Their sum.
    pub total: String,
    /// Open items.
    pub items: usize,
}

/// One open item on the ageing page.
#[derive(Debug, Clone)]
pub struct ItemRow {
    /// The invoice or credit note.
    pub doc: DocLink,
    /// Its type, translated.
    pub kind: String,
    /// Customer code.
    pub customer: String,
    /// Document date.
    pub date: String,
    /// Due date.
    pub due: String,
    /// Currency.
    pub currency: String,
    /// Original amount.
    pub amount: String,
    /// Open amount.
    pub open: String,
    /// Days overdue (positive) or to the due date (negative).
    pub days_overdue: i64,
    /// Whether it is overdue.
    pub overdue: bool,
    /// Bucket, translated.
    pub bucket: String,
}

/// The receivables ageing page.
#[derive(Template)]
#[template(path = "sales_report_receivables.html")]
pub struct ReceivablesPage {
    /// Chrome.
    pub c: Chrome,
    /// Customer filter.
    pub customer: String,
    /// Salesperson filter.
    pub salesperson: String,
    /// Report date.
    pub as_of: String,
    /// Bucket labels.
    pub buckets: Vec<String>,
    /// Per customer and currency.
    pub rows: Vec<AgeRow>,
    /// Per currency: (currency, bucket cells, total).
    pub totals: Vec<(String, Vec<String>, String)>,
    /// Open items.
    pub items: Vec<ItemRow>,
    /// The base currency of the chart.
    pub base_currency: String,
    /// Customer rows the chart leaves out for want of a rate.
    pub unconverted: usize,
    /// Chart option (JSON, safe inside a script element).
    pub chart: String,
    /// `ZH` or `EN`: ECharts' locale.
    pub chart_locale: &'static str,
}

async fn receivables_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let f = report::ageing_filter(&pairs, report::today())?;
    let r = store::receivables_ageing(&state.db, &f).await?;
    let buckets = bucket_labels(&locale);

    let rows = r
        .rows
        .iter()
        .map(|row| AgeRow {
            code: row.customer.clone(),
            customer: labelled(&row.customer, &name(&locale, &row.name_zh, &row.name_en)),
            currency: row.currency.clone(),
            cells: row
                .buckets
                .iter()
                .enumerate()
                .map(|(i, v)| (money(*v), i > 0 && *v > Decimal::ZERO))
                .collect(),
            total: money(row.total),
            items: row.items,
        })
        .collect();
    let totals = r
        .totals
        .iter()
        .map(|(cur, b)| (cur.clone(), b.iter().map(|v| money(*v)).collect(), money(b.iter().sum())))
        .collect();
    let items = r
        .items
        .iter()
        .map(|i| ItemRow {
            doc: link(&i.document),
            kind: i18n::entity_label(&locale, &i.document.doc_type),
            customer: i.customer.clone(),
            date: i.document.date.to_string(),
            due: i.due_date.to_string(),
            currency: i.currency.clone(),
            amount: money(i.amount),
            open: money(i.open_amount),
            days_overdue: i.days_overdue,
            overdue: i.days_overdue > 0 && i.open_amount > Decimal::ZERO,
            bucket: buckets.get(i.bucket).cloned().unwrap_or_default(),
        })
        .collect();

    // The chart: one stacked bar per customer, in the base currency.
    let mut per_customer: BTreeMap<String, [Decimal; store::BUCKETS]> = BTreeMap::new();
    for row in &r.rows {
        let Some(base) = row.base_buckets else { continue };
        let label = labelled(&row.customer, &name(&locale, &row.name_zh, &row.name_en));
        let slot = per_customer.entry(label).or_insert([Decimal::ZERO; store::BUCKETS]);
        for (s, v) in slot.iter_mut().zip(base) {
            *s += v;
        }
    }
    let series: Vec<Json> = buckets
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let data: Vec<f64> =
                per_customer.values().map(|b| b.get(i).copied().map_or(0.0, float)).collect();
            json!({
                "name": label,
                "type": "bar",
                "stack": "age",
                "barMaxWidth": 60,
                "emphasis": {"focus": "series"},
                "data": data,
            })
        })
        .collect();
    let chart = json!({
        "color": ["#2e7d32", "#f9a825", "#ef6c00", "#d84315", "#b71c1c"],
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 20, "top": 40, "bottom": 40, "containLabel": true},
        "toolbox": {"feature": {"saveAsImage": {}, "dataView": {"readOnly": true}}},
        "xAxis": {"type": "category", "data": per_customer.keys().collect::<Vec<_>>(),
                  "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": {"type": "value", "name": r.base_currency},
        "series": series,
    });

    let c = chrome(&state, &user, &i18n::tr(&locale, "sales.nav.receivables"));
    render(&ReceivablesPage {
        customer: f.customer.clone().unwrap_or_default(),
        salesperson: f.salesperson.clone().unwrap_or_default(),
        as_of: f.as_of.to_string(),
        buckets,
        rows,
        totals,
        items,
        base_currency: r.base_currency.clone(),
        unconverted: r.unconverted,
        chart: script_json(&chart),
        chart_locale: chart_locale(&locale),
        c,
    })
}

// ---------------------------------------------------------------------------------------
// Gross margin

/// One group on the margin page.
#[derive(Debug, Clone)]
pub struct MarginLine {
    /// The group: order number, code, or month.
    pub key: String,
    /// Link (orders).
    pub href: Option<String>,
    /// Name.
    pub name: String,
    /// Quantity (base units).
    pub qty: String,
    /// Revenue.
    pub revenue: String,
    /// Cost.
    pub cost: String,
    /// Margin.
    pub margin: String,
    /// Margin %.
    pub pct: String,
    /// Whether the margin is negative (highlighted).
    pub loss: bool,
}

/// The gross margin page.
#[derive(Template)]
#[template(path = "sales_report_margin.html")]
pub struct MarginPage {
    /// Chrome.
    pub c: Chrome,
    /// Grouping choices: (code, label, selected).
    pub bys: Vec<(String, String, bool)>,
    /// The grouping's label (first column).
    pub by_label: String,
    /// Period start.
    pub from: String,
    /// Period end.
    pub to: String,
    /// Customer filter.
    pub customer: String,
    /// Salesperson filter.
    pub salesperson: String,
    /// Item filter.
    pub item: String,
    /// The groups.
    pub rows: Vec<MarginLine>,
    /// Everything.
    pub total: MarginLine,
    /// The base currency.
    pub base_currency: String,
    /// Documents left out for want of a rate.
    pub unconverted: usize,
    /// Bar chart option.
    pub chart: String,
    /// Month trend chart option.
    pub trend_chart: String,
    /// `ZH` or `EN`.
    pub chart_locale: &'static str,
}

fn margin_key(locale: &str, by: MarginBy, row: &MarginRow) -> String {
    if !row.key.is_empty() {
        return row.key.clone();
    }
    match by {
        MarginBy::Order => i18n::tr(locale, "sales_report.no_order"),
        _ => i18n::tr(locale, "sales_report.none"),
    }
}

fn margin_line(locale: &str, by: MarginBy, row: &MarginRow) -> MarginLine {
    let margin = row.margin();
    MarginLine {
        key: margin_key(locale, by, row),
        href: row.doc_id.map(|id| format!("/d/sales_order/{id}")),
        name: name(locale, &row.name_zh, &row.name_en),
        qty: qty(row.qty),
        revenue: money(row.revenue),
        cost: money(row.cost),
        margin: money(margin),
        pct: pct(row.margin_pct()),
        loss: margin < Decimal::ZERO,
    }
}

async fn margin_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let (f, by) = report::margin_filter(&pairs, report::today())?;
    let r = store::margin(&state.db, &f, by).await?;

    let bys = MarginBy::ALL
        .iter()
        .map(|b| {
            let code = b.code();
            (code.to_owned(), i18n::tr(&locale, &format!("sales_report.by.{code}")), *b == by)
        })
        .collect();
    let rows: Vec<MarginLine> = r.rows.iter().map(|row| margin_line(&locale, by, row)).collect();
    let mut total = margin_line(&locale, by, &r.total);
    total.key = i18n::tr(&locale, "sales_report.total");

    let revenue = i18n::tr(&locale, "sales_report.revenue");
    let cost = i18n::tr(&locale, "sales_report.cost");
    let margin = i18n::tr(&locale, "sales_report.margin");
    let margin_pct = i18n::tr(&locale, "sales_report.margin_pct");
    let shown: Vec<&MarginRow> = r.rows.iter().take(CHART_GROUPS).collect();
    let labels: Vec<String> = shown
        .iter()
        .map(|row| {
            let key = margin_key(&locale, by, row);
            match by {
                MarginBy::Customer | MarginBy::Item => {
                    labelled(&key, &name(&locale, &row.name_zh, &row.name_en))
                }
                _ => key,
            }
        })
        .collect();
    let series = |rows: &[&MarginRow], kind: &str| -> Json {
        let pick = |f: fn(&MarginRow) -> Decimal| -> Vec<f64> {
            rows.iter().map(|row| float(f(row))).collect()
        };
        let pcts: Vec<Json> = rows
            .iter()
            .map(|row| row.margin_pct().map_or(Json::Null, |p| json!(float(p))))
            .collect();
        json!([
            {"name": revenue, "type": kind, "data": pick(|r| r.revenue)},
            {"name": cost, "type": kind, "data": pick(|r| r.cost)},
            {"name": margin, "type": kind, "data": pick(MarginRow::margin)},
            {"name": margin_pct, "type": "line", "yAxisIndex": 1, "data": pcts},
        ])
    };
    let axes = json!([
        {"type": "value", "name": r.base_currency},
        {"type": "value", "name": "%", "splitLine": {"show": false}},
    ]);
    let chart = json!({
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 60, "top": 40, "bottom": 40, "containLabel": true},
        "toolbox": {"feature": {"saveAsImage": {}, "dataView": {"readOnly": true}}},
        "xAxis": {"type": "category", "data": labels, "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": axes,
        "series": series(&shown, "bar"),
    });
    let months: Vec<&MarginRow> = r.months.iter().collect();
    let trend_chart = json!({
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 60, "top": 40, "bottom": 40, "containLabel": true},
        "toolbox": {"feature": {"saveAsImage": {}, "dataView": {"readOnly": true}}},
        "xAxis": {"type": "category", "data": months.iter().map(|m| m.key.clone()).collect::<Vec<_>>()},
        "yAxis": axes,
        "series": series(&months, "line"),
    });

    let c = chrome(&state, &user, &i18n::tr(&locale, "sales.nav.margin"));
    render(&MarginPage {
        bys,
        by_label: i18n::tr(&locale, &format!("sales_report.by.{}", by.code())),
        from: f.from.to_string(),
        to: f.to.to_string(),
        customer: f.customer.clone().unwrap_or_default(),
        salesperson: f.salesperson.clone().unwrap_or_default(),
        item: f.item.clone().unwrap_or_default(),
        rows,
        total,
        base_currency: r.base_currency.clone(),
        unconverted: r.unconverted,
        chart: script_json(&chart),
        trend_chart: script_json(&trend_chart),
        chart_locale: chart_locale(&locale),
        c,
    })
}

// ---------------------------------------------------------------------------------------
// Targets and plan

/// One month (or the year) of a target row.
#[derive(Debug, Clone)]
pub struct TargetCell {
    /// Actual.
    pub actual: String,
    /// Target.
    pub target: String,
    /// Attainment.
    pub pct: String,
    /// Below target with a target set (highlighted).
    pub short: bool,
    /// Neither target nor actual (shown as a dash).
    pub empty: bool,
}

/// A salesperson or a team with twelve months and the year.
#[derive(Debug, Clone)]
pub struct TargetLine {
    /// Code and name.
    pub name: String,
    /// Team (salesperson rows).
    pub team: String,
    /// Twelve months.
    pub months: Vec<TargetCell>,
    /// The year.
    pub year: TargetCell,
}

/// One month of the sales plan.
#[derive(Debug, Clone)]
pub struct PlanLine {
    /// Month.
    pub month: String,
    /// Target, actual, attainment.
    pub cell: TargetCell,
    /// Cumulative target, actual, attainment to the end of the month.
    pub cumulative: TargetCell,
}

/// The targets page.
#[derive(Template)]
#[template(path = "sales_report_targets.html")]
pub struct TargetsPage {
    /// Chrome.
    pub c: Chrome,
    /// The year.
    pub year: i32,
    /// Month labels.
    pub months: Vec<String>,
    /// Per salesperson.
    pub people: Vec<TargetLine>,
    /// Per team.
    pub teams: Vec<TargetLine>,
    /// The monthly plan.
    pub plan: Vec<PlanLine>,
    /// The plan's year.
    pub plan_year: TargetCell,
    /// The base currency.
    pub base_currency: String,
    /// Documents left out for want of a rate.
    pub unconverted: usize,
    /// Whether the user may read the targets themselves (shows the link).
    pub can_edit_targets: bool,
    /// Plan chart option.
    pub chart: String,
    /// `ZH` or `EN`.
    pub chart_locale: &'static str,
}

fn target_cell(actual: Decimal, target: Decimal) -> TargetCell {
    let attainment = papilio_core::sales::attainment(actual, target);
    TargetCell {
        actual: money(actual),
        target: money(target),
        pct: pct(attainment),
        short: attainment.is_some_and(|p| p < Decimal::ONE_HUNDRED),
        empty: actual.is_zero() && target.is_zero(),
    }
}

fn target_line(locale: &str, row: &TargetRow, none_key: &str, team: String) -> TargetLine {
    let label = if row.key.is_empty() {
        i18n::tr(locale, none_key)
    } else {
        labelled(&row.key, &name(locale, &row.name_zh, &row.name_en))
    };
    TargetLine {
        name: label,
        team,
        months: row.actual.iter().zip(&row.target).map(|(a, t)| target_cell(*a, *t)).collect(),
        year: target_cell(row.actual_total(), row.target_total()),
    }
}

async fn targets_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let year = report::targets_year(&pairs, report::today())?;
    let r = store::targets(&state.db, year).await?;
    let months = month_labels(&locale);

    let team_names: BTreeMap<String, String> = r
        .teams
        .iter()
        .map(|t| (t.key.clone(), labelled(&t.key, &name(&locale, &t.name_zh, &t.name_en))))
        .collect();
    let people = r
        .salespeople
        .iter()
        .map(|p| {
            let team = p.team.as_ref().and_then(|t| team_names.get(t).cloned()).unwrap_or_default();
            target_line(&locale, p, "sales_report.unassigned", team)
        })
        .collect();
    let teams = r
        .teams
        .iter()
        .map(|t| target_line(&locale, t, "sales_report.no_team", String::new()))
        .collect();
    let mut plan = Vec::with_capacity(12);
    let (mut cum_target, mut cum_actual) = (Decimal::ZERO, Decimal::ZERO);
    let mut cumulative_pct = Vec::with_capacity(12);
    for ((label, actual), target) in months.iter().zip(r.plan.actual).zip(r.plan.target) {
        cum_target += target;
        cum_actual += actual;
        cumulative_pct.push(
            papilio_core::sales::attainment(cum_actual, cum_target)
                .map_or(Json::Null, |p| json!(float(p))),
        );
        plan.push(PlanLine {
            month: label.clone(),
            cell: target_cell(actual, target),
            cumulative: target_cell(cum_actual, cum_target),
        });
    }
    let monthly_pct: Vec<Json> =
        r.plan.attainment().iter().map(|p| p.map_or(Json::Null, |p| json!(float(p)))).collect();
    let chart = json!({
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 60, "top": 40, "bottom": 40, "containLabel": true},
        "toolbox": {"feature": {"saveAsImage": {}, "dataView": {"readOnly": true}}},
        "xAxis": {"type": "category", "data": months},
        "yAxis": [
            {"type": "value", "name": r.base_currency},
            {"type": "value", "name": "%", "splitLine": {"show": false}},
        ],
        "series": [
            {"name": i18n::tr(&locale, "sales_report.target"), "type": "bar",
             "data": r.plan.target.iter().map(|v| float(*v)).collect::<Vec<_>>()},
            {"name": i18n::tr(&locale, "sales_report.actual"), "type": "bar",
             "data": r.plan.actual.iter().map(|v| float(*v)).collect::<Vec<_>>()},
            {"name": i18n::tr(&locale, "sales_report.attainment"), "type": "line",
             "yAxisIndex": 1, "data": monthly_pct},
            {"name": i18n::tr(&locale, "sales_report.cumulative_attainment"), "type": "line",
             "yAxisIndex": 1, "lineStyle": {"type": "dashed"}, "data": cumulative_pct},
        ],
    });

    let c = chrome(&state, &user, &i18n::tr(&locale, "sales.nav.targets"));
    render(&TargetsPage {
        year,
        months,
        people,
        teams,
        plan,
        plan_year: target_cell(r.plan.actual_total(), r.plan.target_total()),
        base_currency: r.base_currency.clone(),
        unconverted: r.unconverted,
        can_edit_targets: user.can("sales_target", AREA, Action::Read),
        chart: script_json(&chart),
        chart_locale: chart_locale(&locale),
        c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(money(d("0")), "0.00");
        assert_eq!(money(d("361")), "361.00");
        assert_eq!(money(d("3610")), "3,610.00");
        assert_eq!(money(d("-1234567.005")), "-1,234,567.01");
        assert_eq!(money(d("100000")), "100,000.00");
        assert_eq!(pct(Some(d("64.980"))), "64.98%");
        assert_eq!(pct(None), "–");
    }
}
