//! Import and export of master data: all rows or none, errors named by row and column, files
//! that round-trip, the upload page with its CSRF token in the URL.

use std::io::Write;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value as Json, json};
use sqlx::Row;
use tower::ServiceExt;

use crate::support::{TestApp, TestClient, basic_master_data};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const ITEM_HEADER: &str = "code,name_zh,name_en,item_type,base_unit,category,safety_stock,\
                           standard_cost,lot_sizing,fixed_lot,max_stock";

/// A CSV of `n` items `IMP-00001`..., with `edit` changing the line of a data row (0-based).
fn items_csv(n: usize, edit: impl Fn(usize, String) -> String) -> String {
    let mut csv = format!("{ITEM_HEADER}\n");
    for i in 0..n {
        let kind = ["purchased", "manufactured", "outsourced"][i % 3];
        let sizing = if i % 5 == 0 { "fixed" } else { "lot_for_lot" };
        let fixed = if i % 5 == 0 { "50" } else { "" };
        let max = if i % 7 == 0 { "1000.5" } else { "" };
        let line = format!(
            "IMP-{i:05},导入物料{i},\"Imported item {i}, grey\",{kind},PCS,FAN,{}.25,{}.123456,\
             {sizing},{fixed},{max}",
            i % 10,
            i % 100
        );
        csv.push_str(&edit(i, line));
        csv.push('\n');
    }
    csv
}

async fn import_csv(client: &TestClient, kind: &str, csv: &str) -> crate::support::TestResponse {
    client
        .send(
            Method::POST,
            &format!("/api/v1/{kind}/import"),
            &[("content-type", "text/csv")],
            Body::from(csv.to_owned()),
        )
        .await
}

fn multipart(file_name: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "papilio-test-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The problems of a refused import: (field, code, message).
fn problems(body: &Json) -> Vec<(String, String, String)> {
    body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (text("field"), text("code"), text("message"))
        })
        .collect()
}

async fn total(client: &TestClient, path: &str) -> i64 {
    let r = client.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["total"].as_i64().expect("total")
}

/// The rows of a list without ids and versions, which differ between databases.
async fn rows_without_ids(client: &TestClient, path: &str) -> Vec<Json> {
    let r = client.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut rows = r.json()["data"].as_array().expect("data").clone();
    for row in &mut rows {
        let map = row.as_object_mut().expect("object");
        map.remove("id");
        map.remove("version");
    }
    rows
}

#[tokio::test]
async fn a_thousand_items_import_from_csv_and_show_in_the_list() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    let csv = items_csv(1000, |_, line| line);
    let started = Instant::now();
    let r = import_csv(&admin, "item", &csv).await;
    let took = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({"imported": 1000}));
    let _ = writeln!(std::io::stderr(), "imported 1000 items in {} ms", took.as_millis());

    assert_eq!(total(&admin, "/api/v1/item?q=imp-").await, 1000);
    let found = admin.get("/api/v1/item?q=IMP-00500").await.json();
    assert_eq!(found["total"], 1);
    let item = &found["data"][0];
    assert_eq!(item["name_en"], "Imported item 500, grey");
    assert_eq!(item["name_zh"], "导入物料500");
    assert_eq!(item["safety_stock"], "0.25");
    assert_eq!(item["standard_cost"], "0.123456");
    assert_eq!(item["lot_sizing"], "fixed");
    assert_eq!(item["fixed_lot"], "50");
    assert_eq!(item["active"], true);
    assert_eq!(item["lead_time_days"], 0);

    // One audit row for the whole import, naming the file.
    let rows = sqlx::query(
        "SELECT entity_id, user_id, after_json FROM audit_log WHERE entity = $1 AND action = $2",
    )
    .bind("item")
    .bind("import")
    .fetch_all(app.db.pool())
    .await
    .expect("audit");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i64, _>("entity_id"), 0);
    assert_eq!(rows[0].get::<Option<i64>, _>("user_id"), Some(admin.user_id));
    let after: Json = serde_json::from_str(&rows[0].get::<String, _>("after_json")).unwrap();
    assert_eq!(after, json!({"rows": 1000, "file": "upload.csv"}));
}

#[tokio::test]
async fn a_bad_row_501_imports_nothing_and_is_named_in_both_languages() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    // Row 501 of the sheet is the 500th data row (the header is row 1).
    let csv = items_csv(1000, |i, line| {
        if i == 499 { line.replace(",PCS,FAN,9.25,", ",PCS,FAN,-9.25,") } else { line }
    });
    let r = import_csv(&admin, "item", &csv).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "validation_failed");
    assert_eq!(body["error"]["field"], "rows[501].safety_stock");
    assert_eq!(body["error"]["message"], "Row 501, Safety stock: must not be negative");
    assert_eq!(
        problems(&body),
        vec![(
            "rows[501].safety_stock".to_owned(),
            "field.negative".to_owned(),
            "Row 501, Safety stock: must not be negative".to_owned()
        )]
    );
    assert_eq!(total(&admin, "/api/v1/item").await, 1, "nothing was imported");

    papilio_store::users::set_locale(&app.db, admin.user_id, "zh-CN").await.unwrap();
    let r = import_csv(&admin, "item", &csv).await;
    assert_eq!(r.json()["error"]["message"], "第 501 行 安全库存: 不能为负数");
}

#[tokio::test]
async fn duplicates_inside_the_file_and_in_the_database_are_refused() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    let csv = "code,name_zh,name_en,item_type,base_unit\n\
               A-1,甲,A,purchased,PCS\n\
               B-1,乙,B,purchased,PCS\n\
               a-1,甲,A again,purchased,PCS\n\
               fan-100,风扇,Fan,purchased,PCS\n";
    let r = import_csv(&admin, "item", csv).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let got: Vec<(String, String)> =
        problems(&r.json()).into_iter().map(|(field, code, _)| (field, code)).collect();
    assert_eq!(
        got,
        vec![
            ("rows[4].code".to_owned(), "import.duplicate_in_file".to_owned()),
            ("rows[5].code".to_owned(), "import.already_exists".to_owned()),
        ]
    );
    assert_eq!(problems(&r.json())[1].2, "Row 5, Code: FAN-100 already exists");
    assert_eq!(total(&admin, "/api/v1/item").await, 1);

    // Other unique keys too: one rate per currency and date.
    let csv = "currency,rate_date,rate\nUSD,2026-12-01,7.1\nusd,2026-12-01,7.2\n";
    let r = import_csv(&admin, "exchange_rate", csv).await;
    let got = problems(&r.json());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "rows[3].currency");
    assert_eq!(got[0].1, "import.duplicate_in_file");
}

#[tokio::test]
async fn references_must_exist_in_the_database_or_earlier_in_the_file() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    let csv = "code,name_zh,name_en,item_type,base_unit\n\
               X-1,甲,A,purchased,PCS\n\
               X-2,乙,B,purchased,NOPE\n";
    let r = import_csv(&admin, "item", csv).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let got = problems(&r.json());
    assert_eq!(
        got,
        vec![(
            "rows[3].base_unit".to_owned(),
            "field.unknown_reference".to_owned(),
            "Row 3, Base unit: NOPE does not exist".to_owned()
        )]
    );

    // A category tree: a parent earlier in the file or in the database is fine, a parent that
    // only comes later is not.
    let csv = "code,name_zh,name_en,parent\n\
               ROOT,根,Root,\n\
               MOTOR,电机,Motors,ROOT\n\
               BLADE,扇叶,Blades,FAN\n\
               SMALL,小电机,Small motors,LATER\n\
               LATER,后来,Later,\n";
    let r = import_csv(&admin, "item_category", csv).await;
    let got: Vec<(String, String)> =
        problems(&r.json()).into_iter().map(|(field, code, _)| (field, code)).collect();
    assert_eq!(got, vec![("rows[5].parent".to_owned(), "field.unknown_reference".to_owned())]);

    let fixed = csv.replace("SMALL,小电机,Small motors,LATER\nLATER,后来,Later,\n", "")
        + "LATER,后来,Later,\nSMALL,小电机,Small motors,LATER\n";
    let r = import_csv(&admin, "item_category", &fixed).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["imported"], 5);
}

#[tokio::test]
async fn bad_files_are_refused_with_a_reason() {
    let app = TestApp::new().await;
    let admin = app.admin().await;

    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("text/csv", b"code,name_zh,colour\nX,y,z\n".to_vec(), "header", "import.unknown_column"),
        ("text/csv", b"code,name_zh\nX,y\n".to_vec(), "header", "import.header_missing"),
        ("text/csv", b"code,name_zh,name_en\n".to_vec(), "file", "import.empty_file"),
        ("text/csv", b"code,name_zh,name_en\nX,\xd6\xd0,Y\n".to_vec(), "file", "import.not_utf8"),
        (XLSX, b"not a workbook".to_vec(), "file", "import.unknown_format"),
        ("application/pdf", b"PK\x03\x04broken".to_vec(), "file", "import.unreadable"),
    ];
    for (content_type, body, field, code) in cases {
        let r = admin
            .send(
                Method::POST,
                "/api/v1/unit/import",
                &[("content-type", content_type)],
                body.into(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {}", r.text());
        let got = problems(&r.json());
        assert_eq!((got[0].0.as_str(), got[0].1.as_str()), (field, code), "{got:?}");
    }
    let r = admin
        .send(
            Method::POST,
            "/api/v1/unit/import",
            &[("content-type", "text/csv")],
            Body::from("code,name_zh,name_en\n".to_owned() + &"x".repeat(21 * 1024 * 1024)),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["message"], "File: is larger than 20 MB");

    let big = "code,name_zh,name_en\n".to_owned() + &"x".repeat(21 * 1024 * 1024);
    let (content_type, body) = multipart("big.csv", "text/csv", big.as_bytes());
    let r = admin
        .send(Method::POST, "/api/v1/unit/import", &[("content-type", &content_type)], body.into())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["message"], "File: is larger than 20 MB");
}

#[tokio::test]
async fn an_xlsx_export_imports_into_a_fresh_database_unchanged() {
    let first = TestApp::new().await;
    let admin = first.admin().await;
    basic_master_data(&admin).await;
    let r = import_csv(&admin, "item", &items_csv(60, |_, line| line)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // The export follows the list's search: FAN-100 is left out.
    let r = admin.get("/api/v1/item/export?format=xlsx&q=imp-").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers[header::CONTENT_TYPE], XLSX);
    let disposition = r.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"item-"), "{disposition}");
    assert!(disposition.ends_with(".xlsx\""), "{disposition}");
    let workbook = r.body.to_vec();

    let second = TestApp::new().await;
    let other = second.admin().await;
    basic_master_data(&other).await;
    let (content_type, body) = multipart("items.xlsx", XLSX, &workbook);
    let r = other
        .send(Method::POST, "/api/v1/item/import", &[("content-type", &content_type)], body.into())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["imported"], 60);

    let list = "/api/v1/item?q=imp-&per_page=500";
    assert_eq!(rows_without_ids(&admin, list).await, rows_without_ids(&other, list).await);

    // CSV exports of both are byte for byte the same, and filters apply.
    let path = "/api/v1/item/export?format=csv&item_type=purchased";
    let (a, b) = (admin.get(path).await, other.get(path).await);
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, b.body);
    let text = a.text();
    let mut lines = text.lines();
    let header = lines.next().unwrap().trim_start_matches('\u{feff}');
    assert!(header.starts_with("code,name_zh,name_en,category,item_type,base_unit"), "{header}");
    assert_eq!(lines.count(), 20, "60 imported, every third purchased");
}

#[tokio::test]
async fn the_upload_page_imports_and_redirects_to_the_list() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    let page = admin.get("/m/unit/import").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    assert!(html.contains("/m/unit/import/template.csv"));

    let template = admin.get("/m/unit/import/template.csv").await;
    assert_eq!(template.status, StatusCode::OK);
    assert_eq!(template.text(), "\u{feff}code,name_zh,name_en,decimals,active\n");

    let (content_type, body) = multipart(
        "units.csv",
        "text/csv",
        "code,name_zh,name_en,decimals\nKG,千克,Kilogram,3\n".as_bytes(),
    );
    let r = admin
        .send(Method::POST, "/m/unit/import", &[("content-type", &content_type)], body.into())
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.headers[header::LOCATION], "/m/unit?imported=1");

    // A failed upload shows the form again with a table of problems.
    let (content_type, body) = multipart(
        "units.csv",
        "text/csv",
        "code,name_zh,name_en,decimals\nG,克,Gram,9\n".as_bytes(),
    );
    let r = admin
        .send(Method::POST, "/m/unit/import", &[("content-type", &content_type)], body.into())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text();
    assert!(html.contains("id=\"import-errors\""), "{html}");
    assert!(html.contains("<code>decimals</code>"), "{html}");
    assert!(html.contains("is out of range (0 to 6)"), "{html}");

    // The CSV export link of the list page.
    let csv = admin.get("/m/unit/export.csv?q=kilo").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(
        csv.text(),
        "\u{feff}code,name_zh,name_en,decimals,active\nKG,千克,Kilogram,3,true\n"
    );
}

#[tokio::test]
async fn a_browser_session_uploads_with_the_token_in_the_url() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let session = papilio_store::users::create_session(&app.db, admin.user_id).await.unwrap();
    let upload = |query: &str| {
        let (content_type, body) = multipart(
            "units.csv",
            "text/csv",
            "code,name_zh,name_en\nKG,千克,Kilogram\n".as_bytes(),
        );
        Request::builder()
            .method(Method::POST)
            .uri(format!("/m/unit/import{query}"))
            .header(header::COOKIE, format!("papilio_session={}", session.token))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };

    let page = app
        .router
        .clone()
        .oneshot(
            Request::builder()
                .uri("/m/unit/import")
                .header(header::COOKIE, format!("papilio_session={}", session.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let html = page.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8_lossy(&html);
    let action = format!("action=\"/m/unit/import?_csrf={}\"", session.csrf_token);
    assert!(html.contains(&action), "{html}");

    let refused = app.router.clone().oneshot(upload("")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let done = app.router.clone().oneshot(upload(&format!("?_csrf={}", session.csrf_token)));
    let done = done.await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(total(&admin, "/api/v1/unit?q=kg").await, 1);
}

#[tokio::test]
async fn import_and_export_need_their_permissions() {
    let app = TestApp::new().await;
    let clerk = app.client("clerk", &["warehouse_clerk"]).await;
    let r = import_csv(&clerk, "item", "code,name_zh,name_en\n").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = clerk.get("/m/item/import").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Reading engineering data includes exporting it; sales data is out of reach.
    assert_eq!(clerk.get("/api/v1/item/export").await.status, StatusCode::OK);
    assert_eq!(clerk.get("/m/item/export.xlsx").await.status, StatusCode::OK);
    assert_eq!(clerk.get("/api/v1/customer/export").await.status, StatusCode::FORBIDDEN);
}
