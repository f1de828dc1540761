//! Sales reports: order execution, receivables ageing, gross margin, targets and the monthly
//! plan, each worked by hand through the HTTP API, and the four pages in both languages.
//!
//! The common data: FAN-100 priced 180.50 to dealer C001 (salesperson E01, team EAST), 60 in
//! stock at 100; C002 buys in USD (E02, team WEST) with rates 7.0 from October and 7.1 from
//! November; C003 buys in EUR, for which there is no rate.

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::sales::{patch_by_code, sales_master_data};
use crate::stock::post_doc;
use crate::support::{TestApp, TestClient};

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}")).parse().unwrap()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn decs(v: &Value) -> Vec<Decimal> {
    v.as_array().unwrap().iter().map(dec).collect()
}

fn numbers(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|d| d["number"].as_str().unwrap().to_owned()).collect()
}

fn number(doc: &Value) -> String {
    doc["number"].as_str().unwrap().to_owned()
}

async fn post(admin: &TestClient, path: &str, body: Value) {
    let r = admin.post(path, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
}

async fn report_data(app: &TestApp, admin: &TestClient) {
    sales_master_data(admin).await;
    // The salespeople sign in, so each employee is linked to a user of its own.
    app.client("lilei", &["salesperson"]).await;
    app.client("hanmeimei", &["salesperson"]).await;
    for (code, zh, en) in [("EAST", "华东组", "East team"), ("WEST", "华西组", "West team")] {
        post(admin, "/api/v1/department", json!({"code": code, "name_zh": zh, "name_en": en}))
            .await;
    }
    post(
        admin,
        "/api/v1/employee",
        json!({"code": "E01", "name": "李雷", "department": "EAST", "username": "lilei"}),
    )
    .await;
    post(
        admin,
        "/api/v1/employee",
        json!({"code": "E02", "name": "韩梅梅", "department": "WEST", "username": "hanmeimei"}),
    )
    .await;
    patch_by_code(admin, "customer", "C001", json!({"salesperson": "E01"})).await;
    for (code, zh, en, currency) in
        [("C002", "美洲贸易", "Americas Trading", "USD"), ("C003", "欧陆家电", "Euro Home", "EUR")]
    {
        post(
            admin,
            "/api/v1/customer",
            json!({"code": code, "name_zh": zh, "name_en": en, "currency": currency, "salesperson": "E02"}),
        )
        .await;
    }
    for (date, rate) in [("2026-10-01", "7.0"), ("2026-11-01", "7.1")] {
        post(
            admin,
            "/api/v1/exchange_rate",
            json!({"currency": "USD", "rate_date": date, "rate": rate}),
        )
        .await;
    }
}

fn line_id(doc: &Value, i: usize) -> Value {
    doc["lines"][i]["id"].clone()
}

/// An approved order of `qty` FAN-100 (priced by the price list unless `price` is given).
async fn order(admin: &TestClient, customer: &str, date: &str, qty: &str, extra: Value) -> Value {
    let mut line = json!({"item": "FAN-100", "quantity": qty, "unit": "PCS"});
    if let (Some(l), Some(e)) = (line.as_object_mut(), extra.as_object()) {
        l.extend(e.clone());
    }
    post_doc(admin, "sales_order", json!({"doc_date": date, "partner": customer, "lines": [line]}))
        .await
}

/// An approved document of `doc_type` pushed down from `source` line 0.
async fn push(
    admin: &TestClient,
    doc_type: &str,
    source: &Value,
    date: &str,
    qty: &str,
    header: Value,
) -> Value {
    let mut body = json!({"doc_date": date, "partner": source["partner"], "lines": [
        {"source_line_id": line_id(source, 0), "quantity": qty, "unit": "PCS"}
    ]});
    if let (Some(b), Some(h)) = (body.as_object_mut(), header.as_object()) {
        b.extend(h.clone());
    }
    post_doc(admin, doc_type, body).await
}

async fn receipt(admin: &TestClient, customer: &str, date: &str, settles: &[(&Value, &str)]) {
    let lines: Vec<Value> = settles
        .iter()
        .map(|(doc, amount)| json!({"settles": doc["id"], "unit_price": amount}))
        .collect();
    post_doc(
        admin,
        "customer_receipt",
        json!({"doc_date": date, "partner": customer, "lines": lines}),
    )
    .await;
}

fn only_line<'a>(report: &'a Value, order: &Value) -> &'a Value {
    let lines: Vec<&Value> = report["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["order"]["id"] == order["id"])
        .collect();
    assert_eq!(lines.len(), 1, "{report}");
    lines[0]
}

async fn get_ok(client: &TestClient, path: &str) -> Value {
    let r = client.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    r.json()
}

/// An order of 20 delivered 12 + 8, invoiced at once, 2 returned and credited, 1,000 paid;
/// a second order of 10 promised for the 12th with only 4 delivered. Returns (first order,
/// second order, invoice, credit note).
async fn order_to_cash(admin: &TestClient) -> (Value, Value, Value, Value) {
    let so1 = order(
        admin,
        "C001",
        "2026-11-02",
        "20",
        json!({"promised_date": "2026-11-05", "due_date": "2026-11-06"}),
    )
    .await;
    let d1 = push(admin, "sales_delivery", &so1, "2026-11-03", "12", json!({})).await;
    let d2 = push(admin, "sales_delivery", &so1, "2026-11-04", "8", json!({})).await;
    let inv = post_doc(
        admin,
        "sales_invoice",
        json!({"doc_date": "2026-11-05", "partner": "C001", "due_date": "2026-12-05", "lines": [
            {"source_line_id": line_id(&d1, 0), "quantity": "12", "unit": "PCS"},
            {"source_line_id": line_id(&d2, 0), "quantity": "8", "unit": "PCS"},
        ]}),
    )
    .await;
    let ret = push(admin, "sales_return", &d1, "2026-11-06", "2", json!({})).await;
    let cn = push(admin, "sales_credit_note", &ret, "2026-11-06", "2", json!({})).await;
    receipt(admin, "C001", "2026-11-20", &[(&inv, "1000")]).await;
    let so2 =
        order(admin, "C001", "2026-11-10", "10", json!({"promised_date": "2026-11-12"})).await;
    push(admin, "sales_delivery", &so2, "2026-11-12", "4", json!({})).await;
    (so1, so2, inv, cn)
}

#[tokio::test]
async fn execution_follows_each_order_line_to_cash() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    report_data(&app, &admin).await;
    let (so1, so2, inv, cn) = order_to_cash(&admin).await;

    let report = get_ok(&admin, "/api/v1/sales/execution?as_of=2026-11-20&status=all").await;
    assert_eq!(report["lines"], 2, "{report}");
    assert_eq!(report["late"], 1);
    assert_eq!(report["backlog"], json!([{"currency": "CNY", "value": "1083"}]));

    // 20 ordered at 180.50; 20 shipped, 2 back: 18 delivered. Invoiced 20 (3,610), credited
    // 2 (361). The invoice received 1,000 of 3,610: its lines' shares are 600 and 400.
    let l = only_line(&report, &so1);
    assert_eq!(l["customer"], "C001");
    assert_eq!(l["salesperson"], "E01");
    assert_eq!(l["salesperson_name"], "李雷");
    assert_eq!(l["currency"], "CNY");
    assert_eq!(dec(&l["ordered"]), d("20"));
    assert_eq!(dec(&l["unit_price"]), d("180.5"));
    assert_eq!(dec(&l["shipped"]), d("20"));
    assert_eq!(dec(&l["returned"]), d("2"));
    assert_eq!(dec(&l["delivered"]), d("18"));
    assert_eq!(dec(&l["invoiced_qty"]), d("20"));
    assert_eq!(dec(&l["invoiced_amount"]), d("3610"));
    assert_eq!(dec(&l["credited_qty"]), d("2"));
    assert_eq!(dec(&l["credited_amount"]), d("361"));
    assert_eq!(dec(&l["net_invoiced_qty"]), d("18"));
    assert_eq!(dec(&l["net_invoiced_amount"]), d("3249"));
    assert_eq!(dec(&l["paid_amount"]), d("1000"));
    assert_eq!(dec(&l["unpaid_amount"]), d("2249"));
    assert_eq!(dec(&l["backlog_qty"]), d("0"));
    assert_eq!(dec(&l["backlog_value"]), d("0"));
    assert_eq!(l["promised_date"], "2026-11-05");
    assert_eq!(l["requested_date"], "2026-11-06");
    assert_eq!(l["days_late"], Value::Null);
    assert_eq!(l["status"], "invoiced");
    // Every step is linked.
    assert_eq!(numbers(&l["flow"]["deliveries"]).len(), 2);
    assert_eq!(numbers(&l["flow"]["returns"]).len(), 1);
    assert_eq!(numbers(&l["flow"]["invoices"]), [number(&inv)]);
    assert_eq!(numbers(&l["flow"]["credit_notes"]), [number(&cn)]);
    assert_eq!(numbers(&l["flow"]["receipts"]).len(), 1);
    let href = l["flow"]["invoices"][0]["href"].as_str().unwrap();
    assert_eq!(href, format!("/d/sales_invoice/{}", inv["id"].as_str().unwrap()));
    assert_eq!(l["order"]["number"], so1["number"]);

    // 4 of 10 delivered, promised for the 12th: 6 × 180.50 = 1,083 late by 8 days.
    let l = only_line(&report, &so2);
    assert_eq!(dec(&l["delivered"]), d("4"));
    assert_eq!(dec(&l["backlog_qty"]), d("6"));
    assert_eq!(dec(&l["backlog_value"]), d("1083"));
    assert_eq!(l["days_late"], 8);
    assert_eq!(l["status"], "late");

    // Filters: late and open lines, a status, a customer, an order number, another day.
    let late = get_ok(&admin, "/api/v1/sales/execution?as_of=2026-11-20&status=late").await;
    assert_eq!(late["lines"], 1);
    assert_eq!(late["data"][0]["order"]["id"], so2["id"]);
    let open = get_ok(&admin, "/api/v1/sales/execution?as_of=2026-11-20&status=open").await;
    assert_eq!(open["lines"], 1);
    let invoiced = get_ok(&admin, "/api/v1/sales/execution?status=invoiced").await;
    assert_eq!(invoiced["data"][0]["order"]["id"], so1["id"]);
    let other = get_ok(&admin, "/api/v1/sales/execution?customer=c002").await;
    assert_eq!(other["lines"], 0);
    let by_number =
        get_ok(&admin, &format!("/api/v1/sales/execution?order={}", number(&so2))).await;
    assert_eq!(by_number["lines"], 1);
    let on_time = get_ok(&admin, "/api/v1/sales/execution?as_of=2026-11-12&status=all").await;
    assert_eq!(only_line(&on_time, &so2)["status"], "open");
    assert_eq!(on_time["late"], 0);

    // The rest is paid and the credit note settled: paid 3,610 − 361 = 3,249, all of it.
    receipt(&admin, "C001", "2026-11-25", &[(&inv, "2610"), (&cn, "361")]).await;
    let report = get_ok(&admin, "/api/v1/sales/execution?as_of=2026-11-25&status=paid").await;
    assert_eq!(report["lines"], 1, "{report}");
    let l = only_line(&report, &so1);
    assert_eq!(dec(&l["paid_amount"]), d("3249"));
    assert_eq!(dec(&l["unpaid_amount"]), d("0"));
    assert_eq!(numbers(&l["flow"]["receipts"]).len(), 2);

    // Bad values are named; permission comes first.
    let bad = admin.get("/api/v1/sales/execution?status=lost&from=2026-02-30").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());
    let fields: Vec<String> = bad.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(fields.contains(&"status".to_owned()) && fields.contains(&"from".to_owned()));
    let nobody = app.client("nobody", &[]).await;
    let r = nobody.get("/api/v1/sales/execution?status=lost").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn receivables_age_by_due_date() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    report_data(&app, &admin).await;
    // Everything is delivered before anything is invoiced (credit control looks at overdue
    // invoices as of the real today).
    let so = order(&admin, "C001", "2026-11-02", "10", json!({})).await;
    let delivery = push(&admin, "sales_delivery", &so, "2026-11-02", "10", json!({})).await;
    let usd = order(&admin, "C002", "2026-11-02", "1", json!({"unit_price": "200"})).await;
    let usd_delivery = push(&admin, "sales_delivery", &usd, "2026-11-02", "1", json!({})).await;
    let eur = order(&admin, "C003", "2026-11-02", "1", json!({"unit_price": "200"})).await;
    let eur_delivery = push(&admin, "sales_delivery", &eur, "2026-11-02", "1", json!({})).await;

    // Five invoices of 2 × 180.50 = 361, due so that on 2027-01-31 they fall into the five
    // buckets: not yet due, 21, 52, 72 and 98 days overdue.
    let mut invoices = Vec::new();
    for due in ["2027-02-15", "2027-01-10", "2026-12-10", "2026-11-20", "2026-10-25"] {
        let inv =
            push(&admin, "sales_invoice", &delivery, "2026-11-02", "2", json!({"due_date": due}))
                .await;
        assert_eq!(dec(&inv["total"]), d("361"));
        invoices.push(inv);
    }
    // 100 paid on the 52-day one; one fan back, credited 180.50, due 77 days ago.
    receipt(&admin, "C001", "2026-12-01", &[(&invoices[2], "100")]).await;
    let ret = push(&admin, "sales_return", &delivery, "2026-11-05", "1", json!({})).await;
    push(&admin, "sales_credit_note", &ret, "2026-11-05", "1", json!({"due_date": "2026-11-15"}))
        .await;
    push(
        &admin,
        "sales_invoice",
        &usd_delivery,
        "2026-11-02",
        "1",
        json!({"due_date": "2027-02-28"}),
    )
    .await;
    push(
        &admin,
        "sales_invoice",
        &eur_delivery,
        "2026-11-02",
        "1",
        json!({"due_date": "2026-12-31"}),
    )
    .await;

    let r = get_ok(&admin, "/api/v1/sales/receivables?as_of=2027-01-31").await;
    assert_eq!(r["buckets"], json!(["current", "1_30", "31_60", "61_90", "over_90"]));
    assert_eq!(r["base_currency"], "CNY");
    let rows = r["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{r}");
    let c001 = &rows[0];
    assert_eq!((c001["customer"].as_str(), c001["currency"].as_str()), (Some("C001"), Some("CNY")));
    assert_eq!(
        decs(&c001["buckets"]),
        [d("361"), d("361"), d("261"), d("180.5"), d("361")],
        "{c001}"
    );
    assert_eq!(dec(&c001["total"]), d("1524.5"));
    assert_eq!(c001["items"], 6);
    assert_eq!(decs(&c001["base_buckets"]), decs(&c001["buckets"]));
    // 200 USD not yet due, 1,420 in yuan at 7.1; the euros have no rate.
    let c002 = &rows[1];
    assert_eq!(c002["currency"], "USD");
    assert_eq!(decs(&c002["buckets"])[0], d("200"));
    assert_eq!(decs(&c002["base_buckets"])[0], d("1420"));
    let c003 = &rows[2];
    assert_eq!(c003["currency"], "EUR");
    assert_eq!(decs(&c003["buckets"])[2], d("200"), "due 31 days before: 31–60");
    assert_eq!(c003["base_buckets"], Value::Null);
    assert_eq!(r["unconverted"], 1);
    let totals = r["totals"].as_array().unwrap();
    assert_eq!(totals.len(), 3);

    // The open items: the credit note is negative, in its bucket.
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    let credit = items.iter().find(|i| i["document"]["doc_type"] == "sales_credit_note").unwrap();
    assert_eq!(dec(&credit["open_amount"]), d("-180.5"));
    assert_eq!(
        (credit["days_overdue"].as_i64(), credit["bucket"].as_str()),
        (Some(77), Some("61_90"))
    );
    let paid = items.iter().find(|i| i["document"]["id"] == invoices[2]["id"]).unwrap();
    assert_eq!((dec(&paid["amount"]), dec(&paid["open_amount"])), (d("361"), d("261")));
    assert_eq!(paid["days_overdue"], 52);

    // One customer; another day; a bad date.
    let one = get_ok(&admin, "/api/v1/sales/receivables?as_of=2027-01-31&customer=C001").await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    let early = get_ok(&admin, "/api/v1/sales/receivables?as_of=2026-10-01&customer=C001").await;
    assert_eq!(decs(&early["data"][0]["buckets"])[0], d("1524.5"), "nothing due yet");
    let bad = admin.get("/api/v1/sales/receivables?as_of=31.01.2027").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["field"], "as_of");
}

#[tokio::test]
async fn margin_is_revenue_less_the_ledger_cost() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    report_data(&app, &admin).await;
    // 20 at 180.50 delivered 12 + 8, 2 returned: revenue 3,610 − 361 = 3,249. The 60 fans
    // came in at 100: cost 2,000 − 200 = 1,800. Margin 1,449, 44.60 %.
    let (so1, _, _, _) = order_to_cash(&admin).await;
    // 4 more on the second order in November: 722 revenue, 400 cost.
    // One fan to C002 at 200 USD in December: 1,420 yuan at 7.1, cost 100.
    let usd = order(&admin, "C002", "2026-12-01", "1", json!({"unit_price": "200"})).await;
    push(&admin, "sales_delivery", &usd, "2026-12-01", "1", json!({})).await;
    // One fan to C003 in euros: no rate, left out and counted.
    let eur = order(&admin, "C003", "2026-12-01", "1", json!({"unit_price": "200"})).await;
    push(&admin, "sales_delivery", &eur, "2026-12-01", "1", json!({})).await;

    let base = "/api/v1/sales/margin?from=2026-11-01&to=2026-12-31";
    let r = get_ok(&admin, &format!("{base}&by=order")).await;
    assert_eq!(r["by"], "order");
    assert_eq!(r["base_currency"], "CNY");
    assert_eq!(r["unconverted"], 1);
    let first = r["data"].as_array().unwrap().iter().find(|g| g["id"] == so1["id"]).unwrap();
    assert_eq!(first["key"], so1["number"]);
    assert_eq!(first["name_en"], "South China Appliances");
    assert_eq!((dec(&first["revenue"]), dec(&first["cost"])), (d("3249"), d("1800")));
    assert_eq!((dec(&first["margin"]), dec(&first["margin_pct"])), (d("1449"), d("44.6")));
    assert_eq!(dec(&first["qty"]), d("18"));
    // Everything: 3,249 + 722 + 1,420 = 5,391 revenue; 1,800 + 400 + 100 = 2,300 cost.
    let total = &r["total"];
    assert_eq!((dec(&total["revenue"]), dec(&total["cost"])), (d("5391"), d("2300")));
    assert_eq!(dec(&total["margin"]), d("3091"));
    assert_eq!(dec(&total["margin_pct"]), d("57.34"));

    let r = get_ok(&admin, &format!("{base}&by=customer")).await;
    let rows = r["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{r}");
    assert_eq!((rows[0]["key"].as_str(), dec(&rows[0]["revenue"])), (Some("C001"), d("3971")));
    assert_eq!((rows[1]["key"].as_str(), dec(&rows[1]["cost"])), (Some("C002"), d("100")));
    assert_eq!(dec(&rows[1]["margin_pct"]), d("92.96"));

    let r = get_ok(&admin, &format!("{base}&by=item")).await;
    assert_eq!(r["data"][0]["key"], "FAN-100");
    assert_eq!(dec(&r["data"][0]["qty"]), d("23"));

    let r = get_ok(&admin, &format!("{base}&by=salesperson")).await;
    let rows = r["data"].as_array().unwrap();
    assert_eq!((rows[0]["key"].as_str(), dec(&rows[0]["margin"])), (Some("E01"), d("1771")));
    assert_eq!((rows[1]["key"].as_str(), dec(&rows[1]["margin"])), (Some("E02"), d("1320")));
    assert_eq!(rows[1]["name_zh"], "韩梅梅");

    let r = get_ok(&admin, &format!("{base}&by=month")).await;
    let months: Vec<&str> =
        r["data"].as_array().unwrap().iter().map(|m| m["key"].as_str().unwrap()).collect();
    assert_eq!(months, ["2026-11", "2026-12"]);
    assert_eq!(dec(&r["data"][0]["revenue"]), d("3971"));
    assert_eq!(r["months"], r["data"]);

    // December alone; one salesperson; bad values named.
    let dec_only = get_ok(&admin, "/api/v1/sales/margin?from=2026-12-01&to=2026-12-31").await;
    assert_eq!(dec(&dec_only["total"]["revenue"]), d("1420"));
    let e01 = get_ok(&admin, &format!("{base}&salesperson=e01")).await;
    assert_eq!(dec(&e01["total"]["cost"]), d("2200"));
    let bad = admin.get("/api/v1/sales/margin?by=week&from=2026-12-31&to=2026-01-01").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = bad.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["by", "from"]);
}

#[tokio::test]
async fn targets_attainment_per_salesperson_team_and_month() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    report_data(&app, &admin).await;
    for (who, month, amount) in
        [("E01", 11, "5000"), ("E01", 12, "5000"), ("E02", 11, "2000"), ("E02", 12, "1000")]
    {
        post(
            &admin,
            "/api/v1/sales_target",
            json!({"salesperson": who, "year": 2026, "month": month, "amount": amount}),
        )
        .await;
    }
    // E01: invoiced 3,610 less a 361 credit note in November: 3,249.
    order_to_cash(&admin).await;
    // E02: 200 USD invoiced on 20 November, 1,420 yuan at 7.1; the euro invoice has no rate.
    let usd = order(&admin, "C002", "2026-11-02", "1", json!({"unit_price": "200"})).await;
    let usd_d = push(&admin, "sales_delivery", &usd, "2026-11-02", "1", json!({})).await;
    let eur = order(&admin, "C003", "2026-11-02", "1", json!({"unit_price": "200"})).await;
    let eur_d = push(&admin, "sales_delivery", &eur, "2026-11-02", "1", json!({})).await;
    push(&admin, "sales_invoice", &usd_d, "2026-11-20", "1", json!({})).await;
    push(&admin, "sales_invoice", &eur_d, "2026-11-20", "1", json!({})).await;

    let r = get_ok(&admin, "/api/v1/sales/targets?year=2026").await;
    assert_eq!(r["year"], 2026);
    assert_eq!(r["unconverted"], 1);
    let people = r["salespeople"].as_array().unwrap();
    assert_eq!(people.len(), 2, "{r}");
    let e01 = &people[0];
    assert_eq!((e01["code"].as_str(), e01["team"].as_str()), (Some("E01"), Some("EAST")));
    let nov = &e01["months"][10];
    assert_eq!((dec(&nov["target"]), dec(&nov["actual"])), (d("5000"), d("3249")));
    assert_eq!(dec(&nov["attainment"]), d("65"), "3,249 / 5,000 = 64.98 %, to one place");
    assert_eq!(dec(&e01["months"][11]["attainment"]), d("0"));
    assert_eq!(e01["months"][0]["attainment"], Value::Null, "no target in January");
    assert_eq!((dec(&e01["target"]), dec(&e01["actual"])), (d("10000"), d("3249")));
    assert_eq!(dec(&e01["attainment"]), d("32.5"));
    let e02 = &people[1];
    assert_eq!(dec(&e02["months"][10]["actual"]), d("1420"));
    assert_eq!(dec(&e02["months"][10]["attainment"]), d("71"));

    let teams = r["teams"].as_array().unwrap();
    let codes: Vec<&str> = teams.iter().map(|t| t["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["EAST", "WEST"]);
    assert_eq!(teams[1]["name_en"], "West team");
    assert_eq!(dec(&teams[1]["target"]), d("3000"));

    // The plan: November 7,000 against 4,669 (66.7 %), December 6,000 against nothing.
    let plan = &r["plan"];
    assert_eq!(dec(&plan["months"][10]["target"]), d("7000"));
    assert_eq!(dec(&plan["months"][10]["actual"]), d("4669"));
    assert_eq!(dec(&plan["months"][10]["attainment"]), d("66.7"));
    assert_eq!(dec(&plan["months"][11]["target"]), d("6000"));
    assert_eq!((dec(&plan["target"]), dec(&plan["actual"])), (d("13000"), d("4669")));
    assert_eq!(dec(&plan["attainment"]), d("35.9"));

    // Another year has targets of nothing; the year is checked.
    let next = get_ok(&admin, "/api/v1/sales/targets?year=2027").await;
    assert!(next["salespeople"].as_array().unwrap().is_empty());
    assert_eq!(next["plan"]["attainment"], Value::Null);
    let bad = admin.get("/api/v1/sales/targets?year=twenty").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["error"]["field"], "year");
}

fn chart_option(html: &str, id: &str) -> Value {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("{id} missing")) + marker.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

#[tokio::test]
async fn report_pages_render_in_both_languages_and_need_read() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    report_data(&app, &admin).await;
    post(
        &admin,
        "/api/v1/sales_target",
        json!({"salesperson": "E01", "year": 2026, "month": 11, "amount": "5000"}),
    )
    .await;
    let (so1, so2, inv, _) = order_to_cash(&admin).await;

    let pages = [
        "/sales/execution?as_of=2026-11-20&status=all",
        "/sales/receivables?as_of=2026-12-31",
        "/sales/margin?from=2026-11-01&to=2026-12-31&by=order",
        "/sales/targets?year=2026",
    ];
    let mut en = Vec::new();
    for page in pages {
        let r = admin.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.text());
        en.push(r.text());
    }
    let execution = &en[0];
    for needle in [
        "Order execution",
        number(&so1).as_str(),
        number(&so2).as_str(),
        &format!("href=\"/d/sales_invoice/{}\"", inv["id"].as_str().unwrap()),
        "href=\"/d/sales_delivery/",
        "href=\"/d/customer_receipt/",
        "class=\"late\"",
        "badge st-late",
        "Late",
        "1,083.00",
        "3,249.00",
        "C001 South China Appliances",
        "E01 李雷",
    ] {
        assert!(execution.contains(needle), "{needle} missing from the execution page");
    }
    assert!(execution.contains("href=\"/sales/execution\""), "navigation links the page");
    let receivables = &en[1];
    for needle in [
        "Receivables ageing",
        "Not yet due",
        "Over 90 days",
        "id=\"ageing-chart\"",
        "locale: 'EN'",
        &number(&inv),
    ] {
        assert!(receivables.contains(needle), "{needle} missing from the receivables page");
    }
    let option = chart_option(receivables, "ageing-option");
    assert_eq!(option["series"].as_array().unwrap().len(), 5);
    assert_eq!(option["series"][0]["stack"], "age");
    // Invoice 3,610 − 1,000 paid = 2,610, due 5 December: 26 days overdue on the 31st.
    assert_eq!(option["series"][1]["data"][0], 2610.0);
    let margin = &en[2];
    for needle in [
        "Gross margin",
        "id=\"margin-chart\"",
        "id=\"trend-chart\"",
        "44.6%",
        &format!("href=\"/d/sales_order/{}\"", so1["id"].as_str().unwrap()),
    ] {
        assert!(margin.contains(needle), "{needle} missing from the margin page");
    }
    let trend = chart_option(margin, "trend-option");
    assert_eq!(trend["xAxis"]["data"], json!(["2026-11"]));
    let targets = &en[3];
    for needle in
        ["Targets and plan", "Monthly sales plan", "id=\"plan-chart\"", "East team", "65%", "Nov"]
    {
        assert!(targets.contains(needle), "{needle} missing from the targets page");
    }
    let plan = chart_option(targets, "plan-option");
    assert_eq!(plan["series"][0]["data"][10], 5000.0);

    // The execution lines as CSV.
    let csv = admin.get("/sales/execution.csv?as_of=2026-11-20&status=late").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text());
    let text = csv.text();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("Order,Order date,Line,Customer"), "{}", lines[0]);
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains(&number(&so2)) && lines[1].contains("1083.00"), "{}", lines[1]);

    let zh = admin.put("/api/v1/me/locale", &json!({"locale": "zh-CN"})).await;
    assert!(zh.status.is_success(), "{}", zh.text());
    let expected: [&[&str]; 4] = [
        &["订单执行跟踪", "逾期", "已开票", "单据流", "华南电器"],
        &["应收账龄", "未到期", "90 天以上", "locale: 'ZH'"],
        &["毛利分析", "毛利率", "月度趋势"],
        &["销售目标与计划", "月度销售计划", "华东组", "11月", "达成率"],
    ];
    for (page, needles) in pages.iter().zip(expected) {
        let r = admin.get(page).await;
        assert_eq!(r.status, StatusCode::OK, "{page}: {}", r.text());
        let html = r.text();
        for needle in needles {
            assert!(html.contains(needle), "{needle} missing from {page} in Chinese");
        }
    }

    // Bad input on a page is answered, not a 500; no grant, no page.
    let bad = admin.get("/sales/margin?by=week").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let nobody = app.client("nobody", &[]).await;
    for page in pages {
        assert_eq!(nobody.get(page).await.status, StatusCode::FORBIDDEN, "{page}");
    }
    assert_eq!(nobody.get("/sales/execution.csv").await.status, StatusCode::FORBIDDEN);
    // A salesperson reads the reports.
    let seller = app.client("li", &["salesperson"]).await;
    assert_eq!(seller.get("/sales/targets").await.status, StatusCode::OK);
}
