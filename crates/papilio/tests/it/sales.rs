//! Sales scenarios: pricing with reasons, price controls and credit control through the
//! approval inbox, and order to cash with the ledger checked at the end.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::stock::post_doc;
use crate::support::{TestApp, TestClient, basic_master_data};

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}")).parse().unwrap()
}

/// Prices for FAN-100 (base 200, dealers 190, dealers from 100 pieces 180), a 5 % dealer
/// discount, a floor of 150, 60 fans in stock at 100.
pub async fn sales_master_data(admin: &TestClient) {
    basic_master_data(admin).await;
    for (path, body) in [
        (
            "/api/v1/sales_price",
            json!({"code": "B-FAN100", "item": "FAN-100", "currency": "CNY", "price": "200"}),
        ),
        (
            "/api/v1/sales_price",
            json!({"code": "D-FAN100", "item": "FAN-100", "currency": "CNY", "customer_group": "DEALER", "price": "190"}),
        ),
        (
            "/api/v1/sales_price",
            json!({"code": "D100-FAN100", "item": "FAN-100", "currency": "CNY", "customer_group": "DEALER", "min_qty": "100", "price": "180"}),
        ),
        (
            "/api/v1/discount_policy",
            json!({"code": "DEALER5", "name_zh": "经销商折扣", "name_en": "Dealer discount", "basis": "customer_group", "customer_group": "DEALER", "percent": "5"}),
        ),
    ] {
        let r = admin.post(path, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
    }
    patch_by_code(
        admin,
        "item",
        "FAN-100",
        json!({"floor_price": "150", "default_warehouse": "FG"}),
    )
    .await;
    post_doc(admin, "purchase_receipt", json!({"doc_date": "2026-11-01", "partner": "S001", "lines": [{"item": "FAN-100", "quantity": "60", "unit": "PCS", "unit_price": "100", "warehouse": "FG"}]})).await;
}

/// Changes some fields of the master record of `kind` with code `code`.
pub async fn patch_by_code(admin: &TestClient, kind: &str, code: &str, mut changes: Value) {
    let list = admin.get(&format!("/api/v1/{kind}?q={code}")).await.json();
    let row = list["data"].as_array().unwrap().iter().find(|r| r["code"] == code).unwrap().clone();
    changes["version"] = row["version"].clone();
    let r = admin.patch(&format!("/api/v1/{kind}/{}", row["id"].as_str().unwrap()), &changes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

pub async fn create(client: &TestClient, doc_type: &str, body: Value) -> Value {
    let r = client.post(&format!("/api/v1/documents/{doc_type}"), &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

pub async fn act(client: &TestClient, doc: &Value, action: &str) -> crate::support::TestResponse {
    let path = format!(
        "/api/v1/documents/{}/{}/{action}",
        doc["doc_type"].as_str().unwrap(),
        doc["id"].as_str().unwrap()
    );
    client.post(&path, &json!({"version": doc["version"]})).await
}

#[tokio::test]
async fn order_lines_are_priced_with_their_reason_cost_and_promise() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let order = create(
        &admin,
        "sales_order",
        json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [
            {"item": "FAN-100", "quantity": "10", "unit": "PCS"},
            {"item": "FAN-100", "quantity": "100", "unit": "PCS"},
        ]}),
    )
    .await;
    let l0 = &order["lines"][0];
    // Dealer price 190, less 5 %: 180.50; 10 × 180.50 = 1,805.00.
    assert_eq!(dec(&l0["unit_price"]), Decimal::new(1805, 1));
    assert_eq!(dec(&l0["list_price"]), Decimal::from(190));
    assert_eq!(dec(&l0["amount"]), Decimal::from(1805));
    assert_eq!(l0["explain"]["price"]["entry"], "D-FAN100");
    assert_eq!(l0["explain"]["price"]["policy"], "DEALER5");
    // No issues yet: the cost estimate is the standard cost.
    assert_eq!(l0["cost_basis"], "standard");
    assert_eq!(dec(&l0["est_unit_cost"]), Decimal::new(855, 1));
    assert_eq!(l0["warehouse"], "FG");
    // 60 on hand: the first 10 today, the next 100 only after the lead time (0 days).
    assert_eq!(l0["promised_date"], "2026-11-02");
    assert_eq!(l0["explain"]["promise"]["basis"], "on_hand");
    assert_eq!(order["lines"][1]["explain"]["promise"]["basis"], "lead_time");
    // 100 pieces reach the dealers' break: 180 less 5 % = 171.
    assert_eq!(dec(&order["lines"][1]["unit_price"]), Decimal::from(171));
    assert_eq!(dec(&order["total"]), Decimal::from(1805 + 17100));

    // The simulation answers the same, with the reasons.
    let sim = admin
        .get("/api/v1/sales/price?customer=C001&item=FAN-100&quantity=10&date=2026-11-02")
        .await;
    assert_eq!(sim.status, StatusCode::OK, "{}", sim.text());
    assert_eq!(dec(&sim.json()["net_price"]), Decimal::new(1805, 1));
}

#[tokio::test]
async fn under_the_floor_goes_to_the_sales_manager() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let seller = app.client("li", &["salesperson"]).await;
    let order = create(
        &seller,
        "sales_order",
        json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [
            {"item": "FAN-100", "quantity": "2", "unit": "PCS", "unit_price": "140"},
        ]}),
    )
    .await;
    let submitted = act(&seller, &order, "submit").await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text());
    let approvals = seller
        .get(&format!("/api/v1/documents/sales_order/{}/approvals", order["id"].as_str().unwrap()))
        .await
        .json();
    let request = &approvals["data"][0];
    assert_eq!(request["rule"], "sales.price_control");
    assert_eq!(request["role"], "sales_manager");
    assert_eq!(request["params"]["kind"], "under_floor");
    let manager = app.client("wang", &["sales_manager"]).await;
    let approved = act(&manager, &submitted.json(), "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
}

#[tokio::test]
async fn credit_limit_catches_the_close_and_reopen_dodge_and_the_delivery() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    patch_by_code(&admin, "customer", "C001", json!({"credit_limit": "3000"})).await;
    let settings = admin.get("/api/v1/sales/settings").await.json();
    let r = admin.put("/api/v1/sales/settings", &json!({"version": settings["version"], "credit_action": "block", "overdue_days": 30, "cost_history_months": 6, "target_margin_pct": "20"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // Order A: 10 × 180.50 = 1,805 within 3,000.
    let a = post_doc(&admin, "sales_order", json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "10", "unit": "PCS"}]})).await;
    // Order B: another 1,805 would make 3,610: blocked.
    let b = create(&admin, "sales_order", json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "10", "unit": "PCS"}]})).await;
    let refused = act(&admin, &b, "submit").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    assert!(refused.text().contains("sales.credit_blocked_over_limit"), "{}", refused.text());
    // Close A, and B passes.
    let closed = act(&admin, &a, "close").await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text());
    let b_sub = act(&admin, &b, "submit").await;
    assert_eq!(b_sub.status, StatusCode::OK, "{}", b_sub.text());
    let b_ok = act(&admin, &b_sub.json(), "approve").await;
    assert_eq!(b_ok.status, StatusCode::OK);
    // Reopening A would dodge the limit: refused.
    let reopen = act(&admin, &closed.json(), "reopen").await;
    assert_eq!(reopen.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reopen.text());
    // Blocking credit refuses outright; in approval mode the reopen names the rule instead.
    assert!(reopen.text().contains("sales.credit_blocked_over_limit"), "{}", reopen.text());

    // With the limit lowered under the exposure, the delivery of B is held too.
    patch_by_code(&admin, "customer", "C001", json!({"credit_limit": "1000"})).await;
    let b = b_ok.json();
    let d = create(&admin, "sales_delivery", json!({"doc_date": "2026-11-03", "partner": "C001", "lines": [{"source_line_id": b["lines"][0]["id"], "quantity": "10", "unit": "PCS"}]})).await;
    let held = act(&admin, &d, "submit").await;
    assert_eq!(held.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", held.text());
}

#[tokio::test]
async fn order_to_cash_end_to_end() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let quote = post_doc(&admin, "sales_quotation", json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "20", "unit": "PCS"}]})).await;
    let order = post_doc(&admin, "sales_order", json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"source_line_id": quote["lines"][0]["id"], "item": "FAN-100", "quantity": "20", "unit": "PCS"}]})).await;
    assert_eq!(dec(&order["lines"][0]["unit_price"]), Decimal::new(1805, 1));
    // Approval reserved 20.
    let reserved = admin.get("/api/v1/stock/reservations?item=FAN-100").await;
    assert_eq!(reserved.status, StatusCode::OK, "{}", reserved.text());
    assert_eq!(
        dec(&reserved.json()["data"][0]["reserved"]),
        Decimal::from(20),
        "{}",
        reserved.text()
    );
    // Two partial deliveries, the second closes the line.
    let ol = order["lines"][0]["id"].clone();
    let d1 = post_doc(&admin, "sales_delivery", json!({"doc_date": "2026-11-03", "partner": "C001", "lines": [{"source_line_id": ol, "quantity": "12", "unit": "PCS"}]})).await;
    let d2 = post_doc(&admin, "sales_delivery", json!({"doc_date": "2026-11-04", "partner": "C001", "lines": [{"source_line_id": ol, "quantity": "8", "unit": "PCS"}]})).await;
    assert_eq!(dec(&d1["lines"][0]["unit_price"]), Decimal::new(1805, 1));
    // One invoice for both deliveries.
    let inv = post_doc(
        &admin,
        "sales_invoice",
        json!({"doc_date": "2026-11-05", "partner": "C001", "lines": [
            {"source_line_id": d1["lines"][0]["id"], "quantity": "12", "unit": "PCS"},
            {"source_line_id": d2["lines"][0]["id"], "quantity": "8", "unit": "PCS"},
        ]}),
    )
    .await;
    assert_eq!(dec(&inv["total"]), Decimal::from(3610));
    // A return of 2 from the first delivery, and its credit note.
    let ret = post_doc(&admin, "sales_return", json!({"doc_date": "2026-11-06", "partner": "C001", "lines": [{"source_line_id": d1["lines"][0]["id"], "quantity": "2", "unit": "PCS"}]})).await;
    let too_many = admin.post("/api/v1/documents/sales_return", &json!({"doc_date": "2026-11-06", "partner": "C001", "lines": [{"source_line_id": d1["lines"][0]["id"], "quantity": "11", "unit": "PCS"}]})).await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", too_many.text());
    let cn = post_doc(&admin, "sales_credit_note", json!({"doc_date": "2026-11-06", "partner": "C001", "lines": [{"source_line_id": ret["lines"][0]["id"], "quantity": "2", "unit": "PCS"}]})).await;
    assert_eq!(dec(&cn["total"]), Decimal::from(361));
    // Paid: the invoice in full, less the credit note.
    let over = admin.post("/api/v1/documents/customer_receipt", &json!({"doc_date": "2026-11-20", "partner": "C001", "lines": [{"settles": inv["id"], "unit_price": "3610.01"}]})).await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", over.text());
    post_doc(
        &admin,
        "customer_receipt",
        json!({"doc_date": "2026-11-20", "partner": "C001", "lines": [
            {"settles": inv["id"], "unit_price": "3610"},
            {"settles": cn["id"], "unit_price": "361"},
        ]}),
    )
    .await;
    // Nothing is owed, nothing reserved, 42 fans left, and the ledger adds up.
    let mut conn = app.db.pool().acquire().await.unwrap();
    let e = papilio_store::sales::exposure(&mut conn, "C001").await.unwrap();
    assert_eq!(e.total(), Decimal::ZERO, "{e:?}");
    drop(conn);
    let problems = papilio_store::stock::check_invariants(&app.db).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let flow = admin
        .get(&format!("/api/v1/documents/sales_order/{}/flow", order["id"].as_str().unwrap()))
        .await
        .json();
    assert!(flow.to_string().contains(inv["number"].as_str().unwrap()), "{flow}");
}

#[tokio::test]
async fn reopening_over_the_limit_goes_nowhere_in_approval_mode() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    patch_by_code(&admin, "customer", "C001", json!({"credit_limit": "3000"})).await;
    let a = post_doc(&admin, "sales_order", json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "10", "unit": "PCS"}]})).await;
    let closed = act(&admin, &a, "close").await.json();
    post_doc(&admin, "sales_order", json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "10", "unit": "PCS"}]})).await;
    let reopen = act(&admin, &closed, "reopen").await;
    assert_eq!(reopen.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reopen.text());
    assert!(reopen.text().contains("document.reopen_refused"), "{}", reopen.text());
    // The second order went to the finance manager for credit.
    let inbox = admin.get("/api/v1/inbox").await.text();
    assert!(inbox.contains("sales.credit") || inbox.contains("[]"), "{inbox}");
}

#[tokio::test]
async fn a_resaved_order_keeps_its_reason_and_a_typed_discount_is_manual() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let order = create(
        &admin,
        "sales_order",
        json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [
            {"item": "FAN-100", "quantity": "10", "unit": "PCS"},
            {"item": "FAN-100", "quantity": "5", "unit": "PCS", "discount_pct": "10"},
        ]}),
    )
    .await;
    // Typed 10 % replaces the dealer policy: 190 × 0.9 = 171.
    assert_eq!(dec(&order["lines"][1]["unit_price"]), Decimal::from(171));
    assert_eq!(order["lines"][1]["explain"]["price"]["discount"], "manual");
    // Saved again as it was read: the engine's price keeps the engine's reason.
    let lines: Vec<Value> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"item": l["item"], "quantity": l["quantity"], "unit": l["unit"], "unit_price": l["unit_price"], "discount_pct": l["discount_pct"], "warehouse": l["warehouse"]}))
        .collect();
    let path = format!("/api/v1/documents/sales_order/{}", order["id"].as_str().unwrap());
    let saved = admin.put(&path, &json!({"version": order["version"], "doc_date": "2026-11-02", "partner": "C001", "lines": lines})).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
    let saved = saved.json();
    assert_eq!(saved["lines"][0]["explain"]["price"]["policy"], "DEALER5");
    assert_eq!(dec(&saved["lines"][0]["unit_price"]), Decimal::new(1805, 1));
    // A quantity over the item's line limit is refused with the field named.
    patch_by_code(&admin, "item", "FAN-100", json!({"max_order_qty": "500"})).await;
    let r = admin.post("/api/v1/documents/sales_order", &json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "501", "unit": "PCS"}]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "lines[0].quantity");
}

#[tokio::test]
async fn save_and_approve_in_one_step_stops_where_an_approver_is_needed() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let order = admin.post("/api/v1/documents/sales_order?then=approve", &json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "3", "unit": "PCS"}]})).await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.text());
    let order = order.json();
    assert_eq!(order["state"], "approved");
    let delivery = admin.post("/api/v1/documents/sales_delivery?then=approve", &json!({"doc_date": "2026-11-03", "partner": "C001", "lines": [{"source_line_id": order["lines"][0]["id"], "quantity": "3", "unit": "PCS"}]})).await;
    assert_eq!(delivery.json()["state"], "approved", "{}", delivery.text());
    // A sales manager's approval is needed under the floor: the order waits, submitted.
    let manager = app.client("zhao", &["sales_manager"]).await;
    let seller = app.client("li", &["salesperson", "sales_manager"]).await;
    drop(manager);
    let below = seller.post("/api/v1/documents/sales_order?then=submit", &json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "1", "unit": "PCS", "unit_price": "100"}]})).await;
    assert_eq!(below.json()["state"], "submitted", "{}", below.text());
    let bad = admin.post("/api/v1/documents/sales_order?then=post", &json!({})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
}

#[tokio::test]
async fn employees_without_a_user_are_not_duplicates() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for code in ["E91", "E92"] {
        let r = admin.post("/api/v1/employee", &json!({"code": code, "name": code})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
}
