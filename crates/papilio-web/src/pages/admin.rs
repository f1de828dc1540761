//! Administration pages: users, roles, company settings, API tokens, the audit trail.
//!
//! `/admin/...` pages need the administrative resources `user`, `role`, `settings` and
//! `audit` of the `admin` area; `/me` is every signed-in user's own page (profile, language,
//! password, API tokens). A refused form is shown again with 422 and each message next to its
//! field, as the master-data pages do.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use papilio_core::access::{self, Action, Grant};
use papilio_core::{DomainError, FieldError, entities};
use papilio_store::StoreError;
use papilio_store::audit::{self, AuditEntry, AuditFilter};
use papilio_store::company::{self, Company};
use papilio_store::master::{self, ListQuery};
use papilio_store::users::{self, User};

use crate::AppState;
use crate::api::admin::{check_not_builtin, check_not_self_deactivation};
use crate::ctx::{self, CurrentUser};
use crate::error::AppError;
use crate::i18n;
use crate::pages::master::parse_id;
use crate::pages::{chrome, render};
use crate::views::{Chrome, Pager};

/// `/admin/...` and `/me` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users_list))
        .route("/admin/users/new", get(user_new).post(user_create))
        .route("/admin/users/{id}", get(user_edit).post(user_update))
        .route("/admin/users/{id}/password", post(user_password))
        .route("/admin/roles", get(roles_list))
        .route("/admin/roles/new", get(role_new).post(role_create))
        .route("/admin/roles/{code}", get(role_edit).post(role_update))
        .route("/admin/settings", get(settings_form).post(settings_save))
        .route("/admin/audit", get(audit_trail))
        .route("/me", get(me_page).post(me_save))
        .route("/me/password", post(me_password))
        .route("/me/tokens", post(me_token_create))
        .route("/me/tokens/{id}/revoke", post(me_token_revoke))
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/// The messages of a refused form, each by its field.
#[derive(Debug, Clone, Default)]
pub struct FieldMessages(Vec<(String, String)>);

impl FieldMessages {
    /// The messages of `errors` in `locale`.
    pub fn new(locale: &str, errors: &[FieldError]) -> Self {
        FieldMessages(
            errors.iter().map(|e| (e.field.clone(), i18n::rule_text(locale, e))).collect(),
        )
    }

    /// The message for `field`, if it was refused.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }

    /// Whether `field` was refused.
    pub fn has(&self, field: &str) -> bool {
        self.of(field).is_some()
    }

    /// Every message as "label: text", for a form that shows them together.
    pub fn all(&self, locale: &str) -> Vec<String> {
        self.0.iter().map(|(f, m)| format!("{}: {m}", i18n::field_label(locale, "", f))).collect()
    }
}

/// What a refused save shows: field messages by their fields, anything else on top of the
/// form, and the status to answer with. Errors that are not the user's input pass through.
fn refusal(
    locale: &str,
    e: AppError,
) -> Result<(FieldMessages, Option<String>, StatusCode), AppError> {
    match e {
        AppError::Invalid(fields)
        | AppError::Store(StoreError::Domain(DomainError::Invalid(fields))) => {
            Ok((FieldMessages::new(locale, &fields), None, StatusCode::UNPROCESSABLE_ENTITY))
        }
        e @ AppError::Store(
            StoreError::Stale { .. }
            | StoreError::Duplicate { .. }
            | StoreError::InUse { .. }
            | StoreError::Busy,
        ) => {
            let status = e.status();
            Ok((FieldMessages::default(), Some(e.message(locale)), status))
        }
        other => Err(other),
    }
}

/// A role's name in `locale`: the catalogue's `role.<code>` for built-in roles, the code for
/// roles administrators made.
pub fn role_label(locale: &str, code: &str) -> String {
    let key = format!("role.{code}");
    let text = i18n::tr(locale, &key);
    if text == key { code.to_owned() } else { text }
}

/// The name of a language, in that language.
fn locale_label(locale: &str, code: &str) -> String {
    i18n::tr(locale, &format!("lang.{code}"))
}

fn locale_options(locale: &str) -> Vec<(String, String)> {
    users::LOCALES.iter().map(|l| ((*l).to_owned(), locale_label(locale, l))).collect()
}

/// Every resource a grant may name, in the order the role editor lists them: everything,
/// each area, each master-data kind, each document type, the administrative resources.
pub fn grant_resources(state: &AppState) -> Vec<String> {
    let mut out = vec!["*".to_owned()];
    out.extend(access::AREAS.iter().map(|a| format!("area:{a}")));
    out.extend(entities::ALL.iter().map(|d| d.kind.to_owned()));
    out.extend(state.docs.iter().map(|t| t.code.to_owned()));
    out.extend(access::ADMIN_RESOURCES.iter().map(|r| (*r).to_owned()));
    out
}

/// How a grant's resource reads in `locale`.
pub fn resource_label(locale: &str, resource: &str) -> String {
    if resource == "*" {
        return i18n::tr(locale, "role.everything");
    }
    if let Some(area) = resource.strip_prefix("area:") {
        let name = i18n::tr(locale, &format!("area.{area}"));
        return i18n::tr_with(locale, "role.whole_area", &[("area".into(), name)]);
    }
    if access::ADMIN_RESOURCES.contains(&resource) {
        return i18n::tr(locale, &format!("admin.{resource}"));
    }
    i18n::entity_label(locale, resource)
}

/// The one-time notice a redirect asked for with `?done=...`.
fn notice(locale: &str, params: &[(String, String)]) -> Option<String> {
    let done = params.iter().find(|(k, _)| k == "done").map(|(_, v)| v.as_str())?;
    let key = match done {
        "created" => "notice.created",
        "saved" => "notice.saved",
        "password" => "notice.password_changed",
        "revoked" => "notice.token_revoked",
        _ => return None,
    };
    Some(i18n::tr(locale, key))
}

/// The last value posted for `name` (a checkbox's value beats its hidden `false`).
fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Every value posted for `name` (checkbox groups).
fn all_of(pairs: &[(String, String)], name: &str) -> Vec<String> {
    pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

// ---------------------------------------------------------------------------------------------
// Users

/// One user in the list.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Id, as text.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// Shown name.
    pub display_name: String,
    /// Language, by name.
    pub locale: String,
    /// Role names, translated.
    pub roles: String,
    /// Whether the user may sign in.
    pub active: bool,
}

/// The list of users.
#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    /// Chrome.
    pub c: Chrome,
    /// Users by user name.
    pub rows: Vec<UserRow>,
    /// May create users.
    pub can_create: bool,
}

/// A role offered as a checkbox.
#[derive(Debug, Clone)]
pub struct RoleOption {
    /// Code, the checkbox value.
    pub code: String,
    /// Translated name.
    pub label: String,
    /// Whether the user has it.
    pub checked: bool,
}

/// The form that creates or edits a user, with the password reset when editing.
#[derive(Template)]
#[template(path = "admin_user_form.html")]
pub struct UserFormPage {
    /// Chrome.
    pub c: Chrome,
    /// The user's id when editing.
    pub id: Option<String>,
    /// Version read, when editing.
    pub version: i64,
    /// Sign-in name.
    pub username: String,
    /// Shown name.
    pub display_name: String,
    /// Language code.
    pub locale: String,
    /// Whether the user may sign in.
    pub active: bool,
    /// Language choices (code, name).
    pub locales: Vec<(String, String)>,
    /// Every role, checked where the user has it.
    pub roles: Vec<RoleOption>,
    /// Field messages.
    pub errors: FieldMessages,
    /// A message for the whole form.
    pub form_error: Option<String>,
    /// A one-time notice after a save.
    pub notice: Option<String>,
    /// May save.
    pub can_save: bool,
}

/// What a user form holds, typed in or read.
#[derive(Debug, Clone, Default)]
struct UserInput {
    username: String,
    display_name: String,
    locale: String,
    active: bool,
    roles: Vec<String>,
}

impl UserInput {
    fn of(u: &User) -> Self {
        UserInput {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            locale: u.locale.clone(),
            active: u.active,
            roles: u.roles.clone(),
        }
    }

    fn posted(pairs: &[(String, String)]) -> Self {
        UserInput {
            username: last(pairs, "username").unwrap_or("").trim().to_owned(),
            display_name: last(pairs, "display_name").unwrap_or("").trim().to_owned(),
            locale: last(pairs, "locale").unwrap_or("").to_owned(),
            active: last(pairs, "active") == Some("true"),
            roles: all_of(pairs, "roles"),
        }
    }
}

async fn users_list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Read)?;
    let locale = user.user.locale.clone();
    let rows = users::list_users(&state.db)
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id.to_string(),
            locale: locale_label(&locale, &u.locale),
            roles: u.roles.iter().map(|r| role_label(&locale, r)).collect::<Vec<_>>().join(", "),
            username: u.username,
            display_name: u.display_name,
            active: u.active,
        })
        .collect();
    render(&UsersPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "admin.user")),
        rows,
        can_create: user.can("user", "admin", Action::Create),
    })
}

#[allow(clippy::too_many_arguments)]
async fn user_form(
    state: &AppState,
    user: &CurrentUser,
    id: Option<i64>,
    version: i64,
    input: &UserInput,
    errors: FieldMessages,
    form_error: Option<String>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let roles = users::roles(&state.db)
        .await?
        .into_iter()
        .map(|r| RoleOption {
            label: role_label(&locale, &r.code),
            checked: input.roles.contains(&r.code),
            code: r.code,
        })
        .collect();
    let title = i18n::tr(&locale, if id.is_some() { "admin.edit_user" } else { "admin.new_user" });
    let action = if id.is_some() { Action::Update } else { Action::Create };
    render(&UserFormPage {
        c: chrome(state, user, &title),
        id: id.map(|i| i.to_string()),
        version,
        username: input.username.clone(),
        display_name: input.display_name.clone(),
        locale: input.locale.clone(),
        active: input.active,
        locales: locale_options(&locale),
        roles,
        errors,
        form_error,
        notice,
        can_save: user.can("user", "admin", action),
    })
}

async fn user_new(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Create)?;
    let input =
        UserInput { locale: user.user.locale.clone(), active: true, ..UserInput::default() };
    user_form(&state, &user, None, 0, &input, FieldMessages::default(), None, None).await
}

async fn user_create(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Create)?;
    let input = UserInput { active: true, ..UserInput::posted(&pairs) };
    let password = last(&pairs, "password").unwrap_or("");
    let result = users::create_user(
        &state.db,
        &input.username,
        &input.display_name,
        password,
        &input.locale,
        &input.roles,
        Some(user.user.id),
    )
    .await;
    match result {
        Ok(created) => {
            tracing::info!(user.name = %created.username, by = %user.user.username, "user created");
            Ok(Redirect::to(&format!("/admin/users/{}?done=created", created.id)).into_response())
        }
        Err(e) => {
            let (errors, form_error, status) = refusal(&user.user.locale, e.into())?;
            let page = user_form(&state, &user, None, 0, &input, errors, form_error, None).await?;
            Ok(with_status(page, status))
        }
    }
}

async fn user_edit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Read)?;
    let found = users::user_by_id(&state.db, parse_id(&id)?).await?;
    let note = notice(&user.user.locale, &params);
    let input = UserInput::of(&found);
    user_form(
        &state,
        &user,
        Some(found.id),
        found.version,
        &input,
        FieldMessages::default(),
        None,
        note,
    )
    .await
}

async fn user_update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Update)?;
    let id = parse_id(&id)?;
    let current = users::user_by_id(&state.db, id).await?;
    let input = UserInput { username: current.username.clone(), ..UserInput::posted(&pairs) };
    let version = last(&pairs, "_version").and_then(|v| v.parse().ok()).unwrap_or(0);
    let result = match check_not_self_deactivation(&user, id, input.active) {
        Err(e) => Err(e),
        Ok(()) => users::update_user(
            &state.db,
            id,
            version,
            &input.display_name,
            &input.locale,
            input.active,
            &input.roles,
            user.user.id,
        )
        .await
        .map_err(AppError::from),
    };
    match result {
        Ok(saved) => {
            tracing::info!(user.name = %saved.username, by = %user.user.username, "user changed");
            Ok(Redirect::to(&format!("/admin/users/{id}?done=saved")).into_response())
        }
        Err(e) => {
            let (errors, form_error, status) = refusal(&user.user.locale, e)?;
            let page =
                user_form(&state, &user, Some(id), version, &input, errors, form_error, None)
                    .await?;
            Ok(with_status(page, status))
        }
    }
}

async fn user_password(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("user", "admin", Action::Update)?;
    let id = parse_id(&id)?;
    let password = last(&pairs, "password").unwrap_or("");
    match users::reset_password(&state.db, id, password, user.user.id).await {
        Ok(()) => {
            tracing::info!(user.id = id, by = %user.user.username, "password reset");
            Ok(Redirect::to(&format!("/admin/users/{id}?done=password")).into_response())
        }
        Err(e) => {
            let (errors, form_error, status) = refusal(&user.user.locale, e.into())?;
            let found = users::user_by_id(&state.db, id).await?;
            let input = UserInput::of(&found);
            let page =
                user_form(&state, &user, Some(id), found.version, &input, errors, form_error, None)
                    .await?;
            Ok(with_status(page, status))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Roles

/// A role as listed: its name and what it allows, resource by resource.
#[derive(Debug, Clone)]
pub struct RoleSummary {
    /// Code.
    pub code: String,
    /// Translated name.
    pub label: String,
    /// Ships with Papilio (read-only).
    pub builtin: bool,
    /// (resource, actions) in words.
    pub grants: Vec<(String, String)>,
}

/// Every role with its grants.
#[derive(Template)]
#[template(path = "admin_roles.html")]
pub struct RolesPage {
    /// Chrome.
    pub c: Chrome,
    /// Built-in roles first.
    pub roles: Vec<RoleSummary>,
    /// May define roles.
    pub can_edit: bool,
    /// A one-time notice after a save.
    pub notice: Option<String>,
}

/// One checkbox of the role matrix.
#[derive(Debug, Clone)]
pub struct MatrixCell {
    /// `resource|action`, the posted value.
    pub value: String,
    /// Whether the role has the grant.
    pub checked: bool,
}

/// One resource's row of the role matrix.
#[derive(Debug, Clone)]
pub struct MatrixRow {
    /// The resource as stored.
    pub resource: String,
    /// Translated.
    pub label: String,
    /// One cell per action, in [`Action::ALL`] order.
    pub cells: Vec<MatrixCell>,
}

/// The role editor: resources × actions as checkboxes; read-only for built-in roles.
#[derive(Template)]
#[template(path = "admin_role_form.html")]
pub struct RoleFormPage {
    /// Chrome.
    pub c: Chrome,
    /// The role's code (typed in, for a new role).
    pub code: String,
    /// A role being defined.
    pub is_new: bool,
    /// Shown without inputs.
    pub readonly: bool,
    /// Translated name.
    pub label: String,
    /// Action names, the matrix's columns.
    pub actions: Vec<String>,
    /// The matrix's rows.
    pub rows: Vec<MatrixRow>,
    /// Field messages.
    pub errors: FieldMessages,
    /// Every field message, for the top of the form.
    pub messages: Vec<String>,
    /// A message for the whole form.
    pub form_error: Option<String>,
}

async fn roles_list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Read)?;
    let locale = user.user.locale.clone();
    let order = grant_resources(&state);
    let roles = users::roles(&state.db)
        .await?
        .into_iter()
        .map(|r| {
            let mut resources: Vec<&str> = r.grants.iter().map(|g| g.resource.as_str()).collect();
            resources.sort_by_key(|res| order.iter().position(|o| o == res).unwrap_or(usize::MAX));
            resources.dedup();
            let grants = resources
                .into_iter()
                .map(|res| {
                    let actions: Vec<String> = Action::ALL
                        .iter()
                        .filter(|a| r.grants.iter().any(|g| g.resource == res && g.action == **a))
                        .map(|a| i18n::tr(&locale, &format!("action.{}", a.code())))
                        .collect();
                    (resource_label(&locale, res), actions.join(", "))
                })
                .collect();
            RoleSummary {
                label: role_label(&locale, &r.code),
                code: r.code,
                builtin: r.builtin,
                grants,
            }
        })
        .collect();
    render(&RolesPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "admin.role")),
        roles,
        can_edit: user.can("role", "admin", Action::Update),
        notice: notice(&locale, &params),
    })
}

#[allow(clippy::too_many_arguments)]
fn role_form(
    state: &AppState,
    user: &CurrentUser,
    code: &str,
    is_new: bool,
    readonly: bool,
    grants: &[Grant],
    errors: FieldMessages,
    form_error: Option<String>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let rows = grant_resources(state)
        .into_iter()
        .map(|res| MatrixRow {
            label: resource_label(&locale, &res),
            cells: Action::ALL
                .iter()
                .map(|a| MatrixCell {
                    value: format!("{res}|{}", a.code()),
                    checked: grants.iter().any(|g| g.resource == res && g.action == *a),
                })
                .collect(),
            resource: res,
        })
        .collect();
    let title =
        if is_new { i18n::tr(&locale, "admin.new_role") } else { role_label(&locale, code) };
    let actions =
        Action::ALL.iter().map(|a| i18n::tr(&locale, &format!("action.{}", a.code()))).collect();
    render(&RoleFormPage {
        c: chrome(state, user, &title),
        code: code.to_owned(),
        is_new,
        readonly,
        label: title,
        actions,
        rows,
        messages: errors.all(&locale),
        errors,
        form_error,
    })
}

async fn role_new(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Update)?;
    role_form(&state, &user, "", true, false, &[], FieldMessages::default(), None)
}

async fn role_edit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Read)?;
    let roles = users::roles(&state.db).await?;
    let role = roles.iter().find(|r| r.code == code).ok_or(AppError::NotFound)?;
    let readonly = role.builtin || !user.can("role", "admin", Action::Update);
    let errors = FieldMessages::default();
    role_form(&state, &user, &role.code, false, readonly, &role.grants, errors, None)
}

/// Reads the checked cells of the role matrix; a cell naming an unknown resource or action is
/// refused.
fn posted_grants(
    state: &AppState,
    pairs: &[(String, String)],
) -> Result<Vec<Grant>, Vec<FieldError>> {
    let known = grant_resources(state);
    let mut grants = Vec::new();
    let mut errors = Vec::new();
    for value in all_of(pairs, "grant") {
        let parsed = value.split_once('|').and_then(|(res, action)| {
            let action = Action::from_code(action)?;
            known.iter().any(|k| k == res).then(|| Grant { resource: res.to_owned(), action })
        });
        match parsed {
            Some(g) if !grants.contains(&g) => grants.push(g),
            Some(_) => {}
            None => errors.push(FieldError::new("grants", "role.bad_grant").with("value", value)),
        }
    }
    if errors.is_empty() { Ok(grants) } else { Err(errors) }
}

async fn save_role_form(
    state: &AppState,
    user: &CurrentUser,
    code: &str,
    is_new: bool,
    pairs: &[(String, String)],
) -> Result<Response, AppError> {
    let parsed = posted_grants(state, pairs);
    let checked = parsed.clone().unwrap_or_default();
    let result = async {
        if is_new && users::role_exists(&state.db, code).await? {
            return Err(AppError::Invalid(vec![
                FieldError::new("code", "role.exists").with("value", code),
            ]));
        }
        check_not_builtin(state, code).await?;
        let grants = parsed.map_err(AppError::Invalid)?;
        users::save_role(&state.db, code, &grants, user.user.id).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(role.code = %code, by = %user.user.username, "role saved");
            Ok(Redirect::to("/admin/roles?done=saved").into_response())
        }
        Err(e) => {
            let (errors, form_error, status) = refusal(&user.user.locale, e)?;
            let page = role_form(state, user, code, is_new, false, &checked, errors, form_error)?;
            Ok(with_status(page, status))
        }
    }
}

async fn role_create(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Update)?;
    let code = last(&pairs, "code").unwrap_or("").trim().to_owned();
    save_role_form(&state, &user, &code, true, &pairs).await
}

async fn role_update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("role", "admin", Action::Update)?;
    if !users::role_exists(&state.db, &code).await? {
        return Err(AppError::NotFound);
    }
    save_role_form(&state, &user, &code, false, &pairs).await
}

// ---------------------------------------------------------------------------------------------
// Company settings

/// One fiscal period as shown.
#[derive(Debug, Clone)]
pub struct PeriodRow {
    /// Fiscal year.
    pub fiscal_year: i32,
    /// 1 to 12.
    pub period: u32,
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
    /// Whether it is closed.
    pub closed: bool,
}

/// The company settings form and the fiscal periods.
#[derive(Template)]
#[template(path = "admin_settings.html")]
pub struct SettingsPage {
    /// Chrome.
    pub c: Chrome,
    /// Company name.
    pub name: String,
    /// Base currency code.
    pub base_currency: String,
    /// First month of the fiscal year, as typed.
    pub month: String,
    /// Version read.
    pub version: i64,
    /// Currencies (code, name).
    pub currencies: Vec<(String, String)>,
    /// Months (number, name).
    pub months: Vec<(String, String)>,
    /// Fiscal periods, latest year first.
    pub periods: Vec<PeriodRow>,
    /// Field messages.
    pub errors: FieldMessages,
    /// A message for the whole form.
    pub form_error: Option<String>,
    /// A one-time notice after a save.
    pub notice: Option<String>,
    /// May save.
    pub can_save: bool,
    /// The valuation scope in force.
    pub valuation_scope: String,
}

#[allow(clippy::too_many_arguments)]
async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
    base_currency: &str,
    month: &str,
    version: i64,
    errors: FieldMessages,
    form_error: Option<String>,
    notice: Option<String>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let currency = entities::by_kind("currency").ok_or(AppError::NotFound)?;
    let q = ListQuery { page: 1, per_page: 500, ..ListQuery::default() };
    let name_field = if locale == "en" { "name_en" } else { "name_zh" };
    let currencies = master::list(&state.db, currency, &q)
        .await?
        .rows
        .into_iter()
        .filter_map(|r| {
            let code = r.values.get("code")?.to_input();
            let label = r.values.get(name_field).map(|v| v.to_input()).unwrap_or_default();
            Some((code, label))
        })
        .collect();
    let months =
        (1..=12u32).map(|m| (m.to_string(), i18n::tr(&locale, &format!("month.{m}")))).collect();
    let periods = company::periods(&state.db)
        .await?
        .into_iter()
        .map(|p| PeriodRow {
            fiscal_year: p.fiscal_year,
            period: p.period,
            start: p.start.to_string(),
            end: p.end.to_string(),
            closed: p.closed,
        })
        .collect();
    let valuation_scope = company::company(&state.db).await?.valuation_scope;
    render(&SettingsPage {
        valuation_scope,
        c: chrome(state, user, &i18n::tr(&locale, "admin.settings")),
        name: name.to_owned(),
        base_currency: base_currency.to_owned(),
        month: month.to_owned(),
        version,
        currencies,
        months,
        periods,
        errors,
        form_error,
        notice,
        can_save: user.can("settings", "admin", Action::Update),
    })
}

async fn settings_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("settings", "admin", Action::Read)?;
    let c = company::company(&state.db).await?;
    let month = c.fiscal_year_start_month.to_string();
    let note = notice(&user.user.locale, &params);
    let errors = FieldMessages::default();
    settings_page(&state, &user, &c.name, &c.base_currency, &month, c.version, errors, None, note)
        .await
}

async fn settings_save(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("settings", "admin", Action::Update)?;
    let name = last(&pairs, "name").unwrap_or("").to_owned();
    let base_currency = last(&pairs, "base_currency").unwrap_or("").trim().to_uppercase();
    let month = last(&pairs, "fiscal_year_start_month").unwrap_or("").trim().to_owned();
    let version = last(&pairs, "_version").and_then(|v| v.parse().ok()).unwrap_or(0);
    let scope = last(&pairs, "valuation_scope").unwrap_or("company").to_owned();
    let result = match month.parse::<u32>() {
        Err(_) => Err(AppError::Invalid(vec![FieldError::new(
            "fiscal_year_start_month",
            "field.not_integer",
        )])),
        Ok(m) => {
            let wanted = Company {
                name: name.clone(),
                base_currency: base_currency.clone(),
                fiscal_year_start_month: m,
                valuation_scope: scope.clone(),
                version,
            };
            let today = chrono::Utc::now().date_naive();
            company::save_company(&state.db, &wanted, today, user.user.id)
                .await
                .map_err(AppError::from)
        }
    };
    match result {
        Ok(()) => {
            tracing::info!(by = %user.user.username, "company settings changed");
            Ok(Redirect::to("/admin/settings?done=saved").into_response())
        }
        Err(e) => {
            let (errors, form_error, status) = refusal(&user.user.locale, e)?;
            let page = settings_page(
                &state,
                &user,
                &name,
                &base_currency,
                &month,
                version,
                errors,
                form_error,
                None,
            )
            .await?;
            Ok(with_status(page, status))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The audit trail

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

/// Reads the audit trail's filters from query-string pairs: `entity`, `entity_id`, `user`,
/// `from` and `to` (dates), `page` and `per_page`. Empty values mean no filter.
pub fn parse_audit_filter(params: &[(String, String)]) -> Result<AuditFilter, AppError> {
    let mut filter = AuditFilter::default();
    let mut errors = Vec::new();
    for (key, value) in params {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let int = |errors: &mut Vec<FieldError>| {
            value
                .parse::<i64>()
                .map_err(|_| errors.push(FieldError::new(key.clone(), "field.not_integer")))
                .ok()
        };
        let date = |errors: &mut Vec<FieldError>| {
            value
                .parse::<chrono::NaiveDate>()
                .map_err(|_| errors.push(FieldError::new(key.clone(), "field.not_date")))
                .ok()
        };
        match key.as_str() {
            "entity" => filter.entity = Some(value.to_owned()),
            "entity_id" => filter.entity_id = int(&mut errors),
            "user" => filter.user = Some(value.to_owned()),
            "from" => filter.from = date(&mut errors),
            "to" => filter.to = date(&mut errors),
            "page" => filter.page = int(&mut errors).unwrap_or(1).max(1),
            "per_page" => match int(&mut errors) {
                Some(n) if (1..=500).contains(&n) => filter.per_page = n,
                Some(_) => errors.push(
                    FieldError::new("per_page", "field.out_of_range")
                        .with("min", 1)
                        .with("max", 500),
                ),
                None => {}
            },
            "_csrf" | "done" => {}
            other => errors.push(FieldError::new(other, "field.unknown")),
        }
    }
    if errors.is_empty() { Ok(filter) } else { Err(AppError::Invalid(errors)) }
}

/// One entry of the global audit trail, with what it is about.
#[derive(Debug, Clone)]
pub struct TrailRow {
    /// The entity, translated.
    pub entity: String,
    /// The row's id.
    pub entity_id: String,
    /// A link to the row, where it has a page.
    pub href: Option<String>,
    /// When, who, what, which fields.
    pub row: AuditRow,
}

/// The global audit trail with filters and paging.
#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditTrailPage {
    /// Chrome.
    pub c: Chrome,
    /// Entity filter.
    pub entity: String,
    /// Entity id filter.
    pub entity_id: String,
    /// User name filter.
    pub user: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Entity choices (code, label).
    pub entities: Vec<(String, String)>,
    /// Entries, newest first.
    pub rows: Vec<TrailRow>,
    /// Paging.
    pub pager: Pager,
}

/// Where an audited row can be seen, if it has a page.
fn audit_href(entity: &str, id: i64) -> Option<String> {
    if entities::by_kind(entity).is_some() {
        return Some(format!("/m/{entity}/{id}"));
    }
    match entity {
        "user" => Some(format!("/admin/users/{id}")),
        "company" => Some("/admin/settings".to_owned()),
        "role" => Some("/admin/roles".to_owned()),
        _ => None,
    }
}

async fn audit_trail(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require("audit", "admin", Action::Read)?;
    let locale = user.user.locale.clone();
    let filter = parse_audit_filter(&params)?;
    let list = audit::list(&state.db, &filter).await?;

    let about: Vec<(String, i64)> =
        list.entries.iter().map(|e| (e.entity.clone(), e.entity_id)).collect();
    let rows = about
        .into_iter()
        .zip(audit_rows(&locale, list.entries))
        .map(|((entity, id), row)| TrailRow {
            entity: i18n::entity_label(&locale, &entity),
            entity_id: id.to_string(),
            href: audit_href(&entity, id),
            row,
        })
        .collect();
    let mut kinds: Vec<String> = entities::ALL.iter().map(|d| d.kind.to_owned()).collect();
    kinds.extend(["document", "user", "role", "company"].map(str::to_owned));
    let mut choices: Vec<(String, String)> = kinds
        .into_iter()
        .map(|k| (i18n::entity_label(&locale, &k), k))
        .map(|(l, k)| (k, l))
        .collect();
    choices.sort_by(|a, b| a.1.cmp(&b.1));

    let pages = ((list.total + list.per_page - 1) / list.per_page).max(1);
    let keep: Vec<(String, String)> =
        params.iter().filter(|(k, v)| k != "page" && !v.is_empty()).cloned().collect();
    let page_link = |n: i64| {
        let mut p = keep.clone();
        p.push(("page".into(), n.to_string()));
        format!("/admin/audit?{}", serde_urlencoded::to_string(&p).unwrap_or_default())
    };
    let pager = Pager {
        page: list.page,
        pages,
        total: list.total,
        prev: (list.page > 1).then(|| page_link(list.page - 1)),
        next: (list.page < pages).then(|| page_link(list.page + 1)),
    };
    let text = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    render(&AuditTrailPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "audit.title")),
        entity: filter.entity.clone().unwrap_or_default(),
        entity_id: filter.entity_id.map(|i| i.to_string()).unwrap_or_default(),
        user: filter.user.clone().unwrap_or_default(),
        from: text(filter.from),
        to: text(filter.to),
        entities: choices,
        rows,
        pager,
    })
}

// ---------------------------------------------------------------------------------------------
// The signed-in user's own page

/// One of the user's API tokens as listed.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Id, as text.
    pub id: String,
    /// What the owner called it.
    pub name: String,
    /// Created when.
    pub created_at: String,
    /// Last used when, or empty.
    pub last_used_at: String,
    /// Revoked.
    pub revoked: bool,
}

/// The signed-in user's page: profile, language, password and API tokens.
#[derive(Template)]
#[template(path = "me.html")]
pub struct MePage {
    /// Chrome.
    pub c: Chrome,
    /// Sign-in name.
    pub username: String,
    /// Shown name, as typed.
    pub display_name: String,
    /// Language code, as chosen.
    pub locale: String,
    /// Language choices (code, name).
    pub locales: Vec<(String, String)>,
    /// Role names, translated.
    pub roles: Vec<String>,
    /// The user's tokens, newest first.
    pub tokens: Vec<TokenRow>,
    /// A token's secret, shown once right after it was made.
    pub new_token: Option<String>,
    /// The name typed for a new token.
    pub token_name: String,
    /// Field messages of whichever form was refused.
    pub errors: FieldMessages,
    /// A message for the whole page.
    pub form_error: Option<String>,
    /// A one-time notice after a save.
    pub notice: Option<String>,
}

/// What the /me page shows besides the user's stored profile.
#[derive(Default)]
struct MeState {
    display_name: Option<String>,
    locale: Option<String>,
    new_token: Option<String>,
    token_name: String,
    errors: FieldMessages,
    form_error: Option<String>,
    notice: Option<String>,
}

async fn me_render(state: &AppState, user: &CurrentUser, s: MeState) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let tokens = users::api_tokens(&state.db, user.user.id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at.unwrap_or_default(),
            revoked: t.revoked,
        })
        .collect();
    render(&MePage {
        c: chrome(state, user, &i18n::tr(&locale, "me.title")),
        username: user.user.username.clone(),
        display_name: s.display_name.unwrap_or_else(|| user.user.display_name.clone()),
        locale: s.locale.unwrap_or_else(|| user.user.locale.clone()),
        locales: locale_options(&locale),
        roles: user.user.roles.iter().map(|r| role_label(&locale, r)).collect(),
        tokens,
        new_token: s.new_token,
        token_name: s.token_name,
        errors: s.errors,
        form_error: s.form_error,
        notice: s.notice,
    })
}

async fn me_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let notice = notice(&user.user.locale, &params);
    me_render(&state, &user, MeState { notice, ..MeState::default() }).await
}

async fn me_refused(
    state: &AppState,
    user: &CurrentUser,
    e: AppError,
    mut s: MeState,
) -> Result<Response, AppError> {
    let (errors, form_error, status) = refusal(&user.user.locale, e)?;
    s.errors = errors;
    s.form_error = form_error;
    Ok(with_status(me_render(state, user, s).await?, status))
}

async fn me_save(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let display_name = last(&pairs, "display_name").unwrap_or("").to_owned();
    let locale = last(&pairs, "locale").unwrap_or("").to_owned();
    match users::update_profile(&state.db, user.user.id, &display_name, &locale).await {
        Ok(_) => Ok(Redirect::to("/me?done=saved").into_response()),
        Err(e) => {
            let s = MeState {
                display_name: Some(display_name),
                locale: Some(locale),
                ..MeState::default()
            };
            me_refused(&state, &user, e.into(), s).await
        }
    }
}

async fn me_password(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let current = last(&pairs, "current").unwrap_or("");
    let new = last(&pairs, "new").unwrap_or("");
    let confirm = last(&pairs, "confirm").unwrap_or("");
    let result = if new != confirm {
        Err(AppError::Invalid(vec![FieldError::new("confirm", "password.mismatch")]))
    } else {
        // This browser stays signed in; the user's other sessions end.
        let keep = ctx::cookie(&headers, ctx::SESSION_COOKIE);
        users::change_own_password(&state.db, user.user.id, current, new, keep.as_deref())
            .await
            .map_err(AppError::from)
    };
    match result {
        Ok(()) => {
            tracing::info!(user.name = %user.user.username, "password changed");
            Ok(Redirect::to("/me?done=password").into_response())
        }
        Err(e) => me_refused(&state, &user, e, MeState::default()).await,
    }
}

async fn me_token_create(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let name = last(&pairs, "name").unwrap_or("").to_owned();
    match users::issue_api_token(&state.db, user.user.id, &name).await {
        Ok((id, secret)) => {
            tracing::info!(user.name = %user.user.username, api_token.id = id, "API token issued");
            let s = MeState { new_token: Some(secret), ..MeState::default() };
            me_render(&state, &user, s).await
        }
        Err(e) => {
            let s = MeState { token_name: name, ..MeState::default() };
            me_refused(&state, &user, e.into(), s).await
        }
    }
}

async fn me_token_revoke(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    users::revoke_api_token(&state.db, user.user.id, id).await?;
    tracing::info!(user.name = %user.user.username, api_token.id = id, "API token revoked");
    Ok(Redirect::to("/me?done=revoked").into_response())
}
