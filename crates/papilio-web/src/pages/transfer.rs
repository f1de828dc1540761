//! Import and export pages for master data: the upload form with its column guide and error
//! table, the empty template, and CSV and XLSX downloads of a list as filtered.
//!
//! The upload is `multipart/form-data`, whose body the CSRF check does not read, so the form
//! carries the session's token in its action URL (`?_csrf=...`).

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::schema::{EntityDef, FieldKind};
use papilio_store::StoreError;

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::master::{entity, list_query};
use crate::pages::{chrome, render};
use crate::transfer::{self, Exported, FileFormat, RowError, Upload};
use crate::views::Chrome;

/// Largest request body an upload route reads: the file plus room for multipart framing.
pub const UPLOAD_BODY_LIMIT: usize = transfer::MAX_FILE_BYTES + 64 * 1024;

/// `/m/{kind}/import` and `/m/{kind}/export.*` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/{kind}/import", get(form).post(upload))
        .route("/m/{kind}/import/template.csv", get(template))
        .route("/m/{kind}/export.csv", get(export_csv))
        .route("/m/{kind}/export.xlsx", get(export_xlsx))
        .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
}

/// One column of the import guide.
#[derive(Debug, Clone)]
pub struct ImportColumn {
    /// Header name.
    pub name: String,
    /// Label in the user's language.
    pub label: String,
    /// Whether the column must be present and filled.
    pub required: bool,
    /// What the column takes (choices, the entity a code refers to, the default).
    pub hint: String,
}

/// One line of the error table.
#[derive(Debug, Clone)]
pub struct ImportProblem {
    /// Spreadsheet row, empty for the whole file.
    pub row: String,
    /// Column label (or "File", "Header").
    pub column: String,
    /// Column header name, empty when not a column.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

/// The import page.
#[derive(Template)]
#[template(path = "import.html")]
pub struct ImportPage {
    /// Chrome.
    pub c: Chrome,
    /// Entity kind.
    pub kind: String,
    /// Entity label.
    pub label: String,
    /// Page heading.
    pub title: String,
    /// The form's action, with the CSRF token.
    pub action: String,
    /// The limits, in words.
    pub limits: String,
    /// The column guide.
    pub columns: Vec<ImportColumn>,
    /// A sentence over the error table, when the last upload failed.
    pub summary: Option<String>,
    /// Problems of the last upload.
    pub problems: Vec<ImportProblem>,
}

fn column_hint(locale: &str, field: &papilio_core::schema::FieldDef) -> String {
    let mut parts = Vec::new();
    match field.kind {
        FieldKind::Choice(options) => parts.push(i18n::tr_with(
            locale,
            "import.hint_choice",
            &[("options".into(), options.join(", "))],
        )),
        FieldKind::Ref(target) => parts.push(i18n::tr_with(
            locale,
            "import.hint_ref",
            &[("entity".into(), i18n::entity_label(locale, target))],
        )),
        FieldKind::Bool => parts.push(i18n::tr(locale, "import.hint_bool")),
        FieldKind::Date => parts.push(i18n::tr(locale, "import.hint_date")),
        _ => {}
    }
    if let Some(default) = field.default {
        parts.push(i18n::tr_with(
            locale,
            "import.hint_default",
            &[("value".into(), default.into())],
        ));
    }
    parts.join("; ")
}

fn problem_line(locale: &str, kind: &str, e: &RowError) -> ImportProblem {
    let (column, name) = match (e.row, e.column()) {
        (None, _) => (i18n::field_label(locale, kind, &e.error.field), String::new()),
        (Some(_), "") => (String::new(), String::new()),
        (Some(_), field) => (i18n::field_label(locale, kind, field), field.to_owned()),
    };
    ImportProblem {
        row: e.row.map(|r| r.to_string()).unwrap_or_default(),
        column,
        name,
        message: e.rule_text(locale),
    }
}

/// The import page for `def`, with the problems of a failed upload.
fn import_page(
    state: &AppState,
    user: &CurrentUser,
    def: &EntityDef,
    summary: Option<String>,
    errors: &[RowError],
) -> ImportPage {
    let locale = user.user.locale.clone();
    let label = i18n::entity_label(&locale, def.kind);
    let title = i18n::tr_with(&locale, "import.title", &[("entity".into(), label.clone())]);
    let action = match user.csrf.as_deref() {
        Some(token) => format!("/m/{}/import?_csrf={}", def.kind, urlencoding::encode(token)),
        None => format!("/m/{}/import", def.kind),
    };
    let limits = i18n::tr_with(
        &locale,
        "import.limits",
        &[
            ("mb".into(), transfer::MAX_FILE_MB.to_string()),
            ("rows".into(), transfer::MAX_ROWS.to_string()),
        ],
    );
    let columns = def
        .fields
        .iter()
        .map(|f| ImportColumn {
            name: f.name.to_owned(),
            label: i18n::field_label(&locale, def.kind, f.name),
            required: f.required && f.default.is_none(),
            hint: column_hint(&locale, f),
        })
        .collect();
    ImportPage {
        c: chrome(state, user, &title),
        kind: def.kind.to_owned(),
        label,
        title,
        action,
        limits,
        columns,
        summary,
        problems: errors.iter().map(|e| problem_line(&locale, def.kind, e)).collect(),
    }
}

async fn form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Import)?;
    render(&import_page(&state, &user, def, None, &[]))
}

async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Import)?;
    let result = match read_upload(def, request).await {
        Ok(file) => {
            transfer::import(&state.db, def, file, user.user.id, transfer::no_progress()).await
        }
        Err(e) => Err(e),
    };
    let locale = user.user.locale.clone();
    let (summary, errors, status) = match result {
        Ok(n) => return Ok(Redirect::to(&format!("/m/{kind}?imported={n}")).into_response()),
        Err(AppError::ImportRefused { errors, .. }) => {
            (i18n::tr(&locale, "import.refused"), errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(
            e @ AppError::Store(
                StoreError::Duplicate { .. } | StoreError::Busy | StoreError::InUse { .. },
            ),
        ) => (e.message(&locale), Vec::new(), e.status()),
        Err(other) => return Err(other),
    };
    let mut page = render(&import_page(&state, &user, def, Some(summary), &errors))?;
    *page.status_mut() = status;
    Ok(page)
}

fn no_file(def: &EntityDef) -> AppError {
    transfer::refused(
        def,
        vec![RowError { row: None, error: FieldError::new("file", "field.required") }],
    )
}

/// Reads the file of an upload request: a `multipart/form-data` body's `file` field, or the
/// whole body (`text/csv`, an XLSX content type). Refuses files over the size limit and of
/// other formats as [`AppError::ImportRefused`].
pub async fn read_upload(def: &EntityDef, request: Request) -> Result<Upload, AppError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let file_error = |e: axum::extract::multipart::MultipartError| {
        let problem = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RowError::too_large()
        } else {
            RowError::unreadable(e.body_text())
        };
        transfer::refused(def, vec![problem])
    };

    let (name, declared, bytes) = if content_type.starts_with("multipart/form-data") {
        let mut multipart = axum::extract::Multipart::from_request(request, &())
            .await
            .map_err(|e| transfer::refused(def, vec![RowError::unreadable(e.body_text())]))?;
        let mut file = None;
        while let Some(field) = multipart.next_field().await.map_err(file_error)? {
            if field.name() != Some("file") {
                continue;
            }
            let name = field.file_name().unwrap_or("").to_owned();
            let declared = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(file_error)?;
            file = Some((name, declared, bytes));
            break;
        }
        match file {
            Some((name, _, bytes)) if name.is_empty() && bytes.is_empty() => {
                return Err(no_file(def));
            }
            Some(file) => file,
            None => return Err(no_file(def)),
        }
    } else {
        let bytes = axum::body::to_bytes(request.into_body(), transfer::MAX_FILE_BYTES)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                let problem =
                    if too_large { RowError::too_large() } else { RowError::unreadable(e) };
                transfer::refused(def, vec![problem])
            })?;
        (String::new(), Some(content_type), bytes)
    };

    if bytes.len() > transfer::MAX_FILE_BYTES {
        return Err(transfer::refused(def, vec![RowError::too_large()]));
    }
    let named = Some(name.as_str()).filter(|n| !n.is_empty());
    let Some(format) = FileFormat::detect(named, declared.as_deref(), &bytes) else {
        return Err(transfer::refused(def, vec![RowError::file("import.unknown_format")]));
    };
    let name = if name.is_empty() { format!("upload.{}", format.extension()) } else { name };
    Ok(Upload { name, format, bytes: bytes.to_vec() })
}

/// A file download: its content type and an attachment disposition with its name.
pub fn download(file: Exported) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.file_name);
    (
        [
            (header::CONTENT_TYPE, file.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        file.bytes,
    )
        .into_response()
}

async fn template(user: CurrentUser, Path(kind): Path<String>) -> Result<Response, AppError> {
    let def = entity(&kind)?;
    user.require(def.kind, def.area, Action::Import)?;
    let bytes = transfer::template(def, FileFormat::Csv)?;
    Ok(download(Exported {
        bytes,
        rows: 0,
        file_name: format!("{}-template.csv", def.kind),
        content_type: FileFormat::Csv.content_type(),
    }))
}

async fn export_file(
    state: &AppState,
    user: &CurrentUser,
    kind: &str,
    params: &[(String, String)],
    format: FileFormat,
) -> Result<Response, AppError> {
    let def = entity(kind)?;
    user.require(def.kind, def.area, Action::Export)?;
    let q = list_query(def, params, "f.")?;
    let file = transfer::export(&state.db, def, &q, format).await?;
    Ok(download(file))
}

async fn export_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    export_file(&state, &user, &kind, &params, FileFormat::Csv).await
}

async fn export_xlsx(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(kind): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    export_file(&state, &user, &kind, &params, FileFormat::Xlsx).await
}
