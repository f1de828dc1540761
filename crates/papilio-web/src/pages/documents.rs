//! Document pages: lists per type, a document with its lines, actions, approvals, flow and
//! history, and the approver's inbox.

use axum::Router;

use crate::AppState;

/// `/d/...` and `/inbox` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
