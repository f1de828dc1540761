//! Sales pages: the price simulation with its reasons, credit status per customer, the sales
//! settings, and the print layout of quotations, orders, delivery notes and invoices.
//!
//! The "why this price" text the document pages show under each quotation and order line is
//! built here too ([`why_text`]), from the explanation the pricing stored with the line, so
//! the simulation and the documents word a reason the same way.
//!
//! Printing is HTML laid out for A4 with print styles: the browser's "Save as PDF" makes the
//! PDF, so no PDF engine runs on the server.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use papilio_core::access::Action;
use papilio_core::document::DocState;
use papilio_core::pricing::{
    DiscountBasis, DiscountPolicy, DiscountSource, PriceEntry, PriceLevel, Recurrence, Window,
};
use papilio_core::value::round_to;
use papilio_core::{DomainError, FieldError, entities};
use papilio_store::StoreError;
use papilio_store::company;
use papilio_store::master::{self, ListQuery};
use papilio_store::sales::{self, CREDIT_ACTIONS, Simulation};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::sales::{AREA, PRICE_RESOURCE, REPORT_RESOURCE, SETTINGS_RESOURCE};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::admin::FieldMessages;
use crate::pages::documents::{self as docs, Suggestions};
use crate::pages::master::parse_id;
use crate::pages::{chrome, render};
use crate::views::Chrome;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sales/price", get(price_page))
        .route("/sales/credit", get(credit_page))
        .route("/sales/settings", get(settings_form).post(settings_save))
        .route("/d/{doc_type}/{id}/print", get(print_page))
}

/// The document types with a print layout.
pub const PRINTABLE: &[&str] =
    &["sales_quotation", "sales_order", "sales_delivery", "sales_invoice"];

/// An amount to two places, rounded half away from zero as amounts are.
pub fn money(d: Decimal) -> String {
    format!("{:.2}", round_to(d, 2))
}

fn dec_text(d: Decimal) -> String {
    d.normalize().to_string()
}

fn p(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_owned(), value.into())
}

// ---------------------------------------------------------------------------------------------
// Why this price

/// Why a line got its price and promised date, in `locale`, from the explanation stored with
/// it (`{price, promise, ...}`); empty when it says nothing.
pub fn why_text(locale: &str, explain: &Json) -> String {
    let mut parts = Vec::new();
    if let Some(price) = explain.get("price") {
        parts.push(price_reason(locale, price));
    }
    if let Some(promise) = explain.get("promise") {
        parts.push(promise_reason(locale, promise));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(&i18n::tr(locale, "sales_page.why.sep_parts"))
}

/// Why this price: the price entry that won and its level, then where the discount came from;
/// a price typed in by hand, or taken over from the source document, says so.
pub fn price_reason(locale: &str, price: &Json) -> String {
    let text = |k: &str| price.get(k).and_then(Json::as_str).unwrap_or_default().to_owned();
    let mut parts = Vec::new();
    if let Some(from) = price.get("from").and_then(Json::as_str) {
        parts.push(i18n::tr_with(locale, "sales_page.why.from", &[p("number", from)]));
    }
    if price.get("manual").is_some_and(|m| m == true) {
        parts.push(i18n::tr(locale, "sales_page.why.manual"));
        return parts.join(&i18n::tr(locale, "sales_page.why.sep"));
    }
    let entry = text("entry");
    if entry.is_empty() {
        return parts.join(&i18n::tr(locale, "sales_page.why.sep"));
    }
    let special = price.get("special").is_some_and(|s| s == true);
    let params = [
        p("entry", entry),
        p("level", i18n::tr(locale, &format!("sales_page.level.{}", text("level")))),
        p("list", text("list")),
    ];
    let key = if special { "sales_page.why.entry_special" } else { "sales_page.why.entry" };
    parts.push(i18n::tr_with(locale, key, &params));
    let pct = text("pct");
    let amount = text("amount");
    parts.push(match text("discount").as_str() {
        "policy" => i18n::tr_with(
            locale,
            "sales_page.why.policy",
            &[p("policy", text("policy")), p("off", discount_off(locale, &pct, &amount))],
        ),
        "manual" => i18n::tr_with(locale, "sales_page.why.discount_manual", &[p("pct", pct)]),
        "special_is_net" => i18n::tr(locale, "sales_page.why.special_is_net"),
        _ => i18n::tr(locale, "sales_page.why.no_discount"),
    });
    parts.join(&i18n::tr(locale, "sales_page.why.sep"))
}

/// "5 % off", "2 off per unit" or both, from the texts of a percentage and an amount.
fn discount_off(locale: &str, pct: &str, amount: &str) -> String {
    let nonzero = |v: &str| v.parse::<Decimal>().is_ok_and(|d| !d.is_zero());
    let mut parts = Vec::new();
    if nonzero(pct) {
        parts.push(i18n::tr_with(locale, "sales_page.off.pct", &[p("pct", pct)]));
    }
    if nonzero(amount) {
        parts.push(i18n::tr_with(locale, "sales_page.off.amount", &[p("amount", amount)]));
    }
    if parts.is_empty() {
        parts.push(i18n::tr_with(locale, "sales_page.off.pct", &[p("pct", "0")]));
    }
    parts.join(&i18n::tr(locale, "sales_page.why.sep"))
}

/// Why this promised date: from stock on hand, after a scheduled receipt, or after the lead
/// time, with what was available when it was promised.
pub fn promise_reason(locale: &str, promise: &Json) -> String {
    let text = |k: &str| promise.get(k).and_then(Json::as_str).unwrap_or_default().to_owned();
    let basis = text("basis");
    if basis.is_empty() {
        return String::new();
    }
    i18n::tr_with(
        locale,
        &format!("sales_page.promise.{basis}"),
        &[p("date", text("date")), p("available", text("available"))],
    )
}

// ---------------------------------------------------------------------------------------------
// Price simulation

/// One price entry or discount policy as the simulation shows it.
#[derive(Debug, Clone)]
pub struct ConsideredRow {
    /// Its code.
    pub code: String,
    /// Who it is for (entries) or what qualifies (policies), translated.
    pub scope: String,
    /// From quantity (entries).
    pub min_qty: String,
    /// Price (entries) or discount (policies).
    pub value: String,
    /// Whether it is a special (entries).
    pub special: bool,
    /// When it is valid, translated.
    pub validity: String,
    /// Whether it applies at all.
    pub applies: bool,
    /// Whether it is the one that decided.
    pub winner: bool,
    /// Why it won, lost or was skipped, translated.
    pub result: String,
}

/// What the simulation answered.
#[derive(Debug, Clone)]
pub struct PriceResult {
    /// Whether no entry applies.
    pub no_price: bool,
    /// Currency.
    pub currency: String,
    /// Customer group, or empty.
    pub group: String,
    /// Item category, or empty.
    pub category: String,
    /// The item's base unit.
    pub unit: String,
    /// Quantity priced.
    pub quantity: String,
    /// Pricing date.
    pub date: String,
    /// Order amount at list price, which order-amount discounts look at.
    pub order_amount: String,
    /// Net price per base unit.
    pub net_price: String,
    /// List price per base unit.
    pub list_price: String,
    /// The discount as given (percent and/or amount), translated.
    pub discount: String,
    /// Line amount.
    pub amount: String,
    /// Why this price, translated.
    pub why: String,
    /// Every price entry of the item in the currency.
    pub entries: Vec<ConsideredRow>,
    /// Every active discount policy.
    pub policies: Vec<ConsideredRow>,
}

/// The price simulation page.
#[derive(Template)]
#[template(path = "sales_price.html")]
pub struct PricePage {
    /// Chrome.
    pub c: Chrome,
    /// Customer as typed.
    pub customer: String,
    /// Item as typed.
    pub item: String,
    /// Quantity as typed.
    pub quantity: String,
    /// Date as typed.
    pub date: String,
    /// Field messages.
    pub errors: FieldMessages,
    /// The answer, once asked.
    pub result: Option<PriceResult>,
    /// The stated rule order, one paragraph per rule.
    pub rules: Vec<String>,
    /// Customer and item suggestions.
    pub suggestions: Vec<Suggestions>,
}

/// The largest quantity the simulation prices.
const MAX_QUANTITY: i64 = 1_000_000_000_000;

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().rev().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// The field errors of a refusal, or the error itself when it is something else.
fn field_errors(e: AppError) -> Result<Vec<FieldError>, AppError> {
    match e {
        AppError::Invalid(fields)
        | AppError::Store(StoreError::Domain(DomainError::Invalid(fields))) => Ok(fields),
        other => Err(other),
    }
}

async fn price_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(PRICE_RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let today = chrono::Local::now().date_naive();
    let asked =
        ["customer", "item", "quantity", "date"].iter().any(|k| !param(&pairs, k).is_empty());

    let mut errors = Vec::new();
    let mut result = None;
    if asked {
        let answer = match crate::api::sales::price_query(&pairs, today) {
            // A quantity no order could hold is refused before it is multiplied by a price.
            Ok(q) if q.quantity.abs() > Decimal::from(MAX_QUANTITY) => {
                Err(AppError::Invalid(vec![
                    FieldError::new("quantity", "field.out_of_range")
                        .with("min", 0)
                        .with("max", MAX_QUANTITY),
                ]))
            }
            Ok(q) => sales::simulate(&state.db, &q.customer, &q.item, q.quantity, q.date)
                .await
                .map_err(AppError::from),
            Err(e) => Err(e),
        };
        match answer {
            Ok(sim) => result = Some(price_result(&state, &locale, &sim).await?),
            Err(e) => errors = field_errors(e)?,
        }
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut suggestions = Vec::new();
    for kind in ["customer", "item"] {
        suggestions.push(docs::suggestions(&state, &locale, kind).await?);
    }
    let quantity = param(&pairs, "quantity");
    let date = param(&pairs, "date");
    let page = PricePage {
        c: chrome(&state, &user, &i18n::tr(&locale, "sales.nav.price")),
        customer: param(&pairs, "customer").to_owned(),
        item: param(&pairs, "item").to_owned(),
        quantity: if quantity.is_empty() { "1".to_owned() } else { quantity.to_owned() },
        date: if date.is_empty() { today.to_string() } else { date.to_owned() },
        errors: FieldMessages::new(&locale, &errors),
        result,
        rules: (1..=3).map(|n| i18n::tr(&locale, &format!("sales_page.rules.{n}"))).collect(),
        suggestions,
    };
    let mut response = render(&page)?;
    *response.status_mut() = status;
    Ok(response)
}

fn level_text(locale: &str, level: &PriceLevel) -> String {
    match level {
        PriceLevel::Base => i18n::tr(locale, "sales_page.level.base"),
        PriceLevel::Group(g) => {
            i18n::tr_with(locale, "sales_page.scope.group", &[p("group", g.as_str())])
        }
        PriceLevel::Customer(c) => {
            i18n::tr_with(locale, "sales_page.scope.customer", &[p("customer", c.as_str())])
        }
    }
}

fn window_text(locale: &str, w: Window) -> String {
    if w.from.is_none() && w.to.is_none() {
        return i18n::tr(locale, "sales_page.validity.always");
    }
    let day = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "…".to_owned(), |d| d.to_string());
    format!("{} – {}", day(w.from), day(w.to))
}

fn recurrence_text(locale: &str, r: Recurrence) -> String {
    match r {
        Recurrence::Weekday(d) => i18n::tr_with(
            locale,
            "sales_page.validity.weekday",
            &[p("day", i18n::tr(locale, &format!("sales_page.weekday.{d}")))],
        ),
        Recurrence::LastDaysOfMonth(n) => {
            i18n::tr_with(locale, "sales_page.validity.last_days", &[p("n", n.to_string())])
        }
    }
}

fn entry_row(locale: &str, e: &PriceEntry, skipped: Option<&str>, winner: &str) -> ConsideredRow {
    let won = skipped.is_none() && e.code == winner;
    let result = match skipped {
        Some(code) => i18n::tr(locale, &format!("sales_page.skip.{code}")),
        None if won => i18n::tr(locale, "sales_page.sim.won"),
        None => i18n::tr_with(locale, "sales_page.sim.outranked", &[p("winner", winner)]),
    };
    let mut validity = window_text(locale, e.window);
    if let Some(r) = e.recurrence {
        validity = format!("{validity}, {}", recurrence_text(locale, r));
    }
    ConsideredRow {
        code: e.code.clone(),
        scope: level_text(locale, &e.level),
        min_qty: dec_text(e.min_qty),
        value: dec_text(e.price),
        special: e.special,
        validity,
        applies: skipped.is_none(),
        winner: won,
        result,
    }
}

fn policy_row(
    locale: &str,
    policy: &DiscountPolicy,
    skipped: Option<&str>,
    sim: &Simulation,
) -> ConsideredRow {
    let (winner, special) = match &sim.answer {
        Ok(a) => match &a.discount {
            DiscountSource::Policy(code) => (code.as_str(), false),
            DiscountSource::SpecialIsNet => ("", true),
            _ => ("", false),
        },
        Err(_) => ("", false),
    };
    let won = skipped.is_none() && policy.code == winner;
    let result = match skipped {
        Some(code) => i18n::tr(locale, &format!("sales_page.skip.{code}")),
        None if won => i18n::tr(locale, "sales_page.sim.won"),
        None if special => i18n::tr(locale, "sales_page.sim.special_takes_none"),
        None if winner.is_empty() => i18n::tr(locale, "sales_page.sim.applies"),
        None => i18n::tr_with(locale, "sales_page.sim.larger_won", &[p("winner", winner)]),
    };
    let currency = policy.currency.clone().unwrap_or_else(|| sim.request.currency.clone());
    let scope = match &policy.basis {
        DiscountBasis::CustomerGroup(g) => {
            i18n::tr_with(locale, "sales_page.scope.group", &[p("group", g.as_str())])
        }
        DiscountBasis::ItemCategory(c) => {
            i18n::tr_with(locale, "sales_page.scope.category", &[p("category", c.as_str())])
        }
        DiscountBasis::OrderAmount(min) => i18n::tr_with(
            locale,
            "sales_page.scope.order_amount",
            &[p("min", dec_text(*min)), p("currency", currency)],
        ),
    };
    let pct = policy.percent.map(dec_text).unwrap_or_default();
    let amount = policy.amount.map(dec_text).unwrap_or_default();
    ConsideredRow {
        code: policy.code.clone(),
        scope,
        min_qty: String::new(),
        value: discount_off(locale, &pct, &amount),
        special: false,
        validity: window_text(locale, policy.window),
        applies: skipped.is_none(),
        winner: won,
        result,
    }
}

async fn price_result(
    state: &AppState,
    locale: &str,
    sim: &Simulation,
) -> Result<PriceResult, AppError> {
    let r = &sim.request;
    let unit = papilio_store::stock_views::item_names(&state.db, &r.item)
        .await?
        .map(|(_, _, unit)| unit)
        .unwrap_or_default();
    let winner = sim.answer.as_ref().map(|a| a.price_entry.clone()).unwrap_or_default();
    let entries = sim
        .price_entries
        .iter()
        .zip(&sim.entries)
        .map(|(e, c)| entry_row(locale, e, c.skipped, &winner))
        .collect();
    let policies = sim
        .discount_policies
        .iter()
        .zip(&sim.policies)
        .map(|(policy, c)| policy_row(locale, policy, c.skipped, sim))
        .collect();
    let mut out = PriceResult {
        no_price: sim.answer.is_err(),
        currency: r.currency.clone(),
        group: r.group.clone().unwrap_or_default(),
        category: r.category.clone().unwrap_or_default(),
        unit,
        quantity: dec_text(r.qty),
        date: r.date.to_string(),
        order_amount: money(r.order_amount),
        net_price: String::new(),
        list_price: String::new(),
        discount: String::new(),
        amount: String::new(),
        why: i18n::tr(locale, "sales_page.sim.no_price"),
        entries,
        policies,
    };
    if let Ok(a) = &sim.answer {
        let (discount, policy) = match &a.discount {
            DiscountSource::None => ("none", None),
            DiscountSource::SpecialIsNet => ("special_is_net", None),
            DiscountSource::Policy(code) => ("policy", Some(code.clone())),
            DiscountSource::Manual => ("manual", None),
        };
        let explain = json!({
            "entry": a.price_entry,
            "level": a.level,
            "special": a.special,
            "list": dec_text(a.list_price),
            "discount": discount,
            "policy": policy,
            "pct": dec_text(a.discount_pct),
            "amount": dec_text(a.discount_amount),
        });
        out.net_price = dec_text(a.net_price);
        out.list_price = dec_text(a.list_price);
        out.discount = if discount == "none" || discount == "special_is_net" {
            "—".to_owned()
        } else {
            discount_off(locale, &dec_text(a.discount_pct), &dec_text(a.discount_amount))
        };
        out.amount = sim.amount.map(money).unwrap_or_default();
        out.why = price_reason(locale, &explain);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Credit

/// One customer's credit as shown.
#[derive(Debug, Clone)]
pub struct CreditRow {
    /// Customer code.
    pub customer: String,
    /// Customer name.
    pub name: String,
    /// Credit limit, or empty for none.
    pub limit: String,
    /// Open receivables.
    pub receivables: String,
    /// Approved orders not delivered.
    pub undelivered: String,
    /// Deliveries not invoiced.
    pub uninvoiced: String,
    /// The three together.
    pub exposure: String,
    /// Limit less exposure, or empty without a limit.
    pub available: String,
    /// Days the oldest unpaid invoice is overdue, or empty.
    pub overdue_days: String,
    /// Whether the exposure exceeds the limit.
    pub over_limit: bool,
    /// Whether an invoice is overdue beyond what the settings allow.
    pub overdue: bool,
}

/// Credit status per customer.
#[derive(Template)]
#[template(path = "sales_credit.html")]
pub struct CreditPage {
    /// Chrome.
    pub c: Chrome,
    /// The date the status is as of.
    pub as_of: String,
    /// What the settings say credit control does, translated.
    pub policy: String,
    /// Customers with a limit or an exposure.
    pub rows: Vec<CreditRow>,
    /// How many are over their limit.
    pub over_count: usize,
}

/// The name of each customer in `locale`, by code.
async fn customer_names(
    state: &AppState,
    locale: &str,
) -> Result<BTreeMap<String, String>, AppError> {
    let name_field = if locale == "en" { "name_en" } else { "name_zh" };
    Ok(master::all(&state.db, &entities::CUSTOMER)
        .await?
        .into_iter()
        .filter_map(|r| {
            let code = r.values.get("code")?.to_input();
            let name = r.values.get(name_field).map(|v| v.to_input()).unwrap_or_default();
            Some((code, name))
        })
        .collect())
}

async fn credit_page(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let locale = user.user.locale.clone();
    let today = chrono::Local::now().date_naive();
    let settings = sales::settings(&state.db).await?;
    let names = customer_names(&state, &locale).await?;
    let rows: Vec<CreditRow> = sales::credit_overview(&state.db, today)
        .await?
        .into_iter()
        .map(|s| {
            let exposure = s.exposure.total();
            CreditRow {
                name: names.get(&s.customer).cloned().unwrap_or_default(),
                limit: s.limit.map(money).unwrap_or_default(),
                receivables: money(s.exposure.receivables),
                undelivered: money(s.exposure.undelivered),
                uninvoiced: money(s.exposure.uninvoiced),
                exposure: money(exposure),
                available: s.limit.map(|l| money(l - exposure)).unwrap_or_default(),
                overdue_days: s.overdue_days.map(|d| d.to_string()).unwrap_or_default(),
                over_limit: s.limit.is_some_and(|l| exposure > l),
                overdue: s.overdue_days.is_some_and(|d| d > settings.overdue_days),
                customer: s.customer,
            }
        })
        .collect();
    let policy = i18n::tr_with(
        &locale,
        "sales_page.credit.policy",
        &[
            p("action", i18n::tr(&locale, &format!("choice.{}", settings.credit_action))),
            p("days", settings.overdue_days.to_string()),
        ],
    );
    render(&CreditPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "sales.nav.credit")),
        as_of: today.to_string(),
        policy,
        over_count: rows.iter().filter(|r| r.over_limit).count(),
        rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Settings

/// The sales settings form.
#[derive(Template)]
#[template(path = "sales_settings.html")]
pub struct SettingsPage {
    /// Chrome.
    pub c: Chrome,
    /// Credit action as chosen.
    pub credit_action: String,
    /// The credit actions: (code, label).
    pub actions: Vec<(String, String)>,
    /// Overdue days as typed.
    pub overdue_days: String,
    /// Cost history months as typed.
    pub cost_history_months: String,
    /// Target margin as typed.
    pub target_margin_pct: String,
    /// Version read.
    pub version: i64,
    /// Field messages.
    pub errors: FieldMessages,
    /// A message for the whole form (stale version).
    pub form_error: Option<String>,
    /// A one-time notice after a save.
    pub notice: Option<String>,
    /// May save.
    pub can_save: bool,
}

/// The members of the settings form, as text.
#[derive(Debug, Clone, Default)]
struct SettingsInput {
    credit_action: String,
    overdue_days: String,
    cost_history_months: String,
    target_margin_pct: String,
    version: i64,
}

fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    input: SettingsInput,
    errors: FieldMessages,
    form_error: Option<String>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    render(&SettingsPage {
        c: chrome(state, user, &i18n::tr(&locale, "sales.nav.settings")),
        actions: CREDIT_ACTIONS
            .iter()
            .map(|a| ((*a).to_owned(), i18n::tr(&locale, &format!("choice.{a}"))))
            .collect(),
        credit_action: input.credit_action,
        overdue_days: input.overdue_days,
        cost_history_months: input.cost_history_months,
        target_margin_pct: input.target_margin_pct,
        version: input.version,
        errors,
        form_error,
        notice,
        can_save: user.can(SETTINGS_RESOURCE, AREA, Action::Update),
    })
}

async fn settings_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(SETTINGS_RESOURCE, AREA, Action::Read)?;
    let s = sales::settings(&state.db).await?;
    let input = SettingsInput {
        credit_action: s.credit_action,
        overdue_days: s.overdue_days.to_string(),
        cost_history_months: s.cost_history_months.to_string(),
        target_margin_pct: dec_text(s.target_margin_pct),
        version: s.version,
    };
    let notice =
        (param(&pairs, "done") == "saved").then(|| i18n::tr(&user.user.locale, "notice.saved"));
    settings_page(&state, &user, input, FieldMessages::default(), None, notice)
}

async fn settings_save(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(SETTINGS_RESOURCE, AREA, Action::Update)?;
    let locale = user.user.locale.clone();
    let text = |name: &str| param(&pairs, name).trim().to_owned();
    let input = SettingsInput {
        credit_action: text("credit_action"),
        overdue_days: text("overdue_days"),
        cost_history_months: text("cost_history_months"),
        target_margin_pct: text("target_margin_pct"),
        version: text("_version").parse().unwrap_or(0),
    };
    let get = |name: &str| Some(text(name)).filter(|v| !v.is_empty());
    let result = match crate::api::sales::parse_settings(input.version, get) {
        Ok(wanted) => sales::save_settings(&state.db, &wanted).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    let e = match result {
        Ok(saved) => {
            let by = &user.user.username;
            tracing::info!(by = %by, version = saved.version, "sales settings changed");
            return Ok(Redirect::to("/sales/settings?done=saved").into_response());
        }
        Err(e) => e,
    };
    let (errors, form_error, status) = match e {
        e @ AppError::Store(StoreError::Stale { .. } | StoreError::Busy) => {
            (FieldMessages::default(), Some(e.message(&locale)), e.status())
        }
        other => {
            let fields = field_errors(other)?;
            (FieldMessages::new(&locale, &fields), None, StatusCode::UNPROCESSABLE_ENTITY)
        }
    };
    let mut response = settings_page(&state, &user, input, errors, form_error, None)?;
    *response.status_mut() = status;
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// Print

/// One line as printed.
#[derive(Debug, Clone)]
pub struct PrintLine {
    /// Position.
    pub line_no: i64,
    /// Item code.
    pub item: String,
    /// Item name in the user's language.
    pub item_name: String,
    /// Quantity.
    pub quantity: String,
    /// Unit.
    pub unit: String,
    /// Unit price.
    pub unit_price: String,
    /// Discount, percent.
    pub discount_pct: String,
    /// Amount.
    pub amount: String,
    /// Promised date.
    pub promised_date: String,
    /// Warehouse (delivery notes).
    pub warehouse: String,
    /// Lot (delivery notes).
    pub lot: String,
    /// Note.
    pub note: String,
}

/// A document laid out for printing on A4.
#[derive(Template)]
#[template(path = "doc_print.html")]
pub struct PrintPage {
    /// Chrome, for the language (the print layout has no navigation).
    pub c: Chrome,
    /// The document's title ("Quotation", "Delivery note"...).
    pub title: String,
    /// Company name.
    pub company: String,
    /// Document number.
    pub number: String,
    /// Link back to the document.
    pub back: String,
    /// State, translated, shown when the document is not approved.
    pub unapproved: Option<String>,
    /// Customer code.
    pub partner: String,
    /// Customer name.
    pub partner_name: String,
    /// Address, tax id and phone lines of the customer.
    pub partner_lines: Vec<String>,
    /// Header facts: (label, value).
    pub facts: Vec<(String, String)>,
    /// Whether prices and amounts are printed.
    pub prices: bool,
    /// Whether promised dates are printed.
    pub promised: bool,
    /// Whether warehouse and lot are printed (delivery notes).
    pub stock: bool,
    /// Lines.
    pub lines: Vec<PrintLine>,
    /// Total amount.
    pub total: String,
    /// Total quantity.
    pub total_qty: String,
    /// Currency.
    pub currency: String,
    /// Document note.
    pub note: String,
    /// Signature boxes, labelled.
    pub signatures: Vec<String>,
    /// When it was printed.
    pub printed_at: String,
}

/// The code, name and address lines of `customer`, for a document's print.
async fn partner_block(
    state: &AppState,
    locale: &str,
    customer: &str,
    address_kind: &str,
) -> Result<(String, Vec<String>), AppError> {
    let name_field = if locale == "en" { "name_en" } else { "name_zh" };
    let text =
        |r: &master::MasterRow, f: &str| r.values.get(f).map(|v| v.to_input()).unwrap_or_default();
    let Ok(row) = master::get_by_code(&state.db, &entities::CUSTOMER, customer).await else {
        return Ok((String::new(), Vec::new()));
    };
    let mut lines = Vec::new();
    let mut filters = BTreeMap::new();
    filters.insert("customer".to_owned(), customer.to_owned());
    filters.insert("kind".to_owned(), address_kind.to_owned());
    let q = ListQuery { page: 1, per_page: 1, filters, ..ListQuery::default() };
    if let Some(a) = master::list(&state.db, &entities::CUSTOMER_ADDRESS, &q).await?.rows.first() {
        let parts: Vec<String> = ["line1", "city", "province", "postcode"]
            .iter()
            .map(|f| text(a, f))
            .filter(|t| !t.is_empty())
            .collect();
        lines.push(parts.join(&i18n::tr(locale, "sales_page.why.sep")));
    }
    for f in ["tax_id", "phone", "email"] {
        let v = text(&row, f);
        if !v.is_empty() {
            lines.push(format!("{}: {v}", i18n::field_label(locale, "customer", f)));
        }
    }
    Ok((text(&row, name_field), lines))
}

async fn print_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = docs::doc_type(&state, &code)?;
    if !PRINTABLE.contains(&t.code) {
        return Err(AppError::NotFound);
    }
    docs::require(&user, &t, Action::Read)?;
    let doc = docs::load(&state, &t, parse_id(&id)?).await?;
    let locale = user.user.locale.clone();
    let tr = |key: &str| i18n::tr(&locale, key);

    let delivery = t.code == "sales_delivery";
    let address_kind = if delivery { "shipping" } else { "billing" };
    let partner = doc.partner.clone().unwrap_or_default();
    let (partner_name, partner_lines) =
        partner_block(&state, &locale, &partner, address_kind).await?;
    let company = company::company(&state.db).await?;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for item in doc.lines.iter().filter_map(|l| l.item.clone()) {
        if names.contains_key(&item) {
            continue;
        }
        let name = papilio_store::stock_views::item_names(&state.db, &item)
            .await?
            .map(|(zh, en, _)| if locale == "en" { en } else { zh })
            .unwrap_or_default();
        names.insert(item, name);
    }

    let mut facts = vec![(tr("field.doc_date"), doc.doc_date.to_string())];
    if let Some(person) = &doc.salesperson {
        let name = master::get_by_code(&state.db, &entities::EMPLOYEE, person)
            .await
            .ok()
            .and_then(|r| r.values.get("name").map(|v| v.to_input()))
            .unwrap_or_default();
        let shown = if name.is_empty() { person.clone() } else { format!("{name} ({person})") };
        facts.push((tr("field.salesperson"), shown));
    }
    if let Some(currency) = &doc.currency
        && !delivery
    {
        facts.push((tr("field.currency"), currency.clone()));
    }
    if let Some(due) = doc.due_date {
        facts.push((tr("sales_page.payment_due"), due.to_string()));
    }
    let lines: Vec<PrintLine> = doc
        .lines
        .iter()
        .map(|l| PrintLine {
            line_no: l.line_no,
            item_name: l.item.as_ref().and_then(|i| names.get(i)).cloned().unwrap_or_default(),
            item: l.item.clone().unwrap_or_default(),
            quantity: dec_text(l.quantity),
            unit: l.unit.clone().unwrap_or_default(),
            unit_price: l.unit_price.map(dec_text).unwrap_or_default(),
            discount_pct: l
                .trade
                .discount_pct
                .filter(|d| !d.is_zero())
                .map(dec_text)
                .unwrap_or_default(),
            amount: l.amount.map(money).unwrap_or_default(),
            promised_date: l.trade.promised_date.map(|d| d.to_string()).unwrap_or_default(),
            warehouse: l.warehouse.clone().unwrap_or_default(),
            lot: l.stock.lot.clone().unwrap_or_default(),
            note: l.note.clone().unwrap_or_default(),
        })
        .collect();
    let signatures = match t.code {
        "sales_delivery" => {
            vec![tr("sales_page.print.sign.issued"), tr("sales_page.print.sign.received")]
        }
        "sales_invoice" => {
            vec![tr("sales_page.print.sign.prepared"), tr("sales_page.print.sign.reviewed")]
        }
        "sales_order" => vec![
            tr("sales_page.print.sign.prepared"),
            tr("sales_page.print.sign.approved"),
            tr("sales_page.print.sign.customer"),
        ],
        _ => vec![tr("sales_page.print.sign.prepared"), tr("sales_page.print.sign.customer")],
    };
    let title = tr(&format!("sales_page.print.title.{}", t.code));
    let approved = matches!(doc.state, DocState::Approved | DocState::Closed);
    let page = PrintPage {
        c: Chrome::anonymous(&locale, &format!("{title} {}", doc.number)),
        title,
        company: company.name,
        number: doc.number.clone(),
        back: format!("/d/{}/{}", t.code, doc.id),
        unapproved: (!approved).then(|| tr(&format!("state.{}", doc.state.code()))),
        partner,
        partner_name,
        partner_lines,
        facts,
        prices: !delivery,
        promised: t.code == "sales_quotation" || t.code == "sales_order",
        stock: delivery,
        lines,
        total: money(doc.total()),
        total_qty: dec_text(doc.lines.iter().map(|l| l.quantity).sum()),
        currency: doc.currency.clone().unwrap_or_default(),
        note: doc.note.clone().unwrap_or_default(),
        signatures,
        printed_at: chrono::Local::now().format("%Y-%m-%d %H:%M").to_string(),
    };
    render(&page)
}
