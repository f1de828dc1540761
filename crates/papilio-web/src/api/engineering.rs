//! Engineering API: BOM and routing versions (list, create, read, change a draft, approve,
//! make obsolete, compare, import and export as CSV or XLSX), multi-level explosion and
//! where-used, the standard cost roll-up with each item's cost sheet and its history, and the
//! impact of an engineering change order.
//!
//! Bodies follow the API's conventions: decimals as strings (numbers are taken too), dates as
//! `YYYY-MM-DD`, ids as strings. A BOM or routing has a version *name* (`version`), so the
//! optimistic-locking counter travels as `lock_version`. Bad input answers 422 naming the
//! field and the rule (`lines[2].qty_per`, `field.not_positive`); an unknown id 404.
//!
//! Import files have one row per BOM line (or routing operation); the version's own columns
//! repeat on each of its rows. Every row is checked first; a problem anywhere refuses the whole
//! file with the row and column of each problem, and nothing is written. Imported versions are
//! drafts, to be approved or switched in by a change order.

use std::collections::HashMap;
use std::io::Cursor;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::bom::{self, BomDiff, BomLine, BomStatus, IssueMethod, LineField};
use papilio_core::schema::EntityDef;
use papilio_core::{DomainError, document::DocState};
use papilio_store::StoreError;
use papilio_store::engineering::{
    self as eng, BomHeader, BomInput, BomLineInput, BomVersion, ImportAs, RoutingDiff,
    RoutingHeader, RoutingInput, RoutingOperation, RoutingVersion, StoredCostSheet, VersionFilter,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json, json};

use crate::AppState;
use crate::api::{json_object, scalar_text};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::transfer::{UPLOAD_BODY_LIMIT, download, read_upload};
use crate::transfer::{Exported, FileFormat, MAX_ERRORS, MAX_ROWS, RowError};

/// The area of every engineering route.
pub const AREA: &str = "engineering";
/// Permission resource of BOM versions, explosion and where-used.
pub const BOM_RESOURCE: &str = "bom";
/// Permission resource of routing versions.
pub const ROUTING_RESOURCE: &str = "routing";
/// Permission resource of the cost roll-up and cost sheets.
pub const COST_RESOURCE: &str = "cost_rollup";

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/engineering/boms", get(list_boms).post(create_bom))
        .route("/engineering/boms/compare", get(compare_boms))
        .route("/engineering/boms/export", get(export_boms))
        .route("/engineering/boms/import", post(import_boms))
        .route("/engineering/boms/{id}", get(read_bom).put(update_bom))
        .route("/engineering/boms/{id}/approve", post(approve_bom))
        .route("/engineering/boms/{id}/obsolete", post(obsolete_bom))
        .route("/engineering/explode", get(explode))
        .route("/engineering/where-used", get(where_used))
        .route("/engineering/routings", get(list_routings).post(create_routing))
        .route("/engineering/routings/compare", get(compare_routings))
        .route("/engineering/routings/export", get(export_routings))
        .route("/engineering/routings/import", post(import_routings))
        .route("/engineering/routings/{id}", get(read_routing).put(update_routing))
        .route("/engineering/routings/{id}/approve", post(approve_routing))
        .route("/engineering/routings/{id}/obsolete", post(obsolete_routing))
        .route("/engineering/cost-rollups", get(list_runs).post(run_roll_up))
        .route("/engineering/costs/{code}", get(cost_sheet))
        .route("/engineering/costs/{code}/history", get(cost_history))
        .route("/engineering/ecos/{id}/impact", get(eco_impact))
        .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
}

// ---------------------------------------------------------------------------------------
// Input helpers

fn dec(d: Decimal) -> Json {
    Json::String(d.normalize().to_string())
}

fn date_json(d: Option<NaiveDate>) -> Json {
    d.map_or(Json::Null, |d| Json::String(d.to_string()))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

fn parse_id(text: &str) -> Result<i64, AppError> {
    text.trim().parse().map_err(|_| AppError::NotFound)
}

fn bad(field: impl Into<String>, rule: &str) -> FieldError {
    FieldError::new(field, rule)
}

/// Reads the members of a JSON object by name, collecting every problem.
struct Members<'a> {
    map: Map<String, Json>,
    prefix: String,
    errors: &'a mut Vec<FieldError>,
}

impl<'a> Members<'a> {
    fn new(map: Map<String, Json>, prefix: String, errors: &'a mut Vec<FieldError>) -> Self {
        Members { map, prefix, errors }
    }

    fn name(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.prefix) }
    }

    fn text(&mut self, key: &str) -> Option<String> {
        let value = self.map.remove(key)?;
        match scalar_text(&self.name(key), &value) {
            Ok(t) => Some(t.trim().to_owned()).filter(|t| !t.is_empty()),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    fn decimal(&mut self, key: &str) -> Option<Decimal> {
        let text = self.text(key)?;
        text.parse::<Decimal>()
            .map_err(|_| self.errors.push(bad(self.name(key), "field.not_decimal")))
            .ok()
    }

    fn required_decimal(&mut self, key: &str) -> Decimal {
        match self.decimal(key) {
            Some(d) => d,
            None => {
                if !self.errors.iter().any(|e| e.field == self.name(key)) {
                    let field = self.name(key);
                    self.errors.push(bad(field, "field.required"));
                }
                Decimal::ZERO
            }
        }
    }

    fn int(&mut self, key: &str) -> Option<i64> {
        let text = self.text(key)?;
        text.parse::<i64>()
            .map_err(|_| self.errors.push(bad(self.name(key), "field.not_integer")))
            .ok()
    }

    fn date(&mut self, key: &str) -> Option<NaiveDate> {
        let text = self.text(key)?;
        text.parse::<NaiveDate>()
            .map_err(|_| self.errors.push(bad(self.name(key), "field.not_date")))
            .ok()
    }

    fn flag(&mut self, key: &str) -> bool {
        match self.text(key).as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0" | "no" | "n") => false,
            Some("true" | "1" | "yes" | "y") => true,
            Some(_) => {
                self.errors.push(bad(self.name(key), "field.not_bool"));
                false
            }
        }
    }

    fn issue_method(&mut self, key: &str) -> IssueMethod {
        match self.text(key) {
            None => IssueMethod::Picked,
            Some(code) => eng::issue_from_code(&code.to_ascii_lowercase()).unwrap_or_else(|| {
                self.errors.push(
                    bad(self.name(key), "field.not_choice").with("options", "picked, backflushed"),
                );
                IssueMethod::Picked
            }),
        }
    }

    fn list(&mut self, key: &str) -> Vec<Map<String, Json>> {
        match self.map.remove(key) {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Json::Object(m) => Some(m),
                    _ => {
                        self.errors
                            .push(bad(format!("{}[{i}]", self.name(key)), "field.wrong_type"));
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.errors.push(bad(self.name(key), "field.wrong_type"));
                Vec::new()
            }
        }
    }

    /// Names every member not read.
    fn finish(self) {
        for key in self.map.keys() {
            let field =
                if self.prefix.is_empty() { key.clone() } else { format!("{}.{key}", self.prefix) };
            self.errors.push(bad(field, "field.unknown"));
        }
    }
}

/// The `lock_version` member, required for changes to existing versions.
fn take_lock_version(map: &mut Map<String, Json>) -> Result<i64, AppError> {
    match map.remove("lock_version") {
        Some(Json::Number(n)) => n
            .as_i64()
            .ok_or_else(|| AppError::Invalid(vec![bad("lock_version", "field.not_integer")])),
        Some(Json::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| AppError::Invalid(vec![bad("lock_version", "field.not_integer")])),
        Some(_) => Err(AppError::Invalid(vec![bad("lock_version", "field.not_integer")])),
        None => Err(AppError::Invalid(vec![bad("lock_version", "field.required")])),
    }
}

/// A BOM version from a JSON body: `item`, `version`, `customer`, `valid_from`, `valid_to`,
/// `note` and `lines` of `{component, qty_per, unit, scrap_pct, operation_seq,
/// issue_method, note}`.
pub fn bom_input(map: Map<String, Json>) -> Result<BomInput, AppError> {
    let mut errors = Vec::new();
    let mut m = Members::new(map, String::new(), &mut errors);
    let item = m.text("item").unwrap_or_default();
    let version = m.text("version").unwrap_or_default();
    let customer = m.text("customer");
    let valid_from = m.date("valid_from");
    let valid_to = m.date("valid_to");
    let note = m.text("note");
    let raw_lines = m.list("lines");
    m.finish();
    let mut lines = Vec::with_capacity(raw_lines.len());
    for (i, line) in raw_lines.into_iter().enumerate() {
        let mut l = Members::new(line, format!("lines[{i}]"), &mut errors);
        let parsed = BomLineInput {
            component: l.text("component").unwrap_or_default(),
            qty_per: l.required_decimal("qty_per"),
            unit: l.text("unit").unwrap_or_default(),
            scrap_pct: l.decimal("scrap_pct").unwrap_or_default(),
            operation_seq: l.int("operation_seq"),
            issue_method: l.issue_method("issue_method"),
            note: l.text("note"),
        };
        l.finish();
        lines.push(parsed);
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(BomInput { item, version, customer, valid_from, valid_to, note, lines })
}

/// A routing version from a JSON body: `item`, `version`, `valid_from`, `valid_to`,
/// `lot_size` (default 1), `note` and `operations` of `{seq, work_centre, description,
/// setup_hours, run_hours, queue_hours, move_hours, subcontracted, supplier,
/// subcontract_fee}`.
pub fn routing_input(map: Map<String, Json>) -> Result<RoutingInput, AppError> {
    let mut errors = Vec::new();
    let mut m = Members::new(map, String::new(), &mut errors);
    let item = m.text("item").unwrap_or_default();
    let version = m.text("version").unwrap_or_default();
    let valid_from = m.date("valid_from");
    let valid_to = m.date("valid_to");
    let lot_size = m.decimal("lot_size").unwrap_or(Decimal::ONE);
    let note = m.text("note");
    let raw_ops = m.list("operations");
    m.finish();
    let mut operations = Vec::with_capacity(raw_ops.len());
    for (i, op) in raw_ops.into_iter().enumerate() {
        let mut o = Members::new(op, format!("operations[{i}]"), &mut errors);
        let seq = o.int("seq");
        if seq.is_none() && !o.errors.iter().any(|e| e.field == o.name("seq")) {
            let field = o.name("seq");
            o.errors.push(bad(field, "field.required"));
        }
        let parsed = RoutingOperation {
            seq: seq.unwrap_or_default(),
            work_centre: o.text("work_centre").unwrap_or_default(),
            description: o.text("description"),
            setup_hours: o.decimal("setup_hours").unwrap_or_default(),
            run_hours: o.decimal("run_hours").unwrap_or_default(),
            queue_hours: o.decimal("queue_hours").unwrap_or_default(),
            move_hours: o.decimal("move_hours").unwrap_or_default(),
            subcontracted: o.flag("subcontracted"),
            supplier: o.text("supplier"),
            subcontract_fee: o.decimal("subcontract_fee"),
        };
        o.finish();
        operations.push(parsed);
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(RoutingInput { item, version, valid_from, valid_to, lot_size, note, operations })
}

fn status_param(pairs: &[(String, String)]) -> Result<Option<BomStatus>, AppError> {
    match param(pairs, "status") {
        None => Ok(None),
        Some(code) => eng::status_from_code(code).map(Some).ok_or_else(|| {
            AppError::Invalid(vec![
                bad("status", "field.not_choice").with("options", "draft, approved, obsolete"),
            ])
        }),
    }
}

fn version_filter(pairs: &[(String, String)]) -> Result<VersionFilter, AppError> {
    let int = |name: &str, default: i64| -> Result<i64, AppError> {
        match param(pairs, name) {
            None => Ok(default),
            Some(v) => {
                v.parse().map_err(|_| AppError::Invalid(vec![bad(name, "field.not_integer")]))
            }
        }
    };
    Ok(VersionFilter {
        item: param(pairs, "item").map(str::to_owned),
        status: status_param(pairs)?,
        customer: param(pairs, "customer").map(str::to_owned),
        page: int("page", 1)?,
        per_page: int("per_page", 50)?,
    })
}

fn date_param(pairs: &[(String, String)], name: &str) -> Result<NaiveDate, AppError> {
    match param(pairs, name) {
        None => Ok(today()),
        Some(v) => v.parse().map_err(|_| AppError::Invalid(vec![bad(name, "field.not_date")])),
    }
}

// ---------------------------------------------------------------------------------------
// JSON answers

/// A BOM header as JSON.
pub fn bom_header_json(h: &BomHeader) -> Json {
    json!({
        "id": h.id.to_string(),
        "item": h.item,
        "version": h.version,
        "status": eng::status_code(h.status),
        "valid_from": date_json(h.valid_from),
        "valid_to": date_json(h.valid_to),
        "customer": h.customer,
        "note": h.note,
        "lock_version": h.lock_version,
        "created_by": h.created_by,
        "approved_by": h.approved_by,
        "approved_at": h.approved_at,
        "created_at": h.created_at,
        "updated_at": h.updated_at,
        "line_count": h.line_count,
    })
}

/// A BOM version with its lines as JSON.
pub fn bom_json(v: &BomVersion) -> Json {
    let mut out = bom_header_json(&v.header);
    if let Json::Object(m) = &mut out {
        let lines: Vec<Json> = v
            .lines
            .iter()
            .map(|l| {
                json!({
                    "line_no": l.line_no,
                    "component": l.component,
                    "qty_per": dec(l.qty_per),
                    "unit": l.unit,
                    "base_unit": l.base_unit,
                    "unit_factor": dec(l.unit_factor),
                    "scrap_pct": dec(l.scrap_pct),
                    "operation_seq": l.operation_seq,
                    "issue_method": eng::issue_code(l.issue_method),
                    "note": l.note,
                })
            })
            .collect();
        m.insert("lines".into(), Json::Array(lines));
    }
    out
}

fn core_line_json(l: &BomLine) -> Json {
    json!({
        "component": l.component,
        "qty_per": dec(l.qty_per),
        "unit_factor": dec(l.unit_factor),
        "scrap_pct": dec(l.scrap_pct),
        "operation_seq": l.operation_seq,
        "issue_method": eng::issue_code(l.issue_method),
    })
}

fn line_field(f: LineField) -> &'static str {
    match f {
        LineField::Qty => "qty_per",
        LineField::Scrap => "scrap_pct",
        LineField::Unit => "unit",
        LineField::IssueMethod => "issue_method",
    }
}

fn bom_diff_json(d: &BomDiff) -> Json {
    match d {
        BomDiff::Added(l) => json!({
            "change": "added", "component": l.component, "operation_seq": l.operation_seq,
            "before": null, "after": core_line_json(l), "fields": [],
        }),
        BomDiff::Removed(l) => json!({
            "change": "removed", "component": l.component, "operation_seq": l.operation_seq,
            "before": core_line_json(l), "after": null, "fields": [],
        }),
        BomDiff::Changed { before, after, fields } => json!({
            "change": "changed", "component": after.component, "operation_seq": after.operation_seq,
            "before": core_line_json(before), "after": core_line_json(after),
            "fields": fields.iter().map(|f| line_field(*f)).collect::<Vec<_>>(),
        }),
    }
}

/// A routing header as JSON.
pub fn routing_header_json(h: &RoutingHeader) -> Json {
    json!({
        "id": h.id.to_string(),
        "item": h.item,
        "version": h.version,
        "status": eng::status_code(h.status),
        "valid_from": date_json(h.valid_from),
        "valid_to": date_json(h.valid_to),
        "lot_size": dec(h.lot_size),
        "note": h.note,
        "lock_version": h.lock_version,
        "created_by": h.created_by,
        "approved_by": h.approved_by,
        "approved_at": h.approved_at,
        "created_at": h.created_at,
        "updated_at": h.updated_at,
        "operation_count": h.operation_count,
    })
}

fn operation_json(o: &RoutingOperation) -> Json {
    json!({
        "seq": o.seq,
        "work_centre": o.work_centre,
        "description": o.description,
        "setup_hours": dec(o.setup_hours),
        "run_hours": dec(o.run_hours),
        "queue_hours": dec(o.queue_hours),
        "move_hours": dec(o.move_hours),
        "subcontracted": o.subcontracted,
        "supplier": o.supplier,
        "subcontract_fee": o.subcontract_fee.map(dec),
    })
}

/// A routing version with its operations as JSON.
pub fn routing_json(v: &RoutingVersion) -> Json {
    let mut out = routing_header_json(&v.header);
    if let Json::Object(m) = &mut out {
        m.insert("operations".into(), v.operations.iter().map(operation_json).collect());
    }
    out
}

fn routing_diff_json(d: &RoutingDiff) -> Json {
    match d {
        RoutingDiff::Added(o) => json!({
            "change": "added", "seq": o.seq, "before": null, "after": operation_json(o), "fields": [],
        }),
        RoutingDiff::Removed(o) => json!({
            "change": "removed", "seq": o.seq, "before": operation_json(o), "after": null, "fields": [],
        }),
        RoutingDiff::Changed { before, after, fields } => json!({
            "change": "changed", "seq": after.seq, "before": operation_json(before),
            "after": operation_json(after), "fields": fields,
        }),
    }
}

fn elements_json(e: &bom::CostElements) -> Json {
    json!({
        "material": dec(e.material),
        "labour": dec(e.labour),
        "machine": dec(e.machine),
        "overhead": dec(e.overhead),
        "subcontract": dec(e.subcontract),
        "total": dec(e.total()),
    })
}

/// A stored cost sheet as JSON (per unit of the item in its base unit).
pub fn cost_sheet_json(s: &StoredCostSheet) -> Json {
    json!({
        "item": s.item,
        "run_id": s.run_id.to_string(),
        "as_of": s.as_of.to_string(),
        "run_at": s.run_at,
        "bom_version": s.bom_version,
        "routing_version": s.routing_version,
        "material": dec(s.sheet.material),
        "labour": dec(s.sheet.labour),
        "machine": dec(s.sheet.machine),
        "overhead": dec(s.sheet.overhead),
        "subcontract": dec(s.sheet.subcontract),
        "total": dec(s.sheet.total),
        "this_level": elements_json(&s.sheet.this_level),
        "lower_levels": elements_json(&s.sheet.lower_levels),
        "operations": s.sheet.operations.iter().map(|o| json!({
            "seq": o.seq,
            "work_centre": o.work_centre,
            "hours_per_unit": dec(o.hours_per_unit),
            "labour": dec(o.labour),
            "machine": dec(o.machine),
            "overhead": dec(o.overhead),
            "subcontract": dec(o.subcontract),
            "total": dec(o.total),
        })).collect::<Vec<_>>(),
    })
}

fn run_json(r: &eng::CostRun) -> Json {
    json!({
        "id": r.id.to_string(),
        "as_of": r.as_of.to_string(),
        "items": r.items,
        "operations": r.operations,
        "run_by": r.run_by,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration_ms": r.duration_ms,
    })
}

fn page_json<T>(page: &papilio_store::master::Page<T>, f: impl Fn(&T) -> Json) -> Json {
    json!({
        "data": page.rows.iter().map(f).collect::<Vec<_>>(),
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    })
}

fn created(body: Json) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

// ---------------------------------------------------------------------------------------
// BOM handlers

async fn list_boms(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Read)?;
    let page = eng::list_boms(&state.db, &version_filter(&pairs)?).await?;
    Ok(axum::Json(page_json(&page, bom_header_json)).into_response())
}

async fn create_bom(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Create)?;
    let input = bom_input(json_object(&headers, &body)?)?;
    let v = eng::create_bom(&state.db, &input, &user.actor()).await?;
    Ok(created(bom_json(&v)))
}

async fn read_bom(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Read)?;
    let v = eng::get_bom(&state.db, parse_id(&id)?).await?;
    Ok(axum::Json(bom_json(&v)).into_response())
}

async fn update_bom(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Update)?;
    let mut map = json_object(&headers, &body)?;
    let lock_version = take_lock_version(&mut map)?;
    let input = bom_input(map)?;
    let id = parse_id(&id)?;
    let v = eng::update_bom(&state.db, id, lock_version, &input, &user.actor()).await?;
    Ok(axum::Json(bom_json(&v)).into_response())
}

/// Reads `{lock_version}` and nothing else.
fn lock_body(headers: &HeaderMap, body: &Bytes) -> Result<i64, AppError> {
    let mut map = json_object(headers, body)?;
    let lock_version = take_lock_version(&mut map)?;
    let mut errors = Vec::new();
    Members::new(map, String::new(), &mut errors).finish();
    if errors.is_empty() { Ok(lock_version) } else { Err(AppError::Invalid(errors)) }
}

async fn approve_bom(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Approve)?;
    let lock_version = lock_body(&headers, &body)?;
    let v = eng::approve_bom(&state.db, parse_id(&id)?, lock_version, &user.actor()).await?;
    Ok(axum::Json(bom_json(&v)).into_response())
}

async fn obsolete_bom(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Delete)?;
    let lock_version = lock_body(&headers, &body)?;
    let v = eng::obsolete_bom(&state.db, parse_id(&id)?, lock_version, &user.actor()).await?;
    Ok(axum::Json(bom_json(&v)).into_response())
}

/// The `a` and `b` ids of a comparison.
fn pair(pairs: &[(String, String)]) -> Result<(i64, i64), AppError> {
    let mut errors = Vec::new();
    let mut id = |name: &str| match param(pairs, name) {
        None => {
            errors.push(bad(name, "field.required"));
            0
        }
        Some(v) => v.parse().unwrap_or_else(|_| {
            errors.push(bad(name, "field.not_integer"));
            0
        }),
    };
    let (a, b) = (id("a"), id("b"));
    if errors.is_empty() { Ok((a, b)) } else { Err(AppError::Invalid(errors)) }
}

async fn compare_boms(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Read)?;
    let (a, b) = pair(&pairs)?;
    let c = eng::compare_boms(&state.db, a, b).await?;
    Ok(axum::Json(json!({
        "a": bom_json(&c.a),
        "b": bom_json(&c.b),
        "diffs": c.diffs.iter().map(bom_diff_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn explode(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Read)?;
    let mut errors = Vec::new();
    let item = param(&pairs, "item").map(str::to_owned);
    if item.is_none() {
        errors.push(bad("item", "field.required"));
    }
    let qty = match param(&pairs, "qty") {
        None => Decimal::ONE,
        Some(q) => q.parse().unwrap_or_else(|_| {
            errors.push(bad("qty", "field.not_decimal"));
            Decimal::ONE
        }),
    };
    let date = date_param(&pairs, "date").map_err(|e| {
        if let AppError::Invalid(f) = e {
            errors.extend(f);
        }
    });
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let date = date.unwrap_or_else(|()| today());
    let customer = param(&pairs, "customer");
    let x = eng::explode(&state.db, &item.unwrap_or_default(), qty, date, customer).await?;
    let unit = |code: &str| x.base_units.get(code).cloned();
    let rows: Vec<Json> = x
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "row": i,
                "level": r.level,
                "parent_row": r.parent_row,
                "parent": r.parent,
                "component": r.component,
                "operation_seq": r.operation_seq,
                "issue_method": eng::issue_code(r.issue_method),
                "qty_per_parent": dec(r.qty_per_parent_extended),
                "total_qty": dec(r.total_qty),
                "unit": unit(&r.component),
                "leaf": r.leaf,
            })
        })
        .collect();
    let leaves: Vec<Json> = x
        .leaf_totals()?
        .iter()
        .map(|(code, q)| json!({"item": code, "qty": dec(*q), "unit": unit(code)}))
        .collect();
    Ok(axum::Json(json!({
        "item": x.item,
        "qty": dec(x.qty),
        "unit": unit(&x.item),
        "date": x.date.to_string(),
        "customer": x.customer,
        "version": x.version,
        "versions": x.versions,
        "rows": rows,
        "leaf_totals": leaves,
    }))
    .into_response())
}

async fn where_used(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Read)?;
    let mut errors = Vec::new();
    let item = param(&pairs, "item").map(str::to_owned);
    if item.is_none() {
        errors.push(bad("item", "field.required"));
    }
    let multi = match param(&pairs, "multi").map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(_) => {
            errors.push(bad("multi", "field.not_bool"));
            false
        }
    };
    let date = match date_param(&pairs, "date") {
        Ok(d) => d,
        Err(AppError::Invalid(f)) => {
            errors.extend(f);
            today()
        }
        Err(e) => return Err(e),
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let customer = param(&pairs, "customer");
    let w = eng::where_used(&state.db, &item.unwrap_or_default(), multi, date, customer).await?;
    let rows: Vec<Json> = w
        .rows
        .iter()
        .map(|r| {
            json!({
                "level": r.level,
                "parent": r.parent,
                "component": r.component,
                "operation_seq": r.operation_seq,
                "qty_per_parent": dec(r.qty_per_parent_extended),
                "total_qty": dec(r.total_qty),
                "version": w.versions.get(&r.parent),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "item": w.item,
        "date": w.date.to_string(),
        "customer": w.customer,
        "multi": w.multi,
        "rows": rows,
    }))
    .into_response())
}

// ---------------------------------------------------------------------------------------
// Routing handlers

async fn list_routings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Read)?;
    let page = eng::list_routings(&state.db, &version_filter(&pairs)?).await?;
    Ok(axum::Json(page_json(&page, routing_header_json)).into_response())
}

async fn create_routing(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Create)?;
    let input = routing_input(json_object(&headers, &body)?)?;
    let v = eng::create_routing(&state.db, &input, &user.actor()).await?;
    Ok(created(routing_json(&v)))
}

async fn read_routing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Read)?;
    let v = eng::get_routing(&state.db, parse_id(&id)?).await?;
    Ok(axum::Json(routing_json(&v)).into_response())
}

async fn update_routing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Update)?;
    let mut map = json_object(&headers, &body)?;
    let lock_version = take_lock_version(&mut map)?;
    let input = routing_input(map)?;
    let id = parse_id(&id)?;
    let v = eng::update_routing(&state.db, id, lock_version, &input, &user.actor()).await?;
    Ok(axum::Json(routing_json(&v)).into_response())
}

async fn approve_routing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Approve)?;
    let lock_version = lock_body(&headers, &body)?;
    let v = eng::approve_routing(&state.db, parse_id(&id)?, lock_version, &user.actor()).await?;
    Ok(axum::Json(routing_json(&v)).into_response())
}

async fn obsolete_routing(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Delete)?;
    let lock_version = lock_body(&headers, &body)?;
    let v = eng::obsolete_routing(&state.db, parse_id(&id)?, lock_version, &user.actor()).await?;
    Ok(axum::Json(routing_json(&v)).into_response())
}

async fn compare_routings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Read)?;
    let (a, b) = pair(&pairs)?;
    let c = eng::compare_routings(&state.db, a, b).await?;
    Ok(axum::Json(json!({
        "a": routing_json(&c.a),
        "b": routing_json(&c.b),
        "diffs": c.diffs.iter().map(routing_diff_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

// ---------------------------------------------------------------------------------------
// Cost roll-up handlers

async fn list_runs(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    user.require(COST_RESOURCE, AREA, Action::Read)?;
    let runs = eng::cost_runs(&state.db, 100).await?;
    Ok(axum::Json(json!({"data": runs.iter().map(run_json).collect::<Vec<_>>()})).into_response())
}

async fn run_roll_up(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    user.require(COST_RESOURCE, AREA, Action::Create)?;
    let map = if body.is_empty() { Map::new() } else { json_object(&headers, &body)? };
    let mut errors = Vec::new();
    let mut m = Members::new(map, String::new(), &mut errors);
    let as_of = m.date("as_of");
    m.finish();
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let times = eng::roll_up_timed(&state.db, as_of.unwrap_or_else(today), &user.actor()).await?;
    let run = eng::cost_run(&state.db, times.run_id).await?;
    let mut out = run_json(&run);
    if let Json::Object(m) = &mut out {
        m.insert("read_ms".into(), json!(u64::try_from(times.read_ms).unwrap_or(u64::MAX)));
        m.insert("compute_ms".into(), json!(u64::try_from(times.compute_ms).unwrap_or(u64::MAX)));
        m.insert("write_ms".into(), json!(u64::try_from(times.write_ms).unwrap_or(u64::MAX)));
    }
    Ok(created(out))
}

async fn cost_sheet(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
) -> Result<Response, AppError> {
    user.require(COST_RESOURCE, AREA, Action::Read)?;
    let sheet = eng::cost_sheet(&state.db, &code)
        .await?
        .ok_or_else(|| AppError::Store(StoreError::not_found("cost_rollup", code.trim())))?;
    Ok(axum::Json(cost_sheet_json(&sheet)).into_response())
}

async fn cost_history(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(COST_RESOURCE, AREA, Action::Read)?;
    let limit = match param(&pairs, "limit") {
        None => 100,
        Some(v) => {
            v.parse().map_err(|_| AppError::Invalid(vec![bad("limit", "field.not_integer")]))?
        }
    };
    let item = code.trim().to_uppercase();
    let rows = eng::cost_history(&state.db, &item, limit).await?;
    Ok(axum::Json(json!({
        "item": item,
        "data": rows.iter().map(cost_sheet_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn eco_impact(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    user.require(eng::ECO_TYPE, AREA, Action::Read)?;
    let id = parse_id(&id)?;
    let doc = papilio_store::documents::get(&state.db, id).await?;
    if doc.doc_type != eng::ECO_TYPE {
        return Err(AppError::Store(StoreError::not_found(eng::ECO_TYPE, id)));
    }
    let report = eng::eco_report(&state.db, id).await?;
    let changes: Vec<Json> = report
        .changes
        .iter()
        .map(|c| {
            json!({
                "line_no": c.line_no,
                "kind": c.kind.code(),
                "item": c.item,
                "new_version": c.new_version,
                "effective_date": c.effective_date.to_string(),
                "ended_version": c.ended_version,
                "ended_valid_to": date_json(c.ended_valid_to),
            })
        })
        .collect();
    let impacts: Vec<Json> = report
        .impacts
        .iter()
        .map(|i| {
            json!({
                "changed_item": i.changed_item,
                "item": i.item,
                "document_id": i.document_id.to_string(),
                "doc_type": i.doc_type,
                "number": i.number,
                "line_no": i.line_no,
                "open_qty": dec(i.open_qty),
                "due_date": date_json(i.due_date),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "id": doc.id.to_string(),
        "number": doc.number,
        "state": doc.state.code(),
        "approved": doc.state == DocState::Approved || doc.state == DocState::Closed,
        "changes": changes,
        "impacts": impacts,
    }))
    .into_response())
}

// ---------------------------------------------------------------------------------------
// Files: one row per line (BOM) or operation (routing)

/// Columns of a BOM file, in export order; `item`, `version`, `component`, `qty_per` and
/// `unit` are required, the rest may be left out.
pub const BOM_COLUMNS: [&str; 12] = [
    "item",
    "version",
    "customer",
    "valid_from",
    "valid_to",
    "bom_note",
    "component",
    "qty_per",
    "unit",
    "scrap_pct",
    "operation_seq",
    "issue_method",
];
/// The line note column of a BOM file (after [`BOM_COLUMNS`]).
const NOTE_COLUMN: &str = "note";
const BOM_REQUIRED: [&str; 5] = ["item", "version", "component", "qty_per", "unit"];
const BOM_HEAD: [&str; 6] = ["item", "version", "customer", "valid_from", "valid_to", "bom_note"];

/// Columns of a routing file, in export order; `item`, `version`, `seq` and `work_centre` are
/// required.
pub const ROUTING_COLUMNS: [&str; 16] = [
    "item",
    "version",
    "valid_from",
    "valid_to",
    "lot_size",
    "routing_note",
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
const ROUTING_REQUIRED: [&str; 4] = ["item", "version", "seq", "work_centre"];
const ROUTING_HEAD: [&str; 6] =
    ["item", "version", "valid_from", "valid_to", "lot_size", "routing_note"];

/// Describes the files for [`read_upload`] and the error messages (labels of `kind`).
static BOM_FILE: EntityDef =
    EntityDef { kind: "bom", table: "boms", area: AREA, fields: &[], unique: &[], check: None };
static ROUTING_FILE: EntityDef = EntityDef {
    kind: "routing",
    table: "routings",
    area: AREA,
    fields: &[],
    unique: &[],
    check: None,
};

fn refused(kind: &str, mut errors: Vec<RowError>) -> AppError {
    errors.sort_by_key(|e| e.row.unwrap_or(0));
    if errors.len() > MAX_ERRORS {
        errors.truncate(MAX_ERRORS);
        errors.push(RowError::file("import.too_many_errors").with_max(MAX_ERRORS));
    }
    AppError::ImportRefused { kind: kind.to_owned(), errors }
}

trait WithMax {
    fn with_max(self, max: usize) -> Self;
}

impl WithMax for RowError {
    fn with_max(mut self, max: usize) -> Self {
        self.error = self.error.with("max", max);
        self
    }
}

fn cell_text(cell: &Data) -> Result<String, String> {
    Ok(match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => {
            let (y, m, day, _, _, _, _) = d.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{day:02}")
        }
        Data::Error(e) => return Err(e.to_string()),
    })
}

/// The header (lower-cased) and the non-blank data rows with their spreadsheet row numbers.
type Sheet = (Vec<String>, Vec<(usize, Vec<String>)>);

fn read_sheet(format: FileFormat, bytes: &[u8]) -> Result<Sheet, Vec<RowError>> {
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    let mut errors = Vec::new();
    match format {
        FileFormat::Csv => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            let mut reader =
                csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
            for (i, record) in reader.byte_records().enumerate() {
                let record = record.map_err(|e| vec![RowError::unreadable(e)])?;
                let number =
                    record.position().and_then(|p| usize::try_from(p.line()).ok()).unwrap_or(i + 1);
                let cells = record
                    .iter()
                    .map(|c| std::str::from_utf8(c).map(str::to_owned))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| vec![RowError::file("import.not_utf8")])?;
                rows.push((number, cells));
            }
        }
        FileFormat::Xlsx => {
            let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
                .map_err(|e| vec![RowError::unreadable(e)])?;
            let range = book
                .worksheet_range_at(0)
                .ok_or_else(|| vec![RowError::file("import.empty_file")])?
                .map_err(|e| vec![RowError::unreadable(e)])?;
            let first = usize::try_from(range.start().map_or(0, |(r, _)| r)).unwrap_or(0);
            for (i, row) in range.rows().enumerate() {
                let number = first + i + 1;
                let mut cells = Vec::with_capacity(row.len());
                for cell in row {
                    match cell_text(cell) {
                        Ok(t) => cells.push(t),
                        Err(e) => {
                            errors.push(RowError::at(
                                number,
                                bad("", "import.cell_error").with("value", e),
                            ));
                            cells.push(String::new());
                        }
                    }
                }
                rows.push((number, cells));
            }
        }
    }
    rows.retain(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
    let mut rows = rows.into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(vec![RowError::file("import.empty_file")]);
    };
    let header: Vec<String> =
        header.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase()).collect();
    let data: Vec<(usize, Vec<String>)> = rows.collect();
    if data.is_empty() {
        return Err(vec![RowError::file("import.empty_file")]);
    }
    if data.len() > MAX_ROWS {
        return Err(vec![RowError::file("import.too_many_rows").with_max(MAX_ROWS)]);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((header, data))
}

/// Checks a header against the known and required columns: answers each column's index.
fn check_header(
    header: &[String],
    known: &[&str],
    required: &[&str],
) -> Result<HashMap<String, usize>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut index = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if !known.contains(&name.as_str()) {
            errors.push(RowError::header("import.unknown_column", name));
        } else if index.insert(name.clone(), i).is_some() {
            errors.push(RowError::header("import.duplicate_column", name));
        }
    }
    for name in required {
        if !index.contains_key(*name) {
            errors.push(RowError::header("import.header_missing", name));
        }
    }
    if errors.is_empty() { Ok(index) } else { Err(errors) }
}

/// One data row's cells by column name.
struct FileRow<'a> {
    number: usize,
    cells: &'a [String],
    index: &'a HashMap<String, usize>,
    errors: Vec<RowError>,
}

impl FileRow<'_> {
    fn text(&self, column: &str) -> Option<String> {
        self.index
            .get(column)
            .and_then(|i| self.cells.get(*i))
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
    }

    fn fail(&mut self, column: &str, rule: &str) {
        self.errors.push(RowError::at(self.number, bad(column, rule)));
    }

    fn decimal(&mut self, column: &str) -> Option<Decimal> {
        let t = self.text(column)?;
        t.parse().map_err(|_| self.fail(column, "field.not_decimal")).ok()
    }

    fn int(&mut self, column: &str) -> Option<i64> {
        let t = self.text(column)?;
        // A spreadsheet may hold a whole number as 10.0.
        t.parse::<i64>()
            .ok()
            .or_else(|| {
                t.parse::<Decimal>()
                    .ok()
                    .filter(|d| d.fract().is_zero())
                    .and_then(|d| d.trunc().to_string().parse().ok())
            })
            .or_else(|| {
                self.fail(column, "field.not_integer");
                None
            })
    }

    fn date(&mut self, column: &str) -> Option<NaiveDate> {
        let t = self.text(column)?;
        t.parse().map_err(|_| self.fail(column, "field.not_date")).ok()
    }

    fn flag(&mut self, column: &str) -> bool {
        match self.text(column).map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("false" | "0" | "no" | "n") => false,
            Some("true" | "1" | "yes" | "y") => true,
            Some(_) => {
                self.fail(column, "field.not_bool");
                false
            }
        }
    }

    /// The version's own columns, compared between its rows.
    fn head(&self, columns: &[&str]) -> Vec<Option<String>> {
        columns.iter().map(|c| self.text(c).map(|t| t.to_uppercase())).collect()
    }
}

/// Where each version and line of an import came from.
#[derive(Default)]
struct Origins {
    /// First row of each version.
    version_row: Vec<usize>,
    /// Row of each line of each version.
    line_rows: Vec<Vec<usize>>,
}

impl Origins {
    /// Turns a store problem named `boms[i].lines[j].qty_per` into the row and column it came
    /// from; the version's own fields point at its first row.
    fn locate(
        &self,
        error: FieldError,
        list: &str,
        lines: &str,
        head: &[(&str, &str)],
    ) -> RowError {
        let parsed = (|| {
            let rest = error.field.strip_prefix(list)?.strip_prefix('[')?;
            let (i, rest) = rest.split_once(']')?;
            let i: usize = i.parse().ok()?;
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if let Some(rest) = rest.strip_prefix(lines).and_then(|r| r.strip_prefix('[')) {
                let (j, rest) = rest.split_once(']')?;
                let j: usize = j.parse().ok()?;
                let column = rest.strip_prefix('.').unwrap_or("").to_owned();
                let row = *self.line_rows.get(i)?.get(j)?;
                Some((row, column))
            } else {
                let row = *self.version_row.get(i)?;
                let column = head
                    .iter()
                    .find(|(field, _)| *field == rest)
                    .map_or(if rest == lines { "" } else { rest }, |(_, c)| c)
                    .to_owned();
                Some((row, column))
            }
        })();
        match parsed {
            Some((row, column)) => RowError::at(row, FieldError { field: column, ..error }),
            None => RowError { row: None, error },
        }
    }
}

/// Groups rows into versions by (item, version), in order of first appearance; a version's
/// own columns must agree on all its rows.
fn group_rows<'a>(
    rows: &'a [(usize, Vec<String>)],
    index: &'a HashMap<String, usize>,
    head: &[&str],
    errors: &mut Vec<RowError>,
) -> Vec<(Vec<FileRow<'a>>, usize)> {
    let mut groups: Vec<(Vec<FileRow<'a>>, usize)> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    let mut heads: Vec<Vec<Option<String>>> = Vec::new();
    for (number, cells) in rows {
        let row = FileRow { number: *number, cells, index, errors: Vec::new() };
        let key = (
            row.text("item").unwrap_or_default().to_uppercase(),
            row.text("version").unwrap_or_default().to_uppercase(),
        );
        let values = row.head(head);
        match by_key.get(&key) {
            Some(g) => {
                if let Some(first) = heads.get(*g) {
                    for ((column, mine), theirs) in head.iter().zip(&values).zip(first) {
                        if mine.is_some() && mine != theirs {
                            errors.push(RowError::at(
                                *number,
                                bad(*column, "import.version_column_differs"),
                            ));
                        }
                    }
                }
                if let Some(group) = groups.get_mut(*g) {
                    group.0.push(row);
                }
            }
            None => {
                by_key.insert(key, groups.len());
                heads.push(values);
                groups.push((vec![row], *number));
            }
        }
    }
    groups
}

async fn upload(def: &EntityDef, request: Request) -> Result<Sheet, AppError> {
    let file = read_upload(def, request).await?;
    read_sheet(file.format, &file.bytes).map_err(|e| refused(def.kind, e))
}

async fn import_boms(
    State(state): State<AppState>,
    user: CurrentUser,
    request: Request,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Import)?;
    let (header, rows) = upload(&BOM_FILE, request).await?;
    let mut known: Vec<&str> = BOM_COLUMNS.to_vec();
    known.push(NOTE_COLUMN);
    let index = check_header(&header, &known, &BOM_REQUIRED).map_err(|e| refused("bom", e))?;
    let mut errors = Vec::new();
    let groups = group_rows(&rows, &index, &BOM_HEAD, &mut errors);
    let mut inputs = Vec::with_capacity(groups.len());
    let mut origins = Origins::default();
    for (group, first) in groups {
        let mut lines = Vec::with_capacity(group.len());
        let mut line_rows = Vec::with_capacity(group.len());
        let mut head: Option<BomInput> = None;
        for mut row in group {
            if head.is_none() {
                head = Some(BomInput {
                    item: row.text("item").unwrap_or_default(),
                    version: row.text("version").unwrap_or_default(),
                    customer: row.text("customer"),
                    valid_from: row.date("valid_from"),
                    valid_to: row.date("valid_to"),
                    note: row.text("bom_note"),
                    lines: Vec::new(),
                });
            }
            let issue_method = match row.text("issue_method") {
                None => IssueMethod::Picked,
                Some(code) => {
                    eng::issue_from_code(&code.to_ascii_lowercase()).unwrap_or_else(|| {
                        row.errors.push(RowError::at(
                            row.number,
                            bad("issue_method", "field.not_choice")
                                .with("options", "picked, backflushed"),
                        ));
                        IssueMethod::Picked
                    })
                }
            };
            let qty_per = row.decimal("qty_per");
            if qty_per.is_none() && row.text("qty_per").is_none() {
                row.fail("qty_per", "field.required");
            }
            lines.push(BomLineInput {
                component: row.text("component").unwrap_or_default(),
                qty_per: qty_per.unwrap_or_default(),
                unit: row.text("unit").unwrap_or_default(),
                scrap_pct: row.decimal("scrap_pct").unwrap_or_default(),
                operation_seq: row.int("operation_seq"),
                issue_method,
                note: row.text(NOTE_COLUMN),
            });
            line_rows.push(row.number);
            errors.append(&mut row.errors);
        }
        if let Some(mut input) = head {
            input.lines = lines;
            inputs.push(input);
            origins.version_row.push(first);
            origins.line_rows.push(line_rows);
        }
    }
    if !errors.is_empty() {
        return Err(refused("bom", errors));
    }
    let versions = inputs.len();
    let lines: usize = inputs.iter().map(|b| b.lines.len()).sum();
    match eng::import_boms(&state.db, &inputs, &user.actor(), ImportAs::Draft).await {
        Ok(_) => Ok(axum::Json(json!({"imported": versions, "lines": lines})).into_response()),
        Err(StoreError::Domain(DomainError::Invalid(fields))) => {
            let head: [(&str, &str); 7] = [
                ("item", "item"),
                ("version", "version"),
                ("customer", "customer"),
                ("valid_from", "valid_from"),
                ("valid_to", "valid_to"),
                ("note", "bom_note"),
                ("lines", ""),
            ];
            let errors =
                fields.into_iter().map(|f| origins.locate(f, "boms", "lines", &head)).collect();
            Err(refused("bom", errors))
        }
        Err(other) => Err(other.into()),
    }
}

async fn import_routings(
    State(state): State<AppState>,
    user: CurrentUser,
    request: Request,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Import)?;
    let (header, rows) = upload(&ROUTING_FILE, request).await?;
    let index = check_header(&header, &ROUTING_COLUMNS, &ROUTING_REQUIRED)
        .map_err(|e| refused("routing", e))?;
    let mut errors = Vec::new();
    let groups = group_rows(&rows, &index, &ROUTING_HEAD, &mut errors);
    let mut inputs = Vec::with_capacity(groups.len());
    let mut origins = Origins::default();
    for (group, first) in groups {
        let mut operations = Vec::with_capacity(group.len());
        let mut op_rows = Vec::with_capacity(group.len());
        let mut head: Option<RoutingInput> = None;
        for mut row in group {
            if head.is_none() {
                head = Some(RoutingInput {
                    item: row.text("item").unwrap_or_default(),
                    version: row.text("version").unwrap_or_default(),
                    valid_from: row.date("valid_from"),
                    valid_to: row.date("valid_to"),
                    lot_size: row.decimal("lot_size").unwrap_or(Decimal::ONE),
                    note: row.text("routing_note"),
                    operations: Vec::new(),
                });
            }
            let seq = row.int("seq");
            if seq.is_none() && row.text("seq").is_none() {
                row.fail("seq", "field.required");
            }
            operations.push(RoutingOperation {
                seq: seq.unwrap_or_default(),
                work_centre: row.text("work_centre").unwrap_or_default(),
                description: row.text("description"),
                setup_hours: row.decimal("setup_hours").unwrap_or_default(),
                run_hours: row.decimal("run_hours").unwrap_or_default(),
                queue_hours: row.decimal("queue_hours").unwrap_or_default(),
                move_hours: row.decimal("move_hours").unwrap_or_default(),
                subcontracted: row.flag("subcontracted"),
                supplier: row.text("supplier"),
                subcontract_fee: row.decimal("subcontract_fee"),
            });
            op_rows.push(row.number);
            errors.append(&mut row.errors);
        }
        if let Some(mut input) = head {
            input.operations = operations;
            inputs.push(input);
            origins.version_row.push(first);
            origins.line_rows.push(op_rows);
        }
    }
    if !errors.is_empty() {
        return Err(refused("routing", errors));
    }
    let versions = inputs.len();
    let operations: usize = inputs.iter().map(|r| r.operations.len()).sum();
    match eng::import_routings(&state.db, &inputs, &user.actor(), ImportAs::Draft).await {
        Ok(_) => {
            Ok(axum::Json(json!({"imported": versions, "operations": operations})).into_response())
        }
        Err(StoreError::Domain(DomainError::Invalid(fields))) => {
            let head: [(&str, &str); 7] = [
                ("item", "item"),
                ("version", "version"),
                ("valid_from", "valid_from"),
                ("valid_to", "valid_to"),
                ("lot_size", "lot_size"),
                ("note", "routing_note"),
                ("operations", ""),
            ];
            let errors = fields
                .into_iter()
                .map(|f| origins.locate(f, "routings", "operations", &head))
                .collect();
            Err(refused("routing", errors))
        }
        Err(other) => Err(other.into()),
    }
}

fn format_param(pairs: &[(String, String)]) -> Result<FileFormat, AppError> {
    match param(pairs, "format") {
        None | Some("csv") => Ok(FileFormat::Csv),
        Some("xlsx") => Ok(FileFormat::Xlsx),
        Some(_) => Err(AppError::Invalid(vec![
            bad("format", "field.not_choice").with("options", "csv, xlsx"),
        ])),
    }
}

/// Writes `rows` under `header` as CSV (UTF-8 with a byte-order mark, for Excel) or XLSX
/// (every cell as text, so codes keep leading zeros).
fn write_file(
    sheet_name: &str,
    header: &[&str],
    rows: &[Vec<String>],
    format: FileFormat,
) -> Result<Vec<u8>, AppError> {
    match format {
        FileFormat::Csv => {
            let failed = |e: csv::Error| AppError::Internal(format!("csv export: {e}"));
            let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
            writer.write_record(header).map_err(failed)?;
            for row in rows {
                writer.write_record(row).map_err(failed)?;
            }
            writer.into_inner().map_err(|e| AppError::Internal(format!("csv export: {e}")))
        }
        FileFormat::Xlsx => {
            use rust_xlsxwriter::{Format, Workbook};
            let failed =
                |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("xlsx export: {e}"));
            let too_big = || AppError::Internal("xlsx export: too many rows".into());
            let mut workbook = Workbook::new();
            let sheet = workbook.add_worksheet();
            sheet.set_name(sheet_name).map_err(failed)?;
            let bold = Format::new().set_bold();
            for (c, name) in header.iter().enumerate() {
                let col = u16::try_from(c).map_err(|_| too_big())?;
                sheet.write_string_with_format(0, col, *name, &bold).map_err(failed)?;
                sheet.set_column_width(col, 14).map_err(failed)?;
            }
            for (r, row) in rows.iter().enumerate() {
                let line = u32::try_from(r + 1).map_err(|_| too_big())?;
                for (c, text) in row.iter().enumerate() {
                    if text.is_empty() {
                        continue;
                    }
                    let col = u16::try_from(c).map_err(|_| too_big())?;
                    sheet.write_string(line, col, text).map_err(failed)?;
                }
            }
            sheet.set_freeze_panes(1, 0).map_err(failed)?;
            workbook.save_to_buffer().map_err(failed)
        }
    }
}

fn opt(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn text(d: Decimal) -> String {
    d.normalize().to_string()
}

async fn export_boms(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(BOM_RESOURCE, AREA, Action::Export)?;
    let format = format_param(&pairs)?;
    let versions = eng::export_boms(&state.db, &version_filter(&pairs)?).await?;
    let mut rows = Vec::new();
    for v in &versions {
        let h = &v.header;
        for l in &v.lines {
            rows.push(vec![
                h.item.clone(),
                h.version.clone(),
                h.customer.clone().unwrap_or_default(),
                opt(h.valid_from),
                opt(h.valid_to),
                h.note.clone().unwrap_or_default(),
                l.component.clone(),
                text(l.qty_per),
                l.unit.clone(),
                text(l.scrap_pct),
                l.operation_seq.map(|s| s.to_string()).unwrap_or_default(),
                eng::issue_code(l.issue_method).to_owned(),
                l.note.clone().unwrap_or_default(),
            ]);
        }
    }
    let mut header: Vec<&str> = BOM_COLUMNS.to_vec();
    header.push(NOTE_COLUMN);
    let count = rows.len();
    let bytes = tokio::task::spawn_blocking(move || write_file("bom", &header, &rows, format))
        .await
        .map_err(|e| AppError::Internal(format!("export: {e}")))??;
    Ok(download(Exported {
        bytes,
        rows: count,
        file_name: format!("bom-{}.{}", today(), format.extension()),
        content_type: format.content_type(),
    }))
}

async fn export_routings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    user.require(ROUTING_RESOURCE, AREA, Action::Export)?;
    let format = format_param(&pairs)?;
    let versions = eng::export_routings(&state.db, &version_filter(&pairs)?).await?;
    let mut rows = Vec::new();
    for v in &versions {
        let h = &v.header;
        for o in &v.operations {
            rows.push(vec![
                h.item.clone(),
                h.version.clone(),
                opt(h.valid_from),
                opt(h.valid_to),
                text(h.lot_size),
                h.note.clone().unwrap_or_default(),
                o.seq.to_string(),
                o.work_centre.clone(),
                o.description.clone().unwrap_or_default(),
                text(o.setup_hours),
                text(o.run_hours),
                text(o.queue_hours),
                text(o.move_hours),
                o.subcontracted.to_string(),
                o.supplier.clone().unwrap_or_default(),
                o.subcontract_fee.map(text).unwrap_or_default(),
            ]);
        }
    }
    let count = rows.len();
    let bytes =
        tokio::task::spawn_blocking(move || write_file("routing", &ROUTING_COLUMNS, &rows, format))
            .await
            .map_err(|e| AppError::Internal(format!("export: {e}")))??;
    Ok(download(Exported {
        bytes,
        rows: count,
        file_name: format!("routing-{}.{}", today(), format.extension()),
        content_type: format.content_type(),
    }))
}
