//! The JSON API under `/api/v1`: the same permissions and rules as the pages.
//!
//! Conventions: ids are strings (they exceed JavaScript's safe integers); decimals are
//! strings, exact; a write that changes an existing row carries the `version` it read; lists
//! answer `{data, page, per_page, total}`; errors answer `{error: {code, message, field,
//! fields}}`. A POST with an `Idempotency-Key` header runs once ([`idempotent`]).

pub mod admin;
pub mod counts;
pub mod documents;
pub mod engineering;
pub mod lots;
pub mod master;
pub mod sales;
pub mod sales_reports;
pub mod stock;
pub mod stock_analysis;
pub mod transfer;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use papilio_store::idempotency::{self, Claim};
use serde_json::{Map, Value as Json};

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;

/// Every API route.
pub fn routes() -> Router<AppState> {
    let v1 = Router::new()
        .merge(master::routes())
        .merge(documents::routes())
        .merge(admin::routes())
        .merge(transfer::routes())
        .merge(stock::routes())
        .merge(stock_analysis::routes())
        .merge(counts::routes())
        .merge(lots::routes())
        .merge(sales::routes())
        .merge(engineering::routes())
        .merge(sales_reports::routes())
        .route_layer(middleware::from_fn(idempotent));
    Router::new().nest("/api/v1", v1).route("/api/openapi.json", get(openapi))
}

async fn openapi(State(state): State<AppState>) -> Response {
    axum::Json(crate::openapi::document(&state.docs)).into_response()
}

/// Parses a JSON object body, answering 415 for another content type and 400 for malformed
/// JSON or a body that is not an object.
pub fn json_object(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Json>, AppError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(AppError::BadRequest { code: "unsupported_media_type", field: None });
    }
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(AppError::BadRequest { code: "expected_object", field: None }),
        Err(_) => Err(AppError::BadRequest { code: "malformed_json", field: None }),
    }
}

/// A JSON scalar as input text; objects and arrays are refused for `field`.
pub fn scalar_text(field: &str, value: &Json) -> Result<String, papilio_core::FieldError> {
    match value {
        Json::Null => Ok(String::new()),
        Json::Bool(b) => Ok(b.to_string()),
        Json::Number(n) => Ok(n.to_string()),
        Json::String(s) => Ok(s.clone()),
        Json::Array(_) | Json::Object(_) => {
            Err(papilio_core::FieldError::new(field, "field.wrong_type"))
        }
    }
}

/// The `version` member of a body, required for changes to existing rows.
pub fn take_version(map: &mut Map<String, Json>) -> Result<i64, AppError> {
    match map.remove("version") {
        Some(Json::Number(n)) => n.as_i64().ok_or_else(|| invalid("version", "field.not_integer")),
        Some(Json::String(s)) => s.parse().map_err(|_| invalid("version", "field.not_integer")),
        Some(_) => Err(invalid("version", "field.not_integer")),
        None => Err(invalid("version", "field.required")),
    }
}

/// A one-field validation error.
pub fn invalid(field: &str, rule: &str) -> AppError {
    AppError::Invalid(vec![papilio_core::FieldError::new(field, rule)])
}

/// Runs a POST carrying `Idempotency-Key` at most once per user and key: a replay gets the
/// first answer; a replay while the first still runs gets 409; a key reused for another route
/// gets 422. Answers of 5xx are not kept, so the client may retry them.
async fn idempotent(req: Request<Body>, next: Next) -> Response {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(key), true) = (key, req.method() == Method::POST) else {
        return next.run(req).await;
    };
    let Some(user) = req.extensions().get::<CurrentUser>().cloned() else {
        return next.run(req).await;
    };
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return next.run(req).await;
    };
    if key.is_empty() || key.len() > 200 {
        return invalid("Idempotency-Key", "field.too_long").into_response();
    }
    let path = req.uri().path().to_owned();
    match idempotency::claim(&state.db, user.user.id, &key, "POST", &path).await {
        Err(e) => AppError::from(e).into_response(),
        Ok(Claim::Mismatch) => invalid("Idempotency-Key", "idempotency.key_reused").into_response(),
        Ok(Claim::InProgress) => {
            AppError::BadRequest { code: "idempotency_in_progress", field: None }.into_response()
        }
        Ok(Claim::Done(status, content_type, body)) => {
            let mut response = (axum::http::StatusCode::from_u16(status).unwrap_or_default(), body)
                .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            response
                .headers_mut()
                .insert("idempotent-replay", header::HeaderValue::from_static("true"));
            response
        }
        Ok(Claim::Claimed) => {
            let response = next.run(req).await;
            if response.status().is_server_error() {
                let _ = idempotency::release(&state.db, user.user.id, &key).await;
                return response;
            }
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Err(e) = idempotency::finish(
                &state.db,
                user.user.id,
                &key,
                parts.status.as_u16(),
                &content_type,
                &text,
            )
            .await
            {
                tracing::warn!(error = %e, "idempotency answer not stored");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
