//! The warehouse manager's pages 库存查询: stock on hand (now or as of a date, by item,
//! warehouse, bin or lot, with reserved, available and value), the stock card with running
//! balances, stock alerts against the items' planning levels, and the ledger check.
//!
//! The input parsing and the report builders here are shared with the JSON API
//! ([`crate::api::stock`]), so both answer the same numbers and refuse the same input.
//! Reading needs `read` on `stock` (area inventory), exporting `export`, and the ledger check
//! `approve`.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Datelike, NaiveDate};
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::inventory::{StockAlert, stock_alert};
use papilio_core::value::round_to;
use papilio_store::stock::{self, CardLine};
use papilio_store::stock_views::{self, LevelRow, StockQuery};
use rust_decimal::Decimal;

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::{chrome, render};
use crate::views::{Chrome, Pager};

/// The permission resource of every stock view.
pub const RESOURCE: &str = "stock";
/// Its area.
pub const AREA: &str = "inventory";

/// `/stock...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock", get(balances_page))
        .route("/stock/export.csv", get(balances_csv))
        .route("/stock/card", get(card_page))
        .route("/stock/alerts", get(alerts_page))
        .route("/stock/alerts/export.csv", get(alerts_csv))
        .route("/stock/check", get(check_page))
}

/// Refuses with 403 unless `user` may do `action` on stock.
pub fn require(user: &CurrentUser, action: Action) -> Result<(), AppError> {
    user.require(RESOURCE, AREA, action)
}

fn invalid(field: &str, rule: &str) -> AppError {
    AppError::Invalid(vec![FieldError::new(field, rule)])
}

/// A code typed in a filter: trimmed and upper-cased (codes are stored upper-case); `None`
/// when empty.
fn code(value: &str) -> Option<String> {
    Some(value.trim().to_uppercase()).filter(|s| !s.is_empty())
}

fn date(field: &str, value: &str) -> Result<Option<NaiveDate>, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value.parse().map(Some).map_err(|_| invalid(field, "field.not_date"))
}

fn flag(field: &str, value: &str) -> Result<bool, AppError> {
    match value.trim().to_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err(invalid(field, "field.not_bool")),
    }
}

fn integer(field: &str, value: &str) -> Result<i64, AppError> {
    value.trim().parse().map_err(|_| invalid(field, "field.not_integer"))
}

/// Decimal as shown and sent: exact, without trailing zeros.
pub fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// An amount as shown: rounded to two places (values are kept to six).
pub fn money(d: Decimal) -> String {
    format!("{:.2}", papilio_core::value::round_to(d, 2))
}

/// The level stock on hand is summed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// One row per item.
    Item,
    /// Per item and warehouse (where reservations are kept).
    Warehouse,
    /// Per item, warehouse and bin.
    Bin,
    /// Per item, warehouse, bin and lot: every balance.
    Lot,
}

impl Group {
    /// All levels, coarsest first.
    pub const ALL: [Group; 4] = [Group::Item, Group::Warehouse, Group::Bin, Group::Lot];

    /// Its code.
    pub fn code(self) -> &'static str {
        match self {
            Group::Item => "item",
            Group::Warehouse => "warehouse",
            Group::Bin => "bin",
            Group::Lot => "lot",
        }
    }

    fn from_code(code: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.code() == code)
    }
}

/// What a stock-on-hand request asks for.
#[derive(Debug, Clone)]
pub struct BalanceParams {
    /// Filters and date.
    pub query: StockQuery,
    /// Level of detail.
    pub group: Group,
    /// Page, 1-based.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

/// Parses `item`, `warehouse`, `category`, `nonzero`, `as_of`, `group`, `page` and
/// `per_page`; anything else is refused by name.
pub fn balance_params(params: &[(String, String)]) -> Result<BalanceParams, AppError> {
    let mut p = BalanceParams {
        query: StockQuery::default(),
        group: Group::Warehouse,
        page: 1,
        per_page: 100,
    };
    for (key, value) in params {
        match key.as_str() {
            "item" => p.query.item = code(value),
            "warehouse" => p.query.warehouse = code(value),
            "category" => p.query.category = code(value),
            "nonzero" => p.query.nonzero = flag("nonzero", value)?,
            "as_of" => p.query.as_of = date("as_of", value)?,
            "group" if value.is_empty() => {}
            "group" => {
                p.group = Group::from_code(value.trim()).ok_or_else(|| {
                    AppError::Invalid(vec![
                        FieldError::new("group", "field.not_choice")
                            .with("options", "item, warehouse, bin, lot"),
                    ])
                })?;
            }
            "page" => p.page = integer("page", value)?.max(1),
            "per_page" => p.per_page = integer("per_page", value)?,
            "_csrf" => {}
            other => return Err(invalid(other, "field.unknown")),
        }
    }
    if !(1..=1000).contains(&p.per_page) {
        return Err(AppError::Invalid(vec![
            FieldError::new("per_page", "field.out_of_range").with("min", 1).with("max", 1000),
        ]));
    }
    Ok(p)
}

/// One row of stock on hand at the requested level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceLine {
    /// Item code.
    pub item: String,
    /// Item name in Chinese.
    pub name_zh: String,
    /// Item name in English.
    pub name_en: String,
    /// Item category.
    pub category: String,
    /// Base unit.
    pub unit: String,
    /// Warehouse (absent when summed per item).
    pub warehouse: Option<String>,
    /// Bin (absent above bin level).
    pub bin: Option<String>,
    /// Lot (absent above lot level).
    pub lot: Option<String>,
    /// On hand.
    pub qty: Decimal,
    /// Reserved: only for stock now, per item or per warehouse (where it is kept).
    pub reserved: Option<Decimal>,
    /// On hand minus reserved, where reserved is known.
    pub available: Option<Decimal>,
    /// Value at the item's average cost (exact when the row holds all of the item's stock).
    pub value: Decimal,
}

impl BalanceLine {
    /// The item name in `locale`.
    pub fn name(&self, locale: &str) -> &str {
        if locale == "en" { &self.name_en } else { &self.name_zh }
    }
}

type GroupKey = (String, Option<String>, Option<String>, Option<String>);

/// Stock on hand at `p.group`'s level with reserved, available and value, every row (paging
/// is the caller's).
pub async fn balance_lines(
    state: &AppState,
    p: &BalanceParams,
) -> Result<Vec<BalanceLine>, AppError> {
    let q = &p.query;
    let rows = stock_views::stock_rows(&state.db, q).await?;
    let values = stock_views::item_values(&state.db, q.item.as_deref(), q.as_of).await?;
    let reserved: BTreeMap<(String, String), Decimal> = if q.as_of.is_none() {
        stock_views::reservations(&state.db, q.item.as_deref(), q.warehouse.as_deref())
            .await?
            .into_iter()
            .map(|r| ((r.item, r.warehouse), r.qty))
            .collect()
    } else {
        BTreeMap::new()
    };

    let mut grouped: BTreeMap<GroupKey, BalanceLine> = BTreeMap::new();
    // Which warehouses each item-level row covers, to sum their reservations once each.
    let mut warehouses_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        let level = p.group;
        let key: GroupKey = (
            r.item.clone(),
            (level != Group::Item).then(|| r.warehouse.clone()),
            matches!(level, Group::Bin | Group::Lot).then(|| r.bin.clone()),
            (level == Group::Lot).then(|| r.lot.clone()),
        );
        let seen = warehouses_of.entry(r.item.clone()).or_default();
        if !seen.contains(&r.warehouse) {
            seen.push(r.warehouse.clone());
        }
        let line = grouped.entry(key.clone()).or_insert_with(|| BalanceLine {
            item: r.item.clone(),
            name_zh: r.name_zh.clone(),
            name_en: r.name_en.clone(),
            category: r.category.clone().unwrap_or_default(),
            unit: r.unit.clone(),
            warehouse: key.1.clone(),
            bin: key.2.clone(),
            lot: key.3.clone(),
            qty: Decimal::ZERO,
            reserved: None,
            available: None,
            value: Decimal::ZERO,
        });
        line.qty += r.qty;
    }

    let mut out = Vec::with_capacity(grouped.len());
    for (_, mut line) in grouped {
        if p.query.nonzero && line.qty.is_zero() {
            continue;
        }
        let v = values.get(&line.item).copied().unwrap_or_default();
        line.value = if line.qty == v.qty {
            v.value
        } else if v.qty > Decimal::ZERO {
            round_to(line.qty * v.value / v.qty, 2)
        } else {
            Decimal::ZERO
        };
        if q.as_of.is_none() {
            let held = match (p.group, &line.warehouse) {
                (Group::Warehouse, Some(wh)) => Some(
                    reserved.get(&(line.item.clone(), wh.clone())).copied().unwrap_or_default(),
                ),
                (Group::Item, _) => Some(
                    warehouses_of
                        .get(&line.item)
                        .into_iter()
                        .flatten()
                        .filter_map(|wh| reserved.get(&(line.item.clone(), wh.clone())))
                        .sum(),
                ),
                _ => None,
            };
            line.reserved = held;
            line.available = held.map(|h| line.qty - h);
        }
        out.push(line);
    }
    Ok(out)
}

/// The rows of page `page` of `per_page`, and the pager numbers (page, pages).
pub fn page_of<T: Clone>(rows: &[T], page: i64, per_page: i64) -> (Vec<T>, i64, i64) {
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let pages = ((total + per_page - 1) / per_page).max(1);
    let page = page.min(pages);
    let skip = usize::try_from((page - 1) * per_page).unwrap_or(0);
    let take = usize::try_from(per_page).unwrap_or(0);
    (rows.iter().skip(skip).take(take).cloned().collect(), page, pages)
}

/// The CSV of stock on hand, headed by `header`.
pub fn balances_csv_bytes(
    locale: &str,
    header: &[String],
    lines: &[BalanceLine],
) -> Result<Vec<u8>, AppError> {
    let opt = |d: Option<Decimal>| d.map(num).unwrap_or_default();
    let rows = lines.iter().map(|l| {
        vec![
            l.item.clone(),
            l.name(locale).to_owned(),
            l.category.clone(),
            l.warehouse.clone().unwrap_or_default(),
            l.bin.clone().unwrap_or_default(),
            l.lot.clone().unwrap_or_default(),
            l.unit.clone(),
            num(l.qty),
            opt(l.reserved),
            opt(l.available),
            money(l.value),
        ]
    });
    csv_bytes(header, rows)
}

/// The column names of the stock-on-hand CSV: codes for the API, labels for people.
pub fn balances_header(locale: Option<&str>) -> Vec<String> {
    let names = [
        "item",
        "name",
        "category",
        "warehouse",
        "bin",
        "lot",
        "unit",
        "on_hand",
        "reserved",
        "available",
        "value",
    ];
    names.iter().map(|n| label(locale, n)).collect()
}

fn label(locale: Option<&str>, name: &str) -> String {
    match locale {
        None => name.to_owned(),
        Some(l) => {
            let key = format!("stock.col.{name}");
            let text = i18n::tr(l, &key);
            if text == key { i18n::field_label(l, "item", name) } else { text }
        }
    }
}

/// Writes `header` and `rows` as UTF-8 CSV with a byte-order mark (so Excel shows Chinese).
pub fn csv_bytes(
    header: &[String],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(format!("csv export: {e}"));
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    writer.write_record(header).map_err(failed)?;
    for row in rows {
        writer.write_record(row).map_err(failed)?;
    }
    writer.into_inner().map_err(|e| AppError::Internal(format!("csv export: {e}")))
}

/// A CSV download named `name`.
pub fn csv_download(name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response()
}

/// What a stock-card request asks for.
#[derive(Debug, Clone)]
pub struct CardParams {
    /// The item (required to read a card).
    pub item: Option<String>,
    /// Only this warehouse.
    pub warehouse: Option<String>,
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

/// Parses `item`, `warehouse`, `from` and `to` (default: January 1st of `to`'s year up to
/// `today`).
pub fn card_params(params: &[(String, String)], today: NaiveDate) -> Result<CardParams, AppError> {
    let (mut item, mut warehouse, mut from, mut to) = (None, None, None, None);
    for (key, value) in params {
        match key.as_str() {
            "item" => item = code(value),
            "warehouse" => warehouse = code(value),
            "from" => from = date("from", value)?,
            "to" => to = date("to", value)?,
            "_csrf" => {}
            other => return Err(invalid(other, "field.unknown")),
        }
    }
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to));
    if from > to {
        return Err(invalid("from", "stock.from_after_to"));
    }
    Ok(CardParams { item, warehouse, from, to })
}

/// An item's card: opening, moves with running balances, closing.
#[derive(Debug, Clone)]
pub struct Card {
    /// Item code.
    pub item: String,
    /// Item name in Chinese.
    pub name_zh: String,
    /// Item name in English.
    pub name_en: String,
    /// Base unit.
    pub unit: String,
    /// Quantity before `from`.
    pub opening_qty: Decimal,
    /// Value before `from`.
    pub opening_value: Decimal,
    /// The moves.
    pub lines: Vec<CardLine>,
}

impl Card {
    /// Quantity after the last move.
    pub fn closing_qty(&self) -> Decimal {
        self.lines.last().map_or(self.opening_qty, |l| l.balance_qty)
    }

    /// Value after the last move.
    pub fn closing_value(&self) -> Decimal {
        self.lines.last().map_or(self.opening_value, |l| l.balance_value)
    }
}

/// The card `p` asks for; refuses a missing or unknown item by field.
pub async fn card(state: &AppState, p: &CardParams) -> Result<Card, AppError> {
    let Some(item) = &p.item else {
        return Err(invalid("item", "field.required"));
    };
    let Some((name_zh, name_en, unit)) = stock_views::item_names(&state.db, item).await? else {
        return Err(AppError::Invalid(vec![
            FieldError::new("item", "field.unknown_reference").with("value", item),
        ]));
    };
    let (opening_qty, opening_value, lines) =
        stock::stock_card(&state.db, item, p.warehouse.as_deref(), p.from, p.to).await?;
    Ok(Card { item: item.clone(), name_zh, name_en, unit, opening_qty, opening_value, lines })
}

/// An item whose stock breaks a planning level.
#[derive(Debug, Clone)]
pub struct AlertLine {
    /// The item with its levels and stock.
    pub row: LevelRow,
    /// Which level.
    pub alert: StockAlert,
}

impl AlertLine {
    /// Stable code of the alert.
    pub fn code(&self) -> &'static str {
        alert_code(self.alert)
    }

    /// How far the stock is from the level broken: below safety or reorder point, the
    /// quantity missing; above maximum, the excess.
    pub fn gap(&self) -> Decimal {
        let r = &self.row;
        match self.alert {
            StockAlert::BelowSafety => r.safety_stock - r.on_hand,
            StockAlert::AtReorderPoint => r.reorder_point - r.on_hand,
            StockAlert::AboveMaximum => r.on_hand - r.max_stock.unwrap_or(r.on_hand),
        }
    }

    /// The item name in `locale`.
    pub fn name(&self, locale: &str) -> &str {
        if locale == "en" { &self.row.name_en } else { &self.row.name_zh }
    }
}

/// Stable code of an alert.
pub fn alert_code(a: StockAlert) -> &'static str {
    match a {
        StockAlert::BelowSafety => "below_safety",
        StockAlert::AtReorderPoint => "at_reorder_point",
        StockAlert::AboveMaximum => "above_maximum",
    }
}

/// Every active item whose stock on hand (over all warehouses) is below its safety stock, at
/// or below its reorder point, or above its maximum.
pub async fn alert_lines(state: &AppState) -> Result<Vec<AlertLine>, AppError> {
    Ok(stock_views::items_with_levels(&state.db)
        .await?
        .into_iter()
        .filter_map(|row| {
            stock_alert(row.on_hand, row.safety_stock, row.reorder_point, row.max_stock)
                .map(|alert| AlertLine { row, alert })
        })
        .collect())
}

/// The number of stock alerts, for the home page.
pub async fn alert_count(state: &AppState) -> Result<usize, AppError> {
    Ok(alert_lines(state).await?.len())
}

/// The CSV of stock alerts, headed by codes (API) or labels in `locale`.
pub fn alerts_csv_bytes(locale: Option<&str>, lines: &[AlertLine]) -> Result<Vec<u8>, AppError> {
    let names = [
        "item",
        "name",
        "unit",
        "alert",
        "on_hand",
        "reserved",
        "safety_stock",
        "reorder_point",
        "max_stock",
        "gap",
    ];
    let header: Vec<String> = names.iter().map(|n| label(locale, n)).collect();
    let rows = lines.iter().map(|a| {
        let r = &a.row;
        let alert = match locale {
            None => a.code().to_owned(),
            Some(l) => i18n::tr(l, &format!("stock.alert.{}", a.code())),
        };
        vec![
            r.item.clone(),
            a.name(locale.unwrap_or("en")).to_owned(),
            r.unit.clone(),
            alert,
            num(r.on_hand),
            num(r.reserved),
            num(r.safety_stock),
            num(r.reorder_point),
            r.max_stock.map(num).unwrap_or_default(),
            num(a.gap()),
        ]
    });
    csv_bytes(&header, rows)
}

fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

fn encode(params: &[(String, String)]) -> String {
    serde_urlencoded::to_string(params).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Pages.

/// One row of the stock-on-hand page.
#[derive(Debug, Clone)]
pub struct BalanceRowView {
    /// Item code.
    pub item: String,
    /// Item name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Warehouse.
    pub warehouse: String,
    /// Bin.
    pub bin: String,
    /// Lot.
    pub lot: String,
    /// Unit.
    pub unit: String,
    /// On hand.
    pub qty: String,
    /// Reserved.
    pub reserved: String,
    /// Available.
    pub available: String,
    /// Whether available is below zero (drawn as a warning).
    pub short: bool,
    /// Value.
    pub value: String,
    /// The item's card.
    pub card_href: String,
}

/// The stock-on-hand page.
#[derive(Template)]
#[template(path = "stock_balances.html")]
pub struct BalancesPage {
    /// Chrome.
    pub c: Chrome,
    /// Item filter.
    pub item: String,
    /// Warehouse filter.
    pub warehouse: String,
    /// Category filter.
    pub category: String,
    /// Only non-zero rows.
    pub nonzero: bool,
    /// As-of date ('' for now).
    pub as_of: String,
    /// Level options: (code, label, selected).
    pub groups: Vec<(String, String, bool)>,
    /// Show the warehouse column.
    pub show_warehouse: bool,
    /// Show the bin column.
    pub show_bin: bool,
    /// Show the lot column.
    pub show_lot: bool,
    /// Show reserved and available.
    pub show_reserved: bool,
    /// Rows of this page.
    pub rows: Vec<BalanceRowView>,
    /// Sum of on hand over all rows (when one item is shown).
    pub total_qty: String,
    /// Sum of values over all rows.
    pub total_value: String,
    /// Paging.
    pub pager: Pager,
    /// May export.
    pub can_export: bool,
    /// The filters as a query string (for the export link).
    pub query: String,
}

async fn balances_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    let locale = user.user.locale.clone();
    let p = balance_params(&params)?;
    let lines = balance_lines(&state, &p).await?;
    let total_value: Decimal = lines.iter().map(|l| l.value).sum();
    let one_item = lines.first().is_some_and(|f| lines.iter().all(|l| l.item == f.item));
    let total_qty = if one_item { num(lines.iter().map(|l| l.qty).sum()) } else { String::new() };
    let (shown, page, pages) = page_of(&lines, p.page, p.per_page);
    let rows = shown
        .iter()
        .map(|l| {
            let mut card = vec![("item".to_owned(), l.item.clone())];
            if let Some(wh) = &l.warehouse {
                card.push(("warehouse".into(), wh.clone()));
            }
            BalanceRowView {
                item: l.item.clone(),
                name: l.name(&locale).to_owned(),
                category: l.category.clone(),
                warehouse: l.warehouse.clone().unwrap_or_default(),
                bin: l.bin.clone().unwrap_or_default(),
                lot: l.lot.clone().unwrap_or_default(),
                unit: l.unit.clone(),
                qty: num(l.qty),
                reserved: l.reserved.map(num).unwrap_or_default(),
                available: l.available.map(num).unwrap_or_default(),
                short: l.available.is_some_and(|a| a < Decimal::ZERO),
                value: money(l.value),
                card_href: format!("/stock/card?{}", encode(&card)),
            }
        })
        .collect();
    let filters: Vec<(String, String)> =
        params.iter().filter(|(k, _)| k != "page" && k != "_csrf").cloned().collect();
    let page_link = |n: i64| {
        let mut q = filters.clone();
        q.push(("page".into(), n.to_string()));
        format!("/stock?{}", encode(&q))
    };
    let pager = Pager {
        page,
        pages,
        total: i64::try_from(lines.len()).unwrap_or(0),
        prev: (page > 1).then(|| page_link(page - 1)),
        next: (page < pages).then(|| page_link(page + 1)),
    };
    let groups = Group::ALL
        .iter()
        .map(|g| {
            let text = i18n::tr(&locale, &format!("stock.group.{}", g.code()));
            (g.code().to_owned(), text, *g == p.group)
        })
        .collect();
    let q = &p.query;
    render(&BalancesPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "stock.on_hand_title")),
        item: q.item.clone().unwrap_or_default(),
        warehouse: q.warehouse.clone().unwrap_or_default(),
        category: q.category.clone().unwrap_or_default(),
        nonzero: q.nonzero,
        as_of: q.as_of.map(|d| d.to_string()).unwrap_or_default(),
        groups,
        show_warehouse: p.group != Group::Item,
        show_bin: matches!(p.group, Group::Bin | Group::Lot),
        show_lot: p.group == Group::Lot,
        show_reserved: q.as_of.is_none() && matches!(p.group, Group::Item | Group::Warehouse),
        rows,
        total_qty,
        total_value: money(total_value),
        pager,
        can_export: user.can(RESOURCE, AREA, Action::Export),
        query: encode(&filters),
    })
}

async fn balances_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Export)?;
    let locale = user.user.locale.clone();
    let p = balance_params(&params)?;
    let lines = balance_lines(&state, &p).await?;
    let bytes = balances_csv_bytes(&locale, &balances_header(Some(&locale)), &lines)?;
    Ok(csv_download("stock.csv", bytes))
}

/// One move on the stock-card page.
#[derive(Debug, Clone)]
pub struct CardRowView {
    /// Date.
    pub date: String,
    /// Document type, translated.
    pub doc_type: String,
    /// Document number.
    pub number: String,
    /// Link to the document ('' when the viewer may not read its type).
    pub href: String,
    /// Warehouse.
    pub warehouse: String,
    /// Bin.
    pub bin: String,
    /// Lot.
    pub lot: String,
    /// Quantity in ('' for an issue).
    pub qty_in: String,
    /// Quantity out ('' for a receipt).
    pub qty_out: String,
    /// Value of the move.
    pub value: String,
    /// Quantity after it.
    pub balance_qty: String,
    /// Value after it.
    pub balance_value: String,
}

/// The stock-card page.
#[derive(Template)]
#[template(path = "stock_card.html")]
pub struct CardPage {
    /// Chrome.
    pub c: Chrome,
    /// Item typed.
    pub item: String,
    /// Warehouse typed.
    pub warehouse: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Item name and unit when a card is shown.
    pub heading: Option<String>,
    /// Opening quantity.
    pub opening_qty: String,
    /// Opening value.
    pub opening_value: String,
    /// Moves.
    pub rows: Vec<CardRowView>,
    /// Total in.
    pub total_in: String,
    /// Total out.
    pub total_out: String,
    /// Closing quantity.
    pub closing_qty: String,
    /// Closing value.
    pub closing_value: String,
}

async fn card_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    let locale = user.user.locale.clone();
    let p = card_params(&params, today())?;
    let mut page = CardPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "stock.card_title")),
        item: p.item.clone().unwrap_or_default(),
        warehouse: p.warehouse.clone().unwrap_or_default(),
        from: p.from.to_string(),
        to: p.to.to_string(),
        heading: None,
        opening_qty: String::new(),
        opening_value: String::new(),
        rows: Vec::new(),
        total_in: String::new(),
        total_out: String::new(),
        closing_qty: String::new(),
        closing_value: String::new(),
    };
    if p.item.is_none() {
        return render(&page);
    }
    let card = card(&state, &p).await?;
    let name = if locale == "en" { &card.name_en } else { &card.name_zh };
    page.heading = Some(format!("{} {} ({})", card.item, name, card.unit));
    page.opening_qty = num(card.opening_qty);
    page.opening_value = money(card.opening_value);
    page.closing_qty = num(card.closing_qty());
    page.closing_value = money(card.closing_value());
    let (mut total_in, mut total_out) = (Decimal::ZERO, Decimal::ZERO);
    for l in &card.lines {
        let readable =
            state.docs.get(&l.doc_type).is_some_and(|t| user.can(t.code, t.area, Action::Read));
        if l.qty >= Decimal::ZERO {
            total_in += l.qty;
        } else {
            total_out -= l.qty;
        }
        page.rows.push(CardRowView {
            date: l.date.to_string(),
            doc_type: i18n::entity_label(&locale, &l.doc_type),
            number: l.number.clone(),
            href: if readable {
                format!("/d/{}/{}", l.doc_type, l.document_id)
            } else {
                String::new()
            },
            warehouse: l.warehouse.clone(),
            bin: l.bin.clone(),
            lot: l.lot.clone(),
            qty_in: if l.qty >= Decimal::ZERO { num(l.qty) } else { String::new() },
            qty_out: if l.qty < Decimal::ZERO { num(-l.qty) } else { String::new() },
            value: money(l.value),
            balance_qty: num(l.balance_qty),
            balance_value: money(l.balance_value),
        });
    }
    page.total_in = num(total_in);
    page.total_out = num(total_out);
    render(&page)
}

/// One alert on the alerts page.
#[derive(Debug, Clone)]
pub struct AlertRowView {
    /// Item code.
    pub item: String,
    /// Item name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Alert code (for the badge's class).
    pub code: String,
    /// Alert, translated.
    pub label: String,
    /// On hand.
    pub on_hand: String,
    /// Reserved.
    pub reserved: String,
    /// Safety stock.
    pub safety_stock: String,
    /// Reorder point.
    pub reorder_point: String,
    /// Maximum.
    pub max_stock: String,
    /// Missing or excess quantity.
    pub gap: String,
    /// The item's card.
    pub card_href: String,
}

/// The stock-alerts page.
#[derive(Template)]
#[template(path = "stock_alerts.html")]
pub struct AlertsPage {
    /// Chrome.
    pub c: Chrome,
    /// Alerts.
    pub rows: Vec<AlertRowView>,
    /// May export.
    pub can_export: bool,
}

async fn alerts_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    let locale = user.user.locale.clone();
    let rows = alert_lines(&state)
        .await?
        .iter()
        .map(|a| {
            let r = &a.row;
            AlertRowView {
                item: r.item.clone(),
                name: a.name(&locale).to_owned(),
                unit: r.unit.clone(),
                code: a.code().to_owned(),
                label: i18n::tr(&locale, &format!("stock.alert.{}", a.code())),
                on_hand: num(r.on_hand),
                reserved: num(r.reserved),
                safety_stock: num(r.safety_stock),
                reorder_point: num(r.reorder_point),
                max_stock: r.max_stock.map(num).unwrap_or_default(),
                gap: num(a.gap()),
                card_href: format!("/stock/card?{}", encode(&[("item".into(), r.item.clone())])),
            }
        })
        .collect();
    render(&AlertsPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "stock.alerts_title")),
        rows,
        can_export: user.can(RESOURCE, AREA, Action::Export),
    })
}

async fn alerts_csv(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    require(&user, Action::Export)?;
    let locale = user.user.locale.clone();
    let lines = alert_lines(&state).await?;
    Ok(csv_download("stock_alerts.csv", alerts_csv_bytes(Some(&locale), &lines)?))
}

/// The ledger-check page.
#[derive(Template)]
#[template(path = "stock_check.html")]
pub struct CheckPage {
    /// Chrome.
    pub c: Chrome,
    /// Violations found (empty when every invariant holds).
    pub problems: Vec<String>,
    /// The summary line, translated.
    pub summary: String,
}

async fn check_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    require(&user, Action::Approve)?;
    let locale = user.user.locale.clone();
    let problems = stock::check_invariants(&state.db).await?;
    let summary = if problems.is_empty() {
        i18n::tr(&locale, "stock.check_ok")
    } else {
        i18n::tr_with(
            &locale,
            "stock.check_failed",
            &[("count".into(), problems.len().to_string())],
        )
    };
    render(&CheckPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "stock.check_title")),
        problems,
        summary,
    })
}
