//! The demo company loads into an empty database, deterministically, on both databases, and
//! its users see what their roles allow.

use axum::http::StatusCode;
use papilio_demo::{DemoError, DemoOptions};

use crate::support::TestApp;

#[tokio::test]
async fn demo_company_loads_once_with_a_user_per_role() {
    let app = TestApp::new().await;
    let summary = papilio_demo::load(&app.db, DemoOptions::default(), &|_, _| {}).await.unwrap();
    assert_eq!(summary.users.len(), papilio_core::access::BUILTIN_ROLES.len());
    assert!(summary.rows["item"] >= 20);
    assert!(summary.rows["customer"] >= 10);
    assert!(summary.rows["bin"] >= 30);

    // A second load is refused rather than doubling the company.
    let again = papilio_demo::load(&app.db, DemoOptions::default(), &|_, _| {}).await;
    assert!(matches!(again, Err(DemoError::NotEmpty)));

    // The clerk's employee record is linked to the clerk's user, and the clerk sees the
    // warehouses but not the customers.
    let admin = app.admin().await;
    let employees = admin.get("/api/v1/employee?username=WAREHOUSE.CLERK").await;
    assert_eq!(employees.status, StatusCode::OK, "{}", employees.text());
    let clerk = papilio_store::users::list_users(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == "warehouse.clerk")
        .unwrap();
    let token = papilio_store::users::create_api_token(&app.db, clerk.id, "t").await.unwrap();
    let client = crate::support::TestClient::with_token(&app, token);
    assert_eq!(client.get("/api/v1/warehouse").await.json()["total"], 4);
    assert_eq!(client.get("/api/v1/customer").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn scaled_demo_adds_generated_parts() {
    let app = TestApp::new().await;
    let summary =
        papilio_demo::load(&app.db, DemoOptions { seed: 1, scale: 3 }, &|_, _| {}).await.unwrap();
    assert_eq!(summary.rows["item"], 24 + 2000);
    assert_eq!(summary.rows["customer"], 10 + 200);
}
