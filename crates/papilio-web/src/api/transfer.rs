//! Import and export of master data over the API.
//!
//! `GET /api/v1/{kind}/export?format=csv|xlsx` takes the list's search, filters and sort and
//! answers the file. `POST /api/v1/{kind}/import` takes the file as the body (`text/csv` or the
//! XLSX content type) or as the `file` field of a `multipart/form-data` body, and answers
//! `{"imported": n}`, or 422 with one entry of `error.fields` per problem
//! (`rows[501].safety_stock`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use papilio_core::FieldError;
use papilio_core::access::Action;
use serde_json::json;

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::master::{entity, list_query};
use crate::pages::transfer::{UPLOAD_BODY_LIMIT, download, read_upload};
use crate::transfer::{self, FileFormat};

/// `/api/v1/{kind}/import` and `/api/v1/{kind}/export` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{kind}/export", get(export))
        .route("/{kind}/import", post(import))
        .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
}

async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Export)?;
    let format = match params.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()) {
        None | Some("" | "csv") => FileFormat::Csv,
        Some("xlsx") => FileFormat::Xlsx,
        Some(_) => {
            return Err(AppError::Invalid(vec![
                FieldError::new("format", "field.not_choice").with("options", "csv, xlsx"),
            ]));
        }
    };
    let q = list_query(def, &params, "")?;
    let file = transfer::export(&state.db, def, &q, format).await?;
    Ok(download(file))
}

async fn import(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Import)?;
    let file = read_upload(def, request).await?;
    let n = transfer::import(&state.db, def, file, user.user.id, transfer::no_progress()).await?;
    Ok(axum::Json(json!({ "imported": n })).into_response())
}
