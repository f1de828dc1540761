//! Administration pages: users, roles, company settings, API tokens, the audit trail.

use askama::Template;
use axum::Router;
use axum::response::Response;
use papilio_store::audit::AuditEntry;

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::{chrome, render};
use crate::views::Chrome;

/// `/admin/...` and `/me` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// One audit entry as shown.
#[derive(Debug, Clone)]
pub struct AuditRow {
    /// When.
    pub at: String,
    /// Who.
    pub user: String,
    /// What.
    pub action: String,
    /// Changed fields: (field, before, after).
    pub changes: Vec<(String, String, String)>,
}

/// The audit trail of one record or document.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    /// Chrome.
    pub c: Chrome,
    /// What the trail is of.
    pub subject: String,
    /// Link back to it.
    pub back: String,
    /// Entries, oldest first.
    pub rows: Vec<AuditRow>,
}

fn flat(value: Option<&serde_json::Value>) -> Vec<(String, String)> {
    match value {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Turns audit entries into rows listing only the fields that changed.
pub fn audit_rows(locale: &str, entries: Vec<AuditEntry>) -> Vec<AuditRow> {
    entries
        .into_iter()
        .map(|e| {
            let before = flat(e.before.as_ref());
            let after = flat(e.after.as_ref());
            let mut keys: Vec<String> =
                before.iter().chain(after.iter()).map(|(k, _)| k.clone()).collect();
            keys.sort();
            keys.dedup();
            let find = |list: &[(String, String)], k: &str| {
                list.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default()
            };
            let changes = keys
                .into_iter()
                .filter_map(|k| {
                    let (b, a) = (find(&before, &k), find(&after, &k));
                    (b != a).then(|| (crate::i18n::field_label(locale, &e.entity, &k), b, a))
                })
                .collect();
            AuditRow {
                at: e.at,
                user: e.user.unwrap_or_default(),
                action: crate::i18n::tr(locale, &format!("audit_action.{}", e.action)),
                changes,
            }
        })
        .collect()
}

/// Renders the audit page for `entries`.
pub fn audit_page(
    state: &AppState,
    user: &CurrentUser,
    subject: &str,
    back: &str,
    entries: Vec<AuditEntry>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let title = crate::i18n::tr(&locale, "audit.title");
    render(&AuditPage {
        c: chrome(state, user, &title),
        subject: subject.to_owned(),
        back: back.to_owned(),
        rows: audit_rows(&locale, entries),
    })
}
