//! Document pages: lists per type, a document with its lines, actions, approvals, flow and
//! history, and the approver's inbox.
//!
//! Every page works for any registered [`DocType`]; the type code in the path is also the
//! permission resource. The input parsing ([`DraftInput`]) and the inbox filter are shared with
//! the JSON API, so both refuse and allow exactly the same things.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::document::{DocAction, DocState};
use papilio_core::entities;
use papilio_store::StoreError;
use papilio_store::documents::{
    self, ApprovalRequest, DocQuery, DocType, Document, Draft, DraftLine, InboxEntry, StockFields,
    TradeFields,
};
use papilio_store::master::{self, ListQuery};
use rust_decimal::Decimal;

use crate::AppState;
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::i18n;
use crate::pages::master::parse_id;
use crate::pages::{chrome, render};
use crate::views::{Chrome, NavLink, Pager};

/// `/d/...` and `/inbox` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/d/{doc_type}", get(list))
        .route("/d/{doc_type}/new", get(new_form).post(create))
        .route("/d/{doc_type}/{id}", get(view))
        .route("/d/{doc_type}/{id}/edit", get(edit_form).post(update))
        .route("/d/{doc_type}/{id}/flow", get(flow))
        .route("/d/{doc_type}/{id}/audit", get(audit))
        .route("/d/{doc_type}/{id}/{action}", post(act))
        .route("/inbox", get(inbox))
}

/// Line rows a new form shows, and how many more the "add lines" button adds.
pub const LINE_ROWS: usize = 8;

/// Most line rows a form renders.
const MAX_ROWS: usize = 1000;

/// The registered type called `code`, or 404.
pub fn doc_type(state: &AppState, code: &str) -> Result<Arc<DocType>, AppError> {
    state.docs.get(code).cloned().ok_or(AppError::NotFound)
}

/// Refuses with 403 unless `user` may do `action` on documents of `t`.
pub fn require(user: &CurrentUser, t: &DocType, action: Action) -> Result<(), AppError> {
    user.require(t.code, t.area, action)
}

/// Document `id` if it exists and is of type `t`; 404 otherwise.
pub async fn load(state: &AppState, t: &DocType, id: i64) -> Result<Document, AppError> {
    let doc = documents::get(&state.db, id).await?;
    if doc.doc_type != t.code {
        return Err(AppError::NotFound);
    }
    Ok(doc)
}

/// The actions `user` may take on a document of `t` in `doc_state`, in table order.
pub fn allowed_actions(user: &CurrentUser, t: &DocType, doc_state: DocState) -> Vec<DocAction> {
    doc_state.actions().filter(|a| user.can(t.code, t.area, a.permission())).collect()
}

/// Builds a [`DocQuery`] from `state`, `q`, `page` and `per_page`; anything else is refused.
pub fn doc_query(params: &[(String, String)]) -> Result<DocQuery, AppError> {
    let mut q = DocQuery { page: 1, per_page: 40, ..DocQuery::default() };
    let integer = |name: &str, value: &str| {
        value.trim().parse::<i64>().map_err(|_| invalid(name, "field.not_integer"))
    };
    for (key, value) in params {
        match key.as_str() {
            "q" => q.search = Some(value.clone()).filter(|s| !s.trim().is_empty()),
            "state" if value.is_empty() => {}
            "state" => {
                q.state = Some(DocState::from_code(value).ok_or_else(|| {
                    let options: Vec<&str> = DocState::ALL.iter().map(|s| s.code()).collect();
                    AppError::Invalid(vec![
                        FieldError::new("state", "field.not_choice")
                            .with("options", options.join(", ")),
                    ])
                })?);
            }
            "page" => q.page = integer("page", value)?.max(1),
            "per_page" => q.per_page = integer("per_page", value)?,
            "_csrf" => {}
            other => return Err(invalid(other, "field.unknown")),
        }
    }
    if !(1..=500).contains(&q.per_page) {
        return Err(AppError::Invalid(vec![
            FieldError::new("per_page", "field.out_of_range").with("min", 1).with("max", 500),
        ]));
    }
    Ok(q)
}

fn invalid(field: &str, rule: &str) -> AppError {
    AppError::Invalid(vec![FieldError::new(field, rule)])
}

/// A line as typed, every field as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    /// Item code.
    pub item: String,
    /// Quantity.
    pub quantity: String,
    /// Unit code.
    pub unit: String,
    /// Price per unit.
    pub unit_price: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Due date, `YYYY-MM-DD`.
    pub due_date: String,
    /// Free text.
    pub note: String,
    /// The source line's id, for a push-down.
    pub source_line_id: String,
    /// Bin code (stock documents).
    pub bin: String,
    /// Target warehouse of a transfer.
    pub to_warehouse: String,
    /// Target bin of a transfer.
    pub to_bin: String,
    /// Lot number.
    pub lot: String,
    /// Expiry of a lot received, `YYYY-MM-DD`.
    pub lot_expiry: String,
    /// Book quantity of a count line.
    pub book_qty: String,
    /// Discount typed on a sales line, in percent.
    pub discount_pct: String,
    /// Promised date, `YYYY-MM-DD`.
    pub promised_date: String,
    /// Id of the invoice a receipt line settles.
    pub settles: String,
    /// The unit price the form was filled with by the pricing or a source line, not typed:
    /// posted back unchanged it means "price it again" (see [`DraftInput::parse`]).
    pub auto_price: String,
    /// The discount the form was filled with by the pricing, not typed.
    pub auto_discount: String,
    /// The promised date the form was filled with by the promise, not typed.
    pub auto_promised: String,
}

/// The members a line takes, in form-column order; the stock members only on the document
/// types whose `stock_fields` name them.
pub const LINE_FIELDS: [&str; 17] = [
    "item",
    "quantity",
    "unit",
    "unit_price",
    "warehouse",
    "due_date",
    "note",
    "source_line_id",
    "bin",
    "to_warehouse",
    "to_bin",
    "lot",
    "lot_expiry",
    "book_qty",
    "discount_pct",
    "promised_date",
    "settles",
];

/// The header members a draft takes (`reason` only where the type needs one, `salesperson`
/// and `due_date` only on sales documents).
pub const HEADER_FIELDS: [&str; 7] =
    ["doc_date", "partner", "currency", "note", "reason", "salesperson", "due_date"];

/// Whether document type `t` takes line member `name`.
pub fn takes_line_field(t: &DocType, name: &str) -> bool {
    use papilio_store::documents::{STOCK_LINE_FIELDS, TRADE_LINE_FIELDS};
    (!STOCK_LINE_FIELDS.contains(&name) || t.stock_fields.contains(&name))
        && (!TRADE_LINE_FIELDS.contains(&name) || t.trade_fields.contains(&name))
}

/// Whether document type `t` takes header member `name`.
pub fn takes_header_field(t: &DocType, name: &str) -> bool {
    match name {
        "reason" => t.needs_reason,
        "salesperson" | "due_date" => t.area == "sales" || t.partner == Some("customer"),
        _ => true,
    }
}

impl LineInput {
    /// The text of member `name`, if it is one.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "item" => &mut self.item,
            "quantity" => &mut self.quantity,
            "unit" => &mut self.unit,
            "unit_price" => &mut self.unit_price,
            "warehouse" => &mut self.warehouse,
            "due_date" => &mut self.due_date,
            "note" => &mut self.note,
            "source_line_id" => &mut self.source_line_id,
            "bin" => &mut self.bin,
            "to_warehouse" => &mut self.to_warehouse,
            "to_bin" => &mut self.to_bin,
            "lot" => &mut self.lot,
            "lot_expiry" => &mut self.lot_expiry,
            "book_qty" => &mut self.book_qty,
            "discount_pct" => &mut self.discount_pct,
            "promised_date" => &mut self.promised_date,
            "settles" => &mut self.settles,
            _ => return None,
        })
    }

    /// The text of member `name`.
    pub fn field(&self, name: &str) -> &str {
        match name {
            "item" => &self.item,
            "quantity" => &self.quantity,
            "unit" => &self.unit,
            "unit_price" => &self.unit_price,
            "warehouse" => &self.warehouse,
            "due_date" => &self.due_date,
            "note" => &self.note,
            "source_line_id" => &self.source_line_id,
            "bin" => &self.bin,
            "to_warehouse" => &self.to_warehouse,
            "to_bin" => &self.to_bin,
            "lot" => &self.lot,
            "lot_expiry" => &self.lot_expiry,
            "book_qty" => &self.book_qty,
            "discount_pct" => &self.discount_pct,
            "promised_date" => &self.promised_date,
            "settles" => &self.settles,
            _ => "",
        }
    }

    /// The derived value a form filled member `name` with (posted back as
    /// `lines[i].auto_<name>`), if it is one of those.
    pub fn auto_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "auto_unit_price" => &mut self.auto_price,
            "auto_discount_pct" => &mut self.auto_discount,
            "auto_promised_date" => &mut self.auto_promised,
            _ => return None,
        })
    }

    /// The derived values as (hidden input member, value), for the form to post back.
    pub fn autos(&self) -> Vec<(&'static str, &str)> {
        [
            ("auto_unit_price", self.auto_price.as_str()),
            ("auto_discount_pct", self.auto_discount.as_str()),
            ("auto_promised_date", self.auto_promised.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    /// Whether the row was left empty (a form's spare rows).
    pub fn is_blank(&self) -> bool {
        LINE_FIELDS.iter().all(|f| self.field(f).trim().is_empty())
    }
}

/// A draft as typed: header and lines as text, parsed by [`DraftInput::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DraftInput {
    /// Document date, `YYYY-MM-DD`.
    pub doc_date: String,
    /// Partner code.
    pub partner: String,
    /// Currency code.
    pub currency: String,
    /// Free text.
    pub note: String,
    /// Reason code.
    pub reason: String,
    /// Salesperson (employee code).
    pub salesperson: String,
    /// Payment due date, `YYYY-MM-DD`.
    pub due_date: String,
    /// Lines.
    pub lines: Vec<LineInput>,
}

fn text(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn date(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| errors.push(FieldError::new(field, "field.not_date")))
        .ok()
}

/// Whether a posted `value` is the derived `auto` value it was filled with: the same text, or
/// the same number written differently (`180.50` for `180.5`).
fn same_value(value: &str, auto: &str) -> bool {
    let (v, a) = (value.trim(), auto.trim());
    if a.is_empty() {
        return false;
    }
    v == a || matches!((Decimal::from_str(v), Decimal::from_str(a)), (Ok(x), Ok(y)) if x == y)
}

fn decimal(field: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<Decimal> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    Decimal::from_str(v).map_err(|_| errors.push(FieldError::new(field, "field.not_decimal"))).ok()
}

impl DraftInput {
    /// The text of header member `name`, if it is one.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "doc_date" => &mut self.doc_date,
            "partner" => &mut self.partner,
            "currency" => &mut self.currency,
            "note" => &mut self.note,
            "reason" => &mut self.reason,
            "salesperson" => &mut self.salesperson,
            "due_date" => &mut self.due_date,
            _ => return None,
        })
    }

    /// The input that shows `doc` as it is stored.
    pub fn from_document(doc: &Document) -> Self {
        let dec = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
        DraftInput {
            doc_date: doc.doc_date.to_string(),
            partner: doc.partner.clone().unwrap_or_default(),
            currency: doc.currency.clone().unwrap_or_default(),
            note: doc.note.clone().unwrap_or_default(),
            reason: doc.reason.clone().unwrap_or_default(),
            salesperson: doc.salesperson.clone().unwrap_or_default(),
            due_date: doc.due_date.map(|d| d.to_string()).unwrap_or_default(),
            lines: doc
                .lines
                .iter()
                .map(|l| LineInput {
                    item: l.item.clone().unwrap_or_default(),
                    quantity: l.quantity.normalize().to_string(),
                    unit: l.unit.clone().unwrap_or_default(),
                    unit_price: dec(l.unit_price),
                    warehouse: l.warehouse.clone().unwrap_or_default(),
                    due_date: l.due_date.map(|d| d.to_string()).unwrap_or_default(),
                    note: l.note.clone().unwrap_or_default(),
                    source_line_id: l.source_line_id.map(|i| i.to_string()).unwrap_or_default(),
                    bin: l.stock.bin.clone().unwrap_or_default(),
                    to_warehouse: l.stock.to_warehouse.clone().unwrap_or_default(),
                    to_bin: l.stock.to_bin.clone().unwrap_or_default(),
                    lot: l.stock.lot.clone().unwrap_or_default(),
                    lot_expiry: l.stock.lot_expiry.map(|d| d.to_string()).unwrap_or_default(),
                    book_qty: dec(l.stock.book_qty),
                    discount_pct: dec(l.trade.discount_pct),
                    promised_date: l.trade.promised_date.map(|d| d.to_string()).unwrap_or_default(),
                    settles: l.trade.settles.map(|i| i.to_string()).unwrap_or_default(),
                    ..LineInput::default()
                })
                .collect(),
        }
    }

    /// The input that shows priced document `doc` for editing: what the pricing, a source
    /// line or the promise derived is marked as such, so that saving it unchanged derives it
    /// again (a new quantity gets its own price) while a value typed over it is kept.
    pub fn for_editing(doc: &Document) -> Self {
        let mut input = Self::from_document(doc);
        for (li, l) in input.lines.iter_mut().zip(&doc.lines) {
            let explain = l.trade.explain.as_ref();
            let price = explain.and_then(|e| e.get("price"));
            let manual_price = price.and_then(|p| p.get("manual")).is_some_and(|m| m == true);
            let manual_discount =
                price.and_then(|p| p.get("discount")).is_some_and(|d| d == "manual");
            // A line that inherited its price says where from (an order) or kept the list price
            // with it (a delivery or invoice); a price typed over the source's does neither.
            let inherited = l.source_line_id.is_some()
                && match price {
                    Some(p) => p.get("from").is_some(),
                    None => l.trade.list_price.is_some(),
                };
            if (price.is_some() && !manual_price) || inherited {
                li.auto_price = li.unit_price.clone();
            }
            if !manual_discount {
                li.auto_discount = li.discount_pct.clone();
            }
            let promised =
                explain.and_then(|e| e.pointer("/promise/date")).and_then(|d| d.as_str());
            if promised.is_some_and(|d| d == li.promised_date) {
                li.auto_promised = li.promised_date.clone();
            }
        }
        input
    }

    /// Parses the text into a draft, or names every field that is not a date, number or id.
    /// Business rules (required fields, positive quantities, references) are storage's.
    pub fn parse(&self) -> Result<Draft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let doc_date = date("doc_date", &self.doc_date, &mut errors);
        let due_date = date("due_date", &self.due_date, &mut errors);
        let mut lines = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            let at = |f: &str| format!("lines[{i}].{f}");
            let quantity = decimal(&at("quantity"), &l.quantity, &mut errors);
            // A receipt line settling an invoice is an amount; its quantity is one.
            let settling = !l.settles.trim().is_empty();
            if l.quantity.trim().is_empty() && !settling {
                errors.push(FieldError::new(at("quantity"), "field.required"));
            }
            let quantity = quantity.or(settling.then_some(Decimal::ONE));
            let mut id = |name: &str, value: &str| {
                text(value).and_then(|s| {
                    s.parse::<i64>()
                        .map_err(|_| errors.push(FieldError::new(at(name), "field.not_integer")))
                        .ok()
                })
            };
            let source_line_id = id("source_line_id", &l.source_line_id);
            let settles = id("settles", &l.settles);
            // A derived value posted back unchanged is derived again, not taken as typed.
            let typed = |value: &str, auto: &str| -> String {
                if same_value(value, auto) { String::new() } else { value.to_owned() }
            };
            let unit_price = typed(&l.unit_price, &l.auto_price);
            let discount_pct = typed(&l.discount_pct, &l.auto_discount);
            let promised_date = typed(&l.promised_date, &l.auto_promised);
            lines.push(DraftLine {
                item: text(&l.item),
                quantity: quantity.unwrap_or_default(),
                unit: text(&l.unit),
                unit_price: decimal(&at("unit_price"), &unit_price, &mut errors),
                warehouse: text(&l.warehouse),
                due_date: date(&at("due_date"), &l.due_date, &mut errors),
                note: text(&l.note),
                source_line_id,
                stock: StockFields {
                    bin: text(&l.bin),
                    to_warehouse: text(&l.to_warehouse),
                    to_bin: text(&l.to_bin),
                    lot: text(&l.lot),
                    lot_expiry: date(&at("lot_expiry"), &l.lot_expiry, &mut errors),
                    book_qty: decimal(&at("book_qty"), &l.book_qty, &mut errors),
                },
                trade: TradeFields {
                    discount_pct: decimal(&at("discount_pct"), &discount_pct, &mut errors),
                    promised_date: date(&at("promised_date"), &promised_date, &mut errors),
                    settles,
                    ..TradeFields::default()
                },
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Draft {
            doc_date,
            partner: text(&self.partner),
            currency: text(&self.currency),
            note: text(&self.note),
            reason: text(&self.reason),
            salesperson: text(&self.salesperson),
            due_date,
            lines,
        })
    }

    /// Reads a posted form: header fields by name, line fields as `lines[i].field`. Blank
    /// rows are dropped and the rest renumbered, so error names match the rows shown again.
    /// Returns the input, the version it was read at, the rows shown, and whether more rows
    /// were asked for.
    pub fn from_form(pairs: Vec<(String, String)>) -> (DraftInput, i64, usize, bool) {
        let mut input = DraftInput::default();
        let mut rows: BTreeMap<usize, LineInput> = BTreeMap::new();
        let (mut version, mut shown, mut more) = (0, LINE_ROWS, false);
        for (key, value) in pairs {
            match key.as_str() {
                "_version" => version = value.parse().unwrap_or(0),
                "_rows" => shown = value.parse().unwrap_or(LINE_ROWS).min(MAX_ROWS),
                "_more" => more = true,
                _ => {
                    if let Some(slot) = input.field_mut(&key) {
                        *slot = value;
                    } else if let Some((i, field)) = line_key(&key) {
                        let row = rows.entry(i).or_default();
                        if let Some(slot) = row.field_mut(field) {
                            *slot = value;
                        } else if let Some(slot) = row.auto_mut(field) {
                            *slot = value;
                        }
                    }
                }
            }
        }
        input.lines = rows.into_values().filter(|l| !l.is_blank()).collect();
        (input, version, shown, more)
    }
}

/// Splits `lines[3].item` into `(3, "item")`.
pub fn line_key(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("lines[")?;
    let (index, field) = rest.split_once("].")?;
    let index: usize = index.parse().ok()?;
    (index < MAX_ROWS).then_some((index, field))
}

/// The inbox of `user`: submitted documents of types they may approve, leaving out those
/// whose open approval requests need a role they do not hold.
pub async fn inbox_entries(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<InboxEntry>, AppError> {
    let admin = user.user.roles.iter().any(|r| r == "administrator");
    let entries = documents::submitted(&state.db).await?;
    Ok(entries
        .into_iter()
        .filter(|e| {
            state
                .docs
                .get(&e.document.doc_type)
                .is_some_and(|t| user.can(t.code, t.area, Action::Approve))
                && e.requests.iter().all(|r| admin || user.user.roles.iter().any(|x| x == &r.role))
        })
        .collect())
}

/// Why an approval request was raised, in `locale`: the text of `approval_rule.<code>` with
/// the rule's params as placeholders, or the code and params when the catalogue lacks it.
pub fn reason(locale: &str, request: &ApprovalRequest) -> String {
    let params: Vec<(String, String)> = match &request.params {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => Vec::new(),
    };
    // A rule with several reasons names the one that applies in `kind`.
    let kind = params.iter().find(|(k, _)| k == "kind").map(|(_, v)| v.as_str());
    let specific = kind.map(|k| format!("approval_rule.{}.{k}", request.rule));
    let key = specific
        .filter(|k| i18n::has("en", k))
        .unwrap_or_else(|| format!("approval_rule.{}", request.rule));
    if i18n::has(locale, &key) || i18n::has("en", &key) {
        return i18n::tr_with(locale, &key, &params);
    }
    let listed: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if listed.is_empty() {
        request.rule.clone()
    } else {
        format!("{} ({})", request.rule, listed.join(", "))
    }
}

/// A role's name in `locale`.
pub fn role_label(locale: &str, role: &str) -> String {
    let key = format!("role.{role}");
    let text = i18n::tr(locale, &key);
    if text == key { role.to_owned() } else { text }
}

/// The message for a refused document operation, with role and rule codes translated.
pub fn error_message(locale: &str, e: &AppError) -> String {
    match e {
        AppError::Invalid(fields) => fields
            .iter()
            .map(|f| {
                let mut f = f.clone();
                for (name, value) in &mut f.params {
                    if name == "role" {
                        *value = role_label(locale, value);
                    }
                }
                i18n::field_error(locale, "", &f)
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.message(locale),
    }
}

/// The HTTP status and message of a refusal a page shows in place, or the error itself when
/// it is not one (not found, forbidden, a bug).
fn shown_refusal(locale: &str, e: AppError) -> Result<(StatusCode, String), AppError> {
    match &e {
        AppError::Invalid(_)
        | AppError::Store(
            StoreError::Domain(_)
            | StoreError::Stale { .. }
            | StoreError::InUse { .. }
            | StoreError::Busy
            | StoreError::Duplicate { .. },
        ) => Ok((e.status(), error_message(locale, &e))),
        _ => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The list.

/// One document in a list.
#[derive(Debug, Clone)]
pub struct DocRow {
    /// Id as text.
    pub id: String,
    /// Number.
    pub number: String,
    /// Date.
    pub doc_date: String,
    /// Partner code.
    pub partner: String,
    /// State code (for the badge's class).
    pub state: String,
    /// State, translated.
    pub state_label: String,
    /// Who created it.
    pub created_by: String,
    /// Last change.
    pub updated_at: String,
}

/// The documents of one type.
#[derive(Template)]
#[template(path = "doc_list.html")]
pub struct DocListPage {
    /// Chrome.
    pub c: Chrome,
    /// Type code.
    pub code: String,
    /// Type label.
    pub label: String,
    /// Search text.
    pub q: String,
    /// State filter options: (code, label, selected).
    pub states: Vec<(String, String, bool)>,
    /// Rows.
    pub rows: Vec<DocRow>,
    /// Paging.
    pub pager: Pager,
    /// May create.
    pub can_create: bool,
}

fn state_label(locale: &str, state: &str) -> String {
    i18n::tr(locale, &format!("state.{state}"))
}

fn encode_query(params: &[(String, String)]) -> String {
    serde_urlencoded::to_string(params).unwrap_or_default()
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let locale = user.user.locale.clone();
    let q = doc_query(&params)?;
    let page = documents::list(&state.db, t.code, &q).await?;

    let rows = page
        .rows
        .iter()
        .map(|d| DocRow {
            id: d.id.to_string(),
            number: d.number.clone(),
            doc_date: d.doc_date.to_string(),
            partner: d.partner.clone().unwrap_or_default(),
            state: d.state.code().to_owned(),
            state_label: state_label(&locale, d.state.code()),
            created_by: d.created_by.clone(),
            updated_at: d.updated_at.clone(),
        })
        .collect();
    let pages = ((page.total + page.per_page - 1) / page.per_page).max(1);
    let page_link = |n: i64| {
        let mut p: Vec<(String, String)> =
            params.iter().filter(|(k, _)| k != "page").cloned().collect();
        p.push(("page".into(), n.to_string()));
        format!("/d/{code}?{}", encode_query(&p))
    };
    let pager = Pager {
        page: page.page,
        pages,
        total: page.total,
        prev: (page.page > 1).then(|| page_link(page.page - 1)),
        next: (page.page < pages).then(|| page_link(page.page + 1)),
    };
    let states = DocState::ALL
        .iter()
        .map(|s| (s.code().to_owned(), state_label(&locale, s.code()), q.state == Some(*s)))
        .collect();
    let label = i18n::entity_label(&locale, t.code);
    render(&DocListPage {
        c: chrome(&state, &user, &label),
        code: t.code.to_owned(),
        label,
        q: q.search.clone().unwrap_or_default(),
        states,
        rows,
        pager,
        can_create: user.can(t.code, t.area, Action::Create),
    })
}

// ---------------------------------------------------------------------------------------------
// The document.

/// A header value with its label.
#[derive(Debug, Clone)]
pub struct HeaderValue {
    /// Label.
    pub label: String,
    /// Value.
    pub value: String,
}

/// One line as shown.
#[derive(Debug, Clone)]
pub struct LineRow {
    /// Position.
    pub line_no: i64,
    /// Item code.
    pub item: String,
    /// Quantity.
    pub quantity: String,
    /// Unit.
    pub unit: String,
    /// Price.
    pub unit_price: String,
    /// Amount.
    pub amount: String,
    /// Warehouse.
    pub warehouse: String,
    /// Due date.
    pub due_date: String,
    /// Carried downstream.
    pub carried: String,
    /// Still open.
    pub open: String,
    /// Note.
    pub note: String,
    /// Link to the source document, when pushed down.
    pub source: Option<NavLink>,
    /// Bin (stock documents).
    pub bin: String,
    /// Put-away suggestion when no bin was given on a receipt.
    pub bin_suggestion: String,
    /// Target warehouse of a transfer.
    pub to_warehouse: String,
    /// Target bin of a transfer.
    pub to_bin: String,
    /// Put-away suggestion for a transfer without a target bin.
    pub to_bin_suggestion: String,
    /// Lot.
    pub lot: String,
    /// Lot expiry.
    pub lot_expiry: String,
    /// Book quantity of a count line.
    pub book_qty: String,
    /// Counted minus book quantity, on a count line.
    pub difference: String,
    /// Sales and invoice lines: what the price came from, the promise, cost and margin.
    pub trade: TradeLine,
    /// The invoice or credit note a receipt line settles, linked where readable.
    pub settles: Option<NavLink>,
}

/// The trade members of a line as shown.
#[derive(Debug, Clone, Default)]
pub struct TradeLine {
    /// List price per line unit.
    pub list_price: String,
    /// Discount, percent.
    pub discount_pct: String,
    /// Promised date.
    pub promised_date: String,
    /// Expected unit cost.
    pub est_unit_cost: String,
    /// Where the expected cost comes from, translated.
    pub cost_basis: String,
    /// Expected margin, percent.
    pub margin_pct: String,
    /// Whether the margin is under the company's target.
    pub under_target: bool,
    /// Why this price (and this promise), translated.
    pub why: String,
}

/// What a quotation's or order's lines add up to.
#[derive(Debug, Clone, Default)]
pub struct TradeTotals {
    /// Sum of line amounts.
    pub amount: String,
    /// Sum of quantity × expected unit cost.
    pub cost: String,
    /// Amount less cost.
    pub margin: String,
    /// Margin as a share of the amount, percent.
    pub margin_pct: String,
    /// Whether that is under the target.
    pub under_target: bool,
    /// The target margin, percent.
    pub target_pct: String,
}

/// A button for one action.
#[derive(Debug, Clone)]
pub struct ActionButton {
    /// Action code (also the URL's last part).
    pub code: String,
    /// Label.
    pub label: String,
    /// Whether it undoes or ends something (drawn in red).
    pub danger: bool,
}

/// One approval request as shown.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    /// Why.
    pub reason: String,
    /// Role that must approve.
    pub role: String,
    /// Status code (for the badge's class).
    pub status: String,
    /// Status, translated.
    pub status_label: String,
    /// Who decided.
    pub decided_by: String,
    /// When.
    pub decided_at: String,
}

/// One step of the history as shown.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// When.
    pub at: String,
    /// Who.
    pub user: String,
    /// The action, translated.
    pub action: String,
    /// From state, translated.
    pub from: String,
    /// To state, translated.
    pub to: String,
    /// Their comment.
    pub comment: String,
}

/// A document with its lines, actions, approvals and history.
#[derive(Template)]
#[template(path = "doc_view.html")]
pub struct DocViewPage {
    /// Chrome.
    pub c: Chrome,
    /// Type code.
    pub code: String,
    /// Type label.
    pub label: String,
    /// Id as text.
    pub id: String,
    /// Number.
    pub number: String,
    /// State code.
    pub state: String,
    /// State, translated.
    pub state_label: String,
    /// Version (sent back with actions).
    pub version: i64,
    /// Header values.
    pub header: Vec<HeaderValue>,
    /// Lines.
    pub lines: Vec<LineRow>,
    /// Sum of line amounts.
    pub total: String,
    /// Allowed actions.
    pub actions: Vec<ActionButton>,
    /// May edit (a draft, with Update permission).
    pub can_edit: bool,
    /// Push-down targets.
    pub push_down: Vec<NavLink>,
    /// Approval requests.
    pub approvals: Vec<ApprovalRow>,
    /// Transitions, oldest first.
    pub history: Vec<HistoryRow>,
    /// Why the last action was refused.
    pub error: Option<String>,
    /// The stock line fields this type shows, in column order.
    pub stock_fields: Vec<String>,
    /// Whether lines show how they were priced, promised and costed (quotations, orders).
    pub trade: bool,
    /// Whether lines show list price and discount (priced sales documents).
    pub priced: bool,
    /// Whether lines settle invoices (receipts) instead of carrying items.
    pub receipt: bool,
    /// Expected cost and margin of a quotation or order.
    pub totals: Option<TradeTotals>,
    /// Link to the print layout, where the type has one.
    pub print: Option<String>,
}

impl DocViewPage {
    /// Whether the lines show stock field `name`.
    pub fn shows(&self, name: &str) -> bool {
        self.stock_fields.iter().any(|f| f == name)
    }

    /// Columns after the amount: warehouse, the stock fields (a count adds its difference),
    /// promised date, expected cost and margin on quotations and orders, due date, carried,
    /// open, source and note.
    pub fn trailing_columns(&self) -> usize {
        6 + self.stock_fields.len()
            + usize::from(self.shows("book_qty"))
            + 3 * usize::from(self.trade)
    }

    /// Columns before the amount: number, item, quantity, unit, (list price, discount), price.
    pub fn leading_columns(&self) -> usize {
        5 + 2 * usize::from(self.priced)
    }
}

/// Put-away suggestions for the lines of a stock document that is not yet posted: the bin of
/// a receipt line without one, and the target bin of a transfer line without one, keyed by
/// (item, warehouse).
async fn putaway(
    state: &AppState,
    t: &DocType,
    doc: &Document,
) -> Result<std::collections::HashMap<(String, String), String>, AppError> {
    // Only receipts record a lot's expiry; a transfer names a target warehouse.
    let receipt = t.stock_fields.contains(&"lot_expiry");
    let transfer = t.stock_fields.contains(&"to_bin");
    if !(receipt || transfer) || !matches!(doc.state, DocState::Draft | DocState::Submitted) {
        return Ok(Default::default());
    }
    let pairs: Vec<(String, String)> = doc
        .lines
        .iter()
        .filter_map(|l| {
            let item = l.item.clone()?;
            if receipt && l.stock.bin.is_none() {
                Some((item, l.warehouse.clone()?))
            } else if transfer && l.stock.to_bin.is_none() {
                Some((item, l.stock.to_warehouse.clone()?))
            } else {
                None
            }
        })
        .collect();
    Ok(papilio_store::stock_views::putaway_suggestions(&state.db, &pairs).await?)
}

fn dec_text(d: Option<Decimal>) -> String {
    d.map(|d| d.normalize().to_string()).unwrap_or_default()
}

async fn view_page(
    state: &AppState,
    user: &CurrentUser,
    t: &DocType,
    doc: Document,
    error: Option<String>,
) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let approvals = documents::approval_requests(&state.db, doc.id).await?;
    let history = documents::history(&state.db, doc.id).await?;

    // Link each pushed-down line to its source, where the viewer may read the source's type.
    let sources: BTreeMap<i64, NavLink> = documents::sources_of(&state.db, doc.id)
        .await?
        .into_iter()
        .map(|src| {
            let readable = state
                .docs
                .get(&src.doc_type)
                .is_some_and(|st| user.can(st.code, st.area, Action::Read));
            let link = NavLink {
                label: format!("{} / {}", src.number, src.line_no),
                href: if readable {
                    format!("/d/{}/{}", src.doc_type, src.document_id)
                } else {
                    String::new()
                },
            };
            (src.line_id, link)
        })
        .collect();
    let trade = takes_line_field(t, "discount_pct");
    let receipt = takes_line_field(t, "settles");
    let priced = trade || doc.lines.iter().any(|l| l.trade.list_price.is_some());
    let target_margin = if trade {
        Some(papilio_store::sales::settings(&state.db).await?.target_margin_pct)
    } else {
        None
    };
    // The invoices a receipt settles, each by its number, linked where the viewer may read it.
    let mut settled: BTreeMap<i64, NavLink> = BTreeMap::new();
    for id in doc.lines.iter().filter_map(|l| l.trade.settles) {
        if settled.contains_key(&id) {
            continue;
        }
        let link = match papilio_store::sales::open_item(&state.db, id).await? {
            Some(o) => {
                let readable = state
                    .docs
                    .get(&o.doc_type)
                    .is_some_and(|st| user.can(st.code, st.area, Action::Read));
                NavLink {
                    href: if readable { format!("/d/{}/{id}", o.doc_type) } else { String::new() },
                    label: o.number,
                }
            }
            None => NavLink { label: format!("#{id}"), href: String::new() },
        };
        settled.insert(id, link);
    }
    let suggested = putaway(state, t, &doc).await?;
    let suggestion = |item: &Option<String>, wh: &Option<String>, given: &Option<String>| {
        let (Some(i), Some(w), None) = (item, wh, given) else { return String::new() };
        suggested.get(&(i.clone(), w.clone())).cloned().unwrap_or_default()
    };
    let lines = doc
        .lines
        .iter()
        .map(|l| LineRow {
            bin: l.stock.bin.clone().unwrap_or_default(),
            bin_suggestion: if t.stock_fields.contains(&"lot_expiry") {
                suggestion(&l.item, &l.warehouse, &l.stock.bin)
            } else {
                String::new()
            },
            to_warehouse: l.stock.to_warehouse.clone().unwrap_or_default(),
            to_bin: l.stock.to_bin.clone().unwrap_or_default(),
            to_bin_suggestion: suggestion(&l.item, &l.stock.to_warehouse, &l.stock.to_bin),
            lot: l.stock.lot.clone().unwrap_or_default(),
            lot_expiry: l.stock.lot_expiry.map(|d| d.to_string()).unwrap_or_default(),
            book_qty: dec_text(l.stock.book_qty),
            difference: dec_text(l.stock.book_qty.map(|b| l.quantity - b)),
            line_no: l.line_no,
            item: l.item.clone().unwrap_or_default(),
            quantity: l.quantity.normalize().to_string(),
            unit: l.unit.clone().unwrap_or_default(),
            unit_price: dec_text(l.unit_price),
            amount: dec_text(l.amount),
            warehouse: l.warehouse.clone().unwrap_or_default(),
            due_date: l.due_date.map(|d| d.to_string()).unwrap_or_default(),
            carried: l.carried_qty.normalize().to_string(),
            open: l.open_qty().normalize().to_string(),
            note: l.note.clone().unwrap_or_default(),
            source: sources.get(&l.id).cloned(),
            trade: if priced { trade_line(&locale, l) } else { TradeLine::default() },
            settles: l.trade.settles.and_then(|id| settled.get(&id).cloned()),
        })
        .collect();
    let totals = target_margin.map(|target| trade_totals(&doc, target));
    let field = |name: &str, value: String| HeaderValue {
        label: i18n::field_label(&locale, t.code, name),
        value,
    };
    let mut header = vec![
        field("doc_date", doc.doc_date.to_string()),
        field("partner", doc.partner.clone().unwrap_or_default()),
        field("currency", doc.currency.clone().unwrap_or_default()),
        field("note", doc.note.clone().unwrap_or_default()),
    ];
    if t.needs_reason || doc.reason.is_some() {
        header.push(field("reason", doc.reason.clone().unwrap_or_default()));
    }
    if let Some(person) = &doc.salesperson {
        header.push(field("salesperson", person.clone()));
    }
    if let Some(due) = doc.due_date {
        // On a sales document the header's due date is when payment falls due.
        header.push(HeaderValue {
            label: i18n::tr(&locale, "sales_page.payment_due"),
            value: due.to_string(),
        });
    }
    // What is still open of an invoice or credit note.
    let open_item = if t.partner == Some("customer") && !receipt {
        papilio_store::sales::open_item(&state.db, doc.id).await?
    } else {
        None
    };
    if let Some(o) = &open_item {
        header.push(HeaderValue {
            label: i18n::tr(&locale, "sales_page.open_amount"),
            value: crate::pages::sales::money(o.open_amount),
        });
    }
    header.extend([
        HeaderValue { label: i18n::tr(&locale, "doc.created_by"), value: doc.created_by.clone() },
        HeaderValue { label: i18n::tr(&locale, "doc.created_at"), value: doc.created_at.clone() },
        HeaderValue { label: i18n::tr(&locale, "doc.updated_at"), value: doc.updated_at.clone() },
    ]);
    let actions = allowed_actions(user, t, doc.state)
        .into_iter()
        .map(|a| ActionButton {
            code: a.code().to_owned(),
            label: i18n::tr(&locale, &format!("doc.button.{}", a.code())),
            danger: matches!(a, DocAction::Cancel | DocAction::Unapprove | DocAction::Reject),
        })
        .collect();
    let open = doc.lines.iter().any(|l| l.open_qty() > Decimal::ZERO);
    let owed = open_item.as_ref().is_some_and(|o| !o.open_amount.is_zero());
    // Targets that carry need something open; a return links without carrying; a receipt
    // settles what is owed.
    let push_down = if doc.state == DocState::Approved {
        state
            .docs
            .iter()
            .filter(|target| {
                if takes_line_field(target, "settles") {
                    owed
                } else {
                    target.sources.contains(&t.code) && (open || !target.carries)
                }
            })
            .filter(|target| user.can(target.code, target.area, Action::Create))
            .map(|target| NavLink {
                label: push_down_label(&locale, target.code),
                href: format!("/d/{}/new?from={}", target.code, doc.id),
            })
            .collect()
    } else {
        Vec::new()
    };
    let approvals = approvals
        .iter()
        .map(|a| ApprovalRow {
            reason: reason(&locale, a),
            role: role_label(&locale, &a.role),
            status: a.status.clone(),
            status_label: i18n::tr(&locale, &format!("approval_status.{}", a.status)),
            decided_by: a.decided_by.clone().unwrap_or_default(),
            decided_at: a.decided_at.clone().unwrap_or_default(),
        })
        .collect();
    let history = history
        .into_iter()
        .map(|h| HistoryRow {
            at: h.at,
            user: h.user,
            action: i18n::tr(&locale, &format!("doc.button.{}", h.action)),
            from: state_label(&locale, &h.from),
            to: state_label(&locale, &h.to),
            comment: h.comment.unwrap_or_default(),
        })
        .collect();
    let label = i18n::entity_label(&locale, t.code);
    render(&DocViewPage {
        c: chrome(state, user, &format!("{} {}", label, doc.number)),
        code: t.code.to_owned(),
        label,
        id: doc.id.to_string(),
        number: doc.number.clone(),
        state: doc.state.code().to_owned(),
        state_label: state_label(&locale, doc.state.code()),
        version: doc.version,
        header,
        lines,
        total: doc.total().normalize().to_string(),
        actions,
        can_edit: doc.state.editable() && user.can(t.code, t.area, Action::Update),
        push_down,
        approvals,
        history,
        error,
        stock_fields: papilio_store::documents::STOCK_LINE_FIELDS
            .iter()
            .filter(|f| t.stock_fields.contains(f))
            .map(|f| (*f).to_owned())
            .collect(),
        trade,
        priced,
        receipt,
        totals,
        print: crate::pages::sales::PRINTABLE
            .contains(&t.code)
            .then(|| format!("/d/{}/{}/print", t.code, doc.id)),
    })
}

/// The label of the button that pushes a document down into `target`: the sales verb where
/// the catalogue has one ("Deliver", "Invoice"), else "Push down to <type>".
fn push_down_label(locale: &str, target: &str) -> String {
    let key = format!("sales_page.push.{target}");
    if i18n::has("en", &key) {
        return i18n::tr(locale, &key);
    }
    i18n::tr_with(locale, "doc.push_down", &[("target".into(), i18n::entity_label(locale, target))])
}

/// A priced line's trade members as shown, with the reason for its price.
fn trade_line(locale: &str, l: &papilio_store::documents::Line) -> TradeLine {
    let explain = l.trade.explain.as_ref();
    let margin = explain
        .and_then(|e| e.get("margin_pct"))
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .or_else(|| {
            let (price, cost) = (l.unit_price?, l.trade.est_unit_cost?);
            papilio_core::sales::margin(price, cost).1.map(|m| m.normalize().to_string())
        })
        .unwrap_or_default();
    TradeLine {
        list_price: dec_text(l.trade.list_price),
        discount_pct: dec_text(l.trade.discount_pct),
        promised_date: l.trade.promised_date.map(|d| d.to_string()).unwrap_or_default(),
        est_unit_cost: dec_text(l.trade.est_unit_cost),
        cost_basis: l
            .trade
            .cost_basis
            .as_deref()
            .map(|b| i18n::tr(locale, &format!("sales_page.cost_basis.{b}")))
            .unwrap_or_default(),
        margin_pct: margin,
        under_target: explain.and_then(|e| e.get("under_target")).is_some_and(|u| u == true),
        why: explain.map(|e| crate::pages::sales::why_text(locale, e)).unwrap_or_default(),
    }
}

/// Amount, expected cost and margin of a quotation or order against the target margin.
fn trade_totals(doc: &Document, target: Decimal) -> TradeTotals {
    let amount = doc.total();
    let cost: Decimal = doc
        .lines
        .iter()
        .filter_map(|l| l.trade.est_unit_cost.map(|c| (c * l.quantity).round_dp(2)))
        .sum();
    let (margin, pct) = papilio_core::sales::margin(amount, cost);
    TradeTotals {
        amount: amount.normalize().to_string(),
        cost: cost.normalize().to_string(),
        margin: margin.normalize().to_string(),
        margin_pct: pct.map(|p| p.normalize().to_string()).unwrap_or_default(),
        under_target: pct.is_none_or(|p| p < target),
        target_pct: target.normalize().to_string(),
    }
}

async fn view(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    view_page(&state, &user, &t, doc, None).await
}

async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id, action)): Path<(String, String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    let action = DocAction::from_code(&action).ok_or(AppError::NotFound)?;
    require(&user, &t, action.permission())?;
    let id = parse_id(&id)?;
    let mut version = 0;
    let mut comment = None;
    for (k, v) in pairs {
        match k.as_str() {
            "_version" => version = v.parse().unwrap_or(0),
            "comment" => comment = text(&v),
            _ => {}
        }
    }
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        comment = comment.map(|c| c.chars().take(2000).collect());
    }
    let result = documents::transition(
        &state.db,
        &t,
        id,
        version,
        action,
        &user.actor(),
        comment.as_deref(),
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/d/{code}/{id}")).into_response()),
        Err(e) => {
            let (status, message) = shown_refusal(&user.user.locale, AppError::from(e))?;
            let doc = load(&state, &t, id).await?;
            let mut page = view_page(&state, &user, &t, doc, Some(message)).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The form.

/// A header input.
#[derive(Debug, Clone)]
pub struct HeaderInput {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// `text`, `date`, `textarea`.
    pub input: &'static str,
    /// Current value.
    pub value: String,
    /// Id of the datalist with suggestions, or empty.
    pub list: String,
    /// Required.
    pub required: bool,
    /// Rule text when invalid.
    pub error: Option<String>,
    /// Where a change of it reloads the form from (a new receipt reloads with the customer's
    /// open invoices), or empty.
    pub reload: String,
}

/// One cell of a line row.
#[derive(Debug, Clone)]
pub struct LineCell {
    /// Input name (`lines[2].item`).
    pub name: String,
    /// Member name (`item`).
    pub field: String,
    /// Label, for screen readers (the column header shows it too).
    pub label: String,
    /// `text`, `number`, `date`.
    pub input: &'static str,
    /// Current value.
    pub value: String,
    /// Id of the datalist with suggestions, or empty.
    pub list: String,
    /// Rule text when invalid.
    pub error: Option<String>,
    /// Choices of a `select` (value, label); the first is the empty choice.
    pub options: Vec<(String, String)>,
    /// Shown while empty.
    pub placeholder: String,
}

/// One line row of the form.
#[derive(Debug, Clone)]
pub struct LineInputRow {
    /// 0-based index.
    pub index: usize,
    /// Visible cells.
    pub cells: Vec<LineCell>,
    /// The source line id (hidden).
    pub source_line_id: String,
    /// Why the source line was refused.
    pub source_error: Option<String>,
    /// Derived values posted back as hidden inputs: (member, value).
    pub autos: Vec<(String, String)>,
}

/// Suggestions for one kind of code.
#[derive(Debug, Clone)]
pub struct Suggestions {
    /// Datalist id.
    pub id: String,
    /// (code, name).
    pub options: Vec<(String, String)>,
}

/// A document's create or edit form.
#[derive(Template)]
#[template(path = "doc_form.html")]
pub struct DocFormPage {
    /// Chrome.
    pub c: Chrome,
    /// Type code.
    pub code: String,
    /// Type label.
    pub label: String,
    /// Id as text when editing.
    pub id: Option<String>,
    /// Number when editing.
    pub number: String,
    /// Where the form posts.
    pub action: String,
    /// Version when editing.
    pub version: i64,
    /// Header inputs.
    pub header: Vec<HeaderInput>,
    /// Column labels of the line rows.
    pub columns: Vec<String>,
    /// Line rows.
    pub rows: Vec<LineInputRow>,
    /// How many rows are shown (posted back so "more" adds to it).
    pub row_count: usize,
    /// Suggestion lists.
    pub suggestions: Vec<Suggestions>,
    /// Messages that belong to no one field.
    pub form_errors: Vec<String>,
    /// May save.
    pub can_save: bool,
    /// How the lines are filled in, for a type that derives part of them (empty otherwise).
    pub hint: String,
    /// Whether the form offers to reload the receivables it may settle.
    pub can_refresh: bool,
}

/// Up to this many suggestions per list.
const SUGGESTIONS: i64 = 200;

/// The codes of `kind` with their names in `locale`, for a datalist `dl-<kind>`.
pub(crate) async fn suggestions(
    state: &AppState,
    locale: &str,
    kind: &str,
) -> Result<Suggestions, AppError> {
    let mut options = Vec::new();
    if let Some(def) = entities::by_kind(kind) {
        let q = ListQuery { page: 1, per_page: SUGGESTIONS, ..ListQuery::default() };
        let page = master::list(&state.db, def, &q).await?;
        let name_field = if locale == "en" { "name_en" } else { "name_zh" };
        for r in page.rows {
            let Some(code) = r.values.get("code").map(|v| v.to_input()) else { continue };
            let name = r
                .values
                .get(name_field)
                .or_else(|| r.values.get("name"))
                .map(|v| v.to_input())
                .unwrap_or_default();
            options.push((code, name));
        }
    }
    Ok(Suggestions { id: format!("dl-{kind}"), options })
}

struct FormSpec<'a> {
    t: &'a DocType,
    id: Option<&'a Document>,
    input: &'a DraftInput,
    rows: usize,
    errors: &'a [FieldError],
    form_error: Option<String>,
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    spec: FormSpec<'_>,
) -> Result<Response, AppError> {
    let FormSpec { t, id: doc, input, rows, errors, form_error } = spec;
    let locale = user.user.locale.clone();
    let mut used = vec![false; errors.len()];
    let mut error_for = |name: &str| -> Option<String> {
        let i = errors.iter().position(|e| e.field == name)?;
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        errors.get(i).map(|e| i18n::rule_text(&locale, e))
    };

    let partner_kind = t.partner.unwrap_or("");
    let employees = user.can("employee", "admin", Action::Read);
    let header_spec: [(&str, &'static str, &str, bool); 7] = [
        ("doc_date", "date", "", true),
        ("partner", "text", partner_kind, t.partner.is_some()),
        ("salesperson", "text", if employees { "employee" } else { "" }, false),
        ("due_date", "date", "", false),
        ("reason", "text", "stock_reason", t.needs_reason),
        ("currency", "text", "currency", false),
        ("note", "textarea", "", false),
    ];
    // A new receipt reloads with the open invoices of the customer chosen.
    let settles = takes_line_field(t, "settles");
    let reload =
        if settles && doc.is_none() { format!("/d/{}/new", t.code) } else { String::new() };
    let header = header_spec
        .iter()
        .filter(|(name, ..)| *name != "partner" || t.partner.is_some())
        .filter(|(name, ..)| takes_header_field(t, name))
        // A receipt is paid, not due.
        .filter(|(name, ..)| !(settles && *name == "due_date"))
        .map(|(name, kind, list, required)| HeaderInput {
            name: (*name).to_owned(),
            label: if *name == "due_date" {
                i18n::tr(&locale, "sales_page.payment_due")
            } else {
                i18n::field_label(&locale, t.code, name)
            },
            input: kind,
            value: match *name {
                "doc_date" => input.doc_date.clone(),
                "partner" => input.partner.clone(),
                "currency" => input.currency.clone(),
                "reason" => input.reason.clone(),
                "salesperson" => input.salesperson.clone(),
                "due_date" => input.due_date.clone(),
                _ => input.note.clone(),
            },
            list: if list.is_empty() { String::new() } else { format!("dl-{list}") },
            required: *required,
            error: error_for(name),
            reload: if *name == "partner" { reload.clone() } else { String::new() },
        })
        .collect();

    // A receipt line is an invoice and an amount; other lines an item, its quantity and the
    // members the type takes.
    let all_cells: Vec<(&str, &'static str, &str)> = if settles {
        vec![("settles", "select", ""), ("unit_price", "number", ""), ("note", "text", "")]
    } else {
        vec![
            ("item", "text", "item"),
            ("quantity", "number", ""),
            ("unit", "text", "unit"),
            ("unit_price", "number", ""),
            ("discount_pct", "number", ""),
            ("warehouse", "text", "warehouse"),
            ("bin", "text", "bin"),
            ("to_warehouse", "text", "warehouse"),
            ("to_bin", "text", "bin"),
            ("lot", "text", ""),
            ("lot_expiry", "date", ""),
            ("book_qty", "number", ""),
            ("promised_date", "date", ""),
            ("due_date", "date", ""),
            ("note", "text", ""),
        ]
    };
    let cell_spec: Vec<(&str, &'static str, &str)> =
        all_cells.into_iter().filter(|(f, ..)| takes_line_field(t, f)).collect();
    let invoices = if settles { settle_choices(state, &locale, input).await? } else { Vec::new() };
    let priced = takes_line_field(t, "discount_pct");
    let placeholder = |field: &str| -> String {
        match field {
            "unit_price" if priced => i18n::tr(&locale, "sales_page.form.auto_price"),
            "discount_pct" if priced => i18n::tr(&locale, "sales_page.form.auto_discount"),
            _ => String::new(),
        }
    };
    let count = rows.max(input.lines.len().div_ceil(LINE_ROWS) * LINE_ROWS).clamp(1, MAX_ROWS);
    let blank = LineInput::default();
    let line_rows = (0..count)
        .map(|i| {
            let line = input.lines.get(i).unwrap_or(&blank);
            LineInputRow {
                index: i,
                cells: cell_spec
                    .iter()
                    .map(|(field, kind, list)| LineCell {
                        name: format!("lines[{i}].{field}"),
                        field: (*field).to_owned(),
                        label: i18n::field_label(&locale, t.code, field),
                        input: kind,
                        value: line.field(field).to_owned(),
                        list: if list.is_empty() { String::new() } else { format!("dl-{list}") },
                        error: error_for(&format!("lines[{i}].{field}")),
                        options: if *kind == "select" {
                            with_current(&invoices, line.field(field))
                        } else {
                            Vec::new()
                        },
                        placeholder: placeholder(field),
                    })
                    .collect(),
                source_line_id: line.source_line_id.clone(),
                source_error: error_for(&format!("lines[{i}].source_line_id")),
                autos: line
                    .autos()
                    .into_iter()
                    .map(|(k, v)| (format!("lines[{i}].{k}"), v.to_owned()))
                    .collect(),
            }
        })
        .collect();
    let mut columns: Vec<String> =
        cell_spec.iter().map(|(f, ..)| i18n::field_label(&locale, t.code, f)).collect();
    columns.insert(0, "#".to_owned());
    columns.push(i18n::field_label(&locale, t.code, "source_line_id"));

    let mut form_errors: Vec<String> = form_error.into_iter().collect();
    form_errors.extend(
        errors
            .iter()
            .zip(&used)
            .filter(|(_, used)| !**used)
            .map(|(e, _)| i18n::field_error(&locale, t.code, e)),
    );
    let mut lists = Vec::new();
    let mut kinds: Vec<&str> = vec!["item", "unit", "warehouse", "currency"];
    kinds.extend(t.partner);
    if employees && takes_header_field(t, "salesperson") {
        kinds.push("employee");
    }
    if t.stock_fields.contains(&"bin") {
        kinds.push("bin");
    }
    if t.needs_reason {
        kinds.push("stock_reason");
    }
    for kind in kinds {
        lists.push(suggestions(state, &locale, kind).await?);
    }
    let label = i18n::entity_label(&locale, t.code);
    let (action, can_save) = match doc {
        Some(d) => (
            format!("/d/{}/{}/edit", t.code, d.id),
            d.state.editable() && user.can(t.code, t.area, Action::Update),
        ),
        None => (format!("/d/{}/new", t.code), user.can(t.code, t.area, Action::Create)),
    };
    render(&DocFormPage {
        c: chrome(state, user, &label),
        code: t.code.to_owned(),
        label,
        id: doc.map(|d| d.id.to_string()),
        number: doc.map(|d| d.number.clone()).unwrap_or_default(),
        action,
        version: doc.map_or(0, |d| d.version),
        header,
        columns,
        rows: line_rows,
        row_count: count,
        suggestions: lists,
        form_errors,
        can_save,
        hint: if priced {
            i18n::tr(&locale, "sales_page.form.hint_priced")
        } else if settles {
            i18n::tr(&locale, "sales_page.form.hint_receipt")
        } else {
            String::new()
        },
        can_refresh: settles,
    })
}

/// What a receipt of `input`'s customer can settle, as select choices: the empty choice, then
/// each open invoice or credit note with its date and what is open of it.
async fn settle_choices(
    state: &AppState,
    locale: &str,
    input: &DraftInput,
) -> Result<Vec<(String, String)>, AppError> {
    let mut out = vec![(String::new(), i18n::tr(locale, "sales_page.form.choose_invoice"))];
    let partner = input.partner.trim().to_uppercase();
    if partner.is_empty() {
        return Ok(out);
    }
    for o in papilio_store::sales::open_invoices(&state.db, &partner).await? {
        let params = [
            ("number".to_owned(), o.number.clone()),
            ("date".to_owned(), o.doc_date.map(|d| d.to_string()).unwrap_or_default()),
            ("open".to_owned(), crate::pages::sales::money(o.open_amount)),
            ("currency".to_owned(), o.currency.clone().unwrap_or_default()),
            ("type".to_owned(), i18n::tr(locale, &format!("sales_page.kind.{}", o.doc_type))),
        ];
        out.push((
            o.document_id.to_string(),
            i18n::tr_with(locale, "sales_page.form.open_invoice", &params),
        ));
    }
    Ok(out)
}

/// `options` with `current` added when it is not one of them (a draft settling an invoice
/// that has since been settled elsewhere still shows what it holds).
fn with_current(options: &[(String, String)], current: &str) -> Vec<(String, String)> {
    let current = current.trim();
    let mut out = options.to_vec();
    if !current.is_empty() && !out.iter().any(|(v, _)| v == current) {
        out.push((current.to_owned(), format!("#{current}")));
    }
    out
}

/// The input a push-down starts from: the source's partner and currency, and its open lines
/// with their open quantities. A type that links without carrying (a return) starts from
/// what the source line still allows: its quantity less what live documents of the type
/// already link to it. A receipt starts from one line settling what is open of the invoice.
async fn push_down_input(
    state: &AppState,
    user: &CurrentUser,
    target: &DocType,
    from: &str,
) -> Result<DraftInput, AppError> {
    let source = documents::get(&state.db, parse_id(from)?).await?;
    let source_type = doc_type(state, &source.doc_type)?;
    require(user, &source_type, Action::Read)?;
    if takes_line_field(target, "settles") {
        return settle_input(state, &source).await;
    }
    if !target.sources.contains(&source_type.code) {
        return Err(invalid("from", "document.source_type_not_allowed"));
    }
    let linked = if target.carries {
        Default::default()
    } else {
        papilio_store::sales::linked_quantities(&state.db, target.code, source.id).await?
    };
    let mut input = DraftInput::from_document(&source);
    input.note = String::new();
    input.doc_date = chrono::Local::now().date_naive().to_string();
    // Where the target derives prices (and promises) from its source, what the source line
    // holds is filled in as derived, so that saving it unchanged inherits it with its reason.
    let derives = target.prepare.is_some();
    input.lines = input
        .lines
        .into_iter()
        .zip(&source.lines)
        .filter_map(|(mut li, l)| {
            let open = if target.carries {
                l.open_qty()
            } else {
                l.quantity - linked.get(&l.id).copied().unwrap_or_default()
            };
            if open <= Decimal::ZERO {
                return None;
            }
            li.quantity = open.normalize().to_string();
            li.source_line_id = l.id.to_string();
            if derives {
                li.auto_price = li.unit_price.clone();
                li.auto_discount = li.discount_pct.clone();
                li.auto_promised = li.promised_date.clone();
            }
            Some(li)
        })
        .collect();
    Ok(input)
}

/// A receipt settling what is still open of invoice (or credit note) `source`.
async fn settle_input(state: &AppState, source: &Document) -> Result<DraftInput, AppError> {
    let open = papilio_store::sales::open_item(&state.db, source.id)
        .await?
        .filter(|o| !o.open_amount.is_zero())
        .ok_or_else(|| invalid("from", "sales.not_an_open_invoice"))?;
    Ok(DraftInput {
        doc_date: chrono::Local::now().date_naive().to_string(),
        partner: source.partner.clone().unwrap_or_default(),
        currency: source.currency.clone().unwrap_or_default(),
        salesperson: source.salesperson.clone().unwrap_or_default(),
        lines: vec![LineInput {
            settles: source.id.to_string(),
            unit_price: open.open_amount.abs().normalize().to_string(),
            ..LineInput::default()
        }],
        ..DraftInput::default()
    })
}

/// A receipt of `partner` settling everything still open of theirs, each line ready to be
/// changed or cleared.
async fn settle_all_input(
    state: &AppState,
    partner: &str,
    doc_date: String,
) -> Result<DraftInput, AppError> {
    let partner = partner.trim().to_uppercase();
    let open = papilio_store::sales::open_invoices(&state.db, &partner).await?;
    Ok(DraftInput {
        doc_date,
        currency: open.first().and_then(|o| o.currency.clone()).unwrap_or_default(),
        lines: open
            .iter()
            .map(|o| LineInput {
                settles: o.document_id.to_string(),
                unit_price: o.open_amount.abs().normalize().to_string(),
                ..LineInput::default()
            })
            .collect(),
        partner,
        ..DraftInput::default()
    })
}

async fn new_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Create)?;
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let doc_date = param("doc_date")
        .map(str::to_owned)
        .unwrap_or_else(|| chrono::Local::now().date_naive().to_string());
    let input = match (param("from"), param("partner")) {
        (Some(from), _) => push_down_input(&state, &user, &t, from).await?,
        // A receipt for a chosen customer starts from what that customer still owes.
        (None, Some(partner)) if takes_line_field(&t, "settles") => {
            settle_all_input(&state, partner, doc_date).await?
        }
        (None, partner) => DraftInput {
            doc_date,
            partner: partner.map(str::to_uppercase).unwrap_or_default(),
            ..DraftInput::default()
        },
    };
    let spec =
        FormSpec { t: &t, id: None, input: &input, rows: LINE_ROWS, errors: &[], form_error: None };
    form_page(&state, &user, spec).await
}

async fn edit_form(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Update)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    if !doc.state.editable() {
        return Ok(Redirect::to(&format!("/d/{code}/{}", doc.id)).into_response());
    }
    let input = if t.prepare.is_some() && !takes_line_field(&t, "settles") {
        DraftInput::for_editing(&doc)
    } else {
        DraftInput::from_document(&doc)
    };
    let spec = FormSpec {
        t: &t,
        id: Some(&doc),
        input: &input,
        rows: LINE_ROWS,
        errors: &[],
        form_error: None,
    };
    form_page(&state, &user, spec).await
}

/// What a failed save shows: field messages by their fields, the rest on top.
fn split_error(
    locale: &str,
    e: AppError,
) -> Result<(Vec<FieldError>, Option<String>, StatusCode), AppError> {
    match e {
        AppError::Invalid(fields) => Ok((fields, None, StatusCode::UNPROCESSABLE_ENTITY)),
        other => {
            let (status, message) = shown_refusal(locale, other)?;
            Ok((Vec::new(), Some(message), status))
        }
    }
}

async fn save(
    state: &AppState,
    user: &CurrentUser,
    t: &DocType,
    doc: Option<Document>,
    pairs: Vec<(String, String)>,
) -> Result<Response, AppError> {
    let refresh = pairs.iter().any(|(k, _)| k == "_refresh");
    let (mut input, version, rows, more) = DraftInput::from_form(pairs);
    // Asked to show a receipt's open invoices again: with no line chosen yet, offer to settle
    // all of them.
    if refresh && input.lines.is_empty() && !input.partner.trim().is_empty() {
        let all = settle_all_input(state, &input.partner, input.doc_date.clone()).await?;
        if input.currency.trim().is_empty() {
            input.currency = all.currency;
        }
        input.partner = all.partner;
        input.lines = all.lines;
    }
    let spec = |errors, form_error, rows| FormSpec {
        t,
        id: doc.as_ref(),
        input: &input,
        rows,
        errors,
        form_error,
    };
    if more {
        return form_page(state, user, spec(&[], None, (rows + LINE_ROWS).min(MAX_ROWS))).await;
    }
    if refresh {
        return form_page(state, user, spec(&[], None, rows)).await;
    }
    let actor = user.actor();
    let result = match input.parse() {
        Err(errors) => Err(AppError::Invalid(errors)),
        Ok(draft) => match &doc {
            None => documents::create(&state.db, t, &draft, &actor).await,
            Some(d) => documents::update_draft(&state.db, t, d.id, version, &draft, &actor).await,
        }
        .map_err(AppError::from),
    };
    match result {
        Ok(saved) => Ok(Redirect::to(&format!("/d/{}/{}", t.code, saved.id)).into_response()),
        Err(e) => {
            let (errors, form_error, status) = split_error(&user.user.locale, e)?;
            let mut page = form_page(state, user, spec(&errors, form_error, rows)).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Create)?;
    save(&state, &user, &t, None, pairs).await
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Update)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    save(&state, &user, &t, Some(doc), pairs).await
}

// ---------------------------------------------------------------------------------------------
// Flow, audit, inbox.

/// One document of a flow as shown.
#[derive(Debug, Clone)]
pub struct FlowRow {
    /// Distance: negative upstream, 0 itself, positive downstream.
    pub depth: i32,
    /// Indentation in `em`.
    pub indent: i32,
    /// Type label.
    pub type_label: String,
    /// Number.
    pub number: String,
    /// Link, when the viewer may read that type.
    pub href: Option<String>,
    /// State code.
    pub state: String,
    /// State, translated.
    pub state_label: String,
    /// Whether it is the document the flow is of.
    pub current: bool,
}

/// The chain a document belongs to.
#[derive(Template)]
#[template(path = "doc_flow.html")]
pub struct DocFlowPage {
    /// Chrome.
    pub c: Chrome,
    /// Type label of the document.
    pub label: String,
    /// Its number.
    pub number: String,
    /// Link back to it.
    pub back: String,
    /// Upstream first, then itself, then downstream.
    pub rows: Vec<FlowRow>,
}

async fn flow(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    let locale = user.user.locale.clone();
    let nodes = documents::flow(&state.db, doc.id).await?;
    let min = nodes.iter().map(|n| n.depth).min().unwrap_or(0);
    let rows = nodes
        .into_iter()
        .map(|n| {
            let readable = state
                .docs
                .get(&n.doc_type)
                .is_some_and(|nt| user.can(nt.code, nt.area, Action::Read));
            FlowRow {
                depth: n.depth,
                indent: (n.depth - min) * 2,
                type_label: i18n::entity_label(&locale, &n.doc_type),
                href: readable.then(|| format!("/d/{}/{}", n.doc_type, n.id)),
                // The number of a document the viewer may not read stays hidden.
                number: if readable { n.number } else { "—".to_owned() },
                state_label: state_label(&locale, &n.state),
                state: n.state,
                current: n.id == doc.id,
            }
        })
        .collect();
    let label = i18n::entity_label(&locale, t.code);
    render(&DocFlowPage {
        c: chrome(&state, &user, &i18n::tr(&locale, "doc.flow")),
        label,
        number: doc.number.clone(),
        back: format!("/d/{code}/{}", doc.id),
        rows,
    })
}

async fn audit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    let entries = papilio_store::audit::trail(&state.db, "document", doc.id).await?;
    let subject = format!("{} {}", i18n::entity_label(&user.user.locale, t.code), doc.number);
    crate::pages::admin::audit_page(
        &state,
        &user,
        &subject,
        &format!("/d/{code}/{}", doc.id),
        entries,
    )
}

/// One document waiting for the viewer's approval.
#[derive(Debug, Clone)]
pub struct InboxRow {
    /// Type label.
    pub type_label: String,
    /// Number.
    pub number: String,
    /// Link.
    pub href: String,
    /// Partner.
    pub partner: String,
    /// Date.
    pub doc_date: String,
    /// Who created it.
    pub created_by: String,
    /// Since when it waits (last change).
    pub updated_at: String,
    /// Why it needs a particular approver: (reason, role).
    pub reasons: Vec<(String, String)>,
}

/// What waits for the viewer's approval.
#[derive(Template)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    /// Chrome.
    pub c: Chrome,
    /// Documents.
    pub rows: Vec<InboxRow>,
}

async fn inbox(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let locale = user.user.locale.clone();
    let entries = inbox_entries(&state, &user).await?;
    let rows: Vec<InboxRow> = entries
        .into_iter()
        .map(|e| {
            let d = e.document;
            InboxRow {
                type_label: i18n::entity_label(&locale, &d.doc_type),
                href: format!("/d/{}/{}", d.doc_type, d.id),
                number: d.number,
                partner: d.partner.unwrap_or_default(),
                doc_date: d.doc_date.to_string(),
                created_by: d.created_by,
                updated_at: d.updated_at,
                reasons: e
                    .requests
                    .iter()
                    .map(|r| (reason(&locale, r), role_label(&locale, &r.role)))
                    .collect(),
            }
        })
        .collect();
    let mut c = chrome(&state, &user, &i18n::tr(&locale, "inbox.title"));
    c.inbox_count = rows.len();
    render(&InboxPage { c, rows })
}
