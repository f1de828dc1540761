//! Administration API: the signed-in user, users, roles, settings, tokens, audit.

use axum::Router;

use crate::AppState;

/// `/api/v1/me`, `/api/v1/users`, `/api/v1/roles`... routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
