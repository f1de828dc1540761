//! Engineering data: BOMs, routings, ECOs, explosion, where-used and cost roll-up, over HTTP.
//!
//! The fan used throughout, worked by hand:
//!
//! ```text
//! FAN-100  ── MOTOR  × 1 (operation 10)
//!          ├─ BLADE  × 3 (backflushed)
//!          └─ SCREW  × 0.5 BOX (a box holds 12: 6 pieces)
//! MOTOR    ── COIL   × 2 with 5 % scrap (2.1)
//!          └─ SHAFT  × 1
//! ```
//!
//! Standard costs: COIL 2.50, SHAFT 3.00, BLADE 4.00, SCREW 0.10 a piece. Work centres: ASM
//! (labour 40, machine 10, overhead 20 an hour), WIND (30, 50, 10). Routings: FAN-100 lot 10,
//! operation 10 at ASM, setup 1 h, run 0.5 h: 1 / 10 + 0.5 = 0.6 h, so labour 24, machine 6,
//! overhead 12. MOTOR lot 100, operation 10 at WIND, setup 2 h, run 0.2 h: 0.22 h, so labour
//! 6.6, machine 11, overhead 2.2; operation 20 subcontracted to S001 at 1.50 a motor.
//!
//! MOTOR: material 2.1 × 2.50 + 3.00 = 8.25, conversion 6.6 + 11 + 2.2 + 1.5 = 21.30, total
//! 29.55. FAN-100: material 29.55 + 3 × 4.00 + 6 × 0.10 = 42.15, conversion 42, total 84.15;
//! what its components brought in: material 8.25 + 12 + 0.6 = 20.85, labour 6.6, machine 11,
//! overhead 2.2, subcontract 1.5 (together 42.15).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::sales::sales_master_data;
use crate::stock::post_doc;
use crate::support::{TestApp, TestClient, basic_master_data};

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("not a decimal: {v}")).parse().unwrap()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

async fn created(client: &TestClient, path: &str, body: Value) -> Value {
    let r = client.post(path, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
    r.json()
}

/// The fan's items, the box conversion, two work centres.
async fn fan_master_data(admin: &TestClient) {
    for (code, kind, cost) in [
        ("MOTOR", "manufactured", "0"),
        ("BLADE", "purchased", "4.00"),
        ("BLADE-RED", "purchased", "4.50"),
        ("COIL", "purchased", "2.50"),
        ("SHAFT", "purchased", "3.00"),
        ("SCREW", "purchased", "0.10"),
    ] {
        created(
            admin,
            "/api/v1/item",
            json!({"code": code, "name_zh": code, "name_en": code, "item_type": kind,
                   "base_unit": "PCS", "standard_cost": cost}),
        )
        .await;
    }
    created(
        admin,
        "/api/v1/unit_conversion",
        json!({"from_unit": "BOX", "to_unit": "PCS", "factor": "12"}),
    )
    .await;
    for (code, labour, machine, overhead) in [("ASM", "40", "10", "20"), ("WIND", "30", "50", "10")]
    {
        created(
            admin,
            "/api/v1/work_centre",
            json!({"code": code, "name_zh": code, "name_en": code, "capacity_hours": "8",
                   "labour_rate": labour, "machine_rate": machine, "overhead_rate": overhead}),
        )
        .await;
    }
}

fn line(component: &str, qty: &str) -> Value {
    json!({"component": component, "qty_per": qty, "unit": "PCS"})
}

/// Creates a BOM version and answers it.
async fn bom(client: &TestClient, body: Value) -> Value {
    created(client, "/api/v1/engineering/boms", body).await
}

/// Approves a version (BOM or routing) and answers it.
async fn approve(client: &TestClient, kind: &str, v: &Value) -> Value {
    let path = format!("/api/v1/engineering/{kind}/{}/approve", v["id"].as_str().unwrap());
    let r = client.post(&path, &json!({"lock_version": v["lock_version"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn fan_lines() -> Value {
    json!([
        {"component": "MOTOR", "qty_per": "1", "unit": "PCS", "operation_seq": 10},
        {"component": "BLADE", "qty_per": "3", "unit": "PCS", "issue_method": "backflushed"},
        {"component": "SCREW", "qty_per": "0.5", "unit": "BOX"},
    ])
}

/// The fan's approved bills (version 01 of both) and routings.
async fn fan_structure(admin: &TestClient) {
    fan_master_data(admin).await;
    let fan = bom(admin, json!({"item": "FAN-100", "version": "01", "lines": fan_lines()})).await;
    approve(admin, "boms", &fan).await;
    let motor = bom(
        admin,
        json!({"item": "MOTOR", "version": "01", "lines": [
            {"component": "COIL", "qty_per": 2, "unit": "PCS", "scrap_pct": "5", "operation_seq": 10},
            {"component": "SHAFT", "qty_per": "1", "unit": "PCS", "operation_seq": 10},
        ]}),
    )
    .await;
    approve(admin, "boms", &motor).await;
    let fan_routing = created(
        admin,
        "/api/v1/engineering/routings",
        json!({"item": "FAN-100", "version": "R1", "lot_size": "10", "operations": [
            {"seq": 10, "work_centre": "ASM", "setup_hours": "1", "run_hours": "0.5"},
        ]}),
    )
    .await;
    approve(admin, "routings", &fan_routing).await;
    let motor_routing = created(
        admin,
        "/api/v1/engineering/routings",
        json!({"item": "MOTOR", "version": "R1", "lot_size": "100", "operations": [
            {"seq": 10, "work_centre": "WIND", "setup_hours": "2", "run_hours": "0.2",
             "queue_hours": "4", "move_hours": "1"},
            {"seq": 20, "work_centre": "ASM", "run_hours": "0.1", "subcontracted": true,
             "supplier": "S001", "subcontract_fee": "1.50"},
        ]}),
    )
    .await;
    approve(admin, "routings", &motor_routing).await;
}

fn shape(rows: &Value) -> Vec<(u64, String, String, Decimal, Decimal)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["level"].as_u64().unwrap(),
                r["parent"].as_str().unwrap().to_owned(),
                r["component"].as_str().unwrap().to_owned(),
                dec(&r["qty_per_parent"]),
                dec(&r["total_qty"]),
            )
        })
        .collect()
}

fn row(
    level: u64,
    parent: &str,
    component: &str,
    per: &str,
    total: &str,
) -> (u64, String, String, Decimal, Decimal) {
    (level, parent.to_owned(), component.to_owned(), d(per), d(total))
}

#[tokio::test]
async fn a_fan_explodes_and_rolls_up_as_worked_by_hand() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    fan_structure(&admin).await;

    let r = admin.get("/api/v1/engineering/explode?item=fan-100&qty=10&date=2026-12-01").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let x = r.json();
    assert_eq!(x["version"], "01");
    assert_eq!(x["versions"]["MOTOR"], "01");
    assert_eq!(
        shape(&x["rows"]),
        vec![
            row(1, "FAN-100", "MOTOR", "1", "10"),
            row(2, "MOTOR", "COIL", "2.1", "21"),
            row(2, "MOTOR", "SHAFT", "1", "10"),
            row(1, "FAN-100", "BLADE", "3", "30"),
            row(1, "FAN-100", "SCREW", "6", "60"),
        ]
    );
    assert_eq!(x["rows"][1]["parent_row"], 0);
    assert_eq!(x["rows"][3]["issue_method"], "backflushed");
    assert_eq!(x["rows"][4]["unit"], "PCS");
    let leaves: Vec<(String, Decimal)> = x["leaf_totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["item"].as_str().unwrap().to_owned(), dec(&l["qty"])))
        .collect();
    assert_eq!(
        leaves,
        vec![
            ("BLADE".into(), d("30")),
            ("COIL".into(), d("21")),
            ("SCREW".into(), d("60")),
            ("SHAFT".into(), d("10")),
        ]
    );

    // Where-used, one level and all levels.
    let w = admin.get("/api/v1/engineering/where-used?item=COIL&date=2026-12-01").await.json();
    assert_eq!(shape(&w["rows"]), vec![row(1, "MOTOR", "COIL", "2.1", "2.1")]);
    let w = admin
        .get("/api/v1/engineering/where-used?item=COIL&multi=true&date=2026-12-01")
        .await
        .json();
    assert_eq!(
        shape(&w["rows"]),
        vec![row(1, "MOTOR", "COIL", "2.1", "2.1"), row(2, "FAN-100", "MOTOR", "1", "2.1")]
    );

    // The roll-up.
    let run =
        created(&admin, "/api/v1/engineering/cost-rollups", json!({"as_of": "2026-12-01"})).await;
    assert!(run["items"].as_i64().unwrap() >= 7, "{run}");
    assert_eq!(run["operations"], 3);
    let motor = admin.get("/api/v1/engineering/costs/MOTOR").await.json();
    assert_eq!(dec(&motor["material"]), d("8.25"));
    assert_eq!(dec(&motor["labour"]), d("6.6"));
    assert_eq!(dec(&motor["machine"]), d("11"));
    assert_eq!(dec(&motor["overhead"]), d("2.2"));
    assert_eq!(dec(&motor["subcontract"]), d("1.5"));
    assert_eq!(dec(&motor["total"]), d("29.55"));
    assert_eq!(motor["bom_version"], "01");
    assert_eq!(motor["routing_version"], "R1");
    let ops = motor["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(dec(&ops[0]["hours_per_unit"]), d("0.22"));
    assert_eq!(dec(&ops[0]["total"]), d("19.8"));
    assert_eq!(ops[1]["work_centre"], "ASM");
    assert_eq!(dec(&ops[1]["labour"]), d("0"));
    assert_eq!(dec(&ops[1]["subcontract"]), d("1.5"));

    let fan = admin.get("/api/v1/engineering/costs/FAN-100").await.json();
    assert_eq!(dec(&fan["material"]), d("42.15"));
    assert_eq!(dec(&fan["labour"]), d("24"));
    assert_eq!(dec(&fan["total"]), d("84.15"));
    assert_eq!(dec(&fan["this_level"]["material"]), d("0"));
    assert_eq!(dec(&fan["this_level"]["total"]), d("42"));
    let lower = &fan["lower_levels"];
    assert_eq!(
        [&lower["material"], &lower["labour"], &lower["machine"], &lower["overhead"]].map(dec),
        [d("20.85"), d("6.6"), d("11"), d("2.2")]
    );
    assert_eq!(dec(&lower["subcontract"]), d("1.5"));
    assert_eq!(dec(&lower["total"]), d("42.15"));
    let screw = admin.get("/api/v1/engineering/costs/SCREW").await.json();
    assert_eq!(dec(&screw["this_level"]["material"]), d("0.1"));

    // A dearer blade, a second run: the history shows both, newest first.
    let list = admin.get("/api/v1/item?q=BLADE").await.json();
    let blade = list["data"].as_array().unwrap().iter().find(|r| r["code"] == "BLADE").unwrap();
    let r = admin
        .patch(
            &format!("/api/v1/item/{}", blade["id"].as_str().unwrap()),
            &json!({"version": blade["version"], "standard_cost": "5"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    created(&admin, "/api/v1/engineering/cost-rollups", json!({})).await;
    let history = admin.get("/api/v1/engineering/costs/FAN-100/history").await.json();
    let totals: Vec<Decimal> =
        history["data"].as_array().unwrap().iter().map(|h| dec(&h["total"])).collect();
    assert_eq!(totals, vec![d("87.15"), d("84.15")]);
    let runs = admin.get("/api/v1/engineering/cost-rollups").await.json();
    assert_eq!(runs["data"].as_array().unwrap().len(), 2);

    // No run costed this item: 404 naming it; a reader may look, an outsider may not run.
    assert_eq!(admin.get("/api/v1/engineering/costs/NOPE").await.status, StatusCode::NOT_FOUND);
    let seller = app.client("li", &["salesperson"]).await;
    assert_eq!(seller.get("/api/v1/engineering/costs/FAN-100").await.status, StatusCode::OK);
    let r = seller.post("/api/v1/engineering/cost-rollups", &json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_loop_is_refused_naming_its_path_and_bad_lines_are_named() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    fan_structure(&admin).await;

    // COIL made of FAN-100 would close FAN-100 → MOTOR → COIL → FAN-100.
    let coil = bom(
        &admin,
        json!({"item": "COIL", "version": "01", "lines": [
            line("SHAFT", "1"), line("FAN-100", "1"),
        ]}),
    )
    .await;
    let path = format!("/api/v1/engineering/boms/{}/approve", coil["id"].as_str().unwrap());
    let r = admin.post(&path, &json!({"lock_version": coil["lock_version"]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let error = &r.json()["error"];
    assert_eq!(error["field"], "lines[1].component");
    assert_eq!(error["fields"][0]["code"], "bom.cycle");
    let message = error["fields"][0]["message"].as_str().unwrap();
    assert!(message.contains("COIL → FAN-100 → MOTOR → COIL"), "{message}");
    // Still a draft, unchanged.
    let again =
        admin.get(&format!("/api/v1/engineering/boms/{}", coil["id"].as_str().unwrap())).await;
    assert_eq!(again.json()["status"], "draft");
    assert_eq!(again.json()["lock_version"], coil["lock_version"]);

    // Everything wrong with a draft at once.
    let r = admin
        .post(
            "/api/v1/engineering/boms",
            &json!({"item": "MOTOR", "version": "02", "lines": [
                {"component": "MOTOR", "qty_per": "1", "unit": "PCS"},
                {"component": "COIL", "qty_per": "0", "unit": "PCS"},
                {"component": "GHOST", "qty_per": "1", "unit": "PCS"},
                {"component": "SHAFT", "qty_per": "1", "unit": "LITRE"},
                {"component": "SHAFT", "qty_per": "abc", "unit": "PCS", "colour": "red"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<(String, String)> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().to_owned(), f["code"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("lines[4].qty_per".into(), "field.not_decimal".into()),
            ("lines[4].colour".into(), "field.unknown".into()),
        ]
    );
    let r = admin
        .post(
            "/api/v1/engineering/boms",
            &json!({"item": "MOTOR", "version": "02", "lines": [
                {"component": "MOTOR", "qty_per": "1", "unit": "PCS"},
                {"component": "COIL", "qty_per": "0", "unit": "PCS"},
            ]}),
        )
        .await;
    let fields: Vec<String> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        vec!["lines[0].component bom.component_is_parent", "lines[1].qty_per field.not_positive"]
    );
    let r = admin
        .post(
            "/api/v1/engineering/boms",
            &json!({"item": "MOTOR", "version": "02", "lines": [
                {"component": "GHOST", "qty_per": "1", "unit": "PCS"},
                {"component": "SHAFT", "qty_per": "1", "unit": "LITRE"},
                {"component": "SHAFT", "qty_per": "1", "unit": "BOX", "operation_seq": 10},
            ]}),
        )
        .await;
    let fields: Vec<String> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        vec!["lines[0].component field.unknown_reference", "lines[1].unit field.unknown_reference",],
        "a box of shafts converts through the global box conversion"
    );
    // The same version twice is a conflict; an unknown id is 404; a stale lock is refused.
    let r = admin
        .post(
            "/api/v1/engineering/boms",
            &json!({"item": "MOTOR", "version": "01", "lines": [line("COIL", "1")]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(admin.get("/api/v1/engineering/boms/12345").await.status, StatusCode::NOT_FOUND);
    let path = format!("/api/v1/engineering/boms/{}", coil["id"].as_str().unwrap());
    let r = admin.put(&path, &json!({"lock_version": 99, "lines": [line("SHAFT", "2")]})).await;
    assert_eq!(r.error_code(), "stale_version");
    let r = admin
        .put(&path, &json!({"lock_version": coil["lock_version"], "lines": [line("SHAFT", "2")]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["lines"][0]["qty_per"], "2");
    // Compare the two fan versions: the loop-free change is reported line by line.
    let fan = admin.get("/api/v1/engineering/boms?item=FAN-100").await.json();
    let v01 = fan["data"][0]["id"].as_str().unwrap().to_owned();
    let v02 = bom(
        &admin,
        json!({"item": "FAN-100", "version": "02", "lines": [
            {"component": "MOTOR", "qty_per": "1", "unit": "PCS", "operation_seq": 10},
            {"component": "BLADE", "qty_per": "4", "unit": "PCS", "issue_method": "backflushed"},
            line("SHAFT", "1"),
        ]}),
    )
    .await;
    let c = admin
        .get(&format!("/api/v1/engineering/boms/compare?a={v01}&b={}", v02["id"].as_str().unwrap()))
        .await
        .json();
    let diffs: Vec<String> = c["diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {} {}",
                d["change"].as_str().unwrap(),
                d["component"].as_str().unwrap(),
                d["fields"]
            )
        })
        .collect();
    assert_eq!(diffs, vec!["changed BLADE [\"qty_per\"]", "removed SCREW []", "added SHAFT []",]);
}

#[tokio::test]
async fn versions_apply_either_side_of_their_dates_and_customers_get_their_own() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    fan_master_data(&admin).await;
    let v01 = bom(
        &admin,
        json!({"item": "FAN-100", "version": "01", "valid_to": "2026-12-31",
               "lines": [line("MOTOR", "1"), line("BLADE", "3")]}),
    )
    .await;
    approve(&admin, "boms", &v01).await;
    let v02 = bom(
        &admin,
        json!({"item": "FAN-100", "version": "02", "valid_from": "2027-01-01",
               "lines": [line("MOTOR", "1"), line("BLADE", "4")]}),
    )
    .await;
    approve(&admin, "boms", &v02).await;
    let acme = bom(
        &admin,
        json!({"item": "FAN-100", "version": "A-C001", "customer": "C001",
               "lines": [line("MOTOR", "1"), line("BLADE-RED", "3")]}),
    )
    .await;
    approve(&admin, "boms", &acme).await;
    // A draft never applies.
    bom(&admin, json!({"item": "FAN-100", "version": "03", "lines": [line("BLADE", "9")]})).await;

    let explode = |date: &str, customer: &str| {
        let client = admin.clone();
        let path = format!(
            "/api/v1/engineering/explode?item=FAN-100&date={date}{}",
            if customer.is_empty() { String::new() } else { format!("&customer={customer}") }
        );
        async move {
            let x = client.get(&path).await.json();
            let blade = x["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["component"].as_str().unwrap().starts_with("BLADE"))
                .map(|r| {
                    format!(
                        "{} {}",
                        r["component"].as_str().unwrap(),
                        r["total_qty"].as_str().unwrap()
                    )
                });
            (x["version"].as_str().map(str::to_owned), blade)
        }
    };
    assert_eq!(explode("2026-12-31", "").await, (Some("01".into()), Some("BLADE 3".into())));
    assert_eq!(explode("2027-01-01", "").await, (Some("02".into()), Some("BLADE 4".into())));
    assert_eq!(
        explode("2026-12-31", "C001").await,
        (Some("A-C001".into()), Some("BLADE-RED 3".into()))
    );
    assert_eq!(
        explode("2027-06-01", "c001").await,
        (Some("A-C001".into()), Some("BLADE-RED 3".into()))
    );
    // Another customer gets the general version.
    created(
        &admin,
        "/api/v1/customer",
        json!({"code": "C002", "name_zh": "北方电器", "name_en": "North Appliances", "currency": "CNY"}),
    )
    .await;
    assert_eq!(explode("2027-06-01", "C002").await, (Some("02".into()), Some("BLADE 4".into())));

    // Where-used follows the same dates: BLADE-RED only in the customer's version.
    let w = admin
        .get("/api/v1/engineering/where-used?item=BLADE-RED&date=2027-01-01&customer=C001")
        .await
        .json();
    assert_eq!(w["rows"][0]["parent"], "FAN-100");
    assert_eq!(w["rows"][0]["version"], "A-C001");
    let w = admin.get("/api/v1/engineering/where-used?item=BLADE-RED&date=2027-01-01").await.json();
    assert_eq!(w["rows"].as_array().unwrap().len(), 0);

    // The list of versions and bad queries.
    let list = admin.get("/api/v1/engineering/boms?item=FAN-100").await.json();
    let versions: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_str().unwrap(), v["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        versions,
        vec![("01", "approved"), ("02", "approved"), ("03", "draft"), ("A-C001", "approved")]
    );
    let r = admin.get("/api/v1/engineering/explode?qty=-1&date=tomorrow").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, vec!["item", "date"]);
    let r = admin.get("/api/v1/engineering/explode?item=FAN-100&qty=0").await;
    assert_eq!(r.json()["error"]["fields"][0]["code"], "field.not_positive");
    assert_eq!(
        admin.get("/api/v1/engineering/explode?item=NOPE").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_change_order_switches_versions_on_its_date_and_lists_open_orders() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sales_master_data(&admin).await;
    fan_structure(&admin).await;
    let v02 = bom(
        &admin,
        json!({"item": "FAN-100", "version": "02", "lines": [
            line("MOTOR", "1"), line("BLADE", "4"),
        ]}),
    )
    .await;

    // With a roll-up and no issues yet, the order's cost estimate is the rolled-up cost.
    created(&admin, "/api/v1/engineering/cost-rollups", json!({"as_of": "2026-11-01"})).await;
    let order = post_doc(
        &admin,
        "sales_order",
        json!({"doc_date": "2026-11-02", "partner": "C001", "lines": [
            {"item": "FAN-100", "quantity": "10", "unit": "PCS"},
        ]}),
    )
    .await;
    assert_eq!(order["lines"][0]["cost_basis"], "rollup");
    assert_eq!(dec(&order["lines"][0]["est_unit_cost"]), d("84.15"));

    // A change order needs a draft version named in its line note.
    let r = admin
        .post(
            "/api/v1/documents/engineering_change",
            &json!({"doc_date": "2026-12-03", "lines": [
                {"item": "FAN-100", "quantity": "1", "unit": "PCS", "note": "bom:09"},
                {"item": "MOTOR", "quantity": "1", "unit": "PCS", "due_date": "2026-12-15", "note": "four blades"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let fields: Vec<String> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        vec![
            "lines[0].due_date eco.effective_date_required",
            "lines[0].note eco.version_not_found",
            "lines[1].note eco.bad_change",
        ]
    );

    let eco = post_doc(
        &admin,
        "engineering_change",
        json!({"doc_date": "2026-12-03", "note": "a fourth blade for more air", "lines": [
            {"item": "FAN-100", "quantity": "1", "unit": "PCS", "due_date": "2026-12-15",
             "note": "bom:02 four blades"},
        ]}),
    )
    .await;
    assert_eq!(eco["state"], "approved");
    assert!(eco["number"].as_str().unwrap().starts_with("ECO"));

    // Version 02 from the 15th, 01 until the 14th.
    let versions = admin.get("/api/v1/engineering/boms?item=FAN-100").await.json();
    let by_name = |name: &str| {
        versions["data"].as_array().unwrap().iter().find(|v| v["version"] == name).unwrap().clone()
    };
    assert_eq!(by_name("01")["valid_to"], "2026-12-14");
    assert_eq!(by_name("02")["status"], "approved");
    assert_eq!(by_name("02")["valid_from"], "2026-12-15");
    let blades = |date: &'static str| {
        let client = admin.clone();
        async move {
            let x = client
                .get(&format!("/api/v1/engineering/explode?item=FAN-100&date={date}"))
                .await
                .json();
            let blade = x["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["component"] == "BLADE")
                .unwrap()
                .clone();
            (x["version"].as_str().unwrap().to_owned(), dec(&blade["total_qty"]))
        }
    };
    assert_eq!(blades("2026-12-14").await, ("01".to_owned(), d("3")));
    assert_eq!(blades("2026-12-15").await, ("02".to_owned(), d("4")));

    // The impact: the open sales order of the fan.
    let eco_id = eco["id"].as_str().unwrap();
    let impact = admin.get(&format!("/api/v1/engineering/ecos/{eco_id}/impact")).await;
    assert_eq!(impact.status, StatusCode::OK, "{}", impact.text());
    let impact = impact.json();
    assert_eq!(impact["changes"][0]["new_version"], "02");
    assert_eq!(impact["changes"][0]["ended_version"], "01");
    assert_eq!(impact["changes"][0]["effective_date"], "2026-12-15");
    let touched = impact["impacts"].as_array().unwrap();
    assert_eq!(touched.len(), 1, "{impact}");
    assert_eq!(touched[0]["doc_type"], "sales_order");
    assert_eq!(touched[0]["number"], order["number"]);
    assert_eq!(touched[0]["item"], "FAN-100");
    assert_eq!(dec(&touched[0]["open_qty"]), d("10"));

    // Reversing the approval puts both versions back.
    let r = admin
        .post(
            &format!("/api/v1/documents/engineering_change/{eco_id}/unapprove"),
            &json!({"version": eco["version"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let back = admin
        .get(&format!("/api/v1/engineering/boms/{}", v02["id"].as_str().unwrap()))
        .await
        .json();
    assert_eq!(back["status"], "draft");
    assert_eq!(back["valid_from"], Value::Null);
    let versions = admin.get("/api/v1/engineering/boms?item=FAN-100&status=approved").await.json();
    assert_eq!(versions["data"][0]["version"], "01");
    assert_eq!(versions["data"][0]["valid_to"], Value::Null);
    assert_eq!(blades("2026-12-20").await, ("01".to_owned(), d("3")));
    let impact = admin.get(&format!("/api/v1/engineering/ecos/{eco_id}/impact")).await.json();
    assert_eq!(impact["impacts"].as_array().unwrap().len(), 0);
    // A sales order is not a change order.
    let r = admin
        .get(&format!("/api/v1/engineering/ecos/{}/impact", order["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn upload(
    client: &TestClient,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> crate::support::TestResponse {
    client.send(Method::POST, path, &[("content-type", content_type)], Body::from(body)).await
}

#[tokio::test]
async fn an_import_with_a_bad_row_is_refused_naming_row_and_column() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    basic_master_data(&admin).await;
    fan_master_data(&admin).await;

    let csv = "item,version,component,qty_per,unit,scrap_pct,issue_method\n\
               FAN-100,03,MOTOR,1,PCS,,picked\n\
               FAN-100,03,BLADE,-3,PCS,,backflushed\n\
               MOTOR,03,COIL,2,PCS,5,\n";
    let r = upload(&admin, "/api/v1/engineering/boms/import", "text/csv", csv.into()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let error = &r.json()["error"];
    assert_eq!(error["field"], "rows[3].qty_per");
    assert_eq!(error["fields"][0]["code"], "field.not_positive");
    let message = error["fields"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("Row 3, Quantity per"), "{message}");
    // Nothing was imported, not even the good rows.
    let list = admin.get("/api/v1/engineering/boms").await.json();
    assert_eq!(list["total"], 0);

    // Cells the file cannot hold and references the database lacks, all named.
    let csv = "item,version,component,qty_per,unit,operation_seq\n\
               FAN-100,03,MOTOR,1,PCS,ten\n\
               FAN-100,03,GHOST,1,PCS,\n";
    let r = upload(&admin, "/api/v1/engineering/boms/import", "text/csv", csv.into()).await;
    assert_eq!(r.json()["error"]["field"], "rows[2].operation_seq");
    let csv =
        "item,version,component,qty_per,unit\nFAN-100,03,MOTOR,1,PCS\nFAN-100,03,GHOST,1,PCS\n";
    let r = upload(&admin, "/api/v1/engineering/boms/import", "text/csv", csv.into()).await;
    assert_eq!(r.json()["error"]["field"], "rows[3].component");
    assert_eq!(r.json()["error"]["fields"][0]["code"], "field.unknown_reference");
    let r = upload(
        &admin,
        "/api/v1/engineering/boms/import",
        "text/csv",
        "item,version,colour\nA,1,red\n".into(),
    )
    .await;
    let fields: Vec<String> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    assert_eq!(fields[0], "header import.unknown_column");
    assert!(fields.contains(&"header import.header_missing".to_owned()), "{fields:?}");

    // A good file: two versions as drafts.
    let csv = "item,version,bom_note,component,qty_per,unit,scrap_pct,operation_seq,issue_method,note\n\
               FAN-100,03,imported,MOTOR,1,PCS,,10,picked,\n\
               FAN-100,03,imported,BLADE,3,PCS,,,backflushed,\n\
               FAN-100,03,,SCREW,0.5,BOX,,,,a box of 12\n\
               MOTOR,03,,COIL,2,PCS,5,10,,\n";
    let r = upload(&admin, "/api/v1/engineering/boms/import", "text/csv", csv.into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({"imported": 2, "lines": 4}));
    let list = admin.get("/api/v1/engineering/boms?status=draft").await.json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["data"][0]["note"], "imported");
    assert_eq!(list["data"][0]["line_count"], 3);
    // The same file again: the versions exist, named on their first row.
    let r = upload(&admin, "/api/v1/engineering/boms/import", "text/csv", csv.into()).await;
    assert_eq!(r.json()["error"]["field"], "rows[2].version");
    assert_eq!(r.json()["error"]["fields"][0]["code"], "bom.version_exists");

    // Export as CSV reads back the same lines; XLSX is a workbook.
    let r = admin.get("/api/v1/engineering/boms/export?item=FAN-100").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    assert!(text.contains("FAN-100,03,,,,imported,SCREW,0.5,BOX,0,,picked,a box of 12"), "{text}");
    let r = admin.get("/api/v1/engineering/boms/export?format=xlsx").await;
    assert!(r.body.starts_with(b"PK"));
    let r = upload(
        &admin,
        "/api/v1/engineering/boms/import",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        r.body.to_vec(),
    )
    .await;
    assert_eq!(r.json()["error"]["fields"][0]["code"], "bom.version_exists", "{}", r.text());

    // Routings: the same all-or-nothing, then a good file.
    let csv = "item,version,lot_size,seq,work_centre,setup_hours,run_hours,subcontracted,supplier,subcontract_fee\n\
               MOTOR,R2,100,10,WIND,2,0.2,false,,\n\
               MOTOR,R2,100,20,ASM,,0.1,true,,1.5\n";
    let r = upload(&admin, "/api/v1/engineering/routings/import", "text/csv", csv.into()).await;
    assert_eq!(r.json()["error"]["field"], "rows[3].supplier", "{}", r.text());
    let csv = csv.replace("true,,1.5", "true,S001,1.5");
    let r =
        upload(&admin, "/api/v1/engineering/routings/import", "text/csv", csv.into_bytes()).await;
    assert_eq!(r.json(), json!({"imported": 1, "operations": 2}));
    let text = admin.get("/api/v1/engineering/routings/export").await.text();
    assert!(text.contains("MOTOR,R2,,,100,,20,ASM,,0,0.1,0,0,true,S001,1.5"), "{text}");
}
