//! The warehouse manager's views: stock on hand now and as of a date at each level, values,
//! reservations and available stock, the stock card's running balances and document links,
//! stock alerts, CSV exports, the ledger check and its permission, put-away suggestions on a
//! receipt, and the pages in both languages.

use axum::http::StatusCode;
use papilio_store::stock_views;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::stock::post_doc;
use crate::support::{TestApp, TestClient, basic_master_data};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct Scene {
    app: TestApp,
    admin: TestClient,
    issue_id: String,
}

/// FAN-100: 100 at 2.00 into FG/FG-A1 and 50 at 3.20 into FG (no bin) on Nov 1st; 60 issued
/// from FG-A1 on Nov 2nd; 20 moved from FG to RM on Nov 4th. That leaves FG-A1 40, FG 30,
/// RM 20: 90 worth 216. MOTOR-1 (safety 50) has 30; CASE-1 (maximum 10) has 15.
async fn scene() -> Scene {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    for (path, body) in [
        ("/api/v1/warehouse", json!({"code": "RM", "name_zh": "原料仓", "name_en": "Raw"})),
        ("/api/v1/bin", json!({"code": "FG-A1", "warehouse": "FG"})),
        ("/api/v1/bin", json!({"code": "FG-B2", "warehouse": "FG"})),
        ("/api/v1/bin", json!({"code": "RM-01", "warehouse": "RM"})),
        (
            "/api/v1/item",
            json!({"code": "MOTOR-1", "name_zh": "电机", "name_en": "Motor",
                   "item_type": "purchased", "base_unit": "PCS", "safety_stock": "50",
                   "reorder_point": "80", "max_stock": "500"}),
        ),
        (
            "/api/v1/item",
            json!({"code": "CASE-1", "name_zh": "外壳", "name_en": "Case",
                   "item_type": "purchased", "base_unit": "PCS", "max_stock": "10"}),
        ),
    ] {
        let r = admin.post(path, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
    }
    let line = |item: &str, q: &str, p: &str, bin: Option<&str>| {
        let mut l = json!({"item": item, "quantity": q, "unit": "PCS", "unit_price": p,
                           "warehouse": "FG"});
        if let Some(b) = bin {
            l["bin"] = json!(b);
        }
        l
    };
    post_doc(
        &admin,
        "purchase_receipt",
        json!({"doc_date": "2026-11-01", "partner": "S001", "lines": [
            line("FAN-100", "100", "2", Some("FG-A1")),
            line("FAN-100", "50", "3.2", None),
            line("MOTOR-1", "30", "10", None),
            line("CASE-1", "15", "1", None),
        ]}),
    )
    .await;
    let issue = post_doc(
        &admin,
        "production_issue",
        json!({"doc_date": "2026-11-02", "lines": [{"item": "FAN-100", "quantity": "60",
               "unit": "PCS", "warehouse": "FG", "bin": "FG-A1"}]}),
    )
    .await;
    post_doc(
        &admin,
        "stock_transfer",
        json!({"doc_date": "2026-11-04", "lines": [{"item": "FAN-100", "quantity": "20",
               "unit": "PCS", "warehouse": "FG", "to_warehouse": "RM"}]}),
    )
    .await;
    let issue_id = issue["id"].as_str().unwrap().to_owned();
    Scene { app, admin, issue_id }
}

fn rows(v: &Value) -> Vec<Value> {
    v["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn balances_now_as_of_and_by_level() {
    let s = scene().await;
    let a = &s.admin;

    let r = a.get("/api/v1/stock/balances?item=fan-100&group=warehouse").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["total"], 2);
    let d = rows(&v);
    assert_eq!((d[0]["warehouse"].as_str(), d[0]["on_hand"].as_str()), (Some("FG"), Some("70")));
    assert_eq!((d[1]["warehouse"].as_str(), d[1]["on_hand"].as_str()), (Some("RM"), Some("20")));
    // 216 for 90 is 2.40 each.
    assert_eq!(d[0]["value"], "168");
    assert_eq!(d[1]["value"], "48");
    assert_eq!(d[0]["reserved"], "0");
    assert_eq!(d[0]["available"], "70");

    let item = a.get("/api/v1/stock/balances?item=FAN-100&group=item").await.json();
    assert_eq!(item["total"], 1);
    assert_eq!(item["data"][0]["on_hand"], "90");
    assert_eq!(item["data"][0]["value"], "216");
    assert_eq!(item["data"][0]["warehouse"], Value::Null);

    let lots = a.get("/api/v1/stock/balances?item=FAN-100&group=lot&nonzero=1").await.json();
    let keyed: Vec<(String, String, String)> = rows(&lots)
        .iter()
        .map(|r| {
            (
                r["warehouse"].as_str().unwrap().to_owned(),
                r["bin"].as_str().unwrap().to_owned(),
                r["on_hand"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keyed,
        vec![
            ("FG".into(), "".into(), "30".into()),
            ("FG".into(), "FG-A1".into(), "40".into()),
            ("RM".into(), "".into(), "20".into())
        ]
    );
    assert_eq!(lots["data"][0]["reserved"], Value::Null, "reservations are not per bin");

    // As of Nov 1st only the receipt counts; values come from the ledger.
    let then = a.get("/api/v1/stock/balances?item=FAN-100&group=item&as_of=2026-11-01").await;
    let then = then.json();
    assert_eq!(then["data"][0]["on_hand"], "150");
    assert_eq!(then["data"][0]["value"], "360");
    assert_eq!(then["data"][0]["reserved"], Value::Null);
    let before = a.get("/api/v1/stock/balances?as_of=2026-10-31&nonzero=true").await.json();
    assert_eq!(before["total"], 0);

    // Warehouse and category filters, paging.
    let rm = a.get("/api/v1/stock/balances?warehouse=RM").await.json();
    assert_eq!(rm["total"], 1);
    let fans = a.get("/api/v1/stock/balances?category=FAN&group=item").await.json();
    assert_eq!(fans["total"], 1);
    let all = a.get("/api/v1/stock/balances?group=item&per_page=2&page=2").await.json();
    assert_eq!((all["total"].as_i64(), rows(&all).len()), (Some(3), 1));

    // Bad input is refused by name.
    let bad = a.get("/api/v1/stock/balances?as_of=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["field"], "as_of");
    let bad = a.get("/api/v1/stock/balances?colour=red").await;
    assert_eq!(bad.json()["error"]["field"], "colour");
    let bad = a.get("/api/v1/stock/balances?group=shelf").await;
    assert_eq!(bad.json()["error"]["field"], "group");

    // CSV.
    let csv = a.get("/api/v1/stock/balances/export?item=FAN-100").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text();
    assert!(text.contains("item,name,category,warehouse"), "{text}");
    assert!(text.contains("FAN-100,Floor fan,FAN,FG,,,PCS,70,0,70,168"), "{text}");
}

async fn reserve(
    app: &TestApp,
    item: &str,
    wh: &str,
    qty: &str,
    short: bool,
) -> Result<Decimal, String> {
    let (item, wh, qty) = (item.to_owned(), wh.to_owned(), dec(qty));
    app.db
        .write(|conn, _| {
            let (item, wh) = (item.clone(), wh.clone());
            Box::pin(async move { stock_views::reserve(conn, &item, &wh, qty, short).await })
        })
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn release(app: &TestApp, item: &str, wh: &str, qty: &str) -> Result<Decimal, String> {
    let (item, wh, qty) = (item.to_owned(), wh.to_owned(), dec(qty));
    app.db
        .write(|conn, _| {
            let (item, wh) = (item.clone(), wh.clone());
            Box::pin(async move { stock_views::release(conn, &item, &wh, qty).await })
        })
        .await
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn reservations_reduce_what_is_available() {
    let s = scene().await;
    assert_eq!(reserve(&s.app, "FAN-100", "FG", "25", false).await, Ok(dec("25")));
    let refused = reserve(&s.app, "FAN-100", "FG", "46", false).await.unwrap_err();
    assert!(refused.contains("stock.not_available"), "{refused}");
    assert_eq!(reserve(&s.app, "FAN-100", "FG", "45", false).await, Ok(dec("70")));
    assert_eq!(release(&s.app, "FAN-100", "FG", "55").await, Ok(dec("15")));
    let too_much = release(&s.app, "FAN-100", "FG", "16").await.unwrap_err();
    assert!(too_much.contains("stock.release_exceeds"), "{too_much}");
    // A back order may reserve beyond stock when the caller allows it.
    assert_eq!(reserve(&s.app, "FAN-100", "RM", "30", true).await, Ok(dec("30")));

    let v = s.admin.get("/api/v1/stock/balances?item=FAN-100").await.json();
    let d = rows(&v);
    assert_eq!((d[0]["reserved"].as_str(), d[0]["available"].as_str()), (Some("15"), Some("55")));
    assert_eq!((d[1]["reserved"].as_str(), d[1]["available"].as_str()), (Some("30"), Some("-10")));
    let item = s.admin.get("/api/v1/stock/balances?item=FAN-100&group=item").await.json();
    assert_eq!(item["data"][0]["reserved"], "45");
    assert_eq!(item["data"][0]["available"], "45");
    let list = s.admin.get("/api/v1/stock/reservations?item=FAN-100").await.json();
    assert_eq!(list["total"], 2);

    let page = s.admin.get("/stock?item=FAN-100").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains(">-10<"), "short stock is shown");
}

#[tokio::test]
async fn stock_card_runs_balances_and_links_documents() {
    let s = scene().await;
    let a = &s.admin;
    let r = a.get("/api/v1/stock/card?item=FAN-100&from=2026-11-02&to=2026-11-30").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let card = r.json();
    assert_eq!(
        (card["opening_qty"].as_str(), card["opening_value"].as_str()),
        (Some("150"), Some("360"))
    );
    let lines = card["lines"].as_array().unwrap();
    let balances: Vec<&str> = lines.iter().map(|l| l["balance_qty"].as_str().unwrap()).collect();
    assert_eq!(balances, ["90", "70", "90"], "the transfer moves out and back in");
    assert_eq!(lines[0]["value"], "-144");
    assert_eq!(lines[0]["href"], format!("/d/production_issue/{}", s.issue_id));
    assert_eq!(card["closing_qty"], "90");
    assert_eq!(card["closing_value"], "216");

    let fg = a.get("/api/v1/stock/card?item=FAN-100&warehouse=FG&from=2026-11-01&to=2026-11-30");
    let fg = fg.await.json();
    let balances: Vec<&str> = fg["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["balance_qty"].as_str().unwrap())
        .collect();
    // Within one posting, moves go in (warehouse, bin, lot) order: no bin before FG-A1.
    assert_eq!(balances, ["50", "150", "90", "70"]);
    assert_eq!(fg["opening_qty"], "0");

    let missing = a.get("/api/v1/stock/card").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.json()["error"]["field"], "item");
    let unknown = a.get("/api/v1/stock/card?item=NOPE").await;
    assert_eq!(unknown.json()["error"]["field"], "item");
    let reversed = a.get("/api/v1/stock/card?item=FAN-100&from=2026-12-01&to=2026-11-01").await;
    assert_eq!(reversed.json()["error"]["field"], "from");

    let page = a.get("/stock/card?item=FAN-100&from=2026-11-02&to=2026-11-30").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains(&format!("href=\"/d/production_issue/{}\"", s.issue_id)), "{html}");
    assert!(
        html.contains("id=\"opening-qty\">150<") && html.contains("id=\"closing-value\">216.00<")
    );
}

#[tokio::test]
async fn alerts_count_and_export() {
    let s = scene().await;
    let a = &s.admin;
    let v = a.get("/api/v1/stock/alerts").await.json();
    let d = rows(&v);
    let got: Vec<(&str, &str, &str)> = d
        .iter()
        .map(|r| {
            (r["item"].as_str().unwrap(), r["alert"].as_str().unwrap(), r["gap"].as_str().unwrap())
        })
        .collect();
    assert_eq!(got, [("CASE-1", "above_maximum", "5"), ("MOTOR-1", "below_safety", "20")]);

    // 40 more motors: 70 is above the safety stock of 50 but still at or below the reorder
    // point of 80.
    post_doc(
        a,
        "purchase_receipt",
        json!({"doc_date": "2026-11-05", "partner": "S001",
        "lines": [{"item": "MOTOR-1", "quantity": "40", "unit": "PCS", "unit_price": "10",
                   "warehouse": "RM"}]}),
    )
    .await;
    let v = a.get("/api/v1/stock/alerts").await.json();
    let motor = rows(&v).into_iter().find(|r| r["item"] == "MOTOR-1").unwrap();
    assert_eq!(
        (motor["alert"].as_str(), motor["on_hand"].as_str()),
        (Some("at_reorder_point"), Some("70"))
    );

    let csv = a.get("/api/v1/stock/alerts/export").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.text().contains("MOTOR-1,Motor,PCS,at_reorder_point,70"), "{}", csv.text());
    let page_csv = a.get("/stock/alerts/export.csv").await;
    assert!(page_csv.text().contains("At or below reorder point"), "{}", page_csv.text());

    let home = a.get("/").await.text();
    assert!(home.contains("id=\"home-stock-alerts\""), "{home}");
    assert!(home.contains("<strong>2</strong>"), "{home}");
    let page = a.get("/stock/alerts").await.text();
    assert!(page.contains("MOTOR-1") && page.contains("Above maximum stock"), "{page}");
}

#[tokio::test]
async fn ledger_check_for_managers_only() {
    let s = scene().await;
    let ok = s.admin.get("/api/v1/stock/check").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json(), json!({"ok": true, "problems": []}));
    let manager = s.app.client("wm", &["warehouse_manager"]).await;
    assert_eq!(manager.get("/api/v1/stock/check").await.status, StatusCode::OK);
    let page = manager.get("/stock/check").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("All ledger invariants hold."));
    let clerk = s.app.client("wc", &["warehouse_clerk"]).await;
    assert_eq!(clerk.get("/api/v1/stock/balances").await.status, StatusCode::OK);
    let refused = clerk.get("/api/v1/stock/check").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "forbidden");
    assert_eq!(clerk.get("/stock/check").await.status, StatusCode::FORBIDDEN);
    let nav = clerk.get("/").await.text();
    assert!(nav.contains("href=\"/stock/card\"") && !nav.contains("href=\"/stock/check\""));
}

#[tokio::test]
async fn putaway_suggestion_and_stock_fields_on_documents() {
    let s = scene().await;
    let a = &s.admin;
    let draft = a
        .post(
            "/api/v1/documents/purchase_receipt",
            &json!({"doc_date": "2026-11-06", "partner": "S001", "lines": [{"item": "FAN-100",
                "quantity": "5", "unit": "PCS", "unit_price": "2", "warehouse": "FG"}]}),
        )
        .await
        .json();
    let href = format!("/d/purchase_receipt/{}", draft["id"].as_str().unwrap());
    // FG-A1 is the only bin of FG holding the fan.
    let html = a.get(&href).await.text();
    assert!(html.contains("suggested: FG-A1"), "{html}");
    assert!(html.contains(">Lot expiry<"), "{html}");

    let set = a
        .put(
            "/api/v1/stock/default_bins",
            &json!({"item": "FAN-100", "warehouse": "FG", "bin": "FG-B2"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    assert!(a.get(&href).await.text().contains("suggested: FG-B2"));
    let listed = a.get("/api/v1/stock/default_bins?item=FAN-100").await.json();
    assert_eq!(listed["data"][0]["bin"], "FG-B2");
    let wrong = a
        .put(
            "/api/v1/stock/default_bins",
            &json!({"item": "FAN-100", "warehouse": "FG", "bin": "RM-01"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.json()["error"]["fields"][0]["code"], "stock.bin_not_in_warehouse");

    // A count shows book quantity and difference; a miscellaneous issue shows its reason.
    let count = a
        .post(
            "/api/v1/documents/stock_count",
            &json!({"doc_date": "2026-11-06", "lines": [{"item": "FAN-100", "quantity": "28",
                "book_qty": "30", "unit": "PCS", "warehouse": "FG"}]}),
        )
        .await
        .json();
    let html = a.get(&format!("/d/stock_count/{}", count["id"].as_str().unwrap())).await.text();
    assert!(html.contains(">Book quantity<") && html.contains(">-2<"), "{html}");
    assert!(!html.contains(">Lot expiry<"));
}

#[tokio::test]
async fn pages_render_in_both_languages() {
    let s = scene().await;
    let a = &s.admin;
    let en = a.get("/stock?item=FAN-100").await;
    assert_eq!(en.status, StatusCode::OK, "{}", en.text());
    let html = en.text();
    assert!(
        html.contains("Stock on hand") && html.contains(">168.00<") && html.contains(">48.00<")
    );
    assert!(html.contains("id=\"total-qty\">90<") && html.contains("id=\"total-value\">216.00<"));
    let lot = a.get("/stock?item=FAN-100&group=lot").await.text();
    assert!(lot.contains(">FG-A1<") && lot.contains(">40<"), "{lot}");
    let as_of = a.get("/stock?item=FAN-100&group=item&as_of=2026-11-01").await.text();
    assert!(as_of.contains(">150<") && as_of.contains(">360.00<"), "{as_of}");
    let csv = a.get("/stock/export.csv?item=FAN-100").await;
    assert!(csv.text().contains("On hand"), "{}", csv.text());

    let zh = a.put("/api/v1/me/locale", &json!({"locale": "zh-CN"})).await;
    assert!(zh.status.is_success(), "{}", zh.text());
    let html = a.get("/stock?item=FAN-100").await.text();
    assert!(html.contains("即时库存") && html.contains("落地扇") && html.contains(">168.00<"));
    let card = a.get("/stock/card?item=FAN-100&from=2026-11-01&to=2026-11-30").await.text();
    assert!(card.contains("存货明细账") && card.contains("期初结存") && card.contains(">216.00<"));
    let alerts = a.get("/stock/alerts").await.text();
    assert!(alerts.contains("低于安全库存") && alerts.contains("超过最高库存"), "{alerts}");
    let check = a.get("/stock/check").await.text();
    assert!(check.contains("库存账全部一致"));
    let home = a.get("/").await.text();
    assert!(home.contains("href=\"/stock/alerts\"") && home.contains("库存预警"));
    let empty = a.get("/stock/card").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.text().contains("请输入物料编码"));
}
