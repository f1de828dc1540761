//! Master-data API: list, create, read, update, delete for every entity.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::schema::{self, EntityDef, RawInput, Value};
use papilio_store::StoreError;
use papilio_store::master::{self, MasterRow};
use serde_json::{Value as Json, json};

use crate::AppState;
use crate::api::{json_object, scalar_text, take_version};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::master::{entity, list_query, parse_id};

/// `/api/v1/{kind}` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{kind}", get(list).post(create))
        .route("/{kind}/{id}", get(read).patch(update).delete(delete))
}

/// A row as JSON: id as a string, decimals as strings, the rest typed.
pub fn row_json(row: &MasterRow) -> Json {
    let mut map = serde_json::Map::new();
    map.insert("id".into(), Json::String(row.id.to_string()));
    map.insert("version".into(), json!(row.version));
    for (name, value) in &row.values {
        let v = match value {
            Value::Null => Json::Null,
            Value::Text(s) => Json::String(s.clone()),
            Value::Int(i) => json!(i),
            Value::Dec(d) => Json::String(d.normalize().to_string()),
            Value::Bool(b) => Json::Bool(*b),
            Value::Date(d) => Json::String(d.to_string()),
        };
        map.insert((*name).to_owned(), v);
    }
    Json::Object(map)
}

/// Turns a JSON object into raw input, refusing nested values.
pub fn raw_input(map: serde_json::Map<String, Json>) -> Result<RawInput, AppError> {
    let mut input = RawInput::new();
    let mut errors = Vec::new();
    for (k, v) in map {
        match scalar_text(&k, &v) {
            Ok(text) => {
                input.insert(k, text);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(input) } else { Err(AppError::Invalid(errors)) }
}

fn def_for(user: &CurrentUser, kind: &str, action: Action) -> Result<&'static EntityDef, AppError> {
    let def = entity(kind)?;
    user.require(def.kind, def.area, action)?;
    Ok(def)
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = def_for(&user, &kind, Action::Read)?;
    let q = list_query(def, &params, "")?;
    let page = master::list(&state.db, def, &q).await?;
    Ok(axum::Json(json!({
        "data": page.rows.iter().map(row_json).collect::<Vec<_>>(),
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    }))
    .into_response())
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let def = def_for(&user, &kind, Action::Create)?;
    let input = raw_input(json_object(&headers, &body)?)?;
    let record = schema::validate(def, &input, false).map_err(AppError::Invalid)?;
    let uid = user.user.id;
    let row = state.db.write(|conn, _| Box::pin(master::insert(conn, def, &record, uid))).await?;
    Ok((StatusCode::CREATED, axum::Json(row_json(&row))).into_response())
}

async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let def = def_for(&user, &kind, Action::Read)?;
    let id = parse_id(&id)?;
    let mut conn = state.db.pool().acquire().await.map_err(StoreError::from)?;
    let row = master::get(&mut conn, def, id).await?;
    Ok(axum::Json(row_json(&row)).into_response())
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let def = def_for(&user, &kind, Action::Update)?;
    let id = parse_id(&id)?;
    let mut map = json_object(&headers, &body)?;
    map.remove("id");
    let version = take_version(&mut map)?;
    let input = raw_input(map)?;
    let changes = schema::validate(def, &input, true).map_err(AppError::Invalid)?;
    let uid = user.user.id;
    let row = state
        .db
        .write(|conn, _| Box::pin(master::update(conn, def, id, version, &changes, uid)))
        .await?;
    Ok(axum::Json(row_json(&row)).into_response())
}

async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((kind, id)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let def = def_for(&user, &kind, Action::Delete)?;
    let id = parse_id(&id)?;
    let version = params
        .iter()
        .find(|(k, _)| k == "version")
        .map(|(_, v)| v.parse::<i64>())
        .ok_or_else(|| AppError::Invalid(vec![FieldError::new("version", "field.required")]))?
        .map_err(|_| AppError::Invalid(vec![FieldError::new("version", "field.not_integer")]))?;
    let uid = user.user.id;
    state.db.write(|conn, _| Box::pin(master::delete(conn, def, id, version, uid))).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
