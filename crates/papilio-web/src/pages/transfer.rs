//! Import and export pages for master data.

use axum::Router;

use crate::AppState;

/// `/m/{kind}/import` and `/m/{kind}/export.*` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
