//! Master data through the API: create, read, list, update with versions, validation errors.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{TestApp, basic_master_data};

#[tokio::test]
async fn item_round_trip_with_versions_and_exact_decimals() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    let list = admin.get("/api/v1/item?q=fan").await;
    assert_eq!(list.status, StatusCode::OK);
    let body = list.json();
    assert_eq!(body["total"], 1);
    let item = &body["data"][0];
    assert_eq!(item["code"], "FAN-100");
    assert_eq!(item["standard_cost"], "85.5");
    let id = item["id"].as_str().unwrap().to_owned();

    let changed = admin
        .patch(&format!("/api/v1/item/{id}"), &json!({"version": 1, "standard_cost": "0.000001"}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    assert_eq!(changed.json()["standard_cost"], "0.000001");
    assert_eq!(changed.json()["version"], 2);

    // A second edit from the stale version is refused and changes nothing.
    let stale = admin
        .patch(&format!("/api/v1/item/{id}"), &json!({"version": 1, "standard_cost": "9"}))
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.error_code(), "stale_version");
    let now = admin.get(&format!("/api/v1/item/{id}")).await.json();
    assert_eq!(now["standard_cost"], "0.000001");
}

#[tokio::test]
async fn bad_input_names_the_field_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;

    let cases = [
        (
            json!({"code": "X1", "name_zh": "甲", "name_en": "A", "item_type": "purchased", "base_unit": "PCS", "safety_stock": "-5"}),
            "safety_stock",
            "field.negative",
        ),
        (
            json!({"code": "X1", "name_zh": "甲", "name_en": "A", "item_type": "purchased", "base_unit": "PCS", "lead_time_days": "soon"}),
            "lead_time_days",
            "field.not_integer",
        ),
        (
            json!({"code": "X1", "name_zh": "甲", "name_en": "A", "item_type": "purchased", "base_unit": "PCS", "colour": "red"}),
            "colour",
            "field.unknown",
        ),
        (
            json!({"code": "X1", "name_zh": "甲", "name_en": "x".repeat(121), "item_type": "purchased", "base_unit": "PCS"}),
            "name_en",
            "field.too_long",
        ),
        (
            json!({"code": "X1", "name_zh": "甲", "name_en": "A", "item_type": "purchased", "base_unit": "NOPE"}),
            "base_unit",
            "field.unknown_reference",
        ),
        (
            json!({"code": "X1", "name_zh": "甲", "name_en": "A", "item_type": "purchased", "base_unit": "PCS", "category": ["a"]}),
            "category",
            "field.wrong_type",
        ),
    ];
    for (body, field, rule) in cases {
        let r = admin.post("/api/v1/item", &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["field"], field, "{}", r.text());
        assert!(
            e["error"]["fields"].as_array().unwrap().iter().any(|f| f["code"] == rule),
            "{}",
            r.text()
        );
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }

    let malformed = admin
        .send(
            axum::http::Method::POST,
            "/api/v1/item",
            &[("content-type", "application/json")],
            "{not json".into(),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "malformed_json");
    let wrong_type = admin
        .send(
            axum::http::Method::POST,
            "/api/v1/item",
            &[("content-type", "text/plain")],
            "x".into(),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let list = admin.get("/api/v1/item").await.json();
    assert_eq!(list["total"], 0, "nothing was written");
}

#[tokio::test]
async fn duplicate_codes_are_refused_in_either_case() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let body = json!({"code": "kg", "name_zh": "千克", "name_en": "Kilogram", "decimals": 3});
    assert_eq!(admin.post("/api/v1/unit", &body).await.status, StatusCode::CREATED);
    let again = admin
        .post("/api/v1/unit", &json!({"code": "KG", "name_zh": "公斤", "name_en": "Kilo"}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "duplicate");
}

#[tokio::test]
async fn messages_follow_the_users_language() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let body = json!({"code": "X1", "name_en": "A", "item_type": "purchased", "base_unit": "PCS"});
    let en = admin.post("/api/v1/item", &body).await.json();
    assert_eq!(en["error"]["message"], "Chinese name: is required");

    papilio_store::users::set_locale(&app.db, admin.user_id, "zh-CN").await.unwrap();
    let zh = admin.post("/api/v1/item", &body).await.json();
    assert_eq!(zh["error"]["message"], "中文名称: 必填");
}
