//! Sales pages: price simulation, credit, settings (filled in by the sales pages work).

use axum::Router;

use crate::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
}
