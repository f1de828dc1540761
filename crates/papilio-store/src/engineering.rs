//! Engineering data 工程数据 in storage: bills of materials and routings in versions, the
//! structure in effect on a date, explosion and where-used, version comparison, engineering
//! change orders 工程变更单 and the standard cost roll-up 成本卷算 with its history.
//!
//! The rules themselves are pure functions in [`papilio_core::bom`]; this module loads what
//! they need in a few bulk queries (never one query per item), runs them and stores what they
//! answer.
//!
//! # Versions
//!
//! A BOM version ([`BomInput`], stored as a [`BomVersion`]) belongs to a parent item, has a
//! name (`01`, `A-ACME`; upper-cased like codes), an optional customer, optional validity
//! dates and its lines. Routings ([`RoutingInput`], [`RoutingVersion`]) are the same without
//! a customer. Both move `draft → approved → obsolete` (or `draft → obsolete`), reusing
//! [`BomStatus`]:
//!
//! - only a draft can be changed ([`update_bom`], [`update_routing`]); every change carries the
//!   `lock_version` the caller read and is refused as [`StoreError::Stale`] when it moved;
//! - [`approve_bom`] refuses a version that would close a loop in the approved structure,
//!   naming the loop in a [`FieldError`] with the rule `bom.cycle` and a `path` parameter
//!   (`FAN → MOTOR → FAN`);
//! - approving directly keeps the validity dates the draft was given; an engineering change
//!   order ([`ECO_TYPE`]) instead approves it from its effective date and ends the version it
//!   replaces on the day before.
//!
//! Which version applies on a date is [`papilio_core::bom::effective_bom`]'s rule (customer
//! version first, then latest start, then greatest name); routings use the same rule.
//!
//! # Units
//!
//! A line's quantity is in the line's unit; the unit must convert to the component's base unit
//! (same unit, else an item-specific conversion, else a global one, either way round, as stock
//! documents convert). Explosion and roll-up work in base units.
//!
//! # Standard cost
//!
//! [`roll_up`] costs every item from the structure and routings in effect on a date (general
//! versions; customer versions are for orders, not for the standard). A purchased (leaf)
//! item's material cost is its `items.standard_cost` per base unit. An operation costs its
//! hours per unit (`setup_hours / lot_size + run_hours`) at its work centre's labour, machine
//! and overhead rates; a subcontracted operation costs its fee per unit only (the hours still
//! count for lead time). Work-centre efficiency affects capacity, not standard cost. Every
//! run is kept with its results per item and per operation, so [`cost_history`] shows how an
//! item's cost moved; [`rolled_up_cost`] is the latest total, which sales uses as the cost
//! estimate of items without issue history.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use papilio_core::bom::{self, Bom, BomDiff, BomError, BomLine, BomStatus, IssueMethod};
use papilio_core::document::{DatePart, NumberFormat};
use papilio_core::value::{from_scaled, to_scaled};
use papilio_core::{DomainError, FieldError};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::audit;
use crate::bulk::binds_per_statement;
use crate::db::{Backend, Conn, Db, TxFuture, new_id, now_text};
use crate::documents::{Actor, DocType, Document, Draft, DraftHook, PostingHooks};
use crate::error::StoreError;
use crate::master::Page;

/// Most lines one BOM version (or operations one routing) may have.
pub const MAX_LINES: usize = 1_000;

/// Longest version name.
pub const MAX_VERSION_LEN: usize = 32;

/// Most bind parameters of one statement run inside a caller's transaction, where the backend
/// is not known: safe on both (see [`binds_per_statement`]).
const CONN_BINDS: usize = 500;

// ---------------------------------------------------------------------------------------
// Small conversions

/// The stored code of a status.
pub fn status_code(status: BomStatus) -> &'static str {
    match status {
        BomStatus::Draft => "draft",
        BomStatus::Approved => "approved",
        BomStatus::Obsolete => "obsolete",
    }
}

/// The status stored as `code`.
pub fn status_from_code(code: &str) -> Option<BomStatus> {
    match code {
        "draft" => Some(BomStatus::Draft),
        "approved" => Some(BomStatus::Approved),
        "obsolete" => Some(BomStatus::Obsolete),
        _ => None,
    }
}

/// The stored code of an issue method.
pub fn issue_code(method: IssueMethod) -> &'static str {
    match method {
        IssueMethod::Picked => "picked",
        IssueMethod::Backflushed => "backflushed",
    }
}

/// The issue method stored as `code`.
pub fn issue_from_code(code: &str) -> Option<IssueMethod> {
    match code {
        "picked" => Some(IssueMethod::Picked),
        "backflushed" => Some(IssueMethod::Backflushed),
        _ => None,
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {value}"))
}

fn read_status(r: &AnyRow) -> Result<BomStatus, StoreError> {
    let code: String = r.try_get("status")?;
    status_from_code(&code).ok_or_else(|| corrupt("status", &code))
}

fn read_date(r: &AnyRow, col: &str) -> Result<Option<NaiveDate>, StoreError> {
    match r.try_get::<Option<String>, _>(col)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| corrupt(col, &text)),
    }
}

fn read_dec(r: &AnyRow, col: &str) -> Result<Decimal, StoreError> {
    Ok(from_scaled(r.try_get(col)?))
}

fn read_opt_dec(r: &AnyRow, col: &str) -> Result<Option<Decimal>, StoreError> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(from_scaled))
}

fn date_text(date: Option<NaiveDate>) -> Option<String> {
    date.map(|d| d.to_string())
}

fn scaled(value: Decimal, field: &str) -> Result<i64, StoreError> {
    to_scaled(value).ok_or_else(|| {
        DomainError::Invalid(vec![FieldError::new(field, "field.too_many_decimals").with("max", 6)])
            .into()
    })
}

fn invalid(errors: Vec<FieldError>) -> StoreError {
    StoreError::Domain(DomainError::Invalid(errors))
}

fn at(prefix: &str, field: &str) -> String {
    if prefix.is_empty() { field.to_owned() } else { format!("{prefix}.{field}") }
}

/// Trims and upper-cases a code; `None` when blank.
fn code_of(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_uppercase())
}

fn opt_code(text: &Option<String>) -> Option<String> {
    text.as_deref().and_then(code_of)
}

fn opt_text(text: &Option<String>) -> Option<String> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// A core error as the field errors storage answers with. The rule codes are message keys:
/// `bom.cycle` (with `path`, the loop as `A → B → A`), `bom.overflow`,
/// `bom.missing_material_cost`, `routing.lot_size_not_positive`.
pub fn bom_error(field: &str, e: &BomError) -> StoreError {
    let error = match e {
        BomError::Cycle { path } => {
            FieldError::new(field, "bom.cycle").with("path", path.join(" → "))
        }
        BomError::Overflow { item } => FieldError::new(field, "bom.overflow").with("item", item),
        BomError::MissingMaterialCost { item } => {
            FieldError::new(field, "bom.missing_material_cost").with("item", item)
        }
        BomError::LotSizeNotPositive { item, seq, lot_size } => {
            FieldError::new(field, "routing.lot_size_not_positive")
                .with("item", item)
                .with("seq", seq)
                .with("lot_size", lot_size)
        }
    };
    invalid(vec![error])
}

/// `($a, $a+1, ..., $a+n-1)`.
fn placeholders(first: usize, n: usize) -> String {
    let list: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("({})", list.join(", "))
}

/// One bound value of a multi-row insert.
#[derive(Debug, Clone)]
enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}

/// Most bind parameters of one multi-row `INSERT` on `backend`. On SQLite each bound value
/// costs more the more a statement has (100,000 rows of four values took 0.63 s in statements
/// of 120 values and 1.2 s in statements of 500), so writes there use small statements;
/// PostgreSQL takes [`binds_per_statement`].
pub fn write_binds(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 250,
        Backend::Postgres => binds_per_statement(backend),
    }
}

/// Inserts `rows` (each `columns.len()` values) into `table` with multi-row `INSERT`s of at
/// most about `binds` parameters each, in order (see [`write_binds`]).
async fn insert_rows(
    conn: &mut Conn,
    binds: usize,
    table: &'static str,
    columns: &[&'static str],
    rows: &[Vec<Arg>],
) -> Result<(), StoreError> {
    insert_rows_sharing(conn, binds, table, &[], columns, rows).await
}

/// [`insert_rows`] where the `shared` columns hold the same value in every row: bound once per
/// statement (as `$1`, `$2`...) rather than once per row.
async fn insert_rows_sharing(
    conn: &mut Conn,
    binds: usize,
    table: &'static str,
    shared: &[(&'static str, Arg)],
    columns: &[&'static str],
    rows: &[Vec<Arg>],
) -> Result<(), StoreError> {
    let width = columns.len().max(1);
    let per_statement =
        (binds.saturating_sub(shared.len()) / width).clamp(1, crate::bulk::MAX_ROWS_PER_INSERT);
    let names: Vec<&str> = shared.iter().map(|(c, _)| *c).chain(columns.iter().copied()).collect();
    let head = format!("INSERT INTO {table} ({}) VALUES ", names.join(", "));
    let fixed: Vec<String> = (1..=shared.len()).map(|i| format!("${i}")).collect();
    for chunk in rows.chunks(per_statement) {
        let mut sql = String::with_capacity(head.len() + chunk.len() * (width + shared.len()) * 6);
        sql.push_str(&head);
        let mut n = shared.len();
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            let mut first = true;
            for f in &fixed {
                if !first {
                    sql.push_str(", ");
                }
                sql.push_str(f);
                first = false;
            }
            for _ in 0..width {
                if !first {
                    sql.push_str(", ");
                }
                n += 1;
                sql.push_str(&format!("${n}"));
                first = false;
            }
            sql.push(')');
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for arg in shared.iter().map(|(_, a)| a).chain(chunk.iter().flatten()) {
            query = match arg {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.clone()),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Runs `sql_head` followed by `(…)` lists of `codes`, `binds` at a time, after the fixed
/// `leading` text parameters; answers every row found.
async fn rows_for_codes(
    conn: &mut Conn,
    binds: usize,
    sql_head: &str,
    sql_tail: &str,
    leading: &[Option<String>],
    codes: &[String],
) -> Result<Vec<AnyRow>, StoreError> {
    let mut out = Vec::new();
    let chunk = binds.saturating_sub(leading.len()).max(1);
    for part in codes.chunks(chunk) {
        let sql = format!("{sql_head}{}{sql_tail}", placeholders(leading.len() + 1, part.len()));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in leading {
            query = query.bind(value.clone());
        }
        for code in part {
            query = query.bind(code.clone());
        }
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Unit conversions

/// The unit conversions, loaded once per operation (the table is small).
#[derive(Debug, Default)]
struct Conversions {
    /// (item or "" for global, from, to) → factor.
    factors: HashMap<(String, String, String), Decimal>,
}

impl Conversions {
    async fn load(conn: &mut Conn) -> Result<Conversions, StoreError> {
        let rows = sqlx::query("SELECT item, from_unit, to_unit, factor FROM unit_conversions")
            .fetch_all(&mut *conn)
            .await?;
        let mut factors = HashMap::new();
        for r in rows {
            let item: Option<String> = r.try_get("item")?;
            factors.insert(
                (item.unwrap_or_default(), r.try_get("from_unit")?, r.try_get("to_unit")?),
                read_dec(&r, "factor")?,
            );
        }
        Ok(Conversions { factors })
    }

    /// Base units per one `unit` of `item`: 1 for the base unit, else the item's own
    /// conversion, else a global one, either way round.
    fn factor(&self, item: &str, unit: &str, base: &str) -> Option<Decimal> {
        if unit == base {
            return Some(Decimal::ONE);
        }
        for scope in [item, ""] {
            let key = |from: &str, to: &str| (scope.to_owned(), from.to_owned(), to.to_owned());
            if let Some(f) = self.factors.get(&key(unit, base)) {
                return Some(*f);
            }
            if let Some(f) = self.factors.get(&key(base, unit)).filter(|f| !f.is_zero()) {
                return Decimal::ONE.checked_div(*f);
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// BOM versions: types

/// A component line as entered.
#[derive(Debug, Clone, PartialEq)]
pub struct BomLineInput {
    /// The component's item code.
    pub component: String,
    /// Quantity per one parent, in `unit`; must be positive.
    pub qty_per: Decimal,
    /// The unit of `qty_per`; must convert to the component's base unit.
    pub unit: String,
    /// Expected scrap in percent of the net quantity, 0 to 100.
    pub scrap_pct: Decimal,
    /// The routing operation that consumes it.
    pub operation_seq: Option<i64>,
    /// Picked or backflushed.
    pub issue_method: IssueMethod,
    /// Free text.
    pub note: Option<String>,
}

/// A BOM version as entered (create, update, import).
#[derive(Debug, Clone, PartialEq)]
pub struct BomInput {
    /// The parent item's code.
    pub item: String,
    /// The version's name.
    pub version: String,
    /// The customer it is made for; `None` for a general version.
    pub customer: Option<String>,
    /// First day it applies once approved.
    pub valid_from: Option<NaiveDate>,
    /// Last day it applies.
    pub valid_to: Option<NaiveDate>,
    /// Free text.
    pub note: Option<String>,
    /// The component lines, in order.
    pub lines: Vec<BomLineInput>,
}

/// A stored BOM version without its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BomHeader {
    /// Id.
    pub id: i64,
    /// Parent item.
    pub item: String,
    /// Version name.
    pub version: String,
    /// Where it stands.
    pub status: BomStatus,
    /// First day it applies.
    pub valid_from: Option<NaiveDate>,
    /// Last day it applies.
    pub valid_to: Option<NaiveDate>,
    /// Customer of a customer version.
    pub customer: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Optimistic-locking counter; send it back with every change.
    pub lock_version: i64,
    /// Who created it (user name).
    pub created_by: Option<String>,
    /// Who approved it (user name).
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Number of lines.
    pub line_count: i64,
}

/// A stored component line.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBomLine {
    /// 1-based position.
    pub line_no: i64,
    /// Component item code.
    pub component: String,
    /// Quantity per parent in `unit`.
    pub qty_per: Decimal,
    /// The line's unit.
    pub unit: String,
    /// The component's base unit.
    pub base_unit: String,
    /// Base units per one `unit` (1 when they are the same).
    pub unit_factor: Decimal,
    /// Scrap in percent.
    pub scrap_pct: Decimal,
    /// Consuming operation.
    pub operation_seq: Option<i64>,
    /// Issue method.
    pub issue_method: IssueMethod,
    /// Free text.
    pub note: Option<String>,
}

impl StoredBomLine {
    /// The line as the core's rules take it.
    pub fn to_core(&self) -> BomLine {
        BomLine {
            component: self.component.clone(),
            qty_per: self.qty_per,
            unit_factor: self.unit_factor,
            scrap_pct: self.scrap_pct,
            operation_seq: self.operation_seq,
            issue_method: self.issue_method,
        }
    }
}

/// A stored BOM version with its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct BomVersion {
    /// The header.
    pub header: BomHeader,
    /// The lines in order.
    pub lines: Vec<StoredBomLine>,
}

impl BomVersion {
    /// The version as the core's rules take it.
    pub fn to_core(&self) -> Bom {
        Bom {
            parent: self.header.item.clone(),
            version: self.header.version.clone(),
            valid_from: self.header.valid_from,
            valid_to: self.header.valid_to,
            status: self.header.status,
            customer: self.header.customer.clone(),
            lines: self.lines.iter().map(StoredBomLine::to_core).collect(),
        }
    }

    /// The version as input again (to edit and save, or to export).
    pub fn to_input(&self) -> BomInput {
        BomInput {
            item: self.header.item.clone(),
            version: self.header.version.clone(),
            customer: self.header.customer.clone(),
            valid_from: self.header.valid_from,
            valid_to: self.header.valid_to,
            note: self.header.note.clone(),
            lines: self
                .lines
                .iter()
                .map(|l| BomLineInput {
                    component: l.component.clone(),
                    qty_per: l.qty_per,
                    unit: l.unit.clone(),
                    scrap_pct: l.scrap_pct,
                    operation_seq: l.operation_seq,
                    issue_method: l.issue_method,
                    note: l.note.clone(),
                })
                .collect(),
        }
    }
}

/// What a BOM list asks for.
#[derive(Debug, Clone, Default)]
pub struct VersionFilter {
    /// Only this parent item.
    pub item: Option<String>,
    /// Only this status.
    pub status: Option<BomStatus>,
    /// Only versions of this customer (BOMs only).
    pub customer: Option<String>,
    /// 1-based page.
    pub page: i64,
    /// Rows per page (1 to 500).
    pub per_page: i64,
}

// ---------------------------------------------------------------------------------------
// BOM versions: checks

/// Upper-cases the codes and the version name, trims texts.
fn normalise_bom(input: &BomInput) -> BomInput {
    BomInput {
        item: code_of(&input.item).unwrap_or_default(),
        version: code_of(&input.version).unwrap_or_default(),
        customer: opt_code(&input.customer),
        valid_from: input.valid_from,
        valid_to: input.valid_to,
        note: opt_text(&input.note),
        lines: input
            .lines
            .iter()
            .map(|l| BomLineInput {
                component: code_of(&l.component).unwrap_or_default(),
                unit: code_of(&l.unit).unwrap_or_default(),
                note: opt_text(&l.note),
                ..l.clone()
            })
            .collect(),
    }
}

fn check_version_name(version: &str, errors: &mut Vec<FieldError>, prefix: &str) {
    if version.is_empty() {
        errors.push(FieldError::new(at(prefix, "version"), "field.required"));
    } else if version.chars().count() > MAX_VERSION_LEN {
        errors.push(
            FieldError::new(at(prefix, "version"), "field.too_long").with("max", MAX_VERSION_LEN),
        );
    } else if !version.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
        errors.push(FieldError::new(at(prefix, "version"), "field.bad_code"));
    }
}

fn check_dates(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    errors: &mut Vec<FieldError>,
    prefix: &str,
) {
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        errors.push(
            FieldError::new(at(prefix, "valid_to"), "bom.valid_to_before_from")
                .with("valid_from", from),
        );
    }
}

fn check_note(note: &Option<String>, max: usize, field: String, errors: &mut Vec<FieldError>) {
    if note.as_ref().is_some_and(|n| n.chars().count() > max) {
        errors.push(FieldError::new(field, "field.too_long").with("max", max));
    }
}

fn check_decimal(
    value: Decimal,
    field: String,
    positive: bool,
    max: Option<Decimal>,
    errors: &mut Vec<FieldError>,
) {
    if positive && value <= Decimal::ZERO {
        errors.push(FieldError::new(field, "field.not_positive"));
    } else if value < Decimal::ZERO {
        errors.push(FieldError::new(field, "field.negative"));
    } else if let Some(max) = max.filter(|m| value > *m) {
        errors.push(FieldError::new(field, "field.out_of_range").with("min", 0).with("max", max));
    } else if to_scaled(value).is_none() {
        errors.push(FieldError::new(field, "field.too_many_decimals").with("max", 6));
    }
}

/// What can be checked of a (normalised) BOM version without the database; fields are named
/// under `prefix` (`""` or `boms[3]`).
fn check_bom_shape(input: &BomInput, prefix: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if input.item.is_empty() {
        errors.push(FieldError::new(at(prefix, "item"), "field.required"));
    }
    check_version_name(&input.version, &mut errors, prefix);
    check_dates(input.valid_from, input.valid_to, &mut errors, prefix);
    check_note(&input.note, 2000, at(prefix, "note"), &mut errors);
    if input.lines.is_empty() {
        errors.push(FieldError::new(at(prefix, "lines"), "bom.no_lines"));
    }
    if input.lines.len() > MAX_LINES {
        errors.push(
            FieldError::new(at(prefix, "lines"), "bom.too_many_lines").with("max", MAX_LINES),
        );
    }
    for (i, line) in input.lines.iter().enumerate() {
        let f = |name: &str| at(prefix, &format!("lines[{i}].{name}"));
        if line.component.is_empty() {
            errors.push(FieldError::new(f("component"), "field.required"));
        } else if line.component == input.item {
            errors.push(
                FieldError::new(f("component"), "bom.component_is_parent")
                    .with("item", &input.item),
            );
        }
        if line.unit.is_empty() {
            errors.push(FieldError::new(f("unit"), "field.required"));
        }
        check_decimal(line.qty_per, f("qty_per"), true, None, &mut errors);
        check_decimal(
            line.scrap_pct,
            f("scrap_pct"),
            false,
            Some(Decimal::ONE_HUNDRED),
            &mut errors,
        );
        if line.operation_seq.is_some_and(|s| s <= 0) {
            errors.push(FieldError::new(f("operation_seq"), "field.not_positive"));
        }
        check_note(&line.note, 500, f("note"), &mut errors);
    }
    errors
}

/// Base unit of every item among `codes` that exists.
async fn base_units(
    conn: &mut Conn,
    binds: usize,
    codes: &BTreeSet<String>,
) -> Result<HashMap<String, String>, StoreError> {
    let codes: Vec<String> = codes.iter().cloned().collect();
    let rows = rows_for_codes(
        conn,
        binds,
        "SELECT code, base_unit FROM items WHERE code IN ",
        "",
        &[],
        &codes,
    )
    .await?;
    rows.iter().map(|r| Ok((r.try_get("code")?, r.try_get("base_unit")?))).collect()
}

/// Which of `codes` exist in `table` (a static table name with a `code` column).
async fn existing(
    conn: &mut Conn,
    binds: usize,
    table: &'static str,
    codes: &BTreeSet<String>,
) -> Result<HashSet<String>, StoreError> {
    let codes: Vec<String> = codes.iter().cloned().collect();
    let head = format!("SELECT code FROM {table} WHERE code IN ");
    let rows = rows_for_codes(conn, binds, &head, "", &[], &codes).await?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>("code")?)).collect()
}

/// Checks the references of (normalised, shape-checked) BOM versions in bulk: parent items,
/// customers, components, units and the conversion of each line's unit to its component's
/// base unit. Answers the problems by version index.
async fn check_bom_references(
    conn: &mut Conn,
    binds: usize,
    inputs: &[&BomInput],
    prefixes: &[String],
) -> Result<Vec<FieldError>, StoreError> {
    let mut items = BTreeSet::new();
    let mut units = BTreeSet::new();
    let mut customers = BTreeSet::new();
    for input in inputs {
        items.insert(input.item.clone());
        customers.extend(input.customer.clone());
        for line in &input.lines {
            items.insert(line.component.clone());
            units.insert(line.unit.clone());
        }
    }
    let bases = base_units(conn, binds, &items).await?;
    let known_units = existing(conn, binds, "units", &units).await?;
    let known_customers = existing(conn, binds, "customers", &customers).await?;
    let conversions = Conversions::load(conn).await?;
    let mut errors = Vec::new();
    for (input, prefix) in inputs.iter().zip(prefixes) {
        if !input.item.is_empty() && !bases.contains_key(&input.item) {
            errors.push(
                FieldError::new(at(prefix, "item"), "field.unknown_reference")
                    .with("value", &input.item),
            );
        }
        if let Some(c) = input.customer.as_ref().filter(|c| !known_customers.contains(*c)) {
            errors.push(
                FieldError::new(at(prefix, "customer"), "field.unknown_reference").with("value", c),
            );
        }
        for (i, line) in input.lines.iter().enumerate() {
            let f = |name: &str| at(prefix, &format!("lines[{i}].{name}"));
            let base = bases.get(&line.component);
            if base.is_none() && !line.component.is_empty() {
                errors.push(
                    FieldError::new(f("component"), "field.unknown_reference")
                        .with("value", &line.component),
                );
            }
            if !known_units.contains(&line.unit) {
                if !line.unit.is_empty() {
                    errors.push(
                        FieldError::new(f("unit"), "field.unknown_reference")
                            .with("value", &line.unit),
                    );
                }
            } else if let Some(base) = base
                && conversions.factor(&line.component, &line.unit, base).is_none()
            {
                errors.push(
                    FieldError::new(f("unit"), "bom.no_conversion")
                        .with("unit", &line.unit)
                        .with("base_unit", base)
                        .with("item", &line.component),
                );
            }
        }
    }
    Ok(errors)
}

// ---------------------------------------------------------------------------------------
// BOM versions: reading

const BOM_HEADER_COLUMNS: &str = "b.id, b.item, b.version, b.status, b.valid_from, b.valid_to, \
     b.customer, b.note, b.lock_version, cu.username AS created_by, au.username AS approved_by, \
     b.approved_at, b.created_at, b.updated_at, \
     (SELECT COUNT(*) FROM bom_lines n WHERE n.bom_id = b.id) AS line_count";

const BOM_HEADER_FROM: &str = "FROM boms b LEFT JOIN users cu ON cu.id = b.created_by \
     LEFT JOIN users au ON au.id = b.approved_by";

fn read_bom_header(r: &AnyRow) -> Result<BomHeader, StoreError> {
    Ok(BomHeader {
        id: r.try_get("id")?,
        item: r.try_get("item")?,
        version: r.try_get("version")?,
        status: read_status(r)?,
        valid_from: read_date(r, "valid_from")?,
        valid_to: read_date(r, "valid_to")?,
        customer: r.try_get("customer")?,
        note: r.try_get("note")?,
        lock_version: r.try_get("lock_version")?,
        created_by: r.try_get("created_by")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        line_count: r.try_get("line_count")?,
    })
}

/// The lines of the versions `ids`, keyed by version id, in line order.
async fn bom_lines_of(
    conn: &mut Conn,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<StoredBomLine>>, StoreError> {
    let conversions = Conversions::load(conn).await?;
    let mut out: HashMap<i64, Vec<StoredBomLine>> = HashMap::new();
    for part in ids.chunks(CONN_BINDS) {
        let sql = format!(
            "SELECT l.bom_id, l.line_no, l.component, l.qty_per, l.unit, l.scrap_pct, \
             l.operation_seq, l.issue_method, l.note, i.base_unit \
             FROM bom_lines l JOIN items i ON i.code = l.component \
             WHERE l.bom_id IN {} ORDER BY l.bom_id, l.line_no",
            placeholders(1, part.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in part {
            query = query.bind(*id);
        }
        for r in query.fetch_all(&mut *conn).await? {
            let component: String = r.try_get("component")?;
            let unit: String = r.try_get("unit")?;
            let base_unit: String = r.try_get("base_unit")?;
            let method: String = r.try_get("issue_method")?;
            let line = StoredBomLine {
                line_no: r.try_get("line_no")?,
                unit_factor: conversions.factor(&component, &unit, &base_unit).unwrap_or_default(),
                component,
                qty_per: read_dec(&r, "qty_per")?,
                unit,
                base_unit,
                scrap_pct: read_dec(&r, "scrap_pct")?,
                operation_seq: r.try_get("operation_seq")?,
                issue_method: issue_from_code(&method)
                    .ok_or_else(|| corrupt("issue_method", &method))?,
                note: r.try_get("note")?,
            };
            out.entry(r.try_get("bom_id")?).or_default().push(line);
        }
    }
    Ok(out)
}

async fn load_bom(conn: &mut Conn, id: i64) -> Result<BomVersion, StoreError> {
    let sql = format!("SELECT {BOM_HEADER_COLUMNS} {BOM_HEADER_FROM} WHERE b.id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("bom", id))?;
    let header = read_bom_header(&row)?;
    let lines = bom_lines_of(conn, &[id]).await?.remove(&id).unwrap_or_default();
    Ok(BomVersion { header, lines })
}

/// A BOM version with its lines; [`StoreError::NotFound`] for an unknown id.
pub async fn get_bom(db: &Db, id: i64) -> Result<BomVersion, StoreError> {
    let mut conn = db.pool().acquire().await?;
    load_bom(&mut conn, id).await
}

/// The id of `item`'s version `version`, if there is one.
pub async fn bom_id(db: &Db, item: &str, version: &str) -> Result<Option<i64>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    bom_id_in(&mut conn, item, version).await
}

async fn bom_id_in(conn: &mut Conn, item: &str, version: &str) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT id FROM boms WHERE item = $1 AND version = $2")
        .bind(item.trim().to_uppercase())
        .bind(version.trim().to_uppercase())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// Every version of `item`'s bill, by version name, without lines.
pub async fn bom_versions(db: &Db, item: &str) -> Result<Vec<BomHeader>, StoreError> {
    let sql = format!(
        "SELECT {BOM_HEADER_COLUMNS} {BOM_HEADER_FROM} WHERE b.item = $1 ORDER BY b.version"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(item.trim().to_uppercase())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(read_bom_header).collect()
}

/// The `WHERE` clause and binds of a version list over alias `b`.
fn version_filter(f: &VersionFilter, with_customer: bool) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds = Vec::new();
    if let Some(item) = f.item.as_deref().and_then(code_of) {
        binds.push(item);
        clauses.push(format!("b.item = ${}", binds.len()));
    }
    if let Some(status) = f.status {
        binds.push(status_code(status).to_owned());
        clauses.push(format!("b.status = ${}", binds.len()));
    }
    if with_customer && let Some(customer) = f.customer.as_deref().and_then(code_of) {
        binds.push(customer);
        clauses.push(format!("b.customer = ${}", binds.len()));
    }
    let clause =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, binds)
}

/// BOM versions by item and version, filtered and paged, without lines.
pub async fn list_boms(db: &Db, f: &VersionFilter) -> Result<Page<BomHeader>, StoreError> {
    let (clause, binds) = version_filter(f, true);
    let per_page = f.per_page.clamp(1, 500);
    let page = f.page.max(1);
    let mut count =
        sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM boms b {clause}")));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(db.pool()).await?.try_get("n")?;
    let sql = format!(
        "SELECT {BOM_HEADER_COLUMNS} {BOM_HEADER_FROM} {clause} ORDER BY b.item, b.version \
         LIMIT {per_page} OFFSET {}",
        (page - 1) * per_page
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let rows = query.fetch_all(db.pool()).await?;
    Ok(Page {
        rows: rows.iter().map(read_bom_header).collect::<Result<_, _>>()?,
        total,
        page,
        per_page,
    })
}

/// Every BOM version the filter selects (its paging ignored), with lines: for export. Two
/// queries per 500 versions.
pub async fn export_boms(db: &Db, f: &VersionFilter) -> Result<Vec<BomVersion>, StoreError> {
    let (clause, binds) = version_filter(f, true);
    let sql = format!(
        "SELECT {BOM_HEADER_COLUMNS} {BOM_HEADER_FROM} {clause} ORDER BY b.item, b.version"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let mut conn = db.pool().acquire().await?;
    let headers: Vec<BomHeader> =
        query.fetch_all(&mut *conn).await?.iter().map(read_bom_header).collect::<Result<_, _>>()?;
    let ids: Vec<i64> = headers.iter().map(|h| h.id).collect();
    let mut lines = bom_lines_of(&mut conn, &ids).await?;
    Ok(headers
        .into_iter()
        .map(|header| {
            let lines = lines.remove(&header.id).unwrap_or_default();
            BomVersion { header, lines }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// BOM versions: writing

fn bom_json(v: &BomVersion) -> serde_json::Value {
    serde_json::json!({
        "item": v.header.item,
        "version": v.header.version,
        "status": status_code(v.header.status),
        "customer": v.header.customer,
        "valid_from": date_text(v.header.valid_from),
        "valid_to": date_text(v.header.valid_to),
        "note": v.header.note,
        "lines": v.lines.iter().map(|l| serde_json::json!({
            "component": l.component,
            "qty_per": l.qty_per.to_string(),
            "unit": l.unit,
            "scrap_pct": l.scrap_pct.to_string(),
            "operation_seq": l.operation_seq,
            "issue_method": issue_code(l.issue_method),
        })).collect::<Vec<_>>(),
    })
}

fn bom_line_rows(id: i64, input: &BomInput) -> Result<Vec<Vec<Arg>>, StoreError> {
    input
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(vec![
                Arg::from(new_id()),
                Arg::from(id),
                Arg::from(i64::try_from(i + 1).unwrap_or(i64::MAX)),
                Arg::from(l.component.clone()),
                Arg::from(scaled(l.qty_per, &format!("lines[{i}].qty_per"))?),
                Arg::from(l.unit.clone()),
                Arg::from(scaled(l.scrap_pct, &format!("lines[{i}].scrap_pct"))?),
                Arg::from(l.operation_seq),
                Arg::from(issue_code(l.issue_method)),
                Arg::from(l.note.clone()),
            ])
        })
        .collect()
}

const BOM_LINE_COLUMNS: [&str; 10] = [
    "id",
    "bom_id",
    "line_no",
    "component",
    "qty_per",
    "unit",
    "scrap_pct",
    "operation_seq",
    "issue_method",
    "note",
];

const BOM_COLUMNS: [&str; 14] = [
    "id",
    "item",
    "version",
    "status",
    "valid_from",
    "valid_to",
    "customer",
    "note",
    "lock_version",
    "created_by",
    "created_at",
    "updated_at",
    "approved_by",
    "approved_at",
];

fn bom_row(id: i64, input: &BomInput, status: BomStatus, actor: &Actor, now: &str) -> Vec<Arg> {
    let approved = status == BomStatus::Approved;
    vec![
        Arg::from(id),
        Arg::from(input.item.clone()),
        Arg::from(input.version.clone()),
        Arg::from(status_code(status)),
        Arg::from(date_text(input.valid_from)),
        Arg::from(date_text(input.valid_to)),
        Arg::from(input.customer.clone()),
        Arg::from(input.note.clone()),
        Arg::from(1),
        Arg::from(Some(actor.user_id)),
        Arg::from(now),
        Arg::from(now),
        Arg::from(approved.then_some(actor.user_id)),
        Arg::from(approved.then(|| now.to_owned())),
    ]
}

fn duplicate_bom() -> StoreError {
    StoreError::Duplicate { entity: "bom".into(), fields: vec!["item".into(), "version".into()] }
}

/// Creates a draft BOM version. Refuses, naming every field at once: a missing item, version
/// or unit, a bad version name, no lines, a component that is the parent, a quantity that is
/// not positive, scrap outside 0 to 100, validity ending before it starts, unknown items,
/// units or customer, and a unit that does not convert to the component's base unit. An
/// existing (item, version) is [`StoreError::Duplicate`].
pub async fn create_bom(
    db: &Db,
    input: &BomInput,
    actor: &Actor,
) -> Result<BomVersion, StoreError> {
    let input = normalise_bom(input);
    let errors = check_bom_shape(&input, "");
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let binds = binds_per_statement(db.backend());
    let input = &input;
    let id = db
        .write(|conn, _| {
            Box::pin(async move {
                let errors = check_bom_references(conn, binds, &[input], &[String::new()]).await?;
                if !errors.is_empty() {
                    return Err(invalid(errors));
                }
                if bom_id_in(conn, &input.item, &input.version).await?.is_some() {
                    return Err(duplicate_bom());
                }
                let id = new_id();
                let now = now_text();
                insert_rows(
                    conn,
                    binds,
                    "boms",
                    &BOM_COLUMNS,
                    &[bom_row(id, input, BomStatus::Draft, actor, &now)],
                )
                .await?;
                insert_rows(
                    conn,
                    binds,
                    "bom_lines",
                    &BOM_LINE_COLUMNS,
                    &bom_line_rows(id, input)?,
                )
                .await?;
                let after = load_bom(conn, id).await?;
                audit::record(
                    conn,
                    "bom",
                    id,
                    "create",
                    Some(actor.user_id),
                    None,
                    Some(bom_json(&after)),
                )
                .await?;
                Ok(id)
            })
        })
        .await?;
    get_bom(db, id).await
}

/// Loads version `id` in a write transaction and checks it is a draft at `lock_version`.
async fn draft_bom(conn: &mut Conn, id: i64, lock_version: i64) -> Result<BomVersion, StoreError> {
    let before = load_bom(conn, id).await?;
    if before.header.lock_version != lock_version {
        return Err(StoreError::Stale {
            entity: "bom".into(),
            key: format!("{}/{}", before.header.item, before.header.version),
        });
    }
    if before.header.status != BomStatus::Draft {
        return Err(invalid(vec![
            FieldError::new("status", "bom.not_draft")
                .with("status", status_code(before.header.status)),
        ]));
    }
    Ok(before)
}

/// Moves the lock of BOM `id` from `lock_version`, refusing a concurrent change.
async fn bump_bom(
    conn: &mut Conn,
    id: i64,
    lock_version: i64,
    key: &BomHeader,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE boms SET lock_version = lock_version + 1, updated_at = $1 \
         WHERE id = $2 AND lock_version = $3",
    )
    .bind(now_text())
    .bind(id)
    .bind(lock_version)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Stale {
            entity: "bom".into(),
            key: format!("{}/{}", key.item, key.version),
        });
    }
    Ok(())
}

/// Replaces the header fields and lines of draft version `id`, which must still be at
/// `lock_version`. The item and the version name cannot change (`field.immutable`; leave
/// them empty to keep them). The same checks as [`create_bom`].
pub async fn update_bom(
    db: &Db,
    id: i64,
    lock_version: i64,
    input: &BomInput,
    actor: &Actor,
) -> Result<BomVersion, StoreError> {
    let input = normalise_bom(input);
    let binds = binds_per_statement(db.backend());
    let input = &input;
    db.write(|conn, _| {
        let mut input = input.clone();
        Box::pin(async move {
            let before = draft_bom(conn, id, lock_version).await?;
            let mut errors = Vec::new();
            for (field, given, kept) in [
                ("item", &mut input.item, &before.header.item),
                ("version", &mut input.version, &before.header.version),
            ] {
                if given.is_empty() {
                    given.clone_from(kept);
                } else if given != kept {
                    errors.push(FieldError::new(field, "field.immutable"));
                }
            }
            errors.extend(check_bom_shape(&input, ""));
            if errors.is_empty() {
                errors = check_bom_references(conn, binds, &[&input], &[String::new()]).await?;
            }
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            bump_bom(conn, id, lock_version, &before.header).await?;
            sqlx::query(
                "UPDATE boms SET customer = $1, valid_from = $2, valid_to = $3, note = $4 \
                 WHERE id = $5",
            )
            .bind(input.customer.clone())
            .bind(date_text(input.valid_from))
            .bind(date_text(input.valid_to))
            .bind(input.note.clone())
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM bom_lines WHERE bom_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            insert_rows(conn, binds, "bom_lines", &BOM_LINE_COLUMNS, &bom_line_rows(id, &input)?)
                .await?;
            let after = load_bom(conn, id).await?;
            audit::record(
                conn,
                "bom",
                id,
                "update",
                Some(actor.user_id),
                Some(bom_json(&before)),
                Some(bom_json(&after)),
            )
            .await
        })
    })
    .await?;
    get_bom(db, id).await
}

// ---------------------------------------------------------------------------------------
// BOM versions: approval and loops

/// The edges (parent → components) of every approved version, whatever its dates or
/// customer, reachable downwards from `start`: loaded level by level, one query per level
/// (per 500 items).
async fn approved_edges_below(
    conn: &mut Conn,
    start: &[String],
) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen: HashSet<String> = start.iter().cloned().collect();
    let mut frontier: Vec<String> = seen.iter().cloned().collect();
    while !frontier.is_empty() {
        frontier.sort();
        let rows = rows_for_codes(
            conn,
            CONN_BINDS,
            "SELECT DISTINCT b.item AS parent, l.component FROM bom_lines l \
             JOIN boms b ON b.id = l.bom_id WHERE b.status = 'approved' AND b.item IN ",
            "",
            &[],
            &frontier,
        )
        .await?;
        let mut next = Vec::new();
        for r in rows {
            let parent: String = r.try_get("parent")?;
            let component: String = r.try_get("component")?;
            if seen.insert(component.clone()) {
                next.push(component.clone());
            }
            edges.entry(parent).or_default().push(component);
        }
        frontier = next;
    }
    for list in edges.values_mut() {
        list.sort();
        list.dedup();
    }
    Ok(edges)
}

/// Refuses `version` if approving it would close a loop with the approved structure: the
/// error names the line of the first component on the loop and the loop itself.
async fn check_no_loop(conn: &mut Conn, version: &BomVersion) -> Result<(), StoreError> {
    let mut components: Vec<String> = Vec::new();
    for line in &version.lines {
        if !components.contains(&line.component) {
            components.push(line.component.clone());
        }
    }
    let edges = approved_edges_below(conn, &components).await?;
    if let Some(path) = bom::find_cycle(&edges, &version.header.item, &components) {
        let first = path.get(1).cloned().unwrap_or_default();
        let line = version.lines.iter().position(|l| l.component == first).unwrap_or(0);
        return Err(bom_error(&format!("lines[{line}].component"), &BomError::Cycle { path }));
    }
    Ok(())
}

/// Approves draft `version` inside the caller's transaction: refuses a loop, then sets the
/// status, who and when, and (when given) the first day of validity.
async fn approve_bom_in(
    conn: &mut Conn,
    version: &BomVersion,
    valid_from: Option<NaiveDate>,
    approver: Option<i64>,
) -> Result<(), StoreError> {
    check_no_loop(conn, version).await?;
    let from = valid_from.or(version.header.valid_from);
    if let (Some(from), Some(to)) = (from, version.header.valid_to)
        && to < from
    {
        return Err(invalid(vec![
            FieldError::new("valid_to", "bom.valid_to_before_from").with("valid_from", from),
        ]));
    }
    let now = now_text();
    sqlx::query(
        "UPDATE boms SET status = 'approved', valid_from = $1, approved_by = $2, \
         approved_at = $3, updated_at = $3, lock_version = lock_version + 1 WHERE id = $4",
    )
    .bind(date_text(from))
    .bind(approver)
    .bind(now)
    .bind(version.header.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Approves draft version `id` (at `lock_version`) with the validity dates it was given.
/// Refuses a version that would make an item contain itself at any depth, with the rule
/// `bom.cycle` on the first component of the loop and the loop in the `path` parameter
/// (`FAN → MOTOR → FAN`), checked against every approved version whatever its dates.
pub async fn approve_bom(
    db: &Db,
    id: i64,
    lock_version: i64,
    actor: &Actor,
) -> Result<BomVersion, StoreError> {
    db.write(|conn, _| {
        Box::pin(async move {
            let before = draft_bom(conn, id, lock_version).await?;
            bump_bom(conn, id, lock_version, &before.header).await?;
            approve_bom_in(conn, &before, None, Some(actor.user_id)).await?;
            let after = load_bom(conn, id).await?;
            audit::record(
                conn,
                "bom",
                id,
                "approve",
                Some(actor.user_id),
                Some(serde_json::json!({"status": status_code(before.header.status)})),
                Some(bom_json(&after)),
            )
            .await
        })
    })
    .await?;
    get_bom(db, id).await
}

/// Makes version `id` (draft or approved, at `lock_version`) obsolete: kept for history and
/// never used again.
pub async fn obsolete_bom(
    db: &Db,
    id: i64,
    lock_version: i64,
    actor: &Actor,
) -> Result<BomVersion, StoreError> {
    db.write(|conn, _| {
        Box::pin(async move {
            let before = load_bom(conn, id).await?;
            if before.header.status == BomStatus::Obsolete {
                return Err(invalid(vec![FieldError::new("status", "bom.already_obsolete")]));
            }
            if before.header.lock_version != lock_version {
                return Err(StoreError::Stale {
                    entity: "bom".into(),
                    key: format!("{}/{}", before.header.item, before.header.version),
                });
            }
            bump_bom(conn, id, lock_version, &before.header).await?;
            sqlx::query("UPDATE boms SET status = 'obsolete' WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            audit::record(
                conn,
                "bom",
                id,
                "obsolete",
                Some(actor.user_id),
                Some(serde_json::json!({"status": status_code(before.header.status)})),
                Some(serde_json::json!({"status": "obsolete"})),
            )
            .await
        })
    })
    .await?;
    get_bom(db, id).await
}

// ---------------------------------------------------------------------------------------
// The structure in effect

/// The approved versions in effect on `$1` for customer `$2` (NULL: general only), over
/// alias `b`.
const BOM_IN_EFFECT: &str = "b.status = 'approved' \
     AND (b.valid_from IS NULL OR b.valid_from <= $1) AND (b.valid_to IS NULL OR b.valid_to >= $1) \
     AND (b.customer IS NULL OR b.customer = $2)";

/// A structure in effect on a date: every loaded parent's lines, the version that gave them
/// and the base unit of every component.
#[derive(Debug, Clone, Default)]
pub struct EffectiveStructure {
    /// Lines per parent, as the core's rules take them.
    pub structure: bom::Structure,
    /// The version used for each parent.
    pub versions: HashMap<String, String>,
    /// Base unit of each component (and of each item asked about).
    pub base_units: HashMap<String, String>,
}

/// A version found in effect (status, dates and customer already checked), before choosing
/// among an item's versions; borrows from the text it was read from.
#[derive(Debug, Clone, Copy)]
struct Candidate<'a> {
    id: i64,
    item: &'a str,
    version: &'a str,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    customer: Option<&'a str>,
}

/// Picks the version in effect per item among `candidates` by the core's rule
/// ([`bom::effective_bom`]); an item with a single candidate needs no comparison. Answers the
/// chosen ids with their item and version.
fn choose_versions<'a>(
    candidates: &[Candidate<'a>],
    date: NaiveDate,
    customer: Option<&str>,
) -> HashMap<i64, (&'a str, &'a str)> {
    let mut by_item: HashMap<&str, Vec<&Candidate<'a>>> = HashMap::with_capacity(candidates.len());
    for c in candidates {
        by_item.entry(c.item).or_default().push(c);
    }
    let mut chosen = HashMap::with_capacity(by_item.len());
    for (item, group) in by_item {
        if let [only] = group.as_slice() {
            chosen.insert(only.id, (only.item, only.version));
            continue;
        }
        let shells: Vec<Bom> = group
            .iter()
            .map(|c| Bom {
                parent: c.item.to_owned(),
                version: c.version.to_owned(),
                valid_from: c.valid_from,
                valid_to: c.valid_to,
                status: BomStatus::Approved,
                customer: c.customer.map(str::to_owned),
                lines: Vec::new(),
            })
            .collect();
        if let Some(best) = bom::effective_bom(&shells, item, date, customer)
            && let Some(c) = group.iter().find(|c| c.version == best.version)
        {
            chosen.insert(c.id, (c.item, c.version));
        }
    }
    chosen
}

/// Reads packed text: records joined by `;`, fields by `|`.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.split(';').filter(|r| !r.is_empty()).map(|r| r.split('|').collect())
}

fn int_field(field: &str, record: &[&str]) -> Result<i64, StoreError> {
    field.parse().map_err(|_| corrupt("packed record", &record.join("|")))
}

fn date_field(field: &str, record: &[&str]) -> Result<Option<NaiveDate>, StoreError> {
    if field.is_empty() {
        return Ok(None);
    }
    field.parse().map(Some).map_err(|_| corrupt("packed record", &record.join("|")))
}

/// Every line of every BOM version in effect, packed into one text so the whole structure
/// reads as one row rather than 200,000 (the driver's cost is per row): records
/// `id|item|version|valid_from|valid_to|customer|line_no|component|qty_per|unit|scrap_pct|
/// operation_seq|issue_method` joined by `;`. Codes never hold `|` or `;`; decimals are the
/// stored scaled integers.
const PACKED_BOM_LINES: &str = "SELECT string_agg(CAST(b.id AS TEXT) || '|' || b.item || '|' || \
     b.version || '|' || COALESCE(b.valid_from, '') || '|' || COALESCE(b.valid_to, '') || '|' || \
     COALESCE(b.customer, '') || '|' || CAST(l.line_no AS TEXT) || '|' || l.component || '|' || \
     CAST(l.qty_per AS TEXT) || '|' || l.unit || '|' || CAST(l.scrap_pct AS TEXT) || '|' || \
     COALESCE(CAST(l.operation_seq AS TEXT), '') || '|' || l.issue_method, ';') AS packed \
     FROM boms b JOIN bom_lines l ON l.bom_id = b.id";

/// The packed lines ([`PACKED_BOM_LINES`]) of the versions in effect on `date` for
/// `customer` of `parents` (all when `None`) that `skip` does not hold yet: one query, or one
/// per `binds` parents.
async fn fetch_packed_boms(
    conn: &mut Conn,
    binds: usize,
    parents: Option<&[String]>,
    date: NaiveDate,
    customer: Option<&str>,
    skip: &EffectiveStructure,
) -> Result<Vec<String>, StoreError> {
    let leading = [Some(date.to_string()), customer.map(str::to_owned)];
    let head = format!("{PACKED_BOM_LINES} WHERE {BOM_IN_EFFECT}");
    let rows = match parents {
        None => {
            sqlx::query(AssertSqlSafe(head))
                .bind(leading[0].clone())
                .bind(leading[1].clone())
                .fetch_all(&mut *conn)
                .await?
        }
        Some(list) => {
            let wanted: Vec<String> =
                list.iter().filter(|p| !skip.structure.contains_key(*p)).cloned().collect();
            rows_for_codes(conn, binds, &format!("{head} AND b.item IN "), "", &leading, &wanted)
                .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| r.try_get::<Option<String>, _>("packed"))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

/// One packed line: (bom id, line no, component, qty, unit, scrap, operation, issue method).
type PackedLine<'a> = (i64, i64, &'a str, i64, &'a str, i64, Option<i64>, IssueMethod);

/// Packed lines read and the versions chosen among them, borrowing from the text.
struct ParsedBoms<'a> {
    /// The lines of the chosen versions, by version and line number.
    lines: Vec<PackedLine<'a>>,
    /// Chosen version id → (item, version).
    chosen: HashMap<i64, (&'a str, &'a str)>,
}

/// Reads packed lines, skipping parents `skip` holds, and chooses each parent's version.
fn parse_packed_boms<'a>(
    texts: &'a [String],
    date: NaiveDate,
    customer: Option<&str>,
    skip: &EffectiveStructure,
) -> Result<ParsedBoms<'a>, StoreError> {
    let mut candidates: Vec<Candidate<'a>> = Vec::new();
    let mut seen: HashSet<i64> = HashSet::new();
    let mut lines: Vec<PackedLine<'a>> = Vec::new();
    for text in texts {
        for r in records(text) {
            let [id, item, version, from, to, cust, no, component, qty, unit, scrap, seq, method] =
                r.as_slice()
            else {
                return Err(corrupt("packed BOM line", &r.join("|")));
            };
            let id = int_field(id, &r)?;
            if skip.structure.contains_key(*item) {
                continue;
            }
            if seen.insert(id) {
                candidates.push(Candidate {
                    id,
                    item,
                    version,
                    valid_from: date_field(from, &r)?,
                    valid_to: date_field(to, &r)?,
                    customer: Some(*cust).filter(|c| !c.is_empty()),
                });
            }
            lines.push((
                id,
                int_field(no, &r)?,
                component,
                int_field(qty, &r)?,
                unit,
                int_field(scrap, &r)?,
                if seq.is_empty() { None } else { Some(int_field(seq, &r)?) },
                issue_from_code(method).ok_or_else(|| corrupt("issue_method", method))?,
            ));
        }
    }
    let chosen = choose_versions(&candidates, date, customer);
    lines.retain(|l| chosen.contains_key(&l.0));
    lines.sort_unstable_by_key(|l| (l.0, l.1));
    Ok(ParsedBoms { lines, chosen })
}

/// Adds the chosen versions' lines to `into`, each with the factor from its unit to its
/// component's base unit (`into.base_units` must know every component). Answers the parents
/// added.
fn add_parsed_boms(
    parsed: ParsedBoms<'_>,
    conversions: &Conversions,
    into: &mut EffectiveStructure,
) -> Result<Vec<String>, StoreError> {
    let ParsedBoms { lines, chosen } = parsed;
    let mut loaded = Vec::with_capacity(chosen.len());
    let mut current: Option<(i64, Vec<BomLine>)> = None;
    let mut finish = |into: &mut EffectiveStructure, done: Option<(i64, Vec<BomLine>)>| {
        if let Some((id, out)) = done
            && let Some((item, version)) = chosen.get(&id)
        {
            into.versions.insert((*item).to_owned(), (*version).to_owned());
            into.structure.insert((*item).to_owned(), out);
            loaded.push((*item).to_owned());
        }
    };
    for (id, _, component, qty, unit, scrap, operation_seq, issue_method) in lines {
        if current.as_ref().is_none_or(|(open, _)| *open != id) {
            finish(into, current.take());
            current = Some((id, Vec::new()));
        }
        let base = into.base_units.get(component).map_or("", String::as_str);
        let unit_factor = conversions.factor(component, unit, base).ok_or_else(|| {
            let parent = chosen.get(&id).map_or("", |(item, _)| *item);
            invalid(vec![
                FieldError::new("unit", "bom.no_conversion")
                    .with("unit", unit)
                    .with("base_unit", base)
                    .with("item", component)
                    .with("parent", parent),
            ])
        })?;
        if let Some((_, out)) = current.as_mut() {
            out.push(BomLine {
                component: component.to_owned(),
                qty_per: from_scaled(qty),
                unit_factor,
                scrap_pct: from_scaled(scrap),
                operation_seq,
                issue_method,
            });
        }
    }
    finish(into, current.take());
    Ok(loaded)
}

/// Loads the versions in effect on `date` for `customer` of `parents` (all parents when
/// `None`) into `into`, skipping parents it already holds: one query (per `binds` parents),
/// then one for the base units of components `into` does not know yet. Answers the parents
/// newly loaded.
async fn load_effective(
    conn: &mut Conn,
    binds: usize,
    parents: Option<&[String]>,
    date: NaiveDate,
    customer: Option<&str>,
    conversions: &Conversions,
    into: &mut EffectiveStructure,
) -> Result<Vec<String>, StoreError> {
    let texts = fetch_packed_boms(conn, binds, parents, date, customer, into).await?;
    let parsed = parse_packed_boms(&texts, date, customer, into)?;
    let missing: BTreeSet<String> = parsed
        .lines
        .iter()
        .filter(|l| !into.base_units.contains_key(l.2))
        .map(|l| l.2.to_owned())
        .collect();
    if !missing.is_empty() {
        let found = base_units(conn, binds, &missing).await?;
        into.base_units.extend(found);
    }
    add_parsed_boms(parsed, conversions, into)
}

/// Every item's base unit, in one query.
async fn all_base_units(conn: &mut Conn) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query("SELECT code, base_unit FROM items").fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok((r.try_get("code")?, r.try_get("base_unit")?))).collect()
}

/// Above this many parents on one level, loading the whole structure in effect at once is
/// cheaper than asking for them in chunks.
const FULL_LOAD_AT: usize = 2_000;

/// Loads the structure below `tops` level by level: per level the versions in effect of the
/// items not yet loaded, in bulk; once a level is large, the whole structure in one go.
async fn load_below(
    conn: &mut Conn,
    binds: usize,
    tops: &[String],
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<EffectiveStructure, StoreError> {
    let conversions = Conversions::load(conn).await?;
    let mut es = EffectiveStructure::default();
    let top_set: BTreeSet<String> = tops.iter().cloned().collect();
    es.base_units = base_units(conn, binds, &top_set).await?;
    let mut seen: HashSet<String> = top_set.iter().cloned().collect();
    let mut frontier: Vec<String> = top_set.into_iter().collect();
    while !frontier.is_empty() {
        if frontier.len() > FULL_LOAD_AT {
            es.base_units.extend(all_base_units(conn).await?);
            load_effective(conn, binds, None, date, customer, &conversions, &mut es).await?;
            break;
        }
        let loaded =
            load_effective(conn, binds, Some(&frontier), date, customer, &conversions, &mut es)
                .await?;
        let mut next = BTreeSet::new();
        for parent in &loaded {
            for line in es.structure.get(parent).into_iter().flatten() {
                if seen.insert(line.component.clone()) {
                    next.insert(line.component.clone());
                }
            }
        }
        frontier = next.into_iter().collect();
    }
    Ok(es)
}

/// The whole structure in effect on `date` for `customer` (general versions only when
/// `None`): four queries however large it is.
pub async fn effective_structure(
    db: &Db,
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<EffectiveStructure, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let conversions = Conversions::load(&mut conn).await?;
    let mut es =
        EffectiveStructure { base_units: all_base_units(&mut conn).await?, ..Default::default() };
    let binds = binds_per_statement(db.backend());
    load_effective(&mut conn, binds, None, date, customer, &conversions, &mut es).await?;
    Ok(es)
}

/// A multi-level explosion of one item.
#[derive(Debug, Clone)]
pub struct Explosion {
    /// The exploded item.
    pub item: String,
    /// How many of it, in its base unit.
    pub qty: Decimal,
    /// The date whose versions were used.
    pub date: NaiveDate,
    /// The customer whose versions were preferred.
    pub customer: Option<String>,
    /// The version of the item's own bill used, `None` when it has none in effect.
    pub version: Option<String>,
    /// Indented rows, depth first ([`bom::explode`]).
    pub rows: Vec<bom::ExplodedLine>,
    /// The version used for every parent exploded.
    pub versions: BTreeMap<String, String>,
    /// The base unit of the item and of every component: the unit of the quantities.
    pub base_units: HashMap<String, String>,
}

impl Explosion {
    /// Total base units per purchased (leaf) component over all paths.
    pub fn leaf_totals(&self) -> Result<BTreeMap<String, Decimal>, StoreError> {
        let leaves: Vec<bom::ExplodedLine> = self.rows.iter().filter(|r| r.leaf).cloned().collect();
        bom::summarise(&leaves).map_err(|e| bom_error("qty", &e))
    }
}

fn check_qty(qty: Decimal) -> Result<(), StoreError> {
    if qty <= Decimal::ZERO {
        return Err(invalid(vec![FieldError::new("qty", "field.not_positive")]));
    }
    Ok(())
}

/// Explodes `qty` base units of each of `items` through every level on `date`, with
/// `customer`'s versions preferred: the structure below all of them is loaded once, level by
/// level in bulk. An unknown item is [`StoreError::NotFound`]; an item without a bill in
/// effect explodes to no rows.
pub async fn explode_many(
    db: &Db,
    items: &[String],
    qty: Decimal,
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<Vec<Explosion>, StoreError> {
    check_qty(qty)?;
    let items: Vec<String> = items.iter().filter_map(|i| code_of(i)).collect();
    let customer = customer.and_then(code_of);
    let mut conn = db.pool().acquire().await?;
    let binds = binds_per_statement(db.backend());
    let es = load_below(&mut conn, binds, &items, date, customer.as_deref()).await?;
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        if !es.base_units.contains_key(item) {
            return Err(StoreError::not_found("item", item));
        }
        let rows = bom::explode(&es.structure, item, qty).map_err(|e| bom_error("item", &e))?;
        let mut versions = BTreeMap::new();
        for row in &rows {
            if let Some(v) = es.versions.get(&row.parent) {
                versions.insert(row.parent.clone(), v.clone());
            }
        }
        out.push(Explosion {
            item: item.clone(),
            qty,
            date,
            customer: customer.clone(),
            version: es.versions.get(item).cloned(),
            rows,
            versions,
            base_units: HashMap::new(),
        });
    }
    // Every explosion names the units of its own rows.
    for explosion in &mut out {
        let mut units = HashMap::new();
        for code in
            std::iter::once(&explosion.item).chain(explosion.rows.iter().map(|r| &r.component))
        {
            if let Some(u) = es.base_units.get(code) {
                units.insert(code.clone(), u.clone());
            }
        }
        explosion.base_units = units;
    }
    Ok(out)
}

/// Explodes `qty` base units of `item` (see [`explode_many`]).
pub async fn explode(
    db: &Db,
    item: &str,
    qty: Decimal,
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<Explosion, StoreError> {
    explode_many(db, &[item.to_owned()], qty, date, customer)
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("item", item))
}

/// Where an item is used.
#[derive(Debug, Clone)]
pub struct WhereUsedAnswer {
    /// The item searched.
    pub item: String,
    /// The date whose versions were used.
    pub date: NaiveDate,
    /// The customer whose versions were preferred.
    pub customer: Option<String>,
    /// Whether all levels up to the top items were followed.
    pub multi: bool,
    /// The rows ([`bom::where_used`]).
    pub rows: Vec<bom::WhereUsed>,
    /// The version in effect of every parent listed.
    pub versions: BTreeMap<String, String>,
}

/// Items using any of `items` in a version in effect on `date` (any customer or general),
/// found with one query per 500 items.
async fn using_parents(
    conn: &mut Conn,
    binds: usize,
    items: &[String],
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let head = format!(
        "SELECT DISTINCT b.item FROM bom_lines l JOIN boms b ON b.id = l.bom_id \
         WHERE {BOM_IN_EFFECT} AND l.component IN "
    );
    let leading = [Some(date.to_string()), customer.map(str::to_owned)];
    let rows = rows_for_codes(conn, binds, &head, "", &leading, items).await?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>("item")?)).collect()
}

/// The structure above `item` in effect on `date`: its users' versions in effect, and with
/// `multi` theirs in turn, level by level in bulk.
async fn load_above(
    conn: &mut Conn,
    binds: usize,
    item: &str,
    multi: bool,
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<EffectiveStructure, StoreError> {
    let conversions = Conversions::load(conn).await?;
    let mut es = EffectiveStructure::default();
    let mut seen: HashSet<String> = HashSet::from([item.to_owned()]);
    let mut frontier = vec![item.to_owned()];
    while !frontier.is_empty() {
        let candidates = using_parents(conn, binds, &frontier, date, customer).await?;
        load_effective(conn, binds, Some(&candidates), date, customer, &conversions, &mut es)
            .await?;
        let wanted: HashSet<&String> = frontier.iter().collect();
        let mut next = BTreeSet::new();
        for parent in candidates {
            let uses = es
                .structure
                .get(&parent)
                .is_some_and(|lines| lines.iter().any(|l| wanted.contains(&l.component)));
            if uses && seen.insert(parent.clone()) {
                next.insert(parent);
            }
        }
        if !multi {
            break;
        }
        frontier = next.into_iter().collect();
    }
    Ok(es)
}

/// Where `item` is used on `date` (with `customer`'s versions preferred): its direct parents,
/// and with `multi` every level up to the top items ([`bom::where_used`]).
pub async fn where_used(
    db: &Db,
    item: &str,
    multi: bool,
    date: NaiveDate,
    customer: Option<&str>,
) -> Result<WhereUsedAnswer, StoreError> {
    let item = code_of(item).unwrap_or_default();
    let customer = customer.and_then(code_of);
    let mut conn = db.pool().acquire().await?;
    let binds = binds_per_statement(db.backend());
    if base_units(&mut conn, binds, &BTreeSet::from([item.clone()])).await?.is_empty() {
        return Err(StoreError::not_found("item", &item));
    }
    let es = load_above(&mut conn, binds, &item, multi, date, customer.as_deref()).await?;
    let rows = bom::where_used(&es.structure, &item, multi).map_err(|e| bom_error("item", &e))?;
    let versions = rows
        .iter()
        .filter_map(|r| es.versions.get(&r.parent).map(|v| (r.parent.clone(), v.clone())))
        .collect();
    Ok(WhereUsedAnswer { item, date, customer, multi, rows, versions })
}

/// Two BOM versions and their differences.
#[derive(Debug, Clone)]
pub struct BomComparison {
    /// The old version.
    pub a: BomVersion,
    /// The new version.
    pub b: BomVersion,
    /// Line by line from `a` to `b` ([`bom::compare`]).
    pub diffs: Vec<BomDiff>,
}

/// Compares version `a` (old) with version `b` (new), line by line.
pub async fn compare_boms(db: &Db, a: i64, b: i64) -> Result<BomComparison, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let a = load_bom(&mut conn, a).await?;
    let b = load_bom(&mut conn, b).await?;
    let old: Vec<BomLine> = a.lines.iter().map(StoredBomLine::to_core).collect();
    let new: Vec<BomLine> = b.lines.iter().map(StoredBomLine::to_core).collect();
    let diffs = bom::compare(&old, &new);
    Ok(BomComparison { a, b, diffs })
}

// ---------------------------------------------------------------------------------------
// Routings

/// One routing operation, as entered and as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingOperation {
    /// Sequence number (10, 20, ...), positive and unique in the routing.
    pub seq: i64,
    /// The work centre's code.
    pub work_centre: String,
    /// What is done.
    pub description: Option<String>,
    /// Setup hours per lot.
    pub setup_hours: Decimal,
    /// Run hours per unit.
    pub run_hours: Decimal,
    /// Queue hours before the operation (lead time only).
    pub queue_hours: Decimal,
    /// Move hours after it (lead time only).
    pub move_hours: Decimal,
    /// Whether a supplier does it.
    pub subcontracted: bool,
    /// The subcontractor (required when subcontracted).
    pub supplier: Option<String>,
    /// The subcontractor's fee per unit (required when subcontracted).
    pub subcontract_fee: Option<Decimal>,
}

/// A routing version as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingInput {
    /// The item it makes.
    pub item: String,
    /// The version's name.
    pub version: String,
    /// First day it applies once approved.
    pub valid_from: Option<NaiveDate>,
    /// Last day it applies.
    pub valid_to: Option<NaiveDate>,
    /// The standard lot the setup is spread over in standard cost; positive.
    pub lot_size: Decimal,
    /// Free text.
    pub note: Option<String>,
    /// The operations, in any order (they are kept by sequence).
    pub operations: Vec<RoutingOperation>,
}

/// A stored routing version without its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingHeader {
    /// Id.
    pub id: i64,
    /// The item it makes.
    pub item: String,
    /// Version name.
    pub version: String,
    /// Where it stands.
    pub status: BomStatus,
    /// First day it applies.
    pub valid_from: Option<NaiveDate>,
    /// Last day it applies.
    pub valid_to: Option<NaiveDate>,
    /// Standard lot.
    pub lot_size: Decimal,
    /// Free text.
    pub note: Option<String>,
    /// Optimistic-locking counter.
    pub lock_version: i64,
    /// Who created it.
    pub created_by: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// When it was approved.
    pub approved_at: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Number of operations.
    pub operation_count: i64,
}

/// A stored routing version with its operations by sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingVersion {
    /// The header.
    pub header: RoutingHeader,
    /// The operations by sequence.
    pub operations: Vec<RoutingOperation>,
}

impl RoutingVersion {
    /// The version as input again.
    pub fn to_input(&self) -> RoutingInput {
        RoutingInput {
            item: self.header.item.clone(),
            version: self.header.version.clone(),
            valid_from: self.header.valid_from,
            valid_to: self.header.valid_to,
            lot_size: self.header.lot_size,
            note: self.header.note.clone(),
            operations: self.operations.clone(),
        }
    }
}

/// Upper-cases codes and the version name, trims texts; operations keep their input order
/// (so errors name them as entered) and are read back by sequence.
fn normalise_routing(input: &RoutingInput) -> RoutingInput {
    RoutingInput {
        item: code_of(&input.item).unwrap_or_default(),
        version: code_of(&input.version).unwrap_or_default(),
        note: opt_text(&input.note),
        operations: input
            .operations
            .iter()
            .map(|o| RoutingOperation {
                work_centre: code_of(&o.work_centre).unwrap_or_default(),
                description: opt_text(&o.description),
                supplier: opt_code(&o.supplier),
                ..o.clone()
            })
            .collect(),
        ..input.clone()
    }
}

/// What can be checked of a (normalised) routing without the database.
fn check_routing_shape(input: &RoutingInput, prefix: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if input.item.is_empty() {
        errors.push(FieldError::new(at(prefix, "item"), "field.required"));
    }
    check_version_name(&input.version, &mut errors, prefix);
    check_dates(input.valid_from, input.valid_to, &mut errors, prefix);
    check_note(&input.note, 2000, at(prefix, "note"), &mut errors);
    check_decimal(input.lot_size, at(prefix, "lot_size"), true, None, &mut errors);
    if input.operations.is_empty() {
        errors.push(FieldError::new(at(prefix, "operations"), "routing.no_operations"));
    }
    if input.operations.len() > MAX_LINES {
        errors.push(
            FieldError::new(at(prefix, "operations"), "routing.too_many_operations")
                .with("max", MAX_LINES),
        );
    }
    let mut seqs = HashSet::new();
    for (i, op) in input.operations.iter().enumerate() {
        let f = |name: &str| at(prefix, &format!("operations[{i}].{name}"));
        if op.seq <= 0 {
            errors.push(FieldError::new(f("seq"), "field.not_positive"));
        } else if !seqs.insert(op.seq) {
            errors.push(FieldError::new(f("seq"), "routing.duplicate_seq").with("seq", op.seq));
        }
        if op.work_centre.is_empty() {
            errors.push(FieldError::new(f("work_centre"), "field.required"));
        }
        for (name, value) in [
            ("setup_hours", op.setup_hours),
            ("run_hours", op.run_hours),
            ("queue_hours", op.queue_hours),
            ("move_hours", op.move_hours),
        ] {
            check_decimal(value, f(name), false, None, &mut errors);
        }
        check_note(&op.description, 200, f("description"), &mut errors);
        if op.subcontracted {
            if op.supplier.is_none() {
                errors.push(FieldError::new(f("supplier"), "routing.supplier_required"));
            }
            match op.subcontract_fee {
                None => errors.push(FieldError::new(f("subcontract_fee"), "routing.fee_required")),
                Some(fee) => check_decimal(fee, f("subcontract_fee"), false, None, &mut errors),
            }
        } else {
            for (name, given) in [
                ("supplier", op.supplier.is_some()),
                ("subcontract_fee", op.subcontract_fee.is_some()),
            ] {
                if given {
                    errors.push(FieldError::new(f(name), "routing.not_subcontracted"));
                }
            }
        }
    }
    errors
}

async fn check_routing_references(
    conn: &mut Conn,
    binds: usize,
    inputs: &[&RoutingInput],
    prefixes: &[String],
) -> Result<Vec<FieldError>, StoreError> {
    let mut items = BTreeSet::new();
    let mut centres = BTreeSet::new();
    let mut suppliers = BTreeSet::new();
    for input in inputs {
        items.insert(input.item.clone());
        for op in &input.operations {
            centres.insert(op.work_centre.clone());
            suppliers.extend(op.supplier.clone());
        }
    }
    let known_items = existing(conn, binds, "items", &items).await?;
    let known_centres = existing(conn, binds, "work_centres", &centres).await?;
    let known_suppliers = existing(conn, binds, "suppliers", &suppliers).await?;
    let mut errors = Vec::new();
    for (input, prefix) in inputs.iter().zip(prefixes) {
        if !input.item.is_empty() && !known_items.contains(&input.item) {
            errors.push(
                FieldError::new(at(prefix, "item"), "field.unknown_reference")
                    .with("value", &input.item),
            );
        }
        for (i, op) in input.operations.iter().enumerate() {
            let f = |name: &str| at(prefix, &format!("operations[{i}].{name}"));
            if !op.work_centre.is_empty() && !known_centres.contains(&op.work_centre) {
                errors.push(
                    FieldError::new(f("work_centre"), "field.unknown_reference")
                        .with("value", &op.work_centre),
                );
            }
            if let Some(s) = op.supplier.as_ref().filter(|s| !known_suppliers.contains(*s)) {
                errors.push(
                    FieldError::new(f("supplier"), "field.unknown_reference").with("value", s),
                );
            }
        }
    }
    Ok(errors)
}

const ROUTING_HEADER_COLUMNS: &str = "b.id, b.item, b.version, b.status, b.valid_from, \
     b.valid_to, b.lot_size, b.note, b.lock_version, cu.username AS created_by, \
     au.username AS approved_by, b.approved_at, b.created_at, b.updated_at, \
     (SELECT COUNT(*) FROM routing_operations n WHERE n.routing_id = b.id) AS operation_count";

const ROUTING_HEADER_FROM: &str = "FROM routings b LEFT JOIN users cu ON cu.id = b.created_by \
     LEFT JOIN users au ON au.id = b.approved_by";

fn read_routing_header(r: &AnyRow) -> Result<RoutingHeader, StoreError> {
    Ok(RoutingHeader {
        id: r.try_get("id")?,
        item: r.try_get("item")?,
        version: r.try_get("version")?,
        status: read_status(r)?,
        valid_from: read_date(r, "valid_from")?,
        valid_to: read_date(r, "valid_to")?,
        lot_size: read_dec(r, "lot_size")?,
        note: r.try_get("note")?,
        lock_version: r.try_get("lock_version")?,
        created_by: r.try_get("created_by")?,
        approved_by: r.try_get("approved_by")?,
        approved_at: r.try_get("approved_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        operation_count: r.try_get("operation_count")?,
    })
}

fn read_operation(r: &AnyRow) -> Result<RoutingOperation, StoreError> {
    Ok(RoutingOperation {
        seq: r.try_get("seq")?,
        work_centre: r.try_get("work_centre")?,
        description: r.try_get("description")?,
        setup_hours: read_dec(r, "setup_hours")?,
        run_hours: read_dec(r, "run_hours")?,
        queue_hours: read_dec(r, "queue_hours")?,
        move_hours: read_dec(r, "move_hours")?,
        subcontracted: r.try_get::<i64, _>("subcontracted")? != 0,
        supplier: r.try_get("supplier")?,
        subcontract_fee: read_opt_dec(r, "subcontract_fee")?,
    })
}

async fn operations_of(
    conn: &mut Conn,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<RoutingOperation>>, StoreError> {
    let mut out: HashMap<i64, Vec<RoutingOperation>> = HashMap::new();
    for part in ids.chunks(CONN_BINDS) {
        let sql = format!(
            "SELECT routing_id, seq, work_centre, description, setup_hours, run_hours, \
             queue_hours, move_hours, subcontracted, supplier, subcontract_fee \
             FROM routing_operations WHERE routing_id IN {} ORDER BY routing_id, seq",
            placeholders(1, part.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in part {
            query = query.bind(*id);
        }
        for r in query.fetch_all(&mut *conn).await? {
            out.entry(r.try_get("routing_id")?).or_default().push(read_operation(&r)?);
        }
    }
    Ok(out)
}

async fn load_routing(conn: &mut Conn, id: i64) -> Result<RoutingVersion, StoreError> {
    let sql = format!("SELECT {ROUTING_HEADER_COLUMNS} {ROUTING_HEADER_FROM} WHERE b.id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("routing", id))?;
    let header = read_routing_header(&row)?;
    let operations = operations_of(conn, &[id]).await?.remove(&id).unwrap_or_default();
    Ok(RoutingVersion { header, operations })
}

/// A routing version with its operations; [`StoreError::NotFound`] for an unknown id.
pub async fn get_routing(db: &Db, id: i64) -> Result<RoutingVersion, StoreError> {
    let mut conn = db.pool().acquire().await?;
    load_routing(&mut conn, id).await
}

async fn routing_id_in(
    conn: &mut Conn,
    item: &str,
    version: &str,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT id FROM routings WHERE item = $1 AND version = $2")
        .bind(item.trim().to_uppercase())
        .bind(version.trim().to_uppercase())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// The id of `item`'s routing version `version`, if there is one.
pub async fn routing_id(db: &Db, item: &str, version: &str) -> Result<Option<i64>, StoreError> {
    let mut conn = db.pool().acquire().await?;
    routing_id_in(&mut conn, item, version).await
}

/// Every routing version of `item`, by version name, without operations.
pub async fn routing_versions(db: &Db, item: &str) -> Result<Vec<RoutingHeader>, StoreError> {
    let sql = format!(
        "SELECT {ROUTING_HEADER_COLUMNS} {ROUTING_HEADER_FROM} WHERE b.item = $1 ORDER BY b.version"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(item.trim().to_uppercase())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(read_routing_header).collect()
}

/// Routing versions by item and version, filtered (item, status) and paged.
pub async fn list_routings(db: &Db, f: &VersionFilter) -> Result<Page<RoutingHeader>, StoreError> {
    let (clause, binds) = version_filter(f, false);
    let per_page = f.per_page.clamp(1, 500);
    let page = f.page.max(1);
    let mut count =
        sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM routings b {clause}")));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(db.pool()).await?.try_get("n")?;
    let sql = format!(
        "SELECT {ROUTING_HEADER_COLUMNS} {ROUTING_HEADER_FROM} {clause} \
         ORDER BY b.item, b.version LIMIT {per_page} OFFSET {}",
        (page - 1) * per_page
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let rows = query.fetch_all(db.pool()).await?;
    Ok(Page {
        rows: rows.iter().map(read_routing_header).collect::<Result<_, _>>()?,
        total,
        page,
        per_page,
    })
}

/// Every routing version the filter selects (paging ignored), with operations: for export.
pub async fn export_routings(
    db: &Db,
    f: &VersionFilter,
) -> Result<Vec<RoutingVersion>, StoreError> {
    let (clause, binds) = version_filter(f, false);
    let sql = format!(
        "SELECT {ROUTING_HEADER_COLUMNS} {ROUTING_HEADER_FROM} {clause} ORDER BY b.item, b.version"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let mut conn = db.pool().acquire().await?;
    let headers: Vec<RoutingHeader> = query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(read_routing_header)
        .collect::<Result<_, _>>()?;
    let ids: Vec<i64> = headers.iter().map(|h| h.id).collect();
    let mut ops = operations_of(&mut conn, &ids).await?;
    Ok(headers
        .into_iter()
        .map(|header| {
            let operations = ops.remove(&header.id).unwrap_or_default();
            RoutingVersion { header, operations }
        })
        .collect())
}

fn routing_json(v: &RoutingVersion) -> serde_json::Value {
    serde_json::json!({
        "item": v.header.item,
        "version": v.header.version,
        "status": status_code(v.header.status),
        "valid_from": date_text(v.header.valid_from),
        "valid_to": date_text(v.header.valid_to),
        "lot_size": v.header.lot_size.to_string(),
        "note": v.header.note,
        "operations": v.operations.iter().map(|o| serde_json::json!({
            "seq": o.seq,
            "work_centre": o.work_centre,
            "setup_hours": o.setup_hours.to_string(),
            "run_hours": o.run_hours.to_string(),
            "queue_hours": o.queue_hours.to_string(),
            "move_hours": o.move_hours.to_string(),
            "subcontracted": o.subcontracted,
            "supplier": o.supplier,
            "subcontract_fee": o.subcontract_fee.map(|f| f.to_string()),
        })).collect::<Vec<_>>(),
    })
}

const ROUTING_COLUMNS: [&str; 14] = [
    "id",
    "item",
    "version",
    "status",
    "valid_from",
    "valid_to",
    "lot_size",
    "note",
    "lock_version",
    "created_by",
    "created_at",
    "updated_at",
    "approved_by",
    "approved_at",
];

const OPERATION_COLUMNS: [&str; 12] = [
    "id",
    "routing_id",
    "seq",
    "work_centre",
    "description",
    "setup_hours",
    "run_hours",
    "queue_hours",
    "move_hours",
    "subcontracted",
    "supplier",
    "subcontract_fee",
];

fn routing_row(
    id: i64,
    input: &RoutingInput,
    status: BomStatus,
    actor: &Actor,
    now: &str,
) -> Result<Vec<Arg>, StoreError> {
    let approved = status == BomStatus::Approved;
    Ok(vec![
        Arg::from(id),
        Arg::from(input.item.clone()),
        Arg::from(input.version.clone()),
        Arg::from(status_code(status)),
        Arg::from(date_text(input.valid_from)),
        Arg::from(date_text(input.valid_to)),
        Arg::from(scaled(input.lot_size, "lot_size")?),
        Arg::from(input.note.clone()),
        Arg::from(1),
        Arg::from(Some(actor.user_id)),
        Arg::from(now),
        Arg::from(now),
        Arg::from(approved.then_some(actor.user_id)),
        Arg::from(approved.then(|| now.to_owned())),
    ])
}

fn operation_rows(id: i64, input: &RoutingInput) -> Result<Vec<Vec<Arg>>, StoreError> {
    input
        .operations
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let f = |name: &str| format!("operations[{i}].{name}");
            Ok(vec![
                Arg::from(new_id()),
                Arg::from(id),
                Arg::from(o.seq),
                Arg::from(o.work_centre.clone()),
                Arg::from(o.description.clone()),
                Arg::from(scaled(o.setup_hours, &f("setup_hours"))?),
                Arg::from(scaled(o.run_hours, &f("run_hours"))?),
                Arg::from(scaled(o.queue_hours, &f("queue_hours"))?),
                Arg::from(scaled(o.move_hours, &f("move_hours"))?),
                Arg::from(i64::from(o.subcontracted)),
                Arg::from(o.supplier.clone()),
                Arg::from(o.subcontract_fee.map(|v| scaled(v, &f("subcontract_fee"))).transpose()?),
            ])
        })
        .collect()
}

fn duplicate_routing() -> StoreError {
    StoreError::Duplicate {
        entity: "routing".into(),
        fields: vec!["item".into(), "version".into()],
    }
}

fn stale_routing(h: &RoutingHeader) -> StoreError {
    StoreError::Stale { entity: "routing".into(), key: format!("{}/{}", h.item, h.version) }
}

/// Creates a draft routing version. Refuses, naming every field: missing item, version or
/// work centre, a lot size that is not positive, no operations, a sequence that is not
/// positive or repeats, negative hours, a subcontracted operation without supplier or fee
/// (or supplier and fee on an inside operation), unknown item, work centres or suppliers. An
/// existing (item, version) is [`StoreError::Duplicate`].
pub async fn create_routing(
    db: &Db,
    input: &RoutingInput,
    actor: &Actor,
) -> Result<RoutingVersion, StoreError> {
    let input = normalise_routing(input);
    let errors = check_routing_shape(&input, "");
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let binds = binds_per_statement(db.backend());
    let input = &input;
    let id = db
        .write(|conn, _| {
            Box::pin(async move {
                let errors =
                    check_routing_references(conn, binds, &[input], &[String::new()]).await?;
                if !errors.is_empty() {
                    return Err(invalid(errors));
                }
                if routing_id_in(conn, &input.item, &input.version).await?.is_some() {
                    return Err(duplicate_routing());
                }
                let id = new_id();
                let now = now_text();
                let header = routing_row(id, input, BomStatus::Draft, actor, &now)?;
                insert_rows(conn, binds, "routings", &ROUTING_COLUMNS, &[header]).await?;
                insert_rows(
                    conn,
                    binds,
                    "routing_operations",
                    &OPERATION_COLUMNS,
                    &operation_rows(id, input)?,
                )
                .await?;
                let after = load_routing(conn, id).await?;
                audit::record(
                    conn,
                    "routing",
                    id,
                    "create",
                    Some(actor.user_id),
                    None,
                    Some(routing_json(&after)),
                )
                .await?;
                Ok(id)
            })
        })
        .await?;
    get_routing(db, id).await
}

async fn bump_routing(
    conn: &mut Conn,
    id: i64,
    lock_version: i64,
    key: &RoutingHeader,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE routings SET lock_version = lock_version + 1, updated_at = $1 \
         WHERE id = $2 AND lock_version = $3",
    )
    .bind(now_text())
    .bind(id)
    .bind(lock_version)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(stale_routing(key));
    }
    Ok(())
}

async fn draft_routing(
    conn: &mut Conn,
    id: i64,
    lock_version: i64,
) -> Result<RoutingVersion, StoreError> {
    let before = load_routing(conn, id).await?;
    if before.header.lock_version != lock_version {
        return Err(stale_routing(&before.header));
    }
    if before.header.status != BomStatus::Draft {
        return Err(invalid(vec![
            FieldError::new("status", "bom.not_draft")
                .with("status", status_code(before.header.status)),
        ]));
    }
    Ok(before)
}

/// Replaces the header fields and operations of draft routing `id` at `lock_version`; the
/// item and version name cannot change. The same checks as [`create_routing`].
pub async fn update_routing(
    db: &Db,
    id: i64,
    lock_version: i64,
    input: &RoutingInput,
    actor: &Actor,
) -> Result<RoutingVersion, StoreError> {
    let input = normalise_routing(input);
    let binds = binds_per_statement(db.backend());
    let input = &input;
    db.write(|conn, _| {
        let mut input = input.clone();
        Box::pin(async move {
            let before = draft_routing(conn, id, lock_version).await?;
            let mut errors = Vec::new();
            for (field, given, kept) in [
                ("item", &mut input.item, &before.header.item),
                ("version", &mut input.version, &before.header.version),
            ] {
                if given.is_empty() {
                    given.clone_from(kept);
                } else if given != kept {
                    errors.push(FieldError::new(field, "field.immutable"));
                }
            }
            errors.extend(check_routing_shape(&input, ""));
            if errors.is_empty() {
                errors = check_routing_references(conn, binds, &[&input], &[String::new()]).await?;
            }
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            bump_routing(conn, id, lock_version, &before.header).await?;
            sqlx::query(
                "UPDATE routings SET valid_from = $1, valid_to = $2, lot_size = $3, note = $4 \
                 WHERE id = $5",
            )
            .bind(date_text(input.valid_from))
            .bind(date_text(input.valid_to))
            .bind(scaled(input.lot_size, "lot_size")?)
            .bind(input.note.clone())
            .bind(id)
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM routing_operations WHERE routing_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            insert_rows(
                conn,
                binds,
                "routing_operations",
                &OPERATION_COLUMNS,
                &operation_rows(id, &input)?,
            )
            .await?;
            let after = load_routing(conn, id).await?;
            audit::record(
                conn,
                "routing",
                id,
                "update",
                Some(actor.user_id),
                Some(routing_json(&before)),
                Some(routing_json(&after)),
            )
            .await
        })
    })
    .await?;
    get_routing(db, id).await
}

async fn approve_routing_in(
    conn: &mut Conn,
    version: &RoutingVersion,
    valid_from: Option<NaiveDate>,
    approver: Option<i64>,
) -> Result<(), StoreError> {
    let from = valid_from.or(version.header.valid_from);
    if let (Some(from), Some(to)) = (from, version.header.valid_to)
        && to < from
    {
        return Err(invalid(vec![
            FieldError::new("valid_to", "bom.valid_to_before_from").with("valid_from", from),
        ]));
    }
    let now = now_text();
    sqlx::query(
        "UPDATE routings SET status = 'approved', valid_from = $1, approved_by = $2, \
         approved_at = $3, updated_at = $3, lock_version = lock_version + 1 WHERE id = $4",
    )
    .bind(date_text(from))
    .bind(approver)
    .bind(now)
    .bind(version.header.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Approves draft routing `id` (at `lock_version`) with the validity dates it was given.
pub async fn approve_routing(
    db: &Db,
    id: i64,
    lock_version: i64,
    actor: &Actor,
) -> Result<RoutingVersion, StoreError> {
    db.write(|conn, _| {
        Box::pin(async move {
            let before = draft_routing(conn, id, lock_version).await?;
            bump_routing(conn, id, lock_version, &before.header).await?;
            approve_routing_in(conn, &before, None, Some(actor.user_id)).await?;
            let after = load_routing(conn, id).await?;
            audit::record(
                conn,
                "routing",
                id,
                "approve",
                Some(actor.user_id),
                Some(serde_json::json!({"status": "draft"})),
                Some(routing_json(&after)),
            )
            .await
        })
    })
    .await?;
    get_routing(db, id).await
}

/// Makes routing `id` (draft or approved, at `lock_version`) obsolete.
pub async fn obsolete_routing(
    db: &Db,
    id: i64,
    lock_version: i64,
    actor: &Actor,
) -> Result<RoutingVersion, StoreError> {
    db.write(|conn, _| {
        Box::pin(async move {
            let before = load_routing(conn, id).await?;
            if before.header.status == BomStatus::Obsolete {
                return Err(invalid(vec![FieldError::new("status", "bom.already_obsolete")]));
            }
            if before.header.lock_version != lock_version {
                return Err(stale_routing(&before.header));
            }
            bump_routing(conn, id, lock_version, &before.header).await?;
            sqlx::query("UPDATE routings SET status = 'obsolete' WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            audit::record(
                conn,
                "routing",
                id,
                "obsolete",
                Some(actor.user_id),
                Some(serde_json::json!({"status": status_code(before.header.status)})),
                Some(serde_json::json!({"status": "obsolete"})),
            )
            .await
        })
    })
    .await?;
    get_routing(db, id).await
}

/// A field of an operation that differs between two routing versions.
pub const OPERATION_FIELDS: [&str; 9] = [
    "work_centre",
    "description",
    "setup_hours",
    "run_hours",
    "queue_hours",
    "move_hours",
    "subcontracted",
    "supplier",
    "subcontract_fee",
];

/// One difference between two routing versions, matched by sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingDiff {
    /// An operation only the new version has.
    Added(RoutingOperation),
    /// An operation only the old version has.
    Removed(RoutingOperation),
    /// The same sequence with different fields (named from [`OPERATION_FIELDS`]).
    Changed {
        /// The old operation.
        before: RoutingOperation,
        /// The new operation.
        after: RoutingOperation,
        /// What differs.
        fields: Vec<&'static str>,
    },
}

/// The differences from operations `a` (old) to `b` (new), by sequence number.
pub fn compare_operations(a: &[RoutingOperation], b: &[RoutingOperation]) -> Vec<RoutingDiff> {
    let old: BTreeMap<i64, &RoutingOperation> = a.iter().map(|o| (o.seq, o)).collect();
    let new: BTreeMap<i64, &RoutingOperation> = b.iter().map(|o| (o.seq, o)).collect();
    let seqs: BTreeSet<i64> = old.keys().chain(new.keys()).copied().collect();
    seqs.into_iter()
        .filter_map(|seq| match (old.get(&seq), new.get(&seq)) {
            (Some(x), Some(y)) => {
                let differs = [
                    x.work_centre != y.work_centre,
                    x.description != y.description,
                    x.setup_hours != y.setup_hours,
                    x.run_hours != y.run_hours,
                    x.queue_hours != y.queue_hours,
                    x.move_hours != y.move_hours,
                    x.subcontracted != y.subcontracted,
                    x.supplier != y.supplier,
                    x.subcontract_fee != y.subcontract_fee,
                ];
                let fields: Vec<&'static str> = OPERATION_FIELDS
                    .iter()
                    .zip(differs)
                    .filter_map(|(f, d)| d.then_some(*f))
                    .collect();
                (!fields.is_empty()).then(|| RoutingDiff::Changed {
                    before: (*x).clone(),
                    after: (*y).clone(),
                    fields,
                })
            }
            (Some(x), None) => Some(RoutingDiff::Removed((*x).clone())),
            (None, Some(y)) => Some(RoutingDiff::Added((*y).clone())),
            (None, None) => None,
        })
        .collect()
}

/// Two routing versions and their differences.
#[derive(Debug, Clone)]
pub struct RoutingComparison {
    /// The old version.
    pub a: RoutingVersion,
    /// The new version.
    pub b: RoutingVersion,
    /// Operation by operation.
    pub diffs: Vec<RoutingDiff>,
}

/// Compares routing `a` (old) with routing `b` (new).
pub async fn compare_routings(db: &Db, a: i64, b: i64) -> Result<RoutingComparison, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let a = load_routing(&mut conn, a).await?;
    let b = load_routing(&mut conn, b).await?;
    let diffs = compare_operations(&a.operations, &b.operations);
    Ok(RoutingComparison { a, b, diffs })
}

/// The approved routings in effect on `$1`, over alias `b`.
const ROUTING_IN_EFFECT: &str = "b.status = 'approved' \
     AND (b.valid_from IS NULL OR b.valid_from <= $1) AND (b.valid_to IS NULL OR b.valid_to >= $1)";

/// The routing of `item` in effect on `date` (latest start, then greatest name), if any.
pub async fn effective_routing(
    db: &Db,
    item: &str,
    date: NaiveDate,
) -> Result<Option<RoutingVersion>, StoreError> {
    let sql = format!(
        "SELECT b.id, b.item, b.version, b.valid_from, b.valid_to FROM routings b \
         WHERE {ROUTING_IN_EFFECT} AND b.item = $2"
    );
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(date.to_string())
        .bind(item.trim().to_uppercase())
        .fetch_all(&mut *conn)
        .await?;
    let found = rows
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("id")?,
                r.try_get::<String, _>("item")?,
                r.try_get::<String, _>("version")?,
                read_date(r, "valid_from")?,
                read_date(r, "valid_to")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let candidates: Vec<Candidate<'_>> = found
        .iter()
        .map(|(id, item, version, from, to)| Candidate {
            id: *id,
            item,
            version,
            valid_from: *from,
            valid_to: *to,
            customer: None,
        })
        .collect();
    let chosen = choose_versions(&candidates, date, None).into_keys().next();
    match chosen {
        Some(id) => Ok(Some(load_routing(&mut conn, id).await?)),
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------------------
// Standard cost roll-up

/// Everything a roll-up reads, loaded in bulk.
#[derive(Debug, Default)]
pub struct RollUpInputs {
    /// The general structure in effect.
    pub structure: EffectiveStructure,
    /// Leaf material costs (every item's standard cost) and the routings in effect.
    pub costs: bom::CostInputs,
    /// The routing version in effect per item.
    pub routing_versions: HashMap<String, String>,
}

/// Every operation of every routing version in effect, packed into one text: records
/// `id|item|version|valid_from|valid_to|lot_size|seq|work_centre|setup_hours|run_hours|
/// subcontracted|subcontract_fee` joined by `;`.
const PACKED_OPERATIONS: &str = "SELECT string_agg(CAST(b.id AS TEXT) || '|' || b.item || '|' || \
     b.version || '|' || COALESCE(b.valid_from, '') || '|' || COALESCE(b.valid_to, '') || '|' || \
     CAST(b.lot_size AS TEXT) || '|' || CAST(o.seq AS TEXT) || '|' || o.work_centre || '|' || \
     CAST(o.setup_hours AS TEXT) || '|' || CAST(o.run_hours AS TEXT) || '|' || \
     CAST(o.subcontracted AS TEXT) || '|' || COALESCE(CAST(o.subcontract_fee AS TEXT), ''), ';') \
     AS packed FROM routings b JOIN routing_operations o ON o.routing_id = b.id";

/// Loads what a roll-up on `date` needs: every item's standard cost and base unit, the
/// general structure in effect, the routings in effect and the work centres' rates. Five
/// queries however many items there are; items, lines and operations each come packed in
/// one text.
pub async fn roll_up_inputs(db: &Db, date: NaiveDate) -> Result<RollUpInputs, StoreError> {
    // The three large reads run at once, each on its own connection (each reads a committed
    // state; a version approved meanwhile shows in the next run).
    let binds = binds_per_statement(db.backend());
    let empty = EffectiveStructure::default();
    let items = async {
        let mut conn = db.pool().acquire().await?;
        let packed: Option<String> = sqlx::query(
            "SELECT string_agg(code || '|' || base_unit || '|' || CAST(standard_cost AS TEXT), \
             ';') AS packed FROM items",
        )
        .fetch_one(&mut *conn)
        .await?
        .try_get("packed")?;
        let conversions = Conversions::load(&mut conn).await?;
        let mut rates: HashMap<String, [Decimal; 3]> = HashMap::new();
        for r in
            sqlx::query("SELECT code, labour_rate, machine_rate, overhead_rate FROM work_centres")
                .fetch_all(&mut *conn)
                .await?
        {
            rates.insert(
                r.try_get("code")?,
                [
                    read_dec(&r, "labour_rate")?,
                    read_dec(&r, "machine_rate")?,
                    read_dec(&r, "overhead_rate")?,
                ],
            );
        }
        Ok::<_, StoreError>((packed.unwrap_or_default(), conversions, rates))
    };
    let boms = async {
        let mut conn = db.pool().acquire().await?;
        fetch_packed_boms(&mut conn, binds, None, date, None, &empty).await
    };
    let routings = async {
        let mut conn = db.pool().acquire().await?;
        let packed: Option<String> =
            sqlx::query(AssertSqlSafe(format!("{PACKED_OPERATIONS} WHERE {ROUTING_IN_EFFECT}")))
                .bind(date.to_string())
                .fetch_one(&mut *conn)
                .await?
                .try_get("packed")?;
        Ok::<_, StoreError>(packed)
    };
    let ((items, conversions, rates), bom_texts, packed) = tokio::try_join!(items, boms, routings)?;

    let mut out = RollUpInputs::default();
    for r in records(&items) {
        let [code, base, cost] = r.as_slice() else {
            return Err(corrupt("packed item", &r.join("|")));
        };
        out.costs.material_cost.insert((*code).to_owned(), from_scaled(int_field(cost, &r)?));
        out.structure.base_units.insert((*code).to_owned(), (*base).to_owned());
    }
    drop(items);
    let parsed = parse_packed_boms(&bom_texts, date, None, &empty)?;
    add_parsed_boms(parsed, &conversions, &mut out.structure)?;
    drop(bom_texts);

    let packed = packed.unwrap_or_default();
    let mut candidates = Vec::new();
    let mut seen = HashSet::new();
    let mut ops = Vec::new();
    for r in records(&packed) {
        let [id, item, version, from, to, lot, seq, centre, setup, run, outside, fee] =
            r.as_slice()
        else {
            return Err(corrupt("packed operation", &r.join("|")));
        };
        let id = int_field(id, &r)?;
        if seen.insert(id) {
            candidates.push(Candidate {
                id,
                item,
                version,
                valid_from: date_field(from, &r)?,
                valid_to: date_field(to, &r)?,
                customer: None,
            });
        }
        // A subcontracted operation costs its fee; the work centre's rates are for work done
        // inside.
        let outside = int_field(outside, &r)? != 0;
        let [labour, machine, overhead] = if outside {
            [Decimal::ZERO; 3]
        } else {
            rates.get(*centre).copied().unwrap_or_default()
        };
        let fee = if fee.is_empty() { Decimal::ZERO } else { from_scaled(int_field(fee, &r)?) };
        ops.push((
            id,
            bom::Operation {
                seq: int_field(seq, &r)?,
                work_centre: (*centre).to_owned(),
                setup_hours: from_scaled(int_field(setup, &r)?),
                run_hours_per_unit: from_scaled(int_field(run, &r)?),
                lot_size: from_scaled(int_field(lot, &r)?),
                labour_rate: labour,
                machine_rate: machine,
                overhead_rate: overhead,
                subcontract_fee_per_unit: outside.then_some(fee),
            },
        ));
    }
    let chosen = choose_versions(&candidates, date, None);
    for (id, op) in ops {
        if let Some((item, version)) = chosen.get(&id) {
            if !out.routing_versions.contains_key(*item) {
                out.routing_versions.insert((*item).to_owned(), (*version).to_owned());
            }
            out.costs.routings.entry((*item).to_owned()).or_default().push(op);
        }
    }
    Ok(out)
}

/// One roll-up run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRun {
    /// Id.
    pub id: i64,
    /// The date whose structure and routings were costed.
    pub as_of: NaiveDate,
    /// Items costed.
    pub items: i64,
    /// Operations costed.
    pub operations: i64,
    /// Who ran it.
    pub run_by: Option<String>,
    /// When it started reading.
    pub started_at: String,
    /// When it finished writing.
    pub finished_at: String,
    /// Read to written, in milliseconds.
    pub duration_ms: i64,
}

/// How long each part of a roll-up took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollUpTimes {
    /// The run's id.
    pub run_id: i64,
    /// Items costed.
    pub items: usize,
    /// Operations costed.
    pub operations: usize,
    /// Loading the inputs.
    pub read_ms: u128,
    /// The roll-up itself.
    pub compute_ms: u128,
    /// Writing the results, commit included.
    pub write_ms: u128,
}

/// An item's cost sheet as stored in `cost_rollup_items.sheet_json`:
///
/// ```json
/// {"bom_version": "01", "routing_version": "R1",
///  "cost": [material, labour, machine, overhead, subcontract],
///  "lower": [material, labour, machine, overhead, subcontract],
///  "operations": [[seq, "work centre", hours_per_unit, labour, machine, overhead,
///                  subcontract, total]]}
/// ```
///
/// `cost` is the single-level view of [`bom::CostSheet`] (a made item's material is what its
/// components cost; the rest is its own routing), `lower` what the components brought in per
/// element. Figures are integers scaled by 10^6 like every stored decimal; versions are
/// `null` when the item has none.
fn sheet_json(
    bom_version: Option<&str>,
    routing_version: Option<&str>,
    sheet: &bom::CostSheet,
    item: &str,
) -> Result<String, StoreError> {
    use std::fmt::Write;
    let text = |v: Option<&str>| {
        v.map_or_else(|| "null".to_owned(), |v| serde_json::Value::from(v).to_string())
    };
    let n = |v: Decimal| {
        to_scaled(v).ok_or_else(|| {
            invalid(vec![FieldError::new("item", "bom.overflow").with("item", item)])
        })
    };
    let mut out = String::with_capacity(160 + sheet.operations.len() * 80);
    let _ = write!(
        out,
        "{{\"bom_version\":{},\"routing_version\":{},\"cost\":[{},{},{},{},{}],\
         \"lower\":[{},{},{},{},{}],\"operations\":[",
        text(bom_version),
        text(routing_version),
        n(sheet.material)?,
        n(sheet.labour)?,
        n(sheet.machine)?,
        n(sheet.overhead)?,
        n(sheet.subcontract)?,
        n(sheet.lower_levels.material)?,
        n(sheet.lower_levels.labour)?,
        n(sheet.lower_levels.machine)?,
        n(sheet.lower_levels.overhead)?,
        n(sheet.lower_levels.subcontract)?,
    );
    for (i, op) in sheet.operations.iter().enumerate() {
        let _ = write!(
            out,
            "{}[{},{},{},{},{},{},{},{}]",
            if i > 0 { "," } else { "" },
            op.seq,
            serde_json::Value::from(op.work_centre.as_str()),
            n(op.hours_per_unit)?,
            n(op.labour)?,
            n(op.machine)?,
            n(op.overhead)?,
            n(op.subcontract)?,
            n(op.total)?,
        );
    }
    out.push_str("]}");
    Ok(out)
}

/// Rolls standard cost up through every level as of `as_of` and stores the run: the inputs
/// are loaded in bulk ([`roll_up_inputs`]), costed by [`bom::roll_up`] and written with
/// multi-row inserts in one transaction, one row per item. Answers the run's id. A loop in the
/// structure is refused with `bom.cycle`, an operation whose routing lot is not positive with
/// `routing.lot_size_not_positive`.
pub async fn roll_up(db: &Db, as_of: NaiveDate, actor: &Actor) -> Result<i64, StoreError> {
    Ok(roll_up_timed(db, as_of, actor).await?.run_id)
}

/// [`roll_up`], answering how long reading, costing and writing took.
pub async fn roll_up_timed(
    db: &Db,
    as_of: NaiveDate,
    actor: &Actor,
) -> Result<RollUpTimes, StoreError> {
    let started = std::time::Instant::now();
    let started_at = now_text();
    let inputs = roll_up_inputs(db, as_of).await?;
    let read_ms = started.elapsed().as_millis();

    let computing = std::time::Instant::now();
    let sheets = bom::roll_up(&inputs.structure.structure, &inputs.costs)
        .map_err(|e| bom_error("structure", &e))?;
    let run_id = new_id();
    let mut rows = Vec::with_capacity(sheets.len());
    let mut operations = 0usize;
    for (item, sheet) in &sheets {
        let total = to_scaled(sheet.total).ok_or_else(|| {
            invalid(vec![FieldError::new("item", "bom.overflow").with("item", item)])
        })?;
        operations += sheet.operations.len();
        let json = sheet_json(
            inputs.structure.versions.get(item).map(String::as_str),
            inputs.routing_versions.get(item).map(String::as_str),
            sheet,
            item,
        )?;
        rows.push(vec![Arg::from(item.as_str()), Arg::from(total), Arg::from(json)]);
    }
    let items = rows.len();
    // Freeing a million small allocations takes a while: let it overlap the write.
    drop(tokio::task::spawn_blocking(move || drop((sheets, inputs))));
    let compute_ms = computing.elapsed().as_millis();

    let writing = std::time::Instant::now();
    let binds = write_binds(db.backend());
    let (rows, started_at) = (&rows, &started_at);
    db.write(|conn, _| {
        Box::pin(async move {
            let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT INTO cost_rollups (id, as_of, items, operations, run_by, started_at, \
                 finished_at, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $6, 0)",
            )
            .bind(run_id)
            .bind(as_of.to_string())
            .bind(count(items))
            .bind(count(operations))
            .bind(actor.user_id)
            .bind(started_at.clone())
            .execute(&mut *conn)
            .await?;
            insert_rows_sharing(
                conn,
                binds,
                "cost_rollup_items",
                &[("run_id", Arg::from(run_id))],
                &["item", "total", "sheet_json"],
                rows,
            )
            .await?;
            audit::record(
                conn,
                "cost_rollup",
                run_id,
                "run",
                Some(actor.user_id),
                None,
                Some(serde_json::json!({
                    "as_of": as_of.to_string(),
                    "items": items,
                    "operations": operations,
                })),
            )
            .await?;
            sqlx::query("UPDATE cost_rollups SET finished_at = $1, duration_ms = $2 WHERE id = $3")
                .bind(now_text())
                .bind(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX))
                .bind(run_id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    })
    .await?;
    let write_ms = writing.elapsed().as_millis();
    tracing::info!(run_id, items, operations, read_ms, compute_ms, write_ms, "cost rolled up");
    Ok(RollUpTimes { run_id, items, operations, read_ms, compute_ms, write_ms })
}

/// An item's standard cost as one run found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCostSheet {
    /// The run.
    pub run_id: i64,
    /// The date the run costed.
    pub as_of: NaiveDate,
    /// When the run finished.
    pub run_at: String,
    /// The item.
    pub item: String,
    /// The BOM version costed, `None` for a purchased item.
    pub bom_version: Option<String>,
    /// The routing version costed, if the item has one.
    pub routing_version: Option<String>,
    /// The figures, per unit of the item in its base unit, as [`bom::CostSheet`] explains
    /// them (`this_level` included).
    pub sheet: bom::CostSheet,
}

const SHEET_COLUMNS: &str = "c.run_id, r.as_of, r.finished_at, c.item, c.total, c.sheet_json";

fn read_sheet(r: &AnyRow) -> Result<StoredCostSheet, StoreError> {
    let json: String = r.try_get("sheet_json")?;
    let bad = || corrupt("sheet_json", &json);
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|_| bad())?;
    let num = |v: &serde_json::Value| -> Result<Decimal, StoreError> {
        v.as_i64().map(from_scaled).ok_or_else(bad)
    };
    let five = |key: &str| -> Result<[Decimal; 5], StoreError> {
        let list = value.get(key).and_then(serde_json::Value::as_array).ok_or_else(bad)?;
        let mut out = [Decimal::ZERO; 5];
        for (slot, v) in out.iter_mut().zip(list) {
            *slot = num(v)?;
        }
        Ok(out)
    };
    let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
    let [material, labour, machine, overhead, subcontract] = five("cost")?;
    let lower = five("lower")?;
    let bom_version = text("bom_version");
    let mut operations = Vec::new();
    for op in value.get("operations").and_then(serde_json::Value::as_array).into_iter().flatten() {
        let parts = op.as_array().ok_or_else(bad)?;
        let [seq, centre, hours, l, m, o, s, t] = parts.as_slice() else { return Err(bad()) };
        operations.push(bom::OperationCost {
            seq: seq.as_i64().ok_or_else(bad)?,
            work_centre: centre.as_str().ok_or_else(bad)?.to_owned(),
            hours_per_unit: num(hours)?,
            labour: num(l)?,
            machine: num(m)?,
            overhead: num(o)?,
            subcontract: num(s)?,
            total: num(t)?,
        });
    }
    // A purchased item's material is spent at its own level; a made item's comes from below.
    let own_material = if bom_version.is_none() { material } else { Decimal::ZERO };
    Ok(StoredCostSheet {
        run_id: r.try_get("run_id")?,
        as_of: read_date(r, "as_of")?.unwrap_or_default(),
        run_at: r.try_get("finished_at")?,
        item: r.try_get("item")?,
        routing_version: text("routing_version"),
        sheet: bom::CostSheet {
            material,
            labour,
            machine,
            overhead,
            subcontract,
            total: read_dec(r, "total")?,
            this_level: bom::CostElements {
                material: own_material,
                labour,
                machine,
                overhead,
                subcontract,
            },
            lower_levels: bom::CostElements {
                material: lower[0],
                labour: lower[1],
                machine: lower[2],
                overhead: lower[3],
                subcontract: lower[4],
            },
            operations,
        },
        bom_version,
    })
}

/// `item`'s cost sheet from the latest run that costed it, with its operations; `None` when
/// no run has.
pub async fn cost_sheet(db: &Db, item: &str) -> Result<Option<StoredCostSheet>, StoreError> {
    let sql = format!(
        "SELECT {SHEET_COLUMNS} FROM cost_rollup_items c JOIN cost_rollups r ON r.id = c.run_id \
         WHERE c.item = $1 ORDER BY c.run_id DESC LIMIT 1"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(item.trim().to_uppercase())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(read_sheet).transpose()
}

/// `item`'s cost sheet as run `run_id` found it, with its operations.
pub async fn cost_sheet_of_run(
    db: &Db,
    run_id: i64,
    item: &str,
) -> Result<Option<StoredCostSheet>, StoreError> {
    let sql = format!(
        "SELECT {SHEET_COLUMNS} FROM cost_rollup_items c JOIN cost_rollups r ON r.id = c.run_id \
         WHERE c.run_id = $1 AND c.item = $2"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(run_id)
        .bind(item.trim().to_uppercase())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(read_sheet).transpose()
}

/// `item`'s cost in every run that costed it, newest first, at most `limit` runs.
pub async fn cost_history(
    db: &Db,
    item: &str,
    limit: i64,
) -> Result<Vec<StoredCostSheet>, StoreError> {
    let sql = format!(
        "SELECT {SHEET_COLUMNS} FROM cost_rollup_items c JOIN cost_rollups r ON r.id = c.run_id \
         WHERE c.item = $1 ORDER BY c.run_id DESC LIMIT {}",
        limit.clamp(1, 1000)
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(item.trim().to_uppercase())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(read_sheet).collect()
}

/// The latest run's total standard cost of `item` per base unit, if a run costed it. Sales
/// uses it as the cost estimate of items without issue history.
pub async fn rolled_up_cost(conn: &mut Conn, item: &str) -> Result<Option<Decimal>, StoreError> {
    let row = sqlx::query(
        "SELECT total FROM cost_rollup_items WHERE item = $1 ORDER BY run_id DESC LIMIT 1",
    )
    .bind(item.to_owned())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| read_dec(&r, "total")).transpose()
}

fn read_run(r: &AnyRow) -> Result<CostRun, StoreError> {
    Ok(CostRun {
        id: r.try_get("id")?,
        as_of: read_date(r, "as_of")?.unwrap_or_default(),
        items: r.try_get("items")?,
        operations: r.try_get("operations")?,
        run_by: r.try_get("username")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        duration_ms: r.try_get("duration_ms")?,
    })
}

/// The latest `limit` roll-up runs, newest first.
pub async fn cost_runs(db: &Db, limit: i64) -> Result<Vec<CostRun>, StoreError> {
    let sql = format!(
        "SELECT r.id, r.as_of, r.items, r.operations, u.username, r.started_at, r.finished_at, \
         r.duration_ms FROM cost_rollups r LEFT JOIN users u ON u.id = r.run_by \
         ORDER BY r.id DESC LIMIT {}",
        limit.clamp(1, 1000)
    );
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(db.pool()).await?;
    rows.iter().map(read_run).collect()
}

/// Roll-up run `id`; [`StoreError::NotFound`] when unknown.
pub async fn cost_run(db: &Db, id: i64) -> Result<CostRun, StoreError> {
    let row = sqlx::query(
        "SELECT r.id, r.as_of, r.items, r.operations, u.username, r.started_at, r.finished_at, \
         r.duration_ms FROM cost_rollups r LEFT JOIN users u ON u.id = r.run_by WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found("cost_rollup", id))?;
    read_run(&row)
}

/// Every item's total of run `run_id`, in one query.
pub async fn run_totals(db: &Db, run_id: i64) -> Result<HashMap<String, Decimal>, StoreError> {
    let rows = sqlx::query("SELECT item, total FROM cost_rollup_items WHERE run_id = $1")
        .bind(run_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| Ok((r.try_get("item")?, read_dec(r, "total")?))).collect()
}

// ---------------------------------------------------------------------------------------
// Engineering change orders 工程变更单

/// The document type code of engineering change orders.
pub const ECO_TYPE: &str = "engineering_change";

/// The document types whose open lines an engineering change reports as its impact.
pub const IMPACT_TYPES: [&str; 3] = ["sales_order", "purchase_order", "production_order"];

/// What an engineering change line switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A bill of materials version.
    Bom,
    /// A routing version.
    Routing,
}

impl ChangeKind {
    /// Stable code, as stored and as written in a line's note.
    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::Bom => "bom",
            ChangeKind::Routing => "routing",
        }
    }

    fn from_code(code: &str) -> Option<ChangeKind> {
        match code {
            "bom" => Some(ChangeKind::Bom),
            "routing" => Some(ChangeKind::Routing),
            _ => None,
        }
    }
}

/// Reads an engineering change line's note: `bom:02` or `routing:B`, optionally followed by
/// a space and free text (`bom:02 thicker blade`). The version is upper-cased.
pub fn parse_change(note: &str) -> Option<(ChangeKind, String)> {
    let first = note.split_whitespace().next()?;
    let (kind, version) = first.split_once(':')?;
    let kind = ChangeKind::from_code(&kind.to_ascii_lowercase())?;
    let version = code_of(version)?;
    Some((kind, version))
}

/// The id and status of `item`'s `kind` version `version`.
async fn change_target(
    conn: &mut Conn,
    kind: ChangeKind,
    item: &str,
    version: &str,
) -> Result<Option<(i64, BomStatus)>, StoreError> {
    let sql = match kind {
        ChangeKind::Bom => "SELECT id, status FROM boms WHERE item = $1 AND version = $2",
        ChangeKind::Routing => "SELECT id, status FROM routings WHERE item = $1 AND version = $2",
    };
    let row = sqlx::query(sql)
        .bind(item.to_owned())
        .bind(version.to_owned())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((r.try_get("id")?, read_status(&r)?))).transpose()
}

/// One line of a change order, read and checked: what it switches and from when.
struct ChangeLine {
    line_id: i64,
    item: String,
    kind: ChangeKind,
    target: i64,
    effective: NaiveDate,
}

/// An ECO line as the change reads it: line id, item, effective date, note.
type EcoLineRef = (i64, Option<String>, Option<NaiveDate>, Option<String>);

/// Checks change lines against the database: each names an item, an effective date (the
/// line's due date) and, in its note, a draft version of that item (`bom:02`), and no item
/// changes the same kind twice. Errors name `lines[i].field`.
async fn check_changes(
    conn: &mut Conn,
    lines: &[EcoLineRef],
) -> Result<Result<Vec<ChangeLine>, Vec<FieldError>>, StoreError> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, (line_id, item, due, note)) in lines.iter().enumerate() {
        let f = |name: &str| format!("lines[{i}].{name}");
        let Some(item) = item.as_deref().and_then(code_of) else {
            errors.push(FieldError::new(f("item"), "field.required"));
            continue;
        };
        if due.is_none() {
            errors.push(FieldError::new(f("due_date"), "eco.effective_date_required"));
        }
        let Some((kind, version)) = note.as_deref().and_then(parse_change) else {
            errors.push(FieldError::new(f("note"), "eco.bad_change").with("example", "bom:02"));
            continue;
        };
        if !seen.insert((kind, item.clone())) {
            errors.push(
                FieldError::new(f("note"), "eco.duplicate_change")
                    .with("item", &item)
                    .with("kind", kind.code()),
            );
            continue;
        }
        match change_target(conn, kind, &item, &version).await? {
            None => errors.push(
                FieldError::new(f("note"), "eco.version_not_found")
                    .with("kind", kind.code())
                    .with("item", &item)
                    .with("version", &version),
            ),
            Some((_, status)) if status != BomStatus::Draft => errors.push(
                FieldError::new(f("note"), "eco.version_not_draft")
                    .with("kind", kind.code())
                    .with("item", &item)
                    .with("version", &version)
                    .with("status", status_code(status)),
            ),
            Some((target, _)) => {
                if let Some(effective) = *due {
                    out.push(ChangeLine { line_id: *line_id, item, kind, target, effective });
                }
            }
        }
    }
    Ok(if errors.is_empty() { Ok(out) } else { Err(errors) })
}

/// Checks a change order's lines while it is drafted.
struct EcoPrep;

impl DraftHook for EcoPrep {
    fn prepare<'c>(
        &'c self,
        conn: &'c mut Conn,
        _doc_type: &'c DocType,
        draft: &'c mut Draft,
    ) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let lines: Vec<_> = draft
                .lines
                .iter()
                .map(|l| (0, l.item.clone(), l.due_date, l.note.clone()))
                .collect();
            match check_changes(conn, &lines).await? {
                Ok(_) => Ok(()),
                Err(errors) => Err(invalid(errors)),
            }
        })
    }
}

/// Approving a change order switches versions and records its impact; reversing the
/// approval puts the versions back.
struct EcoHooks;

/// A version of `kind` as (id, customer, valid_from, valid_to), for ending.
async fn approved_versions(
    conn: &mut Conn,
    kind: ChangeKind,
    item: &str,
) -> Result<Vec<(i64, Option<String>, Option<NaiveDate>, Option<NaiveDate>)>, StoreError> {
    let sql = match kind {
        ChangeKind::Bom => {
            "SELECT id, customer, valid_from, valid_to FROM boms \
             WHERE item = $1 AND status = 'approved'"
        }
        ChangeKind::Routing => {
            "SELECT id, CAST(NULL AS TEXT) AS customer, valid_from, valid_to FROM routings \
             WHERE item = $1 AND status = 'approved'"
        }
    };
    let rows = sqlx::query(sql).bind(item.to_owned()).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("customer")?,
                read_date(r, "valid_from")?,
                read_date(r, "valid_to")?,
            ))
        })
        .collect()
}

async fn set_valid_to(
    conn: &mut Conn,
    kind: ChangeKind,
    id: i64,
    valid_to: Option<NaiveDate>,
) -> Result<(), StoreError> {
    let sql = match kind {
        ChangeKind::Bom => {
            "UPDATE boms SET valid_to = $1, updated_at = $2, lock_version = lock_version + 1 \
             WHERE id = $3"
        }
        ChangeKind::Routing => {
            "UPDATE routings SET valid_to = $1, updated_at = $2, \
             lock_version = lock_version + 1 WHERE id = $3"
        }
    };
    sqlx::query(sql)
        .bind(date_text(valid_to))
        .bind(now_text())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Switches one change line: approves the new version from the effective date and ends the
/// approved versions of the same scope (same customer, or general) running on that date on
/// the day before; records what it did in `eco_changes`.
async fn apply_change(conn: &mut Conn, doc_id: i64, change: &ChangeLine) -> Result<(), StoreError> {
    let effective = change.effective;
    let day_before = effective.pred_opt().unwrap_or(effective);
    let (scope, new_from) = match change.kind {
        ChangeKind::Bom => {
            let version = load_bom(conn, change.target).await?;
            approve_bom_in(conn, &version, Some(effective), None).await?;
            (version.header.customer.clone(), version.header.valid_from)
        }
        ChangeKind::Routing => {
            let version = load_routing(conn, change.target).await?;
            approve_routing_in(conn, &version, Some(effective), None).await?;
            (None, version.header.valid_from)
        }
    };
    let mut ended = Vec::new();
    for (id, customer, from, to) in approved_versions(conn, change.kind, &change.item).await? {
        let running = from.is_none_or(|f| f < effective) && to.is_none_or(|t| t >= effective);
        if id != change.target && customer == scope && running {
            set_valid_to(conn, change.kind, id, Some(day_before)).await?;
            ended.push((Some(id), to));
        }
    }
    if ended.is_empty() {
        ended.push((None, None));
    }
    let rows: Vec<Vec<Arg>> = ended
        .into_iter()
        .map(|(ended_id, ended_to)| {
            vec![
                Arg::from(new_id()),
                Arg::from(doc_id),
                Arg::from(change.line_id),
                Arg::from(change.kind.code()),
                Arg::from(change.item.clone()),
                Arg::from(change.target),
                Arg::from(date_text(new_from)),
                Arg::from(ended_id),
                Arg::from(date_text(ended_to)),
                Arg::from(effective.to_string()),
            ]
        })
        .collect();
    insert_rows(
        conn,
        CONN_BINDS,
        "eco_changes",
        &[
            "id",
            "document_id",
            "line_id",
            "kind",
            "item",
            "new_id",
            "new_valid_from",
            "ended_id",
            "ended_valid_to",
            "effective_date",
        ],
        &rows,
    )
    .await
}

/// Finds and stores the open order lines a change touches: lines of approved documents of
/// [`IMPACT_TYPES`] with quantity still open, for a changed item or an item using it at any
/// level on the change's effective date.
async fn record_impact(
    conn: &mut Conn,
    doc_id: i64,
    changes: &[ChangeLine],
) -> Result<(), StoreError> {
    // Each touched item with the first change that reaches it.
    let mut via: BTreeMap<String, String> = BTreeMap::new();
    for change in changes {
        via.entry(change.item.clone()).or_insert_with(|| change.item.clone());
    }
    for change in changes {
        let es = load_above(conn, CONN_BINDS, &change.item, true, change.effective, None).await?;
        let users = bom::where_used(&es.structure, &change.item, true)
            .map_err(|e| bom_error("lines", &e))?;
        for row in users {
            via.entry(row.parent).or_insert_with(|| change.item.clone());
        }
    }
    let items: Vec<String> = via.keys().cloned().collect();
    let leading: Vec<Option<String>> = IMPACT_TYPES.iter().map(|t| Some((*t).to_owned())).collect();
    let rows = rows_for_codes(
        conn,
        CONN_BINDS,
        "SELECT d.id, d.doc_type, d.number, l.line_no, l.item, l.quantity, l.carried_qty, \
         l.due_date FROM document_lines l JOIN documents d ON d.id = l.document_id \
         WHERE d.state = 'approved' AND d.doc_type IN ($1, $2, $3) AND l.item IN ",
        " ORDER BY d.doc_type, d.number, l.line_no",
        &leading,
        &items,
    )
    .await?;
    let mut impacts = Vec::new();
    for r in rows {
        let open = r.try_get::<i64, _>("quantity")? - r.try_get::<i64, _>("carried_qty")?;
        if open <= 0 {
            continue;
        }
        let item: String = r.try_get("item")?;
        impacts.push(vec![
            Arg::from(new_id()),
            Arg::from(doc_id),
            Arg::from(via.get(&item).cloned().unwrap_or_else(|| item.clone())),
            Arg::from(item),
            Arg::from(r.try_get::<i64, _>("id")?),
            Arg::from(r.try_get::<String, _>("doc_type")?),
            Arg::from(r.try_get::<String, _>("number")?),
            Arg::from(r.try_get::<i64, _>("line_no")?),
            Arg::from(open),
            Arg::from(r.try_get::<Option<String>, _>("due_date")?),
        ]);
    }
    insert_rows(
        conn,
        CONN_BINDS,
        "eco_impacts",
        &[
            "id",
            "document_id",
            "changed_item",
            "item",
            "touched_id",
            "doc_type",
            "number",
            "line_no",
            "quantity",
            "due_date",
        ],
        &impacts,
    )
    .await
}

impl PostingHooks for EcoHooks {
    fn on_approve<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let lines: Vec<_> = doc
                .lines
                .iter()
                .map(|l| (l.id, l.item.clone(), l.due_date, l.note.clone()))
                .collect();
            let changes = match check_changes(conn, &lines).await? {
                Ok(changes) => changes,
                Err(errors) => return Err(invalid(errors)),
            };
            for change in &changes {
                apply_change(conn, doc.id, change).await.map_err(|e| match e {
                    StoreError::Domain(DomainError::Invalid(errors)) => invalid(
                        errors
                            .into_iter()
                            .map(|mut f| {
                                f.params.push(("item".into(), change.item.clone()));
                                f
                            })
                            .collect(),
                    ),
                    other => other,
                })?;
            }
            record_impact(conn, doc.id, &changes).await
        })
    }

    fn on_unapprove<'c>(&'c self, conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, ()> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT kind, item, new_id, new_valid_from, ended_id, ended_valid_to, \
                 effective_date FROM eco_changes WHERE document_id = $1 ORDER BY id",
            )
            .bind(doc.id)
            .fetch_all(&mut *conn)
            .await?;
            let mut restored = HashSet::new();
            for r in &rows {
                let kind_code: String = r.try_get("kind")?;
                let kind = ChangeKind::from_code(&kind_code)
                    .ok_or_else(|| corrupt("eco_changes.kind", &kind_code))?;
                let item: String = r.try_get("item")?;
                let effective = read_date(r, "effective_date")?;
                let new_id: i64 = r.try_get("new_id")?;
                let changed_since = || {
                    invalid(vec![
                        FieldError::new("state", "eco.changed_since")
                            .with("item", &item)
                            .with("kind", kind.code()),
                    ])
                };
                if restored.insert((kind, new_id)) {
                    let (status, from) = match kind {
                        ChangeKind::Bom => {
                            let v = load_bom(conn, new_id).await?;
                            (v.header.status, v.header.valid_from)
                        }
                        ChangeKind::Routing => {
                            let v = load_routing(conn, new_id).await?;
                            (v.header.status, v.header.valid_from)
                        }
                    };
                    if status != BomStatus::Approved || from != effective {
                        return Err(changed_since());
                    }
                    let sql = match kind {
                        ChangeKind::Bom => {
                            "UPDATE boms SET status = 'draft', valid_from = $1, \
                             approved_by = NULL, approved_at = NULL, updated_at = $2, \
                             lock_version = lock_version + 1 WHERE id = $3"
                        }
                        ChangeKind::Routing => {
                            "UPDATE routings SET status = 'draft', valid_from = $1, \
                             approved_by = NULL, approved_at = NULL, updated_at = $2, \
                             lock_version = lock_version + 1 WHERE id = $3"
                        }
                    };
                    sqlx::query(sql)
                        .bind(r.try_get::<Option<String>, _>("new_valid_from")?)
                        .bind(now_text())
                        .bind(new_id)
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some(ended) = r.try_get::<Option<i64>, _>("ended_id")? {
                    let now_to = approved_versions(conn, kind, &item)
                        .await?
                        .into_iter()
                        .find(|v| v.0 == ended)
                        .and_then(|v| v.3);
                    if now_to != effective.and_then(|e| e.pred_opt()) {
                        return Err(changed_since());
                    }
                    set_valid_to(conn, kind, ended, read_date(r, "ended_valid_to")?).await?;
                }
            }
            for sql in [
                "DELETE FROM eco_changes WHERE document_id = $1",
                "DELETE FROM eco_impacts WHERE document_id = $1",
            ] {
                sqlx::query(sql).bind(doc.id).execute(&mut *conn).await?;
            }
            Ok(())
        })
    }
}

/// The engineering document types: the engineering change order 工程变更单. Each line names
/// the item whose BOM or routing changes, quantity 1 in any unit, the prepared draft version
/// in its note (`bom:02`, `routing:B`, then free text) and the effective date as its due
/// date; the header note says why. Approving it approves each version from its date, ends
/// the version it replaces on the day before and records the open orders it touches
/// ([`eco_report`]); reversing the approval restores both versions as long as nothing else
/// moved them.
pub fn document_types() -> Vec<DocType> {
    vec![DocType {
        code: ECO_TYPE,
        area: "engineering",
        number: NumberFormat { prefix: "ECO", date_part: DatePart::YearMonth, width: 4 },
        partner: None,
        sources: &[],
        over_tolerance_pct: Decimal::ZERO,
        rules: Vec::new(),
        hooks: Some(Arc::new(EcoHooks)),
        stock_fields: &[],
        trade_fields: &[],
        needs_reason: false,
        carries: false,
        prepare: Some(Arc::new(EcoPrep)),
    }]
}

/// What one change line switched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcoChange {
    /// The change order's line.
    pub line_no: i64,
    /// BOM or routing.
    pub kind: ChangeKind,
    /// The item changed.
    pub item: String,
    /// The version that took over.
    pub new_version: String,
    /// From when.
    pub effective_date: NaiveDate,
    /// The version it ended on the day before, if one ran then.
    pub ended_version: Option<String>,
    /// The last day the ended version had before.
    pub ended_valid_to: Option<NaiveDate>,
}

/// One open order line a change touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcoImpact {
    /// The changed item that reaches this line (the line's item or one of its components).
    pub changed_item: String,
    /// The line's item.
    pub item: String,
    /// The touched document.
    pub document_id: i64,
    /// Its type.
    pub doc_type: String,
    /// Its number.
    pub number: String,
    /// The line.
    pub line_no: i64,
    /// The quantity still open on it when the change was approved.
    pub open_qty: Decimal,
    /// The line's due date.
    pub due_date: Option<NaiveDate>,
}

/// What an approved change order switched and the open orders it touched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EcoReport {
    /// The switches, by line.
    pub changes: Vec<EcoChange>,
    /// The touched order lines, by type, number and line.
    pub impacts: Vec<EcoImpact>,
}

/// The switches and impact of change order `document_id` (empty until it is approved).
pub async fn eco_report(db: &Db, document_id: i64) -> Result<EcoReport, StoreError> {
    let mut conn = db.pool().acquire().await?;
    let rows = sqlx::query(
        "SELECT l.line_no, c.kind, c.item, c.effective_date, c.ended_valid_to, \
         COALESCE(nb.version, nr.version) AS new_version, \
         COALESCE(eb.version, er.version) AS ended_version \
         FROM eco_changes c JOIN document_lines l ON l.id = c.line_id \
         LEFT JOIN boms nb ON c.kind = 'bom' AND nb.id = c.new_id \
         LEFT JOIN routings nr ON c.kind = 'routing' AND nr.id = c.new_id \
         LEFT JOIN boms eb ON c.kind = 'bom' AND eb.id = c.ended_id \
         LEFT JOIN routings er ON c.kind = 'routing' AND er.id = c.ended_id \
         WHERE c.document_id = $1 ORDER BY l.line_no, c.id",
    )
    .bind(document_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut report = EcoReport::default();
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let ended_version: Option<String> = r.try_get("ended_version")?;
        report.changes.push(EcoChange {
            line_no: r.try_get("line_no")?,
            kind: ChangeKind::from_code(&kind).ok_or_else(|| corrupt("kind", &kind))?,
            item: r.try_get("item")?,
            new_version: r.try_get::<Option<String>, _>("new_version")?.unwrap_or_default(),
            effective_date: read_date(r, "effective_date")?.unwrap_or_default(),
            ended_valid_to: if ended_version.is_some() {
                read_date(r, "ended_valid_to")?
            } else {
                None
            },
            ended_version,
        });
    }
    let rows = sqlx::query(
        "SELECT changed_item, item, touched_id, doc_type, number, line_no, quantity, due_date \
         FROM eco_impacts WHERE document_id = $1 ORDER BY doc_type, number, line_no",
    )
    .bind(document_id)
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        report.impacts.push(EcoImpact {
            changed_item: r.try_get("changed_item")?,
            item: r.try_get("item")?,
            document_id: r.try_get("touched_id")?,
            doc_type: r.try_get("doc_type")?,
            number: r.try_get("number")?,
            line_no: r.try_get("line_no")?,
            open_qty: read_dec(r, "quantity")?,
            due_date: read_date(r, "due_date")?,
        });
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Bulk import

/// How imported versions land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportAs {
    /// As drafts, to be approved or switched in by a change order (file imports).
    Draft,
    /// Approved with the dates they carry (initial loads, benchmarks); BOMs are checked for
    /// loops as a whole, together with the approved structure.
    Approved,
}

/// A loop in `edges` (parent → components), if any: Kahn's order from the leaves up, then a
/// walk through the items left over, which all wait for a component that is left over too.
fn any_loop(edges: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let mut pending: HashMap<&str, usize> = HashMap::new();
    let mut users: HashMap<&str, Vec<&str>> = HashMap::new();
    for (parent, components) in edges {
        pending.insert(parent.as_str(), components.len());
        for c in components {
            users.entry(c.as_str()).or_default().push(parent.as_str());
        }
    }
    let mut ready: Vec<&str> = users.keys().copied().filter(|c| !edges.contains_key(*c)).collect();
    ready.extend(pending.iter().filter(|(_, n)| **n == 0).map(|(p, _)| *p));
    while let Some(done) = ready.pop() {
        for user in users.get(done).into_iter().flatten() {
            if let Some(n) = pending.get_mut(user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    ready.push(user);
                }
            }
        }
    }
    let stuck: HashSet<&str> = pending.iter().filter(|(_, n)| **n > 0).map(|(p, _)| *p).collect();
    let mut at = stuck.iter().min().copied()?;
    let mut chain: Vec<&str> = Vec::new();
    loop {
        if let Some(start) = chain.iter().position(|c| *c == at) {
            let mut path: Vec<String> = chain[start..].iter().map(|c| (*c).to_owned()).collect();
            path.push(at.to_owned());
            return Some(path);
        }
        chain.push(at);
        at = edges.get(at)?.iter().map(String::as_str).find(|c| stuck.contains(c))?;
    }
}

/// `(item, version)` pairs among `items` that exist in `table` (`boms` or `routings`).
async fn existing_versions(
    conn: &mut Conn,
    binds: usize,
    table: &'static str,
    items: &BTreeSet<String>,
) -> Result<HashSet<(String, String)>, StoreError> {
    let items: Vec<String> = items.iter().cloned().collect();
    let head = format!("SELECT item, version FROM {table} WHERE item IN ");
    let rows = rows_for_codes(conn, binds, &head, "", &[], &items).await?;
    rows.iter().map(|r| Ok((r.try_get("item")?, r.try_get("version")?))).collect()
}

/// Imports BOM versions, every one or none, in one transaction with multi-row inserts.
/// Problems are named `boms[i].field` and `boms[i].lines[j].field` (i, j from 0, in the
/// order given): everything [`create_bom`] checks, a version given twice
/// (`bom.duplicate_in_file`) or already stored (`bom.version_exists`), and with
/// [`ImportAs::Approved`] a loop (`bom.cycle` on `boms[i].lines[j].component`). Answers how
/// many versions were imported.
pub async fn import_boms(
    db: &Db,
    inputs: &[BomInput],
    actor: &Actor,
    status: ImportAs,
) -> Result<usize, StoreError> {
    let inputs: Vec<BomInput> = inputs.iter().map(normalise_bom).collect();
    let prefixes: Vec<String> = (0..inputs.len()).map(|i| format!("boms[{i}]")).collect();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (input, prefix) in inputs.iter().zip(&prefixes) {
        errors.extend(check_bom_shape(input, prefix));
        if !seen.insert((input.item.clone(), input.version.clone())) {
            errors.push(FieldError::new(at(prefix, "version"), "bom.duplicate_in_file"));
        }
    }
    if inputs.is_empty() {
        errors.push(FieldError::new("boms", "import.empty_file"));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let binds = binds_per_statement(db.backend());
    let write = write_binds(db.backend());
    let (inputs, prefixes) = (&inputs, &prefixes);
    db.write(|conn, _| {
        Box::pin(async move {
            let refs: Vec<&BomInput> = inputs.iter().collect();
            let mut errors = check_bom_references(conn, binds, &refs, prefixes).await?;
            let items: BTreeSet<String> = inputs.iter().map(|b| b.item.clone()).collect();
            let taken = existing_versions(conn, binds, "boms", &items).await?;
            for (input, prefix) in inputs.iter().zip(prefixes) {
                if taken.contains(&(input.item.clone(), input.version.clone())) {
                    errors.push(
                        FieldError::new(at(prefix, "version"), "bom.version_exists")
                            .with("item", &input.item)
                            .with("version", &input.version),
                    );
                }
            }
            if errors.is_empty() && status == ImportAs::Approved {
                errors.extend(loop_in_import(conn, inputs).await?);
            }
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            let now = now_text();
            let state = match status {
                ImportAs::Draft => BomStatus::Draft,
                ImportAs::Approved => BomStatus::Approved,
            };
            let mut headers = Vec::with_capacity(inputs.len());
            let mut lines = Vec::new();
            for input in inputs {
                let id = new_id();
                headers.push(bom_row(id, input, state, actor, &now));
                lines.extend(bom_line_rows(id, input)?);
            }
            insert_rows(conn, write, "boms", &BOM_COLUMNS, &headers).await?;
            insert_rows(conn, write, "bom_lines", &BOM_LINE_COLUMNS, &lines).await?;
            audit::record(
                conn,
                "bom",
                0,
                "import",
                Some(actor.user_id),
                None,
                Some(serde_json::json!({"versions": inputs.len(), "lines": lines.len(),
                    "status": status_code(state)})),
            )
            .await
        })
    })
    .await?;
    Ok(inputs.len())
}

/// The loop, if any, that approving all of `inputs` at once would close with the approved
/// structure, named on the line where it leaves its first item.
async fn loop_in_import(
    conn: &mut Conn,
    inputs: &[BomInput],
) -> Result<Option<FieldError>, StoreError> {
    let mut components: BTreeSet<String> = BTreeSet::new();
    for input in inputs {
        components.extend(input.lines.iter().map(|l| l.component.clone()));
    }
    let start: Vec<String> = components.into_iter().collect();
    let mut edges = approved_edges_below(conn, &start).await?;
    for input in inputs {
        let list = edges.entry(input.item.clone()).or_default();
        list.extend(input.lines.iter().map(|l| l.component.clone()));
        list.sort();
        list.dedup();
    }
    let Some(path) = any_loop(&edges) else { return Ok(None) };
    let (first, next) = (path.first().cloned().unwrap_or_default(), path.get(1).cloned());
    let field = inputs
        .iter()
        .enumerate()
        .find_map(|(i, input)| {
            let j = input.lines.iter().position(|l| Some(&l.component) == next.as_ref())?;
            (input.item == first).then(|| format!("boms[{i}].lines[{j}].component"))
        })
        .unwrap_or_else(|| "boms".to_owned());
    Ok(Some(FieldError::new(field, "bom.cycle").with("path", path.join(" → "))))
}

/// Imports routing versions, every one or none, like [`import_boms`]: problems are named
/// `routings[i].field` and `routings[i].operations[j].field`.
pub async fn import_routings(
    db: &Db,
    inputs: &[RoutingInput],
    actor: &Actor,
    status: ImportAs,
) -> Result<usize, StoreError> {
    let inputs: Vec<RoutingInput> = inputs.iter().map(normalise_routing).collect();
    let prefixes: Vec<String> = (0..inputs.len()).map(|i| format!("routings[{i}]")).collect();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (input, prefix) in inputs.iter().zip(&prefixes) {
        errors.extend(check_routing_shape(input, prefix));
        if !seen.insert((input.item.clone(), input.version.clone())) {
            errors.push(FieldError::new(at(prefix, "version"), "bom.duplicate_in_file"));
        }
    }
    if inputs.is_empty() {
        errors.push(FieldError::new("routings", "import.empty_file"));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let binds = binds_per_statement(db.backend());
    let write = write_binds(db.backend());
    let (inputs, prefixes) = (&inputs, &prefixes);
    db.write(|conn, _| {
        Box::pin(async move {
            let refs: Vec<&RoutingInput> = inputs.iter().collect();
            let mut errors = check_routing_references(conn, binds, &refs, prefixes).await?;
            let items: BTreeSet<String> = inputs.iter().map(|b| b.item.clone()).collect();
            let taken = existing_versions(conn, binds, "routings", &items).await?;
            for (input, prefix) in inputs.iter().zip(prefixes) {
                if taken.contains(&(input.item.clone(), input.version.clone())) {
                    errors.push(
                        FieldError::new(at(prefix, "version"), "bom.version_exists")
                            .with("item", &input.item)
                            .with("version", &input.version),
                    );
                }
            }
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            let now = now_text();
            let state = match status {
                ImportAs::Draft => BomStatus::Draft,
                ImportAs::Approved => BomStatus::Approved,
            };
            let mut headers = Vec::with_capacity(inputs.len());
            let mut ops = Vec::new();
            for input in inputs {
                let id = new_id();
                headers.push(routing_row(id, input, state, actor, &now)?);
                ops.extend(operation_rows(id, input)?);
            }
            insert_rows(conn, write, "routings", &ROUTING_COLUMNS, &headers).await?;
            insert_rows(conn, write, "routing_operations", &OPERATION_COLUMNS, &ops).await?;
            audit::record(
                conn,
                "routing",
                0,
                "import",
                Some(actor.user_id),
                None,
                Some(serde_json::json!({"versions": inputs.len(), "operations": ops.len(),
                    "status": status_code(state)})),
            )
            .await
        })
    })
    .await?;
    Ok(inputs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(p, cs)| ((*p).to_owned(), cs.iter().map(|c| (*c).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn a_loop_is_found_and_named_from_its_first_item() {
        let tree = edges(&[("A", &["B", "C"]), ("B", &["C"]), ("C", &["D"])]);
        assert_eq!(any_loop(&tree), None);
        let looped = edges(&[("A", &["B"]), ("B", &["C"]), ("C", &["B", "D"]), ("X", &["A"])]);
        assert_eq!(any_loop(&looped), Some(vec!["B".into(), "C".into(), "B".into()]));
    }

    #[test]
    fn change_notes_name_kind_and_version() {
        assert_eq!(parse_change("bom:02"), Some((ChangeKind::Bom, "02".into())));
        assert_eq!(
            parse_change(" Routing:b thicker blade"),
            Some((ChangeKind::Routing, "B".into()))
        );
        assert_eq!(parse_change("bom:"), None);
        assert_eq!(parse_change("02"), None);
        assert_eq!(parse_change("tooling:1"), None);
    }

    #[test]
    fn conversions_prefer_the_item_then_either_direction() {
        let mut c = Conversions::default();
        c.factors.insert(("".into(), "BOX".into(), "PCS".into()), Decimal::from(10));
        c.factors.insert(("SCREW".into(), "BOX".into(), "PCS".into()), Decimal::from(12));
        c.factors.insert(("".into(), "KG".into(), "G".into()), Decimal::from(1000));
        assert_eq!(c.factor("SCREW", "BOX", "PCS"), Some(Decimal::from(12)));
        assert_eq!(c.factor("NUT", "BOX", "PCS"), Some(Decimal::from(10)));
        assert_eq!(c.factor("WIRE", "G", "KG"), Some(Decimal::new(1, 3)));
        assert_eq!(c.factor("WIRE", "PCS", "PCS"), Some(Decimal::ONE));
        assert_eq!(c.factor("WIRE", "M", "KG"), None);
    }
}
