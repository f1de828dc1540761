//! Stock views API under `/api/v1/stock`: stock on hand (now or as of a date), the stock card,
//! stock alerts, reservations, default bins and the ledger check.
//!
//! Each handler checks the permission before it reads any input, then parses with the same
//! functions as the pages ([`crate::pages::stock`]). Quantities and values are exact decimal
//! strings in the item's base unit and the base currency.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_store::stock;
use papilio_store::stock_views;
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::{json_object, scalar_text};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::stock::{
    alert_lines, alerts_csv_bytes, balance_lines, balance_params, balances_csv_bytes,
    balances_header, card, card_params, csv_download, num, page_of, require,
};

/// `/api/v1/stock/...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock/balances", get(balances))
        .route("/stock/balances/export", get(balances_export))
        .route("/stock/card", get(card_json))
        .route("/stock/alerts", get(alerts))
        .route("/stock/alerts/export", get(alerts_export))
        .route("/stock/reservations", get(reservations))
        .route("/stock/default_bins", get(default_bins).put(set_default_bin))
        .route("/stock/check", get(check))
}

fn opt(d: Option<rust_decimal::Decimal>) -> Json {
    d.map_or(Json::Null, |d| Json::String(num(d)))
}

async fn balances(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    let p = balance_params(&params)?;
    let lines = balance_lines(&state, &p).await?;
    let (shown, page, _) = page_of(&lines, p.page, p.per_page);
    let data: Vec<Json> = shown
        .iter()
        .map(|l| {
            json!({
                "item": l.item,
                "name_zh": l.name_zh,
                "name_en": l.name_en,
                "category": l.category,
                "unit": l.unit,
                "warehouse": l.warehouse,
                "bin": l.bin,
                "lot": l.lot,
                "on_hand": num(l.qty),
                "reserved": opt(l.reserved),
                "available": opt(l.available),
                "value": num(l.value),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "data": data,
        "page": page,
        "per_page": p.per_page,
        "total": lines.len(),
        "group": p.group.code(),
        "as_of": p.query.as_of.map(|d| d.to_string()),
    }))
    .into_response())
}

async fn balances_export(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Export)?;
    let p = balance_params(&params)?;
    let lines = balance_lines(&state, &p).await?;
    let bytes = balances_csv_bytes(&user.user.locale, &balances_header(None), &lines)?;
    Ok(csv_download("stock.csv", bytes))
}

async fn card_json(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    let p = card_params(&params, chrono::Local::now().date_naive())?;
    let c = card(&state, &p).await?;
    let lines: Vec<Json> = c
        .lines
        .iter()
        .map(|l| {
            json!({
                "date": l.date.to_string(),
                "document_id": l.document_id.to_string(),
                "doc_type": l.doc_type,
                "number": l.number,
                "href": format!("/d/{}/{}", l.doc_type, l.document_id),
                "warehouse": l.warehouse,
                "bin": l.bin,
                "lot": l.lot,
                "qty": num(l.qty),
                "value": num(l.value),
                "balance_qty": num(l.balance_qty),
                "balance_value": num(l.balance_value),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "item": c.item,
        "name_zh": c.name_zh,
        "name_en": c.name_en,
        "unit": c.unit,
        "warehouse": p.warehouse,
        "from": p.from.to_string(),
        "to": p.to.to_string(),
        "opening_qty": num(c.opening_qty),
        "opening_value": num(c.opening_value),
        "closing_qty": num(c.closing_qty()),
        "closing_value": num(c.closing_value()),
        "lines": lines,
    }))
    .into_response())
}

async fn alerts(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    let lines = alert_lines(&state).await?;
    let data: Vec<Json> = lines
        .iter()
        .map(|a| {
            let r = &a.row;
            json!({
                "item": r.item,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                "unit": r.unit,
                "alert": a.code(),
                "on_hand": num(r.on_hand),
                "reserved": num(r.reserved),
                "available": num(r.on_hand - r.reserved),
                "safety_stock": num(r.safety_stock),
                "reorder_point": num(r.reorder_point),
                "max_stock": opt(r.max_stock),
                "gap": num(a.gap()),
            })
        })
        .collect();
    let total = data.len();
    Ok(axum::Json(json!({"data": data, "page": 1, "per_page": total, "total": total}))
        .into_response())
}

async fn alerts_export(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    require(&user, Action::Export)?;
    let lines = alert_lines(&state).await?;
    Ok(csv_download("stock_alerts.csv", alerts_csv_bytes(None, &lines)?))
}

fn only_keys(params: &[(String, String)], allowed: &[&str]) -> Result<(), AppError> {
    match params.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(AppError::Invalid(vec![FieldError::new(k.clone(), "field.unknown")])),
        None => Ok(()),
    }
}

fn param(params: &[(String, String)], key: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_uppercase())
        .filter(|v| !v.is_empty())
}

async fn reservations(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    only_keys(&params, &["item", "warehouse"])?;
    let (item, warehouse) = (param(&params, "item"), param(&params, "warehouse"));
    let rows = stock_views::reservations(&state.db, item.as_deref(), warehouse.as_deref()).await?;
    let data: Vec<Json> = rows
        .iter()
        .map(|r| json!({"item": r.item, "warehouse": r.warehouse, "reserved": num(r.qty)}))
        .collect();
    let total = data.len();
    Ok(axum::Json(json!({"data": data, "page": 1, "per_page": total, "total": total}))
        .into_response())
}

async fn default_bins(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    require(&user, Action::Read)?;
    only_keys(&params, &["item"])?;
    let item = param(&params, "item");
    let rows = stock_views::default_bins(&state.db, item.as_deref()).await?;
    let data: Vec<Json> = rows
        .iter()
        .map(|b| json!({"item": b.item, "warehouse": b.warehouse, "bin": b.bin}))
        .collect();
    let total = data.len();
    Ok(axum::Json(json!({"data": data, "page": 1, "per_page": total, "total": total}))
        .into_response())
}

/// `{item, warehouse, bin}`: sets the default bin (an empty `bin` clears it).
async fn set_default_bin(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    require(&user, Action::Update)?;
    let map = json_object(&headers, &body)?;
    let mut errors = Vec::new();
    let mut values = [String::new(), String::new(), String::new()];
    for (key, value) in &map {
        let slot = match key.as_str() {
            "item" => 0,
            "warehouse" => 1,
            "bin" => 2,
            _ => {
                errors.push(FieldError::new(key.clone(), "field.unknown"));
                continue;
            }
        };
        match scalar_text(key, value) {
            Ok(v) => {
                if let Some(s) = values.get_mut(slot) {
                    *s = v.trim().to_uppercase();
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let [item, warehouse, bin] = values;
    for (name, v) in [("item", &item), ("warehouse", &warehouse)] {
        if v.is_empty() {
            errors.push(FieldError::new(name, "field.required"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    stock_views::set_default_bin(&state.db, &item, &warehouse, &bin, Some(user.user.id)).await?;
    let bin = (!bin.is_empty()).then_some(bin);
    Ok(axum::Json(json!({"item": item, "warehouse": warehouse, "bin": bin})).into_response())
}

async fn check(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    require(&user, Action::Approve)?;
    let problems = stock::check_invariants(&state.db).await?;
    Ok(axum::Json(json!({"ok": problems.is_empty(), "problems": problems})).into_response())
}
