//! The stock analysis page 库存分析 at `/stock/analysis`: slow-moving stock, ageing buckets
//! with a stacked bar chart, and turnover per category or item with a bar chart.
//!
//! The reports come from [`crate::api::stock_analysis`], so the page and the API always agree.
//! Charts are drawn by the embedded Apache ECharts: the server writes each chart's option as
//! JSON into the page and a few lines of inline script hand it to `echarts.init`, with
//! ECharts' built-in Chinese or English locale.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use papilio_core::access::Action;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::stock_analysis::{
    self as report, AREA, AgeingGroup, AgeingReport, Params, RESOURCE, TurnoverReport,
};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::{chrome, render};
use crate::views::{Cell, Chrome};

/// Rows shown in the item tables; the API answers all of them.
const TABLE_ROWS: usize = 200;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock/analysis", get(page))
        .route("/stock/analysis/slow-moving.csv", get(slow_moving_csv))
}

/// The analysis page.
#[derive(Template)]
#[template(path = "stock_analysis.html")]
pub struct AnalysisPage {
    /// Chrome.
    pub c: Chrome,
    /// The parameters, as typed.
    pub p: Params,
    /// Ageing bounds as typed (`30,90,180,365`).
    pub buckets: String,
    /// `ZH` or `EN`: ECharts' locale.
    pub chart_locale: &'static str,
    /// Slow-moving rows: cells in column order.
    pub slow: Vec<Vec<Cell>>,
    /// Slow-moving rows in all (the table shows at most [`TABLE_ROWS`]).
    pub slow_total: usize,
    /// Value of all slow-moving stock.
    pub slow_value: String,
    /// Ageing bucket labels.
    pub bucket_labels: Vec<String>,
    /// Ageing per category or warehouse: label and cells (qty and value per bucket).
    pub ageing_groups: Vec<(String, Vec<Cell>)>,
    /// Ageing totals: cells.
    pub ageing_total: Vec<Cell>,
    /// Ageing chart option (JSON, safe inside a script element).
    pub ageing_chart: String,
    /// Turnover rows: cells in column order.
    pub turnover: Vec<Vec<Cell>>,
    /// Turnover chart option (JSON, safe inside a script element).
    pub turnover_chart: String,
    /// Days in the turnover period.
    pub period_days: i64,
    /// Whether the user may export (shows the CSV link).
    pub can_export: bool,
    /// The query string of this page, for the export link.
    pub query: String,
}

fn num(text: String) -> Cell {
    Cell { text, numeric: true }
}

fn text(text: impl Into<String>) -> Cell {
    Cell { text: text.into(), numeric: false }
}

fn money(d: Decimal) -> String {
    format!("{:.2}", d.round_dp(2))
}

fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

/// A decimal for the chart only: the one place a float is acceptable.
fn float(d: Decimal) -> f64 {
    d.round_dp(2).to_f64().unwrap_or(0.0)
}

/// JSON that may sit inside `<script>`: `<`, `>` and `&` only occur in strings, where their
/// `\u` escapes mean the same.
fn script_json(v: &Json) -> String {
    v.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn name(locale: &str, zh: &str, en: &str) -> String {
    if locale == "en" { en.to_owned() } else { zh.to_owned() }
}

fn group_label(locale: &str, key: &str, names: &[(String, String, String)]) -> String {
    if key.is_empty() {
        return i18n::tr(locale, "analysis.no_category");
    }
    match names.iter().find(|(code, _, _)| code == key) {
        Some((code, zh, en)) => format!("{code} {}", name(locale, zh, en)),
        None => key.to_owned(),
    }
}

fn ageing_chart(locale: &str, report: &AgeingReport, groups: &[(String, &AgeingGroup)]) -> Json {
    let days = i18n::tr(locale, "analysis.days");
    let series: Vec<Json> = report
        .labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let data: Vec<f64> =
                groups.iter().map(|(_, g)| g.value.get(i).copied().map_or(0.0, float)).collect();
            json!({
                "name": format!("{label} {days}"),
                "type": "bar",
                "stack": "age",
                "emphasis": {"focus": "series"},
                "data": data,
            })
        })
        .collect();
    json!({
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 20, "top": 40, "bottom": 40, "containLabel": true},
        "toolbox": {"feature": {"saveAsImage": {}, "dataView": {"readOnly": true}}},
        "xAxis": {"type": "category", "data": groups.iter().map(|(l, _)| l).collect::<Vec<_>>()},
        "yAxis": {"type": "value", "name": i18n::tr(locale, "analysis.value")},
        "series": series,
    })
}

fn turnover_chart(locale: &str, report: &TurnoverReport, labels: &[String]) -> Json {
    let turns: Vec<f64> = report.rows.iter().map(|r| r.turns.map_or(0.0, float)).collect();
    let days: Vec<f64> = report.rows.iter().map(|r| r.days.map_or(0.0, float)).collect();
    json!({
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 60, "right": 60, "top": 40, "bottom": 40, "containLabel": true},
        "toolbox": {"feature": {"saveAsImage": {}, "dataView": {"readOnly": true}}},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": [
            {"type": "value", "name": i18n::tr(locale, "analysis.turnover")},
            {"type": "value", "name": i18n::tr(locale, "analysis.days_of_inventory")},
        ],
        "series": [
            {"name": i18n::tr(locale, "analysis.turnover"), "type": "bar", "data": turns},
            {
                "name": i18n::tr(locale, "analysis.days_of_inventory"),
                "type": "bar",
                "yAxisIndex": 1,
                "data": days,
            },
        ],
    })
}

async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let p = report::parse_params(&pairs, chrono::Utc::now().date_naive())?;
    let wh = p.warehouse.as_deref();

    let slow = report::slow_moving(&state.db, p.as_of, wh, p.min_days).await?;
    let ageing = report::ageing(&state.db, p.as_of, wh, &p.bounds).await?;
    let turnover = report::turnover(&state.db, p.from, p.to, &p.group).await?;
    let categories: Vec<(String, String, String)> =
        papilio_store::stock_analysis::category_names(&state.db)
            .await?
            .into_iter()
            .map(|c| (c.code, c.name_zh, c.name_en))
            .collect();

    let slow_value: Decimal = slow.iter().map(|r| r.holding.value).sum();
    let never = i18n::tr(&locale, "analysis.never");
    let slow_rows = slow
        .iter()
        .take(TABLE_ROWS)
        .map(|r| {
            let h = &r.holding;
            vec![
                text(h.item.clone()),
                text(name(&locale, &h.name_zh, &h.name_en)),
                text(h.warehouse.clone()),
                num(qty(h.qty)),
                num(money(h.value)),
                text(r.last_issue.map_or_else(|| never.clone(), |d| d.to_string())),
                text(r.first_receipt.map(|d| d.to_string()).unwrap_or_default()),
                num(r.idle_days.to_string()),
            ]
        })
        .collect();

    let source = if p.by == "warehouse" { &ageing.by_warehouse } else { &ageing.by_category };
    let groups: Vec<(String, &AgeingGroup)> = source
        .iter()
        .map(|g| {
            let label = if p.by == "warehouse" {
                g.key.clone()
            } else {
                group_label(&locale, &g.key, &categories)
            };
            (label, g)
        })
        .collect();
    let cells = |g: &AgeingGroup| -> Vec<Cell> {
        g.qty.iter().zip(&g.value).flat_map(|(q, v)| [num(qty(*q)), num(money(*v))]).collect()
    };
    let ageing_groups = groups.iter().map(|(l, g)| (l.clone(), cells(g))).collect();
    let ageing_total = cells(&ageing.total);
    let ageing_chart = script_json(&ageing_chart(&locale, &ageing, &groups));

    let labels: Vec<String> = turnover
        .rows
        .iter()
        .map(|r| {
            if p.group == "category" {
                group_label(&locale, &r.key, &categories)
            } else {
                format!("{} {}", r.key, name(&locale, &r.name_zh, &r.name_en))
            }
        })
        .collect();
    let dash = || text("–");
    let turnover_rows = turnover
        .rows
        .iter()
        .zip(&labels)
        .map(|(r, label)| {
            vec![
                text(label.clone()),
                num(money(r.issue_value)),
                num(money(r.average_value)),
                r.turns.map_or_else(dash, |t| num(t.normalize().to_string())),
                r.days.map_or_else(dash, |d| num(d.normalize().to_string())),
            ]
        })
        .collect();
    let turnover_chart = script_json(&turnover_chart(&locale, &turnover, &labels));

    let c = chrome(&state, &user, &i18n::tr(&locale, "analysis.title"));
    render(&AnalysisPage {
        buckets: p.bounds.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(","),
        chart_locale: if locale == "en" { "EN" } else { "ZH" },
        slow: slow_rows,
        slow_total: slow.len(),
        slow_value: money(slow_value),
        bucket_labels: ageing.labels.clone(),
        ageing_groups,
        ageing_total,
        ageing_chart,
        turnover: turnover_rows,
        turnover_chart,
        period_days: turnover.period_days,
        can_export: user.can(RESOURCE, AREA, Action::Export),
        query: serde_urlencoded::to_string(&pairs).unwrap_or_default(),
        c,
        p,
    })
}

/// The slow-moving list as CSV (UTF-8 with a byte-order mark, so Excel shows Chinese), every
/// row, with the page's filters. Needs `export` on `stock`.
async fn slow_moving_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Export)?;
    let locale = user.user.locale.clone();
    let p = report::parse_params(&pairs, chrono::Utc::now().date_naive())?;
    let rows = report::slow_moving(&state.db, p.as_of, p.warehouse.as_deref(), p.min_days).await?;

    let failed = |e: csv::Error| AppError::Internal(format!("csv export: {e}"));
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let columns = [
        "item",
        "name",
        "category",
        "warehouse",
        "qty",
        "value",
        "last_issue",
        "first_receipt",
        "idle_days",
    ];
    let header: Vec<String> =
        columns.iter().map(|c| i18n::tr(&locale, &format!("analysis.{c}"))).collect();
    w.write_record(&header).map_err(failed)?;
    for r in &rows {
        let h = &r.holding;
        w.write_record([
            h.item.clone(),
            name(&locale, &h.name_zh, &h.name_en),
            h.category.clone(),
            h.warehouse.clone(),
            qty(h.qty),
            money(h.value),
            r.last_issue.map(|d| d.to_string()).unwrap_or_default(),
            r.first_receipt.map(|d| d.to_string()).unwrap_or_default(),
            r.idle_days.to_string(),
        ])
        .map_err(failed)?;
    }
    let bytes = w.into_inner().map_err(|e| AppError::Internal(format!("csv export: {e}")))?;
    let file = format!("slow-moving-{}.csv", p.as_of);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        bytes,
    )
        .into_response())
}
