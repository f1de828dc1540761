//! Test harness: a fresh database per test, the application router, and API clients signed in
//! with tokens of users holding given roles.

#![allow(dead_code)]

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use papilio_store::Db;
use papilio_store::documents::Registry;
use papilio_store::users;
use papilio_web::AppState;
use serde_json::Value as Json;
use tower::ServiceExt;

/// Says on the terminal that a test skipped, even while the test harness captures output.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Where the test's database lives; dropped files are removed.
enum DbHome {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Drop for DbHome {
    fn drop(&mut self) {
        if let DbHome::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// The backend the suite runs on.
pub fn postgres_base() -> Option<String> {
    std::env::var("PAPILIO_TEST_POSTGRES").ok().filter(|s| !s.is_empty())
}

/// A fresh, migrated, seeded database.
pub async fn fresh_db() -> (Db, impl Drop) {
    let name = format!("papilio_t_{}", papilio_store::db::new_id());
    let (url, home) = match postgres_base() {
        Some(base) => {
            let base = base.trim_end_matches('/').to_owned();
            let admin =
                Db::connect(&format!("{base}/postgres")).await.expect("PostgreSQL reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(admin.pool())
                .await
                .expect("create test database");
            admin.close().await;
            (format!("{base}/{name}"), DbHome::Postgres(name))
        }
        None => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            (format!("sqlite://{}?mode=rwc", path.display()), DbHome::Sqlite(path))
        }
    };
    let db = Db::connect(&url).await.expect("connect");
    db.migrate().await.expect("migrate");
    users::seed_roles(&db).await.expect("roles");
    papilio_store::company::ensure_company(
        &db,
        chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
    )
    .await
    .expect("company");
    (db, home)
}

/// A running application on a fresh database.
pub struct TestApp {
    /// The database.
    pub db: Db,
    /// The state handed to the router.
    pub state: AppState,
    /// The router, called in-process.
    pub router: Router,
    _home: Box<dyn std::any::Any + Send>,
}

/// Keeps a value alive (and its Drop for later).
struct Keep<T>(T);

impl TestApp {
    /// The application with the standard document types.
    pub async fn new() -> TestApp {
        Self::with_docs(papilio_web::standard_documents()).await
    }

    /// The application with the given document types.
    pub async fn with_docs(docs: Registry) -> TestApp {
        let (db, home) = fresh_db().await;
        let state = AppState {
            db: db.clone(),
            docs: Arc::new(docs),
            secure_cookies: false,
            trust_proxy: false,
        };
        let router = papilio_web::app(state.clone());
        TestApp { db, state, router, _home: Box::new(Keep(home)) as Box<dyn std::any::Any + Send> }
    }

    /// A user with `roles` and an API client signed in as them.
    pub async fn client(&self, username: &str, roles: &[&str]) -> TestClient {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let user =
            users::create_user(&self.db, username, username, "password-123", "en", &roles, None)
                .await
                .expect("create user");
        let token = users::create_api_token(&self.db, user.id, "tests").await.expect("token");
        TestClient { router: self.router.clone(), token, user_id: user.id, locale: "en".into() }
    }

    /// An administrator's client.
    pub async fn admin(&self) -> TestClient {
        self.client("root", &["administrator"]).await
    }
}

/// An API client holding a bearer token.
#[derive(Clone)]
pub struct TestClient {
    router: Router,
    /// The token.
    pub token: String,
    /// The user's id.
    pub user_id: i64,
    /// Locale sent as Accept-Language (the user's own locale decides for signed-in users).
    pub locale: String,
}

/// An answer.
#[derive(Debug)]
pub struct TestResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!("not JSON ({}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error code of an error answer.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

impl TestClient {
    /// A client for an existing token.
    pub fn with_token(app: &TestApp, token: String) -> TestClient {
        TestClient { router: app.router.clone(), token, user_id: 0, locale: "en".into() }
    }

    /// Sends a request with the token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> TestResponse {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        TestResponse { status, headers, body }
    }

    /// GET.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    /// A JSON request.
    pub async fn json(&self, method: Method, path: &str, body: &Json) -> TestResponse {
        self.send(
            method,
            path,
            &[("content-type", "application/json")],
            Body::from(body.to_string()),
        )
        .await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &Json) -> TestResponse {
        self.json(Method::POST, path, body).await
    }

    /// PATCH JSON.
    pub async fn patch(&self, path: &str, body: &Json) -> TestResponse {
        self.json(Method::PATCH, path, body).await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: &Json) -> TestResponse {
        self.json(Method::PUT, path, body).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, &[], Body::empty()).await
    }
}

/// Creates the master data most scenarios need: units PCS (seeded) and BOX, a category, a
/// warehouse, a customer group, a customer and a supplier.
pub async fn basic_master_data(admin: &TestClient) {
    use serde_json::json;
    for (path, body) in [
        ("/api/v1/unit", json!({"code": "BOX", "name_zh": "箱", "name_en": "Box"})),
        ("/api/v1/item_category", json!({"code": "FAN", "name_zh": "风扇", "name_en": "Fans"})),
        (
            "/api/v1/warehouse",
            json!({"code": "FG", "name_zh": "成品仓", "name_en": "Finished goods"}),
        ),
        (
            "/api/v1/customer_group",
            json!({"code": "DEALER", "name_zh": "经销商", "name_en": "Dealers"}),
        ),
        (
            "/api/v1/customer",
            json!({"code": "C001", "name_zh": "华南电器", "name_en": "South China Appliances", "currency": "CNY", "customer_group": "DEALER"}),
        ),
        (
            "/api/v1/supplier",
            json!({"code": "S001", "name_zh": "精密电机", "name_en": "Precision Motors", "currency": "CNY"}),
        ),
        (
            "/api/v1/item",
            json!({"code": "FAN-100", "name_zh": "落地扇", "name_en": "Floor fan", "item_type": "manufactured", "base_unit": "PCS", "category": "FAN", "standard_cost": "85.50"}),
        ),
    ] {
        let r = admin.post(path, &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
    }
}
