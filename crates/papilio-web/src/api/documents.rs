//! Document API: create, read, update drafts, move through the life cycle, flow, audit, inbox.
//!
//! Every route works for any registered document type; the type code in the path is the
//! permission resource. Bodies are parsed member by member so that an unknown member or a
//! value of the wrong type is refused with the member's name (`lines[0].quantity`).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use papilio_core::FieldError;
use papilio_core::access::Action;
use papilio_core::document::DocAction;
use papilio_store::documents::{self, ApprovalRequest, DocType, Document, Line};
use serde_json::{Map, Value as Json, json};

use crate::AppState;
use crate::api::{json_object, scalar_text, take_version};
use crate::ctx::CurrentUser;
use crate::error::AppError;
use crate::pages::documents::{
    DraftInput, LineInput, allowed_actions, doc_query, doc_type, inbox_entries, load, reason,
    require, role_label,
};
use crate::pages::master::parse_id;

/// `/api/v1/documents/...` and `/api/v1/inbox` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/documents/{doc_type}", get(list).post(create))
        .route("/documents/{doc_type}/{id}", get(read).put(update))
        .route("/documents/{doc_type}/{id}/flow", get(flow))
        .route("/documents/{doc_type}/{id}/history", get(history))
        .route("/documents/{doc_type}/{id}/approvals", get(approvals))
        .route("/documents/{doc_type}/{id}/audit", get(audit))
        .route("/documents/{doc_type}/{id}/{action}", post(act))
        .route("/inbox", get(inbox))
}

fn dec(d: rust_decimal::Decimal) -> Json {
    Json::String(d.normalize().to_string())
}

fn line_json(l: &Line) -> Json {
    json!({
        "id": l.id.to_string(),
        "line_no": l.line_no,
        "item": l.item,
        "quantity": dec(l.quantity),
        "unit": l.unit,
        "unit_price": l.unit_price.map(dec),
        "amount": l.amount.map(dec),
        "warehouse": l.warehouse,
        "due_date": l.due_date.map(|d| d.to_string()),
        "note": l.note,
        "source_line_id": l.source_line_id.map(|i| i.to_string()),
        "carried_qty": dec(l.carried_qty),
        "open_qty": dec(l.open_qty()),
        "bin": l.stock.bin,
        "to_warehouse": l.stock.to_warehouse,
        "to_bin": l.stock.to_bin,
        "lot": l.stock.lot,
        "lot_expiry": l.stock.lot_expiry.map(|d| d.to_string()),
        "book_qty": l.stock.book_qty.map(dec),
        "list_price": l.trade.list_price.map(dec),
        "discount_pct": l.trade.discount_pct.map(dec),
        "promised_date": l.trade.promised_date.map(|d| d.to_string()),
        "est_unit_cost": l.trade.est_unit_cost.map(dec),
        "cost_basis": l.trade.cost_basis,
        "explain": l.trade.explain,
        "settles": l.trade.settles.map(|i| i.to_string()),
    })
}

/// A document header as JSON (lists carry no lines).
pub fn header_json(doc: &Document) -> Json {
    json!({
        "id": doc.id.to_string(),
        "doc_type": doc.doc_type,
        "number": doc.number,
        "state": doc.state.code(),
        "version": doc.version,
        "doc_date": doc.doc_date.to_string(),
        "partner": doc.partner,
        "currency": doc.currency,
        "note": doc.note,
        "reason": doc.reason,
        "salesperson": doc.salesperson,
        "due_date": doc.due_date.map(|d| d.to_string()),
        "created_by": doc.created_by,
        "created_at": doc.created_at,
        "updated_at": doc.updated_at,
    })
}

/// A whole document as JSON: header, total, lines, and the actions `user` may take now.
pub fn document_json(user: &CurrentUser, t: &DocType, doc: &Document) -> Json {
    let mut out = header_json(doc);
    if let Json::Object(map) = &mut out {
        map.insert("total".into(), dec(doc.total()));
        map.insert("lines".into(), Json::Array(doc.lines.iter().map(line_json).collect()));
        let actions: Vec<&str> =
            allowed_actions(user, t, doc.state).into_iter().map(DocAction::code).collect();
        map.insert("actions".into(), json!(actions));
    }
    out
}

fn approval_json(locale: &str, a: &ApprovalRequest) -> Json {
    json!({
        "rule": a.rule,
        "role": a.role,
        "role_label": role_label(locale, &a.role),
        "params": a.params,
        "reason": reason(locale, a),
        "status": a.status,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
    })
}

/// Reads a draft body: the header members, `lines` as an array of objects. Every unknown
/// member and every value of the wrong type is named.
pub fn draft_input(map: Map<String, Json>) -> Result<DraftInput, AppError> {
    let mut input = DraftInput::default();
    let mut errors = Vec::new();
    for (key, value) in map {
        if key == "lines" {
            match value {
                Json::Array(lines) => {
                    for (i, line) in lines.into_iter().enumerate() {
                        input.lines.push(line_input(i, line, &mut errors));
                    }
                }
                Json::Null => {}
                _ => errors.push(FieldError::new("lines", "field.wrong_type")),
            }
            continue;
        }
        match input.field_mut(&key) {
            Some(slot) => match scalar_text(&key, &value) {
                Ok(text) => *slot = text,
                Err(e) => errors.push(e),
            },
            None => errors.push(FieldError::new(key, "field.unknown")),
        }
    }
    if errors.is_empty() { Ok(input) } else { Err(AppError::Invalid(errors)) }
}

fn line_input(i: usize, value: Json, errors: &mut Vec<FieldError>) -> LineInput {
    let mut line = LineInput::default();
    let Json::Object(map) = value else {
        errors.push(FieldError::new(format!("lines[{i}]"), "field.wrong_type"));
        return line;
    };
    for (key, value) in map {
        let name = format!("lines[{i}].{key}");
        let Some(slot) = line.field_mut(&key) else {
            errors.push(FieldError::new(name, "field.unknown"));
            continue;
        };
        match (key.as_str(), &value) {
            // Numbers must be numbers or numeric text; `true` is no quantity.
            ("quantity" | "unit_price" | "discount_pct", Json::Bool(_)) => {
                errors.push(FieldError::new(name, "field.not_decimal"));
            }
            ("source_line_id" | "settles", Json::Bool(_)) => {
                errors.push(FieldError::new(name, "field.not_integer"));
            }
            _ => match scalar_text(&name, &value) {
                Ok(text) => *slot = text,
                Err(e) => errors.push(e),
            },
        }
    }
    line
}

/// Parses a draft body all the way to a storage draft.
fn parse_draft(map: Map<String, Json>) -> Result<documents::Draft, AppError> {
    draft_input(map)?.parse().map_err(AppError::Invalid)
}

/// Refuses the members document type `t` does not take: stock fields on a type without them,
/// a reason where none is asked for.
fn check_members(t: &DocType, map: &Map<String, Json>) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for key in ["reason", "salesperson", "due_date"] {
        if !crate::pages::documents::takes_header_field(t, key)
            && map.get(key).is_some_and(|v| !v.is_null())
        {
            errors.push(FieldError::new(key, "field.unknown"));
        }
    }
    if let Some(Json::Array(lines)) = map.get("lines") {
        for (i, line) in lines.iter().enumerate() {
            let Json::Object(line) = line else { continue };
            for key in line.keys() {
                if !crate::pages::documents::takes_line_field(t, key) {
                    errors.push(FieldError::new(format!("lines[{i}].{key}"), "field.unknown"));
                }
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(AppError::Invalid(errors)) }
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let q = doc_query(&params)?;
    let page = documents::list(&state.db, t.code, &q).await?;
    Ok(axum::Json(json!({
        "data": page.rows.iter().map(header_json).collect::<Vec<_>>(),
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    }))
    .into_response())
}

/// Creates a draft; with `?then=submit` or `?then=approve` it also submits (and approves, when
/// no approval request needs a role the caller lacks) in the same transaction.
async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(code): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Create)?;
    let then = match params.iter().find(|(k, _)| k == "then").map(|(_, v)| v.as_str()) {
        None | Some("") => None,
        Some("submit") => Some(documents::Advance::Submit),
        Some("approve") => Some(documents::Advance::Approve),
        Some(_) => {
            return Err(AppError::Invalid(vec![
                FieldError::new("then", "field.not_choice").with("options", "submit, approve"),
            ]));
        }
    };
    if then.is_some() {
        require(&user, &t, Action::Submit)?;
    }
    if then == Some(documents::Advance::Approve) {
        require(&user, &t, Action::Approve)?;
    }
    let map = json_object(&headers, &body)?;
    check_members(&t, &map)?;
    let draft = parse_draft(map)?;

    let doc = match then {
        None => documents::create(&state.db, &t, &draft, &user.actor()).await?,
        Some(until) => {
            documents::create_and_advance(&state.db, &t, &draft, &user.actor(), until).await?
        }
    };
    Ok((StatusCode::CREATED, axum::Json(document_json(&user, &t, &doc))).into_response())
}

async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    Ok(axum::Json(document_json(&user, &t, &doc)).into_response())
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Update)?;
    let id = parse_id(&id)?;
    let mut map = json_object(&headers, &body)?;
    // A client may send back the id it read; anything else unknown is refused.
    map.remove("id");
    let version = take_version(&mut map)?;
    check_members(&t, &map)?;
    let draft = parse_draft(map)?;

    let doc = documents::update_draft(&state.db, &t, id, version, &draft, &user.actor()).await?;
    Ok(axum::Json(document_json(&user, &t, &doc)).into_response())
}

async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    let action = DocAction::from_code(&action).ok_or(AppError::NotFound)?;
    require(&user, &t, action.permission())?;
    let id = parse_id(&id)?;
    let mut map = json_object(&headers, &body)?;
    let version = take_version(&mut map)?;
    let mut comment = None;
    let mut errors = Vec::new();
    for (key, value) in map {
        if key != "comment" {
            errors.push(FieldError::new(key, "field.unknown"));
            continue;
        }
        match scalar_text("comment", &value) {
            Ok(text) if text.chars().count() > 2000 => {
                errors.push(FieldError::new("comment", "field.too_long").with("max", 2000));
            }
            Ok(text) => comment = Some(text).filter(|c| !c.trim().is_empty()),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }

    let doc = documents::transition(
        &state.db,
        &t,
        id,
        version,
        action,
        &user.actor(),
        comment.as_deref(),
    )
    .await?;
    Ok(axum::Json(document_json(&user, &t, &doc)).into_response())
}

async fn flow(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    let nodes = documents::flow(&state.db, doc.id).await?;
    let data: Vec<Json> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id.to_string(),
                "doc_type": n.doc_type,
                "number": n.number,
                "state": n.state,
                "depth": n.depth,
            })
        })
        .collect();
    Ok(axum::Json(json!({"data": data})).into_response())
}

async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    let steps = documents::history(&state.db, doc.id).await?;
    let data: Vec<Json> = steps
        .iter()
        .map(|s| {
            json!({
                "from": s.from,
                "action": s.action,
                "to": s.to,
                "user": s.user,
                "at": s.at,
                "comment": s.comment,
            })
        })
        .collect();
    Ok(axum::Json(json!({"data": data})).into_response())
}

async fn approvals(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let t = doc_type(&state, &code)?;
    require(&user, &t, Action::Read)?;
    let doc = load(&state, &t, parse_id(&id)?).await?;
    let requests = documents::approval_requests(&state.db, doc.id).await?;
    let locale = &user.user.locale;
    let data: Vec<Json> = requests.iter().map(|a| approval_json(locale, a)).collect();
    Ok(axum::Json(json!({"data": data})).into_response())
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
    let data: Vec<Json> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id.to_string(),
                "action": e.action,
                "user": e.user,
                "at": e.at,
                "before": e.before,
                "after": e.after,
            })
        })
        .collect();
    Ok(axum::Json(json!({"data": data})).into_response())
}

async fn inbox(State(state): State<AppState>, user: CurrentUser) -> Result<Response, AppError> {
    let entries = inbox_entries(&state, &user).await?;
    let locale = &user.user.locale;
    let data: Vec<Json> = entries
        .iter()
        .map(|e| {
            let mut doc = header_json(&e.document);
            if let Json::Object(map) = &mut doc {
                let reasons: Vec<Json> =
                    e.requests.iter().map(|a| approval_json(locale, a)).collect();
                map.insert("reasons".into(), Json::Array(reasons));
            }
            doc
        })
        .collect();
    let total = data.len();
    Ok(axum::Json(json!({"data": data, "total": total})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::documents::{HEADER_FIELDS, LINE_FIELDS};

    fn fields(e: AppError) -> Vec<(String, String)> {
        match e {
            AppError::Invalid(f) => f.into_iter().map(|f| (f.field, f.rule)).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    fn object(v: Json) -> Map<String, Json> {
        match v {
            Json::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn unknown_members_and_wrong_types_are_named() {
        let body = object(json!({
            "doc_date": "2026-12-03", "colour": "red",
            "lines": [{"item": "A", "quantity": true, "size": 3}, 5, {"quantity": [1]}],
        }));
        let mut got = fields(draft_input(body).unwrap_err());
        got.sort();
        assert_eq!(
            got,
            vec![
                ("colour".to_owned(), "field.unknown".to_owned()),
                ("lines[0].quantity".to_owned(), "field.not_decimal".to_owned()),
                ("lines[0].size".to_owned(), "field.unknown".to_owned()),
                ("lines[1]".to_owned(), "field.wrong_type".to_owned()),
                ("lines[2].quantity".to_owned(), "field.wrong_type".to_owned()),
            ]
        );
    }

    #[test]
    fn numbers_and_text_parse_exactly() {
        let body = object(json!({
            "doc_date": "2026-12-03",
            "lines": [{"quantity": 10, "unit_price": "99.5", "source_line_id": "42"}],
        }));
        let draft = parse_draft(body).unwrap();
        let line = &draft.lines[0];
        assert_eq!(line.quantity.to_string(), "10");
        assert_eq!(line.unit_price.unwrap().to_string(), "99.5");
        assert_eq!(line.source_line_id, Some(42));

        let bad = object(json!({"doc_date": "3 Dec", "lines": [{"quantity": "ten"}]}));
        let mut got = fields(parse_draft(bad).unwrap_err());
        got.sort();
        assert_eq!(
            got,
            vec![
                ("doc_date".to_owned(), "field.not_date".to_owned()),
                ("lines[0].quantity".to_owned(), "field.not_decimal".to_owned()),
            ]
        );
    }

    #[test]
    fn header_and_line_member_lists_match_the_parser() {
        let mut input = DraftInput::default();
        assert!(HEADER_FIELDS.iter().all(|f| input.field_mut(f).is_some()));
        let mut line = LineInput::default();
        assert!(LINE_FIELDS.iter().all(|f| line.field_mut(f).is_some()));
    }
}
