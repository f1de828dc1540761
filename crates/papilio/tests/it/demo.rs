//! The demo company loads into an empty database, deterministically, on both databases, and
//! its users see what their roles allow.

use axum::http::StatusCode;
use papilio_demo::{DemoError, DemoOptions};
use papilio_store::stock::BalanceFilter;
use rust_decimal::Decimal;

use crate::support::TestApp;

#[tokio::test]
async fn demo_company_loads_once_with_a_user_per_role() {
    let app = TestApp::new().await;
    let summary = papilio_demo::load(&app.db, DemoOptions::default(), &|_, _| {}).await.unwrap();
    assert_eq!(summary.users.len(), papilio_core::access::BUILTIN_ROLES.len());
    assert!(summary.rows["item"] >= 20);
    assert!(summary.rows["customer"] >= 10);
    assert!(summary.rows["bin"] >= 30);
    assert_eq!(summary.rows["stock_reason"], 7);

    // A year of stock history went through approval: the ledger holds together, some stock
    // has aged untouched and some items are under their safety stock.
    assert!(summary.rows["stock_document"] >= 200, "{:?}", summary.rows);
    let problems = papilio_store::stock::check_invariants(&app.db).await.unwrap();
    assert!(problems.is_empty(), "ledger invariants broken: {problems:?}");
    let on_hand = |item: &'static str| {
        let db = app.db.clone();
        async move {
            let f = BalanceFilter { item: Some(item.into()), ..Default::default() };
            let rows = papilio_store::stock::balances(&db, &f).await.unwrap();
            rows.iter().map(|b| b.qty).sum::<Decimal>()
        }
    };
    assert_eq!(on_hand("OLD-CAP-1UF").await, Decimal::from(3000));
    assert!(on_hand("SWITCH-4").await < Decimal::from(800));
    assert!(on_hand("FAN-C52").await < Decimal::from(60));
    assert!(on_hand("FAN-F16").await > Decimal::ZERO);
    let year_ago = papilio_demo::history::ANCHOR - chrono::Months::new(12);
    let (_, _, card) =
        papilio_store::stock::stock_card(&app.db, "OLD-CAP-1UF", None, year_ago, year_ago)
            .await
            .unwrap();
    assert_eq!(card.len(), 1, "received once, a year ago, never issued");

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
    let plain = papilio_demo::history::plan(1, 1).len() as u64;
    assert!(summary.rows["stock_document"] > 2 * plain, "{:?}", summary.rows);
    let problems = papilio_store::stock::check_invariants(&app.db).await.unwrap();
    assert!(problems.is_empty(), "ledger invariants broken: {problems:?}");
}
