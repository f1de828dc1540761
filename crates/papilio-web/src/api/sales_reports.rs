//! Sales reports as JSON: order execution tracking 订单执行跟踪, receivables ageing 应收账龄,
//! gross margin 毛利分析, and targets against actual sales 销售目标.
//!
//! The figures come from [`papilio_store::sales_reports`]; this module parses the query
//! strings (naming every broken parameter at once) and writes decimals as exact strings. The
//! pages in [`crate::pages::sales_reports`] use the same parsers, so a page and the API always
//! agree. Every route needs `read` on the sales report resource, checked before the query
//! string is parsed.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate};
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::sales::AGEING_BUCKETS;
use papilio_core::value::round_to;
use papilio_store::sales_reports::{
    self as store, AgeingFilter, AgeingReport, DocRef, ExecutionFilter, ExecutionLine, LineStatus,
    MarginBy, MarginFilter, MarginReport, MarginRow, TargetRow, TargetsReport,
};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::sales::{AREA, REPORT_RESOURCE};
use crate::ctx::CurrentUser;
use crate::error::AppError;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sales/execution", get(execution_api))
        .route("/sales/receivables", get(receivables_api))
        .route("/sales/margin", get(margin_api))
        .route("/sales/targets", get(targets_api))
}

/// The status filter values of the execution report: `all` or a [`LineStatus`] code.
pub const STATUS_CHOICES: [&str; 7] =
    ["all", "open", "late", "delivered", "invoiced", "paid", "closed"];

/// Earliest and latest year the targets report accepts (the `sales_target` entity's range).
const YEARS: (i32, i32) = (2000, 2100);

fn get_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn code(pairs: &[(String, String)], name: &str) -> Option<String> {
    get_param(pairs, name).map(str::to_uppercase)
}

fn parse_date(
    pairs: &[(String, String)],
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDate> {
    let text = get_param(pairs, name)?;
    match text.parse::<NaiveDate>() {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(FieldError::new(name, "field.not_date"));
            None
        }
    }
}

fn choice<'a>(
    pairs: &[(String, String)],
    name: &str,
    options: &[&'a str],
    default: &'a str,
    errors: &mut Vec<FieldError>,
) -> &'a str {
    match get_param(pairs, name) {
        None => default,
        Some(v) => match options.iter().find(|o| **o == v) {
            Some(o) => o,
            None => {
                errors.push(
                    FieldError::new(name, "field.not_choice").with("options", options.join(", ")),
                );
                default
            }
        },
    }
}

fn from_after_to(from: Option<NaiveDate>, to: Option<NaiveDate>, errors: &mut Vec<FieldError>) {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        errors.push(FieldError::new("from", "analysis.from_after_to"));
    }
}

fn done<T>(value: T, errors: Vec<FieldError>) -> Result<T, AppError> {
    if errors.is_empty() { Ok(value) } else { Err(AppError::Invalid(errors)) }
}

/// Parses the execution report's query: `customer`, `salesperson`, `item`, `order` (number),
/// `from` and `to` (order dates), `status` (one of [`STATUS_CHOICES`], else
/// `default_status`) and `as_of` (the day lateness is judged on, default `today`).
pub fn execution_filter(
    pairs: &[(String, String)],
    today: NaiveDate,
    default_status: &'static str,
) -> Result<ExecutionFilter, AppError> {
    let mut errors = Vec::new();
    let from = parse_date(pairs, "from", &mut errors);
    let to = parse_date(pairs, "to", &mut errors);
    from_after_to(from, to, &mut errors);
    let as_of = parse_date(pairs, "as_of", &mut errors).unwrap_or(today);
    let status = choice(pairs, "status", &STATUS_CHOICES, default_status, &mut errors);
    let f = ExecutionFilter {
        customer: code(pairs, "customer"),
        salesperson: code(pairs, "salesperson"),
        item: code(pairs, "item"),
        order: code(pairs, "order"),
        from,
        to,
        status: LineStatus::from_code(status),
        as_of,
    };
    done(f, errors)
}

/// Parses the ageing report's query: `customer`, `salesperson`, `as_of` (default `today`).
pub fn ageing_filter(
    pairs: &[(String, String)],
    today: NaiveDate,
) -> Result<AgeingFilter, AppError> {
    let mut errors = Vec::new();
    let as_of = parse_date(pairs, "as_of", &mut errors).unwrap_or(today);
    let f = AgeingFilter {
        customer: code(pairs, "customer"),
        salesperson: code(pairs, "salesperson"),
        as_of,
    };
    done(f, errors)
}

/// Parses the margin report's query: `by` (order, customer, item, salesperson or month;
/// default customer), `from` (default 1 January of `to`'s year), `to` (default `today`),
/// `customer`, `salesperson`, `item`.
pub fn margin_filter(
    pairs: &[(String, String)],
    today: NaiveDate,
) -> Result<(MarginFilter, MarginBy), AppError> {
    let mut errors = Vec::new();
    let codes: Vec<&str> = MarginBy::ALL.iter().map(|b| b.code()).collect();
    let by = MarginBy::from_code(choice(pairs, "by", &codes, "customer", &mut errors))
        .unwrap_or(MarginBy::Customer);
    let to = parse_date(pairs, "to", &mut errors);
    let from = parse_date(pairs, "from", &mut errors);
    from_after_to(from, to, &mut errors);
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to));
    let f = MarginFilter {
        from,
        to,
        customer: code(pairs, "customer"),
        salesperson: code(pairs, "salesperson"),
        item: code(pairs, "item"),
    };
    done((f, by), errors)
}

/// Parses the targets report's query: `year` (default `today`'s year).
pub fn targets_year(pairs: &[(String, String)], today: NaiveDate) -> Result<i32, AppError> {
    let Some(text) = get_param(pairs, "year") else { return Ok(today.year()) };
    match text.parse::<i32>() {
        Ok(y) if (YEARS.0..=YEARS.1).contains(&y) => Ok(y),
        Ok(_) => Err(AppError::Invalid(vec![
            FieldError::new("year", "field.out_of_range").with("min", YEARS.0).with("max", YEARS.1),
        ])),
        Err(_) => Err(AppError::Invalid(vec![FieldError::new("year", "field.not_integer")])),
    }
}

/// Today, for the reports' defaults.
pub fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

fn money(d: Decimal) -> Json {
    Json::String(round_to(d, 2).normalize().to_string())
}

fn qty(d: Decimal) -> Json {
    Json::String(d.normalize().to_string())
}

fn pct(d: Option<Decimal>) -> Json {
    d.map_or(Json::Null, |p| Json::String(p.normalize().to_string()))
}

fn doc_json(d: &DocRef) -> Json {
    json!({
        "id": d.id.to_string(),
        "doc_type": d.doc_type,
        "number": d.number,
        "date": d.date.to_string(),
        "href": format!("/d/{}/{}", d.doc_type, d.id),
    })
}

fn docs_json(list: &[DocRef]) -> Json {
    Json::Array(list.iter().map(doc_json).collect())
}

fn line_json(l: &ExecutionLine) -> Json {
    json!({
        "order": doc_json(&l.order),
        "order_closed": l.order_closed,
        "line_id": l.line_id.to_string(),
        "line_no": l.line_no,
        "quotation": l.quotation.as_ref().map(doc_json),
        "customer": l.customer,
        "customer_name_zh": l.customer_zh,
        "customer_name_en": l.customer_en,
        "salesperson": l.salesperson,
        "salesperson_name": l.salesperson_name,
        "currency": l.currency,
        "item": l.item,
        "item_name_zh": l.item_zh,
        "item_name_en": l.item_en,
        "unit": l.unit,
        "ordered": qty(l.ordered),
        "unit_price": qty(l.unit_price),
        "amount": money(l.amount),
        "shipped": qty(l.shipped),
        "returned": qty(l.returned),
        "delivered": qty(l.delivered),
        "invoiced_qty": qty(l.invoiced_qty),
        "invoiced_amount": money(l.invoiced_amount),
        "credited_qty": qty(l.credited_qty),
        "credited_amount": money(l.credited_amount),
        "net_invoiced_qty": qty(l.net_invoiced_qty()),
        "net_invoiced_amount": money(l.net_invoiced_amount()),
        "paid_amount": money(l.paid_amount),
        "unpaid_amount": money(l.unpaid()),
        "promised_date": l.promised_date.map(|d| d.to_string()),
        "requested_date": l.requested_date.map(|d| d.to_string()),
        "backlog_qty": qty(l.backlog_qty),
        "backlog_value": money(l.backlog_value),
        "days_late": l.days_late,
        "status": l.status.code(),
        "flow": {
            "deliveries": docs_json(&l.deliveries),
            "returns": docs_json(&l.returns),
            "invoices": docs_json(&l.invoices),
            "credit_notes": docs_json(&l.credit_notes),
            "receipts": docs_json(&l.receipts),
        },
    })
}

/// Backlog value per order currency ('' for none), by currency.
pub fn backlog_by_currency(lines: &[ExecutionLine]) -> Vec<(String, Decimal)> {
    let mut out: std::collections::BTreeMap<String, Decimal> = Default::default();
    for l in lines.iter().filter(|l| l.backlog_value > Decimal::ZERO) {
        *out.entry(l.currency.clone().unwrap_or_default()).or_default() += l.backlog_value;
    }
    out.into_iter().collect()
}

async fn execution_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let f = execution_filter(&pairs, today(), "all")?;
    let lines = store::execution(&state.db, &f).await?;
    let backlog: Vec<Json> = backlog_by_currency(&lines)
        .into_iter()
        .map(|(currency, value)| json!({"currency": currency, "value": money(value)}))
        .collect();
    Ok(axum::Json(json!({
        "as_of": f.as_of.to_string(),
        "status": f.status.map_or("all", LineStatus::code),
        "lines": lines.len(),
        "late": lines.iter().filter(|l| l.status == LineStatus::Late).count(),
        "backlog": backlog,
        "data": lines.iter().map(line_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

fn buckets_json(b: &[Decimal]) -> Json {
    Json::Array(b.iter().map(|v| money(*v)).collect())
}

fn ageing_json(r: &AgeingReport) -> Json {
    let rows: Vec<Json> = r
        .rows
        .iter()
        .map(|row| {
            json!({
                "customer": row.customer,
                "name_zh": row.name_zh,
                "name_en": row.name_en,
                "currency": row.currency,
                "buckets": buckets_json(&row.buckets),
                "total": money(row.total),
                "base_buckets": row.base_buckets.as_ref().map(|b| buckets_json(b)),
                "items": row.items,
            })
        })
        .collect();
    let totals: Vec<Json> = r
        .totals
        .iter()
        .map(|(currency, b)| {
            json!({
                "currency": currency,
                "buckets": buckets_json(b),
                "total": money(b.iter().sum()),
            })
        })
        .collect();
    let items: Vec<Json> = r
        .items
        .iter()
        .map(|i| {
            json!({
                "document": doc_json(&i.document),
                "customer": i.customer,
                "salesperson": i.salesperson,
                "currency": i.currency,
                "amount": money(i.amount),
                "open_amount": money(i.open_amount),
                "due_date": i.due_date.to_string(),
                "days_overdue": i.days_overdue,
                "bucket": AGEING_BUCKETS.get(i.bucket).copied().unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "as_of": r.as_of.to_string(),
        "base_currency": r.base_currency,
        "buckets": AGEING_BUCKETS,
        "data": rows,
        "totals": totals,
        "items": items,
        "unconverted": r.unconverted,
    })
}

async fn receivables_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let f = ageing_filter(&pairs, today())?;
    let report = store::receivables_ageing(&state.db, &f).await?;
    Ok(axum::Json(ageing_json(&report)).into_response())
}

fn margin_row_json(r: &MarginRow) -> Json {
    json!({
        "key": r.key,
        "id": r.doc_id.map(|id| id.to_string()),
        "name_zh": r.name_zh,
        "name_en": r.name_en,
        "qty": qty(r.qty),
        "revenue": money(r.revenue),
        "cost": money(r.cost),
        "margin": money(r.margin()),
        "margin_pct": pct(r.margin_pct()),
    })
}

fn margin_json(f: &MarginFilter, r: &MarginReport) -> Json {
    json!({
        "from": f.from.to_string(),
        "to": f.to.to_string(),
        "by": r.by.code(),
        "base_currency": r.base_currency,
        "data": r.rows.iter().map(margin_row_json).collect::<Vec<_>>(),
        "months": r.months.iter().map(margin_row_json).collect::<Vec<_>>(),
        "total": margin_row_json(&r.total),
        "unconverted": r.unconverted,
    })
}

async fn margin_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let (f, by) = margin_filter(&pairs, today())?;
    let report = store::margin(&state.db, &f, by).await?;
    Ok(axum::Json(margin_json(&f, &report)).into_response())
}

fn target_row_json(r: &TargetRow) -> Json {
    let attainment = r.attainment();
    let months: Vec<Json> = (0..12)
        .map(|m| {
            json!({
                "month": m + 1,
                "target": r.target.get(m).copied().map_or(Json::Null, money),
                "actual": r.actual.get(m).copied().map_or(Json::Null, money),
                "attainment": pct(attainment.get(m).copied().flatten()),
            })
        })
        .collect();
    json!({
        "code": r.key,
        "name_zh": r.name_zh,
        "name_en": r.name_en,
        "team": r.team,
        "months": months,
        "target": money(r.target_total()),
        "actual": money(r.actual_total()),
        "attainment": pct(r.total_attainment()),
    })
}

fn targets_json(r: &TargetsReport) -> Json {
    json!({
        "year": r.year,
        "base_currency": r.base_currency,
        "salespeople": r.salespeople.iter().map(target_row_json).collect::<Vec<_>>(),
        "teams": r.teams.iter().map(target_row_json).collect::<Vec<_>>(),
        "plan": target_row_json(&r.plan),
        "unconverted": r.unconverted,
    })
}

async fn targets_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let year = targets_year(&pairs, today())?;
    let report = store::targets(&state.db, year).await?;
    Ok(axum::Json(targets_json(&report)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn fields(e: AppError) -> Vec<String> {
        match e {
            AppError::Invalid(list) => list.into_iter().map(|f| f.field).collect(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn bad_values_are_named() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let e = execution_filter(
            &pairs(&[("from", "2026-13-01"), ("status", "lost"), ("as_of", "x")]),
            today,
            "all",
        )
        .unwrap_err();
        assert_eq!(fields(e), ["from", "as_of", "status"]);
        let e = margin_filter(
            &pairs(&[("by", "week"), ("from", "2026-12-01"), ("to", "2026-11-01")]),
            today,
        )
        .unwrap_err();
        assert_eq!(fields(e), ["by", "from"]);
        assert_eq!(fields(targets_year(&pairs(&[("year", "20x6")]), today).unwrap_err()), ["year"]);
        assert_eq!(fields(targets_year(&pairs(&[("year", "1999")]), today).unwrap_err()), ["year"]);
        assert_eq!(
            fields(ageing_filter(&pairs(&[("as_of", "tomorrow")]), today).unwrap_err()),
            ["as_of"]
        );
    }

    #[test]
    fn defaults_and_codes() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let f = execution_filter(&pairs(&[("customer", " c001 ")]), today, "open").unwrap();
        assert_eq!(f.customer.as_deref(), Some("C001"));
        assert_eq!((f.status, f.as_of), (Some(LineStatus::Open), today));
        let f = execution_filter(&pairs(&[("status", "all")]), today, "open").unwrap();
        assert_eq!(f.status, None);
        let (m, by) = margin_filter(&[], today).unwrap();
        assert_eq!(by, MarginBy::Customer);
        assert_eq!((m.from.to_string(), m.to), ("2026-01-01".to_owned(), today));
        assert_eq!(targets_year(&[], today).unwrap(), 2026);
    }
}
