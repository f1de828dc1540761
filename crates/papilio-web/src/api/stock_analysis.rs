//! Stock analyses 呆滞料分析 as JSON: slow-moving stock, ageing buckets and turnover.
//!
//! The reports are assembled here from the plain rows of [`papilio_store::stock_analysis`] and
//! the pure rules of [`papilio_core::inventory`]; the page in
//! [`crate::pages::stock_analysis`] renders the same reports as tables and ECharts charts.
//! Every route needs `read` on `stock` in the inventory area, checked before the query string
//! is parsed.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::inventory::{self, DEFAULT_AGEING, Receipt};
use papilio_store::Db;
use papilio_store::stock_analysis as store;
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;

/// The permission resource of the analyses.
pub const RESOURCE: &str = "stock";
/// Its area.
pub const AREA: &str = "inventory";
/// Decimal places of the values the analyses show.
const MONEY_PLACES: u32 = 2;
/// Slow-moving threshold when none is given, in days.
pub const DEFAULT_MIN_DAYS: i64 = 90;
/// At most this many ageing bounds.
const MAX_BOUNDS: usize = 12;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock/slow-moving", get(slow_moving_api))
        .route("/stock/ageing", get(ageing_api))
        .route("/stock/turnover", get(turnover_api))
}

/// What the analyses are asked for, parsed from the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Only this warehouse.
    pub warehouse: Option<String>,
    /// The day the stock is looked at (end of day).
    pub as_of: NaiveDate,
    /// Slow-moving threshold: at least this many idle days.
    pub min_days: i64,
    /// Ageing bucket upper bounds in days.
    pub bounds: Vec<i64>,
    /// Turnover period start.
    pub from: NaiveDate,
    /// Turnover period end.
    pub to: NaiveDate,
    /// Turnover per `item` or per `category`.
    pub group: String,
    /// Ageing chart per `category` or per `warehouse`.
    pub by: String,
}

fn get_param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
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

/// Parses `30,90,180,365` into strictly rising positive bounds.
pub fn parse_bounds(text: &str) -> Result<Vec<i64>, FieldError> {
    let bad = || FieldError::new("buckets", "analysis.bad_buckets");
    let mut bounds = Vec::new();
    for part in text.split(',') {
        let n: i64 = part.trim().parse().map_err(|_| bad())?;
        if n <= 0 || bounds.last().is_some_and(|last| *last >= n) {
            return Err(bad());
        }
        bounds.push(n);
    }
    if bounds.is_empty() || bounds.len() > MAX_BOUNDS {
        return Err(bad());
    }
    Ok(bounds)
}

fn choice(
    pairs: &[(String, String)],
    name: &str,
    options: &[&str],
    errors: &mut Vec<FieldError>,
) -> String {
    let first = options.first().copied().unwrap_or_default();
    match get_param(pairs, name) {
        None => first.to_owned(),
        Some(v) if options.contains(&v) => v.to_owned(),
        Some(_) => {
            errors.push(
                FieldError::new(name, "field.not_choice").with("options", options.join(", ")),
            );
            first.to_owned()
        }
    }
}

/// Parses the query string of the analyses; every broken parameter is reported at once.
/// Defaults: today, every warehouse, 90 days, [`DEFAULT_AGEING`], the 365 days up to `as_of`
/// for turnover, per category.
pub fn parse_params(pairs: &[(String, String)], today: NaiveDate) -> Result<Params, AppError> {
    let mut errors = Vec::new();
    let warehouse = get_param(pairs, "warehouse").map(str::to_uppercase);
    let as_of = parse_date(pairs, "as_of", &mut errors).unwrap_or(today);
    let min_days = match get_param(pairs, "min_days").map(str::parse::<i64>) {
        None => DEFAULT_MIN_DAYS,
        Some(Ok(n)) if n >= 0 => n,
        Some(Ok(_)) => {
            errors.push(FieldError::new("min_days", "field.negative"));
            DEFAULT_MIN_DAYS
        }
        Some(Err(_)) => {
            errors.push(FieldError::new("min_days", "field.not_integer"));
            DEFAULT_MIN_DAYS
        }
    };
    let bounds = match get_param(pairs, "buckets").map(parse_bounds) {
        None => DEFAULT_AGEING.to_vec(),
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            errors.push(e);
            DEFAULT_AGEING.to_vec()
        }
    };
    let to = parse_date(pairs, "to", &mut errors).unwrap_or(as_of);
    let from = parse_date(pairs, "from", &mut errors)
        .unwrap_or_else(|| to.checked_sub_days(chrono::Days::new(364)).unwrap_or(to));
    if from > to {
        errors.push(FieldError::new("from", "analysis.from_after_to"));
    }
    let group = choice(pairs, "group", &["category", "item"], &mut errors);
    let by = choice(pairs, "by", &["category", "warehouse"], &mut errors);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(Params { warehouse, as_of, min_days, bounds, from, to, group, by })
}

/// One item in one warehouse, with how long it has lain idle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowRow {
    /// The stock held.
    pub holding: store::Holding,
    /// Last issue, if ever.
    pub last_issue: Option<NaiveDate>,
    /// First receipt, if known.
    pub first_receipt: Option<NaiveDate>,
    /// Days since the last issue, or since the first receipt when never issued.
    pub idle_days: i64,
}

/// Positive stock per item and warehouse idle for at least `min_days` on `as_of`, the most
/// idle first (then the most valuable).
pub async fn slow_moving(
    db: &Db,
    as_of: NaiveDate,
    warehouse: Option<&str>,
    min_days: i64,
) -> Result<Vec<SlowRow>, AppError> {
    let holdings = store::holdings_as_of(db, as_of, warehouse).await?;
    let issues: HashMap<(String, String), NaiveDate> = store::last_issues(db, as_of, warehouse)
        .await?
        .into_iter()
        .map(|l| ((l.item, l.warehouse), l.date))
        .collect();
    let mut first: HashMap<(String, String), NaiveDate> = HashMap::new();
    for r in store::receipt_layers(db, as_of, warehouse).await? {
        first.entry((r.item, r.warehouse)).or_insert(r.date);
    }

    let mut rows: Vec<SlowRow> = holdings
        .into_iter()
        .filter(|h| h.qty > Decimal::ZERO)
        .map(|h| {
            let key = (h.item.clone(), h.warehouse.clone());
            let last_issue = issues.get(&key).copied();
            let first_receipt = first.get(&key).copied();
            // Stock with neither (only reversals left) has no known age: shown as not idle.
            let idle_days = inventory::idle_days(last_issue, first_receipt, as_of).unwrap_or(0);
            SlowRow { holding: h, last_issue, first_receipt, idle_days }
        })
        .filter(|r| r.idle_days >= min_days)
        .collect();
    rows.sort_by(|a, b| {
        b.idle_days
            .cmp(&a.idle_days)
            .then(b.holding.value.cmp(&a.holding.value))
            .then(a.holding.item.cmp(&b.holding.item))
            .then(a.holding.warehouse.cmp(&b.holding.warehouse))
    });
    Ok(rows)
}

/// One item in one warehouse split into age buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeingRow {
    /// The stock held.
    pub holding: store::Holding,
    /// Quantity per bucket, youngest first.
    pub qty: Vec<Decimal>,
    /// Value per bucket.
    pub value: Vec<Decimal>,
}

/// Bucket totals of a group (a category, a warehouse or everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeingGroup {
    /// Category or warehouse code ('' for items without a category).
    pub key: String,
    /// Quantity per bucket.
    pub qty: Vec<Decimal>,
    /// Value per bucket.
    pub value: Vec<Decimal>,
}

impl AgeingGroup {
    fn new(key: &str, buckets: usize) -> Self {
        AgeingGroup {
            key: key.to_owned(),
            qty: vec![Decimal::ZERO; buckets],
            value: vec![Decimal::ZERO; buckets],
        }
    }

    fn add(&mut self, row: &AgeingRow) {
        for (sum, q) in self.qty.iter_mut().zip(&row.qty) {
            *sum += *q;
        }
        for (sum, v) in self.value.iter_mut().zip(&row.value) {
            *sum += *v;
        }
    }
}

/// Stock split into age buckets by receipt date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeingReport {
    /// The bucket bounds in days.
    pub bounds: Vec<i64>,
    /// The bucket labels: `0–30`, `31–90`, ..., `>365`.
    pub labels: Vec<String>,
    /// Per item and warehouse.
    pub rows: Vec<AgeingRow>,
    /// Per item category.
    pub by_category: Vec<AgeingGroup>,
    /// Per warehouse.
    pub by_warehouse: Vec<AgeingGroup>,
    /// Everything.
    pub total: AgeingGroup,
}

/// The labels of the buckets `bounds` makes.
pub fn bucket_labels(bounds: &[i64]) -> Vec<String> {
    let mut labels = Vec::new();
    let mut low = 0;
    for b in bounds {
        labels.push(format!("{low}–{b}"));
        low = b + 1;
    }
    labels.push(format!(">{}", bounds.last().copied().unwrap_or(0)));
    labels
}

/// Positive stock on `as_of` split into the age buckets `bounds` make, first in first out
/// over the receipt layers of each item and warehouse; values in proportion to quantities.
pub async fn ageing(
    db: &Db,
    as_of: NaiveDate,
    warehouse: Option<&str>,
    bounds: &[i64],
) -> Result<AgeingReport, AppError> {
    let holdings = store::holdings_as_of(db, as_of, warehouse).await?;
    let mut layers: HashMap<(String, String), Vec<Receipt>> = HashMap::new();
    for r in store::receipt_layers(db, as_of, warehouse).await? {
        layers.entry((r.item, r.warehouse)).or_default().push(Receipt { date: r.date, qty: r.qty });
    }

    let n = bounds.len() + 1;
    let mut rows = Vec::new();
    let mut by_category: BTreeMap<String, AgeingGroup> = BTreeMap::new();
    let mut by_warehouse: BTreeMap<String, AgeingGroup> = BTreeMap::new();
    let mut total = AgeingGroup::new("", n);
    for h in holdings.into_iter().filter(|h| h.qty > Decimal::ZERO) {
        let key = (h.item.clone(), h.warehouse.clone());
        let receipts = layers.get(&key).map(Vec::as_slice).unwrap_or_default();
        let qty = inventory::ageing(h.qty, receipts, as_of, bounds);
        let value = inventory::bucket_values(&qty, h.qty, h.value, MONEY_PLACES);
        let row = AgeingRow { holding: h, qty, value };
        by_category
            .entry(row.holding.category.clone())
            .or_insert_with(|| AgeingGroup::new(&row.holding.category, n))
            .add(&row);
        by_warehouse
            .entry(row.holding.warehouse.clone())
            .or_insert_with(|| AgeingGroup::new(&row.holding.warehouse, n))
            .add(&row);
        total.add(&row);
        rows.push(row);
    }
    Ok(AgeingReport {
        bounds: bounds.to_vec(),
        labels: bucket_labels(bounds),
        rows,
        by_category: by_category.into_values().collect(),
        by_warehouse: by_warehouse.into_values().collect(),
        total,
    })
}

/// Turnover of one item or category over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnoverRow {
    /// Item or category code ('' for items without a category).
    pub key: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Value issued in the period.
    pub issue_value: Decimal,
    /// Stock value at each averaging point.
    pub point_values: Vec<Decimal>,
    /// Their average.
    pub average_value: Decimal,
    /// Issue value over average stock; `None` when nothing was issued or nothing held.
    pub turns: Option<Decimal>,
    /// Days of inventory: period days over turns.
    pub days: Option<Decimal>,
}

/// Turnover per item or per category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnoverReport {
    /// Period start.
    pub from: NaiveDate,
    /// Period end.
    pub to: NaiveDate,
    /// Days in the period, both ends included.
    pub period_days: i64,
    /// `item` or `category`.
    pub group: String,
    /// The dates stock was valued at for the average.
    pub points: Vec<NaiveDate>,
    /// One row per item or category, by code.
    pub rows: Vec<TurnoverRow>,
}

/// Turnover from `from` to `to`: issue value over the average of the stock values at the end
/// of the day before `from`, at every month end inside the period and at `to`.
pub async fn turnover(
    db: &Db,
    from: NaiveDate,
    to: NaiveDate,
    group: &str,
) -> Result<TurnoverReport, AppError> {
    let points = inventory::average_points(from, to);
    let per_category = group == "category";
    let mut names: BTreeMap<String, (String, String)> = BTreeMap::new();
    if per_category {
        for c in store::category_names(db).await? {
            names.insert(c.code, (c.name_zh, c.name_en));
        }
    }
    let key_of = |v: &store::ItemValue| {
        if per_category { v.category.clone() } else { v.item.clone() }
    };
    let mut rows: BTreeMap<String, TurnoverRow> = BTreeMap::new();
    let mut entry = |v: &store::ItemValue| -> String {
        let key = key_of(v);
        rows.entry(key.clone()).or_insert_with(|| {
            let (name_zh, name_en) = if per_category {
                names.get(&key).cloned().unwrap_or_default()
            } else {
                (v.name_zh.clone(), v.name_en.clone())
            };
            TurnoverRow {
                key: key.clone(),
                name_zh,
                name_en,
                issue_value: Decimal::ZERO,
                point_values: vec![Decimal::ZERO; points.len()],
                average_value: Decimal::ZERO,
                turns: None,
                days: None,
            }
        });
        key
    };
    let issued = store::issue_values(db, from, to).await?;
    let mut at_points = Vec::new();
    for p in &points {
        at_points.push(store::item_values_as_of(db, *p).await?);
    }
    let mut keys_issued = Vec::new();
    for v in &issued {
        keys_issued.push((entry(v), v.value));
    }
    let mut keys_held = Vec::new();
    for (i, values) in at_points.iter().enumerate() {
        for v in values {
            keys_held.push((entry(v), i, v.value));
        }
    }
    for (key, value) in keys_issued {
        if let Some(row) = rows.get_mut(&key) {
            row.issue_value += value;
        }
    }
    for (key, i, value) in keys_held {
        if let Some(slot) = rows.get_mut(&key).and_then(|r| r.point_values.get_mut(i)) {
            *slot += value;
        }
    }

    let period_days = (to - from).num_days() + 1;
    let rows = rows
        .into_values()
        .filter(|r| !r.issue_value.is_zero() || r.point_values.iter().any(|v| !v.is_zero()))
        .map(|mut r| {
            r.average_value = inventory::average_value(&r.point_values, MONEY_PLACES);
            let t = inventory::turnover(r.issue_value, r.average_value, period_days);
            r.turns = t.map(|(turns, _)| turns);
            r.days = t.map(|(_, days)| days);
            r
        })
        .collect();
    Ok(TurnoverReport { from, to, period_days, group: group.to_owned(), points, rows })
}

fn money(d: Decimal) -> String {
    d.round_dp(MONEY_PLACES).normalize().to_string()
}

fn qty(d: Decimal) -> String {
    d.normalize().to_string()
}

fn decimals(values: &[Decimal], f: fn(Decimal) -> String) -> Json {
    Json::Array(values.iter().map(|v| Json::String(f(*v))).collect())
}

fn holding_json(h: &store::Holding) -> serde_json::Map<String, Json> {
    let v = json!({
        "item": h.item,
        "name_zh": h.name_zh,
        "name_en": h.name_en,
        "category": h.category,
        "warehouse": h.warehouse,
        "qty": qty(h.qty),
        "value": money(h.value),
    });
    match v {
        Json::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn group_json(g: &AgeingGroup) -> Json {
    json!({"key": g.key, "qty": decimals(&g.qty, qty), "value": decimals(&g.value, money)})
}

async fn params_for(user: &CurrentUser, pairs: &[(String, String)]) -> Result<Params, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    parse_params(pairs, chrono::Utc::now().date_naive())
}

async fn slow_moving_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let p = params_for(&user, &pairs).await?;
    let rows = slow_moving(&state.db, p.as_of, p.warehouse.as_deref(), p.min_days).await?;
    let data: Vec<Json> = rows
        .iter()
        .map(|r| {
            let mut m = holding_json(&r.holding);
            m.insert("last_issue".into(), json!(r.last_issue.map(|d| d.to_string())));
            m.insert("first_receipt".into(), json!(r.first_receipt.map(|d| d.to_string())));
            m.insert("idle_days".into(), json!(r.idle_days));
            Json::Object(m)
        })
        .collect();
    let total: Decimal = rows.iter().map(|r| r.holding.value).sum();
    Ok(axum::Json(json!({
        "as_of": p.as_of.to_string(),
        "warehouse": p.warehouse,
        "min_days": p.min_days,
        "total_value": money(total),
        "data": data,
    }))
    .into_response())
}

async fn ageing_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let p = params_for(&user, &pairs).await?;
    let report = ageing(&state.db, p.as_of, p.warehouse.as_deref(), &p.bounds).await?;
    let data: Vec<Json> = report
        .rows
        .iter()
        .map(|r| {
            let mut m = holding_json(&r.holding);
            m.insert("bucket_qty".into(), decimals(&r.qty, qty));
            m.insert("bucket_value".into(), decimals(&r.value, money));
            Json::Object(m)
        })
        .collect();
    Ok(axum::Json(json!({
        "as_of": p.as_of.to_string(),
        "warehouse": p.warehouse,
        "buckets": report.bounds,
        "labels": report.labels,
        "data": data,
        "by_category": report.by_category.iter().map(group_json).collect::<Vec<_>>(),
        "by_warehouse": report.by_warehouse.iter().map(group_json).collect::<Vec<_>>(),
        "total": group_json(&report.total),
    }))
    .into_response())
}

async fn turnover_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let p = params_for(&user, &pairs).await?;
    let report = turnover(&state.db, p.from, p.to, &p.group).await?;
    let data: Vec<Json> = report
        .rows
        .iter()
        .map(|r| {
            json!({
                "key": r.key,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                "issue_value": money(r.issue_value),
                "point_values": decimals(&r.point_values, money),
                "average_value": money(r.average_value),
                "turnover": r.turns.map(|t| t.normalize().to_string()),
                "days_of_inventory": r.days.map(|d| d.normalize().to_string()),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "from": report.from.to_string(),
        "to": report.to.to_string(),
        "period_days": report.period_days,
        "group": report.group,
        "points": report.points.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "data": data,
    }))
    .into_response())
}
