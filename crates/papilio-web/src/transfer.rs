//! Import and export of master data as CSV and XLSX, shared by the pages, the API and the CLI.
//!
//! An export writes a header row of field names and every value as input text (raw codes,
//! never translations), so the file imports again unchanged. An import reads CSV (UTF-8, with
//! or without a byte-order mark) or the first sheet of an XLSX workbook and checks the whole
//! file before it writes anything: the header, every row against the entity's rules, unique
//! keys inside the file and against the database, and references (to the database, or to a
//! row earlier in the same file). Then it writes every row in one transaction, or nothing.
//!
//! A blank cell means "the field's default", the same as leaving the column out. Problems are
//! reported as [`RowError`]s in spreadsheet numbering (the header is row 1), at most
//! [`MAX_ERRORS`] of them.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::sync::Arc;

use calamine::{Data, Reader, Xlsx};
use papilio_core::FieldError;
use papilio_core::schema::{self, EntityDef, FieldDef, FieldKind, RawInput, Record, Value};
use papilio_store::bulk::{self, KeyValues};
use papilio_store::master::{self, ListQuery, MasterRow};
use papilio_store::{Backend, Conn, Db, StoreError, audit};

use crate::error::AppError;
use crate::i18n;

/// Largest file accepted, in megabytes.
pub const MAX_FILE_MB: usize = 20;

/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = MAX_FILE_MB * 1024 * 1024;

/// Most data rows one file may hold.
pub const MAX_ROWS: usize = 200_000;

/// Most problems reported for one file; checking stops once this many are found.
pub const MAX_ERRORS: usize = 100;

/// How often (in rows) checking reports progress.
const PROGRESS_STEP: usize = 1_000;

/// Rows read per page when an export follows a list's filters.
const EXPORT_PAGE: i64 = 500;

/// The byte-order mark some editors put before UTF-8 text (Excel wants it to read Chinese).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A spreadsheet file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated values, UTF-8.
    Csv,
    /// An Office Open XML workbook.
    Xlsx,
}

impl FileFormat {
    /// The format a file name's extension names (`.csv`, `.xlsx`), if any.
    pub fn from_name(name: &str) -> Option<FileFormat> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else if lower.ends_with(".xlsx") {
            Some(FileFormat::Xlsx)
        } else {
            None
        }
    }

    /// The format an uploaded file is in, judged by its first bytes, then by its name and its
    /// declared content type. `None` for anything else (an old `.xls`, a PDF...).
    pub fn detect(name: Option<&str>, content_type: Option<&str>, bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"PK\x03\x04") {
            return Some(FileFormat::Xlsx);
        }
        // An OLE2 compound file: an Excel 97-2003 workbook, which is not read.
        if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
            return None;
        }
        let by_name = name.filter(|n| n.contains('.')).map(Self::from_name);
        let content_type = content_type.unwrap_or("").to_ascii_lowercase();
        let by_type = if content_type.contains("spreadsheetml") || content_type.contains("excel") {
            Some(None)
        } else if content_type.starts_with("text/") {
            Some(Some(FileFormat::Csv))
        } else {
            None
        };
        match (by_name, by_type) {
            // A text body declared as a workbook, or named like something else.
            (Some(None), _) | (None, Some(None)) => None,
            (Some(Some(FileFormat::Xlsx)), _) => None,
            _ => Some(FileFormat::Csv),
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Xlsx => "xlsx",
        }
    }

    /// The MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            FileFormat::Csv => "text/csv; charset=utf-8",
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// What an import is doing, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and parsing the file.
    Reading,
    /// Checking rows against the rules.
    Checking,
    /// Writing rows to the database.
    Writing,
}

/// Receives `(phase, rows done, rows in all)` while an import runs.
pub type Progress = Arc<dyn Fn(Phase, usize, usize) + Send + Sync>;

/// A progress receiver that ignores every report.
pub fn no_progress() -> Progress {
    Arc::new(|_, _, _| {})
}

/// One problem of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The spreadsheet row (the header is row 1); `None` for the file or its header as a whole.
    pub row: Option<usize>,
    /// The column's field name and the broken rule. The field is `file` or `header` for
    /// problems of the whole file or header, and empty for a whole row.
    pub error: FieldError,
}

impl RowError {
    /// A problem of the whole file.
    pub fn file(rule: &str) -> Self {
        RowError { row: None, error: FieldError::new("file", rule) }
    }

    /// A problem of the header row.
    pub fn header(rule: &str, column: &str) -> Self {
        RowError { row: None, error: FieldError::new("header", rule).with("column", column) }
    }

    /// A problem of one row, in one column (`field`) or the whole row (`""`).
    pub fn at(row: usize, error: FieldError) -> Self {
        RowError { row: Some(row), error }
    }

    /// The file is larger than [`MAX_FILE_MB`].
    pub fn too_large() -> Self {
        Self::file("import.too_large").with("max", MAX_FILE_MB)
    }

    /// The file could not be parsed.
    pub fn unreadable(reason: impl std::fmt::Display) -> Self {
        Self::file("import.unreadable").with("reason", reason)
    }

    fn with(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.error = self.error.with(key, value);
        self
    }

    /// The column's field name, empty for problems not tied to a column.
    pub fn column(&self) -> &str {
        match (self.row, self.error.field.as_str()) {
            (None, _) => "",
            (Some(_), field) => field,
        }
    }

    /// The field as the API reports it: `rows[501].safety_stock`, `rows[7]`, `header`, `file`.
    pub fn api_field(&self) -> String {
        match (self.row, self.error.field.as_str()) {
            (None, field) => field.to_owned(),
            (Some(row), "") => format!("rows[{row}]"),
            (Some(row), field) => format!("rows[{row}].{field}"),
        }
    }

    /// The rule's text alone, in `locale`.
    pub fn rule_text(&self, locale: &str) -> String {
        i18n::rule_text(locale, &self.error)
    }

    /// The whole message in `locale`: "Row 501, Safety stock: must not be negative".
    pub fn message(&self, locale: &str, kind: &str) -> String {
        match (self.row, self.error.field.as_str()) {
            (None, _) => i18n::field_error(locale, kind, &self.error),
            (Some(row), "") => i18n::tr_with(
                locale,
                "import.row_only",
                &[("row".into(), row.to_string()), ("message".into(), self.rule_text(locale))],
            ),
            (Some(row), field) => i18n::tr_with(
                locale,
                "import.row_error",
                &[
                    ("row".into(), row.to_string()),
                    ("field".into(), i18n::field_label(locale, kind, field)),
                    ("message".into(), self.rule_text(locale)),
                ],
            ),
        }
    }
}

/// The error answering a refused import file.
pub fn refused(def: &EntityDef, errors: Vec<RowError>) -> AppError {
    AppError::ImportRefused { kind: def.kind.to_owned(), errors: capped(errors, false) }
}

/// Sorts problems by row (file and header first) and keeps the first [`MAX_ERRORS`], with a
/// note when some were left out (or `more` says checking stopped early).
fn capped(mut errors: Vec<RowError>, more: bool) -> Vec<RowError> {
    errors.sort_by_key(|e| e.row.unwrap_or(0));
    if more || errors.len() > MAX_ERRORS {
        errors.truncate(MAX_ERRORS);
        errors.push(RowError::file("import.too_many_errors").with("max", MAX_ERRORS));
    }
    errors
}

/// A file to import.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Its name, for the audit trail.
    pub name: String,
    /// Its format.
    pub format: FileFormat,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// One data row of a sheet.
#[derive(Debug)]
struct SheetRow {
    /// Spreadsheet row number.
    number: usize,
    /// Cell texts, left to right.
    cells: Vec<String>,
    /// Cells holding a spreadsheet error (`#N/A`): column index and the error's text.
    bad_cells: Vec<(usize, String)>,
}

/// A parsed sheet: the header and the non-blank data rows.
#[derive(Debug)]
struct Table {
    header: Vec<String>,
    rows: Vec<SheetRow>,
}

fn blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

fn read_table(format: FileFormat, bytes: &[u8]) -> Result<Table, RowError> {
    let table = match format {
        FileFormat::Csv => read_csv(bytes)?,
        FileFormat::Xlsx => read_xlsx(bytes)?,
    };
    if table.header.is_empty() || blank(&table.header) || table.rows.is_empty() {
        return Err(RowError::file("import.empty_file"));
    }
    Ok(table)
}

fn read_csv(bytes: &[u8]) -> Result<Table, RowError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(RowError::unreadable)?;
        let number = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(rows.len() + 2);
        let cells = record
            .iter()
            .map(|c| std::str::from_utf8(c).map(str::to_owned))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|_| RowError::file("import.not_utf8").with("row", number))?;
        if header.is_none() {
            if !blank(&cells) {
                header = Some(cells);
            }
            continue;
        }
        if blank(&cells) {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(RowError::file("import.too_many_rows").with("max", MAX_ROWS));
        }
        rows.push(SheetRow { number, cells, bad_cells: Vec::new() });
    }
    Ok(Table { header: header.unwrap_or_default(), rows })
}

/// A cell as input text. Numbers become their shortest decimal text, dates `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // A spreadsheet keeps numbers as binary floating point; its shortest round-trip text
        // is what the user typed.
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => {
            let (y, m, day, h, min, s, ms) = d.to_ymd_hms_milli();
            if (h, min, s, ms) == (0, 0, 0, 0) {
                format!("{y:04}-{m:02}-{day:02}")
            } else {
                format!("{y:04}-{m:02}-{day:02} {h:02}:{min:02}:{s:02}")
            }
        }
        Data::Error(e) => return Err(e.to_string()),
    })
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, RowError> {
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(RowError::unreadable)?;
    let Some(range) = workbook.worksheet_range_at(0) else {
        return Err(RowError::file("import.empty_file"));
    };
    let range = range.map_err(RowError::unreadable)?;
    let top = range.start().map_or(0, |(row, _)| row);
    let top = usize::try_from(top).unwrap_or(0);
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for (i, cells) in range.rows().enumerate() {
        let number = top + i + 1;
        let mut texts = Vec::with_capacity(cells.len());
        let mut bad_cells = Vec::new();
        for (col, cell) in cells.iter().enumerate() {
            match cell_text(cell) {
                Ok(text) => texts.push(text),
                Err(e) => {
                    bad_cells.push((col, e));
                    texts.push(String::new());
                }
            }
        }
        if header.is_none() {
            if !blank(&texts) {
                header = Some(texts);
            }
            continue;
        }
        if blank(&texts) && bad_cells.is_empty() {
            continue;
        }
        if rows.len() >= MAX_ROWS {
            return Err(RowError::file("import.too_many_rows").with("max", MAX_ROWS));
        }
        rows.push(SheetRow { number, cells: texts, bad_cells });
    }
    Ok(Table { header: header.unwrap_or_default(), rows })
}

/// Maps header cells to fields (case-insensitive; blank header cells to `None`), refusing
/// unknown and repeated columns and missing required ones.
fn map_header(
    def: &EntityDef,
    header: &[String],
) -> Result<Vec<Option<&'static FieldDef>>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for (i, cell) in header.iter().enumerate() {
        let text = if i == 0 { cell.trim_start_matches('\u{feff}') } else { cell };
        let text = text.trim();
        if text.is_empty() {
            columns.push(None);
            continue;
        }
        let name = text.to_lowercase();
        match def.field(&name) {
            None => {
                errors.push(RowError::header("import.unknown_column", text));
                columns.push(None);
            }
            Some(field) => {
                if !seen.insert(field.name) {
                    errors.push(RowError::header("import.duplicate_column", field.name));
                }
                columns.push(Some(field));
            }
        }
    }
    for field in def.fields {
        if field.required && field.default.is_none() && !seen.contains(field.name) {
            errors.push(RowError::header("import.header_missing", field.name));
        }
    }
    if errors.is_empty() { Ok(columns) } else { Err(errors) }
}

/// A reference the file itself does not satisfy, to look for in the database.
#[derive(Debug, Clone)]
struct PendingRef {
    row: usize,
    field: &'static str,
    target: &'static str,
    code: String,
}

/// What checking a file without the database found.
#[derive(Debug, Default)]
struct Checked {
    /// Valid rows: spreadsheet row number and record, in file order.
    rows: Vec<(usize, Record)>,
    /// Problems found.
    errors: Vec<RowError>,
    /// Whether checking stopped at [`MAX_ERRORS`].
    truncated: bool,
    /// References left for the database to satisfy.
    refs: Vec<PendingRef>,
}

impl Checked {
    fn push(&mut self, error: RowError) {
        self.errors.push(error);
        if self.errors.len() >= MAX_ERRORS {
            self.truncated = true;
        }
    }
}

/// The unique keys of `def`: `code` when it has one, then its other unique field sets.
fn unique_keys(def: &EntityDef) -> Vec<&'static [&'static str]> {
    const CODE: &[&str] = &["code"];
    let mut keys = Vec::new();
    if def.has_code() {
        keys.push(CODE);
    }
    keys.extend(def.unique.iter().copied());
    keys
}

fn key_text(values: &KeyValues) -> String {
    values.iter().map(|v| v.as_deref().unwrap_or("")).collect::<Vec<_>>().join(" / ")
}

fn duplicate(field: &str, values: &KeyValues, first: usize) -> FieldError {
    FieldError::new(field, "import.duplicate_in_file")
        .with("value", key_text(values))
        .with("first", first)
}

/// Reads and checks a file against `def` without the database.
fn check_file(
    def: &'static EntityDef,
    format: FileFormat,
    bytes: &[u8],
    progress: &(dyn Fn(Phase, usize, usize) + Sync),
) -> Checked {
    let mut out = Checked::default();
    progress(Phase::Reading, 0, 0);
    let table = match read_table(format, bytes) {
        Ok(table) => table,
        Err(e) => {
            out.push(e);
            return out;
        }
    };
    let columns = match map_header(def, &table.header) {
        Ok(columns) => columns,
        Err(errors) => {
            out.errors = errors;
            return out;
        }
    };

    let total = table.rows.len();
    let keys = unique_keys(def);
    let code_field = def.field("code");
    // Each unique key's values seen so far, with the row that holds them.
    let mut seen: Vec<HashMap<KeyValues, usize>> = vec![HashMap::new(); keys.len()];
    // Codes of rows so far, valid or not, for references to earlier rows.
    let mut codes: HashSet<String> = HashSet::new();
    for (done, row) in table.rows.iter().enumerate() {
        if done % PROGRESS_STEP == 0 {
            progress(Phase::Checking, done, total);
        }
        if out.truncated {
            break;
        }
        let mut problems = Vec::new();
        let mut input = RawInput::new();
        for (i, cell) in row.cells.iter().enumerate() {
            match columns.get(i) {
                Some(Some(field)) => {
                    if !cell.trim().is_empty() {
                        input.insert(field.name.to_owned(), cell.clone());
                    }
                }
                _ if cell.trim().is_empty() => {}
                _ => {
                    if problems.is_empty() {
                        problems.push(FieldError::new("", "import.extra_cells"));
                    }
                }
            }
        }
        for (i, text) in &row.bad_cells {
            let field = columns.get(*i).copied().flatten().map_or("", |f| f.name);
            problems.push(FieldError::new(field, "import.cell_error").with("value", text));
        }

        let record = match schema::validate(def, &input, false) {
            Ok(record) if problems.is_empty() => Some(record),
            Ok(_) => None,
            Err(errors) => {
                problems.extend(errors);
                None
            }
        };
        let Some(record) = record else {
            // Remember the row's code anyway: a later row with the same code is a duplicate,
            // and later rows referring to it need no second report.
            let code = code_field
                .zip(input.get("code"))
                .and_then(|(f, raw)| schema::parse_field(f, raw.trim()).ok());
            if let (Some(Value::Text(code)), Some(seen)) = (code, seen.first_mut()) {
                let values = vec![Some(code.clone())];
                if let Some(first) = seen.get(&values) {
                    problems.push(duplicate("code", &values, *first));
                } else {
                    seen.insert(values, row.number);
                }
                codes.insert(code);
            }
            for p in problems {
                out.push(RowError::at(row.number, p));
            }
            continue;
        };

        for field in def.fields {
            let (FieldKind::Ref(target), Some(Value::Text(code))) =
                (field.kind, record.get(field.name))
            else {
                continue;
            };
            if target == def.kind && codes.contains(code) {
                continue;
            }
            out.refs.push(PendingRef {
                row: row.number,
                field: field.name,
                target,
                code: code.clone(),
            });
        }
        for (key, seen) in keys.iter().zip(seen.iter_mut()) {
            let values = bulk::key_values(&record, key);
            if let Some(first) = seen.get(&values) {
                let field = key.first().copied().unwrap_or("");
                out.push(RowError::at(row.number, duplicate(field, &values, *first)));
            } else {
                seen.insert(values, row.number);
            }
        }
        if let Some(Value::Text(code)) = record.get("code") {
            codes.insert(code.clone());
        }
        out.rows.push((row.number, record));
    }
    progress(Phase::Checking, total, total);
    out
}

/// Checks valid rows against the database: unique keys already taken, references to rows
/// that do not exist.
async fn check_database(
    conn: &mut Conn,
    backend: Backend,
    def: &EntityDef,
    rows: &[(usize, Record)],
    refs: &[PendingRef],
) -> Result<Vec<RowError>, StoreError> {
    let mut errors = Vec::new();
    for key in unique_keys(def) {
        let field = key.first().copied().unwrap_or("");
        let taken: HashSet<KeyValues> = if key == ["code"] {
            let codes: Vec<String> = rows
                .iter()
                .filter_map(|(_, r)| r.get("code").and_then(Value::as_text).map(str::to_owned))
                .collect();
            let found = bulk::existing_codes_among(conn, backend, def.kind, &codes).await?;
            found.into_iter().map(|c| vec![Some(c)]).collect()
        } else {
            bulk::existing_keys(conn, def, key).await?
        };
        if taken.is_empty() {
            continue;
        }
        for (row, record) in rows {
            let values = bulk::key_values(record, key);
            if taken.contains(&values) {
                errors.push(RowError::at(
                    *row,
                    FieldError::new(field, "import.already_exists")
                        .with("value", key_text(&values)),
                ));
            }
        }
    }

    let mut by_target: HashMap<&str, Vec<String>> = HashMap::new();
    for r in refs {
        by_target.entry(r.target).or_default().push(r.code.clone());
    }
    let mut found: HashMap<&str, HashSet<String>> = HashMap::new();
    for (target, mut codes) in by_target {
        codes.sort();
        codes.dedup();
        found.insert(target, bulk::existing_codes_among(conn, backend, target, &codes).await?);
    }
    for r in refs {
        if !found.get(r.target).is_some_and(|codes| codes.contains(&r.code)) {
            errors.push(RowError::at(
                r.row,
                FieldError::new(r.field, "field.unknown_reference").with("value", &r.code),
            ));
        }
    }
    Ok(errors)
}

/// Imports `upload` into `def` as user `user_id`: every row or none. Answers the number of
/// rows imported, or [`AppError::ImportRefused`] with the problems found.
pub async fn import(
    db: &Db,
    def: &'static EntityDef,
    upload: Upload,
    user_id: i64,
    progress: Progress,
) -> Result<usize, AppError> {
    if upload.bytes.len() > MAX_FILE_BYTES {
        return Err(refused(def, vec![RowError::too_large()]));
    }
    let Upload { name, format, bytes } = upload;
    let checking = progress.clone();
    let checked =
        tokio::task::spawn_blocking(move || check_file(def, format, &bytes, checking.as_ref()))
            .await
            .map_err(|e| AppError::Internal(format!("import check: {e}")))?;
    let Checked { rows, mut errors, truncated, refs } = checked;
    if truncated {
        return Err(AppError::ImportRefused {
            kind: def.kind.to_owned(),
            errors: capped(errors, true),
        });
    }
    if !errors.is_empty() {
        // The file is refused anyway; look for more problems without taking the write lock.
        if !rows.is_empty() {
            let mut conn = db.pool().acquire().await.map_err(StoreError::from)?;
            errors.extend(check_database(&mut conn, db.backend(), def, &rows, &refs).await?);
        }
        return Err(refused(def, errors));
    }

    let total = rows.len();
    let records: Vec<&Record> = rows.iter().map(|(_, r)| r).collect();
    let after = serde_json::json!({"rows": total, "file": name});
    let (rows, refs, records, after, progress) = (&rows, &refs, &records, &after, &progress);
    let backend = db.backend();
    let outcome = db
        .write(move |conn, _| {
            Box::pin(async move {
                let problems = check_database(conn, backend, def, rows, refs).await?;
                if !problems.is_empty() {
                    return Ok(Err(problems));
                }
                let report = |done: usize| progress(Phase::Writing, done, total);
                bulk::insert_records(conn, backend, def, records, &report).await?;
                audit::record(
                    conn,
                    def.kind,
                    0,
                    "import",
                    Some(user_id),
                    None,
                    Some(after.clone()),
                )
                .await?;
                Ok(Ok(total))
            })
        })
        .await?;
    match outcome {
        Ok(n) => {
            tracing::info!(entity = def.kind, rows = n, file = %name, "imported");
            Ok(n)
        }
        Err(problems) => Err(refused(def, problems)),
    }
}

/// An exported file.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The file's content.
    pub bytes: Vec<u8>,
    /// Data rows in it.
    pub rows: usize,
    /// A file name for it: `item-2026-12-03.csv`.
    pub file_name: String,
    /// Its MIME type.
    pub content_type: &'static str,
}

/// Exports the rows of `def` that `q` selects (its search, filters and sort; not its paging).
pub async fn export(
    db: &Db,
    def: &'static EntityDef,
    q: &ListQuery,
    format: FileFormat,
) -> Result<Exported, AppError> {
    let rows = export_rows(db, def, q).await?;
    let count = rows.len();
    let bytes = tokio::task::spawn_blocking(move || write_file(def, &rows, format))
        .await
        .map_err(|e| AppError::Internal(format!("export: {e}")))??;
    let date = chrono::Utc::now().date_naive();
    Ok(Exported {
        bytes,
        rows: count,
        file_name: format!("{}-{date}.{}", def.kind, format.extension()),
        content_type: format.content_type(),
    })
}

async fn export_rows(db: &Db, def: &EntityDef, q: &ListQuery) -> Result<Vec<MasterRow>, AppError> {
    let searching = q.search.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !searching && q.filters.is_empty() && q.sort.is_none() {
        return Ok(master::all(db, def).await?);
    }
    let mut page_q = q.clone();
    page_q.per_page = EXPORT_PAGE;
    page_q.page = 1;
    let mut out = Vec::new();
    loop {
        let page = master::list(db, def, &page_q).await?;
        let got = page.rows.len();
        out.extend(page.rows);
        let all_read = i64::try_from(out.len()).map_or(true, |n| n >= page.total);
        if got == 0 || all_read {
            return Ok(out);
        }
        page_q.page += 1;
    }
}

/// A file with only the header row, to fill in and import.
pub fn template(def: &EntityDef, format: FileFormat) -> Result<Vec<u8>, AppError> {
    write_file(def, &[], format)
}

fn write_file(
    def: &EntityDef,
    rows: &[MasterRow],
    format: FileFormat,
) -> Result<Vec<u8>, AppError> {
    match format {
        FileFormat::Csv => write_csv(def, rows),
        FileFormat::Xlsx => write_xlsx(def, rows),
    }
}

fn cell<'a>(row: &'a MasterRow, field: &FieldDef) -> std::borrow::Cow<'a, str> {
    match row.values.get(field.name) {
        Some(Value::Text(s)) => std::borrow::Cow::Borrowed(s),
        Some(v) => std::borrow::Cow::Owned(v.to_input()),
        None => std::borrow::Cow::Borrowed(""),
    }
}

fn write_csv(def: &EntityDef, rows: &[MasterRow]) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(format!("csv export: {e}"));
    // The byte-order mark tells Excel the file is UTF-8, so Chinese names show correctly.
    let mut writer = csv::Writer::from_writer(BOM.to_vec());
    writer.write_record(def.fields.iter().map(|f| f.name)).map_err(failed)?;
    for row in rows {
        writer
            .write_record(def.fields.iter().map(|f| cell(row, f).into_owned()))
            .map_err(failed)?;
    }
    writer.into_inner().map_err(|e| AppError::Internal(format!("csv export: {e}")))
}

fn write_xlsx(def: &EntityDef, rows: &[MasterRow]) -> Result<Vec<u8>, AppError> {
    use rust_xlsxwriter::{Format, Workbook};
    let failed = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("xlsx export: {e}"));
    let index = |what: &str, i: usize| AppError::Internal(format!("xlsx export: {what} {i}"));
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(def.kind).map_err(failed)?;
    let bold = Format::new().set_bold();
    for (c, field) in def.fields.iter().enumerate() {
        let col = u16::try_from(c).map_err(|_| index("column", c))?;
        sheet.write_string_with_format(0, col, field.name, &bold).map_err(failed)?;
        sheet.set_column_width(col, 16).map_err(failed)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let line = u32::try_from(r + 1).map_err(|_| index("row", r))?;
        for (c, field) in def.fields.iter().enumerate() {
            let text = cell(row, field);
            if text.is_empty() {
                continue;
            }
            let col = u16::try_from(c).map_err(|_| index("column", c))?;
            // Every value is written as text, so codes like 007 keep their zeros.
            sheet.write_string(line, col, text.as_ref()).map_err(failed)?;
        }
    }
    sheet.set_freeze_panes(1, 0).map_err(failed)?;
    workbook.save_to_buffer().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use papilio_core::entities;

    fn check(def: &'static EntityDef, csv: &str) -> Checked {
        check_file(def, FileFormat::Csv, csv.as_bytes(), &|_, _, _| {})
    }

    fn rules(c: &Checked) -> Vec<(Option<usize>, String, String)> {
        c.errors.iter().map(|e| (e.row, e.error.field.clone(), e.error.rule.clone())).collect()
    }

    #[test]
    fn header_is_case_insensitive_and_blank_cells_take_defaults() {
        let c = check(
            &entities::UNIT,
            "\u{feff}CODE,Name_ZH,name_en,decimals\nbox,箱,Box,\nkg,千克,Kilogram,3\n",
        );
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.rows.len(), 2);
        assert_eq!(c.rows[0].0, 2);
        assert_eq!(c.rows[0].1["code"], Value::Text("BOX".into()));
        assert_eq!(c.rows[0].1["decimals"], Value::Int(0));
        assert_eq!(c.rows[0].1["active"], Value::Bool(true));
        assert_eq!(c.rows[1].1["decimals"], Value::Int(3));
    }

    #[test]
    fn header_problems_name_the_column() {
        let c = check(&entities::UNIT, "code,name_zh,colour,code\nBOX,箱,red,BOX\n");
        assert_eq!(
            rules(&c),
            vec![
                (None, "header".into(), "import.unknown_column".into()),
                (None, "header".into(), "import.duplicate_column".into()),
                (None, "header".into(), "import.header_missing".into()),
            ]
        );
        assert_eq!(c.errors[2].error.params, vec![("column".into(), "name_en".into())]);
    }

    #[test]
    fn duplicates_and_later_references_are_found_in_the_file() {
        let c = check(
            &entities::ITEM_CATEGORY,
            "code,name_zh,name_en,parent\nA,甲,A,\nB,乙,B,A\nC,丙,C,D\nD,丁,D,\na,甲,A,\n",
        );
        assert_eq!(rules(&c), vec![(Some(6), "code".into(), "import.duplicate_in_file".into())]);
        // B's parent A is earlier in the file; C's parent D comes later, so the database must
        // have it.
        let pending: Vec<(usize, &str)> = c.refs.iter().map(|r| (r.row, r.code.as_str())).collect();
        assert_eq!(pending, vec![(4, "D")]);
    }

    #[test]
    fn a_code_repeating_an_invalid_row_is_still_a_duplicate() {
        let c = check(&entities::UNIT, "code,name_zh,name_en,decimals\nB2,箱,Box,9\nb2,箱,Box,1\n");
        assert_eq!(
            rules(&c),
            vec![
                (Some(2), "decimals".into(), "field.out_of_range".into()),
                (Some(3), "code".into(), "import.duplicate_in_file".into()),
            ]
        );
    }

    #[test]
    fn errors_are_capped() {
        let mut csv = String::from("code,name_zh,name_en,decimals\n");
        for i in 0..500 {
            csv.push_str(&format!("U{i},单,Unit,-1\n"));
        }
        let c = check(&entities::UNIT, &csv);
        assert!(c.truncated);
        assert_eq!(c.errors.len(), MAX_ERRORS);
        let shown = capped(c.errors, c.truncated);
        assert_eq!(shown.len(), MAX_ERRORS + 1);
        assert_eq!(shown[MAX_ERRORS].error.rule, "import.too_many_errors");
    }

    #[test]
    fn extra_cells_and_bad_utf8_are_reported() {
        let c = check(&entities::UNIT, "code,name_zh,name_en\nBOX,箱,Box,surplus\n");
        assert_eq!(rules(&c), vec![(Some(2), String::new(), "import.extra_cells".into())]);
        let c = check_file(
            &entities::UNIT,
            FileFormat::Csv,
            b"code,name_zh,name_en\nBOX,\xcf\xe4,Box\n",
            &|_, _, _| {},
        );
        assert_eq!(rules(&c), vec![(None, "file".into(), "import.not_utf8".into())]);
    }

    #[test]
    fn formats_are_detected() {
        let d = FileFormat::detect;
        assert_eq!(d(Some("a.csv"), None, b"code"), Some(FileFormat::Csv));
        assert_eq!(d(None, Some("text/csv"), b"code"), Some(FileFormat::Csv));
        assert_eq!(d(Some("a.xlsx"), None, b"PK\x03\x04"), Some(FileFormat::Xlsx));
        assert_eq!(d(Some("a.xls"), None, b"\xD0\xCF\x11\xE0"), None);
        assert_eq!(d(Some("a.pdf"), None, b"%PDF"), None);
        assert_eq!(d(Some("a.xlsx"), None, b"code"), None);
    }

    #[test]
    fn an_export_reads_back_as_the_same_records() {
        let raw: RawInput = [
            ("code", "fan-1"),
            ("name_zh", "风扇, \"大\""),
            ("name_en", "Fan\nwith a line break"),
            ("item_type", "purchased"),
            ("base_unit", "PCS"),
            ("safety_stock", "12.5"),
            ("max_stock", "100"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let values = schema::validate(&entities::ITEM, &raw, false).unwrap();
        let row = MasterRow { id: 1, version: 1, values: values.clone() };
        for format in [FileFormat::Csv, FileFormat::Xlsx] {
            let bytes = write_file(&entities::ITEM, std::slice::from_ref(&row), format).unwrap();
            let c = check_file(&entities::ITEM, format, &bytes, &|_, _, _| {});
            assert!(c.errors.is_empty(), "{format:?}: {:?}", c.errors);
            assert_eq!(c.rows, vec![(2, values.clone())], "{format:?}");
        }
    }
}
