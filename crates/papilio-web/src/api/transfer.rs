//! Import and export of master data over the API.

use axum::Router;

use crate::AppState;

/// `/api/v1/{kind}/import` and `/api/v1/{kind}/export` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
