//! Sales API: the price simulation ("what would customer X pay for N of item Y on date D, and
//! why"), the sales settings, credit status, and the sales reports.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::NaiveDate;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::pricing::{DiscountSource, PriceError};
use papilio_store::sales::{self, SalesSettings};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::{json_object, scalar_text, take_version};
use crate::ctx::CurrentUser;
use crate::error::AppError;

/// The area of every sales route.
pub const AREA: &str = "sales";
/// Permission resource of the price simulation (reading prices).
pub const PRICE_RESOURCE: &str = "sales_price";
/// Permission resource of the sales settings and reports.
pub const SETTINGS_RESOURCE: &str = "sales_settings";
/// Permission resource of the sales reports.
pub const REPORT_RESOURCE: &str = "sales_report";

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sales/price", get(price_api))
        .route("/sales/settings", get(settings_api).put(save_settings_api))
        .route("/sales/credit", get(credit_api))
}

fn dec(d: Decimal) -> Json {
    Json::String(d.normalize().to_string())
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

/// What a price simulation asks: customer, item, quantity (base units), date.
#[derive(Debug, Clone)]
pub struct PriceQuery {
    /// Customer code.
    pub customer: String,
    /// Item code.
    pub item: String,
    /// Quantity in the item's base unit.
    pub quantity: Decimal,
    /// Pricing date.
    pub date: NaiveDate,
}

/// Parses the simulation's query, naming every missing or malformed member.
pub fn price_query(pairs: &[(String, String)], today: NaiveDate) -> Result<PriceQuery, AppError> {
    let mut errors = Vec::new();
    let customer = param(pairs, "customer").map(str::to_uppercase);
    if customer.is_none() {
        errors.push(FieldError::new("customer", "field.required"));
    }
    let item = param(pairs, "item").map(str::to_uppercase);
    if item.is_none() {
        errors.push(FieldError::new("item", "field.required"));
    }
    let quantity = match param(pairs, "quantity") {
        None => Decimal::ONE,
        Some(q) => q.parse::<Decimal>().unwrap_or_else(|_| {
            errors.push(FieldError::new("quantity", "field.not_decimal"));
            Decimal::ONE
        }),
    };
    let date = match param(pairs, "date") {
        None => today,
        Some(d) => d.parse::<NaiveDate>().unwrap_or_else(|_| {
            errors.push(FieldError::new("date", "field.not_date"));
            today
        }),
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(PriceQuery {
        customer: customer.unwrap_or_default(),
        item: item.unwrap_or_default(),
        quantity,
        date,
    })
}

/// The simulation as JSON.
pub fn simulation_json(s: &sales::Simulation) -> Json {
    let considered = |c: &sales::Considered| json!({"code": c.code, "applies": c.skipped.is_none(), "skipped": c.skipped, "detail": c.detail});
    let mut out = json!({
        "customer": s.request.customer,
        "customer_group": s.request.group,
        "item": s.request.item,
        "item_category": s.request.category,
        "currency": s.request.currency,
        "quantity": dec(s.request.qty),
        "date": s.request.date.to_string(),
        "entries": s.entries.iter().map(considered).collect::<Vec<_>>(),
        "policies": s.policies.iter().map(considered).collect::<Vec<_>>(),
    });
    match &s.answer {
        Ok(a) => {
            let (discount, policy) = match &a.discount {
                DiscountSource::None => ("none", None),
                DiscountSource::SpecialIsNet => ("special_is_net", None),
                DiscountSource::Policy(p) => ("policy", Some(p.clone())),
                DiscountSource::Manual => ("manual", None),
            };
            if let Json::Object(m) = &mut out {
                m.insert("price_entry".into(), json!(a.price_entry));
                m.insert("level".into(), json!(a.level));
                m.insert("special".into(), json!(a.special));
                m.insert("list_price".into(), dec(a.list_price));
                m.insert("discount".into(), json!(discount));
                m.insert("policy".into(), json!(policy));
                m.insert("discount_pct".into(), dec(a.discount_pct));
                m.insert("discount_amount".into(), dec(a.discount_amount));
                m.insert("net_price".into(), dec(a.net_price));
                m.insert("amount".into(), json!(s.amount.map(dec)));
            }
        }
        Err(PriceError::NoPrice) => {
            if let Json::Object(m) = &mut out {
                m.insert("net_price".into(), Json::Null);
                m.insert("no_price".into(), json!(true));
            }
        }
    }
    out
}

async fn price_api(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(PRICE_RESOURCE, AREA, Action::Read)?;
    let q = price_query(&pairs, chrono::Local::now().date_naive())?;
    let s = sales::simulate(&state.db, &q.customer, &q.item, q.quantity, q.date).await?;
    Ok(axum::Json(simulation_json(&s)).into_response())
}

/// The settings as JSON.
pub fn settings_json(s: &SalesSettings) -> Json {
    json!({
        "version": s.version,
        "credit_action": s.credit_action,
        "overdue_days": s.overdue_days,
        "cost_history_months": s.cost_history_months,
        "target_margin_pct": dec(s.target_margin_pct),
    })
}

async fn settings_api(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(SETTINGS_RESOURCE, AREA, Action::Read)?;
    Ok(axum::Json(settings_json(&sales::settings(&state.db).await?)).into_response())
}

/// Reads settings members from text: names every malformed one.
pub fn parse_settings(
    version: i64,
    get: impl Fn(&str) -> Option<String>,
) -> Result<SalesSettings, AppError> {
    let mut errors = Vec::new();
    let int = |name: &str, errors: &mut Vec<FieldError>| -> i64 {
        match get(name) {
            None => {
                errors.push(FieldError::new(name, "field.required"));
                0
            }
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                errors.push(FieldError::new(name, "field.not_integer"));
                0
            }),
        }
    };
    let overdue_days = int("overdue_days", &mut errors);
    let cost_history_months = int("cost_history_months", &mut errors);
    let target_margin_pct = match get("target_margin_pct") {
        None => {
            errors.push(FieldError::new("target_margin_pct", "field.required"));
            Decimal::ZERO
        }
        Some(v) => v.trim().parse().unwrap_or_else(|_| {
            errors.push(FieldError::new("target_margin_pct", "field.not_decimal"));
            Decimal::ZERO
        }),
    };
    let credit_action = get("credit_action").unwrap_or_default();
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(SalesSettings {
        credit_action,
        overdue_days,
        cost_history_months,
        target_margin_pct,
        version,
    })
}

async fn save_settings_api(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(SETTINGS_RESOURCE, AREA, Action::Update)?;
    let mut map = json_object(&headers, &body)?;
    let version = take_version(&mut map)?;
    let mut errors = Vec::new();
    for key in map.keys() {
        if !["credit_action", "overdue_days", "cost_history_months", "target_margin_pct"]
            .contains(&key.as_str())
        {
            errors.push(FieldError::new(key.clone(), "field.unknown"));
        }
    }
    let mut texts = std::collections::HashMap::new();
    for (k, v) in &map {
        match scalar_text(k, v) {
            Ok(t) => {
                texts.insert(k.clone(), t);
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let s = parse_settings(version, |k| texts.get(k).cloned())?;
    let saved = sales::save_settings(&state.db, &s).await?;
    Ok(axum::Json(settings_json(&saved)).into_response())
}

async fn credit_api(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(REPORT_RESOURCE, AREA, Action::Read)?;
    let today = chrono::Local::now().date_naive();
    let rows = sales::credit_overview(&state.db, today).await?;
    let data: Vec<Json> = rows
        .iter()
        .map(|c| {
            json!({
                "customer": c.customer,
                "credit_limit": c.limit.map(dec),
                "receivables": dec(c.exposure.receivables),
                "undelivered": dec(c.exposure.undelivered),
                "uninvoiced": dec(c.exposure.uninvoiced),
                "exposure": dec(c.exposure.total()),
                "available": c.limit.map(|l| dec(l - c.exposure.total())),
                "overdue_days": c.overdue_days,
            })
        })
        .collect();
    Ok(axum::Json(json!({"as_of": today.to_string(), "data": data})).into_response())
}
