//! Administration API: the signed-in user, users, roles, settings, tokens, audit.
//!
//! The signed-in user's own endpoints (`/me...`) need only authentication; the rest need the
//! administrative resources `user`, `role`, `settings` and `audit` of the `admin` area. Bodies
//! are checked field by field: an unknown member, a wrong type or a broken rule answers 422
//! naming the field, and nothing is changed.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use papilio_core::FieldError;
use papilio_core::access::{Action, Grant};
use papilio_store::audit::{self, AuditEntry, AuditFilter};
use papilio_store::company::{self, Company, Period};
use papilio_store::users::{self, ApiToken, Role, User};
use serde_json::{Map, Value as Json, json};

use crate::AppState;
use crate::api::{json_object, take_version};
use crate::ctx::{self, CurrentUser};
use crate::error::AppError;
use crate::pages::admin::{grant_resources, parse_audit_filter, role_label};
use crate::pages::master::parse_id;

/// `/api/v1/me`, `/api/v1/users`, `/api/v1/roles`... routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/locale", put(my_locale))
        .route("/me/password", post(my_password))
        .route("/me/tokens", get(my_tokens).post(create_token))
        .route("/me/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(read_user).patch(update_user))
        .route("/users/{id}/password", post(reset_password))
        .route("/roles", get(list_roles))
        .route("/roles/{code}", put(save_role))
        .route("/settings", get(settings).put(save_settings))
        .route("/audit", get(audit_list))
}

/// A user as JSON (never the password hash).
pub fn user_json(u: &User) -> Json {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "display_name": u.display_name,
        "locale": u.locale,
        "active": u.active,
        "roles": u.roles,
        "version": u.version,
    })
}

fn grants_json(grants: &[Grant]) -> Json {
    grants.iter().map(|g| json!({"resource": g.resource, "action": g.action.code()})).collect()
}

fn role_json(locale: &str, r: &Role) -> Json {
    json!({
        "code": r.code,
        "name": role_label(locale, &r.code),
        "builtin": r.builtin,
        "grants": grants_json(&r.grants),
    })
}

fn token_json(t: &ApiToken) -> Json {
    json!({
        "id": t.id.to_string(),
        "name": t.name,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "revoked": t.revoked,
    })
}

fn period_json(p: &Period) -> Json {
    json!({
        "fiscal_year": p.fiscal_year,
        "period": p.period,
        "start": p.start.to_string(),
        "end": p.end.to_string(),
        "closed": p.closed,
    })
}

fn company_json(c: &Company) -> Json {
    json!({
        "name": c.name,
        "base_currency": c.base_currency,
        "fiscal_year_start_month": c.fiscal_year_start_month,
        "valuation_scope": c.valuation_scope,
        "version": c.version,
    })
}

fn audit_json(e: &AuditEntry) -> Json {
    json!({
        "id": e.id.to_string(),
        "entity": e.entity,
        "entity_id": e.entity_id.to_string(),
        "action": e.action,
        "user": e.user,
        "at": e.at,
        "before": e.before,
        "after": e.after,
    })
}

/// Reads the members of a JSON body one by one, collecting field errors, and refuses members
/// nobody asked for.
struct Body {
    map: Map<String, Json>,
    errors: Vec<FieldError>,
}

impl Body {
    fn parse(headers: &HeaderMap, bytes: &Bytes) -> Result<Body, AppError> {
        Ok(Body { map: json_object(headers, bytes)?, errors: Vec::new() })
    }

    /// A text member; absent or null is `None`.
    fn text(&mut self, field: &str) -> Option<String> {
        match self.map.remove(field) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s),
            Some(_) => {
                self.errors.push(FieldError::new(field, "field.wrong_type"));
                None
            }
        }
    }

    /// A text member that must be there.
    fn required_text(&mut self, field: &str) -> String {
        let present = self.map.get(field).is_some_and(|v| !v.is_null());
        let value = self.text(field);
        if !present {
            self.errors.push(FieldError::new(field, "field.required"));
        }
        value.unwrap_or_default()
    }

    /// A yes/no member.
    fn boolean(&mut self, field: &str) -> Option<bool> {
        match self.map.remove(field) {
            None | Some(Json::Null) => None,
            Some(Json::Bool(b)) => Some(b),
            Some(Json::String(s)) if s == "true" || s == "false" => Some(s == "true"),
            Some(_) => {
                self.errors.push(FieldError::new(field, "field.not_bool"));
                None
            }
        }
    }

    /// A whole-number member, given as a number or as text.
    fn integer(&mut self, field: &str) -> Option<i64> {
        let parsed = match self.map.remove(field) {
            None | Some(Json::Null) => return None,
            Some(Json::Number(n)) => n.as_i64(),
            Some(Json::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        if parsed.is_none() {
            self.errors.push(FieldError::new(field, "field.not_integer"));
        }
        parsed
    }

    /// A list of text members.
    fn strings(&mut self, field: &str) -> Option<Vec<String>> {
        match self.map.remove(field) {
            None | Some(Json::Null) => None,
            Some(Json::Array(items)) => {
                let texts: Option<Vec<String>> =
                    items.into_iter().map(|v| v.as_str().map(str::to_owned)).collect();
                if texts.is_none() {
                    self.errors.push(FieldError::new(field, "field.wrong_type"));
                }
                texts
            }
            Some(_) => {
                self.errors.push(FieldError::new(field, "field.wrong_type"));
                None
            }
        }
    }

    /// Ends reading: refuses what is left over and reports every field error at once.
    fn finish(mut self) -> Result<(), AppError> {
        for key in self.map.keys() {
            self.errors.push(FieldError::new(key.clone(), "field.unknown"));
        }
        if self.errors.is_empty() { Ok(()) } else { Err(AppError::Invalid(self.errors)) }
    }
}

async fn me(user: CurrentUser) -> Response {
    axum::Json(json!({
        "user": user_json(&user.user),
        "roles": user.user.roles,
        "locale": user.user.locale,
        "grants": grants_json(&user.grants),
    }))
    .into_response()
}

async fn my_locale(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let mut body = Body::parse(&headers, &body)?;
    let locale = body.required_text("locale");
    body.finish()?;
    users::set_locale(&state.db, user.user.id, &locale).await?;
    Ok(axum::Json(json!({"locale": locale})).into_response())
}

async fn my_password(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let mut body_in = Body::parse(&headers, &body)?;
    let current = body_in.required_text("current");
    let new = body_in.required_text("new");
    body_in.finish()?;
    // A browser session that changes its password stays signed in; its other sessions end.
    let keep = user.csrf.as_ref().and_then(|_| ctx::cookie(&headers, ctx::SESSION_COOKIE));
    users::change_own_password(&state.db, user.user.id, &current, &new, keep.as_deref()).await?;
    tracing::info!(user.name = %user.user.username, "password changed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn my_tokens(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let tokens = users::api_tokens(&state.db, user.user.id).await?;
    Ok(axum::Json(json!({"data": tokens.iter().map(token_json).collect::<Vec<_>>()}))
        .into_response())
}

async fn create_token(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let mut body = Body::parse(&headers, &body)?;
    let name = body.required_text("name");
    body.finish()?;
    let (id, secret) = users::issue_api_token(&state.db, user.user.id, &name).await?;
    tracing::info!(user.name = %user.user.username, api_token.id = id, "API token issued");
    let answer = json!({"id": id.to_string(), "name": name.trim(), "token": secret});
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    users::revoke_api_token(&state.db, user.user.id, id).await?;
    tracing::info!(user.name = %user.user.username, api_token.id = id, "API token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_users(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Read)?;
    let all = users::list_users(&state.db).await?;
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    Ok(axum::Json(json!({
        "data": all.iter().map(user_json).collect::<Vec<_>>(),
        "page": 1,
        "per_page": total.max(1),
        "total": total,
    }))
    .into_response())
}

async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Create)?;
    let mut body = Body::parse(&headers, &body)?;
    let username = body.required_text("username");
    let display_name = body.text("display_name").unwrap_or_else(|| username.clone());
    let password = body.required_text("password");
    let locale = body.text("locale").unwrap_or_else(|| "zh-CN".to_owned());
    let roles = body.strings("roles").unwrap_or_default();
    body.finish()?;
    let created = users::create_user(
        &state.db,
        username.trim(),
        display_name.trim(),
        &password,
        &locale,
        &roles,
        Some(user.user.id),
    )
    .await?;
    tracing::info!(user.name = %created.username, by = %user.user.username, "user created");
    Ok((StatusCode::CREATED, axum::Json(user_json(&created))).into_response())
}

async fn read_user(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Read)?;
    let found = users::user_by_id(&state.db, parse_id(&id)?).await?;
    Ok(axum::Json(user_json(&found)).into_response())
}

/// Refuses an administrator's attempt to deactivate their own account, which would lock them
/// out in the middle of their work.
pub fn check_not_self_deactivation(
    user: &CurrentUser,
    id: i64,
    active: bool,
) -> Result<(), AppError> {
    if id == user.user.id && !active {
        return Err(AppError::Invalid(vec![FieldError::new("active", "user.deactivate_self")]));
    }
    Ok(())
}

async fn update_user(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Update)?;
    let id = parse_id(&id)?;
    let mut body = Body::parse(&headers, &body)?;
    body.map.remove("id");
    body.map.remove("username");
    let version = take_version(&mut body.map)?;
    let display_name = body.text("display_name");
    let locale = body.text("locale");
    let active = body.boolean("active");
    let roles = body.strings("roles");
    body.finish()?;

    let current = users::user_by_id(&state.db, id).await?;
    let active = active.unwrap_or(current.active);
    check_not_self_deactivation(&user, id, active)?;
    let updated = users::update_user(
        &state.db,
        id,
        version,
        display_name.as_deref().map_or(current.display_name.as_str(), str::trim),
        locale.as_deref().unwrap_or(&current.locale),
        active,
        roles.as_deref().unwrap_or(&current.roles),
        user.user.id,
    )
    .await?;
    tracing::info!(user.name = %updated.username, by = %user.user.username, "user changed");
    Ok(axum::Json(user_json(&updated)).into_response())
}

async fn reset_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Update)?;
    let id = parse_id(&id)?;
    let mut body = Body::parse(&headers, &body)?;
    let password = body.required_text("password");
    body.finish()?;
    users::reset_password(&state.db, id, &password, user.user.id).await?;
    tracing::info!(user.id = id, by = %user.user.username, "password reset");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_roles(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Read)?;
    let roles = users::roles(&state.db).await?;
    let locale = &user.user.locale;
    Ok(axum::Json(json!({"data": roles.iter().map(|r| role_json(locale, r)).collect::<Vec<_>>()}))
        .into_response())
}

/// Reads `grants` of a role body: a list of `{resource, action}` naming known resources and
/// actions. Errors name the member, e.g. `grants[2].action`.
fn parse_grants(state: &AppState, value: Option<Json>) -> Result<Vec<Grant>, Vec<FieldError>> {
    let items = match value {
        Some(Json::Array(items)) => items,
        None | Some(Json::Null) => return Err(vec![FieldError::new("grants", "field.required")]),
        Some(_) => return Err(vec![FieldError::new("grants", "field.wrong_type")]),
    };
    let known = grant_resources(state);
    let mut grants = Vec::new();
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let resource = item.get("resource").and_then(Json::as_str);
        let action = item.get("action").and_then(Json::as_str);
        let fields_ok = item.as_object().is_some_and(|o| o.len() == 2);
        match (resource, action.and_then(Action::from_code), fields_ok) {
            (Some(r), Some(a), true) if known.iter().any(|k| k == r) => {
                let grant = Grant { resource: r.to_owned(), action: a };
                if !grants.contains(&grant) {
                    grants.push(grant);
                }
            }
            (Some(r), Some(_), true) => errors.push(
                FieldError::new(format!("grants[{i}].resource"), "role.unknown_resource")
                    .with("value", r),
            ),
            (Some(_), None, true) => errors.push(
                FieldError::new(format!("grants[{i}].action"), "role.unknown_action")
                    .with("value", action.unwrap_or("")),
            ),
            _ => errors.push(FieldError::new(format!("grants[{i}]"), "role.bad_grant")),
        }
    }
    if errors.is_empty() { Ok(grants) } else { Err(errors) }
}

/// Refuses to redefine a built-in role, before anything else is checked.
pub async fn check_not_builtin(state: &AppState, code: &str) -> Result<bool, AppError> {
    let roles = users::roles(&state.db).await?;
    let existing = roles.iter().find(|r| r.code == code);
    let builtin = existing.is_some_and(|r| r.builtin)
        || papilio_core::access::BUILTIN_ROLES.iter().any(|r| r.code == code);
    if builtin {
        return Err(AppError::Invalid(vec![
            FieldError::new("code", "role.builtin").with("value", code),
        ]));
    }
    Ok(existing.is_some())
}

async fn save_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Update)?;
    let existed = check_not_builtin(&state, &code).await?;
    let mut map = json_object(&headers, &body)?;
    map.remove("code");
    let parsed = parse_grants(&state, map.remove("grants"));
    let mut errors: Vec<FieldError> =
        map.keys().map(|k| FieldError::new(k.clone(), "field.unknown")).collect();
    let grants = match parsed {
        Ok(grants) => grants,
        Err(more) => {
            errors.extend(more);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    users::save_role(&state.db, &code, &grants, user.user.id).await?;
    tracing::info!(role.code = %code, by = %user.user.username, "role saved");
    let roles = users::roles(&state.db).await?;
    let saved = roles.iter().find(|r| r.code == code).ok_or(AppError::NotFound)?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, axum::Json(role_json(&user.user.locale, saved))).into_response())
}

/// The company settings with the fiscal periods, as both settings routes answer.
async fn settings_answer(state: &AppState) -> Result<Response, AppError> {
    let c = company::company(&state.db).await?;
    let periods = company::periods(&state.db).await?;
    Ok(axum::Json(json!({
        "company": company_json(&c),
        "periods": periods.iter().map(period_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn settings(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require("settings", "admin", Action::Read)?;
    settings_answer(&state).await
}

async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require("settings", "admin", Action::Update)?;
    let mut body = Body::parse(&headers, &body)?;
    let version = take_version(&mut body.map)?;
    let name = body.text("name");
    let base_currency = body.text("base_currency");
    let month = body.integer("fiscal_year_start_month");
    let scope = body.text("valuation_scope");
    body.finish()?;

    let current = company::company(&state.db).await?;
    let month = match month {
        None => current.fiscal_year_start_month,
        Some(m) => u32::try_from(m).ok().filter(|m| (1..=12).contains(m)).ok_or_else(|| {
            AppError::Invalid(vec![
                FieldError::new("fiscal_year_start_month", "field.out_of_range")
                    .with("min", 1)
                    .with("max", 12),
            ])
        })?,
    };
    let wanted = Company {
        name: name.unwrap_or(current.name),
        base_currency: base_currency.map_or(current.base_currency, |c| c.trim().to_uppercase()),
        fiscal_year_start_month: month,
        valuation_scope: scope.unwrap_or(current.valuation_scope),
        version,
    };
    let today = chrono::Utc::now().date_naive();
    company::save_company(&state.db, &wanted, today, user.user.id).await?;
    tracing::info!(by = %user.user.username, "company settings changed");
    settings_answer(&state).await
}

async fn audit_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("audit", "admin", Action::Read)?;
    let filter: AuditFilter = parse_audit_filter(&params)?;
    let list = audit::list(&state.db, &filter).await?;
    Ok(axum::Json(json!({
        "data": list.entries.iter().map(audit_json).collect::<Vec<_>>(),
        "page": list.page,
        "per_page": list.per_page,
        "total": list.total,
    }))
    .into_response())
}
