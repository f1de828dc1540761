//! The demo company loads into an empty database, deterministically, on both databases, and
//! its users see what their roles allow; its year of sales is a real order to cash.

use axum::http::StatusCode;
use papilio_core::document::DocState;
use papilio_demo::history::ANCHOR;
use papilio_demo::{DemoError, DemoOptions};
use papilio_store::Db;
use papilio_store::documents::{self, DocQuery};
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

    demo_sales_are_a_real_order_to_cash(&app.db, &summary).await;
}

async fn count(db: &Db, doc_type: &str, state: DocState) -> i64 {
    let q = DocQuery { state: Some(state), page: 1, per_page: 1, ..DocQuery::default() };
    documents::list(db, doc_type, &q).await.unwrap().total
}

/// The demo's sales: price lists and targets, orders in every state, some still open and
/// late, invoices mostly paid, one dealer overdue and one near its credit limit with an order
/// waiting for the finance manager; the ledger still holds.
async fn demo_sales_are_a_real_order_to_cash(db: &Db, summary: &papilio_demo::DemoSummary) {
    assert!(summary.rows["sales_price"] >= 25, "{:?}", summary.rows);
    assert!(summary.rows["discount_policy"] >= 5, "{:?}", summary.rows);
    assert_eq!(summary.rows["sales_target"], 26);
    for kind in ["sales_quotation", "sales_order", "sales_delivery", "sales_invoice"] {
        assert!(summary.documents[kind] >= 40, "{kind}: {:?}", summary.documents);
    }
    assert_eq!(summary.documents["sales_return"], 2, "{:?}", summary.documents);
    assert_eq!(summary.documents["sales_credit_note"], 2, "{:?}", summary.documents);
    for state in DocState::ALL {
        let n = count(db, "sales_order", state).await;
        assert!(n > 0, "no sales order is {}", state.code());
    }
    let quotations_open = count(db, "sales_quotation", DocState::Approved).await;
    assert!(quotations_open > count(db, "sales_order", DocState::Closed).await / 4);
    let invoices = count(db, "sales_invoice", DocState::Approved).await;
    let receipts = count(db, "customer_receipt", DocState::Approved).await;
    assert!(
        invoices >= 60 && receipts >= invoices * 3 / 4,
        "{invoices} invoices, {receipts} receipts"
    );

    // Every delivery line was pushed down from an order line.
    let delivery = documents::list(
        db,
        "sales_delivery",
        &DocQuery { page: 1, per_page: 1, ..DocQuery::default() },
    )
    .await
    .unwrap();
    let delivery = documents::get(db, delivery.rows[0].id).await.unwrap();
    assert!(delivery.lines.iter().all(|l| l.source_line_id.is_some()), "{delivery:?}");

    // Some approved order lines are still open past their promised date: late.
    let approved = documents::list(
        db,
        "sales_order",
        &DocQuery {
            state: Some(DocState::Approved),
            page: 1,
            per_page: 100,
            ..DocQuery::default()
        },
    )
    .await
    .unwrap();
    let mut late = 0;
    for header in &approved.rows {
        let order = documents::get(db, header.id).await.unwrap();
        late += order
            .lines
            .iter()
            .filter(|l| l.open_qty() > Decimal::ZERO)
            .filter(|l| l.trade.promised_date.is_some_and(|d| d < ANCHOR))
            .count();
    }
    assert!(late >= 1, "no late order line");
    // The open orders hold stock.
    let held = papilio_store::stock_views::reservations(db, None, Some("FG")).await.unwrap();
    assert!(!held.is_empty());

    // C004's August invoice was never paid; C005 owes close to its limit and its last order
    // waits in the finance manager's inbox.
    let mut conn = db.pool().acquire().await.unwrap();
    let overdue =
        papilio_store::sales::oldest_overdue_days(&mut conn, "C004", ANCHOR).await.unwrap();
    assert!(overdue.is_some_and(|d| d > 60), "{overdue:?}");
    let near = papilio_store::sales::exposure(&mut conn, "C005").await.unwrap();
    let facts = papilio_store::sales::customer_facts(&mut conn, "C005").await.unwrap().unwrap();
    let limit = facts.credit_limit.unwrap();
    assert!(
        near.total() > limit * Decimal::new(8, 1) && near.total() <= limit,
        "C005 owes {near:?} of {limit}"
    );
    drop(conn);
    let inbox = documents::submitted(db).await.unwrap();
    assert!(
        inbox.iter().any(|e| e.document.partner.as_deref() == Some("C005")
            && e.pending.iter().any(|p| p.rule == "sales.credit")),
        "{inbox:?}"
    );
    // The history ran with the overdue check off; the company's setting is back.
    assert_eq!(papilio_store::sales::settings(db).await.unwrap().overdue_days, 30);

    let problems = papilio_store::stock::check_invariants(db).await.unwrap();
    assert!(problems.is_empty(), "ledger invariants broken: {problems:?}");
}

#[tokio::test]
async fn scaled_demo_adds_generated_parts() {
    let app = TestApp::new().await;
    let summary =
        papilio_demo::load(&app.db, DemoOptions { seed: 1, scale: 3 }, &|_, _| {}).await.unwrap();
    assert_eq!(summary.rows["item"], 24 + 2000);
    assert_eq!(summary.rows["customer"], 10 + 200);
    let plain = papilio_demo::history::plan(1, 1).iter().filter(|s| s.is_stock()).count() as u64;
    assert!(summary.rows["stock_document"] > 2 * plain, "{:?}", summary.rows);
    let problems = papilio_store::stock::check_invariants(&app.db).await.unwrap();
    assert!(problems.is_empty(), "ledger invariants broken: {problems:?}");
}
