//! Physical counts 盘点 over the API, under `/api/v1/stock/counts`.
//!
//! `POST` starts a count (`{warehouse, bins?: [..], class?: "A", date?, note?}`) and answers
//! the count with its lines; `PUT .../{id}/quantities` enters counted quantities
//! (`{version, lines: [{item, warehouse, bin, lot, counted}]}`); `POST .../{id}/upload` takes
//! the same columns as a CSV or XLSX body (`?version=n` optional); `GET .../{id}` answers the
//! count with its variance; `GET .../analysis?from=&to=` the count-variance analysis.
//! Submitting, approving and cancelling go through the document routes of `stock_count`.
//! Permissions are those of the `stock_count` document type: Read to look, Create to start,
//! Update to enter quantities; they are checked before any input is read.

use std::io::Cursor;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_store::counts::{
    self, CountEntry, CountRequest, CountScope, CountSummary, VarianceAnalysis, VarianceGroup,
    VarianceLine,
};
use papilio_store::documents::Document;
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json, json};

use crate::AppState;
use crate::api::{json_object, take_version};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::documents::doc_type;
use crate::pages::master::parse_id;
use crate::transfer::{self, FileFormat};

/// The permission resource of counts.
pub const RESOURCE: &str = "stock_count";

/// The area of counts.
pub const AREA: &str = "inventory";

/// `/api/v1/stock/counts...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock/counts", get(list).post(start))
        .route("/stock/counts/analysis", get(analysis))
        .route("/stock/counts/{id}", get(read))
        .route("/stock/counts/{id}/quantities", put(quantities))
        .route("/stock/counts/{id}/upload", post(upload))
        .layer(DefaultBodyLimit::max(transfer::MAX_FILE_BYTES))
}

fn dec(d: Decimal) -> Json {
    Json::String(d.normalize().to_string())
}

fn bad(field: &str, rule: &str) -> FieldError {
    FieldError::new(field, rule)
}

fn summary_json(s: &CountSummary) -> Json {
    json!({
        "id": s.id.to_string(),
        "number": s.number,
        "state": s.state,
        "date": s.date,
        "warehouse": s.warehouse,
        "scope": s.scope,
        "scope_value": s.scope_value,
        "started_by": s.started_by,
        "lines": s.lines,
    })
}

/// A count with its variance lines, as the API and the pages read it.
pub struct CountView {
    /// The summary.
    pub summary: CountSummary,
    /// The document.
    pub doc: Document,
    /// Variance per line.
    pub lines: Vec<VarianceLine>,
    /// Item names and categories.
    pub items: std::collections::HashMap<String, counts::ItemInfo>,
}

impl CountView {
    /// Loads count `id` with its variance.
    pub async fn load(state: &AppState, id: i64) -> Result<CountView, AppError> {
        let (summary, doc) = counts::get(&state.db, id).await?;
        let lines = counts::variance(&state.db, &doc).await?;
        let codes: Vec<String> = lines.iter().map(|l| l.item.clone()).collect();
        let items = counts::items(&state.db, &codes).await?;
        Ok(CountView { summary, doc, lines, items })
    }

    /// The item's description in `locale`.
    pub fn description(&self, locale: &str, item: &str) -> String {
        self.items
            .get(item)
            .map(|i| if locale == "en" && !i.name_en.is_empty() { &i.name_en } else { &i.name_zh })
            .cloned()
            .unwrap_or_default()
    }

    /// Net value difference.
    pub fn total_value(&self) -> Decimal {
        self.lines.iter().map(|l| l.value).sum()
    }

    /// Lines whose count differs from the book.
    pub fn lines_off(&self) -> usize {
        self.lines.iter().filter(|l| !l.diff.is_zero()).count()
    }
}

fn count_json(user: &CurrentUser, v: &CountView) -> Json {
    let mut out = summary_json(&v.summary);
    let lines: Vec<Json> = v
        .lines
        .iter()
        .map(|l| {
            json!({
                "line_id": l.line_id.to_string(),
                "item": l.item,
                "description": v.description(&user.user.locale, &l.item),
                "warehouse": l.warehouse,
                "bin": l.bin,
                "lot": l.lot,
                "unit": l.unit,
                "book": dec(l.book),
                "counted": dec(l.counted),
                "diff": dec(l.diff),
                "unit_cost": dec(l.unit_cost),
                "value": dec(l.value),
            })
        })
        .collect();
    if let Json::Object(map) = &mut out {
        map.insert("version".into(), json!(v.doc.version));
        map.insert("note".into(), json!(v.doc.note));
        map.insert("lines".into(), Json::Array(lines));
        map.insert(
            "totals".into(),
            json!({"value": dec(v.total_value()), "lines_off": v.lines_off()}),
        );
    }
    out
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let rows = counts::list(&state.db).await?;
    let total = rows.len();
    let data: Vec<Json> = rows.iter().map(summary_json).collect();
    Ok(axum::Json(json!({"data": data, "page": 1, "per_page": total.max(1), "total": total}))
        .into_response())
}

fn text(map: &Map<String, Json>, key: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match map.get(key) {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if s.trim().is_empty() => None,
        Some(Json::String(s)) => Some(s.trim().to_owned()),
        Some(_) => {
            errors.push(bad(key, "field.wrong_type"));
            None
        }
    }
}

/// Reads a start request from text fields: `warehouse`, `bins` (list), `class`, `date`, `note`.
pub fn start_request(
    warehouse: Option<String>,
    bins: Option<Vec<String>>,
    class: Option<String>,
    date: Option<String>,
    note: Option<String>,
    today: NaiveDate,
) -> Result<CountRequest, AppError> {
    let mut errors = Vec::new();
    let warehouse = warehouse.map(|w| w.to_uppercase());
    if warehouse.is_none() {
        errors.push(bad("warehouse", "field.required"));
    }
    let date = match date {
        None => Some(today),
        Some(d) => match NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push(bad("date", "field.not_date"));
                None
            }
        },
    };
    let scope = match (bins, class) {
        (Some(_), Some(_)) => {
            errors.push(bad("class", "count.one_scope"));
            CountScope::Warehouse
        }
        (Some(bins), None) => {
            CountScope::Bins(bins.into_iter().map(|b| b.trim().to_uppercase()).collect())
        }
        (None, Some(c)) => match c.trim().to_uppercase().as_str() {
            "A" => CountScope::Class('A'),
            "B" => CountScope::Class('B'),
            "C" => CountScope::Class('C'),
            _ => {
                errors.push(bad("class", "field.not_choice").with("options", "A, B, C"));
                CountScope::Warehouse
            }
        },
        (None, None) => CountScope::Warehouse,
    };
    match (warehouse, date, errors.is_empty()) {
        (Some(warehouse), Some(date), true) => Ok(CountRequest { warehouse, scope, date, note }),
        _ => Err(AppError::Invalid(errors)),
    }
}

async fn start(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Create)?;
    let map = json_object(&headers, &body)?;
    let mut errors = Vec::new();
    for key in map.keys() {
        if !["warehouse", "bins", "class", "date", "note"].contains(&key.as_str()) {
            errors.push(bad(key, "field.unknown"));
        }
    }
    let warehouse = text(&map, "warehouse", &mut errors);
    let class = text(&map, "class", &mut errors);
    let date = text(&map, "date", &mut errors);
    let note = text(&map, "note", &mut errors);
    let bins = match map.get("bins") {
        None | Some(Json::Null) => None,
        Some(Json::Array(a)) => Some(
            a.iter()
                .map(|b| match b {
                    Json::String(s) => s.clone(),
                    _ => String::new(),
                })
                .collect(),
        ),
        Some(_) => {
            errors.push(bad("bins", "field.wrong_type"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let req = start_request(warehouse, bins, class, date, note, chrono::Utc::now().date_naive())?;
    let t = doc_type(&state, RESOURCE)?;
    let doc = counts::start(&state.db, &t, &req, &user.actor()).await?;
    let view = CountView::load(&state, doc.id).await?;
    Ok((StatusCode::CREATED, axum::Json(count_json(&user, &view))).into_response())
}

async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let view = CountView::load(&state, parse_id(&id)?).await?;
    Ok(axum::Json(count_json(&user, &view)).into_response())
}

fn decimal(text: &str, field: &str) -> Result<Decimal, FieldError> {
    let d: Decimal = text.trim().parse().map_err(|_| bad(field, "field.not_decimal"))?;
    if d < Decimal::ZERO {
        return Err(bad(field, "field.negative"));
    }
    Ok(d)
}

fn member(row: &Map<String, Json>, key: &str) -> String {
    match row.get(key) {
        Some(Json::String(s)) => s.trim().to_owned(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

async fn quantities(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Update)?;
    let mut map = json_object(&headers, &body)?;
    let version = take_version(&mut map)?;
    if let Some(key) = map.keys().find(|k| k.as_str() != "lines") {
        return Err(AppError::Invalid(vec![bad(key, "field.unknown")]));
    }
    let Some(Json::Array(rows)) = map.remove("lines") else {
        return Err(AppError::Invalid(vec![bad("lines", "field.required")]));
    };
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Json::Object(row) = row else {
            errors.push(bad(&format!("lines[{i}]"), "field.wrong_type"));
            continue;
        };
        let field = format!("lines[{i}].counted");
        match decimal(&member(row, "counted"), &field) {
            Ok(counted) => entries.push(CountEntry {
                row: i,
                item: member(row, "item").to_uppercase(),
                warehouse: member(row, "warehouse").to_uppercase(),
                bin: member(row, "bin").to_uppercase(),
                lot: member(row, "lot"),
                counted,
            }),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let id = parse_id(&id)?;
    let t = doc_type(&state, RESOURCE)?;
    counts::enter(&state.db, &t, id, version, &entries, &user.actor()).await?;
    let view = CountView::load(&state, id).await?;
    Ok(axum::Json(count_json(&user, &view)).into_response())
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn unreadable(e: &dyn std::fmt::Display) -> FieldError {
    bad("file", "import.unreadable").with("reason", e)
}

fn file_rows(format: FileFormat, bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, FieldError> {
    let mut out: Vec<(usize, Vec<String>)> = Vec::new();
    match format {
        FileFormat::Csv => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            let mut reader =
                csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| unreadable(&e))?;
                out.push((i + 1, record.iter().map(str::to_owned).collect()));
            }
        }
        FileFormat::Xlsx => {
            let mut book: Xlsx<_> =
                calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
            let range = book
                .worksheet_range_at(0)
                .ok_or_else(|| bad("file", "import.empty_file"))?
                .map_err(|e| unreadable(&e))?;
            for (i, row) in range.rows().enumerate() {
                out.push((i + 1, row.iter().map(cell_text).collect()));
            }
        }
    }
    out.retain(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
    Ok(out)
}

/// Reads counted quantities from a CSV or XLSX file with the columns `item`, `warehouse`,
/// `bin`, `lot`, `counted` (any order, header row first). Errors name the row
/// (`rows[n].counted`, n the file's row number).
pub fn read_entries(
    name: Option<&str>,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Vec<CountEntry>, AppError> {
    let Some(format) = FileFormat::detect(name, content_type, bytes) else {
        return Err(AppError::Invalid(vec![bad("file", "import.unknown_format")]));
    };
    let mut rows = file_rows(format, bytes).map_err(|e| AppError::Invalid(vec![e]))?.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(AppError::Invalid(vec![bad("file", "import.empty_file")]));
    };
    let header: Vec<String> =
        header.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase()).collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let mut errors = Vec::new();
    for required in ["item", "warehouse", "counted"] {
        if column(required).is_none() {
            errors.push(bad(required, "import.header_missing").with("column", required));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let cell = |cells: &[String], name: &str| {
        column(name).and_then(|i| cells.get(i)).map(|c| c.trim().to_owned()).unwrap_or_default()
    };
    let mut entries = Vec::new();
    for (n, cells) in rows {
        let field = format!("rows[{n}].counted");
        match decimal(&cell(&cells, "counted"), &field) {
            Ok(counted) => entries.push(CountEntry {
                row: n,
                item: cell(&cells, "item").to_uppercase(),
                warehouse: cell(&cells, "warehouse").to_uppercase(),
                bin: cell(&cells, "bin").to_uppercase(),
                lot: cell(&cells, "lot"),
                counted,
            }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(entries) } else { Err(AppError::Invalid(errors)) }
}

async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Update)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let entries = read_entries(None, content_type, &body)?;
    let id = parse_id(&id)?;
    let t = doc_type(&state, RESOURCE)?;
    let version = match params.iter().find(|(k, _)| k == "version") {
        Some((_, v)) => {
            v.parse().map_err(|_| AppError::Invalid(vec![bad("version", "field.not_integer")]))?
        }
        None => counts::get(&state.db, id).await?.1.version,
    };
    counts::enter(&state.db, &t, id, version, &entries, &user.actor()).await?;
    let view = CountView::load(&state, id).await?;
    Ok(axum::Json(count_json(&user, &view)).into_response())
}

fn group_json(g: &VarianceGroup) -> Json {
    json!({
        "key": g.key,
        "lines": g.lines,
        "lines_off": g.lines_off,
        "diff_qty": dec(g.diff_qty),
        "abs_qty": dec(g.abs_qty),
        "diff_value": dec(g.diff_value),
        "abs_value": dec(g.abs_value),
    })
}

/// The analysis as JSON.
pub fn analysis_json(from: NaiveDate, to: NaiveDate, a: &VarianceAnalysis) -> Json {
    let list = |v: &[VarianceGroup]| Json::Array(v.iter().map(group_json).collect());
    json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "counts": a.counts,
        "total": group_json(&a.total),
        "by_bin": list(&a.by_bin),
        "by_class": list(&a.by_class),
        "by_category": list(&a.by_category),
        "by_clerk": list(&a.by_clerk),
        "by_move_type": list(&a.by_move_type),
    })
}

/// The analysis period from `from` and `to` (defaults: the 365 days up to today).
pub fn period(params: &[(String, String)]) -> Result<(NaiveDate, NaiveDate), AppError> {
    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim());
    let mut errors = Vec::new();
    let mut date = |k: &'static str| match get(k).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| errors.push(k)).ok(),
    };
    let to = date("to").unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = date("from").unwrap_or(to - chrono::Duration::days(365));
    if !errors.is_empty() {
        return Err(AppError::Invalid(
            errors.into_iter().map(|k| bad(k, "field.not_date")).collect(),
        ));
    }
    Ok((from, to))
}

async fn analysis(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let (from, to) = period(&params)?;
    let a = counts::analysis(&state.db, from, to).await?;
    Ok(axum::Json(analysis_json(from, to, &a)).into_response())
}
