//! Stock analyses 呆滞料分析 through the API and the page: a small history of receipts and
//! issues on known dates, checked against idleness, ageing buckets and turnover worked by hand.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::stock::post_doc;
use crate::support::{TestApp, TestClient, basic_master_data};

fn line(item: &str, qty: &str, price: &str, warehouse: &str) -> Value {
    json!({
        "item": item, "quantity": qty, "unit": "PCS", "unit_price": price, "warehouse": warehouse
    })
}

fn issue(item: &str, qty: &str) -> Value {
    json!({"item": item, "quantity": qty, "unit": "PCS", "warehouse": "FG"})
}

async fn receive(admin: &TestClient, date: &str, lines: Vec<Value>) {
    post_doc(
        admin,
        "purchase_receipt",
        json!({"doc_date": date, "partner": "S001", "lines": lines}),
    )
    .await;
}

/// The history, everything in PCS:
///
/// - FAN-100 (FAN) in FG: 100 at 2 on 2025-11-01 and 50 at 4 on 2026-08-01 (150 worth 400);
///   30 issued to production on 2026-10-01 at the average 2.666… = 80 (120 worth 320); 20 at 5
///   on 2026-12-11 (140 worth 420, average 3). A delivery of 10 on 2026-12-15 is reversed.
/// - FAN-200 (FAN) in FG: 10 at 1 on 2026-12-01, 5 issued on 2026-12-20 (5 worth 5).
/// - MOTOR (MOT) in RM: 10 at 10 on 2026-03-01, never issued.
async fn history(app: &TestApp) -> TestClient {
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    for (path, body) in [
        (
            "/api/v1/warehouse",
            json!({"code": "RM", "name_zh": "原料仓", "name_en": "Raw materials"}),
        ),
        ("/api/v1/item_category", json!({"code": "MOT", "name_zh": "电机", "name_en": "Motors"})),
        (
            "/api/v1/item",
            json!({
                "code": "FAN-200", "name_zh": "台扇", "name_en": "Desk fan",
                "item_type": "manufactured", "base_unit": "PCS", "category": "FAN",
                "standard_cost": "1"
            }),
        ),
        (
            "/api/v1/item",
            json!({
                "code": "MOTOR", "name_zh": "电机", "name_en": "Motor", "item_type": "purchased",
                "base_unit": "PCS", "category": "MOT", "standard_cost": "10"
            }),
        ),
    ] {
        let r = admin.post(path, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
    }
    receive(&admin, "2025-11-01", vec![line("FAN-100", "100", "2", "FG")]).await;
    receive(&admin, "2026-03-01", vec![line("MOTOR", "10", "10", "RM")]).await;
    receive(&admin, "2026-08-01", vec![line("FAN-100", "50", "4", "FG")]).await;
    post_doc(
        &admin,
        "production_issue",
        json!({"doc_date": "2026-10-01", "lines": [issue("FAN-100", "30")]}),
    )
    .await;
    receive(&admin, "2026-12-01", vec![line("FAN-200", "10", "1", "FG")]).await;
    receive(&admin, "2026-12-11", vec![line("FAN-100", "20", "5", "FG")]).await;
    let delivery = post_doc(
        &admin,
        "sales_delivery",
        json!({"doc_date": "2026-12-15", "partner": "C001", "lines": [issue("FAN-100", "10")]}),
    )
    .await;
    let id = delivery["id"].as_str().unwrap();
    let back = admin
        .post(
            &format!("/api/v1/documents/sales_delivery/{id}/unapprove"),
            &json!({"version": delivery["version"]}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text());
    post_doc(
        &admin,
        "production_issue",
        json!({"doc_date": "2026-12-20", "lines": [issue("FAN-200", "5")]}),
    )
    .await;
    admin
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn slow_moving_counts_days_since_the_last_issue() {
    let app = TestApp::new().await;
    let admin = history(&app).await;

    let r = admin.get("/api/v1/stock/slow-moving?as_of=2026-12-31&min_days=90").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    let rows = body["data"].as_array().unwrap();
    // MOTOR never issued: 305 days since its receipt on 1 March. FAN-100 last issued on
    // 1 October (the reversed delivery does not count): 31 + 30 + 30 = 91 days.
    let got: Vec<(String, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["item"].as_str().unwrap().to_owned(),
                r["warehouse"].as_str().unwrap().to_owned(),
                r["idle_days"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![("MOTOR".into(), "RM".into(), 305), ("FAN-100".into(), "FG".into(), 91)]);
    assert_eq!(rows[0]["last_issue"], Value::Null);
    assert_eq!(rows[0]["first_receipt"], "2026-03-01");
    assert_eq!((rows[0]["qty"].as_str(), rows[0]["value"].as_str()), (Some("10"), Some("100")));
    assert_eq!(rows[1]["last_issue"], "2026-10-01");
    assert_eq!((rows[1]["qty"].as_str(), rows[1]["value"].as_str()), (Some("140"), Some("420")));
    assert_eq!(body["total_value"], "520");

    // No threshold: FAN-200, issued on 20 December, is 11 days idle; one warehouse only.
    let all = admin.get("/api/v1/stock/slow-moving?as_of=2026-12-31&min_days=0").await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    assert_eq!(all["data"][2]["idle_days"], 11);
    let fg = admin
        .get("/api/v1/stock/slow-moving?as_of=2026-12-31&min_days=0&warehouse=fg")
        .await
        .json();
    assert!(fg["data"].as_array().unwrap().iter().all(|r| r["warehouse"] == "FG"));
    assert_eq!(fg["data"].as_array().unwrap().len(), 2);

    // As of 30 September the issue had not happened: FAN-100 idle since its first receipt.
    let early = admin.get("/api/v1/stock/slow-moving?as_of=2026-09-30&min_days=0").await.json();
    let fan = early["data"].as_array().unwrap().iter().find(|r| r["item"] == "FAN-100").unwrap();
    assert_eq!(fan["idle_days"], 333); // 2025-11-01 to 2026-09-30
    assert_eq!(fan["qty"], "150");

    let bad = admin.get("/api/v1/stock/slow-moving?min_days=soon&as_of=31.12.2026").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
    assert_eq!(bad.json()["error"]["fields"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn ageing_splits_stock_first_in_first_out() {
    let app = TestApp::new().await;
    let admin = history(&app).await;

    let r = admin.get("/api/v1/stock/ageing?as_of=2026-12-31").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(strs(&body["labels"]), ["0–30", "31–90", "91–180", "181–365", ">365"]);
    let row = |item: &str| {
        body["data"].as_array().unwrap().iter().find(|r| r["item"] == item).unwrap().clone()
    };
    // FAN-100, 140 on hand: the newest 20 (20 days), then the 50 of August (152 days), then 70
    // of the 100 from November 2025 (425 days). At the average 3: 60, 150, 210.
    let fan = row("FAN-100");
    assert_eq!(strs(&fan["bucket_qty"]), ["20", "0", "50", "0", "70"]);
    assert_eq!(strs(&fan["bucket_value"]), ["60", "0", "150", "0", "210"]);
    // MOTOR, 305 days old; FAN-200, 30 days old (the bound itself is in the younger bucket).
    assert_eq!(strs(&row("MOTOR")["bucket_value"]), ["0", "0", "0", "100", "0"]);
    assert_eq!(strs(&row("FAN-200")["bucket_qty"]), ["5", "0", "0", "0", "0"]);
    let cats = body["by_category"].as_array().unwrap();
    assert_eq!(cats[0]["key"], "FAN");
    assert_eq!(strs(&cats[0]["value"]), ["65", "0", "150", "0", "210"]);
    assert_eq!(cats[1]["key"], "MOT");
    assert_eq!(strs(&body["total"]["qty"]), ["25", "0", "50", "10", "70"]);
    let whs: Vec<&str> = body["by_warehouse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(whs, ["FG", "RM"]);

    // Custom buckets 0–60, 61–365, over 365.
    let custom =
        admin.get("/api/v1/stock/ageing?as_of=2026-12-31&buckets=60,365&warehouse=FG").await;
    assert_eq!(custom.status, StatusCode::OK, "{}", custom.text());
    let custom = custom.json();
    assert_eq!(strs(&custom["labels"]), ["0–60", "61–365", ">365"]);
    assert_eq!(strs(&custom["total"]["qty"]), ["25", "50", "70"]);
    assert_eq!(strs(&custom["total"]["value"]), ["65", "150", "210"]);

    for bad in ["90,30", "30,abc", "0,10", ""] {
        let r = admin.get(&format!("/api/v1/stock/ageing?buckets={bad}")).await;
        let expected =
            if bad.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
        assert_eq!(r.status, expected, "{bad}: {}", r.text());
    }
}

#[tokio::test]
async fn turnover_is_issue_value_over_average_stock() {
    let app = TestApp::new().await;
    let admin = history(&app).await;

    // October to December: 92 days, valued on 30 Sep, 31 Oct, 30 Nov and 31 Dec.
    let r = admin.get("/api/v1/stock/turnover?from=2026-10-01&to=2026-12-31&group=category").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["period_days"], 92);
    assert_eq!(strs(&body["points"]), ["2026-09-30", "2026-10-31", "2026-11-30", "2026-12-31"]);
    let fan = &body["data"][0];
    assert_eq!(fan["key"], "FAN");
    // FAN: 400, 320, 320 and 425 (420 + 5): average 366.25. Issued 80 + 5 = 85 (the reversed
    // delivery nets out). 85 / 366.25 = 0.23 turns; 92 × 366.25 / 85 = 396.4 days.
    assert_eq!(strs(&fan["point_values"]), ["400", "320", "320", "425"]);
    assert_eq!(fan["average_value"], "366.25");
    assert_eq!(fan["issue_value"], "85");
    assert_eq!(fan["turnover"], "0.23");
    assert_eq!(fan["days_of_inventory"], "396.4");
    // MOT: held at 100 throughout, nothing issued: no turnover.
    let mot = &body["data"][1];
    assert_eq!((mot["key"].as_str(), mot["average_value"].as_str()), (Some("MOT"), Some("100")));
    assert_eq!(mot["turnover"], Value::Null);

    let items = admin.get("/api/v1/stock/turnover?from=2026-10-01&to=2026-12-31&group=item").await;
    let items = items.json();
    let find = |k: &str| items["data"].as_array().unwrap().iter().find(|r| r["key"] == k).cloned();
    // FAN-100: (400 + 320 + 320 + 420) / 4 = 365, 80 issued: 0.22 turns, 92 × 365 / 80 = 419.75
    // rounds half away from zero to 419.8 days.
    let f1 = find("FAN-100").unwrap();
    assert_eq!(
        (f1["average_value"].as_str(), f1["turnover"].as_str()),
        (Some("365"), Some("0.22"))
    );
    assert_eq!(f1["days_of_inventory"], "419.8");
    // FAN-200: (0 + 0 + 0 + 5) / 4 = 1.25, 5 issued: 4 turns, 23 days.
    let f2 = find("FAN-200").unwrap();
    assert_eq!((f2["average_value"].as_str(), f2["turnover"].as_str()), (Some("1.25"), Some("4")));
    assert_eq!(f2["days_of_inventory"], "23");

    let bad = admin.get("/api/v1/stock/turnover?from=2026-12-31&to=2026-01-01&group=x").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["fields"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn analysis_page_renders_charts_in_both_languages_and_needs_read() {
    let app = TestApp::new().await;
    let admin = history(&app).await;

    let en = admin.get("/stock/analysis?as_of=2026-12-31&from=2026-10-01&to=2026-12-31").await;
    assert_eq!(en.status, StatusCode::OK, "{}", en.text());
    let html = en.text();
    for needle in [
        "Stock analysis",
        "id=\"ageing-chart\"",
        "id=\"turnover-chart\"",
        "/assets/vendor/echarts.min.js",
        "echarts.init",
        "locale: 'EN'",
        "MOTOR",
        "Days of inventory",
    ] {
        assert!(html.contains(needle), "{needle} missing from the English page");
    }
    assert!(html.contains("href=\"/stock/analysis\""), "navigation links the page");
    // The chart option the server wrote is valid JSON: one stacked series per age bucket,
    // one bar per category; FAN's over-365 value is the 210 of the table.
    let start = html.find("id=\"ageing-option\">").unwrap() + "id=\"ageing-option\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let option: Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(option["series"].as_array().unwrap().len(), 5);
    assert_eq!(option["series"][4]["stack"], "age");
    assert_eq!(option["xAxis"]["data"][0], "FAN Fans");
    assert_eq!(option["series"][4]["data"][0], 210.0);

    let zh = admin.put("/api/v1/me/locale", &json!({"locale": "zh-CN"})).await;
    assert!(zh.status.is_success(), "{}", zh.text());
    let html = admin.get("/stock/analysis?as_of=2026-12-31&by=warehouse").await.text();
    for needle in ["库存分析", "呆滞料", "库龄", "id=\"ageing-chart\"", "locale: 'ZH'", "周转天数"]
    {
        assert!(html.contains(needle), "{needle} missing from the Chinese page");
    }

    // The slow-moving list as CSV, in the user's language, most idle first.
    let csv = admin.get("/stock/analysis/slow-moving.csv?as_of=2026-12-31&min_days=90").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    let text = csv.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("物料,名称,物料类别,仓库"), "{}", lines[0]);
    assert_eq!(lines[1], "MOTOR,电机,MOT,RM,10,100.00,,2026-03-01,305");
    assert_eq!(lines.len(), 3);

    let asset = admin.get("/assets/vendor/echarts.min.js").await;
    assert_eq!(asset.status, StatusCode::OK);

    // A user without inventory grants sees neither the page nor the API.
    let nobody = app.client("nobody", &[]).await;
    assert_eq!(nobody.get("/stock/analysis").await.status, StatusCode::FORBIDDEN);
    let csv = nobody.get("/stock/analysis/slow-moving.csv").await;
    assert_eq!(csv.status, StatusCode::FORBIDDEN);
    let r = nobody.get("/api/v1/stock/ageing?buckets=broken").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "permission is checked before the input");
}
