//! The stock ledger through the document API: receipts, issues, transfers, counts, reverse
//! approval, negative-stock refusal and racing issues, with the ledger invariants checked after
//! every scenario.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestClient, basic_master_data};

/// Creates, submits and approves a stock document; returns it.
pub async fn post_doc(client: &TestClient, doc_type: &str, body: Value) -> Value {
    let created = client.post(&format!("/api/v1/documents/{doc_type}"), &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let doc = created.json();
    let id = doc["id"].as_str().unwrap().to_owned();
    let submitted = client
        .post(
            &format!("/api/v1/documents/{doc_type}/{id}/submit"),
            &json!({"version": doc["version"]}),
        )
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text());
    let approved = client
        .post(
            &format!("/api/v1/documents/{doc_type}/{id}/approve"),
            &json!({"version": submitted.json()["version"]}),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
    approved.json()
}

async fn assert_invariants(app: &TestApp) {
    let problems = papilio_store::stock::check_invariants(&app.db).await.unwrap();
    assert!(problems.is_empty(), "ledger invariants broken: {problems:?}");
}

async fn on_hand(app: &TestApp, item: &str, warehouse: &str) -> rust_decimal::Decimal {
    let f = papilio_store::stock::BalanceFilter {
        item: Some(item.into()),
        warehouse: Some(warehouse.into()),
        nonzero: false,
    };
    papilio_store::stock::balances(&app.db, &f).await.unwrap().iter().map(|b| b.qty).sum()
}

#[tokio::test]
async fn receive_issue_transfer_count_and_reverse() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    for body in [json!({"code": "RM", "name_zh": "原料仓", "name_en": "Raw materials"})] {
        assert_eq!(admin.post("/api/v1/warehouse", &body).await.status, StatusCode::CREATED);
    }
    let d = |q: &str, p: &str| json!({"item": "FAN-100", "quantity": q, "unit": "PCS", "unit_price": p, "warehouse": "FG"});

    // 100 at 2.00 and 50 at 3.20: 150 worth 360, average 2.40.
    post_doc(&admin, "purchase_receipt", json!({"doc_date": "2026-11-01", "partner": "S001", "lines": [d("100", "2"), d("50", "3.2")]})).await;
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, rust_decimal::Decimal::from(150));

    // Issue 60 at the average: 144 out.
    let issue = post_doc(&admin, "production_issue", json!({"doc_date": "2026-11-02", "lines": [{"item": "FAN-100", "quantity": "60", "unit": "PCS", "warehouse": "FG"}]})).await;
    let (_, _, card) = papilio_store::stock::stock_card(
        &app.db,
        "FAN-100",
        None,
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    )
    .await
    .unwrap();
    let last = card.last().unwrap();
    assert_eq!(last.value, rust_decimal::Decimal::from(-144));
    assert_eq!(last.balance_qty, rust_decimal::Decimal::from(90));
    assert_eq!(last.balance_value, rust_decimal::Decimal::from(216));

    // Issuing more than is there is refused, naming item, warehouse and what is available.
    let too_much = admin.post("/api/v1/documents/production_issue", &json!({"doc_date": "2026-11-03", "lines": [{"item": "FAN-100", "quantity": "91", "unit": "PCS", "warehouse": "FG"}]})).await.json();
    let id = too_much["id"].as_str().unwrap();
    let sub = admin
        .post(&format!("/api/v1/documents/production_issue/{id}/submit"), &json!({"version": 1}))
        .await
        .json();
    let refused = admin
        .post(
            &format!("/api/v1/documents/production_issue/{id}/approve"),
            &json!({"version": sub["version"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let e = refused.json();
    assert_eq!(e["error"]["fields"][0]["code"], "stock.insufficient");
    assert!(e["error"]["message"].as_str().unwrap().contains("90"), "{e}");
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, rust_decimal::Decimal::from(90));

    // Transfer 20 to RM; count FG finds 68 where the book says 70.
    post_doc(&admin, "stock_transfer", json!({"doc_date": "2026-11-04", "lines": [{"item": "FAN-100", "quantity": "20", "unit": "PCS", "warehouse": "FG", "to_warehouse": "RM"}]})).await;
    assert_eq!(on_hand(&app, "FAN-100", "RM").await, rust_decimal::Decimal::from(20));
    post_doc(&admin, "stock_count", json!({"doc_date": "2026-11-05", "lines": [{"item": "FAN-100", "quantity": "68", "book_qty": "70", "unit": "PCS", "warehouse": "FG"}]})).await;
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, rust_decimal::Decimal::from(68));
    assert_invariants(&app).await;

    // A stock field on a document type that does not take it is refused by name.
    let wrong = admin.post("/api/v1/documents/production_issue", &json!({"doc_date": "2026-11-06", "lines": [{"item": "FAN-100", "quantity": "1", "unit": "PCS", "warehouse": "FG", "to_warehouse": "RM"}]})).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.json()["error"]["field"], "lines[0].to_warehouse");

    // Reversing the issue puts its 60 back at the value it took out.
    let id = issue["id"].as_str().unwrap();
    let back = admin
        .post(
            &format!("/api/v1/documents/production_issue/{id}/unapprove"),
            &json!({"version": issue["version"]}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text());
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, rust_decimal::Decimal::from(128));
    assert_invariants(&app).await;

    // As of the day of the receipt only the receipt counts.
    let as_of = papilio_store::stock::balances_as_of(
        &app.db,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        &papilio_store::stock::BalanceFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        as_of.iter().map(|b| b.qty).sum::<rust_decimal::Decimal>(),
        rust_decimal::Decimal::from(150)
    );
}

#[tokio::test]
async fn eight_clients_race_for_the_last_units() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    post_doc(&admin, "purchase_receipt", json!({"doc_date": "2026-11-01", "partner": "S001", "lines": [{"item": "FAN-100", "quantity": "5", "unit": "PCS", "unit_price": "10", "warehouse": "FG"}]})).await;

    let mut drafts = Vec::new();
    for _ in 0..8 {
        let r = admin.post("/api/v1/documents/sales_delivery", &json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [{"item": "FAN-100", "quantity": "1", "unit": "PCS", "warehouse": "FG"}]})).await.json();
        let id = r["id"].as_str().unwrap().to_owned();
        let s = admin
            .post(&format!("/api/v1/documents/sales_delivery/{id}/submit"), &json!({"version": 1}))
            .await
            .json();
        drafts.push((id, s["version"].as_i64().unwrap()));
    }
    let tasks: Vec<_> = drafts
        .into_iter()
        .map(|(id, version)| {
            let c = admin.clone();
            tokio::spawn(async move {
                c.post(
                    &format!("/api/v1/documents/sales_delivery/{id}/approve"),
                    &json!({"version": version}),
                )
                .await
                .status
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let status = t.await.unwrap();
        assert!(!status.is_server_error(), "a racing issue got {status}");
        if status == StatusCode::OK {
            ok += 1;
        } else {
            assert!(
                status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
                "{status}"
            );
        }
    }
    assert_eq!(ok, 5, "exactly the five units on hand were delivered");
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, rust_decimal::Decimal::ZERO);
    assert_invariants(&app).await;
}

#[tokio::test]
async fn values_can_be_kept_per_warehouse_until_the_first_posting() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    let wh = json!({"code": "RM", "name_zh": "原料仓", "name_en": "Raw materials"});
    assert_eq!(admin.post("/api/v1/warehouse", &wh).await.status, StatusCode::CREATED);
    let settings = admin.get("/api/v1/settings").await.json();
    let version = settings["company"]["version"].clone();
    let set = admin
        .put("/api/v1/settings", &json!({"version": version, "valuation_scope": "warehouse"}))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());

    let line = |wh: &str, q: &str, p: &str| json!({"item": "FAN-100", "quantity": q, "unit": "PCS", "unit_price": p, "warehouse": wh});
    post_doc(&admin, "purchase_receipt", json!({"doc_date": "2026-11-01", "partner": "S001", "lines": [line("FG", "10", "1"), line("RM", "10", "3")]})).await;
    post_doc(&admin, "production_issue", json!({"doc_date": "2026-11-02", "lines": [{"item": "FAN-100", "quantity": "5", "unit": "PCS", "warehouse": "RM"}]})).await;
    let (_, _, card) = papilio_store::stock::stock_card(
        &app.db,
        "FAN-100",
        Some("RM"),
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
    )
    .await
    .unwrap();
    // RM's own average is 3.00, not the company's 2.00.
    assert_eq!(card.last().unwrap().value, rust_decimal::Decimal::from(-15));
    assert_invariants(&app).await;

    let version = admin.get("/api/v1/settings").await.json()["company"]["version"].clone();
    let locked = admin
        .put("/api/v1/settings", &json!({"version": version, "valuation_scope": "company"}))
        .await;
    assert_eq!(locked.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", locked.text());
    assert_eq!(locked.json()["error"]["field"], "valuation_scope");
}

#[tokio::test]
async fn lot_tracked_items_need_lots_and_issues_get_a_fefo_suggestion() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    let cap = json!({"code": "CAP", "name_zh": "电容", "name_en": "Capacitor", "item_type": "purchased", "base_unit": "PCS", "lot_tracked": true});
    assert_eq!(admin.post("/api/v1/item", &cap).await.status, StatusCode::CREATED);

    // Without a lot the receipt cannot be approved.
    let no_lot = admin.post("/api/v1/documents/purchase_receipt", &json!({"doc_date": "2026-10-01", "partner": "S001", "lines": [{"item": "CAP", "quantity": "10", "unit": "PCS", "warehouse": "FG"}]})).await.json();
    let id = no_lot["id"].as_str().unwrap();
    let s = admin
        .post(&format!("/api/v1/documents/purchase_receipt/{id}/submit"), &json!({"version": 1}))
        .await
        .json();
    let refused = admin
        .post(
            &format!("/api/v1/documents/purchase_receipt/{id}/approve"),
            &json!({"version": s["version"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json()["error"]["field"], "lines[0].lot");

    let lot = |l: &str, q: &str, exp: &str| json!({"item": "CAP", "quantity": q, "unit": "PCS", "unit_price": "1", "warehouse": "FG", "lot": l, "lot_expiry": exp});
    post_doc(&admin, "purchase_receipt", json!({"doc_date": "2026-10-01", "partner": "S001", "lines": [lot("L-OLD", "10", "2027-06-30"), lot("L-NEW", "10", "2027-01-31")]})).await;
    let s = admin
        .get("/api/v1/stock/lots?item=CAP&warehouse=FG&qty=15&policy=fefo&date=2026-12-01")
        .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text());
    let body = s.json();
    assert_eq!(body["suggestion"][0]["lot"], "L-NEW");
    assert_eq!(body["suggestion"][0]["qty"], "10");
    assert_eq!(body["suggestion"][1]["lot"], "L-OLD");
    assert_eq!(body["suggestion"][1]["qty"], "5");
    assert_eq!(body["short"], "0");
    let fifo = admin
        .get("/api/v1/stock/lots?item=CAP&warehouse=FG&qty=15&policy=fifo&date=2026-12-01")
        .await
        .json();
    assert_eq!(fifo["suggestion"][0]["lot"], "L-NEW", "same receipt date: by lot number");

    // Issuing from a lot takes from that lot only.
    post_doc(&admin, "production_issue", json!({"doc_date": "2026-11-01", "lines": [{"item": "CAP", "quantity": "4", "unit": "PCS", "warehouse": "FG", "lot": "L-OLD"}]})).await;
    let after = admin.get("/api/v1/stock/lots?item=CAP&warehouse=FG").await.json();
    let old =
        after["lots"].as_array().unwrap().iter().find(|l| l["lot"] == "L-OLD").unwrap().clone();
    assert_eq!(old["available"], "6");
    assert_invariants(&app).await;
}

#[tokio::test]
async fn a_count_may_find_nothing_but_other_documents_need_a_quantity() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    post_doc(&admin, "purchase_receipt", json!({"doc_date": "2026-11-01", "partner": "S001", "lines": [{"item": "FAN-100", "quantity": "3", "unit": "PCS", "unit_price": "5", "warehouse": "FG"}]})).await;
    post_doc(&admin, "stock_count", json!({"doc_date": "2026-11-02", "lines": [{"item": "FAN-100", "quantity": "0", "book_qty": "3", "unit": "PCS", "warehouse": "FG"}]})).await;
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, rust_decimal::Decimal::ZERO);
    let zero = admin.post("/api/v1/documents/production_issue", &json!({"doc_date": "2026-11-03", "lines": [{"item": "FAN-100", "quantity": "0", "unit": "PCS", "warehouse": "FG"}]})).await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(zero.json()["error"]["field"], "lines[0].quantity");
    assert_invariants(&app).await;
}
