//! Papilio's web layer: the only crate that knows HTTP, HTML and JSON.
//!
//! Pages are server-rendered askama templates in Simplified Chinese or English; the JSON API
//! lives under `/api/v1` and its OpenAPI document at `/api/openapi.json`. Handlers parse input,
//! check permissions, call the storage layer and render; they never build SQL.
//!
//! Every request passes [`ctx::context`], which resolves the user (session cookie or API
//! token), the locale, and the CSRF check, then runs the handler inside that context so errors
//! render in the caller's language.

rust_i18n::i18n!("locales", fallback = "en");

pub mod api;
pub mod assets;
pub mod ctx;
pub mod error;
pub mod i18n;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod transfer;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use papilio_store::Db;
use papilio_store::documents::Registry;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The document types.
    pub docs: Arc<Registry>,
    /// Whether cookies get the `Secure` flag (behind HTTPS).
    pub secure_cookies: bool,
    /// Whether the first `X-Forwarded-For` hop is the client's address (only behind a proxy
    /// that sets it; otherwise a client could pick its own address and dodge throttling).
    pub trust_proxy: bool,
}

impl AppState {
    /// State over `db` with the standard document types.
    pub fn new(db: Db) -> Self {
        AppState {
            db,
            docs: Arc::new(standard_documents()),
            secure_cookies: false,
            trust_proxy: false,
        }
    }
}

/// The document types of the released program. Each business area registers its own here.
pub fn standard_documents() -> Registry {
    let mut docs = Registry::default();
    for t in papilio_store::document_types() {
        docs.register(t);
    }
    docs
}

/// The whole application: pages, API, assets, with logging, request ids, compression,
/// timeouts and body limits.
pub fn app(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .merge(assets::routes())
        .layer(middleware::from_fn_with_state(state.clone(), ctx::context))
        .layer(RequestBodyLimitLayer::new(64 * 1024 * 1024))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(120)))
        .layer(CompressionLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", request.id = %id, method = %req.method(), route = %req.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
