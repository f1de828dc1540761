//! Administration and sign-in: users, roles, settings and tokens through the API, and the
//! real browser flow (login cookie, session cookie, CSRF, throttling, logout, language) with
//! cookies carried by hand.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value as Json, json};
use tower::ServiceExt;

use crate::support::{TestApp, TestResponse, basic_master_data};

/// Sends one request to the router, as a client at 127.0.0.1 would.
async fn call(router: &Router, req: Request<Body>) -> TestResponse {
    let mut req = req;
    req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let response = router.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    TestResponse { status, headers, body }
}

/// An API client for a bearer token made in the test.
struct Api {
    router: Router,
    token: String,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<&Json>) -> TestResponse {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        call(&self.router, req.body(body).expect("request")).await
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }
}

/// A browser: keeps cookies between requests, posts forms.
struct Browser {
    router: Router,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser { router: app.router.clone(), cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, r: &TestResponse) {
        for value in r.headers.get_all(header::SET_COOKIE) {
            let text = value.to_str().expect("ascii cookie");
            let pair = text.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> TestResponse {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            req = req.header(header::COOKIE, self.cookie_header());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = call(&self.router, req.body(body).expect("request")).await;
        self.keep_cookies(&r);
        r
    }

    async fn get(&mut self, path: &str) -> TestResponse {
        self.request(Method::GET, path, &[], Body::empty()).await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> TestResponse {
        let body = form_encode(form);
        let ct = [("content-type", "application/x-www-form-urlencoded")];
        self.request(Method::POST, path, &ct, Body::from(body)).await
    }

    /// Opens the sign-in page and signs in; answers the sign-in POST.
    async fn sign_in(&mut self, username: &str, password: &str) -> TestResponse {
        let page = self.get("/login").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(self.cookies.contains_key("papilio_login_csrf"), "{:?}", page.headers);
        let token = hidden(&page.text(), "_login_csrf");
        self.post_form(
            "/login",
            &[("username", username), ("password", password), ("_login_csrf", &token)],
        )
        .await
    }

    /// The session's CSRF token, read from a page's forms.
    async fn csrf(&mut self) -> String {
        let home = self.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.text());
        hidden(&home.text(), "_csrf")
    }
}

/// The value of the hidden input called `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap_or("").to_owned()
}

/// Encodes a form body as `application/x-www-form-urlencoded`.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn location(r: &TestResponse) -> String {
    r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

/// Signs `username` in through the login page and makes an API token with the session, as a
/// person would before writing a script.
async fn token_for(app: &TestApp, username: &str, password: &str) -> Api {
    let mut browser = Browser::new(app);
    let signed_in = browser.sign_in(username, password).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.text());
    let csrf = browser.csrf().await;
    let made = browser
        .request(
            Method::POST,
            "/api/v1/me/tokens",
            &[("content-type", "application/json"), ("x-csrf-token", &csrf)],
            Body::from(json!({"name": "script"}).to_string()),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let token = made.json()["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("pap_"));
    Api { router: app.router.clone(), token }
}

#[tokio::test]
async fn a_new_users_token_sees_only_what_its_roles_allow() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;

    let created = admin
        .post(
            "/api/v1/users",
            &json!({"username": "clerk", "display_name": "Clerk Li", "password": "clerk-pass-1",
                    "locale": "en", "roles": ["warehouse_clerk"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let user = created.json();
    assert_eq!(user["roles"], json!(["warehouse_clerk"]));
    assert!(user.get("password").is_none() && !created.text().contains("argon2"));

    let clerk = token_for(&app, "clerk", "clerk-pass-1").await;
    assert_eq!(clerk.get("/api/v1/warehouse").await.status, StatusCode::OK);
    let customers = clerk.get("/api/v1/customer").await;
    assert_eq!(customers.status, StatusCode::FORBIDDEN);
    assert_eq!(customers.error_code(), "forbidden");
    let body = json!({"username": "mole", "password": "mole-pass-1", "roles": ["administrator"]});
    let escalate = clerk.send(Method::POST, "/api/v1/users", Some(&body)).await;
    assert_eq!(escalate.status, StatusCode::FORBIDDEN);
    assert_eq!(clerk.get("/api/v1/users").await.status, StatusCode::FORBIDDEN);
    assert_eq!(clerk.get("/api/v1/audit").await.status, StatusCode::FORBIDDEN);

    let me = clerk.get("/api/v1/me").await.json();
    assert_eq!(me["user"]["username"], "clerk");
    assert_eq!(me["roles"], json!(["warehouse_clerk"]));
    assert_eq!(me["locale"], "en");
    let grants = me["grants"].as_array().expect("grants");
    assert!(grants.iter().any(|g| g["resource"] == "area:inventory" && g["action"] == "create"));

    let users = admin.get("/api/v1/users").await.json();
    assert_eq!(users["total"], 2, "the clerk's attempt created nobody");
    let audit = admin.get("/api/v1/audit?entity=user").await.json();
    assert!(audit["data"].as_array().expect("data").iter().any(|e| e["action"] == "create"));
}

#[tokio::test]
async fn a_custom_role_takes_effect_and_built_in_roles_stay_as_shipped() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    let created = admin
        .post(
            "/api/v1/users",
            &json!({"username": "viewer", "display_name": "Viewer", "password": "viewer-pass-1",
                    "locale": "en"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let viewer = token_for(&app, "viewer", "viewer-pass-1").await;
    assert_eq!(viewer.get("/api/v1/customer").await.status, StatusCode::FORBIDDEN);

    let defined = admin
        .put(
            "/api/v1/roles/sales_viewer",
            &json!({"grants": [{"resource": "area:sales", "action": "read"}]}),
        )
        .await;
    assert_eq!(defined.status, StatusCode::CREATED, "{}", defined.text());
    assert_eq!(defined.json()["builtin"], false);
    let assigned = admin
        .patch(&format!("/api/v1/users/{id}"), &json!({"version": 1, "roles": ["sales_viewer"]}))
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.text());
    assert_eq!(assigned.json()["version"], 2);

    assert_eq!(viewer.get("/api/v1/customer").await.status, StatusCode::OK);
    let customer =
        json!({"code": "C002", "name_zh": "北方", "name_en": "North", "currency": "CNY"});
    let refused = viewer.send(Method::POST, "/api/v1/customer", Some(&customer)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Widening the role widens what its holders may do, from their next request on.
    let widened = admin
        .put(
            "/api/v1/roles/sales_viewer",
            &json!({"grants": [{"resource": "area:sales", "action": "read"},
                               {"resource": "customer", "action": "create"}]}),
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK, "{}", widened.text());
    let made = viewer.send(Method::POST, "/api/v1/customer", Some(&customer)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());

    let before = admin.get("/api/v1/roles").await.json();
    let redefine = admin
        .put(
            "/api/v1/roles/warehouse_clerk",
            &json!({"grants": [{"resource": "*", "action": "read"}]}),
        )
        .await;
    assert_eq!(redefine.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", redefine.text());
    let e = redefine.json();
    assert_eq!(e["error"]["field"], "code");
    assert_eq!(e["error"]["fields"][0]["code"], "role.builtin");
    assert_eq!(e["error"]["message"], "Code: is a built-in role and cannot be redefined");
    assert_eq!(admin.get("/api/v1/roles").await.json(), before, "nothing changed");

    let unknown = admin
        .put("/api/v1/roles/odd", &json!({"grants": [{"resource": "spaceship", "action": "read"}]}))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json()["error"]["field"], "grants[0].resource");
    let bad_action = admin
        .put("/api/v1/roles/odd", &json!({"grants": [{"resource": "item", "action": "fly"}]}))
        .await;
    assert_eq!(bad_action.json()["error"]["field"], "grants[0].action");
    let roles = admin.get("/api/v1/roles").await.json();
    assert!(roles["data"].as_array().expect("data").iter().all(|r| r["code"] != "odd"));
    assert_eq!(
        viewer.send(Method::PUT, "/api/v1/roles/odd", Some(&json!({"grants": []}))).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn settings_change_with_versions_and_a_stale_one_conflicts() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let read = admin.get("/api/v1/settings").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    let settings = read.json();
    let version = settings["company"]["version"].as_i64().expect("version");
    assert_eq!(settings["company"]["base_currency"], "CNY");
    assert_eq!(settings["periods"].as_array().expect("periods").len(), 12);

    let saved = admin
        .put(
            "/api/v1/settings",
            &json!({"version": version, "name": "Papilio Fans Ltd", "base_currency": "USD",
                    "fiscal_year_start_month": 4}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
    let saved = saved.json();
    assert_eq!(saved["company"]["version"], version + 1);
    assert_eq!(saved["company"]["fiscal_year_start_month"], 4);
    let periods = saved["periods"].as_array().expect("periods");
    assert!(
        periods
            .iter()
            .any(|p| p["period"] == 1 && p["start"].as_str().unwrap().ends_with("-04-01")),
        "{periods:?}"
    );

    let stale = admin
        .put("/api/v1/settings", &json!({"version": version, "name": "Someone else's name"}))
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text());
    assert_eq!(stale.error_code(), "stale_version");

    let bad = [
        (json!({"version": version + 1, "base_currency": "XXX"}), "base_currency"),
        (json!({"version": version + 1, "fiscal_year_start_month": 13}), "fiscal_year_start_month"),
        (json!({"version": version + 1, "name": "  "}), "name"),
        (json!({"name": "No version"}), "version"),
    ];
    for (body, field) in bad {
        let r = admin.put("/api/v1/settings", &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
    }
    let now = admin.get("/api/v1/settings").await.json();
    assert_eq!(now["company"]["name"], "Papilio Fans Ltd");
    assert_eq!(now["company"]["base_currency"], "USD");
    assert_eq!(now["company"]["version"], version + 1);
}

#[tokio::test]
async fn a_revoked_token_is_refused() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let made = admin.post("/api/v1/me/tokens", &json!({"name": "nightly export"})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let made = made.json();
    let second = Api { router: app.router.clone(), token: made["token"].as_str().unwrap().into() };
    assert_eq!(second.get("/api/v1/me").await.status, StatusCode::OK);

    let listed = admin.get("/api/v1/me/tokens").await.json();
    let names: Vec<&str> =
        listed["data"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"nightly export"), "{names:?}");
    assert!(!listed.to_string().contains(made["token"].as_str().unwrap()), "secret shown once");

    // Someone else cannot revoke it.
    let other = app.client("other", &["ceo"]).await;
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        other.delete(&format!("/api/v1/me/tokens/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(second.get("/api/v1/me").await.status, StatusCode::OK);

    let revoked = admin.delete(&format!("/api/v1/me/tokens/{id}")).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text());
    let refused = second.get("/api/v1/me").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.error_code(), "unauthenticated");
    assert_eq!(admin.get("/api/v1/me").await.status, StatusCode::OK, "other tokens still work");
    let listed = admin.get("/api/v1/me/tokens").await.json();
    assert!(listed["data"].as_array().unwrap().iter().any(|t| t["revoked"] == true));
}

#[tokio::test]
async fn bad_user_input_names_the_field_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let cases = [
        (
            json!({"username": "amy", "password": "short", "locale": "en"}),
            "password",
            "password.too_short",
        ),
        (
            json!({"username": "amy", "password": "long-enough-1", "roles": ["wizard"]}),
            "roles",
            "user.unknown_role",
        ),
        (
            json!({"username": "amy", "password": "long-enough-1", "locale": "fr"}),
            "locale",
            "field.not_choice",
        ),
        (json!({"username": "a b", "password": "long-enough-1"}), "username", "user.bad_username"),
        (
            json!({"username": "amy", "password": "long-enough-1", "colour": "red"}),
            "colour",
            "field.unknown",
        ),
        (
            json!({"username": "amy", "password": "long-enough-1", "roles": "ceo"}),
            "roles",
            "field.wrong_type",
        ),
        (json!({"password": "long-enough-1"}), "username", "field.required"),
    ];
    for (body, field, rule) in cases {
        let r = admin.post("/api/v1/users", &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["field"], field, "{}", r.text());
        assert_eq!(e["error"]["fields"][0]["code"], rule, "{}", r.text());
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }
    let short =
        admin.post("/api/v1/users", &json!({"username": "amy", "password": "short"})).await.json();
    assert_eq!(short["error"]["message"], "Password: must have at least 8 characters");
    let users = admin.get("/api/v1/users").await.json();
    assert_eq!(users["total"], 1, "nobody was created: {users}");

    // A change that breaks a rule on its last step is rolled back whole.
    let me = admin.get("/api/v1/me").await.json();
    let id = me["user"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}");
    let bad_role = admin
        .patch(&path, &json!({"version": 1, "display_name": "Changed", "roles": ["wizard"]}))
        .await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad_role.text());
    assert_eq!(bad_role.json()["error"]["field"], "roles");
    let bad_locale = admin.patch(&path, &json!({"version": 1, "locale": "xx"})).await;
    assert_eq!(bad_locale.json()["error"]["field"], "locale");
    let self_off = admin.patch(&path, &json!({"version": 1, "active": false})).await;
    assert_eq!(self_off.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(self_off.json()["error"]["field"], "active");
    let unchanged = admin.get(&path).await.json();
    assert_eq!(unchanged["display_name"], "root");
    assert_eq!(unchanged["roles"], json!(["administrator"]));
    assert_eq!(unchanged["version"], 1);

    let reset = admin.post(&format!("{path}/password"), &json!({"password": "tiny"})).await;
    assert_eq!(reset.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reset.json()["error"]["field"], "password");
    let wrong_current = admin
        .post("/api/v1/me/password", &json!({"current": "guess-guess", "new": "new-pass-123"}))
        .await;
    assert_eq!(wrong_current.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_current.json()["error"]["field"], "current");
    let short_new = admin
        .post("/api/v1/me/password", &json!({"current": "password-123", "new": "short"}))
        .await;
    assert_eq!(short_new.json()["error"]["field"], "new");
    let locale = admin.put("/api/v1/me/locale", &json!({"locale": "fr"})).await;
    assert_eq!(locale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(locale.json()["error"]["field"], "locale");

    // The password did not change: the old one still signs in.
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn own_password_change_keeps_this_session_and_ends_the_others() {
    let app = TestApp::new().await;
    app.admin().await;
    let mut here = Browser::new(&app);
    let mut elsewhere = Browser::new(&app);
    assert_eq!(here.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
    assert_eq!(elsewhere.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
    let csrf = here.csrf().await;
    let mismatch = here
        .post_form(
            "/me/password",
            &[
                ("_csrf", &csrf),
                ("current", "password-123"),
                ("new", "n3w-password"),
                ("confirm", "other"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.text().contains("id=\"err-confirm\""), "{}", mismatch.text());
    let changed = here
        .post_form(
            "/me/password",
            &[
                ("_csrf", &csrf),
                ("current", "password-123"),
                ("new", "n3w-password"),
                ("confirm", "n3w-password"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.text());
    assert_eq!(here.get("/").await.status, StatusCode::OK);
    let ended = elsewhere.get("/").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&ended), "/login");
    let mut again = Browser::new(&app);
    assert_eq!(again.sign_in("root", "n3w-password").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_makes_a_session_and_page_posts_need_its_csrf_token() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let mut browser = Browser::new(&app);

    // Without the login page's cookie the sign-in form is refused.
    let forged = browser
        .post_form(
            "/login",
            &[("username", "root"), ("password", "password-123"), ("_login_csrf", "made-up")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key("papilio_session"));

    let signed_in = browser.sign_in("root", "password-123").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.text());
    assert_eq!(location(&signed_in), "/");
    let set_cookie: Vec<&str> = signed_in
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let session = set_cookie.iter().find(|c| c.starts_with("papilio_session=")).expect("session");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    let csrf = browser.csrf().await;

    let form = [("code", "KG"), ("name_zh", "千克"), ("name_en", "Kilogram"), ("decimals", "3")];
    let no_token = browser.post_form("/m/unit/new", &form).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token.text().contains("The form expired"), "{}", no_token.text());
    let wrong: Vec<(&str, &str)> = form.iter().copied().chain([("_csrf", "wrong")]).collect();
    assert_eq!(browser.post_form("/m/unit/new", &wrong).await.status, StatusCode::FORBIDDEN);
    let api = browser
        .request(
            Method::POST,
            "/api/v1/unit",
            &[("content-type", "application/json")],
            Body::from(json!({"code": "KG", "name_zh": "千克", "name_en": "Kilogram"}).to_string()),
        )
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert_eq!(api.error_code(), "csrf_failed");
    assert_eq!(admin.get("/api/v1/unit?q=KG").await.json()["total"], 0, "nothing created");

    let right: Vec<(&str, &str)> = form.iter().copied().chain([("_csrf", csrf.as_str())]).collect();
    let created = browser.post_form("/m/unit/new", &right).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    assert!(location(&created).starts_with("/m/unit/"));
    assert_eq!(admin.get("/api/v1/unit?q=KG").await.json()["total"], 1);
}

#[tokio::test]
async fn five_wrong_passwords_throttle_even_the_right_one() {
    let app = TestApp::new().await;
    app.admin().await;
    let mut browser = Browser::new(&app);
    for attempt in 1..=5 {
        let r = browser.sign_in("root", "not-my-password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert!(r.text().contains("id=\"login-error\""));
    }
    let sixth = browser.sign_in("root", "password-123").await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS, "{}", sixth.text());
    assert!(sixth.text().contains("Too many failed sign-ins") || sixth.text().contains("登录失败"));
    assert!(!browser.cookies.contains_key("papilio_session"));
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::new().await;
    app.admin().await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
    let old_cookie = browser.cookies.get("papilio_session").cloned().expect("session cookie");
    let csrf = browser.csrf().await;

    let out = browser.post_form("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/login");
    assert!(!browser.cookies.contains_key("papilio_session"), "cookie cleared");

    // Even a client that kept the old cookie is signed out.
    browser.cookies.insert("papilio_session".into(), old_cookie);
    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/login");
    let me = browser.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_language_switch_changes_the_users_pages() {
    let app = TestApp::new().await;
    app.admin().await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
    let home = browser.get("/").await.text();
    assert!(home.contains("<html lang=\"en\">"), "{home}");
    let csrf = hidden(&home, "_csrf");

    let switched = browser.post_form("/locale", &[("_csrf", &csrf), ("locale", "zh-CN")]).await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let home = browser.get("/").await.text();
    assert!(home.contains("<html lang=\"zh-CN\">"), "{home}");
    assert!(home.contains("退出"), "the navigation speaks Chinese");
    assert_eq!(browser.get("/api/v1/me").await.json()["locale"], "zh-CN");

    // The choice belongs to the user: a new sign-in elsewhere gets it too.
    let mut elsewhere = Browser::new(&app);
    assert_eq!(elsewhere.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
    let me = elsewhere.get("/me").await.text();
    assert!(me.contains("<html lang=\"zh-CN\">"), "{me}");
    assert!(me.contains("我的账户") && me.contains("简体中文") && me.contains("English"));
}

#[tokio::test]
async fn administration_pages_show_and_save_with_field_messages() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.sign_in("root", "password-123").await.status, StatusCode::SEE_OTHER);
    let csrf = browser.csrf().await;

    for path in [
        "/admin/users",
        "/admin/users/new",
        "/admin/roles",
        "/admin/roles/new",
        "/admin/roles/warehouse_clerk",
        "/admin/settings",
        "/admin/audit",
        "/me",
    ] {
        let r = browser.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    }
    assert!(browser.get("/admin/roles/warehouse_clerk").await.text().contains(" disabled"));

    // Users: a short password is refused next to its field; then the user is made.
    let short = browser
        .post_form(
            "/admin/users/new",
            &[
                ("_csrf", &csrf),
                ("username", "bob"),
                ("display_name", "Bob"),
                ("password", "short"),
                ("locale", "en"),
                ("roles", "warehouse_clerk"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().contains("id=\"err-password\""), "{}", short.text());
    assert!(short.text().contains("value=\"bob\""), "the typed values stay");
    assert_eq!(admin.get("/api/v1/users").await.json()["total"], 1);
    let made = browser
        .post_form(
            "/admin/users/new",
            &[
                ("_csrf", &csrf),
                ("username", "bob"),
                ("display_name", "Bob"),
                ("password", "bob-pass-123"),
                ("locale", "en"),
                ("roles", "warehouse_clerk"),
                ("roles", "buyer"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text());
    let bob_page = location(&made);
    let page = browser.get(&bob_page).await.text();
    assert!(page.contains("id=\"role-buyer\" checked"), "{page}");
    let bob_path = bob_page.split('?').next().unwrap().to_owned();
    let version = hidden(&page, "_version");
    let edited = browser
        .post_form(
            &bob_path,
            &[
                ("_csrf", &csrf),
                ("_version", &version),
                ("display_name", "Bob Wang"),
                ("locale", "zh-CN"),
                ("active", "false"),
                ("active", "true"),
                ("roles", "warehouse_clerk"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.text());
    let stale = browser
        .post_form(
            &bob_path,
            &[
                ("_csrf", &csrf),
                ("_version", &version),
                ("display_name", "Bob Again"),
                ("locale", "en"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.text().contains("id=\"form-error\""));
    let bob = admin.get(&format!("/api/v1{}", bob_path.trim_start_matches("/admin"))).await.json();
    assert_eq!(bob["display_name"], "Bob Wang");
    assert_eq!(bob["roles"], json!(["warehouse_clerk"]));

    // Roles: a custom role from the matrix; a built-in one cannot be saved.
    let role = browser
        .post_form(
            "/admin/roles/new",
            &[
                ("_csrf", &csrf),
                ("code", "auditor"),
                ("grant", "audit|read"),
                ("grant", "area:finance|read"),
            ],
        )
        .await;
    assert_eq!(role.status, StatusCode::SEE_OTHER, "{}", role.text());
    let roles = admin.get("/api/v1/roles").await.json();
    let auditor = roles["data"].as_array().unwrap().iter().find(|r| r["code"] == "auditor");
    assert_eq!(auditor.expect("auditor")["grants"].as_array().unwrap().len(), 2);
    let builtin = browser
        .post_form("/admin/roles/warehouse_clerk", &[("_csrf", &csrf), ("grant", "*|read")])
        .await;
    assert_eq!(builtin.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Settings: a stale version is refused with a message on top of the form.
    let settings = browser.get("/admin/settings").await.text();
    assert!(settings.contains("id=\"periods\""));
    let v = hidden(&settings, "_version");
    let saved = browser
        .post_form(
            "/admin/settings",
            &[
                ("_csrf", &csrf),
                ("_version", &v),
                ("name", "Fan Works"),
                ("base_currency", "CNY"),
                ("fiscal_year_start_month", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let stale = browser
        .post_form(
            "/admin/settings",
            &[
                ("_csrf", &csrf),
                ("_version", &v),
                ("name", "Late"),
                ("base_currency", "CNY"),
                ("fiscal_year_start_month", "1"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.text().contains("id=\"form-error\""));

    // The audit trail shows what happened, filtered.
    let trail = browser.get("/admin/audit?entity=user&per_page=5").await;
    assert_eq!(trail.status, StatusCode::OK);
    assert!(trail.text().contains("Bob Wang"), "{}", trail.text());
    let bad = browser.get("/admin/audit?entity_id=abc").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Tokens: the secret is shown once.
    let token = browser.post_form("/me/tokens", &[("_csrf", &csrf), ("name", "cli")]).await;
    assert_eq!(token.status, StatusCode::OK);
    let secret = token.text().split("id=\"token-secret\">").nth(1).unwrap_or("")[..4].to_owned();
    assert_eq!(secret, "pap_");
    assert!(!browser.get("/me").await.text().contains("id=\"token-secret\""));

    // A clerk does not get in.
    let mut clerk = Browser::new(&app);
    assert_eq!(clerk.sign_in("bob", "bob-pass-123").await.status, StatusCode::SEE_OTHER);
    assert_eq!(clerk.get("/admin/users").await.status, StatusCode::FORBIDDEN);
    assert_eq!(clerk.get("/me").await.status, StatusCode::OK);
}
