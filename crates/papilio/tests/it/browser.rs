//! Browser tests: the real server on a loopback port, driven by headless Chromium through
//! chromedriver, the way a clerk uses it: sign in, switch language, fill forms, read errors.
//!
//! They need `PAPILIO_TEST_CHROMEDRIVER` (the chromedriver binary, e.g. /usr/bin/chromedriver)
//! and Chromium at `PAPILIO_TEST_CHROMIUM` (default /usr/bin/chromium). Without the first each
//! test says it skipped and passes.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use papilio_core::FieldError;
use papilio_core::entities;
use papilio_core::schema::Value;
use papilio_store::master::{self, ListQuery};
use papilio_store::{StoreError, users};
use papilio_web::i18n;

use crate::sales_pages::{fans, from_first, one_line};
use crate::stock::post_doc;
use crate::support::{self, TestApp};

/// How long a page may take to show what a step waits for.
const WAIT: Duration = Duration::from_secs(10);

/// The password of the users these tests create.
const PASSWORD: &str = "browser-pass-123";

/// The chromedriver binary, when browser tests are wanted.
fn chromedriver() -> Option<String> {
    std::env::var("PAPILIO_TEST_CHROMEDRIVER").ok().filter(|s| !s.is_empty())
}

fn chromium() -> String {
    std::env::var("PAPILIO_TEST_CHROMIUM")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/usr/bin/chromium".to_owned())
}

/// Serves the application on a free loopback port until the test's runtime ends; returns the
/// base URL.
async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let service =
        papilio_web::app(app.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    format!("http://{addr}")
}

/// A chromedriver process and its browser's profile folder. Dropping it kills chromedriver
/// and every process it started and removes the folder, even when the test failed half-way.
struct Driver {
    child: Child,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads its own process group, which its Chromium processes inherit, so
        // one signal to the group leaves no browser behind.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A browser session; its chromedriver goes when it is dropped.
struct Browser {
    client: Client,
    _driver: Driver,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Starts chromedriver on a free port and opens a headless Chromium session through it.
async fn launch(driver_path: &str) -> Browser {
    let port = free_port();
    let profile =
        std::env::temp_dir().join(format!("papilio-chromium-{}", papilio_store::db::new_id()));
    std::fs::create_dir_all(&profile).expect("profile folder");
    let child = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {driver_path}: {e}"));
    let driver = Driver { child, profile: profile.clone() };

    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Flags that keep Chromium from reaching for the network or a desktop that is not there.
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--window-size=1280,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({"binary": chromium(), "args": args}),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("cannot open a Chromium session: {e}"));
    Browser { client, _driver: driver }
}

impl Browser {
    /// Opens `url` and waits for the element `css` on it.
    async fn open(&self, url: &str, css: &str) -> Element {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
        self.element(css).await
    }

    /// Waits for the element `css` on the current page.
    async fn element(&self, css: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let source = self.client.source().await.unwrap_or_default();
                panic!("no {css} on {url:?}: {e}\n{source}");
            }
        }
    }

    /// Replaces the text of the input `css`.
    async fn fill(&self, css: &str, text: &str) {
        let input = self.element(css).await;
        input.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        if !text.is_empty() {
            input.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
        }
    }

    /// Picks the option with `value` in the select `css`.
    async fn select(&self, css: &str, value: &str) {
        let select = self.element(css).await;
        select.select_by_value(value).await.unwrap_or_else(|e| panic!("select {css}: {e}"));
    }

    /// Clicks the element `css`.
    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// The visible text of the element `css`.
    async fn text(&self, css: &str) -> String {
        let element = self.element(css).await;
        element.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Signs in through the login form and waits for the signed-in home page.
    async fn sign_in(&self, base: &str, username: &str) {
        self.open(&format!("{base}/login"), "#login-submit").await;
        self.fill("#username", username).await;
        self.fill("#password", PASSWORD).await;
        self.click("#login-submit").await;
        self.element("#logout").await;
    }

    /// Waits until the page is in `locale`.
    async fn expect_locale(&self, locale: &str) {
        self.element(&format!("html[lang='{locale}']")).await;
    }

    /// Fills the new-item form and saves it, waiting for the saved item's page.
    async fn create_item(&self, base: &str, code: &str, name_zh: &str, name_en: &str) {
        self.open(&format!("{base}/m/item/new"), "#f-code").await;
        self.fill("#f-code", code).await;
        self.fill("#f-name_zh", name_zh).await;
        self.fill("#f-name_en", name_en).await;
        self.select("#f-item_type", "manufactured").await;
        self.fill("#f-base_unit", "PCS").await;
        self.click("#save").await;
        // Only a saved record's page links to its change history.
        self.element("a[href$='/audit']").await;
    }

    /// Ends the browser session cleanly (the guard still kills chromedriver).
    async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

/// A user who may do everything, speaking `locale`.
async fn administrator(app: &TestApp, username: &str, locale: &str) {
    users::create_user(
        &app.db,
        username,
        "Browser Admin",
        PASSWORD,
        locale,
        &["administrator".to_owned()],
        None,
    )
    .await
    .expect("create user");
}

async fn item_count(app: &TestApp) -> i64 {
    let q = ListQuery { page: 1, per_page: 100, ..ListQuery::default() };
    master::list(&app.db, &entities::ITEM, &q).await.expect("list items").total
}

fn rule(locale: &str, field: &str, code: &str) -> String {
    i18n::rule_text(locale, &FieldError::new(field, code))
}

#[tokio::test]
async fn sign_in_create_items_in_both_languages_and_sign_out() {
    let name = "browser::sign_in_create_items_in_both_languages_and_sign_out";
    let Some(driver) = chromedriver() else {
        support::skip(name, "set PAPILIO_TEST_CHROMEDRIVER to run");
        return;
    };
    let app = TestApp::new().await;
    administrator(&app, "admin", "zh-CN").await;
    let base = serve(&app).await;
    let browser = launch(&driver).await;

    // The user's own language decides once signed in, whatever the browser asks for.
    browser.sign_in(&base, "admin").await;
    browser.expect_locale("zh-CN").await;
    let welcome = browser.text("h1").await;
    assert!(welcome.contains(&i18n::tr("zh-CN", "home.welcome")), "{welcome}");
    assert!(welcome.contains("Browser Admin"), "{welcome}");

    browser.create_item(&base, "fan-200", "台扇", "Desk fan").await;
    browser.open(&format!("{base}/m/item"), "table.list").await;
    let list = browser.text("table.list").await;
    assert!(list.contains("FAN-200"), "codes are stored upper-case: {list}");
    assert!(list.contains("台扇"), "{list}");
    assert!(list.contains(&i18n::tr("zh-CN", "choice.manufactured")), "{list}");
    let stored = master::get_by_code(&app.db, &entities::ITEM, "FAN-200").await.expect("stored");
    assert_eq!(stored.values.get("name_en"), Some(&Value::Text("Desk fan".into())));

    // Switching language keeps the user on the same page and remembers the choice.
    browser.click("#switch-locale").await;
    browser.expect_locale("en").await;
    let title = browser.text("h1").await;
    assert_eq!(title, i18n::entity_label("en", "item"));

    browser.create_item(&base, "FAN-300", "壁扇", "Wall fan").await;
    browser.open(&format!("{base}/m/item"), "table.list").await;
    browser.expect_locale("en").await;
    let list = browser.text("table.list").await;
    assert!(list.contains("FAN-300") && list.contains("Wall fan"), "{list}");
    assert!(list.contains(&i18n::tr("en", "choice.manufactured")), "{list}");
    assert_eq!(item_count(&app).await, 2);
    let me = users::list_users(&app.db).await.expect("users");
    assert_eq!(me.iter().find(|u| u.username == "admin").map(|u| u.locale.as_str()), Some("en"));

    // Signing out ends the session: the item list now sends the browser to sign in.
    browser.click("#logout").await;
    browser.element("#login-submit").await;
    browser.open(&format!("{base}/m/item"), "#login-submit").await;

    browser.quit().await;
}

#[tokio::test]
async fn item_form_errors_stand_by_their_fields_in_the_users_language() {
    let name = "browser::item_form_errors_stand_by_their_fields_in_the_users_language";
    let Some(driver) = chromedriver() else {
        support::skip(name, "set PAPILIO_TEST_CHROMEDRIVER to run");
        return;
    };
    let app = TestApp::new().await;
    administrator(&app, "clerk", "zh-CN").await;
    let base = serve(&app).await;
    let browser = launch(&driver).await;
    browser.sign_in(&base, "clerk").await;

    for locale in ["zh-CN", "en"] {
        // No Chinese name, and a negative safety stock.
        browser.open(&format!("{base}/m/item/new"), "#f-code").await;
        browser.expect_locale(locale).await;
        browser.fill("#f-code", "BAD-1").await;
        browser.fill("#f-name_en", "Broken fan").await;
        browser.select("#f-item_type", "purchased").await;
        browser.fill("#f-base_unit", "PCS").await;
        browser.fill("#f-safety_stock", "-5").await;
        browser.click("#save").await;

        let missing = browser.text("#err-name_zh").await;
        assert_eq!(missing, rule(locale, "name_zh", "field.required"));
        let negative = browser.text("#err-safety_stock").await;
        assert_eq!(negative, rule(locale, "safety_stock", "field.negative"));
        // The form comes back with what was typed, so nothing has to be entered again.
        let code = browser.element("#f-code").await.prop("value").await.expect("value");
        assert_eq!(code.as_deref(), Some("BAD-1"));

        let found = master::get_by_code(&app.db, &entities::ITEM, "BAD-1").await;
        assert!(matches!(found, Err(StoreError::NotFound { .. })), "{found:?}");
        assert_eq!(item_count(&app).await, 0);

        if locale == "zh-CN" {
            browser.click("#switch-locale").await;
            browser.expect_locale("en").await;
        }
    }

    browser.click("#logout").await;
    browser.element("#login-submit").await;
    browser.quit().await;
}

#[tokio::test]
async fn a_salesperson_takes_an_order_and_reads_why_it_is_priced_so() {
    let name = "browser::a_salesperson_takes_an_order_and_reads_why_it_is_priced_so";
    let Some(driver) = chromedriver() else {
        support::skip(name, "set PAPILIO_TEST_CHROMEDRIVER to run");
        return;
    };
    let app = TestApp::new().await;
    let admin = app.admin().await;
    crate::sales::sales_master_data(&admin).await;
    users::create_user(
        &app.db,
        "li",
        "Li Na",
        PASSWORD,
        "zh-CN",
        &["salesperson".to_owned()],
        None,
    )
    .await
    .expect("create user");
    let base = serve(&app).await;
    let browser = launch(&driver).await;
    browser.sign_in(&base, "li").await;

    // The price simulation names the entry that won.
    browser.open(&format!("{base}/sales/price"), "#f-customer").await;
    browser.fill("#f-customer", "C001").await;
    browser.fill("#f-item", "FAN-100").await;
    browser.fill("#f-quantity", "10").await;
    browser.click("#simulate").await;
    let won = browser.text("#entry-D-FAN100").await;
    assert!(won.contains(&i18n::tr("zh-CN", "sales_page.sim.won")), "{won}");
    assert!(browser.text("#net-price").await.contains("180.5"));

    // An order with the price left empty is priced, and says why.
    browser.open(&format!("{base}/d/sales_order/new"), "#f-partner").await;
    browser.fill("#f-partner", "C001").await;
    browser.fill("input[name='lines[0].item']", "FAN-100").await;
    browser.fill("input[name='lines[0].quantity']", "10").await;
    browser.fill("input[name='lines[0].unit']", "PCS").await;
    browser.click("#save").await;
    let why = browser.text("#why-1").await;
    assert!(why.contains(&i18n::tr("zh-CN", "sales_page.why_label")), "{why}");
    assert!(why.contains("D-FAN100") && why.contains("DEALER5"), "{why}");
    let line = browser.text("#line-1").await;
    assert!(line.contains("180.5") && line.contains("1805"), "{line}");

    // A receipt: choosing the customer reloads the form with its open invoice to settle.
    let order = post_doc(&admin, "sales_order", one_line("2026-11-02", fans("2"))).await;
    let delivery =
        post_doc(&admin, "sales_delivery", one_line("2026-11-03", from_first(&order, "2"))).await;
    let invoice =
        post_doc(&admin, "sales_invoice", one_line("2026-11-04", from_first(&delivery, "2"))).await;
    let number = invoice["number"].as_str().expect("number");
    browser.open(&format!("{base}/d/customer_receipt/new"), "#f-partner").await;
    browser.fill("#f-partner", "C001").await;
    browser.click("h1").await;
    browser
        .element(&format!("option[value='{}'][selected]", invoice["id"].as_str().expect("id")))
        .await;
    browser.click("#save").await;
    let settles = browser.text(".receipt-lines td.settles").await;
    assert_eq!(settles, number);
    assert_eq!(browser.text("#doc-total").await, "361");

    browser.quit().await;
}
