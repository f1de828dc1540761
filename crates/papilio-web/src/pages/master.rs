//! Master-data pages: a list with search, filters, sort and paging, and a form with
//! field-level messages, for every entity of `papilio_core::entities`.

use std::collections::BTreeMap;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use papilio_core::access::Action;
use papilio_core::entities;
use papilio_core::schema::{self, EntityDef, FieldKind, RawInput, Record, Value};
use papilio_core::{DomainError, FieldError};
use papilio_store::StoreError;
use papilio_store::master::{self, Direction, ListQuery};

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::{chrome, render};
use crate::views::{
    Cell, Column, Filter, FormField, ListRow, MasterFormPage, MasterListPage, Pager,
};

/// `/m/...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/{kind}", get(list))
        .route("/m/{kind}/new", get(new_form).post(create))
        .route("/m/{kind}/{id}", get(edit_form).post(update))
        .route("/m/{kind}/{id}/delete", post(delete))
        .route("/m/{kind}/{id}/audit", get(audit))
}

/// The entity called `kind`, or 404.
pub fn entity(kind: &str) -> Result<&'static EntityDef, AppError> {
    entities::by_kind(kind).ok_or(AppError::NotFound)
}

/// Parses a row id from a path.
pub fn parse_id(id: &str) -> Result<i64, AppError> {
    id.parse().map_err(|_| AppError::NotFound)
}

/// Builds a [`ListQuery`] from query-string pairs: `q`, `sort`, `dir`, `page`, `per_page` and
/// `f.<field>` (pages) or `<field>` (API) filters.
pub fn list_query(
    def: &EntityDef,
    params: &[(String, String)],
    filter_prefix: &str,
) -> Result<ListQuery, AppError> {
    let mut q = ListQuery { page: 1, per_page: 40, ..ListQuery::default() };
    for (key, value) in params {
        match key.as_str() {
            "q" => q.search = Some(value.clone()),
            "sort" if !value.is_empty() => q.sort = Some(value.clone()),
            "dir" => q.direction = if value == "desc" { Direction::Desc } else { Direction::Asc },
            "page" => q.page = value.parse().map_err(|_| bad_param("page"))?,
            "per_page" => q.per_page = value.parse().map_err(|_| bad_param("per_page"))?,
            "_csrf" | "format" | "imported" => {}
            other => {
                let Some(name) = other.strip_prefix(filter_prefix) else {
                    return Err(AppError::Invalid(vec![FieldError::new(other, "field.unknown")]));
                };
                if def.field(name).is_none() {
                    return Err(AppError::Invalid(vec![FieldError::new(name, "field.unknown")]));
                }
                if !value.is_empty() {
                    q.filters.insert(name.to_owned(), value.clone());
                }
            }
        }
    }
    if !(1..=500).contains(&q.per_page) {
        return Err(AppError::Invalid(vec![
            FieldError::new("per_page", "field.out_of_range").with("min", 1).with("max", 500),
        ]));
    }
    Ok(q)
}

fn bad_param(name: &str) -> AppError {
    AppError::Invalid(vec![FieldError::new(name, "field.not_integer")])
}

/// How a value shows in a list cell or form input, translated where it is a choice or flag.
pub fn display(locale: &str, field: &schema::FieldDef, value: &Value) -> String {
    match (field.kind, value) {
        (FieldKind::Bool, Value::Bool(b)) => {
            i18n::tr(locale, if *b { "common.yes" } else { "common.no" })
        }
        (FieldKind::Choice(_), Value::Text(code)) => i18n::tr(locale, &format!("choice.{code}")),
        _ => value.to_input(),
    }
}

fn encode_query(params: &[(String, String)]) -> String {
    serde_urlencoded::to_string(params).unwrap_or_default()
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Read)?;
    let locale = user.user.locale.clone();
    let q = list_query(def, &params, "f.")?;
    let page = master::list(&state.db, def, &q).await?;

    let without = |drop: &[&str]| -> Vec<(String, String)> {
        params.iter().filter(|(k, _)| !drop.contains(&k.as_str())).cloned().collect()
    };
    let listed: Vec<&schema::FieldDef> = def.fields.iter().filter(|f| f.listed).collect();
    let columns = listed
        .iter()
        .map(|f| {
            let current = q.sort.as_deref() == Some(f.name);
            let dir = if current && q.direction == Direction::Asc { "desc" } else { "asc" };
            let mut p = without(&["sort", "dir", "page"]);
            p.push(("sort".into(), f.name.into()));
            p.push(("dir".into(), dir.into()));
            Column {
                name: f.name.to_owned(),
                label: i18n::field_label(&locale, def.kind, f.name),
                sort_href: format!("/m/{kind}?{}", encode_query(&p)),
                sort_mark: match (current, q.direction) {
                    (false, _) => "",
                    (true, Direction::Asc) => "▲",
                    (true, Direction::Desc) => "▼",
                },
            }
        })
        .collect();
    let filters = def
        .fields
        .iter()
        .filter_map(|f| {
            let options: Vec<&str> = match f.kind {
                FieldKind::Choice(options) => options.to_vec(),
                FieldKind::Bool => vec!["true", "false"],
                _ => return None,
            };
            let selected = q.filters.get(f.name).cloned().unwrap_or_default();
            Some(Filter {
                name: f.name.to_owned(),
                label: i18n::field_label(&locale, def.kind, f.name),
                options: options
                    .into_iter()
                    .map(|o| {
                        let text = match f.kind {
                            FieldKind::Bool => i18n::tr(
                                &locale,
                                if o == "true" { "common.yes" } else { "common.no" },
                            ),
                            _ => i18n::tr(&locale, &format!("choice.{o}")),
                        };
                        (o.to_owned(), text, o == selected)
                    })
                    .collect(),
            })
        })
        .collect();
    let rows = page
        .rows
        .iter()
        .map(|r| ListRow {
            id: r.id.to_string(),
            cells: listed
                .iter()
                .map(|f| Cell {
                    text: display(&locale, f, r.values.get(f.name).unwrap_or(&Value::Null)),
                    numeric: matches!(f.kind, FieldKind::Decimal { .. } | FieldKind::Int { .. }),
                })
                .collect(),
        })
        .collect();
    let pages = ((page.total + page.per_page - 1) / page.per_page).max(1);
    let page_link = |n: i64| {
        let mut p = without(&["page"]);
        p.push(("page".into(), n.to_string()));
        format!("/m/{kind}?{}", encode_query(&p))
    };
    let pager = Pager {
        page: page.page,
        pages,
        total: page.total,
        prev: (page.page > 1).then(|| page_link(page.page - 1)),
        next: (page.page < pages).then(|| page_link(page.page + 1)),
    };
    let label = i18n::entity_label(&locale, def.kind);
    let notice = params
        .iter()
        .find(|(k, _)| k == "imported")
        .map(|(_, n)| i18n::tr_with(&locale, "import.done", &[("count".into(), n.clone())]));
    render(&MasterListPage {
        c: chrome(&state, &user, &label),
        kind: kind.clone(),
        label,
        q: q.search.clone().unwrap_or_default(),
        columns,
        filters,
        rows,
        pager,
        can_create: user.can(def.kind, def.area, Action::Create),
        can_import: user.can(def.kind, def.area, Action::Import),
        can_export: user.can(def.kind, def.area, Action::Export),
        query: encode_query(&without(&["page", "imported"])),
        notice,
    })
}

/// Up to this many suggestions are offered for a reference input.
const SUGGESTIONS: i64 = 200;

async fn form_fields(
    state: &AppState,
    locale: &str,
    def: &EntityDef,
    values: &BTreeMap<String, String>,
    errors: &[FieldError],
    editing: bool,
) -> Result<Vec<FormField>, AppError> {
    let mut out = Vec::new();
    for f in def.fields {
        let (input, options, maxlength) = match f.kind {
            FieldKind::Bool => ("checkbox", Vec::new(), 0),
            FieldKind::Choice(opts) => (
                "select",
                opts.iter()
                    .map(|o| ((*o).to_owned(), i18n::tr(locale, &format!("choice.{o}"))))
                    .collect(),
                0,
            ),
            FieldKind::Ref(_) => ("ref", Vec::new(), 64),
            FieldKind::Decimal { .. } | FieldKind::Int { .. } => ("number", Vec::new(), 0),
            FieldKind::Date => ("date", Vec::new(), 0),
            FieldKind::Code { max } | FieldKind::Text { max } => ("text", Vec::new(), max),
        };
        let suggestions = match f.kind {
            FieldKind::Ref(target) => suggestions(state, locale, target).await?,
            _ => Vec::new(),
        };
        let default = f.default.unwrap_or("");
        out.push(FormField {
            name: f.name.to_owned(),
            label: i18n::field_label(locale, def.kind, f.name),
            input,
            value: values
                .get(f.name)
                .cloned()
                .unwrap_or_else(|| if editing { String::new() } else { default.to_owned() }),
            required: f.required,
            readonly: editing && f.name == "code",
            options,
            ref_kind: match f.kind {
                FieldKind::Ref(t) => t.to_owned(),
                _ => String::new(),
            },
            suggestions,
            error: errors.iter().find(|e| e.field == f.name).map(|e| i18n::rule_text(locale, e)),
            maxlength,
        });
    }
    Ok(out)
}

async fn suggestions(
    state: &AppState,
    locale: &str,
    target: &str,
) -> Result<Vec<(String, String)>, AppError> {
    let Some(def) = entities::by_kind(target) else {
        // Users: offer user names.
        let users = papilio_store::users::list_users(&state.db).await?;
        return Ok(users.into_iter().map(|u| (u.username, u.display_name)).collect());
    };
    let q = ListQuery { page: 1, per_page: SUGGESTIONS, ..ListQuery::default() };
    let page = master::list(&state.db, def, &q).await?;
    let name_field = if locale == "en" { "name_en" } else { "name_zh" };
    Ok(page
        .rows
        .into_iter()
        .filter_map(|r| {
            let code = r.values.get("code")?.to_input();
            let name = r
                .values
                .get(name_field)
                .or_else(|| r.values.get("name"))
                .map(Value::to_input)
                .unwrap_or_default();
            Some((code, name))
        })
        .collect())
}

fn record_inputs(values: &Record) -> BTreeMap<String, String> {
    values.iter().map(|(k, v)| ((*k).to_owned(), v.to_input())).collect()
}

#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    def: &EntityDef,
    id: Option<i64>,
    version: i64,
    values: &BTreeMap<String, String>,
    errors: &[FieldError],
    form_error: Option<String>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let label = i18n::entity_label(&locale, def.kind);
    let fields = form_fields(state, &locale, def, values, errors, id.is_some()).await?;
    let can_save =
        user.can(def.kind, def.area, if id.is_some() { Action::Update } else { Action::Create });
    render(&MasterFormPage {
        c: chrome(state, user, &label),
        kind: def.kind.to_owned(),
        label,
        id: id.map(|i| i.to_string()),
        version,
        fields,
        form_error,
        can_save,
        can_delete: id.is_some() && user.can(def.kind, def.area, Action::Delete),
        deactivates: def.has_active(),
    })
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Create)?;
    form_page(&state, &user, def, None, 0, &BTreeMap::new(), &[], None).await
}

async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Read)?;
    let id = parse_id(&id)?;
    let mut conn = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let row = master::get(&mut conn, def, id).await?;
    drop(conn);
    form_page(&state, &user, def, Some(id), row.version, &record_inputs(&row.values), &[], None)
        .await
}

/// Splits a posted form into field input (last value wins, so a checkbox beats its hidden
/// `false`) and the version it was read at.
fn form_input(pairs: Vec<(String, String)>) -> (RawInput, i64) {
    let mut input = RawInput::new();
    let mut version = 0;
    for (k, v) in pairs {
        match k.as_str() {
            "_csrf" => {}
            "_version" => version = v.parse().unwrap_or(0),
            _ => {
                input.insert(k, v);
            }
        }
    }
    (input, version)
}

/// What a failed save shows: field messages stay by their fields, the rest on top.
fn split_error(
    locale: &str,
    e: AppError,
) -> Result<(Vec<FieldError>, Option<String>, StatusCode), AppError> {
    match e {
        AppError::Invalid(fields) => Ok((fields, None, StatusCode::UNPROCESSABLE_ENTITY)),
        AppError::Store(StoreError::Domain(DomainError::Invalid(fields))) => {
            Ok((fields, None, StatusCode::UNPROCESSABLE_ENTITY))
        }
        e @ AppError::Store(
            StoreError::Stale { .. }
            | StoreError::Duplicate { .. }
            | StoreError::InUse { .. }
            | StoreError::Busy,
        ) => {
            let status = e.status();
            Ok((Vec::new(), Some(e.message(locale)), status))
        }
        other => Err(other),
    }
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Create)?;
    let (input, _) = form_input(pairs);
    let result = match schema::validate(def, &input, false) {
        Err(errors) => Err(AppError::Invalid(errors)),
        Ok(record) => {
            let uid = user.user.id;
            state
                .db
                .write(|conn, _| Box::pin(master::insert(conn, def, &record, uid)))
                .await
                .map_err(AppError::from)
        }
    };
    match result {
        Ok(row) => Ok(Redirect::to(&format!("/m/{kind}/{}", row.id)).into_response()),
        Err(e) => {
            let (errors, form_error, status) = split_error(&user.user.locale, e)?;
            let values: BTreeMap<String, String> = input.into_iter().collect();
            let mut page =
                form_page(&state, &user, def, None, 0, &values, &errors, form_error).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Update)?;
    let id = parse_id(&id)?;
    let (input, version) = form_input(pairs);
    let result = match schema::validate(def, &input, true) {
        Err(errors) => Err(AppError::Invalid(errors)),
        Ok(changes) => {
            let uid = user.user.id;
            state
                .db
                .write(|conn, _| Box::pin(master::update(conn, def, id, version, &changes, uid)))
                .await
                .map_err(AppError::from)
        }
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/m/{kind}/{id}")).into_response()),
        Err(e) => {
            let (errors, form_error, status) = split_error(&user.user.locale, e)?;
            let values: BTreeMap<String, String> = input.into_iter().collect();
            let mut page =
                form_page(&state, &user, def, Some(id), version, &values, &errors, form_error)
                    .await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Delete)?;
    let id = parse_id(&id)?;
    let (_, version) = form_input(pairs);
    let uid = user.user.id;
    state.db.write(|conn, _| Box::pin(master::delete(conn, def, id, version, uid))).await?;
    Ok(Redirect::to(&format!("/m/{kind}")).into_response())
}

async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Read)?;
    user.require("audit", "admin", Action::Read)
        .or_else(|_| user.require(def.kind, def.area, Action::Update))?;
    let id = parse_id(&id)?;
    let entries = papilio_store::audit::trail(&state.db, def.kind, id).await?;
    let label = i18n::entity_label(&user.user.locale, def.kind);
    crate::pages::admin::audit_page(&state, &user, &label, &format!("/m/{kind}/{id}"), entries)
}
