//! Lot suggestions for issues: which lots to pick, first in first out or first expired first
//! out, and how much no lot covers.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::inventory::{LotPolicy, suggest_lots};
use rust_decimal::Decimal;
use serde_json::json;

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;

/// `/api/v1/stock/lots`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/stock/lots", get(lots))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

async fn lots(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("stock", "inventory", Action::Read)?;
    let mut errors = Vec::new();
    let item = param(&params, "item").map(str::to_uppercase);
    let warehouse = param(&params, "warehouse").map(str::to_uppercase);
    if item.is_none() {
        errors.push(FieldError::new("item", "field.required"));
    }
    if warehouse.is_none() {
        errors.push(FieldError::new("warehouse", "field.required"));
    }
    let qty = match param(&params, "qty").map(str::parse::<Decimal>) {
        None => Decimal::ZERO,
        Some(Ok(q)) if q >= Decimal::ZERO => q,
        Some(_) => {
            errors.push(FieldError::new("qty", "field.not_decimal"));
            Decimal::ZERO
        }
    };
    let policy = match param(&params, "policy") {
        None | Some("fefo") => LotPolicy::Fefo,
        Some("fifo") => LotPolicy::Fifo,
        Some(_) => {
            errors
                .push(FieldError::new("policy", "field.not_choice").with("options", "fifo, fefo"));
            LotPolicy::Fefo
        }
    };
    let today = match param(&params, "date").map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d")) {
        None => chrono::Utc::now().date_naive(),
        Some(Ok(d)) => d,
        Some(Err(_)) => {
            errors.push(FieldError::new("date", "field.not_date"));
            chrono::Utc::now().date_naive()
        }
    };
    let (Some(item), Some(warehouse), true) = (item, warehouse, errors.is_empty()) else {
        return Err(AppError::Invalid(errors));
    };
    let lots = papilio_store::stock::lots_in_stock(&state.db, &item, &warehouse).await?;
    let (picks, short) = suggest_lots(&lots, qty, policy, today);
    Ok(axum::Json(json!({
        "lots": lots.iter().map(|l| json!({
            "lot": l.lot,
            "available": l.available.normalize().to_string(),
            "received": l.received.to_string(),
            "expiry": l.expiry.map(|d| d.to_string()),
            "expired": l.expiry.is_some_and(|e| e < today),
        })).collect::<Vec<_>>(),
        "suggestion": picks.iter().map(|(lot, q)| json!({"lot": lot, "qty": q.normalize().to_string()})).collect::<Vec<_>>(),
        "short": short.normalize().to_string(),
    }))
    .into_response())
}
