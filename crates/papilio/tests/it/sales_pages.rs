//! Sales pages: price simulation, credit, settings, document views and prints.
//!
//! Every page is read over HTTP as the salesperson or the administrator, in English and in
//! Chinese, and checked for what it must say: which price entry won and why the others did
//! not, the reason and promise under each order line, a refused stale save, the printed lines
//! and total, and the open invoices a receipt offers. The push-down chain from quotation to
//! receipt is walked by posting back the forms the pages pre-fill.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use papilio_web::i18n;
use serde_json::{Value, json};

use crate::sales::{act, create, patch_by_code, sales_master_data};
use crate::stock::post_doc;
use crate::support::{TestApp, TestClient, TestResponse};

// ---------------------------------------------------------------------------------------------
// Helpers: forms as a browser posts them, and the values a page's form holds.

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn post_form(client: &TestClient, path: &str, pairs: &[(&str, &str)]) -> TestResponse {
    let body: Vec<String> =
        pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    client.send(Method::POST, path, &headers, Body::from(body.join("&"))).await
}

fn location(r: &TestResponse) -> String {
    r.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `s` as the templates write it into HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The named inputs and selects of `html` with their values, as a browser would post them.
fn form_values(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').map_or(rest.len(), |j| i + j);
        let tag = &rest[i..end];
        if let Some(name) = attr(tag, "name") {
            out.push((name, attr(tag, "value").unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    let mut rest = html;
    while let Some(i) = rest.find("<select") {
        let end = rest[i..].find("</select>").map_or(rest.len(), |j| i + j);
        let block = &rest[i..end];
        let open_end = block.find('>').unwrap_or(block.len());
        if let Some(name) = attr(&block[..open_end], "name") {
            let chosen = block
                .split("<option")
                .skip(1)
                .find(|o| o.split('>').next().unwrap_or("").contains(" selected"))
                .and_then(|o| attr(o, "value"))
                .unwrap_or_default();
            out.push((name, chosen));
        }
        rest = &rest[end..];
    }
    out
}

/// Posts the form of `page` back to `path` with `changes` applied.
async fn post_back(
    client: &TestClient,
    path: &str,
    page: &str,
    changes: &[(&str, &str)],
) -> TestResponse {
    let mut values = form_values(page);
    for (k, v) in changes {
        match values.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = (*v).to_owned(),
            None => values.push(((*k).to_owned(), (*v).to_owned())),
        }
    }
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    post_form(client, path, &pairs).await
}

async fn page(client: &TestClient, path: &str) -> String {
    let r = client.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    r.text()
}

async fn speak(client: &TestClient, locale: &str) {
    let r = client.put("/api/v1/me/locale", &json!({"locale": locale})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// The row of `html` with id `id`, up to its end.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} in {html}"));
    let end = html[start..].find("</tr>").map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// A document of customer C001 dated `date` with one line.
pub fn one_line(date: &str, line: Value) -> Value {
    json!({"doc_date": date, "partner": "C001", "lines": [line]})
}

/// A line of `qty` floor fans.
pub fn fans(qty: &str) -> Value {
    json!({"item": "FAN-100", "quantity": qty, "unit": "PCS"})
}

/// A line taking `qty` from the first line of `source`.
pub fn from_first(source: &Value, qty: &str) -> Value {
    json!({"source_line_id": source["lines"][0]["id"], "quantity": qty, "unit": "PCS"})
}

fn id_of(doc: &Value) -> String {
    doc["id"].as_str().unwrap().to_owned()
}

async fn doc_json(client: &TestClient, doc_type: &str, id: &str) -> Value {
    let r = client.get(&format!("/api/v1/documents/{doc_type}/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// Submits and approves the draft at `location` (a page path `/d/<type>/<id>`).
async fn approve_at(client: &TestClient, location: &str) -> Value {
    let mut parts = location.trim_start_matches("/d/").split('/');
    let (doc_type, id) = (parts.next().unwrap(), parts.next().unwrap());
    let doc = doc_json(client, doc_type, id).await;
    let submitted = act(client, &doc, "submit").await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.text());
    let approved = act(client, &submitted.json(), "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
    approved.json()
}

// ---------------------------------------------------------------------------------------------
// The price simulation

#[tokio::test]
async fn the_simulation_names_the_winner_and_why_the_others_lost_in_both_languages() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let li = app.client("li", &["salesperson"]).await;
    let path = "/sales/price?customer=c001&item=FAN-100&quantity=10&date=2026-11-02";

    for (client, locale) in [(&li, "en"), (&li, "zh-CN"), (&admin, "en")] {
        speak(client, locale).await;
        let html = page(client, path).await;
        assert!(html.contains(&format!("<html lang=\"{locale}\">")), "{html}");
        // Dealers' 190 less the dealer discount of 5 %: 180.5; 10 of them 1805.00.
        assert!(html.contains("<strong>180.5</strong> CNY / PCS"), "{html}");
        assert!(html.contains("id=\"amount\">1805.00 CNY"), "{html}");
        let won = row(&html, "entry-D-FAN100");
        assert!(won.contains("winner") && won.contains(&i18n::tr(locale, "sales_page.sim.won")));
        let below = row(&html, "entry-D100-FAN100");
        assert!(below.contains(&i18n::tr(locale, "sales_page.skip.below_break")), "{below}");
        let base = row(&html, "entry-B-FAN100");
        let outranked = i18n::tr_with(
            locale,
            "sales_page.sim.outranked",
            &[("winner".into(), "D-FAN100".into())],
        );
        assert!(base.contains(&outranked), "{base}");
        let policy = row(&html, "policy-DEALER5");
        assert!(policy.contains(&i18n::tr(locale, "sales_page.sim.won")), "{policy}");
        // The reason, and the stated rule order.
        let why = html.split("id=\"why\"").nth(1).unwrap_or_default();
        assert!(why.contains("D-FAN100") && why.contains("DEALER5"), "{why}");
        assert!(why.contains(&i18n::tr(locale, "sales_page.level.group")), "{why}");
        for n in 1..=3 {
            assert!(html.contains(&esc(&i18n::tr(locale, &format!("sales_page.rules.{n}")))));
        }
    }

    // A hundred reach the dealers' break: 180 less 5 % = 171.
    speak(&li, "en").await;
    let html =
        page(&li, "/sales/price?customer=C001&item=FAN-100&quantity=100&date=2026-11-02").await;
    assert!(html.contains("<strong>171</strong>"), "{html}");
    assert!(row(&html, "entry-D100-FAN100").contains("winner"));

    // Bad input stays on the form, each message by its field.
    let bad = li.get("/sales/price?customer=NOBODY&item=FAN-100&quantity=lots").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
    assert!(bad.text().contains("id=\"err-quantity\""), "{}", bad.text());
    let huge =
        li.get("/sales/price?customer=C001&item=FAN-100&quantity=99999999999999999999").await;
    assert_eq!(huge.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", huge.text());
    assert!(huge.text().contains("id=\"err-quantity\""));
    let unknown = li.get("/sales/price?customer=NOBODY&item=FAN-100&quantity=1").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.text().contains("id=\"err-customer\""), "{}", unknown.text());
    assert!(unknown.text().contains("value=\"NOBODY\""), "what was typed stays");

    // Without a price in the customer's currency the page says a price must be typed.
    let item = admin
        .post(
            "/api/v1/item",
            &json!({
                "code": "FAN-9", "name_zh": "样扇", "name_en": "Sample fan",
                "item_type": "purchased", "base_unit": "PCS",
            }),
        )
        .await;
    assert_eq!(item.status, StatusCode::CREATED, "{}", item.text());
    let none = page(&li, "/sales/price?customer=C001&item=FAN-9&quantity=1&date=2026-11-02").await;
    assert!(none.contains("id=\"no-price\""), "{none}");

    // A clerk may not read prices.
    let clerk = app.client("zhao", &["warehouse_clerk"]).await;
    assert_eq!(clerk.get(path).await.status, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------------
// Orders: the reason, promise, cost and margin of each line

#[tokio::test]
async fn an_order_taken_in_the_form_shows_its_reason_promise_and_margin() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let li = app.client("li", &["salesperson"]).await;

    // The form takes the discount and promised date, and explains leaving the price empty.
    let form = page(&li, "/d/sales_order/new").await;
    assert!(form.contains("name=\"lines[0].discount_pct\""), "{form}");
    assert!(form.contains("name=\"lines[0].promised_date\""));
    assert!(form.contains("name=\"salesperson\"") && form.contains("name=\"due_date\""));
    let hint = esc(&i18n::tr("en", "sales_page.form.hint_priced"));
    assert!(form.contains(&hint), "{hint}\n{form}");

    // One line priced by the policy, one at a price typed in under the target margin.
    let saved = post_form(
        &li,
        "/d/sales_order/new",
        &[
            ("doc_date", "2026-11-02"),
            ("partner", "C001"),
            ("lines[0].item", "FAN-100"),
            ("lines[0].quantity", "10"),
            ("lines[0].unit", "PCS"),
            ("lines[1].item", "FAN-100"),
            ("lines[1].quantity", "2"),
            ("lines[1].unit", "PCS"),
            ("lines[1].unit_price", "100"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let at = location(&saved);

    for locale in ["en", "zh-CN"] {
        speak(&li, locale).await;
        let html = page(&li, &at).await;
        let why = row(&html, "why-1");
        assert!(why.contains(&i18n::tr(locale, "sales_page.why_label")), "{why}");
        assert!(why.contains("D-FAN100") && why.contains("DEALER5"), "{why}");
        assert!(why.contains(&i18n::tr(locale, "sales_page.level.group")), "{why}");
        // 60 on hand: promised today, from stock.
        let promise = i18n::tr_with(
            locale,
            "sales_page.promise.on_hand",
            &[("date".into(), "2026-11-02".into()), ("available".into(), "60".into())],
        );
        assert!(why.contains(&promise), "{why}");
        let line = row(&html, "line-1");
        assert!(line.contains("<td class=\"promised\">2026-11-02</td>"), "{line}");
        assert!(line.contains("190") && line.contains("180.5") && line.contains("1805"));
        // The standard cost 85.50 and its basis; margin (180.5 - 85.5) / 180.5 = 52.63 %.
        assert!(line.contains("85.5") && line.contains("52.63 %"), "{line}");
        assert!(line.contains(&i18n::tr(locale, "sales_page.cost_basis.standard")));
        assert!(!line.contains("under-target"), "{line}");
        // The typed price: (100 - 85.5) / 100 = 14.5 %, under the 20 % target.
        let typed = row(&html, "line-2");
        assert!(typed.contains("under-target") && typed.contains("14.5 %"), "{typed}");
        assert!(row(&html, "why-2").contains(&i18n::tr(locale, "sales_page.why.manual")));
        // Totals: 1805 + 200; cost 12 × 85.5 = 1026; margin 979.
        assert!(html.contains("id=\"total-amount\">2005<"), "{html}");
        assert!(html.contains("id=\"total-cost\">1026<"), "{html}");
        assert!(html.contains("id=\"total-margin\">979 (48.83 %)"), "{html}");
        assert!(html.contains("id=\"print-link\""));
    }

    // Editing the draft offers the engine's price as derived, so saving it unchanged with a
    // new quantity prices the line again, with its reason, while the typed price stays typed.
    speak(&li, "en").await;
    let edit = page(&li, &format!("{at}/edit")).await;
    assert!(edit.contains("name=\"lines[0].auto_unit_price\" value=\"180.5\""), "{edit}");
    assert!(!edit.contains("name=\"lines[1].auto_unit_price\""), "{edit}");
    let resaved =
        post_back(&li, &format!("{at}/edit"), &edit, &[("lines[0].quantity", "100")]).await;
    assert_eq!(resaved.status, StatusCode::SEE_OTHER, "{}", resaved.text());
    let id = at.rsplit('/').next().unwrap();
    let order = doc_json(&li, "sales_order", id).await;
    assert_eq!(order["lines"][0]["unit_price"], "171");
    assert_eq!(order["lines"][0]["explain"]["price"]["entry"], "D100-FAN100");
    assert_eq!(order["lines"][1]["unit_price"], "100");
    assert_eq!(order["lines"][1]["explain"]["price"]["manual"], true);
}

// ---------------------------------------------------------------------------------------------
// Settings and credit

#[tokio::test]
async fn settings_save_with_field_messages_and_refuse_a_stale_save() {
    let app = TestApp::new().await;
    let admin = app.admin().await;

    let form = page(&admin, "/sales/settings").await;
    assert!(form.contains("option value=\"approve\" selected"), "{form}");
    let version =
        form_values(&form).into_iter().find(|(k, _)| k == "_version").map(|(_, v)| v).unwrap();
    let values = |version: &str, days: &str, margin: &str| {
        vec![
            ("_version".to_owned(), version.to_owned()),
            ("credit_action".to_owned(), "block".to_owned()),
            ("overdue_days".to_owned(), days.to_owned()),
            ("cost_history_months".to_owned(), "6".to_owned()),
            ("target_margin_pct".to_owned(), margin.to_owned()),
        ]
    };
    let post = |pairs: Vec<(String, String)>| {
        let admin = admin.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_form(&admin, "/sales/settings", &pairs).await
        }
    };

    // Malformed and out-of-range values come back by their fields, nothing saved.
    let bad = post(values(&version, "soon", "150")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
    assert!(bad.text().contains("id=\"err-overdue_days\""), "{}", bad.text());
    assert!(bad.text().contains("value=\"soon\""), "what was typed stays");
    let range = post(values(&version, "45", "150")).await;
    assert_eq!(range.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(range.text().contains("id=\"err-target_margin_pct\""), "{}", range.text());

    let saved = post(values(&version, "45", "25")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    assert_eq!(location(&saved), "/sales/settings?done=saved");
    let api = admin.get("/api/v1/sales/settings").await.json();
    assert_eq!(
        (api["credit_action"].as_str(), api["overdue_days"].as_i64()),
        (Some("block"), Some(45))
    );
    assert_eq!(api["target_margin_pct"], "25");
    let shown = page(&admin, "/sales/settings?done=saved").await;
    assert!(shown.contains("id=\"notice\"") && shown.contains("option value=\"block\" selected"));

    // The same form sent again at the old version is stale: refused, nothing changed.
    let stale = post(values(&version, "10", "30")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text());
    assert!(stale.text().contains("id=\"form-error\""), "{}", stale.text());
    assert_eq!(admin.get("/api/v1/sales/settings").await.json()["overdue_days"], 45);

    // In Chinese, with the choices translated; a clerk may not see it.
    speak(&admin, "zh-CN").await;
    let zh = page(&admin, "/sales/settings").await;
    assert!(zh.contains("销售设置") && zh.contains("提交审批") && zh.contains("禁止"), "{zh}");
    let clerk = app.client("zhao", &["warehouse_clerk"]).await;
    assert_eq!(clerk.get("/sales/settings").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_credit_page_marks_customers_over_their_limit() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    patch_by_code(&admin, "customer", "C001", json!({"credit_limit": "1000"})).await;
    // 10 × 180.50 = 1805 ordered against a limit of 1000 (approved by the administrator).
    post_doc(&admin, "sales_order", one_line("2026-11-02", fans("10"))).await;
    let li = app.client("li", &["salesperson"]).await;
    for locale in ["en", "zh-CN"] {
        speak(&li, locale).await;
        let html = page(&li, "/sales/credit").await;
        let c001 = row(&html, "credit-C001");
        assert!(c001.contains("class=\"over-limit\""), "{c001}");
        assert!(c001.contains("1000.00") && c001.contains("1805.00") && c001.contains("-805.00"));
        assert!(c001.contains(&i18n::tr(locale, "sales_page.credit.over_limit")), "{c001}");
    }
}

// ---------------------------------------------------------------------------------------------
// Print

#[tokio::test]
async fn print_pages_carry_the_lines_and_the_total() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let order = post_doc(&admin, "sales_order", one_line("2026-11-02", fans("10"))).await;
    let li = app.client("li", &["salesperson"]).await;
    let path = format!("/d/sales_order/{}/print", id_of(&order));
    let number = order["number"].as_str().unwrap();

    for (locale, title, item, customer) in [
        ("en", "Sales order", "Floor fan", "South China Appliances"),
        ("zh-CN", "销售订单", "落地扇", "华南电器"),
    ] {
        speak(&li, locale).await;
        let html = page(&li, &path).await;
        assert!(html.contains(&format!("id=\"print-title\">{title}<")), "{html}");
        assert!(html.contains(&format!("id=\"print-number\">{number}<")), "{html}");
        assert!(html.contains(customer) && html.contains("FAN-100") && html.contains(item));
        assert!(html.contains("id=\"print-total\">1805.00 CNY<"), "{html}");
        assert!(html.contains("/assets/print.css") && !html.contains("id=\"unapproved\""));
    }
    let css = li.get("/assets/print.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.text().contains("@media print") && css.text().contains("A4"));

    // A delivery note prints quantities, not prices; a draft says it is not approved.
    let delivery =
        create(&admin, "sales_delivery", one_line("2026-11-03", from_first(&order, "4"))).await;
    speak(&li, "en").await;
    let note = page(&li, &format!("/d/sales_delivery/{}/print", id_of(&delivery))).await;
    assert!(note.contains("id=\"print-title\">Delivery note<"), "{note}");
    assert!(note.contains("id=\"print-total-qty\">4<") && !note.contains("id=\"print-total\""));
    assert!(note.contains("id=\"unapproved\""), "{note}");
    // Only the sales documents have a print; an unknown id is not found.
    let receipt_print = li.get(&format!("/d/customer_receipt/{}/print", id_of(&order))).await;
    assert_eq!(receipt_print.status, StatusCode::NOT_FOUND);
    assert_eq!(li.get("/d/sales_order/12345/print").await.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Receipts

#[tokio::test]
async fn a_receipt_offers_the_customers_open_invoices_and_links_what_it_settles() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let order = post_doc(&admin, "sales_order", one_line("2026-11-02", fans("20"))).await;
    let delivery =
        post_doc(&admin, "sales_delivery", one_line("2026-11-03", from_first(&order, "20"))).await;
    let invoice =
        post_doc(&admin, "sales_invoice", one_line("2026-11-05", from_first(&delivery, "20")))
            .await;
    let (inv_id, inv_number) = (id_of(&invoice), invoice["number"].as_str().unwrap().to_owned());
    let li = app.client("li", &["salesperson"]).await;

    // The invoice shows what is open and offers to record a receipt.
    let inv_page = page(&li, &format!("/d/sales_invoice/{inv_id}")).await;
    assert!(inv_page.contains("3610.00"), "{inv_page}");
    assert!(inv_page.contains(&format!("/d/customer_receipt/new?from={inv_id}")), "{inv_page}");

    for locale in ["en", "zh-CN"] {
        speak(&li, locale).await;
        // Choosing the customer lists its open invoices, each ready to settle in full.
        let form = page(&li, "/d/customer_receipt/new?partner=c001").await;
        assert!(
            form.contains(&format!("<option value=\"{inv_id}\" selected>{inv_number}")),
            "{form}"
        );
        assert!(form.contains("name=\"lines[0].unit_price\" type=\"number\" value=\"3610\""));
        assert!(form.contains(&esc(&i18n::tr(locale, "sales_page.form.hint_receipt"))));
        assert!(
            !form.contains("name=\"lines[0].item\""),
            "a receipt line is an invoice and an amount"
        );
    }
    speak(&li, "en").await;
    let blank = page(&li, "/d/customer_receipt/new").await;
    assert!(blank.contains("hx-get=\"/d/customer_receipt/new\""), "{blank}");
    assert!(!blank.contains(&format!("<option value=\"{inv_id}\"")));

    // From the invoice: one line settling what is open of it; part of it is received.
    let from = page(&li, &format!("/d/customer_receipt/new?from={inv_id}")).await;
    assert!(from.contains(&format!("<option value=\"{inv_id}\" selected>")), "{from}");
    let saved =
        post_back(&li, "/d/customer_receipt/new", &from, &[("lines[0].unit_price", "1000")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let at = location(&saved);
    let receipt = page(&li, &at).await;
    assert!(
        receipt.contains(&format!("<a href=\"/d/sales_invoice/{inv_id}\">{inv_number}</a>")),
        "{receipt}"
    );
    assert!(receipt.contains("id=\"doc-total\">1000<"), "{receipt}");
    approve_at(&admin, &at).await;
    assert!(page(&li, &format!("/d/sales_invoice/{inv_id}")).await.contains("2610.00"));

    // Settling more than is open is refused by the line, not as a server error.
    let over = post_form(
        &li,
        "/d/customer_receipt/new",
        &[
            ("doc_date", "2026-11-20"),
            ("partner", "C001"),
            ("lines[0].settles", &inv_id),
            ("lines[0].unit_price", "5000"),
        ],
    )
    .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", over.text());
    assert!(over.text().contains("id=\"err-lines-0-unit_price\""), "{}", over.text());
}

// ---------------------------------------------------------------------------------------------
// Push-down through the whole chain

#[tokio::test]
async fn push_down_buttons_fill_each_next_document_from_quotation_to_receipt() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    let quote = post_doc(&admin, "sales_quotation", one_line("2026-11-02", fans("20"))).await;
    let quote_page = page(&admin, &format!("/d/sales_quotation/{}", id_of(&quote))).await;
    let order_form = format!("/d/sales_order/new?from={}", id_of(&quote));
    assert!(quote_page.contains(&order_form), "{quote_page}");
    assert!(quote_page.contains(&i18n::tr("en", "sales_page.push.sales_order")));

    // The order keeps the quoted price and says where it came from.
    let form = page(&admin, &order_form).await;
    assert!(form.contains("auto_unit_price\" value=\"180.5\""), "{form}");
    let saved = post_back(&admin, "/d/sales_order/new", &form, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let order = approve_at(&admin, &location(&saved)).await;
    assert_eq!(order["lines"][0]["unit_price"], "180.5");
    assert_eq!(order["lines"][0]["explain"]["price"]["from"], quote["number"]);
    let order_page = page(&admin, &location(&saved)).await;
    let why = row(&order_page, "why-1");
    assert!(why.contains(quote["number"].as_str().unwrap()) && why.contains("D-FAN100"));

    // Deliver: the form holds the order's open line.
    assert!(order_page.contains(&i18n::tr("en", "sales_page.push.sales_delivery")));
    let form = page(&admin, &format!("/d/sales_delivery/new?from={}", id_of(&order))).await;
    let line = order["lines"][0]["id"].as_str().unwrap();
    assert!(form.contains(&format!("value=\"{line}\"")) && form.contains("value=\"20\""));
    let saved = post_back(&admin, "/d/sales_delivery/new", &form, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let delivery = approve_at(&admin, &location(&saved)).await;
    assert_eq!(delivery["lines"][0]["unit_price"], "180.5");

    // Invoice: inherits price, list price and discount.
    let form = page(&admin, &format!("/d/sales_invoice/new?from={}", id_of(&delivery))).await;
    let saved = post_back(&admin, "/d/sales_invoice/new", &form, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let invoice = approve_at(&admin, &location(&saved)).await;
    assert_eq!(invoice["total"], "3610");
    assert_eq!(invoice["lines"][0]["list_price"], "190");

    // The fully invoiced delivery still offers a return of what was delivered.
    let delivery_page = page(&admin, &format!("/d/sales_delivery/{}", id_of(&delivery))).await;
    let return_form = format!("/d/sales_return/new?from={}", id_of(&delivery));
    assert!(delivery_page.contains(&return_form), "{delivery_page}");
    let form = page(&admin, &return_form).await;
    assert!(form.contains("name=\"lines[0].quantity\" type=\"number\" value=\"20\""), "{form}");
    let saved =
        post_back(&admin, "/d/sales_return/new", &form, &[("lines[0].quantity", "2")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let ret = approve_at(&admin, &location(&saved)).await;
    let again = page(&admin, &return_form).await;
    assert!(again.contains("name=\"lines[0].quantity\" type=\"number\" value=\"18\""), "{again}");

    // Credit note from the return, then the receipt from the invoice.
    let form = page(&admin, &format!("/d/sales_credit_note/new?from={}", id_of(&ret))).await;
    let saved = post_back(&admin, "/d/sales_credit_note/new", &form, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let credit_note = approve_at(&admin, &location(&saved)).await;
    assert_eq!(credit_note["total"], "361");
    let invoice_page = page(&admin, &format!("/d/sales_invoice/{}", id_of(&invoice))).await;
    assert!(invoice_page.contains(&i18n::tr("en", "sales_page.push.customer_receipt")));
    let form = page(&admin, &format!("/d/customer_receipt/new?from={}", id_of(&invoice))).await;
    let saved = post_back(&admin, "/d/customer_receipt/new", &form, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    approve_at(&admin, &location(&saved)).await;
    let settled = page(&admin, &format!("/d/sales_invoice/{}", id_of(&invoice))).await;
    assert!(settled.contains("<td>0.00</td>"), "{settled}");
    assert!(!settled.contains("/d/customer_receipt/new?from="), "nothing left to receive");
}
