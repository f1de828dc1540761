//! Physical counts 盘点: starting a count freezes book quantities, counted quantities come in
//! through the API and a CSV upload, the variance is valued, approval posts the differences and
//! releases the freeze, an ABC cycle count picks its class, and the variance analysis adds up.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::stock::post_doc;
use crate::support::{TestApp, TestClient, basic_master_data};

fn d(n: i64) -> Decimal {
    Decimal::from(n)
}

async fn on_hand(app: &TestApp, item: &str, warehouse: &str) -> Decimal {
    let f = papilio_store::stock::BalanceFilter {
        item: Some(item.into()),
        warehouse: Some(warehouse.into()),
        nonzero: false,
    };
    papilio_store::stock::balances(&app.db, &f).await.unwrap().iter().map(|b| b.qty).sum()
}

async fn assert_invariants(app: &TestApp) {
    let problems = papilio_store::stock::check_invariants(&app.db).await.unwrap();
    assert!(problems.is_empty(), "ledger invariants broken: {problems:?}");
}

async fn item(admin: &TestClient, code: &str) {
    let r = admin
        .post(
            "/api/v1/item",
            &json!({"code": code, "name_zh": format!("物料{code}"), "name_en": format!("Item {code}"),
                    "item_type": "purchased", "base_unit": "PCS", "standard_cost": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

async fn bin(admin: &TestClient, code: &str) {
    let r = admin.post("/api/v1/bin", &json!({"code": code, "warehouse": "FG"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

fn receipt(date: &str, item: &str, qty: &str, price: &str, bin: Option<&str>) -> Value {
    let mut line = json!({"item": item, "quantity": qty, "unit": "PCS", "unit_price": price,
                          "warehouse": "FG"});
    if let Some(b) = bin {
        line["bin"] = json!(b);
    }
    json!({"doc_date": date, "partner": "S001", "lines": [line]})
}

fn issue(date: &str, item: &str, qty: &str, bin: Option<&str>) -> Value {
    let mut line = json!({"item": item, "quantity": qty, "unit": "PCS", "warehouse": "FG"});
    if let Some(b) = bin {
        line["bin"] = json!(b);
    }
    json!({"doc_date": date, "lines": [line]})
}

/// Creates and submits a document, then tries to approve it; returns the approval answer.
async fn try_post(
    client: &TestClient,
    doc_type: &str,
    body: Value,
) -> crate::support::TestResponse {
    let created = client.post(&format!("/api/v1/documents/{doc_type}"), &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let doc = created.json();
    let id = doc["id"].as_str().unwrap().to_owned();
    let sub = client
        .post(
            &format!("/api/v1/documents/{doc_type}/{id}/submit"),
            &json!({"version": doc["version"]}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::OK, "{}", sub.text());
    client
        .post(
            &format!("/api/v1/documents/{doc_type}/{id}/approve"),
            &json!({"version": sub.json()["version"]}),
        )
        .await
}

async fn act(client: &TestClient, id: &str, action: &str, version: &Value) -> Value {
    let r = client
        .post(&format!("/api/v1/documents/stock_count/{id}/{action}"), &json!({"version": version}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{action}: {}", r.text());
    r.json()
}

async fn upload_csv(client: &TestClient, id: &str, text: &str) -> crate::support::TestResponse {
    client
        .send(
            Method::POST,
            &format!("/api/v1/stock/counts/{id}/upload"),
            &[("content-type", "text/csv")],
            Body::from(text.to_owned()),
        )
        .await
}

fn line<'a>(count: &'a Value, item: &str) -> &'a Value {
    count["lines"].as_array().unwrap().iter().find(|l| l["item"] == item).unwrap()
}

#[tokio::test]
async fn count_freezes_enters_values_approves_and_releases() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    item(&admin, "P-200").await;
    bin(&admin, "FG-B1").await;
    bin(&admin, "FG-B2").await;
    post_doc(
        &admin,
        "purchase_receipt",
        receipt("2026-11-01", "FAN-100", "100", "2", Some("FG-B1")),
    )
    .await;
    post_doc(&admin, "purchase_receipt", receipt("2026-11-01", "P-200", "50", "10", Some("FG-B2")))
        .await;

    let started =
        admin.post("/api/v1/stock/counts", &json!({"warehouse": "FG", "date": "2026-11-10"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text());
    let count = started.json();
    let id = count["id"].as_str().unwrap().to_owned();
    assert_eq!(count["lines"].as_array().unwrap().len(), 2);
    assert_eq!(line(&count, "FAN-100")["book"], "100");
    assert_eq!(line(&count, "FAN-100")["counted"], "100");
    assert_eq!(line(&count, "P-200")["bin"], "FG-B2");

    // A second count over the same keys is refused while the first is open.
    let again =
        admin.post("/api/v1/stock/counts", &json!({"warehouse": "FG", "date": "2026-11-10"})).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.text());
    assert_eq!(again.json()["error"]["fields"][0]["code"], "count.already_frozen");

    // A posting on a frozen key is refused, naming the item, warehouse and count.
    let refused =
        try_post(&admin, "production_issue", issue("2026-11-10", "FAN-100", "1", Some("FG-B1")))
            .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    let e = refused.json();
    assert_eq!(e["error"]["fields"][0]["code"], "count.frozen");
    assert!(e["error"]["message"].as_str().unwrap().contains("FAN-100"), "{e}");

    // Counted quantities through the API...
    let entered = admin
        .put(
            &format!("/api/v1/stock/counts/{id}/quantities"),
            &json!({"version": count["version"], "lines": [
                {"item": "FAN-100", "warehouse": "FG", "bin": "FG-B1", "lot": "", "counted": "97"}
            ]}),
        )
        .await;
    assert_eq!(entered.status, StatusCode::OK, "{}", entered.text());
    let entered = entered.json();
    assert_eq!(line(&entered, "FAN-100")["diff"], "-3");
    assert_eq!(line(&entered, "FAN-100")["value"], "-6");

    // ...and as a CSV upload; an unknown key is named by its row and nothing changes.
    let wrong = upload_csv(
        &admin,
        &id,
        "item,warehouse,bin,lot,counted\nP-200,FG,FG-B2,,52\nP-999,FG,FG-B1,,1\n",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.text());
    let e = wrong.json();
    assert_eq!(e["error"]["fields"][0]["code"], "count.unknown_key");
    assert_eq!(e["error"]["field"], "rows[3].item");
    let uploaded =
        upload_csv(&admin, &id, "item,warehouse,bin,lot,counted\nP-200,FG,FG-B2,,52\n").await;
    assert_eq!(uploaded.status, StatusCode::OK, "{}", uploaded.text());

    // The entry page's form saves too (here the same 97 again), and a bad value is named.
    let v = admin.get(&format!("/api/v1/stock/counts/{id}")).await.json();
    let fan = line(&v, "FAN-100")["line_id"].as_str().unwrap().to_owned();
    let form = |body: String| {
        let admin = admin.clone();
        let path = format!("/stock/counts/{id}");
        async move {
            let headers = [("content-type", "application/x-www-form-urlencoded")];
            admin.send(Method::POST, &path, &headers, Body::from(body)).await
        }
    };
    let saved = form(format!("version={}&c_{fan}=97", v["version"])).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let stale = form(format!("c_{fan}=96")).await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", stale.text());
    let v = admin.get(&format!("/api/v1/stock/counts/{id}")).await.json();
    assert_eq!(line(&v, "FAN-100")["counted"], "97");
    let fan = line(&v, "FAN-100")["line_id"].as_str().unwrap().to_owned();
    let bad = form(format!("c_{fan}=lots")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
    assert!(bad.text().contains("count-errors"), "{}", bad.text());

    // The page upload takes a multipart file; the start form names what is missing.
    let boundary = "XCOUNTX";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nitem,warehouse,bin,lot,counted\nP-200,FG,FG-B2,,52\n\r\n\
         --{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let up = admin
        .send(
            Method::POST,
            &format!("/stock/counts/{id}/upload"),
            &[("content-type", ct.as_str())],
            Body::from(multipart),
        )
        .await;
    assert_eq!(up.status, StatusCode::SEE_OTHER, "{}", up.text());
    let no_wh = admin
        .send(
            Method::POST,
            "/stock/counts",
            &[("content-type", "application/x-www-form-urlencoded")],
            Body::from("warehouse=&date=2026-11-10"),
        )
        .await;
    assert_eq!(no_wh.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_wh.text());
    assert!(no_wh.text().contains("count-errors"));

    // The variance: book, counted, difference in quantity and value.
    let v = admin.get(&format!("/api/v1/stock/counts/{id}")).await.json();
    assert_eq!(line(&v, "P-200")["diff"], "2");
    assert_eq!(line(&v, "P-200")["value"], "20");
    assert_eq!(v["totals"]["value"], "14");
    assert_eq!(v["totals"]["lines_off"], 2);

    // The pages render: entry, sheet, list, analysis.
    for page in [
        format!("/stock/counts/{id}"),
        format!("/stock/counts/{id}/sheet"),
        "/stock/counts".to_owned(),
        "/stock/counts/analysis".to_owned(),
    ] {
        let r = admin.get(&page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.text());
    }
    let sheet = admin.get(&format!("/stock/counts/{id}/sheet")).await.text();
    assert!(sheet.contains("@media print") && sheet.contains("FG-B2"), "{sheet}");

    // Approval posts the differences; balances equal what was counted; the freeze is gone.
    let sub = act(&admin, &id, "submit", &v["version"]).await;
    act(&admin, &id, "approve", &sub["version"]).await;
    assert_eq!(on_hand(&app, "FAN-100", "FG").await, d(97));
    assert_eq!(on_hand(&app, "P-200", "FG").await, d(52));
    assert_invariants(&app).await;
    let allowed =
        try_post(&admin, "production_issue", issue("2026-11-11", "FAN-100", "1", Some("FG-B1")))
            .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());
    assert_invariants(&app).await;

    // The analysis: posted values by bin, clerk and the moves since the (first) count.
    let a = admin.get("/api/v1/stock/counts/analysis?from=2026-01-01&to=2026-12-31").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let a = a.json();
    assert_eq!(a["counts"], 1);
    assert_eq!(a["total"]["lines"], 2);
    assert_eq!(a["total"]["lines_off"], 2);
    assert_eq!(a["total"]["diff_value"], "14");
    assert_eq!(a["total"]["abs_value"], "26");
    let group = |list: &str, key: &str| {
        a[list].as_array().unwrap().iter().find(|g| g["key"] == key).cloned().unwrap_or_default()
    };
    assert_eq!(group("by_bin", "FG-B1")["diff_value"], "-6");
    assert_eq!(group("by_bin", "FG-B2")["diff_qty"], "2");
    assert_eq!(group("by_clerk", "root")["lines_off"], 2);
    assert_eq!(group("by_move_type", "purchase_receipt")["lines"], 2);
    assert!(group("by_move_type", "production_issue").is_null(), "{a}");
}

#[tokio::test]
async fn abc_cycle_count_picks_its_class_and_cancel_releases() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    for code in ["X-A", "X-B", "X-C"] {
        item(&admin, code).await;
        post_doc(&admin, "purchase_receipt", receipt("2026-06-01", code, "100", "10", None)).await;
    }
    // Issue values over the last 12 months: 800, 150, 10 of 960 → A, B, C.
    for (code, qty) in [("X-A", "80"), ("X-B", "15"), ("X-C", "1")] {
        post_doc(&admin, "production_issue", issue("2026-07-01", code, qty, None)).await;
    }

    let start = |class: &'static str| {
        let admin = admin.clone();
        async move {
            admin
                .post(
                    "/api/v1/stock/counts",
                    &json!({"warehouse": "FG", "class": class, "date": "2026-11-20"}),
                )
                .await
        }
    };
    let a = start("A").await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
    let a = a.json();
    let items: Vec<&str> =
        a["lines"].as_array().unwrap().iter().map(|l| l["item"].as_str().unwrap()).collect();
    assert_eq!(items, ["X-A"]);
    let b = start("B").await.json();
    assert_eq!(b["lines"][0]["item"], "X-B");
    assert_eq!(b["lines"].as_array().unwrap().len(), 1);

    // X-C is not frozen; X-B is until its count is cancelled.
    let free = try_post(&admin, "production_issue", issue("2026-11-20", "X-C", "1", None)).await;
    assert_eq!(free.status, StatusCode::OK, "{}", free.text());
    let frozen = try_post(&admin, "production_issue", issue("2026-11-20", "X-B", "1", None)).await;
    assert_eq!(frozen.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", frozen.text());
    act(&admin, b["id"].as_str().unwrap(), "cancel", &b["version"]).await;
    let released =
        try_post(&admin, "production_issue", issue("2026-11-21", "X-B", "1", None)).await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.text());

    // A count's own approval refuses a book quantity edited through the document API.
    let id = a["id"].as_str().unwrap();
    let doc = admin.get(&format!("/api/v1/documents/stock_count/{id}")).await.json();
    let l = &doc["lines"][0];
    let lines = json!([{"item": l["item"], "quantity": l["quantity"], "unit": l["unit"],
                        "warehouse": l["warehouse"], "book_qty": "5"}]);
    let edited = admin
        .put(
            &format!("/api/v1/documents/stock_count/{id}"),
            &json!({"version": doc["version"], "doc_date": "2026-11-20", "lines": lines}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text());
    let sub = act(&admin, id, "submit", &edited.json()["version"]).await;
    let r = admin
        .post(
            &format!("/api/v1/documents/stock_count/{id}/approve"),
            &json!({"version": sub["version"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.json()["error"]["fields"][0]["code"], "count.book_changed");
    assert_eq!(on_hand(&app, "X-A", "FG").await, d(20));
    assert_invariants(&app).await;
}
