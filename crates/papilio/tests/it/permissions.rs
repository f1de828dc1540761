//! The permission matrix: every built-in role against every API route, allowed or refused
//! exactly as the route table and the role's grants declare.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use papilio_core::access::{self, BUILTIN_ROLES};
use papilio_core::document::{DatePart, NumberFormat};
use papilio_store::documents::{DocType, Registry};
use papilio_web::routes::{self, RouteSpec};

use crate::support::{TestApp, TestClient};

fn registry() -> Registry {
    let mut docs = Registry::default();
    docs.register(DocType {
        code: "perm_order",
        area: "sales",
        number: NumberFormat { prefix: "PO", date_part: DatePart::Year, width: 6 },
        partner: Some("customer"),
        sources: &[],
        over_tolerance_pct: rust_decimal::Decimal::ZERO,
        rules: Vec::new(),
        hooks: None,
        stock_fields: &[],
        needs_reason: false,
        trade_fields: &[],
        carries: true,
        prepare: None,
    });
    docs
}

async fn call(client: &TestClient, route: &RouteSpec) -> (StatusCode, String) {
    let path = route.path.replace("{id}", "1").replace("{code}", "zz_matrix");
    let method = Method::from_bytes(route.method.as_bytes()).unwrap();
    let (headers, body): (Vec<(&str, &str)>, Body) = match route.body {
        routes::Body::None => (vec![], Body::empty()),
        routes::Body::File => (vec![("content-type", "text/csv")], Body::from("")),
        _ => (vec![("content-type", "application/json")], Body::from("{}")),
    };
    let r = client.send(method, &path, &headers, body).await;
    let is_json = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let code = if is_json {
        r.json()["error"]["code"].as_str().unwrap_or("").to_owned()
    } else if r.body.is_empty() {
        String::new()
    } else {
        "(not json)".to_owned()
    };
    (r.status, code)
}

#[tokio::test]
async fn every_role_against_every_route() {
    let app = TestApp::with_docs(registry()).await;
    let table = routes::api_routes(&app.state.docs);
    assert!(table.len() > 100, "the table lists every route");

    let mut failures = Vec::new();
    for role in BUILTIN_ROLES {
        let client = app.client(&format!("u_{}", role.code), &[role.code]).await;
        let grants = access::builtin_grants(role);
        for route in &table {
            let (status, code) = call(&client, route).await;
            let allowed = route.allowed(&grants);
            let refused = status == StatusCode::FORBIDDEN && code == "forbidden";
            if allowed == refused
                || status == StatusCode::METHOD_NOT_ALLOWED
                || status.is_server_error()
            {
                failures.push(format!(
                    "{} {} {} as {}: {} {code} (allowed: {allowed})",
                    route.method,
                    route.path,
                    route.action.code(),
                    role.code,
                    status.as_u16()
                ));
            }
            // A route the table lists must exist: the router's own 404 has no JSON body.
            if allowed
                && status == StatusCode::NOT_FOUND
                && (code.is_empty() || code == "(not json)")
            {
                failures.push(format!(
                    "{} {} is in the table but not routed",
                    route.method, route.path
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn openapi_lists_every_route_of_the_table() {
    let app = TestApp::with_docs(registry()).await;
    let client = app.client("reader", &["ceo"]).await;
    let doc = client.get("/api/openapi.json").await.json();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    for route in routes::api_routes(&app.state.docs) {
        let op = &doc["paths"][route.path.as_str()][route.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from the OpenAPI document",
            route.method,
            route.path
        );
    }
}
