//! The document framework through the HTTP API and pages, with two test document types: an
//! order that needs the sales manager above 10 000, and a shipment pushed down from it.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use papilio_core::document::{DatePart, NumberFormat};
use papilio_store::documents::{ApprovalRule, DocType, Document, Registry};
use papilio_store::{Conn, TxFuture};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};

use crate::support::{TestApp, TestClient, TestResponse, basic_master_data};

/// Sends orders over 10 000 to the sales manager.
struct BigOrder;

impl ApprovalRule for BigOrder {
    fn code(&self) -> &'static str {
        "test_big_order"
    }

    fn required_role(&self) -> &'static str {
        "sales_manager"
    }

    fn check<'c>(&'c self, _conn: &'c mut Conn, doc: &'c Document) -> TxFuture<'c, Option<Json>> {
        Box::pin(async move {
            let total = doc.total();
            Ok((total > Decimal::from(10_000))
                .then(|| json!({"total": total.normalize().to_string(), "limit": "10000"})))
        })
    }
}

/// Two types under the codes of the real sales order and delivery (so the built-in roles' grants
/// apply to them), with a rule and numbering of their own.
fn registry() -> Registry {
    let mut docs = Registry::default();
    docs.register(DocType {
        code: "sales_order",
        area: "sales",
        number: NumberFormat { prefix: "TO", date_part: DatePart::Year, width: 6 },
        partner: Some("customer"),
        sources: &[],
        over_tolerance_pct: Decimal::ZERO,
        rules: vec![std::sync::Arc::new(BigOrder)],
        hooks: None,
        stock_fields: &[],
        needs_reason: false,
        trade_fields: &[],
        carries: true,
        prepare: None,
    });
    docs.register(DocType {
        code: "sales_delivery",
        area: "sales",
        number: NumberFormat { prefix: "TS", date_part: DatePart::YearMonth, width: 4 },
        partner: Some("customer"),
        sources: &["sales_order"],
        over_tolerance_pct: Decimal::ZERO,
        rules: Vec::new(),
        hooks: None,
        stock_fields: &[],
        needs_reason: false,
        trade_fields: &[],
        carries: true,
        prepare: None,
    });
    docs
}

/// The application with master data, a salesperson and a sales manager.
struct Scene {
    app: TestApp,
    admin: TestClient,
    sam: TestClient,
    boss: TestClient,
}

async fn scene() -> Scene {
    let app = TestApp::with_docs(registry()).await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    let sam = app.client("sam", &["salesperson"]).await;
    let boss = app.client("boss", &["sales_manager"]).await;
    Scene { app, admin, sam, boss }
}

const ORDERS: &str = "/api/v1/documents/sales_order";
const SHIPMENTS: &str = "/api/v1/documents/sales_delivery";

fn order_body(quantity: &str, price: &str) -> Json {
    json!({
        "doc_date": "2026-12-03",
        "partner": "C001",
        "currency": "CNY",
        "note": "test order",
        "lines": [{"item": "FAN-100", "quantity": quantity, "unit": "PCS", "unit_price": price,
                   "warehouse": "FG", "due_date": "2026-12-20"}],
    })
}

fn shipment_body(source_line: &str, quantity: &str) -> Json {
    json!({
        "doc_date": "2026-12-05",
        "partner": "C001",
        "lines": [{"item": "FAN-100", "quantity": quantity, "unit": "PCS",
                   "source_line_id": source_line}],
    })
}

fn id_of(doc: &Json) -> String {
    doc["id"].as_str().expect("id as a string").to_owned()
}

async fn created(client: &TestClient, path: &str, body: &Json) -> Json {
    let r = client.post(path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

async fn act(client: &TestClient, path: &str, doc: &Json, action: &str) -> TestResponse {
    let url = format!("{path}/{}/{action}", id_of(doc));
    client.post(&url, &json!({"version": doc["version"], "comment": format!("{action} it")})).await
}

async fn acted(client: &TestClient, path: &str, doc: &Json, action: &str) -> Json {
    let r = act(client, path, doc, action).await;
    assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.text());
    r.json()
}

async fn fetch(client: &TestClient, path: &str, doc: &Json) -> Json {
    let r = client.get(&format!("{path}/{}", id_of(doc))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// An approved order of `quantity` at `price`.
async fn approved_order(s: &Scene, quantity: &str, price: &str) -> Json {
    let order = created(&s.sam, ORDERS, &order_body(quantity, price)).await;
    let order = acted(&s.sam, ORDERS, &order, "submit").await;
    acted(&s.boss, ORDERS, &order, "approve").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creation_numbers_without_gaps_or_duplicates() {
    let s = scene().await;
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let sam = s.sam.clone();
            tokio::spawn(async move { sam.post(ORDERS, &order_body("1", "10")).await })
        })
        .collect();
    let mut numbers = Vec::new();
    for task in tasks {
        let r = task.await.expect("task");
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        numbers.push(r.json()["number"].as_str().unwrap_or_default().to_owned());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=30).map(|n| format!("TO2026-{n:06}")).collect();
    assert_eq!(numbers, expected);

    let list = s.sam.get(&format!("{ORDERS}?per_page=100")).await.json();
    assert_eq!(list["total"], 30);
    let next = created(&s.sam, ORDERS, &order_body("1", "10")).await;
    assert_eq!(next["number"], "TO2026-000031");
}

#[tokio::test]
async fn created_document_answers_with_strings_for_ids_and_decimals() {
    let s = scene().await;
    let order = created(&s.sam, ORDERS, &order_body("10", "99.5")).await;
    assert_eq!(order["number"], "TO2026-000001");
    assert_eq!(order["state"], "draft");
    assert_eq!(order["version"], 1);
    assert_eq!(order["total"], "995");
    assert_eq!(order["actions"], json!(["submit", "cancel"]));
    let line = &order["lines"][0];
    assert!(line["id"].is_string());
    assert_eq!(line["quantity"], "10");
    assert_eq!(line["unit_price"], "99.5");
    assert_eq!(line["amount"], "995");
    assert_eq!(line["carried_qty"], "0");
    assert_eq!(line["open_qty"], "10");
    assert_eq!(line["source_line_id"], Json::Null);

    let list = s.sam.get(&format!("{ORDERS}?state=draft&q=to2026")).await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["data"][0]["id"], order["id"]);
    let none = s.sam.get(&format!("{ORDERS}?state=approved")).await.json();
    assert_eq!(none["total"], 0);
    let bad = s.sam.get(&format!("{ORDERS}?state=lost")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["field"], "state");
    assert_eq!(s.sam.get("/api/v1/documents/no_such_type").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_bodies_name_the_member_and_write_nothing() {
    let s = scene().await;
    let mut unknown = order_body("1", "1");
    unknown["colour"] = json!("red");
    let r = s.sam.post(ORDERS, &unknown).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "colour");
    assert_eq!(r.json()["error"]["fields"][0]["code"], "field.unknown");

    let mut wrong = order_body("1", "1");
    wrong["lines"][0]["quantity"] = json!({"value": 1});
    let r = s.sam.post(ORDERS, &wrong).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "lines[0].quantity");

    let mut not_number = order_body("1", "1");
    not_number["lines"][0]["quantity"] = json!("many");
    let r = s.sam.post(ORDERS, &not_number).await;
    assert_eq!(r.json()["error"]["field"], "lines[0].quantity");
    assert_eq!(r.json()["error"]["fields"][0]["code"], "field.not_decimal");

    let mut negative = order_body("-3", "1");
    negative["lines"][0]["item"] = json!("NOPE");
    let r = s.sam.post(ORDERS, &negative).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "lines[0].quantity");

    let r = s.sam.post(ORDERS, &order_body("1", "1.0000001")).await;
    assert_eq!(r.json()["error"]["field"], "lines[0].unit_price");

    let r = s.sam.post(ORDERS, &json!({"doc_date": "2026-12-03", "partner": "C001"})).await;
    assert_eq!(r.json()["error"]["field"], "lines");

    let r = s
        .sam
        .post(
            ORDERS,
            &json!({"doc_date": "2026-12-03", "partner": "NOBODY",
        "lines": [{"quantity": "1"}]}),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "partner");
    assert_eq!(r.json()["error"]["fields"][0]["code"], "field.unknown_reference");

    let malformed = s
        .sam
        .send(Method::POST, ORDERS, &[("content-type", "application/json")], "{oops".into())
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "malformed_json");

    let list = s.sam.get(ORDERS).await.json();
    assert_eq!(list["total"], 0, "nothing was written");
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_change_nothing() {
    let s = scene().await;
    let order = created(&s.sam, ORDERS, &order_body("5", "10")).await;

    let r = act(&s.boss, ORDERS, &order, "approve").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.error_code(), "illegal_transition");
    assert_eq!(r.json()["error"]["message"], "A document in state draft cannot be approved.");
    let r = act(&s.boss, ORDERS, &order, "close").await;
    assert_eq!(r.error_code(), "illegal_transition");

    // The salesperson may not approve at all; unknown actions do not exist.
    let r = act(&s.sam, ORDERS, &order, "approve").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = act(&s.sam, ORDERS, &order, "teleport").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s
        .sam
        .post(&format!("{ORDERS}/{}/submit", id_of(&order)), &json!({"version": 1, "why": 1}))
        .await;
    assert_eq!(r.json()["error"]["field"], "why");

    let now = fetch(&s.sam, ORDERS, &order).await;
    assert_eq!(now["state"], "draft");
    assert_eq!(now["version"], 1);
    let history = s.sam.get(&format!("{ORDERS}/{}/history", id_of(&order))).await.json();
    assert_eq!(history["data"], json!([]));

    let cancelled = acted(&s.sam, ORDERS, &order, "cancel").await;
    let r = act(&s.sam, ORDERS, &cancelled, "submit").await;
    assert_eq!(r.error_code(), "illegal_transition");
}

#[tokio::test]
async fn push_down_stops_at_the_open_quantity() {
    let s = scene().await;
    let draft = created(&s.sam, ORDERS, &order_body("100", "1")).await;
    let line = draft["lines"][0]["id"].as_str().unwrap().to_owned();
    let r = s.sam.post(SHIPMENTS, &shipment_body(&line, "10")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["field"], "lines[0].source_line_id");
    assert_eq!(r.json()["error"]["fields"][0]["code"], "document.source_not_approved");

    let order = approved_order(&s, "100", "1").await;
    let line = order["lines"][0]["id"].as_str().unwrap().to_owned();
    let first = created(&s.sam, SHIPMENTS, &shipment_body(&line, "60")).await;
    assert_eq!(first["lines"][0]["source_line_id"], line.as_str());
    assert!(first["number"].as_str().unwrap().starts_with("TS202612-"));
    let now = fetch(&s.sam, ORDERS, &order).await;
    assert_eq!(now["lines"][0]["carried_qty"], "60");
    assert_eq!(now["lines"][0]["open_qty"], "40");

    let over = s.sam.post(SHIPMENTS, &shipment_body(&line, "41")).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", over.text());
    assert_eq!(over.error_code(), "over_carry");
    assert_eq!(over.json()["error"]["message"], "Line 1 has 40 open, but 41 was requested.");
    assert_eq!(fetch(&s.sam, ORDERS, &order).await["lines"][0]["carried_qty"], "60");

    created(&s.sam, SHIPMENTS, &shipment_body(&line, "40")).await;
    let now = fetch(&s.sam, ORDERS, &order).await;
    assert_eq!(now["lines"][0]["carried_qty"], "100");
    assert_eq!(now["lines"][0]["open_qty"], "0");
    let r = s.sam.post(SHIPMENTS, &shipment_body(&line, "0.000001")).await;
    assert_eq!(r.error_code(), "over_carry");

    // The unit must be the source line's.
    let mut boxed = shipment_body(&line, "1");
    boxed["lines"][0]["unit"] = json!("BOX");
    let r = s.sam.post(SHIPMENTS, &boxed).await;
    assert_eq!(r.json()["error"]["field"], "lines[0].unit");

    // Lowering a draft shipment gives the difference back.
    let first = fetch(&s.sam, SHIPMENTS, &first).await;
    let mut body = shipment_body(&line, "50");
    body["version"] = first["version"].clone();
    let r = s.sam.put(&format!("{SHIPMENTS}/{}", id_of(&first)), &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(fetch(&s.sam, ORDERS, &order).await["lines"][0]["open_qty"], "10");

    let flow = s.sam.get(&format!("{ORDERS}/{}/flow", id_of(&order))).await.json();
    let depths: Vec<i64> =
        flow["data"].as_array().unwrap().iter().map(|n| n["depth"].as_i64().unwrap()).collect();
    assert_eq!(depths, vec![0, 1, 1]);
    let up = s.sam.get(&format!("{SHIPMENTS}/{}/flow", id_of(&first))).await.json();
    assert_eq!(up["data"][0]["depth"], -1);
    assert_eq!(up["data"][0]["number"], order["number"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_push_downs_never_exceed_the_order() {
    let s = scene().await;
    let order = approved_order(&s, "100", "1").await;
    let line = order["lines"][0]["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let sam = s.sam.clone();
            let body = shipment_body(&line, "7");
            tokio::spawn(async move { sam.post(SHIPMENTS, &body).await })
        })
        .collect();
    let mut shipped = 0;
    for task in tasks {
        let r = task.await.expect("task");
        match r.status {
            StatusCode::CREATED => shipped += 7,
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(r.error_code(), "over_carry"),
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    // 14 shipments of 7 fit in 100; the other two are refused.
    assert_eq!(shipped, 98);
    let now = fetch(&s.sam, ORDERS, &order).await;
    assert_eq!(now["lines"][0]["carried_qty"], "98");
    let list = s.sam.get(SHIPMENTS).await.json();
    assert_eq!(list["total"], 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_down_racing_a_reverse_approval_never_both_win() {
    let s = scene().await;
    for round in 0..6 {
        let order = approved_order(&s, "10", "1").await;
        let line = order["lines"][0]["id"].as_str().unwrap().to_owned();
        let (sam, boss) = (s.sam.clone(), s.boss.clone());
        let push =
            tokio::spawn(async move { sam.post(SHIPMENTS, &shipment_body(&line, "1")).await });
        let order_now = order.clone();
        let undo = tokio::spawn(async move { act(&boss, ORDERS, &order_now, "unapprove").await });
        let (push, undo) = (push.await.expect("push"), undo.await.expect("undo"));
        let won = (push.status == StatusCode::CREATED, undo.status == StatusCode::OK);
        assert!(
            won == (true, false) || won == (false, true),
            "round {round}: push {} {}, unapprove {} {}",
            push.status,
            push.text(),
            undo.status,
            undo.text()
        );
        let state = fetch(&s.sam, ORDERS, &order).await["state"].clone();
        assert_eq!(state, if won.0 { "approved" } else { "submitted" });
    }
}

#[tokio::test]
async fn stale_edits_are_refused() {
    let s = scene().await;
    let order = created(&s.sam, ORDERS, &order_body("5", "10")).await;
    let url = format!("{ORDERS}/{}", id_of(&order));

    let mut first = order_body("6", "10");
    first["version"] = json!(1);
    first["note"] = json!("first edit");
    let r = s.sam.put(&url, &first).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.json()["lines"][0]["quantity"], "6");

    let mut second = order_body("7", "10");
    second["version"] = json!(1);
    second["note"] = json!("second edit");
    let r = s.sam.put(&url, &second).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "stale_version");
    let now = s.sam.get(&url).await.json();
    assert_eq!(now["note"], "first edit");
    assert_eq!(now["lines"][0]["quantity"], "6");
    assert_eq!(now["version"], 2);

    // An action with an old version is refused too; only drafts can be edited.
    let r = s.sam.post(&format!("{url}/submit"), &json!({"version": 1})).await;
    assert_eq!(r.error_code(), "stale_version");
    let submitted = acted(&s.sam, ORDERS, &now, "submit").await;
    let mut third = order_body("8", "10");
    third["version"] = submitted["version"].clone();
    let r = s.sam.put(&url, &third).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["fields"][0]["code"], "document.not_editable");
    let r = s.sam.put(&url, &order_body("8", "10")).await;
    assert_eq!(r.json()["error"]["field"], "version");
}

#[tokio::test]
async fn idempotent_replay_creates_one_document() {
    let s = scene().await;
    let body = order_body("3", "10").to_string();
    let headers = [("content-type", "application/json"), ("idempotency-key", "order-42")];
    let first = s.sam.send(Method::POST, ORDERS, &headers, Body::from(body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let again = s.sam.send(Method::POST, ORDERS, &headers, Body::from(body)).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers.get("idempotent-replay").unwrap(), "true");
    assert_eq!(again.json()["number"], first.json()["number"]);
    assert_eq!(again.json()["id"], first.json()["id"]);
    let list = s.sam.get(ORDERS).await.json();
    assert_eq!(list["total"], 1);

    // The same key on an action replays too: one transition.
    let doc = first.json();
    let url = format!("{ORDERS}/{}/submit", id_of(&doc));
    let submit = json!({"version": 1}).to_string();
    let headers = [("content-type", "application/json"), ("idempotency-key", "submit-1")];
    let a = s.sam.send(Method::POST, &url, &headers, Body::from(submit.clone())).await;
    let b = s.sam.send(Method::POST, &url, &headers, Body::from(submit)).await;
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let history = s.sam.get(&format!("{ORDERS}/{}/history", id_of(&doc))).await.json();
    assert_eq!(history["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reverse_approval_waits_for_downstream_documents_to_go() {
    let s = scene().await;
    let order = approved_order(&s, "100", "1").await;
    let line = order["lines"][0]["id"].as_str().unwrap().to_owned();
    let shipment = created(&s.sam, SHIPMENTS, &shipment_body(&line, "30")).await;

    let r = act(&s.boss, ORDERS, &order, "unapprove").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.error_code(), "in_use");
    assert_eq!(fetch(&s.sam, ORDERS, &order).await["state"], "approved");
    // The salesperson may not reverse approvals at all.
    assert_eq!(act(&s.sam, ORDERS, &order, "unapprove").await.status, StatusCode::FORBIDDEN);

    // Cancelling the shipment gives back what it carried.
    acted(&s.sam, SHIPMENTS, &shipment, "cancel").await;
    let now = fetch(&s.sam, ORDERS, &order).await;
    assert_eq!(now["lines"][0]["carried_qty"], "0");
    assert_eq!(now["lines"][0]["open_qty"], "100");

    let back = acted(&s.boss, ORDERS, &now, "unapprove").await;
    assert_eq!(back["state"], "submitted");
    let r = s.sam.post(SHIPMENTS, &shipment_body(&line, "1")).await;
    assert_eq!(r.json()["error"]["fields"][0]["code"], "document.source_not_approved");

    // A submitted shipment, cancelled, gives back too.
    let order = acted(&s.boss, ORDERS, &back, "approve").await;
    let shipment = created(&s.sam, SHIPMENTS, &shipment_body(&line, "25")).await;
    let shipment = acted(&s.sam, SHIPMENTS, &shipment, "submit").await;
    assert_eq!(fetch(&s.sam, ORDERS, &order).await["lines"][0]["open_qty"], "75");
    acted(&s.sam, SHIPMENTS, &shipment, "cancel").await;
    assert_eq!(fetch(&s.sam, ORDERS, &order).await["lines"][0]["open_qty"], "100");
}

#[tokio::test]
async fn approval_rule_routes_big_orders_to_the_sales_manager() {
    let s = scene().await;
    let vic = s.app.client("vic", &["vp_sales"]).await;
    let big = created(&s.sam, ORDERS, &order_body("200", "99.5")).await;
    assert_eq!(big["total"], "19900");
    let big = acted(&s.sam, ORDERS, &big, "submit").await;
    let small = created(&s.sam, ORDERS, &order_body("2", "99.5")).await;
    let small = acted(&s.sam, ORDERS, &small, "submit").await;

    let requests = s.sam.get(&format!("{ORDERS}/{}/approvals", id_of(&big))).await.json();
    let request = &requests["data"][0];
    assert_eq!(request["rule"], "test_big_order");
    assert_eq!(request["role"], "sales_manager");
    assert_eq!(request["status"], "open");
    assert_eq!(request["params"]["total"], "19900");
    let small_requests = s.sam.get(&format!("{ORDERS}/{}/approvals", id_of(&small))).await.json();
    assert_eq!(small_requests["data"], json!([]));

    // The salesperson approves nothing; the vice president may approve, but not this one.
    assert_eq!(s.sam.get("/api/v1/inbox").await.json()["total"], 0);
    let vic_inbox = vic.get("/api/v1/inbox").await.json();
    assert_eq!(vic_inbox["total"], 1);
    assert_eq!(vic_inbox["data"][0]["id"], small["id"]);
    let boss_inbox = s.boss.get("/api/v1/inbox").await.json();
    assert_eq!(boss_inbox["total"], 2);
    let entry = boss_inbox["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == big["id"])
        .expect("big order in the inbox")
        .clone();
    assert_eq!(entry["reasons"][0]["rule"], "test_big_order");
    assert_eq!(entry["reasons"][0]["params"]["limit"], "10000");
    let reason = entry["reasons"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("test_big_order") && reason.contains("19900"), "{reason}");

    assert_eq!(act(&s.sam, ORDERS, &big, "approve").await.status, StatusCode::FORBIDDEN);
    let r = act(&vic, ORDERS, &big, "approve").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["fields"][0]["code"], "document.approval_role_required");
    assert_eq!(fetch(&s.sam, ORDERS, &big).await["state"], "submitted");

    let approved = acted(&s.boss, ORDERS, &big, "approve").await;
    assert_eq!(approved["state"], "approved");
    let requests = s.sam.get(&format!("{ORDERS}/{}/approvals", id_of(&big))).await.json();
    assert_eq!(requests["data"][0]["status"], "approved");
    assert_eq!(requests["data"][0]["decided_by"], "boss");
    assert_eq!(s.boss.get("/api/v1/inbox").await.json()["total"], 1);

    // Reversing the approval puts the order back in front of the sales manager.
    let back = acted(&s.boss, ORDERS, &approved, "unapprove").await;
    assert_eq!(back["state"], "submitted");
    let r = act(&vic, ORDERS, &back, "approve").await;
    assert_eq!(r.json()["error"]["fields"][0]["code"], "document.approval_role_required");
    assert_eq!(s.boss.get("/api/v1/inbox").await.json()["total"], 2);
    acted(&s.boss, ORDERS, &back, "approve").await;

    // A rejected request closes; submitting again raises a new one.
    let other = created(&s.sam, ORDERS, &order_body("300", "50")).await;
    let other = acted(&s.sam, ORDERS, &other, "submit").await;
    let other = acted(&s.boss, ORDERS, &other, "reject").await;
    assert_eq!(other["state"], "draft");
    acted(&s.sam, ORDERS, &other, "submit").await;
    let requests = s.sam.get(&format!("{ORDERS}/{}/approvals", id_of(&other))).await.json();
    let statuses: Vec<&str> = requests["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["open", "rejected"]);
}

#[tokio::test]
async fn audit_and_history_record_every_step() {
    let s = scene().await;
    let order = created(&s.sam, ORDERS, &order_body("4", "10")).await;
    let order = acted(&s.sam, ORDERS, &order, "submit").await;
    let order = acted(&s.boss, ORDERS, &order, "approve").await;
    let order = acted(&s.boss, ORDERS, &order, "close").await;
    acted(&s.boss, ORDERS, &order, "reopen").await;

    let audit = s.sam.get(&format!("{ORDERS}/{}/audit", id_of(&order))).await.json();
    let steps: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["user"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("create", "sam"),
            ("submit", "sam"),
            ("approve", "boss"),
            ("close", "boss"),
            ("reopen", "boss")
        ]
    );
    assert_eq!(audit["data"][0]["after"]["number"], "TO2026-000001");

    let history = s.sam.get(&format!("{ORDERS}/{}/history", id_of(&order))).await.json();
    let first = &history["data"][0];
    assert_eq!(
        (&first["from"], &first["action"], &first["to"], &first["user"], &first["comment"]),
        (
            &json!("draft"),
            &json!("submit"),
            &json!("submitted"),
            &json!("sam"),
            &json!("submit it")
        )
    );
    assert_eq!(history["data"].as_array().unwrap().len(), 4);
    assert!(s.admin.get(&format!("{ORDERS}/{}/audit", id_of(&order))).await.status.is_success());
}

fn form(pairs: &[(&str, &str)]) -> Body {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let text: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    Body::from(text.join("&"))
}

async fn post_form(client: &TestClient, path: &str, pairs: &[(&str, &str)]) -> TestResponse {
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    client.send(Method::POST, path, &headers, form(pairs)).await
}

#[tokio::test]
async fn pages_list_show_edit_act_and_push_down() {
    let s = scene().await;
    let new = s.sam.get("/d/sales_order/new").await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text());
    let html = new.text();
    assert!(html.contains("lines[7].item") && !html.contains("lines[8].item"));
    let more = post_form(&s.sam, "/d/sales_order/new", &[("_rows", "8"), ("_more", "1")]).await;
    assert!(more.text().contains("lines[15].item"));

    // A bad line keeps its message next to the field; blank rows are ignored.
    let bad = post_form(
        &s.sam,
        "/d/sales_order/new",
        &[
            ("doc_date", "2026-12-03"),
            ("partner", "C001"),
            ("lines[0].item", "FAN-100"),
            ("lines[0].unit", "PCS"),
            ("lines[0].quantity", "lots"),
            ("lines[3].note", ""),
        ],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("id=\"err-lines-0-quantity\""), "{}", bad.text());

    let good = post_form(
        &s.sam,
        "/d/sales_order/new",
        &[
            ("doc_date", "2026-12-03"),
            ("partner", "C001"),
            ("currency", "CNY"),
            ("lines[0].item", "FAN-100"),
            ("lines[0].unit", "PCS"),
            ("lines[0].quantity", "100"),
            ("lines[0].unit_price", "2"),
            ("lines[5].note", "a note line"),
            ("lines[5].quantity", "1"),
        ],
    )
    .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.text());
    let location = good.headers.get("location").unwrap().to_str().unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();
    let doc = s.sam.get(&format!("{ORDERS}/{id}")).await.json();
    assert_eq!(doc["lines"].as_array().unwrap().len(), 2);
    assert_eq!(doc["lines"][1]["note"], "a note line");

    let list = s.sam.get("/d/sales_order?state=draft&q=TO2026").await;
    assert!(list.text().contains("TO2026-000001"));
    let page = s.sam.get(&location).await.text();
    assert!(page.contains("id=\"action-submit\"") && page.contains("id=\"action-cancel\""));
    assert!(!page.contains("id=\"action-approve\""));
    assert!(page.contains("id=\"edit-document\""));

    // A stale form save is shown on the form with 409.
    let stale = post_form(
        &s.sam,
        &format!("/d/sales_order/{id}/edit"),
        &[
            ("_version", "7"),
            ("doc_date", "2026-12-03"),
            ("partner", "C001"),
            ("lines[0].quantity", "1"),
        ],
    )
    .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.text().contains("changed by someone else"));

    // A refused action is shown on the document page, not as a server error.
    let refused =
        post_form(&s.boss, &format!("/d/sales_order/{id}/approve"), &[("_version", "1")]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("id=\"doc-error\""));
    let submitted =
        post_form(&s.sam, &format!("/d/sales_order/{id}/submit"), &[("_version", "1")]).await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER);
    let inbox = s.boss.get("/inbox").await.text();
    assert!(inbox.contains("TO2026-000001"));
    let approved =
        post_form(&s.boss, &format!("/d/sales_order/{id}/approve"), &[("_version", "2")]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);

    let page = s.sam.get(&location).await.text();
    assert!(page.contains(&format!("/d/sales_delivery/new?from={id}")), "{page}");
    let prefill = s.sam.get(&format!("/d/sales_delivery/new?from={id}")).await;
    assert_eq!(prefill.status, StatusCode::OK);
    let line_id = doc["lines"][0]["id"].as_str().unwrap();
    assert!(prefill.text().contains(&format!("value=\"{line_id}\"")));
    assert!(prefill.text().contains("value=\"100\""));

    let shipped = post_form(
        &s.sam,
        "/d/sales_delivery/new",
        &[
            ("doc_date", "2026-12-05"),
            ("partner", "C001"),
            ("lines[0].item", "FAN-100"),
            ("lines[0].unit", "PCS"),
            ("lines[0].quantity", "150"),
            ("lines[0].source_line_id", line_id),
        ],
    )
    .await;
    assert_eq!(shipped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(shipped.text().contains("Line 1 has 100 open, but 150 was requested."));

    let shipped = post_form(
        &s.sam,
        "/d/sales_delivery/new",
        &[
            ("doc_date", "2026-12-05"),
            ("partner", "C001"),
            ("lines[0].item", "FAN-100"),
            ("lines[0].unit", "PCS"),
            ("lines[0].quantity", "60"),
            ("lines[0].source_line_id", line_id),
        ],
    )
    .await;
    assert_eq!(shipped.status, StatusCode::SEE_OTHER, "{}", shipped.text());
    let shipment = shipped.headers.get("location").unwrap().to_str().unwrap().to_owned();
    let page = s.sam.get(&shipment).await.text();
    assert!(page.contains(&format!("href=\"/d/sales_order/{id}\">TO2026-000001 / 1")), "{page}");
    let order_page = s.sam.get(&location).await.text();
    assert!(order_page.contains(">60<") && order_page.contains(">40<"), "carried and open");

    let flow = s.sam.get(&format!("/d/sales_order/{id}/flow")).await;
    assert_eq!(flow.status, StatusCode::OK);
    assert!(flow.text().contains("TO2026-000001") && flow.text().contains("TS202612-0001"));
    let audit = s.sam.get(&format!("/d/sales_order/{id}/audit")).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(s.sam.get("/d/no_such_type").await.status == StatusCode::NOT_FOUND);
}
