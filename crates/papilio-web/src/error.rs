//! Errors as the user sees them: a stable code, a message in their language, the field at
//! fault, and the HTTP status. API calls get JSON, pages get an HTML page.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use papilio_core::{DomainError, FieldError};
use papilio_store::StoreError;
use serde_json::json;

use crate::ctx;
use crate::i18n;

/// Anything a handler can answer with instead of success.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not signed in.
    #[error("not signed in")]
    Unauthenticated,
    /// Signed in, but the roles do not allow it.
    #[error("{action} on {resource} is not allowed")]
    Forbidden {
        /// The resource.
        resource: String,
        /// The action code.
        action: &'static str,
    },
    /// A state-changing request without the session's CSRF token.
    #[error("CSRF token missing or wrong")]
    CsrfFailed,
    /// Nothing here.
    #[error("not found")]
    NotFound,
    /// The body was too large.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body is not what the route takes (malformed JSON, wrong content type...).
    #[error("bad request: {code}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// The field at fault, if one.
        field: Option<String>,
    },
    /// Too many failed sign-ins.
    #[error("too many attempts")]
    Throttled,
    /// Fields broke rules; nothing changed.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// An import file was refused as a whole; nothing was imported.
    #[error("import refused: {} problems", errors.len())]
    ImportRefused {
        /// The entity imported.
        kind: String,
        /// The problems, by row.
        errors: Vec<crate::transfer::RowError>,
    },
    /// Storage refused or failed.
    #[error(transparent)]
    Store(StoreError),
    /// A bug: logged, answered with 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(DomainError::Invalid(fields)) => AppError::Invalid(fields),
            other => AppError::Store(other),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::from(StoreError::Domain(e))
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(format!("template: {e}"))
    }
}

impl AppError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } | AppError::CsrfFailed => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadRequest { code: "unsupported_media_type", .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            AppError::Invalid(_) | AppError::ImportRefused { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::Store(e) => match e {
                StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
                StoreError::Stale { .. }
                | StoreError::Duplicate { .. }
                | StoreError::InUse { .. }
                | StoreError::Busy => StatusCode::CONFLICT,
                StoreError::Domain(_) => StatusCode::UNPROCESSABLE_ENTITY,
                StoreError::Db(_) | StoreError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden { .. } => "forbidden",
            AppError::CsrfFailed => "csrf_failed",
            AppError::NotFound => "not_found",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::BadRequest { code, .. } => code,
            AppError::Throttled => "login_throttled",
            AppError::Invalid(_) | AppError::ImportRefused { .. } => "validation_failed",
            AppError::Store(e) => match e {
                StoreError::NotFound { .. } => "not_found",
                StoreError::Stale { .. } => "stale_version",
                StoreError::Duplicate { .. } => "duplicate",
                StoreError::InUse { .. } => "in_use",
                StoreError::Busy => "busy",
                StoreError::Domain(d) => d.code(),
                StoreError::Db(_) | StoreError::Corrupt(_) => "internal_error",
            },
            AppError::Internal(_) => "internal_error",
        }
    }

    /// The message in `locale`.
    pub fn message(&self, locale: &str) -> String {
        let params: Vec<(String, String)> = match self {
            AppError::Forbidden { resource, action } => vec![
                ("resource".into(), i18n::entity_label(locale, resource)),
                ("action".into(), i18n::tr(locale, &format!("action.{action}"))),
            ],
            AppError::Store(StoreError::NotFound { entity, key })
            | AppError::Store(StoreError::Stale { entity, key })
            | AppError::Store(StoreError::InUse { entity, key }) => {
                vec![
                    ("entity".into(), i18n::entity_label(locale, entity)),
                    ("key".into(), key.clone()),
                ]
            }
            AppError::Store(StoreError::Duplicate { entity, fields }) => vec![
                ("entity".into(), i18n::entity_label(locale, entity)),
                (
                    "fields".into(),
                    fields
                        .iter()
                        .map(|f| i18n::field_label(locale, entity, f))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ],
            AppError::Store(StoreError::Domain(DomainError::IllegalTransition {
                state,
                action,
            })) => vec![
                ("state".into(), i18n::tr(locale, &format!("state.{state}"))),
                ("action".into(), i18n::tr(locale, &format!("doc_action.{action}"))),
            ],
            AppError::Store(StoreError::Domain(DomainError::OverCarry {
                line,
                open,
                requested,
            })) => vec![
                ("line".into(), line.to_string()),
                ("open".into(), open.clone()),
                ("requested".into(), requested.clone()),
            ],
            AppError::Invalid(fields) => {
                let first =
                    fields.first().map(|f| i18n::field_error(locale, "", f)).unwrap_or_default();
                vec![("first".into(), first), ("count".into(), fields.len().to_string())]
            }
            AppError::ImportRefused { kind, errors } => {
                let first = errors.first().map(|e| e.message(locale, kind)).unwrap_or_default();
                vec![("first".into(), first), ("count".into(), errors.len().to_string())]
            }
            _ => Vec::new(),
        };
        i18n::tr_with(locale, &format!("error.{}", self.code()), &params)
    }

    fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let ctx = ctx::current();
        let status = self.status();
        if !ctx.api {
            if matches!(self, AppError::Unauthenticated) {
                return Redirect::to("/login").into_response();
            }
            let page = crate::views::ErrorPage::new(
                &ctx.locale,
                status.as_u16(),
                self.message(&ctx.locale),
            );
            return match askama::Template::render(&page) {
                Ok(html) => (status, Html(html)).into_response(),
                Err(_) => (status, self.message(&ctx.locale)).into_response(),
            };
        }
        let fields: Vec<_> = match &self {
            AppError::Invalid(fields) => fields
                .iter()
                .map(|f| json!({"field": f.field, "code": f.rule, "message": i18n::field_error(&ctx.locale, "", f)}))
                .collect(),
            AppError::ImportRefused { kind, errors } => errors
                .iter()
                .map(|e| {
                    json!({
                        "field": e.api_field(),
                        "code": e.error.rule,
                        "message": e.message(&ctx.locale, kind),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let field = match &self {
            AppError::Invalid(fields) => fields.first().map(|f| f.field.clone()),
            AppError::ImportRefused { errors, .. } => errors.first().map(|e| e.api_field()),
            AppError::BadRequest { field, .. } => field.clone(),
            _ => None,
        };
        let body = json!({"error": {
            "code": self.code(),
            "message": self.message(&ctx.locale),
            "field": field,
            "fields": fields,
        }});
        (status, axum::Json(body)).into_response()
    }
}
