//! Physical count pages 盘点, under `/stock/counts`: the list with a form to start a count,
//! one count with an input per line while it is a draft (and its variance: book, counted,
//! difference in quantity and value), an upload of counted quantities (CSV or XLSX), a
//! printable count sheet, and the count-variance analysis over time.
//!
//! The count sheet is a print-styled HTML page; a browser's "print to PDF" makes the PDF
//! (server-side PDF is not part of the default build). Submitting, approving and cancelling a
//! count happen on its document page (`/d/stock_count/{id}`).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use papilio_core::access::Action;
use papilio_core::document::DocState;
use papilio_store::counts::{self, CountEntry, VarianceAnalysis, VarianceGroup};
use rust_decimal::Decimal;

use crate::AppState;
use crate::api::counts::{AREA, CountView, RESOURCE, period, read_entries, start_request};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::documents::doc_type;
use crate::pages::master::parse_id;
use crate::pages::{chrome, render};
use crate::transfer;
use crate::views::Chrome;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock/counts", get(list).post(start))
        .route("/stock/counts/analysis", get(analysis))
        .route("/stock/counts/{id}", get(view).post(save))
        .route("/stock/counts/{id}/sheet", get(sheet))
        .route("/stock/counts/{id}/upload", post(upload))
        .layer(DefaultBodyLimit::max(transfer::MAX_FILE_BYTES + 64 * 1024))
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// One started count in the list.
pub struct CountRow {
    /// Document id.
    pub id: String,
    /// Number.
    pub number: String,
    /// State, translated.
    pub state: String,
    /// Count date.
    pub date: String,
    /// Warehouse.
    pub warehouse: String,
    /// Scope, translated, with its bins or class.
    pub scope: String,
    /// Who started it.
    pub started_by: String,
    /// Lines.
    pub lines: i64,
}

/// The list of counts with the start form.
#[derive(Template)]
#[template(path = "count_list.html")]
pub struct CountListPage {
    /// Chrome.
    pub c: Chrome,
    /// Counts.
    pub rows: Vec<CountRow>,
    /// Whether the user may start a count.
    pub can_start: bool,
    /// Problems with the last start request.
    pub errors: Vec<String>,
    /// Today, the default date.
    pub today: String,
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    errors: Vec<String>,
) -> Result<Response, AppError> {
    let locale = &user.user.locale;
    let rows = counts::list(&state.db)
        .await?
        .into_iter()
        .map(|s| CountRow {
            id: s.id.to_string(),
            number: s.number,
            state: i18n::tr(locale, &format!("state.{}", s.state)),
            date: s.date,
            warehouse: s.warehouse,
            scope: format!(
                "{} {}",
                i18n::tr(locale, &format!("count.scope_{}", s.scope)),
                s.scope_value
            ),
            started_by: s.started_by,
            lines: s.lines,
        })
        .collect();
    let page = CountListPage {
        c: chrome(state, user, &i18n::tr(locale, "count.title")),
        rows,
        can_start: user.can(RESOURCE, AREA, Action::Create),
        errors,
        today: chrono::Utc::now().date_naive().to_string(),
    };
    render(&page)
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    list_page(&state, &user, Vec::new()).await
}

fn messages(locale: &str, e: &AppError) -> Vec<String> {
    match e {
        AppError::Invalid(fields) => {
            fields.iter().map(|f| i18n::field_error(locale, RESOURCE, f)).collect()
        }
        other => vec![other.message(locale)],
    }
}

fn unprocessable(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

async fn start(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Create)?;
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let bins = get("bins")
        .map(|b| b.split([',', ' ', '，']).filter(|s| !s.is_empty()).map(str::to_owned).collect());
    let today = chrono::Utc::now().date_naive();
    let result = match start_request(
        get("warehouse"),
        bins,
        get("class"),
        get("date"),
        get("note"),
        today,
    ) {
        Ok(req) => {
            let t = doc_type(&state, RESOURCE)?;
            counts::start(&state.db, &t, &req, &user.actor()).await.map_err(AppError::from)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(doc) => Ok(Redirect::to(&format!("/stock/counts/{}", doc.id)).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Store(_))) if e.status().is_client_error() => {
            let errors = messages(&user.user.locale, &e);
            Ok(unprocessable(list_page(&state, &user, errors).await?))
        }
        Err(e) => Err(e),
    }
}

/// One line on the count page.
pub struct CountLineRow {
    /// Line id (the input's name is `c_<id>`).
    pub id: String,
    /// Item code.
    pub item: String,
    /// Description.
    pub description: String,
    /// Bin.
    pub bin: String,
    /// Lot.
    pub lot: String,
    /// Unit.
    pub unit: String,
    /// Book quantity.
    pub book: String,
    /// Counted quantity.
    pub counted: String,
    /// Difference.
    pub diff: String,
    /// Whether counted differs from book.
    pub off: bool,
    /// Unit cost.
    pub unit_cost: String,
    /// Value of the difference.
    pub value: String,
}

/// One count: lines with inputs (a draft the user may update) and the variance.
#[derive(Template)]
#[template(path = "count_view.html")]
pub struct CountPage {
    /// Chrome.
    pub c: Chrome,
    /// Document id.
    pub id: String,
    /// Number.
    pub number: String,
    /// State, translated.
    pub state: String,
    /// Date.
    pub date: String,
    /// Warehouse.
    pub warehouse: String,
    /// Document version (sent back with the quantities).
    pub version: i64,
    /// Whether quantities can be entered.
    pub editable: bool,
    /// Lines.
    pub lines: Vec<CountLineRow>,
    /// Net value of the differences.
    pub total_value: String,
    /// Lines off.
    pub lines_off: usize,
    /// Problems with the last entry.
    pub errors: Vec<String>,
}

fn count_page(
    state: &AppState,
    user: &CurrentUser,
    v: &CountView,
    errors: Vec<String>,
) -> Result<Response, AppError> {
    let locale = &user.user.locale;
    let lines = v
        .lines
        .iter()
        .map(|l| CountLineRow {
            id: l.line_id.to_string(),
            item: l.item.clone(),
            description: v.description(locale, &l.item),
            bin: l.bin.clone(),
            lot: l.lot.clone(),
            unit: l.unit.clone(),
            book: num(l.book),
            counted: num(l.counted),
            diff: num(l.diff),
            off: !l.diff.is_zero(),
            unit_cost: num(l.unit_cost),
            value: num(l.value),
        })
        .collect();
    let page = CountPage {
        c: chrome(state, user, &format!("{} {}", i18n::tr(locale, "count.one"), v.doc.number)),
        id: v.doc.id.to_string(),
        number: v.doc.number.clone(),
        state: i18n::tr(locale, &format!("state.{}", v.doc.state.code())),
        date: v.doc.doc_date.to_string(),
        warehouse: v.summary.warehouse.clone(),
        version: v.doc.version,
        editable: v.doc.state == DocState::Draft && user.can(RESOURCE, AREA, Action::Update),
        lines,
        total_value: num(v.total_value()),
        lines_off: v.lines_off(),
        errors,
    };
    render(&page)
}

async fn view(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let v = CountView::load(&state, parse_id(&id)?).await?;
    count_page(&state, &user, &v, Vec::new())
}

/// Saves the outcome of an entry: back to the count page, or the page with the problems.
async fn after_entry(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    result: Result<(), AppError>,
) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/stock/counts/{id}")).into_response()),
        Err(e) if e.status().is_client_error() && e.status() != StatusCode::NOT_FOUND => {
            let errors = messages(&user.user.locale, &e);
            let v = CountView::load(state, id).await?;
            Ok(unprocessable(count_page(state, user, &v, errors)?))
        }
        Err(e) => Err(e),
    }
}

async fn save(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Update)?;
    let id = parse_id(&id)?;
    let v = CountView::load(&state, id).await?;
    let values: HashMap<&str, &str> = form.iter().map(|(k, v)| (k.as_str(), v.trim())).collect();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, l) in v.lines.iter().enumerate() {
        let Some(text) = values.get(format!("c_{}", l.line_id).as_str()) else { continue };
        match text.parse::<Decimal>() {
            Ok(d) if d >= Decimal::ZERO => entries.push(CountEntry {
                row: i,
                item: l.item.clone(),
                warehouse: l.warehouse.clone(),
                bin: l.bin.clone(),
                lot: l.lot.clone(),
                counted: d,
            }),
            _ => errors.push(papilio_core::FieldError::new(
                format!("lines[{i}].quantity"),
                "field.not_decimal",
            )),
        }
    }
    // Line ids change with every save: inputs naming none of today's lines are a stale form.
    let known = v.lines.len();
    let sent = values.keys().filter(|k| k.starts_with("c_")).count();
    if sent > entries.len() + errors.len() || (sent == 0 && known > 0) {
        let stale =
            papilio_store::StoreError::Stale { entity: RESOURCE.into(), key: v.doc.number.clone() };
        return after_entry(&state, &user, id, Err(AppError::Store(stale))).await;
    }
    let version = values.get("version").and_then(|v| v.parse().ok()).unwrap_or(v.doc.version);
    let result = if errors.is_empty() {
        let t = doc_type(&state, RESOURCE)?;
        counts::enter(&state.db, &t, id, version, &entries, &user.actor())
            .await
            .map(|_| ())
            .map_err(AppError::from)
    } else {
        Err(AppError::Invalid(errors))
    };
    after_entry(&state, &user, id, result).await
}

async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Update)?;
    let id = parse_id(&id)?;
    let result = upload_entries(&state, &user, id, request).await;
    after_entry(&state, &user, id, result).await
}

async fn upload_entries(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    request: Request,
) -> Result<(), AppError> {
    let no_file =
        || AppError::Invalid(vec![papilio_core::FieldError::new("file", "field.required")]);
    let mut multipart =
        axum::extract::Multipart::from_request(request, &()).await.map_err(|_| no_file())?;
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(|_| no_file())? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("").to_owned();
        let declared = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|_| no_file())?;
        file = Some((name, declared, bytes));
        break;
    }
    let Some((name, declared, bytes)) = file.filter(|(_, _, b)| !b.is_empty()) else {
        return Err(no_file());
    };
    let entries = read_entries(Some(&name), declared.as_deref(), &bytes)?;
    let t = doc_type(state, RESOURCE)?;
    let version = counts::get(&state.db, id).await?.1.version;
    counts::enter(&state.db, &t, id, version, &entries, &user.actor()).await?;
    Ok(())
}

/// The printable count sheet: no chrome, a blank counted column.
#[derive(Template)]
#[template(path = "count_sheet.html")]
pub struct CountSheetPage {
    /// Chrome (for the language and the texts).
    pub c: Chrome,
    /// Number.
    pub number: String,
    /// Date.
    pub date: String,
    /// Warehouse.
    pub warehouse: String,
    /// Lines (only item, description, bin, lot and unit are printed).
    pub lines: Vec<CountLineRow>,
}

async fn sheet(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let v = CountView::load(&state, parse_id(&id)?).await?;
    let locale = &user.user.locale;
    let mut lines: Vec<CountLineRow> = v
        .lines
        .iter()
        .map(|l| CountLineRow {
            id: l.line_id.to_string(),
            item: l.item.clone(),
            description: v.description(locale, &l.item),
            bin: l.bin.clone(),
            lot: l.lot.clone(),
            unit: l.unit.clone(),
            book: String::new(),
            counted: String::new(),
            diff: String::new(),
            off: false,
            unit_cost: String::new(),
            value: String::new(),
        })
        .collect();
    lines.sort_by(|a, b| (&a.bin, &a.item, &a.lot).cmp(&(&b.bin, &b.item, &b.lot)));
    let page = CountSheetPage {
        c: chrome(&state, &user, &format!("{} {}", i18n::tr(locale, "count.sheet"), v.doc.number)),
        number: v.doc.number.clone(),
        date: v.doc.doc_date.to_string(),
        warehouse: v.summary.warehouse.clone(),
        lines,
    };
    let mut response = render(&page)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// One row of an analysis table.
pub struct GroupRow {
    /// Group key, translated where it is a code.
    pub key: String,
    /// Lines.
    pub lines: i64,
    /// Lines off.
    pub lines_off: i64,
    /// Net quantity difference.
    pub diff_qty: String,
    /// Absolute quantity difference.
    pub abs_qty: String,
    /// Net value difference.
    pub diff_value: String,
    /// Absolute value difference.
    pub abs_value: String,
}

/// One table of the analysis.
pub struct GroupTable {
    /// Heading.
    pub title: String,
    /// Rows.
    pub rows: Vec<GroupRow>,
}

/// The count-variance analysis page.
#[derive(Template)]
#[template(path = "count_analysis.html")]
pub struct CountAnalysisPage {
    /// Chrome.
    pub c: Chrome,
    /// Period start.
    pub from: String,
    /// Period end.
    pub to: String,
    /// Counts analysed.
    pub counts: i64,
    /// All lines.
    pub total: GroupRow,
    /// Tables by bin, class, category, clerk and move type.
    pub tables: Vec<GroupTable>,
}

fn group_row(g: &VarianceGroup, key: String) -> GroupRow {
    GroupRow {
        key,
        lines: g.lines,
        lines_off: g.lines_off,
        diff_qty: num(g.diff_qty),
        abs_qty: num(g.abs_qty),
        diff_value: num(g.diff_value),
        abs_value: num(g.abs_value),
    }
}

fn tables(locale: &str, a: &VarianceAnalysis) -> Vec<GroupTable> {
    let none = i18n::tr(locale, "count.none");
    let parts = [
        ("count.by_bin", &a.by_bin, false),
        ("count.by_class", &a.by_class, false),
        ("count.by_category", &a.by_category, false),
        ("count.by_clerk", &a.by_clerk, false),
        ("count.by_move_type", &a.by_move_type, true),
    ];
    let label = |key: &str, doc_type: bool| {
        if doc_type {
            i18n::entity_label(locale, key)
        } else if key.is_empty() {
            none.clone()
        } else {
            key.to_owned()
        }
    };
    parts
        .into_iter()
        .map(|(title, groups, doc_type)| GroupTable {
            title: i18n::tr(locale, title),
            rows: groups.iter().map(|g| group_row(g, label(&g.key, doc_type))).collect(),
        })
        .collect()
}

async fn analysis(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(RESOURCE, AREA, Action::Read)?;
    let (from, to) = period(&params)?;
    let a = counts::analysis(&state.db, from, to).await?;
    let locale = &user.user.locale;
    let page = CountAnalysisPage {
        c: chrome(&state, &user, &i18n::tr(locale, "count.analysis")),
        from: from.to_string(),
        to: to.to_string(),
        counts: a.counts,
        total: group_row(&a.total, i18n::tr(locale, "count.total")),
        tables: tables(locale, &a),
    };
    render(&page)
}
