//! Document API: create, read, update drafts, move through the life cycle, flow, audit, inbox.

use axum::Router;

use crate::AppState;

/// `/api/v1/documents/...` and `/api/v1/inbox` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
